"""Prometheus metrics of the gateway. Ingest totals and queue depth are read from Redis at scrape
time, so every gateway replica reports the same cluster-wide numbers (workers need no endpoint)."""

from __future__ import annotations

import logging

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

log = logging.getLogger(__name__)

REQUEST_SECONDS = Histogram("ragway_http_request_seconds", "Gateway request latency", ["method", "route", "status"])
SEARCH_AHEAD = Counter("ragway_search_ahead", "Searches started while their API key was being checked "
                       "(api/deps.py), by outcome: released, discarded (the check failed), redone", ["outcome"])


class IngestCollector:
    def __init__(self, services):
        self.services = services

    def collect(self):
        try:
            stats = self.services.jobs.stats()
            queued = self.services.redis.llen(self.services.settings.ingest_queue)
            unacked = self.services.redis.hlen("unacked")
        except Exception as exc:  # a scrape must not fail because Redis is down; /readyz reports that
            log.warning("ingest metrics unavailable: %s", exc)
            return
        yield CounterMetricFamily("ragway_ingest_jobs", "Ingest jobs created", value=stats.get("jobs", 0))
        yield CounterMetricFamily("ragway_ingest_chunks", "Chunks written by ingest workers",
                                  value=stats.get("chunks", 0))
        files = CounterMetricFamily("ragway_ingest_files", "Files that finished ingesting, by outcome",
                                    labels=["status"])
        for status in ("done", "failed", "cancelled"):
            files.add_metric([status], stats.get(f"files_{status}", 0))
        yield files
        depth = GaugeMetricFamily("ragway_ingest_queue_depth", "Ingest tasks (batches of files) by state",
                                  labels=["state"])
        depth.add_metric(["waiting"], queued)
        depth.add_metric(["running"], unacked)
        yield depth


_registered = False


def register_ingest_metrics(services) -> None:
    global _registered
    if not _registered:
        REGISTRY.register(IngestCollector(services))
        _registered = True
