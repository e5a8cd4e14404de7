"""Selectors that build the optimizer's frozen dataclasses from the database.

`problem_for(run)` loads everything a run needs once, so the solver itself never
touches the ORM (saleor's fetch.py habit). Ids are prefixed strings: `v<member>`,
`s<shift>`, `r<beneficiary>`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict

from django.db.models import Count, Q
from django.utils import timezone

from matching import optimizer as opt
from matching.models import (
    COMMITTED,
    Assignment,
    AssignmentStatus,
    AvailabilityException,
    AvailabilityWindow,
    MatchingRun,
    NeedStatus,
    Shift,
    VolunteerProfile,
)
from matching.optimizer.geo import haversine_km
from timebank.people.models import Role, RoleName

S = AssignmentStatus
Span = tuple[dt.datetime, dt.datetime]
WEEK_MINUTES = 7 * 24 * 60


def vid(member_id: int) -> str:
    return f"v{member_id}"


def sid(shift_id: int) -> str:
    return f"s{shift_id}"


def parse_id(value: str) -> int:
    return int(value[1:])


def _merge(spans: list[Span]) -> list[Span]:
    """Sorted, with touching or overlapping spans joined (a shift must fit in one)."""
    out: list[Span] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _subtract(spans: list[Span], cut: Span) -> list[Span]:
    out: list[Span] = []
    for start, end in spans:
        if cut[1] <= start or end <= cut[0]:
            out.append((start, end))
            continue
        if start < cut[0]:
            out.append((start, cut[0]))
        if cut[1] < end:
            out.append((cut[1], end))
    return out


def _at(day: dt.date, t: dt.time) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, t))


def availability(
    windows: list[AvailabilityWindow],
    exceptions: list[AvailabilityException],
    busy: list[Span],
    period: Span,
) -> list[Span]:
    """Weekly windows expanded over the period, dated exceptions applied, and the
    volunteer's other commitments cut out. A volunteer who has entered no windows
    counts as available throughout: sign-up does not require windows either, and
    the social worker reviews every proposal."""
    start, end = period
    spans: list[Span] = []
    if not windows:
        spans = [period]
    else:
        day = timezone.localtime(start).date()
        last = timezone.localtime(end).date()
        while day <= last:
            spans.extend(
                (_at(day, w.start), _at(day, w.end)) for w in windows if w.weekday == day.weekday()
            )
            day += dt.timedelta(days=1)
    for e in exceptions:
        whole = (_at(e.date, dt.time.min), _at(e.date + dt.timedelta(days=1), dt.time.min))
        span = (
            whole
            if e.start is None or e.end is None
            else (_at(e.date, e.start), _at(e.date, e.end))
        )
        spans = [*spans, span] if e.available else _subtract(spans, span)
    for cut in busy:
        spans = _subtract(spans, cut)
    clipped = [(max(s, start), min(e, end)) for s, e in _merge(spans)]
    return [(s, e) for s, e in clipped if e > s]


def _fits_after(kept: list[Shift], shift: Shift) -> bool:
    """Whether `shift` keeps hard rule 5 with the volunteer's already pinned shifts."""
    for other in kept:
        first, second = (other, shift) if other.start <= shift.start else (shift, other)
        if second.start < first.end:
            return False
        km = haversine_km(first.need.lat, first.need.lon, second.need.lat, second.need.lon)
        if km > 0 and (second.start - first.end).total_seconds() / 60 < math.ceil(4 * km):
            return False
    return True


def problem_for(run: MatchingRun) -> opt.Problem:
    now = timezone.now()
    period = (max(run.period_start, now), run.period_end)
    community = run.community
    shifts = list(
        Shift.objects.select_related("need")
        .filter(
            community=community,
            cancelled_at__isnull=True,
            need__status=NeedStatus.OPEN,
            start__gte=period[0],
            start__lt=period[1],
        )
        .annotate(offered=Count("assignments", filter=Q(assignments__status=S.OFFERED)))
        .order_by("start", "id")
    )
    member_ids = sorted(
        set(
            Role.objects.filter(community=community, role=RoleName.VOLUNTEER).values_list(
                "member_id", flat=True
            )
        )
    )
    profiles = {
        p.member_id: p
        for p in VolunteerProfile.objects.filter(member_id__in=member_ids).prefetch_related(
            "skills", "windows", "exceptions"
        )
    }
    shift_ids = {s.id for s in shifts}
    committed = list(
        Assignment.objects.filter(
            volunteer_id__in=member_ids,
            status__in=COMMITTED,
            end__gt=period[0] - dt.timedelta(days=1),
            start__lt=period[1] + dt.timedelta(days=1),
        ).values_list("volunteer_id", "shift_id", "start", "end")
    )
    busy: dict[int, list[Span]] = defaultdict(list)
    already: dict[int, float] = defaultdict(float)
    fixed: list[opt.Pair] = []
    fixed_per_shift: dict[int, int] = defaultdict(int)
    by_id = {s.id: s for s in shifts}
    pinned: dict[int, list[Shift]] = defaultdict(list)
    for member_id, shift_id, start, end in sorted(committed, key=lambda row: (row[0], row[2])):
        if shift_id in shift_ids:
            # The seat is taken either way.
            fixed_per_shift[shift_id] += 1
            if _fits_after(pinned[member_id], by_id[shift_id]):
                fixed.append(opt.Pair(shift=sid(shift_id), volunteer=vid(member_id)))
                pinned[member_id].append(by_id[shift_id])
                continue
        # Commitments outside the period, and pinned ones that the optimizer's
        # travel-gap rule could not hold together (sign-up checks overlap only),
        # are kept out of its hands: their time is busy and their minutes count.
        busy[member_id].append((start, end))
        already[member_id] += (end - start).total_seconds() / 60
    weeks = max(1, math.ceil((period[1] - period[0]).total_seconds() / (7 * 86400)))
    volunteers = []
    for member_id in member_ids:
        p = profiles.get(member_id)
        windows = list(p.windows.all()) if p else []
        exceptions = list(p.exceptions.all()) if p else []
        lat = p.home_lat if p and p.home_lat is not None else community.center_lat
        lon = p.home_lon if p and p.home_lon is not None else community.center_lon
        limit = p.weekly_limit_minutes if p and p.weekly_limit_minutes is not None else WEEK_MINUTES
        today = timezone.localdate()
        spans = availability(windows, exceptions, busy[member_id], period)
        skills = {
            s.name
            for s in (p.skills.all() if p else [])
            if s.cert_expires is None or s.cert_expires >= today
        }
        languages = list(p.languages if p else ["zh"])
        radius = p.travel_radius_km if p else 3.0
        max_minutes = float(limit * weeks)
        # A confirmed commitment is a fact the optimizer must keep (rule 8), and the
        # format assumes pinned pairs satisfy rules 1-7. Commitments made by hand may
        # not (outside the weekly windows, a certificate that has since expired, a
        # trip beyond the usual radius): widen this volunteer's record just enough
        # that they do, rather than make the whole plan infeasible.
        mine = pinned.get(member_id, [])
        for shift in mine:
            spans = _merge([*spans, (shift.start, shift.end)])
            skills |= set(shift.need.skills)
            if shift.need.languages and not set(shift.need.languages) & set(languages):
                languages.append(shift.need.languages[0])
            radius = max(radius, haversine_km(lat, lon, shift.need.lat, shift.need.lon) + 0.01)
        pinned_minutes = sum((s.end - s.start).total_seconds() / 60 for s in mine)
        max_minutes = max(max_minutes, pinned_minutes)
        volunteers.append(
            opt.Volunteer(
                id=vid(member_id),
                location=opt.Location(lat=lat, lon=lon),
                availability=tuple(opt.Interval(start=s, end=e) for s, e in spans),
                max_minutes=max_minutes,
                max_travel_km=radius,
                skills=tuple(sorted(skills)),
                languages=tuple(languages),
                preferences=tuple(p.preferred_categories if p else []),
                minutes_already=already[member_id],
            )
        )
    opt_shifts = []
    for s in shifts:
        # Seats held by outstanding offers are not the optimizer's to give.
        headcount = s.headcount - int(getattr(s, "offered", 0))
        if headcount < max(1, fixed_per_shift[s.id]):
            continue
        need = s.need
        opt_shifts.append(
            opt.Shift(
                id=sid(s.id),
                headcount=headcount,
                priority=need.priority,
                location=opt.Location(lat=need.lat, lon=need.lon),
                start=s.start,
                end=s.end,
                skills=tuple(need.skills),
                languages=tuple(need.languages),
                category=need.category,
                beneficiary=f"r{need.beneficiary_id}" if need.beneficiary_id else None,
            )
        )
    kept = {s.id for s in opt_shifts}
    fixed = [f for f in fixed if f.shift in kept]
    beneficiaries = {s.need.beneficiary_id for s in shifts if s.need.beneficiary_id}
    history = [
        opt.HistoryEntry(volunteer=vid(v), beneficiary=f"r{b}", visits=n)
        for v, b, n in Assignment.objects.filter(
            volunteer_id__in=member_ids,
            shift__need__beneficiary_id__in=beneficiaries,
            status__in=[S.CHECKED_OUT, S.VERIFIED],
        )
        .values_list("volunteer_id", "shift__need__beneficiary_id")
        .annotate(n=Count("id"))
    ]
    return opt.Problem(
        volunteers=tuple(volunteers),
        shifts=tuple(opt_shifts),
        history=tuple(history),
        fixed=tuple(fixed),
        previous=tuple(fixed),
    )
