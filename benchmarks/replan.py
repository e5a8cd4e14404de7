"""Re-planning benchmark: single cancellations inside a street plan.

    python -m benchmarks.replan [--cancellations 60] [--seed 1]

Solves a street instance (3,000 volunteers x 2,000 shifts) once, then cancels
assignments one at a time (each from the same plan) and records the time to
the new plan, how many OTHER assignments changed (pairs beyond the cancelled
one and the seat that replaced it), and the latency of the top-5 candidate
list for the same shift.  Writes benchmarks/results/replan.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

from matching.optimizer import (
    candidates,
    check_solution,
    generate,
    problem_from_dict,
    replan,
    solve,
)

RESULTS = Path(__file__).resolve().parent / "results" / "replan.json"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.replan")
    parser.add_argument("--cancellations", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--plan-seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    problem = problem_from_dict(generate(3000, 2000, seed=args.seed, communities=10))
    plan = solve(problem, time_limit_s=args.plan_seconds, workers=2)
    rng = random.Random(args.seed)
    picks = rng.sample(list(plan.assignments), min(args.cancellations, len(plan.assignments)))
    before = {(a.shift, a.volunteer) for a in plan.assignments}
    times: list[float] = []
    others: list[int] = []
    cand_ms: list[float] = []
    invalid = 0
    for a in picks:
        t0 = time.perf_counter()
        new = replan(problem, plan, [(a.shift, a.volunteer)], time_limit_s=1.0)
        times.append(time.perf_counter() - t0)
        after = {(x.shift, x.volunteer) for x in new.assignments}
        changed = (before - {(a.shift, a.volunteer)}) ^ after
        # The seat that replaced the cancellation is the repair, not a change.
        refill = {p for p in changed if p[0] == a.shift and p in after}
        others.append(len(changed - set(list(refill)[:1])))
        if not check_solution(problem, new).ok:
            invalid += 1
        t0 = time.perf_counter()
        candidates(problem, a.shift, 5, assigned=plan.assignments, placements=plan.placements or ())
        cand_ms.append((time.perf_counter() - t0) * 1000)
    doc = {
        "benchmark": "replan",
        "machine": {"cores": os.cpu_count(), "platform": platform.platform()},
        "plan": {
            "status": plan.status,
            "coverage": plan.objective.coverage,
            "assignments": len(plan.assignments),
        },
        "cancellations": len(picks),
        "replan_p50_s": round(statistics.median(times), 3),
        "replan_p95_s": round(_pct(times, 0.95), 3),
        "other_changes_mean": round(statistics.mean(others), 2),
        "other_changes_max": max(others),
        "candidates_p50_ms": round(statistics.median(cand_ms), 2),
        "candidates_p95_ms": round(_pct(cand_ms, 0.95), 2),
        "invalid_plans": invalid,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
    print(
        f"{'cancellations':>14}{'p50 s':>8}{'p95 s':>8}{'other chg':>10}"
        f"{'top5 p50 ms':>12}{'top5 p95 ms':>12}{'invalid':>8}"
    )
    print(
        f"{doc['cancellations']:>14}{doc['replan_p50_s']:>8}{doc['replan_p95_s']:>8}"
        f"{doc['other_changes_mean']:>10}{doc['candidates_p50_ms']:>12}"
        f"{doc['candidates_p95_ms']:>12}{invalid:>8}"
    )
    return 0 if invalid == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
