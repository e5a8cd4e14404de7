"""Volunteer pages: every page renders, sign-up, cancel, check-in, profile and hours
go through the same services as the API, and bad input shows inline, never a 500."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from matching.models import Assignment
from matching.services.attendance import shift_qr_token
from matching.services.needs import ShiftSpec, need_post
from timebank.people.models import Relation

pytestmark = pytest.mark.django_db


def _client(member) -> Client:
    c = Client()
    c.force_login(member)
    return c


def _shift(people, hours_ahead: float = 48, headcount: int = 2):
    start = timezone.now().replace(microsecond=0) + dt.timedelta(hours=hours_ahead)
    need = need_post(
        actor=people.alice,
        community=people.community,
        title="陪伴独居老人",
        category="elder_care",
        priority=4,
        lat=22.551,
        lon=114.057,
        address="香蜜社区 3 栋",
        skills=[],
        languages=[],
        shifts=[ShiftSpec(start=start, end=start + dt.timedelta(hours=2), headcount=headcount)],
    )
    return need.shifts.get()


@pytest.mark.parametrize(
    "path", ["/v/", "/v/shifts", "/v/schedule", "/v/check-in", "/v/hours", "/v/profile"]
)
def test_every_volunteer_page_renders(people, path):
    _shift(people)
    r = _client(people.bob).get(path)
    assert r.status_code == 200, r.content[:500]


def test_find_sign_up_and_cancel(people):
    shift = _shift(people)
    c = _client(people.bob)
    listing = c.get("/v/shifts").content.decode()
    assert "陪伴独居老人" in listing and f'data-shift-seats="{shift.id}"' in listing
    r = c.post(f"/v/shifts/{shift.id}/signup")
    assert r.status_code == 302
    a = Assignment.objects.get(shift=shift, volunteer=people.bob)
    assert a.status == "confirmed"
    assert "陪伴独居老人" in c.get("/v/").content.decode()
    # A second sign-up is refused with a message, not an error page.
    follow = c.post(f"/v/shifts/{shift.id}/signup", follow=True)
    assert follow.status_code == 200
    assert "已报名" in follow.content.decode()
    c.post(f"/v/assignments/{a.id}/cancel", {"reason": "临时有事"})
    a.refresh_from_db()
    assert a.status == "cancelled" and a.cancel_reason == "临时有事"


def test_check_in_with_wrong_code_is_inline(people):
    shift = _shift(people, hours_ahead=0.1)
    c = _client(people.bob)
    c.post(f"/v/shifts/{shift.id}/signup")
    a = Assignment.objects.get(shift=shift, volunteer=people.bob)
    r = c.post("/v/check-in", {"assignment": a.id, "code": "wrong", "action": "in"})
    assert r.status_code == 200
    assert 'role="alert"' in r.content.decode()
    token, _ = shift_qr_token(actor=people.alice, shift=shift)
    r = c.post("/v/check-in", {"assignment": a.id, "code": token, "action": "in"})
    assert r.status_code == 302
    a.refresh_from_db()
    assert a.status == "checked_in"


def test_profile_week_grid_saves_windows(people):
    c = _client(people.bob)
    r = c.post(
        "/v/profile",
        {
            "skills": "first_aid, elder_care",
            "languages": ["zh", "yue"],
            "travel_radius_km": "2.5",
            "weekly_limit_minutes": "300",
            "slot-1-19:00": "1",
            "slot-5-08:00": "1",
            "availability_text": "周三 10:00-11:30",
            "unavailable_dates": "2026-12-24\n2026-12-31",
            "home_lat": "22.548",
            "home_lon": "114.061",
        },
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    page = c.get("/v/profile").content.decode()
    assert 'name="slot-1-19:00" value="1" checked' in page
    assert "first_aid" in page
    assert "2026-12-24" in page and "周三 10:00-11:30" in page
    from matching.models import VolunteerProfile

    profile = VolunteerProfile.objects.get(pk=people.bob.pk)
    assert profile.home_lat == 22.548 and profile.exceptions.count() == 2
    bad_date = c.post(
        "/v/profile",
        {"travel_radius_km": "3", "weekly_limit_minutes": "60", "unavailable_dates": "明天"},
    )
    assert bad_date.status_code == 200 and "无法识别的日期" in bad_date.content.decode()
    bad = c.post("/v/profile", {"travel_radius_km": "-3", "weekly_limit_minutes": "x"})
    assert bad.status_code == 200 and 'role="alert"' in bad.content.decode()


def test_gift_to_non_relative_is_refused_inline(people):
    c = _client(people.bob)
    r = c.post("/v/hours", {"form": "gift", "gift-to": people.carol.id, "gift-minutes": "30"})
    assert r.status_code == 200  # carol is not offered: only registered relatives are
    assert 'role="alert"' in r.content.decode()
    Relation.objects.create(
        member=people.bob, relative=people.carol, relation="parent", community=people.community
    )
    Relation.objects.create(
        member=people.carol, relative=people.bob, relation="child", community=people.community
    )
    r = c.post("/v/hours", {"form": "gift", "gift-to": people.carol.id, "gift-minutes": "30"})
    assert r.status_code == 200
    assert "余额不足" in r.content.decode()  # shown on the form, nothing written


def test_other_community_shift_is_forbidden(people):
    shift = _shift(people)
    r = _client(people.frank).get(f"/v/shifts/{shift.id}")
    assert r.status_code == 403
