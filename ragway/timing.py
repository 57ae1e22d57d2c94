"""Where a request's time goes: named phases (auth, embed, milvus, bm25, llm) summed per request
and sent back in a `Server-Timing` header (browsers' dev tools and `curl -i` show it), so an
operator can tell a slow embedding from a slow Milvus without a profiler. The ingest workers sum
theirs (check, parse, ocr, split, embed, write) per job with `collect`. Elsewhere (`ragway eval`)
`phase` does nothing."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Iterator
from contextlib import contextmanager

# One mutable dict per request, set by the gateway's middleware: worker threads get a copy of the
# context, which still points at this same dict.
_phases: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar("phases", default=None)


def start_request() -> contextvars.Token:
    return _phases.set({})


def end_request(token: contextvars.Token) -> None:
    _phases.reset(token)


@contextmanager
def phase(name: str) -> Iterator[None]:
    phases = _phases.get()
    if phases is None:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        phases[name] = phases.get(name, 0.0) + time.perf_counter() - started


@contextmanager
def collect() -> Iterator[dict[str, float]]:
    """Phases timed outside a request (an ingest batch, a benchmark): the dict fills as they run."""
    token = _phases.set({})
    try:
        yield _phases.get()
    finally:
        _phases.reset(token)


def server_timing(total_s: float) -> bytes:
    """The header value: each phase so far, and the time since the request arrived."""
    phases = _phases.get() or {}
    parts = [f"{name};dur={seconds * 1000:.1f}" for name, seconds in phases.items()]
    parts.append(f"total;dur={total_s * 1000:.1f}")
    return ", ".join(parts).encode("latin-1")
