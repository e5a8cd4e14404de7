"""Social worker pages (社工): needs board, coverage, hours to verify, and a
shift's candidates. Writes go through the same services as the API."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from frontend.forms_util import add_service_error
from frontend.views.common import error_page, member
from frontend.views.people import staff_community_id
from frontend.views.resident import qr_svg
from matching import selectors as msel
from matching.candidates import shift_candidates
from matching.models import (
    Assignment,
    AssignmentStatus,
    Category,
    MatchingRun,
    Need,
    ServiceRequest,
    Shift,
)
from matching.optimizer.geo import haversine_km
from matching.services import attendance
from matching.services.needs import ShiftSpec, need_cancel, need_post, need_update
from matching.services.requests import service_request_handle
from matching.services.runs import run_apply, run_create
from resources.models import Space, SpaceMode
from timebank.errors import ApplicationError, NotFound
from timebank.people.selectors import community_get
from timebank.permissions import require

S = AssignmentStatus


class NeedForm(forms.Form):
    title = forms.CharField(label=_("标题"), max_length=200)
    category = forms.ChoiceField(label=_("类别"), choices=Category.choices)
    priority = forms.TypedChoiceField(
        label=_("优先级（5 为最需要兜底）"),
        coerce=int,
        choices=[(i, str(i)) for i in range(1, 6)],
        initial=3,
    )
    address = forms.CharField(label=_("地址"), max_length=300)
    lat = forms.FloatField(label=_("纬度"), min_value=-90, max_value=90)
    lon = forms.FloatField(label=_("经度"), min_value=-180, max_value=180)
    skills = forms.CharField(label=_("所需技能（逗号分隔）"), required=False, max_length=300)
    languages = forms.CharField(
        label=_("所需语言（逗号分隔，如 yue）"), required=False, max_length=100
    )
    description = forms.CharField(
        label=_("说明"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    start = forms.DateTimeField(
        label=_("开始时间"),
        widget=forms.DateTimeInput(format="%Y-%m-%dT%H:%M", attrs={"type": "datetime-local"}),
    )
    end = forms.DateTimeField(
        label=_("结束时间"),
        required=False,
        widget=forms.DateTimeInput(format="%Y-%m-%dT%H:%M", attrs={"type": "datetime-local"}),
        help_text=_("弹性时段：填可安排时段的结束时间"),
    )
    headcount = forms.IntegerField(label=_("需要人数"), min_value=1, max_value=200, initial=1)
    # A flexible shift (弹性时段): start/end become the window, and a matching run
    # chooses the start on the step grid and one of the chosen spaces.
    flexible = forms.BooleanField(label=_("时间由智能匹配选定（弹性时段）"), required=False)
    duration_min = forms.IntegerField(
        label=_("时长（分钟，弹性时段）"), required=False, min_value=1, max_value=24 * 60
    )
    step_min = forms.IntegerField(
        label=_("起始时间步长（分钟，弹性时段）"), required=False, initial=30
    )
    spaces = forms.TypedMultipleChoiceField(
        label=_("可选场地（可多选，不选则不需要场地）"),
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    participants = forms.IntegerField(
        label=_("参与人数（需要场地时，默认为需要人数）"), required=False, min_value=1
    )
    request_id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    weeks = forms.IntegerField(
        label=_("每周重复次数（1 为不重复）"), min_value=1, max_value=52, initial=1, required=False
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("end") and "end" not in self.errors:
            self.add_error("end", _("请填写结束时间"))
        if data.get("start") and data.get("end") and data["end"] <= data["start"]:
            self.add_error("end", _("结束时间必须晚于开始时间"))
        if data.get("flexible") and not data.get("duration_min"):
            self.add_error("duration_min", _("弹性时段须填写时长"))
        return data

    def shift_spec(self) -> ShiftSpec:
        d = self.cleaned_data
        spec = ShiftSpec(
            start=d["start"],
            end=d["end"],
            headcount=d["headcount"],
            space_ids=tuple(d.get("spaces") or ()),
            participants=d.get("participants") if d.get("spaces") else None,
        )
        if d.get("flexible"):
            spec = replace(spec, duration_min=d["duration_min"], step_min=d.get("step_min") or 0)
        return spec


def _split(text: str) -> list[str]:
    return [p.strip() for p in text.replace("，", ",").split(",") if p.strip()]


@login_required
def needs_board(request: HttpRequest) -> HttpResponse:
    try:
        cid = staff_community_id(request, "need.create")
    except ApplicationError as exc:
        return error_page(request, exc)
    community = community_get(community_id=cid)
    initial: dict[str, Any] = {"lat": community.center_lat, "lon": community.center_lon}
    asked = None
    raw_request = request.GET.get("from_request") or request.POST.get("request_id")
    if raw_request and str(raw_request).isdigit():
        asked = ServiceRequest.objects.filter(pk=int(raw_request), community=community).first()
    if asked is not None:
        initial.update(
            {
                "title": asked.description[:60],
                "category": asked.category,
                "description": f"{asked.description}（{asked.preferred}）"
                if asked.preferred
                else asked.description,
                "request_id": asked.pk,
            }
        )
        if asked.member.home_lat is not None and asked.member.home_lon is not None:
            initial.update({"lat": asked.member.home_lat, "lon": asked.member.home_lon})
    form = NeedForm(request.POST or None, initial=initial)
    form.fields["spaces"].choices = [  # type: ignore[attr-defined]
        (sp.pk, f"{sp.name}（{sp.capacity} 人）")
        for sp in Space.objects.filter(
            community=community, mode=SpaceMode.EXCLUSIVE, is_active=True
        ).order_by("name")
    ]
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        weeks = d.get("weeks") or 1
        try:
            need = need_post(
                actor=member(request),
                community=community,
                title=d["title"],
                category=d["category"],
                priority=d["priority"],
                lat=d["lat"],
                lon=d["lon"],
                address=d["address"],
                skills=_split(d["skills"]),
                languages=_split(d["languages"]),
                description=d["description"],
                shifts=[form.shift_spec()],
                recurrence=f"FREQ=WEEKLY;COUNT={weeks}" if weeks > 1 else None,
                beneficiary=asked.member if asked is not None else None,
            )
            if asked is not None:
                service_request_handle(actor=member(request), request=asked, accept=True, need=need)
        except ApplicationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, gettext("已发布：%(t)s") % {"t": need.title})
            return redirect(f"{request.path}?community={cid}")
    needs = (
        Need.objects.filter(community=community)
        .annotate(
            shift_count=Count("shifts", filter=Q(shifts__cancelled_at__isnull=True)),
        )
        .order_by("-id")[:50]
    )
    requests = ServiceRequest.objects.filter(community=community, status="open").select_related(
        "member"
    )[:50]
    return render(
        request,
        "frontend/staff/needs.html",
        {
            "form": form,
            "needs": needs,
            "community": community,
            "requests": requests,
            "asked": asked,
        },
    )


class NeedEditForm(forms.Form):
    title = forms.CharField(label=_("标题"), max_length=200)
    priority = forms.TypedChoiceField(
        label=_("优先级（5 为最需要兜底）"), coerce=int, choices=[(i, str(i)) for i in range(1, 6)]
    )
    address = forms.CharField(label=_("地址"), max_length=300)
    description = forms.CharField(
        label=_("说明"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )


@login_required
def need_edit(request: HttpRequest, need_id: int) -> HttpResponse:
    try:
        need = msel.need_get(need_id=need_id)
        require(member(request), "need.update", need.community_id)
    except ApplicationError as exc:
        return error_page(request, exc)
    form = NeedEditForm(
        request.POST if request.POST.get("form") == "edit" else None,
        initial={
            "title": need.title,
            "priority": need.priority,
            "address": need.address,
            "description": need.description,
        },
    )
    if request.method == "POST":
        try:
            if request.POST.get("form") == "cancel":
                need_cancel(
                    actor=member(request), need=need, reason=str(request.POST.get("reason", ""))
                )
                messages.success(request, gettext("需求已取消，已通知相关志愿者。"))
                return redirect(f"{reverse('frontend:s-needs')}?community={need.community_id}")
            if form.is_valid():
                need_update(actor=member(request), need=need, **form.cleaned_data)
                messages.success(request, gettext("已保存。"))
                return redirect("frontend:s-need", need_id=need.pk)
        except ApplicationError as exc:
            if form.is_bound:
                add_service_error(form, exc)
            else:
                messages.error(request, str(exc.detail))
    return render(
        request,
        "frontend/staff/need.html",
        {
            "need": need,
            "form": form,
            "community": community_get(community_id=need.community_id),
            "shifts": msel.need_shifts(need),
        },
    )


@login_required
@require_POST
def request_decline(request: HttpRequest, request_id: int) -> HttpResponse:
    asked = ServiceRequest.objects.filter(pk=request_id).first()
    if asked is None:
        return error_page(request, NotFound(gettext("找不到该请求")))
    try:
        service_request_handle(
            actor=member(request),
            request=asked,
            accept=False,
            note=str(request.POST.get("note", "")),
        )
    except ApplicationError as exc:
        messages.error(request, str(exc.detail))
    else:
        messages.success(request, gettext("已答复居民。"))
    return redirect(f"{reverse('frontend:s-needs')}?community={asked.community_id}")


@login_required
def coverage(request: HttpRequest) -> HttpResponse:
    """Upcoming shifts, filled and unfilled, the most vulnerable first (兜底)."""
    try:
        cid = staff_community_id(request, "assignment.manage")
    except ApplicationError as exc:
        return error_page(request, exc)
    community = community_get(community_id=cid)
    now = timezone.now()
    shifts = list(
        Shift.objects.filter(
            community=community,
            cancelled_at__isnull=True,
            end__gt=now,
            start__lt=now + dt.timedelta(days=14),
        )
        .select_related("need")
        .order_by("-need__priority", "start")[:200]
    )
    by_priority: dict[int, dict[str, int]] = {}
    for s in shifts:
        row = by_priority.setdefault(s.need.priority, {"seats": 0, "filled": 0})
        row["seats"] += s.headcount
        row["filled"] += min(s.seats_taken, s.headcount)
    summary = [
        {
            "priority": p,
            **row,
            "pct": round(100 * row["filled"] / row["seats"]) if row["seats"] else 100,
        }
        for p, row in sorted(by_priority.items(), reverse=True)
    ]
    return render(
        request,
        "frontend/staff/coverage.html",
        {"community": community, "shifts": shifts, "summary": summary},
    )


class VerifyForm(forms.Form):
    minutes = forms.IntegerField(label=_("核定分钟"), min_value=0, max_value=1440, required=False)
    reason = forms.CharField(label=_("调整原因"), required=False, max_length=300)


@login_required
def verify_queue(request: HttpRequest) -> HttpResponse:
    try:
        cid = staff_community_id(request, "assignment.verify")
    except ApplicationError as exc:
        return error_page(request, exc)
    rows = list(
        Assignment.objects.filter(community_id=cid, status=S.CHECKED_OUT)
        .select_related("volunteer", "shift__need")
        .order_by("end")[:100]
    )
    return render(
        request,
        "frontend/staff/verify.html",
        {"rows": rows, "community": community_get(community_id=cid)},
    )


@login_required
@require_POST
def verify_one(request: HttpRequest, assignment_id: int) -> HttpResponse:
    form = VerifyForm(request.POST)
    try:
        a = msel.assignment_get(assignment_id=assignment_id)
        if not form.is_valid():
            messages.error(request, gettext("核定分钟须在 0 到 1440 之间"))
        else:
            attendance.assignment_verify(
                actor=member(request),
                assignment=a,
                minutes=form.cleaned_data["minutes"],
                reason=form.cleaned_data["reason"] or "",
            )
            messages.success(request, gettext("已核验，时长已记入时间银行。"))
    except ApplicationError as exc:
        messages.error(request, str(exc.detail))
    return redirect(request.POST.get("next") or "frontend:s-verify")


@login_required
def shift_candidates_page(request: HttpRequest, shift_id: int) -> HttpResponse:
    try:
        shift = msel.shift_get(shift_id=shift_id)
        require(member(request), "assignment.manage", shift.community_id)
    except ApplicationError as exc:
        return error_page(request, exc)
    token, expires = attendance.shift_qr_token(actor=member(request), shift=shift)
    check_in_url = (
        request.build_absolute_uri(reverse("frontend:v-checkin")) + "?" + urlencode({"code": token})
    )
    return render(
        request,
        "frontend/staff/candidates.html",
        {
            "qr": qr_svg(check_in_url, gettext("签到二维码")),
            "token": token,
            "token_expires": expires,
            "shift": shift,
            "roster": msel.shift_roster(shift=shift),
            "candidates": shift_candidates(shift=shift, k=5),
        },
    )


class RunForm(forms.Form):
    start = forms.DateTimeField(
        label=_("从"),
        widget=forms.DateTimeInput(format="%Y-%m-%dT%H:%M", attrs={"type": "datetime-local"}),
    )
    end = forms.DateTimeField(
        label=_("到"),
        widget=forms.DateTimeInput(format="%Y-%m-%dT%H:%M", attrs={"type": "datetime-local"}),
    )
    time_limit_s = forms.IntegerField(
        label=_("求解时间上限（秒）"), min_value=1, max_value=300, initial=10
    )


@login_required
def runs(request: HttpRequest) -> HttpResponse:
    """Start a matching run (智能匹配); it is solved by the task worker."""
    try:
        cid = staff_community_id(request, "matching.run")
    except ApplicationError as exc:
        return error_page(request, exc)
    community = community_get(community_id=cid)
    now = timezone.localtime()
    form = RunForm(
        request.POST or None,
        initial={
            "start": now.strftime("%Y-%m-%dT%H:%M"),
            "end": (now + dt.timedelta(days=14)).strftime("%Y-%m-%dT%H:%M"),
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            run = run_create(
                actor=member(request),
                community=community,
                start=form.cleaned_data["start"],
                end=form.cleaned_data["end"],
                time_limit_s=form.cleaned_data["time_limit_s"],
            )
        except ApplicationError as exc:
            add_service_error(form, exc)
        else:
            return redirect("frontend:s-run", run_id=run.pk)
    recent = MatchingRun.objects.filter(community=community).order_by("-id")[:10]
    return render(
        request,
        "frontend/staff/runs.html",
        {"form": form, "community": community, "recent": recent},
    )


@login_required
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = MatchingRun.objects.filter(pk=run_id).first()
    if run is None:
        return error_page(request, NotFound(gettext("找不到该匹配")))
    try:
        require(member(request), "matching.run", run.community_id)
    except ApplicationError as exc:
        return error_page(request, exc)
    proposals: list[dict[str, Any]] = []
    for p in run.proposals.select_related("volunteer", "shift__need").order_by(
        "shift__start", "id"
    ):
        need = p.shift.need
        lat, lon = p.volunteer.home_lat, p.volunteer.home_lon
        km = (
            haversine_km(lat, lon, need.lat, need.lon)
            if lat is not None and lon is not None
            else None
        )
        proposals.append({"p": p, "km": round(km, 1) if km is not None else None})
    best = run.progress.get("objective") if run.progress else None
    bound = run.progress.get("bound") if run.progress else None
    return render(
        request,
        "frontend/staff/run.html",
        {
            "run": run,
            "community": community_get(community_id=run.community_id),
            "proposals": proposals,
            "best": best,
            "bound": bound,
            "pct": round(100 * best / bound) if best and bound else 0,
            "pending": [row for row in proposals if row["p"].status == "proposed"],
        },
    )


@login_required
@require_POST
def run_apply_view(request: HttpRequest, run_id: int) -> HttpResponse:
    run = MatchingRun.objects.filter(pk=run_id).first()
    if run is None:
        return error_page(request, NotFound(gettext("找不到该匹配")))
    ids = [int(v) for v in request.POST.getlist("proposal") if v.isdigit()]
    try:
        result = run_apply(
            actor=member(request),
            run=run,
            proposal_ids=ids if request.POST.get("which") == "some" else None,
        )
    except ApplicationError as exc:
        messages.error(request, str(exc.detail))
    else:
        messages.success(
            request,
            gettext("已采纳 %(a)d 条建议，跳过 %(s)d 条。")
            % {"a": len(result.get("applied", [])), "s": len(result.get("skipped", []))},
        )
        # A flexible shift whose slot was taken meanwhile was re-placed (or could
        # not be): say what moved and why, in local time.
        for moved in result.get("moved", []):
            placed = moved.get("placed")
            if placed:
                when = timezone.localtime(dt.datetime.fromisoformat(placed["start"]))
                messages.warning(
                    request,
                    gettext("班次 %(shift)s 原定时段已被占用（%(why)s），已改为 %(when)s。")
                    % {
                        "shift": moved["shift"],
                        "why": moved["detail"],
                        "when": when.strftime("%Y-%m-%d %H:%M"),
                    },
                )
            else:
                messages.error(
                    request,
                    gettext("班次 %(shift)s 原定时段已被占用（%(why)s），未能改排。")
                    % {"shift": moved["shift"], "why": moved["detail"]},
                )
    return redirect("frontend:s-run", run_id=run_id)
