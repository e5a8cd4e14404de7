"""Ledger fixtures: funded accounts and a shortcut to run `ledger verify`."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from timebank.ledger.services import transfer_earn
from timebank.ledger.verify import verify

_keys = itertools.count(1)


def earn(community: Any, volunteer: Any, minutes: int, actor: Any, **kw: Any) -> Any:
    """Credit `volunteer` through the public earn service with a fresh assignment key."""
    return transfer_earn(
        community=community,
        volunteer=volunteer,
        minutes=minutes,
        actor=actor,
        assignment_key=kw.pop("assignment_key", f"test-{next(_keys)}"),
        **kw,
    )


def assert_verified() -> int:
    report = verify()
    assert report.ok, report.problems
    return report.transfers


@pytest.fixture
def funded(people: Any) -> Any:
    """bob has earned 600 minutes in the personas' community."""
    earn(people.community, people.bob, 600, people.alice, memo="陪伴老人", category="visit")
    return people
