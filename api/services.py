"""The gateway's long-lived clients, created once per process and connected lazily,
so the gateway starts (and `/readyz` explains) while a dependency is still down."""

from __future__ import annotations

import threading
from functools import cached_property

from ragway.blobs import LocalBlobStore
from ragway.embedder import Embedder, get_embedder
from ragway.generator import Generator
from ragway.jobs import JobStore
from ragway.rag import RagService
from ragway.settings import Settings, get_settings
from ragway.store import ChunkStore


class Services:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._store_lock = threading.Lock()
        self._store: ChunkStore | None = None

    @cached_property
    def embedder(self) -> Embedder:
        return get_embedder(self.settings)

    @property
    def store(self) -> ChunkStore:
        with self._store_lock:
            if self._store is None:
                store = ChunkStore(self.settings, dim=self.embedder.dim)
                store.ensure_collection()
                self._store = store
            return self._store

    @cached_property
    def jobs(self) -> JobStore:
        return JobStore.from_url(self.settings.redis_url)

    @cached_property
    def blobs(self) -> LocalBlobStore:
        return LocalBlobStore(self.settings.blob_dir)

    @cached_property
    def generator(self) -> Generator:
        return Generator(self.settings)

    @property
    def rag(self) -> RagService:
        return RagService(self.settings, self.embedder, self.store, self.generator)


_services: Services | None = None


def get_services() -> Services:
    global _services
    if _services is None:
        _services = Services(get_settings())
    return _services
