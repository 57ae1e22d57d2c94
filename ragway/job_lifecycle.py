"""The ingest job protocol, in one place: open or start a job within the caller's concurrent-job
limit, add files, seal, cancel and retry, each step queued to the workers and written to the audit
log. A job that cannot be created leaves no stored file and no held job slot behind. The workers'
side (running a batch, finishing a job) is `ingest_worker.tasks`."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from ragway.audit import AuditLog
from ragway.auth import Caller
from ragway.blobs import BlobStore
from ragway.dispatch import enqueue
from ragway.jobs import FileState, FileStatus, Job, JobStore
from ragway.kbs import KnowledgeBases
from ragway.limits import Limits
from ragway.settings import Settings

# Stores a new job's files (or finds them on the server) and returns their states.
Collect = Callable[[str], list[FileState]]


class JobLifecycle:
    def __init__(self, settings: Settings, jobs: JobStore, kbs: KnowledgeBases, limits: Limits, blobs: BlobStore,
                 audit: AuditLog):
        self.settings = settings
        self.jobs = jobs
        self.kbs = kbs
        self.limits = limits
        self.blobs = blobs
        self.audit = audit

    def start(self, caller: Caller, kb: str, collect: Collect) -> tuple[str, list[FileState]]:
        """A sealed job for the files `collect(job_id)` stores, queued at once."""
        job_id, files = self._create(caller, kb, collect, sealed=True)
        self._queue(job_id, files)
        self.audit.record(caller.tenant, caller.key_id, "job.create", f"{kb}/{job_id}", files=len(files))
        return job_id, files

    def get(self, caller: Caller, job_id: str, with_files: bool = True) -> Job:
        return self.jobs.get(job_id, tenant=caller.tenant, with_files=with_files)

    def recent(self, caller: Caller, limit: int) -> list[Job]:
        """The caller's tenant's newest jobs, without per-file detail."""
        return [self.jobs.get(job_id, tenant=caller.tenant, with_files=False)
                for job_id in self.jobs.list_ids(caller.tenant, limit)]

    def open(self, caller: Caller, kb: str) -> str:
        """An open job, filled by `add` and finished after `seal`."""
        job_id, _ = self._create(caller, kb, lambda _job_id: [], sealed=False)
        self.audit.record(caller.tenant, caller.key_id, "job.create", f"{kb}/{job_id}", files=0)
        return job_id

    def add(self, caller: Caller, job_id: str, collect: Collect) -> tuple[Job, list[FileState]]:
        """More files for an open job: checked open before a byte is stored; stored files are removed
        again if the job cannot take them."""
        job = self.jobs.get(job_id, tenant=caller.tenant, with_files=False)
        self.jobs.require_open(job)
        files = collect(job_id)
        try:
            self.jobs.add_files(job_id, caller.tenant, files)
        except BaseException:
            for f in files:
                self.blobs.delete(job_id, f.file_id)
            raise
        self._queue(job_id, files)
        self.audit.record(caller.tenant, caller.key_id, "job.add_files", f"{job.kb}/{job_id}", files=len(files))
        return job, files

    def seal(self, caller: Caller, job_id: str) -> Job:
        self.jobs.seal(job_id, caller.tenant)
        self.audit.record(caller.tenant, caller.key_id, "job.seal", job_id)
        return self.jobs.get(job_id, tenant=caller.tenant, with_files=False)

    def cancel(self, caller: Caller, job_id: str) -> Job:
        """Files not started end as cancelled (their stored copies deleted); files being ingested finish."""
        for f in self.jobs.cancel(job_id, caller.tenant):
            self.blobs.delete(job_id, f.file_id)
        self.audit.record(caller.tenant, caller.key_id, "job.cancel", job_id)
        return self.jobs.get(job_id, tenant=caller.tenant, with_files=False)

    def retry(self, caller: Caller, job_id: str) -> Job:
        """Failed files queued again while they have attempts left and their bytes are still there."""
        again = self.jobs.requeue_failed(job_id, caller.tenant, retryable=lambda f: self._retryable(job_id, f))
        enqueue(job_id, again, self.settings)
        self.audit.record(caller.tenant, caller.key_id, "job.retry", job_id, files=len(again))
        return self.jobs.get(job_id, tenant=caller.tenant, with_files=False)

    def _retryable(self, job_id: str, f: FileState) -> bool:
        return f.attempts < self.settings.max_file_attempts and (
            f.path is not None or self.blobs.exists(job_id, f.file_id))

    def _create(self, caller: Caller, kb: str, collect: Collect, sealed: bool) -> tuple[str, list[FileState]]:
        self.kbs.get(caller.tenant, kb)
        job_id = uuid.uuid4().hex
        self.limits.start_job(caller.key_id, job_id, caller.concurrent_jobs)
        try:
            files = collect(job_id)
            self.jobs.create(caller.tenant, kb, files, job_id=job_id, sealed=sealed, created_by=caller.key_id)
        except BaseException:
            self.blobs.delete_job(job_id)
            self.limits.release_job(caller.key_id, job_id)
            raise
        return job_id, files

    def _queue(self, job_id: str, files: list[FileState]) -> None:
        enqueue(job_id, [f for f in files if f.status == FileStatus.queued], self.settings)
