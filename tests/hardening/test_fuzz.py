"""Property-based fuzzing of /api/v1 from its own OpenAPI document (schemathesis).

Every operation of `/api/openapi.json` gets a bounded number of generated
requests, sent to the WSGI app in this process as a signed-in social worker of a
community whose objects exist (so small generated ids hit real rows). Two checks:
no 5xx, and every documented response matches its schema. Hypothesis runs
derandomized (the same examples every run) with no example database, so CI is
deterministic; `FUZZ_EXAMPLES` raises the count for a longer local run.

Anything this finds becomes a plain test in test_fuzz_regressions.py.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
import time_machine
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.hardening.test_authz_matrix import NOW, World, build_world
from timebank.auth import token_issue
from timebank.wsgi import application

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))

schema = schemathesis.openapi.from_wsgi("/api/openapi.json", application)


@pytest.fixture
def world(db: Any) -> Any:
    with time_machine.travel(NOW, tick=True):
        w: World = build_world()
        yield w


@pytest.fixture
def auth(world: World) -> dict[str, str]:
    token = token_issue(member=world.members["social_worker@A"])[0]
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
    case.call_and_validate(headers=auth, checks=[not_a_server_error, response_schema_conformance])
