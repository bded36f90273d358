"""A bound on the native threads (OpenMP, BLAS) of the package's numerical work, set by the package itself.

scikit-learn's gradient boosting runs OpenMP threads that spin while they wait for a sibling: when two
processes each start a thread per core on the same cores, a waiting thread burns the time slice its
descheduled sibling needs, and both run about a hundred times slower (twenty fits of the served
classifier: 3 s alone, 349 s each side by side on two cores). A Makefile line cannot bound the
threads of a Dagster daemon's run, the API or a user's script; the package's own model code can.

The bound is half the cores this process may use (at least one), so that two jobs side by side fit on
the machine; ``$EMERGENT_PIPELINE_THREADS`` sets another (a positive whole number). On two cores that
is one thread: a fit takes 3.4 s instead of 3.0 s alone, and no longer 349 s beside another job.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from threadpoolctl import ThreadpoolController

THREADS_ENV = "EMERGENT_PIPELINE_THREADS"
_controller: ThreadpoolController | None = None
F = TypeVar("F", bound=Callable)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def thread_limit() -> int:
    """``$EMERGENT_PIPELINE_THREADS``, else half the usable cores (at least one)."""
    configured = os.environ.get(THREADS_ENV, "").strip()
    if not configured:
        return max(1, usable_cores() // 2)
    if not configured.isdigit() or int(configured) < 1:
        raise ValueError(f"{THREADS_ENV} must be a positive whole number of threads, not {configured!r}")
    return int(configured)


def _threadpools() -> ThreadpoolController:
    """The native thread pools loaded in this process, found once (a scan of the loaded libraries
    costs milliseconds; limiting through a kept controller costs a tenth of one)."""
    global _controller
    if _controller is None:
        import sklearn.ensemble  # noqa: F401 - loads the OpenMP runtime the controller must find

        _controller = ThreadpoolController()
    return _controller


@contextmanager
def bounded_native_threads() -> Iterator[int]:
    """Inside, every OpenMP and BLAS pool runs at most :func:`thread_limit` threads; yields the limit."""
    limit = thread_limit()
    with _threadpools().limit(limits=limit):
        yield limit


def bounded(function: F) -> F:
    """``function`` run inside :func:`bounded_native_threads`."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with bounded_native_threads():
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
