"""Per-request context as plain ASGI middleware (Starlette's `BaseHTTPMiddleware` adds a task and
memory streams to every request): a request id for the logs and the response, the latency
histogram, a `Server-Timing` header (ragway/timing.py), and a timeout until the response starts
(a stream may then run longer)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from api.errors import send_json_error
from api.metrics import REQUEST_SECONDS
from ragway import logs, timing
from ragway.errors import RagwayError, Timeout

log = logging.getLogger(__name__)


class RequestContext:
    def __init__(self, app, timeout_s: float):
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        rid = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")[:128] or uuid.uuid4().hex
        token = logs.start_request(rid)
        phases = timing.start_request()
        started = time.perf_counter()
        status, response_started = 500, False
        deadline: asyncio.Timeout | None = None

        async def send_with_id(message):
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode("latin-1")),
                                      (b"server-timing", timing.server_timing(time.perf_counter() - started))]
                if deadline is not None and not deadline.expired():
                    deadline.reschedule(None)  # the response has started: no timeout from here on
            await send(message)

        try:
            try:
                async with asyncio.timeout(self.timeout_s) as deadline:
                    await self.app(scope, receive, send_with_id)
            except TimeoutError:
                if response_started:  # nothing sensible left to send
                    raise
                await send_json_error(send_with_id, Timeout(f"the request took longer than {self.timeout_s:.0f} s; "
                                                            "retry, or narrow it"))
            except Exception:
                # Logged here, where the request id is still set (Starlette's outermost handler runs after).
                log.exception("unhandled error")
                if response_started:
                    raise
                await send_json_error(send_with_id, RagwayError(f"internal error; see the gateway log (request id "
                                                                f"{rid})"))
        finally:
            route = scope.get("route")
            REQUEST_SECONDS.labels(scope["method"], getattr(route, "path", "unmatched"), str(status)).observe(
                time.perf_counter() - started)
            logs.request_context.reset(token)
            timing.end_request(phases)
