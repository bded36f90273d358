"""The REST API over real HTTP (uvicorn on a free port), on the bundled run's serving snapshot."""

import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

from emergent_pipeline import cli
from emergent_pipeline.api.app import create_app
from emergent_pipeline.api.engine import MLEnhancedSignalEngine
from emergent_pipeline.core.strategies.registry import STRATEGY_NAMES
from emergent_pipeline.defs.prices.resources import PriceSourceResource

from emergent_pipeline_tests.conftest import Server, app_for, materialize, private_copy, read


@pytest.fixture(scope="module")
def api(bundled_db):
    with Server(app_for(bundled_db)) as client:
        yield client


def newest_regime(db) -> str:
    return read(db, "SELECT regime FROM market_context ORDER BY date DESC LIMIT 1")["regime"].item()


def test_ml_enhanced_signals_as_the_guide_shows(api, bundled_db):
    response = api.post("/signals/ml-enhanced", json={"max_symbols": 20, "min_ml_probability": 0.5})
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"success", "signals_count", "signals", "ml_statistics", "filter_threshold", "generated_at", "as_of"}
    assert body["success"] and body["as_of"] == "2018-02-07" and body["filter_threshold"] == 0.5
    assert 0 < body["signals_count"] == len(body["signals"]) and len({s["symbol"] for s in body["signals"]}) == 20
    probabilities = [s["ml_probability"] for s in body["signals"]]
    assert probabilities == sorted(probabilities, reverse=True) and min(probabilities) >= 0.5
    signal = body["signals"][0]
    assert {"symbol", "signal_type", "entry_price", "target_price", "stop_loss", "ml_recommendation", "ml_quality_score",
            "confidence_adjustment", "model_version", "market_context", "consensus_confidence", "quality_tier"} <= set(signal)
    assert signal["market_context"]["regime"] == newest_regime(bundled_db) and signal["model_version"] == "1"
    assert body["ml_statistics"]["ml_enhancement_rate"] == 100.0


def test_the_signals_are_those_live_on_the_day(api, bundled_db):
    body = api.post("/signals/ml-enhanced", json={"max_symbols": 500, "as_of": "2016-03-01"}).json()
    expected = read(bundled_db, "SELECT count(*) n FROM signal_outcomes WHERE date <= DATE '2016-03-01' AND (live_until IS NULL OR live_until > DATE '2016-03-01')")
    assert body["as_of"] == "2016-03-01" and body["signals_count"] == expected["n"].item()
    symbol = body["signals"][0]["symbol"]
    only = api.post("/signals/ml-enhanced", json={"symbols": [symbol.lower()], "as_of": "2016-03-01"}).json()
    assert {s["symbol"] for s in only["signals"]} == {symbol}


LIVE_WITH_STATUS = """
SELECT o.symbol, o.date, h.status FROM signal_outcomes o JOIN shariah_screen h USING (symbol, date)
WHERE o.date <= DATE '{day}' AND (o.live_until IS NULL OR o.live_until > DATE '{day}')
"""


@pytest.mark.parametrize("day", ["2018-02-07", "2016-03-01"])
def test_shariah_only_keeps_signals_compliant_on_their_own_day_and_says_what_it_excluded(api, bundled_db, day):
    """The guide's first request, on the newest day and on an earlier one: signals come back, each
    COMPLIANT on the day it was issued (checked against the stored daily screen), and the response
    counts what the policy excluded, as the stored tables count it."""
    live = read(bundled_db, LIVE_WITH_STATUS.format(day=day))
    body = api.post("/signals/ml-enhanced", json={"shariah_only": True, "max_symbols": 500, "as_of": day}).json()
    assert body["signals_count"] > 0 and body["live_signals"] == len(live)
    status = live.set_index(["symbol", live["date"].dt.strftime("%Y-%m-%d")])["status"]
    assert all(status.loc[(s["symbol"], s["date"])] == "COMPLIANT" == s["shariah_status"] for s in body["signals"])
    assert body["signals_count"] == int((live["status"] == "COMPLIANT").sum())
    shariah = body["shariah_filter"]
    assert shariah["policy"] == "COMPLIANT only" and shariah["standard"] == "SP" and shariah["admitted_statuses"] == ["COMPLIANT"]
    assert shariah["excluded"] == {s: int((live["status"] == s).sum()) for s in ("NON_COMPLIANT", "UNKNOWN")}

    admitted = api.post("/signals/ml-enhanced", json={"shariah_only": True, "admit_unknown": True, "max_symbols": 500, "as_of": day}).json()
    assert admitted["shariah_filter"]["policy"] == "COMPLIANT or UNKNOWN admitted"
    assert admitted["signals_count"] == int(live["status"].isin(["COMPLIANT", "UNKNOWN"]).sum())
    assert admitted["shariah_filter"]["excluded"] == {"NON_COMPLIANT": int((live["status"] == "NON_COMPLIANT").sum())}
    off = api.post("/signals/ml-enhanced", json={"max_symbols": 500, "as_of": day}).json()
    assert off["shariah_filter"]["policy"].startswith("off") and off["signals_count"] == len(live)


def test_an_empty_answer_says_why(api, bundled_db):
    live = read(bundled_db, LIVE_WITH_STATUS.format(day="2018-02-07"))
    barred = live[live["status"] == "NON_COMPLIANT"]["symbol"].iloc[0]
    body = api.post("/signals/ml-enhanced", json={"shariah_only": True, "symbols": [barred]}).json()
    assert body["signals_count"] == 0
    assert "the Shariah filter (COMPLIANT only, standard SP) excluded 1 NON_COMPLIANT" in body["note"]
    assert body["note"].endswith("none left")
    strategy = api.post("/signals/generate", json={"strategy": "momentum", "as_of": "2018-02-07", "min_confidence": 0.9999}).json()
    assert strategy["signals_count"] == 0 and strategy["note"]


def test_max_symbols_counts_distinct_symbols(api, bundled_db):
    """On 2016-03-01 some symbols have two live consensus signals (issued on different days)."""
    live = read(bundled_db, LIVE_WITH_STATUS.format(day="2016-03-01"))
    repeated = live["symbol"].value_counts()
    assert repeated.max() >= 2
    everything = api.post("/signals/ml-enhanced", json={"max_symbols": 500, "as_of": "2016-03-01"}).json()["signals"]
    for k in (1, 5, 20):
        body = api.post("/signals/ml-enhanced", json={"max_symbols": k, "as_of": "2016-03-01"}).json()
        symbols = [s["symbol"] for s in body["signals"]]
        first_k = list(dict.fromkeys(s["symbol"] for s in everything))[:k]
        assert list(dict.fromkeys(symbols)) == first_k  # the k best symbols ...
        assert len(symbols) == int(repeated.reindex(first_k).sum())  # ... with every live signal of each


def test_generate_for_a_strategy_the_consensus_and_ml_consensus(api):
    momentum = api.post("/signals/generate", json={"strategy": "momentum", "as_of": "2017-06-01"}).json()
    assert momentum["strategy"] == "momentum" and all(s["strategy"] == "momentum" for s in momentum["signals"])
    consensus = api.post("/signals/generate", json={"strategy": "consensus", "min_confidence": 0.5}).json()
    assert all(s["consensus_confidence"] >= 0.5 for s in consensus["signals"])
    ml = api.post("/signals/generate", json={"strategy": "ml_consensus", "min_confidence": 0.6}).json()
    assert all(s["ml_probability"] >= 0.6 for s in ml["signals"])


def test_an_unknown_strategy_is_a_422_listing_the_valid_ones(api):
    response = api.post("/signals/generate", json={"strategy": "astrology"})
    assert response.status_code == 422
    assert all(name in response.json()["detail"] for name in [*STRATEGY_NAMES, "ml_consensus"])
    schema = api.get("/openapi.json").json()["components"]["schemas"]["GenerateRequest"]["properties"]["strategy"]
    assert schema["enum"] == [*STRATEGY_NAMES, "consensus", "ml_consensus"]  # the contract says what the server enforces


@pytest.mark.parametrize("payload", [
    {"max_symbols": 0}, {"min_ml_probability": 1.5}, {"symbols": ["AAPL' OR '1'='1"]}, {"as_of": "yesterday"}, {"unknown_field": 1},
    {"shariah_only": "true"}, {"max_symbols": "5"}, {"as_of": 20160104}, {"as_of": "1451606400"}, {"min_ml_probability": "0.5"},
])
def test_invalid_requests_are_422_with_a_message(api, payload):
    """Including values pydantic would coerce by default: the schema says boolean, integer, a
    YYYY-MM-DD string, and the server takes nothing else."""
    response = api.post("/signals/ml-enhanced", json=payload)
    detail = response.json()["detail"]
    assert response.status_code == 422 and detail.startswith("invalid request: ") and next(iter(payload)) in detail


def test_bad_input_is_quoted_short_and_a_large_body_is_refused(api):
    long_symbol = "A" * 20_000
    response = api.post("/signals/ml-enhanced", json={"symbols": [long_symbol]})
    assert response.status_code == 422 and len(response.text) < 600 and long_symbol[:100] not in response.text
    unknown_field = "x" * 5_000
    response = api.post("/signals/ml-enhanced", json={unknown_field: 1})
    assert response.status_code == 422 and "(5000 characters)" in response.json()["detail"] and len(response.text) < 600
    huge = api.post("/signals/ml-enhanced", json={"symbols": ["B" * 10_000_000]})
    assert huge.status_code == 413 and huge.json()["detail"] == "request body larger than 65536 bytes"
    streamed = api.post("/signals/ml-enhanced", content=(b"x" * 1024 for _ in range(100)), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413  # no Content-Length: counted as it arrives


def test_unknown_symbols_and_a_day_before_the_data_say_why(api):
    body = api.post("/signals/ml-enhanced", json={"symbols": ["NOSUCH", "AAPL"], "max_symbols": 500}).json()
    assert body["unknown_symbols"] == ["NOSUCH"]
    nothing = api.post("/signals/ml-enhanced", json={"symbols": ["NOSUCH"]}).json()
    assert nothing["signals_count"] == 0 and "1 not in the stored universe: NOSUCH" in nothing["note"]
    early = api.post("/signals/ml-enhanced", json={"as_of": "2000-01-01"})
    assert early.status_code == 200 and early.json()["signals"] == [] and early.json()["as_of"] == "2000-01-01"
    assert early.json()["note"] == "as_of 2000-01-01 is before the first stored day 2013-02-08: no signal"
    strategy = api.post("/signals/generate", json={"strategy": "momentum", "as_of": "2000-01-01"}).json()
    assert strategy["signals"] == [] and "before the first stored day" in strategy["note"]


def test_a_post_without_a_body_uses_the_defaults(api):
    body = api.post("/signals/ml-enhanced").json()
    assert body["success"] and len({s["symbol"] for s in body["signals"]}) <= 50 and body["filter_threshold"] == 0.0


def test_an_earlier_as_of_returns_the_score_issued_then(api, bundled_db):
    """An open signal was issued a score by the replay on its own day, and another by the champion on
    the newest day: a request for a day in between gets the first, one for the newest day the second."""
    both = read(bundled_db, "SELECT r.symbol, r.date, r.ml_probability replay_p, l.ml_probability live_p, l.issued_on live_day "
                            "FROM signal_scores r JOIN signal_scores l USING (symbol, date) "
                            "WHERE r.origin = 'replay' AND l.origin = 'live' AND r.ml_probability <> l.ml_probability ORDER BY r.date LIMIT 1").iloc[0]
    def probability(as_of):
        body = api.post("/signals/ml-enhanced", json={"symbols": [both["symbol"]], "as_of": as_of, "max_symbols": 500}).json()
        return next(s for s in body["signals"] if s["date"] == f"{both['date']:%Y-%m-%d}")
    then = probability(f"{both['date']:%Y-%m-%d}")
    assert then["ml_probability"] == pytest.approx(both["replay_p"]) and then["issued_on"] == f"{both['date']:%Y-%m-%d}"
    now = probability(f"{both['live_day']:%Y-%m-%d}")
    assert now["ml_probability"] == pytest.approx(both["live_p"]) and now["issued_on"] == f"{both['live_day']:%Y-%m-%d}"
    # A day before any score was issued for a signal: it is live but unscored, and says why.
    early = api.post("/signals/ml-enhanced", json={"as_of": "2013-06-03", "max_symbols": 500}).json()["signals"]
    assert early and all(s["ml_status"] == "unscored" and "no score was issued" in s["ml_reason"] for s in early)


def test_market_context_performance_status_health_strategies(api, bundled_db):
    context = api.get("/market/context").json()
    assert context["regime"] == newest_regime(bundled_db) and context["interpretation"]["volatility"] == "Medium"
    assert context["index"] == "the S&P 500 index"  # named: not the universe's equal-weight index
    assert context["interpretation"]["trend"] == "Moderate Down"  # the index fell 2.5 % in the last 20 days
    performance = api.get("/ml/performance").json()
    issued = read(bundled_db, "SELECT avg((ml_probability IS NOT NULL)::INT) * 100 r FROM signal_outcomes")["r"].item()
    assert performance["ml_enhancement_rate"] == pytest.approx(issued) and performance["out_of_sample"][0]["portfolio"] == "consensus (unfiltered)"
    stored = read(bundled_db, "SELECT verdict FROM performance_summary WHERE record = 'replay' AND year = 'all' AND portfolio = 'recommended (not SKIP)'")
    assert performance["verdict"] == {"replay": stored["verdict"].item()}
    assert {row["record"] for row in performance["calibration"]} == {"replay"} and performance["score_meaning"]
    assert performance["promotion_holdout"][0]["model_version"] == "1"
    assert performance["figures_current"] and performance["figures_model_version"] == performance["champion_version"] == "1"
    status = api.get("/system/status").json()
    assert status["data"]["newest_price_date"] == "2018-02-07" and status["models"]["champion"] == "1"
    ml = status["system_status"]["ml_status"]  # the guide's `jq '.system_status.ml_status'`
    assert ml["status"] == "ok" and ml["champion_version"] == ml["serving_model_version"] == ml["loaded_version"] == "1" and ml["in_step"]
    assert api.get("/health").json() == {"status": "ok", "snapshot": True}
    ready = api.get("/health/ready")
    assert ready.status_code == 200 and ready.json() == {"status": "ready", "champion_version": "1", "newest_price_date": "2018-02-07", "reasons": [],
                                                  "warnings": []}
    strategies = api.get("/strategies").json()
    assert [s["name"] for s in strategies["strategies"]] == list(STRATEGY_NAMES)


def test_ml_test_scores_a_stored_signal_with_the_champion(api):
    body = api.get("/ml/test").json()
    assert body["model_version"] == "1" and 0 < body["ml_probability"] < 1 and body["latency_ms"] > 0


def test_no_data_yet_is_a_503_naming_the_job_and_no_path(tmp_path):
    with Server(create_app(snapshot_path=str(tmp_path / "none.duckdb"), tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")) as client:
        response = client.post("/signals/ml-enhanced", json={})
        assert response.status_code == 503 and "daily_refresh" in response.json()["detail"] and str(tmp_path) not in response.text
        assert client.get("/health").json() == {"status": "ok", "snapshot": False}
        ready = client.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["status"] == "not ready"
        assert any("no serving snapshot" in r or "does not exist" in r for r in ready.json()["reasons"]) and str(tmp_path) not in ready.text
        assert "no champion model" in " ".join(ready.json()["reasons"])
        assert client.get("/ml/test").status_code == 503
        status = client.get("/system/status").json()["system_status"]
        assert status["status"] == "down" and status["ml_status"]["status"] == "unavailable"


class Counted:
    """The app, counting the HTTP requests it receives."""

    def __init__(self, app):
        self.app, self.requests = app, 0

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            self.requests += 1
        await self.app(scope, receive, send)


def test_schemathesis_all_default_checks_over_a_thousand_requests(bundled_db):
    """Every operation, schemathesis' default checks (server errors, status codes, content types,
    response schemas, schema-valid data accepted, schema-invalid data rejected, ...), generated and
    fuzzed requests; the settings are in schemathesis.toml beside this file."""
    counted = Counted(app_for(bundled_db))
    with Server(counted) as api:
        result = subprocess.run(
            [str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(Path(__file__).with_name("schemathesis.toml")),
             "run", f"{api.base_url}/openapi.json", "--max-examples", "450", "--workers", "1", "--seed", "1",
             "--generation-database", "none", "--no-color"],
            capture_output=True, text=True, timeout=600,
        )
    assert result.returncode == 0, result.stdout[-4000:]
    assert counted.requests >= 1_000, result.stdout[-2000:]


def test_the_api_keeps_answering_while_a_run_writes(definitions, bundled_db, tmp_path):
    db = private_copy(bundled_db, tmp_path)
    shutil.copy(Path(bundled_db).parent / "serving.duckdb", tmp_path / "serving.duckdb")
    run = threading.Thread(
        target=materialize,
        args=(definitions, db, PriceSourceResource()),
        kwargs={"selection": ["strategy_signals", "consensus_signals", "signal_features", "ml_enhanced_signals", "signal_outcomes", "performance_summary", "serving_snapshot"]},
    )
    with Server(app_for(db)) as client:
        run.start()
        statuses, counts = [], set()
        while run.is_alive():
            response = client.post("/signals/ml-enhanced", json={"max_symbols": 500})
            statuses.append(response.status_code)
            counts.add(response.json().get("signals_count"))
        run.join()
        statuses.append(client.post("/signals/ml-enhanced", json={"max_symbols": 500}).status_code)
    assert len(statuses) > 20 and set(statuses) == {200}
    assert len(counts) == 1  # the same data before and after: every answer complete and consistent


def test_the_python_api_uses_the_same_queries(bundled_db):
    engine = MLEnhancedSignalEngine(enable_ml=True, snapshot_path=str(Path(bundled_db).parent / "serving.duckdb"))
    signals = engine.generate_ml_enhanced_signals(shariah_only=False, max_symbols=5, min_ml_probability=0.6)
    assert 0 < len(signals) <= 5 and all(s["ml_probability"] >= 0.6 for s in signals)
    assert engine.get_market_context()["regime"] == newest_regime(bundled_db)
    assert 0 < engine.get_ml_performance_summary()["ml_enhancement_rate"] < 100.0  # signals before the first model have none
    assert MLEnhancedSignalEngine(enable_ml=False, snapshot_path=engine.reader.path).generate_ml_enhanced_signals(max_symbols=1)[0]["ml_probability"] is None



OWN_DAY_RECORD = """
SELECT o.return_net, s.ml_probability FROM signal_outcomes o
JOIN (SELECT symbol, date, ml_probability FROM signal_scores WHERE issued_on = date
      QUALIFY row_number() OVER (PARTITION BY symbol, date ORDER BY scored_at DESC) = 1) s USING (symbol, date)
WHERE o.label IS NOT NULL AND o.exit_date <= DATE '{day}'
"""


def band_of_the_record(bundled_db, day: str, band: str):
    """The resolved signals scored on their own day in ``band`` with outcomes known by ``day``, read
    straight from the two stored tables."""
    record = read(bundled_db, OWN_DAY_RECORD.format(day=day))
    low, high = map(float, band.split("-"))
    p = record["ml_probability"]
    return record[((p > low) | (low == 0.0)) & (p <= high)]


@pytest.mark.parametrize("day", ["2018-02-07", "2016-03-01"])
def test_each_signal_carries_the_record_of_its_probability_band_as_known_that_day(api, bundled_db, day):
    body = api.post("/signals/ml-enhanced", json={"max_symbols": 500, "as_of": day}).json()
    scored = [s for s in body["signals"] if s["ml_probability"] is not None]
    assert scored and all(s["probability_record"] is None for s in body["signals"] if s["ml_probability"] is None)
    for band in {s["probability_record"]["probability"] for s in scored}:
        served = next(s["probability_record"] for s in scored if s["probability_record"]["probability"] == band)
        expected = band_of_the_record(bundled_db, day, band)
        assert served["known_on"] == day and served["signals"] == len(expected) > 0
        assert served["made_money_of_100"] == pytest.approx(100 * (expected["return_net"] > 0).mean())
        assert served["mean_return"] == pytest.approx(expected["return_net"].mean())
        assert served["made_money_low"] <= served["made_money_of_100"] <= served["made_money_high"]
        assert served["mean_return_low"] <= served["mean_return"] <= served["mean_return_high"]
        assert served["summary"].startswith(f"of {len(expected):,} signals issued at {band}, ")
    for signal in scored:  # each signal sits in the band of its served probability
        low, high = map(float, signal["probability_record"]["probability"].split("-"))
        assert low <= signal["ml_probability"] <= high
    verdicts = read(bundled_db, "SELECT record, verdict FROM performance_summary WHERE year = 'all' AND portfolio = 'recommended (not SKIP)'")
    assert body["recommended_filter"] == dict(zip(verdicts["record"], verdicts["verdict"])) != {}
    assert body["recommended_filter_known_on"] == "2018-02-07"  # the summary's day, said so for an earlier as_of too


def test_the_python_api_and_the_command_line_carry_the_same_record(bundled_db, monkeypatch, capsys):
    snapshot = str(Path(bundled_db).parent / "serving.duckdb")
    signals = MLEnhancedSignalEngine(enable_ml=True, snapshot_path=snapshot).generate_ml_enhanced_signals(max_symbols=3, as_of="2017-06-30")
    first = signals[0]["probability_record"]
    assert first["signals"] == len(band_of_the_record(bundled_db, "2017-06-30", first["probability"]))
    assert signals.recommended_filter and set(signals.recommended_filter) == {"replay"}
    monkeypatch.setenv("EMERGENT_PIPELINE_SERVING_DB", snapshot)
    assert cli.main(["signals", "--max", "3", "--as-of", "2017-06-30"]) == 0
    printed = capsys.readouterr().out
    assert f"  {first['probability']}: {first['summary']}" in printed
    assert f"Recommended signals (replay record): {signals.recommended_filter['replay']}" in printed


def test_a_signal_is_sized_only_while_its_probability_has_earned_its_place(api):
    signals = api.post("/signals/ml-enhanced", json={"max_symbols": 500, "as_of": "2017-06-30"}).json()["signals"]
    earned = [s for s in signals if s["probability_earned"] is True]
    suspended = [s for s in signals if s["probability_earned"] is False]
    assert earned and suspended  # the bundled replay has both standings around mid-2017
    assert all(s["position_size"] is None for s in suspended) and all(s["recommendation_basis"].startswith("probability suspended") for s in suspended)
    for s in earned:
        p, b = s["ml_probability"], abs(s["target_price"] - s["entry_price"]) / abs(s["entry_price"] - s["stop_loss"])
        assert s["position_size"] == pytest.approx(min(max(0.25 * (p - (1 - p) / b), 0.0), 0.10))


def test_each_scored_signal_says_how_old_its_model_is_and_how_far_its_features_lie(api, bundled_db):
    signals = api.post("/signals/ml-enhanced", json={"max_symbols": 500, "as_of": "2017-06-30"}).json()["signals"]
    issued = read(bundled_db, """SELECT symbol, date, model_label_end, feature_distance FROM signal_scores WHERE issued_on <= DATE '2017-06-30'
                                 QUALIFY row_number() OVER (PARTITION BY symbol, date ORDER BY issued_on DESC, scored_at DESC) = 1""")
    issued = issued.set_index(["symbol", "date"])
    for s in (s for s in signals if s["ml_probability"] is not None):
        row = issued.loc[(s["symbol"], pd.Timestamp(s["date"]))]
        assert s["model_age_days"] == (pd.Timestamp("2017-06-30") - row["model_label_end"]).days
        assert s["score_stale"] == (s["model_age_days"] > 90)
        assert s["feature_distance"] == pytest.approx(row["feature_distance"]) and s["out_of_distribution"] == (s["feature_distance"] > 1)

