"""Long ingest jobs that run beside the rest of the suite, at low CPU priority, on cores the other tests
leave idle (they wait on processes, queues and the network much of the time); their test checks the
outcome near the end of the session. Tests that restart the shared Milvus or Redis (marker `disruptive`)
are ordered after those checks, so a background job sees no restart: `pytest_collection_modifyitems`."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ragway.apps.client import GatewayClient
from tests.integration.conftest import BACKGROUND_JOBS, extra_gateway, extra_worker, lowered, new_kb
from tests.ports import free_port

NICENESS = 10  # beside busy foreground processes (nice 0) it got ~15% of the CPU, measured with busy loops


@dataclass
class BackgroundIngest:
    """`ragway ingest` of a folder through a worker and gateway of its own, started and left running."""

    kb: str = ""
    job_id: str = ""
    proc: subprocess.Popen | None = None
    log: Path | None = None
    error: str = ""
    resources: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def wait(self, timeout_s: float) -> int:
        """The command's exit code once it has returned (it returns when the job has finished)."""
        assert not self.error, self.error
        assert self.proc is not None
        return self.proc.wait(timeout=timeout_s)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log and self.log.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.resources.close()


def start_ingest(settings, client: GatewayClient, folder: Path, log: Path, excluded: list[str],
                 **worker_settings: str) -> BackgroundIngest:
    """Start the job and return once the gateway has it (so no test's clean-up takes it for its own).
    A failure is kept in `error`, for the one test that reads it, rather than raised into every test."""
    job = BackgroundIngest(log=log)
    try:
        job.kb = new_kb(client, "corpus")
        queue = f"ragway.ingest.test-{uuid.uuid4().hex[:8]}"
        job.resources.enter_context(extra_worker(queue, niceness=NICENESS, **worker_settings))
        url = job.resources.enter_context(extra_gateway(settings, free_port(), niceness=NICENESS, ingest_queue=queue))
        command = [sys.executable, "-m", "ragway.apps.cli", "ingest", str(folder), "--kb", job.kb]
        command += [arg for name in excluded for arg in ("--exclude", name)]
        output = job.resources.enter_context(log.open("w"))
        job.proc = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, preexec_fn=lowered(NICENESS),
                                    env={**os.environ, "RAGWAY_GATEWAY_URL": url, "RAGWAY_API_KEY": client.api_key})
        job.job_id = _created_job(client, job)
        BACKGROUND_JOBS.add(job.job_id)
    except Exception as exc:  # noqa: BLE001 - reported by the test that owns the job
        job.error = f"the background ingest did not start: {exc!r}\n{job.output()[-3000:]}"
    return job


def _created_job(client: GatewayClient, job: BackgroundIngest, timeout_s: float = 300) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        mine = [j["job_id"] for j in client.jobs(limit=20) if j["kb"] == job.kb]
        if mine:
            return mine[0]
        if job.proc.poll() is not None:
            raise RuntimeError(f"ragway ingest exited with {job.proc.returncode} before its job was created")
        time.sleep(0.5)
    raise TimeoutError(f"no job for kb {job.kb} after {timeout_s:.0f} s")
