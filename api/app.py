"""The FastAPI gateway: `uvicorn api.app:app`."""

from __future__ import annotations

import asyncio
import time
import uuid

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.errors import error_body, install_error_handlers
from api.limits import BodySizeLimit
from api.metrics import REQUEST_SECONDS, register_ingest_metrics
from api.routes import router
from api.services import get_services
from ragway import logs
from ragway.logs import configure_logging
from ragway.settings import get_settings


def create_app() -> FastAPI:
    settings = get_settings()
    configure_logging(settings.log_level, service="gateway")
    app = FastAPI(
        title="Ragway",
        version="0.2.0",
        description="Enterprise retrieval: upload documents to knowledge bases, search them, ask questions "
                    "answered with citations, and chat through an OpenAI-compatible API. Every endpoint but "
                    "the health checks needs an API key: `Authorization: Bearer rgw_...`.",
    )
    install_error_handlers(app)
    app.include_router(router)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    register_ingest_metrics(get_services())
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)

    @app.middleware("http")
    async def _request_context(request: Request, call_next):
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        token = logs.start_request(rid)
        start = time.perf_counter()
        status = 500
        try:
            try:
                # Until the response starts; a stream may then run longer.
                response = await asyncio.wait_for(call_next(request), settings.request_timeout_s)
            except TimeoutError:
                response = JSONResponse(error_body("timeout", f"the request took longer than "
                                                   f"{settings.request_timeout_s:.0f} s; retry, or narrow it"),
                                        status_code=504)
            status = response.status_code
            response.headers["x-request-id"] = rid
            return response
        finally:
            route = request.scope.get("route")
            REQUEST_SECONDS.labels(request.method, getattr(route, "path", "unmatched"), str(status)).observe(
                time.perf_counter() - start)
            logs.request_context.reset(token)

    return app


app = create_app()
