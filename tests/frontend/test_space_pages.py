"""Resident and space-manager pages: browse, the week grid, reserve with the terms,
the gate pass, cancel, waitlist offers; opening rules, closures, gate, utilisation."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client

from frontend.views.resident import reservation_pass
from resources import services
from resources.models import Reservation

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 12, 7, 10, 0, tzinfo=SH)  # a Monday morning


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _client(member) -> Client:
    c = Client()
    c.force_login(member)
    return c


@pytest.fixture
def court(people):
    return services.space_create(
        actor=people.dave,
        community=people.community,
        name="香蜜篮球场",
        kind="court",
        mode="exclusive",
        capacity=12,
        lat=22.55,
        lon=114.05,
        rules={"terms": "请穿运动鞋。"},
    )


def _slot(hour: int, day: int = 1) -> tuple[str, str]:
    start = dt.datetime.combine(NOW.date() + dt.timedelta(days=day), dt.time(hour), SH)
    return start.isoformat(), (start + dt.timedelta(hours=1)).isoformat()


def test_browse_and_week_grid(people, court):
    anon = Client()
    assert "香蜜篮球场" in anon.get("/r/spaces").content.decode()
    week = anon.get(f"/r/spaces/{court.id}").content.decode()
    assert "slot-free" in week
    assert anon.get("/r/spaces/999999").status_code == 404


def test_reserve_requires_terms_then_shows_gate_pass(people, court):
    c = _client(people.carol)
    start, end = _slot(19)
    form = c.get("/r/reserve", {"space": court.id, "start": start, "end": end})
    assert "请穿运动鞋" in form.content.decode()
    body = {
        "space": court.id,
        "start": start,
        "end": end,
        "party_size": "3",
        "companions": "陈小明\n陈小红",
    }
    r = c.post("/r/reserve", body)
    assert r.status_code == 200 and 'role="alert"' in r.content.decode()
    assert not Reservation.objects.exists()
    r = c.post("/r/reserve", {**body, "accept_terms": "on"})
    assert r.status_code == 302
    res = Reservation.objects.get()
    assert res.companions == [{"name": "陈小明"}, {"name": "陈小红"}]
    mine = c.get("/r/reservations").content.decode()
    assert "<svg" in mine and "香蜜篮球场" in mine
    # The same slot again: refused on the form, not a server error.
    again = _client(people.bob).post("/r/reserve", {**body, "accept_terms": "on"})
    assert again.status_code == 200 and 'role="alert"' in again.content.decode()


def test_gate_check_in_by_pass_and_by_hand(people, court, clock):
    c = _client(people.carol)
    start, end = _slot(11, day=0)
    c.post(
        "/r/reserve",
        {"space": court.id, "start": start, "end": end, "party_size": "1", "accept_terms": "on"},
    )
    res = Reservation.objects.get()
    clock.move_to(NOW + dt.timedelta(minutes=55))
    m = _client(people.dave)
    assert "陈居民" in m.get(f"/m/spaces/{court.id}/gate").content.decode()
    m.post(f"/m/spaces/{court.id}/gate/check-in", {"code": "forged"})
    res.refresh_from_db()
    assert res.status == "confirmed"
    m.post(f"/m/spaces/{court.id}/gate/check-in", {"code": reservation_pass(res.id)})
    res.refresh_from_db()
    assert res.status == "checked_in"


def test_cancel_offers_the_waitlist(people, court):
    start, end = _slot(20)
    carol, bob = _client(people.carol), _client(people.bob)
    carol.post(
        "/r/reserve",
        {"space": court.id, "start": start, "end": end, "party_size": "1", "accept_terms": "on"},
    )
    bob.post(f"/r/spaces/{court.id}/waitlist", {"start": start, "end": end})
    res = Reservation.objects.get(member=people.carol)
    carol.post(f"/r/reservations/{res.id}/cancel")
    offer = Reservation.objects.get(member=people.bob)
    assert offer.status == "held"
    page = bob.get("/r/reservations").content.decode()
    assert "data-countdown" in page
    bob.post(f"/r/reservations/{offer.id}/accept", {"accept_terms": "on"})
    offer.refresh_from_db()
    assert offer.status == "confirmed"


def test_manager_edits_opening_and_closures(people, court):
    m = _client(people.dave)
    assert m.get("/m/spaces").status_code == 200
    r = m.post(
        f"/m/spaces/{court.id}/rules",
        {"form": "windows", "w-0-0-start": "09:00", "w-0-0-end": "12:00"},
    )
    assert r.status_code == 302
    assert list(court.windows.values_list("weekday", flat=True)) == [1]  # Monday
    r = m.post(
        f"/m/spaces/{court.id}/rules",
        {
            "form": "closure",
            "c-start": "2026-12-08T08:00",
            "c-end": "2026-12-08T07:00",
            "c-reason": "exam",
        },
    )
    assert r.status_code == 200 and 'role="alert"' in r.content.decode()
    r = m.post(
        f"/m/spaces/{court.id}/rules",
        {
            "form": "closure",
            "c-start": "2026-12-08T08:00",
            "c-end": "2026-12-08T18:00",
            "c-reason": "exam",
        },
    )
    assert r.status_code == 302 and court.closures.count() == 1
    assert m.get(f"/m/spaces/{court.id}/utilisation").status_code == 200


@pytest.mark.parametrize("who", ["bob", "carol", "frank"])
def test_non_managers_cannot_manage(people, court, who):
    c = _client(getattr(people, who))
    assert c.get(f"/m/spaces/{court.id}/rules").status_code == 403
    assert c.get(f"/m/spaces/{court.id}/gate").status_code == 403
