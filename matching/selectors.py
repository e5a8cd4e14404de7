"""Reads of the matching app, shaped once."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
from dataclasses import dataclass
from typing import Any

from django.db.models import Avg, Count, ExpressionWrapper, F, FloatField, Q, QuerySet, Value
from django.db.models.functions import Power, Sqrt
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from matching.models import (
    COMMITTED,
    Assignment,
    AssignmentStatus,
    Need,
    Notification,
    Rating,
    ServiceRequest,
    Shift,
    VolunteerProfile,
)
from timebank import permissions
from timebank.errors import NotFound, field_error
from timebank.pagination import check_limit
from timebank.people.models import Community, Member

S = AssignmentStatus
KM_PER_DEGREE = 111.32


def need_get(*, need_id: int) -> Need:
    try:
        return Need.objects.select_related("community").get(pk=need_id)
    except Need.DoesNotExist:
        raise NotFound(_("找不到该需求"), code="need_not_found") from None


def shift_get(*, shift_id: int) -> Shift:
    try:
        return Shift.objects.select_related("need").get(pk=shift_id)
    except Shift.DoesNotExist:
        raise NotFound(_("找不到该班次"), code="shift_not_found") from None


def assignment_get(*, assignment_id: int) -> Assignment:
    try:
        return Assignment.objects.select_related("shift", "shift__need", "volunteer").get(
            pk=assignment_id
        )
    except Assignment.DoesNotExist:
        raise NotFound(_("找不到该报名记录"), code="assignment_not_found") from None


def assignment_visible(member: Member, a: Assignment) -> bool:
    """The volunteer and the community's staff may read an assignment."""
    return member.pk == a.volunteer_id or permissions.is_staff_of(member, a.community_id)


def assignment_reachable(member: Member, a: Assignment) -> bool:
    """Members of the assignment's community learn that it exists (and get 403 for
    what their role does not allow); everyone else gets 404."""
    return (
        member.is_superuser
        or member.pk == a.volunteer_id
        or a.community_id in permissions.role_map(member)
    )


def waitlist_position(a: Assignment) -> int:
    """1-based place in the shift's waitlist, first come first served."""
    return Assignment.objects.filter(shift_id=a.shift_id, status=S.WAITLISTED, id__lte=a.id).count()


def need_shifts(need: Need) -> list[Shift]:
    return list(need.shifts.order_by("start", "id"))


@dataclass(frozen=True)
class ShiftFilters:
    start_from: dt.datetime | None = None
    start_to: dt.datetime | None = None
    category: str | None = None
    community: int | None = None
    near: tuple[float, float] | None = None
    radius_km: float | None = None
    open_only: bool = False
    my_skills: bool = False


def _cursor_decode(cursor: str) -> tuple[str, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        start, pk = json.loads(base64.urlsafe_b64decode(padded.encode()))
        dt.datetime.fromisoformat(start)
        return str(start), int(pk)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise field_error("cursor", _("分页游标无效"), code="invalid_cursor") from None


def _cursor_encode(shift: Shift) -> str:
    raw = json.dumps([shift.start.isoformat(), shift.pk]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def shift_list(
    *, member: Member, filters: ShiftFilters, limit: int | None, cursor: str | None
) -> tuple[list[Shift], str | None]:
    """Shifts in time order, in the member's communities (superusers: all).

    `near` with `radius_km` (default: the volunteer's radius, else 3 km) keeps
    shifts within that distance, using an equirectangular distance, which is
    accurate to well under 1 % at city scale.
    """
    size = check_limit(limit)
    qs: QuerySet[Shift] = Shift.objects.select_related("need").filter(
        cancelled_at__isnull=True, need__status="open"
    )
    if not member.is_superuser:
        qs = qs.filter(community_id__in=list(permissions.role_map(member)))
    if filters.community is not None:
        qs = qs.filter(community_id=filters.community)
    if filters.start_from is not None:
        qs = qs.filter(end__gt=filters.start_from)
    if filters.start_to is not None:
        qs = qs.filter(start__lt=filters.start_to)
    if filters.category:
        qs = qs.filter(need__category=filters.category)
    if filters.open_only:
        qs = qs.filter(seats_taken__lt=F("headcount"), start__gt=timezone.now())
    profile = VolunteerProfile.objects.filter(pk=member.pk).prefetch_related("skills").first()
    if filters.my_skills:
        have = {s.name for s in profile.skills.all()} if profile else set()
        # JSON containment is not portable, so the few candidate rows are checked in Python.
        ids = [
            pk for pk, skills in qs.values_list("pk", "need__skills") if set(skills or []) <= have
        ]
        qs = qs.filter(pk__in=ids)
    if filters.near is not None:
        lat, lon = filters.near
        radius = filters.radius_km or (profile.travel_radius_km if profile else 3.0)
        if radius <= 0 or radius > 500:
            raise field_error("radius_km", _("半径须在 0 到 500 公里之间"), code="invalid_radius")
        scale = math.cos(math.radians(lat))
        qs = qs.annotate(
            distance_km=ExpressionWrapper(
                Sqrt(
                    Power((F("need__lat") - Value(lat)) * Value(KM_PER_DEGREE), 2)
                    + Power((F("need__lon") - Value(lon)) * Value(KM_PER_DEGREE * scale), 2)
                ),
                output_field=FloatField(),
            )
        ).filter(distance_km__lte=radius)
    if cursor:
        start, pk = _cursor_decode(cursor)
        qs = qs.filter(Q(start__gt=start) | Q(start=start, pk__gt=pk))
    rows = list(qs.order_by("start", "pk")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return rows, (_cursor_encode(rows[-1]) if more and rows else None)


def shift_roster(*, shift: Shift) -> list[Assignment]:
    """Everyone on a shift, with who declined and who has not answered an offer."""
    return list(shift.assignments.select_related("volunteer").order_by("id"))


def assignments_of(*, member: Member, upcoming_only: bool = False) -> QuerySet[Assignment]:
    qs = Assignment.objects.select_related("shift", "shift__need").filter(volunteer=member)
    if upcoming_only:
        qs = qs.filter(end__gt=timezone.now())
    return qs.order_by("start", "id")


@dataclass(frozen=True)
class Reliability:
    score: float
    completed: int
    no_shows: int
    late_cancels: int


# The counts behind reliability, for `.aggregate()` or `.annotate()`.
_RELIABILITY_COUNTS = {
    "completed": Count("id", filter=Q(status__in=[S.CHECKED_IN, S.CHECKED_OUT, S.VERIFIED])),
    "no_shows": Count("id", filter=Q(status=S.NO_SHOW)),
    "late": Count("id", filter=Q(late_cancel=True)),
}


def _reliability_score(kept: int, missed: int, late: int) -> float:
    return round((kept + 1) / (kept + missed + 0.5 * late + 1), 3)


def reliability(*, member_id: int) -> Reliability:
    """Share of commitments kept, smoothed so one event does not dominate a short
    history: (kept + 1) / (kept + no-shows + ½·late cancels + 1)."""
    counts = Assignment.objects.filter(volunteer_id=member_id).aggregate(**_RELIABILITY_COUNTS)
    kept, missed, late = counts["completed"], counts["no_shows"], counts["late"]
    return Reliability(_reliability_score(kept, missed, late), kept, missed, late)


def reliability_scores(*, member_ids: set[int]) -> dict[int, float]:
    """`reliability(...).score` for many members in one query."""
    out = dict.fromkeys(member_ids, 1.0)
    rows = (
        Assignment.objects.filter(volunteer_id__in=member_ids)
        .values("volunteer_id")
        .annotate(**_RELIABILITY_COUNTS)
    )
    for row in rows:
        out[row["volunteer_id"]] = _reliability_score(
            row["completed"], row["no_shows"], row["late"]
        )
    return out


def rating_summary(*, member_id: int) -> dict[str, Any]:
    rows = Rating.objects.filter(volunteer_id=member_id)
    overall = rows.aggregate(average=Avg("score"), count=Count("id"))
    by_category = [
        {"category": r["category"], "average": round(float(r["average"]), 2), "count": r["count"]}
        for r in rows.values("category")
        .annotate(average=Avg("score"), count=Count("id"))
        .order_by("category")
    ]
    average = overall["average"]
    return {
        "average": round(float(average), 2) if average is not None else None,
        "count": overall["count"],
        "by_category": by_category,
    }


def category_ratings(*, community_id: int) -> list[dict[str, Any]]:
    """Average rating per need category in a community (好差评 by service type)."""
    return [
        {"category": r["category"], "average": round(float(r["average"]), 2), "count": r["count"]}
        for r in Rating.objects.filter(assignment__community_id=community_id)
        .values("category")
        .annotate(average=Avg("score"), count=Count("id"))
        .order_by("category")
    ]


def profile_get(*, member: Member) -> VolunteerProfile:
    from matching.services.signups import profile_ensure

    profile_ensure(member=member)
    return VolunteerProfile.objects.prefetch_related("skills", "windows", "exceptions").get(
        pk=member.pk
    )


def profile_by_calendar_token(*, token: str) -> VolunteerProfile:
    profile = VolunteerProfile.objects.filter(calendar_token=token).first()
    if profile is None or not token:
        raise NotFound(_("日历订阅地址无效"), code="calendar_not_found")
    return profile


def calendar_assignments(*, member_id: int) -> list[Assignment]:
    since = timezone.now() - dt.timedelta(days=90)
    return list(
        Assignment.objects.select_related("shift__need")
        .filter(volunteer_id=member_id, status__in=[S.OFFERED, *COMMITTED], end__gte=since)
        .order_by("start", "id")
    )


def inbox(*, member: Member) -> QuerySet[Notification]:
    return Notification.objects.filter(member=member)


def service_request_get(*, request_id: int) -> ServiceRequest:
    found = ServiceRequest.objects.filter(pk=request_id).first()
    if found is None:
        raise NotFound(_("找不到该请求"), code="request_not_found")
    return found


def service_requests(*, community: Community, status: str = "open") -> QuerySet[ServiceRequest]:
    qs = ServiceRequest.objects.filter(community=community).select_related("member")
    if status != "all":
        qs = qs.filter(status=status)
    return qs.order_by("-id")[:200]
