from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from ninja import Field, Schema
from pydantic import StrictFloat, StrictInt

# Declared loosely on purpose: a fractional value reaches the service, which
# answers 422 `invalid_minutes` rather than a generic validation error.
Minutes = Annotated[StrictInt | StrictFloat, Field(description="whole minutes, a positive integer")]
KindLiteral = Literal["earn", "gift", "donate", "redeem", "grant", "reverse", "overflow"]


class LedgerMeOut(Schema):
    member: int
    balance_minutes: int
    earned_minutes: int
    spent_minutes: int
    received_minutes: int
    given_minutes: int
    floor_minutes: int = Field(..., description="lowest balance allowed at the last debit")


class EntryOut(Schema):
    id: int
    transfer: int
    kind: KindLiteral
    minutes: int
    balance_after: int = Field(..., description="the running balance after this entry")
    community: int
    community_name: str
    origin: int = Field(..., description="the community that issued these minutes")
    counterparty: str
    memo: str
    category: str
    created_at: dt.datetime


class EntryPage(Schema):
    items: list[EntryOut]
    next_cursor: str | None


class LegOut(Schema):
    account: int
    account_kind: Literal["personal", "issuing", "pool"]
    member: int | None
    community: int | None
    origin: int
    minutes: int


class TransferOut(Schema):
    id: int
    seq: int
    kind: KindLiteral
    community: int
    actor: int | None
    memo: str
    category: str
    created_at: dt.datetime
    reverses: int | None
    hash: str
    entries: list[LegOut]


class GiftIn(Schema):
    to: int
    minutes: Minutes
    memo: str = Field("", max_length=200)
    community: int | None = Field(
        None, description="whose gift rules apply; defaults to the giver's first community"
    )


class DonationIn(Schema):
    minutes: Minutes
    community: int
    memo: str = Field("", max_length=200)


class RedemptionIn(Schema):
    community: int
    minutes: Minutes
    member: int | None = Field(None, description="staff redeeming on a member's behalf")
    provider: int | None = Field(None, description="who served, in mutual credit mode")
    memo: str = Field("", max_length=200)
    category: str = Field("", max_length=50)


class GrantIn(Schema):
    community: int
    to: int
    minutes: Minutes
    memo: str = Field("", max_length=200)


class EarningIn(Schema):
    community: int
    volunteer: int
    minutes: Minutes
    record_key: str = Field(..., min_length=1, max_length=100)
    memo: str = Field("", max_length=200)
    category: str = Field("", max_length=50)


class ReverseIn(Schema):
    reason: str = Field(..., max_length=200)


class YearOut(Schema):
    class KindRow(Schema):
        kind: KindLiteral
        in_: int = Field(..., alias="in")
        out: int

    class MonthRow(Schema):
        month: int
        in_: int = Field(..., alias="in")
        out: int

    year: int
    opening_balance_minutes: int
    closing_balance_minutes: int
    in_minutes: int
    out_minutes: int
    by_kind: list[KindRow]
    by_month: list[MonthRow]


class CertificateIn(Schema):
    start: dt.date = Field(..., alias="from")
    end: dt.date = Field(..., alias="to")
    community: int | None = Field(None, description="the issuing community, if several")


class CertificateOut(Schema):
    number: str
    check_code: str
    pdf_url: str
    minutes: int
    issuer: int
    issued_at: dt.datetime
    revoked_at: dt.datetime | None


class CertificateCheckOut(Schema):
    valid: bool
    reason: Literal["ok", "revoked", "not_found"]
    number: str
    volunteer: str | None = Field(None, description="masked: 王**")
    minutes: int | None
    issuer: str | None
    issued_at: dt.datetime | None


class RevokeIn(Schema):
    reason: str = Field(..., max_length=200)


class ClearingRow(Schema):
    issuer: int
    issuer_name: str
    redeemed_in: int
    redeemed_in_name: str
    minutes: int
    owed_to_community: bool


class ClearingOut(Schema):
    community: int
    start: dt.date = Field(..., alias="from")
    end: dt.date = Field(..., alias="to")
    items: list[ClearingRow]


class PolicyOut(Schema):
    community: int
    mode: Literal["deposit_only", "mutual_credit"]
    credit_limit_minutes: int
    redemption_age: int
    gift_scope: Literal["relatives", "anyone"]
    storage_cap_minutes: int
    category_multipliers: dict[str, float]
    updated_at: dt.datetime


class PolicyIn(Schema):
    mode: Literal["deposit_only", "mutual_credit"] | None = None
    credit_limit_minutes: StrictInt | None = Field(None, ge=0, le=1000 * 60)
    redemption_age: StrictInt | None = Field(None, ge=0, le=120)
    gift_scope: Literal["relatives", "anyone"] | None = None
    storage_cap_minutes: StrictInt | None = Field(None, ge=1, le=100_000 * 60)
    category_multipliers: dict[str, float] | None = None
