"""Auth and people endpoints. Thin: parse, call one service or selector, shape."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import logout as session_logout
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from ninja import Field, Query, Router, Schema

from timebank import permissions
from timebank.auth import client_address
from timebank.errors import field_error
from timebank.pagination import paginate_by_id
from timebank.people import selectors, services
from timebank.people.models import Community, Member, Relation
from timebank.people.schemas import (
    CommunityIn,
    CommunityOut,
    CommunityPatch,
    EraseIn,
    EraseOut,
    LoginIn,
    LoginOut,
    MemberIn,
    MemberOut,
    MemberPage,
    RelationIn,
    RelationOut,
    RoleIn,
    RoleOut,
)

router = Router(tags=["people"])


class ExportEncoder(DjangoJSONEncoder):
    """Dates, decimals and ids as usual; anything else (ranges, …) as its text."""

    def default(self, o: Any) -> Any:
        try:
            return super().default(o)
        except TypeError:
            return str(o)


def member_out(member: Member, *, reveal: bool = False) -> dict[str, Any]:
    """A member as the API shows it. Phone and birth date are masked unless `reveal`."""
    roles = [{"community": r.community_id, "role": r.role} for r in member.roles.all()]
    location = (
        {"lat": member.home_lat, "lon": member.home_lon}
        if member.home_lat is not None and member.home_lon is not None
        else None
    )
    return {
        "id": member.id,
        "name": member.name,
        "phone": (member.phone or "") if reveal else member.masked_phone,
        "has_phone": member.has_phone,
        "id_verified": member.id_verified,
        "birth_date": member.birth_date if reveal else None,
        "location": location,
        "roles": roles,
    }


def community_out(c: Community) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "street": c.street,
        "district": c.district,
        "center": {"lat": c.center_lat, "lon": c.center_lon},
        "residents": c.residents,
        "matching_auto_confirm": c.matching_auto_confirm,
    }


@router.post("/auth/login", auth=None, response={200: LoginOut}, url_name="auth-login")
def login(request: HttpRequest, payload: LoginIn) -> dict[str, Any]:
    token, member = services.auth_login(
        phone=payload.phone.strip(), password=payload.password, address=client_address(request)
    )
    return {"token": token, "member": member_out(member)}


@router.post("/auth/logout", response={204: None}, url_name="auth-logout")
def logout(request: HttpRequest) -> tuple[int, None]:
    services.auth_logout(token=getattr(request, "api_token", None))
    if getattr(request, "api_token", None) is None:
        session_logout(request)
    return 204, None


@router.get("/me", response=MemberOut, url_name="me")
def me(request: HttpRequest) -> dict[str, Any]:
    member: Member = request.auth  # type: ignore[attr-defined]
    return member_out(member)


@router.get(
    "/me/export",
    response={200: dict[str, Any]},
    url_name="me-export",
    summary="Download everything held about me (JSON attachment)",
)
def me_export(request: HttpRequest) -> HttpResponse:
    return export_response(request.auth)  # type: ignore[attr-defined]


def export_response(member: Member) -> JsonResponse:
    """The member's own data as a JSON download (the API and the web page)."""
    data = services.member_export(actor=member)
    response = JsonResponse(data, encoder=ExportEncoder, json_dumps_params={"ensure_ascii": False})
    stamp = timezone.localtime().strftime("%Y%m%d")
    response["Content-Disposition"] = (
        f'attachment; filename="timebank-member-{member.pk}-{stamp}.json"'
    )
    response["Cache-Control"] = "no-store"
    return response


@router.post("/me/erase", response={200: EraseOut}, url_name="me-erase")
def me_erase(request: HttpRequest, payload: EraseIn) -> dict[str, Any]:
    if not payload.confirm:
        raise field_error("confirm", _("请确认注销账户"), code="confirmation_required")
    member: Member = request.auth  # type: ignore[attr-defined]
    erased = services.member_erase(actor=member, password=payload.password)
    if getattr(request, "api_token", None) is None:
        session_logout(request)
    return {"member": erased.pk, "erased_at": erased.erased_at}


@router.post("/communities", response={201: CommunityOut}, url_name="community-create")
def community_create(request: HttpRequest, payload: CommunityIn) -> tuple[int, dict[str, Any]]:
    community = services.community_create(
        actor=request.auth,  # type: ignore[attr-defined]
        name=payload.name,
        street=payload.street,
        district=payload.district,
        center_lat=payload.center.lat,
        center_lon=payload.center.lon,
        residents=payload.residents,
    )
    return 201, community_out(community)


@router.get("/communities", response=list[CommunityOut], url_name="community-list")
def community_list(request: HttpRequest) -> list[dict[str, Any]]:
    return [community_out(c) for c in selectors.community_list()]


@router.get("/communities/{cid}", response=CommunityOut, url_name="community-detail")
def community_detail(request: HttpRequest, cid: int) -> dict[str, Any]:
    return community_out(selectors.community_get(community_id=cid))


@router.patch("/communities/{cid}", response=CommunityOut, url_name="community-update")
def community_update(request: HttpRequest, cid: int, payload: CommunityPatch) -> dict[str, Any]:
    community = services.community_update(
        actor=request.auth,  # type: ignore[attr-defined]
        community=selectors.community_get(community_id=cid),
        changes=payload.dict(exclude_unset=True),
    )
    return community_out(community)


@router.post("/communities/{cid}/members", response={201: MemberOut}, url_name="member-register")
def member_register(
    request: HttpRequest, cid: int, payload: MemberIn
) -> tuple[int, dict[str, Any]]:
    community = selectors.community_get(community_id=cid)
    member = services.member_register(
        actor=request.auth,  # type: ignore[attr-defined]
        community=community,
        name=payload.name,
        phone=payload.phone.strip() if payload.phone else None,
        password=payload.password,
        roles=payload.roles,
        birth_date=payload.birth_date,
        home_lat=payload.location.lat if payload.location else None,
        home_lon=payload.location.lon if payload.location else None,
        proxy=payload.proxy,
    )
    return 201, member_out(member, reveal=True)


class MemberFilter(Schema):
    q: str = ""
    role: str | None = None
    reveal: bool = Field(
        False, description="staff only: full phone numbers and birth dates (audited)"
    )
    limit: int | None = None
    cursor: str | None = None


@router.get("/communities/{cid}/members", response=MemberPage, url_name="member-list")
def member_list(request: HttpRequest, cid: int, filters: Query[MemberFilter]) -> dict[str, Any]:
    community = selectors.community_get(community_id=cid)
    permissions.require(request.auth, "member.read", community.id)  # type: ignore[attr-defined]
    rows, cursor = paginate_by_id(
        selectors.member_list(community=community, q=filters.q, role=filters.role),
        limit=filters.limit,
        cursor=filters.cursor,
    )
    actor: Member = request.auth  # type: ignore[attr-defined]
    if filters.reveal:
        services.personal_data_view(
            actor=actor, community=community, members=[m.pk for m in rows], via="member-list"
        )
    return {"items": [member_out(m, reveal=filters.reveal) for m in rows], "next_cursor": cursor}


@router.get("/communities/{cid}/members/{mid}", response=MemberOut, url_name="member-detail")
def member_detail(request: HttpRequest, cid: int, mid: int) -> dict[str, Any]:
    """A member of the community, unmasked, for its staff. The view is audited."""
    community = selectors.community_get(community_id=cid)
    actor: Member = request.auth  # type: ignore[attr-defined]
    permissions.require(actor, "member.read", community.id)
    member = selectors.member_in_community(community=community, member_id=mid)
    services.personal_data_view(
        actor=actor, community=community, members=[member.pk], via="member-detail"
    )
    return member_out(member, reveal=True)


@router.post("/communities/{cid}/roles", response={201: RoleOut}, url_name="role-grant")
def role_grant(request: HttpRequest, cid: int, payload: RoleIn) -> tuple[int, dict[str, Any]]:
    community = selectors.community_get(community_id=cid)
    role = services.role_grant(
        actor=request.auth,  # type: ignore[attr-defined]
        member=selectors.member_get(member_id=payload.member),
        community=community,
        role=payload.role,
    )
    return 201, {"community": role.community_id, "role": role.role}


@router.post(
    "/communities/{cid}/relations", response={201: RelationOut}, url_name="relation-create"
)
def relation_create(
    request: HttpRequest, cid: int, payload: RelationIn
) -> tuple[int, dict[str, Any]]:
    community = selectors.community_get(community_id=cid)
    relation: Relation = services.relation_record(
        actor=request.auth,  # type: ignore[attr-defined]
        community=community,
        member=selectors.member_get(member_id=payload.member),
        relative=selectors.member_get(member_id=payload.relative),
        relation=payload.relation,
    )
    return 201, {
        "id": relation.id,
        "member": relation.member_id,
        "relative": relation.relative_id,
        "relation": relation.relation,
    }
