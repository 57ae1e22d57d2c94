"""Sending ingest work to the Celery workers, by task name: the gateway's side of the queue. It needs
only the broker, so the gateway never builds the worker application (`ingest_worker.app`) nor imports
its tasks. Files go out in small batches, so one task embeds several files' chunks together while a
failed or slow file holds up only its batch."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

from celery import Celery

from ragway.jobs import FileState
from ragway.settings import Settings

INGEST_TASK = "ragway.ingest_batch"


@cache
def _sender(broker_url: str) -> Celery:
    app = Celery("ragway-dispatch", broker=broker_url, set_as_current=False)
    app.conf.update(task_serializer="json", accept_content=["json"], broker_connection_retry_on_startup=True)
    return app


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
    sender = _sender(settings.effective_redis_url)
    sent = 0
    for file_ids in batches(files, settings.ingest_batch_files, settings.ingest_batch_bytes):
        sender.send_task(INGEST_TASK, args=[job_id, file_ids], queue=settings.ingest_queue)
        sent += 1
    return sent
