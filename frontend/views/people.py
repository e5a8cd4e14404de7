"""Pages about people: proxy registration (帮办代办) and the directory for staff;
a member's own data (download it, or erase the account)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from frontend.forms_util import add_service_error
from frontend.views.common import error_page
from timebank import permissions
from timebank.errors import ApplicationError
from timebank.pagination import paginate_by_id
from timebank.people import selectors, services
from timebank.people.api import export_response
from timebank.people.models import Member, RoleName


def staff_community_id(request: HttpRequest, action: str) -> int:
    """The community a staff page works on: ?community= or the member's first."""
    member: Member = request.user  # type: ignore[assignment]
    wanted = request.GET.get("community") or request.POST.get("community")
    candidates = permissions.staff_communities(member)
    if wanted and wanted.isdigit():
        cid = int(wanted)
    elif candidates:
        cid = candidates[0]
    else:
        cid = 0
    permissions.require(member, action, cid or None)
    return cid


class RegisterForm(forms.Form):
    name = forms.CharField(label=_("姓名"), max_length=50)
    phone = forms.CharField(
        label=_("手机号"),
        max_length=11,
        required=False,
        help_text=_("没有手机的长者可以留空，并勾选代办登记"),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    proxy = forms.BooleanField(label=_("代办登记（本人没有手机）"), required=False)
    birth_date = forms.DateField(
        label=_("出生日期"),
        required=False,
        widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}),
    )
    roles = forms.MultipleChoiceField(
        label=_("角色"),
        choices=[
            (RoleName.RESIDENT, RoleName.RESIDENT.label),
            (RoleName.VOLUNTEER, RoleName.VOLUNTEER.label),
        ],
        widget=forms.CheckboxSelectMultiple,
        initial=[RoleName.RESIDENT],
    )


@login_required
def register_person(request: HttpRequest) -> HttpResponse:
    try:
        cid = staff_community_id(request, "member.register")
    except ApplicationError as exc:
        return error_page(request, exc)
    community = selectors.community_get(community_id=cid)
    form = RegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            member = services.member_register(
                actor=request.user,  # type: ignore[arg-type]
                community=community,
                name=data["name"],
                phone=data["phone"] or None,
                roles=data["roles"],
                birth_date=data["birth_date"],
                proxy=data["proxy"],
            )
        except ApplicationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, gettext("已登记：%(name)s") % {"name": member.name})
            return redirect("frontend:directory")
    return render(request, "frontend/staff/register.html", {"form": form, "community": community})


@login_required
def directory(request: HttpRequest) -> HttpResponse:
    try:
        cid = staff_community_id(request, "member.read")
    except ApplicationError as exc:
        return error_page(request, exc)
    community = selectors.community_get(community_id=cid)
    q = request.GET.get("q", "").strip()
    role = request.GET.get("role") or None
    try:
        rows, cursor = paginate_by_id(
            selectors.member_list(community=community, q=q, role=role),
            limit=50,
            cursor=request.GET.get("cursor"),
        )
    except ApplicationError:
        rows, cursor = [], None
    return render(
        request,
        "frontend/staff/directory.html",
        {
            "community": community,
            "members": rows,
            "next_cursor": cursor,
            "q": q,
            "role": role,
            "roles": RoleName.choices,
        },
    )


@require_POST
def toggle_elder_mode(request: HttpRequest) -> HttpResponse:
    """Elder mode (长者模式): larger type and higher contrast, remembered per member."""
    on = request.POST.get("on") == "1"
    if request.user.is_authenticated:
        Member.objects.filter(pk=request.user.pk).update(elder_mode=on)
    response = redirect(request.POST.get("next") or "frontend:home")
    response.set_cookie("elder_mode", "1" if on else "0", max_age=365 * 24 * 3600, samesite="Lax")
    return response


class EraseForm(forms.Form):
    confirm = forms.BooleanField(
        label=_("我已了解注销的后果，确认注销我的账户"),
        required=True,
        error_messages={"required": _("请勾选确认后再注销")},
    )
    password = forms.CharField(
        label=_("登录密码"),
        required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text=_("如设置过密码，请输入以确认是本人操作"),
    )


@login_required
def my_data(request: HttpRequest) -> HttpResponse:
    """The member's own data: `?download=1` is the JSON export (PIPL 查阅复制权);
    the form erases the account (删除权) after an explicit confirmation."""
    me: Member = request.user  # type: ignore[assignment]
    if request.method == "GET" and request.GET.get("download"):
        return export_response(me)
    form = EraseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.member_erase(actor=me, password=form.cleaned_data["password"] or None)
        except ApplicationError as exc:
            add_service_error(form, exc)
        else:
            logout(request)
            messages.success(request, gettext("你的账户已注销。"))
            return redirect("frontend:home")
    return render(request, "people/my_data.html", {"form": form})
