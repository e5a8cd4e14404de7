"""Ledger writes (时间银行): earn, gift, donate, redeem, grant, reverse, policy.

Each API-facing service runs in one durable transaction (or joins the durable
transaction that `run_idempotent` opened for it). `transfer_earn` is called by
the volunteering app inside its own transaction, so it takes a savepoint.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from timebank import events, permissions
from timebank.audit.services import record_audit
from timebank.errors import Conflict, Forbidden, InvalidInput, NotFound, field_error
from timebank.ledger.models import (
    Account,
    AccountKind,
    CommunityPolicy,
    GiftScope,
    Mode,
    Transfer,
    TransferKind,
)
from timebank.ledger.posting import (
    Move,
    Posted,
    ledger_atomic,
    lock_parties,
    personal_account,
    post,
)
from timebank.ledger.selectors import policy_for
from timebank.people.models import Community, Member
from timebank.people.selectors import are_relatives, spouse_of

# A sanity bound on one transfer: a year of round-the-clock service.
MAX_MINUTES = 366 * 24 * 60


def check_minutes(minutes: Any) -> int:
    """Whole, positive minutes, or 422 `invalid_minutes`. bool is not a number here."""
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        raise field_error("minutes", _("时长必须是正整数分钟"), code="invalid_minutes")
    if minutes <= 0 or minutes > MAX_MINUTES:
        raise field_error(
            "minutes",
            _("时长必须在 1 到 %(max)d 分钟之间") % {"max": MAX_MINUTES},
            code="invalid_minutes",
        )
    return int(minutes)


def check_memo(memo: str, *, field: str = "memo") -> str:
    memo = memo.strip()
    if len(memo) > 200:
        raise field_error(field, _("备注不能超过 200 字"), code="memo_too_long")
    return memo


def apply_multiplier(policy: CommunityPolicy, category: str, minutes: int) -> int:
    """Minutes credited for `minutes` of service in `category`, rounded half up."""
    raw = (policy.category_multipliers or {}).get(category) if category else None
    if raw is None:
        return minutes
    factor = Decimal(str(raw))
    return max(1, int((Decimal(minutes) * factor).to_integral_value(rounding="ROUND_HALF_UP")))


def _overflow(posted: Posted, *, community: Community, policy: CommunityPolicy) -> None:
    """Move any minutes above the storage cap from each credited personal
    account to the community's donation pool (超出存储上限部分自动转入公益池)."""
    cap = int(policy.storage_cap_minutes)
    over = [
        (pk, int(posted.accounts[pk].balance_minutes) - cap)
        for pk, change in sorted(posted.net.items())
        if change > 0
        and posted.accounts[pk].kind == AccountKind.PERSONAL
        and posted.accounts[pk].balance_minutes > cap
    ]
    if not over:
        return
    locked = dict(posted.accounts)
    pool = next(
        (
            a
            for a in locked.values()
            if a.kind == AccountKind.POOL and a.community_id == community.pk
        ),
        None,
    )
    if pool is None:
        raise RuntimeError("lock the pool with the other accounts, in pk order, before posting")
    for pk, excess in over:
        post(
            kind=TransferKind.OVERFLOW,
            community=community,
            actor=None,
            moves=[Move(source=pk, target=pool.pk, minutes=excess)],
            memo=str(_("超出存储上限，自动转入社区公益池")),
            locked=locked,
        )


def transfer_earn(
    *,
    community: Community,
    volunteer: Member,
    minutes: int,
    actor: Member,
    assignment_key: str,
    memo: str = "",
    category: str = "",
) -> Transfer:
    """Credit `volunteer` for verified service, exactly once per `assignment_key`.

    The community's issuing account mints the hours (谁记录谁证明: this community
    certifies them). The category multiplier and the storage cap apply. A
    second call with the same key returns the first transfer and credits
    nothing. Safe inside the caller's transaction (it takes a savepoint);
    the caller has checked that `actor` may verify the service.
    """
    minutes = check_minutes(minutes)
    if not assignment_key or len(assignment_key) > 250:
        raise field_error("assignment_key", _("服务记录标识无效"), code="invalid_assignment_key")
    key = f"earn:{assignment_key}"
    memo = check_memo(memo)
    with transaction.atomic():
        policy = policy_for(community)
        # The pool is locked up front, in pk order with the rest, in case of overflow.
        parties = lock_parties(members=[volunteer], community=community, pool=True, issuer=True)
        issuer, account, locked = parties.issuer, parties.personal[volunteer.pk], parties.locked
        assert issuer is not None  # noqa: S101 - lock_parties opened it
        # Checked under the issuer's lock: a concurrent earn for the same key
        # has committed by now, so exactly one of them posts.
        existing = Transfer.objects.filter(idempotency_key=key).first()
        if existing is not None:
            return existing
        credited = apply_multiplier(policy, category, minutes)
        posted = post(
            kind=TransferKind.EARN,
            community=community,
            actor=actor,
            moves=[Move(source=issuer.pk, target=account.pk, minutes=credited)],
            memo=memo,
            category=category,
            idempotency_key=key,
            locked=locked,
        )
        _overflow(posted, community=community, policy=policy)
        return posted.transfer


def _require_member_of(actor: Member, community: Community) -> None:
    if actor.is_superuser or community.pk in permissions.role_map(actor):
        return
    raise Forbidden(_("你不是该社区的成员"), code="not_a_member")


def ledger_earn_record(
    *,
    actor: Member,
    community: Community,
    volunteer: Member,
    minutes: int,
    record_key: str,
    memo: str = "",
    category: str = "",
) -> Transfer:
    """Staff record service done outside the matching flow (e.g. on paper)."""
    permissions.require(actor, "ledger.earn", community.pk)
    with ledger_atomic():
        return transfer_earn(
            community=community,
            volunteer=volunteer,
            minutes=minutes,
            actor=actor,
            assignment_key=f"manual:{community.pk}:{record_key}",
            memo=memo,
            category=category,
        )


def ledger_gift(
    *,
    actor: Member,
    to: Member,
    minutes: int,
    community: Community,
    memo: str = "",
    idempotency_key: str | None = None,
) -> Transfer:
    """Give hours to a relative (or anyone, if the community allows it).

    `community` is the one whose gift rules apply: the giver must belong to it.
    """
    permissions.require(actor, "ledger.transfer")
    minutes = check_minutes(minutes)
    memo = check_memo(memo)
    if to.pk == actor.pk:
        raise InvalidInput(_("不能赠与给自己"), code="gift_to_self")
    if not to.is_active:
        raise NotFound(_("成员不存在"), code="member_not_found")
    _require_member_of(actor, community)
    policy = policy_for(community)
    if policy.gift_scope == GiftScope.RELATIVES and not are_relatives(a=actor, b=to):
        raise Forbidden(_("只能赠与给已登记的亲属"), code="not_a_relative")
    with ledger_atomic():
        parties = lock_parties(members=[actor, to], community=community, pool=True)
        giver, receiver, locked = (
            parties.personal[actor.pk],
            parties.personal[to.pk],
            parties.locked,
        )
        posted = post(
            kind=TransferKind.GIFT,
            community=community,
            actor=actor,
            moves=[Move(source=giver.pk, target=receiver.pk, minutes=minutes)],
            floors={giver.pk: 0},
            memo=memo,
            idempotency_key=idempotency_key,
            locked=locked,
        )
        _overflow(posted, community=community, policy=policy)
        return posted.transfer


def ledger_donate(
    *,
    actor: Member,
    community: Community,
    minutes: int,
    memo: str = "",
    idempotency_key: str | None = None,
) -> Transfer:
    """Donate hours to a community's pool (捐入社区公益池)."""
    permissions.require(actor, "ledger.transfer")
    minutes = check_minutes(minutes)
    memo = check_memo(memo)
    with ledger_atomic():
        parties = lock_parties(members=[actor], community=community, pool=True)
        donor, pool = parties.personal[actor.pk], parties.pool
        assert pool is not None  # noqa: S101 - lock_parties opened it
        return post(
            kind=TransferKind.DONATE,
            community=community,
            actor=actor,
            moves=[Move(source=donor.pk, target=pool.pk, minutes=minutes)],
            floors={donor.pk: 0},
            memo=memo,
            idempotency_key=idempotency_key,
        ).transfer


def redemption_eligible(*, member: Member, policy: CommunityPolicy) -> bool:
    """The member or their spouse has reached the redemption age (本人或配偶)."""
    today = timezone.localdate()
    for person in (member, spouse_of(member=member)):
        if person is None:
            continue
        age = person.age_on(today)
        if age is not None and age >= policy.redemption_age:
            return True
    return False


def ledger_redeem(
    *,
    actor: Member,
    community: Community,
    member: Member,
    minutes: int,
    provider: Member | None = None,
    memo: str = "",
    category: str = "",
    idempotency_key: str | None = None,
) -> Transfer:
    """Pay for a service with hours (兑换服务), in `community`.

    Deposit-only: the hours return to the community's issuing account, and only
    a member who (or whose spouse) has reached the redemption age may redeem.
    Mutual credit: the member pays `provider` and may go down to minus the
    credit limit. Hours are never paid out as money (只兑换服务不兑换钱).
    """
    if member.pk == actor.pk:
        permissions.require(actor, "ledger.transfer")
    else:
        permissions.require(actor, "ledger.redeem_for", community.pk)
    minutes = check_minutes(minutes)
    memo = check_memo(memo)
    policy = policy_for(community)
    if policy.mode == Mode.DEPOSIT_ONLY:
        if not redemption_eligible(member=member, policy=policy):
            raise Forbidden(
                _("本人或配偶须年满 %(age)d 周岁才能兑换服务") % {"age": policy.redemption_age},
                code="under_redemption_age",
            )
    elif provider is None:
        raise field_error("provider", _("互助信用模式下须指明服务提供者"), code="provider_required")
    elif provider.pk == member.pk:
        raise InvalidInput(_("不能向自己支付"), code="pay_self")
    with ledger_atomic():
        peer = policy.mode == Mode.MUTUAL_CREDIT and provider is not None
        parties = lock_parties(
            members=[member, provider] if peer and provider is not None else [member],
            community=community,
            pool=True,
            issuer=not peer,
        )
        payer, locked = parties.personal[member.pk], parties.locked
        target = parties.personal[provider.pk] if peer and provider is not None else parties.issuer
        assert target is not None  # noqa: S101 - lock_parties opened it
        posted = post(
            kind=TransferKind.REDEEM,
            community=community,
            actor=actor,
            moves=[Move(source=payer.pk, target=target.pk, minutes=minutes)],
            floors={payer.pk: policy.floor_minutes()},
            memo=memo,
            category=category,
            idempotency_key=idempotency_key,
            locked=locked,
        )
        _overflow(posted, community=community, policy=policy)
        return posted.transfer


def ledger_grant(
    *,
    actor: Member,
    community: Community,
    to: Member,
    minutes: int,
    memo: str = "",
    idempotency_key: str | None = None,
) -> Transfer:
    """Staff give pool hours to an elder in hardship (公益池划拨)."""
    permissions.require(actor, "ledger.grant", community.pk)
    minutes = check_minutes(minutes)
    memo = check_memo(memo)
    policy = policy_for(community)
    with ledger_atomic():
        parties = lock_parties(members=[to], community=community, pool=True)
        pool, receiver, locked = parties.pool, parties.personal[to.pk], parties.locked
        assert pool is not None  # noqa: S101 - lock_parties opened it
        posted = post(
            kind=TransferKind.GRANT,
            community=community,
            actor=actor,
            moves=[Move(source=pool.pk, target=receiver.pk, minutes=minutes)],
            memo=memo,
            idempotency_key=idempotency_key,
            locked=locked,
        )
        _overflow(posted, community=community, policy=policy)
        return posted.transfer


def ledger_reverse(
    *,
    actor: Member,
    transfer: Transfer,
    reason: str,
    idempotency_key: str | None = None,
) -> Transfer:
    """Correct a transfer by posting its mirror image (冲正), never by editing it.

    Every party is told live; staff of the community see a `ledger.reversed`.
    """
    permissions.require(actor, "ledger.reverse", transfer.community_id)
    reason = check_memo(reason, field="reason")
    if not reason:
        raise field_error("reason", _("冲正须填写原因"), code="reason_required")
    if transfer.kind in (TransferKind.REVERSE, TransferKind.OVERFLOW):
        raise Conflict(_("该转账不能冲正"), code="not_reversible")
    community = transfer.community
    policy = policy_for(community)
    with ledger_atomic():
        entries = list(transfer.entries.order_by("id"))
        locked = lock_parties(
            community=community, pool=True, extra={e.account_id for e in entries}
        ).locked
        if Transfer.objects.filter(reverses=transfer).exists():
            raise Conflict(_("该转账已冲正"), code="already_reversed")
        debits = [e for e in entries if e.minutes < 0]
        credits = [e for e in entries if e.minutes > 0]
        moves: list[Move] = []
        # Pair each credit back to the debit it came from, origin by origin.
        for credit in credits:
            left = int(credit.minutes)
            for debit in debits:
                if left == 0:
                    break
                if debit.origin_id != credit.origin_id or debit.minutes == 0:
                    continue
                take = min(left, -int(debit.minutes))
                moves.append(
                    Move(
                        source=credit.account_id,
                        target=debit.account_id,
                        minutes=take,
                        origin=credit.origin_id,
                    )
                )
                debit.minutes += take
                left -= take
        floor = policy.floor_minutes()
        posted = post(
            kind=TransferKind.REVERSE,
            community=community,
            actor=actor,
            moves=moves,
            floors={pk: floor for pk, a in locked.items() if a.kind == AccountKind.PERSONAL},
            memo=reason,
            category=transfer.category,
            idempotency_key=idempotency_key,
            reverses=transfer,
            locked=locked,
        )
        # A reversal may hand back more than the cap allows; the excess goes
        # to the pool like any other credit.
        _overflow(posted, community=community, policy=policy)
        events.record(
            events.staff_group(community.pk),
            "ledger.reversed",
            {"transfer": transfer.pk, "reversal": posted.transfer.pk, "reason": reason},
        )
        return posted.transfer


def policy_update(
    *, actor: Member, community: Community, changes: dict[str, Any]
) -> CommunityPolicy:
    """Change a community's time-bank rules. Unknown or invalid values are 422."""
    permissions.require(actor, "policy.update", community.pk)
    with transaction.atomic(durable=True):
        policy = policy_for(community)
        policy = CommunityPolicy.objects.select_for_update(no_key=True).get(pk=policy.pk)
        before = {name: getattr(policy, name) for name in changes}
        for name, value in changes.items():
            if name == "category_multipliers":
                value = _check_multipliers(value)
            setattr(policy, name, value)
        if policy.storage_cap_minutes <= 0:
            raise field_error("storage_cap_minutes", _("存储上限必须大于 0"), code="invalid_policy")
        policy.updated_by = actor
        policy.save()
        after = {name: getattr(policy, name) for name in changes}
        record_audit(
            actor=actor,
            action="policy.changed",
            obj=policy,
            community_id=community.pk,
            changes={
                "before": {k: v for k, v in before.items() if v != after[k]},
                "after": {k: v for k, v in after.items() if v != before[k]},
            },
        )
        return policy


def _check_multipliers(value: Any) -> dict[str, float]:
    if not isinstance(value, dict):
        raise field_error("category_multipliers", _("倍数须为对象"), code="invalid_policy")
    clean: dict[str, float] = {}
    for category, factor in value.items():
        try:
            number = float(Decimal(str(factor)))
        except (InvalidOperation, ValueError):
            number = math.nan
        if isinstance(factor, bool) or not (0 < number <= 10) or len(str(category)) > 50:
            raise field_error(
                "category_multipliers",
                _("服务类别倍数须在 0 到 10 之间"),
                code="invalid_policy",
            )
        clean[str(category)] = number
    return clean


def account_for(member: Member) -> Account:
    """The member's personal account, opened on first use."""
    return personal_account(member)
