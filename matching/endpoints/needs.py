"""Needs and shifts: posting, browsing, sign-up, roster, QR and candidates."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import segno
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema

from matching import selectors, services
from matching.candidates import shift_candidates
from matching.endpoints.shapes import (
    assignment_out,
    me_of,
    need_out,
    shift_out,
)
from matching.models import Shift
from matching.schemas import (
    AssignIn,
    AssignmentOut,
    CandidateOut,
    NeedIn,
    NeedOut,
    QrOut,
    ReasonIn,
    ShiftIn,
    ShiftOut,
    ShiftPage,
    SignupOut,
)
from matching.services.common import iso
from timebank import permissions
from timebank.errors import NotFound, field_error
from timebank.geo import parse_near
from timebank.people.selectors import community_get, member_get

router = Router(tags=["matching"])


# --- needs -----------------------------------------------------------------------


def shift_spec(index: int, s: ShiftIn) -> services.ShiftSpec:
    """A posted shift: fixed `{start, end}` or flexible `{window, duration_min, step_min}`."""
    anchor = s.start or s.end or (s.window.start if s.window else None)
    if anchor is None:
        raise field_error(
            f"shifts.{index}.start", _("请填写开始和结束时间，或可安排时段"), code="times_required"
        )
    base = services.ShiftSpec(
        anchor,
        anchor,
        s.headcount,
        space_ids=tuple(s.spaces),
        space_kind=s.space_kind.strip(),
        radius_km=s.radius_km,
        participants=s.participants,
    )
    if s.window is not None or s.duration_min is not None or s.step_min is not None:
        if s.window is None:
            raise field_error(
                f"shifts.{index}.window", _("弹性班次须填写可安排时段"), code="window_required"
            )
        if s.start is not None or s.end is not None:
            raise field_error(
                f"shifts.{index}.start",
                _("弹性班次不填开始和结束时间，由排班选定"),
                code="window_and_times",
            )
        if s.duration_min is None:
            raise field_error(
                f"shifts.{index}.duration_min", _("请填写时长"), code="invalid_duration"
            )
        if s.step_min is None:
            raise field_error(
                f"shifts.{index}.step_min", _("起始时间步长须大于 0"), code="invalid_step"
            )
        return replace(
            base,
            start=s.window.start,
            end=s.window.end,
            duration_min=s.duration_min,
            step_min=s.step_min,
        )
    if s.start is None or s.end is None:
        raise field_error(
            f"shifts.{index}.start", _("请填写开始和结束时间，或可安排时段"), code="times_required"
        )
    return replace(base, start=s.start, end=s.end)


@router.post("/needs", response={201: NeedOut}, url_name="matching-need-create")
def need_create(request: HttpRequest, payload: NeedIn) -> tuple[int, dict[str, Any]]:
    community = community_get(community_id=payload.community)
    beneficiary = None
    if payload.beneficiary is not None:
        permissions.require(me_of(request), "need.create", community.id)
        try:
            beneficiary = member_get(member_id=payload.beneficiary)
        except NotFound:
            raise field_error(
                "beneficiary", _("找不到该服务对象"), code="beneficiary_not_found"
            ) from None
    need = services.need_post(
        actor=me_of(request),
        community=community,
        title=payload.title,
        category=payload.category,
        priority=payload.priority,
        lat=payload.location.lat,
        lon=payload.location.lon,
        address=payload.location.address,
        skills=payload.skills,
        languages=payload.languages,
        shifts=[shift_spec(i, s) for i, s in enumerate(payload.shifts)],
        description=payload.description,
        beneficiary=beneficiary,
        recurrence=payload.recurrence,
        space_id=payload.space,
    )
    return 201, need_out(need)


@router.get("/needs/{need_id}", response=NeedOut, url_name="matching-need-detail")
def need_detail(request: HttpRequest, need_id: int) -> dict[str, Any]:
    need = selectors.need_get(need_id=need_id)
    if not (
        me_of(request).is_superuser or need.community_id in permissions.role_map(me_of(request))
    ):
        raise NotFound(_("找不到该需求"), code="need_not_found")
    return need_out(need)


@router.post("/needs/{need_id}/cancel", response=NeedOut, url_name="matching-need-cancel")
def need_cancel(request: HttpRequest, need_id: int, payload: ReasonIn) -> dict[str, Any]:
    need = services.need_cancel(
        actor=me_of(request), need=selectors.need_get(need_id=need_id), reason=payload.reason
    )
    return need_out(need)


class NeedPatch(Schema):
    title: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=2000)
    priority: int | None = Field(None, ge=1, le=5)
    address: str | None = Field(None, max_length=300)


@router.patch("/needs/{need_id}", response=NeedOut, url_name="matching-need-update")
def need_update(request: HttpRequest, need_id: int, payload: NeedPatch) -> dict[str, Any]:
    need = services.need_update(
        actor=me_of(request),
        need=selectors.need_get(need_id=need_id),
        **payload.dict(exclude_unset=True),
    )
    return need_out(need)


# --- residents' requests -----------------------------------------------------------


class ServiceRequestIn(Schema):
    community: int
    category: str
    description: str = Field(..., min_length=1, max_length=500)
    preferred: str = Field("", max_length=200)


class ServiceRequestOut(Schema):
    id: int
    community: int
    member: int
    category: str
    description: str
    preferred: str
    status: str
    need: int | None
    note: str
    created_at: str


class HandleIn(Schema):
    accept: bool
    need: int | None = None
    note: str = Field("", max_length=300)


def request_out(r: Any) -> dict[str, Any]:
    return {
        "id": r.pk,
        "community": r.community_id,
        "member": r.member_id,
        "category": r.category,
        "description": r.description,
        "preferred": r.preferred,
        "status": r.status,
        "need": r.need_id,
        "note": r.note,
        "created_at": iso(r.created_at),
    }


@router.post(
    "/service-requests", response={201: ServiceRequestOut}, url_name="matching-request-create"
)
def service_request_create(
    request: HttpRequest, payload: ServiceRequestIn
) -> tuple[int, dict[str, Any]]:
    r = services.service_request_create(
        member=me_of(request),
        community=community_get(community_id=payload.community),
        category=payload.category,
        description=payload.description,
        preferred=payload.preferred,
    )
    return 201, request_out(r)


@router.get(
    "/communities/{cid}/service-requests",
    response=list[ServiceRequestOut],
    url_name="matching-request-list",
)
def service_request_list(
    request: HttpRequest, cid: int, status: str = "open"
) -> list[dict[str, Any]]:
    community = community_get(community_id=cid)
    permissions.require(me_of(request), "need.create", community.pk)
    return [request_out(r) for r in selectors.service_requests(community=community, status=status)]


@router.post(
    "/service-requests/{request_id}/handle",
    response=ServiceRequestOut,
    url_name="matching-request-handle",
)
def service_request_handle(
    request: HttpRequest, request_id: int, payload: HandleIn
) -> dict[str, Any]:
    r = selectors.service_request_get(request_id=request_id)
    need = selectors.need_get(need_id=payload.need) if payload.need is not None else None
    return request_out(
        services.service_request_handle(
            actor=me_of(request), request=r, accept=payload.accept, need=need, note=payload.note
        )
    )


# --- shifts ----------------------------------------------------------------------


class ShiftQuery(Schema):
    start_from: str | None = Field(None, alias="from", description="ISO time; default now")
    to: str | None = None
    category: str | None = None
    community: int | None = None
    near: str | None = None
    radius_km: float | None = None
    open_only: bool = False
    my_skills: bool = False
    limit: int | None = None
    cursor: str | None = None


def _when(value: str | None, field: str) -> Any:
    if value is None:
        return None
    from django.utils.dateparse import parse_date, parse_datetime

    try:
        parsed = parse_datetime(value)
        if parsed is None and (day := parse_date(value)) is not None:
            parsed = timezone.datetime(day.year, day.month, day.day)  # type: ignore[attr-defined]
    except ValueError:
        parsed = None
    if parsed is None:
        raise field_error(field, _("时间格式应为 ISO 8601"), code="invalid_datetime")
    return timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed


@router.get("/shifts", response=ShiftPage, url_name="matching-shift-list")
def shift_list(request: HttpRequest, filters: Query[ShiftQuery]) -> dict[str, Any]:
    # `from` is a Python keyword, so it is read from the query string directly.
    # Without `from`, the list starts now: shifts that have ended are history.
    start_from = _when(filters.start_from, "from") or timezone.now()
    start_to = _when(filters.to, "to")
    if start_from and start_to and start_to <= start_from:
        raise field_error("to", _("结束时间必须晚于开始时间"), code="invalid_period")
    services.offers_expire_due()
    rows, cursor = selectors.shift_list(
        member=me_of(request),
        filters=selectors.ShiftFilters(
            start_from=start_from,
            start_to=start_to,
            category=filters.category,
            community=filters.community,
            near=parse_near(filters.near),
            radius_km=filters.radius_km,
            open_only=filters.open_only,
            my_skills=filters.my_skills,
        ),
        limit=filters.limit,
        cursor=filters.cursor,
    )
    return {"items": [shift_out(s) for s in rows], "next_cursor": cursor}


def _visible_shift(request: HttpRequest, shift_id: int) -> Shift:
    shift = selectors.shift_get(shift_id=shift_id)
    me = me_of(request)
    if not (me.is_superuser or shift.community_id in permissions.role_map(me)):
        raise NotFound(_("找不到该班次"), code="shift_not_found")
    return shift


@router.get("/shifts/{shift_id}", response=ShiftOut, url_name="matching-shift-detail")
def shift_detail(request: HttpRequest, shift_id: int) -> dict[str, Any]:
    services.offers_expire_due(shift_id=shift_id)
    return shift_out(_visible_shift(request, shift_id))


@router.get(
    "/shifts/{shift_id}/assignments", response=list[AssignmentOut], url_name="matching-roster"
)
def shift_roster(request: HttpRequest, shift_id: int) -> list[dict[str, Any]]:
    """Coordinators see everyone: confirmed, waitlisted, who declined, who has not answered."""
    shift = _visible_shift(request, shift_id)
    permissions.require(me_of(request), "assignment.manage", shift.community_id)
    services.offers_expire_due(shift_id=shift_id)
    return [assignment_out(a) for a in selectors.shift_roster(shift=shift)]


@router.get("/shifts/{shift_id}/qr", response=QrOut, url_name="matching-shift-qr")
def shift_qr(request: HttpRequest, shift_id: int) -> dict[str, Any]:
    shift = _visible_shift(request, shift_id)
    token, expires = services.shift_qr_token(actor=me_of(request), shift=shift)
    svg = segno.make(token, error="m").svg_inline(scale=4)
    return {"token": token, "expires_at": iso(expires), "svg": svg}


@router.post(
    "/shifts/{shift_id}/signups",
    response={201: SignupOut, 202: SignupOut},
    url_name="matching-signup",
)
def signup(request: HttpRequest, shift_id: int) -> tuple[int, dict[str, Any]]:
    a, position = services.signup_create(volunteer=me_of(request), shift_id=shift_id)
    if position is None:
        return 201, {"assignment": assignment_out(a), "status": "confirmed"}
    return 202, {
        "assignment": assignment_out(a, position=position),
        "status": "waitlisted",
        "position": position,
    }


@router.post(
    "/shifts/{shift_id}/assignments", response={201: AssignmentOut}, url_name="matching-assign"
)
def assign(request: HttpRequest, shift_id: int, payload: AssignIn) -> tuple[int, dict[str, Any]]:
    """Staff place a volunteer directly (帮办代办); 409 shift_full rather than a waitlist."""
    _visible_shift(request, shift_id)
    try:
        volunteer = member_get(member_id=payload.volunteer)
    except NotFound:
        raise field_error("volunteer", _("找不到该志愿者"), code="volunteer_not_found") from None
    a = services.assignment_assign(actor=me_of(request), shift_id=shift_id, volunteer=volunteer)
    return 201, assignment_out(a)


@router.get(
    "/shifts/{shift_id}/candidates", response=list[CandidateOut], url_name="matching-candidates"
)
def candidates(request: HttpRequest, shift_id: int, k: int = 5) -> list[dict[str, Any]]:
    shift = _visible_shift(request, shift_id)
    permissions.require(me_of(request), "assignment.manage", shift.community_id)
    if not 1 <= k <= 50:
        raise field_error("k", _("k 须在 1 到 50 之间"), code="invalid_k")
    return [
        {
            "volunteer": c.volunteer_id,
            "name": c.name,
            "score": c.score,
            "distance_km": c.distance_km,
            "week_minutes": c.week_minutes,
            "visits": c.visits,
            "reliability": c.reliability,
            "reasons": c.reasons,
        }
        for c in shift_candidates(shift=shift, k=k)
    ]
