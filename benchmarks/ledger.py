"""Ledger benchmark: transfers per second on PostgreSQL, and `ledger verify` time.

    DATABASE_URL=postgres://… [TEST_DATABASE_NAME=timebank_bench_ledger] \
        python -m benchmarks.ledger [--members 200] [--sequential 3000] [--concurrent 4000]

Builds a scratch database through Django's test-database machinery (dropped
afterwards), funds `--members` volunteers through `transfer_earn`, then times
gifts through the real service (locks, hash chain, outbox events):

- sequentially, in three batches (the median batch rate is reported);
- with 8 worker threads, each on its own connection, checking afterwards
  that no personal account went below zero;
- as a reference in the same run, the bare minimum such a write needs: a
  durable transaction that locks two account rows in pk order and updates them.

Then it runs `ledger verify` over everything written and extrapolates its time
to one million transfers. Writes benchmarks/results/ledger.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "ledger.json"
WORKERS = 8


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "timebank.settings")
    os.environ.setdefault("TEST_DATABASE_NAME", "timebank_bench_ledger")
    import django

    django.setup()


def fund(members: int) -> tuple[Any, list[Any]]:
    from tests.factories import CommunityFactory, member_with_roles
    from timebank.ledger.selectors import policy_for
    from timebank.ledger.services import transfer_earn

    community = CommunityFactory(name="基准社区")
    staff = member_with_roles(community, "social_worker", name="基准社工")
    policy = policy_for(community)
    policy.gift_scope = "anyone"
    policy.save()
    people = [member_with_roles(community, "volunteer") for _ in range(members)]
    for i, member in enumerate(people):
        transfer_earn(
            community=community,
            volunteer=member,
            minutes=20_000,
            actor=staff,
            assignment_key=f"bench-fund-{i}",
        )
    return community, people


def gifts(community: Any, people: list[Any], count: int, seed: int) -> int:
    """`count` gifts of 1–30 minutes between random members; returns how many went through."""
    from timebank.errors import Conflict
    from timebank.ledger.services import ledger_gift

    rng = random.Random(seed)
    done = 0
    for _ in range(count):
        a, b = rng.sample(people, 2)
        try:
            ledger_gift(actor=a, to=b, minutes=rng.randint(1, 30), community=community)
            done += 1
        except Conflict:
            pass
    return done


def baseline(people: list[Any], count: int) -> float:
    """Rate of the minimal hours-moving write: lock two rows in pk order, update both."""
    from django.db import transaction
    from django.db.models import F

    from timebank.ledger.models import Account

    ids = list(Account.objects.filter(member__in=people).values_list("id", flat=True))
    rng = random.Random(7)
    started = time.perf_counter()
    for _ in range(count):
        a, b = sorted(rng.sample(ids, 2))
        with transaction.atomic(durable=True):
            list(Account.objects.select_for_update().filter(pk__in=[a, b]).order_by("pk"))
            # Rewrite each balance with itself: the same row writes, no ledger change.
            Account.objects.filter(pk=a).update(balance_minutes=F("balance_minutes"))
            Account.objects.filter(pk=b).update(balance_minutes=F("balance_minutes"))
    elapsed = time.perf_counter() - started
    return count / elapsed


def concurrent(community: Any, people: list[Any], count: int) -> tuple[float, int, list[str]]:
    from django.db import connections

    per_worker = count // WORKERS
    barrier = threading.Barrier(WORKERS)
    done: list[int] = [0] * WORKERS
    errors: list[str] = []

    def work(w: int) -> None:
        try:
            barrier.wait()
            done[w] = gifts(community, people, per_worker, seed=1000 + w)
        except Exception as exc:  # reported in the results, not swallowed
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(w,)) for w in range(WORKERS)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return sum(done) / elapsed, sum(done), errors


def synthesize(count: int, people: list[Any], community: Any) -> None:
    """Extend the chain by `count` valid 1-minute gifts written in bulk, so that
    `ledger verify` can be timed on a large ledger without waiting for the
    services to write it. Balances, holdings and the head are kept exact."""
    from django.db import transaction
    from django.utils import timezone

    from timebank.ledger.chain import canonical_content, chain_hash
    from timebank.ledger.models import Account, ChainHead, Entry, Holding, Transfer

    accounts = {a.member_id: a for a in Account.objects.filter(member__in=people)}
    balances = {a.pk: int(a.balance_minutes) for a in accounts.values()}
    ids = sorted(balances)
    rng = random.Random(99)
    with transaction.atomic():
        head = ChainHead.objects.select_for_update().get(id=1)
        seq, prev = head.seq, head.hash
        next_id = (Transfer.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
        batch_t: list[Transfer] = []
        batch_e: list[Entry] = []
        for _ in range(count):
            a, b = rng.sample(ids, 2)
            if balances[a] < 1:
                a, b = b, a
            balances[a] -= 1
            balances[b] += 1
            seq += 1
            legs = [(a, community.pk, -1, balances[a]), (b, community.pk, 1, balances[b])]
            now = timezone.now()
            digest = chain_hash(
                prev,
                canonical_content(
                    seq=seq,
                    kind="gift",
                    community_id=community.pk,
                    actor_id=None,
                    memo="",
                    category="",
                    created_at=now,
                    idempotency_key=None,
                    reverses_id=None,
                    entries=legs,
                ),
            )
            batch_t.append(
                Transfer(
                    id=next_id,
                    seq=seq,
                    kind="gift",
                    community=community,
                    memo="",
                    category="",
                    created_at=now,
                    prev_hash=prev,
                    hash=digest,
                )
            )
            batch_e.extend(
                Entry(transfer_id=next_id, account_id=x, origin_id=o, minutes=m, balance_after=f)
                for x, o, m, f in legs
            )
            prev = digest
            next_id += 1
            if len(batch_t) >= 5000:
                Transfer.objects.bulk_create(batch_t)
                Entry.objects.bulk_create(batch_e)
                batch_t, batch_e = [], []
        Transfer.objects.bulk_create(batch_t)
        Entry.objects.bulk_create(batch_e)
        for pk, balance in balances.items():
            Account.objects.filter(pk=pk).update(balance_minutes=balance)
            Holding.objects.filter(account_id=pk, origin=community).update(minutes=balance)
        ChainHead.objects.filter(id=1).update(seq=seq, hash=prev)
        with transaction.get_connection().cursor() as cursor:
            # Sequences do not move for explicit ids; later inserts must not collide.
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('ledger_transfer', 'id'), %s)", [next_id]
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--sequential", type=int, default=3000)
    parser.add_argument("--concurrent", type=int, default=4000)
    parser.add_argument(
        "--verify-size", type=int, default=200_000, help="transfers in the ledger verify walks"
    )
    args = parser.parse_args()

    setup_django()
    from django.conf import settings
    from django.db import connection

    if not settings.USING_POSTGRES:
        print("benchmarks.ledger needs DATABASE_URL=postgres://…", file=sys.stderr)
        return 2
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        from timebank.ledger.models import Account, AccountKind, Transfer
        from timebank.ledger.verify import verify

        community, people = fund(args.members)
        batch = max(args.sequential // 3, 1)
        rates = []
        for i in range(3):
            started = time.perf_counter()
            n = gifts(community, people, batch, seed=i)
            rates.append(n / (time.perf_counter() - started))
        sequential = statistics.median(rates)
        reference = baseline(people, batch)
        conc_rate, conc_done, conc_errors = concurrent(community, people, args.concurrent)
        lowest = min(
            Account.objects.filter(kind=AccountKind.PERSONAL).values_list(
                "balance_minutes", flat=True
            )
        )
        if args.verify_size > Transfer.objects.count():
            synthesize(args.verify_size - Transfer.objects.count(), people, community)
        total = Transfer.objects.count()
        started = time.perf_counter()
        report = verify()
        verify_s = time.perf_counter() - started
        result = {
            "machine": {
                "cores": os.cpu_count(),
                "python": platform.python_version(),
                "database": "PostgreSQL " + str(connection.cursor().connection.info.server_version),
            },
            "members": args.members,
            "sequential_transfers_per_s": round(sequential, 1),
            "sequential_batch_rates": [round(r, 1) for r in rates],
            "reference_lock_update_per_s": round(reference, 1),
            "sequential_vs_reference": round(sequential / reference, 3),
            "concurrent_workers": WORKERS,
            "concurrent_transfers_per_s": round(conc_rate, 1),
            "concurrent_transfers": conc_done,
            "concurrent_errors": conc_errors,
            "lowest_personal_balance": int(lowest),
            "verify_ok": report.ok,
            "verify_transfers": total,
            "verify_seconds": round(verify_s, 3),
            "verify_seconds_per_million": round(verify_s / max(total, 1) * 1_000_000, 1),
            "targets": {"sequential_per_s": 1000, "verify_s_per_million": 30},
        }
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"{'figure':40} value")
    for key in (
        "sequential_transfers_per_s",
        "reference_lock_update_per_s",
        "sequential_vs_reference",
        "concurrent_transfers_per_s",
        "lowest_personal_balance",
        "verify_transfers",
        "verify_seconds",
        "verify_seconds_per_million",
    ):
        print(f"{key:40} {result[key]}")
    ok = report.ok and lowest >= 0 and not conc_errors
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
