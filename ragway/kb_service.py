"""Knowledge bases and their documents as a caller sees them: always within the caller's tenant,
every change audited, a kb deleted by its protocol (`ragway/kb_deletion.py`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ragway import ids, kb_deletion
from ragway.audit import AuditLog
from ragway.auth import Caller
from ragway.blobs import BlobStore
from ragway.chunk_index import ChunkIndex
from ragway.jobs import JobStore
from ragway.kbs import KnowledgeBase, KnowledgeBases


class KnowledgeBaseService:
    def __init__(self, kbs: KnowledgeBases, jobs: JobStore, blobs: BlobStore, index: Callable[[], ChunkIndex],
                 audit: AuditLog):
        """`index` opens the chunk index when first needed: creating or listing kbs works while it is down."""
        self.kbs, self.jobs, self.blobs, self._index, self.audit = kbs, jobs, blobs, index, audit

    @property
    def index(self) -> ChunkIndex:
        return self._index()

    def create(self, caller: Caller, name: str, description: str = "") -> KnowledgeBase:
        kb = self.kbs.create(caller.tenant, name, description, created_by=caller.key_id)
        self.audit.record(caller.tenant, caller.key_id, "kb.create", name)
        return kb

    def list(self, caller: Caller) -> list[KnowledgeBase]:
        return self.kbs.list(caller.tenant)

    def get(self, caller: Caller, kb: str) -> KnowledgeBase:
        return self.kbs.get(caller.tenant, kb)

    def delete(self, caller: Caller, kb: str) -> None:
        """Sent again after a failure half-way, it finishes the job (see kb_deletion)."""
        kb_deletion.delete_kb(caller, kb, self.kbs, self.jobs, self.blobs, self.index, self.audit)

    def documents(self, caller: Caller, kb: str, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        """The kb's documents with their chunk counts."""
        self.kbs.get(caller.tenant, kb)
        return self.index.list_documents(caller.tenant, kb, limit=limit, offset=offset)

    def delete_document(self, caller: Caller, kb: str, doc_id: str) -> None:
        self.kbs.get(caller.tenant, kb)
        ids.require("document", doc_id)
        self.index.delete_document(caller.tenant, kb, doc_id)
        self.audit.record(caller.tenant, caller.key_id, "document.delete", f"{kb}/{doc_id}")
