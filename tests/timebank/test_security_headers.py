"""Security headers, structured logs and health."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client

from timebank.logs import JsonFormatter

pytestmark = pytest.mark.django_db


def test_pages_carry_a_strict_csp():
    r = Client().get("/")
    csp = r["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert r["X-Frame-Options"] == "DENY"
    assert r["X-Content-Type-Options"] == "nosniff"


def test_api_docs_keep_their_inline_swagger_script():
    assert "Content-Security-Policy" not in Client().get("/api/docs")


def test_json_log_lines():
    record = logging.makeLogRecord(
        {"name": "timebank", "levelname": "INFO", "msg": "预约 %s", "args": (7,)}
    )
    record.request_id = "abc"
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "预约 7" and line["request_id"] == "abc" and line["level"] == "INFO"


def test_healthz_reports_the_database():
    r = Client().get("/healthz")
    assert r.status_code == 200
    assert r.json()["database"] in {"sqlite", "postgresql"}


def test_healthz_is_503_when_no_worker_takes_tasks():
    from datetime import timedelta

    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    from matching.tasks import __name__ as _tasks_module  # noqa: F401 - tasks are registered

    DBTaskResult.objects.create(
        args_kwargs={"args": [], "kwargs": {}},
        task_path="matching.tasks.missing",
        queue_name="default",
        backend_name="default",
        run_after=timezone.now() - timedelta(minutes=10),
    )
    DBTaskResult.objects.update(enqueued_at=timezone.now() - timedelta(minutes=10))
    r = Client().get("/healthz")
    assert r.status_code == 503
    assert r.json()["queue_lag_s"] >= 590
