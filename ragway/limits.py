"""Per-key limits counted in Redis, so several gateway replicas share them.

Requests per minute: a fixed one-minute window per key (`INCR` + `EXPIRE`), cheap and exact
enough for abuse protection; the gateway increments it in the key check's round trip
(`KeyStore.authenticate_counting`), only for a key whose secret is right. Concurrent ingest
jobs: a set of the key's unfinished job ids, pruned of finished (or deleted) jobs on each check,
so a crashed gateway cannot leak a slot; when Redis fails, the check fails (503), it frees nothing."""

from __future__ import annotations

import time

import redis

from ragway import redis_keys
from ragway.errors import NotFound, RateLimited
from ragway.jobs import FINISHED_JOB, JobStore
from ragway.redis_client import redis_errors

WINDOW_S = 60


class Limits:
    def __init__(self, client: redis.Redis, jobs: JobStore, requests_per_minute: int, concurrent_jobs: int):
        self.r = client
        self.jobs = jobs
        self.requests_per_minute = requests_per_minute
        self.concurrent_jobs = concurrent_jobs

    @staticmethod
    def request_counter(key_id: str) -> tuple[str, int, float]:
        """The key's request counter for this minute: its Redis key, the TTL to give it, and when
        the minute ends (epoch seconds). `KeyStore.authenticate_counting` increments it."""
        window = int(time.time() // WINDOW_S)
        return redis_keys.request_counter(key_id, window), WINDOW_S * 2, (window + 1) * WINDOW_S

    def check_request_count(self, count: int, limit: int | None, window_end: float) -> None:
        limit = limit or self.requests_per_minute
        if count > limit:
            retry = window_end - time.time()
            raise RateLimited(f"this API key made more than {limit} requests this minute; "
                              f"retry in {int(retry) + 1} s or ask an admin for a higher limit", retry + 1)

    def _active_key(self, key_id: str) -> str:
        return redis_keys.active_jobs(key_id)

    def start_job(self, key_id: str, job_id: str, limit: int | None = None) -> None:
        """Claim a job slot for the key, or raise RateLimited if all are taken by unfinished jobs."""
        limit = limit or self.concurrent_jobs
        active_key = self._active_key(key_id)
        with redis_errors():
            for other in self.r.smembers(active_key):
                if self._finished(other):
                    self.r.srem(active_key, other)
            # Add first, then count: two replicas racing for the last slot cannot both get it.
            self.r.sadd(active_key, job_id)
            if self.r.scard(active_key) > limit:
                self.r.srem(active_key, job_id)
                raise RateLimited(f"this API key already has {limit} unfinished ingest jobs; wait "
                                  "for one to finish (GET /v1/jobs) or add files to an open job", 30)

    def release_job(self, key_id: str, job_id: str) -> None:
        with redis_errors():
            self.r.srem(self._active_key(key_id), job_id)

    def _finished(self, job_id: str) -> bool:
        """Fails closed: only a job record that is gone frees its slot; a Redis error
        (DependencyUnavailable) propagates, so an outage never hands out more slots."""
        try:
            return self.jobs.get(job_id, with_files=False).status in FINISHED_JOB
        except NotFound:
            return True
