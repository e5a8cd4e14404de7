from __future__ import annotations

import datetime as dt
from typing import Literal

from ninja import Field, Schema

from timebank.schemas import PointIn, PointOut

RoleLiteral = Literal["volunteer", "resident", "social_worker", "space_manager", "admin"]
RelationLiteral = Literal["spouse", "parent", "child", "grandparent", "grandchild", "sibling"]


class LoginIn(Schema):
    phone: str = Field(..., max_length=32)
    password: str = Field(..., min_length=1, max_length=256)


class RoleOut(Schema):
    community: int
    role: RoleLiteral


class MemberOut(Schema):
    id: int
    name: str
    phone: str = Field(..., description="masked: 138****1234")
    has_phone: bool
    id_verified: bool
    birth_date: dt.date | None = None
    location: PointOut | None = None
    roles: list[RoleOut]


class LoginOut(Schema):
    token: str
    member: MemberOut


class CommunityIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    street: str = Field(..., min_length=1, max_length=100)
    district: str = Field(..., min_length=1, max_length=100)
    center: PointIn
    residents: int = Field(0, ge=0)


class CommunityOut(Schema):
    id: int
    name: str
    street: str
    district: str
    center: PointOut
    residents: int
    matching_auto_confirm: bool = Field(
        ..., description="a re-plan's proposals are confirmed at once (community policy)"
    )


class CommunityPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=100)
    residents: int | None = Field(None, ge=0)
    matching_auto_confirm: bool | None = None


class MemberIn(Schema):
    phone: str | None = Field(None, max_length=32)
    name: str = Field(..., min_length=1, max_length=50)
    password: str | None = Field(None, max_length=256)
    roles: list[RoleLiteral] = []
    birth_date: dt.date | None = None
    location: PointIn | None = None
    proxy: bool = Field(
        False, description="registered by staff for someone with no phone (帮办代办)"
    )


class RoleIn(Schema):
    member: int
    role: RoleLiteral


class RelationIn(Schema):
    member: int
    relative: int
    relation: RelationLiteral


class RelationOut(Schema):
    id: int
    member: int
    relative: int
    relation: RelationLiteral


class MemberPage(Schema):
    items: list[MemberOut]
    next_cursor: str | None


class EraseIn(Schema):
    confirm: bool = Field(False, description="must be true: erasure cannot be undone")
    password: str | None = Field(None, max_length=256)


class EraseOut(Schema):
    member: int
    erased_at: dt.datetime
