"""Request size limit as ASGI middleware: refused before the body is read when Content-Length says
so, and cut off while streaming when a chunked body grows past the limit."""

from __future__ import annotations

from api.errors import send_json_error
from ragway.errors import PayloadTooLarge


class BodySizeLimit:
    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await self._refuse(send)
        seen = 0

        async def counting_receive():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise PayloadTooLarge(self._message())
            return message

        return await self.app(scope, counting_receive, send)

    def _message(self) -> str:
        return (f"the request is larger than {self.max_bytes // (1024 * 1024)} MiB; send the files in several "
                "requests to one job (POST /v1/jobs, then /v1/jobs/{id}/files) or use `ragway ingest`")

    async def _refuse(self, send) -> None:
        await send_json_error(send, 413, "payload_too_large", self._message())
