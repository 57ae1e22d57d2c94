"""The one place where errors become HTTP responses, shaped as OpenAI's:
`{"error": {"message", "type", "param", "code"}}` (type and code: Ragway's stable error name)."""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ragway.errors import (
    Conflict,
    DependencyUnavailable,
    DocumentError,
    Forbidden,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RagwayError,
    RateLimited,
    Timeout,
    Unauthenticated,
)

log = logging.getLogger(__name__)


# Each error type's HTTP status (a subclass without its own entry takes its base's; the rest: 500).
HTTP_STATUS: dict[type[RagwayError], int] = {
    InvalidRequest: 400, Unauthenticated: 401, Forbidden: 403, NotFound: 404, Conflict: 409,
    PayloadTooLarge: 413, DocumentError: 422, RateLimited: 429, DependencyUnavailable: 503, Timeout: 504,
}


def http_status(exc: RagwayError) -> int:
    return next((HTTP_STATUS[kind] for kind in type(exc).__mro__ if kind in HTTP_STATUS), 500)


def error_body(code: str, message: str, param: str | None = None, **extra) -> dict:
    return {"error": {"message": message, "type": code, "param": param, "code": code, **extra}}


async def send_json_error(send, exc: RagwayError) -> None:
    """An error response straight over ASGI, for middleware that answers before (or instead of) the app."""
    body = json.dumps(error_body(exc.code, exc.message, exc.param)).encode()
    extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in error_headers(exc).items()]
    await send({"type": "http.response.start", "status": http_status(exc),
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *extra]})
    await send({"type": "http.response.body", "body": body})


def error_headers(exc: RagwayError) -> dict[str, str]:
    if isinstance(exc, RateLimited):
        return {"Retry-After": str(exc.retry_after_s)}
    if isinstance(exc, Unauthenticated):
        return {"WWW-Authenticate": "Bearer"}
    return {}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RagwayError)
    async def _ragway(_: Request, exc: RagwayError) -> JSONResponse:
        status = http_status(exc)
        if status >= 500:
            log.warning("request failed: %s", exc.message)
        return JSONResponse(error_body(exc.code, exc.message, exc.param), status_code=status,
                            headers=error_headers(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        first = details[0] if details else {"field": None, "message": ""}
        return JSONResponse(error_body("invalid_request", f"the request is not valid: {first['field']}: "
                                       f"{first['message']}", param=first["field"], details=details),
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(error_body("http_error", str(exc.detail)), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(error_body("internal_error", "internal error; see the gateway log"), status_code=500)
