"""Sign-up, waitlist offers, acceptance, cancellation and no-shows.

Locks are always taken in the same order, so two writers never deadlock:
the volunteer's profile first, then the shift, then assignment rows. The
profile lock serialises one volunteer's overlapping sign-ups; the shift lock
serialises the seat count. The database constraints are the last guard:
`shift_seats_within_headcount`, `assignment_one_active_per_shift` and, on
PostgreSQL, the `assignment_no_overlap` exclusion constraint.
"""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from matching.models import (
    ACTIVE,
    COMMITTED,
    SEAT_HOLDING,
    Assignment,
    AssignmentStatus,
    NeedStatus,
    Shift,
    VolunteerProfile,
)
from matching.notifications import notify
from matching.selectors import waitlist_position
from matching.services.common import (
    iso,
    late_cancel_window,
    offer_hold,
    record_assignment,
    record_seats,
)
from timebank import permissions
from timebank.errors import Conflict, Forbidden, InvalidInput, NotFound, field_error
from timebank.people.models import Member

S = AssignmentStatus
DEFAULT_LANGUAGES = ["zh"]


def profile_ensure(*, member: Member) -> VolunteerProfile:
    """The member's volunteer profile, created with defaults on first use.

    Called outside the sign-up transaction, so the row exists to be locked.
    """
    profile, _created = VolunteerProfile.objects.get_or_create(
        member=member,
        defaults={
            "languages": DEFAULT_LANGUAGES,
            "home_lat": member.home_lat,
            "home_lon": member.home_lon,
        },
    )
    return profile


def lock_shift(shift_id: int) -> Shift:
    try:
        return Shift.objects.select_for_update(no_key=True).select_related("need").get(pk=shift_id)
    except Shift.DoesNotExist:
        raise NotFound(_("找不到该班次"), code="shift_not_found") from None


def missing_skills(profile: VolunteerProfile, needed: list[str], on: dt.date) -> list[str]:
    """Skills in `needed` that the volunteer lacks, or whose certificate has lapsed by `on`."""
    valid = {s.name for s in profile.skills.all() if s.cert_expires is None or s.cert_expires >= on}
    return sorted(set(needed) - valid)


def _overlapping(volunteer_id: int, start: dt.datetime, end: dt.datetime) -> bool:
    return Assignment.objects.filter(
        volunteer_id=volunteer_id, status__in=COMMITTED, start__lt=end, end__gt=start
    ).exists()


def _week_minutes(volunteer_id: int, day: dt.datetime) -> int:
    local = timezone.localtime(day)
    monday = (local - dt.timedelta(days=local.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    rows = Assignment.objects.filter(
        volunteer_id=volunteer_id,
        status__in=COMMITTED,
        start__gte=monday,
        start__lt=monday + dt.timedelta(days=7),
    ).values_list("start", "end")
    return sum(int((e - s).total_seconds() // 60) for s, e in rows)


def _check_eligible(profile: VolunteerProfile, shift: Shift) -> None:
    """Raise the reason this volunteer may not take this shift. Caller holds the
    profile lock, so the overlap and weekly-limit answers stay true until commit."""
    need = shift.need
    missing = missing_skills(profile, need.skills, timezone.localtime(shift.start).date())
    if missing:
        raise Conflict(
            _("缺少该班次要求的技能：%(skills)s") % {"skills": "、".join(missing)},
            code="skill_missing",
            extra={"missing": missing},
        )
    if need.languages and not set(need.languages) & set(profile.languages):
        raise Conflict(_("该班次要求的语言你尚未登记"), code="language_missing")
    if _overlapping(profile.member_id, shift.start, shift.end):
        raise Conflict(_("该班次与你已确认的其他班次时间重叠"), code="overlap")
    limit = profile.weekly_limit_minutes
    if (
        limit is not None
        and _week_minutes(profile.member_id, shift.start) + (shift.duration_minutes) > limit
    ):
        raise Conflict(_("超出你设定的每周服务时长上限"), code="weekly_limit_exceeded")


def _translate_integrity(exc: IntegrityError) -> Conflict:
    text = str(exc)
    if "assignment_no_overlap" in text:
        return Conflict(_("该班次与你已确认的其他班次时间重叠"), code="overlap")
    if "assignment_one_active_per_shift" in text or "UNIQUE" in text.upper():
        return Conflict(_("你已报名该班次"), code="already_signed_up")
    if "shift_seats_within_headcount" in text:
        return Conflict(_("该班次名额已满"), code="shift_full")
    return Conflict(_("与现有数据冲突"), code="conflict")


def _after_confirm(a: Assignment) -> None:
    from matching.tasks import schedule_reminders

    assignment_id = a.id
    transaction.on_commit(lambda: schedule_reminders(assignment_id))


def lock_for_seat(
    *, volunteer: Member, shift_id: int
) -> tuple[VolunteerProfile, Shift, dt.datetime]:
    """Take the locks every seat-taking write takes, in the one order that avoids
    deadlocks (the volunteer's profile, then the shift); expire stale offers and
    refuse a closed shift. Caller holds the transaction."""
    profile = VolunteerProfile.objects.select_for_update(no_key=True).get(pk=volunteer.pk)
    shift = lock_shift(shift_id)
    now = timezone.now()
    expire_offers_locked(shift=shift, now=now)
    if shift.cancelled_at is not None or shift.need.status != NeedStatus.OPEN:
        raise Conflict(_("该班次已取消或需求已关闭"), code="shift_closed")
    return profile, shift, now


def signup_create(*, volunteer: Member, shift_id: int) -> tuple[Assignment, int | None]:
    """Sign up: confirmed when a seat is free, otherwise waitlisted.

    Returns the assignment and, when waitlisted, its 1-based position.
    """
    try:
        community_id = Shift.objects.values_list("community_id", flat=True).get(pk=shift_id)
    except Shift.DoesNotExist:
        raise NotFound(_("找不到该班次"), code="shift_not_found") from None
    permissions.require(volunteer, "shift.signup", community_id)
    profile_ensure(member=volunteer)
    try:
        with transaction.atomic(durable=True):
            profile, shift, now = lock_for_seat(volunteer=volunteer, shift_id=shift_id)
            if shift.start <= now:
                raise InvalidInput(_("该班次已经开始或结束"), code="shift_past")
            if shift.is_flexible and shift.placed_at is None:
                raise Conflict(_("该班次的时间和地点尚待排定"), code="shift_not_placed")
            if Assignment.objects.filter(
                shift=shift, volunteer=volunteer, status__in=ACTIVE
            ).exists():
                raise Conflict(_("你已报名该班次"), code="already_signed_up")
            _check_eligible(profile, shift)
            seat_free = shift.seats_taken < shift.headcount
            with transaction.atomic():
                a = Assignment.objects.create(
                    shift=shift,
                    volunteer=volunteer,
                    community_id=shift.community_id,
                    status=S.CONFIRMED if seat_free else S.WAITLISTED,
                    start=shift.start,
                    end=shift.end,
                    confirmed_at=now if seat_free else None,
                )
            if seat_free:
                _take_seat(shift)
                record_assignment(a, "assignment.confirmed", actor=volunteer)
                record_seats(shift)
                _after_confirm(a)
                return a, None
            position = waitlist_position(a)
            record_assignment(a, "assignment.waitlisted", actor=volunteer, position=position)
            return a, position
    except IntegrityError as exc:
        raise _translate_integrity(exc) from None


def _take_seat(shift: Shift) -> None:
    from matching.tasks import after_seat_taken

    Shift.objects.filter(pk=shift.pk).update(seats_taken=F("seats_taken") + 1)
    shift.seats_taken += 1
    after_seat_taken(shift)


def _free_seat(shift: Shift) -> None:
    Shift.objects.filter(pk=shift.pk).update(seats_taken=F("seats_taken") - 1)
    shift.seats_taken -= 1


def offer_next_locked(*, shift: Shift, now: dt.datetime) -> Assignment | None:
    """Offer a free seat to the first volunteer on the waitlist, with a timed hold.
    Caller holds the shift lock."""
    if shift.seats_taken >= shift.headcount or shift.start <= now or shift.cancelled_at:
        return None
    nxt = (
        Assignment.objects.select_for_update(no_key=True)
        .filter(shift=shift, status=S.WAITLISTED)
        .order_by("id")
        .first()
    )
    if nxt is None:
        return None
    nxt.status = S.OFFERED
    # Never hold past the shift's start: an offer after that is worthless.
    nxt.offer_expires_at = min(now + offer_hold(), shift.start)
    nxt.save(update_fields=["status", "offer_expires_at"])
    _take_seat(shift)
    record_assignment(nxt, "assignment.offered")
    notify(
        member_id=nxt.volunteer_id,
        kind="assignment.offered",
        title=str(_("有名额空出，请在保留时间内确认")),
        body=str(
            _("「%(title)s」有一个名额为你保留至 %(until)s。")
            % {"title": shift.need.title, "until": iso(nxt.offer_expires_at)}
        ),
        data={"assignment": nxt.id, "shift": shift.id},
    )
    assignment_id, due = nxt.id, nxt.offer_expires_at

    def enqueue() -> None:
        from matching.tasks import schedule_offer_expiry

        schedule_offer_expiry(assignment_id, due)

    transaction.on_commit(enqueue)
    return nxt


def expire_offers_locked(*, shift: Shift, now: dt.datetime) -> int:
    """Expire this shift's lapsed offers and pass each seat on. Caller holds the shift lock."""
    expired = 0
    while True:
        stale = list(
            Assignment.objects.select_for_update(no_key=True)
            .filter(shift=shift, status=S.OFFERED, offer_expires_at__lte=now)
            .order_by("id")
        )
        if not stale:
            break
        for a in stale:
            a.status = S.EXPIRED
            a.save(update_fields=["status"])
            _free_seat(shift)
            record_assignment(a, "assignment.cancelled", reason="offer_expired")
            expired += 1
        while offer_next_locked(shift=shift, now=now) is not None:
            if shift.seats_taken >= shift.headcount:
                break
    if expired:
        record_seats(shift)
    return expired


def offers_expire_due(*, now: dt.datetime | None = None, shift_id: int | None = None) -> int:
    """Expire every lapsed offer (or one shift's). Safe to call from reads and tasks."""
    now = now or timezone.now()
    due = Assignment.objects.filter(status=S.OFFERED, offer_expires_at__lte=now)
    if shift_id is not None:
        due = due.filter(shift_id=shift_id)
    total = 0
    for sid in sorted(set(due.values_list("shift_id", flat=True))):
        with transaction.atomic(durable=True):
            total += expire_offers_locked(shift=lock_shift(sid), now=now)
    return total


def _lock_assignment(assignment_id: int) -> Assignment:
    try:
        return Assignment.objects.select_for_update(no_key=True).get(pk=assignment_id)
    except Assignment.DoesNotExist:
        raise NotFound(_("找不到该报名记录"), code="assignment_not_found") from None


def offer_accept(*, actor: Member, assignment: Assignment) -> Assignment:
    """The volunteer takes the seat they were offered."""
    if actor.pk != assignment.volunteer_id:
        raise Forbidden(_("只能确认自己的递补名额"), code="not_your_assignment")
    with transaction.atomic(durable=True):
        profile = VolunteerProfile.objects.select_for_update(no_key=True).get(pk=actor.pk)
        shift = lock_shift(assignment.shift_id)
        now = timezone.now()
        expire_offers_locked(shift=shift, now=now)
        a = _lock_assignment(assignment.pk)
        if a.status == S.CONFIRMED:
            return a
        if a.status == S.EXPIRED:
            raise Conflict(_("递补名额的保留时间已过"), code="offer_expired")
        if a.status != S.OFFERED:
            raise Conflict(_("该报名没有待确认的递补名额"), code="not_offered")
        if _overlapping(actor.pk, shift.start, shift.end):
            raise Conflict(_("该班次与你已确认的其他班次时间重叠"), code="overlap")
        missing = missing_skills(profile, shift.need.skills, timezone.localtime(shift.start).date())
        if missing:
            raise Conflict(
                _("缺少该班次要求的技能"), code="skill_missing", extra={"missing": missing}
            )
        a.status = S.CONFIRMED
        a.confirmed_at = now
        a.offer_expires_at = None
        try:
            with transaction.atomic():
                a.save(update_fields=["status", "confirmed_at", "offer_expires_at"])
        except IntegrityError as exc:
            raise _translate_integrity(exc) from None
        record_assignment(a, "assignment.confirmed", actor=actor)
        _after_confirm(a)
    return a


def assignment_cancel(*, actor: Member, assignment: Assignment, reason: str) -> Assignment:
    """Cancel (or decline an offer) with a reason. Within 24 h of the start it counts
    as late. A freed seat is offered to the waitlist."""
    is_self = actor.pk == assignment.volunteer_id
    if not is_self:
        permissions.require(actor, "assignment.manage", assignment.community_id)
    reason = reason.strip()
    if not reason:
        raise field_error("reason", _("请填写取消原因"), code="reason_required")
    profile_ensure(member=assignment.volunteer)
    with transaction.atomic(durable=True):
        VolunteerProfile.objects.select_for_update(no_key=True).get(pk=assignment.volunteer_id)
        shift = lock_shift(assignment.shift_id)
        now = timezone.now()
        expire_offers_locked(shift=shift, now=now)
        a = _lock_assignment(assignment.pk)
        if a.status not in (S.WAITLISTED, S.OFFERED, S.CONFIRMED):
            raise Conflict(_("该报名当前状态不能取消"), code="not_cancellable")
        if a.status == S.CONFIRMED and shift.start <= now:
            raise Conflict(_("班次已开始，不能取消"), code="shift_started")
        held = a.status in (S.OFFERED, S.CONFIRMED)
        was = a.status
        a.status = S.DECLINED if was == S.OFFERED else S.CANCELLED
        a.cancelled_at = now
        a.cancelled_by = actor
        a.cancel_reason = reason[:300]
        a.late_cancel = was == S.CONFIRMED and shift.start - now < late_cancel_window()
        a.offer_expires_at = None
        a.save(
            update_fields=[
                "status",
                "cancelled_at",
                "cancelled_by",
                "cancel_reason",
                "late_cancel",
                "offer_expires_at",
            ]
        )
        record_assignment(
            a, "assignment.cancelled", actor=actor, reason=a.cancel_reason, late=a.late_cancel
        )
        if not is_self:
            notify(
                member_id=a.volunteer_id,
                kind="assignment.cancelled",
                title=str(_("你的报名已被取消")),
                body=str(
                    _("「%(title)s」：%(reason)s")
                    % {"title": shift.need.title, "reason": a.cancel_reason}
                ),
                data={"assignment": a.id, "shift": shift.id},
            )
        if held:
            _free_seat(shift)
            if offer_next_locked(shift=shift, now=now) is None and shift.start > now:
                # Nobody is waiting: staff get ranked replacements straight away.
                from matching.tasks import schedule_replacements, schedule_replan

                shift_id = shift.pk
                transaction.on_commit(lambda: schedule_replacements(shift_id))
                transaction.on_commit(lambda: schedule_replan(assignment_id=a.pk))
            record_seats(shift)
    return a


def shift_cancel_locked(*, shift: Shift, actor: Member, reason: str, now: dt.datetime) -> None:
    """Cancel one shift and everyone still to come on it. Caller holds the shift lock.
    Anyone already checked in keeps their record (and seat): their service happened."""
    pending = (S.WAITLISTED, S.OFFERED, S.CONFIRMED)
    shift.cancelled_at = now
    shift.seats_taken = (
        Assignment.objects.filter(shift=shift, status__in=SEAT_HOLDING)
        .exclude(status__in=pending)
        .count()
    )
    shift.save(update_fields=["cancelled_at", "seats_taken"])
    for a in Assignment.objects.select_for_update(no_key=True).filter(
        shift=shift, status__in=pending
    ):
        a.status = S.CANCELLED
        a.cancelled_at = now
        a.cancelled_by = actor
        a.cancel_reason = reason[:300]
        a.offer_expires_at = None
        a.save(
            update_fields=[
                "status",
                "cancelled_at",
                "cancelled_by",
                "cancel_reason",
                "offer_expires_at",
            ]
        )
        record_assignment(a, "assignment.cancelled", actor=actor, reason=a.cancel_reason)
        notify(
            member_id=a.volunteer_id,
            kind="assignment.cancelled",
            title=str(_("班次已取消")),
            body=str(
                _("「%(title)s」已取消：%(reason)s")
                % {"title": shift.need.title, "reason": a.cancel_reason}
            ),
            data={"assignment": a.id, "shift": shift.id},
        )
    record_seats(shift)
