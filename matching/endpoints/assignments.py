"""Assignments: the volunteer's list, offers, cancellation, attendance, verification, ratings."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router

from matching import selectors, services
from matching.endpoints.shapes import (
    PageQuery,
    assignment_for,
    assignment_out,
    me_of,
    rating_out,
)
from matching.schemas import (
    AssignmentOut,
    AssignmentPage,
    CategoryRatingOut,
    CheckIn,
    RatingIn,
    RatingOut,
    ReasonIn,
    VerifyIn,
)
from timebank import permissions
from timebank.idempotency import run_idempotent
from timebank.pagination import paginate_by_id
from timebank.people.selectors import community_get

router = Router(tags=["matching"])


# --- assignments -----------------------------------------------------------------


@router.get("/assignments/me", response=AssignmentPage, url_name="matching-my-assignments")
def my_assignments(request: HttpRequest, page: Query[PageQuery]) -> dict[str, Any]:
    services.no_shows_mark_due(volunteer_id=me_of(request).pk)
    rows, cursor = paginate_by_id(
        selectors.assignments_of(member=me_of(request)).select_related("volunteer"),
        limit=page.limit,
        cursor=page.cursor,
        descending=True,
    )
    return {"items": [assignment_out(a) for a in rows], "next_cursor": cursor}


@router.get("/assignments/{assignment_id}", response=AssignmentOut, url_name="matching-assignment")
def assignment_detail(request: HttpRequest, assignment_id: int) -> dict[str, Any]:
    a = assignment_for(request, assignment_id, read=True)
    services.offers_expire_due(shift_id=a.shift_id)
    a.refresh_from_db()
    position = selectors.waitlist_position(a) if a.status == "waitlisted" else None
    return assignment_out(a, position=position)


@router.post(
    "/assignments/{assignment_id}/accept", response=AssignmentOut, url_name="matching-accept"
)
def accept(request: HttpRequest, assignment_id: int) -> dict[str, Any]:
    a = assignment_for(request, assignment_id)
    return assignment_out(services.offer_accept(actor=me_of(request), assignment=a))


@router.post(
    "/assignments/{assignment_id}/cancel", response=AssignmentOut, url_name="matching-cancel"
)
def cancel(request: HttpRequest, assignment_id: int, payload: ReasonIn) -> dict[str, Any]:
    a = assignment_for(request, assignment_id)
    return assignment_out(
        services.assignment_cancel(actor=me_of(request), assignment=a, reason=payload.reason)
    )


@router.post(
    "/assignments/{assignment_id}/check-in", response=AssignmentOut, url_name="matching-check-in"
)
def check_in(
    request: HttpRequest, assignment_id: int, payload: CheckIn | None = None
) -> dict[str, Any]:
    payload = payload or CheckIn.model_validate({})
    a = assignment_for(request, assignment_id)
    return assignment_out(
        services.assignment_check_in(actor=me_of(request), assignment=a, token=payload.token)
    )


@router.post(
    "/assignments/{assignment_id}/check-out",
    response=AssignmentOut,
    url_name="matching-check-out",
)
def check_out(
    request: HttpRequest, assignment_id: int, payload: CheckIn | None = None
) -> dict[str, Any]:
    payload = payload or CheckIn.model_validate({})
    a = assignment_for(request, assignment_id)
    return assignment_out(
        services.assignment_check_out(
            actor=me_of(request),
            assignment=a,
            token=payload.token,
            travel_minutes=payload.travel_minutes,
        )
    )


@router.post(
    "/assignments/{assignment_id}/verify", response=AssignmentOut, url_name="matching-verify"
)
def verify(
    request: HttpRequest, assignment_id: int, payload: VerifyIn | None = None
) -> HttpResponse | Any:
    """Credits the ledger exactly once however often it is called; `Idempotency-Key` too."""
    body = payload or VerifyIn.model_validate({})
    a = assignment_for(request, assignment_id)
    me = me_of(request)
    permissions.require(me, "assignment.verify", a.community_id)

    def write() -> tuple[int, dict[str, Any]]:
        done = services.assignment_verify(
            actor=me, assignment=a, minutes=body.minutes, reason=body.reason
        )
        return 200, assignment_out(done)

    return run_idempotent(
        member=me,
        scope=f"matching.verify:{a.pk}",
        key=request.headers.get("Idempotency-Key"),
        body=body.dict(),
        write=write,
    )


@router.post(
    "/assignments/{assignment_id}/ratings", response={201: RatingOut}, url_name="matching-rate"
)
def rate(request: HttpRequest, assignment_id: int, payload: RatingIn) -> tuple[int, dict[str, Any]]:
    a = assignment_for(request, assignment_id)
    rating = services.rating_create(
        actor=me_of(request), assignment=a, score=payload.score, comment=payload.comment
    )
    return 201, rating_out(rating)


@router.get(
    "/communities/{cid}/ratings",
    response=list[CategoryRatingOut],
    url_name="matching-category-ratings",
)
def community_ratings(request: HttpRequest, cid: int) -> list[dict[str, Any]]:
    community = community_get(community_id=cid)
    permissions.require(me_of(request), "dashboard.read", community.id)
    return selectors.category_ratings(community_id=community.id)
