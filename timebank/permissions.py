"""The one permission layer: which role may do what, in which community.

Every endpoint, page, consumer and admin action asks `require(member, action,
community)`. The `MATRIX` below is the single declaration of who may do what;
tests call every endpoint as every role against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.utils.translation import gettext_lazy as _

from timebank.errors import Forbidden, Unauthorized
from timebank.people.models import STAFF_ROLES, RoleName

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from timebank.people.models import Member

SW = RoleName.SOCIAL_WORKER
SM = RoleName.SPACE_MANAGER
AD = RoleName.ADMIN
VO = RoleName.VOLUNTEER
RE = RoleName.RESIDENT


@dataclass(frozen=True)
class Rule:
    """Who may do an action. Superusers may do everything."""

    roles: frozenset[str] = field(default_factory=frozenset)
    any_member: bool = False
    superuser_only: bool = False


def roles(*names: str) -> Rule:
    return Rule(roles=frozenset(names))


STAFF = Rule(roles=frozenset(STAFF_ROLES))
MEMBER = Rule(any_member=True)

MATRIX: dict[str, Rule] = {
    # --- people ---
    "community.create": Rule(superuser_only=True),
    "community.update": roles(AD),
    "member.register": roles(SW, AD),
    "member.read": STAFF,
    "relation.create": roles(SW, AD),
    "role.grant": roles(AD),
    # --- time bank ---
    "ledger.transfer": MEMBER,
    "ledger.reverse": roles(SW, AD),
    "ledger.read_any": roles(SW, AD),
    "ledger.grant": roles(AD),
    "ledger.clearing": roles(AD),
    "ledger.earn": roles(SW, AD),
    "ledger.redeem_for": roles(SW, AD),
    "ledger.certificate_revoke": roles(SW, AD),
    "policy.update": roles(AD),
    # --- volunteering ---
    "need.create": roles(SW, AD),
    "need.update": roles(SW, AD),
    "shift.signup": roles(VO),
    "assignment.manage": roles(SW, AD),
    "assignment.verify": roles(SW, AD),
    "volunteer.manage": roles(SW, AD),
    "matching.run": roles(SW, AD),
    # --- spaces ---
    "space.create": roles(SM, AD),
    "space.manage": roles(SM, AD),
    "reservation.create": MEMBER,
    "reservation.manage": roles(SM, AD),
    # --- reports ---
    "dashboard.read": STAFF,
}


def role_map(member: Member) -> dict[int, set[str]]:
    """community id → role names, loaded once per member object."""
    cached: dict[int, set[str]] | None = getattr(member, "_role_map", None)
    if cached is None:
        cached = {}
        for community_id, role in member.roles.values_list("community_id", "role"):
            cached.setdefault(community_id, set()).add(role)
        member._role_map = cached  # type: ignore[attr-defined]
    return cached


def forget_roles(member: Member) -> None:
    if hasattr(member, "_role_map"):
        del member._role_map


def has_role(member: Member, community_id: int, *names: str) -> bool:
    return bool(role_map(member).get(community_id, set()) & set(names))


def is_staff_of(member: Member, community_id: int) -> bool:
    return member.is_superuser or has_role(member, community_id, *STAFF_ROLES)


def staff_communities(member: Member) -> list[int]:
    return sorted(cid for cid, names in role_map(member).items() if names & STAFF_ROLES)


def allowed(member: Member | AnonymousUser | None, action: str, community_id: int | None) -> bool:
    rule = MATRIX[action]
    if member is None or not member.is_authenticated or not member.is_active:
        return False
    if member.is_superuser:
        return True
    if rule.superuser_only:
        return False
    if rule.any_member:
        return True
    if community_id is None:
        return False
    return bool(role_map(member).get(community_id, set()) & rule.roles)


def require(
    member: Member | AnonymousUser | None, action: str, community_id: int | None = None
) -> None:
    """Raise 401 for no credential, 403 for a credential without the needed role."""
    if action not in MATRIX:
        raise KeyError(f"action {action!r} is not declared in the permission matrix")
    if member is None or not member.is_authenticated:
        raise Unauthorized()
    if not allowed(member, action, community_id):
        raise Forbidden(_("你在该社区没有执行此操作的角色"), code="forbidden")
