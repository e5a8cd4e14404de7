"""Schemas shared by every app: points, problems, pages."""

from __future__ import annotations

from typing import Any

from ninja import Field, Schema


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
