"""Concurrent-job slots fail closed: a Redis outage never frees a slot (issue 14, item 14)."""

from __future__ import annotations

import pytest

from ragway.errors import DependencyUnavailable, RateLimited
from ragway.jobs import FileState, JobStore
from ragway.limits import Limits
from ragway.redis_client import connect

KEY = "k1"


@pytest.fixture
def client(unix_redis):
    return unix_redis


def unfinished_job(jobs: JobStore) -> str:
    return jobs.create("t", "kb", [FileState(file_id="f1", name="a.txt", size=1)])


def test_a_redis_outage_frees_no_job_slot(client):
    limits = Limits(client, JobStore(client), requests_per_minute=60, concurrent_jobs=2)
    held = [unfinished_job(limits.jobs) for _ in range(2)]
    for job_id in held:
        limits.start_job(KEY, job_id)
    # The job records cannot be read (every call raises redis.ConnectionError): the slots stay taken.
    limits.jobs = JobStore(connect("redis://127.0.0.1:1/0"))
    with pytest.raises(DependencyUnavailable):
        limits.start_job(KEY, "new-job")
    assert client.smembers(limits._active_key(KEY)) == set(held)


def test_only_finished_or_vanished_jobs_free_their_slot(client):
    jobs = JobStore(client)
    limits = Limits(client, jobs, requests_per_minute=60, concurrent_jobs=2)
    running, vanished, done = unfinished_job(jobs), "0" * 32, jobs.create("t", "kb", [])
    for job_id in (running, vanished):
        limits.start_job(KEY, job_id)
    limits.start_job(KEY, done)  # the vanished job's record is gone: its slot is free
    assert client.smembers(limits._active_key(KEY)) == {running, done}
    other = unfinished_job(jobs)
    limits.start_job(KEY, other)  # a sealed job without files is done: its slot is free
    with pytest.raises(RateLimited):
        limits.start_job(KEY, unfinished_job(jobs))
    assert client.smembers(limits._active_key(KEY)) == {running, other}
