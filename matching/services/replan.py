"""Re-planning (局部重排) after a cancellation, or for an urgent shift.

Run by the `replan_shift` task, never in a request. A re-plan is a small
`MatchingRun` (kind "replan") around one shift:

- the problem is the community's open shifts within `NEIGHBOURHOOD` of the
  shift, built by `problem_for`, so confirmed and checked-in pairs are pinned;
- the current plan is those pinned pairs plus the still-proposed proposals of
  the latest finished plan run (the ones still consistent), given to the
  optimizer's `replan` as the previous solution: it hints them, penalises
  changes after coverage, and re-solves only the shift's neighbourhood (who
  could fill it, what they do now, who could take that over) under a short
  limit;
- the run's proposals are the new pairs only (the replacement, and anyone moved
  to make room); previous proposals the re-plan drops are marked skipped with
  reason "replanned". Confirmed assignments are never touched: they are pinned,
  and applying only ever adds assignments;
- the run is recorded through `run_record_solution` (`run.finished` to the
  staff) and, under the community's `matching_auto_confirm` policy, applied at
  once (`run_apply`: volunteers get `assignment.confirmed` live).

Idempotent: the trigger carries a key (the cancelled assignment, or the urgent
shift), and a second re-plan of the same key returns the first run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from matching import optimizer as opt
from matching.models import (
    COMMITTED,
    Assignment,
    AssignmentStatus,
    MatchingRun,
    NeedStatus,
    Proposal,
    ProposalStatus,
    RunKind,
    RunStatus,
    Shift,
    VolunteerProfile,
)
from matching.optimizer.assemble import triples_of
from matching.optimizer.feasibility import Feasibility, prefilter
from matching.optimizer.model import trivial_bound
from matching.problem import problem_for, sid, vid
from timebank.errors import Forbidden
from timebank.events import record, staff_group

log = logging.getLogger(__name__)
S = AssignmentStatus

# Shifts starting this close to the hole's shift are in the re-planned problem.
NEIGHBOURHOOD = dt.timedelta(hours=4)
TIME_LIMIT_S = 2.0
# Nobody cancelled on an urgent shift: the hole's pair names no volunteer.
NOBODY = "v0"


def replan_after_cancellation(assignment_id: int) -> MatchingRun | None:
    """Re-plan around the seat a confirmed volunteer gave up; None if there is
    nothing to re-plan (not a cancelled confirmation, the shift is closed or full)."""
    a = (
        Assignment.objects.select_related("shift__need")
        .filter(pk=assignment_id, status=S.CANCELLED, confirmed_at__isnull=False)
        .first()
    )
    if a is None:
        return None
    trigger = {
        "key": f"cancel:{a.pk}",
        "reason": "cancellation",
        "assignment": a.pk,
        "shift": a.shift_id,
        "volunteer": a.volunteer_id,
    }
    return _replan(a.shift, trigger, hole=opt.Pair(sid(a.shift_id), vid(a.volunteer_id)))


def replan_for_shift(shift_id: int) -> MatchingRun | None:
    """Re-plan to staff an urgent shift (posted close to its start, high priority);
    None if it is closed or already full."""
    shift = Shift.objects.select_related("need").filter(pk=shift_id).first()
    if shift is None:
        return None
    trigger = {"key": f"urgent:{shift.pk}", "reason": "urgent_need", "shift": shift.pk}
    return _replan(shift, trigger, hole=opt.Pair(sid(shift.pk), NOBODY))


def _open_seat(shift: Shift, now: dt.datetime) -> bool:
    return (
        shift.cancelled_at is None
        and shift.need.status == NeedStatus.OPEN
        and shift.start > now
        and shift.seats_taken < shift.headcount
    )


def _claim(shift: Shift, trigger: dict[str, Any], now: dt.datetime) -> tuple[MatchingRun, bool]:
    """The re-plan run of this trigger, created if new (True) under the shift's
    row lock, so two tasks for the same trigger make one run."""
    with transaction.atomic(durable=True):
        Shift.objects.select_for_update(no_key=True).filter(pk=shift.pk).first()
        existing = MatchingRun.objects.filter(
            community_id=shift.community_id, kind=RunKind.REPLAN, trigger__key=trigger["key"]
        ).first()
        if existing is not None:
            return existing, False
        run = MatchingRun.objects.create(
            community_id=shift.community_id,
            period_start=max(now, shift.start - NEIGHBOURHOOD),
            period_end=shift.end + NEIGHBOURHOOD,
            time_limit_s=int(TIME_LIMIT_S),
            kind=RunKind.REPLAN,
            trigger=trigger,
            status=RunStatus.RUNNING,
            created_by_id=shift.need.created_by_id,
        )
        record(
            staff_group(run.community_id),
            "run.progress",
            {"run": run.pk, "kind": run.kind, "stage": "replanning", "trigger": trigger},
        )
    return run, True


def _problem(run: MatchingRun, shift: Shift) -> opt.Problem:
    """`problem_for(run)`, limited to `near_members` (it loads every volunteer of
    the community otherwise)."""
    return problem_for(run, members=near_members(run, shift))


def near_members(run: MatchingRun, shift: Shift) -> set[int]:
    """The volunteers a re-plan around `shift` needs: who could fill it (lives
    within their own travel radius of it, has its skills and one of its
    languages, has a weekly window that covers it or enters none), and everyone
    holding a seat or a still-proposed one in the run's period (their pins and
    the hints). A superset of the fillers: the optimizer applies the exact rules.
    People who could only take over a filler's other shift are left out."""
    from matching.models import AvailabilityException, AvailabilityWindow, VolunteerSkill
    from matching.optimizer.geo import haversine_km
    from timebank.people.models import Role, RoleName

    need = shift.need
    ids = set(
        Role.objects.filter(community_id=run.community_id, role=RoleName.VOLUNTEER).values_list(
            "member_id", flat=True
        )
    )
    rows = VolunteerProfile.objects.filter(member_id__in=ids).values_list(
        "member_id", "home_lat", "home_lon", "travel_radius_km", "languages"
    )
    profiles = {m: (lat, lon, radius, langs) for m, lat, lon, radius, langs in rows}
    centre = (run.community.center_lat, run.community.center_lon, 3.0, ["zh"])
    start, end = timezone.localtime(shift.start), timezone.localtime(shift.end)
    day = start.date()
    windowed = set(
        AvailabilityWindow.objects.filter(profile_id__in=profiles).values_list(
            "profile_id", flat=True
        )
    )
    covered = set(
        AvailabilityWindow.objects.filter(
            profile_id__in=profiles,
            weekday=day.weekday(),
            start__lte=start.time(),
            end__gte=end.time(),
        ).values_list("profile_id", flat=True)
        if end.date() == day
        else []
    )
    covered |= set(
        AvailabilityException.objects.filter(
            profile_id__in=profiles, date=day, available=True
        ).values_list("profile_id", flat=True)
    )
    skilled: set[int] | None = None
    for skill in need.skills:
        having = set(
            VolunteerSkill.objects.filter(profile_id__in=profiles, name=skill).values_list(
                "profile_id", flat=True
            )
        )
        skilled = having if skilled is None else skilled & having
    near: set[int] = set()
    for m in ids:
        lat, lon, radius, langs = profiles.get(m, centre)
        if lat is None or lon is None:
            lat, lon = centre[0], centre[1]
        if m in windowed and m not in covered:
            continue
        if skilled is not None and m not in skilled:
            continue
        if need.languages and not set(need.languages) & set(langs or []):
            continue
        if haversine_km(lat, lon, need.lat, need.lon) <= radius:
            near.add(m)
    in_period = {"start__lt": run.period_end, "end__gt": run.period_start}
    near |= set(
        Assignment.objects.filter(
            community_id=run.community_id, status__in=COMMITTED, **in_period
        ).values_list("volunteer_id", flat=True)
    )
    near |= set(
        Proposal.objects.filter(
            run__community_id=run.community_id,
            run__kind=RunKind.PLAN,
            status=ProposalStatus.PROPOSED,
            shift__start__lt=run.period_end,
            shift__end__gt=run.period_start,
        ).values_list("volunteer_id", flat=True)
    )
    return near & ids


def _current_plan(
    problem: opt.Problem, community_id: int, feasible: Feasibility
) -> tuple[list[opt.Pair], dict[opt.Pair, int]]:
    """The still-proposed pairs of the latest finished plan run that still fit
    with the pinned pairs and each other (a candidate pair, a free seat, no
    overlap), with their proposal ids."""
    latest = (
        MatchingRun.objects.filter(
            community_id=community_id, kind=RunKind.PLAN, status=RunStatus.FINISHED
        )
        .order_by("-finished_at", "-id")
        .first()
    )
    if latest is None:
        return [], {}
    rows = list(
        Proposal.objects.filter(run=latest, status=ProposalStatus.PROPOSED).values_list(
            "id", "shift_id", "volunteer_id"
        )
    )
    if not rows:
        return [], {}
    shifts = {s.id: s for s in problem.shifts}
    volunteers = {v.id for v in problem.volunteers}
    wanted = {
        opt.Pair(sid(s), vid(v)): pk
        for pk, s, v in rows
        if sid(s) in shifts and vid(v) in volunteers
    }
    ok = {
        opt.Pair(
            problem.shifts[int(feasible.tri_shift[t])].id,
            problem.volunteers[int(feasible.tri_vol[t])].id,
        )
        for t in triples_of(feasible, list(wanted))
    }
    seats = {s.id: s.headcount for s in shifts.values()}
    busy: dict[str, list[tuple[dt.datetime, dt.datetime]]] = {}
    for p in problem.fixed:
        seats[p.shift] -= 1
        busy.setdefault(p.volunteer, []).append(shifts[p.shift].times())
    kept: list[opt.Pair] = []
    for p in sorted(wanted, key=lambda p: (shifts[p.shift].times(), p)):
        start, end = shifts[p.shift].times()
        mine = busy.setdefault(p.volunteer, [])
        if p not in ok or seats[p.shift] <= 0 or any(s < end and start < e for s, e in mine):
            continue
        seats[p.shift] -= 1
        mine.append((start, end))
        kept.append(p)
    return kept, {p: wanted[p] for p in kept}


def _replan(shift: Shift, trigger: dict[str, Any], *, hole: opt.Pair) -> MatchingRun | None:
    from matching.services.distributed import fail
    from matching.services.runs import run_apply, run_record_solution

    now = timezone.now()
    if not _open_seat(shift, now):
        return None
    run, new = _claim(shift, trigger, now)
    if not new:
        return run
    try:
        problem = _problem(run, shift)
        feasible = prefilter(problem)
        proposed, proposal_ids = _current_plan(problem, shift.community_id, feasible)
        pinned = list(problem.fixed)
        previous = opt.Solution(
            status="FEASIBLE",
            assignments=tuple(sorted({*pinned, *proposed})),
            unfilled=(),
            # The per-shift seat bound: proven, and what the re-plan's bound keeps.
            objective=opt.Objective(coverage_bound=trivial_bound(feasible)),
            solve_seconds=0.0,
        )
        if hole.shift in {s.id for s in problem.shifts}:
            solution = opt.replan(
                problem,
                previous,
                [(hole.shift, hole.volunteer)],
                time_limit_s=TIME_LIMIT_S,
            )
        else:
            solution = previous  # the shift left the problem (e.g. its seats are offered)
    except Exception as exc:
        log.exception("re-plan run %s failed", run.pk)
        fail(run.pk, str(exc))
        run.refresh_from_db()
        return run
    after = set(solution.assignments)
    kept = [p for p in proposed if p in after]
    dropped = [proposal_ids[p] for p in proposed if p not in after]
    # Only new pairs become proposals: pinned pairs and kept proposals are excluded.
    recorded = dataclasses.replace(problem, fixed=tuple(dict.fromkeys([*pinned, *kept])))
    run = run_record_solution(run=run, problem=recorded, solution=solution)
    if dropped:
        with transaction.atomic(durable=True):
            Proposal.objects.filter(pk__in=dropped, status=ProposalStatus.PROPOSED).update(
                status=ProposalStatus.SKIPPED, reason="replanned"
            )
    if run.community.matching_auto_confirm and run.proposals.exists():
        try:
            run_apply(actor=run.created_by, run=run)
        except Forbidden:
            # The need's poster is no longer staff here: the proposals wait for staff.
            log.warning("re-plan run %s not auto-confirmed: its creator may not apply", run.pk)
    return run
