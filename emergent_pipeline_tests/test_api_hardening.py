"""The API under load and attack, over real HTTP: a champion loaded once and never written, a read-only
model store, stalled bodies, foreign Host headers, a corrupt publication, malformed bodies, and the
guide's own clients (curl, its Python snippet, its front end's `/api` path, its debug one-liner)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from emergent_pipeline.model_registry import MODEL_NAME
from emergent_pipeline.paths import SERVING_DB_ENV, TRACKING_URI_ENV

from emergent_pipeline_tests.conftest import Server, app_on, free_port, mlflow_resource, read

BIN = Path(sys.executable).parent


def model_folder(folder: Path) -> Path:
    """Where the champion's (version 1's) model files are."""
    client = mlflow_resource(folder / "mlruns").store().client()
    return Path(client.get_model_version_download_uri(MODEL_NAME, "1").removeprefix("file://"))


def files_under(folder: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under ``folder``: size, modification time and content hash."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_checks_neither_reload_the_champion_nor_write_to_the_model_store(private):
    models = model_folder(private)
    before = files_under(models)
    app = app_on(private)
    with Server(app) as client:
        champion = app.state.services.champion
        assert champion.loads == 1 and champion.current() is champion.current()
        for _ in range(5):
            assert client.get("/health/ready").status_code == 200
            assert client.get("/ml/test").status_code == 200
            assert client.get("/system/status").json()["system_status"]["ml_status"]["loaded_version"] == "1"
        assert champion.loads == 1  # loaded at start-up, never again while the alias stays
    assert files_under(models) == before  # nothing written where the model lives (MLflow's models:/ loader writes a file there)


def test_a_read_only_model_store_serves_and_is_ready(private):
    """`python -m emergent_pipeline.api` in a mount namespace of its own where the model's folder is
    mounted read-only (a probe write in it must fail first)."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode != 0:
        pytest.skip("needs `unshare -m` (a mount namespace) to mount the model store read-only")
    models, port = model_folder(private), free_port()
    script = (f'mount --bind -o ro "$0" "$0" && if touch "$0/probe" 2>/dev/null; then echo writable; exit 3; fi; '
              f'exec "$1" -m emergent_pipeline.api --port {port}')
    env = {**os.environ, SERVING_DB_ENV: str(private / "serving.duckdb"), TRACKING_URI_ENV: f"sqlite:///{private / 'mlruns' / 'mlflow.db'}"}
    server = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script, str(models), sys.executable],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        ready = wait_until_ready(f"http://127.0.0.1:{port}", server)
        assert ready.status_code == 200 and ready.json()["champion_version"] == "1", ready.text
        scored = httpx.get(f"http://127.0.0.1:{port}/ml/test", timeout=30)
        assert scored.status_code == 200 and scored.json()["model_version"] == "1"
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0].decode()
    assert "writable" not in output


def wait_until_ready(url: str, server: subprocess.Popen, timeout: float = 120) -> httpx.Response:
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the server exited with {server.returncode}: {server.communicate()[0].decode()[-2000:]}")
        try:
            last = httpx.get(f"{url}/health/ready", timeout=5)
            if last.status_code == 200:
                return last
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return last


def test_a_stalled_body_is_answered_408_and_closed_within_the_timeout(private):
    with Server(app_on(private, body_timeout_seconds=1)) as client:
        port = int(client.base_url.port)
        stalled = []
        for _ in range(20):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(b"POST /signals/ml-enhanced HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100\r\n\r\n{\"max")
            stalled.append(sock)
        started = time.monotonic()
        for sock in stalled:
            answer = b""
            while chunk := sock.recv(65536):  # read until the server closes the connection
                answer += chunk
            sock.close()
            assert answer.startswith(b"HTTP/1.1 408 ") and b"request body not received within 1 s" in answer
        assert time.monotonic() - started < 5
        assert client.post("/signals/ml-enhanced", json={}).status_code == 200  # and the server serves on


def test_a_foreign_host_header_is_refused(private):
    with Server(app_on(private, allowed_hosts=["signals.example.com"])) as client:
        assert client.get("/health").status_code == 200  # 127.0.0.1
        for host in ("localhost", "signals.example.com"):
            assert client.get("/health", headers={"Host": f"{host}:{client.base_url.port}"}).status_code == 200
        refused = client.get("/signals/ml-enhanced", headers={"Host": "evil.example"}, follow_redirects=False)
        assert refused.status_code == 400 and "evil.example" not in refused.headers.get("location", "")


def publish(staging: Path, serving: Path) -> None:
    """A publication as the pipeline makes one: a new file renamed over the served one."""
    staging.replace(serving)


def test_a_corrupt_new_snapshot_leaves_the_last_good_one_served(private):
    serving, good = private / "serving.duckdb", private / "good.duckdb"
    shutil.copy(serving, good)
    request = {"max_symbols": 500}
    with Server(app_on(private)) as client:
        before = client.post("/signals/ml-enhanced", json=request).json()
        (private / "staging").write_bytes(good.read_bytes()[: 1 << 20])  # a publication cut short
        publish(private / "staging", serving)
        after = client.post("/signals/ml-enhanced", json=request)
        assert after.status_code == 200 and after.json()["signals"] == before["signals"]
        ready = client.get("/health/ready")
        assert ready.status_code == 200 and "cannot be opened" in " ".join(ready.json()["warnings"]), ready.text
        shutil.copy(good, private / "staging")
        publish(private / "staging", serving)
        assert client.get("/health/ready").json()["warnings"] == []


def test_the_publication_time_is_the_manifests_not_the_files(private):
    published = read(private / "serving.duckdb", "SELECT published_at FROM snapshot_manifest")["published_at"].item()
    os.utime(private / "serving.duckdb", (0, 0))  # a copy, a backup restored: the file's time says nothing
    with Server(app_on(private)) as client:
        shown = client.get("/system/status").json()["data"]["snapshot_published_at"]
    assert shown.startswith(f"{published:%Y-%m-%dT%H:%M:%S}")


MALFORMED = {
    b'{"symbols": ["\xff"]}': "not UTF-8 text",
    b"[" * 5_000 + b"]" * 5_000: "JSON nested too deeply",
    b'{"max_symbols": ' + b"9" * 5_000 + b"}": "a number too long to read",
    b'{"max_symbols": 5,}': "not valid JSON (Expecting property name enclosed in double quotes at character 18)",
}


def test_malformed_bodies_and_tickers_are_422_naming_the_field(private):
    with Server(app_on(private)) as client:
        for body, reason in MALFORMED.items():
            response = client.post("/signals/ml-enhanced", content=body, headers={"Content-Type": "application/json"})
            assert response.status_code == 422 and response.json()["detail"] == f"invalid request: body: {reason}", body[:30]
        for ticker in ["..", "-", "====", "^^^^", ".AAPL", "&M"]:  # a ticker starts with a letter or a digit
            response = client.post("/signals/ml-enhanced", json={"symbols": ["AAPL", ticker]})
            assert response.status_code == 422 and response.json()["detail"].startswith("invalid request: symbols.1: "), ticker
        as_exchanges_write_them = ["M&M", "BAJAJ-AUTO", "BRK.B", "RELIANCE.NS"]
        response = client.post("/signals/ml-enhanced", json={"symbols": as_exchanges_write_them})
        known = set(read(private / "serving.duckdb", "SELECT DISTINCT symbol FROM price_history")["symbol"])
        assert response.status_code == 200 and response.json()["unknown_symbols"] == sorted(set(as_exchanges_write_them) - known)


GUIDE_CURLS = [
    ["-X", "GET", "{url}/ml/test"],
    ["-X", "POST", "{url}/signals/ml-enhanced", "-H", "Content-Type: application/json", "-d",
     '{\n    "shariah_only": true,\n    "max_symbols": 20,\n    "min_ml_probability": 0.7\n  }'],
    ["-X", "GET", "{url}/system/status"],
    ["{url}/health"],
    ["-X", "POST", "{url}/signals/ml-enhanced", "-H", "Content-Type: application/json", "-d", '{"max_symbols": 10, "min_ml_probability": 0.6}'],
]
"""The guide's curl commands ("API Usage", "Test API Endpoints"), its `localhost:8000` as `{url}`."""

GUIDE_PYTHON = """
from emergent_pipeline.api import MLEnhancedSignalEngine

# Initialize with ML enabled
engine = MLEnhancedSignalEngine(enable_ml=True)

# Generate high-quality ML-enhanced signals
signals = engine.generate_ml_enhanced_signals(
    shariah_only=True,
    max_symbols=30,
    min_ml_probability=0.65
)

# Display results
for signal in signals:
    print(f"{signal['symbol']}: {signal['ml_probability']:.1%} confidence")
    print(f"  Recommendation: {signal['ml_recommendation']}")
    print(f"  Quality: {signal['ml_quality_score']}")
"""
"""The guide's "Basic ML-Enhanced Signal Generation", its import adjusted to this package."""

GUIDE_DEBUG = "from emergent_pipeline.api import MLInferenceEngine; engine = MLInferenceEngine(); print(engine.get_model_info())"


def test_the_guides_clients_work_as_it_prints_them(private, bundled_db):
    env = {**os.environ, SERVING_DB_ENV: str(private / "serving.duckdb"), TRACKING_URI_ENV: f"sqlite:///{private / 'mlruns' / 'mlflow.db'}"}
    with Server(app_on(private)) as client:
        url = str(client.base_url).rstrip("/")
        if shutil.which("curl"):
            for command in GUIDE_CURLS:
                done = subprocess.run(["curl", "-s", "-f", *(part.replace("{url}", url) for part in command)], capture_output=True, text=True, timeout=60)
                assert done.returncode == 0 and json.loads(done.stdout), command
        ml_status = client.get("/system/status").json()["system_status"]["ml_status"]  # the guide's `jq '.system_status.ml_status'`
        assert ml_status["champion_version"] == "1"
        # the front end: fetch('/api/signals/ml-enhanced', {method: 'POST', ...}) through its /api proxy
        front_end = client.post("/api/signals/ml-enhanced", json={"shariah_only": True, "max_symbols": 30, "min_ml_probability": 0.65})
        assert front_end.status_code == 200 and front_end.json()["signals_count"] == len(front_end.json()["signals"])
        assert front_end.json() | {"generated_at": None} == client.post(
            "/signals/ml-enhanced", json={"shariah_only": True, "max_symbols": 30, "min_ml_probability": 0.65}).json() | {"generated_at": None}
        recommended = client.post("/signals/ml-enhanced", json={"min_ml_probability": 0.6, "recommended_only": True, "max_symbols": 500}).json()
        every = client.post("/signals/ml-enhanced", json={"min_ml_probability": 0.6, "max_symbols": 500}).json()
        assert recommended["signals"] == [s for s in every["signals"] if s["ml_recommendation"] not in (None, "SKIP")]
        assert any(s["model_recommendation"] == "SKIP" for s in every["signals"])  # what the guide's threshold alone lets through
    snippet = subprocess.run([sys.executable, "-c", GUIDE_PYTHON], env=env, capture_output=True, text=True, timeout=120)
    assert snippet.returncode == 0, snippet.stderr[-2000:]
    live = front_end.json()  # the same request as the snippet's
    if live["signals_count"]:
        assert snippet.stdout.count("  Recommendation: ") == live["signals_count"]
    else:  # nothing printed by the loop: the reason is on stderr, the note the API gives
        assert snippet.stdout == "" and live["note"] in snippet.stderr
    debug = subprocess.run([sys.executable, "-c", GUIDE_DEBUG], env=env, capture_output=True, text=True, timeout=120)
    assert debug.returncode == 0, debug.stderr[-2000:]
    assert "'champion_version': '1'" in debug.stdout and "'status': 'loaded'" in debug.stdout and "'holdout_metrics': {" in debug.stdout
