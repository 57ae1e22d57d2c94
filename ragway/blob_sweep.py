"""Removing uploads nobody will read again: the sweep behind the per-file deletes.

Workers delete a file's upload once the file is final and the gateway deletes those of cancelled
files and deleted kbs; what a crash leaves between those (a half-written part, a job whose record
is gone, a failed file kept for a retry that never came) is removed here once older than
`blob_retention_s`. One gateway replica sweeps per interval (a Redis lock)."""

from __future__ import annotations

import logging
import threading

import redis

from ragway import redis_keys
from ragway.blobs import BlobStore
from ragway.errors import InvalidRequest, NotFound, RagwayError
from ragway.jobs import TERMINAL, JobStore

log = logging.getLogger(__name__)
LOCK_KEY = redis_keys.BLOB_SWEEP_LOCK


def disposable(jobs: JobStore, job_id: str, file_id: str) -> bool:
    """Nobody will read this upload again: a leftover part, or its file is final or gone."""
    if file_id.endswith(".part"):
        return True
    try:
        return jobs.file(job_id, file_id).status in TERMINAL
    except (NotFound, InvalidRequest):  # no such job, or not even a job's folder
        return True


def sweep(blobs: BlobStore, jobs: JobStore, older_than_s: float) -> int:
    """Delete the disposable uploads older than `older_than_s`; returns how many."""
    removed = 0
    for job_id, file_id in list(blobs.older_than(older_than_s)):
        if disposable(jobs, job_id, file_id):
            blobs.delete(job_id, file_id)
            removed += 1
    return removed


def sweep_periodically(blobs: BlobStore, jobs: JobStore, r: redis.Redis, interval_s: float, older_than_s: float,
                       stop: threading.Event) -> None:
    """Every `interval_s`, the replica that takes the lock sweeps; errors are logged and retried."""
    while not stop.wait(interval_s):
        try:
            if r.set(LOCK_KEY, "1", nx=True, ex=max(int(interval_s) - 1, 1)):
                removed = sweep(blobs, jobs, older_than_s)
                log.info("blob sweep removed %d uploads", removed)
        except (RagwayError, redis.RedisError):
            log.warning("blob sweep failed; next try in %.0f s", interval_s, exc_info=True)
