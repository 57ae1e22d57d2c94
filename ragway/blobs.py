"""Uploaded bytes wait here until a worker has ingested them, so any worker can pick the work up."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ragway.errors import NotFound


class LocalBlobStore:
    """A directory shared by gateway and workers (a volume in compose)."""

    def __init__(self, root: Path):
        self.root = root

    def _path(self, job_id: str, file_id: str) -> Path:
        return self.root / job_id / file_id

    def put(self, job_id: str, file_id: str, data: bytes) -> None:
        path = self._path(job_id, file_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # atomic: a worker never reads half a file

    def get(self, job_id: str, file_id: str) -> bytes:
        try:
            return self._path(job_id, file_id).read_bytes()
        except FileNotFoundError as exc:
            raise NotFound(f"upload {file_id} of job {job_id} is no longer stored") from exc

    def exists(self, job_id: str, file_id: str) -> bool:
        return self._path(job_id, file_id).exists()

    def delete(self, job_id: str, file_id: str) -> None:
        self._path(job_id, file_id).unlink(missing_ok=True)

    def delete_job(self, job_id: str) -> None:
        shutil.rmtree(self.root / job_id, ignore_errors=True)
