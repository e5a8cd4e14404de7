"""The authorization matrix, generated from `timebank.permissions.ENDPOINTS`.

Every operation of /api/openapi.json is called as every persona: anonymous; a
volunteer, resident, social worker, space manager and admin of community A (the
community every target object belongs to); the same five roles of community B;
and a superuser. Path ids are real objects of community A, bodies are valid, so
the request reaches the permission check. The expectation comes from the table:

- anonymous → 401 `not_authenticated` unless the operation is public;
- a persona the table allows → neither 401 nor a permission 403 (any other
  status, 2xx or a business 4xx, is fine: the test is about who, not what);
- a persona the table denies → 403 problem+json with a permission code; for
  a persona of another community, 404 (the object is hidden) is a denial too.

An operation missing from ENDPOINTS fails `test_every_operation_is_declared`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from matching import selectors as matching_selectors
from matching import services as matching_services
from matching.models import Notification
from matching.services.runs import run_create
from resources import allocation, booking
from resources import services as resource_services
from tests.factories import DEFAULT_PASSWORD, CommunityFactory, MemberFactory, member_with_roles
from timebank import permissions
from timebank.api import api as ninja_api
from timebank.auth import token_issue
from timebank.ledger import certificates
from timebank.ledger import services as ledger_services
from timebank.people.models import Member

pytestmark = pytest.mark.django_db

ROLES = ("volunteer", "resident", "social_worker", "space_manager", "admin")
PERSONAS = ["anonymous", *(f"{r}@A" for r in ROLES), *(f"{r}@B" for r in ROLES), "superuser"]
# 403 codes that mean "not you": the rest (quota_exceeded, not_a_relative,
# invalid_gate_token, ...) are business rules an allowed caller can still meet.
DENIAL_CODES = {
    "forbidden",
    "not_your_assignment",
    "not_your_reservation",
    "not_in_community",
    "not_a_member",
}
PREFIX = "/api/v1"
# A Monday morning in Shenzhen, so opening hours, weekly rounds and windows are fixed.
NOW = dt.datetime(2026, 12, 7, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def operations() -> list[tuple[str, str]]:
    """(METHOD, path relative to /api/v1) of every operation in the OpenAPI document."""
    spec = ninja_api.get_openapi_schema(path_prefix="")
    return sorted(
        (method.upper(), path)
        for path, ops in spec["paths"].items()
        for method in ops
        if method in {"get", "post", "put", "patch", "delete"}
    )


def test_every_operation_is_declared() -> None:
    ops = operations()
    missing = [f"{m} {p}" for m, p in ops if (m, p) not in permissions.ENDPOINTS]
    assert not missing, "operations with no entry in timebank.permissions.ENDPOINTS: " + ", ".join(
        missing
    )
    stale = [f"{m} {p}" for m, p in permissions.ENDPOINTS if (m, p) not in ops]
    assert not stale, "ENDPOINTS entries with no such operation: " + ", ".join(stale)
    for method, path in ops:
        permissions.endpoint_access(method, path)  # every entry parses


def test_served_document_matches_the_router(client: Client) -> None:
    served = client.get("/api/openapi.json").json()
    paths = {(m.upper(), p.removeprefix(PREFIX)) for p, ops in served["paths"].items() for m in ops}
    assert paths == set(operations())


@dataclass
class World:
    community: Any
    other: Any
    members: dict[str, Member]
    ids: dict[str, Any] = field(default_factory=dict)
    owner: dict[str, Member] = field(default_factory=dict)


def _at(hours: float) -> dt.datetime:
    return timezone.localtime(timezone.now() + dt.timedelta(hours=hours))


def _tomorrow(hour: int) -> dt.datetime:
    day = timezone.localdate() + dt.timedelta(days=1)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def build_world() -> World:
    a = CommunityFactory(name="香蜜社区")
    b = CommunityFactory(name="景田社区")
    members: dict[str, Member] = {}
    for community, tag in ((a, "A"), (b, "B")):
        for role in ROLES:
            members[f"{role}@{tag}"] = member_with_roles(community, role, name=f"{role}{tag}")
    members["superuser"] = MemberFactory(name="超级管理员", is_superuser=True, is_staff=True)
    vol, res = members["volunteer@A"], members["resident@A"]
    sw, sm = members["social_worker@A"], members["space_manager@A"]
    w = World(community=a, other=b, members=members)

    need = matching_services.need_post(
        actor=sw,
        community=a,
        title="陪同复诊",
        category="escort",
        priority=3,
        lat=22.541,
        lon=114.059,
        address="香蜜湖路 1 号",
        skills=[],
        languages=[],
        shifts=[matching_services.ShiftSpec(_at(48), _at(50), 2)],
        beneficiary=res,
    )
    shift = matching_selectors.need_shifts(need)[0]
    assignment, _position = matching_services.signup_create(volunteer=vol, shift_id=shift.pk)
    request = matching_services.service_request_create(
        member=res, community=a, category="escort", description="需要陪同", preferred=""
    )
    run = run_create(actor=sw, community=a, start=_at(24), end=_at(24 * 7))
    notification = Notification.objects.create(member=vol, kind="test", title="通知")
    profile = matching_selectors.profile_get(member=vol)

    space = resource_services.space_create(
        actor=sm,
        community=a,
        name="篮球场",
        kind="court",
        mode="exclusive",
        capacity=12,
        lat=22.55,
        lon=114.05,
    )
    reservation = booking.reservation_book(
        member=vol, space=space, start=_tomorrow(10), end=_tomorrow(11), accept_terms=True
    )
    closure, _cancelled = resource_services.closure_create(
        actor=sm,
        space=space,
        start=_tomorrow(20),
        end=_tomorrow(21),
        reason="maintenance",
        note="",
    )
    week_start = timezone.localdate() + dt.timedelta(days=14)  # a Monday, as NOW is
    rnd = allocation.round_create(
        actor=sm, space=space, week_start=week_start, cutoff=_at(24 * 7), lookback_days=28
    )

    transfer = ledger_services.ledger_earn_record(
        actor=sw,
        community=a,
        volunteer=vol,
        minutes=120,
        record_key="authz-1",
        memo="",
        category="",
    )
    today = timezone.localdate()
    cert = certificates.certificate_issue(
        actor=vol, volunteer=vol, start=today - dt.timedelta(days=30), end=today
    )

    w.ids = {
        "cid": a.pk,
        "member_id": vol.pk,
        "mid": vol.pk,
        "transfer_id": transfer.pk,
        "number": cert.number,
        "need_id": need.pk,
        "request_id": request.pk,
        "shift_id": shift.pk,
        "assignment_id": assignment.pk,
        "token": profile.calendar_token,
        "notification_id": notification.pk,
        "run_id": run.pk,
        "space_id": space.pk,
        "closure_id": closure.pk,
        "reservation_id": reservation.pk,
        "round_id": rnd.pk,
        "check_code": certificates.check_code(cert.number),
        "week_start": week_start,
    }
    # Whose object each owner-scoped operation targets; the volunteer of A by default.
    w.owner = {"POST /assignments/{assignment_id}/ratings": res}
    return w


def body_for(method: str, path: str, w: World) -> Any:
    """A schema-valid body, so the call reaches its permission check."""
    a = w.community.pk
    m = w.members
    ids = w.ids
    later = _tomorrow(15).isoformat()
    later_end = _tomorrow(16).isoformat()
    bodies: dict[str, Any] = {
        "POST /me/erase": {"confirm": True, "password": "not-the-password"},
        "POST /auth/login": {"phone": m["resident@A"].phone, "password": DEFAULT_PASSWORD},
        "POST /communities": {
            "name": "新社区",
            "street": "街道",
            "district": "福田区",
            "center": {"lat": 22.5, "lon": 114.0},
        },
        "POST /communities/{cid}/members": {"name": "新成员", "roles": ["resident"], "proxy": True},
        "POST /communities/{cid}/roles": {"member": m["resident@A"].pk, "role": "volunteer"},
        "POST /communities/{cid}/relations": {
            "member": m["resident@A"].pk,
            "relative": m["volunteer@A"].pk,
            "relation": "child",
        },
        "POST /ledger/gifts": {"to": m["resident@A"].pk, "minutes": 1, "community": a},
        "POST /ledger/donations": {"minutes": 1, "community": a},
        "POST /ledger/redemptions": {"community": a, "minutes": 1},
        "POST /ledger/grants": {"community": a, "to": m["volunteer@A"].pk, "minutes": 10},
        "POST /ledger/earnings": {
            "community": a,
            "volunteer": m["volunteer@A"].pk,
            "minutes": 10,
            "record_key": "authz-2",
        },
        "POST /ledger/transfers/{transfer_id}/reverse": {"reason": "录入错误"},
        "POST /ledger/certificates": {
            "from": str(timezone.localdate() - dt.timedelta(days=30)),
            "to": str(timezone.localdate()),
        },
        "POST /ledger/certificates/{number}/revoke": {"reason": "测试撤销"},
        "PUT /communities/{cid}/policy": {"gift_scope": "anyone"},
        "POST /needs": {
            "community": a,
            "title": "买菜",
            "category": "escort",
            "priority": 2,
            "location": {"lat": 22.54, "lon": 114.05, "address": "香蜜湖路 2 号"},
            "skills": [],
            "languages": [],
            "shifts": [{"start": _at(72).isoformat(), "end": _at(73).isoformat(), "headcount": 1}],
        },
        "PATCH /communities/{cid}": {"residents": 3000},
        "PATCH /needs/{need_id}": {"title": "陪同复诊（改）"},
        "POST /needs/{need_id}/cancel": {"reason": "家属已陪同"},
        "POST /service-requests": {"community": a, "category": "escort", "description": "买药"},
        "POST /service-requests/{request_id}/handle": {"accept": False, "note": "已电话联系"},
        "POST /shifts/{shift_id}/assignments": {"volunteer": m["volunteer@A"].pk},
        "POST /assignments/{assignment_id}/cancel": {"reason": "临时有事"},
        "POST /assignments/{assignment_id}/check-in": {},
        "POST /assignments/{assignment_id}/check-out": {},
        "POST /assignments/{assignment_id}/verify": {"minutes": 60},
        "POST /assignments/{assignment_id}/ratings": {"score": 5},
        "PATCH /volunteers/me": {"languages": ["zh"]},
        "PUT /volunteers/me": {"languages": ["zh"]},
        "PATCH /volunteers/{member_id}": {"languages": ["zh"]},
        "PUT /volunteers/{member_id}": {"languages": ["zh"]},
        "POST /matching/runs": {
            "community": a,
            "from": _at(24).isoformat(),
            "to": _at(48).isoformat(),
        },
        "POST /matching/runs/{run_id}/apply": {},
        "POST /spaces": {
            "community": a,
            "name": "活动室",
            "kind": "room",
            "mode": "exclusive",
            "capacity": 10,
            "location": {"lat": 22.55, "lon": 114.05, "address": "活动中心"},
        },
        "PATCH /spaces/{space_id}/rules": {},
        "PUT /spaces/{space_id}/opening": {"opening_template": "all_week"},
        "POST /spaces/{space_id}/closures": {
            "start": _tomorrow(18).isoformat(),
            "end": _tomorrow(19).isoformat(),
            "reason": "event",
        },
        "POST /spaces/{space_id}/waitlist": {"start": later, "end": later_end},
        "POST /reservations": {
            "space": ids["space_id"],
            "start": later,
            "end": later_end,
            "accept_terms": True,
        },
        "POST /reservations/holds": {"space": ids["space_id"], "start": later, "end": later_end},
        "POST /reservations/{reservation_id}/confirm": {"accept_terms": True},
        "POST /reservations/{reservation_id}/check-in": {},
        "POST /spaces/{space_id}/rounds": {
            "week_start": str(ids["week_start"] + dt.timedelta(days=7)),
            "cutoff": _at(24 * 8).isoformat(),
        },
        "POST /rounds/{round_id}/requests": {
            "start": timezone.make_aware(
                dt.datetime.combine(ids["week_start"], dt.time(10))
            ).isoformat(),
            "end": timezone.make_aware(
                dt.datetime.combine(ids["week_start"], dt.time(11))
            ).isoformat(),
        },
    }
    # A write with no entry gets {}: enough for one whose fields are all optional.
    return bodies.get(f"{method} {path}", {})


def query_for(method: str, path: str, w: World) -> str:
    a = w.community.pk
    queries = {
        "GET /ledger/clearing": f"?community={a}&from=2026-01-01&to=2026-12-31",
        "GET /ledger/certificates/{number}": f"?code={w.ids['check_code']}",
        "GET /ledger/certificates/{number}/pdf": f"?code={w.ids['check_code']}",
        "GET /spaces/{space_id}/availability": (
            f"?from={_tomorrow(8).isoformat()}&to={_tomorrow(22).isoformat()}"
        ),
        "GET /spaces/{space_id}/utilisation": (
            f"?from={_tomorrow(8).isoformat()}&to={_tomorrow(22).isoformat()}"
        ),
    }
    q = queries.get(f"{method} {path}", "")
    return q.replace("+", "%2B")


def fill(path: str, w: World) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in w.ids:
            raise AssertionError(f"no object for path parameter {{{name}}} in {path}")
        return str(w.ids[name])

    return re.sub(r"\{([^}]+)\}", one, path)


def expected(persona: str, method: str, path: str, w: World) -> str:
    """'unauthenticated', 'allow' or 'deny' for this persona on this operation."""
    access = permissions.endpoint_access(method, path)
    if access.kind == permissions.PUBLIC:
        return "allow"
    if persona == "anonymous":
        return "unauthenticated"
    member = w.members[persona]
    owner = w.owner.get(f"{method} {path}", w.members["volunteer@A"])
    if access.owner and member.pk == owner.pk:
        return "allow"
    if access.kind == permissions.SIGNED_IN:
        return "allow"
    if access.kind == permissions.IN_COMMUNITY:
        return "allow" if member.is_superuser or persona.endswith("@A") else "deny"
    if access.kind == permissions.OWNER:
        return "deny"
    assert access.action is not None
    return "allow" if permissions.allowed(member, access.action, w.community.pk) else "deny"


def call(client: Client, method: str, path: str, w: World, token: str | None) -> Any:
    url = PREFIX + fill(path, w) + query_for(method, path, w)
    extra = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    fn = getattr(client, method.lower())
    if method in {"POST", "PUT", "PATCH"}:
        data = json.dumps(body_for(method, path, w))
        return fn(url, data=data, content_type="application/json", **extra)
    return fn(url, **extra)


def verdict(persona: str, want: str, response: Any) -> str | None:
    """None when the response fits the expectation, else what went wrong."""
    status = response.status_code
    is_problem = response.get("Content-Type", "").startswith("application/problem+json")
    code = response.json().get("code") if is_problem else None
    if status >= 500:
        return f"server error {status}: {response.content[:200]!r}"
    if want == "unauthenticated":
        if status == 401 and code == "not_authenticated":
            return None
        return f"anonymous should get 401 not_authenticated, got {status} {code}"
    if want == "allow":
        if status == 401 or (status == 403 and code in DENIAL_CODES):
            return f"allowed, but got {status} {code}"
        return None
    if status == 403 and code in DENIAL_CODES:
        return None
    if status == 404 and is_problem and not persona.endswith("@A"):
        return None  # another community's object is hidden, not merely refused
    return f"should be denied (403), got {status} {code}: {response.content[:160]!r}"


@pytest.mark.parametrize("persona", PERSONAS)
@time_machine.travel(NOW, tick=True)
def test_matrix(persona: str) -> None:
    w = build_world()
    client = Client()
    token = None if persona == "anonymous" else token_issue(member=w.members[persona])[0]
    # Logging out revokes the token, and erasing (tried with a wrong password) would end
    # the account, so they go last.
    last = {("POST", "/me/erase"): 1, ("POST", "/auth/logout"): 2}
    ops = sorted(operations(), key=lambda op: last.get(op, 0))
    failures = []
    for method, path in ops:
        want = expected(persona, method, path, w)
        response = call(client, method, path, w, token)
        problem = verdict(persona, want, response)
        if problem:
            failures.append(f"{method} {path}: {problem}")
    assert not failures, f"{persona}:\n" + "\n".join(failures)


# --- the web pages -------------------------------------------------------------------


def page_routes() -> list[tuple[str, str]]:
    """(URL name, route) of every page in frontend/urls.py."""
    from frontend.urls import urlpatterns

    return [(str(p.name), str(p.pattern)) for p in urlpatterns]


def test_every_page_is_declared() -> None:
    names = [name for name, _route in page_routes()]
    missing = [n for n in names if n not in permissions.PAGES]
    assert not missing, "pages with no entry in timebank.permissions.PAGES: " + ", ".join(missing)
    stale = [n for n in permissions.PAGES if n not in names]
    assert not stale, "PAGES entries with no such page: " + ", ".join(stale)
    for name in names:
        permissions.page_access(name)


def page_url(route: str, w: World) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in w.ids:
            raise AssertionError(f"no object for <{name}> in page route {route}")
        return str(w.ids[name])

    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", one, route) + f"?community={w.community.pk}"


def page_expected(persona: str, name: str, w: World) -> str:
    access = permissions.page_access(name)
    if access.kind == permissions.PUBLIC:
        return "allow"
    if persona == "anonymous":
        return "unauthenticated"
    member = w.members[persona]
    owner = w.members["resident@A"] if name == "r-rate" else w.members["volunteer@A"]
    if access.owner and member.pk == owner.pk:
        return "allow"
    if access.kind == permissions.SIGNED_IN:
        return "allow"
    if access.kind == permissions.IN_COMMUNITY:
        return "allow" if member.is_superuser or persona.endswith("@A") else "deny"
    if access.kind == permissions.OWNER:
        return "deny"
    assert access.action is not None
    if access.anywhere:
        communities = [w.community.pk, w.other.pk]
        ok = any(permissions.allowed(member, access.action, c) for c in communities)
        return "allow" if ok else "deny"
    return "allow" if permissions.allowed(member, access.action, w.community.pk) else "deny"


def page_verdict(persona: str, want: str, response: Any) -> str | None:
    status = response.status_code
    if status >= 500:
        return f"server error {status}"
    if want == "unauthenticated":
        if status == 302 and response["Location"].startswith("/login/"):
            return None
        return f"anonymous should be sent to the login page, got {status}"
    if want == "allow":
        return f"allowed, but got {status}" if status in (401, 403) else None
    if status == 403 or (status == 404 and not persona.endswith("@A")):
        return None
    if status == 302 and response.wsgi_request.method == "POST":
        # A form post shows the refusal as an error message on the page it returns to.
        stored = list(getattr(response.wsgi_request, "_messages", []))
        if any(m.level_tag == "error" for m in stored):
            return None
    return f"should be denied (403), got {status}"


@pytest.mark.parametrize("persona", PERSONAS)
@time_machine.travel(NOW, tick=True)
def test_pages(persona: str) -> None:
    w = build_world()
    client = Client()
    if persona != "anonymous":
        client.force_login(w.members[persona])
    routes = sorted(page_routes(), key=lambda nr: nr[0] == "logout")
    failures = []
    for name, route in routes:
        url = page_url(route, w)
        response = client.get(url)
        if response.status_code == 405:
            response = client.post(url, {})
        problem = page_verdict(persona, page_expected(persona, name, w), response)
        if problem:
            failures.append(f"{name} {url}: {problem}")
    assert not failures, f"{persona}:\n" + "\n".join(failures)
