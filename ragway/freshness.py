"""Read-your-writes across processes without Strong consistency's wait on every search.

Milvus stamps every write with a hybrid timestamp (physical milliseconds << 18 | a logical counter).
A search given `guarantee_timestamp = T` sees every write stamped <= T and waits only while the
query nodes have not caught up with T. Strong consistency takes "now" as T, so *every* search waits
for the next time tick (`proxy.timeTickInterval`: 200 ms by default, 20 ms in Ragway's configs).

Ragway records each kb's latest write here (in Redis, by whoever wrote: a worker's upsert, the
gateway's delete) and searches with that stamp (`search_consistency = "LastWrite"`): a finished job
is searchable at once from every gateway replica, and a kb not written within the last tick costs
no wait at all. A kb with no recorded write (written before this existed, or Redis lost its data)
is searched Strong.

Deletes carry no stamp on Milvus 2.3.5 (the server answers 0), so a delete opens a short "Strong
window" for its kb instead (`strong_after_delete_s`, a Redis key with that TTL): searches use Strong
until the query nodes have long applied the delete. Searches use the current time as their snapshot
(only the wait depends on the stamp), so once a delete is applied every later search sees it.

Redis: one sorted set per collection, member `<tenant>/<kb>`, score = the write's physical
milliseconds (exact in a double; the full stamp is not), kept with ZADD GT so the newest wins;
`ragway:kb_strong:<collection>:<tenant>/<kb>` while a window is open.

On the gateway the stamp is read ahead (`WriteMarks.reading_ahead`) on the event loop while a
worker thread embeds the query, so the read costs a search no time of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from contextvars import ContextVar

import redis
import redis.asyncio

from ragway import redis_keys
from ragway.errors import DependencyUnavailable
from ragway.redis_client import redis_errors

LOGICAL_BITS = 18  # Milvus hybrid timestamps: physical ms << 18 | logical
READ_AHEAD_WAIT_S = 30.0  # the read itself gives up sooner (Redis socket timeouts); this only
                          # keeps a thread from waiting forever on an event loop that stopped

# (collection, tenant, kb) and the stamp being read for it, for the current request (and the worker
# threads it starts: they run in a copy of its context).
_read_ahead: ContextVar[tuple[tuple[str, str, str], Future[int | None]] | None] = ContextVar(
    "ragway_read_ahead", default=None)


def physical_ms(hybrid_ts: int) -> int:
    return hybrid_ts >> LOGICAL_BITS


def covering_ts(ms: int) -> int:
    """The latest hybrid timestamp of a millisecond: at or after every write stamped in it."""
    return (ms << LOGICAL_BITS) | ((1 << LOGICAL_BITS) - 1)


class WriteMarks:
    def __init__(self, client: redis.Redis, strong_after_delete_s: float = 60.0,
                 async_client: redis.asyncio.Redis | None = None):
        """`async_client`: for `reading_ahead` (the gateway's event loop)."""
        self.r = client
        self.ar = async_client
        self.strong_after_delete_ms = int(strong_after_delete_s * 1000)

    @staticmethod
    def _key(collection: str) -> str:
        return redis_keys.kb_writes(collection)

    @staticmethod
    def _window_key(collection: str, tenant: str, kb: str) -> str:
        return redis_keys.kb_strong_window(collection, tenant, kb)

    def record(self, collection: str, kbs: set[tuple[str, str]], hybrid_ts: int) -> None:
        """After a write: its stamp, or (0: the server gave none, e.g. a delete) a Strong window."""
        if not kbs:
            return
        with redis_errors():
            if hybrid_ts > 0:
                ms = physical_ms(hybrid_ts)
                self.r.zadd(self._key(collection), {f"{tenant}/{kb}": ms for tenant, kb in kbs}, gt=True)
                return
            pipe = self.r.pipeline(transaction=False)
            for tenant, kb in kbs:
                pipe.set(self._window_key(collection, tenant, kb), 1, px=self.strong_after_delete_ms)
            pipe.execute()

    def guarantee_ts(self, collection: str, tenant: str, kb: str) -> int | None:
        """The stamp a search of this kb must see, or None: search Strong (no write recorded, or a
        delete's window is open)."""
        ahead = _read_ahead.get()
        if ahead is not None and ahead[0] == (collection, tenant, kb):
            try:
                return ahead[1].result(timeout=READ_AHEAD_WAIT_S)
            except FutureTimeout as exc:
                raise DependencyUnavailable(f"Redis gave no write stamp for kb {kb!r} within "
                                            f"{READ_AHEAD_WAIT_S:.0f} s") from exc
        with redis_errors():
            pipe = self.r.pipeline(transaction=False)
            self._queue_reads(pipe, collection, tenant, kb)
            return self._stamp(*pipe.execute())

    async def guarantee_ts_async(self, collection: str, tenant: str, kb: str) -> int | None:
        """`guarantee_ts` over the asyncio Redis client."""
        with redis_errors():
            pipe = self.ar.pipeline(transaction=False)
            self._queue_reads(pipe, collection, tenant, kb)
            return self._stamp(*await pipe.execute())

    @contextmanager
    def reading_ahead(self, collection: str, tenant: str, kb: str) -> Iterator[None]:
        """On the event loop: start reading the kb's stamp now; inside this block (and in worker
        threads started from it) `guarantee_ts` of that kb waits for this read instead of making its own."""
        loop = asyncio.get_running_loop()
        # A thread-safe future: the worker thread blocks on it, the event loop fills it meanwhile.
        future = asyncio.run_coroutine_threadsafe(self.guarantee_ts_async(collection, tenant, kb), loop)
        token = _read_ahead.set(((collection, tenant, kb), future))
        try:
            yield
        finally:
            _read_ahead.reset(token)

    def _queue_reads(self, pipe, collection: str, tenant: str, kb: str) -> None:
        pipe.zscore(self._key(collection), f"{tenant}/{kb}")
        pipe.exists(self._window_key(collection, tenant, kb))

    @staticmethod
    def _stamp(ms: float | None, window_open: int) -> int | None:
        if ms is None or window_open:
            return None
        return covering_ts(int(ms))
