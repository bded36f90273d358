"""The champion model as the server holds it: loaded at start-up, checked on every use.

A server that only cached what it loaded once would keep answering "success" after the champion was
moved to a version that cannot load, or after its files were removed; one that loaded on first use
made the first request wait for the whole load (seconds). Here the load happens at start-up and
each use re-resolves the alias and compares the model's files with those loaded (a few
milliseconds), reloading on a change and reporting a failure as the reason the model is unavailable.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from emergent_pipeline.model_registry import CHAMPION, ModelStore


class ChampionUnavailable(RuntimeError):
    """No usable champion: the message says why (no paths, nothing internal)."""


@dataclass(frozen=True)
class LoadedChampion:
    version: str
    model: object
    features: list[str]
    signature: tuple | None
    load_seconds: float


class ServedChampion:
    def __init__(self, store: ModelStore):
        self.store = store
        self.loaded: LoadedChampion | None = None
        self.error: str | None = None
        self.lock = threading.Lock()

    def current(self) -> LoadedChampion:
        """The champion of the registry now, loaded; raises ``ChampionUnavailable`` with the reason."""
        try:
            version = self.store.version_by_alias(CHAMPION)
        except Exception as error:  # noqa: BLE001 - the registry itself is unreachable
            raise self._unavailable(f"the model registry cannot be read ({type(error).__name__})") from None
        if version is None:
            raise self._unavailable("no champion model: run the train_signal_model job")
        signature = self.store.artifact_signature(version)
        if signature == ():
            raise self._unavailable(f"champion version {version.version} has no model files (they were removed): "
                                    "train again or point the champion alias at a version that has them")
        loaded = self.loaded
        if loaded is not None and loaded.version == str(version.version) and loaded.signature == signature:
            return loaded
        with self.lock:
            start = time.perf_counter()
            try:
                model = self.store.load(version)
                features = self.store.features_of(version)
            except Exception as error:  # noqa: BLE001 - whatever a broken artifact raises, the reason is the same
                raise self._unavailable(f"champion version {version.version} cannot be loaded ({type(error).__name__}): "
                                        "train again or point the champion alias at a working version") from None
            self.loaded = LoadedChampion(str(version.version), model, features, signature, time.perf_counter() - start)
            self.error = None
            return self.loaded

    def _unavailable(self, reason: str) -> ChampionUnavailable:
        self.error = reason
        return ChampionUnavailable(reason)

    def preload(self) -> None:
        """Load at start-up so the first request does not wait; a failure is kept as the reason."""
        try:
            self.current()
        except ChampionUnavailable:
            pass
