"""Prometheus metrics, scraped at `/metrics`.

Request counts and latency per view come from django-prometheus's middleware
(`django_http_requests_latency_seconds_by_view_method`, ...). This module adds:

- `timebank_task_queue_depth{queue, status}`: background tasks waiting (READY)
  or in progress (RUNNING) per queue, counted from django-tasks' database table
  when the scrape happens, so it is right whichever process enqueued them;
- `timebank_websocket_connections`: open `/ws/live/` sockets in this process
  (the consumer calls `websocket_opened` / `websocket_closed`);
- `timebank_solve_seconds{kind}`: wall time of each optimizer solve, observed
  by the matching service through `observe_solve(seconds, kind)`.

Who may scrape: `/metrics` answers a request from the same machine (loopback
address and no `X-Forwarded-For`, i.e. not relayed by the reverse proxy), or one
that carries `Authorization: Bearer <METRICS_TOKEN>` when the `METRICS_TOKEN`
environment variable (or setting) is set. Anyone else gets 404, so the endpoint
does not advertise itself. The counters are per process: with several server
processes, scrape each one (or run one process per port).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
QUEUE_STATUSES = ("READY", "RUNNING")

WEBSOCKET_CONNECTIONS = Gauge(
    "timebank_websocket_connections", "Open /ws/live/ websocket connections in this process"
)
SOLVE_SECONDS = Histogram(
    "timebank_solve_seconds",
    "Wall time of one optimizer solve, by kind",
    ["kind"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)


def observe_solve(seconds: float, kind: str) -> None:
    """Record one solve's wall time; `kind` says which solve (e.g. "run", "replan")."""
    SOLVE_SECONDS.labels(kind=kind).observe(max(0.0, seconds))


def websocket_opened() -> None:
    WEBSOCKET_CONNECTIONS.inc()


def websocket_closed() -> None:
    WEBSOCKET_CONNECTIONS.dec()


class TaskQueueCollector(Collector):
    """READY and RUNNING tasks per queue, read from the task table at scrape time."""

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Registration asks for the names; without this it would run collect(),
        # and with it a query, at import time.
        yield self._family()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = self._family()
        for (queue, status), count in sorted(queue_depths().items()):
            family.add_metric([queue, status], count)
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "timebank_task_queue_depth",
            "Background tasks waiting (READY) or in progress (RUNNING), by queue",
            labels=["queue", "status"],
        )


def queue_depths() -> dict[tuple[str, str], int]:
    """(queue, status) → number of tasks, with every configured queue present."""
    from django.db.models import Count
    from django_tasks_db.models import DBTaskResult

    queues: set[str] = set()
    for backend in getattr(settings, "TASKS", {}).values():
        queues.update(backend.get("QUEUES", []))
    depths = {(queue, status): 0 for queue in queues for status in QUEUE_STATUSES}
    try:
        rows = (
            DBTaskResult.objects.filter(status__in=QUEUE_STATUSES)
            .order_by()
            .values("queue_name", "status")
            .annotate(n=Count("pk"))
            .values_list("queue_name", "status", "n")
        )
        for queue, status, n in rows:
            depths[(queue, status)] = n
    except DatabaseError:
        # The scrape must not fail with the database; the gauge just goes missing.
        return {}
    return depths


_collector = TaskQueueCollector()
REGISTRY.register(_collector)


def scrape_allowed(request: HttpRequest) -> bool:
    token = getattr(settings, "METRICS_TOKEN", "") or os.environ.get("METRICS_TOKEN", "")
    if token:
        sent = request.headers.get("Authorization", "")
        if sent.startswith("Bearer ") and hmac.compare_digest(sent[7:].strip(), token):
            return True
    local = request.META.get("REMOTE_ADDR") in LOOPBACK
    return local and "X-Forwarded-For" not in request.headers


def metrics_view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """The Prometheus text exposition of this process's registry."""
    if not scrape_allowed(request):
        raise Http404
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
