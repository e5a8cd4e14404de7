"""Re-planning after a cancellation, and instant replacement candidates.

``candidates`` ranks replacements for one shift without CP-SAT, in a few
milliseconds, for the social worker's "who could step in?" list (替补).
``replan`` repairs a plan after volunteers cancel: it re-solves only the
neighbourhood of the hole (the shift, who could fill it, and what those people
are already doing), keeps everything else as it was, and penalises changes
(objective level 2), under a short time limit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from .assemble import evaluate
from .feasibility import epoch, prefilter
from .geo import haversine_km, haversine_many
from .model import solve_feasibility
from .types import (
    Interval,
    Location,
    Pair,
    Placement,
    Problem,
    Shift,
    Solution,
    Unfilled,
    Volunteer,
)

# Neighbourhood caps: enough room to move a few people around, small enough
# for a sub-second solve.
MAX_FILLERS = 20
MAX_VOLUNTEERS = 60


@dataclass(frozen=True)
class Candidate:
    """A ranked replacement for a shift, with the reasons a social worker reads."""

    volunteer: str
    score: float
    distance_km: float
    skills_matched: tuple[str, ...]
    load_minutes: float
    continuity_visits: int
    prefers_category: bool
    conflict_free: bool
    reasons: tuple[str, ...]


def _times(shift: Shift, placement: Placement | None) -> tuple[datetime, datetime] | None:
    if placement is not None:
        return placement.start, placement.end
    if shift.start is not None and shift.end is not None:
        return shift.start, shift.end
    return None


_Static = tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    dict[tuple[str, str], int],
    dict[str, npt.NDArray[np.bool_]],
]
# The per-problem arrays are cached for the few most recent problems: the
# candidate list is asked for again and again on one plan.  The cache holds the
# problem itself, so its id cannot be reused by another object meanwhile.
_STATIC: dict[int, tuple[Problem, _Static]] = {}


def _static(problem: Problem) -> _Static:
    hit = _STATIC.get(id(problem))
    if hit is not None and hit[0] is problem:
        return hit[1]
    vols = problem.volunteers
    n = len(vols)
    # Availability windows flattened (owner, start, end in epoch seconds), so
    # rule 1 is one vectorised test per query instead of a loop per person.
    data: _Static = (
        np.fromiter((v.location.lat for v in vols), dtype=np.float64, count=n),
        np.fromiter((v.location.lon for v in vols), dtype=np.float64, count=n),
        np.fromiter((v.max_travel_km for v in vols), dtype=np.float64, count=n),
        np.array([i for i, v in enumerate(vols) for _ in v.availability], dtype=np.int64),
        np.array([epoch(a.start) for v in vols for a in v.availability], dtype=np.int64),
        np.array([epoch(a.end) for v in vols for a in v.availability], dtype=np.int64),
        {(h.volunteer, h.beneficiary): h.visits for h in problem.history},
        _has(vols),
    )
    if len(_STATIC) >= 4:
        _STATIC.pop(next(iter(_STATIC)))
    _STATIC[id(problem)] = (problem, data)
    return data


def _has(vols: Sequence[Volunteer]) -> dict[str, npt.NDArray[np.bool_]]:
    """Per skill and per language (prefixed ``lang:``), who has it, as a mask."""
    out: dict[str, npt.NDArray[np.bool_]] = {}
    for i, v in enumerate(vols):
        for key in (*v.skills, *(f"lang:{x}" for x in v.languages)):
            mask = out.get(key)
            if mask is None:
                mask = out[key] = np.zeros(len(vols), dtype=np.bool_)
            mask[i] = True
    return out


class CandidateIndex:
    """What ``candidates`` needs, built once per plan: volunteer coordinates as
    arrays, each volunteer's current shifts with their times and places.
    ``replan`` asks it dozens of times per cancellation."""

    def __init__(
        self,
        problem: Problem,
        assigned: Iterable[Pair] = (),
        placements: Iterable[Placement] = (),
    ) -> None:
        self.problem = problem
        self.shifts = {s.id: s for s in problem.shifts}
        self.spaces = {sp.id: sp for sp in problem.spaces}
        self.placed = {p.shift: p for p in placements}
        static = _static(problem)
        (
            self.lat,
            self.lon,
            self.reach,
            self.av_owner,
            self.av_start,
            self.av_end,
            self.visits,
            self.has,
        ) = static
        self.on_shift: dict[str, set[str]] = {}
        # volunteer -> [(shift id, start, end, location)]
        self.busy: dict[str, list[tuple[str, datetime, datetime, Location | None]]] = {}
        for p in assigned:
            self.on_shift.setdefault(p.shift, set()).add(p.volunteer)
            other = self.shifts.get(p.shift)
            if other is None:
                continue
            where = self.where(other)
            if where is not None:
                self.busy.setdefault(p.volunteer, []).append((p.shift, *where))

    def where(self, shift: Shift) -> tuple[datetime, datetime, Location | None] | None:
        pl = self.placed.get(shift.id)
        when = _times(shift, pl)
        if when is None:
            return None
        loc = self.spaces[pl.space].location if pl is not None and pl.space else shift.location
        return when[0], when[1], loc

    def top(self, shift_id: str, k: int = 5) -> list[Candidate]:
        shift = self.shifts[shift_id]
        where = self.where(shift)
        if where is None:
            return []  # a flexible shift not yet placed has no time to match against
        start, end, maybe_loc = where
        if maybe_loc is None:
            return []
        here: Location = maybe_loc
        dist = haversine_many(self.lat, self.lon, here.lat, here.lon)
        ok = dist <= self.reach + 1e-9
        free = np.zeros(len(self.problem.volunteers), dtype=np.bool_)
        inside = (self.av_start <= epoch(start)) & (self.av_end >= epoch(end))
        free[self.av_owner[inside]] = True
        ok &= free
        # Rules 2 and 3 as masks, so the loop below sees only real candidates.
        none = np.zeros(ok.size, dtype=np.bool_)
        for skill in shift.skills:
            ok &= self.has.get(skill, none)
        if shift.languages:
            speaks = np.zeros(ok.size, dtype=np.bool_)
            for lang in shift.languages:
                speaks |= self.has.get(f"lang:{lang}", none)
            ok &= speaks
        near = np.flatnonzero(ok)
        taken = self.on_shift.get(shift_id, set())
        minutes = (end - start).total_seconds() / 60
        w = self.problem.weights
        vols = self.problem.volunteers
        # A light pass ranks everyone; reasons are written only for the top k.
        ranked: list[tuple[bool, float, str, int, float, float, int, bool, str | None, bool]] = []
        for i, km in zip(near.tolist(), dist[near].tolist(), strict=True):
            v = vols[i]
            if v.id in taken:
                continue
            if abs(km - v.max_travel_km) < 1e-6:
                # On the edge: decide with the validator's scalar formula.
                km = haversine_km(v.location.lat, v.location.lon, here.lat, here.lon)
            if km > v.max_travel_km:
                continue
            worked = 0.0
            clash: str | None = None
            for sid, o_start, o_end, o_loc in self.busy.get(v.id, []):
                worked += (o_end - o_start).total_seconds() / 60
                gap = 0
                if o_loc is not None and (o_loc.lat, o_loc.lon) != (here.lat, here.lon):
                    gap = math.ceil(4 * haversine_km(o_loc.lat, o_loc.lon, here.lat, here.lon))
                need = timedelta(minutes=gap)
                if clash is None and o_start < end + need and start < o_end + need:
                    clash = sid
            load = v.minutes_already + worked
            over = worked + minutes > v.max_minutes
            cont = self.visits.get((v.id, shift.beneficiary), 0) if shift.beneficiary else 0
            pref = shift.category is not None and shift.category in v.preferences
            score = round(
                w.continuity * cont
                + w.preference_matches * pref
                - w.travel_km * km
                - w.fairness_spread_min * load / 10,
                3,
            )
            free_of = clash is None and not over
            ranked.append((not free_of, -score, v.id, i, km, load, cont, pref, clash, over))
        ranked.sort(key=lambda r: (r[0], r[1], r[2]))
        out: list[Candidate] = []
        for _, neg_score, vid, i, km, load, cont, pref, clash, over in ranked[:k]:
            v = vols[i]
            reasons = [f"{km:.1f} km away (limit {v.max_travel_km:g})"]
            if shift.skills:
                reasons.append("has " + ", ".join(shift.skills))
            reasons.append(f"{load:g} min load incl. the current plan")
            if cont:
                reasons.append(f"visited {shift.beneficiary} {cont} times before")
            if pref:
                reasons.append(f"prefers {shift.category}")
            if clash:
                reasons.append(f"clashes with shift {clash}")
            elif over:
                reasons.append("would exceed the hour limit")
            else:
                reasons.append("free of conflicts")
            out.append(
                Candidate(
                    volunteer=vid,
                    score=-neg_score,
                    distance_km=round(km, 3),
                    skills_matched=tuple(shift.skills),
                    load_minutes=load,
                    continuity_visits=cont,
                    prefers_category=pref,
                    conflict_free=clash is None and not over,
                    reasons=tuple(reasons),
                )
            )
        return out


# Indexes of the few most recent plans, keyed by the identity of the problem
# and of the (immutable) plan tuples: a social worker asks for candidates again
# and again on one plan.  Entries hold the objects, so ids cannot be reused.
_INDEXES: dict[tuple[int, int, int], tuple[Problem, object, object, CandidateIndex]] = {}


def _index_for(
    problem: Problem, assigned: Iterable[Pair], placements: Iterable[Placement]
) -> CandidateIndex:
    if not isinstance(assigned, tuple) or not isinstance(placements, tuple):
        return CandidateIndex(problem, assigned, placements)
    key = (id(problem), id(assigned), id(placements))
    hit = _INDEXES.get(key)
    if hit is not None and hit[0] is problem and hit[1] is assigned and hit[2] is placements:
        return hit[3]
    index = CandidateIndex(problem, assigned, placements)
    if len(_INDEXES) >= 8:
        _INDEXES.pop(next(iter(_INDEXES)))
    _INDEXES[key] = (problem, assigned, placements, index)
    return index


def candidates(
    problem: Problem,
    shift_id: str,
    k: int = 5,
    *,
    assigned: Iterable[Pair] = (),
    placements: Iterable[Placement] = (),
) -> list[Candidate]:
    """Top-``k`` volunteers who could take a seat on ``shift_id`` now.

    Hard rules 1-4 are required.  Against the current plan ``assigned``, people
    who would break rule 5 or 6 are listed after everyone who is free, flagged
    ``conflict_free=False``.  Ranking: free first, then continuity, preference,
    lower load (fairness) and shorter travel.  No CP-SAT: a few milliseconds.
    """
    return _index_for(problem, assigned, placements).top(shift_id, k)


def _pinned_copy(v: Volunteer, busy: list[tuple[datetime, datetime]]) -> Volunteer:
    """A volunteer who may only keep the given commitments: availability shrinks
    to exactly those intervals, so nothing new fits (every new shift would overlap)."""
    return replace(v, availability=tuple(Interval(a, b) for a, b in busy))


def replan(
    problem: Problem,
    previous_solution: Solution,
    cancelled: Sequence[tuple[str, str]],
    time_limit_s: float = 1.0,
) -> Solution:
    """A repaired plan after the ``(shift, volunteer)`` pairs in ``cancelled`` drop out.

    The cancelled pairs are never re-proposed, and a cancellation overrides a
    pin.  Fixed pairs are otherwise kept, the current plan is hinted, changes are
    minimised after coverage, and only the neighbourhood of the holes is
    re-solved: outside it the plan is unchanged.  The bound of the previous
    solution stays valid (forbidding pairs can only lower the optimum).
    """
    t0 = time.monotonic()
    gone = {Pair(s, v) for s, v in cancelled}
    plan = [p for p in previous_solution.assignments if p not in gone]
    placed = {p.shift: p for p in previous_solution.placements or ()}
    shifts = {s.id: s for s in problem.shifts}
    by_vol: dict[str, list[str]] = {}
    by_shift: dict[str, list[str]] = {}
    for p in plan:
        by_vol.setdefault(p.volunteer, []).append(p.shift)
        by_shift.setdefault(p.shift, []).append(p.volunteer)

    # The neighbourhood: holes, then who could fill them, then what they do now,
    # then who could take over those shifts (bounded at each step).
    holes = list(dict.fromkeys(s for s, _ in cancelled if s in shifts))
    free_shifts: set[str] = set(holes)
    free_vols: set[str] = set()
    frontier = holes
    index = CandidateIndex(problem, plan, previous_solution.placements or ())
    for depth in range(2):
        nxt: list[str] = []
        for sid in frontier:
            c = index.top(sid, MAX_FILLERS if depth == 0 else 3)
            for cand in c:
                if Pair(sid, cand.volunteer) in gone or len(free_vols) >= MAX_VOLUNTEERS:
                    continue
                if cand.volunteer not in free_vols:
                    free_vols.add(cand.volunteer)
                    nxt.extend(by_vol.get(cand.volunteer, []))
        frontier = [s for s in nxt if s not in free_shifts]
        free_shifts.update(frontier)
    for sid in free_shifts:
        free_vols.update(by_shift.get(sid, []))

    # Build the sub-problem: free shifts at their current placement, free
    # volunteers with their outside commitments pinned, plus those outside shifts
    # with headcount limited to the pinned volunteers.
    vols = {v.id: v for v in problem.volunteers}
    sub_shifts: dict[str, Shift] = {}
    fixed: list[Pair] = [
        p
        for p in problem.fixed
        if p.shift in free_shifts and p.volunteer in free_vols and p not in gone
    ]
    for sid in free_shifts:
        sub_shifts[sid] = _frozen_at(shifts[sid], placed.get(sid))
    outside_count: dict[str, int] = {}
    for vid in free_vols:
        for sid in by_vol.get(vid, []):
            if sid not in free_shifts:
                outside_count[sid] = outside_count.get(sid, 0) + 1
                fixed.append(Pair(sid, vid))
    for sid, n in outside_count.items():
        sub_shifts[sid] = replace(_frozen_at(shifts[sid], placed.get(sid)), headcount=n)
    # People on free shifts who are not free themselves keep their seat.
    for sid in free_shifts:
        for vid in by_shift.get(sid, []):
            if vid not in free_vols:
                fixed.append(Pair(sid, vid))
    sub_vol_ids = set(free_vols) | {p.volunteer for p in fixed}
    sub_vols: list[Volunteer] = []
    for vid in sub_vol_ids:
        v = vols[vid]
        if vid in free_vols:
            sub_vols.append(v)
        else:
            busy = [_times(sub_shifts[p.shift], None) for p in fixed if p.volunteer == vid]
            sub_vols.append(_pinned_copy(v, [b for b in busy if b is not None]))
    sub_prev = tuple(p for p in plan if p.shift in sub_shifts and p.volunteer in sub_vol_ids)
    sub = replace(
        problem,
        volunteers=tuple(sorted(sub_vols, key=lambda v: v.id)),
        shifts=tuple(sub_shifts[s] for s in sorted(sub_shifts)),
        history=tuple(h for h in problem.history if h.volunteer in sub_vol_ids),
        fixed=tuple(dict.fromkeys(fixed)),
        previous=sub_prev,
        spaces=tuple(
            sp for sp in problem.spaces if any(sp.id in s.spaces for s in sub_shifts.values())
        ),
        coverage_slack=0,
    )
    feas = prefilter(sub)
    # Cancelled pairs must not come back: drop their triples.
    if gone:
        bad = {
            (feas.shift_index[p.shift], feas.vol_index[p.volunteer])
            for p in gone
            if p.shift in feas.shift_index and p.volunteer in feas.vol_index
        }
        if bad:
            keep = np.array(
                [
                    (s, v) not in bad
                    for s, v in zip(feas.tri_shift.tolist(), feas.tri_vol.tolist(), strict=True)
                ],
                dtype=np.bool_,
            )
            idx = np.flatnonzero(keep)
            feas = replace(
                feas,
                tri_shift=feas.tri_shift[idx],
                tri_opt=feas.tri_opt[idx],
                tri_vol=feas.tri_vol[idx],
                tri_km=feas.tri_km[idx],
            )
    # Leave most of the rest of the budget for assembling the whole plan
    # afterwards, and for a busy machine: the limit is a promise at p95.
    remaining = max(0.1, 0.55 * time_limit_s - (time.monotonic() - t0))
    part = solve_feasibility(feas, time_limit_s=remaining, workers=1)
    outside = [u for u in previous_solution.unfilled if u.shift not in free_shifts]
    if part.status in ("INFEASIBLE", "UNKNOWN"):
        # Keep the plan minus the cancellation; its holes are reported plainly.
        new_pairs = plan
        new_placements = list(previous_solution.placements or ())
        counts: dict[str, int] = {}
        for p in plan:
            counts[p.shift] = counts.get(p.shift, 0) + 1
        new_unfilled = outside + [
            Unfilled(
                sid,
                shifts[sid].headcount - counts.get(sid, 0),
                "a volunteer cancelled and no replacement could be fitted in time",
            )
            for sid in sorted(free_shifts)
            if shifts[sid].headcount > counts.get(sid, 0)
        ]
    else:
        new_unfilled = outside + [u for u in part.unfilled if u.shift in free_shifts]
        kept = [p for p in plan if p.shift not in free_shifts]
        new_pairs = kept + [p for p in part.assignments if p.shift in free_shifts]
        new_placements = [
            p for p in previous_solution.placements or () if p.shift not in free_shifts
        ]
        new_placements += [p for p in part.placements or () if p.shift in free_shifts]
    return _finish(problem, previous_solution, new_pairs, new_placements, new_unfilled, t0)


def _frozen_at(shift: Shift, placement: Placement | None) -> Shift:
    """The shift pinned to its current placement: re-planning never moves rooms."""
    if placement is None:
        return shift
    return replace(
        shift,
        start=placement.start,
        end=placement.end,
        window=None,
        duration_min=None,
        step_min=None,
        spaces=(placement.space,) if placement.space else (),
        participants=shift.participants if placement.space else 0,
        location=shift.location,
    )


def _finish(
    problem: Problem,
    previous_solution: Solution,
    pairs: list[Pair],
    placements: list[Placement],
    unfilled: list[Unfilled],
    t0: float,
) -> Solution:
    """The whole repaired plan.  Figures are recomputed over the full plan;
    reasons outside the neighbourhood are the previous ones (nothing changed there)."""
    staffed = {p.shift for p in pairs}
    placements = [p for p in placements if p.shift in staffed]
    obj = evaluate(problem, pairs, placements)
    return Solution(
        status="FEASIBLE",
        assignments=tuple(sorted(dict.fromkeys(pairs), key=lambda p: (p.shift, p.volunteer))),
        unfilled=tuple(sorted(unfilled, key=lambda u: u.shift)),
        objective=replace(
            obj, coverage_bound=max(previous_solution.objective.coverage_bound, obj.coverage)
        ),
        solve_seconds=time.monotonic() - t0,
        placements=tuple(placements) if problem.has_placements else None,
    )
