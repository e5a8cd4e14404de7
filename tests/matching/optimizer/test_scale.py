"""Decomposed solves: never below first come, bounds stay proven, fast paths
agree with the simple definitions."""

from __future__ import annotations

import importlib

import pytest

from matching.optimizer import (
    Objective,
    Solution,
    check_solution,
    decompose,
    generate,
    greedy_solution,
    problem_from_dict,
    solve,
)
from matching.optimizer.feasibility import prefilter
from matching.optimizer.model import trivial_bound

parallel = importlib.import_module("matching.optimizer.parallel")
greedy_mod = importlib.import_module("matching.optimizer.greedy")


@pytest.fixture
def split_small(monkeypatch):
    """Make a small instance take the district path: geographic regions with cut pairs."""
    monkeypatch.setattr(parallel, "GEO_SPLIT_PAIRS", 1)
    monkeypatch.setattr(parallel, "REGION_SHIFTS", 30)
    return problem_from_dict(generate(240, 120, seed=3, communities=4))


def test_geo_split_cuts_pairs_and_bounds_them(split_small):
    parts = decompose(split_small)
    assert len(parts) >= 3
    assert sum(len(p.shifts) for p in parts) == len(split_small.shifts)
    assert any(p.coverage_slack > 0 for p in parts)


def test_decomposed_solve_is_at_least_greedy(split_small):
    p = split_small
    sol = solve(p, time_limit_s=3.0, workers=1)
    base = greedy_solution(p)
    report = check_solution(p, sol)
    assert report.ok, report.violations[:5]
    assert sol.objective.coverage >= base.objective.coverage
    assert sol.objective.coverage <= sol.objective.coverage_bound
    assert sol.objective.coverage_bound <= trivial_bound(prefilter(p))


def test_decomposed_solve_falls_back_to_greedy_when_parts_fail(split_small, monkeypatch):
    """Even if every part came back empty, the result is at least first come."""

    def nothing(problem, limit, deadline, workers):
        return Solution("UNKNOWN", (), (), Objective(coverage_bound=10**6), 0.0)

    monkeypatch.setattr(parallel, "_solve_part", nothing)
    p = split_small
    sol = solve(p, time_limit_s=2.0, workers=1)
    assert check_solution(p, sol).ok
    assert sol.objective.coverage >= greedy_solution(p).objective.coverage
    assert sol.status == "FEASIBLE"


def test_greedy_matches_the_first_come_definition():
    """The sorted pass equals the plain definition: volunteers in order, each
    taking every shift (in time order) that still fits."""
    p = problem_from_dict(generate(120, 80, seed=11, communities=2, flexible=0.3))
    feas = prefilter(p)
    fast = greedy_mod.greedy_triples(feas)
    plan = greedy_mod._Plan(feas)
    for v in range(len(p.volunteers)):
        mine = [t for t in range(feas.n_triples) if int(feas.tri_vol[t]) == v]
        mine.sort(key=lambda t: (int(feas.opt_start[feas.tri_opt[t]]), int(feas.tri_opt[t]), t))
        for t in mine:
            if plan.fits(t):
                plan.take(t)
    assert fast == plan.chosen


def test_connected_labels_match_union_find():
    import numpy as np

    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(1, 60))
        m = int(rng.integers(0, 80))
        a = rng.integers(0, n, m)
        b = rng.integers(0, n, m)
        parent = list(range(n))

        def find(x: int, parent: list[int] = parent) -> int:
            while parent[x] != x:
                x = parent[x]
            return x

        for x, y in zip(a.tolist(), b.tolist(), strict=True):
            rx, ry = find(x), find(y)
            if rx != ry:
                parent[max(rx, ry)] = min(rx, ry)
        assert parallel.connected_labels(n, a, b).tolist() == [find(i) for i in range(n)]


def test_streets_around_the_plan_join_validly_with_flexible_shifts(monkeypatch):
    """Streets solved around the first-come plan keep the crossing pairs and
    frozen placements, so the joined plan is valid and at least first come."""
    monkeypatch.setattr(parallel, "GEO_SPLIT_PAIRS", 1)
    monkeypatch.setattr(parallel, "REGION_SHIFTS", 25)
    p = problem_from_dict(generate(200, 100, seed=4, communities=4, flexible=0.3))
    sol = solve(p, time_limit_s=3.0, workers=1)
    report = check_solution(p, sol)
    assert report.ok, report.violations[:5]
    assert sol.objective.coverage >= greedy_solution(p).objective.coverage
    assert sol.objective.coverage <= sol.objective.coverage_bound
