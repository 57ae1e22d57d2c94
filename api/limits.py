"""Request bodies as ASGI middleware: the API key is checked before an upload's first byte is read,
and every body is read within a limit (uploads: `max_request_bytes`; JSON: the much smaller
`max_json_body_bytes`), refused before reading when Content-Length says so and cut off while
streaming when a chunked body grows past it.

The caller established here is kept in the request's scope, so the route's dependency
(api/deps.py) does not check the key a second time. Searches are left to their dependency: it
checks the key alongside the search (`AuthorizedAhead`), and their JSON body is small."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from api.errors import send_json_error
from ragway.auth import Caller, Role
from ragway.errors import PayloadTooLarge, RagwayError

BODYLESS = {"GET", "HEAD", "OPTIONS", "DELETE"}
CHECKED_ALONGSIDE = {"/v1/search"}
SCOPE_CALLER = "ragway.caller"

Authorize = Callable[[str | None, Role], Awaitable[Caller]]


def bearer_token(headers: dict[bytes, bytes]) -> str | None:
    scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class BodyGuard:
    def __init__(self, app, max_upload_bytes: int, max_json_bytes: int, authorize: Authorize):
        self.app = app
        self.max_upload_bytes = max_upload_bytes
        self.max_json_bytes = max_json_bytes
        self.authorize = authorize

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in BODYLESS:
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        upload = headers.get(b"content-type", b"").lower().startswith(b"multipart/")
        limit = self.max_upload_bytes if upload else self.max_json_bytes
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            return await send_json_error(send, PayloadTooLarge(self._message(limit, upload)))
        if upload or scope["path"] not in CHECKED_ALONGSIDE:
            try:
                caller = await self.authorize(bearer_token(headers), Role.writer if upload else Role.reader)
            except RagwayError as exc:
                return await send_json_error(send, exc)
            scope.setdefault("state", {})[SCOPE_CALLER] = caller
        return await self.app(scope, self._counting(receive, limit, upload), send)

    def _counting(self, receive, limit: int, upload: bool):
        seen = 0

        async def counting_receive():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise PayloadTooLarge(self._message(limit, upload))
            return message

        return counting_receive

    @staticmethod
    def _message(limit: int, upload: bool) -> str:
        if upload:
            return (f"the request is larger than {limit // (1024 * 1024)} MiB; send the files in several "
                    "requests to one job (POST /v1/jobs, then /v1/jobs/{id}/files) or use `ragway ingest`")
        return f"the request body is larger than {limit // 1024} KiB"
