"""Resident pages (居民): spaces by kind and distance, a week grid per space,
reserve with companions and the terms, my reservations with their gate codes,
waitlist offers, and rating a service received."""

from __future__ import annotations

import datetime as dt
from typing import Any

import segno
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from frontend.forms_util import add_service_error
from frontend.views.common import error_page, member
from matching.models import Assignment, AssignmentStatus, Category, ServiceRequest
from matching.optimizer.geo import haversine_km
from matching.services.ratings import rating_create
from matching.services.requests import service_request_create
from resources import availability as av
from resources import selectors as rsel
from resources.booking import reservation_book
from resources.lifecycle import reservation_cancel, reservation_confirm, waitlist_join
from resources.models import ReservationStatus, SpaceKind, SpaceMode
from resources.services import space_get
from timebank.errors import ApplicationError
from timebank.people.models import Community
from timebank.people.selectors import community_get
from timebank.permissions import role_map

RESERVATION_SALT = "frontend.reservation-pass"


def reservation_pass(reservation_id: int) -> str:
    """What the booker's QR code carries: a signed reservation id for the gate."""
    return signing.dumps({"r": reservation_id}, salt=RESERVATION_SALT)


def reservation_from_pass(code: str) -> int | None:
    try:
        data = signing.loads(code.strip(), salt=RESERVATION_SALT)
    except signing.BadSignature:
        return None
    value = data.get("r") if isinstance(data, dict) else None
    return value if isinstance(value, int) else None


def qr_svg(text: str, label: str) -> SafeString:
    """A QR code as inline SVG. segno writes the whole SVG; the title is escaped."""
    svg = segno.make(text, error="m").svg_inline(scale=4, title=escape(label))
    return mark_safe(str(svg))  # noqa: S308


def spaces(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("kind") or None
    if kind not in SpaceKind.values:
        kind = None
    user = request.user
    home = None
    if user.is_authenticated and user.home_lat is not None and user.home_lon is not None:
        home = (user.home_lat, user.home_lon)
    rows = [
        {
            "space": s,
            "km": round(haversine_km(home[0], home[1], s.lat, s.lon), 1) if home else None,
        }
        for s in rsel.space_list(kind=kind, community=None, near=None, radius_km=0)[:200]
    ]
    if home:
        rows.sort(key=lambda row: float(row["km"] or 0.0))  # type: ignore[arg-type]
    return render(
        request,
        "frontend/resident/spaces.html",
        {"spaces": rows, "kinds": SpaceKind.choices, "kind": kind},
    )


def _week_start(raw: str | None) -> dt.date:
    today = timezone.localdate()
    try:
        day = dt.date.fromisoformat(raw) if raw else today
    except ValueError:
        day = today
    return day - dt.timedelta(days=day.weekday())


def space_week(request: HttpRequest, space_id: int) -> HttpResponse:
    try:
        space = space_get(space_id=space_id)
    except ApplicationError as exc:
        return error_page(request, exc)
    monday = _week_start(request.GET.get("week"))
    zone = av.tz()
    start = dt.datetime.combine(monday, dt.time(0, 0), tzinfo=zone)
    slots = av.space_availability(space, start, start + dt.timedelta(days=7))
    days: list[dict[str, Any]] = []
    for i in range(7):
        day = monday + dt.timedelta(days=i)
        days.append(
            {
                "date": day,
                "slots": [s for s in slots if timezone.localtime(s["start"], zone).date() == day],
            }
        )
    return render(
        request,
        "frontend/resident/space.html",
        {
            "space": space,
            "days": days,
            "prev": (monday - dt.timedelta(days=7)).isoformat(),
            "next": (monday + dt.timedelta(days=7)).isoformat(),
            "is_session": space.mode == SpaceMode.SESSION,
        },
    )


class ReserveForm(forms.Form):
    space = forms.IntegerField(widget=forms.HiddenInput)
    start = forms.DateTimeField(widget=forms.HiddenInput)
    end = forms.DateTimeField(widget=forms.HiddenInput)
    party_size = forms.IntegerField(
        label=_("人数（含本人）"), min_value=1, max_value=500, initial=1
    )
    companions = forms.CharField(
        label=_("同行人实名（每行一位）"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    accept_terms = forms.BooleanField(label=_("我已阅读并同意安全协议"), required=False)


@login_required
def reserve(request: HttpRequest) -> HttpResponse:
    form = ReserveForm(request.POST or None, initial=request.GET.dict())
    space = None
    raw_space = request.POST.get("space") or request.GET.get("space")
    if raw_space and str(raw_space).isdigit():
        try:
            space = space_get(space_id=int(raw_space))
        except ApplicationError as exc:
            return error_page(request, exc)
    if request.method == "POST" and form.is_valid() and space is not None:
        d = form.cleaned_data
        names = [n.strip() for n in d["companions"].splitlines() if n.strip()]
        try:
            r = reservation_book(
                member=member(request),
                space=space,
                start=d["start"],
                end=d["end"],
                party_size=d["party_size"],
                companions=[{"name": n} for n in names],
                accept_terms=d["accept_terms"],
            )
        except ApplicationError as exc:
            add_service_error(form, exc)
        else:
            if r.status == ReservationStatus.PENDING:
                messages.info(request, gettext("已提交，等待场地管理员审批。"))
            else:
                messages.success(request, gettext("预约成功。"))
            return redirect("frontend:r-mine")
    start = parse_datetime(str(request.POST.get("start") or request.GET.get("start") or ""))
    end = parse_datetime(str(request.POST.get("end") or request.GET.get("end") or ""))
    return render(
        request,
        "frontend/resident/reserve.html",
        {"form": form, "space": space, "start": start, "end": end},
    )


@login_required
@require_POST
def waitlist(request: HttpRequest, space_id: int) -> HttpResponse:
    start = parse_datetime(str(request.POST.get("start", "")))
    end = parse_datetime(str(request.POST.get("end", "")))
    try:
        space = space_get(space_id=space_id)
        if start is None or end is None:
            raise ApplicationError(gettext("时段无效"), code="invalid_period", status=422)
        _entry, position = waitlist_join(member=member(request), space=space, start=start, end=end)
    except ApplicationError as exc:
        messages.error(request, str(exc.detail))
    else:
        messages.success(
            request, gettext("已加入候补，第 %(n)d 位。有空位时会实时通知你。") % {"n": position}
        )
    return redirect("frontend:r-space", space_id=space_id)


@login_required
def mine(request: HttpRequest) -> HttpResponse:
    shown = (ReservationStatus.CONFIRMED, ReservationStatus.CHECKED_IN)
    rows = [
        {
            "r": r,
            "qr": qr_svg(reservation_pass(r.pk), gettext("入场码")) if r.status in shown else None,
        }
        for r in rsel.reservations_of(member=member(request), upcoming=True)
        .select_related("space")
        .order_by("start")[:50]
    ]
    done = list(
        Assignment.objects.filter(
            shift__need__beneficiary=member(request), status=AssignmentStatus.VERIFIED
        )
        .select_related("shift__need", "volunteer")
        .order_by("-end")[:10]
    )
    return render(request, "frontend/resident/mine.html", {"rows": rows, "services": done})


@login_required
@require_POST
def cancel(request: HttpRequest, reservation_id: int) -> HttpResponse:
    try:
        reservation_cancel(actor=member(request), reservation_id=reservation_id)
    except ApplicationError as exc:
        messages.error(request, str(exc.detail))
    else:
        messages.success(request, gettext("已取消预约。"))
    return redirect("frontend:r-mine")


@login_required
@require_POST
def accept_offer(request: HttpRequest, reservation_id: int) -> HttpResponse:
    try:
        reservation_confirm(
            actor=member(request),
            reservation_id=reservation_id,
            accept_terms=request.POST.get("accept_terms") == "on",
        )
    except ApplicationError as exc:
        messages.error(request, str(exc.detail))
    else:
        messages.success(request, gettext("已确认候补名额。"))
    return redirect("frontend:r-mine")


@login_required
@require_POST
def rate(request: HttpRequest, assignment_id: int) -> HttpResponse:
    try:
        score = int(str(request.POST.get("score", "0")))
        a = Assignment.objects.select_related("shift__need").get(pk=assignment_id)
        rating_create(
            actor=member(request),
            assignment=a,
            score=score,
            comment=str(request.POST.get("comment", ""))[:500],
        )
    except (ValueError, Assignment.DoesNotExist):
        messages.error(request, gettext("评分须在 1 到 5 之间"))
    except ApplicationError as exc:
        messages.error(request, str(exc.detail))
    else:
        messages.success(request, gettext("谢谢你的评价。"))
    return redirect("frontend:r-mine")


class RequestForm(forms.Form):
    community = forms.TypedChoiceField(label=_("社区"), coerce=int)
    category = forms.ChoiceField(label=_("需要哪类帮助"), choices=Category.choices)
    description = forms.CharField(
        label=_("具体说明"), max_length=500, widget=forms.Textarea(attrs={"rows": 3})
    )
    preferred = forms.CharField(label=_("方便的时间"), max_length=200, required=False)


@login_required
def request_service(request: HttpRequest) -> HttpResponse:
    """A resident asks the community for help (居民需求)."""
    me = member(request)
    form = RequestForm(request.POST or None)
    form.fields["community"].choices = [  # type: ignore[attr-defined]
        (c.pk, str(c)) for c in Community.objects.filter(pk__in=list(role_map(me))).order_by("id")
    ]
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        try:
            service_request_create(
                member=me,
                community=community_get(community_id=d["community"]),
                category=d["category"],
                description=d["description"],
                preferred=d["preferred"],
            )
        except ApplicationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, gettext("已提交，社工会尽快联系你。"))
            return redirect("frontend:r-request")
    mine = ServiceRequest.objects.filter(member=me).select_related("need").order_by("-id")[:20]
    return render(request, "frontend/resident/request.html", {"form": form, "mine": mine})
