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

from django.db import OperationalError, transaction
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
    RunKind,
    RunStatus,
    Shift,
    VolunteerProfile,
)
from matching.notifications import notify
from matching.problem import (
    parse_id,
    people_of,
    placement_gaps,
    problem_for,
    single_shift_problem,
)
from matching.services.common import iso, record_assignment, record_seats
from matching.services.signups import profile_ensure
from matching.tasks import after_seat_taken, schedule_no_show_check, schedule_reminders
from timebank import permissions
from timebank.errors import ApplicationError, Conflict, field_error
from timebank.events import member_group, record, staff_group
from timebank.metrics import observe_solve
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


def _unfilled(run: MatchingRun, problem: opt.Problem, solution: opt.Solution) -> list[Any]:
    """The optimizer's unfilled reasons, with the radius a space-kind need searched
    added to "no room" reasons; plus the shifts that never reached the optimizer
    (no usable space in reach, a window already over)."""
    out: list[dict[str, Any]] = [
        {"shift": parse_id(u.shift), "missing": u.missing, "reason": u.reason}
        for u in solution.unfilled
    ]
    roomy = [u["shift"] for u in out if str(u["reason"]).startswith("no room")]
    radius = dict(
        Shift.objects.filter(pk__in=roomy, space_radius_km__isnull=False)
        .exclude(space_kind="")
        .values_list("pk", "space_radius_km")
    )
    for u in out:
        if u["shift"] in radius:
            u["reason"] = f"{u['reason']} within {radius[u['shift']]:g} km"
    if run.kind == RunKind.PLAN:
        seen = {u["shift"] for u in out}
        out.extend(g for g in placement_gaps(run, problem) if g["shift"] not in seen)
    return out


def run_record_solution(
    *, run: MatchingRun, problem: opt.Problem, solution: opt.Solution
) -> MatchingRun:
    """Store a solved run: its proposals (pairs not already fixed), each with the
    placement of its shift when the shift is flexible or needs a space (start, end,
    space), objective, bound and unfilled reasons, and announce `run.finished`. Used
    by every way of solving (one task, parts on several workers, a re-plan)."""
    fixed = set(problem.fixed)
    placed = {p.shift: p for p in solution.placements or ()}
    unfilled = _unfilled(run, problem, solution)

    def proposal(p: opt.Pair) -> Proposal:
        where = placed.get(p.shift)
        return Proposal(
            run=run,
            shift_id=parse_id(p.shift),
            volunteer_id=parse_id(p.volunteer),
            start=where.start if where else None,
            end=where.end if where else None,
            space_id=parse_id(where.space) if where and where.space else None,
        )

    with transaction.atomic(durable=True):
        Proposal.objects.bulk_create(
            [proposal(p) for p in sorted(solution.assignments) if p not in fixed]
        )
        objective = dataclasses.asdict(solution.objective)
        run.status = RunStatus.FINISHED
        run.objective = objective
        run.bound = solution.objective.coverage_bound
        run.solver_status = solution.status
        run.unfilled = unfilled
        run.progress = {
            "stage": "done",
            "objective": solution.objective.coverage,
            "bound": solution.objective.coverage_bound,
            "elapsed_s": round(solution.solve_seconds, 2),
        }
        run.finished_at = timezone.now()
        run.save()
        observe_solve(solution.solve_seconds, run.kind)
        record(
            staff_group(run.community_id),
            "run.finished",
            {
                "run": run.pk,
                "kind": run.kind,
                "status": run.status,
                "solver_status": run.solver_status,
                "objective": objective,
                "proposals": run.proposals.count(),
            },
        )
    return run


REPLACE_ATTEMPTS = 3
REPLACE_TIME_LIMIT_S = 2.0


def _skip_reason(shift: Shift, volunteer_id: int, start: dt.datetime, end: dt.datetime) -> str:
    """Why a proposal can no longer be applied at [start, end), or ""."""
    if shift.cancelled_at is not None or start <= timezone.now():
        return "shift_closed"
    if shift.seats_taken >= shift.headcount:
        return "shift_full"
    if Assignment.objects.filter(
        shift=shift, volunteer_id=volunteer_id, status__in=ACTIVE
    ).exists():
        return "already_on_shift"
    if Assignment.objects.filter(
        volunteer_id=volunteer_id,
        status__in=[S.CONFIRMED, S.CHECKED_IN, S.CHECKED_OUT, S.VERIFIED],
        start__lt=end,
        end__gt=start,
    ).exists():
        return "overlap"
    return ""


@dataclasses.dataclass
class Where:
    start: dt.datetime
    end: dt.datetime
    space_id: int | None

    def out(self) -> dict[str, Any]:
        return {"start": iso(self.start), "end": iso(self.end), "space": self.space_id}


def _book(shift: Shift, where: Where) -> int | None:
    """Book the space of a placement through the resources booking service (the
    path residents use, so its locks and exclusion constraints guard it), in a
    savepoint of the caller's transaction. Raises the service's error."""
    if where.space_id is None:
        return None
    from resources.booking import reservation_create
    from resources.services import space_get

    need = shift.need
    with transaction.atomic():
        reservation = reservation_create(
            member=Member.objects.get(pk=need.created_by_id),
            space=space_get(space_id=where.space_id),
            start=where.start,
            end=where.end,
            # Participants are not named members: the room's capacity for them was
            # checked by the optimizer (hard rule 9), so the booking is in the
            # poster's name alone and the purpose says how many come.
            party_size=1,
            accept_terms=True,
            purpose=f"{need.title}（{people_of(shift)} 人）"[:200],
            need_shift_id=shift.pk,
        )
    return int(reservation.pk)


def _replace(
    shift: Shift, volunteer_ids: list[int], failed: Where
) -> tuple[Where, set[int]] | None:
    """Solve the one shift again, alone, with the volunteers proposed for it and the
    spaces as they are now; the failed slot is never offered again."""
    problem = single_shift_problem(
        shift, volunteer_ids, exclude=(failed.space_id, failed.start, failed.end)
    )
    if problem is None or not problem.volunteers:
        return None
    solution = opt.solve(problem, time_limit_s=REPLACE_TIME_LIMIT_S, workers=1)
    observe_solve(solution.solve_seconds, "replace")
    if not solution.assignments or not solution.placements:
        return None
    pl = solution.placements[0]
    kept = {parse_id(p.volunteer) for p in solution.assignments}
    return Where(pl.start, pl.end, parse_id(pl.space) if pl.space else None), kept


def _booking_failure(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, ApplicationError):
        return exc.code, str(exc.detail)
    return "slot_taken", str(_("该时段已被预订"))


def _place(
    *, shift: Shift, props: list[Proposal], now: dt.datetime
) -> tuple[list[Proposal], list[dict[str, Any]], dict[str, Any] | None]:
    """Place a flexible or space-needing shift at its proposed slot, booking the
    space; when the slot was taken meanwhile, re-place it (another start or space,
    with those of its volunteers who are free then). Returns the proposals to apply
    at the shift's (new) time, those skipped, and what moved and why."""
    first = props[0]
    assert first.start is not None and first.end is not None  # noqa: S101 - caller checks
    where = Where(first.start, first.end, first.space_id)
    proposed = where
    skipped: list[dict[str, Any]] = []
    live: list[Proposal] = []
    for p in props:
        reason = _skip_reason(shift, p.volunteer_id, where.start, where.end)
        if reason:
            p.status, p.reason = ProposalStatus.SKIPPED, reason
            p.save(update_fields=["status", "reason"])
            skipped.append({"id": p.id, "reason": reason})
        else:
            live.append(p)
    if not live:
        return [], skipped, None
    moved: dict[str, Any] | None = None
    reservation_id: int | None = None
    for attempt in range(REPLACE_ATTEMPTS + 1):
        try:
            reservation_id = _book(shift, where)
            break
        except (ApplicationError, OperationalError) as exc:
            if isinstance(exc, OperationalError) and not _is_deadlock(exc):
                raise
            code, detail = _booking_failure(exc)
            moved = {
                "shift": shift.pk,
                "proposed": proposed.out(),
                "placed": None,
                "reason": code,
                "detail": detail,
            }
            again = (
                _replace(shift, [p.volunteer_id for p in live], where)
                if attempt < REPLACE_ATTEMPTS
                else None
            )
            if again is None:
                for p in live:
                    p.status, p.reason = ProposalStatus.SKIPPED, code
                    p.save(update_fields=["status", "reason"])
                    skipped.append({"id": p.id, "reason": code})
                return [], skipped, moved
            where, kept = again
            for p in live:
                if p.volunteer_id not in kept:
                    p.status, p.reason = ProposalStatus.SKIPPED, "not_free_after_move"
                    p.save(update_fields=["status", "reason"])
                    skipped.append({"id": p.id, "reason": "not_free_after_move"})
            live = [p for p in live if p.volunteer_id in kept]
            for p in live:
                p.start, p.end, p.space_id = where.start, where.end, where.space_id
                p.save(update_fields=["start", "end", "space_id"])
            moved["placed"] = where.out()
    shift.start, shift.end, shift.space_id = where.start, where.end, where.space_id
    shift.placed_at = now
    if reservation_id is not None:
        shift.reservation_id = reservation_id
        shift.space_note = ""
    shift.save(
        update_fields=["start", "end", "space_id", "placed_at", "reservation_id", "space_note"]
    )
    return live, skipped, moved


def _is_deadlock(exc: OperationalError) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) in {"40P01", "40001"}


def _announce_placement(
    *, actor: Member, run: MatchingRun, shift: Shift, volunteers: list[int], moved: Any
) -> dict[str, Any]:
    """Volunteers, the need's resident and staff see the placed time and place live;
    volunteers and the resident also get it in their inbox. When the slot had to
    move, the social worker is told what moved and why."""
    need = shift.need
    space_name = ""
    if shift.space_id is not None:
        from resources.models import Space

        space_name = (
            Space.objects.filter(pk=shift.space_id).values_list("name", flat=True).first() or ""
        )
    data = {
        "shift": shift.pk,
        "need": need.pk,
        "title": need.title,
        "start": iso(shift.start),
        "end": iso(shift.end),
        "space": shift.space_id,
        "space_name": space_name,
        "reservation": shift.reservation_id,
        "run": run.pk,
        "moved": moved is not None,
    }
    people = sorted({*volunteers, *([need.beneficiary_id] if need.beneficiary_id else [])})
    record(
        [staff_group(shift.community_id), *(member_group(m) for m in people)],
        "shift.placed",
        data,
    )
    when = timezone.localtime(shift.start).strftime("%m-%d %H:%M")
    for member_id in people:
        notify(
            member_id=member_id,
            kind="shift.placed",
            title=_("服务时间地点已确定：%(title)s") % {"title": need.title},
            body=_("%(when)s %(where)s") % {"when": when, "where": space_name},
            data=data,
            dedupe_key=f"shift-placed:{shift.pk}:{shift.start.isoformat()}:{member_id}",
        )
    if moved is not None:
        record(staff_group(shift.community_id), "shift.replaced", {**moved, "run": run.pk})
        notify(
            member_id=actor.pk,
            kind="shift.replaced",
            title=_("原定时段已被占用，已自动改排：%(title)s") % {"title": need.title},
            body=_("原因：%(detail)s；改为 %(when)s %(where)s")
            % {"detail": moved["detail"], "when": when, "where": space_name},
            data={**moved, "run": run.pk},
        )
    return {
        "shift": shift.pk,
        "start": iso(shift.start),
        "end": iso(shift.end),
        "space": shift.space_id,
        "reservation": shift.reservation_id,
    }


def _announce_unplaced(*, actor: Member, run: MatchingRun, shift: Shift, moved: Any) -> None:
    record(staff_group(shift.community_id), "shift.replaced", {**moved, "run": run.pk})
    notify(
        member_id=actor.pk,
        kind="shift.replaced",
        title=_("原定时段已被占用，未能改排：%(title)s") % {"title": shift.need.title},
        body=_("原因：%(detail)s") % {"detail": moved["detail"]},
        data={**moved, "run": run.pk},
    )


def run_apply(
    *, actor: Member, run: MatchingRun, proposal_ids: list[int] | None = None
) -> dict[str, Any]:
    """Turn proposals into confirmed assignments, in one transaction. A proposal whose
    seat has gone, or whose volunteer has since committed elsewhere, is skipped with
    the reason; nothing overfills.

    A flexible or space-needing shift is placed in the same transaction: its time
    and space are set and the space is booked through the resources booking service.
    If the slot was taken meanwhile, that shift alone is re-placed (see `_place`);
    `moved` in the result says what moved and why."""
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
    placed_out: list[dict[str, Any]] = []
    moved_out: list[dict[str, Any]] = []
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
            .select_related("need", "community")
            .filter(pk__in={p.shift_id for p in chosen})
            .order_by("pk")
        }
        # Another apply of this run may have committed while we waited for the locks.
        still = set(
            Proposal.objects.filter(
                pk__in=[p.pk for p in chosen], status=ProposalStatus.PROPOSED
            ).values_list("pk", flat=True)
        )
        chosen = [p for p in chosen if p.pk in still]
        touched: set[int] = set()
        by_shift: dict[int, list[Proposal]] = {}
        for p in sorted(chosen, key=lambda p: (p.shift_id, p.id)):
            by_shift.setdefault(p.shift_id, []).append(p)
        for shift_id, props in by_shift.items():
            shift = shifts[shift_id]
            placing = (
                shift.awaiting_placement
                and shift.cancelled_at is None
                and props[0].start is not None
                and (
                    # Someone already on it keeps its time: only the space is chosen.
                    props[0].start == shift.start
                    or not Assignment.objects.filter(shift=shift, status__in=ACTIVE).exists()
                )
            )
            moved = None
            if placing:
                props, gone, moved = _place(shift=shift, props=props, now=now)
                skipped.extend(gone)
                if moved is not None:
                    moved_out.append(moved)
                if not props:
                    if moved is not None:
                        _announce_unplaced(actor=actor, run=run, shift=shift, moved=moved)
                    continue
            elif shift.awaiting_placement and shift.is_flexible:
                for p in props:
                    p.status, p.reason = ProposalStatus.SKIPPED, "shift_not_placed"
                    p.save(update_fields=["status", "reason"])
                    skipped.append({"id": p.id, "reason": "shift_not_placed"})
                continue
            on_shift: list[int] = []
            for p in props:
                reason = _skip_reason(shift, p.volunteer_id, shift.start, shift.end)
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
                on_shift.append(p.volunteer_id)
            if placing:
                placed_out.append(
                    _announce_placement(
                        actor=actor, run=run, shift=shift, volunteers=on_shift, moved=moved
                    )
                )
        for shift_id in sorted(touched):
            record_seats(shifts[shift_id])

        placed_ids = [x["shift"] for x in placed_out]

        def schedule() -> None:

            for assignment_id in confirmed:
                schedule_reminders(assignment_id)
            for shift_id in placed_ids:  # the placed time decides when no-shows count
                schedule_no_show_check(shift_id)

        transaction.on_commit(schedule)
    return {
        "run": run.pk,
        "applied": applied,
        "skipped": skipped,
        "at": iso(now),
        "placed": placed_out,
        "moved": moved_out,
    }
