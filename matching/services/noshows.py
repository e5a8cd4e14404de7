"""No-shows: after a shift ends plus a grace period, whoever never checked in is
marked, and it counts against their reliability."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from matching.models import Assignment, AssignmentStatus, Shift
from matching.services.common import no_show_grace, record_assignment
from matching.services.signups import lock_shift

S = AssignmentStatus


def no_shows_mark(*, shift_id: int, now: dt.datetime | None = None) -> int:
    """Mark everyone confirmed who never checked in as a no-show, once the shift
    has ended plus the grace period."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        shift = lock_shift(shift_id)
        if shift.end + no_show_grace() > now:
            return 0
        missing = list(
            Assignment.objects.select_for_update(no_key=True).filter(
                shift=shift, status=S.CONFIRMED
            )
        )
        for a in missing:
            a.status = S.NO_SHOW
            a.save(update_fields=["status"])
            record_assignment(a, "assignment.no_show")
        # Lapsed offers and the waitlist of a finished shift are closed too.
        lapsed = list(
            Assignment.objects.select_for_update(no_key=True).filter(
                shift=shift, status__in=[S.OFFERED, S.WAITLISTED]
            )
        )
        for a in lapsed:
            a.status, a.offer_expires_at = S.EXPIRED, None
            a.save(update_fields=["status", "offer_expires_at"])
            record_assignment(a, "assignment.expired")
        held = Assignment.objects.filter(
            shift=shift, status__in=[S.CHECKED_IN, S.CHECKED_OUT, S.VERIFIED]
        ).count()
        if held != shift.seats_taken:
            Shift.objects.filter(pk=shift.pk).update(seats_taken=held)
    return len(missing)


def no_shows_mark_due(*, now: dt.datetime | None = None, volunteer_id: int | None = None) -> int:
    """Lazily mark no-shows for every shift past its grace period (reads call this,
    so correctness does not depend on the task worker)."""
    now = now or timezone.now()
    due = Assignment.objects.filter(status=S.CONFIRMED, end__lte=now - no_show_grace())
    if volunteer_id is not None:
        due = due.filter(volunteer_id=volunteer_id)
    total = 0
    for sid in sorted(set(due.values_list("shift_id", flat=True))):
        total += no_shows_mark(shift_id=sid, now=now)
    return total
