"""`/metrics`: Prometheus text with request latency, task queue depth, websocket
connections and solve times; only for the same machine or with the token."""

from __future__ import annotations

import re
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from matching.tasks import solve_run
from tests.factories import CommunityFactory, member_with_roles
from timebank import metrics
from timebank.asgi import application
from timebank.auth import token_issue


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in the exposition text, or None."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(match.group(3))
    return None


def scrape(client: Client, **extra: Any) -> str:
    r = client.get("/metrics", **extra)
    assert r.status_code == 200, r.status_code
    assert r["Content-Type"].startswith("text/plain")
    return r.content.decode()


@pytest.mark.django_db
def test_scrape_names_every_metric(client: Client) -> None:
    client.get("/api/v1/spaces")  # one request through the middleware
    text = scrape(client)
    for name in (
        "django_http_requests_latency_seconds_by_view_method_bucket",
        "django_http_requests_total_by_method_total",
        "timebank_task_queue_depth",
        "timebank_websocket_connections",
        "timebank_solve_seconds",
    ):
        assert f"\n{name}" in text or f"# TYPE {name}" in text, name
    assert sample(text, "django_http_requests_latency_seconds_by_view_method_count") is not None


@pytest.mark.django_db
def test_queue_depth_counts_waiting_tasks(client: Client) -> None:
    before = sample(scrape(client), "timebank_task_queue_depth", queue="matching", status="READY")
    assert before == 0.0
    solve_run.enqueue(run_id=987654)
    solve_run.enqueue(run_id=987655)
    text = scrape(client)
    assert sample(text, "timebank_task_queue_depth", queue="matching", status="READY") == 2.0
    assert sample(text, "timebank_task_queue_depth", queue="default", status="READY") == 0.0
    assert sample(text, "timebank_task_queue_depth", queue="matching", status="RUNNING") == 0.0


@pytest.mark.django_db
def test_solve_times_are_a_histogram(client: Client) -> None:
    before = sample(scrape(client), "timebank_solve_seconds_count", kind="authz-test") or 0.0
    metrics.observe_solve(1.5, "authz-test")
    metrics.observe_solve(0.2, "authz-test")
    text = scrape(client)
    assert sample(text, "timebank_solve_seconds_count", kind="authz-test") == before + 2
    assert sample(text, "timebank_solve_seconds_bucket", kind="authz-test", le="1.0") == before + 1


@pytest.mark.django_db
def test_only_the_same_machine_or_the_token_may_scrape(client: Client, settings: Any) -> None:
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 404
    # Relayed by the reverse proxy: the loopback address is the proxy's, not the caller's.
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 404
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    far = "203.0.113.9"
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong", REMOTE_ADDR=far)
    assert wrong.status_code == 404
    scrape(client, HTTP_AUTHORIZATION="Bearer s3cret-scrape-token", REMOTE_ADDR=far)


@database_sync_to_async
def _token() -> str:
    c = CommunityFactory()
    return token_issue(member=member_with_roles(c, "volunteer"))[0]


def _gauge() -> float:
    value = metrics.WEBSOCKET_CONNECTIONS._value.get()
    return float(value)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_websocket_connections_go_up_and_down() -> None:
    token = await _token()
    start = _gauge()
    comm = WebsocketCommunicator(application, f"/ws/live/?token={token}")
    connected, _ = await comm.connect()
    assert connected
    assert (await comm.receive_json_from(timeout=5))["type"] == "hello"
    assert _gauge() == start + 1
    await comm.disconnect()
    assert _gauge() == start
    # A refused socket (bad token) is never counted.
    bad = WebsocketCommunicator(application, "/ws/live/?token=nope")
    await bad.connect()
    assert (await bad.receive_output(timeout=5))["code"] == 4401
    await bad.disconnect()
    assert _gauge() == start
