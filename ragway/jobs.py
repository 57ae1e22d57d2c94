"""Ingest jobs and their per-file state, kept in Redis so gateway replicas and workers share them.

Keys: `ragway:job:<id>` (hash: job fields), `ragway:job:<id>:files` (hash: file id -> JSON state),
`ragway:jobs:<tenant>` (sorted set of job ids by creation time). Each file's state is one hash
field written whole, so concurrent workers never overwrite each other's files."""

from __future__ import annotations

import time
import uuid
from enum import StrEnum

import redis
from pydantic import BaseModel, Field

from ragway.errors import DependencyUnavailable, NotFound

PREFIX = "ragway"


class FileStatus(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"          # chunks written
    skipped = "skipped"    # same content already stored
    failed = "failed"


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"          # every file finished; some may have failed (see `failed`)
    failed = "failed"      # every file failed


TERMINAL = {FileStatus.done, FileStatus.skipped, FileStatus.failed}


class FileState(BaseModel):
    file_id: str
    name: str
    size: int
    status: FileStatus = FileStatus.queued
    error: str | None = None
    doc_id: str | None = None
    chunks: int = 0
    attempts: int = 0
    updated_at: float = Field(default_factory=time.time)


class Job(BaseModel):
    job_id: str
    tenant: str
    kb: str
    created_at: float
    status: JobStatus
    total: int
    counts: dict[str, int]
    files: list[FileState] = []


def _now() -> float:
    return time.time()


def job_status(files: list[FileState]) -> JobStatus:
    statuses = [f.status for f in files]
    if all(s == FileStatus.queued for s in statuses):
        return JobStatus.queued
    if not all(s in TERMINAL for s in statuses):
        return JobStatus.running
    if all(s == FileStatus.failed for s in statuses):
        return JobStatus.failed
    return JobStatus.done


class JobStore:
    def __init__(self, client: redis.Redis):
        self.r = client

    @classmethod
    def from_url(cls, url: str) -> JobStore:
        return cls(redis.Redis.from_url(url, decode_responses=True, socket_timeout=10,
                                        socket_connect_timeout=5, health_check_interval=30))

    @staticmethod
    def _job_key(job_id: str) -> str:
        return f"{PREFIX}:job:{job_id}"

    @staticmethod
    def _files_key(job_id: str) -> str:
        return f"{PREFIX}:job:{job_id}:files"

    def create(self, tenant: str, kb: str, files: list[FileState], job_id: str | None = None) -> str:
        job_id = job_id or uuid.uuid4().hex
        created = _now()
        try:
            pipe = self.r.pipeline(transaction=True)
            pipe.hset(self._job_key(job_id), mapping={"tenant": tenant, "kb": kb, "created_at": created,
                                                      "total": len(files)})
            if files:
                pipe.hset(self._files_key(job_id), mapping={f.file_id: f.model_dump_json() for f in files})
            pipe.zadd(f"{PREFIX}:jobs:{tenant}", {job_id: created})
            pipe.execute()
        except redis.RedisError as exc:
            raise DependencyUnavailable(f"Redis is unavailable: {exc}") from exc
        return job_id

    def get(self, job_id: str, tenant: str | None = None) -> Job:
        try:
            meta = self.r.hgetall(self._job_key(job_id))
            raw_files = self.r.hgetall(self._files_key(job_id)) if meta else {}
        except redis.RedisError as exc:
            raise DependencyUnavailable(f"Redis is unavailable: {exc}") from exc
        if not meta or (tenant is not None and meta["tenant"] != tenant):
            raise NotFound(f"job {job_id} not found")
        files = sorted((FileState.model_validate_json(v) for v in raw_files.values()), key=lambda f: f.name)
        counts = {s.value: 0 for s in FileStatus}
        for f in files:
            counts[f.status.value] += 1
        return Job(job_id=job_id, tenant=meta["tenant"], kb=meta["kb"], created_at=float(meta["created_at"]),
                   status=job_status(files), total=int(meta["total"]), counts=counts, files=files)

    def list_ids(self, tenant: str, limit: int = 50) -> list[str]:
        return list(self.r.zrevrange(f"{PREFIX}:jobs:{tenant}", 0, limit - 1))

    def file(self, job_id: str, file_id: str) -> FileState:
        raw = self.r.hget(self._files_key(job_id), file_id)
        if raw is None:
            raise NotFound(f"file {file_id} of job {job_id} not found")
        return FileState.model_validate_json(raw)

    def update_file(self, job_id: str, state: FileState) -> None:
        state.updated_at = _now()
        self.r.hset(self._files_key(job_id), state.file_id, state.model_dump_json())

    def ping(self) -> None:
        try:
            self.r.ping()
        except redis.RedisError as exc:
            raise DependencyUnavailable(f"Redis is unreachable: {exc}") from exc
