"""Background work through Django Tasks: offer expiry, no-shows, reminders.

Each task is scheduled for the moment it is due (`run_after`), so nothing needs
a cron; reads and sign-ups also expire offers and mark no-shows lazily, so
correctness never depends on the worker being up. Every task re-checks the
state it acts on, so running one twice, or late, is harmless.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tasks import task

from matching.models import Assignment, AssignmentStatus, Shift
from matching.notifications import notify
from matching.services.common import iso, no_show_grace
from matching.services.noshows import no_shows_mark
from matching.services.signups import offers_expire_due

log = logging.getLogger(__name__)

REMINDER_HOURS = (24, 2)


@task(queue_name="default")
def expire_offer(assignment_id: int) -> int:
    shift_id = (
        Assignment.objects.filter(pk=assignment_id).values_list("shift_id", flat=True).first()
    )
    if shift_id is None:
        return 0
    return offers_expire_due(shift_id=shift_id)


@task(queue_name="default")
def mark_no_shows(shift_id: int) -> int:
    if not Shift.objects.filter(pk=shift_id).exists():
        return 0
    return no_shows_mark(shift_id=shift_id)


@task(queue_name="default")
def send_reminder(assignment_id: int, hours: int, start: str) -> bool:
    """Remind a confirmed volunteer; skipped if they cancelled or the shift moved."""
    a = (
        Assignment.objects.select_related("shift__need")
        .filter(pk=assignment_id, status=AssignmentStatus.CONFIRMED)
        .first()
    )
    if a is None or iso(a.start) != start:
        return False
    need = a.shift.need
    notify(
        member_id=a.volunteer_id,
        kind="assignment.reminder",
        title=_("服务提醒：%(title)s") % {"title": need.title},
        body=_("你报名的服务将于 %(start)s 开始，地点：%(address)s。")
        % {"start": timezone.localtime(a.start).strftime("%m-%d %H:%M"), "address": need.address},
        data={"assignment": a.id, "shift": a.shift_id, "hours": hours},
        dedupe_key=f"reminder:{a.id}:{hours}:{start}",
    )
    return True


def _enqueue(fn: object, run_after: dt.datetime, **kwargs: object) -> None:
    try:
        fn.using(run_after=run_after).enqueue(**kwargs)  # type: ignore[attr-defined]
    except Exception:
        # A failed enqueue must not undo a committed sign-up: lazy checks cover it.
        log.exception("enqueueing %s failed", getattr(fn, "name", fn))


def schedule_offer_expiry(assignment_id: int, due: dt.datetime | None) -> None:
    if due is not None:
        _enqueue(expire_offer, due, assignment_id=assignment_id)


def schedule_no_show_check(shift_id: int) -> None:
    end = Shift.objects.filter(pk=shift_id).values_list("end", flat=True).first()
    if end is not None:
        _enqueue(mark_no_shows, end + no_show_grace(), shift_id=shift_id)


def schedule_reminders(assignment_id: int) -> None:
    start = Assignment.objects.filter(pk=assignment_id).values_list("start", flat=True).first()
    if start is None:
        return
    now = timezone.now()
    for hours in REMINDER_HOURS:
        at = start - dt.timedelta(hours=hours)
        if at > now:
            _enqueue(send_reminder, at, assignment_id=assignment_id, hours=hours, start=iso(start))


@task(queue_name="matching")
def solve_run(run_id: int) -> str:
    """Solve a matching run on any worker; progress and the result go out as events."""
    from matching.services.runs import run_execute

    return str(run_execute(run_id=run_id).status)


@task(queue_name="matching")
def solve_run_part(part_id: int, deadline: float) -> str:
    """Solve one part of a district-sized run; the last part enqueues `finish_run`."""
    from matching.services.distributed import solve_part

    return solve_part(part_id=part_id, deadline=deadline)


@task(queue_name="matching")
def finish_run(run_id: int) -> str:
    """Join a split run's parts and record its proposals."""
    from matching.services.distributed import finish

    return str(finish(run_id=run_id).status)


@task(queue_name="matching")
def replan_shift(assignment_id: int | None = None, shift_id: int | None = None) -> int | None:
    """Re-plan around a cancelled seat (`assignment_id`) or an urgent shift
    (`shift_id`); returns the re-plan run's id, or None when there is nothing to do."""
    from matching.services.replan import replan_after_cancellation, replan_for_shift

    if assignment_id is not None:
        run = replan_after_cancellation(assignment_id)
    elif shift_id is not None:
        run = replan_for_shift(shift_id)
    else:
        return None
    return run.pk if run is not None else None


def schedule_replan(*, assignment_id: int | None = None, shift_id: int | None = None) -> None:
    """Enqueue a re-plan (call it on commit); a failed enqueue never undoes the write."""
    try:
        replan_shift.enqueue(assignment_id=assignment_id, shift_id=shift_id)
    except Exception:
        log.exception("enqueueing the re-plan of %s/%s failed", assignment_id, shift_id)


# A newly posted shift is re-planned at once when it is this important and this close.
URGENT_PRIORITY = 4
URGENT_WITHIN = dt.timedelta(hours=24)


def schedule_urgent_replans(shift_ids: list[int]) -> None:
    """Enqueue a re-plan for each of these (just posted) shifts that is urgent: high
    priority, starting within `URGENT_WITHIN`, with a fixed time. Call it on commit."""
    now = timezone.now()
    urgent = (
        Shift.objects.filter(
            pk__in=shift_ids,
            need__priority__gte=URGENT_PRIORITY,
            cancelled_at__isnull=True,
            start__gt=now,
            start__lte=now + URGENT_WITHIN,
        )
        .exclude(window_start__isnull=False, placed_at__isnull=True)
        .values_list("pk", flat=True)
    )
    for shift_id in urgent:
        schedule_replan(shift_id=shift_id)


@task(queue_name="default")
def reserve_space(shift_id: int) -> int | None:
    from matching.services.spaces import space_reserve_for_shift

    return space_reserve_for_shift(shift_id=shift_id)


def after_seat_taken(shift: Shift) -> None:
    """Once a shift that needs a space is staffed, book the space after commit."""
    if shift.need.space_id is None or shift.reservation_id is not None:
        return
    if shift.seats_taken < shift.headcount:
        return
    shift_id = shift.pk

    def enqueue() -> None:
        try:
            reserve_space.enqueue(shift_id=shift_id)
        except Exception:
            log.exception("enqueueing the space booking of shift %s failed", shift_id)

    transaction.on_commit(enqueue)


@task(queue_name="default")
def suggest_replacements(shift_id: int) -> int:
    """Push the top-5 replacement candidates for a shift that lost a volunteer to the
    community's staff (`shift.replacements`), without waiting for a matching run."""
    from matching.candidates import shift_candidates
    from timebank.events import record, staff_group

    shift = Shift.objects.select_related("need").filter(pk=shift_id).first()
    if shift is None or shift.cancelled_at is not None or shift.seats_left == 0:
        return 0
    ranked = shift_candidates(shift=shift, k=5)
    with transaction.atomic():
        record(
            staff_group(shift.community_id),
            "shift.replacements",
            {
                "shift": shift.pk,
                "seats_left": shift.seats_left,
                "candidates": [
                    {
                        "volunteer": c.volunteer_id,
                        "name": c.name,
                        "score": c.score,
                        "reasons": c.reasons,
                    }
                    for c in ranked
                ],
            },
        )
    return len(ranked)


def schedule_replacements(shift_id: int) -> None:
    try:
        suggest_replacements.enqueue(shift_id=shift_id)
    except Exception:
        log.exception("enqueueing replacements for shift %s failed", shift_id)
