"""Staff placing a volunteer on a shift directly (帮办代办): for people without a
phone, for filling a seat by hand, and for recording service that already
happened. Same locks and checks as sign-up, but no waitlist: a full shift is 409."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from matching.models import ACTIVE, Assignment, AssignmentStatus
from matching.notifications import notify
from matching.services.common import record_assignment, record_seats
from matching.services.signups import (
    _after_confirm,
    _check_eligible,
    _take_seat,
    _translate_integrity,
    lock_for_seat,
    profile_ensure,
)
from timebank import permissions
from timebank.errors import Conflict, field_error
from timebank.people.models import Member, RoleName

S = AssignmentStatus


def assignment_assign(*, actor: Member, shift_id: int, volunteer: Member) -> Assignment:
    """Confirm `volunteer` on the shift on their behalf. Past shifts are allowed, so a
    social worker can record service after the fact and then verify it."""
    community_id = lock_free_community(shift_id)
    permissions.require(actor, "assignment.manage", community_id)
    if not permissions.has_role(volunteer, community_id, RoleName.VOLUNTEER):
        raise field_error("volunteer", _("该成员不是本社区的志愿者"), code="not_a_volunteer")
    profile_ensure(member=volunteer)
    try:
        with transaction.atomic(durable=True):
            profile, shift, now = lock_for_seat(volunteer=volunteer, shift_id=shift_id)
            if Assignment.objects.filter(
                shift=shift, volunteer=volunteer, status__in=ACTIVE
            ).exists():
                raise Conflict(_("该志愿者已在此班次"), code="already_signed_up")
            if shift.seats_taken >= shift.headcount:
                raise Conflict(_("该班次名额已满"), code="shift_full")
            _check_eligible(profile, shift)
            with transaction.atomic():
                a = Assignment.objects.create(
                    shift=shift,
                    volunteer=volunteer,
                    community_id=shift.community_id,
                    status=S.CONFIRMED,
                    start=shift.start,
                    end=shift.end,
                    source="staff",
                    confirmed_at=now,
                )
            _take_seat(shift)
            record_assignment(a, "assignment.confirmed", by=actor.pk)
            record_seats(shift)
            notify(
                member_id=volunteer.pk,
                kind="assignment.confirmed",
                title=str(_("社工为你安排了服务")),
                body=shift.need.title,
                data={"assignment": a.id, "shift": shift.id},
            )
            if shift.start > now:
                _after_confirm(a)
            return a
    except IntegrityError as exc:
        raise _translate_integrity(exc) from None


def lock_free_community(shift_id: int) -> int:
    """The shift's community, read without a lock, for the permission check."""
    from matching.selectors import shift_get

    return shift_get(shift_id=shift_id).community_id
