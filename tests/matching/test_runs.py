"""Matching runs: 202 then solved by a task, proposals, apply without overfilling."""

from __future__ import annotations

import pytest

from matching.models import Assignment, MatchingRun, Shift
from matching.problem import availability, problem_for
from matching.services.runs import run_apply
from matching.tasks import solve_run
from tests.concurrency import run_concurrently
from tests.conftest import problem
from tests.matching.conftest import at
from timebank.models import Event

pytestmark = pytest.mark.django_db


def start_run(api, people, **overrides):
    body = {"community": people.community.id, "from": at(1), "to": at(24 * 7), "time_limit_s": 5}
    body.update(overrides)
    return api.post("/matching/runs", body, as_=people.alice)


def volunteers(post, n):
    out = []
    for i in range(n):
        out.append(post.volunteer(home_lat=22.541 + i * 0.001, home_lon=114.059))
    return out


def test_run_is_queued_then_solved_and_applied(api, people, post):
    shift_a = post.shift(start=48, headcount=2, priority=5)
    shift_b = post.shift(start=72, headcount=1)
    volunteers(post, 3)
    r = start_run(api, people)
    assert r.status_code == 202, r.content
    run_id = r.json()["id"]
    assert r.json()["status"] == "queued"
    assert solve_run.call(run_id=run_id) == "finished"
    body = api.get(f"/matching/runs/{run_id}", as_=people.alice).json()
    assert body["status"] == "finished"
    assert (body["kind"], body["trigger"], body["parts"]) == ("plan", {}, {"total": 0, "done": 0})
    assert body["objective"]["coverage"] == 2 * 16 + 8  # priorities 5 and 4
    assert body["bound"] >= body["objective"]["coverage"]
    assert len(body["proposals"]) == 3
    assert Event.objects.filter(type="run.finished").exists()
    first = body["proposals"][0]["id"]
    r = api.post(f"/matching/runs/{run_id}/apply", {"proposal_ids": [first]}, as_=people.alice)
    assert r.status_code == 200, r.content
    assert r.json()["applied"] == [first]
    r = api.post(f"/matching/runs/{run_id}/apply", {}, as_=people.alice)
    assert len(r.json()["applied"]) == 2
    assert Shift.objects.get(pk=shift_a).seats_taken == 2
    assert Shift.objects.get(pk=shift_b).seats_taken == 1
    assert Assignment.objects.filter(source="matching", status="confirmed").count() == 3
    again = api.post(f"/matching/runs/{run_id}/apply", {}, as_=people.alice).json()
    assert again["applied"] == []


def test_confirmed_assignments_are_pinned(api, people, post):
    shift_id = post.shift(start=48, headcount=1)
    api.post(f"/shifts/{shift_id}/signups", as_=people.bob)
    volunteers(post, 2)
    run_id = start_run(api, people).json()["id"]
    solve_run.call(run_id=run_id)
    run = MatchingRun.objects.get(pk=run_id)
    assert run.proposals.count() == 0  # the seat is bob's; nothing to propose
    assert run.objective["coverage"] == 8


def test_stale_proposals_are_skipped_not_overfilled(api, people, post):
    shift_id = post.shift(start=48, headcount=1)
    volunteers(post, 1)
    run_id = start_run(api, people).json()["id"]
    solve_run.call(run_id=run_id)
    assert api.post(f"/shifts/{shift_id}/signups", as_=people.bob).status_code == 201
    r = api.post(f"/matching/runs/{run_id}/apply", {}, as_=people.alice).json()
    assert r["applied"] == []
    assert [s["reason"] for s in r["skipped"]] == ["shift_full"]
    assert Shift.objects.get(pk=shift_id).seats_taken == 1


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"from": at(10), "to": at(5)}, "invalid_period"),
        ({"from": (same := at(10)), "to": same}, "invalid_period"),
        ({"from": at(1), "to": at(24 * 40)}, "period_too_long"),
        ({"time_limit_s": 0}, "invalid_time_limit"),
    ],
)
def test_bad_run_input_is_422(api, people, overrides, code):
    r = start_run(api, people, **overrides)
    assert r.status_code == 422, r.content
    assert problem(r)["code"] == code
    assert not MatchingRun.objects.exists()


def test_run_roles_and_states(api, people):
    body = {"community": people.community.id, "from": at(1), "to": at(48)}
    assert api.post("/matching/runs", body).status_code == 401
    assert api.post("/matching/runs", body, as_=people.bob).status_code == 403
    run_id = start_run(api, people).json()["id"]
    assert api.get(f"/matching/runs/{run_id}", as_=people.bob).status_code == 403
    assert api.get("/matching/runs/999999", as_=people.alice).status_code == 404
    r = api.post(f"/matching/runs/{run_id}/apply", {}, as_=people.alice)
    assert problem(r)["code"] == "run_not_finished"
    solve_run.call(run_id=run_id)
    r = api.post(f"/matching/runs/{run_id}/apply", {"proposal_ids": [424242]}, as_=people.alice)
    assert problem(r)["code"] == "unknown_proposal"


def test_availability_windows_exceptions_and_commitments():
    import datetime as dt

    from django.utils import timezone

    from matching.models import AvailabilityException, AvailabilityWindow

    monday = timezone.make_aware(dt.datetime(2030, 1, 7))
    period = (monday, monday + dt.timedelta(days=7))
    windows = [
        AvailabilityWindow(weekday=0, start=dt.time(18), end=dt.time(19)),
        AvailabilityWindow(weekday=0, start=dt.time(19), end=dt.time(21)),
        AvailabilityWindow(weekday=1, start=dt.time(9), end=dt.time(12)),
    ]
    away = [AvailabilityException(date=dt.date(2030, 1, 8), available=False)]
    busy = [(monday + dt.timedelta(hours=19), monday + dt.timedelta(hours=20))]
    spans = availability(windows, away, busy, period)
    assert spans == [
        (monday + dt.timedelta(hours=18), monday + dt.timedelta(hours=19)),
        (monday + dt.timedelta(hours=20), monday + dt.timedelta(hours=21)),
    ]
    assert availability([], [], [], period) == [period]


def test_problem_for_uses_profiles(api, people, post):
    post.shift(start=48, skills=["first_aid"], languages=["yue"])
    api.put(
        "/volunteers/me", {"skills": [{"name": "first_aid"}], "languages": ["yue"]}, as_=people.bob
    )
    run_id = start_run(api, people).json()["id"]
    p = problem_for(MatchingRun.objects.get(pk=run_id))
    bob = next(v for v in p.volunteers if v.id == f"v{people.bob.id}")
    assert bob.skills == ("first_aid",)
    assert bob.languages == ("yue",)
    assert p.shifts[0].languages == ("yue",)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_apply_races_signups_without_overfilling(api, people, post):
    """Proposals applied while volunteers sign up never overfill a shift."""
    shift_id = post.shift(start=48, headcount=3)
    volunteers(post, 3)
    run_id = start_run(api, people).json()["id"]
    solve_run.call(run_id=run_id)
    run = MatchingRun.objects.get(pk=run_id)
    assert run.proposals.count() == 3
    racers = [post.volunteer() for _ in range(6)]

    from matching import services

    def attempt(i):
        if i == 0:
            return run_apply(actor=people.alice, run=run)
        return services.signup_create(volunteer=racers[i - 1], shift_id=shift_id)

    results = run_concurrently(attempt, 7)
    assert not [r for r in results if isinstance(r, BaseException)], results
    shift = Shift.objects.get(pk=shift_id)
    confirmed = Assignment.objects.filter(shift=shift, status="confirmed").count()
    assert confirmed == shift.seats_taken == 3


def test_apply_without_a_body_applies_all(api, people, post):
    post.shift(start=48, headcount=1)
    volunteers(post, 1)
    run_id = start_run(api, people).json()["id"]
    solve_run.call(run_id=run_id)
    r = api.post(f"/matching/runs/{run_id}/apply", raw="", as_=people.alice)
    assert r.status_code == 200, r.content
    assert len(r.json()["applied"]) == 1
