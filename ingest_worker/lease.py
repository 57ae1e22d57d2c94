"""Keeping a running task invisible to other workers while its worker is alive.

Celery's Redis transport re-delivers an unacknowledged message once it is older than
`visibility_timeout`, and nothing extends that while the task runs: a long timeout leaves a dead
worker's batch waiting for it, a short one hands a long batch to a second worker while the first
still works on it. So the timeout is short and the running task renews its message's timestamp
in the transport's `unacked_index` (kombu's documented `unacked_key` / `unacked_index_key`) every
few seconds; when the worker dies the renewals stop and the batch comes back within the timeout."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis

log = logging.getLogger(__name__)
UNACKED_KEY = "unacked"
UNACKED_INDEX_KEY = "unacked_index"


def find_delivery_tag(client: redis.Redis, task_id: str) -> str | None:
    """The transport's tag for this task's message (the unacked hash holds a worker's few messages)."""
    for tag, raw in client.hscan_iter(UNACKED_KEY):
        try:
            payload = json.loads(raw)[0]
        except (ValueError, IndexError, TypeError):
            continue
        if payload.get("headers", {}).get("id") == task_id:
            return tag.decode() if isinstance(tag, bytes) else tag
    return None


@contextmanager
def visibility_lease(redis_url: str, task_id: str, every_s: float) -> Iterator[None]:
    client = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
    stop = threading.Event()

    def renew() -> None:
        tag = None
        while not stop.wait(every_s):
            try:
                tag = tag or find_delivery_tag(client, task_id)
                if tag:
                    client.zadd(UNACKED_INDEX_KEY, {tag: time.time()}, xx=True)
            except redis.RedisError as exc:  # Redis restarting: the next renewal catches up
                log.debug("lease renewal failed: %s", exc)

    thread = threading.Thread(target=renew, name=f"lease-{task_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=every_s)
        client.close()
