"""Ranked replacement volunteers for one shift (`GET /shifts/{id}/candidates`).

No solver: hard filters (role, skills, language, distance, availability, no
overlapping commitment, weekly limit), then a ranking by distance, load,
continuity with the beneficiary and reliability. Each candidate carries its
reasons in words a social worker reads at a glance.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from matching.models import (
    ACTIVE,
    COMMITTED,
    Assignment,
    AssignmentStatus,
    AvailabilityException,
    AvailabilityWindow,
    Shift,
    VolunteerProfile,
    VolunteerSkill,
)
from matching.optimizer.geo import haversine_km
from matching.selectors import reliability_scores
from timebank.people.models import Role, RoleName

S = AssignmentStatus


@dataclass
class Candidate:
    volunteer_id: int
    name: str
    score: float
    distance_km: float | None
    week_minutes: int
    visits: int
    reliability: float
    reasons: list[str] = field(default_factory=list)


def _available(profile: VolunteerProfile, start: dt.datetime, end: dt.datetime) -> bool | None:
    """True/False from the weekly windows and dated exceptions; None if none are entered."""
    local_s, local_e = timezone.localtime(start), timezone.localtime(end)
    day = local_s.date()
    for e in profile.exceptions.all():
        if e.date != day:
            continue
        if e.start is None or e.end is None:
            return e.available  # the whole day, away or explicitly free
        covers = e.start <= local_s.time() and local_e.time() <= e.end
        touches = e.start < local_e.time() and local_s.time() < e.end
        if not e.available and touches:
            return False
        if e.available and covers:
            return True
    windows = list(profile.windows.all())
    if not windows:
        return None
    if local_e.date() != day:
        return False
    return any(
        w.weekday == day.weekday() and w.start <= local_s.time() and local_e.time() <= w.end
        for w in windows
    )


def _prefiltered(shift: Shift) -> QuerySet[VolunteerProfile]:
    """The community's volunteers who could take `shift`, narrowed in SQL before
    anything is loaded: not on it, not committed elsewhere at the time, holding
    its skills (certificate valid that day), living inside the box of their own
    travel radius around it (or with no home entered), and available then by
    their weekly windows. The exact rules are applied in Python on what is left."""
    need = shift.need
    day = timezone.localtime(shift.start).date()
    qs = VolunteerProfile.objects.filter(
        Exists(
            Role.objects.filter(
                member_id=OuterRef("member_id"),
                community_id=shift.community_id,
                role=RoleName.VOLUNTEER,
            )
        )
    ).exclude(
        Exists(
            Assignment.objects.filter(
                volunteer_id=OuterRef("member_id"),
                shift_id=shift.pk,
                status__in=ACTIVE,
            )
        )
        | Exists(
            Assignment.objects.filter(
                volunteer_id=OuterRef("member_id"),
                status__in=COMMITTED,
                start__lt=shift.end,
                end__gt=shift.start,
            )
        )
    )
    for skill in set(need.skills):
        qs = qs.filter(
            Exists(
                VolunteerSkill.objects.filter(profile_id=OuterRef("pk"), name=skill).filter(
                    Q(cert_expires__isnull=True) | Q(cert_expires__gte=day)
                )
            )
        )
    # Each volunteer's own radius, as a box around the need (a superset of the
    # circle: 111 km per degree of latitude is a little short of the real 111.19,
    # and the longitude degree is taken at the box's far edge, 1° further from the
    # equator than the need, since radii are at most 100 km).
    km_per_lon = 111.0 * max(0.01, math.cos(math.radians(min(89.0, abs(need.lat) + 1.0))))
    qs = qs.filter(
        Q(home_lat__isnull=True)
        | Q(home_lon__isnull=True)
        | Q(
            home_lat__gte=need.lat - F("travel_radius_km") / 111.0,
            home_lat__lte=need.lat + F("travel_radius_km") / 111.0,
            home_lon__gte=need.lon - F("travel_radius_km") / km_per_lon,
            home_lon__lte=need.lon + F("travel_radius_km") / km_per_lon,
        )
    )
    # Available then, by the weekly windows: none entered, one covering the shift,
    # or a dated exception that day (those are decided in Python).
    local_s, local_e = timezone.localtime(shift.start), timezone.localtime(shift.end)
    windows = AvailabilityWindow.objects.filter(profile_id=OuterRef("pk"))
    covering = (
        windows.filter(weekday=day.weekday(), start__lte=local_s.time(), end__gte=local_e.time())
        if local_e.date() == day
        else windows.none()
    )
    qs = qs.filter(
        ~Exists(windows)
        | Exists(covering)
        | Exists(AvailabilityException.objects.filter(profile_id=OuterRef("pk"), date=day))
    )
    return qs


BATCH = 40


def _visits(need_beneficiary_id: int | None, member_ids: set[int]) -> dict[int, int]:
    """Completed visits of each volunteer to the need's beneficiary (continuity)."""
    if need_beneficiary_id is None or not member_ids:
        return {}
    return dict(
        Assignment.objects.filter(
            volunteer_id__in=member_ids,
            shift__need__beneficiary_id=need_beneficiary_id,
            status__in=[S.CHECKED_OUT, S.VERIFIED],
        )
        .values("volunteer_id")
        .annotate(n=Count("id"))
        .values_list("volunteer_id", "n")
    )


def shift_candidates(*, shift: Shift, k: int = 5) -> list[Candidate]:
    """The top `k`, best first. Every volunteer in reach gets an upper bound on
    their score (everything but this week's load and a missing timetable, which
    only lower it); they are scored exactly in batches, highest bound first, and
    scoring stops once the k-th best so far beats every bound left: usually
    after one batch."""
    need = shift.need
    rows = []
    for pk, lat, lon, radius, preferred in _prefiltered(shift).values_list(
        "pk", "home_lat", "home_lon", "travel_radius_km", "preferred_categories"
    ):
        distance = radius
        if lat is not None and lon is not None:
            distance = haversine_km(lat, lon, need.lat, need.lon)
            if distance > radius:
                continue
        rows.append((pk, distance, need.category in (preferred or [])))
    ids = {pk for pk, _d, _p in rows}
    reliable = reliability_scores(member_ids=ids)
    visits = _visits(need.beneficiary_id, ids)
    reach = sorted(
        (
            -d + 0.5 * min(visits.get(pk, 0), 4) + 2 * reliable[pk] + (0.5 if pref else 0),
            pk,
        )
        for pk, d, pref in rows
    )[::-1]
    out: list[Candidate] = []
    for i in range(0, len(reach), BATCH):
        chunk = reach[i : i + BATCH]
        if len(out) >= k:
            out.sort(key=lambda c: (-c.score, c.volunteer_id))
            # Scores are rounded to 3 places: keep a margin for that.
            if out[k - 1].score - 0.001 > chunk[0][0]:
                break
        profiles = list(
            VolunteerProfile.objects.filter(pk__in=[pk for _ub, pk in chunk])
            .select_related("member")
            .prefetch_related("skills", "windows", "exceptions")
        )
        out += _scored(shift, profiles, reliable, visits)
    out.sort(key=lambda c: (-c.score, c.volunteer_id))
    return out[:k]


def _scored(
    shift: Shift,
    profiles: list[VolunteerProfile],
    reliable: dict[int, float],
    visits: dict[int, int],
) -> list[Candidate]:
    """The exact rules and the score, for `profiles` (already narrowed in SQL)."""
    need = shift.need
    volunteer_ids = {p.member_id for p in profiles}
    local = timezone.localtime(shift.start)
    monday = (local - dt.timedelta(days=local.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    week: dict[int, int] = defaultdict(int)
    for vid, s, e in Assignment.objects.filter(
        volunteer_id__in=volunteer_ids,
        status__in=COMMITTED,
        start__gte=monday,
        start__lt=monday + dt.timedelta(days=7),
    ).values_list("volunteer_id", "start", "end"):
        week[vid] += int((e - s).total_seconds() // 60)
    day = local.date()
    out: list[Candidate] = []
    for p in profiles:
        skills = {s.name for s in p.skills.all() if s.cert_expires is None or s.cert_expires >= day}
        if not set(need.skills) <= skills:
            continue
        if need.languages and not set(need.languages) & set(p.languages):
            continue
        distance = (
            haversine_km(p.home_lat, p.home_lon, need.lat, need.lon)
            if p.home_lat is not None and p.home_lon is not None
            else None
        )
        if distance is not None and distance > p.travel_radius_km:
            continue
        available = _available(p, shift.start, shift.end)
        if available is False:
            continue
        load = week[p.member_id]
        if (
            p.weekly_limit_minutes is not None
            and load + shift.duration_minutes > p.weekly_limit_minutes
        ):
            continue
        rel = reliable[p.member_id]
        seen = visits.get(p.member_id, 0)
        reasons = []
        if distance is not None:
            reasons.append(_("距离 %(km).1f 公里") % {"km": distance})
        else:
            reasons.append(_("未登记住址"))
        if need.skills:
            reasons.append(_("具备技能：%(s)s") % {"s": "、".join(need.skills)})
        reasons.append(_("本周已排 %(m)d 分钟") % {"m": load})
        if seen:
            reasons.append(_("曾服务该对象 %(n)d 次") % {"n": seen})
        if available is None:
            reasons.append(_("未填写可服务时段"))
        if need.category in (p.preferred_categories or []):
            reasons.append(_("偏好该类服务"))
        reasons.append(_("守约率 %(r)d%%") % {"r": round(rel * 100)})
        score = (
            -(distance if distance is not None else p.travel_radius_km)
            - load / 240
            + 0.5 * min(seen, 4)
            + 2 * rel
            + (0.5 if need.category in (p.preferred_categories or []) else 0)
            - (0.5 if available is None else 0)
        )
        out.append(
            Candidate(
                volunteer_id=p.member_id,
                name=p.member.name,
                score=round(score, 3),
                distance_km=round(distance, 2) if distance is not None else None,
                week_minutes=load,
                visits=seen,
                reliability=rel,
                reasons=reasons,
            )
        )
    return out
