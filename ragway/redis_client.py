"""One way to connect to Redis, and Redis failures as `DependencyUnavailable`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis
import redis.asyncio

from ragway.errors import DependencyUnavailable

_OPTIONS = {"decode_responses": True, "socket_timeout": 10, "socket_connect_timeout": 5,
            "health_check_interval": 30, "retry_on_timeout": True}


def connect(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, **_OPTIONS)


def connect_async(url: str) -> redis.asyncio.Redis:
    """For the gateway's per-request checks on its event loop (no threadpool hop)."""
    return redis.asyncio.Redis.from_url(url, **_OPTIONS)


@contextmanager
def redis_errors() -> Iterator[None]:
    """Redis failures become `DependencyUnavailable` (503 at the gateway, a retry in workers)."""
    try:
        yield
    except redis.RedisError as exc:
        raise DependencyUnavailable(f"Redis is unavailable: {exc}") from exc
