from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from ninja import Field, Schema
from pydantic import AliasChoices, field_validator, model_validator

from timebank.schemas import LocalTime

WEEKDAY_NAMES = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}
KIND_ALIASES = {"field": "sports_field", "sports field": "sports_field", "pitch": "sports_field"}
OWNER_ALIASES = {
    "centre": "service_centre",
    "center": "service_centre",
    "service_center": "service_centre",
    "service centre": "service_centre",
}
KINDS = ("sports_field", "court", "track", "room", "hall")
OWNERS = ("school", "service_centre", "other")


def weekday_number(value: Any) -> int:
    """ISO weekday: 1 = Monday … 7 = Sunday; 0 is read as Sunday too; or a name."""
    if isinstance(value, str):
        key = value.strip().lower()[:3]
        if key in WEEKDAY_NAMES:
            return WEEKDAY_NAMES[key]
        if key.isdigit():
            value = int(key)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 7:
        return value or 7
    raise ValueError("weekday must be 1 (Monday) … 7 (Sunday) or a name such as 'mon'")


class OpeningWindowIn(Schema):
    """A weekly window: `weekday` or `weekdays` (1 = Monday … 7 = Sunday)."""

    weekday: int | str | None = Field(None, validation_alias=AliasChoices("weekday", "day"))
    weekdays: list[int | str] | None = Field(
        None, validation_alias=AliasChoices("weekdays", "days")
    )
    start: LocalTime = Field(..., validation_alias=AliasChoices("start", "open", "opens", "from"))
    end: LocalTime = Field(..., validation_alias=AliasChoices("end", "close", "closes", "to"))
    season: Literal["any", "term", "holiday"] = "any"

    @model_validator(mode="after")
    def _days(self) -> OpeningWindowIn:
        days = list(self.weekdays or [])
        if self.weekday is not None:
            days.append(self.weekday)
        if not days:
            raise ValueError("give weekday or weekdays")
        self.weekdays = sorted({weekday_number(d) for d in days})
        self.weekday = None
        return self


class OpeningWindowOut(Schema):
    weekday: int
    start: LocalTime
    end: LocalTime
    season: str


class SeasonIn(Schema):
    name: str = Field("", max_length=50)
    season: Literal["term", "holiday"]
    start_date: dt.date
    end_date: dt.date


class SeasonOut(SeasonIn):
    pass


class LocationIn(Schema):
    lat: float = Field(..., ge=-90, le=90)
    lon: float = Field(..., ge=-180, le=180)
    address: str = Field("", max_length=200)


class LocationOut(Schema):
    lat: float
    lon: float
    address: str


class RulesIn(Schema):
    """Booking rules (预约规则); each has a default when left out."""

    model_config = {"extra": "forbid"}

    slot_minutes: int | None = None
    booking_window_days: int | None = Field(
        None, validation_alias=AliasChoices("booking_window_days", "window_days", "booking_window")
    )
    early_access_days: int | None = None
    min_duration_minutes: int | None = Field(
        None, validation_alias=AliasChoices("min_duration_minutes", "min_duration")
    )
    max_duration_minutes: int | None = Field(
        None, validation_alias=AliasChoices("max_duration_minutes", "max_duration")
    )
    weekly_quota_bookings: int | None = Field(
        None,
        validation_alias=AliasChoices("weekly_quota_bookings", "weekly_quota", "quota_per_week"),
    )
    weekly_quota_minutes: int | None = None
    max_active_bookings: int | None = Field(
        None, validation_alias=AliasChoices("max_active_bookings", "max_active")
    )
    approval_required: bool | None = Field(
        None, validation_alias=AliasChoices("approval_required", "requires_approval")
    )
    companions_real_name: bool | None = None
    minors_need_guardian: bool | None = None
    terms: str | None = Field(None, max_length=5000)
    hold_minutes: int | None = None
    check_in_grace_minutes: int | None = None
    cancel_deadline_minutes: int | None = None
    no_show_limit: int | None = None
    no_show_window_days: int | None = None
    suspension_days: int | None = None

    def given(self) -> dict[str, Any]:
        """The rules the client set; an explicit null clears a quota."""
        return dict(self.model_dump(exclude_unset=True))


class RulesOut(Schema):
    slot_minutes: int
    booking_window_days: int
    early_access_days: int
    min_duration_minutes: int
    max_duration_minutes: int
    weekly_quota_bookings: int | None
    weekly_quota_minutes: int | None
    max_active_bookings: int | None
    approval_required: bool
    companions_real_name: bool
    minors_need_guardian: bool
    terms: str
    hold_minutes: int
    check_in_grace_minutes: int
    cancel_deadline_minutes: int
    no_show_limit: int
    no_show_window_days: int
    suspension_days: int


class SpaceIn(Schema):
    community: int
    name: str = Field(..., min_length=1, max_length=100)
    kind: str
    owner: str = "other"
    mode: Literal["exclusive", "session"]
    capacity: int = Field(..., ge=1, le=100000)
    parent: int | None = None
    location: LocationIn
    features: list[str] = Field(default_factory=list, max_length=50)
    rules: RulesIn | None = None
    opening: list[OpeningWindowIn] | None = Field(None, max_length=200)
    opening_template: Literal["outside_teaching_time", "all_week"] | None = None
    seasons: list[SeasonIn] = Field(default_factory=list, max_length=100)

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        value = KIND_ALIASES.get(value.strip().lower(), value.strip().lower())
        if value not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        return value

    @field_validator("owner")
    @classmethod
    def _owner(cls, value: str) -> str:
        value = OWNER_ALIASES.get(value.strip().lower(), value.strip().lower())
        if value not in OWNERS:
            raise ValueError(f"owner must be one of {', '.join(OWNERS)}")
        return value


class SpaceOut(Schema):
    id: int
    community: int
    name: str
    kind: str
    owner: str
    mode: str
    capacity: int
    parent: int | None
    children: list[int]
    location: LocationOut
    features: list[str]
    rules: RulesOut
    opening: list[OpeningWindowOut]
    seasons: list[SeasonOut]
    distance_km: float | None = None


class SpacePage(Schema):
    items: list[SpaceOut]
    next_cursor: str | None


class OpeningIn(Schema):
    opening: list[OpeningWindowIn] = Field(default_factory=list, max_length=200)
    opening_template: Literal["outside_teaching_time", "all_week"] | None = None
    seasons: list[SeasonIn] = Field(default_factory=list, max_length=100)


class ClosureIn(Schema):
    start: dt.datetime
    end: dt.datetime
    reason: Literal["exam", "maintenance", "holiday", "event", "other"]
    note: str = Field("", max_length=200)


class ClosureOut(Schema):
    id: int
    space: int
    start: dt.datetime
    end: dt.datetime
    reason: str
    note: str
    cancelled_reservations: list[int] = []


class SlotOut(Schema):
    start: dt.datetime
    end: dt.datetime
    status: Literal["free", "booked", "full", "closed", "past"]
    seats_left: int | None = None


class AvailabilityOut(Schema):
    space: int
    mode: str
    slots: list[SlotOut]


class CompanionIn(Schema):
    name: str = Field(..., max_length=50)


class ReservationIn(Schema):
    space: int
    start: dt.datetime
    end: dt.datetime
    party_size: int | None = Field(None, ge=1, le=100000)
    companions: list[CompanionIn] = Field(default_factory=list, max_length=200)
    accept_terms: bool = False
    guardian: int | None = None
    purpose: str = Field("", max_length=200)


class HoldIn(Schema):
    space: int
    start: dt.datetime
    end: dt.datetime
    party_size: int | None = Field(None, ge=1, le=100000)
    companions: list[CompanionIn] = Field(default_factory=list, max_length=200)
    guardian: int | None = None
    purpose: str = Field("", max_length=200)


class ConfirmIn(Schema):
    accept_terms: bool = False


class CheckInIn(Schema):
    token: str | None = Field(None, max_length=500)


class ReservationOut(Schema):
    id: int
    space: int
    member: int
    start: dt.datetime
    end: dt.datetime
    status: str
    party_size: int
    companions: list[CompanionIn]
    hold_expires_at: dt.datetime | None
    terms_accepted_at: dt.datetime | None
    checked_in_at: dt.datetime | None
    purpose: str
    created_at: dt.datetime


class ReservationPage(Schema):
    items: list[ReservationOut]
    next_cursor: str | None


class WaitlistIn(Schema):
    start: dt.datetime
    end: dt.datetime
    party_size: int = Field(1, ge=1, le=100000)


class WaitlistOut(Schema):
    id: int
    space: int
    start: dt.datetime
    end: dt.datetime
    status: str
    position: int


class GateOut(Schema):
    space: int
    token: str
    qr_svg: str


class UtilisationRow(Schema):
    day: dt.date
    hour: int
    open_minutes: int
    booked_minutes: int
    checked_in_minutes: int
    bookings: int
    no_shows: int


class UtilisationOut(Schema):
    space: int
    open_minutes: int
    booked_share: float
    checked_in_share: float
    no_show_rate: float
    rows: list[UtilisationRow]


class RoundIn(Schema):
    week_start: dt.date
    cutoff: dt.datetime
    lookback_days: int = Field(28, ge=1, le=365)


class RoundRequestIn(Schema):
    start: dt.datetime
    end: dt.datetime
    party_size: int = Field(1, ge=1, le=100000)


class RoundRequestOut(Schema):
    id: int
    member: int
    start: dt.datetime
    end: dt.datetime
    status: str
    reservation: int | None


class RoundOut(Schema):
    id: int
    space: int
    week_start: dt.date
    cutoff: dt.datetime
    status: str
    objective: dict[str, Any]
    requests: list[RoundRequestOut]
