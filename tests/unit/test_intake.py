"""Uploads streamed into the blob store within their budgets (api/intake.py), on a real folder."""

import io
import tarfile

import pytest
from fastapi import UploadFile

from api.intake import receive_uploads
from ragway.blobs import LocalBlobStore
from ragway.jobs import FileStatus
from ragway.settings import Settings
from tests.documents import zeros_zip, zip_bytes

MIB = 1024 * 1024


def upload(name: str, data: bytes) -> UploadFile:
    return UploadFile(io.BytesIO(data), filename=name)


def stored_bytes(root) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def receive(tmp_path, uploads, **limits):
    return {f.name: f for f in receive_uploads(uploads, "job1", LocalBlobStore(tmp_path), Settings(**limits))}


def test_a_zip_bomb_is_refused_member_by_member_without_writing_it(tmp_path):
    bomb = zeros_zip(members=3, size=20 * MIB)
    assert len(bomb) < 100_000
    files = receive(tmp_path, [upload("bomb.zip", bomb), upload("ok.txt", b"fine")])
    assert all("decompression bomb" in files[f"zeros-{i:02d}.txt"].error for i in range(3))
    assert files["ok.txt"].status == FileStatus.queued
    assert stored_bytes(tmp_path) == 4


def test_expanded_bytes_and_files_per_request_are_bounded(tmp_path):
    archive = zip_bytes({f"{i}.txt": bytes([65 + i]) * 1000 for i in range(5)})
    files = receive(tmp_path, [upload("a.zip", archive)], max_upload_expanded_bytes=2500)
    assert [f.status for f in files.values()].count(FileStatus.queued) == 2
    assert "send the rest in another request" in files["2.txt"].error
    assert stored_bytes(tmp_path) == 2000
    files = receive(tmp_path / "b", [upload("a.zip", archive)], max_upload_expanded_files=3)
    assert [f.status for f in files.values()].count(FileStatus.queued) == 3


def test_members_larger_than_a_file_may_be_are_refused(tmp_path):
    files = receive(tmp_path, [upload("a.zip", zip_bytes({"big.txt": b"x" * 2000, "small.txt": b"y"}))],
                    max_file_bytes=1000)
    assert "limit per file" in files["big.txt"].error and files["small.txt"].status == FileStatus.queued


def test_an_empty_archive_and_an_archive_of_links_are_failed_files_with_the_reason(tmp_path):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        link = tarfile.TarInfo("link.txt")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        t.addfile(link)
    files = receive(tmp_path, [upload("empty.zip", zip_bytes({})), upload("links.tar", out.getvalue())])
    assert files["empty.zip"].status == FileStatus.failed and "holds no files" in files["empty.zip"].error
    assert "a link, not ingested" in files["link.txt"].error and "links.tar" not in files


def test_bad_and_duplicate_names_are_refused_one_by_one(tmp_path):
    files = receive_uploads([upload("a\x00b.txt", b"x"), upload("a.txt", b"1"), upload("a.txt", b"2")], "job1",
                            LocalBlobStore(tmp_path), Settings())
    assert "control characters" in files[0].error and files[1].status == FileStatus.queued
    assert "same name" in files[2].error
    assert len(list(tmp_path.rglob("*"))) == 2  # the job folder and one file


class FailingSecondPut(LocalBlobStore):
    puts = 0

    def put_stream(self, job_id, file_id, stream):
        self.puts += 1
        if self.puts == 2:
            raise ConnectionError("blob store went away")
        return super().put_stream(job_id, file_id, stream)


def test_a_request_that_fails_half_way_leaves_nothing_stored(tmp_path):
    with pytest.raises(ConnectionError):
        receive_uploads([upload("a.txt", b"1"), upload("b.txt", b"2")], "job1", FailingSecondPut(tmp_path),
                        Settings())
    assert stored_bytes(tmp_path) == 0


class Files:
    """A job store's `file` lookup: file id -> status (missing: the job record is gone)."""

    def __init__(self, statuses):
        self.statuses = statuses

    def file(self, job_id, file_id):
        from ragway.errors import NotFound
        from ragway.jobs import FileState

        if file_id not in self.statuses:
            raise NotFound("gone")
        return FileState(file_id=file_id, name=file_id, size=1, status=self.statuses[file_id])


def test_the_sweep_removes_old_uploads_nobody_will_read(tmp_path):
    import os
    import time

    from ragway.blob_sweep import sweep

    blobs = LocalBlobStore(tmp_path)
    for file_id in ["done", "failed", "queued", "orphan", "young", "x.part"]:
        blobs.put("job1", file_id, b"x")
    old = time.time() - 7200
    for name in ["done", "failed", "queued", "orphan", "x.part"]:
        os.utime(tmp_path / "job1" / name, (old, old))
    jobs = Files({"done": FileStatus.done, "failed": FileStatus.failed, "queued": FileStatus.queued,
                  "young": FileStatus.done})
    assert sweep(blobs, jobs, older_than_s=3600) == 4
    assert sorted(p.name for p in (tmp_path / "job1").iterdir()) == ["queued", "young"]
