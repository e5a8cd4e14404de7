"""Property tests: for any sequence of operations the ledger stays sound."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Sum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import CommunityFactory, member_with_roles
from timebank.errors import ApplicationError
from timebank.ledger import services
from timebank.ledger.models import Account, AccountKind, Entry, Transfer
from timebank.ledger.selectors import policy_for
from timebank.ledger.verify import verify

pytestmark = pytest.mark.django_db

MEMBERS = 4
minutes = st.integers(min_value=1, max_value=400)
who = st.integers(min_value=0, max_value=MEMBERS - 1)
ops = st.one_of(
    st.tuples(st.just("earn"), who, minutes, st.booleans()),
    st.tuples(st.just("gift"), who, who, minutes),
    st.tuples(st.just("donate"), who, minutes, st.booleans()),
    st.tuples(st.just("redeem"), who, who, minutes),
    st.tuples(st.just("grant"), who, minutes, st.booleans()),
    st.tuples(st.just("reverse"), st.integers(min_value=0, max_value=30)),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    mode=st.sampled_from(["deposit_only", "mutual_credit"]),
    cap=st.integers(min_value=200, max_value=2000),
    limit=st.integers(min_value=0, max_value=300),
    sequence=st.lists(ops, min_size=1, max_size=25),
)
def test_any_sequence_keeps_the_ledger_sound(db, mode, cap, limit, sequence):
    """Every transfer sums to zero, every cached balance is the sum of its
    entries, no balance breaks the policy, a refused operation leaves no
    trace, and `ledger verify` passes."""
    home = CommunityFactory()
    away = CommunityFactory()
    staff = member_with_roles(home, "admin", "social_worker")
    staff_away = member_with_roles(away, "admin", "social_worker")
    members = [
        member_with_roles(home, "volunteer", birth_date=dt.date(1950, 1, 1)) for _ in range(MEMBERS)
    ]
    for community in (home, away):
        policy = policy_for(community)
        policy.mode = mode
        policy.storage_cap_minutes = cap
        policy.credit_limit_minutes = limit
        policy.gift_scope = "anyone"
        policy.save()
    made: list[Transfer] = []
    for n, op in enumerate(sequence):
        before = Transfer.objects.count()
        try:
            match op:
                case ("earn", i, m, elsewhere):
                    c, actor = (away, staff_away) if elsewhere else (home, staff)
                    made.append(
                        services.transfer_earn(
                            community=c,
                            volunteer=members[i],
                            minutes=m,
                            actor=actor,
                            assignment_key=f"{home.pk}-{n}",
                        )
                    )
                case ("gift", i, j, m):
                    made.append(
                        services.ledger_gift(
                            actor=members[i], to=members[j], minutes=m, community=home
                        )
                    )
                case ("donate", i, m, elsewhere):
                    made.append(
                        services.ledger_donate(
                            actor=members[i], community=away if elsewhere else home, minutes=m
                        )
                    )
                case ("redeem", i, j, m):
                    made.append(
                        services.ledger_redeem(
                            actor=members[i],
                            community=away,
                            member=members[i],
                            minutes=m,
                            provider=members[j],
                        )
                    )
                case ("grant", i, m, elsewhere):
                    c, actor = (away, staff_away) if elsewhere else (home, staff)
                    made.append(
                        services.ledger_grant(actor=actor, community=c, to=members[i], minutes=m)
                    )
                case ("reverse", k):
                    if made:
                        target = made[k % len(made)]
                        actor = staff if target.community_id == home.pk else staff_away
                        made.append(
                            services.ledger_reverse(actor=actor, transfer=target, reason="核查")
                        )
        except ApplicationError:
            assert Transfer.objects.count() == before, f"refused {op} left a trace"

    # Earlier examples' rows are still in the database, under other policies:
    # the per-example invariants look at this example's rows only.
    mine = Transfer.objects.filter(community__in=[home, away])
    for transfer in mine:
        total = transfer.entries.aggregate(s=Sum("minutes"))["s"]
        assert total == 0
    floor = 0 if mode == "deposit_only" else -limit
    accounts = Account.objects.filter(member__in=members) | Account.objects.filter(
        community__in=[home, away]
    )
    for account in accounts:
        summed = account.entries.aggregate(s=Sum("minutes"))["s"] or 0
        assert account.balance_minutes == summed
        if account.kind == AccountKind.PERSONAL:
            assert floor <= account.balance_minutes <= cap
        if account.kind == AccountKind.POOL:
            assert account.balance_minutes >= 0
    assert Entry.objects.filter(transfer__in=mine).aggregate(s=Sum("minutes"))["s"] in (0, None)
    report = verify()
    assert report.ok, report.problems
