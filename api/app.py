"""The FastAPI gateway: `uvicorn api.app:app`."""

from __future__ import annotations

import logging
import threading
from functools import partial

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.console import mount_console
from api.deps import authorize
from api.errors import install_error_handlers
from api.limits import BodyGuard
from api.metrics import register_ingest_metrics
from api.middleware import RequestContext
from api.routes import ROUTERS
from api.services import Services
from ragway.blob_sweep import sweep_periodically
from ragway.logs import configure_logging
from ragway.settings import get_settings

log = logging.getLogger(__name__)


def create_app(services: Services | None = None) -> FastAPI:
    """The gateway over `services` (by default the real ones, from the settings)."""
    services = services or Services(get_settings())
    settings = services.settings
    configure_logging(settings.log_level, service="gateway")
    app = FastAPI(
        title="Ragway",
        version="0.2.0",
        description="Enterprise retrieval: upload documents to knowledge bases, search them, ask questions "
                    "answered with citations, and chat through an OpenAI-compatible API. Every endpoint but "
                    "the health checks needs an API key: `Authorization: Bearer rgw_...`.",
    )
    app.state.services = services
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    mount_console(app)  # the web console at /ui (api/console.py), after the API routes

    register_ingest_metrics(services)
    threading.Thread(target=_warm_up, args=(services,), name="warm-up", daemon=True).start()
    if settings.blob_sweep_interval_s > 0:
        threading.Thread(target=_sweep_blobs, args=(services,), name="blob-sweep", daemon=True).start()
    app.add_middleware(BodyGuard, max_upload_bytes=settings.max_request_bytes,
                       max_json_bytes=settings.max_json_body_bytes, authorize=partial(authorize, services))

    # Added last, so it runs first: the request id and latency cover the size check too.
    app.add_middleware(RequestContext, timeout_s=settings.request_timeout_s)

    return app


def _warm_up(services: Services) -> None:
    try:
        services.warm_up()
    except Exception:  # the first request retries and reports the cause
        log.exception("embedding model warm-up failed")


def _sweep_blobs(services: Services) -> None:
    s = services.settings
    sweep_periodically(services.blobs, services.jobs, services.redis, s.blob_sweep_interval_s,
                       s.blob_retention_s, stop=threading.Event())


app = create_app()
