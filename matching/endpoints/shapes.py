"""How the matching API shows its objects: one shaping function per object."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import Schema

from matching import selectors
from matching.models import Assignment, Need, Rating, Shift, VolunteerProfile
from matching.services.common import iso
from timebank.errors import Forbidden, NotFound
from timebank.people.models import Member


def me_of(request: HttpRequest) -> Member:
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
        **flexible_out(shift),
    }


def flexible_out(shift: Shift) -> dict[str, Any]:
    """The flexible-shift and space fields (#9): what was asked, and where and when
    a plan placed it. `placed` is false only while a flexible or space-needing shift
    waits for a plan."""
    placement = None
    if shift.placed_at is not None:
        placement = {
            "start": iso(shift.start),
            "end": iso(shift.end),
            "space": shift.space_id,
            "reservation": shift.reservation_id,
            "placed_at": iso(shift.placed_at),
        }
    window = None
    if shift.window_start is not None and shift.window_end is not None:
        window = {"start": iso(shift.window_start), "end": iso(shift.window_end)}
    return {
        "flexible": shift.is_flexible,
        "window": window,
        "duration_min": shift.duration_min,
        "step_min": shift.step_min,
        "spaces": list(shift.space_ids or []),
        "space_kind": shift.space_kind,
        "radius_km": shift.space_radius_km,
        "participants": shift.participants,
        "placed": not shift.awaiting_placement,
        "placement": placement,
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


def assignment_for(request: HttpRequest, assignment_id: int, *, read: bool = False) -> Assignment:
    """The assignment, if the caller belongs to its community; outsiders get 404 so
    ids do not leak. With `read`, only the volunteer and staff; others get 403."""
    a = selectors.assignment_get(assignment_id=assignment_id)
    if not selectors.assignment_reachable(me_of(request), a):
        raise NotFound(_("找不到该报名记录"), code="assignment_not_found")
    if read and not selectors.assignment_visible(me_of(request), a):
        raise Forbidden(_("只能查看自己的报名"), code="not_your_assignment")
    return a


class PageQuery(Schema):
    limit: int | None = None
    cursor: str | None = None


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
