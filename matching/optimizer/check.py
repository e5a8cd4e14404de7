"""The independent validator behind ``python -m matching.optimizer check``.

It re-implements hard rules 1-9 of ``MATCHING_FORMAT.md`` plainly, with loops
over the solution's own pairs, and shares no filtering code with the solver:
if the solver's prefilter or model had a bug, this is what would catch it.
It also recomputes coverage and checks that ``unfilled`` accounts for every
missing seat.  Soft-score figures are not checked: they are floats, and a
solution may round them as it likes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from .types import Location, Problem, Shift, Solution, Space


def _km(a: Location, b: Location) -> float:
    # Haversine, Earth radius 6371.0 km, written out here on purpose (see docstring).
    p1 = math.radians(a.lat)
    p2 = math.radians(b.lat)
    dp = math.radians(b.lat - a.lat)
    dl = math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, h)))


@dataclass(frozen=True)
class _Placed:
    start: datetime
    end: datetime
    where: Location
    space: str | None


@dataclass(frozen=True)
class Report:
    violations: list[str]
    coverage: int
    assignments: int
    missing: int

    @property
    def ok(self) -> bool:
        return not self.violations


def check_solution(problem: Problem, solution: Solution) -> Report:
    """Every rule violation as one line naming the rule, shift and volunteer."""
    bad: list[str] = []
    vols = {v.id: v for v in problem.volunteers}
    shifts = {s.id: s for s in problem.shifts}
    spaces = {sp.id: sp for sp in problem.spaces}

    # -- rule 9 first: it decides where and when each placed shift happens.
    placements: dict[str, list[tuple[datetime, datetime, str | None]]] = {}
    for pl in solution.placements or ():
        placements.setdefault(pl.shift, []).append((pl.start, pl.end, pl.space))
    staffed: dict[str, list[str]] = {}
    for a in solution.assignments:
        staffed.setdefault(a.shift, []).append(a.volunteer)

    where: dict[str, _Placed] = {}
    for sid, shift in shifts.items():
        needs = shift.window is not None or bool(shift.spaces)
        got = placements.get(sid, [])
        if not needs:
            if got:
                bad.append(
                    f"rule 9: shift {sid}: has a placement but is neither flexible nor in a space"
                )
            if shift.location is not None:
                where[sid] = _Placed(*shift.times(), shift.location, None)
            continue
        if not staffed.get(sid):
            continue
        if len(got) != 1:
            bad.append(f"rule 9: shift {sid}: has {len(got)} placements, needs exactly one")
            continue
        start, end, space = got[0]
        _check_placement(shift, start, end, space, spaces, bad)
        loc = spaces[space].location if space in spaces else shift.location
        if loc is None:
            bad.append(f"rule 9: shift {sid}: placement has no space and the shift no location")
            continue
        where[sid] = _Placed(start, end, loc, space)
    for sid in placements:
        if sid not in shifts:
            bad.append(f"rule 9: shift {sid}: placement for an unknown shift")
    # Two placements never share a space at overlapping times.
    used: list[tuple[str, datetime, datetime, str]] = [
        (sid, a, b, sp) for sid, lst in placements.items() for a, b, sp in lst if sp is not None
    ]
    for i in range(len(used)):
        for j in range(i + 1, len(used)):
            s1, a1, b1, sp1 = used[i]
            s2, a2, b2, sp2 = used[j]
            if sp1 == sp2 and a1 < b2 and a2 < b1:
                bad.append(
                    f"rule 9: shifts {s1} and {s2}: both use space {sp1} at overlapping times"
                )

    # -- rules 1-4 and 7 per pair.
    seen: set[tuple[str, str]] = set()
    by_vol: dict[str, list[str]] = {}
    for a in solution.assignments:
        sid, vid = a.shift, a.volunteer
        if sid not in shifts or vid not in vols:
            bad.append(f"rule 7: shift {sid}, volunteer {vid}: unknown shift or volunteer")
            continue
        if (sid, vid) in seen:
            bad.append(f"rule 7: shift {sid}, volunteer {vid}: volunteer appears twice")
            continue
        seen.add((sid, vid))
        s, v = shifts[sid], vols[vid]
        here = where.get(sid)
        if here is None:
            continue  # already reported under rule 9
        by_vol.setdefault(vid, []).append(sid)
        if not any(w.start <= here.start and here.end <= w.end for w in v.availability):
            bad.append(f"rule 1: shift {sid}, volunteer {vid}: not available for the whole shift")
        for k in s.skills:
            if k not in v.skills:
                bad.append(f"rule 2: shift {sid}, volunteer {vid}: lacks skill {k}")
        if s.languages and not set(s.languages) & set(v.languages):
            bad.append(
                f"rule 3: shift {sid}, volunteer {vid}: speaks none of {', '.join(s.languages)}"
            )
        d = _km(v.location, here.where)
        if d > v.max_travel_km:
            bad.append(
                f"rule 4: shift {sid}, volunteer {vid}: {d:.2f} km away, limit {v.max_travel_km} km"
            )
    for sid, vs in staffed.items():
        if sid in shifts and len(set(vs)) > shifts[sid].headcount:
            bad.append(
                f"rule 7: shift {sid}: {len(set(vs))} volunteers for headcount "
                f"{shifts[sid].headcount}"
            )

    # -- rules 5 and 6 per volunteer.
    for vid, sids in by_vol.items():
        v = vols[vid]
        total = timedelta()
        for sid in sids:
            total += where[sid].end - where[sid].start
        if total.total_seconds() / 60 > v.max_minutes:
            bad.append(
                f"rule 6: volunteer {vid}: {total.total_seconds() / 60:g} minutes, "
                f"limit {v.max_minutes:g} (shifts {', '.join(sorted(sids))})"
            )
        for i in range(len(sids)):
            for j in range(i + 1, len(sids)):
                first, second = sids[i], sids[j]
                if where[first].start > where[second].start:
                    first, second = second, first
                p, q = where[first], where[second]
                if q.start < p.end:
                    bad.append(f"rule 5: shift {second}, volunteer {vid}: overlaps shift {first}")
                    continue
                if p.where != q.where:
                    need = math.ceil(4 * _km(p.where, q.where))
                    gap = (q.start - p.end).total_seconds() / 60
                    if gap < need:
                        bad.append(
                            f"rule 5: shift {second}, volunteer {vid}: {gap:g} min after "
                            f"shift {first}, needs {need} min to travel"
                        )

    # -- rule 8.
    for f in problem.fixed:
        if (f.shift, f.volunteer) not in seen:
            bad.append(f"rule 8: shift {f.shift}, volunteer {f.volunteer}: pinned pair is missing")

    # -- objective and unfilled bookkeeping.
    coverage = 0
    missing_total = 0
    expected: dict[str, int] = {}
    for sid, s in shifts.items():
        n = len({vid for vid in staffed.get(sid, []) if vid in vols})
        coverage += n * (2 ** (s.priority - 1))
        if n < s.headcount:
            expected[sid] = s.headcount - n
            missing_total += s.headcount - n
    if solution.objective.coverage != coverage:
        bad.append(f"objective: coverage is {solution.objective.coverage}, recomputed {coverage}")
    if solution.objective.coverage_bound and solution.objective.coverage_bound < coverage:
        bad.append(
            f"objective: coverage_bound {solution.objective.coverage_bound} is below "
            f"the coverage {coverage}"
        )
    reported: dict[str, int] = {}
    for u in solution.unfilled:
        reported[u.shift] = reported.get(u.shift, 0) + u.missing
    for sid in sorted(set(expected) | set(reported)):
        if expected.get(sid, 0) != reported.get(sid, 0):
            bad.append(
                f"unfilled: shift {sid}: {expected.get(sid, 0)} seats missing, "
                f"unfilled says {reported.get(sid, 0)}"
            )
    return Report(bad, coverage, len(seen), missing_total)


def _check_placement(
    shift: Shift,
    start: datetime,
    end: datetime,
    space: str | None,
    spaces: dict[str, Space],
    bad: list[str],
) -> None:
    sid = shift.id
    if shift.window is not None:
        window, duration, step = shift.flex()
        offset = (start - window.start).total_seconds()
        if offset < 0 or offset % (step * 60) != 0:
            bad.append(f"rule 9: shift {sid}: start {start.isoformat()} is off the step grid")
        if start + timedelta(minutes=duration) > window.end:
            bad.append(f"rule 9: shift {sid}: runs past the end of its window")
        if end - start != timedelta(minutes=duration):
            bad.append(f"rule 9: shift {sid}: placement does not last duration_min")
    elif start != shift.start or end != shift.end:
        bad.append(f"rule 9: shift {sid}: placement moves a shift with a fixed time")
    if shift.spaces:
        if space is None or space not in shift.spaces:
            bad.append(f"rule 9: shift {sid}: placement space {space} is not one it lists")
            return
        sp = spaces[space]
        capacity = sp.capacity
        if capacity < shift.participants:
            bad.append(
                f"rule 9: shift {sid}: space {space} holds {capacity}, needs {shift.participants}"
            )
        if not any(w.start <= start and end <= w.end for w in sp.free):
            bad.append(f"rule 9: shift {sid}: space {space} is not free for the whole placement")
    elif space is not None:
        bad.append(f"rule 9: shift {sid}: placed in space {space} but lists no spaces")
