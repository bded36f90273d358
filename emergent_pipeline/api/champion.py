"""The champion model as the server holds it: loaded at start-up, reloaded only when the registry moves.

A server that only cached what it loaded once would keep answering "success" after the champion was
moved to a version that cannot load, or after its files were removed; one that loaded on first use
made the first request wait for the whole load. Here each use asks the registry which version
``@champion`` names (one query) and compares it with the version loaded: the model is loaded again
only when the alias moved, and a stat of its ``MLmodel`` file tells that its files are still there.
Loading writes nothing to the model store, so a server on a read-only store serves, and
readiness and status checks never touch a file.
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from emergent_pipeline.paths import CHALLENGER, CHAMPION, MODEL_NAME, default_artifact_root, default_tracking_uri

RETRY_SECONDS = 10.0
"""A version that failed to load is tried again after this long (its files may have been mended in place)."""
PROBE_SECONDS = 10.0
"""How old the registry's answer may be for a probe (readiness, status), as long as a Kubernetes
probe's default period: asking MLflow which version ``@champion`` names costs about 4 ms of Python
under the GIL, and in a worker thread it stretches to a tenth of a second of slowed requests. Every
two seconds, that alone put p99 of POSTs beside eight readiness pollers at 38 ms; every ten, under
25 ms. A move is seen by probes within this time, and at once by ``/ml/test``."""


class ChampionUnavailable(RuntimeError):
    """No usable champion: the message says why (no paths, nothing internal)."""


@dataclass(frozen=True)
class LoadedChampion:
    version: str
    model: object
    features: list[str]
    folder: Path | None
    """The model's files on this machine (None for a remote artifact store)."""
    load_seconds: float


@dataclass(frozen=True)
class _Failure:
    version: str
    reason: str
    at: float


class ServedChampion:
    """``@champion`` of the registry at ``tracking_uri``, loaded. MLflow is imported on the first use,
    not when the server starts (a server answers its first request before the model is loaded)."""

    def __init__(self, tracking_uri: str | None = None, model_name: str = MODEL_NAME):
        self.tracking_uri = tracking_uri or default_tracking_uri()
        self.model_name = model_name
        self.loaded: LoadedChampion | None = None
        self.error: str | None = None
        self.failed: _Failure | None = None
        self.resolved: tuple[object, float] | None = None
        """The registry's last answer (the version ``@champion`` named) and when it was asked."""
        self.loads = 0
        """How many times a model was loaded (a test reads it: a readiness check must not load)."""
        self.lock = threading.Lock()
        self.asking = threading.Lock()
        """Held while the registry is asked: one question at a time; probes meanwhile take the last answer."""

    def _answer(self, max_age: float):
        """The registry's last answer when a probe may take it (younger than ``max_age``, or younger than
        twice that while another thread is asking again), else None."""
        resolved = self.resolved
        if resolved is None or max_age <= 0:
            return None
        age = time.monotonic() - resolved[1]
        return resolved if age < max_age or (age < 2 * max_age and self.asking.locked()) else None

    def fresh(self, max_age: float) -> bool:
        """Whether a probe needs neither the registry nor a load: the registry's answer is recent
        enough (see :meth:`_answer`) and names the loaded model."""
        resolved, loaded = self._answer(max_age), self.loaded
        return resolved is not None and resolved[0] is not None and loaded is not None and str(resolved[0].version) == loaded.version

    @functools.cached_property
    def store(self):
        from emergent_pipeline.model_registry import ModelStore

        return ModelStore(self.tracking_uri, default_artifact_root(), model_name=self.model_name)

    def current(self, wait: bool = True, max_age: float = 0.0) -> LoadedChampion:
        """The champion of the registry now, loaded; raises ``ChampionUnavailable`` with the reason.
        Without ``wait``, a load under way is reported as the reason rather than waited for; with
        ``max_age``, the registry's answer of up to that many seconds ago is taken (a probe's)."""
        if not wait and self.lock.locked():
            raise ChampionUnavailable("the champion model is being loaded")
        resolved = self._answer(max_age)
        version = resolved[0] if resolved is not None else self._ask_registry()
        if version is None:
            raise self._unavailable("no champion model: run the train_signal_model job")
        number = str(version.version)
        loaded = self.loaded
        if loaded is not None and loaded.version == number:
            return self._present(loaded)
        with self.lock:
            if self.loaded is not None and self.loaded.version == number:
                return self._present(self.loaded)
            failed = self.failed
            if failed is not None and failed.version == number and time.monotonic() - failed.at < RETRY_SECONDS:
                raise self._unavailable(failed.reason)
            self.loaded = self._load(version)
            self.error, self.failed = None, None
            return self.loaded

    def _ask_registry(self):
        """The version ``@champion`` names now (None: no champion), asked of the registry."""
        with self.asking:
            try:
                version = self.store.version_by_alias(CHAMPION)
            except Exception as error:  # noqa: BLE001 - the registry itself is unreachable
                raise self._unavailable(f"the model registry cannot be read ({type(error).__name__})") from None
            self.resolved = (version, time.monotonic())
            return version

    def _load(self, version) -> LoadedChampion:
        number = str(version.version)
        start = time.perf_counter()
        try:
            location = self.store.model_location(version)
            folder = None if "://" in location else Path(location)
            if folder is not None and not (folder / "MLmodel").exists():
                raise self._unavailable(self._removed(number), number)
            model = self.store.load(version, location)
            features = self.store.features_of(version, location)
        except ChampionUnavailable:
            raise
        except Exception as error:  # noqa: BLE001 - whatever a broken artifact raises, the reason is the same
            raise self._unavailable(f"champion version {number} cannot be loaded ({type(error).__name__}): "
                                    "train again or point the champion alias at a working version", number) from None
        self.loads += 1
        return LoadedChampion(number, model, features, folder, time.perf_counter() - start)

    def _present(self, loaded: LoadedChampion) -> LoadedChampion:
        """The loaded champion, unless its files were removed from under it (a stat, nothing read)."""
        if loaded.folder is not None and not (loaded.folder / "MLmodel").exists():
            raise self._unavailable(self._removed(loaded.version))
        self.error = None
        return loaded

    @staticmethod
    def _removed(number: str) -> str:
        return (f"champion version {number} has no model files (they were removed): "
                "train again or point the champion alias at a version that has them")

    def _unavailable(self, reason: str, failed_version: str | None = None) -> ChampionUnavailable:
        self.error = reason
        if failed_version is not None:
            self.failed = _Failure(failed_version, reason, time.monotonic())
        return ChampionUnavailable(reason)

    def preload(self) -> None:
        """Load now (at start-up, so the first request does not wait); a failure is kept as the reason."""
        try:
            self.current()
        except ChampionUnavailable:
            pass


class MLInferenceEngine:
    """The guide's debugging entry point, ``MLInferenceEngine().get_model_info()``: the model that serves,
    loaded as the API loads it, described.

        from emergent_pipeline.api import MLInferenceEngine
        print(MLInferenceEngine().get_model_info())
    """

    def __init__(self, tracking_uri: str | None = None):
        self.champion = ServedChampion(tracking_uri)

    def get_model_info(self) -> dict:
        """Which version serves and why it may not: the aliases, the features, the window it learned
        from, its hold-out figures and the promotion rule's decision, and how long loading it took."""
        store, info = self.champion.store, {"model_name": self.champion.model_name, "tracking_uri": self.champion.tracking_uri}
        challenger = store.version_by_alias(CHALLENGER)
        info["challenger_version"] = str(challenger.version) if challenger else None
        try:
            loaded = self.champion.current()
        except ChampionUnavailable as failure:
            return {**info, "champion_version": _alias_version(store), "status": "unavailable", "reason": str(failure)}
        version = store.version(loaded.version)
        run_id = store.training_run_id(version)
        metrics = store.client().get_run(run_id).data.metrics if run_id else {}
        return {
            **info, "champion_version": loaded.version, "status": "loaded", "reason": None,
            "model_type": type(loaded.model).__name__, "load_ms": round(loaded.load_seconds * 1000, 1),
            "features": loaded.features, "feature_count": len(loaded.features),
            "learned_labels_until": version.tags.get("label_end"),
            "holdout_window": [version.tags.get("holdout_start"), version.tags.get("holdout_end")],
            "holdout_metrics": {k.removeprefix("holdout_"): v for k, v in sorted(metrics.items()) if k.startswith("holdout_")},
            "evaluation": version.tags.get("evaluation"), "evaluation_reason": version.tags.get("evaluation_reason"),
        }


def _alias_version(store) -> str | None:
    """The version ``@champion`` names (None: none, or the registry cannot be read)."""
    try:
        version = store.version_by_alias(CHAMPION)
    except Exception:  # noqa: BLE001 - the reason is reported beside it
        return None
    return None if version is None else str(version.version)
