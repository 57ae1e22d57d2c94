"""Turning a bulk request into job files: uploads (archives expanded) or a server-side folder.

Refused files (too large, a corrupt archive) become failed files of the job with their reason,
so one bad file never rejects the whole request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import UploadFile

if TYPE_CHECKING:
    from api.services import Services

from api.schemas import JobCreated
from ingest_worker.dispatch import enqueue
from ragway import sources
from ragway.auth import Caller
from ragway.blobs import BlobStore
from ragway.errors import InvalidRequest, NotFound, PayloadTooLarge
from ragway.jobs import FileState, FileStatus, JobStore
from ragway.settings import Settings


@dataclass
class Incoming:
    state: FileState
    data: bytes | None = None


def _mib(n: int) -> int:
    return n // (1024 * 1024)


def source_name(upload: UploadFile) -> str:
    name = (upload.filename or "").replace("\\", "/").strip().lstrip("/")
    if not name:
        raise InvalidRequest("every uploaded file needs a file name")
    return name


def _read_limited(upload: UploadFile, limit: int) -> bytes | None:
    data = upload.file.read(limit + 1)
    return None if len(data) > limit else data


def _failed(name: str, size: int, reason: str) -> Incoming:
    return Incoming(FileState(file_id=uuid.uuid4().hex, name=name, size=size, status=FileStatus.failed,
                              error=f"{name}: {reason}"))


def from_uploads(uploads: list[UploadFile], s: Settings) -> list[Incoming]:
    if len(uploads) > s.max_files_per_upload:
        raise PayloadTooLarge(f"{len(uploads)} files in one request; the limit is {s.max_files_per_upload}: "
                              "send them in several requests to one job (see `ragway ingest`)")
    incoming: list[Incoming] = []
    for upload in uploads:
        name = source_name(upload)
        data = _read_limited(upload, s.max_file_bytes)
        if data is None:
            incoming.append(_failed(name, s.max_file_bytes, f"larger than the {_mib(s.max_file_bytes)} MiB limit"))
        elif sources.is_archive(name):
            incoming.extend(_expand(name, data, s))
        else:
            incoming.append(Incoming(FileState(file_id=uuid.uuid4().hex, name=name, size=len(data)), data))
    _reject_duplicates([i.state.name for i in incoming])
    return incoming


def _expand(name: str, data: bytes, s: Settings) -> list[Incoming]:
    try:
        members = list(sources.expand_archive(name, data, s.max_file_bytes, s.max_archive_members))
    except sources.ArchiveError as exc:
        return [_failed(name, len(data), str(exc).removeprefix(f"{name}: "))]
    out = []
    for m in members:
        if m.data is None:
            out.append(Incoming(FileState(file_id=uuid.uuid4().hex, name=m.name, size=0,
                                          status=FileStatus.failed, error=m.error)))
        else:
            out.append(Incoming(FileState(file_id=uuid.uuid4().hex, name=m.name, size=len(m.data)), m.data))
    return out


def from_server_folder(path: str, include: list[str], exclude: list[str], s: Settings) -> list[Incoming]:
    folder = Path(path).resolve()
    roots = [r.resolve() for r in s.allowed_source_roots]
    if not any(folder.is_relative_to(r) for r in roots):
        raise InvalidRequest(f"{path} is not under an allowed source root; the operator allows: "
                             f"{', '.join(map(str, roots))} (RAGWAY_SOURCE_ROOTS adds more)")
    if not folder.is_dir():
        raise NotFound(f"{path} is not a folder the server can read")
    incoming = []
    for file_path, name in sources.walk(folder, include, exclude):
        size = file_path.stat().st_size
        if size > s.max_file_bytes:
            incoming.append(_failed(name, size, f"larger than the {_mib(s.max_file_bytes)} MiB limit"))
        else:
            incoming.append(Incoming(FileState(file_id=uuid.uuid4().hex, name=name, size=size, path=str(file_path))))
    if not incoming:
        raise InvalidRequest(f"no files under {path} match the include/exclude patterns")
    return incoming


def _reject_duplicates(names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InvalidRequest(f"two files are named {name!r}; names identify documents in a knowledge base")
        seen.add(name)


def start_job(services: Services, caller: Caller, kb: str, incoming: list[Incoming]) -> JobCreated:
    """A new sealed job for the files, within the caller's concurrent-job limit, recorded in the audit log."""
    job_id = uuid.uuid4().hex
    services.limits.start_job(caller.key_id, job_id, caller.concurrent_jobs)
    try:
        submit(incoming, job_id, services.jobs, services.blobs, services.settings, caller.tenant, kb=kb,
               created_by=caller.key_id)
    except Exception:
        services.limits.release_job(caller.key_id, job_id)
        raise
    services.audit.record(caller.tenant, caller.key_id, "job.create", f"{kb}/{job_id}", files=len(incoming))
    return JobCreated(job_id=job_id, kb=kb, files=len(incoming), status_url=f"/v1/jobs/{job_id}",
                      refused=[i.state.error for i in incoming if i.state.error])


def submit(incoming: list[Incoming], job_id: str, jobs: JobStore, blobs: BlobStore, s: Settings,
           tenant: str, kb: str | None = None, sealed: bool = True, created_by: str = "") -> None:
    """Store the bytes, record the files (creating the job when `kb` is given) and queue them."""
    for item in incoming:
        if item.data is not None:
            blobs.put(job_id, item.state.file_id, item.data)
    states = [i.state for i in incoming]
    if kb is not None:
        jobs.create(tenant, kb, states, job_id=job_id, sealed=sealed, created_by=created_by)
    else:
        jobs.add_files(job_id, tenant, states)
    enqueue(job_id, [f for f in states if f.status == FileStatus.queued], s)
