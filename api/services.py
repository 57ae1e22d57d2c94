"""The gateway's long-lived clients, created once per process and connected lazily,
so the gateway starts (and `/readyz` explains) while a dependency is still down."""

from __future__ import annotations

import threading
from functools import cached_property

import redis
import redis.asyncio

from ragway.audit import AuditLog
from ragway.auth import KeyStore
from ragway.blobs import BlobStore, open_gateway_blob_store
from ragway.embedder import Embedder, get_embedder
from ragway.freshness import WriteMarks
from ragway.generator import Generator
from ragway.job_lifecycle import JobLifecycle
from ragway.jobs import JobStore
from ragway.kbs import KnowledgeBases
from ragway.limits import Limits
from ragway.rag import RagService
from ragway.redis_client import connect, connect_async
from ragway.settings import Settings, get_settings
from ragway.store import ChunkStore


class Services:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._store_lock = threading.Lock()
        self._store: ChunkStore | None = None
        self.embedder_ready = threading.Event()

    def warm_up(self) -> None:
        """Load the embedding model (seconds) before a request waits for it; /readyz says "loading" until then."""
        self.embedder.embed_query("warm-up")
        self.embedder_ready.set()

    @cached_property
    def embedder(self) -> Embedder:
        return get_embedder(self.settings)

    @property
    def store(self) -> ChunkStore:
        with self._store_lock:
            if self._store is None:
                marks = WriteMarks(self.redis, self.settings.strong_after_delete_s, self.aredis)
                store = ChunkStore(self.settings, dim=self.embedder.dim, write_marks=marks)
                store.ensure_collection()
                self._store = store
            return self._store

    @cached_property
    def redis(self) -> redis.Redis:
        return connect(self.settings.effective_redis_url)

    @cached_property
    def aredis(self) -> redis.asyncio.Redis:
        """For the checks every request makes (key, rate, kb) on the event loop; first used there."""
        return connect_async(self.settings.effective_redis_url)

    @cached_property
    def jobs(self) -> JobStore:
        return JobStore(self.redis)

    @cached_property
    def keys(self) -> KeyStore:
        return KeyStore(self.redis, self.aredis)

    @cached_property
    def kbs(self) -> KnowledgeBases:
        return KnowledgeBases(self.redis, self.aredis)

    @cached_property
    def limits(self) -> Limits:
        return Limits(self.redis, self.jobs, self.settings.requests_per_minute, self.settings.concurrent_jobs_per_key)

    @cached_property
    def audit(self) -> AuditLog:
        return AuditLog(self.redis)

    @cached_property
    def blobs(self) -> BlobStore:
        return open_gateway_blob_store(self.settings)

    @cached_property
    def job_lifecycle(self) -> JobLifecycle:
        return JobLifecycle(self.settings, self.jobs, self.kbs, self.limits, self.blobs, self.audit)

    @cached_property
    def generator(self) -> Generator:
        return Generator(self.settings)

    @cached_property
    def rag(self) -> RagService:
        # One per process: its retriever keeps the in-process BM25 indexes and the throttle on
        # re-reading a kb's fingerprint (`bm25_check_interval_s`) across requests.
        return RagService(self.settings, self.embedder, self.store, self.generator)


_services: Services | None = None


def get_services() -> Services:
    global _services
    if _services is None:
        _services = Services(get_settings())
    return _services


async def services_dep() -> Services:
    """`get_services` as a FastAPI dependency: async, because a sync one costs a threadpool hop per request."""
    return get_services()
