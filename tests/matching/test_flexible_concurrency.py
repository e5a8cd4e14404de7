"""Applying a flexible need while residents book its chosen slot (PostgreSQL, threads).

Exactly one party gets the slot; when a resident wins, the need is re-placed in
the same apply, and no two live bookings ever overlap."""

from __future__ import annotations

import datetime as dt
import random
import time
from typing import Any

import pytest
from django.utils import timezone

from matching.models import Assignment, AvailabilityWindow, MatchingRun, Shift, VolunteerProfile
from matching.services.runs import run_apply
from matching.tasks import solve_run
from resources.booking import reservation_create
from resources.models import Reservation
from resources.services import space_create
from tests.concurrency import outcomes, run_concurrently
from tests.factories import member_with_roles
from tests.matching.conftest import at, need_body
from tests.resources.test_concurrency import overlapping_pairs
from timebank.errors import Conflict

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def t(hour: int) -> dt.datetime:
    day = timezone.localdate() + dt.timedelta(days=2)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def setup_run(api: Any, people: Any, *, shifts: int = 1) -> tuple[Any, list[int], MatchingRun]:
    space = space_create(
        actor=people.dave,
        community=people.community,
        name="活动室",
        kind="room",
        mode="exclusive",
        capacity=20,
        lat=22.541,
        lon=114.059,
        opening=[{"weekdays": list(range(1, 8)), "start": dt.time(17), "end": dt.time(22)}],
    )
    body = need_body(
        people.community.id,
        shifts=[
            {
                "window": {"start": t(17).isoformat(), "end": t(22).isoformat()},
                "duration_min": 60,
                "step_min": 60,
                "headcount": 1,
                "spaces": [space.pk],
                "participants": 10,
            }
            for _ in range(shifts)
        ],
    )
    r = api.post("/needs", body, as_=people.alice)
    assert r.status_code == 201, r.content
    VolunteerProfile.objects.create(member=people.bob)  # no windows: always free
    for _ in range(shifts - 1):
        m = member_with_roles(people.community, "volunteer")
        p = VolunteerProfile.objects.create(member=m)
        AvailabilityWindow.objects.create(
            profile=p, weekday=t(17).weekday(), start=dt.time(17), end=dt.time(22)
        )
    run = api.post(
        "/matching/runs",
        {"community": people.community.id, "from": at(1), "to": at(24 * 6), "time_limit_s": 5},
        as_=people.alice,
    ).json()
    assert solve_run.call(run_id=run["id"]) == "finished"
    return space, [s["id"] for s in r.json()["shifts"]], MatchingRun.objects.get(pk=run["id"])


@pytest.mark.parametrize("head_start", [0.0, 2.0])
def test_apply_races_residents_for_the_chosen_slot(api, people, head_start):
    """`head_start` lets the apply go first by that many seconds; either way the
    outcome must be one holder of the slot."""
    space, [shift_id], run = setup_run(api, people)
    [proposal] = run.proposals.all()
    start, end = proposal.start, proposal.end
    assert start is not None and end is not None
    residents = [member_with_roles(people.community, "resident") for _ in range(7)]

    def attempt(i: int) -> Any:
        if i == 0:
            return run_apply(actor=people.alice, run=run)
        time.sleep(head_start * (0.5 + random.random() / 2))
        return reservation_create(member=residents[i - 1], space=space, start=start, end=end)

    results = run_concurrently(attempt, 8)
    applied = results[0]
    assert isinstance(applied, dict), applied
    booked = [r for r in results[1:] if isinstance(r, Reservation)]
    refused = [r for r in results[1:] if isinstance(r, Conflict)]
    assert len(booked) + len(refused) == 7, outcomes(results)
    assert all(r.code == "slot_taken" for r in refused)
    shift = Shift.objects.get(pk=shift_id)
    # Exactly one party holds the chosen slot.
    holders = Reservation.objects.filter(
        space=space, start__lt=end, end__gt=start, status__in=["confirmed", "pending"]
    )
    assert holders.count() == 1
    # The need is placed either way: at the chosen slot, or moved because a resident won.
    assert applied["applied"] == [proposal.pk]
    assert shift.placed_at is not None and shift.reservation_id is not None
    if booked:
        assert shift.start != start
        assert [m["reason"] for m in applied["moved"]] == ["slot_taken"]
    else:
        assert shift.start == start and applied["moved"] == []
    assert Assignment.objects.get(shift=shift).start == shift.start
    assert overlapping_pairs() == 0


def test_many_rounds_never_double_book(api, people):
    """Three flexible needs sharing one room, applied twice at once while residents
    book the proposed slots: no overlap, no proposal applied twice."""
    space, shift_ids, run = setup_run(api, people, shifts=3)
    slots = sorted({(p.start, p.end) for p in run.proposals.all() if p.start and p.end})
    assert len(slots) == 3
    residents = [member_with_roles(people.community, "resident") for _ in range(6)]

    def attempt(i: int) -> Any:
        if i < 2:
            return run_apply(actor=people.alice, run=run)
        s, e = slots[i % len(slots)]
        return reservation_create(member=residents[i - 2], space=space, start=s, end=e)

    results = run_concurrently(attempt, 8)
    applies = [r for r in results[:2] if isinstance(r, dict)]
    assert len(applies) == 2, results[:2]
    assert all(isinstance(r, Reservation | Conflict) for r in results[2:]), outcomes(results)
    assert overlapping_pairs() == 0
    applied = [pid for a in applies for pid in a["applied"]]
    assert len(applied) == len(set(applied))
    for shift in Shift.objects.filter(pk__in=shift_ids):
        n = Assignment.objects.filter(shift=shift, status="confirmed").count()
        assert n == shift.seats_taken <= 1
        if n:
            assert shift.placed_at is not None
            mine = Reservation.objects.get(need_shift_id=shift.pk)
            assert (mine.start, mine.end) == (shift.start, shift.end)
