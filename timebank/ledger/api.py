"""时间银行账本 endpoints. Thin: parse, call one service or selector, shape.

Every write that moves hours honours `Idempotency-Key`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import Field as NField
from ninja import Query, Router, Schema, Status

from timebank import permissions
from timebank.errors import Conflict, InvalidInput, NotFound
from timebank.idempotency import run_idempotent
from timebank.ledger import certificates, selectors, services
from timebank.ledger.models import AccountKind, Certificate, Entry, Transfer
from timebank.ledger.pdf import certificate_pdf
from timebank.ledger.schemas import (
    CertificateCheckOut,
    CertificateIn,
    CertificateOut,
    ClearingOut,
    DonationIn,
    EarningIn,
    EntryPage,
    GiftIn,
    GrantIn,
    LedgerMeOut,
    PolicyIn,
    PolicyOut,
    RedemptionIn,
    ReverseIn,
    RevokeIn,
    TransferOut,
    YearOut,
)
from timebank.pagination import paginate_by_id
from timebank.people.models import Member
from timebank.people.selectors import community_get, member_get

router = Router(tags=["ledger"])


def _me(request: HttpRequest) -> Member:
    return request.auth  # type: ignore[attr-defined,no-any-return]


def _iso(moment: dt.datetime) -> str:
    return timezone.localtime(moment).isoformat()


def transfer_out(transfer: Transfer) -> dict[str, Any]:
    legs = [
        {
            "account": e.account_id,
            "account_kind": e.account.kind,
            "member": e.account.member_id,
            "community": e.account.community_id,
            "origin": e.origin_id,
            "minutes": int(e.minutes),
        }
        for e in transfer.entries.select_related("account").order_by("id")
    ]
    return {
        "id": transfer.pk,
        "seq": transfer.seq,
        "kind": transfer.kind,
        "community": transfer.community_id,
        "actor": transfer.actor_id,
        "memo": transfer.memo,
        "category": transfer.category,
        "created_at": _iso(transfer.created_at),
        "reverses": transfer.reverses_id,
        "hash": transfer.hash,
        "entries": legs,
    }


def _idempotent(
    request: HttpRequest, scope: str, body: dict[str, Any], write: Callable[[str | None], Transfer]
) -> Status[Any]:
    """Run a transfer-making write once per `Idempotency-Key`. The key is also
    stored on the transfer, scoped to the member, as the issue asks."""
    member = _me(request)
    key = request.headers.get("Idempotency-Key")
    stored = f"{scope}:{member.pk}:{key}" if key else None
    status, result = run_idempotent(
        member=member,
        scope=scope,
        key=key,
        body=body,
        write=lambda: (201, transfer_out(write(stored))),
    )
    return Status(status, result)


def _home_community(member: Member, requested: int | None) -> Any:
    if requested is not None:
        return community_get(community_id=requested)
    communities = sorted(permissions.role_map(member))
    if not communities:
        raise InvalidInput(_("请指明社区"), code="community_required")
    return community_get(community_id=communities[0])


@router.get("/ledger/me", response=LedgerMeOut, url_name="ledger-me")
def ledger_me(request: HttpRequest) -> dict[str, Any]:
    me = _me(request)
    summary = selectors.ledger_summary(member=me)
    return {"member": me.pk, **summary.__dict__}


class PageQuery(Schema):
    limit: int | None = None
    cursor: str | None = None


def _counterparty(entry: Entry, others: list[Entry]) -> str:
    for other in others:
        if other.account_id == entry.account_id or (other.minutes > 0) == (entry.minutes > 0):
            continue
        account = other.account
        if account.kind == AccountKind.PERSONAL and account.member is not None:
            return account.member.name
        label = _("发行账户") if account.kind == AccountKind.ISSUING else _("公益池")
        return f"{account.community} {label}"
    return ""


def _entry_rows(entries: list[Entry]) -> list[dict[str, Any]]:
    others = selectors.counterparties(entries)
    return [
        {
            "id": e.pk,
            "transfer": e.transfer_id,
            "kind": e.transfer.kind,
            "minutes": int(e.minutes),
            "balance_after": int(e.balance_after),
            "community": e.transfer.community_id,
            "community_name": e.transfer.community.name,
            "origin": e.origin_id,
            "counterparty": _counterparty(e, others.get(e.transfer_id, [])),
            "memo": e.transfer.memo,
            "category": e.transfer.category,
            "created_at": _iso(e.transfer.created_at),
        }
        for e in entries
    ]


@router.get("/ledger/me/entries", response=EntryPage, url_name="ledger-me-entries")
def ledger_me_entries(request: HttpRequest, page: Query[PageQuery]) -> dict[str, Any]:
    rows, cursor = paginate_by_id(
        selectors.statement(member=_me(request)),
        limit=page.limit,
        cursor=page.cursor,
        descending=True,
    )
    return {"items": _entry_rows(rows), "next_cursor": cursor}


@router.get("/ledger/members/{member_id}", response=LedgerMeOut, url_name="ledger-member")
def ledger_member(request: HttpRequest, member_id: int) -> dict[str, Any]:
    """A member's balance, for staff of a community the member belongs to."""
    member = selectors.member_readable(actor=_me(request), member_id=member_id)
    return {"member": member.pk, **selectors.ledger_summary(member=member).__dict__}


@router.get(
    "/ledger/members/{member_id}/entries", response=EntryPage, url_name="ledger-member-entries"
)
def ledger_member_entries(
    request: HttpRequest, member_id: int, page: Query[PageQuery]
) -> dict[str, Any]:
    member = selectors.member_readable(actor=_me(request), member_id=member_id)
    rows, cursor = paginate_by_id(
        selectors.statement(member=member), limit=page.limit, cursor=page.cursor, descending=True
    )
    return {"items": _entry_rows(rows), "next_cursor": cursor}


@router.get("/ledger/me/entries.csv", url_name="ledger-me-entries-csv")
def ledger_me_entries_csv(request: HttpRequest) -> HttpResponse:
    """The whole statement as CSV, newest first, with a BOM so Excel reads Chinese."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(
        [
            str(label)
            for label in (
                _("时间"),
                _("类型"),
                _("社区"),
                _("对方"),
                _("分钟"),
                _("余额"),
                _("备注"),
                _("转账编号"),
            )
        ]
    )
    entries = list(selectors.statement(member=_me(request)).order_by("-id"))
    for row in _entry_rows(entries):
        writer.writerow(
            [
                row["created_at"],
                row["kind"],
                row["community_name"],
                row["counterparty"],
                row["minutes"],
                row["balance_after"],
                row["memo"],
                row["transfer"],
            ]
        )
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="ledger.csv"'
    return response


class YearQuery(Schema):
    year: int | None = None


@router.get("/ledger/me/summary", response=YearOut, by_alias=True, url_name="ledger-me-summary")
def ledger_me_summary(request: HttpRequest, q: Query[YearQuery]) -> dict[str, Any]:
    year = q.year if q.year is not None else timezone.localdate().year
    return selectors.yearly_summary(member=_me(request), year=year)


@router.post("/ledger/gifts", response={201: TransferOut}, url_name="ledger-gift")
def ledger_gift(request: HttpRequest, payload: GiftIn) -> Status[Any]:
    me = _me(request)
    to = member_get(member_id=payload.to)
    community = _home_community(me, payload.community)
    return _idempotent(
        request,
        "ledger.gift",
        payload.dict(),
        lambda key: services.ledger_gift(
            actor=me,
            to=to,
            minutes=payload.minutes,  # type: ignore[arg-type]
            community=community,
            memo=payload.memo,
            idempotency_key=key,
        ),
    )


@router.post("/ledger/donations", response={201: TransferOut}, url_name="ledger-donate")
def ledger_donate(request: HttpRequest, payload: DonationIn) -> Status[Any]:
    me = _me(request)
    community = community_get(community_id=payload.community)
    return _idempotent(
        request,
        "ledger.donate",
        payload.dict(),
        lambda key: services.ledger_donate(
            actor=me,
            community=community,
            minutes=payload.minutes,  # type: ignore[arg-type]
            memo=payload.memo,
            idempotency_key=key,
        ),
    )


@router.post("/ledger/redemptions", response={201: TransferOut}, url_name="ledger-redeem")
def ledger_redeem(request: HttpRequest, payload: RedemptionIn) -> Status[Any]:
    me = _me(request)
    community = community_get(community_id=payload.community)
    member = member_get(member_id=payload.member) if payload.member is not None else me
    provider = member_get(member_id=payload.provider) if payload.provider is not None else None
    return _idempotent(
        request,
        "ledger.redeem",
        payload.dict(),
        lambda key: services.ledger_redeem(
            actor=me,
            community=community,
            member=member,
            minutes=payload.minutes,  # type: ignore[arg-type]
            provider=provider,
            memo=payload.memo,
            category=payload.category,
            idempotency_key=key,
        ),
    )


@router.post("/ledger/grants", response={201: TransferOut}, url_name="ledger-grant")
def ledger_grant(request: HttpRequest, payload: GrantIn) -> Status[Any]:
    me = _me(request)
    community = community_get(community_id=payload.community)
    to = member_get(member_id=payload.to)
    return _idempotent(
        request,
        "ledger.grant",
        payload.dict(),
        lambda key: services.ledger_grant(
            actor=me,
            community=community,
            to=to,
            minutes=payload.minutes,  # type: ignore[arg-type]
            memo=payload.memo,
            idempotency_key=key,
        ),
    )


@router.post("/ledger/earnings", response={201: TransferOut}, url_name="ledger-earn")
def ledger_earn(request: HttpRequest, payload: EarningIn) -> Status[Any]:
    """Staff record verified service done outside the matching flow; idempotent on
    `record_key` (and on `Idempotency-Key`)."""
    me = _me(request)
    community = community_get(community_id=payload.community)
    volunteer = member_get(member_id=payload.volunteer)
    return _idempotent(
        request,
        "ledger.earn",
        payload.dict(),
        lambda key: services.ledger_earn_record(
            actor=me,
            community=community,
            volunteer=volunteer,
            minutes=payload.minutes,  # type: ignore[arg-type]
            record_key=payload.record_key,
            memo=payload.memo,
            category=payload.category,
        ),
    )


@router.get("/ledger/transfers/{transfer_id}", response=TransferOut, url_name="ledger-transfer")
def ledger_transfer(request: HttpRequest, transfer_id: int) -> dict[str, Any]:
    """A transfer, for its parties and for staff who may read any account."""
    me = _me(request)
    transfer = selectors.transfer_get(transfer_id=transfer_id)
    party = transfer.entries.filter(account__member=me).exists()
    if not party:
        permissions.require(me, "ledger.read_any", transfer.community_id)
    return transfer_out(transfer)


@router.post(
    "/ledger/transfers/{transfer_id}/reverse",
    response={201: TransferOut},
    url_name="ledger-reverse",
)
def ledger_reverse(request: HttpRequest, transfer_id: int, payload: ReverseIn) -> Status[Any]:
    me = _me(request)
    transfer = selectors.transfer_get(transfer_id=transfer_id)
    permissions.require(me, "ledger.reverse", transfer.community_id)
    return _idempotent(
        request,
        "ledger.reverse",
        {"transfer": transfer_id, **payload.dict()},
        lambda key: services.ledger_reverse(
            actor=me, transfer=transfer, reason=payload.reason, idempotency_key=key
        ),
    )


def _certificate_out(request: HttpRequest, cert: Certificate) -> dict[str, Any]:
    code = certificates.check_code(cert.number)
    url = reverse("api:ledger-certificate-pdf", kwargs={"number": cert.number})
    return {
        "number": cert.number,
        "check_code": code,
        "pdf_url": request.build_absolute_uri(f"{url}?code={code}"),
        "minutes": cert.minutes,
        "issuer": cert.issuer_id,
        "issued_at": _iso(cert.issued_at),
        "revoked_at": _iso(cert.revoked_at) if cert.revoked_at else None,
    }


@router.post(
    "/ledger/certificates", response={201: CertificateOut}, url_name="ledger-certificate-issue"
)
def ledger_certificate_issue(request: HttpRequest, payload: CertificateIn) -> Status[Any]:
    me = _me(request)
    issuer = community_get(community_id=payload.community) if payload.community else None
    cert = certificates.certificate_issue(
        actor=me, volunteer=me, start=payload.start, end=payload.end, issuer=issuer
    )
    return Status(201, _certificate_out(request, cert))


class CodeQuery(Schema):
    code: str = NField("", max_length=64)


@router.get(
    "/ledger/certificates/{number}",
    auth=None,
    response=CertificateCheckOut,
    url_name="ledger-certificate-check",
)
def ledger_certificate_check(
    request: HttpRequest, number: str, q: Query[CodeQuery]
) -> dict[str, Any]:
    """Anyone may check a certificate by its number and check code."""
    return certificates.certificate_check(number=number[:64], code=q.code)


@router.get("/ledger/certificates/{number}/pdf", auth=None, url_name="ledger-certificate-pdf")
def ledger_certificate_pdf(request: HttpRequest, number: str, q: Query[CodeQuery]) -> HttpResponse:
    """The PDF, for whoever holds the number and its check code."""
    if not certificates.code_matches(number, q.code):
        raise NotFound(_("证明不存在"), code="certificate_not_found")
    cert = certificates.certificate_get(number=number)
    if cert.revoked_at is not None:
        raise Conflict(_("该证明已撤销"), code="certificate_revoked")
    check = reverse("api:ledger-certificate-check", kwargs={"number": cert.number})
    verify_url = request.build_absolute_uri(f"{check}?code={certificates.check_code(cert.number)}")
    response = HttpResponse(
        certificate_pdf(cert, verify_url=verify_url), content_type="application/pdf"
    )
    response["Content-Disposition"] = f'inline; filename="{cert.number}.pdf"'
    return response


@router.post(
    "/ledger/certificates/{number}/revoke",
    response={200: CertificateOut},
    url_name="ledger-certificate-revoke",
)
def ledger_certificate_revoke(request: HttpRequest, number: str, payload: RevokeIn) -> Status[Any]:
    cert = certificates.certificate_revoke(actor=_me(request), number=number, reason=payload.reason)
    return Status(200, _certificate_out(request, cert))


class ClearingQuery(Schema):
    community: int
    start: dt.date = NField(..., alias="from")
    end: dt.date = NField(..., alias="to")


@router.get("/ledger/clearing", response=ClearingOut, by_alias=True, url_name="ledger-clearing")
def ledger_clearing(request: HttpRequest, q: Query[ClearingQuery]) -> dict[str, Any]:
    """Hours issued by one community and redeemed in another, for settlement (清算)."""
    community = community_get(community_id=q.community)
    permissions.require(_me(request), "ledger.clearing", community.pk)
    if q.start > q.end:
        raise InvalidInput(_("截止日期不能早于起始日期"), code="invalid_period")
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(q.start, dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(q.end + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    return {
        "community": community.pk,
        "from": q.start,
        "to": q.end,
        "items": selectors.clearing_report(community=community, start=start, end=end),
    }


def _policy_out(policy: Any) -> dict[str, Any]:
    return {
        "community": policy.community_id,
        "mode": policy.mode,
        "credit_limit_minutes": policy.credit_limit_minutes,
        "redemption_age": policy.redemption_age,
        "gift_scope": policy.gift_scope,
        "storage_cap_minutes": policy.storage_cap_minutes,
        "category_multipliers": policy.category_multipliers,
        "updated_at": _iso(policy.updated_at),
    }


@router.get("/communities/{cid}/policy", response=PolicyOut, url_name="ledger-policy")
def ledger_policy(request: HttpRequest, cid: int) -> dict[str, Any]:
    """The community's time-bank rules; any member may read them."""
    return _policy_out(selectors.policy_for(community_get(community_id=cid)))


@router.put("/communities/{cid}/policy", response=PolicyOut, url_name="ledger-policy-update")
def ledger_policy_update(request: HttpRequest, cid: int, payload: PolicyIn) -> dict[str, Any]:
    community = community_get(community_id=cid)
    policy = services.policy_update(
        actor=_me(request),
        community=community,
        changes={k: v for k, v in payload.dict(exclude_unset=True).items() if v is not None},
    )
    return _policy_out(policy)
