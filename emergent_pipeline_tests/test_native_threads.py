"""The package bounds its own native threads: inside the model code, every OpenMP and BLAS pool runs at
most the bound (read back from the libraries themselves), whatever the process was started with."""

import os

import pytest
from threadpoolctl import threadpool_info

from emergent_pipeline.core import native_threads
from emergent_pipeline.core.native_threads import THREADS_ENV, bounded, thread_limit, usable_cores


def test_the_default_bound_is_half_the_usable_cores_and_the_environment_overrides_it(monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert thread_limit() == max(1, len(os.sched_getaffinity(0)) // 2) and usable_cores() == len(os.sched_getaffinity(0))
    monkeypatch.setenv(THREADS_ENV, "3")
    assert thread_limit() == 3
    for wrong in ("0", "-1", "two", "1.5"):
        monkeypatch.setenv(THREADS_ENV, wrong)
        with pytest.raises(ValueError, match=f"{THREADS_ENV} must be a positive whole number of threads, not '{wrong}'"):
            thread_limit()


def test_model_code_runs_its_native_pools_at_the_bound(monkeypatch):
    monkeypatch.setenv(THREADS_ENV, "1")

    @bounded
    def pools() -> dict[str, int]:
        return {pool["internal_api"]: pool["num_threads"] for pool in threadpool_info()}

    native_threads._threadpools()  # scikit-learn's OpenMP runtime loaded
    inside = pools()
    assert inside.get("openmp") == 1 and set(inside.values()) == {1}


FIT = """
import os, numpy as np, pandas as pd
from emergent_pipeline.core.signal_model import ModelParams, fit_scorer
rng = np.random.default_rng(0)
X = pd.DataFrame(rng.normal(size=(3000, 20)), columns=[f"f{i}" for i in range(20)])
y = (X["f0"] + rng.normal(size=3000) > 0).to_numpy(dtype=int)
fit_scorer(X, y, rng.normal(size=3000), np.arange(2400), np.arange(2400, 3000), ModelParams())
print(len(os.listdir("/proc/self/task")))
"""


@pytest.mark.skipif(usable_cores() < 2 or not os.path.isdir("/proc/self/task"), reason="needs two cores and /proc")
def test_a_fit_starts_no_more_threads_than_the_bound(tmp_path):
    """The OpenMP runtime starts its worker threads at the first parallel region and keeps them: after a
    fit, a process bounded to one thread holds fewer threads than one bounded to two, whatever
    OMP_NUM_THREADS says (unset here, as for a Dagster daemon's run or the API)."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    threads = {}
    for bound in ("1", "2"):
        done = subprocess.run([sys.executable, "-c", FIT], env={**env, THREADS_ENV: bound}, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        threads[bound] = int(done.stdout.split()[-1])
    assert threads["1"] < threads["2"], threads
