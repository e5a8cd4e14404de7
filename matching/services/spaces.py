"""Booking a need's shared space (共享空间) once its shift is staffed.

The booking goes through the resources app's public service, so the same rules
and database guarantees apply as for any resident. It runs in a task after the
shift fills, never inside the sign-up: a space that cannot be booked must not
undo a volunteer's commitment. The social worker is told either way.
"""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from matching.models import Shift
from matching.notifications import notify
from timebank.errors import ApplicationError


def space_reserve_for_shift(*, shift_id: int) -> int | None:
    """Reserve the need's space for the shift; returns the reservation id, or None
    when there is nothing to book or booking failed (the reason is kept on the shift)."""
    from resources.booking import reservation_create
    from resources.services import space_get

    shift = Shift.objects.select_related("need", "need__created_by").filter(pk=shift_id).first()
    if shift is None:
        return None
    space_id = shift.need.space_id
    if space_id is None or shift.reservation_id is not None:
        return shift.reservation_id
    if shift.cancelled_at is not None or shift.seats_taken < shift.headcount:
        return None
    need = shift.need
    try:
        reservation = reservation_create(
            member=need.created_by,
            space=space_get(space_id=space_id),
            start=shift.start,
            end=shift.end,
            party_size=shift.headcount,
            accept_terms=True,
            purpose=need.title[:200],
            need_shift_id=shift.pk,
        )
    except ApplicationError as exc:
        note = f"{exc.code}: {exc.detail}"[:300]
        with transaction.atomic():
            Shift.objects.filter(pk=shift.pk).update(space_note=note)
            notify(
                member_id=need.created_by_id,
                kind="shift.space_failed",
                title=_("班次已满员，但场地未能预约"),
                body=_("「%(title)s」：%(reason)s") % {"title": need.title, "reason": exc.detail},
                data={"shift": shift.pk, "code": exc.code},
                dedupe_key=f"space-failed:{shift.pk}:{exc.code}",
            )
        return None
    with transaction.atomic():
        Shift.objects.filter(pk=shift.pk, reservation_id__isnull=True).update(
            reservation_id=reservation.pk, space_note=""
        )
        notify(
            member_id=need.created_by_id,
            kind="shift.space_reserved",
            title=_("班次已满员，场地已预约"),
            body=need.title,
            data={"shift": shift.pk, "reservation": reservation.pk},
            dedupe_key=f"space-reserved:{shift.pk}",
        )
    return int(reservation.pk)
