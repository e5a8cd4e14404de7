"""Frozen dataclasses for matching instances and solutions (志愿者匹配).

These mirror the JSON documents in ``MATCHING_FORMAT.md`` one to one.  The web
app builds the same objects from the database, so nothing here may import
Django.  Times are timezone-aware ``datetime`` objects and keep the offset they
were given, so a solution written back to JSON reads like the instance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

INSTANCE_FORMAT = "timebank.matching/1"
SOLUTION_FORMAT = "timebank.matching.solution/1"

STATUSES = ("OPTIMAL", "FEASIBLE", "INFEASIBLE", "UNKNOWN")


@dataclass(frozen=True)
class Location:
    lat: float
    lon: float


@dataclass(frozen=True)
class Interval:
    """A half-open time range ``[start, end)``; ``start < end`` always holds."""

    start: datetime
    end: datetime

    def contains(self, start: datetime, end: datetime) -> bool:
        return self.start <= start and end <= self.end


@dataclass(frozen=True)
class Volunteer:
    """A volunteer profile (志愿者)."""

    id: str
    location: Location
    availability: tuple[Interval, ...]
    max_minutes: float
    max_travel_km: float
    skills: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    preferences: tuple[str, ...] = ()
    minutes_already: float = 0


@dataclass(frozen=True)
class Shift:
    """A shift to staff (班次).

    A fixed shift has ``start`` and ``end``.  A flexible shift has ``window``,
    ``duration_min`` and ``step_min`` instead, and the optimizer chooses the
    start.  ``spaces`` lists the rooms (共享空间) it may use; then one is chosen.
    ``location`` may be absent only when ``spaces`` is set.
    """

    id: str
    headcount: int
    priority: int
    location: Location | None = None
    start: datetime | None = None
    end: datetime | None = None
    skills: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    category: str | None = None
    beneficiary: str | None = None
    window: Interval | None = None
    duration_min: int | None = None
    step_min: int | None = None
    spaces: tuple[str, ...] = ()
    participants: int = 0

    @property
    def is_flexible(self) -> bool:
        return self.window is not None

    @property
    def needs_placement(self) -> bool:
        """True when a solution must say where and when this shift happens."""
        return self.window is not None or bool(self.spaces)

    @property
    def weight(self) -> int:
        """Coverage per filled seat: ``2^(priority-1)``."""
        return 1 << (self.priority - 1)

    def times(self) -> tuple[datetime, datetime]:
        """``(start, end)`` of a shift with a fixed time."""
        if self.start is None or self.end is None:
            raise ValueError(f"shift {self.id} has no fixed time")
        return self.start, self.end

    def flex(self) -> tuple[Interval, int, int]:
        """``(window, duration_min, step_min)`` of a flexible shift."""
        if self.window is None or self.duration_min is None or self.step_min is None:
            raise ValueError(f"shift {self.id} is not flexible")
        return self.window, self.duration_min, self.step_min

    @property
    def minutes(self) -> float:
        if self.duration_min is not None:
            return float(self.duration_min)
        start, end = self.times()
        return (end - start).total_seconds() / 60.0

    def grid_starts(self) -> list[datetime]:
        """Every start on the ``step_min`` grid that keeps the shift in its window."""
        if self.window is None:
            return [self.times()[0]]
        window, duration, step_min = self.flex()
        out: list[datetime] = []
        step = timedelta(minutes=step_min)
        dur = timedelta(minutes=duration)
        t = window.start
        while t + dur <= window.end:
            out.append(t)
            t += step
        return out


@dataclass(frozen=True)
class Space:
    """A shared space (共享空间) with the intervals in which it is free."""

    id: str
    location: Location
    capacity: int
    free: tuple[Interval, ...]


@dataclass(frozen=True)
class HistoryEntry:
    volunteer: str
    beneficiary: str
    visits: int


@dataclass(frozen=True, order=True)
class Pair:
    shift: str
    volunteer: str


@dataclass(frozen=True)
class Weights:
    """Weights of the soft score (level 3); see the package docstring."""

    travel_km: float = 1.0
    fairness_spread_min: float = 0.02
    continuity: float = 0.5
    preference_matches: float = 2.0


@dataclass(frozen=True)
class Problem:
    """A matching instance.

    ``coverage_slack`` is not part of the JSON contract's required fields: it is
    set by ``decompose`` on parts whose feasibility edges were cut, and is an
    upper bound on the coverage those cut pairs could have added.  Solving a part
    adds it to the part's proven bound, so merged bounds stay proven.
    """

    volunteers: tuple[Volunteer, ...]
    shifts: tuple[Shift, ...]
    history: tuple[HistoryEntry, ...] = ()
    fixed: tuple[Pair, ...] = ()
    previous: tuple[Pair, ...] = ()
    weights: Weights = field(default_factory=Weights)
    spaces: tuple[Space, ...] = ()
    coverage_slack: int = 0

    @property
    def has_placements(self) -> bool:
        return any(s.needs_placement for s in self.shifts)


@dataclass(frozen=True)
class Placement:
    shift: str
    start: datetime
    end: datetime
    space: str | None = None


@dataclass(frozen=True)
class Unfilled:
    shift: str
    missing: int
    reason: str


@dataclass(frozen=True)
class Objective:
    coverage: int = 0
    coverage_bound: int = 0
    changes: int = 0
    travel_km: float = 0.0
    fairness_spread_min: float = 0.0
    continuity: int = 0
    preference_matches: int = 0


@dataclass(frozen=True)
class Solution:
    """A solution; ``placements`` is None when the instance needs none."""

    status: str
    assignments: tuple[Pair, ...]
    unfilled: tuple[Unfilled, ...]
    objective: Objective
    solve_seconds: float
    placements: tuple[Placement, ...] | None = None


@dataclass(frozen=True)
class Progress:
    """A progress report while solving; pushed live to social workers' screens."""

    stage: str
    coverage: int
    bound: int
    elapsed_s: float
