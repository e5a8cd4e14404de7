"""Reads about people."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from timebank.errors import NotFound
from timebank.people.models import Community, Member, Relation


def community_get(*, community_id: int) -> Community:
    community = Community.objects.filter(pk=community_id).first()
    if community is None:
        raise NotFound(_("社区不存在"), code="community_not_found")
    return community


def community_list() -> QuerySet[Community]:
    return Community.objects.all()


def member_get(*, member_id: int) -> Member:
    member = Member.objects.filter(pk=member_id).first()
    if member is None:
        raise NotFound(_("成员不存在"), code="member_not_found")
    return member


def member_list(*, community: Community, q: str = "", role: str | None = None) -> QuerySet[Member]:
    qs = Member.objects.filter(roles__community=community)
    if role:
        qs = qs.filter(roles__role=role)
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(phone__endswith=q))
    return qs.distinct().prefetch_related("roles")


def member_in_community(*, community: Community, member_id: int) -> Member:
    """A member with a role in `community`; 404 otherwise (no hint they exist)."""
    member = (
        Member.objects.filter(pk=member_id, roles__community=community)
        .prefetch_related("roles")
        .first()
    )
    if member is None:
        raise NotFound(_("成员不存在"), code="member_not_found")
    return member


def relatives_of(*, member: Member) -> QuerySet[Relation]:
    return Relation.objects.filter(member=member).select_related("relative")


def are_relatives(*, a: Member, b: Member) -> bool:
    return Relation.objects.filter(member=a, relative=b).exists()


def spouse_of(*, member: Member) -> Member | None:
    rel = (
        Relation.objects.filter(member=member, relation="spouse").select_related("relative").first()
    )
    return rel.relative if rel else None
