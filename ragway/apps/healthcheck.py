"""Container health checks: `python -m ragway.apps.healthcheck NAME` exits 0 when the service answers.

The checks are the local stack's (`ragway.apps.stack.services`), so `ragway stack up` and
docker-compose.yml agree on what healthy means; two need a container's view:
- ingest-worker pings this container's own Celery node (`ragway-ingest@<hostname>`), not any worker;
- flower (containers only) must accept connections on its port."""

from __future__ import annotations

import socket
import sys

from ragway.settings import Settings, get_settings


def healthy(name: str, s: Settings) -> bool:
    if name == "flower":
        try:
            socket.create_connection(("127.0.0.1", s.flower_port), timeout=3).close()
            return True
        except OSError:
            return False
    if name == "ingest-worker":
        from ingest_worker.app import celery_app

        try:
            return bool(celery_app.control.ping(destination=[f"ragway-ingest@{socket.gethostname()}"], timeout=2.0))
        except Exception:  # broker not reachable
            return False
    from ragway.apps.stack import services

    return services(s)[name].ready()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -m ragway.apps.healthcheck SERVICE")
    sys.exit(0 if healthy(args[0], get_settings()) else 1)


if __name__ == "__main__":
    main()
