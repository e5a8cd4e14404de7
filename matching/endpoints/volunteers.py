"""Volunteer profiles, the calendar feed and the inbox."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from ninja import Query, Router

from matching import calendar, selectors, services
from matching.endpoints.shapes import (
    PageQuery,
    me_of,
    profile_out,
)
from matching.schemas import (
    CalendarOut,
    NotificationPage,
    ProfileIn,
    ProfileOut,
)
from matching.services.common import iso
from timebank.errors import Forbidden
from timebank.pagination import paginate_by_id
from timebank.people.models import Member
from timebank.people.selectors import member_get

router = Router(tags=["matching"])


# --- volunteer profiles ----------------------------------------------------------


def _profile_member(request: HttpRequest, member_id: int) -> Member:
    member = member_get(member_id=member_id)
    if not services.can_manage(me_of(request), member):
        raise Forbidden(_("你不能查看该志愿者的档案"), code="forbidden")
    return member


@router.get("/volunteers/me", response=ProfileOut, url_name="matching-profile-me")
def profile_me(request: HttpRequest) -> dict[str, Any]:
    services.no_shows_mark_due(volunteer_id=me_of(request).pk)
    return profile_out(selectors.profile_get(member=me_of(request)))


@router.put(
    "/volunteers/me",
    response=ProfileOut,
    url_name="matching-profile-me-update",
    operation_id="matching_profile_me_put",
)
@router.patch(
    "/volunteers/me",
    response=ProfileOut,
    url_name="matching-profile-me-patch",
    operation_id="matching_profile_me_patch",
)
def profile_me_update(request: HttpRequest, payload: ProfileIn) -> dict[str, Any]:
    services.profile_update(
        actor=me_of(request), member=me_of(request), changes=payload.dict(exclude_unset=True)
    )
    return profile_out(selectors.profile_get(member=me_of(request)))


@router.get("/volunteers/me/calendar", response=CalendarOut, url_name="matching-calendar-url")
def calendar_url(request: HttpRequest) -> dict[str, Any]:
    profile = selectors.profile_get(member=me_of(request))
    path = reverse("api:matching-calendar-feed", kwargs={"token": profile.calendar_token})
    return {"url": request.build_absolute_uri(path)}


@router.post(
    "/volunteers/me/calendar/rotate", response=CalendarOut, url_name="matching-calendar-rotate"
)
def calendar_rotate(request: HttpRequest) -> dict[str, Any]:
    profile = services.calendar_token_rotate(member=me_of(request))
    path = reverse("api:matching-calendar-feed", kwargs={"token": profile.calendar_token})
    return {"url": request.build_absolute_uri(path)}


@router.get(
    "/calendar/{token}.ics", auth=None, response={200: None}, url_name="matching-calendar-feed"
)
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    """The secret-URL iCalendar feed; no login, the token is the credential."""
    profile = selectors.profile_by_calendar_token(token=token)
    body = calendar.feed(
        selectors.calendar_assignments(member_id=profile.member_id),
        name=str(_("志愿服务班次")),
    )
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Cache-Control"] = "private, max-age=300"
    return response


@router.get("/volunteers/{member_id}", response=ProfileOut, url_name="matching-profile")
def profile_detail(request: HttpRequest, member_id: int) -> dict[str, Any]:
    member = _profile_member(request, member_id)
    services.no_shows_mark_due(volunteer_id=member.pk)
    return profile_out(selectors.profile_get(member=member))


@router.put(
    "/volunteers/{member_id}",
    response=ProfileOut,
    url_name="matching-profile-update",
    operation_id="matching_profile_put",
)
@router.patch(
    "/volunteers/{member_id}",
    response=ProfileOut,
    url_name="matching-profile-patch",
    operation_id="matching_profile_patch",
)
def profile_update(request: HttpRequest, member_id: int, payload: ProfileIn) -> dict[str, Any]:
    member = _profile_member(request, member_id)
    services.profile_update(
        actor=me_of(request), member=member, changes=payload.dict(exclude_unset=True)
    )
    return profile_out(selectors.profile_get(member=member))


# --- inbox -----------------------------------------------------------------------


@router.get("/notifications", response=NotificationPage, url_name="matching-notifications")
def notifications(request: HttpRequest, page: Query[PageQuery]) -> dict[str, Any]:
    rows, cursor = paginate_by_id(
        selectors.inbox(member=me_of(request)),
        limit=page.limit,
        cursor=page.cursor,
        descending=True,
    )
    return {
        "items": [
            {
                "id": n.id,
                "kind": n.kind,
                "title": n.title,
                "body": n.body,
                "data": n.data,
                "created_at": iso(n.created_at),
                "read": n.read_at is not None,
            }
            for n in rows
        ],
        "next_cursor": cursor,
    }


@router.post(
    "/notifications/{notification_id}/read", response={204: None}, url_name="matching-read"
)
def notification_read(request: HttpRequest, notification_id: int) -> tuple[int, None]:
    services.notification_mark_read(member=me_of(request), notification_id=notification_id)
    return 204, None
