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

# Who may call each operation of /api/v1, in the object's community. One of:
#   "public"     anyone, no credential needed;
#   "member"     any signed-in member (it acts on their own things: /me, their inbox);
#   "community"  a member holding any role in the object's community;
#   "owner"      only the member the object belongs to (the booker, the volunteer);
#   "<action>"   a MATRIX action, checked in the object's community;
#   "<action>|owner"  that action, or the member the object belongs to.
# Someone signed in without the access gets 403; outside the object's community
# a 404 may stand in for it, so ids do not leak. tests/hardening/test_authz_matrix.py
# calls every operation of /api/openapi.json as every role against this table; an
# operation missing here fails it.
PUBLIC = "public"
SIGNED_IN = "member"
IN_COMMUNITY = "community"
OWNER = "owner"

ENDPOINTS: dict[tuple[str, str], str] = {
    # --- auth and people ---
    ("POST", "/auth/login"): PUBLIC,
    ("POST", "/auth/logout"): SIGNED_IN,
    ("GET", "/me"): SIGNED_IN,
    ("GET", "/me/export"): SIGNED_IN,
    ("POST", "/me/erase"): SIGNED_IN,
    ("POST", "/communities"): "community.create",
    ("GET", "/communities"): SIGNED_IN,
    ("GET", "/communities/{cid}"): SIGNED_IN,
    ("PATCH", "/communities/{cid}"): "community.update",
    ("POST", "/communities/{cid}/members"): "member.register",
    ("GET", "/communities/{cid}/members"): "member.read",
    ("GET", "/communities/{cid}/members/{mid}"): "member.read",
    # Social workers grant volunteer and resident roles; staff roles need an admin
    # (403 role_not_grantable). "role.grant" itself guards revoking.
    ("POST", "/communities/{cid}/roles"): "member.register",
    ("POST", "/communities/{cid}/relations"): "relation.create",
    # --- time bank ---
    ("GET", "/ledger/me"): SIGNED_IN,
    ("GET", "/ledger/me/entries"): SIGNED_IN,
    ("GET", "/ledger/me/entries.csv"): SIGNED_IN,
    ("GET", "/ledger/me/summary"): SIGNED_IN,
    ("GET", "/ledger/members/{member_id}"): "ledger.read_any|owner",
    ("GET", "/ledger/members/{member_id}/entries"): "ledger.read_any|owner",
    # The giver must belong to the community whose gift rules apply.
    ("POST", "/ledger/gifts"): IN_COMMUNITY,
    ("POST", "/ledger/donations"): "ledger.transfer",
    ("POST", "/ledger/redemptions"): "ledger.transfer",
    ("POST", "/ledger/grants"): "ledger.grant",
    ("POST", "/ledger/earnings"): "ledger.earn",
    ("GET", "/ledger/transfers/{transfer_id}"): "ledger.read_any|owner",
    ("POST", "/ledger/transfers/{transfer_id}/reverse"): "ledger.reverse",
    ("POST", "/ledger/certificates"): SIGNED_IN,
    ("GET", "/ledger/certificates/{number}"): PUBLIC,
    ("GET", "/ledger/certificates/{number}/pdf"): PUBLIC,
    ("POST", "/ledger/certificates/{number}/revoke"): "ledger.certificate_revoke",
    ("GET", "/ledger/clearing"): "ledger.clearing",
    ("GET", "/communities/{cid}/policy"): SIGNED_IN,
    ("PUT", "/communities/{cid}/policy"): "policy.update",
    # --- needs, shifts, assignments ---
    ("POST", "/needs"): "need.create",
    ("GET", "/needs/{need_id}"): IN_COMMUNITY,
    ("PATCH", "/needs/{need_id}"): "need.update",
    ("POST", "/needs/{need_id}/cancel"): "need.update",
    ("POST", "/service-requests"): IN_COMMUNITY,
    ("GET", "/communities/{cid}/service-requests"): "need.create",
    ("POST", "/service-requests/{request_id}/handle"): "need.create",
    ("GET", "/shifts"): SIGNED_IN,
    ("GET", "/shifts/{shift_id}"): IN_COMMUNITY,
    ("GET", "/shifts/{shift_id}/assignments"): "assignment.manage",
    ("POST", "/shifts/{shift_id}/assignments"): "assignment.manage",
    ("GET", "/shifts/{shift_id}/qr"): "assignment.manage",
    ("POST", "/shifts/{shift_id}/signups"): "shift.signup",
    ("GET", "/shifts/{shift_id}/candidates"): "assignment.manage",
    ("GET", "/assignments/me"): SIGNED_IN,
    ("GET", "/assignments/{assignment_id}"): "dashboard.read|owner",
    ("POST", "/assignments/{assignment_id}/accept"): OWNER,
    ("POST", "/assignments/{assignment_id}/cancel"): "assignment.manage|owner",
    ("POST", "/assignments/{assignment_id}/check-in"): "assignment.manage|owner",
    ("POST", "/assignments/{assignment_id}/check-out"): "assignment.manage|owner",
    ("POST", "/assignments/{assignment_id}/verify"): "assignment.verify",
    # The owner of a rating is the need's beneficiary (服务对象).
    ("POST", "/assignments/{assignment_id}/ratings"): "assignment.verify|owner",
    ("GET", "/communities/{cid}/ratings"): "dashboard.read",
    ("GET", "/volunteers/me"): SIGNED_IN,
    ("PATCH", "/volunteers/me"): SIGNED_IN,
    ("PUT", "/volunteers/me"): SIGNED_IN,
    ("GET", "/volunteers/me/calendar"): SIGNED_IN,
    ("POST", "/volunteers/me/calendar/rotate"): SIGNED_IN,
    ("GET", "/calendar/{token}.ics"): PUBLIC,
    ("GET", "/volunteers/{member_id}"): "volunteer.manage|owner",
    ("PATCH", "/volunteers/{member_id}"): "volunteer.manage|owner",
    ("PUT", "/volunteers/{member_id}"): "volunteer.manage|owner",
    ("GET", "/notifications"): SIGNED_IN,
    # Someone else's notification is 404, as if it did not exist.
    ("POST", "/notifications/{notification_id}/read"): SIGNED_IN,
    ("POST", "/matching/runs"): "matching.run",
    ("GET", "/matching/runs/{run_id}"): "matching.run",
    ("POST", "/matching/runs/{run_id}/apply"): "matching.run",
    # --- spaces and reservations ---
    ("POST", "/spaces"): "space.create",
    ("GET", "/spaces"): PUBLIC,
    ("GET", "/spaces/{space_id}"): PUBLIC,
    ("PATCH", "/spaces/{space_id}/rules"): "space.manage",
    ("PUT", "/spaces/{space_id}/opening"): "space.manage",
    ("POST", "/spaces/{space_id}/closures"): "space.manage",
    ("GET", "/spaces/{space_id}/closures"): PUBLIC,
    ("DELETE", "/spaces/{space_id}/closures/{closure_id}"): "space.manage",
    ("GET", "/spaces/{space_id}/availability"): PUBLIC,
    ("GET", "/spaces/{space_id}/gate"): "space.manage",
    ("GET", "/spaces/{space_id}/reservations"): "reservation.manage",
    ("GET", "/spaces/{space_id}/utilisation"): "dashboard.read",
    ("POST", "/spaces/{space_id}/waitlist"): "reservation.create",
    ("POST", "/reservations"): "reservation.create",
    ("POST", "/reservations/holds"): "reservation.create",
    ("GET", "/reservations/me"): SIGNED_IN,
    ("GET", "/reservations/{reservation_id}"): "reservation.manage|owner",
    ("POST", "/reservations/{reservation_id}/confirm"): OWNER,
    ("POST", "/reservations/{reservation_id}/cancel"): "reservation.manage|owner",
    ("POST", "/reservations/{reservation_id}/check-in"): "reservation.manage|owner",
    ("POST", "/reservations/{reservation_id}/approve"): "reservation.manage",
    ("POST", "/reservations/{reservation_id}/reject"): "reservation.manage",
    ("POST", "/spaces/{space_id}/rounds"): "space.manage",
    ("GET", "/rounds/{round_id}"): SIGNED_IN,
    ("POST", "/rounds/{round_id}/requests"): "reservation.create",
    ("POST", "/rounds/{round_id}/allocate"): "space.manage",
}


# The same for the web pages, by URL name in frontend/urls.py. A staff page with
# no object in its path works on `?community=`; "<action>@any" is a page that
# lists what the member may manage in every community (no single community).
PAGES: dict[str, str] = {
    "home": PUBLIC,
    "login": PUBLIC,
    "logout": PUBLIC,
    "healthz": PUBLIC,
    "elder-mode": PUBLIC,
    "my-data": SIGNED_IN,
    "register": "member.register",
    "directory": "member.read",
    "dashboard": "dashboard.read",
    "s-needs": "need.create",
    "s-coverage": "assignment.manage",
    "s-need": "need.update",
    "s-request-decline": "need.create",
    "s-runs": "matching.run",
    "s-run": "matching.run",
    "s-run-apply": "matching.run",
    "s-verify": "assignment.verify",
    "s-verify-one": "assignment.verify",
    "s-candidates": "assignment.manage",
    "r-spaces": PUBLIC,
    "r-space": PUBLIC,
    "r-waitlist": "reservation.create",
    "r-reserve": "reservation.create",
    "r-request": SIGNED_IN,
    "r-mine": SIGNED_IN,
    "r-cancel": "reservation.manage|owner",
    "r-accept": OWNER,
    "r-rate": "assignment.verify|owner",
    "m-spaces": "space.manage@any",
    "m-rules": "space.manage",
    "m-gate": "space.manage",
    "m-gate-checkin": "space.manage",
    "m-util": "space.manage",
    "v-home": SIGNED_IN,
    "v-shifts": SIGNED_IN,
    "v-shift": IN_COMMUNITY,
    "v-signup": "shift.signup",
    "v-schedule": SIGNED_IN,
    "v-cancel": "assignment.manage|owner",
    "v-accept": OWNER,
    "v-checkin": SIGNED_IN,
    "v-hours": SIGNED_IN,
    "v-profile": SIGNED_IN,
}


@dataclass(frozen=True)
class Access:
    """One ENDPOINTS entry, parsed: who besides the `action` holders may call."""

    kind: str  # PUBLIC, SIGNED_IN, IN_COMMUNITY, OWNER or "action"
    action: str | None = None
    owner: bool = False
    anywhere: bool = False  # the action in any community, not the object's


def endpoint_access(method: str, path: str) -> Access:
    """The declared access of `METHOD /path` (path as in the OpenAPI document,
    relative to /api/v1). KeyError when the operation is not declared."""
    return parse_access(ENDPOINTS[(method.upper(), path)])


def page_access(name: str) -> Access:
    """The declared access of the page named `name`. KeyError when undeclared."""
    return parse_access(PAGES[name])


def parse_access(entry: str) -> Access:
    if entry in (PUBLIC, SIGNED_IN, IN_COMMUNITY):
        return Access(kind=entry)
    if entry == OWNER:
        return Access(kind=OWNER, owner=True)
    action, _sep, extra = entry.partition("|")
    action, at, anywhere = action.partition("@")
    if action not in MATRIX or extra not in ("", OWNER) or anywhere not in ("", "any"):
        raise ValueError(f"access {entry!r} names no MATRIX action")
    return Access(kind="action", action=action, owner=extra == OWNER, anywhere=bool(at))


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
