"""The database keeps sign-ups safe under concurrency (PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from matching import services
from matching.models import Assignment, Need, Shift
from tests.concurrency import outcomes, run_concurrently
from tests.factories import member_with_roles
from timebank.errors import Conflict

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def make_shift(people, *, start_h=48, hours=2, headcount=5):
    need = Need.objects.create(
        community=people.community,
        title="社区义诊",
        category="event",
        priority=3,
        lat=22.54,
        lon=114.06,
        created_by=people.alice,
    )
    start = timezone.now().replace(second=0, microsecond=0) + dt.timedelta(hours=start_h)
    return Shift.objects.create(
        need=need,
        community=people.community,
        start=start,
        end=start + dt.timedelta(hours=hours),
        headcount=headcount,
    )


def test_hundred_volunteers_five_seats(people):
    """Exactly 5 confirmed, 95 waitlisted in order, nobody confirmed twice."""
    shift = make_shift(people, headcount=5)
    volunteers = [member_with_roles(people.community, "volunteer") for _ in range(100)]

    def attempt(i):
        return services.signup_create(volunteer=volunteers[i], shift_id=shift.id)

    results = run_concurrently(attempt, 100, workers=25)
    assert outcomes(results) == {"tuple": 100}, [r for r in results if not isinstance(r, tuple)][:3]
    pairs = [r for r in results if isinstance(r, tuple)]
    confirmed = [a for a, position in pairs if position is None]
    waitlisted = [(a, position) for a, position in pairs if position is not None]
    assert len(confirmed) == 5
    assert len(waitlisted) == 95
    assert sorted(p for _a, p in waitlisted) == list(range(1, 96))
    # positions follow the order in which the waitlist rows were written
    by_id = sorted(waitlisted, key=lambda pair: pair[0].id)
    assert [p for _a, p in by_id] == list(range(1, 96))
    rows = Assignment.objects.filter(shift=shift)
    assert rows.count() == 100
    assert rows.filter(status="confirmed").values("volunteer").distinct().count() == 5
    assert rows.values("volunteer").distinct().count() == 100
    shift.refresh_from_db()
    assert shift.seats_taken == 5


def test_one_volunteer_two_overlapping_shifts_at_once(people):
    """Only one of two simultaneous sign-ups for overlapping shifts succeeds."""
    for round_ in range(3):
        a = make_shift(people, start_h=48 + 10 * round_, hours=2)
        b = make_shift(people, start_h=49 + 10 * round_, hours=2)
        shifts = [a.id, b.id]

        def attempt(i, shifts=shifts):
            return services.signup_create(volunteer=people.bob, shift_id=shifts[i])

        results = run_concurrently(attempt, 2)
        assert outcomes(results) == {"tuple": 1, "Conflict": 1}, results
        conflict = next(r for r in results if isinstance(r, Conflict))
        assert conflict.code == "overlap"


def test_exclusion_constraint_is_the_last_guard(people):
    """Even a write that skips the service cannot overlap two commitments."""
    a = make_shift(people, start_h=48)
    b = make_shift(people, start_h=49)
    base = {"volunteer": people.bob, "community": people.community, "status": "confirmed"}
    Assignment.objects.create(shift=a, start=a.start, end=a.end, **base)
    with pytest.raises(IntegrityError, match="assignment_no_overlap"), transaction.atomic():
        Assignment.objects.create(shift=b, start=b.start, end=b.end, **base)
    # waitlist entries are not commitments, so they may overlap
    Assignment.objects.create(shift=b, start=b.start, end=b.end, **{**base, "status": "waitlisted"})


def test_seat_counter_cannot_exceed_headcount(people):
    shift = make_shift(people, headcount=1)
    Shift.objects.filter(pk=shift.pk).update(seats_taken=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Shift.objects.filter(pk=shift.pk).update(seats_taken=2)


def test_cancel_and_signups_race_without_overfilling(people):
    """Cancellations that offer seats, racing new sign-ups, never overfill the shift."""
    shift = make_shift(people, headcount=3)
    first = [member_with_roles(people.community, "volunteer") for _ in range(3)]
    mine = [services.signup_create(volunteer=v, shift_id=shift.id)[0] for v in first]
    late = [member_with_roles(people.community, "volunteer") for _ in range(12)]

    def attempt(i):
        if i < 3:
            return services.assignment_cancel(actor=first[i], assignment=mine[i], reason="有事")
        return services.signup_create(volunteer=late[i - 3], shift_id=shift.id)

    results = run_concurrently(attempt, 15)
    assert not [r for r in results if isinstance(r, BaseException)]
    shift.refresh_from_db()
    holding = Assignment.objects.filter(shift=shift, status__in=["offered", "confirmed"]).count()
    assert holding == shift.seats_taken <= 3
