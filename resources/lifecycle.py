"""What happens to a reservation after it is made: confirm a hold, approve or
reject, check in at the gate, cancel, lapse (hold expiry, no-show release),
no-show suspension, and the waitlist offer when a slot frees up."""

from __future__ import annotations

import datetime as dt

from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from resources.booking import (
    after_commit_schedule,
    announce,
    audit,
    book_locked,
    reservation_data,
)
from resources.models import (
    ACTIVE_STATUSES,
    Reservation,
    ReservationStatus,
    SessionSlot,
    Space,
    SpaceBlock,
    SpaceMode,
    Suspension,
    WaitlistEntry,
    WaitlistStatus,
)
from timebank import events, permissions
from timebank.errors import ApplicationError, Conflict, Forbidden, InvalidInput, field_error
from timebank.people.models import Member

GATE_SALT = "resources.gate"
CHECK_IN_OPENS_MINUTES = 30
# Waitlist entries examined per freed slot: enough for any real queue, and a
# bound on the work a cancellation can trigger.
OFFER_SCAN_LIMIT = 50


def gate_token(space: Space) -> str:
    """The signed token printed as the gate's QR code (闸机二维码)."""
    return signing.dumps({"gate": space.pk}, salt=GATE_SALT)


def gate_token_space(token: str) -> int | None:
    try:
        data = signing.loads(token, salt=GATE_SALT)
    except signing.BadSignature:
        return None
    gate = data.get("gate") if isinstance(data, dict) else None
    return gate if isinstance(gate, int) else None


def locked(reservation_id: int) -> Reservation:
    return (
        Reservation.objects.select_for_update(no_key=True)
        .select_related("space")
        .get(pk=reservation_id)
    )


def free(r: Reservation) -> None:
    """Give the reservation's time (or seats) back."""
    if r.session_id is not None:
        SessionSlot.objects.filter(pk=r.session_id).update(booked=F("booked") - r.party_size)
    SpaceBlock.objects.filter(reservation=r, active=True).update(active=False)


def set_live_until(r: Reservation, when: dt.datetime | None) -> None:
    r.live_until = when
    SpaceBlock.objects.filter(reservation=r, active=True).update(live_until=when)


def is_manager(actor: Member, space: Space) -> bool:
    return permissions.allowed(actor, "reservation.manage", space.community_id)


def record_no_show(r: Reservation, now: dt.datetime) -> None:
    """2 no-shows in 30 days suspend booking for 14 days (the space's settings)."""
    space = r.space
    since = now - dt.timedelta(days=space.no_show_window_days)
    strikes = Reservation.objects.filter(
        member_id=r.member_id,
        space__community_id=space.community_id,
        no_show=True,
        start__gte=since,
    ).count()
    if strikes < space.no_show_limit:
        return
    if Suspension.objects.filter(
        member_id=r.member_id, community_id=space.community_id, ends_at__gt=now
    ).exists():
        return
    Suspension.objects.create(
        member_id=r.member_id,
        community_id=space.community_id,
        starts_at=now,
        ends_at=now + dt.timedelta(days=space.suspension_days),
        reason=str(
            _("%(days)s 天内爽约 %(n)s 次") % {"days": space.no_show_window_days, "n": strikes}
        ),
    )


def reservation_lapse(*, reservation_id: int, now: dt.datetime, offer: bool = True) -> str:
    """Release a reservation whose `live_until` has passed: a lapsed hold
    expires, an undecided approval expires, a booking not checked in is a
    no-show and is released. Works inside the caller's transaction or alone."""
    with transaction.atomic():
        r = locked(reservation_id)
        if r.status not in ACTIVE_STATUSES or r.live_until is None or r.live_until > now:
            return "kept"
        if r.status == ReservationStatus.CONFIRMED:
            r.status = ReservationStatus.RELEASED
            r.no_show = True
        else:
            r.status = ReservationStatus.EXPIRED
        r.ended_at = now
        r.save(update_fields=["status", "no_show", "ended_at"])
        free(r)
        if r.no_show:
            record_no_show(r, now)
        WaitlistEntry.objects.filter(offer=r, status=WaitlistStatus.OFFERED).update(
            status=WaitlistStatus.LAPSED
        )
        announce(r, "reservation.released", r.space)
        audit(r, "reservation.no_show" if r.no_show else "reservation.expired", r.space, None)
        if offer:
            waitlist_offer_next(space=r.space, start=r.start, end=r.end, now=now)
        return str(r.status)


def reservation_confirm(*, actor: Member, reservation_id: int, accept_terms: bool) -> Reservation:
    """Turn the booker's hold into a booking (or a pending request)."""
    if not accept_terms:
        raise field_error("accept_terms", _("请先阅读并同意安全协议"), code="terms_not_accepted")
    now = timezone.now()
    with transaction.atomic(durable=True):
        r = locked(reservation_id)
        if r.member_id != actor.pk:
            raise Forbidden(_("只能确认自己的锁定"), code="not_your_reservation")
        if r.status != ReservationStatus.HELD:
            raise Conflict(_("该预约不是锁定状态"), code="not_held")
        if r.live_until is None or r.live_until <= now:
            raise Conflict(_("锁定已过期，请重新预约"), code="hold_expired")
        space = r.space
        grace = r.start + dt.timedelta(minutes=space.check_in_grace_minutes)
        if space.approval_required:
            r.status = ReservationStatus.PENDING
            set_live_until(r, r.start)
        else:
            r.status = ReservationStatus.CONFIRMED
            r.confirmed_at = now
            set_live_until(r, grace)
        r.terms_accepted_at = now
        r.save(update_fields=["status", "confirmed_at", "live_until", "terms_accepted_at"])
        WaitlistEntry.objects.filter(offer=r).update(status=WaitlistStatus.ACCEPTED)
        announce(
            r,
            "reservation.confirmed"
            if r.status == ReservationStatus.CONFIRMED
            else "reservation.pending",
            space,
        )
        audit(r, "reservation.confirmed", space, actor)
        after_commit_schedule(r)
    return r


def reservation_decide(*, actor: Member, reservation_id: int, approve: bool) -> Reservation:
    """A space manager approves or rejects a pending booking (审批)."""
    now = timezone.now()
    with transaction.atomic(durable=True):
        r = locked(reservation_id)
        permissions.require(actor, "reservation.manage", r.space.community_id)
        if r.status != ReservationStatus.PENDING or (
            r.live_until is not None and r.live_until <= now
        ):
            raise Conflict(_("该预约不在待审批状态"), code="not_pending")
        r.handled_by = actor
        if approve:
            r.status = ReservationStatus.CONFIRMED
            r.confirmed_at = now
            set_live_until(r, r.start + dt.timedelta(minutes=r.space.check_in_grace_minutes))
            r.save(update_fields=["status", "confirmed_at", "live_until", "handled_by"])
            announce(r, "reservation.confirmed", r.space)
            audit(r, "reservation.approved", r.space, actor)
            after_commit_schedule(r)
        else:
            r.status = ReservationStatus.REJECTED
            r.ended_at = now
            r.save(update_fields=["status", "ended_at", "handled_by"])
            free(r)
            announce(r, "reservation.released", r.space)
            audit(r, "reservation.rejected", r.space, actor)
            waitlist_offer_next(space=r.space, start=r.start, end=r.end, now=now)
    return r


def reservation_cancel(*, actor: Member, reservation_id: int) -> Reservation:
    """The booker cancels before the deadline; a space manager at any time.
    Cancelling twice is harmless."""
    now = timezone.now()
    with transaction.atomic(durable=True):
        r = locked(reservation_id)
        manager = is_manager(actor, r.space)
        if r.member_id != actor.pk and not manager:
            raise Forbidden(_("只能取消自己的预约"), code="not_your_reservation")
        if r.status == ReservationStatus.CANCELLED:
            return r
        if r.status not in (
            ReservationStatus.HELD,
            ReservationStatus.PENDING,
            ReservationStatus.CONFIRMED,
        ):
            raise Conflict(_("该预约已结束，无法取消"), code="not_cancellable")
        deadline = r.start - dt.timedelta(minutes=r.space.cancel_deadline_minutes)
        if not manager and r.status != ReservationStatus.HELD and now > deadline:
            raise InvalidInput(
                _("已过取消截止时间（开始前 %(m)s 分钟）") % {"m": r.space.cancel_deadline_minutes},
                code="cancellation_closed",
            )
        r.status = ReservationStatus.CANCELLED
        r.ended_at = now
        r.handled_by = actor
        r.save(update_fields=["status", "ended_at", "handled_by"])
        free(r)
        WaitlistEntry.objects.filter(offer=r).update(status=WaitlistStatus.CANCELLED)
        announce(r, "reservation.released", r.space)
        audit(r, "reservation.cancelled", r.space, actor)
        waitlist_offer_next(space=r.space, start=r.start, end=r.end, now=now)
    return r


def reservation_check_in(*, actor: Member, reservation_id: int, token: str | None) -> Reservation:
    """Check in at the gate: the booker scans the gate's QR code (its signed
    token), or the space manager checks them in."""
    now = timezone.now()
    with transaction.atomic(durable=True):
        r = locked(reservation_id)
        space = r.space
        if not is_manager(actor, space):
            if r.member_id != actor.pk:
                raise Forbidden(_("只能为自己的预约签到"), code="not_your_reservation")
            gate = gate_token_space(token or "")
            if gate is None:
                raise Forbidden(_("请扫描场地闸机二维码签到"), code="invalid_gate_token")
            from resources.availability import lineage

            if gate not in {a.pk for a in lineage(space)}:
                raise Forbidden(_("这不是该场地的二维码"), code="invalid_gate_token")
        if r.status == ReservationStatus.CHECKED_IN:
            return r
        if r.status != ReservationStatus.CONFIRMED:
            raise Conflict(_("该预约不能签到"), code="not_checkable")
        if r.live_until is not None and r.live_until <= now:
            raise Conflict(_("已超过签到时限，预约已释放"), code="reservation_released")
        if now < r.start - dt.timedelta(minutes=CHECK_IN_OPENS_MINUTES):
            raise InvalidInput(
                _("开始前 %(m)s 分钟起才能签到") % {"m": CHECK_IN_OPENS_MINUTES},
                code="check_in_not_open",
            )
        r.status = ReservationStatus.CHECKED_IN
        r.checked_in_at = now
        r.handled_by = actor if actor.pk != r.member_id else None
        set_live_until(r, None)
        r.save(update_fields=["status", "checked_in_at", "handled_by", "live_until"])
        announce(r, "reservation.checked_in", space)
        audit(r, "reservation.checked_in", space, actor)
    return r


def waitlist_join(
    *, member: Member, space: Space, start: dt.datetime, end: dt.datetime, party_size: int = 1
) -> tuple[WaitlistEntry, int]:
    """Queue for a period (候补); returns the entry and its 1-based position."""
    from resources.booking import check_period

    permissions.require(member, "reservation.create", space.community_id)
    check_period(start, end)
    if start < timezone.now():
        raise field_error("start", _("不能候补已经开始的时段"), code="in_the_past")
    if party_size < 1 or party_size > space.capacity:
        raise field_error("party_size", _("人数超过场地容量"), code="party_too_large")
    try:
        with transaction.atomic(durable=True):
            entry = WaitlistEntry.objects.create(
                space=space, member=member, start=start, end=end, party_size=party_size
            )
    except IntegrityError:
        raise Conflict(_("你已在该时段的候补队列中"), code="already_waiting") from None
    position = WaitlistEntry.objects.filter(
        space=space, start=start, end=end, status=WaitlistStatus.WAITING, pk__lte=entry.pk
    ).count()
    return entry, position


def waitlist_offer_next(
    *, space: Space, start: dt.datetime, end: dt.datetime, now: dt.datetime
) -> None:
    """Offer freed time to the queue, first come first served: each waiting
    person whose period is now free gets a timed hold, live
    (`reservation.offered`). Caller is inside the transaction that freed it."""
    entries = list(
        WaitlistEntry.objects.select_related("member")
        .filter(space=space, status=WaitlistStatus.WAITING, start__lt=end, end__gt=start)
        .order_by("pk")[:OFFER_SCAN_LIMIT]
    )
    for entry in entries:
        if entry.start <= now:
            entry.status = WaitlistStatus.LAPSED
            entry.save(update_fields=["status"])
            continue
        grace = entry.start + dt.timedelta(minutes=space.check_in_grace_minutes)
        until = min(now + dt.timedelta(minutes=space.hold_minutes), grace)
        try:
            with transaction.atomic():
                hold = book_locked(
                    space=space,
                    member=entry.member,
                    start=entry.start,
                    end=entry.end,
                    party_size=entry.party_size,
                    companions=[],
                    guardian=None,
                    status=ReservationStatus.HELD,
                    live_until=until,
                    terms_accepted=False,
                    purpose="",
                    need_shift_id=None,
                    now=now,
                )
        except (Conflict, IntegrityError):
            # Still taken for this person's period: they keep their place.
            continue
        except ApplicationError:
            # Suspended or over quota now: they cannot take it.
            entry.status = WaitlistStatus.LAPSED
            entry.save(update_fields=["status"])
            continue
        entry.status = WaitlistStatus.OFFERED
        entry.offer = hold
        entry.save(update_fields=["status", "offer"])
        events.record(
            [events.member_group(entry.member_id)], "reservation.offered", reservation_data(hold)
        )
        after_commit_schedule(hold)
        if space.mode == SpaceMode.EXCLUSIVE:
            return
