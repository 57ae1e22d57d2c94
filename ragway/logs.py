"""Structured JSON logs; the gateway adds the request id, tenant and API key id (never the key)
to every line of a request."""

from __future__ import annotations

import contextvars
import logging
import sys

from pythonjsonlogger.json import JsonFormatter

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
tenant: contextvars.ContextVar[str] = contextvars.ContextVar("tenant", default="")
key_id: contextvars.ContextVar[str] = contextvars.ContextVar("key_id", default="")


class _ContextFilter(logging.Filter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.request_id = request_id.get()
        record.tenant = tenant.get()
        record.key_id = key_id.get()
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
