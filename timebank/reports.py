"""Community dashboard figures (reads only): the measures the seed documents ask
for (接诉响应率、问题解决率、群众满意率), volunteer hours, volunteers per 10,000
residents against the 2,500 target, space use by weekday and hour, no-shows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, Sum
from django.utils import timezone

from matching.models import Assignment, AssignmentStatus, Need, NeedStatus, Rating
from resources.models import Reservation, ReservationStatus
from timebank.people.models import Community, Role, RoleName

S = AssignmentStatus
VOLUNTEERS_PER_10K_TARGET = 2500


@dataclass(frozen=True)
class Rate:
    numerator: int
    denominator: int

    @property
    def pct(self) -> int | None:
        return round(100 * self.numerator / self.denominator) if self.denominator else None


def need_rates(*, community: Community, since: dt.datetime) -> dict[str, Rate]:
    """Response: needs that got at least one confirmed volunteer. Resolution: needs
    with verified service. Satisfaction: ratings of 4 or 5."""
    needs = Need.objects.filter(community=community, created_at__gte=since).exclude(
        status=NeedStatus.CANCELLED
    )
    total = needs.count()
    responded = (
        needs.filter(
            shifts__assignments__status__in=[S.CONFIRMED, S.CHECKED_IN, S.CHECKED_OUT, S.VERIFIED]
        )
        .distinct()
        .count()
    )
    resolved = needs.filter(shifts__assignments__status=S.VERIFIED).distinct().count()
    ratings = Rating.objects.filter(assignment__community=community, created_at__gte=since)
    rated = ratings.count()
    happy = ratings.filter(score__gte=4).count()
    return {
        "response": Rate(responded, total),
        "resolution": Rate(resolved, total),
        "satisfaction": Rate(happy, rated),
    }


def hours_per_week(*, community: Community, weeks: int = 8) -> list[tuple[dt.date, int]]:
    """Verified service minutes per week (Monday-start, Asia/Shanghai), oldest first."""
    today = timezone.localdate()
    monday = today - dt.timedelta(days=today.weekday())
    first = monday - dt.timedelta(weeks=weeks - 1)
    start = timezone.make_aware(dt.datetime.combine(first, dt.time()))
    rows = Assignment.objects.filter(
        community=community, status=S.VERIFIED, start__gte=start
    ).values_list("start", "verified_minutes")
    totals = {first + dt.timedelta(weeks=i): 0 for i in range(weeks)}
    for when, minutes in rows:
        day = timezone.localtime(when).date()
        week = day - dt.timedelta(days=day.weekday())
        if week in totals:
            totals[week] += int(minutes or 0)
    return sorted(totals.items())


def volunteer_density(*, community: Community) -> dict[str, Any]:
    registered = (
        Role.objects.filter(community=community, role=RoleName.VOLUNTEER)
        .values("member")
        .distinct()
        .count()
    )
    since = timezone.now() - dt.timedelta(days=90)
    active = (
        Assignment.objects.filter(
            community=community,
            status__in=[S.CHECKED_IN, S.CHECKED_OUT, S.VERIFIED],
            start__gte=since,
        )
        .values("volunteer")
        .distinct()
        .count()
    )
    per = 10000 / community.residents if community.residents else 0.0
    return {
        "registered": registered,
        "active": active,
        "registered_per_10k": round(registered * per, 1),
        "active_per_10k": round(active * per, 1),
        "target_per_10k": VOLUNTEERS_PER_10K_TARGET,
        "residents": community.residents,
    }


def space_heatmap(*, community: Community, days: int = 28) -> dict[tuple[int, int], int]:
    """Booked hours by (ISO weekday 1–7, hour) over the last `days` days."""
    since = timezone.now() - dt.timedelta(days=days)
    rows = Reservation.objects.filter(
        space__community=community,
        start__gte=since,
        status__in=[
            ReservationStatus.CONFIRMED,
            ReservationStatus.CHECKED_IN,
            ReservationStatus.RELEASED,
        ],
    ).values_list("start", "end")
    cells: dict[tuple[int, int], int] = {}
    for start, end in rows:
        t = timezone.localtime(start).replace(minute=0, second=0, microsecond=0)
        stop = timezone.localtime(end)
        while t < stop:
            key = (t.isoweekday(), t.hour)
            cells[key] = cells.get(key, 0) + 1
            t += dt.timedelta(hours=1)
    return cells


def no_show_rates(*, community: Community, days: int = 90) -> dict[str, Rate]:
    since = timezone.now() - dt.timedelta(days=days)
    now = timezone.now()
    shifts = Assignment.objects.filter(
        community=community, start__gte=since, end__lt=now
    ).aggregate(
        settled=Count(
            "id", filter=Q(status__in=[S.CHECKED_IN, S.CHECKED_OUT, S.VERIFIED, S.NO_SHOW])
        ),
        missed=Count("id", filter=Q(status=S.NO_SHOW)),
    )
    spaces = Reservation.objects.filter(
        space__community=community, start__gte=since, end__lt=now
    ).aggregate(
        settled=Count(
            "id",
            filter=Q(status__in=[ReservationStatus.CHECKED_IN, ReservationStatus.RELEASED]),
        ),
        missed=Count("id", filter=Q(no_show=True)),
    )
    return {
        "volunteers": Rate(int(shifts["missed"] or 0), int(shifts["settled"] or 0)),
        "spaces": Rate(int(spaces["missed"] or 0), int(spaces["settled"] or 0)),
    }


def ledger_minutes_issued(*, community: Community) -> int:
    total = Assignment.objects.filter(community=community, status=S.VERIFIED).aggregate(
        m=Sum("verified_minutes")
    )["m"]
    return int(total or 0)
