import pandas as pd

from emergent_pipeline.core.ohlcv import merge_new_bars, validate_ohlcv
from emergent_pipeline.core.price_update import PriceFetch, PriceUpdateError, apply_fetch

import pytest


def bars(rows):
    return pd.DataFrame(rows, columns=["symbol", "date", "open", "high", "low", "close", "volume"])


def test_each_bad_row_is_rejected_with_its_reason_and_good_rows_kept():
    raw = bars(
        [
            ["aaa", "2020-01-02", 10, 11, 9, 10.5, 100],  # good (symbol upper-cased)
            ["AAA", "not a date", 10, 11, 9, 10.5, 100],
            ["AAA", "2020-01-03", 10, 11, 9, -1.0, 100],
            ["AAA", "2020-01-06", 10, 9, 11, 10.0, 100],  # high below low
            ["AAA", "2020-01-02", 10, 11, 9, 10.4, 100],  # repeats the first row's key
            ["AAA", "2020-01-07", None, None, None, 10.2, 0],  # close only: kept, the check reports it
            ["AAA", "2020-01-08", 10, 11, 9, None, 100],
            ["", "2020-01-08", 10, 11, 9, 10, 100],
        ]
    )
    result = validate_ohlcv(raw)
    assert result.accepted["date"].dt.strftime("%Y-%m-%d").tolist() == ["2020-01-02", "2020-01-07"]
    assert set(result.accepted["symbol"]) == {"AAA"}
    reasons = dict(zip(result.rejected["source_row"], result.rejected["reason"]))
    assert reasons == {
        1: "unparseable date",
        2: "non-positive price",
        3: "high below low",
        4: "duplicate (symbol, date)",
        6: "missing close",
        7: "empty symbol",
    }
    # The rejected rows are the input rows, untouched, so the user sees what was in the file.
    assert result.rejected.loc[result.rejected["source_row"] == 1, "date"].item() == "not a date"


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="close"):
        validate_ohlcv(pd.DataFrame({"symbol": ["A"], "date": ["2020-01-02"]}))


def test_merge_adds_only_new_days_and_never_rewrites_stored_bars():
    stored = validate_ohlcv(bars([["A", "2020-01-02", 1, 2, 1, 1.5, 10]])).accepted
    fresh = validate_ohlcv(
        bars([["A", "2020-01-02", 9, 9, 9, 9, 9], ["A", "2020-01-03", 1, 2, 1, 1.6, 10]])
    ).accepted
    merged, added = merge_new_bars(stored, fresh)
    assert merged["close"].tolist() == [1.5, 1.6]
    assert added["date"].dt.strftime("%Y-%m-%d").tolist() == ["2020-01-03"]


def test_a_fetch_with_no_usable_row_fails_with_the_reasons():
    raw = bars([["A", "2020-01-02", 10, 9, 11, 10, 1]])
    with pytest.raises(PriceUpdateError, match="high below low"):
        apply_fetch(None, PriceFetch(raw=raw, requested=1), incremental=False)


def test_a_fetch_where_every_download_raised_is_an_error():
    fetch = PriceFetch(raw=bars([]), failures={"A": "boom", "B": "boom"}, errored={"A", "B"}, requested=2)
    with pytest.raises(PriceUpdateError, match="every one of the 2 requested symbols failed"):
        apply_fetch(None, fetch, incremental=True)


def test_no_new_bar_with_history_stored_is_not_an_error():
    stored = validate_ohlcv(bars([["A", "2020-01-02", 1, 2, 1, 1.5, 10]])).accepted
    update = apply_fetch(stored, PriceFetch(raw=bars([]), failures={"A": "no bars returned"}, requested=1), incremental=True)
    assert update.added.empty and update.table.equals(stored)
