"""A truthful API, over real HTTP: readiness, a champion that breaks under a running server, one
snapshot per request while publications race, CORS for a browser front end."""

import shutil
import threading
from pathlib import Path

import duckdb

from emergent_pipeline.api.queries import SnapshotReader
from emergent_pipeline.model_registry import CHAMPION, MODEL_NAME

from emergent_pipeline_tests.conftest import Server, app_on, mlflow_resource


def new_version(folder: Path, name: str, model_bytes: bytes | None = None) -> tuple[str, Path]:
    """A new registered version holding a copy of version 1's files (with ``model_bytes`` as its
    model when given), its artifacts in a folder of the test's own."""
    store = mlflow_resource(folder / "mlruns").store()
    client = store.client()
    source = Path(client.get_model_version_download_uri(MODEL_NAME, "1").removeprefix("file://"))
    copy = folder / name
    shutil.copytree(source, copy)
    if model_bytes is not None:
        (copy / "model.pkl").write_bytes(model_bytes)
    version = client.create_model_version(MODEL_NAME, copy.as_uri(), run_id=None, tags=store.version("1").tags)
    return str(version.version), copy


def point_champion(folder: Path, version: str) -> None:
    mlflow_resource(folder / "mlruns").store().client().set_registered_model_alias(MODEL_NAME, CHAMPION, version)


def test_a_champion_that_cannot_load_is_a_503_on_a_cold_server(private):
    broken, _ = new_version(private, "broken", model_bytes=b"not a pickle")
    point_champion(private, broken)
    with Server(app_on(private)) as client:
        response = client.get("/ml/test")
        assert response.status_code == 503 and str(private) not in response.text
        assert response.json()["detail"].startswith(f"champion version {broken} cannot be loaded (")
        ready = client.get("/health/ready")
        assert ready.status_code == 503 and any(f"champion version {broken} cannot be loaded" in r for r in ready.json()["reasons"])
        ml = client.get("/system/status").json()["system_status"]["ml_status"]
        assert ml["status"] == "unavailable" and ml["champion_version"] == broken and ml["loaded_version"] is None
        performance = client.get("/ml/performance").json()  # the snapshot's figures are version 1's, and say so
        assert not performance["figures_current"] and performance["figures_model_version"] == "1"
        assert performance["note"].startswith(f"not the current champion's figures: they describe model 1 and the champion is {broken}")


def test_a_warm_server_notices_its_champion_moved_or_its_files_removed(private):
    with Server(app_on(private)) as client:
        ml = client.get("/system/status").json()["system_status"]["ml_status"]
        assert ml["loaded_version"] == "1"  # loaded at start-up, before any /ml/test
        assert client.get("/ml/test").json()["model_version"] == "1"
        spare, files = new_version(private, "spare")
        point_champion(private, spare)
        assert client.get("/ml/test").json()["model_version"] == spare  # the alias is followed, not a cached model
        shutil.rmtree(files)
        response = client.get("/ml/test")
        assert response.status_code == 503 and response.json()["detail"].startswith(f"champion version {spare} has no model files")
        assert client.get("/health/ready").status_code == 503
        point_champion(private, "1")
        assert client.get("/ml/test").status_code == 200 and client.get("/health/ready").status_code == 200


def test_a_truncated_snapshot_is_not_ready_and_data_endpoints_say_so(private):
    snapshot = private / "serving.duckdb"
    snapshot.write_bytes(snapshot.read_bytes()[: 1 << 20])  # a publication cut short
    with Server(app_on(private)) as client:
        assert client.get("/health").status_code == 200  # alive ...
        ready = client.get("/health/ready")
        assert ready.status_code == 503 and "cannot be read" in " ".join(ready.json()["reasons"])  # ... not ready
        data = client.post("/signals/ml-enhanced", json={})
        assert data.status_code == 503 and "cannot be read" in data.json()["detail"] and str(private) not in data.text


def earlier_snapshot(source: Path, target: Path, last_day: str) -> None:
    """A copy of the snapshot as a publication of an earlier day would hold it."""
    shutil.copy(source, target)
    with duckdb.connect(str(target)) as conn:
        for table in ("signal_outcomes", "market_context", "price_history", "signal_scores"):
            column = "issued_on" if table == "signal_scores" else "date"
            conn.execute(f"DELETE FROM {table} WHERE {column} > DATE '{last_day}'")


def test_a_pinned_snapshot_keeps_reading_its_file_after_a_new_publication(private):
    newer, older = private / "newer.duckdb", private / "older.duckdb"
    shutil.copy(private / "serving.duckdb", newer)
    earlier_snapshot(newer, older, "2018-01-31")
    reader = SnapshotReader(str(private / "serving.duckdb"))
    newest = "SELECT max(date) AS d FROM signal_outcomes"
    with reader.pinned():
        assert str(reader.query(newest)["d"].item())[:10] == "2018-02-07"
        shutil.copy(older, private / "staging")
        (private / "staging").replace(private / "serving.duckdb")  # published meanwhile
        assert str(reader.query(newest + " -- again")["d"].item())[:10] == "2018-02-07"
    assert str(reader.query(newest + " -- after")["d"].item())[:10] == "2018-01-31"


def test_answers_never_mix_two_publications(private):
    """Publications alternate between two snapshots as fast as they can be copied while a client asks:
    every answer is exactly the answer of one of them."""
    serving = private / "serving.duckdb"
    newer, older = private / "newer.duckdb", private / "older.duckdb"
    shutil.copy(serving, newer)
    earlier_snapshot(newer, older, "2018-01-31")
    request = {"max_symbols": 500}

    def answer(client):
        body = client.post("/signals/ml-enhanced", json=request).json()
        return body["as_of"], tuple((s["symbol"], s["date"], s["ml_probability"]) for s in body["signals"]), body["live_signals"]

    expected = set()
    for snapshot in (newer, older):
        shutil.copy(snapshot, serving)
        with Server(app_on(private)) as client:
            expected.add(answer(client))
    assert len({e[0] for e in expected}) == 2
    stop = threading.Event()

    def publish():
        while not stop.is_set():
            for snapshot in (older, newer):
                shutil.copy(snapshot, private / "staging")
                (private / "staging").replace(serving)

    publisher = threading.Thread(target=publish)
    with Server(app_on(private)) as client:
        publisher.start()
        try:
            answers = [answer(client) for _ in range(150)]
        finally:
            stop.set()
            publisher.join()
    assert set(answers) <= expected and len(set(answers)) == 2


def test_cors_is_off_by_default_and_on_for_the_configured_origins(private, monkeypatch):
    front_end = "http://localhost:3000"
    preflight = {"Origin": front_end, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    with Server(app_on(private)) as client:
        assert "access-control-allow-origin" not in client.post("/signals/ml-enhanced", json={}, headers={"Origin": front_end}).headers
        assert client.options("/signals/ml-enhanced", headers=preflight).status_code == 405
    with Server(app_on(private, cors=[front_end])) as client:
        allowed = client.options("/signals/ml-enhanced", headers=preflight)
        assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == front_end
        assert client.post("/signals/ml-enhanced", json={}, headers={"Origin": front_end}).headers["access-control-allow-origin"] == front_end
        assert "access-control-allow-origin" not in client.post("/signals/ml-enhanced", json={}, headers={"Origin": "http://evil.example"}).headers
    monkeypatch.setenv("EMERGENT_PIPELINE_CORS_ORIGINS", f"{front_end}, http://127.0.0.1:3000")
    with Server(app_on(private)) as client:
        assert client.get("/market/context", headers={"Origin": "http://127.0.0.1:3000"}).headers["access-control-allow-origin"] == "http://127.0.0.1:3000"


def test_strategies_show_the_weights_the_stored_consensus_used(private):
    """A run with other weights than the defaults (momentum 0.3): /strategies shows what the stored
    signals carry, not the defaults."""
    with duckdb.connect(str(private / "serving.duckdb")) as conn:
        conn.execute("UPDATE consensus_breakdown SET weight = 0.3 WHERE strategy = 'momentum'")
        voted = {r[0] for r in conn.execute("SELECT DISTINCT strategy FROM consensus_breakdown").fetchall()}
    with Server(app_on(private)) as client:
        shown = {s["name"]: s for s in client.get("/strategies").json()["strategies"]}
    assert shown["momentum"]["weight"] == 0.3 and shown["momentum"]["weight_from"] == "the stored consensus"
    assert {name for name, s in shown.items() if s["weight_from"] == "the stored consensus"} == voted


def test_today_is_the_newest_price_day_and_an_exited_signal_is_never_live(private):
    """A publication whose newest price day (2018-02-07) brought no new signal: the answers are of that
    day, not of the newest signal day, and a signal whose exit came on it (a stop broken, a target
    reached) is no longer live, while /market/context already shows that day."""
    with duckdb.connect(str(private / "serving.duckdb")) as conn:
        conn.execute("DELETE FROM signal_outcomes WHERE date = DATE '2018-02-07'")
        live = {(s, f"{d:%Y-%m-%d}") for s, d in conn.execute(
            "SELECT symbol, date FROM signal_outcomes WHERE live_until IS NULL OR live_until > DATE '2018-02-07'").fetchall()}
        exited_today = conn.execute("SELECT count(*) FROM signal_outcomes WHERE live_until = DATE '2018-02-07'").fetchone()[0]
    assert exited_today > 0  # the case at stake exists in the data
    with Server(app_on(private)) as client:
        body = client.post("/signals/ml-enhanced", json={"max_symbols": 500}).json()
        later = client.post("/signals/ml-enhanced", json={"max_symbols": 500, "as_of": "2018-03-01"}).json()
        context = client.get("/market/context").json()
    assert body["as_of"] == later["as_of"] == context["date"] == "2018-02-07"
    assert {(s["symbol"], s["date"]) for s in body["signals"]} == live


def test_an_empty_shariah_answer_says_when_no_statement_is_usable(private):
    """A store without statements: every status but NON_COMPLIANT-by-activity is UNKNOWN, and the empty
    answer says why, and what to give."""
    with duckdb.connect(str(private / "serving.duckdb")) as conn:
        conn.execute("UPDATE shariah_screen SET debt_ratio = NULL, cash_ratio = NULL, receivables_ratio = NULL, "
                     "status = CASE WHEN status = 'COMPLIANT' THEN 'UNKNOWN' ELSE status END")
        conn.execute("UPDATE signal_outcomes SET shariah_status = CASE WHEN shariah_status = 'COMPLIANT' THEN 'UNKNOWN' ELSE shariah_status END")
    with Server(app_on(private)) as client:
        body = client.post("/signals/ml-enhanced", json={"shariah_only": True, "max_symbols": 500}).json()
    assert body["signals_count"] == 0 and "no financial statement is usable for any symbol" in body["note"]
    assert "fundamentals_path" in body["note"] and "yfinance" in body["note"]
