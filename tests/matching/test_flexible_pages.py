"""The staff need form's flexible option (#9): window, duration, step, spaces, participants."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from matching.models import Shift
from resources.services import space_create

pytestmark = pytest.mark.django_db


def _local(hours: float) -> str:
    when = timezone.localtime(timezone.now() + dt.timedelta(hours=hours))
    return when.strftime("%Y-%m-%dT%H:%M")


def _body(people, **over):
    body = {
        "title": "四点半课堂",
        "category": "tutoring",
        "priority": "3",
        "address": "香蜜社区党群服务中心",
        "lat": "22.541",
        "lon": "114.059",
        "skills": "",
        "languages": "",
        "description": "",
        "start": _local(48),
        "end": _local(54),
        "headcount": "2",
        "weeks": "1",
        "community": people.community.id,
        "flexible": "on",
        "duration_min": "90",
        "step_min": "30",
        "participants": "12",
    }
    body.update(over)
    return body


@pytest.fixture
def rooms(people):
    return [
        space_create(
            actor=people.dave,
            community=people.community,
            name=name,
            kind="room",
            mode="exclusive",
            capacity=capacity,
            lat=22.541,
            lon=114.059,
        )
        for name, capacity in (("大活动室", 20), ("小活动室", 6))
    ]


def test_the_form_posts_a_flexible_shift_with_spaces(people, rooms):
    c = Client()
    c.force_login(people.alice)
    page = c.get("/staff/needs").content.decode()
    # Every new control has a label; the spaces are a labelled checkbox group.
    assert 'for="id_duration_min"' in page and 'for="id_step_min"' in page
    assert "<legend>" in page and "大活动室（20 人）" in page
    r = c.post("/staff/needs", {**_body(people), "spaces": [rooms[0].pk, rooms[1].pk]})
    assert r.status_code == 302, r.content.decode()[:2000]
    shift = Shift.objects.get(need__title="四点半课堂")
    assert shift.is_flexible and shift.placed_at is None
    assert (shift.duration_min, shift.step_min, shift.participants) == (90, 30, 12)
    assert sorted(shift.space_ids) == sorted([rooms[0].pk, rooms[1].pk])
    assert shift.end - shift.start == dt.timedelta(minutes=90)


def test_bad_flexible_input_is_shown_on_the_form(people, rooms):
    c = Client()
    c.force_login(people.alice)
    r = c.post("/staff/needs", _body(people, end=_local(49)))  # 1 h window, 90 min
    assert r.status_code == 200
    assert 'role="alert"' in r.content.decode()
    r = c.post("/staff/needs", {**_body(people, participants="30"), "spaces": [rooms[1].pk]})
    assert r.status_code == 200 and 'role="alert"' in r.content.decode()
    r = c.post("/staff/needs", _body(people, duration_min=""))
    assert r.status_code == 200 and 'role="alert"' in r.content.decode()
    assert not Shift.objects.exists()
