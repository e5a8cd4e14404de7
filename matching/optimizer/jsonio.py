"""Reading and writing the JSON documents of ``MATCHING_FORMAT.md``.

Every problem with the input raises ``InputError`` with one line that names the
offending place (``shifts[3].end``), so the CLI can print it and exit 2 instead
of showing a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from .types import (
    INSTANCE_FORMAT,
    SOLUTION_FORMAT,
    STATUSES,
    HistoryEntry,
    Interval,
    Location,
    Objective,
    Pair,
    Placement,
    Problem,
    Shift,
    Solution,
    Space,
    Unfilled,
    Volunteer,
    Weights,
)


class InputError(ValueError):
    """The input is not a valid instance or solution document."""


# -- small typed readers -------------------------------------------------------


def _obj(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected an object")
    return value


def _req(obj: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise InputError(f"{where}: missing field '{key}'")
    return obj[key]


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise InputError(f"{where}: expected a non-empty string")
    return value


def _int(value: Any, where: str) -> int:
    # bool is a subclass of int; true as a headcount is a mistake, not a 1.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{where}: expected an integer")
    return int(value)


def _num(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{where}: expected a number")
    if value != value or value in (float("inf"), float("-inf")):
        raise InputError(f"{where}: expected a finite number")
    return float(value)


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise InputError(f"{where}: expected a list")
    return value


def _strs(value: Any, where: str) -> tuple[str, ...]:
    return tuple(_str(x, f"{where}[{i}]") for i, x in enumerate(_list(value, where)))


def _time(value: Any, where: str) -> datetime:
    text = _str(value, where)
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{where}: '{text}' is not an ISO 8601 date-time") from None
    if t.tzinfo is None or t.utcoffset() is None:
        raise InputError(f"{where}: '{text}' has no timezone offset")
    return t


def _interval(value: Any, where: str) -> Interval:
    obj = _obj(value, where)
    start = _time(_req(obj, "start", where), f"{where}.start")
    end = _time(_req(obj, "end", where), f"{where}.end")
    if end <= start:
        raise InputError(f"{where}: end must be after start")
    return Interval(start, end)


def _location(value: Any, where: str) -> Location:
    obj = _obj(value, where)
    lat = _num(_req(obj, "lat", where), f"{where}.lat")
    lon = _num(_req(obj, "lon", where), f"{where}.lon")
    if not -90.0 <= lat <= 90.0:
        raise InputError(f"{where}.lat: {lat} is out of range [-90, 90]")
    if not -180.0 <= lon <= 180.0:
        raise InputError(f"{where}.lon: {lon} is out of range [-180, 180]")
    return Location(lat, lon)


def _nonneg(value: float, where: str) -> float:
    if value < 0:
        raise InputError(f"{where}: must not be negative")
    return value


def _pair(value: Any, where: str) -> Pair:
    obj = _obj(value, where)
    return Pair(
        _str(_req(obj, "shift", where), f"{where}.shift"),
        _str(_req(obj, "volunteer", where), f"{where}.volunteer"),
    )


# -- instance ------------------------------------------------------------------


def _volunteer(value: Any, where: str) -> Volunteer:
    obj = _obj(value, where)
    availability = tuple(
        _interval(w, f"{where}.availability[{i}]")
        for i, w in enumerate(_list(_req(obj, "availability", where), f"{where}.availability"))
    )
    return Volunteer(
        id=_str(_req(obj, "id", where), f"{where}.id"),
        location=_location(_req(obj, "location", where), f"{where}.location"),
        availability=availability,
        max_minutes=_nonneg(
            _num(_req(obj, "max_minutes", where), f"{where}.max_minutes"), f"{where}.max_minutes"
        ),
        max_travel_km=_nonneg(
            _num(_req(obj, "max_travel_km", where), f"{where}.max_travel_km"),
            f"{where}.max_travel_km",
        ),
        skills=_strs(obj.get("skills", []), f"{where}.skills"),
        languages=_strs(obj.get("languages", []), f"{where}.languages"),
        preferences=_strs(obj.get("preferences", []), f"{where}.preferences"),
        minutes_already=_nonneg(
            _num(obj.get("minutes_already", 0), f"{where}.minutes_already"),
            f"{where}.minutes_already",
        ),
    )


def _optional_str(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    return None if value is None else _str(value, f"{where}.{key}")


def _shift(value: Any, where: str, spaces: Mapping[str, Space]) -> Shift:
    obj = _obj(value, where)
    sid = _str(_req(obj, "id", where), f"{where}.id")
    headcount = _int(_req(obj, "headcount", where), f"{where}.headcount")
    if headcount < 0:
        raise InputError(f"{where}.headcount: must not be negative")
    priority = _int(_req(obj, "priority", where), f"{where}.priority")
    if not 1 <= priority <= 30:
        raise InputError(f"{where}.priority: must be between 1 and 30")
    space_ids = _strs(obj.get("spaces", []), f"{where}.spaces")
    for i, sp in enumerate(space_ids):
        if sp not in spaces:
            raise InputError(f"{where}.spaces[{i}]: unknown space '{sp}'")
    participants = _int(obj.get("participants", 0), f"{where}.participants")
    if participants < 0:
        raise InputError(f"{where}.participants: must not be negative")
    if space_ids and all(spaces[sp].capacity < participants for sp in space_ids):
        raise InputError(
            f"{where}.participants: {participants} exceeds the capacity of every listed space"
        )
    location = (
        _location(obj["location"], f"{where}.location") if obj.get("location") is not None else None
    )
    if location is None and not space_ids:
        raise InputError(f"{where}: missing field 'location'")

    start = end = window = duration = step = None
    if "window" in obj:
        if "start" in obj or "end" in obj:
            raise InputError(f"{where}: a shift has either start/end or a window, not both")
        window = _interval(obj["window"], f"{where}.window")
        duration = _int(_req(obj, "duration_min", where), f"{where}.duration_min")
        step = _int(_req(obj, "step_min", where), f"{where}.step_min")
        if duration <= 0:
            raise InputError(f"{where}.duration_min: must be positive")
        if step <= 0:
            raise InputError(f"{where}.step_min: must be positive")
        if (window.end - window.start).total_seconds() < duration * 60:
            raise InputError(f"{where}.window: shorter than duration_min")
    else:
        start = _time(_req(obj, "start", where), f"{where}.start")
        end = _time(_req(obj, "end", where), f"{where}.end")
        if end <= start:
            raise InputError(f"{where}: end must be after start")
    return Shift(
        id=sid,
        headcount=headcount,
        priority=priority,
        location=location,
        start=start,
        end=end,
        skills=_strs(obj.get("skills", []), f"{where}.skills"),
        languages=_strs(obj.get("languages", []), f"{where}.languages"),
        category=_optional_str(obj, "category", where),
        beneficiary=_optional_str(obj, "beneficiary", where),
        window=window,
        duration_min=duration,
        step_min=step,
        spaces=space_ids,
        participants=participants,
    )


def _space(value: Any, where: str) -> Space:
    obj = _obj(value, where)
    capacity = _int(_req(obj, "capacity", where), f"{where}.capacity")
    if capacity < 0:
        raise InputError(f"{where}.capacity: must not be negative")
    free = tuple(
        _interval(w, f"{where}.free[{i}]")
        for i, w in enumerate(_list(_req(obj, "free", where), f"{where}.free"))
    )
    return Space(
        id=_str(_req(obj, "id", where), f"{where}.id"),
        location=_location(_req(obj, "location", where), f"{where}.location"),
        capacity=capacity,
        free=free,
    )


_WEIGHT_ALIASES = {
    "travel_km": "travel_km",
    "travel": "travel_km",
    "fairness_spread_min": "fairness_spread_min",
    "fairness": "fairness_spread_min",
    "continuity": "continuity",
    "preference_matches": "preference_matches",
    "preference": "preference_matches",
    "preferences": "preference_matches",
}


def _weights(value: Any) -> Weights:
    obj = _obj(value, "weights")
    given: dict[str, float] = {}
    for key, raw in obj.items():
        if key not in _WEIGHT_ALIASES:
            raise InputError(f"weights.{key}: unknown weight")
        given[_WEIGHT_ALIASES[key]] = _nonneg(_num(raw, f"weights.{key}"), f"weights.{key}")
    return Weights(**given)


def _unique(ids: list[str], what: str) -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise InputError(f"{what}: duplicate id '{i}'")
        seen.add(i)


def problem_from_dict(doc: Any) -> Problem:
    """Validate and convert an instance document; raises ``InputError``."""
    root = _obj(doc, "instance")
    fmt = _req(root, "format", "instance")
    if fmt != INSTANCE_FORMAT:
        raise InputError(f"format: expected '{INSTANCE_FORMAT}', got {fmt!r}")
    spaces = tuple(
        _space(s, f"spaces[{i}]") for i, s in enumerate(_list(root.get("spaces", []), "spaces"))
    )
    _unique([s.id for s in spaces], "spaces")
    space_by_id = {s.id: s for s in spaces}
    volunteers = tuple(
        _volunteer(v, f"volunteers[{i}]")
        for i, v in enumerate(_list(_req(root, "volunteers", "instance"), "volunteers"))
    )
    shifts = tuple(
        _shift(s, f"shifts[{i}]", space_by_id)
        for i, s in enumerate(_list(_req(root, "shifts", "instance"), "shifts"))
    )
    _unique([v.id for v in volunteers], "volunteers")
    _unique([s.id for s in shifts], "shifts")
    vids = {v.id for v in volunteers}
    sids = {s.id for s in shifts}

    history: list[HistoryEntry] = []
    for i, h in enumerate(_list(root.get("history", []), "history")):
        where = f"history[{i}]"
        obj = _obj(h, where)
        vid = _str(_req(obj, "volunteer", where), f"{where}.volunteer")
        if vid not in vids:
            raise InputError(f"{where}.volunteer: unknown volunteer '{vid}'")
        visits = _int(_req(obj, "visits", where), f"{where}.visits")
        if visits < 0:
            raise InputError(f"{where}.visits: must not be negative")
        history.append(
            HistoryEntry(vid, _str(_req(obj, "beneficiary", where), f"{where}.beneficiary"), visits)
        )

    def pairs(key: str) -> tuple[Pair, ...]:
        out: list[Pair] = []
        for i, p in enumerate(_list(root.get(key, []), key)):
            pair = _pair(p, f"{key}[{i}]")
            if pair.shift not in sids:
                raise InputError(f"{key}[{i}].shift: unknown shift '{pair.shift}'")
            if pair.volunteer not in vids:
                raise InputError(f"{key}[{i}].volunteer: unknown volunteer '{pair.volunteer}'")
            if pair not in out:
                out.append(pair)
        return tuple(out)

    weights = _weights(root["weights"]) if root.get("weights") is not None else Weights()
    slack = _int(root.get("coverage_slack", 0), "coverage_slack")
    return Problem(
        volunteers=volunteers,
        shifts=shifts,
        history=tuple(history),
        fixed=pairs("fixed"),
        previous=pairs("previous"),
        weights=weights,
        spaces=spaces,
        coverage_slack=max(0, slack),
    )


def _iso(t: datetime) -> str:
    return t.isoformat()


def _loc(loc: Location) -> dict[str, float]:
    return {"lat": loc.lat, "lon": loc.lon}


def _num_out(x: float) -> float | int:
    return int(x) if float(x).is_integer() else x


def problem_to_dict(problem: Problem) -> dict[str, Any]:
    """The instance document; optional fields are written only when set."""
    vols: list[dict[str, Any]] = []
    for v in problem.volunteers:
        d: dict[str, Any] = {
            "id": v.id,
            "location": _loc(v.location),
            "skills": list(v.skills),
            "languages": list(v.languages),
            "availability": [{"start": _iso(w.start), "end": _iso(w.end)} for w in v.availability],
            "max_minutes": _num_out(v.max_minutes),
            "max_travel_km": v.max_travel_km,
        }
        if v.preferences:
            d["preferences"] = list(v.preferences)
        if v.minutes_already:
            d["minutes_already"] = _num_out(v.minutes_already)
        vols.append(d)
    shifts: list[dict[str, Any]] = []
    for s in problem.shifts:
        d = {"id": s.id}
        if s.window is not None:
            d["window"] = {"start": _iso(s.window.start), "end": _iso(s.window.end)}
            d["duration_min"] = s.duration_min
            d["step_min"] = s.step_min
        else:
            start, end = s.times()
            d["start"] = _iso(start)
            d["end"] = _iso(end)
        if s.location is not None:
            d["location"] = _loc(s.location)
        d["headcount"] = s.headcount
        d["skills"] = list(s.skills)
        d["languages"] = list(s.languages)
        d["priority"] = s.priority
        if s.category is not None:
            d["category"] = s.category
        if s.beneficiary is not None:
            d["beneficiary"] = s.beneficiary
        if s.spaces:
            d["spaces"] = list(s.spaces)
            d["participants"] = s.participants
        shifts.append(d)
    doc: dict[str, Any] = {"format": INSTANCE_FORMAT}
    if problem.spaces:
        doc["spaces"] = [
            {
                "id": sp.id,
                "location": _loc(sp.location),
                "capacity": sp.capacity,
                "free": [{"start": _iso(w.start), "end": _iso(w.end)} for w in sp.free],
            }
            for sp in problem.spaces
        ]
    doc["volunteers"] = vols
    doc["shifts"] = shifts
    doc["history"] = [
        {"volunteer": h.volunteer, "beneficiary": h.beneficiary, "visits": h.visits}
        for h in problem.history
    ]
    doc["fixed"] = [{"shift": p.shift, "volunteer": p.volunteer} for p in problem.fixed]
    doc["previous"] = [{"shift": p.shift, "volunteer": p.volunteer} for p in problem.previous]
    if problem.weights != Weights():
        w = problem.weights
        doc["weights"] = {
            "travel_km": w.travel_km,
            "fairness_spread_min": w.fairness_spread_min,
            "continuity": w.continuity,
            "preference_matches": w.preference_matches,
        }
    if problem.coverage_slack:
        doc["coverage_slack"] = problem.coverage_slack
    return doc


# -- solution ------------------------------------------------------------------


def solution_to_dict(solution: Solution) -> dict[str, Any]:
    o = solution.objective
    doc: dict[str, Any] = {
        "format": SOLUTION_FORMAT,
        "status": solution.status,
        "assignments": [{"shift": p.shift, "volunteer": p.volunteer} for p in solution.assignments],
        "unfilled": [
            {"shift": u.shift, "missing": u.missing, "reason": u.reason} for u in solution.unfilled
        ],
        "objective": {
            "coverage": o.coverage,
            "coverage_bound": o.coverage_bound,
            "changes": o.changes,
            "travel_km": round(o.travel_km, 3),
            "fairness_spread_min": _num_out(round(o.fairness_spread_min, 3)),
            "continuity": o.continuity,
            "preference_matches": o.preference_matches,
        },
        "solve_seconds": round(solution.solve_seconds, 3),
    }
    if solution.placements is not None:
        doc["placements"] = [
            {"shift": p.shift, "start": _iso(p.start), "end": _iso(p.end), "space": p.space}
            for p in solution.placements
        ]
    return doc


def solution_from_dict(doc: Any) -> Solution:
    """Read a solution document; ``InputError`` on a structural problem."""
    root = _obj(doc, "solution")
    fmt = _req(root, "format", "solution")
    if fmt != SOLUTION_FORMAT:
        raise InputError(f"format: expected '{SOLUTION_FORMAT}', got {fmt!r}")
    status = _str(_req(root, "status", "solution"), "status")
    if status not in STATUSES:
        raise InputError(f"status: expected one of {', '.join(STATUSES)}")
    assignments = tuple(
        _pair(p, f"assignments[{i}]")
        for i, p in enumerate(_list(_req(root, "assignments", "solution"), "assignments"))
    )
    unfilled: list[Unfilled] = []
    for i, u in enumerate(_list(root.get("unfilled", []), "unfilled")):
        where = f"unfilled[{i}]"
        obj = _obj(u, where)
        unfilled.append(
            Unfilled(
                _str(_req(obj, "shift", where), f"{where}.shift"),
                _int(_req(obj, "missing", where), f"{where}.missing"),
                str(obj.get("reason", "")),
            )
        )
    ob = _obj(_req(root, "objective", "solution"), "objective")

    def num(key: str) -> float:
        return _num(ob.get(key, 0), f"objective.{key}")

    objective = Objective(
        coverage=_int(_req(ob, "coverage", "objective"), "objective.coverage"),
        coverage_bound=_int(ob.get("coverage_bound", 0), "objective.coverage_bound"),
        changes=_int(ob.get("changes", 0), "objective.changes"),
        travel_km=num("travel_km"),
        fairness_spread_min=num("fairness_spread_min"),
        continuity=int(num("continuity")),
        preference_matches=int(num("preference_matches")),
    )
    placements: tuple[Placement, ...] | None = None
    if root.get("placements") is not None:
        pl: list[Placement] = []
        for i, p in enumerate(_list(root["placements"], "placements")):
            where = f"placements[{i}]"
            obj = _obj(p, where)
            pl.append(
                Placement(
                    shift=_str(_req(obj, "shift", where), f"{where}.shift"),
                    start=_time(_req(obj, "start", where), f"{where}.start"),
                    end=_time(_req(obj, "end", where), f"{where}.end"),
                    space=_optional_str(obj, "space", where),
                )
            )
        placements = tuple(pl)
    return Solution(
        status=status,
        assignments=assignments,
        unfilled=tuple(unfilled),
        objective=objective,
        solve_seconds=_num(root.get("solve_seconds", 0.0), "solve_seconds"),
        placements=placements,
    )


# -- files ---------------------------------------------------------------------


def _read_json(path: str | Path) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read file ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None


def load_problem(path: str | Path) -> Problem:
    try:
        return problem_from_dict(_read_json(path))
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    except (RecursionError, OverflowError, TypeError, KeyError, AttributeError) as exc:
        # Pathological documents (absurd nesting, out-of-range dates) are bad
        # input too: one line, never a traceback.
        raise InputError(f"{path}: invalid document ({type(exc).__name__})") from None


def load_solution(path: str | Path) -> Solution:
    try:
        return solution_from_dict(_read_json(path))
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    except (RecursionError, OverflowError, TypeError, KeyError, AttributeError) as exc:
        # Pathological documents (absurd nesting, out-of-range dates) are bad
        # input too: one line, never a traceback.
        raise InputError(f"{path}: invalid document ({type(exc).__name__})") from None


def dumps_problem(problem: Problem) -> str:
    return json.dumps(problem_to_dict(problem), ensure_ascii=False, indent=1)


def dumps_solution(solution: Solution) -> str:
    return json.dumps(solution_to_dict(solution), ensure_ascii=False, indent=1)


def dump_problem(problem: Problem, path: str | Path) -> None:
    Path(path).write_text(dumps_problem(problem) + "\n", encoding="utf-8")


def dump_solution(solution: Solution, path: str | Path) -> None:
    Path(path).write_text(dumps_solution(solution) + "\n", encoding="utf-8")
