"""Turning chosen triples into a ``Solution``: metrics and unfilled reasons.

The objective figures are recomputed from the chosen pairs, not read back from
the solver, so every path (CP-SAT, greedy fallback, merged parts, re-plans)
reports the same quantities the same way.  Reasons for unfilled seats come
from the prefilter funnel, in words a social worker understands (社工看得懂).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import numpy as np

from .feasibility import Feasibility, options_conflict
from .geo import haversine_km
from .types import Objective, Pair, Placement, Problem, Shift, Solution, Unfilled


def _when(start: datetime, end: datetime) -> str:
    if start.date() == end.date():
        return f"{start:%a %d %b %H:%M}–{end:%H:%M}"
    return f"{start:%a %d %b %H:%M} – {end:%a %d %b %H:%M}"


def shift_when(s: Shift) -> str:
    if s.window is not None:
        return f"between {_when(s.window.start, s.window.end)}"
    start, end = s.times()
    return f"on {_when(start, end)}"


def _qualified(s: Shift) -> str:
    words = []
    if s.skills:
        words.append("with skill " + " and ".join(s.skills))
    if s.languages:
        words.append("who speaks " + " or ".join(s.languages))
    return " ".join(words)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def evaluate(
    problem: Problem,
    assignments: Iterable[Pair],
    placements: Iterable[Placement] = (),
) -> Objective:
    """Objective figures of a plan (coverage_bound left at 0 for the caller)."""
    vols = {v.id: v for v in problem.volunteers}
    shifts = {s.id: s for s in problem.shifts}
    spaces = {sp.id: sp for sp in problem.spaces}
    placed = {p.shift: p for p in placements}
    visits = {(h.volunteer, h.beneficiary): h.visits for h in problem.history}
    pairs = list(dict.fromkeys(assignments))
    coverage = 0
    travel = 0.0
    continuity = 0
    prefs = 0
    load: dict[str, float] = {}
    for p in pairs:
        s = shifts[p.shift]
        v = vols[p.volunteer]
        coverage += s.weight
        pl = placed.get(s.id)
        loc = s.location
        minutes = s.minutes
        if pl is not None:
            if pl.space is not None:
                loc = spaces[pl.space].location
            minutes = (pl.end - pl.start).total_seconds() / 60
        if loc is not None:
            travel += haversine_km(v.location.lat, v.location.lon, loc.lat, loc.lon)
        if s.beneficiary is not None:
            continuity += visits.get((v.id, s.beneficiary), 0)
        if s.category is not None and s.category in v.preferences:
            prefs += 1
        load[v.id] = load.get(v.id, v.minutes_already) + minutes
    prev = set(problem.previous)
    prev_shifts = {p.shift for p in prev}
    now = set(pairs)
    changes = len(prev - now) + sum(1 for p in now if p.shift in prev_shifts and p not in prev)
    spread = (max(load.values()) - min(load.values())) if load else 0.0
    return Objective(
        coverage=coverage,
        coverage_bound=0,
        changes=changes,
        travel_km=travel,
        fairness_spread_min=spread,
        continuity=continuity,
        preference_matches=prefs,
    )


def explain_unfilled(feas: Feasibility, chosen: list[int]) -> list[Unfilled]:
    """One entry per shift with missing seats, naming the binding reason."""
    f = feas
    problem = f.problem
    on: dict[int, list[int]] = {}
    vol_opts: dict[int, list[int]] = {}
    vol_sec: dict[int, int] = {}
    placed: dict[int, int] = {}
    for t in chosen:
        s, o, v = int(f.tri_shift[t]), int(f.tri_opt[t]), int(f.tri_vol[t])
        on.setdefault(s, []).append(v)
        vol_opts.setdefault(v, []).append(o)
        vol_sec[v] = vol_sec.get(v, 0) + int(f.opt_end[o] - f.opt_start[o])
        placed[s] = o
    # Candidates only of the shifts with missing seats: the reasons need no more,
    # and at district size the full triple list is millions long.
    heads = np.array([s.headcount for s in problem.shifts] or [0], dtype=np.int64)
    filled = np.zeros(heads.size, dtype=np.int64)
    for si, vs in on.items():
        filled[si] = len(vs)
    short = heads > filled
    sel = np.flatnonzero(short[f.tri_shift]) if f.n_triples else np.zeros(0, dtype=np.int64)
    cands: dict[int, dict[int, list[int]]] = {}
    for s_i, v_i, o_i in zip(
        f.tri_shift[sel].tolist(), f.tri_vol[sel].tolist(), f.tri_opt[sel].tolist(), strict=True
    ):
        cands.setdefault(s_i, {}).setdefault(v_i, []).append(o_i)
    out: list[Unfilled] = []
    for si, shift in enumerate(problem.shifts):
        missing = shift.headcount - len(on.get(si, []))
        if missing <= 0:
            continue
        reason = _reason(f, si, shift, on, vol_opts, vol_sec, placed, cands)
        out.append(Unfilled(shift.id, missing, reason))
    return out


def _reason(
    f: Feasibility,
    si: int,
    s: Shift,
    on: dict[int, list[int]],
    vol_opts: dict[int, list[int]],
    vol_sec: dict[int, int],
    placed: dict[int, int],
    cands: dict[int, dict[int, list[int]]],
) -> str:
    fun = f.funnel[si]
    qual = _qualified(s)
    if s.spaces and fun.options == 0:
        who = f"{s.participants}" if s.participants else "the group"
        return f"no room for {who} is free {shift_when(s)}"
    if s.skills and fun.skilled == 0:
        return f"no volunteer has skill {' and '.join(s.skills)}"
    if s.languages and fun.speaks == 0:
        extra = f" and has skill {' and '.join(s.skills)}" if s.skills else ""
        return f"no volunteer speaks {' or '.join(s.languages)}{extra}"
    if fun.near == 0:
        who = f"volunteer {qual}" if qual else "volunteer"
        nearest = f" (the nearest lives {fun.nearest_km:.1f} km away)" if fun.speaks else ""
        return f"no {who} lives within their travel range{nearest}"
    if fun.available == 0:
        who = f"volunteers {qual}" if qual else "volunteers"
        if s.spaces:
            return f"rooms free, but none of the {fun.near} nearby {who} is available then"
        lead = _plural(fun.near, "nearby volunteer") + (f" {qual}" if qual else "")
        return f"{lead}, but none is available {shift_when(s)}"
    # Qualified candidates exist: say why each one is not on this shift.
    mine = set(on.get(si, []))
    busy = limit = slot = 0
    free = 0
    for v, opts in cands.get(si, {}).items():
        if v in mine:
            continue
        usable = [o for o in opts if si not in placed or placed[si] == o]
        if not usable:
            slot += 1
            continue
        cap = int(f.problem.volunteers[v].max_minutes * 60)
        if all(any(options_conflict(f, o, q) for q in vol_opts.get(v, [])) for o in usable):
            busy += 1
        elif all(vol_sec.get(v, 0) + int(f.opt_end[o] - f.opt_start[o]) > cap for o in usable):
            limit += 1
        else:
            free += 1
    total = busy + limit + slot + free + len(mine)
    parts = []
    if mine:
        parts.append(f"{len(mine)} already on this shift")
    if busy:
        parts.append(f"{busy} committed to overlapping or too-close shifts")
    if limit:
        parts.append(f"{limit} at their hour limit")
    if slot:
        parts.append(f"{slot} not free at the chosen time and room")
    if free:
        parts.append(f"{free} left free by the solver (time limit, or a room clash)")
    if total == 0:
        return "no qualified volunteer is available"
    return f"{_plural(total, 'candidate')} qualified: " + ", ".join(parts)


def triples_of(
    feas: Feasibility, pairs: Iterable[Pair], placements: Iterable[Placement] = ()
) -> list[int]:
    """The triple index of each pair of a plan for ``feas.problem`` (pairs with no
    triple are dropped).  A placed shift's pair maps to the option of its placement."""
    f = feas
    n_v = max(1, len(f.problem.volunteers))
    keys = f.tri_shift * n_v + f.tri_vol
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    placed = {p.shift: p for p in placements}
    out: list[int] = []
    for p in pairs:
        si = f.shift_index.get(p.shift)
        vi = f.vol_index.get(p.volunteer)
        if si is None or vi is None:
            continue
        key = si * n_v + vi
        lo = int(np.searchsorted(sorted_keys, key, side="left"))
        hi = int(np.searchsorted(sorted_keys, key, side="right"))
        ts = order[lo:hi].tolist()
        if not ts:
            continue
        pl = placed.get(p.shift)
        if pl is not None and len(ts) > 1:
            start = int(pl.start.timestamp())
            sp = f.space_index.get(pl.space, -1) if pl.space is not None else -1
            match = [
                t
                for t in ts
                if int(f.opt_start[f.tri_opt[t]]) == start and int(f.opt_space[f.tri_opt[t]]) == sp
            ]
            ts = match or ts
        out.append(ts[0])
    return out


def pairs_of(feas: Feasibility, chosen: list[int]) -> list[Pair]:
    p = feas.problem
    return [
        Pair(p.shifts[int(feas.tri_shift[t])].id, p.volunteers[int(feas.tri_vol[t])].id)
        for t in chosen
    ]


def placements_of(feas: Feasibility, chosen: list[int]) -> list[Placement]:
    p = feas.problem
    seen: dict[int, int] = {}
    for t in chosen:
        seen.setdefault(int(feas.tri_shift[t]), int(feas.tri_opt[t]))
    out = []
    for si in sorted(seen):
        s = p.shifts[si]
        if not s.needs_placement:
            continue
        o = seen[si]
        start = feas.opt_dt[o]
        sp = int(feas.opt_space[o])
        end = start + timedelta(seconds=int(feas.opt_end[o] - feas.opt_start[o]))
        out.append(Placement(s.id, start, end, p.spaces[sp].id if sp >= 0 else None))
    return out


def build_solution(
    feas: Feasibility,
    chosen: list[int],
    *,
    status: str,
    coverage_bound: int,
    seconds: float,
) -> Solution:
    pairs = pairs_of(feas, chosen)
    placements = placements_of(feas, chosen)
    obj = evaluate(feas.problem, pairs, placements)
    bound = max(coverage_bound, obj.coverage)
    obj = Objective(
        coverage=obj.coverage,
        coverage_bound=bound,
        changes=obj.changes,
        travel_km=obj.travel_km,
        fairness_spread_min=obj.fairness_spread_min,
        continuity=obj.continuity,
        preference_matches=obj.preference_matches,
    )
    return Solution(
        status=status,
        assignments=tuple(sorted(pairs, key=lambda p: (p.shift, p.volunteer))),
        unfilled=tuple(explain_unfilled(feas, chosen)),
        objective=obj,
        solve_seconds=seconds,
        placements=tuple(placements) if feas.problem.has_placements else None,
    )
