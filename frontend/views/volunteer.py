"""Volunteer pages (志愿者): home, find shifts, a shift, my schedule, check-in,
my hours and my profile. Every write goes through the API's services."""

from __future__ import annotations

import datetime as dt
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
from matching import selectors as msel
from matching.models import AssignmentStatus, Category
from matching.optimizer.geo import haversine_km
from matching.services import attendance, profiles, signups
from timebank.errors import ApplicationError, Forbidden
from timebank.ledger import selectors as lsel
from timebank.ledger import services as lsvc
from timebank.ledger.certificates import certificate_issue, check_code
from timebank.people.selectors import community_get, member_get, relatives_of
from timebank.permissions import role_map

S = AssignmentStatus


def _fail(request: HttpRequest, exc: ApplicationError) -> None:
    messages.error(request, str(exc.detail))


@login_required
def home(request: HttpRequest) -> HttpResponse:
    me = member(request)
    mine = list(msel.assignments_of(member=me, upcoming_only=True)[:20])
    return render(
        request,
        "frontend/volunteer/home.html",
        {
            "offers": [a for a in mine if a.status == S.OFFERED],
            "upcoming": [a for a in mine if a.status in (S.CONFIRMED, S.CHECKED_IN)],
            "waiting": [a for a in mine if a.status == S.WAITLISTED],
            "balance": lsel.ledger_summary(member=me).balance_minutes,
        },
    )


class ShiftFilterForm(forms.Form):
    category = forms.ChoiceField(
        label=_("类别"), required=False, choices=[("", _("全部")), *list(Category.choices)]
    )
    near_me = forms.BooleanField(label=_("只看我服务半径内的"), required=False)
    open_only = forms.BooleanField(label=_("只看还有名额的"), required=False, initial=True)
    my_skills = forms.BooleanField(label=_("只看我具备技能的"), required=False)


@login_required
def shift_find(request: HttpRequest) -> HttpResponse:
    me = member(request)
    form = ShiftFilterForm(request.GET or {"open_only": "on"})
    shifts: list[Any] = []
    cursor = None
    if form.is_valid():
        data = form.cleaned_data
        near = None
        profile = msel.profile_get(member=me) if data["near_me"] else None
        if profile is not None and profile.home_lat is not None and profile.home_lon is not None:
            near = (profile.home_lat, profile.home_lon)
        elif data["near_me"] and me.home_lat is not None and me.home_lon is not None:
            near = (me.home_lat, me.home_lon)
        try:
            shifts, cursor = msel.shift_list(
                member=me,
                filters=msel.ShiftFilters(
                    start_from=timezone.now(),
                    category=data["category"] or None,
                    near=near,
                    open_only=data["open_only"],
                    my_skills=data["my_skills"],
                ),
                limit=30,
                cursor=request.GET.get("cursor"),
            )
        except ApplicationError as exc:
            add_service_error(form, exc)
    home_point = (me.home_lat, me.home_lon) if me.home_lat is not None else None
    for s in shifts:
        s.km = (
            round(haversine_km(home_point[0], home_point[1], s.need.lat, s.need.lon), 1)
            if home_point and home_point[1] is not None
            else None
        )
    query = request.GET.copy()
    query.pop("cursor", None)
    return render(
        request,
        "frontend/volunteer/shifts.html",
        {
            "form": form,
            "shifts": shifts,
            "next_cursor": cursor,
            "query": query.urlencode(),
            "communities": sorted(role_map(me)),
        },
    )


@login_required
def shift_detail(request: HttpRequest, shift_id: int) -> HttpResponse:
    me = member(request)
    try:
        shift = msel.shift_get(shift_id=shift_id)
    except ApplicationError as exc:
        return error_page(request, exc)
    if shift.community_id not in role_map(me) and not me.is_superuser:
        return error_page(request, Forbidden(gettext("该班次不在你的社区")))
    mine = [
        a
        for a in msel.assignments_of(member=me).filter(shift=shift)
        if a.status not in (S.CANCELLED, S.DECLINED, S.EXPIRED)
    ]
    return render(
        request,
        "frontend/volunteer/shift.html",
        {"shift": shift, "mine": mine[0] if mine else None},
    )


@login_required
@require_POST
def shift_signup(request: HttpRequest, shift_id: int) -> HttpResponse:
    try:
        _assignment, position = signups.signup_create(volunteer=member(request), shift_id=shift_id)
    except ApplicationError as exc:
        _fail(request, exc)
    else:
        if position is None:
            messages.success(request, gettext("报名成功，已确认。"))
        else:
            messages.info(request, gettext("名额已满，你在候补第 %(n)d 位。") % {"n": position})
    return redirect("frontend:v-shift", shift_id=shift_id)


@login_required
def schedule(request: HttpRequest) -> HttpResponse:
    me = member(request)
    rows = list(msel.assignments_of(member=me)[:200])
    profile = msel.profile_get(member=me)
    feed = (
        request.build_absolute_uri(f"/api/v1/calendar/{profile.calendar_token}.ics")
        if profile.calendar_token
        else ""
    )
    return render(
        request,
        "frontend/volunteer/schedule.html",
        {"rows": rows, "feed": feed, "now": timezone.now()},
    )


@login_required
@require_POST
def assignment_cancel(request: HttpRequest, assignment_id: int) -> HttpResponse:
    reason = str(request.POST.get("reason", "")).strip()
    try:
        a = msel.assignment_get(assignment_id=assignment_id)
        signups.assignment_cancel(actor=member(request), assignment=a, reason=reason)
    except ApplicationError as exc:
        _fail(request, exc)
    else:
        messages.success(request, gettext("已取消。"))
    return redirect(request.POST.get("next") or "frontend:v-schedule")


@login_required
@require_POST
def offer_accept(request: HttpRequest, assignment_id: int) -> HttpResponse:
    try:
        a = msel.assignment_get(assignment_id=assignment_id)
        signups.offer_accept(actor=member(request), assignment=a)
    except ApplicationError as exc:
        _fail(request, exc)
    else:
        messages.success(request, gettext("已接受递补名额。"))
    return redirect(request.POST.get("next") or "frontend:v-home")


class CheckInForm(forms.Form):
    assignment = forms.TypedChoiceField(label=_("班次"), coerce=int)
    code = forms.CharField(
        label=_("签到码"), max_length=400, help_text=_("扫描现场二维码，或输入码下方的文字")
    )
    action = forms.ChoiceField(
        label=_("操作"), choices=[("in", _("签到")), ("out", _("签退"))], initial="in"
    )


@login_required
def check_in(request: HttpRequest) -> HttpResponse:
    me = member(request)
    today = [
        a
        for a in msel.assignments_of(member=me, upcoming_only=True)[:20]
        if a.status in (S.CONFIRMED, S.CHECKED_IN)
    ]
    form = CheckInForm(request.POST or None, initial={"code": request.GET.get("code", "")})
    form.fields["assignment"].choices = [  # type: ignore[attr-defined]
        (a.id, f"{a.shift.need.title} · {timezone.localtime(a.start):%m-%d %H:%M}") for a in today
    ]
    if request.method == "POST" and form.is_valid():
        try:
            a = msel.assignment_get(assignment_id=form.cleaned_data["assignment"])
            if form.cleaned_data["action"] == "in":
                attendance.assignment_check_in(
                    actor=me, assignment=a, token=form.cleaned_data["code"]
                )
                messages.success(request, gettext("签到成功。"))
            else:
                attendance.assignment_check_out(
                    actor=me, assignment=a, token=form.cleaned_data["code"]
                )
                messages.success(request, gettext("签退成功，等待社工核验时长。"))
        except ApplicationError as exc:
            add_service_error(form, exc)
        else:
            return redirect("frontend:v-home")
    return render(request, "frontend/volunteer/checkin.html", {"form": form})


class GiftForm(forms.Form):
    to = forms.TypedChoiceField(label=_("赠与给（已登记亲属）"), coerce=int)
    minutes = forms.IntegerField(label=_("分钟数"), min_value=1, max_value=1_000_000)


class DonateForm(forms.Form):
    community = forms.TypedChoiceField(label=_("捐给哪个社区的公益池"), coerce=int)
    minutes = forms.IntegerField(label=_("分钟数"), min_value=1, max_value=1_000_000)


class CertificateForm(forms.Form):
    start = forms.DateField(
        label=_("从"), widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"})
    )
    end = forms.DateField(
        label=_("到"), widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"})
    )


@login_required
def hours(request: HttpRequest) -> HttpResponse:
    me = member(request)
    communities = sorted(role_map(me))
    gift = GiftForm(request.POST if request.POST.get("form") == "gift" else None, prefix="gift")
    gift.fields["to"].choices = [  # type: ignore[attr-defined]
        (r.relative_id, f"{r.relative.name} ({r.get_relation_display()})")
        for r in relatives_of(member=me)
    ]
    donate = DonateForm(
        request.POST if request.POST.get("form") == "donate" else None, prefix="donate"
    )
    donate.fields["community"].choices = [  # type: ignore[attr-defined]
        (c, str(community_get(community_id=c))) for c in communities
    ]
    cert = CertificateForm(
        request.POST if request.POST.get("form") == "cert" else None,
        prefix="cert",
        initial={"start": dt.date(timezone.localdate().year, 1, 1), "end": timezone.localdate()},
    )
    if request.method == "POST":
        try:
            if gift.is_bound and gift.is_valid():
                lsvc.ledger_gift(
                    actor=me,
                    to=member_get(member_id=gift.cleaned_data["to"]),
                    minutes=gift.cleaned_data["minutes"],
                    community=community_get(community_id=communities[0]),
                )
                messages.success(request, gettext("赠与成功。"))
                return redirect("frontend:v-hours")
            if donate.is_bound and donate.is_valid():
                lsvc.ledger_donate(
                    actor=me,
                    community=community_get(community_id=donate.cleaned_data["community"]),
                    minutes=donate.cleaned_data["minutes"],
                )
                messages.success(request, gettext("捐赠成功，谢谢你。"))
                return redirect("frontend:v-hours")
            if cert.is_bound and cert.is_valid():
                c = certificate_issue(
                    actor=me,
                    volunteer=me,
                    start=cert.cleaned_data["start"],
                    end=cert.cleaned_data["end"],
                )
                messages.success(request, gettext("证明已开具：%(n)s") % {"n": c.number})
                return redirect("frontend:v-hours")
        except ApplicationError as exc:
            target = gift if gift.is_bound else donate if donate.is_bound else cert
            add_service_error(target, exc)
    entries = list(lsel.statement(member=me)[:30])
    return render(
        request,
        "frontend/volunteer/hours.html",
        {
            "summary": lsel.ledger_summary(member=me),
            "entries": entries,
            "gift": gift,
            "donate": donate,
            "cert": cert,
            "certificates": [
                {"c": c, "code": check_code(c.number)}
                for c in me.ledger_certificates.order_by("-id")[:10]
            ],
        },
    )


WEEKDAYS = [_("周一"), _("周二"), _("周三"), _("周四"), _("周五"), _("周六"), _("周日")]
# The week grid offers these blocks; finer windows can be typed as text.
BLOCKS = [
    ("08:00", "12:00", _("上午")),
    ("14:00", "18:00", _("下午")),
    ("19:00", "21:00", _("晚上")),
]


class ProfileForm(forms.Form):
    skills = forms.CharField(label=_("技能（用逗号分隔）"), required=False, max_length=500)
    languages = forms.MultipleChoiceField(
        label=_("语言"),
        required=False,
        choices=[
            ("zh", _("普通话")),
            ("yue", _("粤语")),
            ("hakka", _("客家话")),
            ("en", _("英语")),
        ],
        widget=forms.CheckboxSelectMultiple,
    )
    travel_radius_km = forms.FloatField(label=_("服务半径（公里）"), min_value=0.5, max_value=50)
    weekly_limit_minutes = forms.IntegerField(
        label=_("每周最多服务（分钟）"), min_value=0, max_value=10080
    )
    availability_text = forms.CharField(
        label=_("其他时段（如：周二 10:00-11:30）"), required=False, max_length=500
    )
    unavailable_dates = forms.CharField(
        label=_("不能服务的日期（每行一个，如 2026-12-24）"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    home_lat = forms.FloatField(label=_("住址纬度"), required=False, min_value=-90, max_value=90)
    home_lon = forms.FloatField(label=_("住址经度"), required=False, min_value=-180, max_value=180)

    def clean_unavailable_dates(self) -> list[dt.date]:
        days: list[dt.date] = []
        for line in str(self.cleaned_data.get("unavailable_dates") or "").splitlines():
            if not line.strip():
                continue
            try:
                days.append(dt.date.fromisoformat(line.strip()))
            except ValueError:
                raise forms.ValidationError(
                    _("无法识别的日期：%(d)s（格式如 2026-12-24）") % {"d": line.strip()}
                ) from None
        return sorted(set(days))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (data.get("home_lat") is None) != (data.get("home_lon") is None):
            raise forms.ValidationError(_("住址须同时填写纬度和经度"))
        return data


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    me = member(request)
    prof = msel.profile_get(member=me)
    have = {
        (w.weekday, w.start.strftime("%H:%M"), w.end.strftime("%H:%M")) for w in prof.windows.all()
    }
    initial = {
        "skills": ", ".join(s.name for s in prof.skills.all()),
        "languages": prof.languages,
        "travel_radius_km": prof.travel_radius_km,
        "weekly_limit_minutes": prof.weekly_limit_minutes,
        "unavailable_dates": "\n".join(
            e.date.isoformat() for e in prof.exceptions.all() if not e.available and e.start is None
        ),
        "home_lat": prof.home_lat if prof.home_lat is not None else me.home_lat,
        "home_lon": prof.home_lon if prof.home_lon is not None else me.home_lon,
    }
    form = ProfileForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        windows = []
        for day in range(7):
            for start, end, _label in BLOCKS:
                if request.POST.get(f"slot-{day}-{start}"):
                    windows.append(
                        {
                            "weekday": day,
                            "start": dt.time.fromisoformat(start),
                            "end": dt.time.fromisoformat(end),
                        }
                    )
        changes: dict[str, Any] = {
            "skills": [{"name": s.strip()} for s in data["skills"].split(",") if s.strip()],
            "languages": data["languages"],
            "travel_radius_km": data["travel_radius_km"],
            "weekly_limit_minutes": data["weekly_limit_minutes"],
            "availability": windows,
            "exceptions": [{"date": d, "available": False} for d in data["unavailable_dates"]],
            "home": {"lat": data["home_lat"], "lon": data["home_lon"]}
            if data["home_lat"] is not None
            else None,
        }
        if data["availability_text"].strip():
            changes["availability_text"] = data["availability_text"]
        try:
            profiles.profile_update(actor=me, member=me, changes=changes)
        except ApplicationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, gettext("档案已保存。"))
            return redirect("frontend:v-profile")
    grid = [
        {
            "day": day,
            "label": WEEKDAYS[day],
            "blocks": [
                {"start": s, "end": e, "label": lab, "on": (day, s, e) in have}
                for s, e, lab in BLOCKS
            ],
        }
        for day in range(7)
    ]
    others = sorted(
        f"{WEEKDAYS[d]} {s}-{e}" for d, s, e in have if (s, e) not in {(b[0], b[1]) for b in BLOCKS}
    )
    return render(
        request, "frontend/volunteer/profile.html", {"form": form, "grid": grid, "others": others}
    )
