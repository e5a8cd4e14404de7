"""The secret iCalendar feed, the inbox, reminders and candidates."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.test import override_settings
from django.utils import timezone

from matching.calendar import escape_text, fold
from matching.models import Assignment, Notification
from matching.tasks import send_reminder
from tests.conftest import problem

pytestmark = pytest.mark.django_db


def test_ics_feed_behind_a_secret_url(api, people, post):
    shift_id = post.shift(title="助老, 探访; 第一次\n带水果")
    api.post(f"/shifts/{shift_id}/signups", as_=people.bob)
    url = api.get("/volunteers/me/calendar", as_=people.bob).json()["url"]
    assert url.startswith("http://testserver/api/v1/calendar/")
    r = api.client.get(url)
    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/calendar")
    text = r.content.decode()
    assert text.startswith("BEGIN:VCALENDAR\r\n")
    assert text.endswith("END:VCALENDAR\r\n")
    assert "\n" not in text.replace("\r\n", "")
    assert "SUMMARY:助老\\, 探访\\; 第一次\\n带水果\r\n" in text
    assert text.count("BEGIN:VEVENT") == 1
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    new = api.post("/volunteers/me/calendar/rotate", as_=people.bob).json()["url"]
    assert api.client.get(url).status_code == 404
    assert api.client.get(new).status_code == 200


def test_rfc5545_folding_keeps_characters_whole():
    line = "DESCRIPTION:" + "长" * 60
    folded = fold(line)
    parts = folded.split("\r\n")
    assert all(len(p.encode()) <= 75 for p in parts)
    assert "".join(p[1:] if i else p for i, p in enumerate(parts)) == line
    assert escape_text("a\\b") == "a\\\\b"


def test_cancellation_by_staff_and_offers_reach_the_inbox(api, people, post):
    shift_id = post.shift(headcount=1)
    v2 = post.volunteer()
    aid = api.post(f"/shifts/{shift_id}/signups", as_=people.bob).json()["assignment"]["id"]
    api.post(f"/shifts/{shift_id}/signups", as_=v2)
    api.post(f"/assignments/{aid}/cancel", {"reason": "人手调整"}, as_=people.alice)
    bob_inbox = api.get("/notifications", as_=people.bob).json()["items"]
    assert [n["kind"] for n in bob_inbox] == ["assignment.cancelled"]
    v2_inbox = api.get("/notifications", as_=v2).json()["items"]
    assert [n["kind"] for n in v2_inbox] == ["assignment.offered"]
    nid = v2_inbox[0]["id"]
    assert api.post(f"/notifications/{nid}/read", as_=v2).status_code == 204
    assert api.get("/notifications", as_=v2).json()["items"][0]["read"] is True
    assert api.post(f"/notifications/{nid}/read", as_=people.bob).status_code == 404


def test_reminders_are_scheduled_and_sent_once(
    api, people, post, django_capture_on_commit_callbacks
):
    from django_tasks_db.models import DBTaskResult

    shift_id = post.shift(start=48)
    api.put("/volunteers/me", {"notify_email": "bob@example.org"}, as_=people.bob)
    with django_capture_on_commit_callbacks(execute=True):
        aid = api.post(f"/shifts/{shift_id}/signups", as_=people.bob).json()["assignment"]["id"]
    due = DBTaskResult.objects.filter(task_path="matching.tasks.send_reminder")
    assert sorted(r.args_kwargs["kwargs"]["hours"] for r in due) == [2, 24]
    a = Assignment.objects.get(pk=aid)
    start = timezone.localtime(a.start).isoformat()
    with django_capture_on_commit_callbacks(execute=True):
        assert send_reminder.call(assignment_id=aid, hours=24, start=start) is True
        send_reminder.call(assignment_id=aid, hours=24, start=start)
    assert Notification.objects.filter(member=people.bob, kind="assignment.reminder").count() == 1
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["bob@example.org"]
    # a moved or cancelled shift gets no stale reminder
    assert (
        send_reminder.call(assignment_id=aid, hours=2, start="2000-01-01T00:00:00+08:00") is False
    )


@override_settings(NOTIFICATION_BACKENDS=["matching.notifications.SmsBackend"])
def test_sms_backend_says_it_has_no_provider(people, django_capture_on_commit_callbacks):
    """Listing the SMS backend without a provider fails loudly, not silently."""
    from django.core.exceptions import ImproperlyConfigured

    from matching.notifications import notify

    with (
        pytest.raises(ImproperlyConfigured, match="no SMS provider"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        notify(member_id=people.bob.id, kind="x", title="t")


def test_candidates_rank_nearby_qualified_volunteers(api, people, post):
    shift_id = post.shift(skills=["first_aid"])
    near = post.volunteer(name="近", home_lat=22.5412, home_lon=114.0592)
    far = post.volunteer(name="远", home_lat=22.5600, home_lon=114.0590)
    unskilled = post.volunteer(name="无技能", home_lat=22.5411, home_lon=114.0591)
    for v in (near, far):
        api.put("/volunteers/me", {"skills": [{"name": "first_aid"}]}, as_=v)
    api.get("/volunteers/me", as_=unskilled)
    r = api.get(f"/shifts/{shift_id}/candidates?k=5", as_=people.alice)
    assert r.status_code == 200, r.content
    ranked = r.json()
    assert [c["volunteer"] for c in ranked] == [near.id, far.id]
    assert any("距离" in reason for reason in ranked[0]["reasons"])
    assert api.get(f"/shifts/{shift_id}/candidates", as_=people.bob).status_code == 403
    assert (
        problem(api.get(f"/shifts/{shift_id}/candidates?k=0", as_=people.alice))["code"]
        == "invalid_k"
    )


def test_busy_volunteers_are_not_candidates(api, people, post):
    a = post.shift(start=48)
    b = post.shift(start=48)
    api.put("/volunteers/me", {"home": {"lat": 22.541, "lon": 114.059}}, as_=people.bob)
    api.post(f"/shifts/{a}/signups", as_=people.bob)
    ids = [c["volunteer"] for c in api.get(f"/shifts/{b}/candidates", as_=people.alice).json()]
    assert people.bob.id not in ids
    with time_machine.travel(timezone.now() + dt.timedelta(days=30)):
        assert api.get(f"/shifts/{b}/candidates", as_=people.alice).status_code == 200
