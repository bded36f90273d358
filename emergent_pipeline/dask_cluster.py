"""A Dask distributed cluster of real processes on this machine: one scheduler and a worker process
per chunk computed at once, talking over TCP on 127.0.0.1, started with Dask's own command line as
an operator would start it on several machines (``dask scheduler``, ``dask worker ADDRESS``).

For the engine test and the scale benchmark; a deployment starts the same two commands on its own
machines and points runs at the scheduler with ``EMERGENT_PIPELINE_DASK_SCHEDULER`` (README,
"Beyond one machine").
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Cluster:
    address: str
    """The scheduler's, as runs are pointed at it (``tcp://127.0.0.1:PORT``)."""
    pids: tuple[int, ...]
    """The scheduler's and the worker launcher's processes (the workers are their children)."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def local_cluster(workers: int = 2, threads_per_worker: int = 1, timeout: float = 60.0) -> Iterator[Cluster]:
    """Start ``dask scheduler`` and ``dask worker`` (``workers`` processes of ``threads_per_worker``
    threads, each bounded to one native thread per Dask thread) on 127.0.0.1; yield the cluster once
    every worker has joined; stop them all on leaving, whatever happened."""
    from distributed import Client

    dask = str(Path(sys.executable).with_name("dask"))
    address = f"tcp://127.0.0.1:{_free_port()}"
    env = {**os.environ, "EMERGENT_PIPELINE_THREADS": str(threads_per_worker)}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    processes = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                                   "--no-dashboard", "--no-show"], **quiet)]
    try:
        processes.append(subprocess.Popen([dask, "worker", address, "--host", "127.0.0.1", "--nworkers", str(workers),
                                           "--nthreads", str(threads_per_worker), "--no-dashboard"], **quiet))
        with Client(address, timeout=f"{timeout}s", set_as_default=False) as client:
            client.wait_for_workers(workers, timeout=timeout)
        yield Cluster(address, tuple(p.pid for p in processes))
    finally:
        for process in reversed(processes):  # the workers first, while their scheduler still answers
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
