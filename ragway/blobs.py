"""Uploaded bytes wait here until a worker has ingested them, so any worker can pick the work up.

Two stores with one interface: a local directory (one host, or a shared volume) and an
S3-compatible bucket (MinIO, SeaweedFS, AWS S3) for workers on several hosts."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Protocol

from ragway.errors import DependencyUnavailable, NotFound
from ragway.settings import Settings


class BlobStore(Protocol):
    def put(self, job_id: str, file_id: str, data: bytes) -> None: ...
    def put_stream(self, job_id: str, file_id: str, stream: IO[bytes]) -> int: ...
    def get(self, job_id: str, file_id: str) -> bytes: ...
    def exists(self, job_id: str, file_id: str) -> bool: ...
    def delete(self, job_id: str, file_id: str) -> None: ...
    def delete_job(self, job_id: str) -> None: ...
    def older_than(self, age_s: float) -> Iterator[tuple[str, str]]: ...


COPY_BUFFER = 1024 * 1024


class CountingReader(io.RawIOBase):
    """A stream's bytes, counted, and cut off with `TooLarge` once past `limit`: the caller's
    budget holds even when an archive lies about its members' sizes."""

    def __init__(self, stream: IO[bytes], limit: int):
        self.stream = stream
        self.limit = limit
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(COPY_BUFFER if size is None or size < 0 else size)
        self.count += len(data)
        if self.count > self.limit:
            raise TooLarge(self.limit)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


class TooLarge(Exception):
    def __init__(self, limit: int):
        super().__init__(f"more than {limit} bytes")
        self.limit = limit


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


def _create(path: Path) -> IO[bytes]:
    """A new file and its folder; again if a delete of the folder's last file removed it meanwhile."""
    for _ in range(3):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return path.open("wb")
        except FileNotFoundError:
            continue
    return path.open("wb")


class LocalBlobStore:
    """A directory shared by gateway and workers (a volume in compose)."""

    def __init__(self, root: Path):
        self.root = root

    def _path(self, job_id: str, file_id: str) -> Path:
        return self.root / job_id / file_id

    def put(self, job_id: str, file_id: str, data: bytes) -> None:
        self.put_stream(job_id, file_id, io.BytesIO(data))

    def put_stream(self, job_id: str, file_id: str, stream: IO[bytes]) -> int:
        path = self._path(job_id, file_id)
        tmp = path.with_suffix(".part")
        try:
            with _create(tmp) as out:
                shutil.copyfileobj(stream, out, COPY_BUFFER)
                size = out.tell()
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, path)  # atomic: a worker never reads half a file
        return size

    def get(self, job_id: str, file_id: str) -> bytes:
        try:
            return self._path(job_id, file_id).read_bytes()
        except FileNotFoundError as exc:
            raise _missing(job_id, file_id) from exc

    def exists(self, job_id: str, file_id: str) -> bool:
        return self._path(job_id, file_id).exists()

    def delete(self, job_id: str, file_id: str) -> None:
        path = self._path(job_id, file_id)
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # the job's last upload: no empty folder stays behind
            path.parent.rmdir()

    def delete_job(self, job_id: str) -> None:
        shutil.rmtree(self.root / job_id, ignore_errors=True)

    def older_than(self, age_s: float) -> Iterator[tuple[str, str]]:
        """(job id, file id) of the blobs (and parts left by a crash) last written over `age_s` ago."""
        cutoff = time.time() - age_s
        for path in self.root.glob("*/*") if self.root.is_dir() else []:
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    yield path.parent.name, path.name
            except FileNotFoundError:  # deleted meanwhile
                continue


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

    def put_stream(self, job_id: str, file_id: str, stream: IO[bytes]) -> int:
        counted = CountingReader(stream, limit=1 << 62)
        # A multipart upload for large files; aborted (nothing stored) if the stream raises.
        self._call("put", lambda: self.s3.upload_fileobj(counted, self.bucket, self._key(job_id, file_id)))
        return counted.count

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

    def delete_job(self, job_id: str) -> None:
        for batch in self._pages(f"{self.prefix}{job_id}/"):
            keys = [{"Key": o["Key"]} for o in batch]
            self._call("delete", lambda k=keys: self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": k}))

    def older_than(self, age_s: float) -> Iterator[tuple[str, str]]:
        cutoff = time.time() - age_s
        for batch in self._pages(self.prefix):
            for o in batch:
                parts = o["Key"].removeprefix(self.prefix).split("/")
                if len(parts) == 2 and o["LastModified"].timestamp() < cutoff:
                    yield parts[0], parts[1]

    def _pages(self, prefix: str) -> Iterator[list[dict]]:
        """The objects under `prefix`, a page (up to 1,000, what one delete_objects takes) at a time."""
        token: dict[str, str] = {}
        while True:
            page = self._call("list", lambda t=token: self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix, **t))
            if page.get("Contents"):
                yield page["Contents"]
            if not page.get("IsTruncated"):
                return
            token = {"ContinuationToken": page["NextContinuationToken"]}

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
