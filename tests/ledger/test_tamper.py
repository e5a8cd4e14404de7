"""Tamper evidence: append-only rows, and `ledger verify` catches edits made in SQL."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from tests.ledger.conftest import earn
from timebank.ledger.models import Account, AppendOnlyError, Entry, Transfer

# Committed rows, as in production: tampering happens after the fact, and the
# deferred balance trigger on PostgreSQL has already checked the honest inserts.
pytestmark = pytest.mark.django_db(transaction=True)


def run_verify() -> str:
    out = io.StringIO()
    call_command("ledger", "verify", stdout=out)
    return out.getvalue()


@pytest.fixture
def history(people):
    for minutes in (30, 40, 50):
        earn(people.community, people.bob, minutes, people.alice)
    return people


def raw(sql: str, params: list[int | str]) -> None:
    """Write behind the ORM's back; on PostgreSQL the append-only triggers
    must be switched off first, as an attacker with table ownership could."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = origin")


def test_verify_passes_on_an_honest_ledger(history):
    assert run_verify().strip() == "ok 3 transfers"


def test_verify_passes_on_an_empty_ledger(db):
    assert run_verify().strip() == "ok 0 transfers"


def test_models_refuse_update_and_delete(history):
    transfer = Transfer.objects.get(seq=1)
    transfer.memo = "改"
    with pytest.raises(AppendOnlyError):
        transfer.save()
    with pytest.raises(AppendOnlyError):
        transfer.delete()
    with pytest.raises(AppendOnlyError):
        Entry.objects.filter(transfer=transfer).first().delete()  # type: ignore[union-attr]


@pytest.mark.postgres
def test_postgres_trigger_refuses_update_and_delete(history):
    for sql in (
        "UPDATE ledger_entry SET minutes = minutes + 1",
        "DELETE FROM ledger_entry",
        "UPDATE ledger_transfer SET memo = 'x'",
        "DELETE FROM ledger_transfer",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    assert Entry.objects.count() == 6


def test_changed_entry_amount_is_caught(history):
    second = Transfer.objects.get(seq=2)
    credit = second.entries.get(minutes__gt=0)
    raw("UPDATE ledger_entry SET minutes = %s WHERE id = %s", [400, credit.pk])
    with pytest.raises(CommandError) as exc:
        run_verify()
    assert "transfer #2" in str(exc.value)
    assert exc.value.returncode == 1


def test_changed_memo_is_caught(history):
    raw("UPDATE ledger_transfer SET memo = %s WHERE seq = %s", ["篡改", 3])
    with pytest.raises(CommandError, match="transfer #3"):
        run_verify()


def test_deleted_transfer_is_caught(history):
    second = Transfer.objects.get(seq=2)
    raw("DELETE FROM ledger_entry WHERE transfer_id = %s", [second.pk])
    raw("DELETE FROM ledger_transfer WHERE id = %s", [second.pk])
    with pytest.raises(CommandError, match="transfer #3"):
        run_verify()


def test_stale_cached_balance_is_caught(history):
    account = Account.objects.get(member=history.bob)
    Account.objects.filter(pk=account.pk).update(balance_minutes=999)
    with pytest.raises(CommandError, match=f"account {account.pk}"):
        run_verify()


def test_rehashed_forgery_still_breaks_the_balances(history):
    """Editing an amount and its own hash breaks the next transfer's link."""
    first = Transfer.objects.get(seq=1)
    raw("UPDATE ledger_transfer SET hash = %s WHERE id = %s", ["f" * 64, first.pk])
    with pytest.raises(CommandError, match="transfer #1"):
        run_verify()


@pytest.mark.postgres
def test_postgres_refuses_an_unbalanced_transfer_at_commit(history):
    """The deferred trigger checks each transfer's entries sum to zero."""
    last = Transfer.objects.get(seq=3)
    account = Account.objects.get(member=history.bob)
    with pytest.raises(DatabaseError, match="unbalanced"), transaction.atomic():
        Entry.objects.create(
            transfer=last,
            account=account,
            origin=history.community,
            minutes=5,
            balance_after=125,
        )
    assert run_verify().strip() == "ok 3 transfers"
