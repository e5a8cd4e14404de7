"""POST /reservations and friends: the contract's status and error codes, and
that a refused request writes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from resources.models import Reservation, SessionSlot, SpaceBlock, Suspension
from tests.conftest import problem
from tests.factories import member_with_roles
from tests.resources.conftest import NOW, at, iso, make_space
from timebank.models import Event

pytestmark = pytest.mark.django_db


def body(space: Any, start: dt.datetime, end: dt.datetime, **extra: Any) -> dict[str, Any]:
    return {"space": space.pk, "start": iso(start), "end": iso(end), "accept_terms": True, **extra}


def nothing_written() -> None:
    assert Reservation.objects.count() == 0
    assert SpaceBlock.objects.count() == 0
    assert not SessionSlot.objects.filter(booked__gt=0).exists()
    assert not Event.objects.filter(type__startswith="reservation.").exists()


def test_booking_a_free_slot_confirms_it_and_tells_the_booker(api, people, court, clock):
    """201 with the booking; the booker's group and the staff group hear
    reservation.confirmed; the slot shows as booked."""
    r = api.post("/reservations", body(court, at(1, 19), at(1, 20)), as_=people.carol)
    assert r.status_code == 201, r.content
    data = r.json()
    assert data["status"] == "confirmed"
    assert data["start"] == "2026-12-08T19:00:00+08:00"
    assert data["terms_accepted_at"] is not None
    event = Event.objects.get(type="reservation.confirmed")
    groups = set(event.recipients.values_list("group", flat=True))
    assert {f"member-{people.carol.pk}", f"staff-{people.community.pk}"} <= groups
    assert api.get(f"/spaces/{court.pk}/availability").status_code == 422  # from, to required
    slots = api.client.get(
        f"/api/v1/spaces/{court.pk}/availability",
        {"from": iso(at(1, 18)), "to": iso(at(1, 21))},
    ).json()["slots"]
    assert [s["status"] for s in slots] == ["free", "booked", "free"]


def test_the_same_slot_twice_is_slot_taken(api, people, court, clock):
    assert (
        api.post("/reservations", body(court, at(1, 19), at(1, 20)), as_=people.carol).status_code
        == 201
    )
    r = api.post("/reservations", body(court, at(1, 19, 30), at(1, 20, 30)), as_=people.bob)
    assert r.status_code == 409
    assert problem(r)["code"] == "slot_taken"
    assert Reservation.objects.count() == 1


def test_full_pitch_blocks_halves_and_a_half_blocks_the_full_pitch(api, people, pitch, clock):
    """Tuesday evening is open (school day 19–21). Halves share; the full pitch does not."""
    left, right, full = pitch["left"], pitch["right"], pitch["full"]
    assert (
        api.post("/reservations", body(left, at(1, 19), at(1, 20)), as_=people.carol).status_code
        == 201
    )
    assert (
        api.post("/reservations", body(right, at(1, 19), at(1, 20)), as_=people.bob).status_code
        == 201
    )
    r = api.post("/reservations", body(full, at(1, 19), at(1, 20)), as_=people.erin)
    assert problem(r)["code"] == "slot_taken"
    assert (
        api.post("/reservations", body(full, at(1, 20), at(1, 21)), as_=people.erin).status_code
        == 201
    )
    r = api.post("/reservations", body(left, at(1, 20), at(1, 21)), as_=people.alice)
    assert problem(r)["code"] == "slot_taken"


def test_session_takes_seats_until_full(api, people, clock):
    room = make_space(people, name="自习室", kind="room", mode="session", capacity=2)
    ok = api.post("/reservations", body(room, at(1, 9), at(1, 10)), as_=people.carol)
    assert ok.status_code == 201, ok.content
    assert (
        api.post("/reservations", body(room, at(1, 9), at(1, 10)), as_=people.bob).status_code
        == 201
    )
    r = api.post("/reservations", body(room, at(1, 9), at(1, 10)), as_=people.erin)
    assert r.status_code == 409
    assert problem(r)["code"] == "session_full"
    slots = api.client.get(
        f"/api/v1/spaces/{room.pk}/availability", {"from": iso(at(1, 9)), "to": iso(at(1, 11))}
    ).json()["slots"]
    assert [(s["status"], s["seats_left"]) for s in slots] == [("full", 0), ("free", 2)]


def test_a_session_must_be_booked_whole(api, people, gym, clock):
    r = api.post("/reservations", body(gym, at(1, 9, 30), at(1, 10, 30)), as_=people.carol)
    assert problem(r)["code"] == "outside_opening_hours"
    nothing_written()


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"start": at(1, 20), "end": at(1, 19)}, 422, "invalid_period"),
        ({"start": at(1, 20), "end": at(1, 20)}, 422, "invalid_period"),
        ({"start": at(1, 22), "end": at(1, 23)}, 422, "outside_opening_hours"),
        ({"start": at(1, 6), "end": at(1, 7)}, 422, "outside_opening_hours"),
        ({"start": at(8, 19), "end": at(8, 20)}, 422, "beyond_booking_window"),
        ({"start": at(-1, 19), "end": at(-1, 20)}, 422, "in_the_past"),
        ({"start": at(1, 9), "end": at(1, 9, 30)}, 422, "invalid_duration"),
        ({"start": at(1, 9), "end": at(1, 13)}, 422, "invalid_duration"),
        ({"accept_terms": False}, 422, "terms_not_accepted"),
        (
            {"party_size": 13, "companions": [{"name": f"同伴{i}"} for i in range(12)]},
            422,
            "party_too_large",
        ),
        ({"party_size": 3, "companions": [{"name": "张三"}]}, 422, "companions_required"),
        ({"space": 999999}, 404, "space_not_found"),
    ],
)
def test_bad_input_gets_its_code_and_writes_nothing(
    api, people, court, clock, change, status, code
):
    payload = body(court, at(1, 19), at(1, 20))
    for key, value in change.items():
        payload[key] = iso(value) if isinstance(value, dt.datetime) else value
    r = api.post("/reservations", payload, as_=people.carol)
    assert r.status_code == status, r.content
    assert problem(r)["code"] == code
    nothing_written()


def test_naive_times_are_refused(api, people, court, clock):
    payload = body(court, at(1, 19), at(1, 20))
    payload["start"], payload["end"] = "2026-12-08T19:00:00", "2026-12-08T20:00:00"
    r = api.post("/reservations", payload, as_=people.carol)
    assert problem(r)["code"] == "invalid_period"
    nothing_written()


def test_during_a_closure_is_space_closed(api, people, court, clock):
    r = api.post(
        f"/spaces/{court.pk}/closures",
        {"start": iso(at(1, 0)), "end": iso(at(2, 0)), "reason": "maintenance", "note": "换地胶"},
        as_=people.dave,
    )
    assert r.status_code == 201, r.content
    r = api.post("/reservations", body(court, at(1, 19), at(1, 20)), as_=people.carol)
    assert r.status_code == 422
    assert problem(r)["code"] == "space_closed"
    nothing_written()


def test_a_closure_cancels_bookings_in_its_period(api, people, court, clock):
    booked = api.post("/reservations", body(court, at(1, 19), at(1, 20)), as_=people.carol).json()
    r = api.post(
        f"/spaces/{court.pk}/closures",
        {"start": iso(at(1, 18)), "end": iso(at(1, 22)), "reason": "exam"},
        as_=people.dave,
    )
    assert r.json()["cancelled_reservations"] == [booked["id"]]
    assert Reservation.objects.get(pk=booked["id"]).status == "cancelled"
    assert not SpaceBlock.objects.filter(active=True).exists()


def test_weekly_quota(api, people, clock):
    space = make_space(people, rules={"weekly_quota_bookings": 1})
    assert (
        api.post("/reservations", body(space, at(1, 9), at(1, 10)), as_=people.carol).status_code
        == 201
    )
    r = api.post("/reservations", body(space, at(2, 9), at(2, 10)), as_=people.carol)
    assert r.status_code == 403
    assert problem(r)["code"] == "quota_exceeded"
    # Next week has its own quota.
    assert (
        api.post("/reservations", body(space, at(7, 9), at(7, 10)), as_=people.carol).status_code
        == 201
    )
    assert Reservation.objects.count() == 2


def test_weekly_minutes_quota_and_active_cap(api, people, clock):
    space = make_space(people, rules={"weekly_quota_minutes": 90, "max_active_bookings": 5})
    assert (
        api.post("/reservations", body(space, at(1, 9), at(1, 10)), as_=people.carol).status_code
        == 201
    )
    r = api.post("/reservations", body(space, at(2, 9), at(2, 10)), as_=people.carol)
    assert problem(r)["code"] == "quota_exceeded"
    capped = make_space(people, name="乒乓球室", rules={"max_active_bookings": 1})
    assert (
        api.post("/reservations", body(capped, at(1, 9), at(1, 10)), as_=people.bob).status_code
        == 201
    )
    r = api.post("/reservations", body(capped, at(7, 9), at(7, 10)), as_=people.bob)
    assert r.status_code == 403
    assert problem(r)["code"] == "quota_exceeded"


def test_suspended_member_cannot_book(api, people, court, clock):
    Suspension.objects.create(
        member=people.carol,
        community=people.community,
        starts_at=NOW - dt.timedelta(days=1),
        ends_at=NOW + dt.timedelta(days=13),
        reason="test",
    )
    r = api.post("/reservations", body(court, at(1, 19), at(1, 20)), as_=people.carol)
    assert r.status_code == 403
    assert problem(r)["code"] == "suspended"
    nothing_written()


def test_companions_are_recorded_by_real_name(api, people, court, clock):
    r = api.post(
        "/reservations",
        body(court, at(1, 19), at(1, 20), companions=[{"name": "张三"}, {"name": "李四"}]),
        as_=people.carol,
    )
    assert r.status_code == 201
    assert r.json()["party_size"] == 3
    assert [c["name"] for c in r.json()["companions"]] == ["张三", "李四"]


def test_a_minor_needs_an_adult_relative_as_guardian(api, people, court, clock):
    from timebank.people.models import Relation

    kid = member_with_roles(people.community, "resident", birth_date=dt.date(2014, 5, 1))
    r = api.post("/reservations", body(court, at(1, 19), at(1, 20)), as_=kid)
    assert problem(r)["code"] == "guardian_required"
    r = api.post(
        "/reservations", body(court, at(1, 19), at(1, 20), guardian=people.carol.pk), as_=kid
    )
    assert problem(r)["code"] == "guardian_required"
    nothing_written()
    people.carol.birth_date = dt.date(1980, 1, 1)
    people.carol.save()
    for a, b, rel in ((kid, people.carol, "parent"), (people.carol, kid, "child")):
        Relation.objects.create(member=a, relative=b, relation=rel, community=people.community)
    r = api.post(
        "/reservations", body(court, at(1, 19), at(1, 20), guardian=people.carol.pk), as_=kid
    )
    assert r.status_code == 201, r.content


def test_early_access_for_residents_of_the_owning_community(api, people, clock):
    space = make_space(people, rules={"booking_window_days": 3, "early_access_days": 2})
    r = api.post("/reservations", body(space, at(5, 9), at(5, 10)), as_=people.carol)
    assert r.status_code == 201, r.content
    r = api.post("/reservations", body(space, at(5, 10), at(5, 11)), as_=people.frank)
    assert problem(r)["code"] == "beyond_booking_window"


def test_anonymous_and_roles(api, people, court, clock):
    r = api.post("/reservations", body(court, at(1, 19), at(1, 20)))
    assert r.status_code == 401
    made = api.post("/reservations", body(court, at(1, 19), at(1, 20)), as_=people.carol).json()
    assert api.post(f"/reservations/{made['id']}/cancel", as_=people.bob).status_code == 403
    assert api.get(f"/reservations/{made['id']}", as_=people.bob).status_code == 403
    assert api.get(f"/reservations/{made['id']}", as_=people.dave).status_code == 200
    assert api.post(f"/reservations/{made['id']}/check-in", {}, as_=people.bob).status_code == 403
    assert api.post("/reservations/999999/cancel", as_=people.carol).status_code == 404


def test_my_reservations(api, people, court, clock):
    api.post("/reservations", body(court, at(1, 19), at(1, 20)), as_=people.carol)
    api.post("/reservations", body(court, at(1, 20), at(1, 21)), as_=people.bob)
    mine = api.get("/reservations/me", as_=people.carol).json()
    assert [r["start"] for r in mine["items"]] == ["2026-12-08T19:00:00+08:00"]
    assert mine["next_cursor"] is None
