"""Opening rules → open intervals and slots, and availability reads.

The calendar arithmetic is pure (dataclasses in, intervals out); the loaders at
the bottom fetch what it needs in a fixed, small number of queries, so one
space-week costs the same at a thousand reservations as at a million.
All wall-clock times are Asia/Shanghai, which has no daylight saving.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F, IntegerField, Q, Sum, Value
from django.utils import timezone

from resources.models import (
    ACTIVE_STATUSES,
    MAX_DURATION_MINUTES,
    BlockKind,
    Closure,
    OpeningWindow,
    Reservation,
    SeasonPeriod,
    SessionSlot,
    Space,
    SpaceBlock,
    SpaceMode,
)

Interval = tuple[dt.datetime, dt.datetime]

# The "outside teaching time" (错时开放) template for school fields: school days
# 19:00–21:00; weekends 08:00–12:00 and 14:00–18:00. Term only: school fields
# close in the holidays unless the manager adds holiday windows.
OUTSIDE_TEACHING_TIME: list[tuple[int, dt.time, dt.time, str]] = [
    *[(day, dt.time(19), dt.time(21), "term") for day in range(1, 6)],
    *[(day, dt.time(8), dt.time(12), "term") for day in (6, 7)],
    *[(day, dt.time(14), dt.time(18), "term") for day in (6, 7)],
]
# A space created without opening rules is open every day, 08:00–22:00.
ALL_WEEK: list[tuple[int, dt.time, dt.time, str]] = [
    (day, dt.time(8), dt.time(22), "any") for day in range(1, 8)
]


@dataclass(frozen=True)
class Calendar:
    """Everything the opening arithmetic needs for one area."""

    windows: tuple[tuple[int, dt.time, dt.time, str], ...]
    seasons: tuple[tuple[dt.date, dt.date, str], ...]
    closures: tuple[tuple[dt.datetime, dt.datetime, str], ...]
    slot: dt.timedelta


def tz() -> dt.tzinfo:
    return timezone.get_default_timezone()


def season_on(day: dt.date, seasons: tuple[tuple[dt.date, dt.date, str], ...]) -> str:
    """The season of a day: the period that covers it, else term."""
    for first, last, season in seasons:
        if first <= day <= last:
            return season
    return "term"


def window_intervals(cal: Calendar, start: dt.datetime, end: dt.datetime) -> list[Interval]:
    """Occurrences of the weekly windows that touch [start, end), unclipped, sorted."""
    zone = tz()
    day = timezone.localtime(start, zone).date() - dt.timedelta(days=1)
    last = timezone.localtime(end, zone).date()
    out: list[Interval] = []
    while day <= last:
        season = season_on(day, cal.seasons)
        weekday = day.isoweekday()
        for wd, opens, closes, applies in cal.windows:
            if wd != weekday or (applies != "any" and applies != season):
                continue
            s = dt.datetime.combine(day, opens, zone)
            e = dt.datetime.combine(day, closes, zone)
            if s < end and e > start:
                out.append((s, e))
        day += dt.timedelta(days=1)
    return merge(out)


def merge(intervals: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for s, e in sorted(intervals):
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def subtract(intervals: list[Interval], holes: list[Interval]) -> list[Interval]:
    """intervals minus holes; both sorted, intervals disjoint."""
    out: list[Interval] = []
    holes = merge(holes)
    for s, e in intervals:
        cursor = s
        for hs, he in holes:
            if he <= cursor or hs >= e:
                continue
            if hs > cursor:
                out.append((cursor, hs))
            cursor = max(cursor, he)
            if cursor >= e:
                break
        if cursor < e:
            out.append((cursor, e))
    return out


def clip(intervals: list[Interval], start: dt.datetime, end: dt.datetime) -> list[Interval]:
    return [(max(s, start), min(e, end)) for s, e in intervals if s < end and e > start]


def open_intervals(cal: Calendar, start: dt.datetime, end: dt.datetime) -> list[Interval]:
    """When the area is open inside [start, end): windows minus closures."""
    closures = [(s, e) for s, e, _reason in cal.closures]
    return clip(subtract(window_intervals(cal, start, end), closures), start, end)


def covering_closure(
    cal: Calendar, start: dt.datetime, end: dt.datetime
) -> tuple[dt.datetime, dt.datetime, str] | None:
    for closure in cal.closures:
        if closure[0] < end and closure[1] > start:
            return closure
    return None


def within_one(intervals: list[Interval], start: dt.datetime, end: dt.datetime) -> bool:
    return any(s <= start and end <= e for s, e in intervals)


def slot_grid(cal: Calendar, start: dt.datetime, end: dt.datetime) -> list[Interval]:
    """Slots of `cal.slot` laid from each window's opening, touching [start, end)."""
    out: list[Interval] = []
    for ws, we in window_intervals(cal, start, end):
        s = ws
        while s + cal.slot <= we:
            e = s + cal.slot
            if s < end and e > start:
                out.append((s, e))
            s = e
    return out


# --- loaders: a fixed number of queries per call --------------------------------


def lineage(space: Space) -> list[Space]:
    """The space, then its parent, grandparent, …"""
    chain = [space]
    seen = {space.pk}
    node = space
    while node.parent_id is not None and node.parent_id not in seen:
        parent = Space.objects.get(pk=node.parent_id)
        chain.append(parent)
        seen.add(parent.pk)
        node = parent
    return chain


def descendants(space: Space) -> list[Space]:
    """The space and every sub-area below it."""
    out = [space]
    frontier = [space.pk]
    seen = {space.pk}
    while frontier:
        children = [c for c in Space.objects.filter(parent_id__in=frontier) if c.pk not in seen]
        out.extend(children)
        seen.update(c.pk for c in children)
        frontier = [c.pk for c in children]
    return out


@dataclass(frozen=True)
class Shape:
    """What changes only when a manager edits a space: its place in the tree and
    its weekly rules. Cached, so a read costs one query for what does change."""

    lineage: tuple[int, ...]  # the space, then its ancestors
    below: tuple[int, ...]  # every sub-area under it
    windows: tuple[tuple[int, dt.time, dt.time, str], ...]
    seasons: tuple[tuple[dt.date, dt.date, str], ...]


# Writes through the services forget the cached shape on commit; the TTL bounds
# how long an edit made some other way (a raw SQL fix) can go unseen.
SHAPE_TTL_SECONDS = 300


def shape_key(space_id: int) -> str:
    return f"resources:shape:{space_id}"


def load_shape(space: Space) -> Shape:
    """The nearest area in the lineage that has windows lends its windows and
    seasons (a half pitch opens when its pitch does)."""
    chain = [s.pk for s in lineage(space)]
    below = tuple(d.pk for d in descendants(space)[1:])
    windows = list(
        OpeningWindow.objects.filter(space_id__in=chain).values_list(
            "space_id", "weekday", "start_time", "end_time", "season"
        )
    )
    owner = next((pk for pk in chain if any(w[0] == pk for w in windows)), space.pk)
    seasons = tuple(
        SeasonPeriod.objects.filter(space_id=owner)
        .order_by("start_date")
        .values_list("start_date", "end_date", "season")
    )
    return Shape(
        lineage=tuple(chain),
        below=below,
        windows=tuple((w[1], w[2], w[3], w[4]) for w in windows if w[0] == owner),
        seasons=seasons,
    )


def shape_of(space: Space) -> Shape:
    key = shape_key(space.pk)
    shape = cache.get(key)
    if not isinstance(shape, Shape):
        shape = load_shape(space)
        cache.set(key, shape, SHAPE_TTL_SECONDS)
    return shape


def forget_shapes(space_ids: list[int]) -> None:
    """Drop cached shapes once the edit that changed them is committed."""
    keys = [shape_key(pk) for pk in space_ids]
    # Now, for reads in this transaction; and again on commit, in case another
    # reader cached the old shape in between.
    cache.delete_many(keys)
    transaction.on_commit(lambda: cache.delete_many(keys))


def calendar_for(space: Space, start: dt.datetime, end: dt.datetime) -> Calendar:
    """Opening rules and the closures that touch [start, end). Closures of any
    area in the lineage, or below it, close this one (half a pitch under
    repair closes the full pitch)."""
    shape = shape_of(space)
    closures = tuple(
        Closure.objects.filter(
            space_id__in=[*shape.lineage, *shape.below], start__lt=end, end__gt=start
        )
        .order_by("start")
        .values_list("start", "end", "reason")
    )
    return Calendar(
        windows=shape.windows,
        seasons=shape.seasons,
        closures=closures,
        slot=dt.timedelta(minutes=space.slot_minutes),
    )


def live_q(now: dt.datetime) -> Q:
    return Q(live_until__isnull=True) | Q(live_until__gt=now)


def busy_intervals(
    space: Space, start: dt.datetime, end: dt.datetime, *, now: dt.datetime, ancestors: list[int]
) -> list[Interval]:
    """Periods taken on an exclusive area: every live block on it (its own
    bookings and its sub-areas' shadows) and its ancestors' own bookings."""
    lower = start - dt.timedelta(minutes=MAX_DURATION_MINUTES)
    q = Q(area_id=space.pk)
    if ancestors:
        q |= Q(area_id__in=ancestors, kind=BlockKind.OWN)
    rows = SpaceBlock.objects.filter(
        q, live_q(now), active=True, start__gte=lower, start__lt=end, end__gt=start
    ).values_list("start", "end")
    return merge(list(rows))


def session_seats(
    space: Space, start: dt.datetime, end: dt.datetime, *, now: dt.datetime
) -> dict[dt.datetime, int]:
    """Seats taken per session start, not counting holds and no-shows that have
    lapsed but are not yet released."""
    taken = {
        s: booked
        for s, booked in SessionSlot.objects.filter(
            space=space,
            start__gte=start - dt.timedelta(minutes=MAX_DURATION_MINUTES),
            start__lt=end,
        ).values_list("start", "booked")
    }
    stale = (
        Reservation.objects.filter(
            space=space,
            start__lt=end,
            start__gte=start - dt.timedelta(minutes=MAX_DURATION_MINUTES),
            status__in=ACTIVE_STATUSES,
            live_until__lte=now,
        )
        .values("start")
        .annotate(seats=Sum(F("party_size")))
    )
    for row in stale:
        if row["start"] in taken:
            taken[row["start"]] -= int(row["seats"] or 0)
    return taken


def space_availability(
    space: Space, start: dt.datetime, end: dt.datetime, *, now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """The slots of [start, end), each with its status (free, booked, full,
    closed, past) and, for sessions, seats_left."""
    now = now or timezone.now()
    if space.mode == SpaceMode.EXCLUSIVE:
        return exclusive_availability(space, start, end, now=now)
    cal = calendar_for(space, start, end)
    grid = slot_grid(cal, start, end)
    closures = [(s, e) for s, e, _reason in cal.closures]
    out: list[dict[str, Any]] = []
    seats = session_seats(space, start, end, now=now)
    for s, e in grid:
        left = max(space.capacity - seats.get(s, 0), 0)
        status = slot_status(s, e, now=now, closures=closures, busy=left <= 0, full=True)
        out.append({"start": s, "end": e, "status": status, "seats_left": left})
    return out


def exclusive_availability(
    space: Space, start: dt.datetime, end: dt.datetime, *, now: dt.datetime
) -> list[dict[str, Any]]:
    """The hot read: the cached shape, then blocks and closures in one query."""
    shape = shape_of(space)
    lower = start - dt.timedelta(minutes=MAX_DURATION_MINUTES)
    if connection.vendor == "postgresql":
        # The same query as the ORM branch below, written once by hand: at
        # these sizes, building the SQL costs more than running it.
        with connection.cursor() as cursor:
            cursor.execute(
                BUSY_AND_CLOSED_SQL,
                [
                    list(shape.lineage),
                    space.pk,
                    now,
                    lower,
                    end,
                    start,
                    [*shape.lineage, *shape.below],
                    end,
                    start,
                ],
            )
            rows = cursor.fetchall()
    else:
        rows = busy_and_closed_orm(space, shape, start, end, lower=lower, now=now)
    busy = merge([(s, e) for s, e, src in rows if src == 0])
    closures = [(s, e) for s, e, src in rows if src == 1]
    cal = Calendar(
        windows=shape.windows,
        seasons=shape.seasons,
        closures=(),
        slot=dt.timedelta(minutes=space.slot_minutes),
    )
    out: list[dict[str, Any]] = []
    for s, e in slot_grid(cal, start, end):
        taken = any(bs < e and be > s for bs, be in busy)
        status = slot_status(s, e, now=now, closures=closures, busy=taken, full=False)
        out.append({"start": s, "end": e, "status": status, "seats_left": None})
    return out


BUSY_AND_CLOSED_SQL = """
    SELECT start, "end", 0 FROM resources_spaceblock
    WHERE area_id = ANY(%s::bigint[]) AND (area_id = %s OR kind = 0)
      AND active AND (live_until IS NULL OR live_until > %s)
      AND start >= %s AND start < %s AND "end" > %s
    UNION ALL
    SELECT start, "end", 1 FROM resources_closure
    WHERE space_id = ANY(%s::bigint[]) AND start < %s AND "end" > %s
"""


def busy_and_closed_orm(
    space: Space,
    shape: Shape,
    start: dt.datetime,
    end: dt.datetime,
    *,
    lower: dt.datetime,
    now: dt.datetime,
) -> list[tuple[dt.datetime, dt.datetime, int]]:
    q = Q(area_id=space.pk)
    if len(shape.lineage) > 1:
        q |= Q(area_id__in=shape.lineage[1:], kind=BlockKind.OWN)
    blocks = (
        SpaceBlock.objects.filter(
            q, live_q(now), active=True, start__gte=lower, start__lt=end, end__gt=start
        )
        .annotate(src=Value(0, output_field=IntegerField()))
        .order_by()
        .values_list("start", "end", "src")
    )
    closed = (
        Closure.objects.filter(
            space_id__in=[*shape.lineage, *shape.below], start__lt=end, end__gt=start
        )
        .annotate(src=Value(1, output_field=IntegerField()))
        .order_by()
        .values_list("start", "end", "src")
    )
    return list(blocks.union(closed, all=True))


def slot_status(
    s: dt.datetime,
    e: dt.datetime,
    *,
    now: dt.datetime,
    closures: list[Interval],
    busy: bool,
    full: bool,
) -> str:
    if any(cs < e and ce > s for cs, ce in closures):
        return "closed"
    if s < now:
        return "past"
    if busy:
        return "full" if full else "booked"
    return "free"


def space_free_intervals(
    *, space: Space, start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime, dt.datetime]]:
    """When `space` can still be booked inside [start, end): open, not closed,
    not taken (sessions: sessions with a seat left). Past time is excluded."""
    now = timezone.now()
    start = max(start, now)
    if end <= start:
        return []
    cal = calendar_for(space, start, end)
    if space.mode == SpaceMode.SESSION:
        seats = session_seats(space, start, end, now=now)
        closures = [(s, e) for s, e, _reason in cal.closures]
        sessions = [
            (s, e)
            for s, e in slot_grid(cal, start, end)
            if s >= start
            and seats.get(s, 0) < space.capacity
            and not any(cs < e and ce > s for cs, ce in closures)
        ]
        return merge(sessions)
    ancestors = [a.pk for a in lineage(space)[1:]]
    busy = busy_intervals(space, start, end, now=now, ancestors=ancestors)
    return subtract(open_intervals(cal, start, end), busy)
