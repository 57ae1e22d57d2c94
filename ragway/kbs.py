"""Knowledge bases: named collections of documents that belong to one tenant.

The registry lives in Redis (`ragway:tenant:<tenant>:kbs`, a hash name -> JSON), so every gateway
replica sees the same list; the chunks themselves live in Milvus with `tenant` and `kb` fields."""

from __future__ import annotations

import time

import redis
import redis.asyncio
from pydantic import BaseModel, Field

from ragway import filters, redis_keys
from ragway.errors import Conflict, NotFound
from ragway.redis_client import redis_errors


class KnowledgeBase(BaseModel):
    name: str
    tenant: str
    description: str = ""
    created_at: float = Field(..., description="Unix epoch seconds")
    created_by: str = Field("", description="Key id (or 'cli') that created it")
    deleting: bool = Field(False, description="Being deleted: gone for every use but finishing the delete")


def _parse(name: str, raw: str | None, include_deleting: bool = False) -> KnowledgeBase:
    kb = None if raw is None else KnowledgeBase.model_validate_json(raw)
    if kb is None or (kb.deleting and not include_deleting):
        raise NotFound(f"knowledge base {name!r} does not exist in this tenant; "
                       "an admin creates it with POST /v1/kbs or `ragway kb create`")
    return kb


class KnowledgeBases:
    def __init__(self, client: redis.Redis, async_client: redis.asyncio.Redis | None = None):
        """`async_client`: for `get_async` (the gateway's event loop)."""
        self.r = client
        self.ar = async_client

    @staticmethod
    def _key(tenant: str) -> str:
        return redis_keys.tenant_kbs(tenant)

    def create(self, tenant: str, name: str, description: str = "", created_by: str = "") -> KnowledgeBase:
        filters.validate_name("knowledge base", name)
        kb = KnowledgeBase(name=name, tenant=tenant, description=description[:1000], created_at=time.time(),
                           created_by=created_by)
        with redis_errors():
            created = self.r.hsetnx(self._key(tenant), name, kb.model_dump_json())
        if not created:
            being_deleted = self.get(tenant, name, include_deleting=True).deleting
            raise Conflict(f"knowledge base {name!r} " + ("is being deleted: try again in a moment"
                                                           if being_deleted else "already exists"))
        return kb

    def get(self, tenant: str, name: str, include_deleting: bool = False) -> KnowledgeBase:
        """`include_deleting`: also a kb whose deletion began (to finish or retry it)."""
        filters.validate_name("knowledge base", name)
        with redis_errors():
            raw = self.r.hget(self._key(tenant), name)
        return _parse(name, raw, include_deleting)

    async def get_async(self, tenant: str, name: str) -> KnowledgeBase:
        """`get` over the asyncio Redis client."""
        filters.validate_name("knowledge base", name)
        with redis_errors():
            raw = await self.ar.hget(self._key(tenant), name)
        return _parse(name, raw)

    def list(self, tenant: str) -> list[KnowledgeBase]:
        with redis_errors():
            rows = self.r.hvals(self._key(tenant))
        kbs = (KnowledgeBase.model_validate_json(r) for r in rows)
        return sorted((kb for kb in kbs if not kb.deleting), key=lambda kb: kb.name)

    def mark_deleting(self, kb: KnowledgeBase) -> None:
        """The first step of a delete: from now on the kb is missing for searches, uploads and
        ingest workers (which check it around every write), while its chunks are still deleted."""
        with redis_errors():
            self.r.hset(self._key(kb.tenant), kb.name, kb.model_copy(update={"deleting": True}).model_dump_json())

    def remove(self, tenant: str, name: str) -> None:
        with redis_errors():
            self.r.hdel(self._key(tenant), name)
