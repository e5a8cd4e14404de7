"""需求与志愿服务 endpoints. Thin: parse, call one service or selector, shape."""

from __future__ import annotations

from typing import Any

import segno
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import Query, Router, Schema

from matching import calendar, selectors, services
from matching.candidates import shift_candidates
from matching.models import Assignment, Need, Notification, Rating, Shift, VolunteerProfile
from matching.schemas import (
    AssignmentOut,
    AssignmentPage,
    CalendarOut,
    CandidateOut,
    CategoryRatingOut,
    CheckIn,
    NeedIn,
    NeedOut,
    NotificationPage,
    ProfileIn,
    ProfileOut,
    QrOut,
    RatingIn,
    RatingOut,
    ReasonIn,
    ShiftOut,
    ShiftPage,
    SignupOut,
    VerifyIn,
)
from matching.services.common import iso
from timebank import permissions
from timebank.errors import Forbidden, NotFound, field_error
from timebank.idempotency import run_idempotent
from timebank.pagination import paginate_by_id
from timebank.people.models import Member
from timebank.people.selectors import community_get, member_get

router = Router(tags=["matching"])


def _me(request: HttpRequest) -> Member:
    return request.auth  # type: ignore[attr-defined,no-any-return]


def location_out(need: Need) -> dict[str, Any]:
    return {"lat": need.lat, "lon": need.lon, "address": need.address}


def shift_out(shift: Shift) -> dict[str, Any]:
    need = shift.need
    distance = getattr(shift, "distance_km", None)
    return {
        "id": shift.id,
        "need": need.id,
        "community": shift.community_id,
        "title": need.title,
        "category": need.category,
        "priority": need.priority,
        "start": iso(shift.start),
        "end": iso(shift.end),
        "headcount": shift.headcount,
        "seats_taken": shift.seats_taken,
        "seats_left": shift.seats_left,
        "skills": need.skills,
        "languages": need.languages,
        "location": location_out(need),
        "cancelled": shift.cancelled_at is not None,
        "distance_km": round(distance, 3) if distance is not None else None,
    }


def need_status(need: Need, shifts: list[Shift]) -> str:
    """open → partly filled → filled, derived from the seats; done/cancelled are stored."""
    if need.status != "open":
        return need.status
    live = [s for s in shifts if s.cancelled_at is None]
    if live and all(s.end <= timezone.now() for s in live):
        return "done"
    taken = sum(s.seats_taken for s in live)
    if taken == 0:
        return "open"
    return "filled" if all(s.seats_left == 0 for s in live) else "partly_filled"


def need_out(need: Need) -> dict[str, Any]:
    shifts = selectors.need_shifts(need)
    return {
        "id": need.id,
        "community": need.community_id,
        "title": need.title,
        "category": need.category,
        "priority": need.priority,
        "status": need_status(need, shifts),
        "description": need.description,
        "beneficiary": need.beneficiary_id,
        "location": location_out(need),
        "skills": need.skills,
        "languages": need.languages,
        "recurrence": need.recurrence,
        "space": need.space_id,
        "shifts": [shift_out(s) for s in shifts],
    }


def assignment_out(a: Assignment, *, position: int | None = None) -> dict[str, Any]:
    return {
        "id": a.id,
        "shift": a.shift_id,
        "volunteer": a.volunteer_id,
        "volunteer_name": a.volunteer.name,
        "status": a.status,
        "start": iso(a.start),
        "end": iso(a.end),
        "position": position,
        "offer_expires_at": iso(a.offer_expires_at),
        "checked_in_at": iso(a.checked_in_at),
        "checked_out_at": iso(a.checked_out_at),
        "minutes": a.minutes,
        "verified_minutes": a.verified_minutes,
        "verified_at": iso(a.verified_at),
        "cancel_reason": a.cancel_reason,
        "late_cancel": a.late_cancel,
    }


def _assignment_for(request: HttpRequest, assignment_id: int) -> Assignment:
    """The assignment, if the caller may see it; others get 404 so ids do not leak."""
    a = selectors.assignment_get(assignment_id=assignment_id)
    if not selectors.assignment_visible(_me(request), a):
        raise NotFound(_("找不到该报名记录"), code="assignment_not_found")
    return a


# --- needs -----------------------------------------------------------------------


@router.post("/needs", response={201: NeedOut}, url_name="matching-need-create")
def need_create(request: HttpRequest, payload: NeedIn) -> tuple[int, dict[str, Any]]:
    community = community_get(community_id=payload.community)
    beneficiary = None
    if payload.beneficiary is not None:
        permissions.require(_me(request), "need.create", community.id)
        try:
            beneficiary = member_get(member_id=payload.beneficiary)
        except NotFound:
            raise field_error(
                "beneficiary", _("找不到该服务对象"), code="beneficiary_not_found"
            ) from None
    need = services.need_post(
        actor=_me(request),
        community=community,
        title=payload.title,
        category=payload.category,
        priority=payload.priority,
        lat=payload.location.lat,
        lon=payload.location.lon,
        address=payload.location.address,
        skills=payload.skills,
        languages=payload.languages,
        shifts=[services.ShiftSpec(s.start, s.end, s.headcount) for s in payload.shifts],
        description=payload.description,
        beneficiary=beneficiary,
        recurrence=payload.recurrence,
        space_id=payload.space,
    )
    return 201, need_out(need)


@router.get("/needs/{need_id}", response=NeedOut, url_name="matching-need-detail")
def need_detail(request: HttpRequest, need_id: int) -> dict[str, Any]:
    need = selectors.need_get(need_id=need_id)
    if not (_me(request).is_superuser or need.community_id in permissions.role_map(_me(request))):
        raise NotFound(_("找不到该需求"), code="need_not_found")
    return need_out(need)


@router.post("/needs/{need_id}/cancel", response=NeedOut, url_name="matching-need-cancel")
def need_cancel(request: HttpRequest, need_id: int, payload: ReasonIn) -> dict[str, Any]:
    need = services.need_cancel(
        actor=_me(request), need=selectors.need_get(need_id=need_id), reason=payload.reason
    )
    return need_out(need)


# --- shifts ----------------------------------------------------------------------


class ShiftQuery(Schema):
    start_from: str | None = None
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
    start_from = _when(request.GET.get("from", filters.start_from), "from")
    start_to = _when(filters.to, "to")
    if start_from and start_to and start_to <= start_from:
        raise field_error("to", _("结束时间必须晚于开始时间"), code="invalid_period")
    services.offers_expire_due()
    rows, cursor = selectors.shift_list(
        member=_me(request),
        filters=selectors.ShiftFilters(
            start_from=start_from,
            start_to=start_to,
            category=filters.category,
            community=filters.community,
            near=selectors.parse_near(filters.near),
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
    me = _me(request)
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
    permissions.require(_me(request), "assignment.manage", shift.community_id)
    services.offers_expire_due(shift_id=shift_id)
    return [assignment_out(a) for a in selectors.shift_roster(shift=shift)]


@router.get("/shifts/{shift_id}/qr", response=QrOut, url_name="matching-shift-qr")
def shift_qr(request: HttpRequest, shift_id: int) -> dict[str, Any]:
    shift = _visible_shift(request, shift_id)
    token, expires = services.shift_qr_token(actor=_me(request), shift=shift)
    svg = segno.make(token, error="m").svg_inline(scale=4)
    return {"token": token, "expires_at": iso(expires), "svg": svg}


@router.post(
    "/shifts/{shift_id}/signups",
    response={201: SignupOut, 202: SignupOut},
    url_name="matching-signup",
)
def signup(request: HttpRequest, shift_id: int) -> tuple[int, dict[str, Any]]:
    a, position = services.signup_create(volunteer=_me(request), shift_id=shift_id)
    if position is None:
        return 201, {"assignment": assignment_out(a), "status": "confirmed"}
    return 202, {
        "assignment": assignment_out(a, position=position),
        "status": "waitlisted",
        "position": position,
    }


@router.get(
    "/shifts/{shift_id}/candidates", response=list[CandidateOut], url_name="matching-candidates"
)
def candidates(request: HttpRequest, shift_id: int, k: int = 5) -> list[dict[str, Any]]:
    shift = _visible_shift(request, shift_id)
    permissions.require(_me(request), "assignment.manage", shift.community_id)
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


# --- assignments -----------------------------------------------------------------


class PageQuery(Schema):
    limit: int | None = None
    cursor: str | None = None


@router.get("/assignments/me", response=AssignmentPage, url_name="matching-my-assignments")
def my_assignments(request: HttpRequest, page: Query[PageQuery]) -> dict[str, Any]:
    services.no_shows_mark_due(volunteer_id=_me(request).pk)
    rows, cursor = paginate_by_id(
        selectors.assignments_of(member=_me(request)).select_related("volunteer"),
        limit=page.limit,
        cursor=page.cursor,
        descending=True,
    )
    return {"items": [assignment_out(a) for a in rows], "next_cursor": cursor}


@router.get("/assignments/{assignment_id}", response=AssignmentOut, url_name="matching-assignment")
def assignment_detail(request: HttpRequest, assignment_id: int) -> dict[str, Any]:
    a = _assignment_for(request, assignment_id)
    services.offers_expire_due(shift_id=a.shift_id)
    a.refresh_from_db()
    position = selectors.waitlist_position(a) if a.status == "waitlisted" else None
    return assignment_out(a, position=position)


@router.post(
    "/assignments/{assignment_id}/accept", response=AssignmentOut, url_name="matching-accept"
)
def accept(request: HttpRequest, assignment_id: int) -> dict[str, Any]:
    a = _assignment_for(request, assignment_id)
    return assignment_out(services.offer_accept(actor=_me(request), assignment=a))


@router.post(
    "/assignments/{assignment_id}/cancel", response=AssignmentOut, url_name="matching-cancel"
)
def cancel(request: HttpRequest, assignment_id: int, payload: ReasonIn) -> dict[str, Any]:
    a = _assignment_for(request, assignment_id)
    return assignment_out(
        services.assignment_cancel(actor=_me(request), assignment=a, reason=payload.reason)
    )


@router.post(
    "/assignments/{assignment_id}/check-in", response=AssignmentOut, url_name="matching-check-in"
)
def check_in(request: HttpRequest, assignment_id: int, payload: CheckIn) -> dict[str, Any]:
    a = _assignment_for(request, assignment_id)
    return assignment_out(
        services.assignment_check_in(actor=_me(request), assignment=a, token=payload.token)
    )


@router.post(
    "/assignments/{assignment_id}/check-out",
    response=AssignmentOut,
    url_name="matching-check-out",
)
def check_out(request: HttpRequest, assignment_id: int, payload: CheckIn) -> dict[str, Any]:
    a = _assignment_for(request, assignment_id)
    return assignment_out(
        services.assignment_check_out(
            actor=_me(request),
            assignment=a,
            token=payload.token,
            travel_minutes=payload.travel_minutes,
        )
    )


@router.post(
    "/assignments/{assignment_id}/verify", response=AssignmentOut, url_name="matching-verify"
)
def verify(request: HttpRequest, assignment_id: int, payload: VerifyIn) -> HttpResponse | Any:
    """Credits the ledger exactly once however often it is called; `Idempotency-Key` too."""
    a = _assignment_for(request, assignment_id)
    me = _me(request)
    permissions.require(me, "assignment.verify", a.community_id)

    def write() -> tuple[int, dict[str, Any]]:
        done = services.assignment_verify(
            actor=me, assignment=a, minutes=payload.minutes, reason=payload.reason
        )
        return 200, assignment_out(done)

    status, body = run_idempotent(
        member=me,
        scope=f"matching.verify:{a.pk}",
        key=request.headers.get("Idempotency-Key"),
        body=payload.dict(),
        write=write,
    )
    return status, body


@router.post(
    "/assignments/{assignment_id}/ratings", response={201: RatingOut}, url_name="matching-rate"
)
def rate(request: HttpRequest, assignment_id: int, payload: RatingIn) -> tuple[int, dict[str, Any]]:
    a = selectors.assignment_get(assignment_id=assignment_id)
    rating = services.rating_create(
        actor=_me(request), assignment=a, score=payload.score, comment=payload.comment
    )
    return 201, rating_out(rating)


def rating_out(r: Rating) -> dict[str, Any]:
    return {
        "id": r.id,
        "assignment": r.assignment_id,
        "volunteer": r.volunteer_id,
        "rater": r.rater_id,
        "category": r.category,
        "score": r.score,
        "comment": r.comment,
        "created_at": iso(r.created_at),
    }


@router.get(
    "/communities/{cid}/ratings",
    response=list[CategoryRatingOut],
    url_name="matching-category-ratings",
)
def community_ratings(request: HttpRequest, cid: int) -> list[dict[str, Any]]:
    community = community_get(community_id=cid)
    permissions.require(_me(request), "dashboard.read", community.id)
    return selectors.category_ratings(community_id=community.id)


# --- volunteer profiles ----------------------------------------------------------


def profile_out(profile: VolunteerProfile) -> dict[str, Any]:
    rel = selectors.reliability(member_id=profile.member_id)
    home = (
        {"lat": profile.home_lat, "lon": profile.home_lon}
        if profile.home_lat is not None and profile.home_lon is not None
        else None
    )
    return {
        "member": profile.member_id,
        "name": profile.member.name,
        "skills": [{"name": s.name, "cert_expires": s.cert_expires} for s in profile.skills.all()],
        "languages": profile.languages,
        "home": home,
        "travel_radius_km": profile.travel_radius_km,
        "weekly_limit_minutes": profile.weekly_limit_minutes,
        "preferred_categories": profile.preferred_categories,
        "notify_email": profile.notify_email,
        "availability": [
            {"weekday": w.weekday, "start": w.start, "end": w.end} for w in profile.windows.all()
        ],
        "exceptions": [
            {
                "date": e.date,
                "available": e.available,
                "start": e.start,
                "end": e.end,
                "note": e.note,
            }
            for e in profile.exceptions.all()
        ],
        "reliability": {
            "score": rel.score,
            "completed": rel.completed,
            "no_shows": rel.no_shows,
            "late_cancels": rel.late_cancels,
        },
        "ratings": selectors.rating_summary(member_id=profile.member_id),
    }


def _profile_member(request: HttpRequest, member_id: int) -> Member:
    member = member_get(member_id=member_id)
    if not services.can_manage(_me(request), member):
        raise Forbidden(_("你不能查看该志愿者的档案"), code="forbidden")
    return member


@router.get("/volunteers/me", response=ProfileOut, url_name="matching-profile-me")
def profile_me(request: HttpRequest) -> dict[str, Any]:
    services.no_shows_mark_due(volunteer_id=_me(request).pk)
    return profile_out(selectors.profile_get(member=_me(request)))


@router.put("/volunteers/me", response=ProfileOut, url_name="matching-profile-me-update")
def profile_me_update(request: HttpRequest, payload: ProfileIn) -> dict[str, Any]:
    services.profile_update(
        actor=_me(request), member=_me(request), changes=payload.dict(exclude_unset=True)
    )
    return profile_out(selectors.profile_get(member=_me(request)))


@router.get("/volunteers/me/calendar", response=CalendarOut, url_name="matching-calendar-url")
def calendar_url(request: HttpRequest) -> dict[str, Any]:
    profile = selectors.profile_get(member=_me(request))
    path = reverse("api:matching-calendar-feed", kwargs={"token": profile.calendar_token})
    return {"url": request.build_absolute_uri(path)}


@router.post(
    "/volunteers/me/calendar/rotate", response=CalendarOut, url_name="matching-calendar-rotate"
)
def calendar_rotate(request: HttpRequest) -> dict[str, Any]:
    profile = services.calendar_token_rotate(member=_me(request))
    path = reverse("api:matching-calendar-feed", kwargs={"token": profile.calendar_token})
    return {"url": request.build_absolute_uri(path)}


@router.get(
    "/calendar/{token}.ics", auth=None, response={200: None}, url_name="matching-calendar-feed"
)
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    """The secret-URL iCalendar feed; no login, the token is the credential."""
    profile = selectors.profile_by_calendar_token(token=token)
    body = calendar.feed(
        selectors.calendar_assignments(member_id=profile.member_id),
        name=str(_("志愿服务班次")),
    )
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Cache-Control"] = "private, max-age=300"
    return response


@router.get("/volunteers/{member_id}", response=ProfileOut, url_name="matching-profile")
def profile_detail(request: HttpRequest, member_id: int) -> dict[str, Any]:
    member = _profile_member(request, member_id)
    services.no_shows_mark_due(volunteer_id=member.pk)
    return profile_out(selectors.profile_get(member=member))


@router.put("/volunteers/{member_id}", response=ProfileOut, url_name="matching-profile-update")
def profile_update(request: HttpRequest, member_id: int, payload: ProfileIn) -> dict[str, Any]:
    member = _profile_member(request, member_id)
    services.profile_update(
        actor=_me(request), member=member, changes=payload.dict(exclude_unset=True)
    )
    return profile_out(selectors.profile_get(member=member))


# --- inbox -----------------------------------------------------------------------


@router.get("/notifications", response=NotificationPage, url_name="matching-notifications")
def notifications(request: HttpRequest, page: Query[PageQuery]) -> dict[str, Any]:
    rows, cursor = paginate_by_id(
        Notification.objects.filter(member=_me(request)),
        limit=page.limit,
        cursor=page.cursor,
        descending=True,
    )
    return {
        "items": [
            {
                "id": n.id,
                "kind": n.kind,
                "title": n.title,
                "body": n.body,
                "data": n.data,
                "created_at": iso(n.created_at),
                "read": n.read_at is not None,
            }
            for n in rows
        ],
        "next_cursor": cursor,
    }


@router.post(
    "/notifications/{notification_id}/read", response={204: None}, url_name="matching-read"
)
def notification_read(request: HttpRequest, notification_id: int) -> tuple[int, None]:
    updated = Notification.objects.filter(
        pk=notification_id, member=_me(request), read_at__isnull=True
    ).update(read_at=timezone.now())
    if (
        not updated
        and not Notification.objects.filter(pk=notification_id, member=_me(request)).exists()
    ):
        raise NotFound(_("找不到该通知"), code="notification_not_found")
    return 204, None
