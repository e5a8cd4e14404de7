"""Fair allocation of an oversubscribed weekly release (每周放号公平分配).

Requests are collected until the round's cutoff, then one CP-SAT model decides
them all at once, so speed of clicking earns nothing.

Fairness measure, in strict priority (weights make each level dominate the
next, so this is a lexicographic optimum):
1. the number of requests granted (utilisation first: no slot left idle that
   someone asked for);
2. the number of distinct people granted at least one request (spread the
   grants: a second slot for one person never beats a first slot for another);
3. the fewest recent grants among the people granted: each grant scores
   `RECENT_CAP - min(recent, RECENT_CAP)`, where `recent` counts the person's
   bookings of this space in the round's look-back window (default 28 days).
Hard constraints: no two granted requests overlap on an exclusive space (nor
overlap an existing booking); a session's seats are not exceeded; each
person's weekly quota (bookings and minutes) and active-booking cap hold,
counting what they already have.

The model itself (`solve`) is pure: dataclasses in, a dataclass out.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ortools.sat.python import cp_model

from resources import availability as av
from resources.booking import (
    after_commit_schedule,
    announce,
    book_locked,
    check_request,
    initial_state,
)
from resources.models import (
    ACTIVE_STATUSES,
    AllocationRequest,
    AllocationRound,
    RequestStatus,
    Reservation,
    RoundStatus,
    Space,
    SpaceMode,
)
from timebank import events, permissions
from timebank.errors import ApplicationError, Conflict, InvalidInput, NotFound, field_error
from timebank.people.models import Member

RECENT_CAP = 20
TIME_LIMIT_S = 10.0


# --- the pure model ---------------------------------------------------------------


@dataclass(frozen=True)
class Ask:
    id: int
    person: int
    start: int  # minutes from the week's start
    end: int
    seats: int
    recent: int


@dataclass(frozen=True)
class Problem:
    asks: tuple[Ask, ...]
    exclusive: bool
    capacity: int
    busy: tuple[tuple[int, int], ...] = ()  # exclusive: periods already taken
    seats_taken: dict[int, int] = field(default_factory=dict)  # session start → seats
    quota_bookings: dict[int, int] = field(default_factory=dict)  # person → grants left
    quota_minutes: dict[int, int] = field(default_factory=dict)  # person → minutes left


@dataclass(frozen=True)
class Allocation:
    granted: frozenset[int]
    status: str
    people_served: int
    wall_s: float


def solve(problem: Problem, *, time_limit_s: float = TIME_LIMIT_S) -> Allocation:
    started = time.perf_counter()
    model = cp_model.CpModel()
    asks = [
        a
        for a in problem.asks
        if not (problem.exclusive and any(s < a.end and e > a.start for s, e in problem.busy))
    ]
    x = {a.id: model.new_bool_var(f"x{a.id}") for a in asks}
    if problem.exclusive:
        # At every start point, the asks covering it are pairwise overlapping.
        for point in sorted({a.start for a in asks}):
            covering = [x[a.id] for a in asks if a.start <= point < a.end]
            if len(covering) > 1:
                model.add_at_most_one(covering)
    else:
        by_start: dict[int, list[Ask]] = {}
        for a in asks:
            by_start.setdefault(a.start, []).append(a)
        for start, group in by_start.items():
            left = problem.capacity - problem.seats_taken.get(start, 0)
            model.add(sum(a.seats * x[a.id] for a in group) <= max(left, 0))
    people: dict[int, list[Ask]] = {}
    for a in asks:
        people.setdefault(a.person, []).append(a)
    served = {}
    for person, mine in people.items():
        if person in problem.quota_bookings:
            model.add(sum(x[a.id] for a in mine) <= max(problem.quota_bookings[person], 0))
        if person in problem.quota_minutes:
            model.add(
                sum((a.end - a.start) * x[a.id] for a in mine)
                <= max(problem.quota_minutes[person], 0)
            )
        y = model.new_bool_var(f"served{person}")
        model.add(y <= sum(x[a.id] for a in mine))
        served[person] = y
    fairness_max = len(asks) * RECENT_CAP
    w_people = fairness_max + 1
    w_grants = (len(people) + 1) * w_people
    model.maximize(
        w_grants * sum(x.values())
        + w_people * sum(served.values())
        + sum((RECENT_CAP - min(a.recent, RECENT_CAP)) * x[a.id] for a in asks)
    )
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = 2
    code = solver.solve(model)
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return Allocation(frozenset(), solver.status_name(code), 0, time.perf_counter() - started)
    granted = frozenset(a.id for a in asks if solver.value(x[a.id]))
    persons = len({a.person for a in asks if a.id in granted})
    return Allocation(granted, solver.status_name(code), persons, time.perf_counter() - started)


# --- services around it -------------------------------------------------------------


def week_bounds(week_start: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(week_start, dt.time(), av.tz())
    return start, start + dt.timedelta(days=7)


def round_get(*, round_id: int) -> AllocationRound:
    rnd = AllocationRound.objects.select_related("space").filter(pk=round_id).first()
    if rnd is None:
        raise NotFound(_("分配轮次不存在"), code="round_not_found")
    return rnd


def request_out(r: AllocationRequest) -> dict[str, Any]:
    return {
        "id": r.pk,
        "member": r.member_id,
        "start": timezone.localtime(r.start),
        "end": timezone.localtime(r.end),
        "status": r.status,
        "reservation": r.reservation_id,
    }


def round_out(rnd: AllocationRound) -> dict[str, Any]:
    return {
        "id": rnd.pk,
        "space": rnd.space_id,
        "week_start": rnd.week_start,
        "cutoff": timezone.localtime(rnd.cutoff),
        "status": rnd.status,
        "objective": rnd.objective,
        "requests": [request_out(r) for r in rnd.requests.order_by("pk")],
    }


def round_create(
    *,
    actor: Member,
    space: Space,
    week_start: dt.date,
    cutoff: dt.datetime,
    lookback_days: int = 28,
) -> AllocationRound:
    """Open a weekly release: requests until `cutoff`, then allocation (a task
    scheduled at the cutoff, or the manager's explicit call)."""
    from resources.tasks import allocation_round_task

    permissions.require(actor, "space.manage", space.community_id)
    if week_start.isoweekday() != 1:
        raise field_error("week_start", _("须为周一"), code="invalid_week")
    if timezone.is_naive(cutoff) or cutoff <= timezone.now():
        raise field_error("cutoff", _("截止时间须在未来"), code="invalid_period")
    if cutoff >= week_bounds(week_start)[0]:
        raise field_error("cutoff", _("截止时间须早于该周开始"), code="invalid_period")
    try:
        with transaction.atomic(durable=True):
            rnd = AllocationRound.objects.create(
                space=space,
                week_start=week_start,
                cutoff=cutoff,
                lookback_days=lookback_days,
                created_by=actor,
            )
            rid = rnd.pk
            transaction.on_commit(
                lambda: allocation_round_task.using(run_after=cutoff).enqueue(rid)
            )
    except IntegrityError:
        raise Conflict(_("该周已有分配轮次"), code="round_exists") from None
    return rnd


def request_create(
    *, member: Member, round_id: int, start: dt.datetime, end: dt.datetime, party_size: int = 1
) -> AllocationRequest:
    rnd = round_get(round_id=round_id)
    space = rnd.space
    permissions.require(member, "reservation.create", space.community_id)
    now = timezone.now()
    if rnd.status != RoundStatus.OPEN or now >= rnd.cutoff:
        raise Conflict(_("该轮次已截止"), code="round_closed")
    lo, hi = week_bounds(rnd.week_start)
    if start < lo or end > hi:
        raise InvalidInput(_("所选时段不在本轮的周内"), code="outside_round_week")
    companions = [{"name": "-"}] * (party_size - 1)
    check_request(
        space=space,
        member=member,
        start=start,
        end=end,
        party_size=party_size,
        companions=companions,
        guardian=None,
        now=now,
        manager_override=True,
    )
    try:
        with transaction.atomic(durable=True):
            return AllocationRequest.objects.create(
                round=rnd, member=member, start=start, end=end, party_size=party_size
            )
    except IntegrityError:
        raise Conflict(_("你已申请该时段"), code="already_requested") from None


def problem_for(rnd: AllocationRound, requests: list[AllocationRequest]) -> Problem:
    """Load everything the model needs once; the model never touches the ORM."""
    space = rnd.space
    lo, hi = week_bounds(rnd.week_start)
    now = timezone.now()

    def minutes(t: dt.datetime) -> int:
        return int((t - lo).total_seconds() // 60)

    since = now - dt.timedelta(days=rnd.lookback_days)
    people = sorted({r.member_id for r in requests})
    recent: dict[int, int] = {}
    for mid in Reservation.objects.filter(
        space=space,
        member_id__in=people,
        start__gte=since,
        status__in=(*ACTIVE_STATUSES, "released"),
    ).values_list("member_id", flat=True):
        recent[mid] = recent.get(mid, 0) + 1
    asks = tuple(
        Ask(
            id=r.pk,
            person=r.member_id,
            start=minutes(r.start),
            end=minutes(r.end),
            seats=r.party_size,
            recent=recent.get(r.member_id, 0),
        )
        for r in requests
    )
    quota_b: dict[int, int] = {}
    quota_m: dict[int, int] = {}
    existing = Reservation.objects.filter(
        space=space, member_id__in=people, status__in=ACTIVE_STATUSES
    ).filter(av.live_q(now))
    for mid in people:
        mine = existing.filter(member_id=mid)
        caps = []
        week = mine.filter(start__gte=lo, start__lt=hi)
        if space.weekly_quota_bookings is not None:
            caps.append(space.weekly_quota_bookings - week.count())
        if space.max_active_bookings is not None:
            caps.append(space.max_active_bookings - mine.filter(end__gt=now).count())
        if caps:
            quota_b[mid] = min(caps)
        if space.weekly_quota_minutes is not None:
            used = sum(
                int((e - s).total_seconds() // 60) for s, e in week.values_list("start", "end")
            )
            quota_m[mid] = space.weekly_quota_minutes - used
    if space.mode == SpaceMode.EXCLUSIVE:
        ancestors = [a.pk for a in av.lineage(space)[1:]]
        busy = tuple(
            (minutes(s), minutes(e))
            for s, e in av.busy_intervals(space, lo, hi, now=now, ancestors=ancestors)
        )
        return Problem(
            asks, True, space.capacity, busy=busy, quota_bookings=quota_b, quota_minutes=quota_m
        )
    seats = {minutes(s): n for s, n in av.session_seats(space, lo, hi, now=now).items()}
    return Problem(
        asks,
        False,
        space.capacity,
        seats_taken=seats,
        quota_bookings=quota_b,
        quota_minutes=quota_m,
    )


def round_allocate(*, round_id: int, actor: Member | None) -> AllocationRound:
    """Decide every request of the round, book the granted ones through the
    normal booking path, and push the results live. Runs once: a second call
    returns the decided round."""
    rnd = round_get(round_id=round_id)
    if actor is not None:
        permissions.require(actor, "space.manage", rnd.space.community_id)
    if rnd.status != RoundStatus.OPEN:
        return rnd
    requests = list(
        AllocationRequest.objects.select_related("member")
        .filter(round=rnd, status=RequestStatus.REQUESTED)
        .order_by("pk")
    )
    result = solve(problem_for(rnd, requests))
    now = timezone.now()
    space = rnd.space
    with transaction.atomic(durable=True):
        rnd = (
            AllocationRound.objects.select_for_update(no_key=True)
            .select_related("space")
            .get(pk=rnd.pk)
        )
        if rnd.status != RoundStatus.OPEN:
            return rnd
        granted = 0
        for req in requests:
            reservation = None
            if req.pk in result.granted and req.start > now:
                status, live_until = initial_state(space, hold=False, now=now, start=req.start)
                try:
                    with transaction.atomic():
                        reservation = book_locked(
                            space=space,
                            member=req.member,
                            start=req.start,
                            end=req.end,
                            party_size=req.party_size,
                            companions=[],
                            guardian=None,
                            status=status,
                            live_until=live_until,
                            terms_accepted=True,
                            purpose=str(_("每周分配")),
                            need_shift_id=None,
                            now=now,
                        )
                except (ApplicationError, IntegrityError):
                    reservation = None
            if reservation is not None:
                granted += 1
                req.status = RequestStatus.GRANTED
                req.reservation = reservation
                announce(reservation, "reservation.confirmed", space)
                after_commit_schedule(reservation)
            else:
                req.status = RequestStatus.DECLINED
            req.save(update_fields=["status", "reservation"])
        rnd.status = RoundStatus.ALLOCATED
        rnd.allocated_at = now
        rnd.objective = {
            "requests": len(requests),
            "granted": granted,
            "people": len({r.member_id for r in requests}),
            "people_served": result.people_served,
            "solver_status": result.status,
            "solve_seconds": round(result.wall_s, 3),
        }
        rnd.save(update_fields=["status", "allocated_at", "objective"])
        data = {"round": rnd.pk, "space": space.pk, **rnd.objective}
        events.record(
            [events.staff_group(space.community_id), events.community_group(space.community_id)],
            "round.allocated",
            data,
        )
        for req in requests:
            if req.status == RequestStatus.DECLINED:
                events.record(
                    [events.member_group(req.member_id)],
                    "round.declined",
                    {"round": rnd.pk, "request": req.pk, "space": space.pk},
                )
    return rnd
