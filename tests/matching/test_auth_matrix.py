"""Every matching endpoint refuses anonymous callers with 401 problem+json."""

from __future__ import annotations

import re

import pytest

from tests.conftest import problem

pytestmark = pytest.mark.django_db

PUBLIC = {"/api/v1/calendar/{token}.ics"}


def matching_operations(api):
    spec = api.client.get("/api/openapi.json").json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            if "matching" in op.get("tags", []) and path not in PUBLIC:
                yield method.upper(), re.sub(r"\{[^}]+\}", "1", path)


def test_anonymous_gets_401_everywhere(api, people):
    seen = 0
    for method, path in matching_operations(api):
        r = api.call(method, path, {} if method in ("POST", "PUT", "PATCH") else None)
        assert r.status_code == 401, (method, path, r.status_code)
        assert problem(r)["code"] == "not_authenticated"
        seen += 1
    assert seen >= 25


def test_unknown_calendar_token_is_404(api):
    r = api.get("/calendar/not-a-token.ics")
    assert r.status_code == 404
    assert problem(r)["code"] == "calendar_not_found"


@pytest.mark.parametrize(
    ("who", "status"),
    [("alice", 200), ("erin", 200), ("bob", 403), ("carol", 403), ("dave", 403), ("frank", 404)],
)
def test_roster_by_role(api, people, post, who, status):
    shift_id = post.shift()
    r = api.get(f"/shifts/{shift_id}/assignments", as_=getattr(people, who))
    assert r.status_code == status
