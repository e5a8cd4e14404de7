"""Decomposition for scale: split, solve the parts in parallel, merge.

``decompose`` splits a problem into parts that can be solved independently:

* exactly, when the whole feasibility graph can be built: its connected
  components (volunteers, shifts and rooms linked by candidate pairs, pins and
  previous pairs), packed together so that tiny components share one model;
* geographically, for district-size problems (many streets, 街道): a recursive
  median split of the map into street-sized regions, each with the shifts held
  and the volunteers living there.  Candidate pairs across a border are cut; each
  part then carries ``coverage_slack``, an upper bound on the coverage those cut
  pairs could add, so that summed part bounds stay proven bounds.

The web app runs parts as separate background tasks, so ``decompose``,
``solve`` and ``merge_solutions`` are public and take only plain data.

``solve`` itself, on a district, does better than independent cut parts: it
builds the whole prefilter and the first-come plan (both vectorised, seconds),
then solves each street *around that plan*: pairs that cross a street border
stay as first come made them (the street's shifts lose the seats outsiders
hold, its people keep their outside shifts as pins), so every street's plan
joins with the others into a valid whole, and a street's plan replaces first
come's there only if it covers at least as much.  A last first-come pass over
the whole problem fills what is left.  So the result is never below first come.
Its ``coverage_bound`` is the whole problem's per-shift seat bound (each shift
filled up to min(headcount, its candidates)), proven and, at generated
densities, within a fraction of a percent of the plan.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np

from .assemble import build_solution, evaluate, pairs_of, placements_of, triples_of
from .feasibility import Feasibility, candidates_per_shift, prefilter
from .greedy import first_come, greedy_triples
from .model import (
    DEFAULT_TIME_LIMIT_S,
    ProgressFn,
    _pins_honoured,
    default_workers,
    solve_feasibility,
    solve_one,
    trivial_bound,
)
from .replanning import _frozen_at
from .types import (
    Location,
    Objective,
    Pair,
    Placement,
    Problem,
    Progress,
    Shift,
    Solution,
    Unfilled,
)

# Components are packed into parts of at most this many candidate triples.
PART_TRIPLES = 150_000
# Above this many volunteer x shift pairs, building the full feasibility graph
# costs more than it saves: split by geography first.
GEO_SPLIT_PAIRS = 20_000_000
# Shifts per geographic region: about one street (街道) at generated densities.
REGION_SHIFTS = 1_500


def connected_labels(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected components of an undirected graph on ``n`` nodes with edges
    ``a[i] - b[i]``: each node's label is the smallest node of its component.

    Min-label propagation with pointer jumping, all vectorised: a few dozen
    passes over the edge arrays instead of a Python union per edge.
    """
    label = np.arange(n, dtype=np.int64)
    if a.size == 0:
        return label
    while True:
        low = np.minimum(label[a], label[b])
        new = label.copy()
        np.minimum.at(new, a, low)
        np.minimum.at(new, b, low)
        # Pointer jumping: follow labels to their own labels until stable.
        while True:
            jumped = new[new]
            if np.array_equal(jumped, new):
                break
            new = jumped
        if np.array_equal(new, label):
            return label
        label = new


def _part(problem: Problem, vols: Sequence[int], shifts: Sequence[int], slack: int = 0) -> Problem:
    vset = {problem.volunteers[i].id for i in vols}
    sset = {problem.shifts[i].id for i in shifts}
    space_ids = {sp for i in shifts for sp in problem.shifts[i].spaces}
    return replace(
        problem,
        volunteers=tuple(problem.volunteers[i] for i in sorted(vols)),
        shifts=tuple(problem.shifts[i] for i in sorted(shifts)),
        history=tuple(h for h in problem.history if h.volunteer in vset),
        fixed=tuple(p for p in problem.fixed if p.shift in sset and p.volunteer in vset),
        previous=tuple(p for p in problem.previous if p.shift in sset and p.volunteer in vset),
        spaces=tuple(sp for sp in problem.spaces if sp.id in space_ids),
        coverage_slack=slack,
    )


def _shift_point(problem: Problem, si: int) -> Location:
    s = problem.shifts[si]
    if s.location is not None:
        return s.location
    sp = {x.id: x for x in problem.spaces}[s.spaces[0]]
    return sp.location


def decompose(problem: Problem, *, max_part_triples: int = PART_TRIPLES) -> list[Problem]:
    """Independent parts of ``problem`` (see module docstring); ``[problem]`` if one."""
    feas = prefilter(problem)
    if len(problem.volunteers) * len(problem.shifts) > GEO_SPLIT_PAIRS:
        return _geo_split(problem, feas)
    return _components(problem, feas, max_part_triples)


def _components(problem: Problem, feas: Feasibility, max_part_triples: int) -> list[Problem]:
    n_v = len(problem.volunteers)
    n_s = len(problem.shifts)
    a_ends = [feas.tri_vol, n_v + feas.tri_shift]
    extra = [
        (feas.vol_index[p.volunteer], n_v + feas.shift_index[p.shift])
        for p in (*problem.fixed, *problem.previous)
    ] + [
        (n_v + si, n_v + n_s + feas.space_index[sp])
        for si, shift in enumerate(problem.shifts)
        for sp in shift.spaces
    ]
    if extra:
        a_ends[0] = np.concatenate([a_ends[0], np.array([e[0] for e in extra], dtype=np.int64)])
        a_ends[1] = np.concatenate([a_ends[1], np.array([e[1] for e in extra], dtype=np.int64)])
    label = connected_labels(n_v + n_s + len(problem.spaces), a_ends[0], a_ends[1]).tolist()
    size = np.bincount(feas.tri_shift, minlength=n_s) if feas.n_triples else np.zeros(n_s)
    comps: dict[int, tuple[list[int], list[int], list[int]]] = {}
    loose_vols: list[int] = []
    orphans: list[int] = []
    for v in range(n_v):
        comps.setdefault(label[v], ([], [], [0]))[0].append(v)
    for si in range(n_s):
        comp = comps.setdefault(label[n_v + si], ([], [], [0]))
        comp[1].append(si)
        comp[2][0] += int(size[si])
    real = []
    for vols, shifts, weight in comps.values():
        if vols and shifts and weight[0]:
            real.append((vols, shifts, weight))
        else:
            loose_vols.extend(vols)
            orphans.extend(shifts)
    if len(real) <= 1:
        return [problem]
    real.sort(key=lambda c: -c[2][0])
    bins: list[tuple[list[int], list[int], list[int]]] = []
    for vols, shifts, weight in real:
        for b in bins:
            if b[2][0] + weight[0] <= max_part_triples:
                b[0].extend(vols)
                b[1].extend(shifts)
                b[2][0] += weight[0]
                break
        else:
            bins.append((list(vols), list(shifts), [weight[0]]))
    # Shifts nobody can do, and people who can do nothing, need no model; they
    # ride along with the largest part so that unfilled reasons see them.
    bins[0][0].extend(loose_vols)
    bins[0][1].extend(orphans)
    parts = [_part(problem, vols, shifts) for vols, shifts, _ in bins]
    return parts


def _geo_split(problem: Problem, feas: Feasibility) -> list[Problem]:
    shift_leaf, vol_leaf, n_leaves = _geo_leaves(problem)
    slack = _cut_slack(problem, feas, shift_leaf, vol_leaf)
    parts: list[Problem] = []
    for k in range(n_leaves):
        in_shifts: list[int] = np.flatnonzero(shift_leaf == k).tolist()
        in_vols: list[int] = np.flatnonzero(vol_leaf == k).tolist()
        if not in_shifts:
            continue
        parts.append(_part(problem, in_vols, in_shifts, int(slack[k])))
    return parts


def _geo_leaves(
    problem: Problem, region_shifts: int | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Street-sized regions: each shift's and each volunteer's region number."""
    most = region_shifts or REGION_SHIFTS
    n_v = len(problem.volunteers)
    n_s = len(problem.shifts)
    cos = math.cos(math.radians(float(np.mean([v.location.lat for v in problem.volunteers]))))
    s_xy = np.array([[p.lat, p.lon * cos] for p in (_shift_point(problem, i) for i in range(n_s))])
    v_xy = np.array([[v.location.lat, v.location.lon * cos] for v in problem.volunteers])
    leaves: list[tuple[np.ndarray, np.ndarray]] = []

    def split(si: np.ndarray, vi: np.ndarray) -> None:
        if si.size <= most:
            leaves.append((si, vi))
            return
        pts = s_xy[si]
        axis = int(np.argmax(pts.max(axis=0) - pts.min(axis=0)))
        cut = float(np.median(pts[:, axis]))
        left = pts[:, axis] <= cut
        if left.all() or not left.any():
            leaves.append((si, vi))
            return
        vleft = v_xy[vi, axis] <= cut
        split(si[left], vi[vleft])
        split(si[~left], vi[~vleft])

    split(np.arange(n_s), np.arange(n_v))
    shift_leaf = np.zeros(n_s, dtype=np.int64)
    vol_leaf = np.zeros(n_v, dtype=np.int64)
    for k, (si, vi) in enumerate(leaves):
        shift_leaf[si] = k
        vol_leaf[vi] = k
    # Shifts that may share a room, and pinned or previous pairs, must not be cut.
    shift_idx = {s.id: i for i, s in enumerate(problem.shifts)}
    vol_idx = {v.id: i for i, v in enumerate(problem.volunteers)}
    room_leaf: dict[str, int] = {}
    for k, shift in enumerate(problem.shifts):
        for sp in shift.spaces:
            room_leaf.setdefault(sp, int(shift_leaf[k]))
        if shift.spaces:
            shift_leaf[k] = room_leaf[shift.spaces[0]]
    for p in (*problem.fixed, *problem.previous):
        vol_leaf[vol_idx[p.volunteer]] = shift_leaf[shift_idx[p.shift]]
    return shift_leaf, vol_leaf, len(leaves)


def _around_plan(
    feas: Feasibility,
    plan: list[int],
    shift_leaf: np.ndarray,
    vol_leaf: np.ndarray,
    k: int,
) -> Problem | None:
    """Region ``k`` as a problem in which ``plan``'s pairs that cross its border
    stay as they are: seats taken by outsiders are gone from its shifts, and its
    people keep their outside shifts (pinned, frozen where they are placed).
    Any plan of this part, joined with the crossing pairs and the other parts'
    plans, is a plan of the whole problem."""
    problem = feas.problem
    in_shifts = np.flatnonzero(shift_leaf == k)
    if in_shifts.size == 0:
        return None
    in_vols = np.flatnonzero(vol_leaf == k)
    p_s = feas.tri_shift[plan] if plan else np.zeros(0, dtype=np.int64)
    p_v = feas.tri_vol[plan] if plan else np.zeros(0, dtype=np.int64)
    placed = {pl.shift: pl for pl in placements_of(feas, plan)}
    into = (shift_leaf[p_s] == k) & (vol_leaf[p_v] != k)
    out_of = (vol_leaf[p_v] == k) & (shift_leaf[p_s] != k)
    taken = np.bincount(p_s[into], minlength=len(problem.shifts))
    shifts: list[Shift] = []
    for si in in_shifts.tolist():
        sh = problem.shifts[si]
        if taken[si]:
            if sh.headcount - int(taken[si]) <= 0:
                continue
            sh = replace(_frozen_at(sh, placed.get(sh.id)), headcount=sh.headcount - int(taken[si]))
        shifts.append(sh)
    pins: list[Pair] = []
    away: dict[int, int] = {}
    for si, vi in zip(p_s[out_of].tolist(), p_v[out_of].tolist(), strict=True):
        away[si] = away.get(si, 0) + 1
        pins.append(Pair(problem.shifts[si].id, problem.volunteers[vi].id))
    for si, n in sorted(away.items()):
        sh = problem.shifts[si]
        shifts.append(replace(_frozen_at(sh, placed.get(sh.id)), headcount=n))
    vols = tuple(problem.volunteers[i] for i in in_vols.tolist())
    vset = {v.id for v in vols}
    inside = {sh.id for sh in shifts}
    space_ids = {sp for sh in shifts for sp in sh.spaces}
    return replace(
        problem,
        volunteers=vols,
        shifts=tuple(shifts),
        history=tuple(h for h in problem.history if h.volunteer in vset),
        fixed=tuple(
            dict.fromkeys(
                [p for p in problem.fixed if p.shift in inside and p.volunteer in vset] + pins
            )
        ),
        previous=tuple(p for p in problem.previous if p.shift in inside and p.volunteer in vset),
        spaces=tuple(sp for sp in problem.spaces if sp.id in space_ids),
        coverage_slack=0,
    )


def _cut_slack(
    problem: Problem, feas: Feasibility, shift_leaf: np.ndarray, vol_leaf: np.ndarray
) -> np.ndarray:
    """Per part, an upper bound on the coverage its cut pairs could add.

    A shift's cut pairs are its candidates living in another part; at most
    ``min(headcount, their number)`` of them can sit on it.  Any plan restricted
    to one part is a plan of that part, so the summed part bounds plus these
    slacks bound the whole problem.
    """
    n_parts = int(max(shift_leaf.max(initial=0), vol_leaf.max(initial=0))) + 1
    out = np.zeros(n_parts, dtype=np.int64)
    if feas.n_triples == 0:
        return out
    cut = shift_leaf[feas.tri_shift] != vol_leaf[feas.tri_vol]
    per_shift = candidates_per_shift(feas, cut)
    heads = np.array([s.headcount for s in problem.shifts], dtype=np.int64)
    weights = np.array([s.weight for s in problem.shifts], dtype=np.int64)
    np.add.at(out, shift_leaf, weights * np.minimum(heads, per_shift))
    return out


def merge_solutions(
    problem: Problem, solutions: Sequence[Solution], *, seconds: float | None = None
) -> Solution:
    """One solution for ``problem`` from the solutions of its ``decompose`` parts."""
    pairs = list(dict.fromkeys(p for s in solutions for p in s.assignments))
    placements: list[Placement] = [p for s in solutions for p in (s.placements or ())]
    unfilled: list[Unfilled] = [u for s in solutions for u in s.unfilled]
    obj = evaluate(problem, pairs, placements)
    bound = sum(s.objective.coverage_bound for s in solutions)
    statuses = {s.status for s in solutions}
    if "INFEASIBLE" in statuses:
        status = "INFEASIBLE"
    elif "UNKNOWN" in statuses:
        status = "UNKNOWN"
    elif statuses <= {"OPTIMAL"} and obj.coverage >= bound:
        status = "OPTIMAL"
    else:
        status = "FEASIBLE"
    return Solution(
        status=status,
        assignments=tuple(sorted(pairs, key=lambda p: (p.shift, p.volunteer))),
        unfilled=tuple(sorted(unfilled, key=lambda u: u.shift)),
        objective=replace(obj, coverage_bound=max(bound, obj.coverage)),
        solve_seconds=seconds
        if seconds is not None
        else max((s.solve_seconds for s in solutions), default=0.0),
        placements=tuple(placements) if problem.has_placements else None,
    )


def _solve_part(problem: Problem, limit: float, deadline: float, cpsat_workers: int) -> Solution:
    # ``deadline`` is wall-clock (time.time()), shared across processes: a part
    # that starts late gets what is left rather than its full share.
    limit = max(0.5, min(limit, deadline - time.time()))
    return solve_one(problem, time_limit_s=limit, workers=cpsat_workers)


# Seconds of wall time per million candidate triples kept back for assembling
# the whole plan after the parts (repair pass, metrics, unfilled reasons).
ASSEMBLY_S_PER_M_TRIPLES = 4.0


def solve(
    problem: Problem,
    *,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    workers: int | None = None,
    on_progress: ProgressFn | None = None,
) -> Solution:
    """Solve ``problem`` within about ``time_limit_s`` seconds of wall time.

    ``workers`` is the number of processes for independent parts, and the
    number of CP-SAT threads when the problem is one part (default: the CPUs).
    ``on_progress`` receives coverage, bound and elapsed time as they improve.

    The result never has less coverage than the first-come plan (``greedy``):
    a decomposed solve completes the merged parts with a first-come pass over
    the whole problem (which adds the pairs the split cut), and the plain
    first-come plan is kept instead if it is still better.
    """
    t0 = time.monotonic()
    n_workers = workers or default_workers()
    feas = prefilter(problem)
    geo: tuple[np.ndarray, np.ndarray, list[int]] | None = None
    floor: list[int] = []
    if len(problem.volunteers) * len(problem.shifts) > GEO_SPLIT_PAIRS:
        # Streets around the first-come plan: each street improves its own
        # part of the plan while the pairs that cross streets stay, so the
        # parts' plans join into one and each part can only add coverage.
        floor = first_come(feas)
        shift_leaf, vol_leaf, n_leaves = _geo_leaves(problem)
        around = [_around_plan(feas, floor, shift_leaf, vol_leaf, k) for k in range(n_leaves)]
        keys = [k for k in range(n_leaves) if around[k] is not None]
        parts = [a for a in around if a is not None]
        geo = (shift_leaf, vol_leaf, keys)
    else:
        # One model is best while it is small enough: CP-SAT sees independent
        # components itself, and there are no processes to start.
        parts = (
            [problem]
            if feas.n_triples <= PART_TRIPLES
            else _components(problem, feas, PART_TRIPLES)
        )
    if len(parts) == 1 and geo is None:
        return solve_feasibility(
            feas, time_limit_s=time_limit_s, workers=n_workers, on_progress=on_progress, started=t0
        )
    sizes = [max(1, len(p.volunteers)) * max(1, len(p.shifts)) for p in parts]
    n_proc = max(1, min(n_workers, len(parts)))
    cpsat_workers = max(1, (os.cpu_count() or 1) // n_proc)
    reserve = 1.0 + ASSEMBLY_S_PER_M_TRIPLES * feas.n_triples / 1e6
    remaining = max(0.5, time_limit_s - (time.monotonic() - t0) - reserve)
    deadline = time.time() + remaining
    lane = sum(sizes) / n_proc
    # Parts run largest first; each gets a share of the time proportional to
    # its size within its lane (its prefilter and model building included).
    limits = [max(0.5, min(remaining, remaining * sz / lane)) for sz in sizes]
    order = sorted(range(len(parts)), key=lambda i: -sizes[i])
    results: dict[int, Solution] = {}

    def report() -> None:
        if on_progress:
            done = list(results.values())
            on_progress(
                Progress(
                    "parts",
                    sum(s.objective.coverage for s in done),
                    sum(s.objective.coverage_bound for s in done),
                    time.monotonic() - t0,
                )
            )

    if n_proc == 1:
        if geo is None:
            floor = first_come(feas)
        for i in order:
            results[i] = _solve_part(parts[i], limits[i], deadline, n_workers)
            report()
    else:
        # spawn, not fork: CP-SAT runs threads, and forking a threaded process
        # (the Django worker, a test runner) can deadlock the child.
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=n_proc, mp_context=ctx) as pool:
            futures = {
                pool.submit(_solve_part, parts[i], limits[i], deadline, cpsat_workers): i
                for i in order
            }
            if geo is None:
                # The first-come floor is computed while the parts start up.
                floor = first_come(feas)
            for fut in futures:
                results[futures[fut]] = fut.result()
                report()
    if geo is not None:
        return _join_around(feas, floor, geo, [results[i] for i in range(len(parts))], t0)
    merged = merge_solutions(
        problem, [results[i] for i in range(len(parts))], seconds=time.monotonic() - t0
    )
    return _complete(feas, merged, floor, t0)


def _join_around(
    feas: Feasibility,
    floor: list[int],
    geo: tuple[np.ndarray, np.ndarray, list[int]],
    solutions: list[Solution],
    t0: float,
) -> Solution:
    """Join the streets' plans (see ``_around_plan``) with the crossing pairs of
    ``floor``.  Per street, its own plan is used only if it covers at least as
    much as the floor did there, so the join never covers less than ``floor``."""
    problem = feas.problem
    shift_leaf, vol_leaf, keys = geo
    weight = {s.id: s.weight for s in problem.shifts}
    leaf_of = {s.id: int(shift_leaf[i]) for i, s in enumerate(problem.shifts)}
    floor_pairs = pairs_of(feas, floor)
    floor_placed = {pl.shift: pl for pl in placements_of(feas, floor)}
    f_s = feas.tri_shift[floor] if floor else np.zeros(0, dtype=np.int64)
    f_v = feas.tri_vol[floor] if floor else np.zeros(0, dtype=np.int64)
    crossing = (shift_leaf[f_s] != vol_leaf[f_v]).tolist()
    pairs = [p for p, c in zip(floor_pairs, crossing, strict=True) if c]
    placements = dict(floor_placed)
    inside_floor: dict[int, list[Pair]] = {}
    for p, c in zip(floor_pairs, crossing, strict=True):
        if not c:
            inside_floor.setdefault(leaf_of[p.shift], []).append(p)
    for k, sol in zip(keys, solutions, strict=True):
        mine = [p for p in sol.assignments if leaf_of.get(p.shift) == k]
        base = inside_floor.get(k, [])
        ok = sol.status in ("OPTIMAL", "FEASIBLE")
        if ok and sum(weight[p.shift] for p in mine) >= sum(weight[p.shift] for p in base):
            pairs += mine
            for pl in sol.placements or ():
                if leaf_of.get(pl.shift) == k:
                    placements[pl.shift] = pl
        else:
            pairs += base
    joined = Solution(
        status="FEASIBLE",
        assignments=tuple(pairs),
        unfilled=(),
        objective=Objective(coverage_bound=trivial_bound(feas) + problem.coverage_slack),
        solve_seconds=0.0,
        placements=tuple(placements.values()),
    )
    return _complete(feas, joined, floor, t0)


def _complete(feas: Feasibility, merged: Solution, floor: list[int], t0: float) -> Solution:
    """The merged parts, completed by a first-come pass over the whole problem,
    or the first-come plan ``floor`` if that covers more.  The bound is the
    smaller of the parts' (plus cut slack) and the per-shift seat bound."""
    problem = feas.problem
    start = triples_of(feas, merged.assignments, merged.placements or ())
    completed = greedy_triples(feas, start_triples=start)
    weights = np.array([s.weight for s in problem.shifts] or [0], dtype=np.int64)

    def cov(chosen: list[int]) -> int:
        return int(weights[feas.tri_shift[chosen]].sum()) if chosen else 0

    best = completed if cov(completed) >= cov(floor) else floor
    bound = min(merged.objective.coverage_bound, trivial_bound(feas) + problem.coverage_slack)
    coverage = cov(best)
    status = merged.status
    if status in ("INFEASIBLE", "UNKNOWN") and _pins_honoured(feas, best):
        status = "FEASIBLE"
    if status == "OPTIMAL" and (best is floor or sorted(best) != sorted(start)):
        # The parts were proven optimal, but this is another plan: its lower
        # levels are not.
        status = "FEASIBLE"
    return build_solution(
        feas,
        best,
        status=status,
        coverage_bound=max(bound, coverage),
        seconds=time.monotonic() - t0,
    )


# -- parts solved elsewhere (the web app's task workers) ------------------------


@dataclass(frozen=True)
class PartsPlan:
    """How to solve a problem as separate parts, on any worker, and join them.

    ``parts`` are independent problems; ``time_limits`` their time shares in
    seconds; ``state`` is plain JSON data that ``join_parts`` needs besides the
    problem and the parts' solutions (for a district: the region of each part
    and the first-come plan the regions were cut around)."""

    parts: list[Problem]
    time_limits: list[float]
    state: dict[str, Any]
    # Wall seconds the parts share (each lane's), from the end of planning.
    seconds: float = 0.0


def _placement_out(p: Placement) -> list[Any]:
    return [p.shift, p.start.isoformat(), p.end.isoformat(), p.space]


def _placement_in(row: list[Any]) -> Placement:
    return Placement(row[0], datetime.fromisoformat(row[1]), datetime.fromisoformat(row[2]), row[3])


def plan_parts(
    problem: Problem,
    *,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    workers: int = 2,
    split_pairs: int | None = None,
    region_shifts: int | None = None,
    elapsed_s: float = 0.0,
) -> PartsPlan:
    """The parts ``solve`` would solve in its process pool, for solving them as
    separate tasks instead; join their solutions with ``join_parts``.

    Above ``split_pairs`` volunteer x shift pairs (default ``GEO_SPLIT_PAIRS``)
    the parts are street-sized regions cut around the first-come plan, exactly as
    in ``solve``; below it, connected components packed into parts.  Time shares
    follow ``solve`` too: ``workers`` lanes, largest parts first, with time kept
    back for the join; ``elapsed_s`` is what the caller has already spent.
    """
    t0 = time.monotonic()
    feas = prefilter(problem)
    limit = GEO_SPLIT_PAIRS if split_pairs is None else split_pairs
    state: dict[str, Any]
    if len(problem.volunteers) * len(problem.shifts) > limit:
        floor = first_come(feas)
        shift_leaf, vol_leaf, n_leaves = _geo_leaves(problem, region_shifts)
        around = [_around_plan(feas, floor, shift_leaf, vol_leaf, k) for k in range(n_leaves)]
        keys = [k for k in range(n_leaves) if around[k] is not None]
        parts = [a for a in around if a is not None]
        state = {
            "mode": "geo",
            "region_shifts": region_shifts or REGION_SHIFTS,
            "keys": keys,
            "floor": [[p.shift, p.volunteer] for p in pairs_of(feas, floor)],
            "floor_placements": [_placement_out(p) for p in placements_of(feas, floor)],
        }
    else:
        parts = (
            [problem]
            if feas.n_triples <= PART_TRIPLES
            else _components(problem, feas, PART_TRIPLES)
        )
        state = {"mode": "components"}
    sizes = [max(1, len(p.volunteers)) * max(1, len(p.shifts)) for p in parts]
    lanes = max(1, min(workers, len(parts)))
    reserve = 1.0 + ASSEMBLY_S_PER_M_TRIPLES * feas.n_triples / 1e6
    spent = elapsed_s + time.monotonic() - t0
    remaining = max(0.5, time_limit_s - spent - reserve)
    lane = sum(sizes) / lanes
    limits = [max(0.5, min(remaining, remaining * sz / lane)) for sz in sizes]
    return PartsPlan(parts=parts, time_limits=limits, state=state, seconds=remaining)


def join_parts(
    problem: Problem,
    state: dict[str, Any],
    solutions: Sequence[Solution],
    *,
    started: float | None = None,
) -> Solution:
    """One plan for ``problem`` from the solutions of its ``plan_parts`` parts,
    in their order.  As in ``solve``, it never covers less than first come:
    region plans join around the first-come plan, and a first-come pass over
    the whole problem completes the result."""
    t0 = time.monotonic() if started is None else started
    feas = prefilter(problem)
    if state.get("mode") == "geo":
        floor = triples_of(
            feas,
            [Pair(s, v) for s, v in state["floor"]],
            [_placement_in(row) for row in state["floor_placements"]],
        )
        shift_leaf, vol_leaf, _ = _geo_leaves(problem, int(state["region_shifts"]))
        geo = (shift_leaf, vol_leaf, [int(k) for k in state["keys"]])
        return _join_around(feas, floor, geo, list(solutions), t0)
    if len(solutions) == 1 and solutions[0].status in ("OPTIMAL", "FEASIBLE"):
        # One part is the whole problem: its own solve already kept the floor.
        return solutions[0]
    merged = merge_solutions(problem, solutions, seconds=time.monotonic() - t0)
    return _complete(feas, merged, first_come(feas), t0)


__all__ = [
    "Objective",
    "Pair",
    "PartsPlan",
    "decompose",
    "join_parts",
    "merge_solutions",
    "plan_parts",
    "solve",
]
