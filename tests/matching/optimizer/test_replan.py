"""Re-planning after a cancellation, and instant replacement candidates."""

from __future__ import annotations

import time

from matching.optimizer import (
    candidates,
    check_solution,
    generate,
    problem_from_dict,
    replan,
    solve,
)


def _plan(seed=11):
    p = problem_from_dict(generate(120, 70, seed=seed, communities=2))
    return p, solve(p, time_limit_s=3.0, workers=1)


def test_replan_changes_few_other_assignments():
    """From a plan with proven-optimal coverage, a cancellation is repaired
    locally: re-planning cannot gain coverage elsewhere, so it has no reason to
    move other people."""
    p, sol = _plan()
    assert sol.objective.coverage == sol.objective.coverage_bound
    before = {(a.shift, a.volunteer) for a in sol.assignments}
    changed = []
    for a in sol.assignments[:: max(1, len(sol.assignments) // 5)][:5]:
        new = replan(p, sol, [(a.shift, a.volunteer)], time_limit_s=1.0)
        after = {(x.shift, x.volunteer) for x in new.assignments}
        assert (a.shift, a.volunteer) not in after
        assert check_solution(p, new).ok, check_solution(p, new).violations[:3]
        others = (before - {(a.shift, a.volunteer)}) ^ after
        # The refilled seat itself may be a new pair; everything else stays.
        changed.append(len(others - {(a.shift, v) for _, v in after}))
        assert new.objective.coverage >= sol.objective.coverage - 2**4
    assert sum(changed) / len(changed) <= 3


def test_candidates_are_ranked_with_reasons():
    p, sol = _plan()
    target = next(s for s in p.shifts if not s.skills)
    t = time.perf_counter()
    top = candidates(p, target.id, 5, assigned=sol.assignments)
    assert time.perf_counter() - t < 1.0  # generous; the benchmark measures the real figure
    assert len(top) <= 5
    assert all(c.reasons and c.distance_km >= 0 for c in top)
    flags = [c.conflict_free for c in top]
    assert flags == sorted(flags, reverse=True)
    on = {a.volunteer for a in sol.assignments if a.shift == target.id}
    assert not on & {c.volunteer for c in top}


def test_candidates_cached_index_gives_the_same_answer():
    p, sol = _plan()
    for s in p.shifts[:10]:
        cached = candidates(p, s.id, 5, assigned=sol.assignments)
        again = candidates(p, s.id, 5, assigned=sol.assignments)
        fresh = candidates(p, s.id, 5, assigned=list(sol.assignments))
        assert cached == again == fresh
