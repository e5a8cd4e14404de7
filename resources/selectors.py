"""Reads about spaces and reservations."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from resources import availability as av
from resources.models import (
    OpeningWindow,
    Reservation,
    ReservationStatus,
    SeasonPeriod,
    Space,
)
from timebank import permissions
from timebank.errors import Forbidden, NotFound
from timebank.people.models import Member


def space_queryset() -> QuerySet[Space]:
    return Space.objects.prefetch_related(
        Prefetch("windows", queryset=OpeningWindow.objects.order_by("weekday", "start_time")),
        Prefetch("seasons", queryset=SeasonPeriod.objects.order_by("start_date")),
        Prefetch("children", queryset=Space.objects.only("id", "parent_id").order_by("id")),
    )


def space_detail(*, space_id: int) -> Space:
    space = space_queryset().filter(pk=space_id).first()
    if space is None:
        raise NotFound(_("场地不存在"), code="space_not_found")
    return space


def space_list(
    *, kind: str | None, community: int | None, near: tuple[float, float] | None, radius_km: float
) -> QuerySet[Space]:
    qs = space_queryset().filter(is_active=True)
    if kind:
        qs = qs.filter(kind=kind)
    if community is not None:
        qs = qs.filter(community_id=community)
    if near is not None:
        # A bounding box narrows the rows in SQL; the exact distance is computed after.
        lat, lon = near
        dlat = radius_km / 111.0
        dlon = radius_km / max(111.0 * math.cos(math.radians(lat)), 0.001)
        qs = qs.filter(
            lat__gte=lat - dlat, lat__lte=lat + dlat, lon__gte=lon - dlon, lon__lte=lon + dlon
        )
    return qs


def reservation_get(*, reservation_id: int, viewer: Member) -> Reservation:
    r = Reservation.objects.select_related("space").filter(pk=reservation_id).first()
    if r is None:
        raise NotFound(_("预约不存在"), code="reservation_not_found")
    if r.member_id != viewer.pk and not permissions.allowed(
        viewer, "reservation.manage", r.space.community_id
    ):
        raise Forbidden(_("只能查看自己的预约"), code="not_your_reservation")
    return r


def reservation_exists(*, reservation_id: int) -> None:
    if not Reservation.objects.filter(pk=reservation_id).exists():
        raise NotFound(_("预约不存在"), code="reservation_not_found")


def reservations_of(*, member: Member, upcoming: bool = False) -> QuerySet[Reservation]:
    qs = Reservation.objects.filter(member=member)
    if upcoming:
        qs = qs.filter(end__gt=timezone.now())
    return qs


def reservations_for_space(*, actor: Member, space: Space) -> QuerySet[Reservation]:
    permissions.require(actor, "reservation.manage", space.community_id)
    return Reservation.objects.filter(space=space)


def space_utilisation(
    *, actor: Member, space: Space, start: dt.datetime, end: dt.datetime
) -> dict[str, Any]:
    """By day and hour: open minutes, booked minutes (confirmed, checked in, and
    released no-shows, which were booked), checked-in minutes, and no-shows.
    Shares are of the open minutes; the no-show rate is of bookings whose
    check-in window has passed."""
    permissions.require(actor, "dashboard.read", space.community_id)
    cal = av.calendar_for(space, start, end)
    zone = av.tz()
    open_by: dict[tuple[dt.date, int], float] = defaultdict(float)
    booked_by: dict[tuple[dt.date, int], float] = defaultdict(float)
    checked_by: dict[tuple[dt.date, int], float] = defaultdict(float)
    count_by: dict[tuple[dt.date, int], int] = defaultdict(int)
    noshow_by: dict[tuple[dt.date, int], int] = defaultdict(int)

    def spread(
        bucket: dict[tuple[dt.date, int], float],
        s: dt.datetime,
        e: dt.datetime,
        weight: float = 1.0,
    ) -> None:
        cur = timezone.localtime(max(s, start), zone)
        stop = timezone.localtime(min(e, end), zone)
        while cur < stop:
            hour_end = cur.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
            piece = min(hour_end, stop)
            bucket[(cur.date(), cur.hour)] += (piece - cur).total_seconds() / 60 * weight
            cur = piece

    for s, e in av.open_intervals(cal, start, end):
        spread(open_by, s, e)
    booked_statuses = (
        ReservationStatus.CONFIRMED,
        ReservationStatus.CHECKED_IN,
        ReservationStatus.RELEASED,
    )
    rows = Reservation.objects.filter(
        space=space, start__lt=end, end__gt=start, status__in=booked_statuses
    ).values_list("start", "end", "status", "no_show", "party_size")
    now = timezone.now()
    settled = 0
    no_shows = 0
    # A session is as booked as its seats are taken.
    session = space.mode == "session"
    for s, e, status, no_show, party in rows:
        weight = party / space.capacity if session else 1.0
        spread(booked_by, s, e, weight)
        local = timezone.localtime(s, zone)
        count_by[(local.date(), local.hour)] += 1
        if status == ReservationStatus.CHECKED_IN:
            spread(checked_by, s, e, weight)
        if s + dt.timedelta(minutes=space.check_in_grace_minutes) <= now:
            settled += 1
            if no_show:
                no_shows += 1
                noshow_by[(local.date(), local.hour)] += 1
    keys = sorted(set(open_by) | set(booked_by))
    total_open = sum(open_by.values())
    total_booked = sum(booked_by.values())
    total_checked = sum(checked_by.values())
    return {
        "space": space.pk,
        "open_minutes": round(total_open),
        "booked_share": round(total_booked / total_open, 4) if total_open else 0.0,
        "checked_in_share": round(total_checked / total_open, 4) if total_open else 0.0,
        "no_show_rate": round(no_shows / settled, 4) if settled else 0.0,
        "rows": [
            {
                "day": d,
                "hour": h,
                "open_minutes": round(open_by.get((d, h), 0)),
                "booked_minutes": round(booked_by.get((d, h), 0)),
                "checked_in_minutes": round(checked_by.get((d, h), 0)),
                "bookings": count_by.get((d, h), 0),
                "no_shows": noshow_by.get((d, h), 0),
            }
            for d, h in keys
        ],
    }
