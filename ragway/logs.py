"""Structured JSON logs; the gateway adds the request id, tenant and API key id (never the key)
to every line of a request."""

from __future__ import annotations

import contextvars
import logging
import sys

from pythonjsonlogger.json import JsonFormatter

# One mutable dict per request, set by the gateway's middleware. Dependencies that learn the tenant
# and key id run in worker threads with a *copy* of the context, so they fill in this shared dict
# rather than setting context variables of their own.
request_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("request_context",
                                                                                      default=None)


def start_request(request_id: str) -> contextvars.Token:
    return request_context.set({"request_id": request_id})


def set_caller(tenant: str, key_id: str) -> None:
    context = request_context.get()
    if context is not None:
        context.update(tenant=tenant, key_id=key_id)


class _ContextFilter(logging.Filter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        context = request_context.get() or {}
        record.request_id = context.get("request_id", "")
        record.tenant = context.get("tenant", "")
        record.key_id = context.get("key_id", "")
        return True


def configure_logging(level: str = "INFO", service: str = "ragway") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(service)s %(request_id)s "
                                       "%(tenant)s %(key_id)s",
                                       rename_fields={"levelname": "level", "asctime": "time"}))
    handler.addFilter(_ContextFilter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
