"""Re-planning (局部重排) after a cancellation or for an urgent shift: a run of kind
"replan" around the hole, few other changes, confirmed assignments untouched,
auto-confirm policy, idempotent, and never overfilling under concurrent sign-ups."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from matching import services
from matching.models import Assignment, MatchingRun, Proposal, Shift
from matching.services.replan import replan_after_cancellation, replan_for_shift
from matching.tasks import replan_shift, solve_run
from tests.concurrency import run_concurrently
from tests.matching.conftest import at
from timebank.events import member_group
from timebank.models import Event

LAT, LON = 22.5410, 114.0590
HERE = {"lat": LAT, "lon": LON, "address": "香蜜湖路 1 号"}


def shift(post, start, priority=3, headcount=1):
    need = post.need(
        location=HERE,
        priority=priority,
        shifts=[{"start": at(start), "end": at(start + 2), "headcount": headcount}],
    )
    return need["shifts"][0]["id"]


def volunteer(post, name):
    return post.volunteer(name=name, home_lat=22.5415, home_lon=114.0590)


def sign_up(api, shift_id, member):
    r = api.post(f"/shifts/{shift_id}/signups", as_=member)
    assert r.status_code in (201, 202), r.content
    return r.json()["assignment"]["id"]


def cancel(api, assignment_id, member, capture):
    with capture(execute=True):
        r = api.post(f"/assignments/{assignment_id}/cancel", {"reason": "临时出差"}, as_=member)
    assert r.status_code == 200, r.content


@pytest.mark.django_db
def test_cancellation_replans_the_hole_and_leaves_confirmed_others(
    api, people, post, django_capture_on_commit_callbacks
):
    hole = shift(post, 48, priority=5)
    low = shift(post, 48, priority=1)  # same time, much less important
    leaving = volunteer(post, "要走的")
    pinned = volunteer(post, "已确认的")
    free = volunteer(post, "有空的")
    aid = sign_up(api, hole, leaving)
    sign_up(api, low, pinned)
    cancel(api, aid, leaving, django_capture_on_commit_callbacks)
    queued = DBTaskResult.objects.filter(task_path="matching.tasks.replan_shift").get()
    assert queued.args_kwargs["kwargs"]["assignment_id"] == aid
    assert DBTaskResult.objects.filter(task_path="matching.tasks.suggest_replacements").exists()

    run_id = replan_shift.call(assignment_id=aid)
    assert run_id is not None
    run = MatchingRun.objects.get(pk=run_id)
    assert run.kind == "replan" and run.status == "finished"
    assert run.trigger["assignment"] == aid and run.trigger["shift"] == hole
    assert run.created_by_id == people.alice.id  # the need's poster
    # The hole gets the free volunteer; the confirmed one is not moved to it,
    # even though the hole is worth 16 times as much.
    [(on, who)] = run.proposals.values_list("shift_id", "volunteer_id")
    assert on == hole and who in {free.id, people.bob.id}  # bob volunteers here too
    assert Assignment.objects.get(shift_id=low, volunteer=pinned).status == "confirmed"
    assert run.objective["coverage"] == 16 + 1
    assert (run.bound or 0) >= 17
    finished = Event.objects.get(type="run.finished", data__run=run_id)
    assert finished.data["proposals"] == 1 and finished.data["kind"] == "replan"
    body = api.get(f"/matching/runs/{run_id}", as_=people.alice).json()
    assert body["kind"] == "replan" and body["trigger"]["assignment"] == aid
    assert [p["shift"] for p in body["proposals"]] == [hole]
    # Not auto-confirmed by default: the proposal waits for staff.
    assert not Assignment.objects.filter(shift_id=hole, status="confirmed").exists()

    # The same cancellation re-planned again (a retried task) makes no second run.
    assert replan_shift.call(assignment_id=aid) == run_id
    assert MatchingRun.objects.filter(kind="replan").count() == 1
    assert run.proposals.count() == 1


@pytest.mark.django_db
def test_replan_keeps_the_unapplied_plan_and_changes_few_others(
    api, people, post, django_capture_on_commit_callbacks
):
    hole = shift(post, 48, priority=4)
    later = [shift(post, 52 + 4 * i) for i in range(4)]
    crew = [volunteer(post, f"志愿{i}") for i in range(6)]
    body = {"community": people.community.id, "from": at(1), "to": at(24 * 7), "time_limit_s": 5}
    plan_id = api.post("/matching/runs", body, as_=people.alice).json()["id"]
    solve_run.call(run_id=plan_id)
    plan = MatchingRun.objects.get(pk=plan_id)
    assert plan.proposals.count() == 5
    on_hole = plan.proposals.get(shift_id=hole)
    r = api.post(
        f"/matching/runs/{plan_id}/apply", {"proposal_ids": [on_hole.id]}, as_=people.alice
    )
    assert r.json()["applied"] == [on_hole.id]
    leaving = next(m for m in crew if m.id == on_hole.volunteer_id)
    aid = Assignment.objects.get(shift_id=hole, volunteer=leaving).id
    cancel(api, aid, leaving, django_capture_on_commit_callbacks)

    run = replan_after_cancellation(aid)
    assert run is not None
    proposals = list(run.proposals.values_list("shift_id", "volunteer_id"))
    on_hole_now = [v for s, v in proposals if s == hole]
    assert len(on_hole_now) == 1 and on_hole_now[0] != leaving.id
    # Other changes: new pairs elsewhere plus plan proposals the re-plan dropped.
    dropped = Proposal.objects.filter(run=plan, status="skipped", reason="replanned").count()
    others = len([p for p in proposals if p[0] != hole]) + dropped
    assert others <= 3
    # The kept plan proposals are not proposed again by the re-plan.
    still = set(plan.proposals.filter(status="proposed").values_list("shift_id", "volunteer_id"))
    assert not still & set(proposals)
    assert {s for s, _ in still} <= set(later)


@pytest.mark.django_db
def test_auto_confirm_policy_applies_and_pushes_live(
    api, people, post, django_capture_on_commit_callbacks
):
    people.community.matching_auto_confirm = True
    people.community.save(update_fields=["matching_auto_confirm"])
    hole = shift(post, 48, priority=4)
    leaving = volunteer(post, "要走的")
    free = volunteer(post, "有空的")
    aid = sign_up(api, hole, leaving)
    cancel(api, aid, leaving, django_capture_on_commit_callbacks)
    run = replan_after_cancellation(aid)
    assert run is not None
    a = Assignment.objects.get(shift_id=hole, status="confirmed")
    assert a.volunteer_id in {free.id, people.bob.id} and a.source == "matching"
    assert run.proposals.get().status == "applied"
    assert Shift.objects.get(pk=hole).seats_taken == 1
    pushed = Event.objects.filter(
        type="assignment.confirmed", recipients__group=member_group(a.volunteer_id)
    )
    assert pushed.exists()


@pytest.mark.django_db
def test_nothing_to_replan(api, people, post, django_capture_on_commit_callbacks):
    hole = shift(post, 48)
    first = volunteer(post, "甲")
    waiting = volunteer(post, "乙")
    volunteer(post, "丙")
    aid = sign_up(api, hole, first)
    wait_id = sign_up(api, hole, waiting)  # waitlisted
    assert replan_after_cancellation(aid) is None  # still confirmed
    cancel(api, aid, first, django_capture_on_commit_callbacks)
    # The waitlist got the seat (an offer holds it): nothing to re-plan.
    assert Assignment.objects.get(pk=wait_id).status == "offered"
    assert replan_after_cancellation(aid) is None
    assert replan_after_cancellation(wait_id) is None
    assert replan_after_cancellation(424242) is None
    assert not MatchingRun.objects.filter(kind="replan").exists()


@pytest.mark.django_db
def test_urgent_shift_is_replanned(api, people, post):
    urgent = shift(post, 5, priority=5, headcount=2)
    crew = {volunteer(post, f"志愿{i}").id for i in range(3)} | {people.bob.id}
    run = replan_for_shift(urgent)
    assert run is not None and run.kind == "replan"
    assert run.trigger == {"key": f"urgent:{urgent}", "reason": "urgent_need", "shift": urgent}
    staffed = list(run.proposals.filter(shift_id=urgent).values_list("volunteer_id", flat=True))
    assert len(staffed) == 2 and set(staffed) <= crew
    assert replan_for_shift(urgent) == run
    assert replan_for_shift(999999) is None


@pytest.mark.django_db
def test_only_urgent_posted_shifts_are_scheduled(post):
    from matching.tasks import schedule_urgent_replans

    urgent = shift(post, 5, priority=5)
    later = shift(post, 72, priority=5)
    minor = shift(post, 5, priority=2)
    schedule_urgent_replans([urgent, later, minor])
    queued = [
        t.args_kwargs["kwargs"]
        for t in DBTaskResult.objects.filter(task_path="matching.tasks.replan_shift")
    ]
    assert queued == [{"assignment_id": None, "shift_id": urgent}]


@pytest.mark.django_db
def test_near_members_are_the_fillers_and_the_seat_holders(api, people, post):
    from matching.models import AvailabilityWindow
    from matching.services.replan import NEIGHBOURHOOD, near_members
    from matching.services.signups import profile_ensure

    hole = shift(post, 48)
    close = volunteer(post, "近的")
    far = post.volunteer(name="远的", home_lat=22.70, home_lon=114.30)
    busy_far = post.volunteer(name="远但有班", home_lat=22.70, home_lon=114.30)
    away = volunteer(post, "那时没空")
    there = post.need(
        location={"lat": 22.70, "lon": 114.30, "address": "远处"},
        shifts=[{"start": at(47), "end": at(49), "headcount": 1}],
    )["shifts"][0]["id"]
    sign_up(api, there, busy_far)
    profile_ensure(member=far)  # lives far away (without a profile: the community centre)
    profile = profile_ensure(member=away)
    start = timezone.localtime(Shift.objects.get(pk=hole).start)
    AvailabilityWindow.objects.create(
        profile=profile, weekday=(start.weekday() + 3) % 7, start=dt.time(8), end=dt.time(9)
    )
    s = Shift.objects.select_related("need").get(pk=hole)
    run = MatchingRun(
        community=people.community,
        period_start=s.start - NEIGHBOURHOOD,
        period_end=s.end + NEIGHBOURHOOD,
    )
    near = near_members(run, s)
    assert close.id in near and busy_far.id in near
    assert far.id not in near and away.id not in near


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_auto_confirmed_replan_racing_signups_never_overfills(people):
    from matching.models import Need
    from tests.factories import member_with_roles

    people.community.matching_auto_confirm = True
    people.community.save(update_fields=["matching_auto_confirm"])
    for round_ in range(3):
        need = Need.objects.create(
            community=people.community,
            title="紧急陪诊",
            category="escort",
            priority=5,
            lat=LAT,
            lon=LON,
            created_by=people.alice,
        )
        start = timezone.now().replace(microsecond=0) + dt.timedelta(hours=30 + 5 * round_)
        hole = Shift.objects.create(
            need=need,
            community=people.community,
            start=start,
            end=start + dt.timedelta(hours=2),
            headcount=2,
        )
        crew = [
            member_with_roles(people.community, "volunteer", home_lat=22.5415, home_lon=114.059)
            for _ in range(7)
        ]
        a, _ = services.signup_create(volunteer=crew[0], shift_id=hole.id)
        services.signup_create(volunteer=crew[1], shift_id=hole.id)
        services.assignment_cancel(actor=crew[0], assignment=a, reason="生病")

        def attempt(i, hole=hole, crew=crew, a=a):
            if i == 0:
                return replan_after_cancellation(a.id)
            return services.signup_create(volunteer=crew[i + 1], shift_id=hole.id)

        results = run_concurrently(attempt, 5)
        assert not [r for r in results if isinstance(r, BaseException) and not hasattr(r, "code")]
        hole.refresh_from_db()
        held = Assignment.objects.filter(shift=hole, status__in=["confirmed", "offered"]).count()
        assert hole.seats_taken == held <= hole.headcount == 2
        assert MatchingRun.objects.filter(kind="replan", trigger__assignment=a.id).count() == 1
