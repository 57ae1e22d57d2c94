"""The Celery application: Redis as broker and result backend, settings from `ragway.settings`."""

from __future__ import annotations

from celery import Celery

from ragway.settings import get_settings


def make_celery() -> Celery:
    s = get_settings()
    app = Celery("ragway", broker=s.effective_redis_url, backend=s.effective_redis_url, include=["ingest_worker.tasks"])
    app.conf.update(
        task_default_queue=s.ingest_queue,
        task_serializer="json", accept_content=["json"], result_serializer="json",
        # A task is acknowledged only after it finished, and re-queued if its worker process dies:
        # ingestion is idempotent (deterministic chunk ids), so running it twice is safe.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=s.task_time_limit_s,
        task_soft_time_limit=max(s.task_time_limit_s - 30, 1),
        result_expires=24 * 3600,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": s.visibility_timeout_s,
            # Without these a whole dead worker's unacked tasks come back only after a long delay.
            "unacked_restore_interval": s.unacked_restore_interval_s,
            "unacked_restore_throttle": s.unacked_restore_interval_s,
        },
        worker_concurrency=s.worker_processes,
        worker_hijack_root_logger=False,
    )
    return app


celery_app = make_celery()
