"""The real local stack for integration tests: Milvus 2.3.5 server, Redis, Celery worker, FastChat
(controller, model_worker, openai_api_server) and the gateway, as separate processes.

A stack that is already running is reused; what this session started, it stops at the end and
checks that no process of it is left."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pymilvus import MilvusClient

from ragway.apps.cli import SAMPLE_DIR  # noqa: F401 - the sample corpus, for tests
from ragway.apps.client import GatewayClient
from ragway.apps.stack import Stack, enabled
from ragway.auth import KeyStore, Role
from ragway.redis_client import connect
from ragway.settings import get_settings
from tests.data import data_dir

CORPUS_TEST = "tests/integration/test_real_corpus.py::test_whole_shared_corpus_in_one_job"
BACKGROUND_JOBS: set[str] = set()  # jobs no test's clean-up may cancel: tests/integration/background.py


def pytest_collection_modifyitems(items):
    """Tests marked `disruptive` (they restart the shared Milvus or Redis) run last and the shared-corpus test
    just before them: its job runs from the session's start (`corpus_ingest`) and must see no restart."""
    items.sort(key=lambda item: 2 if item.get_closest_marker("disruptive") else int(item.nodeid == CORPUS_TEST))


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


@pytest.fixture(scope="session")
def stack():
    settings = get_settings()
    local = Stack(settings, say=lambda msg: print(msg, flush=True))
    running_before = {name for name in enabled(settings) if local.pid(name)}
    try:
        started = local.up()
    except Exception:  # what this session started before the failure must not outlive it
        local.down([name for name in enabled(settings) if name not in running_before])
        raise
    yield local
    if started:
        pids = {name: local.pid(name) for name in started}
        local.down(list(started))
        leftover = [name for name, pid in pids.items() if pid and _group_alive(pid)]
        assert not leftover, f"processes left after stack down: {leftover}"


@pytest.fixture(scope="session")
def settings(stack):
    return get_settings()


@pytest.fixture(scope="session")
def keys(stack, settings) -> KeyStore:
    return KeyStore(connect(settings.effective_redis_url))


def client_for(settings, keys: KeyStore, tenant: str, role: Role) -> GatewayClient:
    """A gateway client with a new API key, made on the server side as `ragway keys create` does."""
    _, token = keys.create(tenant, role, name=f"pytest {role}")
    return GatewayClient(settings.gateway_url, api_key=token)


@pytest.fixture(scope="session")
def client(stack, settings, keys) -> GatewayClient:
    """An admin of the default tenant."""
    return client_for(settings, keys, settings.default_tenant, Role.admin)


@pytest.fixture(scope="session")
def milvus(settings) -> MilvusClient:
    return MilvusClient(uri=settings.milvus_uri)


@pytest.fixture(scope="session", autouse=True)
def corpus_ingest(request, tmp_path_factory):
    """The shared corpus's ingest job (test_real_corpus.py), started with the session at low priority when that
    test is selected and the data is there, stopped at the end: tests/integration/background.py."""
    docs = data_dir() / "docs"
    if not docs.is_dir() or CORPUS_TEST not in {item.nodeid for item in request.session.items}:
        yield None
        return
    from tests.integration import background  # it imports this module's helpers

    settings, client = request.getfixturevalue("settings"), request.getfixturevalue("client")
    # chunk_size 12000: why, in test_real_corpus.py
    job = background.start_ingest(settings, client, docs, tmp_path_factory.mktemp("corpus") / "ingest.log",
                                  excluded=["MANIFEST.tsv", "README.md"], chunk_size="12000", chunk_overlap="0")
    yield job
    job.stop()


@pytest.fixture(autouse=True)
def no_job_outlives_its_test(request):
    """Jobs a test started and left unfinished (it failed or timed out mid-wait) are cancelled after it, so
    they do not hold the shared worker while the next tests' jobs wait in the queue."""
    if "client" not in request.fixturenames:
        yield
        return
    client = request.getfixturevalue("client")
    before = {job["job_id"] for job in client.jobs(limit=100)}
    yield
    for job in client.jobs(limit=100):
        if job["job_id"] not in before | BACKGROUND_JOBS and job["status"] in ("queued", "running"):
            with contextlib.suppress(httpx.HTTPError):
                client.cancel(job["job_id"])


def new_kb(client: GatewayClient, prefix: str = "it") -> str:
    """A new, empty knowledge base (the client must be an admin)."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    client.create_kb(name)
    return name


def wait_for_job(client: GatewayClient, job_id: str, timeout_s: float = 600) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.job(job_id)
        if job["status"] in ("done", "failed", "cancelled"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish in {timeout_s}s: {client.job(job_id)}")


def count_chunks(milvus: MilvusClient, settings, kb: str, doc_id: str | None = None) -> int:
    expr = f'tenant == "{settings.default_tenant}" and kb == "{kb}"'
    if doc_id:
        expr += f' and doc_id == "{doc_id}"'
    rows = milvus.query(settings.collection, filter=expr, output_fields=["count(*)"], consistency_level="Strong")
    return int(rows[0]["count(*)"])


def lowered(niceness: int):
    """A Popen preexec_fn that lowers the child's CPU priority (0: unchanged), its autogroup's too: a child in a
    session of its own is in an autogroup of its own, and the kernel shares the CPU between autogroups whatever
    their processes' nice values (sched(7))."""
    def lower() -> None:
        os.nice(niceness)
        with contextlib.suppress(OSError):  # no autogroups on this kernel
            Path("/proc/self/autogroup").write_text(str(niceness))
    return lower if niceness else None


@contextlib.contextmanager
def extra_gateway(settings, port: int, niceness: int = 0, **overrides: str):
    """A second gateway replica on its own port (same Redis, Milvus and LLM), with setting overrides."""
    env = {**os.environ, "RAGWAY_GATEWAY_PORT": str(port), "HF_HUB_OFFLINE": "1",
           **{f"RAGWAY_{k.upper()}": v for k, v in overrides.items()}}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "api.app:app", "--host", settings.bind_host,
                             "--port", str(port), "--no-access-log"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, preexec_fn=lowered(niceness))
    url = f"http://{settings.bind_host}:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            raise AssertionError(f"gateway replica on port {port} did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)



@contextlib.contextmanager
def extra_worker(queue: str, niceness: int = 0, **overrides: str) -> Iterator[None]:
    """An ingest worker of its own on `queue`, with setting overrides; the shared one is left alone."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAGWAY_INGEST_QUEUE": queue,
           **{f"RAGWAY_{k.upper()}": v for k, v in overrides.items()}}
    proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "ingest_worker.app", "worker", "--loglevel",
                             "WARNING", "-Q", queue, "--concurrency", "1", "-n", f"{queue}@%h"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            preexec_fn=lowered(niceness))
    try:
        yield
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
