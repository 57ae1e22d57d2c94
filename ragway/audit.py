"""Audit trail of changes to keys, knowledge bases and documents.

Each event goes to the `ragway.audit` logger (JSON lines, for the log pipeline) and to a capped
Redis stream per tenant (`ragway:audit:<tenant>`), which admins read through GET /v1/audit."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import redis

from ragway import redis_keys
from ragway.redis_client import redis_errors

MAX_EVENTS_PER_TENANT = 100_000
log = logging.getLogger("ragway.audit")


class AuditLog:
    def __init__(self, client: redis.Redis):
        self.r = client

    def record(self, tenant: str, actor: str, action: str, target: str, **details: Any) -> None:
        event = {"time": time.time(), "tenant": tenant, "actor": actor, "action": action, "target": target,
                 "details": details}
        log.info("audit %s %s", action, target, extra={"audit": event})
        with redis_errors():
            self.r.xadd(redis_keys.audit_log(tenant), {"event": json.dumps(event, ensure_ascii=False)},
                        maxlen=MAX_EVENTS_PER_TENANT, approximate=True)

    def recent(self, tenant: str, limit: int = 100) -> list[dict[str, Any]]:
        with redis_errors():
            rows = self.r.xrevrange(redis_keys.audit_log(tenant), count=limit)
        return [json.loads(fields["event"]) for _, fields in rows]
