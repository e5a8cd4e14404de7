"""Shared fixtures: an API client, personas, and service reachability.

In CI (`CI=true`), a service that cannot be reached is a failure, not a skip.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from tests.factories import CommunityFactory, MemberFactory, member_with_roles
from timebank.auth import token_issue
from timebank.people.models import Community, Member

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unreachable(what: str) -> None:
    """Skip locally, fail in CI."""
    if IN_CI:
        pytest.fail(f"{what} is not reachable, and CI=true requires it")
    pytest.skip(f"{what} is not reachable")


@pytest.fixture(autouse=True)
def _fast_hashing(settings: Any) -> None:
    # Argon2 is deliberately slow; one test checks it is the configured hasher.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    from django.core.cache import cache

    cache.clear()


class Api:
    """A JSON client for /api/v1 that can act as any member."""

    def __init__(self) -> None:
        self.client = Client()

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        as_: Member | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        raw: str | None = None,
    ) -> Any:
        extra: dict[str, str] = {}
        if as_ is not None:
            token = token_issue(member=as_)[0]
        if token:
            extra["HTTP_AUTHORIZATION"] = f"Bearer {token}"
        for name, value in (headers or {}).items():
            extra["HTTP_" + name.upper().replace("-", "_")] = value
        url = path if path.startswith("/api") else f"/api/v1{path}"
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        fn = getattr(self.client, method.lower())
        if data is None and method.upper() in {"POST", "PUT", "PATCH"}:
            # A body-less write, as real clients send it (not an empty multipart form).
            return fn(url, data=b"", content_type="application/json", **extra)
        if data is None:
            return fn(url, **extra)
        return fn(url, data=data, content_type="application/json", **extra)

    def get(self, path: str, **kw: Any) -> Any:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.call("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.call("PUT", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.call("PATCH", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.call("DELETE", path, **kw)


@pytest.fixture
def api() -> Api:
    return Api()


@dataclass
class Personas:
    """alice: social worker; bob: volunteer; carol: resident; dave: space manager;
    erin: community admin; frank: volunteer of another community; root: superuser."""

    community: Community
    other: Community
    alice: Member
    bob: Member
    carol: Member
    dave: Member
    erin: Member
    frank: Member
    root: Member


@pytest.fixture
def people(db: Any) -> Personas:
    c = CommunityFactory(name="香蜜社区")
    other = CommunityFactory(name="景田社区")
    return Personas(
        community=c,
        other=other,
        alice=member_with_roles(c, "social_worker", name="李社工"),
        bob=member_with_roles(c, "volunteer", name="王志愿"),
        carol=member_with_roles(c, "resident", name="陈居民"),
        dave=member_with_roles(c, "space_manager", name="赵场管"),
        erin=member_with_roles(c, "admin", name="周管理"),
        frank=member_with_roles(other, "volunteer", name="孙志愿"),
        root=MemberFactory(name="超级管理员", is_superuser=True, is_staff=True),
    )


def problem(response: Any) -> dict[str, Any]:
    """The problem+json body of an error response, checked for its required fields."""
    assert response["Content-Type"].startswith("application/problem+json"), response.content
    body = response.json()
    for key in ("status", "code", "title", "detail"):
        assert key in body, body
    assert body["status"] == response.status_code
    return dict(body)


def redis_url() -> str:
    return os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"


__all__ = ["IN_CI", "Api", "Personas", "problem", "redis_url", "settings", "unreachable"]


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """`@pytest.mark.postgres` tests run only when DATABASE_URL points at PostgreSQL."""
    if settings.USING_POSTGRES:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://…")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)
