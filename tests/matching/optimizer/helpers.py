"""Small hand-built instances for the optimizer tests."""

from __future__ import annotations

import copy
from typing import Any

from matching.optimizer import Problem, Solution, problem_from_dict, solution_from_dict

HOME = {"lat": 22.54, "lon": 114.06}
DAY = "2026-12-07"


def at(hhmm: str, day: str = DAY) -> str:
    return f"{day}T{hhmm}:00+08:00"


def north(km: float) -> dict[str, float]:
    """A point ``km`` north of HOME."""
    return {"lat": HOME["lat"] + km / 111.195, "lon": HOME["lon"]}


def volunteer(vid: str, **over: Any) -> dict[str, Any]:
    v: dict[str, Any] = {
        "id": vid,
        "location": dict(HOME),
        "skills": ["elder_care"],
        "languages": ["zh"],
        "availability": [{"start": at("08:00"), "end": at("18:00")}],
        "max_minutes": 480,
        "max_travel_km": 3.0,
    }
    v.update(over)
    return v


def shift(sid: str, start: str, end: str, **over: Any) -> dict[str, Any]:
    s: dict[str, Any] = {
        "id": sid,
        "start": at(start),
        "end": at(end),
        "location": dict(HOME),
        "headcount": 1,
        "skills": [],
        "languages": [],
        "priority": 3,
    }
    s.update(over)
    return s


def instance(
    volunteers: list[dict[str, Any]], shifts: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "format": "timebank.matching/1",
        "volunteers": volunteers,
        "shifts": shifts,
    }
    doc.update(extra)
    return copy.deepcopy(doc)


def problem(doc: dict[str, Any]) -> Problem:
    return problem_from_dict(doc)


def hand_solution(
    doc: dict[str, Any],
    pairs: list[tuple[str, str]],
    placements: list[dict[str, Any]] | None = None,
) -> Solution:
    """A solution with the given pairs and honest coverage/unfilled bookkeeping."""
    shifts = {s["id"]: s for s in doc["shifts"]}
    coverage = sum(2 ** (shifts[s]["priority"] - 1) for s, _ in set(pairs))
    filled: dict[str, int] = {}
    for s, _ in set(pairs):
        filled[s] = filled.get(s, 0) + 1
    unfilled = [
        {"shift": sid, "missing": s["headcount"] - filled.get(sid, 0), "reason": "test"}
        for sid, s in shifts.items()
        if s["headcount"] > filled.get(sid, 0)
    ]
    sol: dict[str, Any] = {
        "format": "timebank.matching.solution/1",
        "status": "FEASIBLE",
        "assignments": [{"shift": s, "volunteer": v} for s, v in pairs],
        "unfilled": unfilled,
        "objective": {"coverage": coverage, "coverage_bound": coverage},
        "solve_seconds": 0.0,
    }
    if placements is not None:
        sol["placements"] = placements
    return solution_from_dict(sol)


def pairs_of(solution: Solution) -> set[tuple[str, str]]:
    return {(p.shift, p.volunteer) for p in solution.assignments}
