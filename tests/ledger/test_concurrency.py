"""Concurrency on PostgreSQL: many spenders, one account, no overdraft, no half-writes."""

from __future__ import annotations

import pytest
from django.db.models import Sum

from tests.concurrency import outcomes, run_concurrently
from tests.ledger.conftest import assert_verified, earn
from timebank.errors import Conflict
from timebank.ledger import services
from timebank.ledger.models import Account, Entry, Transfer, TransferKind
from timebank.ledger.selectors import policy_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_fifty_threads_spending_from_one_account(people):
    """bob holds 250 minutes; 50 donations of 10 race. Exactly 25 succeed, the
    rest are refused with insufficient_balance and leave nothing behind."""
    earn(people.community, people.bob, 250, people.alice)

    def spend(i: int) -> object:
        return services.ledger_donate(actor=people.bob, community=people.community, minutes=10)

    results = run_concurrently(spend, 50)
    counts = outcomes(results)
    assert counts == {"Transfer": 25, "Conflict": 25}, results
    assert all(r.code == "insufficient_balance" for r in results if isinstance(r, Conflict))
    account = Account.objects.get(member=people.bob)
    assert account.balance_minutes == 0
    assert Transfer.objects.filter(kind=TransferKind.DONATE).count() == 25
    assert Entry.objects.filter(account=account).aggregate(s=Sum("minutes"))["s"] == 0
    assert assert_verified() == 26


def test_fifty_threads_in_mutual_credit_stop_at_the_limit(people):
    policy = policy_for(people.community)
    policy.mode = "mutual_credit"
    policy.credit_limit_minutes = 100
    policy.save()

    def pay(i: int) -> object:
        return services.ledger_redeem(
            actor=people.carol,
            community=people.community,
            member=people.carol,
            minutes=7,
            provider=people.bob if i % 2 else people.dave,
        )

    results = run_concurrently(pay, 50)
    assert outcomes(results) == {"Transfer": 14, "Conflict": 36}
    assert Account.objects.get(member=people.carol).balance_minutes == -98
    assert_verified()


def test_concurrent_earn_for_one_assignment_credits_once(people):
    def credit(i: int) -> object:
        return earn(people.community, people.bob, 60, people.alice, assignment_key="shift-9")

    results = run_concurrently(credit, 20)
    ids = {r.pk for r in results if isinstance(r, Transfer)}
    assert len(ids) == 1, results
    assert Account.objects.get(member=people.bob).balance_minutes == 60
    assert_verified()


def test_crossing_gifts_do_not_deadlock(people):
    """Gifts both ways between two relatives lock rows in pk order."""
    policy = policy_for(people.community)
    policy.gift_scope = "anyone"
    policy.save()
    earn(people.community, people.bob, 500, people.alice)
    earn(people.community, people.carol, 500, people.alice)

    def gift(i: int) -> object:
        a, b = (people.bob, people.carol) if i % 2 else (people.carol, people.bob)
        return services.ledger_gift(actor=a, to=b, minutes=5, community=people.community)

    results = run_concurrently(gift, 40)
    assert outcomes(results) == {"Transfer": 40}
    total = Account.objects.filter(member__in=[people.bob, people.carol]).aggregate(
        s=Sum("balance_minutes")
    )["s"]
    assert total == 1000
    assert_verified()
