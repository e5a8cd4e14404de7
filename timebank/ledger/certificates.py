"""Certificates of verified service (志愿服务证明): issue, verify, revoke.

Whoever recorded the service certifies it (谁记录谁证明): a certificate is
issued by one community and lists only the service that community verified.
The check code is an HMAC of the number, so it cannot be guessed from the
number alone, and nothing secret is stored.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import uuid
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from timebank import permissions
from timebank.errors import Conflict, NotFound, field_error
from timebank.ledger.models import Certificate, Entry, TransferKind
from timebank.people.models import Community, Member


def check_code(number: str) -> str:
    """An 8-character code derived from the number with the server's secret."""
    digest = hmac.new(settings.SECRET_KEY.encode(), number.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:5]).decode()


def code_matches(number: str, code: str) -> bool:
    # Bytes: compare_digest refuses non-ASCII str, and a typed code may be anything.
    return hmac.compare_digest(check_code(number).encode(), (code or "").strip().upper().encode())


def mask_name(name: str) -> str:
    """王志愿 → 王**: enough to recognise, not enough to identify."""
    name = name.strip()
    if len(name) <= 1:
        return "*"
    return name[0] + "*" * (len(name) - 1)


def _service_items(
    *, volunteer: Member, issuer: Community, start: dt.date, end: dt.date
) -> list[dict[str, Any]]:
    """The verified service in the period, net of reversals, oldest first."""
    tz = timezone.get_current_timezone()
    begin = dt.datetime.combine(start, dt.time.min, tzinfo=tz)
    finish = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    rows = (
        Entry.objects.filter(
            account__member=volunteer,
            minutes__gt=0,
            transfer__kind=TransferKind.EARN,
            transfer__community=issuer,
            transfer__created_at__gte=begin,
            transfer__created_at__lt=finish,
            transfer__reversed_by__isnull=True,
        )
        .values_list("transfer_id", "transfer__created_at", "transfer__category", "transfer__memo")
        .annotate(total=Sum("minutes"))
        .order_by("transfer_id")
    )
    return [
        {
            "transfer": transfer_id,
            "date": timezone.localtime(created_at).date().isoformat(),
            "category": category,
            "content": memo,
            "minutes": int(total),
        }
        for transfer_id, created_at, category, memo, total in rows
    ]


def issuers_in_period(*, volunteer: Member, start: dt.date, end: dt.date) -> list[int]:
    tz = timezone.get_current_timezone()
    begin = dt.datetime.combine(start, dt.time.min, tzinfo=tz)
    finish = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    return sorted(
        set(
            Entry.objects.filter(
                account__member=volunteer,
                minutes__gt=0,
                transfer__kind=TransferKind.EARN,
                transfer__created_at__gte=begin,
                transfer__created_at__lt=finish,
                transfer__reversed_by__isnull=True,
            ).values_list("transfer__community_id", flat=True)
        )
    )


def certificate_issue(
    *,
    actor: Member,
    volunteer: Member,
    start: dt.date,
    end: dt.date,
    issuer: Community | None = None,
) -> Certificate:
    """Issue a certificate of `volunteer`'s verified service in [start, end].

    Without `issuer`, the one community that verified service in the period
    issues it; if several did, the caller must choose (422 `issuer_required`);
    if none did, the member's own community certifies 0 minutes.
    """
    if volunteer.pk != actor.pk:
        permissions.require(actor, "ledger.read_any", issuer.pk if issuer else None)
    if start > end:
        raise field_error("to", _("截止日期不能早于起始日期"), code="invalid_period")
    if issuer is None:
        found = issuers_in_period(volunteer=volunteer, start=start, end=end)
        if not found:
            # Nothing verified in the period: the member's own community states
            # so (0 minutes), which is itself a truthful certificate.
            found = sorted(volunteer.roles.values_list("community_id", flat=True))[:1]
        if not found:
            raise field_error("from", _("该期间没有经核实的服务记录"), code="no_verified_service")
        if len(found) > 1:
            raise field_error(
                "community", _("该期间有多个社区记录了服务，请选择出具社区"), code="issuer_required"
            )
        issuer = Community.objects.get(pk=found[0])
    items = _service_items(volunteer=volunteer, issuer=issuer, start=start, end=end)
    with transaction.atomic(durable=True):
        cert = Certificate.objects.create(
            number=f"tmp{uuid.uuid4().hex[:24]}",
            volunteer=volunteer,
            issuer=issuer,
            period_start=start,
            period_end=end,
            minutes=sum(i["minutes"] for i in items),
            items=items,
            issued_at=timezone.now(),
        )
        # Numbers follow issue order: year, issuing community, serial.
        cert.number = f"ZY{timezone.localtime(cert.issued_at).year}{issuer.pk:04d}{cert.pk:07d}"
        cert.save(update_fields=["number"])
        return cert


def certificate_get(*, number: str) -> Certificate:
    cert = Certificate.objects.select_related("volunteer", "issuer").filter(number=number).first()
    if cert is None:
        raise NotFound(_("证明不存在"), code="certificate_not_found")
    return cert


def certificate_revoke(*, actor: Member, number: str, reason: str) -> Certificate:
    """Revoke a certificate; its public check then says it is no longer valid."""
    reason = reason.strip()
    if not reason or len(reason) > 200:
        raise field_error("reason", _("撤销须填写原因（200 字以内）"), code="reason_required")
    with transaction.atomic(durable=True):
        cert = certificate_get(number=number)
        permissions.require(actor, "ledger.certificate_revoke", cert.issuer_id)
        cert = Certificate.objects.select_for_update(no_key=True).get(pk=cert.pk)
        if cert.revoked_at is not None:
            raise Conflict(_("该证明已撤销"), code="already_revoked")
        cert.revoked_at = timezone.now()
        cert.revoked_by = actor
        cert.revoke_reason = reason
        cert.save(update_fields=["revoked_at", "revoked_by", "revoke_reason"])
        return cert


def certificate_check(*, number: str, code: str) -> dict[str, Any]:
    """The public check (anyone): valid only with the right code and not revoked.
    A wrong code reveals nothing about the certificate."""
    cert = Certificate.objects.select_related("volunteer", "issuer").filter(number=number).first()
    if cert is None or not code_matches(number, code):
        return {
            "valid": False,
            "reason": "not_found",
            "number": number,
            "volunteer": None,
            "minutes": None,
            "issuer": None,
            "issued_at": None,
        }
    return {
        "valid": cert.revoked_at is None,
        "reason": "revoked" if cert.revoked_at is not None else "ok",
        "number": cert.number,
        "volunteer": mask_name(cert.volunteer.name),
        "minutes": cert.minutes,
        "issuer": str(cert.issuer),
        "issued_at": timezone.localtime(cert.issued_at).isoformat(),
    }
