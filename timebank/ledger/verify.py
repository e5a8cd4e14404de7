"""`ledger verify`: recompute the hash chain, every entry sum, every running
and cached balance, and every per-origin holding, in one streaming pass."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction

from timebank.ledger.chain import GENESIS_HASH, EntryTuple, canonical_content, chain_hash
from timebank.ledger.models import Account, AccountKind, ChainHead, Entry, Holding, Transfer

CHUNK = 5000


@dataclass
class Report:
    transfers: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _moment(value: Any) -> dt.datetime:
    """A timestamp as the raw cursor gives it: aware on PostgreSQL; naive UTC
    (or its text) on SQLite, where Django stores UTC without an offset."""
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment


def _stream(sql: str) -> Generator[tuple[Any, ...], None, None]:
    """Rows of a raw query, fetched in chunks (a server-side cursor on PostgreSQL):
    the ORM's per-row work would dominate a walk over millions of rows."""
    cursor = connection.chunked_cursor()
    try:
        cursor.execute(sql)
        while batch := cursor.fetchmany(CHUNK):
            yield from batch
    finally:
        cursor.close()


def _entries() -> Generator[tuple[int, EntryTuple], None, None]:
    table = Entry._meta.db_table
    sql = (
        f"SELECT transfer_id, account_id, origin_id, minutes, balance_after "  # noqa: S608
        f"FROM {table} ORDER BY transfer_id, id"
    )
    for transfer_id, account, origin, minutes, after in _stream(sql):
        yield transfer_id, (account, origin, int(minutes), int(after))


def verify() -> Report:
    """Walk the chain in order, stopping at the first broken transfer; then
    check the caches against the entries. On PostgreSQL it reads one snapshot
    (REPEATABLE READ), so transfers committed meanwhile cannot cause false alarms."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        entries = _entries()
        transfers = _stream(
            "SELECT id, seq, kind, community_id, actor_id, memo, category, created_at, "  # noqa: S608
            f"idempotency_key, reverses_id, prev_hash, hash FROM {Transfer._meta.db_table} "
            "ORDER BY seq"
        )
        try:
            return _verify(entries, transfers)
        finally:
            # Close the server-side cursors inside the transaction that owns them.
            entries.close()
            transfers.close()


def _verify(
    entries: Iterator[tuple[int, EntryTuple]], transfers: Iterator[tuple[Any, ...]]
) -> Report:
    report = Report()
    issuing = set(Account.objects.filter(kind=AccountKind.ISSUING).values_list("id", flat=True))
    prev = GENESIS_HASH
    balances: dict[int, int] = defaultdict(int)
    holdings: dict[tuple[int, int], int] = defaultdict(int)
    pending: tuple[int, EntryTuple] | None = next(entries, None)
    # The chain is walked by seq, entries by transfer id; both grow together
    # because a transfer gets its id and its seq under the chain-head lock.
    expected_seq = 1
    for row in transfers:
        (tid, seq, kind, cid, actor, memo, category, created, key, rev, prev_hash, digest) = row
        legs: list[EntryTuple] = []
        if pending is not None and pending[0] < tid:
            report.problems.append(f"entry of unknown transfer id {pending[0]}")
            return report
        while pending is not None and pending[0] == tid:
            legs.append(pending[1])
            pending = next(entries, None)
        name = f"transfer #{seq} (id {tid})"
        if seq != expected_seq:
            report.problems.append(f"{name}: expected chain position {expected_seq}")
            return report
        if prev_hash != prev:
            report.problems.append(f"{name}: prev_hash does not match the previous transfer")
            return report
        content = canonical_content(
            seq=seq,
            kind=kind,
            community_id=cid,
            actor_id=actor,
            memo=memo,
            category=category,
            created_at=_moment(created),
            idempotency_key=key,
            reverses_id=rev,
            entries=legs,
        )
        if chain_hash(prev, content) != digest:
            report.problems.append(f"{name}: hash mismatch (content was changed)")
            return report
        if len(legs) < 2 or sum(leg[2] for leg in legs) != 0:
            report.problems.append(f"{name}: entries do not sum to zero")
            return report
        for account, origin, minutes, after in legs:
            balances[account] += minutes
            if account not in issuing:
                holdings[(account, origin)] += minutes
            if balances[account] != after:
                report.problems.append(
                    f"{name}: running balance of account {account} is {after}, "
                    f"entries give {balances[account]}"
                )
                return report
        prev = digest
        expected_seq += 1
        report.transfers += 1
    if pending is not None:
        report.problems.append(f"entry of unknown transfer id {pending[0]}")
        return report
    head = ChainHead.objects.filter(id=1).first()
    if report.transfers and (head is None or head.hash != prev or head.seq != report.transfers):
        report.problems.append("chain head does not match the last transfer")
    for pk, cached in Account.objects.values_list("id", "balance_minutes"):
        if int(cached) != balances.get(pk, 0):
            report.problems.append(
                f"account {pk}: cached balance {cached} != sum of entries {balances.get(pk, 0)}"
            )
    stored = {
        (a, o): int(m)
        for a, o, m in Holding.objects.values_list("account_id", "origin_id", "minutes")
    }
    for slot in sorted(set(stored) | {k for k, v in holdings.items() if v}):
        if stored.get(slot, 0) != holdings.get(slot, 0):
            report.problems.append(
                f"account {slot[0]}: holding of community {slot[1]} is {stored.get(slot, 0)}, "
                f"entries give {holdings.get(slot, 0)}"
            )
    return report
