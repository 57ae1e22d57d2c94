"""Issue 3: a killed worker, a stopped Milvus and a restarted Redis in the middle of a job lose
nothing and duplicate nothing. Real processes, real signals."""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.integration.conftest import new_kb, wait_for_job

pytestmark = pytest.mark.disruptive
FILES = 40


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crash-corpus")
    paths = []
    for i in range(FILES):
        path = folder / f"report-{i:02d}.txt"
        path.write_text("\n\n".join(f"Report {i}, section {s}: the warehouse in district {i} shipped "
                                    f"{i * 10 + s} pallets of equipment during week {s}. " * 3 for s in range(4)))
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def clean_run(client, corpus, milvus, settings):
    """Chunk count of an undisturbed run of the same files."""
    kb = new_kb(client, "clean")
    job = wait_for_job(client, client.upload(kb, corpus)["job_id"])
    assert job["counts"]["done"] == FILES
    return chunk_ids(milvus, settings, kb)


def chunk_ids(milvus, settings, kb: str) -> list[str]:
    rows = milvus.query(settings.collection, filter=f'tenant == "{settings.default_tenant}" and kb == "{kb}"',
                        output_fields=["chunk_id"], limit=16_000, consistency_level="Strong")
    return [r["chunk_id"] for r in rows]


def start_and_wait_for_progress(client, kb, corpus, at_least: int = 1) -> str:
    job_id = client.upload(kb, corpus)["job_id"]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        job = client.job(job_id, files=False)
        if job["counts"]["done"] >= at_least:
            assert job["status"] == "running", "the job finished before it could be disturbed"
            return job_id
        time.sleep(0.2)
    raise AssertionError("the job made no progress")


def assert_complete_without_duplicates(client, milvus, settings, kb, job_id, clean_ids):
    job = wait_for_job(client, job_id)
    assert job["status"] == "done" and job["counts"]["done"] == FILES, job["counts"]
    ids = chunk_ids(milvus, settings, kb)
    assert len(ids) == len(set(ids)), "duplicate chunks"
    assert len(ids) == len(clean_ids)
    rows = milvus.query(settings.collection, filter=f'kb == "{kb}"', output_fields=["count(*)"],
                        consistency_level="Strong")
    assert rows[0]["count(*)"] == len(clean_ids)


def test_sigkilled_worker_is_replaced_and_the_job_completes(stack, client, corpus, clean_run, milvus, settings):
    kb = new_kb(client, "kill")
    job_id = start_and_wait_for_progress(client, kb, corpus)
    pid = stack.pid("ingest-worker")
    os.killpg(pid, signal.SIGKILL)
    time.sleep(1)
    assert stack.pid("ingest-worker") is None
    assert set(stack.up()) == {"ingest-worker"}
    assert_complete_without_duplicates(client, milvus, settings, kb, job_id, clean_run)


def test_milvus_stopped_mid_job_the_job_completes_after_it_is_back(stack, client, corpus, clean_run, milvus,
                                                                   settings):
    kb = new_kb(client, "milvus")
    job_id = start_and_wait_for_progress(client, kb, corpus)
    stack.down(["milvus"])
    time.sleep(5)
    assert client.job(job_id, files=False)["status"] == "running"
    stack.up()
    assert_complete_without_duplicates(client, milvus, settings, kb, job_id, clean_run)


def test_redis_restarted_mid_job_loses_no_job_file_or_task(stack, client, corpus, clean_run, milvus, settings):
    kb = new_kb(client, "redis")
    job_id = start_and_wait_for_progress(client, kb, corpus)
    stack.down(["redis"])
    time.sleep(2)
    stack.up()
    assert_complete_without_duplicates(client, milvus, settings, kb, job_id, clean_run)


def test_deleting_a_kb_mid_job_cancels_the_job_and_leaves_no_chunk(client, corpus, milvus, settings):
    """Batches still running when their kb is deleted write nothing that outlives the kb."""
    kb = new_kb(client, "doomed")
    job_id = start_and_wait_for_progress(client, kb, corpus)
    client.delete_kb(kb)
    job = wait_for_job(client, job_id)
    assert job["status"] == "cancelled" and job["counts"]["cancelled"] > 0, job["counts"]
    assert job["counts"]["queued"] == job["counts"]["running"] == 0
    assert chunk_ids(milvus, settings, kb) == []
    client.create_kb(kb)  # the same name again is a new, empty kb
    assert client.search(kb, "warehouse pallets")["hits"] == []


def test_chunks_a_batch_writes_after_its_kb_was_deleted_are_removed(client, milvus, settings, tmp_path,
                                                                     monkeypatch):
    """The worst order of a kb delete and a batch write: the batch checked the kb, then the whole
    delete ran (its chunks' delete included), then the batch's chunks landed. Run in this process
    against the real Redis, Milvus and gateway, with the delete placed in that window."""
    from ingest_worker import tasks
    from ragway.blobs import open_blob_store
    from ragway.jobs import FileState, JobStore

    kb = new_kb(client, "raced")
    path = tmp_path / "raced.txt"
    path.write_text("The raced kb holds a note about pallets in the warehouse. " * 20)
    jobs = JobStore.from_url(settings.effective_redis_url)
    job_id = jobs.create(settings.default_tenant, kb, [FileState(file_id="f1", name=path.name,
                                                                 size=path.stat().st_size, path=str(path))])
    batch = tasks.Batch(job_id, jobs, open_blob_store(settings))
    batch.prepare("f1")
    assert len(batch.prepared) == 1

    ingestor = tasks.ingestor()
    write = ingestor.write

    def deleted_just_before(documents):
        client.delete_kb(kb)  # after the batch's check, before its chunks land
        return write(documents)

    monkeypatch.setattr(ingestor, "write", deleted_just_before)
    batch.write()

    state = jobs.file(job_id, "f1")
    assert state.status == "cancelled" and "was deleted" in state.error
    assert chunk_ids(milvus, settings, kb) == []
