"""First-come sign-up: the baseline every peer system uses, and our fallback.

Volunteers sign up in arrival order (their order in the instance).  Each one
walks through the shifts in time order and takes a seat wherever the hard rules
allow: pinned pairs first, then any ``start_with`` pairs (the previous plan, when
this is used as a warm start), then first come, first served.  The first
volunteer on a flexible shift fixes its slot and room for everyone after.
"""

from __future__ import annotations

import math
import time

import numpy as np

from .feasibility import Feasibility, candidates_per_shift, prefilter
from .geo import haversine_km
from .types import Pair, Problem


class _Plan:
    def __init__(self, feas: Feasibility) -> None:
        self.feas = feas
        p = feas.problem
        self.seats = [s.headcount for s in p.shifts]
        self.placed: dict[int, int] = {}  # shift -> option
        self.space_busy: dict[int, list[int]] = {}  # space -> options in use
        self.taken: dict[int, list[int]] = {}  # volunteer -> options worked
        self.seconds: dict[int, int] = {}
        self.on_shift: set[tuple[int, int]] = set()
        self.chosen: list[int] = []  # triple indices
        self.limit = [int(v.max_minutes * 60) for v in p.volunteers]
        # Plain lists: indexing numpy arrays one scalar at a time is slow.
        self.t_shift: list[int] = feas.tri_shift.tolist()
        self.t_opt: list[int] = feas.tri_opt.tolist()
        self.t_vol: list[int] = feas.tri_vol.tolist()
        self.o_start: list[int] = feas.opt_start.tolist()
        self.o_end: list[int] = feas.opt_end.tolist()
        self.o_shift: list[int] = feas.opt_shift.tolist()
        self.o_lat: list[float] = feas.opt_lat.tolist()
        self.o_lon: list[float] = feas.opt_lon.tolist()
        self.o_space: list[int] = feas.opt_space.tolist()
        # No travel gap can exceed the one across the whole bounding box of all
        # places: a gap at least that long never conflicts (no haversine needed).
        if feas.opt_lat.size:
            lat0, lat1 = float(feas.opt_lat.min()), float(feas.opt_lat.max())
            lon0, lon1 = float(feas.opt_lon.min()), float(feas.opt_lon.max())
            span = haversine_km(lat0, lon0, lat1, lon1) + haversine_km(lat0, lon0, lat0, lon1)
            span += haversine_km(lat1, lon0, lat1, lon1)
            self.max_need = (math.ceil(4 * span) + 1) * 60
        else:
            self.max_need = 0

    def conflict(self, a: int, b: int) -> bool:
        """Rule 5, as ``options_conflict`` (same arithmetic, on plain lists)."""
        if self.o_shift[a] == self.o_shift[b]:
            return True
        a0, a1 = self.o_start[a], self.o_end[a]
        b0, b1 = self.o_start[b], self.o_end[b]
        if a0 < b1 and b0 < a1:
            return True
        gap = b0 - a1 if a1 <= b0 else a0 - b1
        la, lo, lb, lob = self.o_lat[a], self.o_lon[a], self.o_lat[b], self.o_lon[b]
        if la == lb and lo == lob:
            return False
        if gap >= self.max_need:
            return False
        return gap < math.ceil(4 * haversine_km(la, lo, lb, lob)) * 60

    def fits(self, t: int, *, pinned: bool = False) -> bool:
        s = self.t_shift[t]
        o = self.t_opt[t]
        v = self.t_vol[t]
        if self.seats[s] <= 0 or (s, v) in self.on_shift:
            return False
        dur = self.o_end[o] - self.o_start[o]
        if not pinned and self.seconds.get(v, 0) + dur > self.limit[v]:
            return False
        if s in self.placed:
            if self.placed[s] != o:
                return False
        else:
            sp = self.o_space[o]
            if sp >= 0:
                a0, a1 = self.o_start[o], self.o_end[o]
                if any(
                    a0 < self.o_end[q] and self.o_start[q] < a1 for q in self.space_busy.get(sp, [])
                ):
                    return False
        if pinned:
            return True
        return not any(self.conflict(o, q) for q in self.taken.get(v, []))

    def take(self, t: int) -> None:
        s = self.t_shift[t]
        o = self.t_opt[t]
        v = self.t_vol[t]
        self.seats[s] -= 1
        if s not in self.placed:
            self.placed[s] = o
            sp = self.o_space[o]
            if sp >= 0:
                self.space_busy.setdefault(sp, []).append(o)
        self.taken.setdefault(v, []).append(o)
        self.seconds[v] = self.seconds.get(v, 0) + self.o_end[o] - self.o_start[o]
        self.on_shift.add((s, v))
        self.chosen.append(t)


def _pair_triples(feas: Feasibility, pairs: tuple[Pair, ...]) -> list[list[int]]:
    """For each pair, its triple indices in index order (empty when it has none)."""
    f = feas
    if not pairs:
        return []
    n_v = max(1, len(f.problem.volunteers))
    keys = f.tri_shift * n_v + f.tri_vol
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    want = np.array(
        [
            f.shift_index.get(p.shift, -1) * n_v + f.vol_index.get(p.volunteer, -1)
            if p.shift in f.shift_index and p.volunteer in f.vol_index
            else -1
            for p in pairs
        ],
        dtype=np.int64,
    )
    lo = np.searchsorted(sorted_keys, want, side="left")
    hi = np.searchsorted(sorted_keys, want, side="right")
    return [
        order[a:b].tolist() if w >= 0 else []
        for w, a, b in zip(want.tolist(), lo.tolist(), hi.tolist(), strict=True)
    ]


def greedy_triples(
    feas: Feasibility,
    start_with: tuple[Pair, ...] = (),
    *,
    order: list[int] | None = None,
    start_triples: list[int] | None = None,
) -> list[int]:
    """Chosen triple indices of the first-come plan (see module docstring).

    One pass over the triples sorted by (volunteer, start time): O(T log T)
    for the sort, then constant work per triple except for the few triples
    that reach the conflict test against the volunteer's own shifts.
    """
    f = feas
    plan = _Plan(f)
    for pairs, pinned in ((f.problem.fixed, True), (start_with, False)):
        for ts in _pair_triples(f, pairs):
            for t in ts:
                if plan.fits(t, pinned=pinned):
                    plan.take(t)
                    break
    # A plan to complete (merged parts of a decomposition): kept where it fits,
    # then first come, first served fills what is left.
    for t in start_triples or ():
        if plan.fits(t):
            plan.take(t)
    if f.n_triples == 0:
        return plan.chosen
    # Each volunteer walks the options in time order: stable sort keeps option
    # order within one start time.
    order_idx = np.lexsort((f.tri_opt, f.opt_start[f.tri_opt], f.tri_vol))
    vol_sorted = f.tri_vol[order_idx]
    n_vol = len(f.problem.volunteers)
    ptr = np.searchsorted(vol_sorted, np.arange(n_vol + 1)).tolist()
    sorted_shift = f.tri_shift[order_idx]
    seats_np = np.array(plan.seats, dtype=np.int64)
    t_shift = plan.t_shift
    seats = plan.seats
    for v in order if order is not None else range(n_vol):
        a, b = ptr[v], ptr[v + 1]
        if a == b:
            continue
        # Skip, in one vectorised step, the triples whose shift is already full
        # (most of them, late in the pass); the rest are tested one by one.
        live = order_idx[a:b][seats_np[sorted_shift[a:b]] > 0]
        for t in live.tolist():
            s = t_shift[t]
            if seats[s] > 0 and plan.fits(t):
                plan.take(t)
                seats_np[s] -= 1
    return plan.chosen


def coverage_of(feas: Feasibility, chosen: list[int]) -> int:
    if not chosen:
        return 0
    weights = np.array([s.weight for s in feas.problem.shifts], dtype=np.int64)
    return int(weights[feas.tri_shift[chosen]].sum())


def scarce_first(
    feas: Feasibility,
    start_with: tuple[Pair, ...] = (),
    *,
    tries: int = 1,
    budget_s: float = 0.0,
    seed: int = 1,
    target: int | None = None,
) -> list[int]:
    """A better start for the solver than first come: seats in order of weight
    per scarcity (priority weight divided by candidates per seat, so hard-to-fill
    important shifts go first), taken by volunteers with the fewest options.

    With ``tries > 1`` the order is also perturbed at random (seeded, so the
    same instance gives the same tries) while ``budget_s`` seconds last, and the
    plan with the most coverage is kept, stopping early at ``target``.
    """
    f = feas
    if f.n_triples == 0:
        return _seeded_plan(f, start_with).chosen
    shifts = f.problem.shifts
    weights = np.array([s.weight for s in shifts], dtype=np.float64)
    heads = np.array([max(1, s.headcount) for s in shifts], dtype=np.float64)
    key = weights / np.maximum(1.0, candidates_per_shift(f) / heads)
    per_vol = np.bincount(f.tri_vol, minlength=len(f.problem.volunteers)).astype(np.float64)
    rng = np.random.default_rng(seed)
    stop = time.monotonic() + budget_s
    best: list[int] = []
    best_cov = -1
    for k in range(max(1, tries)):
        if k and time.monotonic() > stop:
            break
        if k:
            s_noise = rng.uniform(0.7, 1.3, size=len(shifts))
            v_noise = rng.uniform(0.7, 1.3, size=per_vol.size)
            order = np.lexsort(
                (f.tri_km, (per_vol * v_noise)[f.tri_vol], -(key * s_noise)[f.tri_shift])
            )
        else:
            order = np.lexsort((f.tri_km, per_vol[f.tri_vol], -key[f.tri_shift]))
        plan = _seeded_plan(f, start_with)
        seats = plan.seats
        t_shift = plan.t_shift
        for t in order.tolist():
            if seats[t_shift[t]] > 0 and plan.fits(t):
                plan.take(t)
        cov = coverage_of(f, plan.chosen)
        if cov > best_cov:
            best, best_cov = plan.chosen, cov
        if target is not None and best_cov >= target:
            break
    return best


def _seeded_plan(f: Feasibility, start_with: tuple[Pair, ...]) -> _Plan:
    """A plan holding the pins, then whatever of ``start_with`` fits."""
    plan = _Plan(f)
    for ts in _pair_triples(f, f.problem.fixed):
        for t in ts:
            if plan.fits(t, pinned=True):
                plan.take(t)
                break
    for ts in _pair_triples(f, start_with):
        for t in ts:
            if plan.fits(t):
                plan.take(t)
                break
    return plan


def first_come(feas: Feasibility) -> list[int]:
    """The floor every solve must reach: the first-come plan, and when there is
    a previous plan, also the first-come plan that starts from it; the one with
    more coverage (the one that starts from the previous plan on a tie)."""
    plain = greedy_triples(feas)
    if not feas.problem.previous:
        return plain
    warm = greedy_triples(feas, feas.problem.previous)
    return warm if coverage_of(feas, warm) >= coverage_of(feas, plain) else plain


def greedy(problem: Problem) -> list[Pair]:
    """The first-come sign-up plan for ``problem``, as pairs."""
    feas = prefilter(problem)
    return [
        Pair(problem.shifts[int(feas.tri_shift[t])].id, problem.volunteers[int(feas.tri_vol[t])].id)
        for t in greedy_triples(feas)
    ]
