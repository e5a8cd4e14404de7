"""The matching optimizer (志愿者匹配优化): pure Python, no Django, ever.

Frozen dataclasses in (``Problem``), a dataclass out (``Solution``); the JSON
forms are in ``MATCHING_FORMAT.md`` and the CLI is ``python -m matching.optimizer``.

Objective, in strict (lexicographic) order, solved in CP-SAT stages:

1. coverage, maximised: the sum over filled seats of ``2^(priority-1)``;
2. changes from ``previous``, minimised: previous pairs dropped plus new pairs
   on shifts that were in ``previous``;
3. the soft score, minimised, with these default weights (override any of them
   with a ``"weights"`` object in the instance, same key names):

   ====================== ======= ==============================================
   key                    default meaning
   ====================== ======= ==============================================
   ``travel_km``          1.0     per km from home to the shift, summed
   ``fairness_spread_min`` 0.02   per minute of spread (max - min) of
                                  ``minutes_already + assigned minutes`` over
                                  the volunteers who are used
   ``continuity``         0.5     per earlier visit of the same beneficiary
                                  (subtracted: more is better)
   ``preference_matches`` 2.0     per pair whose category the volunteer prefers
                                  (subtracted: more is better)
   ====================== ======= ==============================================

   So one extra preferred category is worth 2 km of travel, and a spread of 100
   minutes is worth 2 km.

Every solve returns at least the coverage of the first-come plan (``greedy``):
that plan is the floor, and the better start CP-SAT gets on top of it is a
scarce-first plan (important, hard-to-fill seats first; seeded restarts on
small models).  ``status`` is ``OPTIMAL`` only when every level is proven; a
plan whose coverage equals ``coverage_bound`` has proven-optimal coverage even
when the soft stage ran out of time (status ``FEASIBLE``).

Public API:

* ``solve(problem, *, time_limit_s=10.0, workers=None, on_progress=None)``
* ``decompose(problem)``, ``merge_solutions(problem, solutions)``
* ``replan(problem, previous_solution, cancelled, time_limit_s=1.0)``,
  ``candidates(problem, shift_id, k=5, assigned=...)``
* ``greedy(problem)`` and ``greedy_solution(problem)``: the first-come baseline
* ``check_solution(problem, solution)``: the independent validator
* ``load_problem``/``dump_problem``/``problem_from_dict``/``problem_to_dict`` and
  the same for solutions; ``generate(...)`` for realistic random instances
"""

from __future__ import annotations

from .check import Report, check_solution
from .generator import generate
from .greedy import greedy
from .jsonio import (
    InputError,
    dump_problem,
    dump_solution,
    dumps_problem,
    dumps_solution,
    load_problem,
    load_solution,
    problem_from_dict,
    problem_to_dict,
    solution_from_dict,
    solution_to_dict,
)
from .model import DEFAULT_TIME_LIMIT_S, greedy_solution, solve_one
from .parallel import decompose, merge_solutions, solve
from .replanning import Candidate, candidates, replan
from .types import (
    HistoryEntry,
    Interval,
    Location,
    Objective,
    Pair,
    Placement,
    Problem,
    Progress,
    Shift,
    Solution,
    Space,
    Unfilled,
    Volunteer,
    Weights,
)

__all__ = [
    "DEFAULT_TIME_LIMIT_S",
    "Candidate",
    "HistoryEntry",
    "InputError",
    "Interval",
    "Location",
    "Objective",
    "Pair",
    "Placement",
    "Problem",
    "Progress",
    "Report",
    "Shift",
    "Solution",
    "Space",
    "Unfilled",
    "Volunteer",
    "Weights",
    "candidates",
    "check_solution",
    "decompose",
    "dump_problem",
    "dump_solution",
    "dumps_problem",
    "dumps_solution",
    "generate",
    "greedy",
    "greedy_solution",
    "load_problem",
    "load_solution",
    "merge_solutions",
    "problem_from_dict",
    "problem_to_dict",
    "replan",
    "solution_from_dict",
    "solution_to_dict",
    "solve",
    "solve_one",
]
