"""The posting engine: lock, split by origin, check floors, append to the chain.

Every ledger write goes through `post()`. It must run inside a transaction;
the public services in `services.py` open it. Rows are locked in this order,
always: the accounts (by primary key), then the chain head. So two transfers
never deadlock, and the chain never forks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import BigIntegerField, Case, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from timebank import events
from timebank.audit.services import record_audit
from timebank.errors import Conflict
from timebank.ledger.chain import GENESIS_HASH, canonical_content, chain_hash
from timebank.ledger.models import (
    Account,
    AccountKind,
    ChainHead,
    Entry,
    Holding,
    Transfer,
)
from timebank.people.models import Community, Member


@dataclass(frozen=True)
class Move:
    """`minutes` (> 0) leave `source` for `target`. `origin` pins the issuing
    community (used by reversals); otherwise the source's holdings decide."""

    source: int
    target: int
    minutes: int
    origin: int | None = None


@dataclass
class Posted:
    transfer: Transfer
    accounts: dict[int, Account]
    net: dict[int, int] = field(default_factory=dict)


def in_durable_block() -> bool:
    """True when an open transaction is durable (e.g. the one
    `run_idempotent` opens around a write): a ledger service may then join it
    instead of opening its own durable block."""
    conn = transaction.get_connection()
    return conn.in_atomic_block and any(block.durable for block in conn.atomic_blocks)


def ledger_atomic() -> transaction.Atomic:
    """A durable transaction for an API-facing write, or a savepoint inside the
    durable transaction that an idempotent request has already opened."""
    if in_durable_block():
        return transaction.atomic()
    return transaction.atomic(durable=True)


def personal_account(member: Member) -> Account:
    account, _created = Account.objects.get_or_create(
        member=member, defaults={"kind": AccountKind.PERSONAL, "floor_minutes": 0}
    )
    return account


def issuing_account(community: Community) -> Account:
    account, _created = Account.objects.get_or_create(
        community=community, kind=AccountKind.ISSUING, defaults={"floor_minutes": None}
    )
    return account


def pool_account(community: Community) -> Account:
    account, _created = Account.objects.get_or_create(
        community=community, kind=AccountKind.POOL, defaults={"floor_minutes": 0}
    )
    return account


def lock_accounts(ids: Iterable[int]) -> dict[int, Account]:
    """Lock the accounts in primary-key order; the caller is inside a transaction."""
    rows = Account.objects.select_for_update(no_key=True).filter(pk__in=set(ids)).order_by("pk")
    return {a.pk: a for a in rows}


@dataclass
class Parties:
    """The accounts of one write, locked: by pk, by member id, and the community's."""

    locked: dict[int, Account]
    personal: dict[int, Account]
    pool: Account | None
    issuer: Account | None


def lock_parties(
    *,
    members: Iterable[Member] = (),
    community: Community | None = None,
    pool: bool = False,
    issuer: bool = False,
    extra: Iterable[int] = (),
) -> Parties:
    """Lock, in pk order, the members' personal accounts, the community's pool
    and/or issuing account, and `extra` account ids; open missing accounts first.

    Missing accounts are opened before any row is locked, in one global order
    (members by id, then pool, then issuer): a transaction waiting for another's
    uncommitted insert then holds no lock that the other could need. Accounts
    are never deleted, so once seen they stay.
    """
    people = sorted({m.pk: m for m in members}.values(), key=lambda m: m.pk)
    member_ids = {m.pk for m in people}
    query = Q(member_id__in=member_ids) | Q(pk__in=set(extra))
    kinds = [k for k, wanted in ((AccountKind.POOL, pool), (AccountKind.ISSUING, issuer)) if wanted]
    if community is not None and kinds:
        query |= Q(community=community, kind__in=kinds)
    seen = set(Account.objects.filter(query).values_list("member_id", "community_id", "kind"))
    have_members = {m for m, _c, _k in seen if m is not None}
    have_kinds = {k for _m, c, k in seen if community is not None and c == community.pk}
    for person in people:
        if person.pk not in have_members:
            personal_account(person)
    if community is not None:
        if pool and AccountKind.POOL not in have_kinds:
            pool_account(community)
        if issuer and AccountKind.ISSUING not in have_kinds:
            issuing_account(community)
    rows = list(Account.objects.select_for_update(no_key=True).filter(query).order_by("pk"))
    mine = {a.kind: a for a in rows if community is not None and a.community_id == community.pk}
    return Parties(
        locked={a.pk: a for a in rows},
        personal={a.member_id: a for a in rows if a.member_id is not None},
        pool=mine.get(AccountKind.POOL),
        issuer=mine.get(AccountKind.ISSUING),
    )


def _split(
    source: Account,
    minutes: int,
    community_id: int,
    holdings: dict[tuple[int, int], int],
) -> list[tuple[int, int]]:
    """Which issuing communities' minutes leave `source`: its own community's
    first (no clearing needed), then the others by id, then any debt, which is
    charged to the community where it is incurred."""
    if source.kind == AccountKind.ISSUING:
        return [(int(source.community_id or 0), minutes)]
    mine = sorted(
        (origin, left)
        for (acc, origin), left in holdings.items()
        if acc == source.pk and left > 0 and origin != community_id
    )
    local = holdings.get((source.pk, community_id), 0)
    order = ([(community_id, local)] if local > 0 else []) + mine
    pieces: list[tuple[int, int]] = []
    remaining = minutes
    for origin, left in order:
        if remaining == 0:
            break
        take = min(left, remaining)
        pieces.append((origin, take))
        remaining -= take
    if remaining:
        pieces.append((community_id, remaining))
    return pieces


def post(
    *,
    kind: str,
    community: Community,
    actor: Member | None,
    moves: Sequence[Move],
    floors: dict[int, int] | None = None,
    memo: str = "",
    category: str = "",
    idempotency_key: str | None = None,
    reverses: Transfer | None = None,
    locked: dict[int, Account] | None = None,
) -> Posted:
    """Append one transfer. `floors` maps an account id to the lowest balance
    this transfer may leave it at; debited accounts without one keep their
    stored floor. Raises 409 `insufficient_balance` before writing anything.

    Precondition: inside a transaction. `locked` may pass accounts the caller
    already holds under `select_for_update`.
    """
    ids = {m.source for m in moves} | {m.target for m in moves}
    accounts = dict(locked or {})
    missing = ids - accounts.keys()
    if missing:
        accounts.update(lock_accounts(missing))
    tracked = [pk for pk in ids if accounts[pk].kind != AccountKind.ISSUING]
    holding_rows = {
        (h.account_id, h.origin_id): h for h in Holding.objects.filter(account_id__in=tracked)
    }
    holdings = {key: int(h.minutes) for key, h in holding_rows.items()}

    balances = {pk: int(accounts[pk].balance_minutes) for pk in ids}
    entries: list[tuple[int, int, int, int]] = []
    net: dict[int, int] = defaultdict(int)
    for move in moves:
        if move.minutes <= 0 or move.source == move.target:
            raise ValueError("a move needs positive minutes between two accounts")
        source = accounts[move.source]
        pieces = (
            [(move.origin, move.minutes)]
            if move.origin is not None
            else _split(source, move.minutes, community.pk, holdings)
        )
        for origin, minutes in pieces:
            for pk, signed in ((move.source, -minutes), (move.target, minutes)):
                balances[pk] += signed
                net[pk] += signed
                if accounts[pk].kind != AccountKind.ISSUING:
                    holdings[(pk, origin)] = holdings.get((pk, origin), 0) + signed
                entries.append((pk, origin, signed, balances[pk]))

    new_floors: dict[int, int | None] = {}
    for pk, change in net.items():
        account = accounts[pk]
        floor = account.floor_minutes
        if change < 0 and floors and pk in floors and account.kind == AccountKind.PERSONAL:
            floor = floors[pk]
        if change < 0 and floor is not None and balances[pk] < floor:
            raise Conflict(
                _("余额不足：需要 %(need)d 分钟，可用 %(have)d 分钟")
                % {"need": -change, "have": int(account.balance_minutes) - floor},
                code="insufficient_balance",
            )
        new_floors[pk] = floor

    head, _created = ChainHead.objects.select_for_update(no_key=True).get_or_create(
        id=1, defaults={"seq": 0, "hash": GENESIS_HASH}
    )
    seq = head.seq + 1
    now = timezone.now()
    actor_id = actor.pk if actor is not None else None
    reverses_id = reverses.pk if reverses is not None else None
    content = canonical_content(
        seq=seq,
        kind=kind,
        community_id=community.pk,
        actor_id=actor_id,
        memo=memo,
        category=category,
        created_at=now,
        idempotency_key=idempotency_key,
        reverses_id=reverses_id,
        entries=entries,
    )
    digest = chain_hash(head.hash, content)
    transfer = Transfer.objects.create(
        seq=seq,
        kind=kind,
        community=community,
        actor_id=actor_id,
        memo=memo,
        category=category,
        created_at=now,
        idempotency_key=idempotency_key,
        reverses=reverses,
        prev_hash=head.hash,
        hash=digest,
    )
    Entry.objects.bulk_create(
        [
            Entry(transfer=transfer, account_id=a, origin_id=o, minutes=m, balance_after=b)
            for a, o, m, b in entries
        ]
    )
    # One UPDATE for all the balances and one for all the holdings: fewer round
    # trips while the chain head is held.
    for pk in net:
        accounts[pk].balance_minutes = balances[pk]
        accounts[pk].floor_minutes = new_floors[pk]
    Account.objects.filter(pk__in=list(net)).update(
        balance_minutes=Case(
            *[When(pk=pk, then=Value(balances[pk])) for pk in net],
            output_field=BigIntegerField(),
        ),
        floor_minutes=Case(
            *[When(pk=pk, then=Value(new_floors[pk])) for pk in net],
            output_field=BigIntegerField(),
        ),
    )
    fresh: list[Holding] = []
    changed: dict[int, int] = {}
    for key, minutes in holdings.items():
        row = holding_rows.get(key)
        if row is None:
            fresh.append(Holding(account_id=key[0], origin_id=key[1], minutes=minutes))
        elif row.minutes != minutes:
            changed[row.pk] = minutes
    if changed:
        Holding.objects.filter(pk__in=list(changed)).update(
            minutes=Case(
                *[When(pk=pk, then=Value(m)) for pk, m in changed.items()],
                output_field=BigIntegerField(),
            )
        )
    if fresh:
        Holding.objects.bulk_create(fresh)
    ChainHead.objects.filter(id=1).update(seq=seq, hash=digest)
    _announce(transfer, accounts, net)
    _audit(transfer, accounts, net)
    return Posted(transfer=transfer, accounts=accounts, net=dict(net))


def _audit(transfer: Transfer, accounts: dict[int, Account], net: dict[int, int]) -> None:
    """One audit row per transfer; the subject is the member credited (else debited)."""
    members = [(change, accounts[pk].member_id) for pk, change in sorted(net.items())]
    credited = [m for change, m in members if m is not None and change > 0]
    debited = [m for change, m in members if m is not None and change < 0]
    parties = credited or debited
    subject = parties[0] if parties else None
    record_audit(
        actor=transfer.actor_id,
        action="ledger.transfer",
        obj=transfer,
        community_id=transfer.community_id,
        subject_id=subject,
        changes={
            "kind": transfer.kind,
            "seq": transfer.seq,
            "memo": transfer.memo,
            "reverses": transfer.reverses_id,
            "accounts": {str(pk): change for pk, change in sorted(net.items())},
        },
    )


def _announce(transfer: Transfer, accounts: dict[int, Account], net: dict[int, int]) -> None:
    """Tell each member whose balance changed, live, once the transaction commits."""
    for pk, change in sorted(net.items()):
        account = accounts[pk]
        if change == 0 or account.member_id is None:
            continue
        events.record(
            events.member_group(account.member_id),
            "ledger.credited" if change > 0 else "ledger.debited",
            {
                "transfer": transfer.pk,
                "kind": transfer.kind,
                "minutes": abs(change),
                "balance_minutes": int(account.balance_minutes),
                "community": transfer.community_id,
                "memo": transfer.memo,
            },
        )
