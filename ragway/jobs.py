"""Ingest jobs and their per-file state, kept in Redis so gateway replicas and workers share them.

Keys: `ragway:job:<id>` (hash: job fields and counters), `ragway:job:<id>:files` (hash: file id ->
JSON state), `ragway:jobs:<tenant>` (sorted set of job ids by creation time). Each file's state is
one hash field written whole, so concurrent workers never overwrite each other's files.

A job is *open* while a client still adds files in batches (`ragway ingest` of a large folder);
it cannot be done before it is sealed."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from enum import StrEnum

import redis
from pydantic import BaseModel, Field

from ragway import ids, redis_keys
from ragway.errors import InvalidRequest, NotFound
from ragway.redis_client import connect, redis_errors

STATS_KEY = redis_keys.INGEST_STATS


class FileStatus(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"            # chunks written
    skipped = "skipped"      # same content already stored
    failed = "failed"
    cancelled = "cancelled"


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"            # every file finished; some may have failed (see `counts`)
    failed = "failed"        # every file failed
    cancelled = "cancelled"


TERMINAL = {FileStatus.done, FileStatus.skipped, FileStatus.failed, FileStatus.cancelled}
FINISHED_JOB = {JobStatus.done, JobStatus.failed, JobStatus.cancelled}


class FileState(BaseModel):
    file_id: str
    name: str = Field(..., description="Source name: the file name, or its path inside an archive or folder")
    size: int
    status: FileStatus = FileStatus.queued
    error: str | None = None
    doc_id: str | None = None
    chunks: int = 0
    attempts: int = 0
    path: str | None = Field(None, description="Server-side file read by the worker instead of an upload")
    updated_at: float = Field(default_factory=time.time)


class Job(BaseModel):
    job_id: str
    tenant: str
    kb: str
    created_at: float
    created_by: str = Field("", description="Id of the API key that created the job")
    started_at: float | None = Field(None, description="When the first file started")
    status: JobStatus
    sealed: bool = Field(..., description="No more files will be added")
    cancelled: bool = False
    total: int
    chunks: int = Field(0, description="Chunks written so far")
    counts: dict[str, int]
    reason: str | None = Field(None, description="Why the job ended as it did, when no file says it")
    files: list[FileState] = []


def job_status(files: list[FileState], sealed: bool = True, cancelled: bool = False) -> JobStatus:
    statuses = [f.status for f in files]
    if cancelled and all(s in TERMINAL for s in statuses):
        return JobStatus.cancelled
    if sealed and not files:
        return JobStatus.done  # nothing to do: ends at once (see `Job.reason`)
    if all(s == FileStatus.queued for s in statuses):
        return JobStatus.queued
    if not sealed or not all(s in TERMINAL for s in statuses):
        return JobStatus.running
    if all(s == FileStatus.failed for s in statuses):
        return JobStatus.failed
    return JobStatus.done


def _require_open(job_id: str, sealed: bool, cancelled: bool) -> None:
    if cancelled:
        raise InvalidRequest(f"job {job_id} was cancelled")
    if sealed:
        raise InvalidRequest(f"job {job_id} is sealed: start a new job to add files")


class JobStore:
    def __init__(self, client: redis.Redis):
        self.r = client

    @classmethod
    def from_url(cls, url: str) -> JobStore:
        return cls(connect(url))

    @staticmethod
    def _job_key(job_id: str) -> str:
        return redis_keys.job(ids.require('job', job_id))

    @staticmethod
    def _files_key(job_id: str) -> str:
        return redis_keys.job_files(ids.require('job', job_id))

    def create(self, tenant: str, kb: str, files: list[FileState], job_id: str | None = None,
               sealed: bool = True, created_by: str = "") -> str:
        job_id = job_id or uuid.uuid4().hex
        created = time.time()
        with redis_errors():
            pipe = self.r.pipeline(transaction=True)
            pipe.hset(self._job_key(job_id), mapping={"tenant": tenant, "kb": kb, "created_at": created,
                                                      "total": len(files), "sealed": int(sealed),
                                                      "cancelled": 0, "chunks": 0, "created_by": created_by})
            if files:
                pipe.hset(self._files_key(job_id), mapping={f.file_id: f.model_dump_json() for f in files})
            pipe.zadd(redis_keys.tenant_jobs(tenant), {job_id: created})
            pipe.hincrby(STATS_KEY, "jobs", 1)
            pipe.execute()
        return job_id

    @staticmethod
    def require_open(job: Job) -> None:
        _require_open(job.job_id, job.sealed, job.cancelled)

    def add_files(self, job_id: str, tenant: str, files: list[FileState]) -> None:
        meta = self._meta(job_id, tenant)
        _require_open(job_id, meta.get("sealed") == "1", meta.get("cancelled") == "1")
        with redis_errors():
            pipe = self.r.pipeline(transaction=True)
            pipe.hset(self._files_key(job_id), mapping={f.file_id: f.model_dump_json() for f in files})
            pipe.hincrby(self._job_key(job_id), "total", len(files))
            pipe.execute()

    def seal(self, job_id: str, tenant: str) -> None:
        self._meta(job_id, tenant)
        with redis_errors():
            self.r.hset(self._job_key(job_id), "sealed", 1)

    def _meta(self, job_id: str, tenant: str | None) -> dict[str, str]:
        with redis_errors():
            meta = self.r.hgetall(self._job_key(job_id))
        if not meta or (tenant is not None and meta["tenant"] != tenant):
            raise NotFound(f"job {job_id} not found")
        return meta

    def get(self, job_id: str, tenant: str | None = None, with_files: bool = True) -> Job:
        meta = self._meta(job_id, tenant)
        with redis_errors():
            raw_files = self.r.hvals(self._files_key(job_id))
        files = sorted((FileState.model_validate_json(v) for v in raw_files), key=lambda f: f.name)
        counts = {s.value: 0 for s in FileStatus}
        for f in files:
            counts[f.status.value] += 1
        sealed, cancelled = meta.get("sealed", "1") == "1", meta.get("cancelled") == "1"
        total = int(meta["total"])
        reason = "the job was sealed without files: nothing to ingest" if sealed and total == 0 else None
        return Job(job_id=job_id, tenant=meta["tenant"], kb=meta["kb"], created_at=float(meta["created_at"]),
                   created_by=meta.get("created_by", ""),
                   started_at=float(meta["started_at"]) if "started_at" in meta else None,
                   status=job_status(files, sealed, cancelled), sealed=sealed, cancelled=cancelled,
                   total=total, chunks=int(meta.get("chunks", 0)), counts=counts, reason=reason,
                   files=files if with_files else [])

    def list_ids(self, tenant: str, limit: int = 50) -> list[str]:
        with redis_errors():
            return list(self.r.zrevrange(redis_keys.tenant_jobs(tenant), 0, limit - 1))

    def file(self, job_id: str, file_id: str) -> FileState:
        with redis_errors():
            raw = self.r.hget(self._files_key(job_id), file_id)
        if raw is None:
            raise NotFound(f"file {file_id} of job {job_id} not found")
        return FileState.model_validate_json(raw)

    def files(self, job_id: str) -> list[FileState]:
        with redis_errors():
            return [FileState.model_validate_json(v) for v in self.r.hvals(self._files_key(job_id))]

    def mark_started(self, job_id: str) -> None:
        with redis_errors():
            self.r.hsetnx(self._job_key(job_id), "started_at", time.time())

    def add_seconds(self, job_id: str, phases: dict[str, float]) -> None:
        """Add a batch's time per phase (parse, ocr, split, embed, write, ...) to the job's totals:
        worker seconds, summed over the processes that ran its batches."""
        if not phases:
            return
        with redis_errors():
            pipe = self.r.pipeline(transaction=False)
            for name, seconds in phases.items():
                pipe.hincrbyfloat(self._job_key(job_id), f"seconds:{name}", seconds)
            pipe.execute()

    def seconds(self, job_id: str) -> dict[str, float]:
        """The job's worker seconds per phase so far (`add_seconds`)."""
        with redis_errors():
            meta = self.r.hgetall(self._job_key(job_id))
        return {k.removeprefix("seconds:"): float(v) for k, v in meta.items() if k.startswith("seconds:")}

    def update_file(self, job_id: str, state: FileState, chunks_added: int = 0) -> None:
        state.updated_at = time.time()
        with redis_errors():
            pipe = self.r.pipeline(transaction=True)
            pipe.hset(self._files_key(job_id), state.file_id, state.model_dump_json())
            if chunks_added:
                pipe.hincrby(self._job_key(job_id), "chunks", chunks_added)
                pipe.hincrby(STATS_KEY, "chunks", chunks_added)
            if state.status in (FileStatus.done, FileStatus.failed, FileStatus.cancelled):
                pipe.hincrby(STATS_KEY, f"files_{state.status.value}", 1)
            pipe.execute()

    def cancel(self, job_id: str, tenant: str) -> list[FileState]:
        """Stop a job: files not yet started end as cancelled; files being ingested finish."""
        self._meta(job_id, tenant)
        with redis_errors():
            self.r.hset(self._job_key(job_id), mapping={"cancelled": 1, "sealed": 1})
        cancelled = [f for f in self.files(job_id) if f.status == FileStatus.queued]
        for f in cancelled:
            f.status, f.error = FileStatus.cancelled, "the job was cancelled"
            self.update_file(job_id, f)
        return cancelled

    def _jobs_of_kb(self, tenant: str, kb: str) -> list[tuple[str, bool]]:
        """(job id, cancelled) of the kb's jobs."""
        with redis_errors():
            job_ids = self.r.zrange(redis_keys.tenant_jobs(tenant), 0, -1)
            pipe = self.r.pipeline(transaction=False)
            for job_id in job_ids:
                pipe.hmget(self._job_key(job_id), "kb", "cancelled")
            metas = pipe.execute()
        return [(job_id, cancelled == "1") for job_id, (job_kb, cancelled) in zip(job_ids, metas, strict=True)
                if job_kb == kb]

    def job_ids_of_kb(self, tenant: str, kb: str) -> list[str]:
        return [job_id for job_id, _ in self._jobs_of_kb(tenant, kb)]

    def cancel_unfinished_of_kb(self, tenant: str, kb: str) -> list[str]:
        """Cancel the kb's jobs that have not finished (its deletion); returns their ids."""
        candidates = [job_id for job_id, cancelled in self._jobs_of_kb(tenant, kb) if not cancelled]
        unfinished = [job_id for job_id in candidates
                      if self.get(job_id, tenant, with_files=False).status not in FINISHED_JOB]
        for job_id in unfinished:
            self.cancel(job_id, tenant)
        return unfinished

    def requeue_failed(self, job_id: str, tenant: str, retryable: Callable[[FileState], bool]) -> list[FileState]:
        """Failed files whose bytes are still at hand go back to queued (the caller enqueues them)."""
        meta = self._meta(job_id, tenant)
        if meta.get("cancelled") == "1":
            raise InvalidRequest(f"job {job_id} was cancelled; start a new job instead")
        again = [f for f in self.files(job_id) if f.status == FileStatus.failed and retryable(f)]
        for f in again:
            f.status, f.error = FileStatus.queued, None
            self.update_file(job_id, f)
        return again

    def stats(self) -> dict[str, int]:
        """Totals since the Redis data began: jobs, chunks, files_done/failed/cancelled (for /metrics)."""
        with redis_errors():
            return {k: int(v) for k, v in self.r.hgetall(STATS_KEY).items()}

    def ping(self) -> None:
        with redis_errors():
            self.r.ping()
