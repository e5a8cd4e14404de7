"""The lexicographic objective: coverage, then changes, then the soft score.
A lower level may be traded for a higher one, never the other way round."""

from __future__ import annotations

from matching.optimizer import check_solution, solve

from .helpers import instance, north, pairs_of, problem, shift, volunteer


def _solve(doc):
    p = problem(doc)
    sol = solve(p, time_limit_s=2.0, workers=1)
    assert check_solution(p, sol).ok
    return sol


def test_priority_weights_coverage():
    """One priority-5 seat (16) beats fifteen priority-1 seats (15)."""
    ones = [shift(f"low{i}", "09:00", "10:00", priority=1, headcount=1) for i in range(15)]
    vols = [volunteer(f"v{i}", max_minutes=60) for i in range(15)]
    # Every volunteer could do a low shift; only v0 can do the high one, which
    # overlaps: taking it costs one low seat but gains 16 - 1.
    high = shift("high", "09:30", "10:30", priority=5, skills=["first_aid"])
    vols[0]["skills"] = ["elder_care", "first_aid"]
    sol = _solve(instance(vols, [*ones, high]))
    assert ("high", "v0") in pairs_of(sol)
    assert sol.objective.coverage == 16 + 14
    assert sol.status == "OPTIMAL"
    assert sol.objective.coverage_bound == sol.objective.coverage


def test_coverage_beats_changes():
    """The previous plan is given up when that fills a more important seat."""
    doc = instance(
        [volunteer("v1")],
        [shift("s1", "09:00", "10:00", priority=1), shift("s2", "09:30", "10:30", priority=4)],
        previous=[{"shift": "s1", "volunteer": "v1"}],
    )
    sol = _solve(doc)
    assert pairs_of(sol) == {("s2", "v1")}
    assert sol.objective.changes == 1


def test_changes_beat_soft_score():
    """The previous (far, unpreferred) volunteer stays rather than a better match."""
    doc = instance(
        [
            volunteer("far", location=north(2.5)),
            volunteer("near", preferences=["elder_care"]),
        ],
        [shift("s1", "09:00", "10:00", category="elder_care")],
        previous=[{"shift": "s1", "volunteer": "far"}],
    )
    sol = _solve(doc)
    assert pairs_of(sol) == {("s1", "far")}
    assert sol.objective.changes == 0


def test_soft_score_prefers_near_continuity_and_preferences():
    doc = instance(
        [volunteer("far", location=north(2.5)), volunteer("near", location=north(0.2))],
        [shift("s1", "09:00", "10:00")],
    )
    assert pairs_of(_solve(doc)) == {("s1", "near")}
    # Continuity (12 visits x 0.5 = 6) outweighs 2.3 km of extra travel.
    doc["shifts"][0]["beneficiary"] = "r1"
    doc["history"] = [{"volunteer": "far", "beneficiary": "r1", "visits": 12}]
    sol = _solve(doc)
    assert pairs_of(sol) == {("s1", "far")}
    assert sol.objective.continuity == 12


def test_weights_can_be_overridden():
    """By default a preference (2.0) outweighs 1.5 km of travel; with its weight
    set to zero, the nearer volunteer wins."""
    doc = instance(
        [volunteer("far", location=north(1.5), preferences=["tutoring"]), volunteer("near")],
        [shift("s1", "09:00", "10:00", category="tutoring")],
    )
    assert pairs_of(_solve(doc)) == {("s1", "far")}
    doc["weights"] = {"preference_matches": 0.0}
    assert pairs_of(_solve(doc)) == {("s1", "near")}


def test_soft_score_never_costs_coverage():
    """Travel would favour leaving the far seat empty; coverage fills it anyway."""
    doc = instance(
        [volunteer("far", location=north(2.9))],
        [shift("s1", "09:00", "10:00", priority=1)],
        weights={"travel_km": 1000.0},
    )
    assert pairs_of(_solve(doc)) == {("s1", "far")}
