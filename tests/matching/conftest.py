"""Helpers for the matching tests: a need poster and times relative to now."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from tests.factories import member_with_roles


def at(hours: float) -> str:
    """An ISO time `hours` from now, in Asia/Shanghai."""
    return timezone.localtime(timezone.now() + dt.timedelta(hours=hours)).isoformat()


def need_body(community_id: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "community": community_id,
        "title": "陪同王奶奶复诊",
        "category": "escort",
        "priority": 4,
        "location": {"lat": 22.5410, "lon": 114.0590, "address": "香蜜湖路 1 号"},
        "skills": [],
        "languages": [],
        "shifts": [{"start": at(48), "end": at(50), "headcount": 2}],
    }
    body.update(overrides)
    return body


class Poster:
    def __init__(self, api: Any, people: Any) -> None:
        self.api = api
        self.people = people

    def need(self, **overrides: Any) -> dict[str, Any]:
        r = self.api.post(
            "/needs", need_body(self.people.community.id, **overrides), as_=self.people.alice
        )
        assert r.status_code == 201, r.content
        return dict(r.json())

    def shift(self, start: float = 48, hours: float = 2, headcount: int = 2, **kw: Any) -> int:
        need = self.need(
            shifts=[{"start": at(start), "end": at(start + hours), "headcount": headcount}], **kw
        )
        return int(need["shifts"][0]["id"])

    def volunteer(self, **fields: Any) -> Any:
        return member_with_roles(self.people.community, "volunteer", **fields)


@pytest.fixture
def post(api: Any, people: Any) -> Poster:
    return Poster(api, people)
