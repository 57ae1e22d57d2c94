"""Redis authentication (issue 14, item 13): the generated secret, the URL every client connects
with, the local Redis's config file, the compose Redis command, and the upgrade of a state folder
whose Redis runs without a password. Real redis-server processes on free loopback ports."""

from __future__ import annotations

import os
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest
import redis
import yaml
from redis.connection import parse_url

from ragway.apps import stack as stack_module
from ragway.apps.stack import Stack, _start_time, redis_server_binary, service_argv
from ragway.redis_auth import ensure_secret, password_file, read_secret, url_password, with_password, without_password
from ragway.settings import Settings
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def no_ragway_env(monkeypatch):
    for key in [k for k in os.environ if k.startswith("RAGWAY_")]:
        monkeypatch.delenv(key)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)



def local_settings(state: Path, port: int = 6379, **values) -> Settings:
    return Settings(_env_file=None, state_dir=state, redis_port=port, redis_url=f"redis://127.0.0.1:{port}/0",
                    **values)


def serves(url: str) -> bool:
    """True when Redis answers a client of `url`, False when it refuses it (wrong or no password)."""
    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        return bool(client.ping())
    except redis.AuthenticationError:
        return False
    finally:
        client.close()


def wait_serving(url: str, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            serves(url)
            return
        except redis.ConnectionError:
            time.sleep(0.05)
    raise AssertionError(f"no Redis at {url}")


def test_the_secret_is_generated_once_private_and_reused(tmp_path):
    old = os.umask(0)  # even a permissive umask leaves it readable by its owner only
    try:
        path = password_file(tmp_path / "state")
        assert read_secret(path) is None
        secret = ensure_secret(path)
    finally:
        os.umask(old)
    assert len(secret) >= 40 and mode(path) == 0o600
    assert ensure_secret(path) == secret == read_secret(path)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_concurrent_first_ups_agree_on_one_secret(tmp_path):
    path = password_file(tmp_path)
    found: list[str] = []
    threads = [threading.Thread(target=lambda: found.append(ensure_secret(path))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(found)) == 1 and found[0] == read_secret(path)


def test_urls_carry_the_password_quoted():
    tricky = "p@ss:w/rd?#% é"
    url = with_password("redis://127.0.0.1:6379/0", tricky)
    assert parse_url(url)["password"] == tricky and parse_url(url)["host"] == "127.0.0.1"
    assert url_password(url) == tricky and without_password(url) == "redis://127.0.0.1:6379/0"
    acl = with_password("rediss://ragway:old@redis.internal:6380/2", "new")
    assert acl == "rediss://ragway:new@redis.internal:6380/2"
    sock = with_password("unix:///run/redis.sock?db=1", tricky)
    assert url_password(sock) == tricky and parse_url(sock)["password"] == tricky
    assert url_password("redis://127.0.0.1:6379/0") is None


def test_effective_url_takes_the_setting_then_the_url_then_the_generated_secret(tmp_path):
    state = tmp_path / "state"
    assert local_settings(state).effective_redis_url == "redis://127.0.0.1:6379/0"  # nothing generated yet
    secret = ensure_secret(password_file(state))
    assert local_settings(state).effective_redis_url == f"redis://:{secret}@127.0.0.1:6379/0"
    assert local_settings(state, redis_password="chosen").effective_redis_url == "redis://:chosen@127.0.0.1:6379/0"
    in_url = Settings(_env_file=None, state_dir=state, redis_url="redis://:mine@redis:6379/0")
    assert in_url.effective_redis_url == "redis://:mine@redis:6379/0"


def test_local_redis_reads_the_password_from_a_private_config_file(tmp_path):
    s = local_settings(tmp_path / "state", redis_password='with "quotes" \\ and spaces')
    argv = service_argv("redis", s)
    config = Path(argv[1])
    assert config.parent == s.state_dir.resolve() and mode(config) == 0o600
    assert config.read_text() == 'requirepass "with \\"quotes\\" \\\\ and spaces"\n'
    assert not any("quotes" in arg for arg in argv)
    generated = service_argv("redis", local_settings(tmp_path / "fresh"))
    assert read_secret(password_file(tmp_path / "fresh")) in Path(generated[1]).read_text()


def test_local_redis_refuses_clients_without_the_password(tmp_path):
    port = free_port()
    s = local_settings(tmp_path / "state", port, redis_password='with "quotes" \\ and spaces')
    server = subprocess.Popen(service_argv("redis", s), stdout=subprocess.DEVNULL)
    try:
        wait_serving(s.redis_url)
        assert not serves(s.redis_url)  # NOAUTH
        assert not serves(with_password(s.redis_url, "wrong"))
        assert serves(s.effective_redis_url)
        assert "quotes" not in Path(f"/proc/{server.pid}/cmdline").read_text()
    finally:
        server.terminate()
        server.wait(10)


def test_the_compose_redis_command_requires_the_password(tmp_path):
    """docker-compose.yml's Redis command, run as its container would (compose turns $$ into $),
    with a stand-in for the image's entrypoint and this machine's redis-server."""
    port, bindir = free_port(), tmp_path / "bin"
    bindir.mkdir()
    entrypoint = bindir / "docker-entrypoint.sh"
    entrypoint.write_text('#!/bin/sh\nexec "$@"\n')
    entrypoint.chmod(0o755)
    (bindir / "redis-server").symlink_to(redis_server_binary())
    shell, flag, script = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["redis"]["command"]
    script = script.replace("$$", "$").replace("--dir /data", f"--dir {tmp_path} --port {port}")
    env = {"PATH": f"{bindir}:{os.environ['PATH']}", "REDISCLI_AUTH": "compose-secret"}
    server = subprocess.Popen([shell, flag, script], env=env, stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_serving(url)
        assert not serves(url) and serves(with_password(url, "compose-secret"))
        assert "compose-secret" not in Path(f"/proc/{server.pid}/cmdline").read_text()  # exec'd: redis itself
    finally:
        server.terminate()
        server.wait(10)


def test_up_restarts_a_redis_running_without_password(tmp_path, monkeypatch):
    """A state folder from before passwords: its Redis runs without one. `up` generates the
    password and restarts Redis with it; the data stays, and it does not count as started."""
    port, state = free_port(), tmp_path / "state"
    s = local_settings(state, port)
    monkeypatch.setenv("RAGWAY_REDIS_PORT", str(port))  # for `ragway run redis`
    monkeypatch.setenv("RAGWAY_REDIS_URL", s.redis_url)
    monkeypatch.setattr(stack_module, "enabled", lambda _s: ["redis"])
    monkeypatch.setattr("ragway.embedder.ensure_embedding_model", lambda _s: "(not needed)")
    local = Stack(s.model_copy(update={"run_fastchat": False}), say=lambda _msg: None)
    old_argv = [redis_server_binary(), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(state / "redis"),
                "--appendonly", "yes", "--appendfsync", "always"]
    (state / "redis").mkdir(parents=True)
    (state / "pids").mkdir()
    old = subprocess.Popen(old_argv, stdout=subprocess.DEVNULL, start_new_session=True)
    try:
        (state / "pids" / "redis.pid").write_text(f"{old.pid} {_start_time(old.pid)}")
        wait_serving(s.redis_url)
        redis.Redis.from_url(s.redis_url).set("ragway:kept", "1")
        assert local.up() == {}  # restarted, not started: a test session's teardown leaves it running
        old.wait(10)
        assert mode(password_file(state)) == 0o600
        assert not serves(s.redis_url) and serves(s.effective_redis_url)
        assert redis.Redis.from_url(s.effective_redis_url).get("ragway:kept") == b"1"
        assert local._without_redis_password() == []
    finally:
        local.down(["redis"])
        if old.poll() is None:
            old.terminate()
            old.wait(10)


def test_clients_started_before_the_password_are_restarted(tmp_path):
    state = tmp_path / "state"
    local = Stack(local_settings(state, free_port()))
    client = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        (state / "pids").mkdir(parents=True)
        pid_file = state / "pids" / "gateway.pid"
        pid_file.write_text(f"{client.pid} {_start_time(client.pid)}")
        os.utime(pid_file, (time.time() - 60, time.time() - 60))
        assert local._without_redis_password() == []  # no generated password: nothing to restart for
        ensure_secret(password_file(state))
        assert local._without_redis_password() == ["gateway"]  # connected without it
    finally:
        client.kill()
        client.wait()
