"""Parts for separate workers: plan_parts + solve each part + join_parts gives a
valid plan, never below first come, through the JSON forms the web app stores."""

from __future__ import annotations

import json

from matching.optimizer import (
    Objective,
    Solution,
    check_solution,
    generate,
    greedy_solution,
    problem_from_dict,
    problem_to_dict,
    solution_from_dict,
    solution_to_dict,
    solve_one,
)
from matching.optimizer.feasibility import prefilter
from matching.optimizer.model import trivial_bound
from matching.optimizer.parallel import join_parts, plan_parts


def _round_trip(problem):
    return problem_from_dict(json.loads(json.dumps(problem_to_dict(problem))))


def test_geo_parts_join_into_a_valid_plan_at_least_first_come():
    problem = problem_from_dict(generate(240, 120, seed=3, communities=4))
    plan = plan_parts(problem, time_limit_s=6.0, workers=2, split_pairs=1, region_shifts=30)
    assert len(plan.parts) >= 3
    assert len(plan.time_limits) == len(plan.parts)
    assert all(0.5 <= t <= 6.0 for t in plan.time_limits)
    state = json.loads(json.dumps(plan.state))  # stored as JSON between workers
    assert state["mode"] == "geo"
    solutions = []
    for part, limit in zip(plan.parts, plan.time_limits, strict=True):
        sol = solve_one(_round_trip(part), time_limit_s=min(limit, 1.0), workers=1)
        solutions.append(solution_from_dict(json.loads(json.dumps(solution_to_dict(sol)))))
    whole = _round_trip(problem)
    joined = join_parts(whole, state, solutions)
    report = check_solution(problem, joined)
    assert report.ok, report.violations[:5]
    assert joined.objective.coverage >= greedy_solution(problem).objective.coverage
    assert joined.objective.coverage <= joined.objective.coverage_bound
    assert joined.objective.coverage_bound <= trivial_bound(prefilter(problem))


def test_failed_parts_still_join_to_first_come():
    problem = problem_from_dict(generate(240, 120, seed=4, communities=4))
    plan = plan_parts(problem, split_pairs=1, region_shifts=30)
    empty = [Solution("UNKNOWN", (), (), Objective(), 0.0) for _ in plan.parts]
    joined = join_parts(problem, plan.state, empty)
    assert check_solution(problem, joined).ok
    assert joined.objective.coverage >= greedy_solution(problem).objective.coverage


def test_small_problem_is_one_part_and_joins_to_itself():
    problem = problem_from_dict(generate(60, 40, seed=5, communities=1))
    plan = plan_parts(problem, time_limit_s=3.0)
    assert plan.state == {"mode": "components"}
    assert plan.parts == [problem]
    sol = solve_one(problem, time_limit_s=2.0, workers=1)
    assert join_parts(problem, plan.state, [sol]) == sol
