"""Every hard rule: the solver never breaks it even when breaking it would pay,
and the independent validator rejects a hand-made solution that does."""

from __future__ import annotations

from matching.optimizer import check_solution, solve

from .helpers import at, hand_solution, instance, north, pairs_of, problem, shift, volunteer

LIMIT = 2.0


def _violations(doc, pairs, placements=None):
    return check_solution(problem(doc), hand_solution(doc, pairs, placements)).violations


def _solved(doc):
    p = problem(doc)
    sol = solve(p, time_limit_s=LIMIT, workers=1)
    assert check_solution(p, sol).ok, check_solution(p, sol).violations
    return sol


def test_rule1_available_window_must_contain_the_whole_shift():
    """A shift running past the end of availability is left unfilled."""
    doc = instance([volunteer("v1")], [shift("s1", "17:00", "19:00", priority=5)])
    sol = _solved(doc)
    assert pairs_of(sol) == set()
    assert sol.unfilled[0].missing == 1
    assert any(
        v.startswith("rule 1:") and "s1" in v and "v1" in v
        for v in _violations(doc, [("s1", "v1")])
    )


def test_rule2_skills_are_required():
    """Nobody without first_aid is sent to a first-aid shift."""
    doc = instance([volunteer("v1")], [shift("s1", "09:00", "10:00", skills=["first_aid"])])
    sol = _solved(doc)
    assert pairs_of(sol) == set()
    assert "first_aid" in sol.unfilled[0].reason
    assert any(v.startswith("rule 2:") for v in _violations(doc, [("s1", "v1")]))


def test_rule3_a_shared_language_is_required():
    doc = instance([volunteer("v1")], [shift("s1", "09:00", "10:00", languages=["yue"])])
    sol = _solved(doc)
    assert pairs_of(sol) == set()
    assert "yue" in sol.unfilled[0].reason
    assert any(v.startswith("rule 3:") for v in _violations(doc, [("s1", "v1")]))


def test_rule4_travel_range_is_respected():
    doc = instance([volunteer("v1")], [shift("s1", "09:00", "10:00", location=north(3.2))])
    sol = _solved(doc)
    assert pairs_of(sol) == set()
    assert any(v.startswith("rule 4:") for v in _violations(doc, [("s1", "v1")]))


def test_rule5_no_overlap():
    doc = instance(
        [volunteer("v1")],
        [shift("s1", "09:00", "10:30", priority=4), shift("s2", "10:00", "11:00", priority=4)],
    )
    sol = _solved(doc)
    assert len(pairs_of(sol)) == 1
    assert any(v.startswith("rule 5:") for v in _violations(doc, [("s1", "v1"), ("s2", "v1")]))


def test_rule5_travel_gap_between_places():
    """2 km apart needs ceil(4*2) = 8 minutes; a 5-minute gap is too short."""
    doc = instance(
        [volunteer("v1", location=north(1.0))],
        [shift("s1", "09:00", "10:00"), shift("s2", "10:05", "11:00", location=north(2.0))],
    )
    sol = _solved(doc)
    assert len(pairs_of(sol)) == 1
    bad = _violations(doc, [("s1", "v1"), ("s2", "v1")])
    assert any(v.startswith("rule 5:") and "travel" in v for v in bad)
    # Same place, back to back, is fine.
    doc2 = instance(
        [volunteer("v1")], [shift("s1", "09:00", "10:00"), shift("s2", "10:00", "11:00")]
    )
    assert len(pairs_of(_solved(doc2))) == 2


def test_rule6_hour_limit():
    doc = instance(
        [volunteer("v1", max_minutes=90)],
        [shift("s1", "09:00", "10:00"), shift("s2", "11:00", "12:00")],
    )
    sol = _solved(doc)
    assert len(pairs_of(sol)) == 1
    assert any(v.startswith("rule 6:") for v in _violations(doc, [("s1", "v1"), ("s2", "v1")]))


def test_rule7_headcount_and_no_duplicates():
    doc = instance([volunteer("v1"), volunteer("v2")], [shift("s1", "09:00", "10:00", priority=5)])
    sol = _solved(doc)
    assert len(pairs_of(sol)) == 1
    assert any(v.startswith("rule 7:") for v in _violations(doc, [("s1", "v1"), ("s1", "v2")]))
    assert any("twice" in v for v in _violations(doc, [("s1", "v1"), ("s1", "v1")]))


def test_rule8_pins_are_kept_even_when_costly():
    """v1 is pinned to a priority-1 shift that blocks a priority-5 one."""
    doc = instance(
        [volunteer("v1")],
        [shift("s1", "09:00", "10:00", priority=1), shift("s2", "09:30", "10:30", priority=5)],
        fixed=[{"shift": "s1", "volunteer": "v1"}],
    )
    sol = _solved(doc)
    assert pairs_of(sol) == {("s1", "v1")}
    assert any(v.startswith("rule 8:") for v in _violations(doc, [("s2", "v1")]))


def _room_doc():
    room = {
        "id": "sp1",
        "location": north(0.5),
        "capacity": 12,
        "free": [{"start": at("18:00"), "end": at("20:00")}],
    }
    flex = {
        "window": {"start": at("17:00"), "end": at("21:00")},
        "duration_min": 90,
        "step_min": 30,
        "spaces": ["sp1"],
        "participants": 10,
        "headcount": 1,
        "skills": [],
        "languages": [],
        "priority": 5,
        "location": dict(north(0.5)),
    }
    evening = [{"start": at("17:00"), "end": at("22:00")}]
    return instance(
        [volunteer("v1", availability=evening), volunteer("v2", availability=evening)],
        [{"id": "a", **flex}, {"id": "b", **flex}],
        spaces=[room],
    )


def test_rule9_one_room_one_group_at_a_time():
    """Two 90-minute groups cannot share a room free for two hours."""
    doc = _room_doc()
    sol = _solved(doc)
    assert len(pairs_of(sol)) == 1
    assert sol.placements is not None and len(sol.placements) == 1
    pl = sol.placements[0]
    assert pl.space == "sp1"
    assert pl.start.isoformat() in (at("18:00"), at("18:30"))
    overlapping = [
        {"shift": "a", "start": at("18:00"), "end": at("19:30"), "space": "sp1"},
        {"shift": "b", "start": at("18:30"), "end": at("20:00"), "space": "sp1"},
    ]
    bad = _violations(doc, [("a", "v1"), ("b", "v2")], overlapping)
    assert any(v.startswith("rule 9:") and "overlapping" in v for v in bad)


def test_rule9_grid_room_and_capacity():
    doc = _room_doc()
    off_grid = [{"shift": "a", "start": at("18:10"), "end": at("19:40"), "space": "sp1"}]
    assert any("grid" in v for v in _violations(doc, [("a", "v1")], off_grid))
    no_room = [{"shift": "a", "start": at("18:00"), "end": at("19:30"), "space": None}]
    assert any(v.startswith("rule 9:") for v in _violations(doc, [("a", "v1")], no_room))
    missing = _violations(doc, [("a", "v1")], [])
    assert any("exactly one" in v for v in missing)
    doc["spaces"][0]["capacity"] = 20
    doc["shifts"][0]["participants"] = 25
    doc["spaces"].append({**doc["spaces"][0], "id": "sp2", "capacity": 30})
    doc["shifts"][0]["spaces"] = ["sp1", "sp2"]
    small = [{"shift": "a", "start": at("18:00"), "end": at("19:30"), "space": "sp1"}]
    assert any("holds 20" in v for v in _violations(doc, [("a", "v1")], small))


def test_unfilled_bookkeeping_is_checked():
    doc = instance([volunteer("v1")], [shift("s1", "09:00", "10:00", headcount=2)])
    p = problem(doc)
    sol = hand_solution(doc, [("s1", "v1")])
    assert check_solution(p, sol).ok
    from dataclasses import replace

    lying = replace(sol, unfilled=())
    assert any(v.startswith("unfilled:") for v in check_solution(p, lying).violations)
    wrong = replace(sol, objective=replace(sol.objective, coverage=99))
    assert any(v.startswith("objective:") for v in check_solution(p, wrong).violations)
