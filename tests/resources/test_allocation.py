"""Fair allocation of an oversubscribed weekly release with CP-SAT."""

from __future__ import annotations

import pytest

from resources.allocation import Ask, Problem, solve
from resources.models import AllocationRequest, Reservation
from tests.conftest import problem
from tests.factories import member_with_roles
from tests.resources.conftest import at, iso
from timebank.models import Event


def test_solver_grants_the_most_requests():
    """Three overlapping asks and one apart: the best is two grants."""
    asks = (
        Ask(1, person=10, start=0, end=120, seats=1, recent=0),
        Ask(2, person=11, start=60, end=120, seats=1, recent=0),
        Ask(3, person=12, start=0, end=60, seats=1, recent=0),
        Ask(4, person=13, start=300, end=360, seats=1, recent=0),
    )
    result = solve(Problem(asks=asks, exclusive=True, capacity=10))
    assert result.status == "OPTIMAL"
    assert result.granted == {2, 3, 4}


def test_solver_prefers_people_with_fewer_recent_grants():
    asks = (
        Ask(1, person=10, start=0, end=60, seats=1, recent=5),
        Ask(2, person=11, start=0, end=60, seats=1, recent=0),
    )
    assert solve(Problem(asks=asks, exclusive=True, capacity=10)).granted == {2}


def test_solver_spreads_grants_over_people_and_honours_quotas():
    """Two slots, Ann asks for both, Ben for one: each gets one rather than Ann two."""
    asks = (
        Ask(1, person=10, start=0, end=60, seats=1, recent=0),
        Ask(2, person=10, start=60, end=120, seats=1, recent=0),
        Ask(3, person=11, start=60, end=120, seats=1, recent=3),
    )
    assert solve(Problem(asks=asks, exclusive=True, capacity=10)).granted == {1, 3}
    only_one = Problem(asks=asks[:2], exclusive=True, capacity=10, quota_bookings={10: 1})
    assert len(solve(only_one).granted) == 1


def test_solver_respects_session_seats_and_existing_bookings():
    asks = tuple(Ask(i, person=i, start=0, end=60, seats=2, recent=0) for i in range(1, 6))
    result = solve(Problem(asks=asks, exclusive=False, capacity=10, seats_taken={0: 5}))
    assert len(result.granted) == 2
    busy = solve(Problem(asks=asks[:1], exclusive=True, capacity=10, busy=((30, 90),)))
    assert busy.granted == frozenset()


@pytest.mark.django_db
def test_round_end_to_end(api, people, court, clock, django_capture_on_commit_callbacks):
    """Requests collected until the cutoff, then allocated: grants are booked
    through the normal path and announced; the rest are told they missed out."""
    monday = (at(7, 0)).date()
    with django_capture_on_commit_callbacks(execute=True):
        r = api.post(
            f"/spaces/{court.pk}/rounds",
            {"week_start": monday.isoformat(), "cutoff": iso(at(3, 20))},
            as_=people.dave,
        )
    assert r.status_code == 201, r.content
    rid = r.json()["id"]
    assert (
        api.post(
            f"/spaces/{court.pk}/rounds",
            {"week_start": monday.isoformat(), "cutoff": iso(at(3, 20))},
            as_=people.carol,
        ).status_code
        == 403
    )
    # Beyond the 7-day window is fine for a round: that is its point.
    slot = {"start": iso(at(8, 19)), "end": iso(at(8, 20))}
    others = [member_with_roles(people.community, "resident") for _ in range(3)]
    Reservation.objects.create(
        space=court, member=others[0], start=at(-3, 9), end=at(-3, 10), status="confirmed"
    )
    for who in [people.carol, *others]:
        assert api.post(f"/rounds/{rid}/requests", slot, as_=who).status_code == 201
    again = api.post(f"/rounds/{rid}/requests", slot, as_=people.carol)
    assert problem(again)["code"] == "already_requested"
    outside = api.post(
        f"/rounds/{rid}/requests", {"start": iso(at(1, 19)), "end": iso(at(1, 20))}, as_=people.bob
    )
    assert problem(outside)["code"] == "outside_round_week"
    solo = {"start": iso(at(9, 19)), "end": iso(at(9, 20))}
    assert api.post(f"/rounds/{rid}/requests", solo, as_=people.carol).status_code == 201

    r = api.post(f"/rounds/{rid}/allocate", as_=people.dave)
    assert r.status_code == 200, r.content
    data = r.json()
    assert data["status"] == "allocated"
    assert data["objective"]["granted"] == 2
    granted = AllocationRequest.objects.filter(status="granted")
    # Carol gets her solo slot; the contested slot goes to someone who has no
    # other grant and no recent booking (not others[0], who booked recently).
    assert {(g.member_id, g.start) for g in granted} == {
        (people.carol.pk, at(9, 19)),
        (granted.get(start=at(8, 19)).member_id, at(8, 19)),
    }
    assert granted.get(start=at(8, 19)).member_id in {others[1].pk, others[2].pk}
    assert Reservation.objects.filter(status="confirmed", start__gte=at(7, 0)).count() == 2
    assert Event.objects.filter(type="round.allocated").count() == 1
    assert Event.objects.filter(type="round.declined").count() == 3
    late = api.post(f"/rounds/{rid}/requests", slot, as_=people.bob)
    assert problem(late)["code"] == "round_closed"
    # Allocating again changes nothing.
    assert api.post(f"/rounds/{rid}/allocate", as_=people.dave).json() == data
    assert api.get(f"/rounds/{rid}", as_=people.carol).json()["status"] == "allocated"
