"""Writes about spaces: create, booking rules, opening rules, closures.

Bookings themselves go through `resources.booking` (create, hold) and
`resources.lifecycle` (confirm, approve, check in, cancel, lapse, waitlist).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from resources import availability as av
from resources.booking import announce, audit
from resources.models import (
    ACTIVE_STATUSES,
    MAX_DURATION_MINUTES,
    BlockKind,
    Closure,
    OpeningWindow,
    Reservation,
    ReservationStatus,
    SeasonPeriod,
    Space,
    SpaceBlock,
    SpaceMode,
)
from timebank import permissions
from timebank.errors import InvalidInput, NotFound, field_error
from timebank.people.models import Community, Member

TEMPLATES = {"outside_teaching_time": av.OUTSIDE_TEACHING_TIME, "all_week": av.ALL_WEEK}

# Booking rules a manager may set, with their bounds.
RULE_BOUNDS: dict[str, tuple[int, int]] = {
    "slot_minutes": (5, MAX_DURATION_MINUTES),
    "booking_window_days": (1, 90),
    "early_access_days": (0, 30),
    "min_duration_minutes": (1, MAX_DURATION_MINUTES),
    "max_duration_minutes": (1, MAX_DURATION_MINUTES),
    "weekly_quota_bookings": (1, 1000),
    "weekly_quota_minutes": (1, 7 * MAX_DURATION_MINUTES),
    "max_active_bookings": (1, 1000),
    "hold_minutes": (1, 120),
    "check_in_grace_minutes": (0, 240),
    "cancel_deadline_minutes": (0, 7 * MAX_DURATION_MINUTES),
    "no_show_limit": (1, 100),
    "no_show_window_days": (1, 365),
    "suspension_days": (1, 365),
}
RULE_FLAGS = ("approval_required", "companions_real_name", "minors_need_guardian")
NULLABLE_RULES = ("weekly_quota_bookings", "weekly_quota_minutes", "max_active_bookings")


def space_get(*, space_id: int) -> Space:
    space = Space.objects.select_related("community").filter(pk=space_id).first()
    if space is None:
        raise NotFound(_("场地不存在"), code="space_not_found")
    return space


def apply_rules(space: Space, rules: dict[str, Any]) -> None:
    """Validate and set booking rules on an unsaved or locked space."""
    for name, value in rules.items():
        if name in RULE_BOUNDS:
            if value is None and name in NULLABLE_RULES:
                setattr(space, name, None)
                continue
            lo, hi = RULE_BOUNDS[name]
            if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
                raise field_error(
                    f"rules.{name}",
                    _("须为 %(lo)s 到 %(hi)s 之间的整数") % {"lo": lo, "hi": hi},
                    code="invalid_rule",
                )
            setattr(space, name, value)
        elif name in RULE_FLAGS:
            if not isinstance(value, bool):
                raise field_error(f"rules.{name}", _("须为 true 或 false"), code="invalid_rule")
            setattr(space, name, value)
        elif name == "terms":
            space.terms = str(value)[:5000]
        else:
            raise field_error(f"rules.{name}", _("未知的预约规则"), code="invalid_rule")
    if space.min_duration_minutes > space.max_duration_minutes:
        raise field_error(
            "rules.min_duration_minutes", _("最短时长不能大于最长时长"), code="invalid_rule"
        )


def parse_windows(
    opening: Sequence[dict[str, Any]] | None, template: str | None
) -> list[tuple[int, dt.time, dt.time, str]]:
    """Weekly windows from the request: a template and/or explicit windows."""
    windows: list[tuple[int, dt.time, dt.time, str]] = []
    if template:
        if template not in TEMPLATES:
            raise field_error("opening_template", _("未知的开放模板"), code="invalid_opening")
        windows.extend(TEMPLATES[template])
    for i, w in enumerate(opening or []):
        opens, closes = w["start"], w["end"]
        if closes <= opens:
            raise field_error(
                f"opening.{i}.end", _("结束时间须晚于开始时间"), code="invalid_opening"
            )
        for day in w["weekdays"]:
            windows.append((day, opens, closes, w.get("season", "any")))
    return windows


def write_opening(
    space: Space,
    windows: list[tuple[int, dt.time, dt.time, str]],
    seasons: Sequence[dict[str, Any]],
) -> None:
    OpeningWindow.objects.filter(space=space).delete()
    SeasonPeriod.objects.filter(space=space).delete()
    OpeningWindow.objects.bulk_create(
        [
            OpeningWindow(space=space, weekday=d, start_time=s, end_time=e, season=season)
            for d, s, e, season in windows
        ]
    )
    for i, p in enumerate(seasons):
        if p["end_date"] < p["start_date"]:
            raise field_error(
                f"seasons.{i}.end_date", _("结束日期不能早于开始日期"), code="invalid_opening"
            )
    SeasonPeriod.objects.bulk_create(
        [
            SeasonPeriod(
                space=space,
                name=p.get("name", ""),
                season=p["season"],
                start_date=p["start_date"],
                end_date=p["end_date"],
            )
            for p in seasons
        ]
    )


def space_create(
    *,
    actor: Member,
    community: Community,
    name: str,
    kind: str,
    mode: str,
    capacity: int,
    lat: float,
    lon: float,
    address: str = "",
    owner_type: str = "other",
    parent_id: int | None = None,
    features: Sequence[str] = (),
    rules: dict[str, Any] | None = None,
    opening: Sequence[dict[str, Any]] | None = None,
    opening_template: str | None = None,
    seasons: Sequence[dict[str, Any]] = (),
) -> Space:
    """Create a space (space manager or admin of its community). With no
    opening rules and no template, it opens every day 08:00–22:00; a sub-area
    with none of its own follows its parent's."""
    permissions.require(actor, "space.create", community.pk)
    name = name.strip()
    if not name:
        raise field_error("name", _("请填写场地名称"))
    parent = None
    if parent_id is not None:
        parent = Space.objects.filter(pk=parent_id).first()
        if parent is None:
            raise NotFound(_("上级场地不存在"), code="space_not_found")
        if parent.community_id != community.pk:
            raise field_error("parent", _("上级场地属于其他社区"), code="invalid_parent")
        if parent.mode != SpaceMode.EXCLUSIVE or mode != SpaceMode.EXCLUSIVE:
            raise field_error(
                "parent", _("只有整场包场的场地才能划分子场地"), code="invalid_parent"
            )
    space = Space(
        community=community,
        parent=parent,
        name=name,
        kind=kind,
        owner_type=owner_type,
        mode=mode,
        capacity=capacity,
        lat=lat,
        lon=lon,
        address=address.strip(),
        features=list(features),
    )
    if parent is not None:
        # A half pitch takes its pitch's rules unless told otherwise.
        for rule in (*RULE_BOUNDS, *RULE_FLAGS, "terms"):
            setattr(space, rule, getattr(parent, rule))
    apply_rules(space, rules or {})
    windows = parse_windows(opening, opening_template)
    if opening is None and not opening_template and parent is None:
        windows = list(av.ALL_WEEK)
    with transaction.atomic():
        space.save()
        write_opening(space, windows, seasons)
        # Its ancestors gained a sub-area.
        av.forget_shapes([a.pk for a in av.lineage(space)])
    return space


def space_update_rules(*, actor: Member, space: Space, rules: dict[str, Any]) -> Space:
    permissions.require(actor, "space.manage", space.community_id)
    with transaction.atomic():
        locked = Space.objects.select_for_update(no_key=True).get(pk=space.pk)
        apply_rules(locked, rules)
        locked.save()
    return locked


def space_set_opening(
    *,
    actor: Member,
    space: Space,
    opening: Sequence[dict[str, Any]],
    opening_template: str | None = None,
    seasons: Sequence[dict[str, Any]] = (),
) -> Space:
    """Replace the weekly windows and seasons. Existing bookings stand: changing
    the hours is not a reason to cancel someone's game."""
    permissions.require(actor, "space.manage", space.community_id)
    windows = parse_windows(opening, opening_template)
    with transaction.atomic():
        write_opening(space, windows, seasons)
        # Sub-areas without rules of their own borrow these.
        av.forget_shapes([d.pk for d in av.descendants(space)])
    return space


def closure_create(
    *,
    actor: Member,
    space: Space,
    start: dt.datetime,
    end: dt.datetime,
    reason: str,
    note: str = "",
) -> tuple[Closure, list[Reservation]]:
    """Close a space (and its sub-areas) for a period, e.g. exams or maintenance.
    Active bookings in the period are cancelled, and their bookers told live."""
    permissions.require(actor, "space.manage", space.community_id)
    if timezone.is_naive(start) or timezone.is_naive(end) or end <= start:
        raise field_error("end", _("结束时间须晚于开始时间"), code="invalid_period")
    if end - start > dt.timedelta(days=366):
        raise field_error("end", _("关闭时段不能超过一年"), code="invalid_period")
    now = timezone.now()
    with transaction.atomic(durable=True):
        closure = Closure.objects.create(
            space=space, start=start, end=end, reason=reason, note=note.strip(), created_by=actor
        )
        ids = sorted(
            set(
                SpaceBlock.objects.filter(
                    area__in=[a.pk for a in av.descendants(space) + av.lineage(space)[1:]],
                    kind=BlockKind.OWN,
                    active=True,
                    start__lt=end,
                    end__gt=start,
                ).values_list("reservation_id", flat=True)
            )
            | set(
                Reservation.objects.filter(
                    space=space,
                    status__in=ACTIVE_STATUSES,
                    session__isnull=False,
                    start__lt=end,
                    end__gt=start,
                ).values_list("pk", flat=True)
            )
        )
        cancelled = []
        from resources.lifecycle import free, locked

        for rid in ids:
            r = locked(rid)
            if r.status not in ACTIVE_STATUSES or r.status == ReservationStatus.CHECKED_IN:
                continue
            r.status = ReservationStatus.CANCELLED
            r.ended_at = now
            r.handled_by = actor
            r.save(update_fields=["status", "ended_at", "handled_by"])
            free(r)
            announce(r, "reservation.released", r.space)
            audit(r, "reservation.cancelled", r.space, actor)
            cancelled.append(r)
    return closure, cancelled


def closure_delete(*, actor: Member, space: Space, closure_id: int) -> None:
    permissions.require(actor, "space.manage", space.community_id)
    with transaction.atomic():
        deleted, _rows = Closure.objects.filter(pk=closure_id, space=space).delete()
    if not deleted:
        raise NotFound(_("关闭时段不存在"), code="closure_not_found")


def check_range(start: dt.datetime, end: dt.datetime, *, max_days: int = 31) -> None:
    if timezone.is_naive(start) or timezone.is_naive(end):
        raise field_error("from", _("时间须带时区"), code="invalid_period")
    if end <= start:
        raise field_error("to", _("结束时间须晚于开始时间"), code="invalid_period")
    if end - start > dt.timedelta(days=max_days):
        raise InvalidInput(_("查询范围不能超过 %(d)s 天") % {"d": max_days}, code="range_too_long")
