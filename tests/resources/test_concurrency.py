"""No double booking under concurrency, enforced by PostgreSQL itself."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
from django.db import connection

from resources.booking import reservation_create
from resources.models import Reservation, SessionSlot
from tests.concurrency import outcomes, run_concurrently
from tests.factories import member_with_roles
from tests.resources.conftest import make_space
from timebank.errors import Conflict

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def tomorrow(hour: int) -> dt.datetime:
    from django.utils import timezone

    day = timezone.localdate() + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(hour), timezone.get_default_timezone())


def residents(people: Any, n: int) -> list[Any]:
    return [member_with_roles(people.community, "resident") for _ in range(n)]


OVERLAPPING_ACTIVE_PAIRS = """
    WITH RECURSIVE up(id, ancestor) AS (
        SELECT id, id FROM resources_space
        UNION
        SELECT up.id, s.parent_id FROM up JOIN resources_space s ON s.id = up.ancestor
        WHERE s.parent_id IS NOT NULL
    )
    SELECT count(*) FROM resources_reservation a
    JOIN resources_reservation b ON a.id < b.id
    JOIN resources_space sa ON sa.id = a.space_id
    WHERE sa.mode = 'exclusive'
      AND a.status IN ('held', 'pending', 'confirmed', 'checked_in')
      AND b.status IN ('held', 'pending', 'confirmed', 'checked_in')
      AND tstzrange(a.start, a."end", '[)') && tstzrange(b.start, b."end", '[)')
      AND (EXISTS (SELECT 1 FROM up WHERE up.id = a.space_id AND up.ancestor = b.space_id)
        OR EXISTS (SELECT 1 FROM up WHERE up.id = b.space_id AND up.ancestor = a.space_id))
"""


def overlapping_pairs() -> int:
    with connection.cursor() as cursor:
        cursor.execute(OVERLAPPING_ACTIVE_PAIRS)
        return int(cursor.fetchone()[0])


def test_200_attempts_at_one_slot_exactly_one_wins(people):
    """200 people try one exclusive slot at once: one booking, 199 slot_taken."""
    court = make_space(people)
    members = residents(people, 200)

    def attempt(i: int) -> Any:
        return reservation_create(
            member=members[i], space=court, start=tomorrow(19), end=tomorrow(20)
        )

    results = run_concurrently(attempt, 200, workers=50)
    counts = outcomes(results)
    assert counts == {"Reservation": 1, "Conflict": 199}, counts
    assert {r.code for r in results if isinstance(r, Conflict)} == {"slot_taken"}
    assert Reservation.objects.filter(status="confirmed").count() == 1
    assert overlapping_pairs() == 0


def test_30_seat_session_takes_exactly_30(people):
    """60 people race for a 30-seat session: 30 get in, 30 get session_full."""
    gym = make_space(people, name="健身房", kind="room", mode="session", capacity=30)
    members = residents(people, 60)

    def attempt(i: int) -> Any:
        return reservation_create(member=members[i], space=gym, start=tomorrow(9), end=tomorrow(10))

    results = run_concurrently(attempt, 60, workers=30)
    counts = outcomes(results)
    assert counts == {"Reservation": 30, "Conflict": 30}, counts
    assert {r.code for r in results if isinstance(r, Conflict)} == {"session_full"}
    slot = SessionSlot.objects.get(space=gym)
    assert slot.booked == 30
    assert Reservation.objects.filter(space=gym, status="confirmed").count() == 30


def test_half_and_full_pitch_at_once_only_one_wins(people):
    """A half-pitch and a full-pitch booking for the same hour, many times over:
    exactly one of each pair succeeds."""
    full = make_space(people, name="足球场", kind="sports_field", capacity=22)
    half = make_space(people, name="A半场", kind="sports_field", capacity=11, parent_id=full.pk)
    members = residents(people, 2)
    for hour in (9, 11, 13, 15, 17):

        def attempt(i: int, hour: int = hour) -> Any:
            space = full if i == 0 else half
            return reservation_create(
                member=members[i], space=space, start=tomorrow(hour), end=tomorrow(hour + 1)
            )

        counts = outcomes(run_concurrently(attempt, 2))
        assert counts == {"Reservation": 1, "Conflict": 1}, (hour, counts)
    assert overlapping_pairs() == 0


def test_random_concurrent_mix_leaves_no_overlapping_pair(people):
    """Random lengths and areas (a pitch, its halves, a court) from many threads:
    afterwards SQL finds no two active bookings that overlap in time and area."""
    full = make_space(
        people, name="足球场", kind="sports_field", capacity=22, rules={"max_duration_minutes": 180}
    )
    left = make_space(people, name="A半场", kind="sports_field", capacity=11, parent_id=full.pk)
    right = make_space(people, name="B半场", kind="sports_field", capacity=11, parent_id=full.pk)
    court = make_space(people)
    areas = [full, left, right, court]
    members = residents(people, 120)
    rng = random.Random(20261207)
    plans = []
    for i in range(120):
        start = rng.randrange(8, 20)
        length = rng.choice([1, 1, 2])
        plans.append((rng.choice(areas), start, min(start + length, 22), members[i]))

    def attempt(i: int) -> Any:
        space, s, e, member = plans[i]
        if space.pk != full.pk and (e - s) > 2:
            e = s + 2
        return reservation_create(member=member, space=space, start=tomorrow(s), end=tomorrow(e))

    results = run_concurrently(attempt, 120, workers=40)
    counts = outcomes(results)
    print([repr(r) for r in results if type(r).__name__ == "OperationalError"][:2])
    assert set(counts) <= {"Reservation", "Conflict"}, counts
    assert counts.get("Reservation", 0) >= 4
    assert overlapping_pairs() == 0
