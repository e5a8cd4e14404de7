"""The community dashboard (社区看板): charts of the figures staff report on."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from frontend.charts import bar_chart
from frontend.views.common import error_page
from frontend.views.people import staff_community_id
from timebank import reports
from timebank.errors import ApplicationError
from timebank.people.selectors import community_get

WEEKDAYS = [_("周一"), _("周二"), _("周三"), _("周四"), _("周五"), _("周六"), _("周日")]


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    try:
        cid = staff_community_id(request, "dashboard.read")
    except ApplicationError as exc:
        return error_page(request, exc)
    community = community_get(community_id=cid)
    since = timezone.now() - timedelta(days=90)
    rates = reports.need_rates(community=community, since=since)
    weeks = reports.hours_per_week(community=community)
    density = reports.volunteer_density(community=community)
    heat = reports.space_heatmap(community=community)
    no_shows = reports.no_show_rates(community=community)
    hours = list(range(7, 23))
    peak = max(heat.values(), default=0)
    heat_rows = [
        {
            "label": WEEKDAYS[d - 1],
            "cells": [
                {
                    "hour": h,
                    "n": heat.get((d, h), 0),
                    "level": 0
                    if not peak
                    else min(4, (4 * heat.get((d, h), 0) + peak - 1) // peak),
                }
                for h in hours
            ],
        }
        for d in range(1, 8)
    ]
    rate_items = [
        (gettext("接诉响应率"), float(rates["response"].pct or 0)),
        (gettext("问题解决率"), float(rates["resolution"].pct or 0)),
        (gettext("群众满意率"), float(rates["satisfaction"].pct or 0)),
    ]
    week_items = [(f"{w:%m-%d}", round(m / 60, 1)) for w, m in weeks]
    density_items = [
        (gettext("注册志愿者"), density["registered_per_10k"]),
        (gettext("活跃志愿者"), density["active_per_10k"]),
    ]
    return render(
        request,
        "frontend/dashboard.html",
        {
            "community": community,
            "rates": rates,
            "rate_chart": bar_chart(rate_items, title=gettext("近 90 天需求三率"), unit="%"),
            "weeks": week_items,
            "week_chart": bar_chart(week_items, title=gettext("每周服务时长（小时）"), unit="h"),
            "density": density,
            "density_chart": bar_chart(
                density_items,
                title=gettext("每万名居民志愿者人数，虚线为 2500 目标"),
                target=float(density["target_per_10k"]),
            ),
            "hours": hours,
            "heat_rows": heat_rows,
            "no_shows": no_shows,
        },
    )
