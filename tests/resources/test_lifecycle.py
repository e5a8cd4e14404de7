"""Holds, approvals, check-in, cancellation, auto-release, no-show suspension
and waitlist offers, with the clock moved by time_machine."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django_tasks_db.models import DBTaskResult

from resources.booking import reservation_create
from resources.lifecycle import gate_token
from resources.models import Reservation, SpaceBlock, Suspension, WaitlistEntry
from resources.tasks import reservation_lapse_task
from tests.conftest import problem
from tests.resources.conftest import NOW, at, iso, make_space
from timebank.models import Event

pytestmark = pytest.mark.django_db


def body(space: Any, start: dt.datetime, end: dt.datetime, **extra: Any) -> dict[str, Any]:
    return {"space": space.pk, "start": iso(start), "end": iso(end), "accept_terms": True, **extra}


def test_hold_then_confirm(api, people, court, clock):
    """A hold occupies the slot for hold_minutes; confirming it books it."""
    held = api.post("/reservations/holds", body(court, at(1, 19), at(1, 20)), as_=people.carol)
    assert held.status_code == 201, held.content
    assert held.json()["status"] == "held"
    assert held.json()["hold_expires_at"] == "2026-12-07T10:10:00+08:00"
    r = api.post("/reservations", body(court, at(1, 19), at(1, 20)), as_=people.bob)
    assert problem(r)["code"] == "slot_taken"
    hid = held.json()["id"]
    r = api.post(f"/reservations/{hid}/confirm", {"accept_terms": False}, as_=people.carol)
    assert problem(r)["code"] == "terms_not_accepted"
    r = api.post(f"/reservations/{hid}/confirm", {"accept_terms": True}, as_=people.bob)
    assert r.status_code == 403
    r = api.post(f"/reservations/{hid}/confirm", {"accept_terms": True}, as_=people.carol)
    assert r.status_code == 200
    assert r.json()["status"] == "confirmed"


def test_an_expired_hold_cannot_be_confirmed_and_frees_the_slot(api, people, court, clock):
    hid = api.post(
        "/reservations/holds", body(court, at(1, 19), at(1, 20)), as_=people.carol
    ).json()["id"]
    clock.shift(dt.timedelta(minutes=11))
    r = api.post(f"/reservations/{hid}/confirm", {"accept_terms": True}, as_=people.carol)
    assert r.status_code == 409
    assert problem(r)["code"] == "hold_expired"
    assert Reservation.objects.get(pk=hid).status == "held"  # nothing written
    # Reads already treat it as free, and the next booking releases it lazily.
    slots = api.client.get(
        f"/api/v1/spaces/{court.pk}/availability", {"from": iso(at(1, 19)), "to": iso(at(1, 20))}
    ).json()["slots"]
    assert slots[0]["status"] == "free"
    assert (
        api.post("/reservations", body(court, at(1, 19), at(1, 20)), as_=people.bob).status_code
        == 201
    )
    assert Reservation.objects.get(pk=hid).status == "expired"


def test_approval_required_pending_blocks_the_slot(api, people, clock):
    hall = make_space(
        people, name="礼堂", kind="hall", capacity=200, rules={"approval_required": True}
    )
    r = api.post("/reservations", body(hall, at(1, 19), at(1, 20)), as_=people.carol)
    assert r.json()["status"] == "pending"
    rid = r.json()["id"]
    assert (
        problem(api.post("/reservations", body(hall, at(1, 19), at(1, 20)), as_=people.bob))["code"]
        == "slot_taken"
    )
    assert api.post(f"/reservations/{rid}/approve", as_=people.carol).status_code == 403
    r = api.post(f"/reservations/{rid}/approve", as_=people.dave)
    assert r.json()["status"] == "confirmed"
    assert Event.objects.filter(type="reservation.confirmed").count() == 1
    assert (
        problem(api.post(f"/reservations/{rid}/reject", as_=people.dave))["code"] == "not_pending"
    )


def test_rejecting_frees_the_slot(api, people, clock):
    hall = make_space(
        people, name="礼堂", kind="hall", capacity=200, rules={"approval_required": True}
    )
    rid = api.post("/reservations", body(hall, at(1, 19), at(1, 20)), as_=people.carol).json()["id"]
    assert api.post(f"/reservations/{rid}/reject", as_=people.dave).json()["status"] == "rejected"
    assert (
        api.post("/reservations", body(hall, at(1, 19), at(1, 20)), as_=people.bob).status_code
        == 201
    )


def test_check_in_with_the_gate_qr_or_by_the_manager(api, people, court, clock):
    rid = api.post("/reservations", body(court, at(0, 11), at(0, 12)), as_=people.carol).json()[
        "id"
    ]
    other = make_space(people, name="羽毛球馆")
    r = api.post(f"/reservations/{rid}/check-in", {"token": "forged"}, as_=people.carol)
    assert problem(r)["code"] == "invalid_gate_token"
    r = api.post(f"/reservations/{rid}/check-in", {"token": gate_token(other)}, as_=people.carol)
    assert problem(r)["code"] == "invalid_gate_token"
    r = api.post(f"/reservations/{rid}/check-in", {"token": gate_token(court)}, as_=people.carol)
    assert problem(r)["code"] == "check_in_not_open"
    clock.shift(dt.timedelta(minutes=40))
    r = api.post(f"/reservations/{rid}/check-in", {"token": gate_token(court)}, as_=people.carol)
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "checked_in"
    rid2 = api.post("/reservations", body(court, at(0, 12), at(0, 13)), as_=people.bob).json()["id"]
    clock.shift(dt.timedelta(minutes=60))
    r = api.post(f"/reservations/{rid2}/check-in", {}, as_=people.dave)
    assert r.json()["status"] == "checked_in"
    gate = api.get(f"/spaces/{court.pk}/gate", as_=people.dave).json()
    assert gate["token"] == gate_token(court)
    assert gate["qr_svg"].startswith("<svg")
    assert api.get(f"/spaces/{court.pk}/gate", as_=people.carol).status_code == 403


def test_booking_schedules_its_release_at_start_plus_15(
    people, court, clock, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        r = reservation_create(member=people.carol, space=court, start=at(1, 19), end=at(1, 20))
    job = DBTaskResult.objects.get(task_path="resources.tasks.reservation_lapse_task")
    assert job.run_after == at(1, 19, 15)
    assert job.args_kwargs["args"] == [r.pk]


def test_not_checked_in_15_minutes_after_start_is_released(api, people, court, clock):
    r = reservation_create(member=people.carol, space=court, start=at(0, 11), end=at(0, 12))
    clock.move_to(at(0, 11, 14))
    assert reservation_lapse_task.call(r.pk) == "kept"
    clock.move_to(at(0, 11, 15))
    # Before the worker gets there, reads already show the release.
    assert api.get(f"/reservations/{r.pk}", as_=people.carol).json()["status"] == "released"
    assert reservation_lapse_task.call(r.pk) == "released"
    r.refresh_from_db()
    assert (r.status, r.no_show) == ("released", True)
    assert not SpaceBlock.objects.filter(active=True).exists()
    assert Event.objects.filter(type="reservation.released").exists()
    # Running late (a retry) changes nothing.
    assert reservation_lapse_task.call(r.pk) == "kept"


def test_checked_in_is_not_released(people, court, clock):
    from resources.lifecycle import reservation_check_in

    r = reservation_create(member=people.carol, space=court, start=at(0, 11), end=at(0, 12))
    clock.move_to(at(0, 11, 5))
    reservation_check_in(actor=people.dave, reservation_id=r.pk, token=None)
    clock.move_to(at(0, 11, 30))
    assert reservation_lapse_task.call(r.pk) == "kept"


def test_two_no_shows_in_30_days_suspend_for_14_days(api, people, court, clock):
    first = reservation_create(member=people.carol, space=court, start=at(0, 11), end=at(0, 12))
    clock.move_to(at(0, 11, 20))
    reservation_lapse_task.call(first.pk)
    assert not Suspension.objects.exists()
    clock.move_to(at(3, 8))
    second = reservation_create(member=people.carol, space=court, start=at(3, 9), end=at(3, 10))
    clock.move_to(at(3, 9, 16))
    reservation_lapse_task.call(second.pk)
    suspension = Suspension.objects.get(member=people.carol)
    assert suspension.ends_at == at(3, 9, 16) + dt.timedelta(days=14)
    r = api.post("/reservations", body(court, at(4, 9), at(4, 10)), as_=people.carol)
    assert problem(r)["code"] == "suspended"
    clock.move_to(at(18, 8))
    r = api.post("/reservations", body(court, at(18, 9), at(18, 10)), as_=people.carol)
    assert r.status_code == 201


def test_cancel_before_the_deadline_and_the_waitlist_gets_a_timed_offer(api, people, court, clock):
    rid = api.post("/reservations", body(court, at(1, 19), at(1, 20)), as_=people.carol).json()[
        "id"
    ]
    w1 = api.post(
        f"/spaces/{court.pk}/waitlist",
        {"start": iso(at(1, 19)), "end": iso(at(1, 20))},
        as_=people.bob,
    )
    assert w1.status_code == 201
    assert w1.json()["position"] == 1
    w2 = api.post(
        f"/spaces/{court.pk}/waitlist",
        {"start": iso(at(1, 19)), "end": iso(at(1, 20))},
        as_=people.erin,
    )
    assert w2.json()["position"] == 2
    dup = api.post(
        f"/spaces/{court.pk}/waitlist",
        {"start": iso(at(1, 19)), "end": iso(at(1, 20))},
        as_=people.bob,
    )
    assert problem(dup)["code"] == "already_waiting"

    r = api.post(f"/reservations/{rid}/cancel", as_=people.carol)
    assert r.status_code == 200
    assert r.json()["status"] == "cancelled"
    assert api.post(f"/reservations/{rid}/cancel", as_=people.carol).status_code == 200

    offer = Reservation.objects.get(member=people.bob)
    assert (offer.status, offer.live_until) == ("held", NOW + dt.timedelta(minutes=10))
    event = Event.objects.get(type="reservation.offered")
    assert set(event.recipients.values_list("group", flat=True)) >= {f"member-{people.bob.pk}"}
    assert event.data["id"] == offer.pk

    # Bob lets it lapse; the offer moves on to Erin.
    clock.shift(dt.timedelta(minutes=11))
    assert reservation_lapse_task.call(offer.pk) == "expired"
    assert WaitlistEntry.objects.get(member=people.bob).status == "lapsed"
    offer2 = Reservation.objects.get(member=people.erin)
    assert offer2.status == "held"
    r = api.post(f"/reservations/{offer2.pk}/confirm", {"accept_terms": True}, as_=people.erin)
    assert r.json()["status"] == "confirmed"
    assert WaitlistEntry.objects.get(member=people.erin).status == "accepted"


def test_cancellation_deadline(api, people, court, clock):
    rid = api.post(
        "/reservations", body(court, at(0, 10, 30), at(0, 11, 30)), as_=people.carol
    ).json()["id"]
    r = api.post(f"/reservations/{rid}/cancel", as_=people.carol)
    assert r.status_code == 422
    assert problem(r)["code"] == "cancellation_closed"
    assert api.post(f"/reservations/{rid}/cancel", as_=people.dave).json()["status"] == "cancelled"


def test_other_apps_book_through_the_same_service(people, court, clock):
    """A need's shift books its room through reservation_create, and the free
    intervals account for it."""
    from resources.availability import space_free_intervals

    r = reservation_create(
        member=people.alice,
        space=court,
        start=at(1, 9),
        end=at(1, 11),
        purpose="长者讲座",
        need_shift_id=42,
    )
    assert (r.status, r.need_shift_id) == ("confirmed", 42)
    free = space_free_intervals(space=court, start=at(1, 0), end=at(2, 0))
    assert free == [(at(1, 8), at(1, 9)), (at(1, 11), at(1, 22))]


def test_within_a_callers_transaction_the_booking_joins_it(people, court, clock):
    from django.db import transaction

    from timebank.errors import Conflict

    with transaction.atomic():
        reservation_create(member=people.alice, space=court, start=at(1, 9), end=at(1, 10))
        with pytest.raises(Conflict):
            reservation_create(member=people.bob, space=court, start=at(1, 9), end=at(1, 10))
    assert Reservation.objects.count() == 1
