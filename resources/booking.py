"""The booking path (预约): validate, then take the slot in one transaction.

Every door uses it: the API, waitlist offers, weekly allocation and other apps
(needs that require a space call `reservation_create`). The database is the
guard against double booking (exclusion constraints on PostgreSQL, a
conditional UPDATE for session seats, IMMEDIATE transactions on SQLite); the
checks here that read first are a courtesy that gives a precise error.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import IntegrityError, OperationalError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from resources import availability as av
from resources.models import (
    ACTIVE_STATUSES,
    MAX_DURATION_MINUTES,
    BlockKind,
    Reservation,
    ReservationStatus,
    SessionSlot,
    Space,
    SpaceBlock,
    SpaceMode,
    Suspension,
)
from timebank import events, permissions
from timebank.audit.services import record_audit
from timebank.errors import Conflict, Forbidden, InvalidInput, field_error
from timebank.people.models import Member
from timebank.people.selectors import are_relatives

ADULT_AGE = 18
EXCLUSION_VIOLATION = "23P01"
# deadlock_detected, serialization_failure: the transaction was rolled back whole.
RETRYABLE = frozenset({"40P01", "40001"})
T = TypeVar("T")


def reservation_data(r: Reservation) -> dict[str, Any]:
    """The JSON-safe form used in events."""
    return {
        "id": r.pk,
        "space": r.space_id,
        "member": r.member_id,
        "start": timezone.localtime(r.start).isoformat(),
        "end": timezone.localtime(r.end).isoformat(),
        "status": r.status,
        "party_size": r.party_size,
        "hold_expires_at": (
            timezone.localtime(r.live_until).isoformat()
            if r.status == ReservationStatus.HELD and r.live_until
            else None
        ),
    }


def announce(r: Reservation, type: str, space: Space) -> None:
    """An event to the booker and the space's community staff, in the transaction."""
    events.record(
        [events.member_group(r.member_id), events.staff_group(space.community_id)],
        type,
        reservation_data(r),
    )


def audit(r: Reservation, action: str, space: Space, actor: Member | None) -> None:
    """The audit row for a reservation change, in the transaction."""
    record_audit(
        actor=actor,
        action=action,
        obj=r,
        community_id=space.community_id,
        subject_id=r.member_id,
        changes={"status": r.status, **reservation_data(r)},
    )


def is_exclusion_violation(exc: IntegrityError) -> bool:
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) == EXCLUSION_VIOLATION


# --- checks that need no lock ----------------------------------------------------


def check_period(start: dt.datetime, end: dt.datetime) -> None:
    if timezone.is_naive(start) or timezone.is_naive(end):
        raise field_error("start", _("时间须带时区"), code="invalid_period")
    if end <= start:
        raise field_error("end", _("结束时间须晚于开始时间"), code="invalid_period")


def check_request(
    *,
    space: Space,
    member: Member,
    start: dt.datetime,
    end: dt.datetime,
    party_size: int,
    companions: Sequence[dict[str, Any]],
    guardian: Member | None,
    now: dt.datetime,
    manager_override: bool = False,
) -> None:
    """Everything about a request that does not depend on other bookings."""
    check_period(start, end)
    if not space.is_active:
        raise InvalidInput(_("该场地暂停预约"), code="space_inactive")
    if party_size < 1:
        raise field_error("party_size", _("人数至少为 1"), code="invalid_party_size")
    if party_size > space.capacity:
        raise field_error(
            "party_size",
            _("人数超过场地容量（%(cap)s 人）") % {"cap": space.capacity},
            code="party_too_large",
        )
    if len(companions) > party_size - 1:
        raise field_error("companions", _("同行人数多于预约人数"), code="companions_mismatch")
    if space.companions_real_name and party_size > 1:
        names = [str(c.get("name", "")).strip() for c in companions]
        if len(names) != party_size - 1 or not all(names):
            raise field_error(
                "companions", _("请填写每位同行人的真实姓名"), code="companions_required"
            )
    if start < now:
        raise field_error("start", _("不能预约已经开始的时段"), code="in_the_past")
    if not manager_override:
        window = space.booking_window_days
        if space.early_access_days and permissions.role_map(member).get(space.community_id):
            window += space.early_access_days
        last_day = timezone.localtime(now).date() + dt.timedelta(days=window)
        if timezone.localtime(start).date() > last_day:
            raise InvalidInput(
                _("只能预约 %(days)s 天内的时段") % {"days": window},
                code="beyond_booking_window",
            )
    minutes = (end - start).total_seconds() / 60
    if space.mode == SpaceMode.EXCLUSIVE and not (
        space.min_duration_minutes <= minutes <= space.max_duration_minutes
    ):
        raise InvalidInput(
            _("预约时长须在 %(lo)s 到 %(hi)s 分钟之间")
            % {"lo": space.min_duration_minutes, "hi": space.max_duration_minutes},
            code="invalid_duration",
        )
    check_opening(space, start, end)
    if space.minors_need_guardian:
        age = member.age_on(timezone.localtime(start).date())
        if age is not None and age < ADULT_AGE:
            guardian_age = guardian.age_on(timezone.localtime(start).date()) if guardian else None
            if (
                guardian is None
                or guardian_age is None
                or guardian_age < ADULT_AGE
                or not are_relatives(a=member, b=guardian)
            ):
                raise field_error(
                    "guardian", _("未成年人预约须由成年亲属作监护人"), code="guardian_required"
                )


def check_opening(space: Space, start: dt.datetime, end: dt.datetime) -> None:
    cal = av.calendar_for(space, start, end)
    windows = av.window_intervals(cal, start, end)
    if not av.within_one(windows, start, end):
        raise InvalidInput(_("所选时间不在开放时段内"), code="outside_opening_hours")
    closure = av.covering_closure(cal, start, end)
    if closure is not None:
        raise InvalidInput(
            _("场地在该时段关闭（%(reason)s）") % {"reason": closure[2]}, code="space_closed"
        )
    if space.mode == SpaceMode.SESSION and (start, end) not in av.slot_grid(cal, start, end):
        raise InvalidInput(_("按人次入场的场地须选择一个完整场次"), code="outside_opening_hours")


# --- checks and writes inside the transaction -------------------------------------


def check_standing(
    *, space: Space, member: Member, start: dt.datetime, end: dt.datetime, now: dt.datetime
) -> None:
    """Suspension and quotas. Caller holds the member's row lock, so two requests
    by one person cannot both squeeze under a quota."""
    suspended = Suspension.objects.filter(
        member=member, community_id=space.community_id, starts_at__lte=now, ends_at__gt=now
    ).first()
    if suspended is not None:
        raise Forbidden(
            _("因多次爽约，预约已暂停至 %(until)s")
            % {"until": timezone.localtime(suspended.ends_at).strftime("%Y-%m-%d %H:%M")},
            code="suspended",
        )
    mine = Reservation.objects.filter(
        member=member, space=space, status__in=ACTIVE_STATUSES
    ).filter(av.live_q(now))
    if (
        space.max_active_bookings is not None
        and mine.filter(end__gt=now).count() >= space.max_active_bookings
    ):
        raise Forbidden(
            _("未来有效预约已达上限（%(n)s 个）") % {"n": space.max_active_bookings},
            code="quota_exceeded",
        )
    if space.weekly_quota_bookings is None and space.weekly_quota_minutes is None:
        return
    local = timezone.localtime(start)
    monday = dt.datetime.combine(
        local.date() - dt.timedelta(days=local.weekday()), dt.time(), av.tz()
    )
    week = Reservation.objects.filter(
        member=member,
        space=space,
        start__gte=monday,
        start__lt=monday + dt.timedelta(days=7),
    ).filter(av.live_q(now), status__in=ACTIVE_STATUSES)
    if space.weekly_quota_bookings is not None and week.count() + 1 > space.weekly_quota_bookings:
        raise Forbidden(
            _("本周预约次数已达上限（%(n)s 次）") % {"n": space.weekly_quota_bookings},
            code="quota_exceeded",
        )
    if space.weekly_quota_minutes is not None:
        used = 0
        for s, e in week.values_list("start", "end"):
            used += int((e - s).total_seconds() // 60)
        wanted = int((end - start).total_seconds() // 60)
        if used + wanted > space.weekly_quota_minutes:
            raise Forbidden(
                _("本周预约时长已达上限（%(n)s 分钟）") % {"n": space.weekly_quota_minutes},
                code="quota_exceeded",
            )


def release_stale(*, space: Space, start: dt.datetime, end: dt.datetime, now: dt.datetime) -> None:
    """Release lapsed holds and no-shows that still occupy [start, end) of this
    area's lineage, before the new booking claims it. This is the lazy half of
    release; the scheduled task is the eager half, and either may come first."""
    from resources.lifecycle import reservation_lapse

    if space.mode == SpaceMode.SESSION:
        stale_ids = list(
            Reservation.objects.filter(
                space=space, start=start, status__in=ACTIVE_STATUSES, live_until__lte=now
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    else:
        ids = [a.pk for a in av.lineage(space)]
        lower = start - dt.timedelta(minutes=MAX_DURATION_MINUTES)
        stale_ids = sorted(
            set(
                SpaceBlock.objects.filter(
                    area_id__in=ids,
                    active=True,
                    live_until__lte=now,
                    start__gte=lower,
                    start__lt=end,
                    end__gt=start,
                ).values_list("reservation_id", flat=True)
            )
        )
    for rid in stale_ids:
        reservation_lapse(reservation_id=rid, now=now, offer=False)


def take_exclusive(*, reservation: Reservation, space: Space) -> None:
    """Write the blocks; the exclusion constraints reject an overlap on PostgreSQL."""
    chain = av.lineage(space)
    SpaceBlock.objects.bulk_create(
        [
            SpaceBlock(
                reservation=reservation,
                area=area,
                start=reservation.start,
                end=reservation.end,
                kind=BlockKind.OWN if area.pk == space.pk else BlockKind.SHADOW,
                live_until=reservation.live_until,
            )
            for area in chain
        ]
    )


def take_seats(*, reservation: Reservation, space: Space) -> SessionSlot:
    """Take seats with one conditional UPDATE: no read-then-write race."""
    SessionSlot.objects.bulk_create(
        [
            SessionSlot(
                space=space,
                start=reservation.start,
                end=reservation.end,
                capacity=space.capacity,
            )
        ],
        ignore_conflicts=True,
    )
    n = reservation.party_size
    updated = SessionSlot.objects.filter(
        space=space, start=reservation.start, booked__lte=F("capacity") - n
    ).update(booked=F("booked") + n)
    if updated == 0:
        raise Conflict(_("该场次已满"), code="session_full")
    return SessionSlot.objects.get(space=space, start=reservation.start)


def book_locked(
    *,
    space: Space,
    member: Member,
    start: dt.datetime,
    end: dt.datetime,
    party_size: int,
    companions: Sequence[dict[str, Any]],
    guardian: Member | None,
    status: str,
    live_until: dt.datetime | None,
    terms_accepted: bool,
    purpose: str,
    need_shift_id: int | None,
    now: dt.datetime,
) -> Reservation:
    """Claim the slot. Caller is inside a transaction and has run `check_request`."""
    # One person's requests queue here, so quotas hold under concurrency.
    Member.objects.select_for_update(no_key=True).filter(pk=member.pk).values_list(
        "pk", flat=True
    ).first()
    release_stale(space=space, start=start, end=end, now=now)
    if space.mode == SpaceMode.EXCLUSIVE:
        ancestors = [a.pk for a in av.lineage(space)[1:]]
        busy = av.busy_intervals(space, start, end, now=now, ancestors=ancestors)
        if any(s < end and e > start for s, e in busy):
            raise Conflict(_("该时段已被预订"), code="slot_taken")
    check_standing(space=space, member=member, start=start, end=end, now=now)
    if Reservation.objects.filter(
        member=member, space=space, start=start, status__in=ACTIVE_STATUSES
    ).exists():
        raise Conflict(_("你已预约该时段"), code="already_booked")
    reservation = Reservation.objects.create(
        space=space,
        member=member,
        start=start,
        end=end,
        party_size=party_size,
        companions=[{"name": str(c.get("name", "")).strip()} for c in companions],
        guardian=guardian,
        status=status,
        live_until=live_until,
        terms_accepted_at=now if terms_accepted else None,
        purpose=purpose,
        need_shift_id=need_shift_id,
        confirmed_at=now if status == ReservationStatus.CONFIRMED else None,
    )
    if space.mode == SpaceMode.SESSION:
        reservation.session = take_seats(reservation=reservation, space=space)
        reservation.save(update_fields=["session"])
    else:
        take_exclusive(reservation=reservation, space=space)
    return reservation


def initial_state(
    space: Space, *, hold: bool, now: dt.datetime, start: dt.datetime
) -> tuple[str, dt.datetime]:
    """The status a new reservation takes, and until when it occupies the slot
    without further action."""
    grace = start + dt.timedelta(minutes=space.check_in_grace_minutes)
    if hold:
        return ReservationStatus.HELD, min(now + dt.timedelta(minutes=space.hold_minutes), grace)
    if space.approval_required:
        # Undecided at the start: the slot goes back.
        return ReservationStatus.PENDING, start
    return ReservationStatus.CONFIRMED, grace


def after_commit_schedule(reservation: Reservation) -> None:
    """Schedule the eager release at `live_until`, once the booking is committed."""
    from resources.tasks import reservation_lapse_task

    if reservation.live_until is None:
        return
    rid, when = reservation.pk, reservation.live_until
    transaction.on_commit(lambda: reservation_lapse_task.using(run_after=when).enqueue(rid))


def reservation_book(
    *,
    member: Member,
    space: Space,
    start: dt.datetime,
    end: dt.datetime,
    party_size: int | None = None,
    companions: Sequence[dict[str, Any]] = (),
    guardian: Member | None = None,
    accept_terms: bool = True,
    purpose: str = "",
    need_shift_id: int | None = None,
    hold: bool = False,
) -> Reservation:
    """Book (or, with `hold`, hold) a period of a space for `member`.

    Raises 422 (bad period, rules), 403 (suspended, quota), 409 (slot_taken,
    session_full). Nothing is written unless it succeeds.
    """
    permissions.require(member, "reservation.create", space.community_id)
    if not hold and not accept_terms:
        raise field_error("accept_terms", _("请先阅读并同意安全协议"), code="terms_not_accepted")
    now = timezone.now()
    size = party_size if party_size is not None else 1 + len(companions)
    check_request(
        space=space,
        member=member,
        start=start,
        end=end,
        party_size=size,
        companions=companions,
        guardian=guardian,
        now=now,
    )
    status, live_until = initial_state(space, hold=hold, now=now, start=start)

    # Standalone, the booking is its own durable transaction (retried if chosen
    # as a deadlock victim). Called inside another service's transaction (a
    # need that books its room), it joins it as a savepoint.
    joined = in_caller_transaction()

    def attempt() -> Reservation:
        with transaction.atomic(durable=not joined):
            reservation = book_locked(
                space=space,
                member=member,
                start=start,
                end=end,
                party_size=size,
                companions=companions,
                guardian=guardian,
                status=status,
                live_until=live_until,
                terms_accepted=accept_terms and not hold,
                purpose=purpose,
                need_shift_id=need_shift_id,
                now=now,
            )
            if status == ReservationStatus.CONFIRMED:
                announce(reservation, "reservation.confirmed", space)
            elif status == ReservationStatus.PENDING:
                announce(reservation, "reservation.pending", space)
            audit(reservation, "reservation.created", space, member)
            after_commit_schedule(reservation)
        return reservation

    try:
        return attempt() if joined else retry_deadlocks(attempt)
    except IntegrityError as exc:
        if is_exclusion_violation(exc):
            raise Conflict(_("该时段已被预订"), code="slot_taken") from None
        raise


def in_caller_transaction() -> bool:
    """True inside someone else's atomic block. The outermost blocks a test case
    opens do not count, exactly as Django's own durability check ignores them."""
    blocks = getattr(transaction.get_connection(), "atomic_blocks", [])
    return bool(blocks) and not getattr(blocks[-1], "_from_testcase", False)


def retry_deadlocks(fn: Callable[[], T], *, attempts: int = 5) -> T:
    """Run a whole transaction again when PostgreSQL aborts it as a deadlock
    victim. Two transactions that insert conflicting blocks at the same moment
    each find the other's row while checking the exclusion constraint and wait
    for each other; PostgreSQL then aborts one. The retry sees the winner's
    committed row and answers slot_taken (or books, if the winner rolled back)."""
    for n in range(attempts):
        try:
            return fn()
        except OperationalError as exc:
            state = getattr(exc.__cause__, "sqlstate", None)
            if state not in RETRYABLE or n == attempts - 1:
                raise
            time.sleep(random.uniform(0.005, 0.05) * (n + 1))  # noqa: S311 - jitter, not secrecy
    raise AssertionError("unreachable")


def reservation_create(
    *,
    member: Member,
    space: Space,
    start: dt.datetime,
    end: dt.datetime,
    party_size: int = 1,
    companions: Sequence[dict[str, Any]] = (),
    accept_terms: bool = True,
    purpose: str = "",
    need_shift_id: int | None = None,
) -> Reservation:
    """The public booking service for other apps (e.g. a need's shift that needs
    a room): the same path, rules and guarantees as a resident's booking."""
    return reservation_book(
        member=member,
        space=space,
        start=start,
        end=end,
        party_size=party_size,
        companions=companions,
        accept_terms=accept_terms,
        purpose=purpose,
        need_shift_id=need_shift_id,
    )
