"""Posting needs (需求) and their shifts, one-off or from a recurrence rule."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, replace

from dateutil.rrule import rrule, rrulestr
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from matching.models import Category, Need, NeedStatus, Shift
from matching.services.common import iso, record_seats
from timebank import permissions
from timebank.errors import ApplicationError, Conflict, NotFound, field_error
from timebank.events import community_group, record, staff_group
from timebank.people.models import Community, Member

log = logging.getLogger(__name__)


def max_occurrences() -> int:
    return int(getattr(settings, "MATCHING_MAX_OCCURRENCES", 200))


MAX_WINDOW = dt.timedelta(days=31)


@dataclass(frozen=True)
class ShiftSpec:
    """One shift to post. A fixed shift has `start`/`end`. A flexible shift (弹性时段)
    sets `duration_min` and `step_min`; then `start`/`end` are its window, and a plan
    places it on the `step_min` grid from the window's start.

    Either kind may need a space: `space_ids` lists acceptable spaces, or
    `space_kind` with `radius_km` accepts any space of that kind within that
    distance of the need. Spaces are "in reach" when they belong to the need's
    community (the booking is made in the community's name by the poster).
    `participants` is how many people the room must hold (default: headcount)."""

    start: dt.datetime
    end: dt.datetime
    headcount: int
    duration_min: int | None = None
    step_min: int | None = None
    space_ids: tuple[int, ...] = ()
    space_kind: str = ""
    radius_km: float | None = None
    participants: int | None = None

    @property
    def is_flexible(self) -> bool:
        return self.duration_min is not None or self.step_min is not None

    @property
    def needs_space(self) -> bool:
        return bool(self.space_ids) or bool(self.space_kind)


def _aware(value: dt.datetime) -> dt.datetime:
    if timezone.is_naive(value):
        return timezone.make_aware(value)
    return value


def _minute(value: dt.datetime) -> dt.datetime:
    return _aware(value).replace(second=0, microsecond=0)


def expand_recurrence(rule: str, first: ShiftSpec) -> list[ShiftSpec]:
    """The shifts a bounded RRULE generates from `first`, which is the first occurrence's
    template. Unbounded rules (no COUNT or UNTIL), rules with no occurrences and rules
    with more than MATCHING_MAX_OCCURRENCES occurrences are refused."""
    text = rule.strip()
    if text.upper().startswith("RRULE:"):
        text = text[6:]
    upper = text.upper()
    if "COUNT=" not in upper and "UNTIL=" not in upper:
        raise field_error(
            "recurrence", _("重复规则必须包含 COUNT 或 UNTIL"), code="invalid_recurrence"
        )
    local_start = timezone.localtime(first.start)
    parsed: object = None
    # dateutil wants a naive DTSTART for a floating UNTIL and an aware one for UNTIL=…Z.
    for dtstart in (local_start.replace(tzinfo=None), local_start):
        try:
            parsed = rrulestr(text, dtstart=dtstart)
            break
        except (ValueError, TypeError, OverflowError):
            continue
    if not isinstance(parsed, rrule):
        raise field_error("recurrence", _("无法解析重复规则"), code="invalid_recurrence")
    cap = max_occurrences()
    starts: list[dt.datetime] = []
    try:
        for occurrence in parsed:
            starts.append(occurrence)
            if len(starts) > cap:
                break
    except (ValueError, TypeError, OverflowError):
        raise field_error("recurrence", _("无法解析重复规则"), code="invalid_recurrence") from None
    if not starts:
        raise field_error("recurrence", _("重复规则没有生成任何班次"), code="invalid_recurrence")
    if len(starts) > cap:
        raise field_error(
            "recurrence",
            _("重复规则生成的班次过多（最多 %(cap)s 个）") % {"cap": cap},
            code="invalid_recurrence",
        )
    length = first.end - first.start
    out = []
    for start in starts:
        aware = _aware(start) if start.tzinfo is None else start
        out.append(replace(first, start=aware, end=aware + length))
    return out


def _check_flexible(index: int, spec: ShiftSpec) -> None:
    """A flexible shift's window, duration and step (the bad-input list of #9)."""
    if spec.duration_min is None or spec.duration_min < 1:
        raise field_error(
            f"shifts.{index}.duration_min", _("时长须至少 1 分钟"), code="invalid_duration"
        )
    if spec.duration_min > 24 * 60:
        raise field_error(
            f"shifts.{index}.duration_min", _("单个班次不能超过 24 小时"), code="shift_too_long"
        )
    if spec.step_min is None or spec.step_min <= 0:
        raise field_error(
            f"shifts.{index}.step_min", _("起始时间步长须大于 0"), code="invalid_step"
        )
    if spec.end <= spec.start:
        raise field_error(
            f"shifts.{index}.window.end", _("结束时间必须晚于开始时间"), code="end_before_start"
        )
    if spec.end - spec.start < dt.timedelta(minutes=spec.duration_min):
        raise field_error(
            f"shifts.{index}.window",
            _("可安排时段短于班次时长"),
            code="window_too_short",
        )
    if spec.end - spec.start > MAX_WINDOW:
        raise field_error(
            f"shifts.{index}.window", _("可安排时段最长 31 天"), code="window_too_long"
        )


def _check_spec(index: int, spec: ShiftSpec, now: dt.datetime) -> None:
    if spec.is_flexible:
        _check_flexible(index, spec)
        if spec.headcount < 1:
            raise field_error(
                f"shifts.{index}.headcount", _("人数至少为 1"), code="invalid_headcount"
            )
        if spec.start < now - dt.timedelta(days=366):
            raise field_error(
                f"shifts.{index}.window.start", _("班次时间过早"), code="shift_too_old"
            )
        return
    if spec.end <= spec.start:
        raise field_error(
            f"shifts.{index}.end", _("结束时间必须晚于开始时间"), code="end_before_start"
        )
    if spec.headcount < 1:
        raise field_error(f"shifts.{index}.headcount", _("人数至少为 1"), code="invalid_headcount")
    # A past shift may be posted: staff record service that already happened
    # (帮办代办). Nobody can sign up for it; staff assign and verify it.
    if spec.start < now - dt.timedelta(days=366):
        raise field_error(f"shifts.{index}.start", _("班次时间过早"), code="shift_too_old")
    if spec.end - spec.start > dt.timedelta(hours=24):
        raise field_error(
            f"shifts.{index}.end", _("单个班次不能超过 24 小时"), code="shift_too_long"
        )


def need_post(
    *,
    actor: Member,
    community: Community,
    title: str,
    category: str,
    priority: int,
    lat: float,
    lon: float,
    address: str,
    skills: list[str],
    languages: list[str],
    shifts: list[ShiftSpec],
    description: str = "",
    beneficiary: Member | None = None,
    recurrence: str | None = None,
    space_id: int | None = None,
) -> Need:
    """Post a need with its shifts. With `recurrence`, each given shift is the first
    occurrence of the rule and the rest are generated from it."""
    permissions.require(actor, "need.create", community.id)
    if category not in Category.values:
        raise field_error("category", _("未知的需求类别"), code="invalid_category")
    if not 1 <= priority <= 5:
        raise field_error("priority", _("优先级须在 1 到 5 之间"), code="invalid_priority")
    if not shifts:
        raise field_error("shifts", _("至少需要一个班次"), code="no_shifts")
    now = timezone.now()
    # Service time is counted in whole minutes, so shifts start and end on one.
    shifts = [replace(s, start=_minute(s.start), end=_minute(s.end)) for s in shifts]
    for i, spec in enumerate(shifts):
        if spec.is_flexible:
            _check_flexible(i, spec)
            continue
        if spec.end <= spec.start:
            raise field_error(
                f"shifts.{i}.end", _("结束时间必须晚于开始时间"), code="end_before_start"
            )
        if spec.headcount < 1:
            raise field_error(f"shifts.{i}.headcount", _("人数至少为 1"), code="invalid_headcount")
    specs: list[ShiftSpec] = []
    if recurrence:
        for spec in shifts:
            specs.extend(expand_recurrence(recurrence, spec))
        if len(specs) > max_occurrences():
            raise field_error(
                "recurrence",
                _("重复规则生成的班次过多（最多 %(cap)s 个）") % {"cap": max_occurrences()},
                code="invalid_recurrence",
            )
    else:
        specs = list(shifts)
    for i, spec in enumerate(specs):
        _check_spec(i, spec, now)
    if beneficiary is not None and not beneficiary.roles.filter(community=community).exists():
        raise field_error(
            "beneficiary", _("服务对象不属于该社区"), code="beneficiary_not_in_community"
        )
    if space_id is not None:
        from resources.services import space_get

        try:
            space_get(space_id=space_id)
        except NotFound:
            raise field_error("space", _("场地不存在"), code="space_not_found") from None
    for i, spec in enumerate(shifts):
        check_spaces(index=i, spec=spec, community=community, lat=lat, lon=lon)
    with transaction.atomic(durable=True):
        need = Need.objects.create(
            community=community,
            title=title,
            category=category,
            priority=priority,
            description=description,
            beneficiary=beneficiary,
            lat=lat,
            lon=lon,
            address=address,
            skills=sorted(set(skills)),
            languages=sorted(set(languages)),
            recurrence=recurrence or "",
            space_id=space_id,
            created_by=actor,
        )
        created = Shift.objects.bulk_create(
            [shift_from_spec(need, s) for s in sorted(specs, key=lambda s: s.start)]
        )
        for shift in created:
            record_seats(shift)
        # One event for the whole need, so open shift lists can show it at once.
        record(
            [community_group(community.id), staff_group(community.id)],
            "need.posted",
            {
                "need": need.id,
                "title": need.title,
                "category": need.category,
                "priority": need.priority,
                "shifts": [
                    {
                        "id": s.id,
                        "start": iso(s.start),
                        "end": iso(s.end),
                        "seats_left": s.headcount,
                        "flexible": s.is_flexible,
                        "placed": not s.awaiting_placement,
                    }
                    for s in created
                ],
            },
        )
        ids = [s.id for s in created]
        transaction.on_commit(lambda: _schedule_no_shows(ids))
        # An urgent shift (high priority, starting soon) is re-planned at once.
        transaction.on_commit(lambda: _schedule_urgent_replans(ids))
    return need


def shift_from_spec(need: Need, spec: ShiftSpec) -> Shift:
    """The unsaved row of one spec. An unplaced flexible shift holds its earliest
    slot in start/end until a plan places it (`placed_at` stays empty)."""
    shift = Shift(
        need=need,
        community_id=need.community_id,
        start=spec.start,
        end=spec.end,
        headcount=spec.headcount,
        space_ids=sorted(set(spec.space_ids)),
        space_kind=spec.space_kind,
        space_radius_km=spec.radius_km if spec.space_kind else None,
        participants=spec.participants,
    )
    if spec.is_flexible:
        minutes = int(spec.duration_min or 0)
        shift.window_start, shift.window_end = spec.start, spec.end
        shift.duration_min, shift.step_min = minutes, spec.step_min
        shift.end = spec.start + dt.timedelta(minutes=minutes)
    return shift


def check_spaces(
    *, index: int, spec: ShiftSpec, community: Community, lat: float, lon: float
) -> None:
    """The spaces a shift may use must exist, be bookable by the whole room
    (exclusive mode) and belong to the need's community; some space must hold
    `participants`. A kind needs a radius, and some space of that kind within it."""
    from matching.optimizer.geo import haversine_km
    from resources.models import Space, SpaceKind, SpaceMode

    field = f"shifts.{index}"
    if spec.participants is not None and spec.participants < 1:
        raise field_error(
            f"{field}.participants", _("参与人数至少为 1"), code="invalid_participants"
        )
    if spec.space_ids and spec.space_kind:
        raise field_error(
            f"{field}.spaces", _("请只选择具体场地或场地类型之一"), code="spaces_and_kind"
        )
    if not spec.needs_space:
        if spec.participants is not None:
            raise field_error(
                f"{field}.participants",
                _("只有需要场地的班次才能填写参与人数"),
                code="participants_without_space",
            )
        return
    people = spec.participants or spec.headcount
    if spec.space_ids:
        found = {
            sp.pk: sp for sp in Space.objects.filter(pk__in=spec.space_ids, community=community)
        }
        unknown = sorted(set(spec.space_ids) - set(found))
        if unknown:
            raise field_error(
                f"{field}.spaces",
                _("场地不存在或不属于本社区：%(ids)s") % {"ids": ", ".join(map(str, unknown))},
                code="unknown_space",
            )
        shared = sorted(pk for pk, sp in found.items() if sp.mode != SpaceMode.EXCLUSIVE)
        if shared:
            raise field_error(
                f"{field}.spaces",
                _("按人次入场的场地不能整场安排：%(ids)s") % {"ids": ", ".join(map(str, shared))},
                code="space_not_exclusive",
            )
        candidates = list(found.values())
    else:
        if spec.space_kind not in SpaceKind.values:
            raise field_error(f"{field}.space_kind", _("未知的场地类型"), code="invalid_space_kind")
        if spec.radius_km is None or not 0 < spec.radius_km <= 50:
            raise field_error(
                f"{field}.radius_km", _("场地范围须在 0 到 50 公里之间"), code="invalid_radius"
            )
        candidates = [
            sp
            for sp in Space.objects.filter(
                community=community, kind=spec.space_kind, mode=SpaceMode.EXCLUSIVE
            )
            if haversine_km(lat, lon, sp.lat, sp.lon) <= spec.radius_km
        ]
        if not candidates:
            raise field_error(
                f"{field}.radius_km",
                _("%(km)s 公里内没有该类型的场地") % {"km": spec.radius_km},
                code="no_space_in_reach",
            )
    if all(sp.capacity < people for sp in candidates):
        raise field_error(
            f"{field}.participants",
            _("参与人数（%(n)s）超过所有可选场地的容量（最多 %(cap)s 人）")
            % {"n": people, "cap": max(sp.capacity for sp in candidates)},
            code="participants_over_capacity",
        )


def _schedule_urgent_replans(shift_ids: list[int]) -> None:
    from matching.tasks import schedule_urgent_replans

    schedule_urgent_replans(shift_ids)


def _schedule_no_shows(shift_ids: list[int]) -> None:
    from matching.tasks import schedule_no_show_check

    for shift_id in shift_ids:
        schedule_no_show_check(shift_id)


def need_update(
    *,
    actor: Member,
    need: Need,
    title: str | None = None,
    description: str | None = None,
    priority: int | None = None,
    address: str | None = None,
) -> Need:
    """Edit what a need says; its shifts and commitments stay as they are."""
    permissions.require(actor, "need.update", need.community_id)
    if title is not None and not title.strip():
        raise field_error("title", _("请填写标题"), code="title_required")
    if priority is not None and not 1 <= priority <= 5:
        raise field_error("priority", _("优先级须在 1 到 5 之间"), code="invalid_priority")
    with transaction.atomic(durable=True):
        locked = Need.objects.select_for_update(no_key=True).get(pk=need.pk)
        if locked.status == NeedStatus.CANCELLED:
            raise Conflict(_("该需求已结束或已取消"), code="need_closed")
        for field, value in (
            ("title", title and title.strip()[:200]),
            ("description", description),
            ("priority", priority),
            ("address", address and address.strip()[:300]),
        ):
            if value is not None:
                setattr(locked, field, value)
        locked.save()
        record(
            [community_group(locked.community_id), staff_group(locked.community_id)],
            "need.updated",
            {"need": locked.id, "title": locked.title, "priority": locked.priority},
        )
    return locked


def need_cancel(*, actor: Member, need: Need, reason: str) -> Need:
    """Cancel a need and every shift that has not started; volunteers are told."""
    from matching.services.signups import shift_cancel_locked

    permissions.require(actor, "need.update", need.community_id)
    if not reason.strip():
        raise field_error("reason", _("请填写取消原因"), code="reason_required")
    if need.status != NeedStatus.OPEN:
        raise Conflict(_("该需求已结束或已取消"), code="need_closed")
    now = timezone.now()
    with transaction.atomic(durable=True):
        locked = Need.objects.select_for_update(no_key=True).get(pk=need.pk)
        if locked.status != NeedStatus.OPEN:
            raise Conflict(_("该需求已结束或已取消"), code="need_closed")
        locked.status = NeedStatus.CANCELLED
        locked.save(update_fields=["status"])
        booked: list[int] = []
        for shift in Shift.objects.select_for_update(no_key=True).filter(
            need=locked, start__gt=now
        ):
            shift_cancel_locked(shift=shift, actor=actor, reason=reason, now=now)
            if shift.reservation_id is not None:
                booked.append(shift.reservation_id)
        if booked:
            booker_id = locked.created_by_id
            transaction.on_commit(lambda: _release_spaces(booker_id, booked))
    return locked


def _release_spaces(booker_id: int, reservation_ids: list[int]) -> None:
    """Give back the rooms booked for cancelled shifts, as their booker. Runs after
    commit (the booking service opens its own transaction); a refusal, e.g. past the
    space's cancellation deadline, is logged for the space manager to handle."""
    from resources.lifecycle import reservation_cancel

    booker = Member.objects.get(pk=booker_id)
    for reservation_id in reservation_ids:
        try:
            reservation_cancel(actor=booker, reservation_id=reservation_id)
        except ApplicationError as exc:
            log.warning("could not release reservation %s: %s", reservation_id, exc.code)


__all__ = ["ShiftSpec", "expand_recurrence", "need_cancel", "need_post"]
