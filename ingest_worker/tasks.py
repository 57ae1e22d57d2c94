"""Celery task: ingest a small batch of a job's files and record each file's outcome.

Safe to run twice (acks_late redelivers the task of a killed worker): files already finished
are left alone, and writing a document again overwrites the same chunk ids."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init

from ingest_worker.app import celery_app
from ingest_worker.lease import visibility_lease
from ragway import ocr, timing
from ragway.blobs import BlobStore, open_blob_store
from ragway.chunk_index import open_chunk_index
from ragway.dispatch import INGEST_TASK
from ragway.embedder import get_embedder
from ragway.errors import DependencyUnavailable, DocumentError, NotFound
from ragway.freshness import WriteMarks
from ragway.ingest import Ingestor, IngestResult, PreparedDocument
from ragway.jobs import TERMINAL, FileState, FileStatus, JobStore
from ragway.kb_deletion import KbWatch
from ragway.kbs import KnowledgeBases
from ragway.logs import configure_logging
from ragway.redis_client import connect
from ragway.settings import get_settings
from ragway.splitter import Splitter

log = logging.getLogger(__name__)
_ingestor: Ingestor | None = None
_ingestor_lock = threading.Lock()


def ingestor() -> Ingestor:
    """Built once per worker process: the embedding model and Milvus connection are reused."""
    global _ingestor
    with _ingestor_lock:
        if _ingestor is None:
            _ingestor = _build_ingestor()
    return _ingestor


def _build_ingestor() -> Ingestor:
    s = get_settings()
    embedder = get_embedder(s.for_ingest_worker())
    marks = WriteMarks(connect(s.effective_redis_url), s.strong_after_delete_s)
    return Ingestor(Splitter(s), embedder, open_chunk_index(s, embedder.dim, marks))


@worker_process_init.connect
def _init_process(**_) -> None:
    configure_logging(get_settings().log_level, service="ingest-worker")
    # Load the models now, in the background (Celery kills a process whose init takes over 4 s),
    # so the first file does not pay seconds of loading; a task that comes sooner waits for it.
    threading.Thread(target=_warm_up, name="warm-up", daemon=True).start()


def _warm_up() -> None:
    try:
        ingestor()
        if ocr.ocr_enabled(get_settings()):
            ocr.engine()
    except Exception:  # the first task loads them again and fails with the real error
        log.warning("warm-up failed", exc_info=True)


class FileTimeout(Exception):
    pass


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    """Interrupt parsing of one pathological file; the rest of the batch goes on."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(*_):
        raise FileTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def read_file(state: FileState, job_id: str, blobs: BlobStore, max_bytes: int) -> bytes:
    if state.path is None:
        return blobs.get(job_id, state.file_id)
    path = Path(state.path)
    if path.stat().st_size > max_bytes:
        raise DocumentError(state.name, f"larger than the {max_bytes // (1024 * 1024)} MiB limit per file")
    return path.read_bytes()


class Batch:
    """One task's files: prepares each on its own, then writes the survivors together."""

    def __init__(self, job_id: str, jobs: JobStore, blobs: BlobStore):
        self.s = get_settings()
        self.job_id = job_id
        self.jobs = jobs
        self.blobs = blobs
        self.job = jobs.get(job_id, with_files=False)
        self.kb = KbWatch(KnowledgeBases(jobs.r), self.job.tenant, self.job.kb)
        self.prepared: list[tuple[FileState, PreparedDocument]] = []
        self.kb_gone: list[FileState] = []  # files to cancel because their kb was deleted
        self.looked_up: dict[str, Future] = {}  # file name: its "already stored?" query, under way

    def look_up(self, file_ids: list[str]) -> None:
        """Start the batch's "already stored?" queries together (`Ingestor.look_up`), for the files
        `prepare` will parse; each file's answer (or error) is taken in its own `prepare`."""
        if self.job.cancelled or self.kb.gone_at_start:
            return
        states = [self.jobs.file(self.job_id, file_id) for file_id in file_ids]
        names = [state.name for state in states if state.status not in TERMINAL]
        self.looked_up = ingestor().look_up(self.job.tenant, self.job.kb, names)

    def finish(self, state: FileState, status: FileStatus, error: str | None = None,
               result: IngestResult | None = None) -> None:
        state.status, state.error = status, error
        added = 0
        if result is not None:
            state.doc_id, state.chunks = result.doc_id, result.chunks
            added = 0 if result.skipped else result.chunks
        self.jobs.update_file(self.job_id, state, chunks_added=added)
        release_upload(self.blobs, self.job_id, state, self.s.max_file_attempts)
        log.info("file finished", extra={"job_id": self.job_id, "file": state.name, "status": status,
                                         "chunks": state.chunks, "error": error})

    def prepare(self, file_id: str) -> None:
        state = self.jobs.file(self.job_id, file_id)
        if state.status in TERMINAL:  # finished before a redelivery, or cancelled
            return
        if self.job.cancelled:
            self.finish(state, FileStatus.cancelled, "the job was cancelled")
            return
        if self.kb.gone_at_start:
            self.kb_gone.append(state)
            return
        state.status, state.attempts = FileStatus.running, state.attempts + 1
        self.jobs.update_file(self.job_id, state)
        try:
            with time_limit(self.s.file_time_limit_s):
                data = read_file(state, self.job_id, self.blobs, self.s.max_file_bytes)
                prepared = ingestor().prepare(self.job.tenant, self.job.kb, state.name, data, self.job_id,
                                              looked_up=self.looked_up.pop(state.name, None))
        except DocumentError as exc:
            self.finish(state, FileStatus.failed, exc.message)
        except FileTimeout:
            limit = self.s.file_time_limit_s
            self.finish(state, FileStatus.failed, f"{state.name}: parsing took longer than {limit} s")
        except OSError as exc:
            self.finish(state, FileStatus.failed, f"{state.name}: cannot be read: {exc}")
        except NotFound as exc:  # its upload was removed: the job or kb was deleted meanwhile
            self.finish(state, FileStatus.failed, f"{state.name}: {exc.message}")
        except DependencyUnavailable:
            raise
        except Exception as exc:  # a parser bug must not leave the file 'running' forever
            log.exception("unexpected error preparing %s", state.name)
            self.finish(state, FileStatus.failed, f"{state.name}: internal error: {type(exc).__name__}: {exc}")
        else:
            if isinstance(prepared, IngestResult):
                self.finish(state, FileStatus.skipped if prepared.skipped else FileStatus.done, result=prepared)
            else:
                self.prepared.append((state, prepared))

    def write(self) -> None:
        """The kb is checked before and after (ragway/kb_deletion.py)."""
        if self.prepared and self.kb.unchanged():
            results = ingestor().write([doc for _, doc in self.prepared])
            if self.kb.unchanged():
                for (state, _), result in zip(self.prepared, results, strict=True):
                    self.finish(state, FileStatus.done, result=result)
                return
        self.drop_for_deleted_kb(self.kb_gone + [state for state, _ in self.prepared])

    def drop_for_deleted_kb(self, states: list[FileState]) -> None:
        """Cancel the files after removing what this job wrote of them; their state last, so a crash
        repeats this."""
        if not states:
            return
        self.kb.drop_written(ingestor().store, self.job_id, [s.name for s in states])
        for state in states:
            self.finish(state, FileStatus.cancelled, f"knowledge base {self.job.kb!r} was deleted")


def release_upload(blobs: BlobStore, job_id: str, state: FileState, max_attempts: int) -> None:
    """A final file's upload is deleted; a failed one's stays for a retry until its last attempt
    (or until the sweep, ragway/blob_sweep.py)."""
    if state.path is not None or state.status not in TERMINAL:
        return
    if state.status != FileStatus.failed or state.attempts >= max_attempts:
        blobs.delete(job_id, state.file_id)


def fail_unfinished(jobs: JobStore, job_id: str, file_ids: list[str], reason: str) -> None:
    """The batch gives up: its files that did not finish end as failed, not 'running' forever.
    Their uploads stay for a retry: the cause (Milvus down, a slow batch) was not the file."""
    for file_id in file_ids:
        state = jobs.file(job_id, file_id)
        if state.status not in TERMINAL:
            state.status, state.error = FileStatus.failed, f"{state.name}: {reason}"
            jobs.update_file(job_id, state)


@celery_app.task(bind=True, name=INGEST_TASK)
def ingest_batch(self: Task, job_id: str, file_ids: list[str]) -> dict:
    """While Milvus or Redis is unreachable the batch waits and tries again here, holding its
    message: a Celery retry would have to publish a new message to the very broker that is down,
    and a task that fails is acknowledged and gone."""
    s = get_settings()
    jobs = JobStore.from_url(s.effective_redis_url)
    deadline = time.monotonic() + s.dependency_wait_s
    delay = 1.0
    with visibility_lease(s.effective_redis_url, self.request.id, every_s=s.visibility_timeout_s / 4):
        while True:
            try:
                run_batch(job_id, file_ids, jobs, s)
                return {"files": len(file_ids)}
            except DependencyUnavailable as exc:
                if time.monotonic() + delay > deadline:
                    fail_unfinished(jobs, job_id, file_ids, f"gave up after {s.dependency_wait_s} s: {exc}")
                    raise
                log.warning("dependency unavailable, job %s retries in %.0f s: %s", job_id, delay, exc)
                time.sleep(delay)
                delay = min(delay * 2, 30)
            except SoftTimeLimitExceeded:
                fail_unfinished(jobs, job_id, file_ids, f"the batch took longer than {s.task_time_limit_s} s")
                return {"files": len(file_ids)}


def run_batch(job_id: str, file_ids: list[str], jobs: JobStore, s) -> None:
    """The batch's time per phase goes to the job's totals (`JobStore.seconds`) and the log."""
    started = time.perf_counter()
    with timing.collect() as phases:
        batch = Batch(job_id, jobs, open_blob_store(s))
        jobs.mark_started(job_id)
        batch.look_up(file_ids)
        for file_id in file_ids:
            batch.prepare(file_id)
        batch.write()
    phases["batch"] = time.perf_counter() - started
    jobs.add_seconds(job_id, phases)
    log.info("batch finished", extra={"job_id": job_id, "files": len(file_ids),
                                      "seconds": {k: round(v, 3) for k, v in phases.items()}})
