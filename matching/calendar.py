"""The volunteer's iCalendar feed (RFC 5545), written by hand: CRLF line ends,
TEXT escaping and 75-octet line folding."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.conf import settings
from django.utils import timezone

from matching.models import Assignment, AssignmentStatus


def escape_text(value: str) -> str:
    """RFC 5545 §3.3.11: backslash, semicolon, comma and newlines are escaped."""
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def fold(line: str) -> str:
    """Split a content line into ≤75-octet pieces without breaking a UTF-8 character."""
    out: list[str] = []
    current = ""
    limit = 75
    for ch in line:
        if len((current + ch).encode()) > limit:
            out.append(current)
            current = " " + ch
            limit = 75
        else:
            current += ch
    out.append(current)
    return "\r\n".join(out)


def _utc(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def _host() -> str:
    hosts = [h for h in settings.ALLOWED_HOSTS if h and h != "*" and not h.startswith(".")]
    return hosts[0] if hosts else "timebank.local"


def feed(assignments: Iterable[Assignment], *, name: str) -> str:
    now = _utc(timezone.now())
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//timebank//volunteer shifts//ZH",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(name)}",
    ]
    for a in assignments:
        need = a.shift.need
        status = "TENTATIVE" if a.status == AssignmentStatus.OFFERED else "CONFIRMED"
        lines += [
            "BEGIN:VEVENT",
            f"UID:assignment-{a.pk}@{_host()}",
            f"DTSTAMP:{now}",
            f"DTSTART:{_utc(a.start)}",
            f"DTEND:{_utc(a.end)}",
            f"SUMMARY:{escape_text(need.title)}",
            f"DESCRIPTION:{escape_text(need.description)}",
            f"LOCATION:{escape_text(need.address)}",
            f"GEO:{need.lat:.6f};{need.lon:.6f}",
            f"STATUS:{status}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)
