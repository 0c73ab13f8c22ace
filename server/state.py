"""The shared objects every tool receives: settings, store, fal gateway, job engine, watcher, background runs, locks."""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio

from server.catalog import Catalog
from server.config import Settings
from server.fal_gateway import FalGateway
from server.jobs import JobEngine
from server.runs import Runs
from server.storage import Store
from server.watcher import Watcher


@dataclass
class AppState:
    settings: Settings
    store: Store
    fal: FalGateway
    watcher: Watcher
    jobs: JobEngine
    catalog: Catalog
    runs: Runs = field(default_factory=Runs)
    _locks: dict[str, anyio.Lock] = field(default_factory=dict)

    def lock(self, key: str) -> anyio.Lock:
        """One lock per key (e.g. a model name or a training request hash) for check-then-act sections."""
        if key not in self._locks:
            self._locks[key] = anyio.Lock()
        return self._locks[key]
