"""`problem_for` keeps confirmed commitments as facts without making a run
infeasible, even when they break the optimizer's rules 1-7 (made by hand, or
back-to-back at two places)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from matching import optimizer as opt
from matching.models import MatchingRun
from matching.problem import problem_for
from matching.services.profiles import profile_update
from matching.services.staffing import assignment_assign
from tests.matching.conftest import at

pytestmark = pytest.mark.django_db


def test_hand_made_commitments_keep_the_run_feasible(post, people):
    # Two shifts back to back, 2 km apart, beyond bob's radius and outside his windows.
    first = post.shift(start=30, hours=2, headcount=1)
    second = post.shift(
        start=32,
        hours=2,
        headcount=2,
        location={"lat": 22.5590, "lon": 114.0590, "address": "北区"},
    )
    open_one = post.shift(start=60, hours=2, headcount=1)
    profile_update(
        actor=people.bob,
        member=people.bob,
        changes={"availability_text": "周一 09:00-10:00", "travel_radius_km": 0.5},
    )
    for shift_id in (first, second):
        assignment_assign(actor=people.alice, shift_id=shift_id, volunteer=people.bob)
    carol_volunteer = post.volunteer(name="新志愿者")
    run = MatchingRun.objects.create(
        community=people.community,
        period_start=timezone.now(),
        period_end=timezone.now() + dt.timedelta(days=5),
        created_by=people.alice,
    )
    problem = problem_for(run)
    # The first commitment stays pinned; the second, which the travel gap forbids
    # next to it, is taken out of the optimizer's hands but still holds its seat.
    assert opt.Pair(shift=f"s{first}", volunteer=f"v{people.bob.id}") in problem.fixed
    assert opt.Pair(shift=f"s{second}", volunteer=f"v{people.bob.id}") not in problem.fixed
    solution = opt.solve(problem, time_limit_s=3)
    assert solution.status in {"OPTIMAL", "FEASIBLE"}
    assert opt.check_solution(problem, solution).violations == []
    placed = {(a.shift, a.volunteer) for a in solution.assignments}
    assert (f"s{first}", f"v{people.bob.id}") in placed
    assert (f"s{open_one}", f"v{carol_volunteer.id}") in placed
    second_shift = next(s for s in problem.shifts if s.id == f"s{second}")
    assert second_shift.headcount == 2  # one seat is bob's, one is left to fill
    assert at(0)


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("周一至周五 18:00-21:00", [0, 1, 2, 3, 4]),
        ("周六、周日 09:00-12:00；周三19：00～21：00", [5, 6, 2]),
        ("星期天 08:00-09:30", [6]),
        ("sat,sun 09:00-12:00", [5, 6]),
    ],
)
def test_availability_quick_entry_in_chinese_and_english(text, days):
    from matching.services.profiles import parse_availability

    assert [w.weekday for w in parse_availability(text)] == days


def test_availability_quick_entry_rejects_nonsense():
    from matching.services.profiles import parse_availability
    from timebank.errors import InvalidInput

    with pytest.raises(InvalidInput):
        parse_availability("周八 18:00-21:00")
    with pytest.raises(InvalidInput):
        parse_availability("周一 21:00-18:00")
