"""Ledger reads: policy, balances, statements, yearly summary, clearing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import F, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from timebank import permissions
from timebank.errors import NotFound, field_error
from timebank.ledger.models import (
    Account,
    CommunityPolicy,
    Entry,
    Transfer,
    TransferKind,
)
from timebank.people.models import Community, Member
from timebank.people.selectors import member_get


def policy_for(community: Community) -> CommunityPolicy:
    """The community's rules, created with the defaults on first use."""
    policy, _created = CommunityPolicy.objects.get_or_create(community=community)
    return policy


def account_of(member: Member) -> Account | None:
    return Account.objects.filter(member=member).first()


def member_readable(*, actor: Member, member_id: int) -> Member:
    """A member whose ledger `actor` may read: their own, or as social worker or
    admin of a community the member belongs to. 404 first, then 403."""
    member = member_get(member_id=member_id)
    if member.pk == actor.pk or actor.is_superuser:
        return member
    for community_id in member.roles.values_list("community_id", flat=True).distinct():
        if permissions.allowed(actor, "ledger.read_any", community_id):
            return member
    permissions.require(actor, "ledger.read_any", None)
    return member


def transfer_get(*, transfer_id: int) -> Transfer:
    transfer = Transfer.objects.select_related("community").filter(pk=transfer_id).first()
    if transfer is None:
        raise NotFound(_("转账不存在"), code="transfer_not_found")
    return transfer


@dataclass(frozen=True)
class BalanceSummary:
    balance_minutes: int
    earned_minutes: int
    spent_minutes: int
    received_minutes: int
    given_minutes: int
    floor_minutes: int


def ledger_summary(*, member: Member) -> BalanceSummary:
    """Balance plus lifetime totals. Earned is net of reversed earnings; spent
    counts redemptions net of their reversals."""
    account = account_of(member)
    if account is None:
        return BalanceSummary(0, 0, 0, 0, 0, 0)
    totals = dict(
        Entry.objects.filter(account=account)
        .values_list("transfer__kind")
        .annotate(total=Sum("minutes"))
        .values_list("transfer__kind", "total")
    )
    reversed_by_kind = dict(
        Entry.objects.filter(account=account, transfer__kind=TransferKind.REVERSE)
        .values_list("transfer__reverses__kind")
        .annotate(total=Sum("minutes"))
        .values_list("transfer__reverses__kind", "total")
    )

    def net(kind: str) -> int:
        return int(totals.get(kind, 0) or 0) + int(reversed_by_kind.get(kind, 0) or 0)

    received = sum(max(net(k), 0) for k in (TransferKind.GIFT, TransferKind.GRANT))
    given = -sum(min(net(k), 0) for k in (TransferKind.GIFT, TransferKind.DONATE))
    return BalanceSummary(
        balance_minutes=int(account.balance_minutes),
        earned_minutes=max(net(TransferKind.EARN), 0),
        spent_minutes=max(-net(TransferKind.REDEEM), 0),
        received_minutes=received,
        given_minutes=given + max(-net(TransferKind.OVERFLOW), 0),
        floor_minutes=int(account.floor_minutes or 0),
    )


def statement(*, member: Member) -> QuerySet[Entry]:
    """The member's entries, newest first, each with its running balance."""
    return (
        Entry.objects.filter(account__member=member)
        .select_related("transfer", "transfer__community", "origin")
        .order_by("-id")
    )


def counterparties(entries: list[Entry]) -> dict[int, list[Entry]]:
    """The other legs of each listed transfer, loaded in one query."""
    ids = {e.transfer_id for e in entries}
    others: dict[int, list[Entry]] = {}
    for e in Entry.objects.filter(transfer_id__in=ids).select_related(
        "account", "account__member", "account__community"
    ):
        others.setdefault(e.transfer_id, []).append(e)
    return others


def year_bounds(year: int) -> tuple[dt.datetime, dt.datetime]:
    if year < 2000 or year > 2100:
        raise field_error("year", _("年份无效"), code="invalid_year")
    tz = timezone.get_current_timezone()
    return (
        dt.datetime(year, 1, 1, tzinfo=tz),
        dt.datetime(year + 1, 1, 1, tzinfo=tz),
    )


def yearly_summary(*, member: Member, year: int) -> dict[str, Any]:
    """Opening and closing balance of a year and its movements by kind and month."""
    start, end = year_bounds(year)
    rows = Entry.objects.filter(account__member=member)
    opening = rows.filter(transfer__created_at__lt=start).aggregate(s=Sum("minutes"))["s"] or 0
    in_year = rows.filter(transfer__created_at__gte=start, transfer__created_at__lt=end)
    by_kind = {kind: {"in": 0, "out": 0} for kind in TransferKind.values}
    months = {m: {"in": 0, "out": 0} for m in range(1, 13)}
    for kind, minutes, created_at in in_year.values_list(
        "transfer__kind", "minutes", "transfer__created_at"
    ):
        side = "in" if minutes > 0 else "out"
        by_kind[kind][side] += abs(int(minutes))
        months[timezone.localtime(created_at).month][side] += abs(int(minutes))
    total_in = sum(v["in"] for v in by_kind.values())
    total_out = sum(v["out"] for v in by_kind.values())
    return {
        "year": year,
        "opening_balance_minutes": int(opening),
        "closing_balance_minutes": int(opening) + total_in - total_out,
        "in_minutes": total_in,
        "out_minutes": total_out,
        "by_kind": [{"kind": k, **v} for k, v in by_kind.items() if v["in"] or v["out"]],
        "by_month": [{"month": m, **v} for m, v in months.items()],
    }


def clearing_report(
    *, community: Community, start: dt.datetime, end: dt.datetime
) -> list[dict[str, Any]]:
    """Hours issued by one community and redeemed in another (通存通兑), net of
    reversals, in [start, end). Each row: the redeeming community is owed
    `minutes` of service by the issuing one. Rows touch `community` either way."""
    # The payer's legs: negative in a redemption, positive in its reversal. The
    # provider's side (an issuing account or, in mutual credit, a person) is left out.
    redeemed = Q(transfer__kind=TransferKind.REDEEM, minutes__lt=0) | Q(
        transfer__kind=TransferKind.REVERSE,
        transfer__reverses__kind=TransferKind.REDEEM,
        minutes__gt=0,
    )
    rows = (
        Entry.objects.filter(
            redeemed,
            transfer__created_at__gte=start,
            transfer__created_at__lt=end,
        )
        .filter(Q(transfer__community=community) | Q(origin=community))
        .exclude(origin=F("transfer__community"))
        .values_list("origin_id", "transfer__community_id")
        .annotate(total=Sum("minutes"))
        .values_list("origin_id", "transfer__community_id", "total")
    )
    names = dict(Community.objects.values_list("id", "name"))
    report = []
    for origin_id, redeemed_in, total in sorted(rows):
        minutes = -int(total or 0)
        if minutes == 0:
            continue
        report.append(
            {
                "issuer": origin_id,
                "issuer_name": names.get(origin_id, ""),
                "redeemed_in": redeemed_in,
                "redeemed_in_name": names.get(redeemed_in, ""),
                "minutes": minutes,
                "owed_to_community": redeemed_in == community.pk,
            }
        )
    return report
