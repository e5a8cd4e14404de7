"""First-come sign-up: the baseline every peer system uses, and our fallback.

Volunteers sign up in arrival order (their order in the instance).  Each one
walks through the shifts in time order and takes a seat wherever the hard rules
allow: pinned pairs first, then any ``start_with`` pairs (the previous plan, when
this is used as a warm start), then first come, first served.  The first
volunteer on a flexible shift fixes its slot and room for everyone after.
"""

from __future__ import annotations

import numpy as np

from .feasibility import Feasibility, options_conflict, prefilter
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

    def fits(self, t: int, *, pinned: bool = False) -> bool:
        f = self.feas
        s = int(f.tri_shift[t])
        o = int(f.tri_opt[t])
        v = int(f.tri_vol[t])
        if (s, v) in self.on_shift or self.seats[s] <= 0:
            return False
        if s in self.placed:
            if self.placed[s] != o:
                return False
        else:
            sp = int(f.opt_space[o])
            if sp >= 0 and any(
                f.opt_start[o] < f.opt_end[q] and f.opt_start[q] < f.opt_end[o]
                for q in self.space_busy.get(sp, [])
            ):
                return False
        if pinned:
            return True
        dur = int(f.opt_end[o] - f.opt_start[o])
        if self.seconds.get(v, 0) + dur > self.limit[v]:
            return False
        return not any(options_conflict(f, o, q) for q in self.taken.get(v, []))

    def take(self, t: int) -> None:
        f = self.feas
        s = int(f.tri_shift[t])
        o = int(f.tri_opt[t])
        v = int(f.tri_vol[t])
        self.seats[s] -= 1
        if s not in self.placed:
            self.placed[s] = o
            sp = int(f.opt_space[o])
            if sp >= 0:
                self.space_busy.setdefault(sp, []).append(o)
        self.taken.setdefault(v, []).append(o)
        self.seconds[v] = self.seconds.get(v, 0) + int(f.opt_end[o] - f.opt_start[o])
        self.on_shift.add((s, v))
        self.chosen.append(t)


def greedy_triples(
    feas: Feasibility, start_with: tuple[Pair, ...] = (), *, order: list[int] | None = None
) -> list[int]:
    """Chosen triple indices of the first-come plan (see module docstring)."""
    f = feas
    plan = _Plan(f)
    by_pair: dict[tuple[int, int], list[int]] = {}
    for t in range(f.n_triples):
        by_pair.setdefault((int(f.tri_shift[t]), int(f.tri_vol[t])), []).append(t)
    for pairs, pinned in ((f.problem.fixed, True), (start_with, False)):
        for p in pairs:
            key = (f.shift_index.get(p.shift, -1), f.vol_index.get(p.volunteer, -1))
            for t in by_pair.get(key, []):
                if plan.fits(t, pinned=pinned):
                    plan.take(t)
                    break
    # Each volunteer walks the options in time order: stable sort keeps option
    # order within one start time.
    per_vol: dict[int, list[int]] = {}
    order_idx = np.lexsort((f.tri_opt, f.opt_start[f.tri_opt], f.tri_vol))
    for t in order_idx.tolist():
        per_vol.setdefault(int(f.tri_vol[t]), []).append(t)
    for v in order if order is not None else range(len(f.problem.volunteers)):
        for t in per_vol.get(v, []):
            if plan.fits(t):
                plan.take(t)
    return plan.chosen


def greedy(problem: Problem) -> list[Pair]:
    """The first-come sign-up plan for ``problem``, as pairs."""
    feas = prefilter(problem)
    return [
        Pair(problem.shifts[int(feas.tri_shift[t])].id, problem.volunteers[int(feas.tri_vol[t])].id)
        for t in greedy_triples(feas)
    ]
