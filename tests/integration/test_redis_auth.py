"""The local stack's Redis holds the API keys: it refuses clients without its password (issue 14,
item 13), while the gateway, the workers and `ragway keys create` connect with it."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest
import redis

from ragway.auth import Role
from ragway.redis_auth import CONFIG_FILE, password_file, with_password, without_password


def test_redis_refuses_clients_without_the_password(stack, settings):
    anonymous = redis.Redis.from_url(without_password(settings.effective_redis_url), socket_timeout=5)
    with pytest.raises(redis.AuthenticationError):  # NOAUTH
        anonymous.hset("ragway:apikey:intruder", mapping={"tenant": "acme", "role": "admin"})
    wrong = redis.Redis.from_url(with_password(settings.redis_url, "guessed"), socket_timeout=5)
    with pytest.raises(redis.AuthenticationError):
        wrong.ping()
    assert redis.Redis.from_url(settings.effective_redis_url, socket_timeout=5).ping()


def test_the_password_is_private_and_off_the_command_line(stack, settings):
    state = settings.state_dir.resolve()
    config = state / CONFIG_FILE
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    secret = settings.redis_password or password_file(state).read_text().strip()
    if not settings.redis_password:
        assert stat.S_IMODE(password_file(state).stat().st_mode) == 0o600
    assert secret in config.read_text()
    assert secret not in Path(f"/proc/{stack.pid('redis')}/cmdline").read_text()


def test_clients_with_the_password_work(stack, settings, keys):
    ready = httpx.get(f"{settings.gateway_url}/readyz", timeout=30)
    assert ready.status_code == 200 and ready.json()["checks"]["redis"] == "ok", ready.text
    _, token = keys.create(settings.default_tenant, Role.reader, name="pytest redis auth")  # as `ragway keys create`
    listed = httpx.get(f"{settings.gateway_url}/v1/kbs", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert listed.status_code == 200, listed.text


def test_a_process_whose_celery_app_predates_the_password_still_sees_the_worker(stack, settings):
    """A fresh clone's test run imports the ingest app before its first `stack up` writes the
    password; the readiness check must use the password of now (it waited 120 s and failed)."""
    import os
    import subprocess
    import sys

    script = ("import ingest_worker.app\n"  # built with the stale password below
              "from ragway.settings import Settings\nfrom ragway.apps.stack import _worker_ok\n"
              "print(_worker_ok(Settings(redis_password=''))())\n")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "RAGWAY_REDIS_PASSWORD": "stale"})
    assert run.stdout.strip().splitlines()[-1] == "True", run.stderr[-2000:]
