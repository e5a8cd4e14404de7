"""Space manager pages (场地管理员): opening rules and closures, today's gate
list with check-in by scan or by hand, and utilisation."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from frontend.forms_util import add_service_error
from frontend.views.common import error_page, member
from frontend.views.resident import reservation_from_pass
from resources import availability as av
from resources import selectors as rsel
from resources.lifecycle import reservation_check_in
from resources.models import ClosureReason, Reservation, ReservationStatus, Space
from resources.services import closure_create, closure_delete, space_get, space_set_opening
from timebank import permissions
from timebank.errors import ApplicationError, Forbidden

WEEKDAYS = [_("周一"), _("周二"), _("周三"), _("周四"), _("周五"), _("周六"), _("周日")]


def _managed(request: HttpRequest, space_id: int) -> Space:
    space = space_get(space_id=space_id)
    permissions.require(member(request), "space.manage", space.community_id)
    return space


@login_required
def my_spaces(request: HttpRequest) -> HttpResponse:
    me = member(request)
    communities = [
        cid for cid in permissions.role_map(me) if permissions.allowed(me, "space.manage", cid)
    ]
    if not communities and not me.is_superuser:
        return error_page(request, Forbidden(gettext("你不是任何场地的管理员")))
    qs = (
        Space.objects.all()
        if me.is_superuser
        else Space.objects.filter(community_id__in=communities)
    )
    return render(
        request,
        "frontend/manager/spaces.html",
        {"spaces": qs.order_by("community_id", "name")[:200]},
    )


class WindowForm(forms.Form):
    weekday = forms.TypedChoiceField(
        label=_("星期"), coerce=int, choices=[(i, w) for i, w in enumerate(WEEKDAYS)]
    )
    start = forms.TimeField(
        label=_("开始"), widget=forms.TimeInput(format="%H:%M", attrs={"type": "time"})
    )
    end = forms.TimeField(
        label=_("结束"), widget=forms.TimeInput(format="%H:%M", attrs={"type": "time"})
    )


class ClosureForm(forms.Form):
    start = forms.DateTimeField(
        label=_("开始"),
        widget=forms.DateTimeInput(format="%Y-%m-%dT%H:%M", attrs={"type": "datetime-local"}),
    )
    end = forms.DateTimeField(
        label=_("结束"),
        widget=forms.DateTimeInput(format="%Y-%m-%dT%H:%M", attrs={"type": "datetime-local"}),
    )
    reason = forms.ChoiceField(label=_("原因"), choices=ClosureReason.choices)
    note = forms.CharField(label=_("说明"), required=False, max_length=200)


@login_required
def space_rules(request: HttpRequest, space_id: int) -> HttpResponse:
    try:
        space = _managed(request, space_id)
    except ApplicationError as exc:
        return error_page(request, exc)
    closure = ClosureForm(
        request.POST if request.POST.get("form") == "closure" else None, prefix="c"
    )
    if request.method == "POST":
        try:
            if request.POST.get("form") == "template":
                space_set_opening(
                    actor=member(request),
                    space=space,
                    opening=[],
                    opening_template=request.POST.get("template"),
                )
                messages.success(request, gettext("开放时间已更新。"))
                return redirect("frontend:m-rules", space_id=space.pk)
            if request.POST.get("form") == "windows":
                opening = []
                for day in range(7):
                    for n in range(3):
                        s, e = (
                            request.POST.get(f"w-{day}-{n}-start"),
                            request.POST.get(f"w-{day}-{n}-end"),
                        )
                        if s and e:
                            # Opening windows count weekdays ISO-style: 1 = Monday.
                            opening.append(
                                {
                                    "weekdays": [day + 1],
                                    "start": dt.time.fromisoformat(s),
                                    "end": dt.time.fromisoformat(e),
                                }
                            )
                space_set_opening(actor=member(request), space=space, opening=opening)
                messages.success(request, gettext("开放时间已更新。"))
                return redirect("frontend:m-rules", space_id=space.pk)
            if closure.is_bound and closure.is_valid():
                d = closure.cleaned_data
                _c, cancelled = closure_create(
                    actor=member(request),
                    space=space,
                    start=d["start"],
                    end=d["end"],
                    reason=d["reason"],
                    note=d["note"],
                )
                messages.success(
                    request,
                    gettext("已设置关闭时段，取消了 %(n)d 个预约并已通知预约人。")
                    % {"n": len(cancelled)},
                )
                return redirect("frontend:m-rules", space_id=space.pk)
            if request.POST.get("form") == "reopen":
                closure_delete(
                    actor=member(request),
                    space=space,
                    closure_id=int(str(request.POST.get("closure"))),
                )
                return redirect("frontend:m-rules", space_id=space.pk)
        except ValueError:
            messages.error(request, gettext("时间格式不正确"))
        except ApplicationError as exc:
            if closure.is_bound:
                add_service_error(closure, exc)
            else:
                messages.error(request, str(exc.detail))
    windows: dict[int, list[Any]] = defaultdict(list)
    for w in space.windows.order_by("weekday", "start_time"):
        windows[w.weekday - 1].append(w)
    grid = [
        {
            "day": d,
            "label": WEEKDAYS[d],
            "rows": [(n, windows[d][n] if n < len(windows[d]) else None) for n in range(3)],
        }
        for d in range(7)
    ]
    closures = space.closures.filter(end__gt=timezone.now()).order_by("start")
    return render(
        request,
        "frontend/manager/rules.html",
        {"space": space, "grid": grid, "closure": closure, "closures": closures},
    )


@login_required
def gate(request: HttpRequest, space_id: int) -> HttpResponse:
    try:
        space = _managed(request, space_id)
    except ApplicationError as exc:
        return error_page(request, exc)
    today = timezone.localdate()
    zone = av.tz()
    start = dt.datetime.combine(today, dt.time(0), tzinfo=zone)
    rows = list(
        rsel.reservations_for_space(actor=member(request), space=space)
        .filter(start__gte=start, start__lt=start + dt.timedelta(days=1))
        .exclude(
            status__in=[
                ReservationStatus.CANCELLED,
                ReservationStatus.REJECTED,
                ReservationStatus.EXPIRED,
            ]
        )
        .select_related("member")
        .order_by("start")
    )
    return render(request, "frontend/manager/gate.html", {"space": space, "rows": rows})


@login_required
@require_POST
def gate_check_in(request: HttpRequest, space_id: int) -> HttpResponse:
    code = str(request.POST.get("code", "")).strip()
    rid = reservation_from_pass(code) if code else None
    if rid is None and str(request.POST.get("reservation", "")).isdigit():
        rid = int(str(request.POST.get("reservation")))
    try:
        space = _managed(request, space_id)
        if rid is None or not Reservation.objects.filter(pk=rid, space=space).exists():
            raise ApplicationError(
                gettext("入场码无效或不属于本场地"), code="invalid_pass", status=422
            )
        r = reservation_check_in(actor=member(request), reservation_id=rid, token=None)
    except ApplicationError as exc:
        messages.error(request, str(exc.detail))
    else:
        messages.success(request, gettext("%(name)s 已入场。") % {"name": r.member.name})
    return redirect("frontend:m-gate", space_id=space_id)


@login_required
def utilisation(request: HttpRequest, space_id: int) -> HttpResponse:
    """A heatmap of booked share by weekday and hour over the last four weeks."""
    try:
        space = _managed(request, space_id)
    except ApplicationError as exc:
        return error_page(request, exc)
    end = timezone.now()
    start = end - dt.timedelta(days=28)
    try:
        report = rsel.space_utilisation(actor=member(request), space=space, start=start, end=end)
    except ApplicationError as exc:
        return error_page(request, exc)
    return render(request, "frontend/manager/utilisation.html", {"space": space, **heatmap(report)})


def heatmap(report: dict[str, Any]) -> dict[str, Any]:
    """Fold the report's (day, hour) rows into weekday × hour cells."""
    open_m: dict[tuple[int, int], float] = defaultdict(float)
    booked: dict[tuple[int, int], float] = defaultdict(float)
    for row in report.get("rows", []):
        day = (
            row["day"]
            if isinstance(row["day"], dt.date)
            else dt.date.fromisoformat(str(row["day"]))
        )
        key = (day.weekday(), int(row["hour"]))
        open_m[key] += float(row.get("open_minutes", 0))
        booked[key] += float(row.get("booked_minutes", 0))
    hours = sorted({h for _d, h in open_m}) or list(range(8, 22))
    rows = []
    for d in range(7):
        cells = []
        for h in hours:
            o = open_m.get((d, h), 0.0)
            share = round(100 * booked.get((d, h), 0.0) / o) if o else None
            cells.append(
                {"hour": h, "share": share, "level": 0 if share is None else min(4, share // 25)}
            )
        rows.append({"label": WEEKDAYS[d], "cells": cells})
    totals = {
        "booked_pct": round(100 * float(report.get("booked_share", 0))),
        "checked_in_pct": round(100 * float(report.get("checked_in_share", 0))),
        "no_show_pct": round(100 * float(report.get("no_show_rate", 0))),
    }
    return {"hours": hours, "rows": rows, "totals": totals}
