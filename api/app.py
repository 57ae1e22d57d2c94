"""The FastAPI gateway: `uvicorn api.app:app`."""

from __future__ import annotations

import time
import uuid

from fastapi import FastAPI, Request
from prometheus_client import Histogram, make_asgi_app

from api.errors import install_error_handlers
from api.routes import router
from ragway.logs import configure_logging, request_id
from ragway.settings import get_settings

REQUEST_SECONDS = Histogram("ragway_http_request_seconds", "Gateway request latency",
                            ["method", "route", "status"])


def create_app() -> FastAPI:
    settings = get_settings()
    configure_logging(settings.log_level, service="gateway")
    app = FastAPI(
        title="Ragway",
        version="0.1.0",
        description="Enterprise retrieval: upload documents to knowledge bases, search them, and ask "
                    "questions answered with citations.",
    )
    install_error_handlers(app)
    app.include_router(router)
    app.mount("/metrics", make_asgi_app())

    @app.middleware("http")
    async def _request_context(request: Request, call_next):
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        token = request_id.set(rid)
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            response.headers["x-request-id"] = rid
            return response
        finally:
            route = request.scope.get("route")
            REQUEST_SECONDS.labels(request.method, getattr(route, "path", "unmatched"), str(status)).observe(
                time.perf_counter() - start)
            request_id.reset(token)

    return app


app = create_app()
