"""The web console: static files (api/console/) served at `/ui`, with strict security headers.

The console is one more client of the public API (it sends the same `Authorization: Bearer` key as
any other), so it adds no way around keys, roles or tenants. Its pages hold no inline script or
style, so the Content-Security-Policy allows only this origin's files; Trusted Types are required
with no policy, so the browser itself refuses any string assigned as HTML (document text is only
ever set as text)."""

from __future__ import annotations

import logging
import mimetypes
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse
from starlette.staticfiles import StaticFiles

log = logging.getLogger(__name__)
CONSOLE_DIR = Path(__file__).with_name("console")
# Module scripts need a JavaScript type (and nosniff forbids guessing); a host's /etc/mime.types
# must not turn .js into something else.
mimetypes.add_type("text/javascript", ".js")
PREFIX = "/ui"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
    "require-trusted-types-for 'script'; trusted-types 'none'"
)
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
    (b"cache-control", b"no-cache"),  # revalidate: a new gateway version serves its own console at once
]


class ConsoleFiles:
    """StaticFiles for the console with the security headers on every response (404s included)."""

    def __init__(self, directory: Path = CONSOLE_DIR):
        self.files = StaticFiles(directory=directory, html=True)

    async def __call__(self, scope, receive, send):
        async def send_secured(message):
            if message["type"] == "http.response.start":
                names = {name for name, _ in SECURITY_HEADERS}
                message["headers"] = [*(h for h in message.get("headers", []) if h[0].lower() not in names),
                                      *SECURITY_HEADERS]
            await send(message)

        try:
            await self.files(scope, receive, send_secured)
        except HTTPException as exc:  # not found, method not allowed: answered here, with the headers
            await PlainTextResponse(str(exc.detail), exc.status_code, headers=exc.headers)(scope, receive, send_secured)


def mount_console(app) -> None:
    if not (CONSOLE_DIR / "index.html").is_file():  # an install without the package data: the API still runs
        log.error("the web console's files are missing from %s: /ui is not served", CONSOLE_DIR)
        return
    app.mount(PREFIX, ConsoleFiles(), name="console")
