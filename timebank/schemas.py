"""Schemas shared by every app: points, problems, pages."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from django.utils.translation import gettext
from ninja import Field, Schema
from pydantic import AfterValidator, WithJsonSchema


def _wall_clock(value: dt.time) -> dt.time:
    if value.tzinfo is not None:
        raise ValueError(gettext("时间应为当地时间，不带时区，例如 08:00"))
    return value


# A wall-clock time of day in Asia/Shanghai, sent as "HH:MM[:SS]" with no offset
# (an offset is refused: comparing it with wall-clock times would fail). JSON
# Schema's "time" format is RFC 3339 full-time, which requires an offset, so the
# document says partial-time, which is what is actually sent and accepted.
LocalTime = Annotated[
    dt.time,
    AfterValidator(_wall_clock),
    WithJsonSchema({"type": "string", "format": "partial-time", "examples": ["08:00"]}),
]


class PointIn(Schema):
    lat: float = Field(..., ge=-90, le=90)
    lon: float = Field(..., ge=-180, le=180)


class PointOut(Schema):
    lat: float
    lon: float


class FieldErrorOut(Schema):
    field: str
    message: str


class ProblemOut(Schema):
    """application/problem+json"""

    type: str = "about:blank"
    status: int
    code: str
    title: str
    detail: str
    errors: list[FieldErrorOut] = []


class Page(Schema):
    items: list[Any]
    next_cursor: str | None
