"""Fixtures shared by unit tests."""

from __future__ import annotations

import subprocess
import time

import pytest

from ragway.apps.stack import redis_server_binary
from ragway.redis_client import connect


@pytest.fixture
def unix_redis(tmp_path):
    """A throw-away Redis on a unix socket (the local stack's redis-server binary)."""
    socket = tmp_path / "redis.sock"
    server = subprocess.Popen([redis_server_binary(), "--port", "0", "--unixsocket", str(socket),
                               "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                              stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not socket.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        yield connect(f"unix://{socket}")
    finally:
        server.terminate()
        server.wait(10)
