"""Deleting a knowledge base while workers may still write to it, in one place: both sides of the
protocol and the rule readers rely on.

The gateway's side (`delete_kb`) marks the kb's registry entry first, cancels its unfinished jobs
and their stored uploads, deletes its chunks, and removes the entry last. A delete that fails half
way can be sent again: the marked kb is still found (`include_deleting`).

The worker's side (`KbWatch`) notes which kb a batch began with and checks it again before and
after writing: a kb deleted (or deleted and created again under its name) meanwhile keeps none of
the batch's chunks, whichever side of the delete they landed (`drop_written`).

Readers' rule (`hits_prove_kb_exists`): every read is filtered to the caller's tenant and kb, and
the chunks go before the registry entry, so a search with hits needs no registry lookup; only an
empty result does, to tell a missing kb (404) from no match."""

from __future__ import annotations

from ragway import ids
from ragway.audit import AuditLog
from ragway.auth import Caller
from ragway.blobs import BlobStore
from ragway.chunk_index import ChunkIndex
from ragway.errors import NotFound
from ragway.jobs import JobStore
from ragway.kbs import KnowledgeBases


def delete_kb(caller: Caller, kb: str, kbs: KnowledgeBases, jobs: JobStore, blobs: BlobStore, store: ChunkIndex,
              audit: AuditLog) -> None:
    entry = kbs.get(caller.tenant, kb, include_deleting=True)
    kbs.mark_deleting(entry)
    cancelled = jobs.cancel_unfinished_of_kb(caller.tenant, kb)
    for job_id in jobs.job_ids_of_kb(caller.tenant, kb):
        blobs.delete_job(job_id)
    store.delete_kb(caller.tenant, kb)
    kbs.remove(caller.tenant, kb)
    audit.record(caller.tenant, caller.key_id, "kb.delete", kb, cancelled_jobs=cancelled)


def hits_prove_kb_exists(hits: list) -> bool:
    return bool(hits)


class KbWatch:
    """A batch's view of its kb: the entry it began with, and whether that entry still stands."""

    def __init__(self, kbs: KnowledgeBases, tenant: str, kb: str):
        self.kbs, self.tenant, self.kb = kbs, tenant, kb
        self.created_at = self._created_at()

    def _created_at(self) -> float | None:
        try:
            return self.kbs.get(self.tenant, self.kb).created_at
        except NotFound:
            return None

    @property
    def gone_at_start(self) -> bool:
        return self.created_at is None

    def unchanged(self) -> bool:
        """Not deleted since the batch began (nor deleted and created again under its name)."""
        return self.created_at is not None and self._created_at() == self.created_at

    def drop_written(self, store: ChunkIndex, job_id: str, names: list[str]) -> None:
        """Remove what this job wrote of these files (now, or in an attempt whose worker died), so
        nothing outlives the kb."""
        doc_ids = [ids.document_id(self.tenant, self.kb, name) for name in names]
        store.delete_written_by(self.tenant, self.kb, doc_ids, job_id)
