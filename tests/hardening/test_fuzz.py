"""Property-based fuzzing of /api/v1 from its own OpenAPI document (schemathesis).

Every operation of `/api/openapi.json` gets a bounded number of generated
requests, sent to the WSGI app in this process as a signed-in social worker of a
community whose objects exist (so small generated ids hit real rows), and again
as a volunteer of it. Two checks: no 5xx, and every documented response matches
its schema. Hypothesis runs derandomized (the same examples every run) with no
example database, so CI is deterministic; `FUZZ_EXAMPLES` raises the count for a
longer local run.

Anything this finds becomes a plain test in test_fuzz_regressions.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import schemathesis
import time_machine
from django.core import signals
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.hardening.test_authz_matrix import NOW, World, build_world
from timebank.auth import token_issue
from timebank.wsgi import application

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "4"))

schema = schemathesis.openapi.from_wsgi("/api/openapi.json", application)


@pytest.fixture
def world(db: Any) -> Any:
    # The WSGI handler closes the connection around each request, which would end
    # the test's transaction on PostgreSQL; Django's own test client does the same.
    hooks = (signals.request_started, signals.request_finished)
    for hook in hooks:
        hook.disconnect(close_old_connections)
    try:
        with time_machine.travel(NOW, tick=True):
            w: World = build_world()
            yield w
    finally:
        for hook in hooks:
            hook.connect(close_old_connections)


@pytest.fixture(params=["social_worker@A", "volunteer@A"])
def auth(world: World, request: Any) -> dict[str, str]:
    """Staff reach the writes; a volunteer reaches the refusals and their own things."""
    token = token_issue(member=world.members[request.param])[0]
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api(case: Any, auth: dict[str, str]) -> None:
    with each_example_rolled_back():
        case.call_and_validate(
            headers=auth, checks=[not_a_server_error, response_schema_conformance]
        )


@contextmanager
def each_example_rolled_back() -> Iterator[None]:
    """Every example starts from the same world, and one that ends in a database
    error (PostgreSQL then refuses the rest of the transaction) spoils no other.
    Marked like the test case's own atomic blocks, so the services' durable ones
    still run inside it, as they do in any test."""
    atomic = transaction.atomic()
    atomic._from_testcase = True  # type: ignore[attr-defined]
    with atomic:
        try:
            yield
        finally:
            transaction.set_rollback(True)
