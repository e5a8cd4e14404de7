"""The CP-SAT model: one helper per constraint family, objective assembled last.

Variables exist only for triples that passed the prefilter (``feasibility``):
``x[t]`` says volunteer ``tri_vol[t]`` works shift ``tri_shift[t]`` placed as
option ``tri_opt[t]``; ``y[o]`` says a flexible or room-needing shift is placed
as option ``o``.

The objective is lexicographic and solved in stages, each stage fixing the
level above it at the best value found:

1. maximise coverage, the sum of ``2^(priority-1)`` over filled seats, and
   within it minimise changes from ``previous``: one objective
   ``M * coverage - changes`` whose ``M`` exceeds the range of the change terms,
   so no number of changes can outweigh one unit of coverage;
2. then, with coverage and changes fixed by constraints at the values found,
   minimise the soft score (skipped when every weight is zero).

So a later level can only be traded for an earlier one, never the other way
round.  Stage 1's CP-SAT bound, decoded, is the proven ``coverage_bound``.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model

from .assemble import build_solution
from .feasibility import (
    Feasibility,
    IntArray,
    candidates_per_shift,
    conflict_matrix,
    prefilter,
)
from .greedy import coverage_of, first_come, greedy_triples, scarce_first
from .types import Pair, Problem, Progress, Solution

DEFAULT_TIME_LIMIT_S = 10.0
# Soft-score weights are floats; CP-SAT wants integers.  Scaling by 1000 keeps
# metres of travel and hundredths of a visit distinguishable.
SOFT_SCALE = 1000

ProgressFn = Callable[[Progress], None]


# -- the proto builder ----------------------------------------------------------------


class ProtoModel:
    """A thin writer straight into CP-SAT's model proto.

    Building through ``CpModel.new_bool_var`` and expression objects costs a few
    microseconds per call, which is most of the wall time at street scale; the
    proto takes whole lists of variable indices in one call instead.
    """

    def __init__(self) -> None:
        self.model = cp_model.CpModel()
        self.proto = self.model.proto
        self._bool: Any = None

    def bools(self, n: int) -> int:
        """Add ``n`` Boolean variables; returns the index of the first."""
        first = len(self.proto.variables)
        if n:
            if self._bool is None:
                self._bool = self.proto.variables.add()
                self._bool.domain.extend([0, 1])
                n -= 1
            self.proto.variables.extend([self._bool] * n)
        return first

    def int_var(self, lo: int, hi: int) -> int:
        v = self.proto.variables.add()
        v.domain.extend([lo, hi])
        return len(self.proto.variables) - 1

    def at_most_one(self, lits: list[int]) -> None:
        self.proto.constraints.add().at_most_one.literals.extend(lits)

    def bool_or(self, lits: list[int], enforce: int | None = None) -> None:
        ct = self.proto.constraints.add()
        if enforce is not None:
            ct.enforcement_literal.append(enforce)
        ct.bool_or.literals.extend(lits)

    def linear(
        self, vars_: list[int], coeffs: list[int], lo: int, hi: int, enforce: int | None = None
    ) -> None:
        ct = self.proto.constraints.add()
        if enforce is not None:
            ct.enforcement_literal.append(enforce)
        ct.linear.vars.extend(vars_)
        ct.linear.coeffs.extend(coeffs)
        ct.linear.domain.extend([lo, hi])

    def objective(self, vars_: list[int], coeffs: list[int], *, maximize: bool) -> None:
        self.proto.clear_objective()
        obj = self.proto.objective
        obj.vars.extend(vars_)
        # The proto always minimises; maximising is minimising the negation with a
        # scaling factor of -1, which makes reported values come out positive.
        obj.coeffs.extend([-c for c in coeffs] if maximize else coeffs)
        obj.scaling_factor = -1.0 if maximize else 1.0

    def hint(self, vars_: list[int], values: list[int]) -> None:
        self.proto.clear_solution_hint()
        self.proto.solution_hint.vars.extend(vars_)
        self.proto.solution_hint.values.extend(values)


@dataclass
class Built:
    pm: ProtoModel
    x0: int  # x[t] is variable x0 + t
    n: int
    y: dict[int, int] = field(default_factory=dict)
    infeasible_pins: bool = False

    @property
    def x(self) -> list[int]:
        return list(range(self.x0, self.x0 + self.n))


def _groups(keys: IntArray) -> list[list[int]]:
    """Triple indices grouped by equal key, each group in index order."""
    if keys.size == 0:
        return []
    order = np.argsort(keys, kind="stable")
    cuts = np.flatnonzero(np.diff(keys[order])) + 1
    return [g.tolist() for g in np.split(order, cuts)]


# -- constraint families -----------------------------------------------------------


def add_seat_limits(pm: ProtoModel, feas: Feasibility, x0: int) -> int:
    """Rule 7: at most ``headcount`` volunteers per shift."""
    added = 0
    shifts = feas.problem.shifts
    for ts in _groups(feas.tri_shift):
        head = shifts[int(feas.tri_shift[ts[0]])].headcount
        if len(ts) > head:
            pm.linear([x0 + t for t in ts], [1] * len(ts), 0, head)
            added += 1
    return added


def add_one_option_per_pair(pm: ProtoModel, feas: Feasibility, x0: int) -> int:
    """Rule 7 again: a volunteer appears once on a shift, whatever its placement."""
    added = 0
    for ts in _groups(feas.tri_shift * len(feas.problem.volunteers) + feas.tri_vol):
        if len(ts) > 1:
            pm.at_most_one([x0 + t for t in ts])
            added += 1
    return added


def add_placement_choice(pm: ProtoModel, feas: Feasibility, x0: int) -> dict[int, int]:
    """Rule 9: a placed shift has one placement, and its volunteers work there."""
    needs = np.array(
        [
            s.needs_placement or len(feas.shift_opts[i]) > 1
            for i, s in enumerate(feas.problem.shifts)
        ]
        or [False],
        dtype=np.bool_,
    )
    y: dict[int, int] = {}
    sel = np.flatnonzero(needs[feas.tri_shift]) if feas.n_triples else np.zeros(0, np.int64)
    by_shift: dict[int, list[int]] = {}
    for grp in _groups(feas.tri_opt[sel]):
        ts = [int(sel[k]) for k in grp]
        o = int(feas.tri_opt[ts[0]])
        yo = pm.bools(1)
        y[o] = yo
        by_shift.setdefault(int(feas.opt_shift[o]), []).append(yo)
        for t in ts:
            pm.bool_or([yo], enforce=x0 + t)
        # A placement without volunteers would only block the room for others.
        pm.bool_or([x0 + t for t in ts], enforce=yo)
    for ys in by_shift.values():
        if len(ys) > 1:
            pm.at_most_one(ys)
    return y


def add_room_conflicts(pm: ProtoModel, feas: Feasibility, y: dict[int, int]) -> int:
    """Rule 9: placements in one space never overlap (interval-graph cliques)."""
    by_space: dict[int, list[int]] = {}
    for o in y:
        sp = int(feas.opt_space[o])
        if sp >= 0:
            by_space.setdefault(sp, []).append(o)
    added = 0
    for opts in by_space.values():
        for clique in interval_cliques(
            [(int(feas.opt_start[o]), int(feas.opt_end[o]), o) for o in opts]
        ):
            pm.at_most_one([y[o] for o in clique])
            added += 1
    return added


def interval_cliques(items: list[tuple[int, int, int]]) -> list[list[int]]:
    """Maximal cliques of an interval graph by a sweep: the set of intervals
    alive just before some interval ends, whenever one started since the last end."""
    events: list[tuple[int, int, int]] = []
    for a, b, key in items:
        events.append((a, 1, key))
        events.append((b, 0, key))
    events.sort()  # ends (0) before starts (1) at equal times: half-open intervals
    alive: dict[int, None] = {}
    grew = False
    out: list[list[int]] = []
    for _, kind, key in events:
        if kind == 1:
            alive[key] = None
            grew = True
        else:
            if grew and len(alive) > 1:
                out.append(list(alive))
            grew = False
            alive.pop(key, None)
    return out


def clique_cover(adj: npt.NDArray[np.bool_]) -> list[list[int]]:
    """Greedy edge clique cover of a conflict graph whose nodes are in time order.

    Every conflicting pair ends up in at least one clique, so one at-most-one per
    clique is exactly rule 5, with far fewer constraints than one per pair.
    Rows are Python ints used as bitsets, which keeps the inner loop cheap.
    """
    n = adj.shape[0]
    packed = np.packbits(adj, axis=1, bitorder="little")
    rows = [int.from_bytes(packed[i].tobytes(), "little") for i in range(n)]
    uncovered = [rows[i] >> (i + 1) << (i + 1) for i in range(n)]
    cliques: list[list[int]] = []
    for i in range(n):
        while uncovered[i]:
            cand = rows[i] >> (i + 1) << (i + 1)
            clique = [i]
            mask = 1 << i
            for pool in (uncovered[i], cand):
                bits = pool & cand
                while bits:
                    low = bits & -bits
                    j = low.bit_length() - 1
                    if cand >> j & 1:
                        clique.append(j)
                        mask |= low
                        cand &= rows[j]
                    bits &= ~low
                    bits &= cand
            for a in clique:
                uncovered[a] &= ~mask
            cliques.append(sorted(clique))
    return cliques


def conflict_cliques(feas: Feasibility) -> list[list[int]]:
    """Rule 5 as cliques of triple indices, per volunteer (see ``clique_cover``)."""
    out: list[list[int]] = []
    if feas.n_triples == 0:
        return out
    order = np.lexsort((feas.opt_start[feas.tri_opt], feas.tri_vol))
    cuts = np.flatnonzero(np.diff(feas.tri_vol[order])) + 1
    for group in np.split(order, cuts):
        if group.size < 2:
            continue
        adj = conflict_matrix(feas, feas.tri_opt[group])
        if not adj.any():
            continue
        g = group.tolist()
        for clique in clique_cover(adj):
            out.append([g[k] for k in clique])
    return out


def add_volunteer_conflicts(pm: ProtoModel, feas: Feasibility, x0: int) -> int:
    """Rule 5: per volunteer, candidate shifts that clash form cliques (at most one)."""
    cliques = conflict_cliques(feas)
    for clique in cliques:
        pm.at_most_one([x0 + t for t in clique])
    return len(cliques)


def hour_rows(feas: Feasibility) -> list[tuple[list[int], list[int], int]]:
    """Rule 6 rows (triples, seconds, cap) for volunteers who could exceed their cap."""
    dur = (feas.opt_end - feas.opt_start)[feas.tri_opt].tolist()
    shifts = feas.tri_shift.tolist()
    out = []
    for ts in _groups(feas.tri_vol):
        cap = math.floor(feas.problem.volunteers[int(feas.tri_vol[ts[0]])].max_minutes * 60)
        # The most a volunteer could work is one option per shift.
        most: dict[int, int] = {}
        for t in ts:
            most[shifts[t]] = max(most.get(shifts[t], 0), dur[t])
        if sum(most.values()) > cap:
            out.append((ts, [dur[t] for t in ts], cap))
    return out


def add_hour_limits(pm: ProtoModel, feas: Feasibility, x0: int) -> int:
    """Rule 6: a volunteer's shifts sum to at most ``max_minutes``."""
    rows = hour_rows(feas)
    for ts, secs, cap in rows:
        pm.linear([x0 + t for t in ts], secs, 0, cap)
    return len(rows)


def add_pins(pm: ProtoModel, feas: Feasibility, x0: int) -> bool:
    """Rule 8: every fixed pair is worked (in one of its options).  False if impossible."""
    if not feas.problem.fixed:
        return True
    by_pair: dict[tuple[int, int], list[int]] = {}
    for t, (s, v) in enumerate(zip(feas.tri_shift.tolist(), feas.tri_vol.tolist(), strict=True)):
        by_pair.setdefault((s, v), []).append(t)
    ok = True
    for p in feas.problem.fixed:
        ts = by_pair.get((feas.shift_index[p.shift], feas.vol_index[p.volunteer]), [])
        if not ts:
            ok = False
            continue
        pm.linear([x0 + t for t in ts], [1] * len(ts), 1, 1)
    return ok


# -- objective terms ------------------------------------------------------------


def coverage_terms(feas: Feasibility, x0: int) -> tuple[list[int], list[int]]:
    weights = np.array([s.weight for s in feas.problem.shifts] or [0], dtype=np.int64)
    return list(range(x0, x0 + feas.n_triples)), weights[feas.tri_shift].tolist()


def change_terms(feas: Feasibility, x0: int) -> tuple[list[int], list[int], int]:
    """Changes = previous pairs dropped + new pairs on shifts that were in previous."""
    prev = {(feas.shift_index[p.shift], feas.vol_index[p.volunteer]) for p in feas.problem.previous}
    prev_shifts = {s for s, _ in prev}
    terms: list[int] = []
    coeffs: list[int] = []
    for t, key in enumerate(zip(feas.tri_shift.tolist(), feas.tri_vol.tolist(), strict=True)):
        if key in prev:
            terms.append(x0 + t)
            coeffs.append(-1)
        elif key[0] in prev_shifts:
            terms.append(x0 + t)
            coeffs.append(1)
    return terms, coeffs, len(prev)


def soft_terms(pm: ProtoModel, feas: Feasibility, x0: int) -> tuple[list[int], list[int]]:
    """The soft score (lower is better), scaled to integers by ``SOFT_SCALE``.

    Travel, continuity and preferences are per-pair coefficients.  Fairness is
    the spread (max - min) of ``minutes_already + assigned minutes`` over the
    volunteers who are used, which needs a few auxiliary variables.
    """
    p = feas.problem
    w = p.weights
    visits = {(h.volunteer, h.beneficiary): h.visits for h in p.history}
    score = w.travel_km * feas.tri_km
    if visits or w.preference_matches:
        bonus = np.zeros(feas.n_triples, dtype=np.float64)
        for t, (si, vi) in enumerate(
            zip(feas.tri_shift.tolist(), feas.tri_vol.tolist(), strict=True)
        ):
            s = p.shifts[si]
            v = p.volunteers[vi]
            if s.beneficiary is not None:
                bonus[t] += w.continuity * visits.get((v.id, s.beneficiary), 0)
            if s.category is not None and s.category in v.preferences:
                bonus[t] += w.preference_matches
        score = score - bonus
    coeffs_all = np.rint(score * SOFT_SCALE).astype(np.int64)
    nz = np.flatnonzero(coeffs_all)
    terms = (nz + x0).tolist()
    coeffs = coeffs_all[nz].tolist()
    fair = round(w.fairness_spread_min * SOFT_SCALE)
    if fair and feas.n_triples:
        dur_min = np.rint((feas.opt_end - feas.opt_start)[feas.tri_opt] / 60).astype(np.int64)
        groups = _groups(feas.tri_vol)
        already = {
            int(feas.tri_vol[ts[0]]): round(p.volunteers[int(feas.tri_vol[ts[0]])].minutes_already)
            for ts in groups
        }
        top = max(already[int(feas.tri_vol[ts[0]])] + int(dur_min[ts].sum()) for ts in groups)
        hi = pm.int_var(0, top)
        lo = pm.int_var(0, top)
        pm.linear([hi, lo], [1, -1], 0, top)
        for ts in groups:
            a = already[int(feas.tri_vol[ts[0]])]
            used = pm.bools(1)
            xs = [x0 + t for t in ts]
            for xv in xs:
                pm.bool_or([used], enforce=xv)
            pm.bool_or(xs, enforce=used)
            d = dur_min[ts].tolist()
            # hi >= a + sum(d x) and lo <= a + sum(d x), only for used volunteers.
            pm.linear([hi, *xs], [1, *[-c for c in d]], a, 10**9, enforce=used)
            pm.linear([lo, *xs], [1, *[-c for c in d]], -(10**9), a, enforce=used)
        terms += [hi, lo]
        coeffs += [fair, -fair]
    return terms, coeffs


def build(feas: Feasibility) -> Built:
    pm = ProtoModel()
    x0 = pm.bools(feas.n_triples)
    built = Built(pm, x0, feas.n_triples)
    add_seat_limits(pm, feas, x0)
    add_one_option_per_pair(pm, feas, x0)
    built.y = add_placement_choice(pm, feas, x0)
    add_room_conflicts(pm, feas, built.y)
    add_volunteer_conflicts(pm, feas, x0)
    add_hour_limits(pm, feas, x0)
    built.infeasible_pins = not add_pins(pm, feas, x0)
    return built


def trivial_bound(feas: Feasibility) -> int:
    """Each shift filled up to min(headcount, number of candidates): a valid bound."""
    shifts = feas.problem.shifts
    if not shifts:
        return 0
    heads = np.array([s.headcount for s in shifts], dtype=np.int64)
    weights = np.array([s.weight for s in shifts], dtype=np.int64)
    return int((weights * np.minimum(heads, candidates_per_shift(feas))).sum())


class _Reporter(cp_model.CpSolverSolutionCallback):
    """Pushes coverage and bound as CP-SAT improves them (decoded from M*cov - changes)."""

    def __init__(self, fn: ProgressFn, t0: float, cap: int, scale: int, n_plus: int) -> None:
        super().__init__()
        self._fn = fn
        self._t0 = t0
        self._cap = cap
        self._scale = scale
        self._plus = n_plus

    def on_solution_callback(self) -> None:
        value = math.floor((self.objective_value + self._plus + 1e-6) / self._scale)
        bound = math.floor((self.best_objective_bound + self._plus + 1e-6) / self._scale)
        self._fn(Progress("coverage", value, min(self._cap, bound), time.monotonic() - self._t0))


def _hint(built: Built, feas: Feasibility, chosen: list[int]) -> None:
    on = np.zeros(feas.n_triples, dtype=np.int64)
    on[chosen] = 1
    placed = {int(feas.tri_opt[t]) for t in chosen}
    ys = list(built.y.items())
    built.pm.hint(
        [*built.x, *(v for _, v in ys)],
        [*on.tolist(), *(int(o in placed) for o, _ in ys)],
    )


def _run(
    built: Built,
    limit: float,
    workers: int,
    callback: _Reporter | None = None,
    *,
    lp_heavy: bool = False,
) -> tuple[cp_model.CpSolver, Any]:
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.05, limit)
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = 1
    if lp_heavy:
        # The coverage LP is nearly tight on these models: proving optimality
        # is mostly a matter of a strong LP in the search, which CP-SAT's small
        # default portfolios (1-2 workers) leave out.
        if workers == 1:
            solver.parameters.linearization_level = 2
        elif workers == 2:
            solver.parameters.subsolvers.extend(["max_lp", "default_lp"])
    status = solver.solve(built.pm.model, callback) if callback else solver.solve(built.pm.model)
    return solver, status


def _chosen(solver: cp_model.CpSolver, built: Built) -> list[int]:
    values = np.asarray(solver.response_proto.solution, dtype=np.int64)
    if built.n == 0 or values.size == 0:
        return []
    return np.flatnonzero(values[built.x0 : built.x0 + built.n]).tolist()


def default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


# Above this many triples the model is pruned to the nearest candidates per
# shift (plus every pair the greedy plan, the previous plan or a pin uses).  The
# proven bound then comes from the unpruned problem (``trivial_bound``), so it
# stays honest; only the chance of proving optimality is given up.
PRUNE_ABOVE = 60_000
# Up to this many triples a model counts as small: restarts for a good start,
# and an LP-heavy search for the coverage proof.
SMALL_MODEL = 50_000


def subset(feas: Feasibility, keep: IntArray) -> Feasibility:
    """The same prefilter result restricted to the triples ``keep`` (sorted)."""
    return replace(
        feas,
        tri_shift=feas.tri_shift[keep],
        tri_opt=feas.tri_opt[keep],
        tri_vol=feas.tri_vol[keep],
        tri_km=feas.tri_km[keep],
    )


def prune(feas: Feasibility, must: list[int]) -> IntArray:
    """Triples to keep: per shift the ``10 + 3*headcount`` nearest volunteers, plus ``must``."""
    keep = np.zeros(feas.n_triples, dtype=np.bool_)
    keep[must] = True
    pair_best: dict[tuple[int, int], float] = {}
    for s, v, km in zip(
        feas.tri_shift.tolist(), feas.tri_vol.tolist(), feas.tri_km.tolist(), strict=True
    ):
        if km < pair_best.get((s, v), math.inf):
            pair_best[(s, v)] = km
    per_shift: dict[int, list[tuple[float, int]]] = {}
    for (s, v), km in pair_best.items():
        per_shift.setdefault(s, []).append((km, v))
    chosen: set[tuple[int, int]] = set()
    for s, lst in per_shift.items():
        k = 10 + 3 * feas.problem.shifts[s].headcount
        lst.sort()
        chosen.update((s, v) for _, v in lst[:k])
    for t, key in enumerate(zip(feas.tri_shift.tolist(), feas.tri_vol.tolist(), strict=True)):
        if key in chosen:
            keep[t] = True
    return np.flatnonzero(keep)


def solve_feasibility(
    feas: Feasibility,
    *,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    workers: int | None = None,
    on_progress: ProgressFn | None = None,
    started: float | None = None,
) -> Solution:
    """Solve one (already prefiltered) problem in stages; see module docstring."""
    t0 = time.monotonic() if started is None else started
    problem = feas.problem
    n_workers = workers or default_workers()
    cap = trivial_bound(feas)
    slack = problem.coverage_slack
    full = feas

    # Time kept back for turning the plan into a Solution (metrics, reasons).
    budget = time_limit_s - min(
        0.25 * time_limit_s, 0.2 + 0.02 * time_limit_s + 2.5 * feas.n_triples / 1e6
    )
    warm = first_come(feas)
    floor_coverage = coverage_of(feas, warm)
    small = feas.n_triples <= SMALL_MODEL
    # On small models, a second of seeded restarts of the scarce-first plan
    # usually lands on or next to the optimum, which leaves CP-SAT the proof.
    better = scarce_first(
        feas,
        problem.previous,
        tries=200 if small else 1,
        budget_s=min(1.0, 0.15 * time_limit_s) if small else 0.0,
        target=cap,
    )
    if coverage_of(feas, better) > floor_coverage and _pins_ok(feas, better):
        # The hint, and the fallback; the floor stays first come's coverage.
        warm = better
        floor_coverage = coverage_of(feas, warm)
    keep: IntArray | None = None
    if feas.n_triples > PRUNE_ABOVE:
        must = list(warm)
        if problem.previous or problem.fixed:
            pins = {
                (full.shift_index[p.shift], full.vol_index[p.volunteer])
                for p in (*problem.previous, *problem.fixed)
            }
            must += [
                t
                for t, key in enumerate(
                    zip(feas.tri_shift.tolist(), feas.tri_vol.tolist(), strict=True)
                )
                if key in pins
            ]
        keep = prune(feas, must)
        position = np.full(feas.n_triples, -1, dtype=np.int64)
        position[keep] = np.arange(keep.size)
        warm = position[warm].tolist()
        feas = subset(feas, keep)

    def finish(chosen: list[int], status: str, bound: int) -> Solution:
        if keep is not None:
            chosen = keep[chosen].tolist() if chosen else []
        return build_solution(
            full, chosen, status=status, coverage_bound=bound + slack, seconds=time.monotonic() - t0
        )

    built = build(feas)
    if built.infeasible_pins:
        return finish([], "INFEASIBLE", 0)
    _hint(built, feas, warm)

    has_changes = bool(problem.previous)
    w = problem.weights
    has_soft = any((w.travel_km, w.fairness_spread_min, w.continuity, w.preference_matches))

    # Levels 1 and 2 share one objective, M * coverage - changes, with M larger
    # than the whole range of the change terms: then one seat of coverage always
    # outweighs every possible change, so the order is exact, and a re-plan
    # under a tight limit never returns an arbitrary reshuffle of equal coverage.
    cov_vars, cov_coeffs = coverage_terms(feas, built.x0)
    c_vars, c_coeffs, _ = change_terms(feas, built.x0) if has_changes else ([], [], 0)
    n_plus = sum(1 for c in c_coeffs if c > 0)
    scale = n_plus + sum(1 for c in c_coeffs if c < 0) + 1
    combined = dict(zip(cov_vars, (scale * c for c in cov_coeffs), strict=True))
    for var, c in zip(c_vars, c_coeffs, strict=True):
        combined[var] = combined.get(var, 0) - c
    built.pm.objective(list(combined), list(combined.values()), maximize=True)
    remaining = budget - (time.monotonic() - t0)
    reporter = _Reporter(on_progress, t0, cap, scale, n_plus) if on_progress else None
    # Coverage comes first, so it gets most of the time; the soft stage gets the
    # rest, plus whatever stage 1 leaves over when it proves optimality early.
    solver, status = _run(
        built,
        remaining * (0.85 if has_soft else 1.0),
        n_workers,
        reporter,
        lp_heavy=feas.n_triples <= SMALL_MODEL,
    )
    if status == cp_model.INFEASIBLE and keep is None:
        return finish([], "INFEASIBLE", 0)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        # No CP-SAT solution in time: fall back to the first-come plan, honestly
        # labelled.  It is valid unless the pins themselves could not be placed.
        fallback_ok = _pins_honoured(feas, warm)
        return finish(warm if fallback_ok else [], "FEASIBLE" if fallback_ok else "UNKNOWN", cap)
    best = _chosen(solver, built)
    coverage = sum(cov_coeffs[t] for t in best)
    # Any plan has M*coverage - changes_terms <= B and changes_terms <= n_plus,
    # so coverage <= (B + n_plus) / M.  After pruning, CP-SAT's bound only speaks
    # for the pruned model, so only the unpruned problem's bound is proven.
    cp_bound = math.floor((solver.best_objective_bound + n_plus + 1e-6) / scale)
    bound = cap if keep is not None else min(cap, cp_bound)
    all_optimal = status == cp_model.OPTIMAL and coverage >= bound
    if on_progress:
        on_progress(Progress("coverage", coverage, bound, time.monotonic() - t0))
    if has_soft:
        built.pm.linear(cov_vars, cov_coeffs, coverage, sum(cov_coeffs))
        if has_changes:
            on = {built.x0 + t for t in best}
            value = sum(c for var, c in zip(c_vars, c_coeffs, strict=True) if var in on)
            built.pm.linear(c_vars, c_coeffs, -(10**9), value)
        # Soft terms come only now: their fairness variables would slow stage 1.
        s_vars, s_coeffs = soft_terms(built.pm, feas, built.x0)
        built.pm.objective(s_vars, s_coeffs, maximize=False)
        _hint(built, feas, best)
        remaining = budget - (time.monotonic() - t0)
        solver, status = _run(built, remaining, n_workers)
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            best = _chosen(solver, built)
        all_optimal = all_optimal and status == cp_model.OPTIMAL
        if on_progress:
            on_progress(Progress("soft", coverage, bound, time.monotonic() - t0))
    if coverage_of(feas, best) < floor_coverage:
        # Never below first come (a short limit, a pruned model): keep that plan.
        return finish(warm, "FEASIBLE", bound)
    return finish(best, "OPTIMAL" if all_optimal and slack == 0 else "FEASIBLE", bound)


def _pins_ok(feas: Feasibility, chosen: list[int]) -> bool:
    return not feas.problem.fixed or _pins_honoured(feas, chosen)


def _pins_honoured(feas: Feasibility, chosen: list[int]) -> bool:
    got = {(int(feas.tri_shift[t]), int(feas.tri_vol[t])) for t in chosen}
    return all(
        (feas.shift_index[p.shift], feas.vol_index[p.volunteer]) in got for p in feas.problem.fixed
    )


def solve_one(
    problem: Problem,
    *,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
    workers: int | None = None,
    on_progress: ProgressFn | None = None,
) -> Solution:
    """Solve ``problem`` as one CP-SAT model, without decomposing it."""
    t0 = time.monotonic()
    return solve_feasibility(
        prefilter(problem),
        time_limit_s=time_limit_s,
        workers=workers,
        on_progress=on_progress,
        started=t0,
    )


def greedy_solution(problem: Problem) -> Solution:
    """The first-come plan as a full ``Solution`` (the benchmark baseline)."""
    t0 = time.monotonic()
    feas = prefilter(problem)
    chosen = greedy_triples(feas)
    return build_solution(
        feas,
        chosen,
        status="FEASIBLE" if _pins_honoured(feas, chosen) else "UNKNOWN",
        coverage_bound=trivial_bound(feas) + problem.coverage_slack,
        seconds=time.monotonic() - t0,
    )


__all__ = ["DEFAULT_TIME_LIMIT_S", "Pair", "greedy_solution", "solve_feasibility", "solve_one"]
