"""Celery tasks: ingest one uploaded file of a job and record its outcome."""

from __future__ import annotations

import logging

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init

from ingest_worker.app import celery_app
from ragway.blobs import LocalBlobStore
from ragway.embedder import get_embedder
from ragway.errors import DependencyUnavailable, DocumentError
from ragway.ingest import Ingestor
from ragway.jobs import TERMINAL, FileStatus, JobStore
from ragway.logs import configure_logging
from ragway.settings import get_settings
from ragway.splitter import Splitter
from ragway.store import ChunkStore

log = logging.getLogger(__name__)
_ingestor: Ingestor | None = None


def ingestor() -> Ingestor:
    """Built once per worker process: the embedding model and Milvus connection are reused."""
    global _ingestor
    if _ingestor is None:
        s = get_settings()
        embedder = get_embedder(s)
        store = ChunkStore(s, dim=embedder.dim)
        store.ensure_collection()
        _ingestor = Ingestor(Splitter(s), embedder, store)
    return _ingestor


@worker_process_init.connect
def _init_process(**_) -> None:
    configure_logging(get_settings().log_level, service="ingest-worker")


@celery_app.task(bind=True, name="ragway.ingest_file", max_retries=8)
def ingest_file(self: Task, job_id: str, file_id: str) -> dict:
    s = get_settings()
    jobs = JobStore.from_url(s.redis_url)
    blobs = LocalBlobStore(s.blob_dir)
    state = jobs.file(job_id, file_id)
    if state.status in TERMINAL:  # a redelivered task whose work was already recorded
        return {"status": state.status}
    job = jobs.get(job_id)
    state.status, state.attempts = FileStatus.running, state.attempts + 1
    jobs.update_file(job_id, state)
    try:
        result = ingestor().ingest(job.tenant, job.kb, state.name, blobs.get(job_id, file_id), job_id)
    except DocumentError as exc:
        state.status, state.error = FileStatus.failed, exc.message
    except SoftTimeLimitExceeded:
        state.status, state.error = FileStatus.failed, f"{state.name}: took longer than {s.task_time_limit_s} s"
    except DependencyUnavailable as exc:
        if self.request.retries < self.max_retries:
            log.warning("dependency unavailable, retrying %s/%s: %s", job_id, file_id, exc)
            raise self.retry(exc=exc, countdown=min(2 ** self.request.retries, 60)) from exc
        state.status, state.error = FileStatus.failed, f"{state.name}: gave up after {self.max_retries} retries: {exc}"
    except Exception as exc:  # a bug must not leave the file 'running' forever
        log.exception("unexpected error ingesting %s", state.name)
        state.status, state.error = FileStatus.failed, f"{state.name}: internal error: {type(exc).__name__}: {exc}"
    else:
        state.status = FileStatus.skipped if result.skipped else FileStatus.done
        state.doc_id, state.chunks, state.error = result.doc_id, result.chunks, None
    jobs.update_file(job_id, state)
    blobs.delete(job_id, file_id)
    log.info("ingested", extra={"job_id": job_id, "file": state.name, "status": state.status,
                                "chunks": state.chunks})
    return {"status": state.status, "chunks": state.chunks}
