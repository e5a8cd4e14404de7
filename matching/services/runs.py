"""Matching runs (智能匹配): create, solve in a task, apply proposals.

Solving never happens in a request: `run_create` enqueues `matching.tasks.solve_run`.
Applying writes the chosen proposals in one transaction with the same locks as
sign-up (volunteer profiles, then shifts, each in primary-key order), so
proposals applied while volunteers sign up never overfill a shift.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import queue
import threading
import time
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from matching import optimizer as opt
from matching.models import (
    ACTIVE,
    Assignment,
    AssignmentStatus,
    MatchingRun,
    Proposal,
    ProposalStatus,
    RunStatus,
    Shift,
    VolunteerProfile,
)
from matching.problem import parse_id, problem_for
from matching.services.common import iso, record_assignment, record_seats
from matching.services.signups import profile_ensure
from matching.tasks import after_seat_taken, schedule_reminders
from timebank import permissions
from timebank.errors import Conflict, field_error
from timebank.events import record, staff_group
from timebank.people.models import Community, Member

log = logging.getLogger(__name__)
S = AssignmentStatus
MAX_PERIOD = dt.timedelta(days=31)
PROGRESS_EVERY_S = 0.5


def run_create(
    *,
    actor: Member,
    community: Community,
    start: dt.datetime,
    end: dt.datetime,
    time_limit_s: int = 10,
) -> MatchingRun:
    permissions.require(actor, "matching.run", community.id)
    if end <= start:
        raise field_error("to", _("结束时间必须晚于开始时间"), code="invalid_period")
    if end - start > MAX_PERIOD:
        raise field_error("to", _("一次匹配最多覆盖 31 天"), code="period_too_long")
    if end <= timezone.now():
        raise field_error("to", _("该时段已经过去"), code="invalid_period")
    if not 1 <= time_limit_s <= 300:
        raise field_error(
            "time_limit_s", _("时间上限须在 1 到 300 秒之间"), code="invalid_time_limit"
        )
    with transaction.atomic(durable=True):
        run = MatchingRun.objects.create(
            community=community,
            period_start=start,
            period_end=end,
            time_limit_s=time_limit_s,
            created_by=actor,
        )
        run_id = run.pk

        def enqueue() -> None:
            from matching.tasks import solve_run

            solve_run.enqueue(run_id=run_id)

        transaction.on_commit(enqueue)
    return run


def _progress_event(run: MatchingRun, payload: dict[str, Any]) -> None:
    with transaction.atomic():
        MatchingRun.objects.filter(pk=run.pk).update(progress=payload)
        record(staff_group(run.community_id), "run.progress", {"run": run.pk, **payload})


def _solve_reporting(run: MatchingRun, problem: opt.Problem) -> opt.Solution:
    """Solve in a helper thread while this thread turns its progress reports into
    `run.progress` events. The solver stays pure; only this thread uses the database
    (CP-SAT calls back from its own threads, which must not hold connections)."""
    reports: queue.Queue[opt.Progress] = queue.Queue()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["solution"] = opt.solve(
                problem, time_limit_s=float(run.time_limit_s), on_progress=reports.put
            )
        except BaseException as exc:  # re-raised below, in the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=work, name=f"matching-run-{run.pk}", daemon=True)
    worker.start()
    last = 0.0
    while worker.is_alive() or not reports.empty():
        try:
            p = reports.get(timeout=0.2)
        except queue.Empty:
            continue
        while not reports.empty():
            p = reports.get_nowait()
        if time.monotonic() - last < PROGRESS_EVERY_S and worker.is_alive():
            continue
        last = time.monotonic()
        _progress_event(
            run,
            {
                "stage": p.stage,
                "objective": p.coverage,
                "bound": p.bound,
                "elapsed_s": round(p.elapsed_s, 2),
            },
        )
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    solution: opt.Solution = outcome["solution"]
    return solution


def run_execute(*, run_id: int) -> MatchingRun:
    """Solve one run (called by the task worker). Safe to call again: a run that has
    left the queue is not solved twice."""
    with transaction.atomic(durable=True):
        run = (
            MatchingRun.objects.select_for_update(no_key=True)
            .select_related("community")
            .get(pk=run_id)
        )
        if run.status != RunStatus.QUEUED:
            return run
        run.status = RunStatus.RUNNING
        run.save(update_fields=["status"])
    try:
        problem = problem_for(run)
        from matching.services import distributed

        if distributed.wanted(problem):  # district-sized: parts as separate tasks
            return distributed.start(run=run, problem=problem)
        solution = _solve_reporting(run, problem)
    except Exception as exc:
        log.exception("matching run %s failed", run.pk)
        with transaction.atomic(durable=True):
            run.status = RunStatus.FAILED
            run.error = str(exc)[:500]
            run.finished_at = timezone.now()
            run.save(update_fields=["status", "error", "finished_at"])
            record(
                staff_group(run.community_id),
                "run.finished",
                {"run": run.pk, "status": run.status, "error": run.error},
            )
        return run
    return run_record_solution(run=run, problem=problem, solution=solution)


def run_record_solution(
    *, run: MatchingRun, problem: opt.Problem, solution: opt.Solution
) -> MatchingRun:
    """Store a solved run: its proposals (pairs not already fixed), objective, bound
    and unfilled reasons, and announce `run.finished`. Used by every way of solving
    (one task, parts on several workers, a re-plan)."""
    fixed = set(problem.fixed)
    with transaction.atomic(durable=True):
        Proposal.objects.bulk_create(
            [
                Proposal(run=run, shift_id=parse_id(p.shift), volunteer_id=parse_id(p.volunteer))
                for p in sorted(solution.assignments)
                if p not in fixed
            ]
        )
        objective = dataclasses.asdict(solution.objective)
        run.status = RunStatus.FINISHED
        run.objective = objective
        run.bound = solution.objective.coverage_bound
        run.solver_status = solution.status
        run.unfilled = [
            {"shift": parse_id(u.shift), "missing": u.missing, "reason": u.reason}
            for u in solution.unfilled
        ]
        run.progress = {
            "stage": "done",
            "objective": solution.objective.coverage,
            "bound": solution.objective.coverage_bound,
            "elapsed_s": round(solution.solve_seconds, 2),
        }
        run.finished_at = timezone.now()
        run.save()
        record(
            staff_group(run.community_id),
            "run.finished",
            {
                "run": run.pk,
                "status": run.status,
                "solver_status": run.solver_status,
                "objective": objective,
                "proposals": run.proposals.count(),
            },
        )
    return run


def run_apply(
    *, actor: Member, run: MatchingRun, proposal_ids: list[int] | None = None
) -> dict[str, Any]:
    """Turn proposals into confirmed assignments, in one transaction. A proposal whose
    seat has gone, or whose volunteer has since committed elsewhere, is skipped with
    the reason; nothing overfills."""
    permissions.require(actor, "matching.run", run.community_id)
    if run.status != RunStatus.FINISHED:
        raise Conflict(_("匹配尚未完成"), code="run_not_finished")
    chosen = list(run.proposals.filter(status=ProposalStatus.PROPOSED))
    if proposal_ids is not None:
        wanted = set(proposal_ids)
        known = set(run.proposals.values_list("id", flat=True))
        if wanted - known:
            raise field_error("proposal_ids", _("包含不属于该匹配的建议"), code="unknown_proposal")
        chosen = [p for p in chosen if p.id in wanted]
    volunteers = sorted({p.volunteer_id for p in chosen})
    for member in Member.objects.filter(pk__in=volunteers):
        profile_ensure(member=member)
    applied: list[int] = []
    skipped: list[dict[str, Any]] = []
    confirmed: list[int] = []
    now = timezone.now()
    with transaction.atomic(durable=True):
        list(
            VolunteerProfile.objects.select_for_update(no_key=True)
            .filter(pk__in=volunteers)
            .order_by("pk")
        )
        shifts = {
            s.pk: s
            for s in Shift.objects.select_for_update(no_key=True)
            .select_related("need")
            .filter(pk__in={p.shift_id for p in chosen})
            .order_by("pk")
        }
        touched: set[int] = set()
        for p in sorted(chosen, key=lambda p: (p.shift_id, p.id)):
            shift = shifts[p.shift_id]
            reason = ""
            if shift.cancelled_at is not None or shift.start <= now:
                reason = "shift_closed"
            elif shift.seats_taken >= shift.headcount:
                reason = "shift_full"
            elif Assignment.objects.filter(
                shift=shift, volunteer_id=p.volunteer_id, status__in=ACTIVE
            ).exists():
                reason = "already_on_shift"
            elif Assignment.objects.filter(
                volunteer_id=p.volunteer_id,
                status__in=[S.CONFIRMED, S.CHECKED_IN, S.CHECKED_OUT, S.VERIFIED],
                start__lt=shift.end,
                end__gt=shift.start,
            ).exists():
                reason = "overlap"
            if reason:
                p.status, p.reason = ProposalStatus.SKIPPED, reason
                p.save(update_fields=["status", "reason"])
                skipped.append({"id": p.id, "reason": reason})
                continue
            a = Assignment.objects.create(
                shift=shift,
                volunteer_id=p.volunteer_id,
                community_id=shift.community_id,
                status=S.CONFIRMED,
                start=shift.start,
                end=shift.end,
                source="matching",
                confirmed_at=now,
            )
            Shift.objects.filter(pk=shift.pk).update(seats_taken=F("seats_taken") + 1)
            shift.seats_taken += 1
            after_seat_taken(shift)
            touched.add(shift.pk)
            p.status, p.assignment = ProposalStatus.APPLIED, a
            p.save(update_fields=["status", "assignment"])
            record_assignment(a, "assignment.confirmed", run=run.pk)
            applied.append(p.id)
            confirmed.append(a.pk)
        for shift_id in sorted(touched):
            record_seats(shifts[shift_id])

        def schedule() -> None:

            for assignment_id in confirmed:
                schedule_reminders(assignment_id)

        transaction.on_commit(schedule)
    return {"run": run.pk, "applied": applied, "skipped": skipped, "at": iso(now)}
