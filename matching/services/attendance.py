"""Check-in and check-out by the shift's QR token, and verification into the ledger."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from matching.models import Assignment, AssignmentStatus, Shift
from matching.services.common import iso, record_assignment
from timebank import permissions
from timebank.errors import Conflict, Forbidden, InvalidInput, NotFound, field_error
from timebank.ledger.services import transfer_earn
from timebank.people.models import Member

S = AssignmentStatus
QR_SALT = "matching.shift-qr"
MAX_VERIFIED_MINUTES = 24 * 60


def qr_ttl() -> dt.timedelta:
    """How long a displayed QR token stays valid (MATCHING_QR_TTL_SECONDS, default 15 min)."""
    return dt.timedelta(seconds=int(getattr(settings, "MATCHING_QR_TTL_SECONDS", 900)))


def shift_qr_token(*, actor: Member, shift: Shift) -> tuple[str, dt.datetime]:
    """A signed, expiring token for the QR code shown at the shift (staff only)."""
    permissions.require(actor, "assignment.manage", shift.community_id)
    token = signing.TimestampSigner(salt=QR_SALT).sign(f"shift:{shift.pk}")
    return token, timezone.now() + qr_ttl()


def _check_qr(token: str | None, shift_id: int) -> None:
    if not token:
        raise field_error("token", _("请扫描班次二维码"), code="invalid_qr_token")
    signer = signing.TimestampSigner(salt=QR_SALT)
    try:
        value = signer.unsign(token, max_age=qr_ttl())
    except signing.SignatureExpired:
        raise field_error("token", _("二维码已过期，请重新扫描"), code="expired_qr_token") from None
    except signing.BadSignature:
        raise field_error("token", _("二维码无效"), code="invalid_qr_token") from None
    if value != f"shift:{shift_id}":
        raise field_error("token", _("二维码不属于该班次"), code="invalid_qr_token")


def _authorise(actor: Member, a: Assignment, token: str | None) -> None:
    """Staff act on anyone's behalf (帮办); the volunteer needs the shift's QR token."""
    if permissions.allowed(actor, "assignment.manage", a.community_id):
        return
    if actor.pk != a.volunteer_id:
        raise Forbidden(_("只能为自己签到签退"), code="not_your_assignment")
    _check_qr(token, a.shift_id)


def _lock(assignment_id: int) -> Assignment:
    try:
        return (
            Assignment.objects.select_for_update(no_key=True)
            .select_related("shift", "shift__need")
            .get(pk=assignment_id)
        )
    except Assignment.DoesNotExist:
        raise NotFound(_("找不到该报名记录"), code="assignment_not_found") from None


def service_minutes(a: Assignment) -> int:
    """Minutes from check-in to check-out, clipped to the shift, less travel."""
    if a.checked_in_at is None or a.checked_out_at is None:
        return 0
    begin = max(a.checked_in_at, a.start)
    finish = min(a.checked_out_at, a.end)
    worked = int((finish - begin).total_seconds() // 60) if finish > begin else 0
    return max(0, worked - a.travel_minutes)


def assignment_check_in(*, actor: Member, assignment: Assignment, token: str | None) -> Assignment:
    _authorise(actor, assignment, token)
    staff = permissions.allowed(actor, "assignment.manage", assignment.community_id)
    with transaction.atomic(durable=True):
        a = _lock(assignment.pk)
        if a.status == S.CHECKED_IN:
            return a
        # Staff may correct a no-show for someone who did come (late or unrecorded).
        allowed_from = (S.CONFIRMED, S.NO_SHOW) if staff else (S.CONFIRMED,)
        if a.status not in allowed_from:
            raise Conflict(_("该报名当前状态不能签到"), code="not_confirmed")
        a.status = S.CHECKED_IN
        a.checked_in_at = timezone.now()
        a.save(update_fields=["status", "checked_in_at"])
        record_assignment(
            a, "assignment.checked_in", actor=actor, checked_in_at=iso(a.checked_in_at)
        )
    return a


def assignment_check_out(
    *, actor: Member, assignment: Assignment, token: str | None, travel_minutes: int = 0
) -> Assignment:
    _authorise(actor, assignment, token)
    if travel_minutes < 0 or travel_minutes > MAX_VERIFIED_MINUTES:
        raise field_error("travel_minutes", _("路程时长无效"), code="invalid_minutes")
    with transaction.atomic(durable=True):
        a = _lock(assignment.pk)
        if a.status in (S.CHECKED_OUT, S.VERIFIED):
            return a
        if a.status != S.CHECKED_IN:
            raise Conflict(_("尚未签到，不能签退"), code="not_checked_in")
        a.status = S.CHECKED_OUT
        a.checked_out_at = timezone.now()
        a.travel_minutes = travel_minutes
        a.minutes = service_minutes(a)
        a.save(update_fields=["status", "checked_out_at", "travel_minutes", "minutes"])
        record_assignment(a, "assignment.checked_out", actor=actor, minutes=a.minutes)
    return a


def assignment_verify(
    *, actor: Member, assignment: Assignment, minutes: int | None = None, reason: str = ""
) -> Assignment:
    """A social worker confirms the service time; the ledger is credited exactly once.

    Runs in the caller's transaction when there is one (the idempotency wrapper
    opens it); otherwise in its own. A second call returns the first result.
    """
    permissions.require(actor, "assignment.verify", assignment.community_id)
    if minutes is not None and not 0 <= minutes <= MAX_VERIFIED_MINUTES:
        raise field_error("minutes", _("核定时长须在 0 到 1440 分钟之间"), code="invalid_minutes")
    with transaction.atomic():
        a = _lock(assignment.pk)
        if a.status == S.VERIFIED:
            return a
        if a.status != S.CHECKED_OUT:
            raise Conflict(_("尚未签退，不能核验"), code="not_checked_out")
        credited = service_minutes(a) if minutes is None else minutes
        a.status = S.VERIFIED
        a.verified_at = timezone.now()
        a.verified_by = actor
        a.verified_minutes = credited
        a.adjust_reason = reason.strip()[:300] if minutes is not None else ""
        if credited > 0:
            # The single call site into the ledger; idempotent on the assignment key.
            transfer = transfer_earn(
                community=a.shift.community,
                volunteer=a.volunteer,
                minutes=credited,
                actor=actor,
                assignment_key=f"assignment:{a.pk}",
                memo=a.shift.need.title[:200],
                category=a.shift.need.category,
            )
            a.transfer_id = transfer.pk
        a.save(
            update_fields=[
                "status",
                "verified_at",
                "verified_by",
                "verified_minutes",
                "adjust_reason",
                "transfer_id",
            ]
        )
        record_assignment(a, "assignment.verified", actor=actor, minutes=credited)
    return a


__all__ = [
    "InvalidInput",
    "assignment_check_in",
    "assignment_check_out",
    "assignment_verify",
    "qr_ttl",
    "service_minutes",
    "shift_qr_token",
]
