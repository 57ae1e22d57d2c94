"""Issue 3: bulk entry points, job control and the document lifecycle, against the real stack."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from ragway.apps.client import GatewayError
from tests import documents as docs
from tests.integration.conftest import count_chunks, new_kb, wait_for_job


def test_archive_upload_expands_members_and_fails_bad_ones(client, tmp_path):
    kb = new_kb(client)
    archive = tmp_path / "bundle.zip"
    archive.write_bytes(docs.zip_bytes({"guide/kestrel.md": f"# Kestrel\n\n{docs.MD_FACT}\n".encode(),
                                "guide/长城.txt": docs.ZH_FACT.encode("gb18030"),
                                "guide/broken.pdf": b"%PDF-1.4 nothing else"}))
    created = client.upload(kb, [archive])
    assert created["files"] == 3
    job = wait_for_job(client, created["job_id"])
    status = {f["name"]: f["status"] for f in job["files"]}
    assert status == {"guide/kestrel.md": "done", "guide/长城.txt": "done", "guide/broken.pdf": "failed"}
    assert client.search(kb, "长城有多长？")["hits"][0]["text"] == docs.ZH_FACT


def test_cli_ingests_a_folder_in_batches_with_globs(settings, client, tmp_path):
    kb = new_kb(client)
    docs.write_corpus(tmp_path / "corpus")
    (tmp_path / "corpus" / "notes").mkdir()
    for i in range(7):
        (tmp_path / "corpus" / "notes" / f"note-{i}.txt").write_text(f"Note {i}: the meeting room {i} has a projector.")
    cmd = [sys.executable, "-m", "ragway.apps.cli", "ingest", str(tmp_path / "corpus"), "--kb", kb,
           "--exclude", "*.bin", "--batch-files", "3"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "RAGWAY_GATEWAY_URL": settings.gateway_url,
                              "RAGWAY_API_KEY": client.api_key})
    assert run.returncode == 0, run.stderr
    assert "corrupt.pdf" in run.stderr and "job done" in run.stderr
    listed = {d["source"]: d["chunks"] for d in client.documents(kb)}
    assert set(listed) == {"satellite-report.pdf", "onboarding.docx", "kestrel.md", "长城介绍.txt",
                           *(f"notes/note-{i}.txt" for i in range(7))}
    assert all(n > 0 for n in listed.values())
    job = client.jobs(limit=5)[0]
    assert job["kb"] == kb and job["total"] == 12 and job["counts"]["failed"] == 1  # archive.bin excluded


def test_server_side_folder_under_an_allowed_root(settings, client):
    kb = new_kb(client)
    folder = settings.state_dir.resolve() / "sources" / uuid.uuid4().hex
    docs.write_corpus(folder)
    created = client.ingest_server_folder(kb, str(folder), include=["**/*.md", "**/*.txt"], exclude=[])
    job = wait_for_job(client, created["job_id"])
    assert sorted(f["name"] for f in job["files"]) == ["kestrel.md", "长城介绍.txt"]
    assert job["counts"]["done"] == 2
    with pytest.raises(Exception, match="not under an allowed source root"):
        client.ingest_server_folder(kb, "/etc", include=[], exclude=[])


def test_cancel_stops_files_not_yet_started(client, tmp_path):
    kb = new_kb(client)
    paths = []
    for i in range(40):
        p = tmp_path / f"memo-{i:02d}.md"
        p.write_text(f"# Memo {i}\n\n" + f"Memo {i} discusses budget line {i} in detail. " * 20)
        paths.append(p)
    job_id = client.upload(kb, paths)["job_id"]
    client.cancel(job_id)
    job = wait_for_job(client, job_id)
    assert job["status"] == "cancelled"
    c = job["counts"]
    assert c["cancelled"] > 0 and c["queued"] == 0 and c["running"] == 0
    assert c["done"] + c["cancelled"] == 40
    assert {d["source"] for d in client.documents(kb)} == {f["name"] for f in job["files"] if f["status"] == "done"}


def test_retry_runs_failed_files_again(client, tmp_path):
    kb = new_kb(client)
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 truncated")
    job_id = client.upload(kb, [bad])["job_id"]
    assert wait_for_job(client, job_id)["status"] == "failed"
    client.retry(job_id)
    job = wait_for_job(client, job_id)
    assert job["files"][0]["status"] == "failed" and job["files"][0]["attempts"] == 2


def test_delete_a_document_and_a_whole_kb(client, milvus, settings, tmp_path):
    kb = new_kb(client)
    paths = docs.write_corpus(tmp_path)
    wait_for_job(client, client.upload(kb, [paths["kestrel.md"], paths["onboarding.docx"]])["job_id"])
    listed = {d["source"]: d for d in client.documents(kb)}
    client.delete_document(kb, listed["kestrel.md"]["doc_id"])
    assert [d["source"] for d in client.documents(kb)] == ["onboarding.docx"]
    assert count_chunks(milvus, settings, kb) == listed["onboarding.docx"]["chunks"]
    client.delete_kb(kb)
    assert count_chunks(milvus, settings, kb) == 0
    with pytest.raises(GatewayError, match="404 not_found"):  # the kb itself is gone, not just emptied
        client.documents(kb)
