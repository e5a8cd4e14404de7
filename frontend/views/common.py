"""What every page view needs: the signed-in member and one error page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from timebank.errors import ApplicationError
from timebank.people.models import Member


def member(request: HttpRequest) -> Member:
    """The signed-in member; callers are behind `login_required`."""
    return request.user  # type: ignore[return-value]


def error_page(request: HttpRequest, exc: ApplicationError) -> HttpResponse:
    """A service's refusal as a page, with its status (403, 404, …) and its detail."""
    return render(request, "frontend/forbidden.html", {"detail": exc.detail}, status=exc.status)
