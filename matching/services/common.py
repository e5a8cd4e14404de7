"""Helpers shared by the matching services: settings, event payloads, groups."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.utils import timezone

from matching.models import Assignment, Shift
from timebank.audit.services import record_audit
from timebank.events import community_group, member_group, record, staff_group
from timebank.people.models import Member


def offer_hold() -> dt.timedelta:
    """How long a waitlist offer holds its seat (MATCHING_OFFER_HOLD_MINUTES, default 30)."""
    return dt.timedelta(minutes=int(getattr(settings, "MATCHING_OFFER_HOLD_MINUTES", 30)))


def no_show_grace() -> dt.timedelta:
    return dt.timedelta(minutes=int(getattr(settings, "MATCHING_NO_SHOW_GRACE_MINUTES", 30)))


def late_cancel_window() -> dt.timedelta:
    return dt.timedelta(hours=int(getattr(settings, "MATCHING_LATE_CANCEL_HOURS", 24)))


def iso(value: dt.datetime | None) -> str | None:
    return timezone.localtime(value).isoformat() if value is not None else None


def assignment_data(a: Assignment, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": a.id,
        "shift": a.shift_id,
        "volunteer": a.volunteer_id,
        "community": a.community_id,
        "status": a.status,
        "start": iso(a.start),
        "end": iso(a.end),
        "offer_expires_at": iso(a.offer_expires_at),
    }
    data.update(extra)
    return data


def record_assignment(
    a: Assignment, type: str, *, actor: Member | int | None = None, **extra: Any
) -> None:
    """`assignment.*` goes to the volunteer and to the community's staff, and to
    the audit trail (`actor` None: the system, or an actor given as `by=`)."""
    data = assignment_data(a, **extra)
    record([member_group(a.volunteer_id), staff_group(a.community_id)], type, data)
    by = extra.get("by")
    record_audit(
        actor=actor if actor is not None else (by if isinstance(by, int) else None),
        action=type,
        obj=a,
        community_id=a.community_id,
        subject_id=a.volunteer_id,
        changes=data,
    )


def record_seats(shift: Shift) -> None:
    """Everyone watching the community's shift list sees the seat count move."""
    record(
        community_group(shift.community_id),
        "shift.seats_changed",
        {
            "shift": shift.id,
            "need": shift.need_id,
            "headcount": shift.headcount,
            "seats_taken": shift.seats_taken,
            "seats_left": shift.seats_left,
        },
    )
