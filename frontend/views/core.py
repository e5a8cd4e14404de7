"""Page views: thin, they read through selectors and write through services."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import logout
from django.contrib.auth.views import LoginView as DjangoLoginView
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from frontend.forms import PhoneLoginForm
from timebank.auth import (
    client_address,
    login_check_throttle,
    login_clear_failures,
    login_record_failure,
)
from timebank.errors import RateLimited
from timebank.permissions import role_map


def home(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {"roles": []}
    if request.user.is_authenticated:
        context["roles"] = sorted({r for names in role_map(request.user).values() for r in names})
    return render(request, "frontend/home.html", context)


class LoginView(DjangoLoginView):
    template_name = "frontend/login.html"
    authentication_form = PhoneLoginForm
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        phone = str(request.POST.get("username", "")).strip()
        try:
            login_check_throttle(phone=phone, address=client_address(request))
        except RateLimited as exc:
            form = self.get_form()
            form.add_error(None, str(exc.detail))
            response = self.render_to_response(self.get_context_data(form=form))
            response.status_code = 429
            return response
        response = super().post(request, *args, **kwargs)
        if request.user.is_authenticated:
            login_clear_failures(phone=phone)
        else:
            login_record_failure(phone=phone, address=client_address(request))
        return response


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("frontend:home")


def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"ok": True, "database": connection.vendor})
