"""Selectors that build the optimizer's frozen dataclasses from the database.

`problem_for(run)` loads everything a run needs once, so the solver itself never
touches the ORM (saleor's fetch.py habit). Ids are prefixed strings: `v<member>`,
`s<shift>`, `r<beneficiary>`, `sp<space>`.

Flexible and space-needing shifts (#9): an unplaced flexible shift whose window
meets the period becomes a flexible optimizer shift (its window cut to the period,
kept on its own step grid); a shift that needs a space lists the spaces it may use
(listed ids, or its kind within its radius, in the need's community; exclusive
mode, active, holding `participants`, allowing the duration), each with its free
intervals from opening rules, closures and reservations (`space_free_intervals`,
so rooms held for other shifts are already cut out), up to the last day the space
takes bookings. A placed shift, and a flexible shift someone is already confirmed
on, is fixed at its stored time.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from resources.models import Space

S = AssignmentStatus
Span = tuple[dt.datetime, dt.datetime]
WEEK_MINUTES = 7 * 24 * 60


def vid(member_id: int) -> str:
    return f"v{member_id}"


def sid(shift_id: int) -> str:
    return f"s{shift_id}"


def parse_id(value: str) -> int:
    return int(value.lstrip("sprv"))


def spid(space_id: int) -> str:
    return f"sp{space_id}"


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


# --- spaces for flexible and space-needing shifts (#9) ------------------------------


def people_of(shift: Shift) -> int:
    """How many people the room must hold."""
    return int(shift.participants or shift.headcount)


def minutes_of(shift: Shift) -> int:
    return (
        int(shift.duration_min)
        if shift.is_flexible and shift.duration_min
        else (shift.duration_minutes)
    )


def booking_horizon(space: Space, now: dt.datetime) -> dt.datetime:
    """The end of the last day the space takes bookings (its booking window, plus
    the early access its own community's members get: the poster is one)."""
    days = space.booking_window_days + space.early_access_days
    last = timezone.localdate(now) + dt.timedelta(days=days + 1)
    return timezone.make_aware(dt.datetime.combine(last, dt.time.min))


def space_reach(shift: Shift, spaces: list[Space]) -> list[Space]:
    """The spaces in reach of a shift: the listed ones, or those of its kind within
    its radius of the need (all of the need's community)."""
    need = shift.need
    if shift.space_ids:
        wanted = {int(i) for i in shift.space_ids}
        return [sp for sp in spaces if sp.pk in wanted]
    radius = shift.space_radius_km or 0.0
    return [
        sp
        for sp in spaces
        if sp.kind == shift.space_kind
        and haversine_km(need.lat, need.lon, sp.lat, sp.lon) <= radius
    ]


def space_fits(shift: Shift, sp: Space) -> bool:
    minutes = minutes_of(shift)
    return (
        sp.is_active
        and sp.capacity >= people_of(shift)
        and sp.min_duration_minutes <= minutes <= sp.max_duration_minutes
    )


def community_spaces(community_id: int) -> list[Space]:
    from resources.models import Space, SpaceMode

    return list(
        Space.objects.filter(community_id=community_id, mode=SpaceMode.EXCLUSIVE).order_by("pk")
    )


def free_spans(sp: Space, period: Span, now: dt.datetime) -> list[Span]:
    from resources.availability import space_free_intervals

    end = min(period[1], booking_horizon(sp, now))
    if end <= period[0]:
        return []
    return [(s, e) for s, e in space_free_intervals(space=sp, start=period[0], end=end) if e > s]


def opt_space(sp: Space, spans: list[Span]) -> opt.Space:
    return opt.Space(
        id=spid(sp.pk),
        location=opt.Location(lat=sp.lat, lon=sp.lon),
        capacity=sp.capacity,
        free=tuple(opt.Interval(start=s, end=e) for s, e in spans),
    )


def grid_window(shift: Shift, period: Span) -> opt.Interval | None:
    """The shift's window cut to the period, its start kept on the shift's own grid."""
    if shift.window_start is None or shift.window_end is None:
        return None
    step = dt.timedelta(minutes=int(shift.step_min or 1))
    start = shift.window_start
    if start < period[0]:
        steps = math.ceil((period[0] - start) / step)
        start = start + steps * step
    end = min(shift.window_end, period[1])
    if end - start < dt.timedelta(minutes=minutes_of(shift)):
        return None
    return opt.Interval(start=start, end=end)


def is_open_flexible(shift: Shift) -> bool:
    """A flexible shift the optimizer may still move: unplaced and nobody on it."""
    return shift.is_flexible and shift.placed_at is None and shift.seats_taken == 0


@dataclass
class SpacePlan:
    """Per shift, the spaces it may use; and why the others cannot be placed."""

    spaces: dict[int, Space] = field(default_factory=dict)
    options: dict[int, list[int]] = field(default_factory=dict)
    free: dict[int, list[Span]] = field(default_factory=dict)
    gaps: dict[int, str] = field(default_factory=dict)


def space_plan(shifts: list[Shift], period: Span, now: dt.datetime) -> SpacePlan:
    """The spaces of every shift that still needs one, with their free intervals over
    the period; shifts with no usable space get a plain reason in `gaps`."""
    plan = SpacePlan()
    wanting = [s for s in shifts if s.needs_space and s.placed_at is None]
    if not wanting:
        return plan
    by_community: dict[int, list[Space]] = {}
    for s in wanting:
        if s.community_id not in by_community:
            by_community[s.community_id] = community_spaces(s.community_id)
        reach = space_reach(s, by_community[s.community_id])
        fits = [sp for sp in reach if space_fits(s, sp)]
        if not fits:
            plan.gaps[s.pk] = no_space_reason(s, reach)
            continue
        plan.options[s.pk] = [sp.pk for sp in fits]
        for sp in fits:
            plan.spaces[sp.pk] = sp
    for pk, sp in plan.spaces.items():
        plan.free[pk] = free_spans(sp, period, now)
    return plan


def no_space_reason(shift: Shift, reach: list[Space]) -> str:
    n = people_of(shift)
    where = (
        f"within {shift.space_radius_km:g} km" if shift.space_kind else "among the listed spaces"
    )
    if not reach:
        return f"no {shift.space_kind or 'space'} {where}"
    if not [sp for sp in reach if sp.is_active]:
        return f"no space {where} is taking bookings"
    if not [sp for sp in reach if sp.capacity >= n]:
        return f"no room for {n} {where}"
    return f"no room {where} allows a {minutes_of(shift)}-minute booking"


def shift_location(shift: Shift, placed_at: dict[int, tuple[float, float]]) -> opt.Location:
    """Where the shift happens: its placed space, else the need's address."""
    if shift.space_id is not None and shift.space_id in placed_at:
        lat, lon = placed_at[shift.space_id]
        return opt.Location(lat=lat, lon=lon)
    return opt.Location(lat=shift.need.lat, lon=shift.need.lon)


def placed_spaces(shifts: list[Shift]) -> dict[int, tuple[float, float]]:
    from resources.models import Space

    ids = {s.space_id for s in shifts if s.space_id is not None}
    if not ids:
        return {}
    return {
        pk: (lat, lon)
        for pk, lat, lon in Space.objects.filter(pk__in=ids).values_list("pk", "lat", "lon")
    }


def run_shifts(community_id: int, period: Span) -> list[Shift]:
    """Open shifts a run over `period` covers: those starting in it, and unplaced
    flexible shifts whose window meets it."""
    return list(
        Shift.objects.select_related("need")
        .filter(
            Q(start__gte=period[0], start__lt=period[1])
            | Q(
                window_start__isnull=False,
                placed_at__isnull=True,
                window_start__lt=period[1],
                window_end__gt=period[0],
            ),
            community_id=community_id,
            cancelled_at__isnull=True,
            need__status=NeedStatus.OPEN,
        )
        .annotate(offered=Count("assignments", filter=Q(assignments__status=S.OFFERED)))
        .order_by("start", "id")
    )


def placement_gaps(run: MatchingRun, problem: opt.Problem) -> list[dict[str, object]]:
    """Unfilled entries for the run's shifts that could not even be offered to the
    optimizer: no usable space, or a window already over."""
    now = timezone.now()
    period = (max(run.period_start, now), run.period_end)
    offered = {parse_id(s.id) for s in problem.shifts}
    shifts = [s for s in run_shifts(run.community_id, period) if s.pk not in offered]
    shifts = [s for s in shifts if s.needs_space or is_open_flexible(s)]
    if not shifts:
        return []
    plan = space_plan(shifts, period, now)
    out: list[dict[str, object]] = []
    for s in shifts:
        reason = plan.gaps.get(s.pk)
        if reason is None and is_open_flexible(s) and grid_window(s, period) is None:
            reason = f"its window has no {minutes_of(s)}-minute slot left in this period"
        if reason is not None:
            out.append({"shift": s.pk, "missing": s.headcount - s.seats_taken, "reason": reason})
    return out


def problem_for(run: MatchingRun, *, members: Collection[int] | None = None) -> opt.Problem:
    """The optimizer's problem for a run: its community's open shifts in the period
    and its volunteers (only `members` of them when given: a re-plan's neighbourhood)."""
    now = timezone.now()
    period = (max(run.period_start, now), run.period_end)
    community = run.community
    shifts = run_shifts(community.pk, period)
    member_ids = sorted(
        set(
            Role.objects.filter(community=community, role=RoleName.VOLUNTEER).values_list(
                "member_id", flat=True
            )
        )
    )
    if members is not None:
        wanted = set(members)
        member_ids = [m for m in member_ids if m in wanted]
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
    plan = space_plan(shifts, period, now)
    where = placed_spaces(shifts)
    opt_shifts = []
    used_spaces: set[int] = set()
    for s in shifts:
        # Seats held by outstanding offers are not the optimizer's to give.
        headcount = s.headcount - int(getattr(s, "offered", 0))
        if headcount < max(1, fixed_per_shift[s.id]):
            continue
        if s.pk in plan.gaps:
            continue  # no usable space: explained by placement_gaps
        need = s.need
        timing: dict[str, object] = {"start": s.start, "end": s.end}
        if is_open_flexible(s):
            window = grid_window(s, period)
            if window is None:
                continue
            timing = {"window": window, "duration_min": s.duration_min, "step_min": s.step_min}
        elif s.start < period[0] or s.start >= period[1]:
            continue
        options = plan.options.get(s.pk, [])
        used_spaces.update(options)
        opt_shifts.append(
            opt.Shift(
                id=sid(s.id),
                headcount=headcount,
                priority=need.priority,
                location=shift_location(s, where),
                skills=tuple(need.skills),
                languages=tuple(need.languages),
                category=need.category,
                beneficiary=f"r{need.beneficiary_id}" if need.beneficiary_id else None,
                spaces=tuple(spid(i) for i in options),
                participants=people_of(s) if options else 0,
                **timing,  # type: ignore[arg-type]
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
        spaces=tuple(opt_space(plan.spaces[i], plan.free[i]) for i in sorted(used_spaces)),
    )


def single_shift_problem(
    shift: Shift,
    member_ids: list[int],
    *,
    exclude: tuple[int | None, dt.datetime, dt.datetime] | None = None,
) -> opt.Problem | None:
    """One shift that must be placed again (its slot was taken while applying) and
    the volunteers proposed for it, from the database as it is now: their commitments
    made so far in the caller's transaction count, and so do the spaces' bookings.
    `exclude` is the (space, start, end) that just failed; it is never offered again."""
    now = timezone.now()
    if is_open_flexible(shift):
        if shift.window_end is None or shift.window_end <= now:
            return None
        period: Span = (max(now, shift.window_start or now), shift.window_end)
    else:
        period = (shift.start, shift.end)
    plan = space_plan([shift], period, now)
    if shift.pk in plan.gaps:
        return None
    options = plan.options.get(shift.pk, [])
    if exclude is not None and exclude[0] is not None and exclude[0] in plan.free:
        plan.free[exclude[0]] = [
            span for span in _subtract(plan.free[exclude[0]], (exclude[1], exclude[2]))
        ]
    need = shift.need
    timing: dict[str, object] = {"start": shift.start, "end": shift.end}
    if is_open_flexible(shift):
        window = grid_window(shift, period)
        if window is None:
            return None
        timing = {"window": window, "duration_min": shift.duration_min, "step_min": shift.step_min}
    one = opt.Shift(
        id=sid(shift.pk),
        headcount=max(1, shift.headcount - shift.seats_taken),
        priority=need.priority,
        location=shift_location(shift, placed_spaces([shift])),
        skills=tuple(need.skills),
        languages=tuple(need.languages),
        category=need.category,
        spaces=tuple(spid(i) for i in options),
        participants=people_of(shift) if options else 0,
        **timing,  # type: ignore[arg-type]
    )
    profiles = {
        p.member_id: p
        for p in VolunteerProfile.objects.filter(member_id__in=member_ids).prefetch_related(
            "skills", "windows", "exceptions"
        )
    }
    busy: dict[int, list[Span]] = defaultdict(list)
    for member_id, start, end in Assignment.objects.filter(
        volunteer_id__in=member_ids,
        status__in=COMMITTED,
        end__gt=period[0] - dt.timedelta(days=1),
        start__lt=period[1] + dt.timedelta(days=1),
    ).values_list("volunteer_id", "start", "end"):
        busy[member_id].append((start, end))
    community = shift.community
    today = timezone.localdate()
    volunteers = []
    for member_id in sorted(member_ids):
        p = profiles.get(member_id)
        if p is None:
            continue
        spans = availability(
            list(p.windows.all()), list(p.exceptions.all()), busy[member_id], period
        )
        volunteers.append(
            opt.Volunteer(
                id=vid(member_id),
                location=opt.Location(
                    lat=p.home_lat if p.home_lat is not None else community.center_lat,
                    lon=p.home_lon if p.home_lon is not None else community.center_lon,
                ),
                availability=tuple(opt.Interval(start=s, end=e) for s, e in spans),
                # The weekly limit was checked when the run was solved; a move within
                # the window changes nothing but the time.
                max_minutes=float(WEEK_MINUTES * 5),
                max_travel_km=p.travel_radius_km,
                skills=tuple(
                    sorted(
                        s.name
                        for s in p.skills.all()
                        if s.cert_expires is None or s.cert_expires >= today
                    )
                ),
                languages=tuple(p.languages or ["zh"]),
                preferences=tuple(p.preferred_categories),
            )
        )
    return opt.Problem(
        volunteers=tuple(volunteers),
        shifts=(one,),
        spaces=tuple(opt_space(plan.spaces[i], plan.free[i]) for i in options),
    )
