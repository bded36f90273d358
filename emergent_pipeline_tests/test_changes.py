"""The first changed day of a table about to be replaced, found by joining on its key or by
comparing the two multisets of rows: a real DuckDB table and hand-made changes."""

import duckdb
import numpy as np
import pandas as pd
import pytest

from emergent_pipeline.changes import first_changed_day

DAYS = pd.bdate_range("2024-01-01", periods=6)
STORED = pd.DataFrame({"symbol": ["A", "B"] * len(DAYS), "date": DAYS.repeat(2), "close": np.arange(12.0), "volume": np.arange(12)})
STORED.loc[5, "close"] = np.nan  # a missing close stays missing: not a change


CASES = {
    "identical": (lambda f: f, (False, None)),
    "a close changed on the fourth day": (lambda f: f.assign(close=np.where(f.index == 6, 99.0, f["close"])), (False, DAYS[3])),
    "a missing close filled on the third day": (lambda f: f.assign(close=f["close"].fillna(5.0)), (False, DAYS[2])),
    "a row removed on the second day": (lambda f: f.drop(index=3), (False, DAYS[1])),
    "a new day": (lambda f: pd.concat([f, pd.DataFrame({"symbol": ["A"], "date": [DAYS[-1] + pd.offsets.BDay()], "close": [1.0], "volume": [1]})],
                                      ignore_index=True), (False, DAYS[-1] + pd.offsets.BDay())),
    "a volume changed on the first day": (lambda f: f.assign(volume=np.where(f.index == 1, -1, f["volume"])), (False, DAYS[0])),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("key", [None, ["symbol", "date"]])
def test_the_first_changed_day_by_key_and_by_rows(case, key):
    change, expected = CASES[case]
    with duckdb.connect() as conn:
        conn.register("stored", STORED)
        conn.execute("CREATE TABLE prices AS SELECT * REPLACE (CAST(date AS DATE) AS date) FROM stored")
        assert first_changed_day(conn, "prices", change(STORED.copy()), "date", key=key) == expected
