"""Uploaded bytes wait here until a worker has ingested them, so any worker can pick the work up.

Two stores with one interface: a local directory (one host, or a shared volume) and an
S3-compatible bucket (MinIO, SeaweedFS, AWS S3) for workers on several hosts."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Protocol

from ragway.errors import DependencyUnavailable, NotFound
from ragway.settings import Settings


class BlobStore(Protocol):
    def put(self, job_id: str, file_id: str, data: bytes) -> None: ...
    def get(self, job_id: str, file_id: str) -> bytes: ...
    def exists(self, job_id: str, file_id: str) -> bool: ...
    def delete(self, job_id: str, file_id: str) -> None: ...


def open_blob_store(settings: Settings) -> BlobStore:
    if settings.blob_store == "s3":
        return S3BlobStore(settings)
    return LocalBlobStore(settings.blob_dir)


def open_gateway_blob_store(settings: Settings) -> BlobStore:
    """The gateway's store: an S3 bucket is created on first use if it does not exist."""
    store = open_blob_store(settings)
    if isinstance(store, S3BlobStore):
        store.ensure_bucket()
    return store


def _missing(job_id: str, file_id: str) -> NotFound:
    return NotFound(f"upload {file_id} of job {job_id} is no longer stored")


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
            raise _missing(job_id, file_id) from exc

    def exists(self, job_id: str, file_id: str) -> bool:
        return self._path(job_id, file_id).exists()

    def delete(self, job_id: str, file_id: str) -> None:
        self._path(job_id, file_id).unlink(missing_ok=True)

    def delete_job(self, job_id: str) -> None:
        shutil.rmtree(self.root / job_id, ignore_errors=True)


class S3BlobStore:
    """Objects `<prefix><job id>/<file id>` in one bucket of any S3-compatible server."""

    def __init__(self, settings: Settings):
        import boto3
        from botocore.config import Config

        self.bucket = settings.s3_bucket
        self.prefix = settings.s3_prefix
        self.endpoint = settings.s3_endpoint_url or "AWS S3"
        self.s3 = boto3.client(
            "s3", endpoint_url=settings.s3_endpoint_url or None, region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key or None, aws_secret_access_key=settings.s3_secret_key or None,
            config=Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=60,
                          s3={"addressing_style": "path"}))

    def _key(self, job_id: str, file_id: str) -> str:
        return f"{self.prefix}{job_id}/{file_id}"

    def _call(self, action: str, fn):
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                raise
            raise DependencyUnavailable(f"blob store {self.endpoint} bucket {self.bucket}: {action} failed: "
                                        f"{exc}") from exc
        except BotoCoreError as exc:
            raise DependencyUnavailable(f"blob store {self.endpoint} is unreachable: {exc}") from exc

    def put(self, job_id: str, file_id: str, data: bytes) -> None:
        self._call("put", lambda: self.s3.put_object(Bucket=self.bucket, Key=self._key(job_id, file_id), Body=data))

    def get(self, job_id: str, file_id: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            return self._call("get", lambda: self.s3.get_object(
                Bucket=self.bucket, Key=self._key(job_id, file_id))["Body"].read())
        except ClientError as exc:
            raise _missing(job_id, file_id) from exc

    def exists(self, job_id: str, file_id: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._call("head", lambda: self.s3.head_object(Bucket=self.bucket, Key=self._key(job_id, file_id)))
            return True
        except ClientError:
            return False

    def delete(self, job_id: str, file_id: str) -> None:
        self._call("delete", lambda: self.s3.delete_object(Bucket=self.bucket, Key=self._key(job_id, file_id)))

    def ping(self) -> None:
        self._call("head bucket", lambda: self.s3.head_bucket(Bucket=self.bucket))

    def ensure_bucket(self) -> None:
        from botocore.exceptions import ClientError

        try:
            self._call("head bucket", lambda: self.s3.head_bucket(Bucket=self.bucket))
        except ClientError:  # 404: create it (a race with another replica is harmless)
            try:
                self._call("create bucket", lambda: self.s3.create_bucket(Bucket=self.bucket))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                    raise
