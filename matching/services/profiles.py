"""Volunteer profiles (志愿者档案): skills, languages, reach, availability, limits."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from matching.models import (
    AvailabilityException,
    AvailabilityWindow,
    Category,
    VolunteerProfile,
    VolunteerSkill,
    new_calendar_token,
)
from matching.services.signups import profile_ensure
from timebank import permissions
from timebank.errors import Forbidden, field_error
from timebank.people.models import Member

WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_SPEC = re.compile(
    r"^\s*(?P<days>[a-z,\-]+)\s*(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$"
)
_CN_DAY = {
    "一": "mon",
    "二": "tue",
    "三": "wed",
    "四": "thu",
    "五": "fri",
    "六": "sat",
    "日": "sun",
    "天": "sun",
}
_CN_PUNCT = str.maketrans(
    {
        "：": ":",
        "，": ",",
        "、": ",",
        "～": "-",
        "~": "-",
        "—": "-",
        "－": "-",
        "至": "-",
        "到": "-",
    }
)


def _normalise(part: str) -> str:
    """Accept the way people write it in Chinese too: "周一至周五 18:00-21:00"."""
    part = part.translate(_CN_PUNCT)
    part = re.sub(r"(?:周|星期|礼拜)([一二三四五六日天])", lambda m: _CN_DAY[m.group(1)], part)
    return re.sub(r"\s*([,\-])\s*(?=[a-z])", r"\1", part)


@dataclass(frozen=True)
class Window:
    weekday: int
    start: dt.time
    end: dt.time


def _time(text: str, field: str) -> dt.time:
    try:
        hour, minute = (int(p) for p in text.split(":"))
        if hour == 24 and minute == 0:
            return dt.time(23, 59)
        return dt.time(hour, minute)
    except ValueError:
        raise field_error(field, _("时间格式应为 HH:MM"), code="invalid_availability") from None


def parse_availability(text: str) -> list[Window]:
    """Quick entry: "mon-fri 18:00-21:00; sat,sun 09:00-12:00" or
    "周一至周五 18:00-21:00；周六、周日 09:00-12:00" → weekly windows."""
    out: list[Window] = []
    for i, part in enumerate(p for p in re.split(r"[;；\n]", text.lower()) if p.strip()):
        field = f"availability_text.{i}"
        m = _SPEC.match(_normalise(part))
        if m is None:
            raise field_error(
                field,
                _("无法识别：%(part)s（示例：周一至周五 18:00-21:00）") % {"part": part.strip()},
                code="invalid_availability",
            )
        days: list[int] = []
        for chunk in m["days"].split(","):
            bounds = chunk.split("-")
            if any(b not in WEEKDAYS for b in bounds) or len(bounds) > 2:
                raise field_error(field, _("无法识别星期"), code="invalid_availability")
            first, last = WEEKDAYS[bounds[0]], WEEKDAYS[bounds[-1]]
            days.extend(
                range(first, last + 1) if first <= last else [*range(first, 7), *range(0, last + 1)]
            )
        start, end = _time(m["start"], field), _time(m["end"], field)
        if end <= start:
            raise field_error(field, _("结束时间必须晚于开始时间"), code="invalid_availability")
        out.extend(Window(d, start, end) for d in sorted(set(days)))
    return out


def can_manage(actor: Member, member: Member) -> bool:
    """Staff of any community the member belongs to may edit their profile."""
    if actor.pk == member.pk or actor.is_superuser:
        return True
    communities = set(member.roles.values_list("community_id", flat=True))
    return any(permissions.allowed(actor, "volunteer.manage", cid) for cid in communities)


def profile_update(*, actor: Member, member: Member, changes: dict[str, Any]) -> VolunteerProfile:
    """Replace the parts of the profile named in `changes` (others stay as they are).

    Keys: skills [{name, cert_expires}], languages, home {lat, lon} | None,
    travel_radius_km, weekly_limit_minutes, preferred_categories, notify_email,
    availability [{weekday, start, end}], availability_text, exceptions
    [{date, available, start?, end?, note?}].
    """
    if not can_manage(actor, member):
        raise Forbidden(_("你不能修改该志愿者的档案"), code="forbidden")
    for cat in changes.get("preferred_categories") or []:
        if cat not in Category.values:
            raise field_error("preferred_categories", _("未知的需求类别"), code="invalid_category")
    windows: list[Window] | None = None
    if changes.get("availability") is not None:
        windows = []
        for i, w in enumerate(changes["availability"]):
            if w["end"] <= w["start"]:
                raise field_error(
                    f"availability.{i}.end",
                    _("结束时间必须晚于开始时间"),
                    code="invalid_availability",
                )
            windows.append(Window(w["weekday"], w["start"], w["end"]))
    if changes.get("availability_text") is not None:
        windows = (windows or []) + parse_availability(changes["availability_text"])
    for i, e in enumerate(changes.get("exceptions") or []):
        if (e.get("start") is None) != (e.get("end") is None) or (
            e.get("start") is not None and e["end"] <= e["start"]
        ):
            raise field_error(
                f"exceptions.{i}",
                _("例外时段需同时给出开始和结束，且结束晚于开始"),
                code="invalid_availability",
            )
    profile_ensure(member=member)
    with transaction.atomic(durable=True):
        profile = VolunteerProfile.objects.select_for_update(no_key=True).get(pk=member.pk)
        simple = (
            "languages",
            "travel_radius_km",
            "weekly_limit_minutes",
            "preferred_categories",
            "notify_email",
        )
        for key in simple:
            if key in changes:
                value = changes[key]
                if key in ("languages", "preferred_categories"):
                    value = sorted(set(value or []))
                if key == "notify_email":
                    value = value or ""
                setattr(profile, key, value)
        if "home" in changes:
            home = changes["home"]
            profile.home_lat = home["lat"] if home else None
            profile.home_lon = home["lon"] if home else None
        profile.save()
        if changes.get("skills") is not None:
            profile.skills.all().delete()
            seen: dict[str, dt.date | None] = {}
            for s in changes["skills"]:
                seen[s["name"].strip()] = s.get("cert_expires")
            VolunteerSkill.objects.bulk_create(
                [
                    VolunteerSkill(profile=profile, name=n, cert_expires=d)
                    for n, d in seen.items()
                    if n
                ]
            )
        if windows is not None:
            profile.windows.all().delete()
            AvailabilityWindow.objects.bulk_create(
                [
                    AvailabilityWindow(profile=profile, weekday=w.weekday, start=w.start, end=w.end)
                    for w in sorted(set(windows), key=lambda w: (w.weekday, w.start))
                ]
            )
        if changes.get("exceptions") is not None:
            profile.exceptions.all().delete()
            AvailabilityException.objects.bulk_create(
                [
                    AvailabilityException(
                        profile=profile,
                        date=e["date"],
                        available=bool(e.get("available", False)),
                        start=e.get("start"),
                        end=e.get("end"),
                        note=(e.get("note") or "")[:200],
                    )
                    for e in changes["exceptions"]
                ]
            )
    return profile


def calendar_token_rotate(*, member: Member) -> VolunteerProfile:
    """A new secret feed URL; the old one stops working."""
    profile = profile_ensure(member=member)
    profile.calendar_token = new_calendar_token()
    profile.save(update_fields=["calendar_token"])
    return profile
