"""Spaces for the resources tests, and a clock pinned to a known Monday."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from resources import services
from resources.models import Space

SH = ZoneInfo("Asia/Shanghai")
# Monday 7 December 2026, 10:00 in Shenzhen.
NOW = dt.datetime(2026, 12, 7, 10, 0, tzinfo=SH)


def at(day_offset: int, hour: int, minute: int = 0) -> dt.datetime:
    """A wall-clock time `day_offset` days after NOW's date."""
    day = NOW.date() + dt.timedelta(days=day_offset)
    return dt.datetime.combine(day, dt.time(hour, minute), SH)


def iso(value: dt.datetime) -> str:
    return value.isoformat()


@pytest.fixture
def clock() -> Iterator[Any]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def make_space(people: Any, **kw: Any) -> Space:
    defaults: dict[str, Any] = {
        "actor": people.dave,
        "community": people.community,
        "name": "篮球场",
        "kind": "court",
        "mode": "exclusive",
        "capacity": 12,
        "lat": 22.55,
        "lon": 114.05,
    }
    defaults.update(kw)
    return services.space_create(**defaults)


@pytest.fixture
def court(people: Any) -> Space:
    """Open every day 08:00–22:00, hourly slots, default rules."""
    return make_space(people)


@pytest.fixture
def pitch(people: Any) -> dict[str, Space]:
    """A school's full pitch with two halves, outside teaching time."""
    full = make_space(
        people,
        name="足球场",
        kind="sports_field",
        owner_type="school",
        capacity=22,
        opening_template="outside_teaching_time",
    )
    left = make_space(
        people, name="足球场A半场", kind="sports_field", capacity=11, parent_id=full.pk
    )
    right = make_space(
        people, name="足球场B半场", kind="sports_field", capacity=11, parent_id=full.pk
    )
    return {"full": full, "left": left, "right": right}


@pytest.fixture
def gym(people: Any) -> Space:
    """A 30-seat headcount session room, sessions of one hour."""
    return make_space(people, name="健身房", kind="room", mode="session", capacity=30)
