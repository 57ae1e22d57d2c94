"""The gateway's long-lived clients and services, created once per app and connected lazily, so
the gateway starts (and `/readyz` explains) while a dependency is still down.

`create_app(services)` takes them, so tests pass a `Services` whose parts (chunk index, embedder,
blob store, generator) are fakes; routes reach them only through `services_dep`."""

from __future__ import annotations

import threading
from functools import cached_property

import redis
import redis.asyncio
from fastapi import Request

from ragway.audit import AuditLog
from ragway.auth import KeyAdministration, KeyStore
from ragway.blobs import BlobStore, open_gateway_blob_store
from ragway.chunk_index import ChunkIndex, open_chunk_index
from ragway.embedder import Embedder, get_embedder
from ragway.freshness import WriteMarks
from ragway.generator import Generator
from ragway.job_lifecycle import JobLifecycle
from ragway.jobs import JobStore
from ragway.kb_service import KnowledgeBaseService
from ragway.kbs import KnowledgeBases
from ragway.limits import Limits
from ragway.rag import RagService
from ragway.redis_client import connect, connect_async
from ragway.settings import Settings


class Services:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._store_lock = threading.Lock()
        self._store: ChunkIndex | None = None
        self.embedder_ready = threading.Event()

    def warm_up(self) -> None:
        """Load the embedding model (seconds) before a request waits for it; /readyz says "loading" until then."""
        self.embedder.embed_query("warm-up")
        self.embedder_ready.set()

    @cached_property
    def embedder(self) -> Embedder:
        return get_embedder(self.settings)

    @property
    def store(self) -> ChunkIndex:
        with self._store_lock:
            if self._store is None:
                marks = WriteMarks(self.redis, self.settings.strong_after_delete_s, self.aredis)
                self._store = open_chunk_index(self.settings, self.embedder.dim, marks)
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
    def key_admin(self) -> KeyAdministration:
        return KeyAdministration(self.keys, self.audit)

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
    def knowledge_bases(self) -> KnowledgeBaseService:
        return KnowledgeBaseService(self.kbs, self.jobs, self.blobs, lambda: self.store, self.audit)

    @cached_property
    def generator(self) -> Generator:
        return Generator(self.settings)

    @cached_property
    def rag(self) -> RagService:
        # One per process: its retriever keeps the in-process BM25 indexes and the throttle on
        # re-reading a kb's fingerprint (`bm25_check_interval_s`) across requests.
        return RagService(self.settings, self.embedder, self.store, self.generator, self.kbs)


def services_of(request: Request) -> Services:
    """The services of the app serving `request` (`create_app` puts them on `app.state`)."""
    return request.app.state.services


async def services_dep(request: Request) -> Services:
    """`services_of` as a FastAPI dependency: async, because a sync one costs a threadpool hop per request."""
    return request.app.state.services
