"""The job protocol (ragway/job_lifecycle.py) on a throw-away real Redis and a local blob store; only
the queue is recorded instead of sent (the real-stack suite covers the workers)."""

from __future__ import annotations

import pytest

from ragway import job_lifecycle
from ragway.audit import AuditLog
from ragway.auth import Caller, Role
from ragway.blobs import LocalBlobStore
from ragway.errors import InvalidRequest, NotFound, RateLimited
from ragway.jobs import FileState, FileStatus, JobStore
from ragway.kbs import KnowledgeBases
from ragway.limits import Limits
from ragway.settings import Settings

CALLER = Caller(key_id="k1", tenant="t1", role=Role.writer, concurrent_jobs=1)


@pytest.fixture
def redis_client(unix_redis):
    return unix_redis


@pytest.fixture
def queued(monkeypatch):
    sent: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(job_lifecycle, "enqueue",
                        lambda job_id, files, settings: sent.append((job_id, [f.file_id for f in files])))
    return sent


@pytest.fixture
def lifecycle(redis_client, tmp_path):
    jobs = JobStore(redis_client)
    kbs = KnowledgeBases(redis_client)
    kbs.create("t1", "handbook")
    return job_lifecycle.JobLifecycle(Settings(), jobs, kbs, Limits(redis_client, jobs, None, None),
                                      LocalBlobStore(tmp_path / "blobs"), AuditLog(redis_client))


def stored(lifecycle, *names: str, failed: str = ""):
    def collect(job_id: str) -> list[FileState]:
        files = []
        for name in names:
            state = FileState(file_id=name.replace(".", "-"), name=name, size=1)
            lifecycle.blobs.put(job_id, state.file_id, b"x")
            files.append(state)
        if failed:
            files.append(FileState(file_id="bad", name=failed, size=1, status=FileStatus.failed, error="corrupt"))
        return files
    return collect


def actions(lifecycle) -> list[str]:
    return [e["action"] for e in reversed(lifecycle.audit.recent("t1"))]


def test_a_started_job_queues_its_good_files_and_is_audited(lifecycle, queued):
    job_id, files = lifecycle.start(CALLER, "handbook", stored(lifecycle, "a.txt", "b.txt", failed="c.pdf"))
    assert [f.name for f in files] == ["a.txt", "b.txt", "c.pdf"]
    assert queued == [(job_id, ["a-txt", "b-txt"])]
    assert lifecycle.jobs.get(job_id, tenant="t1").sealed and actions(lifecycle) == ["job.create"]


def test_a_job_that_cannot_be_created_leaves_no_files_and_frees_its_slot(lifecycle, queued):
    def half_stored(job_id):
        stored(lifecycle, "a.txt")(job_id)
        raise OSError("disk full")

    with pytest.raises(OSError):
        lifecycle.start(CALLER, "handbook", half_stored)
    assert not any(lifecycle.blobs.root.rglob("a-txt")) and queued == []
    job_id, _ = lifecycle.start(CALLER, "handbook", stored(lifecycle, "b.txt"))  # the slot (limit 1) is free
    with pytest.raises(RateLimited):
        lifecycle.open(CALLER, "handbook")  # ... and now held by the unfinished job
    with pytest.raises(NotFound):
        lifecycle.start(CALLER.model_copy(update={"concurrent_jobs": 5}), "no-such-kb", stored(lifecycle))


def test_open_add_seal_cancel_retry_each_audited(lifecycle, queued):
    job_id = lifecycle.open(CALLER, "handbook")
    job, files = lifecycle.add(CALLER, job_id, stored(lifecycle, "a.txt"))
    assert job.kb == "handbook" and queued == [(job_id, ["a-txt"])]
    lifecycle.seal(CALLER, job_id)
    collected = []
    with pytest.raises(InvalidRequest, match="sealed"):
        lifecycle.add(CALLER, job_id, lambda j: collected.append(j) or [])
    assert collected == []  # refused before a byte is stored
    assert lifecycle.retry(CALLER, job_id).counts["queued"] == 1  # nothing failed: nothing queued again
    assert lifecycle.cancel(CALLER, job_id).status == "cancelled"
    assert not any(lifecycle.blobs.root.rglob("a-txt"))  # the cancelled file's stored copy is gone
    assert actions(lifecycle) == ["job.create", "job.add_files", "job.seal", "job.retry", "job.cancel"]
