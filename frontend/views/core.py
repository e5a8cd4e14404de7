"""Page views: thin, they read through selectors and write through services."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.views import LoginView as DjangoLoginView
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
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


# A task ready for longer than this means no worker is taking work.
WORKER_LAG_LIMIT_S = 120


def healthz(request: HttpRequest) -> JsonResponse:
    """Database, Redis (when configured) and the task queue's lag, which shows
    whether a worker is alive. 503 when any of them fails."""
    checks: dict[str, Any] = {}
    ok = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = connection.vendor
    except DatabaseError as exc:
        ok = False
        checks["database"] = f"error: {exc.__class__.__name__}"
    if settings.REDIS_URL:
        try:
            import redis

            redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2).ping()
            checks["redis"] = "ok"
        except redis.exceptions.RedisError as exc:
            ok = False
            checks["redis"] = f"error: {exc.__class__.__name__}"
    if checks.get("database") == connection.vendor:
        from django_tasks_db.models import DBTaskResult

        oldest = (
            DBTaskResult.objects.ready()
            .order_by("enqueued_at")
            .values_list("enqueued_at", flat=True)
            .first()
        )
        lag = (timezone.now() - oldest).total_seconds() if oldest else 0.0
        checks["queue_lag_s"] = round(lag, 1)
        if lag > WORKER_LAG_LIMIT_S:
            ok = False
            checks["worker"] = "no worker has taken ready tasks"
    return JsonResponse({"ok": ok, **checks}, status=200 if ok else 503)
