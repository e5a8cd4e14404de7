"""Earning: exactly once per verified assignment, with multipliers and the cap."""

from __future__ import annotations

import pytest
from django.db import transaction

from tests.ledger.conftest import assert_verified, earn
from timebank.errors import InvalidInput
from timebank.ledger.models import Account, AccountKind, Transfer, TransferKind
from timebank.ledger.selectors import policy_for
from timebank.ledger.services import transfer_earn
from timebank.models import Event

pytestmark = pytest.mark.django_db


def test_earn_twice_for_one_assignment_credits_once(people):
    """A second call with the same assignment key returns the first transfer."""
    first = earn(people.community, people.bob, 90, people.alice, assignment_key="a-1")
    second = earn(people.community, people.bob, 90, people.alice, assignment_key="a-1")
    assert first.pk == second.pk
    assert Account.objects.get(member=people.bob).balance_minutes == 90
    assert Transfer.objects.filter(kind=TransferKind.EARN).count() == 1
    assert assert_verified() == 1


def test_earn_inside_the_callers_transaction(people):
    """The volunteering app verifies and credits in one transaction of its own."""
    with transaction.atomic():
        earn(people.community, people.bob, 30, people.alice, assignment_key="outer")
        earn(people.community, people.bob, 30, people.alice, assignment_key="outer")
    assert Account.objects.get(member=people.bob).balance_minutes == 30


def test_earn_mints_from_the_issuing_account_and_tells_the_volunteer(people):
    earn(people.community, people.bob, 120, people.alice)
    issuer = Account.objects.get(community=people.community, kind=AccountKind.ISSUING)
    assert issuer.balance_minutes == -120
    event = Event.objects.get(type="ledger.credited")
    assert event.data["minutes"] == 120
    assert event.data["balance_minutes"] == 120
    assert event.recipients.get().group == f"member-{people.bob.pk}"


def test_category_multiplier_applies(people):
    policy = policy_for(people.community)
    policy.category_multipliers = {"escort": 1.5}
    policy.save()
    transfer = earn(people.community, people.bob, 61, people.alice, category="escort")
    credit = transfer.entries.get(minutes__gt=0)
    assert credit.minutes == 92  # 91.5 rounds half up


def test_storage_cap_overflows_to_the_pool(people):
    policy = policy_for(people.community)
    policy.storage_cap_minutes = 100
    policy.save()
    earn(people.community, people.bob, 80, people.alice)
    earn(people.community, people.bob, 50, people.alice)
    assert Account.objects.get(member=people.bob).balance_minutes == 100
    pool = Account.objects.get(community=people.community, kind=AccountKind.POOL)
    assert pool.balance_minutes == 30
    assert Transfer.objects.filter(kind=TransferKind.OVERFLOW).count() == 1
    assert_verified()


@pytest.mark.parametrize("minutes", [0, -5, 1.5, True])
def test_earn_rejects_bad_minutes(people, minutes):
    with pytest.raises(InvalidInput) as exc:
        transfer_earn(
            community=people.community,
            volunteer=people.bob,
            minutes=minutes,
            actor=people.alice,
            assignment_key="bad",
        )
    assert exc.value.code == "invalid_minutes"
    assert not Transfer.objects.exists()
