"""A proven upper bound on coverage from the LP relaxation (GLOP).

Every hard rule that the CP-SAT model states as a linear row is kept, with the
0/1 variables relaxed to [0, 1]: seat limits, one option per pair, conflict
cliques, hour limits, placement choice and room cliques.  Pins are dropped,
which can only raise the optimum, so the bound stays valid.  The benchmark
compares coverage with it; the solver's own bound comes from CP-SAT.
"""

from __future__ import annotations

import math

from ortools.linear_solver import pywraplp

from .feasibility import Feasibility
from .model import conflict_cliques, hour_rows, interval_cliques


def lp_bound(feas: Feasibility) -> int | None:
    """floor of the LP optimum, or None if GLOP did not reach optimality."""
    lp = pywraplp.Solver.CreateSolver("GLOP")
    if lp is None:
        return None
    n = feas.n_triples
    x = [lp.NumVar(0.0, 1.0, "") for _ in range(n)]
    shifts = feas.problem.shifts
    tri_s = feas.tri_shift.tolist()
    tri_v = feas.tri_vol.tolist()
    tri_o = feas.tri_opt.tolist()

    def row(ts: list[int], hi: float, coeffs: list[float] | None = None) -> None:
        ct = lp.Constraint(-lp.infinity(), hi)
        for k, t in enumerate(ts):
            ct.SetCoefficient(x[t], 1.0 if coeffs is None else coeffs[k])

    by_shift: dict[int, list[int]] = {}
    by_pair: dict[tuple[int, int], list[int]] = {}
    by_opt: dict[int, list[int]] = {}
    for t in range(n):
        by_shift.setdefault(tri_s[t], []).append(t)
        by_pair.setdefault((tri_s[t], tri_v[t]), []).append(t)
        by_opt.setdefault(tri_o[t], []).append(t)
    for si, ts in by_shift.items():
        if len(ts) > shifts[si].headcount:
            row(ts, shifts[si].headcount)
    for ts in by_pair.values():
        if len(ts) > 1:
            row(ts, 1.0)
    for clique in conflict_cliques(feas):
        row(clique, 1.0)
    for ts, secs, cap in hour_rows(feas):
        row(ts, float(cap), [float(c) for c in secs])
    # Placement: y_o in [0, 1], sum over a shift's options <= 1, x_t <= y_o.
    y: dict[int, pywraplp.Variable] = {}
    for si, s in enumerate(shifts):
        opts = [o for o in feas.shift_opts[si] if o in by_opt]
        if not (s.needs_placement or len(feas.shift_opts[si]) > 1) or not opts:
            continue
        total = lp.Constraint(-lp.infinity(), 1.0)
        for o in opts:
            y[o] = lp.NumVar(0.0, 1.0, "")
            total.SetCoefficient(y[o], 1.0)
            for t in by_opt[o]:
                link = lp.Constraint(-lp.infinity(), 0.0)
                link.SetCoefficient(x[t], 1.0)
                link.SetCoefficient(y[o], -1.0)
    by_space: dict[int, list[tuple[int, int, int]]] = {}
    for o in y:
        sp = int(feas.opt_space[o])
        if sp >= 0:
            by_space.setdefault(sp, []).append((int(feas.opt_start[o]), int(feas.opt_end[o]), o))
    for items in by_space.values():
        for clique in interval_cliques(items):
            ct = lp.Constraint(-lp.infinity(), 1.0)
            for o in clique:
                ct.SetCoefficient(y[o], 1.0)
    obj = lp.Objective()
    for t in range(n):
        obj.SetCoefficient(x[t], float(shifts[tri_s[t]].weight))
    obj.SetMaximization()
    if lp.Solve() != pywraplp.Solver.OPTIMAL:
        return None
    # A little slack for floating-point error before rounding down.
    return math.floor(float(obj.Value()) + 1e-6)
