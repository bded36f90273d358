"""Latency of the REST API under request mixes, measured with wrk, and its time from start to first answer.

Needs the pipeline's data (`make run`) and wrk (`apt-get install wrk`, Debian's package). Starts
`emergent-pipeline serve` on a free port on 127.0.0.1 (one uvicorn worker) and times how long it
takes to answer `/health`, then `/health/ready` (champion loaded); warms it up and loads it, each mix
for --seconds with --connections connections:

- POST /signals/ml-enhanced, the same request;
- POST, every request different (random max_symbols and threshold);
- POST for a varied `as_of` (one of the newest --days stored days, at random);
- GET /market/context;
- POST beside 8 more connections polling GET /health/ready (two wrk processes at once).

Prints wrk's p50 and p99 and requests per second of each, against the goal p99 <= 25 ms: each mix
after 3 s of the same mix (reported too: the first request for a day shapes that day's signals).

    .venv/bin/python bench/api_latency.py [--seconds 20] [--connections 32] [--days 9]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import duckdb

from emergent_pipeline.paths import serving_db_path

BODY = {"shariah_only": False, "max_symbols": 50, "min_ml_probability": 0.0}
GOAL_P99_MS = 25
POST = 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def script(lua: str) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(lua)
    return file.name


def same_request() -> str:
    return script(f"{POST}wrk.body = {json.dumps(json.dumps(BODY))}\n")


def varied_request() -> str:
    return script(POST + "request = function()\n"
                  '  local body = string.format(\'{"max_symbols": %d, "min_ml_probability": %.3f}\', math.random(1, 500), math.random())\n'
                  "  return wrk.format(nil, nil, nil, body)\nend\n")


def varied_days(days: list[str]) -> str:
    listed = ", ".join(f'"{d}"' for d in days)
    return script(POST + f"days = {{{listed}}}\nrequest = function()\n"
                  '  local body = string.format(\'{"max_symbols": 50, "as_of": "%s"}\', days[math.random(1, #days)])\n'
                  "  return wrk.format(nil, nil, nil, body)\nend\n")


def figures(output: str) -> tuple[str, str, str]:
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, flags=re.MULTILINE))
    rate = re.search(r"Requests/sec:\s+(\S+)", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return percentiles.get("50", "?"), percentiles.get("99", "?"), (rate.group(1) if rate else "?") + (f" ({errors.group(1)} non-2xx)" if errors else "")


def wrk(url: str, connections: int, seconds: int, lua: str | None = None) -> subprocess.Popen:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", *(["-s", lua] if lua else []), url]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def report(label: str, output: str) -> None:
    p50, p99, rate = figures(output)
    print(f"{label:<58} p50 {p50:>8}  p99 {p99:>8}  {rate} requests/s   (goal p99 <= {GOAL_P99_MS} ms)", flush=True)


def until_answered(url: str, server: subprocess.Popen, started: float, ok=lambda response: True, timeout: float = 180) -> float:
    """Seconds from ``started`` until ``url`` answers (and ``ok`` accepts the answer); exits with the last
    answer when the server stops or ``timeout`` passes (a champion that cannot load keeps readiness 503)."""
    last = "no answer"
    while server.poll() is None and time.monotonic() - started < timeout:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if ok(response):
                    return time.monotonic() - started
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as error:
            last = f"HTTP {error.code}: {error.read()[:300]!r}"
        except OSError as error:
            last = str(error)
        time.sleep(0.02)
    raise SystemExit(f"{url} not answered as expected ({'the server exited' if server.poll() is not None else f'{timeout:.0f} s'}): {last}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--days", type=int, default=9)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    with duckdb.connect(serving_db_path(), read_only=True) as conn:
        days = [str(d) for (d,) in conn.execute("SELECT DISTINCT date FROM market_context ORDER BY date DESC LIMIT ?", [args.days]).fetchall()]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    print(f"load before: {os.getloadavg()[0]:.2f}", flush=True)
    started = time.monotonic()
    server = subprocess.Popen([str(Path(sys.executable).parent / "emergent-pipeline"), "serve", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    scripts = []
    try:
        first = until_answered(f"{url}/health", server, started)
        ready = until_answered(f"{url}/health/ready", server, started, ok=lambda response: response.status == 200)
        print(f"from `serve` to the first answer: {first:.2f} s (goal <= 3 s); to ready (champion loaded): {ready:.2f} s", flush=True)
        request = urllib.request.Request(f"{url}/signals/ml-enhanced", data=json.dumps(BODY).encode(), headers={"Content-Type": "application/json"})
        answer = json.load(urllib.request.urlopen(request, timeout=10))
        print(f"POST /signals/ml-enhanced {BODY} -> {answer['signals_count']} signals, as_of {answer['as_of']}", flush=True)
        scripts = [same_request(), varied_request(), varied_days(days)]
        mixes = [
            ("POST, the same request", f"{url}/signals/ml-enhanced", scripts[0]),
            ("POST, every request different", f"{url}/signals/ml-enhanced", scripts[1]),
            (f"POST, as_of one of the newest {len(days)} days at random", f"{url}/signals/ml-enhanced", scripts[2]),
            ("GET /market/context", f"{url}/market/context", None),
        ]
        for label, target, lua in mixes:
            cold = wrk(target, args.connections, 3, lua).communicate()[0]  # the first 3 s also warm each mix up
            report(f"{label}, {args.connections} connections", wrk(target, args.connections, args.seconds, lua).communicate()[0])
            report("  its first 3 s (days shaped on first request)", cold)
        posts = wrk(f"{url}/signals/ml-enhanced", args.connections, args.seconds, scripts[0])
        polls = wrk(f"{url}/health/ready", 8, args.seconds)
        report(f"POST, {args.connections} connections, beside 8 polling readiness", posts.communicate()[0])
        report("  GET /health/ready, 8 connections, beside the POSTs", polls.communicate()[0])
    finally:
        for lua in scripts:
            os.unlink(lua)
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
