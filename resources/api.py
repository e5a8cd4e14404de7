"""共享空间 endpoints. Thin: parse, call one service or selector, shape."""

from __future__ import annotations

import datetime as dt
from typing import Any

import segno
from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema

from matching.optimizer.geo import haversine_km
from resources import allocation, booking, lifecycle, selectors, services
from resources.availability import space_availability
from resources.models import ACTIVE_STATUSES, Closure, Reservation, ReservationStatus, Space
from resources.schemas import (
    AvailabilityOut,
    CheckInIn,
    ClosureIn,
    ClosureOut,
    ConfirmIn,
    GateOut,
    HoldIn,
    OpeningIn,
    ReservationIn,
    ReservationOut,
    ReservationPage,
    RoundIn,
    RoundOut,
    RoundRequestIn,
    RoundRequestOut,
    RulesIn,
    SpaceIn,
    SpaceOut,
    SpacePage,
    UtilisationOut,
    WaitlistIn,
    WaitlistOut,
)
from timebank import permissions
from timebank.geo import parse_near
from timebank.pagination import paginate_by_id
from timebank.people.models import Member
from timebank.people.selectors import community_get, member_get

router = Router(tags=["resources"])

RULE_FIELDS = list(RulesIn.model_fields)


def local(value: dt.datetime | None) -> dt.datetime | None:
    return timezone.localtime(value) if value is not None else None


def space_out(space: Space, *, distance: float | None = None) -> dict[str, Any]:
    return {
        "id": space.pk,
        "community": space.community_id,
        "name": space.name,
        "kind": space.kind,
        "owner": space.owner_type,
        "mode": space.mode,
        "capacity": space.capacity,
        "parent": space.parent_id,
        "children": [c.pk for c in space.children.all()],
        "location": {"lat": space.lat, "lon": space.lon, "address": space.address},
        "features": list(space.features or []),
        "rules": {name: getattr(space, name) for name in RULE_FIELDS},
        "opening": [
            {"weekday": w.weekday, "start": w.start_time, "end": w.end_time, "season": w.season}
            for w in space.windows.all()
        ],
        "seasons": [
            {"name": p.name, "season": p.season, "start_date": p.start_date, "end_date": p.end_date}
            for p in space.seasons.all()
        ],
        "distance_km": round(distance, 3) if distance is not None else None,
    }


def shown_status(r: Reservation, now: dt.datetime) -> str:
    """A lapse the worker has not processed yet reads as already happened, the
    same way availability already treats the slot as free."""
    if r.status in ACTIVE_STATUSES and r.live_until is not None and r.live_until <= now:
        return "released" if r.status == ReservationStatus.CONFIRMED else "expired"
    return str(r.status)


def reservation_out(r: Reservation) -> dict[str, Any]:
    return {
        "id": r.pk,
        "space": r.space_id,
        "member": r.member_id,
        "start": local(r.start),
        "end": local(r.end),
        "status": shown_status(r, timezone.now()),
        "party_size": r.party_size,
        "companions": r.companions or [],
        "hold_expires_at": local(r.live_until) if r.status == ReservationStatus.HELD else None,
        "terms_accepted_at": local(r.terms_accepted_at),
        "checked_in_at": local(r.checked_in_at),
        "purpose": r.purpose,
        "created_at": local(r.created_at),
    }


def closure_out(c: Closure, cancelled: list[Reservation] | None = None) -> dict[str, Any]:
    return {
        "id": c.pk,
        "space": c.space_id,
        "start": local(c.start),
        "end": local(c.end),
        "reason": c.reason,
        "note": c.note,
        "cancelled_reservations": [r.pk for r in cancelled or []],
    }


def actor(request: HttpRequest) -> Member:
    member: Member = request.auth  # type: ignore[attr-defined]
    return member


def guardian_of(guardian_id: int | None) -> Member | None:
    return member_get(member_id=guardian_id) if guardian_id is not None else None


# --- spaces ---------------------------------------------------------------------


@router.post("/spaces", response={201: SpaceOut}, url_name="resources-space-create")
def space_create(request: HttpRequest, payload: SpaceIn) -> tuple[int, dict[str, Any]]:
    community = community_get(community_id=payload.community)
    permissions.require(actor(request), "space.create", community.pk)
    space = services.space_create(
        actor=actor(request),
        community=community,
        name=payload.name,
        kind=payload.kind,
        mode=payload.mode,
        capacity=payload.capacity,
        lat=payload.location.lat,
        lon=payload.location.lon,
        address=payload.location.address,
        owner_type=payload.owner,
        parent_id=payload.parent,
        features=payload.features,
        rules=payload.rules.given() if payload.rules else {},
        opening=[w.dict() for w in payload.opening] if payload.opening is not None else None,
        opening_template=payload.opening_template,
        seasons=[p.dict() for p in payload.seasons],
    )
    return 201, space_out(selectors.space_detail(space_id=space.pk))


class SpaceFilter(Schema):
    kind: str | None = None
    community: int | None = None
    near: str | None = Field(None, description="lat,lon")
    radius_km: float = Field(5.0, gt=0, le=100)
    limit: int | None = None
    cursor: str | None = None


@router.get("/spaces", auth=None, response=SpacePage, url_name="resources-space-list")
def space_list(request: HttpRequest, filters: Query[SpaceFilter]) -> dict[str, Any]:
    near = parse_near(filters.near)
    qs = selectors.space_list(
        kind=filters.kind, community=filters.community, near=near, radius_km=filters.radius_km
    )
    if near is None:
        rows, next_cursor = paginate_by_id(qs, limit=filters.limit, cursor=filters.cursor)
        return {"items": [space_out(s) for s in rows], "next_cursor": next_cursor}
    # Nearest first; the bounding box keeps this to the neighbourhood's spaces.
    scored = [(haversine_km(near[0], near[1], s.lat, s.lon), s) for s in qs]
    scored = sorted(
        [(d, s) for d, s in scored if d <= filters.radius_km], key=lambda p: (p[0], p[1].pk)
    )
    limit = min(filters.limit or 50, 200)
    return {"items": [space_out(s, distance=d) for d, s in scored[:limit]], "next_cursor": None}


@router.get("/spaces/{space_id}", auth=None, response=SpaceOut, url_name="resources-space-detail")
def space_detail(request: HttpRequest, space_id: int) -> dict[str, Any]:
    return space_out(selectors.space_detail(space_id=space_id))


@router.patch("/spaces/{space_id}/rules", response=SpaceOut, url_name="resources-space-rules")
def space_rules(request: HttpRequest, space_id: int, payload: RulesIn) -> dict[str, Any]:
    space = services.space_get(space_id=space_id)
    services.space_update_rules(actor=actor(request), space=space, rules=payload.given())
    return space_out(selectors.space_detail(space_id=space_id))


@router.put("/spaces/{space_id}/opening", response=SpaceOut, url_name="resources-space-opening")
def space_opening(request: HttpRequest, space_id: int, payload: OpeningIn) -> dict[str, Any]:
    space = services.space_get(space_id=space_id)
    services.space_set_opening(
        actor=actor(request),
        space=space,
        opening=[w.dict() for w in payload.opening],
        opening_template=payload.opening_template,
        seasons=[p.dict() for p in payload.seasons],
    )
    return space_out(selectors.space_detail(space_id=space_id))


@router.post(
    "/spaces/{space_id}/closures",
    response={201: ClosureOut},
    url_name="resources-closure-create",
)
def closure_create(
    request: HttpRequest, space_id: int, payload: ClosureIn
) -> tuple[int, dict[str, Any]]:
    space = services.space_get(space_id=space_id)
    closure, cancelled = services.closure_create(
        actor=actor(request),
        space=space,
        start=payload.start,
        end=payload.end,
        reason=payload.reason,
        note=payload.note,
    )
    return 201, closure_out(closure, cancelled)


@router.get(
    "/spaces/{space_id}/closures",
    auth=None,
    response=list[ClosureOut],
    url_name="resources-closure-list",
)
def closure_list(request: HttpRequest, space_id: int) -> list[dict[str, Any]]:
    space = services.space_get(space_id=space_id)
    rows = space.closures.filter(end__gt=timezone.now()).order_by("start")[:500]
    return [closure_out(c) for c in rows]


@router.delete(
    "/spaces/{space_id}/closures/{closure_id}",
    response={204: None},
    url_name="resources-closure-delete",
)
def closure_delete(request: HttpRequest, space_id: int, closure_id: int) -> tuple[int, None]:
    space = services.space_get(space_id=space_id)
    services.closure_delete(actor=actor(request), space=space, closure_id=closure_id)
    return 204, None


class PeriodQuery(Schema):
    start: dt.datetime = Field(..., alias="from")
    end: dt.datetime = Field(..., alias="to")


@router.get(
    "/spaces/{space_id}/availability",
    auth=None,
    response=AvailabilityOut,
    url_name="resources-availability",
)
def availability(request: HttpRequest, space_id: int, period: Query[PeriodQuery]) -> dict[str, Any]:
    space = services.space_get(space_id=space_id)
    services.check_range(period.start, period.end)
    slots = space_availability(space, period.start, period.end)
    for slot in slots:
        slot["start"], slot["end"] = local(slot["start"]), local(slot["end"])
    return {"space": space.pk, "mode": space.mode, "slots": slots}


@router.get("/spaces/{space_id}/gate", response=GateOut, url_name="resources-gate")
def gate(request: HttpRequest, space_id: int) -> dict[str, Any]:
    """The gate's QR code, for the space manager to print or show on a screen."""
    space = services.space_get(space_id=space_id)
    permissions.require(actor(request), "space.manage", space.community_id)
    token = lifecycle.gate_token(space)
    svg = segno.make(token, error="m").svg_inline(scale=4)
    return {"space": space.pk, "token": token, "qr_svg": svg}


@router.get(
    "/spaces/{space_id}/reservations",
    response=ReservationPage,
    url_name="resources-space-reservations",
)
def space_reservations(
    request: HttpRequest, space_id: int, limit: int | None = None, cursor: str | None = None
) -> dict[str, Any]:
    space = services.space_get(space_id=space_id)
    qs = selectors.reservations_for_space(actor=actor(request), space=space)
    rows, next_cursor = paginate_by_id(qs, limit=limit, cursor=cursor, descending=True)
    return {"items": [reservation_out(r) for r in rows], "next_cursor": next_cursor}


@router.get(
    "/spaces/{space_id}/utilisation",
    response=UtilisationOut,
    url_name="resources-utilisation",
)
def utilisation(request: HttpRequest, space_id: int, period: Query[PeriodQuery]) -> dict[str, Any]:
    space = services.space_get(space_id=space_id)
    services.check_range(period.start, period.end, max_days=92)
    return selectors.space_utilisation(
        actor=actor(request), space=space, start=period.start, end=period.end
    )


@router.post(
    "/spaces/{space_id}/waitlist", response={201: WaitlistOut}, url_name="resources-waitlist"
)
def waitlist_join(
    request: HttpRequest, space_id: int, payload: WaitlistIn
) -> tuple[int, dict[str, Any]]:
    space = services.space_get(space_id=space_id)
    entry, position = lifecycle.waitlist_join(
        member=actor(request),
        space=space,
        start=payload.start,
        end=payload.end,
        party_size=payload.party_size,
    )
    return 201, {
        "id": entry.pk,
        "space": space.pk,
        "start": local(entry.start),
        "end": local(entry.end),
        "status": entry.status,
        "position": position,
    }


# --- reservations -----------------------------------------------------------------


@router.post("/reservations", response={201: ReservationOut}, url_name="resources-reserve")
def reservation_create(request: HttpRequest, payload: ReservationIn) -> tuple[int, dict[str, Any]]:
    space = services.space_get(space_id=payload.space)
    r = booking.reservation_book(
        member=actor(request),
        space=space,
        start=payload.start,
        end=payload.end,
        party_size=payload.party_size,
        companions=[c.dict() for c in payload.companions],
        guardian=guardian_of(payload.guardian),
        accept_terms=payload.accept_terms,
        purpose=payload.purpose,
    )
    return 201, reservation_out(r)


@router.post("/reservations/holds", response={201: ReservationOut}, url_name="resources-hold")
def reservation_hold(request: HttpRequest, payload: HoldIn) -> tuple[int, dict[str, Any]]:
    space = services.space_get(space_id=payload.space)
    r = booking.reservation_book(
        member=actor(request),
        space=space,
        start=payload.start,
        end=payload.end,
        party_size=payload.party_size,
        companions=[c.dict() for c in payload.companions],
        guardian=guardian_of(payload.guardian),
        accept_terms=False,
        purpose=payload.purpose,
        hold=True,
    )
    return 201, reservation_out(r)


@router.get("/reservations/me", response=ReservationPage, url_name="resources-my-reservations")
def my_reservations(
    request: HttpRequest,
    upcoming: bool = False,
    limit: int | None = None,
    cursor: str | None = None,
) -> dict[str, Any]:
    qs = selectors.reservations_of(member=actor(request), upcoming=upcoming)
    rows, next_cursor = paginate_by_id(qs, limit=limit, cursor=cursor, descending=True)
    return {"items": [reservation_out(r) for r in rows], "next_cursor": next_cursor}


@router.get(
    "/reservations/{reservation_id}",
    response=ReservationOut,
    url_name="resources-reservation-detail",
)
def reservation_detail(request: HttpRequest, reservation_id: int) -> dict[str, Any]:
    return reservation_out(
        selectors.reservation_get(reservation_id=reservation_id, viewer=actor(request))
    )


@router.post(
    "/reservations/{reservation_id}/confirm",
    response=ReservationOut,
    url_name="resources-reservation-confirm",
)
def reservation_confirm(
    request: HttpRequest, reservation_id: int, payload: ConfirmIn
) -> dict[str, Any]:
    selectors.reservation_exists(reservation_id=reservation_id)
    r = lifecycle.reservation_confirm(
        actor=actor(request), reservation_id=reservation_id, accept_terms=payload.accept_terms
    )
    return reservation_out(r)


@router.post(
    "/reservations/{reservation_id}/cancel",
    response=ReservationOut,
    url_name="resources-reservation-cancel",
)
def reservation_cancel(request: HttpRequest, reservation_id: int) -> dict[str, Any]:
    selectors.reservation_exists(reservation_id=reservation_id)
    r = lifecycle.reservation_cancel(actor=actor(request), reservation_id=reservation_id)
    return reservation_out(r)


@router.post(
    "/reservations/{reservation_id}/check-in",
    response=ReservationOut,
    url_name="resources-reservation-check-in",
)
def reservation_check_in(
    request: HttpRequest, reservation_id: int, payload: CheckInIn | None = None
) -> dict[str, Any]:
    selectors.reservation_exists(reservation_id=reservation_id)
    token = payload.token if payload is not None else None
    token = token or request.GET.get("token")
    r = lifecycle.reservation_check_in(
        actor=actor(request), reservation_id=reservation_id, token=token
    )
    return reservation_out(r)


@router.post(
    "/reservations/{reservation_id}/approve",
    response=ReservationOut,
    url_name="resources-reservation-approve",
)
def reservation_approve(request: HttpRequest, reservation_id: int) -> dict[str, Any]:
    selectors.reservation_exists(reservation_id=reservation_id)
    r = lifecycle.reservation_decide(
        actor=actor(request), reservation_id=reservation_id, approve=True
    )
    return reservation_out(r)


@router.post(
    "/reservations/{reservation_id}/reject",
    response=ReservationOut,
    url_name="resources-reservation-reject",
)
def reservation_reject(request: HttpRequest, reservation_id: int) -> dict[str, Any]:
    selectors.reservation_exists(reservation_id=reservation_id)
    r = lifecycle.reservation_decide(
        actor=actor(request), reservation_id=reservation_id, approve=False
    )
    return reservation_out(r)


# --- weekly allocation rounds ---------------------------------------------------------


@router.post(
    "/spaces/{space_id}/rounds", response={201: RoundOut}, url_name="resources-round-create"
)
def round_create(
    request: HttpRequest, space_id: int, payload: RoundIn
) -> tuple[int, dict[str, Any]]:
    space = services.space_get(space_id=space_id)
    rnd = allocation.round_create(
        actor=actor(request),
        space=space,
        week_start=payload.week_start,
        cutoff=payload.cutoff,
        lookback_days=payload.lookback_days,
    )
    return 201, allocation.round_out(rnd)


@router.get("/rounds/{round_id}", response=RoundOut, url_name="resources-round-detail")
def round_detail(request: HttpRequest, round_id: int) -> dict[str, Any]:
    return allocation.round_out(allocation.round_get(round_id=round_id))


@router.post(
    "/rounds/{round_id}/requests",
    response={201: RoundRequestOut},
    url_name="resources-round-request",
)
def round_request(
    request: HttpRequest, round_id: int, payload: RoundRequestIn
) -> tuple[int, dict[str, Any]]:
    req = allocation.request_create(
        member=actor(request),
        round_id=round_id,
        start=payload.start,
        end=payload.end,
        party_size=payload.party_size,
    )
    return 201, allocation.request_out(req)


@router.post("/rounds/{round_id}/allocate", response=RoundOut, url_name="resources-round-allocate")
def round_allocate(request: HttpRequest, round_id: int) -> dict[str, Any]:
    rnd = allocation.round_allocate(round_id=round_id, actor=actor(request))
    return allocation.round_out(rnd)
