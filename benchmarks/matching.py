"""Matching benchmark: coverage vs a proven bound and vs first-come greedy.

    python -m benchmarks.matching [--sizes community,street,district] [--seed 1]

Per size the instance comes from ``python -m matching.optimizer generate``.
The solve runs in a fresh child process so its peak memory (ru_maxrss of the
child and of its own worker processes) is its own.  In the same run we compute
the first-come greedy plan and a proven upper bound: the LP relaxation (GLOP)
for community and street; for the district, whose full LP is too large, the
per-shift seat bound over the whole district, min(headcount, candidates) seats
per shift, which is proven and there much tighter than part LPs plus cut slack.
Writes benchmarks/results/matching.json and prints a table.

The ``flexible`` size (#9) is a street, 3,000 volunteers x 2,000 shifts, of which
30 % are flexible (``generate --flexible 0.3``), with exactly 40 spaces (16
communities give about 40 rooms, halls and fields; the extra ones are dropped with
their references).  In the same run it reports coverage against the LP bound and
against a baseline: fix each need at its earliest feasible slot (a grid start in
its window and, when it needs a space, the first listed space with the capacity
that is free then and not already given to an earlier need), then match with the
same solver and time limit.

    python -m benchmarks.matching --sizes flexible
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from matching.optimizer import (
    Problem,
    Shift,
    check_solution,
    greedy_solution,
    problem_from_dict,
    problem_to_dict,
    solve,
)
from matching.optimizer.bounds import lp_bound
from matching.optimizer.feasibility import prefilter
from matching.optimizer.model import trivial_bound

SIZES: dict[str, dict[str, Any]] = {
    "community": {"volunteers": 300, "shifts": 200, "communities": 1, "time_limit": 5.0},
    "street": {"volunteers": 3000, "shifts": 2000, "communities": 10, "time_limit": 30.0},
    "district": {"volunteers": 20000, "shifts": 12000, "communities": 67, "time_limit": 110.0},
    "flexible": {
        "volunteers": 3000,
        "shifts": 2000,
        "communities": 16,
        "time_limit": 30.0,
        "flexible": 0.3,
        "spaces": 40,
        # Flexible options multiply the LP (about 2 million columns here): it gets
        # its own process and this budget, after which the proven per-shift seat
        # bound stands in and the row says so.
        "lp_budget_s": 600.0,
    },
}
RESULTS = Path(__file__).resolve().parent / "results" / "matching.json"


def _generate(spec: dict[str, Any], seed: int) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "matching.optimizer",
            "generate",
            "--volunteers",
            str(spec["volunteers"]),
            "--shifts",
            str(spec["shifts"]),
            "--communities",
            str(spec["communities"]),
            "--seed",
            str(seed),
            *(["--flexible", str(spec["flexible"])] if spec.get("flexible") else []),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    doc: dict[str, Any] = json.loads(out.stdout)
    if spec.get("spaces"):
        doc = _keep_spaces(doc, int(spec["spaces"]))
    return doc


def _keep_spaces(doc: dict[str, Any], n: int) -> dict[str, Any]:
    """The first `n` spaces; shifts lose references to the others (and their
    participants when no space is left)."""
    spaces = doc.get("spaces", [])
    if len(spaces) < n:
        raise SystemExit(f"the generator made {len(spaces)} spaces, fewer than {n}")
    kept = {sp["id"] for sp in spaces[:n]}
    doc["spaces"] = spaces[:n]
    for shift in doc["shifts"]:
        if "spaces" in shift:
            shift["spaces"] = [i for i in shift["spaces"] if i in kept]
            if not shift["spaces"]:
                del shift["spaces"]
                shift.pop("participants", None)
    return doc


def earliest_slot_baseline(problem: Problem) -> Problem:
    """Each need fixed at its earliest feasible slot, in input order: the first grid
    start (and, if it needs a space, the first listed space holding its participants
    that is free then and not yet given to an earlier need). A need with no such
    slot keeps no options (it cannot be placed either way)."""
    spaces = {sp.id: sp for sp in problem.spaces}
    taken: dict[str, list[tuple[Any, Any]]] = {}
    shifts: list[Shift] = []
    for s in problem.shifts:
        if not s.needs_placement:
            shifts.append(s)
            continue
        minutes = timedelta(minutes=s.minutes)
        chosen: tuple[Any, str | None] | None = None
        for start in s.grid_starts():
            end = start + minutes
            if not s.spaces:
                chosen = (start, None)
                break
            for space_id in s.spaces:
                sp = spaces[space_id]
                if sp.capacity < s.participants:
                    continue
                if not any(i.contains(start, end) for i in sp.free):
                    continue
                if any(a < end and start < b for a, b in taken.get(space_id, [])):
                    continue
                chosen = (start, space_id)
                break
            if chosen:
                break
        if chosen is None:
            continue
        start, sid = chosen
        if sid is not None:
            taken.setdefault(sid, []).append((start, start + minutes))
        shifts.append(
            replace(
                s,
                window=None,
                duration_min=None,
                step_min=None,
                start=start,
                end=start + minutes,
                spaces=(sid,) if sid else (),
                participants=s.participants if sid else 0,
            )
        )
    return replace(problem, shifts=tuple(shifts))


def _lp_child(doc: dict[str, Any], queue: Any) -> None:
    queue.put(lp_bound(prefilter(problem_from_dict(doc))))


def _lp_with_budget(doc: dict[str, Any], budget_s: float) -> int | None:
    """The LP bound computed in a child process, or None when it runs out of time."""
    import queue as queues

    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_lp_child, args=(doc, queue))
    child.start()
    try:
        bound: int | None = queue.get(timeout=budget_s)
    except queues.Empty:
        bound = None
        child.terminate()
    child.join()
    return bound


def _solve_in_child(doc: dict[str, Any], limit: float, workers: int) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_solve_child, args=(doc, limit, workers, queue))
    child.start()
    solved: dict[str, Any] = queue.get()
    child.join()
    return solved


def _solve_child(doc: dict[str, Any], limit: float, workers: int, queue: Any) -> None:
    problem = problem_from_dict(doc)
    proven_at: list[float] = []

    def progress(p: Any) -> None:
        if p.stage == "coverage" and p.coverage >= p.bound and not proven_at:
            proven_at.append(p.elapsed_s)

    t0 = time.monotonic()
    sol = solve(problem, time_limit_s=limit, workers=workers, on_progress=progress)
    wall = time.monotonic() - t0
    rss_kb = (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    )
    report = check_solution(problem, sol)
    queue.put(
        {
            "status": sol.status,
            "coverage": sol.objective.coverage,
            "coverage_bound": sol.objective.coverage_bound,
            "wall_s": round(wall, 2),
            "coverage_proven_at_s": round(proven_at[0], 2) if proven_at else None,
            "peak_rss_mb": round(rss_kb / 1024, 1),
            "valid": report.ok,
            "violations": report.violations[:5],
            "assignments": len(sol.assignments),
            "unfilled_seats": sum(u.missing for u in sol.unfilled),
        }
    )


def run_size(name: str, seed: int, workers: int) -> dict[str, Any]:
    spec = SIZES[name]
    doc = _generate(spec, seed)
    solved = _solve_in_child(doc, spec["time_limit"], workers)

    problem = problem_from_dict(doc)
    t0 = time.monotonic()
    base = greedy_solution(problem)
    greedy_s = time.monotonic() - t0
    t0 = time.monotonic()
    if name == "district":
        # The full LP is too large here, and part LPs plus the cut slack are
        # weak; the per-shift seat bound of the whole district is proven and,
        # at generated densities, within a fraction of a percent of greedy.
        lp: int | None = trivial_bound(prefilter(problem))
        bound_kind = "per-shift seat bound, min(headcount, candidates), whole district"
    elif spec.get("lp_budget_s"):
        lp = _lp_with_budget(doc, float(spec["lp_budget_s"]))
        bound_kind = "LP relaxation (GLOP)"
        if lp is None:
            lp = trivial_bound(prefilter(problem))
            bound_kind = (
                f"per-shift seat bound, min(headcount, candidates): the LP relaxation did"
                f" not finish within {spec['lp_budget_s']:.0f} s"
            )
    else:
        lp = lp_bound(prefilter(problem))
        bound_kind = "LP relaxation (GLOP)"
    lp_s = time.monotonic() - t0
    best_bound = min(b for b in (lp, solved["coverage_bound"]) if b is not None)
    extra: dict[str, Any] = {}
    if spec.get("flexible"):
        fixed = earliest_slot_baseline(problem)
        baseline = _solve_in_child(problem_to_dict(fixed), spec["time_limit"], workers)
        extra = {
            "flexible_share": spec["flexible"],
            "spaces": len(problem.spaces),
            "flexible_shifts": sum(1 for x in problem.shifts if x.is_flexible),
            "space_shifts": sum(1 for x in problem.shifts if x.spaces),
            "earliest_slot_coverage": baseline["coverage"],
            "earliest_slot_valid": baseline["valid"],
            "earliest_slot_unplaceable": len(problem.shifts) - len(fixed.shifts),
            "ratio_to_earliest_slot": round(solved["coverage"] / max(1, baseline["coverage"]), 5),
        }
    return {
        "size": name,
        **{k: spec[k] for k in ("volunteers", "shifts", "communities", "time_limit")},
        "seed": seed,
        "workers": workers,
        **solved,
        "lp_bound": lp,
        "lp_bound_kind": bound_kind,
        "lp_seconds": round(lp_s, 1),
        "ratio_to_bound": round(solved["coverage"] / best_bound, 5) if best_bound else 1.0,
        "greedy_coverage": base.objective.coverage,
        "greedy_seconds": round(greedy_s, 2),
        "ratio_to_greedy": round(solved["coverage"] / max(1, base.objective.coverage), 5),
        **extra,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.matching")
    parser.add_argument("--sizes", default="community,street,district")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    rows = []
    for name in args.sizes.split(","):
        print(f"-- {name} ...", flush=True)
        rows.append(run_size(name.strip(), args.seed, args.workers))
    doc = {
        "benchmark": "matching",
        "machine": {
            "cores": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "runs": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if RESULTS.exists():
        # Keep the other sizes' last results when only some sizes were run.
        done = {r["size"] for r in rows}
        old = json.loads(RESULTS.read_text()).get("runs", [])
        doc["runs"] = [r for r in old if r.get("size") not in done] + rows
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
    head = (
        f"{'size':<10}{'status':<10}{'coverage':>9}{'bound':>9}{'ratio':>8}"
        f"{'greedy':>9}{'vs greedy':>10}{'wall s':>8}{'proven s':>9}{'peak MB':>9}{'valid':>6}"
    )
    print(head)
    for r in rows:
        best = min(b for b in (r["lp_bound"], r["coverage_bound"]) if b is not None)
        proven = r["coverage_proven_at_s"]
        print(
            f"{r['size']:<10}{r['status']:<10}{r['coverage']:>9}{best:>9}"
            f"{r['ratio_to_bound']:>8.4f}{r['greedy_coverage']:>9}{r['ratio_to_greedy']:>10.4f}"
            f"{r['wall_s']:>8.1f}{(f'{proven:.1f}' if proven is not None else '-'):>9}"
            f"{r['peak_rss_mb']:>9.0f}{'yes' if r['valid'] else 'NO':>6}"
        )
    for r in rows:
        if "earliest_slot_coverage" in r:
            print(
                f"{r['size']}: {r['flexible_shifts']} flexible shifts, {r['space_shifts']} needing"
                f" one of {r['spaces']} spaces; earliest-slot-then-match coverage"
                f" {r['earliest_slot_coverage']} ({r['earliest_slot_unplaceable']} needs with no"
                f" feasible slot); joint placement {r['coverage']},"
                f" ratio {r['ratio_to_earliest_slot']:.4f}; bound: {r['lp_bound_kind']}"
            )
    return 0 if all(r["valid"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
