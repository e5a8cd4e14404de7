"""Social worker pages: post a need, watch coverage, verify hours, see candidates."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from matching.models import Assignment, Need
from matching.services.attendance import assignment_check_in, assignment_check_out
from matching.services.signups import signup_create
from timebank.ledger.selectors import ledger_summary

pytestmark = pytest.mark.django_db


def _client(member) -> Client:
    c = Client()
    c.force_login(member)
    return c


def _local(hours: float) -> str:
    when = timezone.localtime(timezone.now() + dt.timedelta(hours=hours))
    return when.strftime("%Y-%m-%dT%H:%M")


def _post_need(c: Client, people, **over):
    body = {
        "title": "周末社区清洁",
        "category": "cleanup",
        "priority": "5",
        "address": "香蜜公园东门",
        "lat": "22.55",
        "lon": "114.05",
        "skills": "",
        "languages": "",
        "description": "",
        "start": _local(48),
        "end": _local(50),
        "headcount": "3",
        "weeks": "2",
        "community": people.community.id,
    }
    body.update(over)
    return c.post("/staff/needs", body)


def test_post_need_with_weekly_recurrence(people):
    c = _client(people.alice)
    assert c.get("/staff/needs").status_code == 200
    r = _post_need(c, people)
    assert r.status_code == 302, r.content.decode()[:3000]
    need = Need.objects.get(title="周末社区清洁")
    assert need.shifts.count() == 2
    assert "周末社区清洁" in c.get("/staff/needs").content.decode()


def test_post_need_errors_are_inline(people):
    c = _client(people.alice)
    r = _post_need(c, people, end=_local(47))
    assert r.status_code == 200 and 'role="alert"' in r.content.decode()
    r = _post_need(c, people, lat="95")
    assert r.status_code == 200
    assert not Need.objects.exists()


def test_volunteers_cannot_open_staff_pages(people):
    c = _client(people.bob)
    for path in ["/staff/needs", "/staff/coverage", "/staff/verify"]:
        assert c.get(path).status_code == 403


def test_coverage_verify_and_candidates(people):
    c = _client(people.alice)
    _post_need(c, people, start=_local(0.05), end=_local(1), weeks="1")
    shift = Need.objects.get().shifts.get()
    a, _ = signup_create(volunteer=people.bob, shift_id=shift.id)
    page = c.get("/staff/coverage").content.decode()
    assert "1 / 3" in page
    assert c.get(f"/staff/shifts/{shift.id}/candidates").status_code == 200
    assignment_check_in(actor=people.alice, assignment=a, token=None)
    assignment_check_out(actor=people.alice, assignment=a, token=None)
    assert "王志愿" in c.get("/staff/verify").content.decode()
    r = c.post(f"/staff/verify/{a.id}", {"minutes": "60", "reason": "现场确认"})
    assert r.status_code == 302
    a.refresh_from_db()
    assert a.status == "verified" and a.verified_minutes == 60
    assert ledger_summary(member=people.bob).balance_minutes == 60
    # Verifying again credits nothing more.
    c.post(f"/staff/verify/{a.id}", {"minutes": "60"})
    assert ledger_summary(member=people.bob).balance_minutes == 60
    assert Assignment.objects.get(pk=a.pk).transfer_id is not None


def test_dashboard_shows_rates_and_density(people):
    c = _client(people.alice)
    _post_need(c, people, start=_local(0.05), end=_local(1), weeks="1")
    shift = Need.objects.get().shifts.get()
    a, _ = signup_create(volunteer=people.bob, shift_id=shift.id)
    assignment_check_in(actor=people.alice, assignment=a, token=None)
    assignment_check_out(actor=people.alice, assignment=a, token=None)
    c.post(f"/staff/verify/{a.id}", {"minutes": "45"})
    page = c.get("/staff/dashboard").content.decode()
    assert "<svg" in page
    # One need, responded to and resolved: both rates are 100 %.
    assert page.count("100%") >= 2
    assert "1 / 1" in page
    assert _client(people.bob).get("/staff/dashboard").status_code == 403


def test_run_matching_and_apply_from_the_page(people, django_capture_on_commit_callbacks):
    """Start a run, let the worker solve it (the task runs here in-process), review the
    proposals and apply them: the volunteer is confirmed."""
    from django_tasks_db.models import DBTaskResult

    from matching.models import MatchingRun
    from matching.services.runs import run_execute

    c = _client(people.alice)
    _post_need(c, people, start=_local(30), end=_local(32), weeks="1", headcount="1")
    c2 = _client(people.bob)
    c2.post(
        "/v/profile",
        {
            "skills": "",
            "travel_radius_km": "5",
            "weekly_limit_minutes": "600",
            "availability_text": "",
        },
    )
    with django_capture_on_commit_callbacks(execute=True):
        r = c.post(
            "/staff/runs",
            {
                "start": _local(1),
                "end": _local(72),
                "time_limit_s": "5",
                "community": people.community.id,
            },
        )
    assert r.status_code == 302
    run = MatchingRun.objects.get()
    assert DBTaskResult.objects.filter(task_path__endswith="solve_run").exists()
    run_execute(run_id=run.id)
    page = c.get(f"/staff/runs/{run.id}").content.decode()
    assert "王志愿" in page
    r = c.post(f"/staff/runs/{run.id}/apply", {"which": "all"})
    assert r.status_code == 302
    assert Assignment.objects.filter(volunteer=people.bob, status="confirmed").exists()
    bad = c.post(
        "/staff/runs",
        {
            "start": _local(10),
            "end": _local(5),
            "time_limit_s": "5",
            "community": people.community.id,
        },
    )
    assert bad.status_code == 200 and 'role="alert"' in bad.content.decode()
