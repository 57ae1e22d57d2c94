"""Fanning a job's files out to Celery tasks: small batches, so one task embeds several files'
chunks together while a failed or slow file holds up only its batch."""

from __future__ import annotations

from collections.abc import Iterator

from ingest_worker.app import celery_app
from ragway.jobs import FileState
from ragway.settings import Settings

INGEST_TASK = "ragway.ingest_batch"


def batches(files: list[FileState], max_files: int, max_bytes: int) -> Iterator[list[str]]:
    batch: list[str] = []
    size = 0
    for f in files:
        if batch and (len(batch) >= max_files or size + f.size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(f.file_id)
        size += f.size
    if batch:
        yield batch


def enqueue(job_id: str, files: list[FileState], settings: Settings) -> int:
    sent = 0
    for file_ids in batches(files, settings.ingest_batch_files, settings.ingest_batch_bytes):
        celery_app.send_task(INGEST_TASK, args=[job_id, file_ids], queue=settings.ingest_queue)
        sent += 1
    return sent
