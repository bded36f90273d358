"""p50 and p99 latency of POST /signals/ml-enhanced with 32 concurrent clients, measured with wrk.

Needs the pipeline's data (`make run`) and wrk (`apt-get install wrk`, Debian's package). Starts
`emergent-pipeline serve` on a free port on 127.0.0.1 (one uvicorn worker), warms it up, loads it
for --seconds with 32 connections, prints wrk's latency distribution, and stops the server.

    .venv/bin/python bench/api_latency.py [--seconds 20] [--connections 32]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BODY = {"shariah_only": False, "max_symbols": 50, "min_ml_probability": 0.0}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "emergent-pipeline"), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        request = urllib.request.Request(f"{url}/signals/ml-enhanced", data=json.dumps(BODY).encode(), headers={"Content-Type": "application/json"})
        answer = json.load(urllib.request.urlopen(request, timeout=10))
        print(f"POST /signals/ml-enhanced {BODY} -> {answer['signals_count']} signals, as_of {answer['as_of']}")
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
            script.write(f'wrk.method = "POST"\nwrk.body = {json.dumps(json.dumps(BODY))}\nwrk.headers["Content-Type"] = "application/json"\n')
        subprocess.run(["wrk", "-t2", "-c8", "-d3s", "-s", script.name, f"{url}/signals/ml-enhanced"], capture_output=True)  # warm-up
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as varied:
            # Every request different (threshold and size drawn at random): nothing but the shaped day is reused.
            varied.write(
                'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                "request = function()\n"
                '  local body = string.format(\'{"max_symbols": %d, "min_ml_probability": %.3f}\', math.random(1, 500), math.random())\n'
                "  return wrk.format(nil, nil, nil, body)\nend\n"
            )
        for label, lua in (("the same request", script.name), ("every request different (random max_symbols and threshold)", varied.name)):
            result = subprocess.run(
                ["wrk", "-t2", f"-c{args.connections}", f"-d{args.seconds}s", "--latency", "-s", lua, f"{url}/signals/ml-enhanced"],
                capture_output=True, text=True,
            )
            os.unlink(lua)
            print(f"== {label}\n{result.stdout}")
            percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", result.stdout, flags=re.MULTILINE))
            rate = re.search(r"Requests/sec:\s+(\S+)", result.stdout)
            print(f"{label}, {args.connections} concurrent clients: p50 {percentiles.get('50')}, p99 {percentiles.get('99')}, "
                  f"{rate.group(1) if rate else '?'} requests/s (goal p99 <= 50 ms)\n")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
