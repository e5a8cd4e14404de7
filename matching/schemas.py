"""Request and response schemas of the matching API."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from ninja import Field, Schema
from pydantic import AliasChoices, field_validator

from timebank.schemas import LocalTime

CategoryLiteral = Literal["elder_care", "escort", "tutoring", "cleanup", "event", "other"]


class LocationIn(Schema):
    lat: float = Field(..., ge=-90, le=90)
    lon: float = Field(..., ge=-180, le=180)
    address: str = Field("", max_length=300)


class LocationOut(Schema):
    lat: float
    lon: float
    address: str


class WindowIn(Schema):
    start: dt.datetime
    end: dt.datetime


class ShiftIn(Schema):
    """Fixed: `{start, end, headcount}`. Flexible: `{window: {start, end}, duration_min,
    step_min, headcount}`. Either may add `spaces: [ids]` or `space_kind` + `radius_km`,
    and `participants` (how many people the room must hold; default headcount)."""

    start: dt.datetime | None = None
    end: dt.datetime | None = None
    headcount: int = Field(..., description="at least 1")
    window: WindowIn | None = None
    duration_min: int | None = None
    step_min: int | None = None
    spaces: list[int] = Field([], max_length=50)
    space_kind: str = Field("", max_length=20)
    radius_km: float | None = None
    participants: int | None = None


class NeedIn(Schema):
    community: int
    title: str = Field(..., min_length=1, max_length=200)
    category: CategoryLiteral
    priority: int = Field(3, description="1-5; 5 is the most vulnerable (兜底)")
    location: LocationIn
    skills: list[str] = Field([], max_length=20)
    languages: list[str] = Field([], max_length=10)
    beneficiary: int | None = None
    description: str = Field("", max_length=5000)
    shifts: list[ShiftIn] = Field(..., max_length=200)
    recurrence: str | None = Field(
        None, max_length=500, description="RRULE with COUNT or UNTIL, e.g. FREQ=WEEKLY;COUNT=8"
    )
    space: int | None = Field(None, description="a shared space the need requires")


class WindowOut(Schema):
    start: str
    end: str


class PlacementOut(Schema):
    start: str
    end: str
    space: int | None
    reservation: int | None
    placed_at: str


class ShiftOut(Schema):
    id: int
    need: int
    community: int
    title: str
    category: str
    priority: int
    start: str
    end: str
    headcount: int
    seats_taken: int
    seats_left: int
    skills: list[str]
    languages: list[str]
    location: LocationOut
    cancelled: bool
    distance_km: float | None = None
    flexible: bool = False
    window: WindowOut | None = None
    duration_min: int | None = None
    step_min: int | None = None
    spaces: list[int] = []
    space_kind: str = ""
    radius_km: float | None = None
    participants: int | None = None
    placed: bool = True
    placement: PlacementOut | None = None


class NeedOut(Schema):
    id: int
    community: int
    title: str
    category: str
    priority: int
    status: str
    description: str
    beneficiary: int | None
    location: LocationOut
    skills: list[str]
    languages: list[str]
    recurrence: str
    space: int | None
    shifts: list[ShiftOut]


class ShiftPage(Schema):
    items: list[ShiftOut]
    next_cursor: str | None


class AssignmentOut(Schema):
    id: int
    shift: int
    volunteer: int
    volunteer_name: str
    status: str
    start: str
    end: str
    position: int | None = None
    offer_expires_at: str | None = None
    checked_in_at: str | None = None
    checked_out_at: str | None = None
    minutes: int | None = None
    verified_minutes: int | None = None
    verified_at: str | None = None
    cancel_reason: str = ""
    late_cancel: bool = False


class SignupOut(Schema):
    assignment: AssignmentOut | None = None
    status: Literal["confirmed", "waitlisted"]
    position: int | None = None


class AssignmentPage(Schema):
    items: list[AssignmentOut]
    next_cursor: str | None


class AssignIn(Schema):
    volunteer: int


class ReasonIn(Schema):
    reason: str = Field(..., max_length=300)


class CheckIn(Schema):
    token: str | None = Field(
        None,
        max_length=300,
        description="the shift's QR token",
        validation_alias=AliasChoices("token", "qr_token", "qr"),
    )
    travel_minutes: int = Field(0, description="check-out only: travel to subtract")


class VerifyIn(Schema):
    minutes: int | None = None
    reason: str = Field("", max_length=300)


class QrOut(Schema):
    token: str
    expires_at: str
    svg: str


class CandidateOut(Schema):
    volunteer: int
    name: str
    score: float
    distance_km: float | None
    week_minutes: int
    visits: int
    reliability: float
    reasons: list[str]


class SkillIO(Schema):
    name: str = Field(..., min_length=1, max_length=50)
    cert_expires: dt.date | None = None


WEEKDAY_NAMES = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


class WindowIO(Schema):
    weekday: int = Field(..., ge=0, le=6, description='0 = Monday; "mon".."sun" also accepted')
    start: LocalTime
    end: LocalTime

    @field_validator("weekday", mode="before")
    @classmethod
    def _day_name(cls, value: object) -> object:
        if isinstance(value, str) and value[:3].lower() in WEEKDAY_NAMES:
            return WEEKDAY_NAMES[value[:3].lower()]
        return value


class ExceptionIO(Schema):
    date: dt.date
    available: bool = False
    start: LocalTime | None = None
    end: LocalTime | None = None
    note: str = Field("", max_length=200)


class PointIO(Schema):
    lat: float = Field(..., ge=-90, le=90)
    lon: float = Field(..., ge=-180, le=180)


class ProfileIn(Schema):
    """Every field is optional: only the parts sent are replaced."""

    skills: list[SkillIO] | None = Field(
        None, max_length=50, description='[{name, cert_expires?}] or plain names: ["first_aid"]'
    )
    languages: list[str] | None = Field(None, max_length=10)
    home: PointIO | None = Field(None, validation_alias=AliasChoices("home", "location"))
    travel_radius_km: float | None = Field(None, gt=0, le=100)
    weekly_limit_minutes: int | None = Field(
        None,
        ge=0,
        le=7 * 24 * 60,
        validation_alias=AliasChoices("weekly_limit_minutes", "weekly_minutes"),
    )
    preferred_categories: list[CategoryLiteral] | None = None
    notify_email: str | None = Field(None, max_length=254)
    availability: list[WindowIO] | None = Field(None, max_length=100)
    availability_text: str | None = Field(
        None, max_length=500, description='quick entry: "mon-fri 18:00-21:00; sat 09:00-12:00"'
    )
    exceptions: list[ExceptionIO] | None = Field(None, max_length=200)

    @field_validator("skills", mode="before")
    @classmethod
    def _plain_skill_names(cls, value: object) -> object:
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value


class ReliabilityOut(Schema):
    score: float
    completed: int
    no_shows: int
    late_cancels: int


class CategoryRatingOut(Schema):
    category: str
    average: float
    count: int


class RatingSummaryOut(Schema):
    average: float | None
    count: int
    by_category: list[CategoryRatingOut]


class ProfileOut(Schema):
    member: int
    name: str
    skills: list[SkillIO]
    languages: list[str]
    home: PointIO | None
    travel_radius_km: float
    weekly_limit_minutes: int | None
    preferred_categories: list[str]
    notify_email: str
    availability: list[WindowIO]
    exceptions: list[ExceptionIO]
    reliability: ReliabilityOut
    ratings: RatingSummaryOut


class RatingIn(Schema):
    score: int
    comment: str = Field("", max_length=500)


class RatingOut(Schema):
    id: int
    assignment: int
    volunteer: int
    rater: int
    category: str
    score: int
    comment: str
    created_at: str


class CalendarOut(Schema):
    url: str


class NotificationOut(Schema):
    id: int
    kind: str
    title: str
    body: str
    data: dict[str, object]
    created_at: str
    read: bool


class NotificationPage(Schema):
    items: list[NotificationOut]
    next_cursor: str | None


class RunIn(Schema):
    community: int
    start: dt.datetime = Field(..., alias="from")
    to: dt.datetime
    time_limit_s: int = 10


class RunCreatedOut(Schema):
    id: int
    status: str


class ProposalOut(Schema):
    id: int
    shift: int
    volunteer: int
    volunteer_name: str
    title: str
    start: str
    end: str
    space: int | None = None
    status: str
    reason: str


class UnfilledOut(Schema):
    shift: int
    missing: int
    reason: str


class RunPartsOut(Schema):
    total: int = Field(..., description="parts solved as separate tasks (0: solved whole)")
    done: int


class RunOut(Schema):
    id: int
    community: int
    kind: Literal["plan", "replan"] = Field(
        ..., description="a plan, or a re-plan around one shift"
    )
    trigger: dict[str, object] = Field(..., description="what started a re-plan")
    parts: RunPartsOut
    status: str
    solver_status: str
    period: dict[str, str | None]
    progress: dict[str, object]
    objective: dict[str, object]
    bound: int | None
    unfilled: list[UnfilledOut]
    error: str
    proposals: list[ProposalOut]


class ApplyIn(Schema):
    proposal_ids: list[int] | None = None


class ApplySkippedOut(Schema):
    id: int
    reason: str


class ApplyPlacedOut(Schema):
    shift: int
    start: str
    end: str
    space: int | None
    reservation: int | None


class ApplyMovedOut(Schema):
    shift: int
    proposed: dict[str, object]
    placed: dict[str, object] | None
    reason: str
    detail: str


class ApplyOut(Schema):
    run: int
    applied: list[int]
    skipped: list[ApplySkippedOut]
    at: str | None
    placed: list[ApplyPlacedOut] = []
    moved: list[ApplyMovedOut] = []
