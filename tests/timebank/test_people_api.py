"""Communities, members, roles and relations through the API, for every role."""

from __future__ import annotations

import pytest

from tests.conftest import problem
from timebank.people.models import Community, Member, Relation, Role

pytestmark = pytest.mark.django_db

COMMUNITY = {
    "name": "梅林一村社区",
    "street": "梅林街道",
    "district": "福田区",
    "center": {"lat": 22.5700, "lon": 114.0500},
}


def test_superuser_creates_community(api, people):
    r = api.post("/communities", COMMUNITY, as_=people.root)
    assert r.status_code == 201
    body = r.json()
    assert body["name"] == "梅林一村社区"
    assert body["center"] == {"lat": 22.57, "lon": 114.05}
    assert Community.objects.filter(pk=body["id"]).exists()


@pytest.mark.parametrize("who", ["alice", "bob", "carol", "dave", "erin", "frank"])
def test_only_superuser_creates_community(api, people, who):
    r = api.post("/communities", COMMUNITY, as_=getattr(people, who))
    assert r.status_code == 403
    assert problem(r)["code"] == "forbidden"
    assert not Community.objects.filter(name="梅林一村社区").exists()


def test_anonymous_create_community_is_401(api, people):
    assert api.post("/communities", COMMUNITY).status_code == 401


def test_duplicate_community_is_409(api, people):
    assert api.post("/communities", COMMUNITY, as_=people.root).status_code == 201
    r = api.post("/communities", COMMUNITY, as_=people.root)
    assert r.status_code == 409
    assert problem(r)["code"] == "community_exists"


@pytest.mark.parametrize(
    "body",
    [
        {**COMMUNITY, "center": {"lat": 91, "lon": 114}},
        {**COMMUNITY, "center": {"lat": 22, "lon": 181}},
        {**COMMUNITY, "name": ""},
        {"name": "x"},
        {**COMMUNITY, "center": "here"},
    ],
)
def test_bad_community_is_422_with_field_errors(api, people, body):
    r = api.post("/communities", body, as_=people.root)
    assert r.status_code == 422
    p = problem(r)
    assert p["code"] == "validation_error"
    assert p["errors"] and all({"field", "message"} <= set(e) for e in p["errors"])


def test_malformed_json_is_400(api, people):
    r = api.post("/communities", raw="{not json", as_=people.root)
    assert r.status_code == 400
    assert problem(r)["code"] == "malformed_json"


def _member_body(**over):
    body = {
        "phone": "13912345678",
        "name": "林阿婆",
        "password": "Lotus-2026-garden",
        "roles": ["resident"],
        "birth_date": "1948-03-02",
        "location": {"lat": 22.551, "lon": 114.052},
    }
    body.update(over)
    return body


@pytest.mark.parametrize("who", ["alice", "erin", "root"])
def test_staff_register_members(api, people, who):
    r = api.post(
        f"/communities/{people.community.id}/members", _member_body(), as_=getattr(people, who)
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["phone"] == "13912345678"  # shown in full to the staff who registered them
    assert body["roles"] == [{"community": people.community.id, "role": "resident"}]
    member = Member.objects.get(pk=body["id"])
    assert member.check_password("Lotus-2026-garden")
    assert str(member.birth_date) == "1948-03-02"


@pytest.mark.parametrize("who", ["bob", "carol", "dave", "frank"])
def test_non_staff_cannot_register(api, people, who):
    r = api.post(
        f"/communities/{people.community.id}/members", _member_body(), as_=getattr(people, who)
    )
    assert r.status_code == 403
    assert not Member.objects.filter(phone="13912345678").exists()


def test_social_worker_of_other_community_cannot_register(api, people):
    r = api.post(f"/communities/{people.other.id}/members", _member_body(), as_=people.alice)
    assert r.status_code == 403


def test_social_worker_cannot_grant_staff_roles(api, people):
    r = api.post(
        f"/communities/{people.community.id}/members",
        _member_body(roles=["admin"]),
        as_=people.alice,
    )
    assert r.status_code == 403
    assert problem(r)["code"] == "role_not_grantable"
    assert not Member.objects.filter(phone="13912345678").exists()


def test_admin_grants_staff_roles(api, people):
    r = api.post(
        f"/communities/{people.community.id}/members",
        _member_body(roles=["social_worker", "volunteer"]),
        as_=people.erin,
    )
    assert r.status_code == 201
    assert {x["role"] for x in r.json()["roles"]} == {"social_worker", "volunteer"}


def test_duplicate_phone_is_409_phone_taken(api, people):
    r = api.post(
        f"/communities/{people.community.id}/members",
        _member_body(phone=people.bob.phone),
        as_=people.alice,
    )
    assert r.status_code == 409
    assert problem(r)["code"] == "phone_taken"


@pytest.mark.parametrize("phone", ["12345", "23912345678", "1391234567a", "139123456789"])
def test_malformed_phone_is_422(api, people, phone):
    r = api.post(
        f"/communities/{people.community.id}/members", _member_body(phone=phone), as_=people.alice
    )
    assert r.status_code == 422
    assert problem(r)["code"] == "invalid_phone"
    assert Member.objects.count() == 7


def test_weak_password_is_422(api, people):
    r = api.post(
        f"/communities/{people.community.id}/members",
        _member_body(password="12345678"),
        as_=people.alice,
    )
    assert r.status_code == 422
    p = problem(r)
    assert p["code"] == "weak_password"
    assert p["errors"][0]["field"] == "password"


def test_future_birth_date_is_422(api, people):
    r = api.post(
        f"/communities/{people.community.id}/members",
        _member_body(birth_date="2999-01-01"),
        as_=people.alice,
    )
    assert problem(r)["code"] == "invalid_birth_date"


def test_unknown_role_is_422(api, people):
    r = api.post(
        f"/communities/{people.community.id}/members",
        _member_body(roles=["king"]),
        as_=people.alice,
    )
    assert r.status_code == 422


def test_unknown_community_is_404(api, people):
    r = api.post("/communities/999999/members", _member_body(), as_=people.root)
    assert r.status_code == 404
    assert problem(r)["code"] == "community_not_found"


def test_proxy_entry_without_phone(api, people):
    """Staff register an elder who has no phone (帮办代办); they cannot log in."""
    r = api.post(
        f"/communities/{people.community.id}/members",
        {"name": "何伯", "proxy": True, "roles": ["resident"], "birth_date": "1939-05-01"},
        as_=people.alice,
    )
    assert r.status_code == 201, r.content
    member = Member.objects.get(pk=r.json()["id"])
    assert member.phone is None
    assert member.registered_by == people.alice
    assert not member.has_usable_password()
    assert r.json()["has_phone"] is False


def test_without_phone_needs_proxy(api, people):
    r = api.post(f"/communities/{people.community.id}/members", {"name": "何伯"}, as_=people.alice)
    assert r.status_code == 422
    assert problem(r)["code"] == "invalid_phone"


def test_member_list_is_paginated_for_staff_only(api, people):
    first = api.get(f"/communities/{people.community.id}/members?limit=2", as_=people.alice)
    assert first.status_code == 200
    page = first.json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    seen = [m["id"] for m in page["items"]]
    while page["next_cursor"]:
        page = api.get(
            f"/communities/{people.community.id}/members?limit=2&cursor={page['next_cursor']}",
            as_=people.alice,
        ).json()
        seen += [m["id"] for m in page["items"]]
    assert len(seen) == len(set(seen)) == 5
    assert all("****" in m["phone"] for m in first.json()["items"])
    assert api.get(f"/communities/{people.community.id}/members", as_=people.bob).status_code == 403
    bad = api.get(f"/communities/{people.community.id}/members?cursor=%%%", as_=people.alice)
    assert bad.status_code == 422


def test_relation_is_recorded_both_ways(api, people):
    r = api.post(
        f"/communities/{people.community.id}/relations",
        {"member": people.carol.id, "relative": people.bob.id, "relation": "child"},
        as_=people.alice,
    )
    assert r.status_code == 201
    assert Relation.objects.get(member=people.carol, relative=people.bob).relation == "child"
    assert Relation.objects.get(member=people.bob, relative=people.carol).relation == "parent"


def test_spouse_is_symmetric_and_unique(api, people):
    url = f"/communities/{people.community.id}/relations"
    assert (
        api.post(
            url,
            {"member": people.carol.id, "relative": people.bob.id, "relation": "spouse"},
            as_=people.alice,
        ).status_code
        == 201
    )
    assert Relation.objects.get(member=people.bob, relative=people.carol).relation == "spouse"
    r = api.post(
        url,
        {"member": people.carol.id, "relative": people.dave.id, "relation": "spouse"},
        as_=people.alice,
    )
    assert r.status_code == 409
    assert problem(r)["code"] == "spouse_exists"


def test_conflicting_relation_is_409(api, people):
    url = f"/communities/{people.community.id}/relations"
    api.post(
        url,
        {"member": people.carol.id, "relative": people.bob.id, "relation": "child"},
        as_=people.alice,
    )
    r = api.post(
        url,
        {"member": people.carol.id, "relative": people.bob.id, "relation": "sibling"},
        as_=people.alice,
    )
    assert problem(r)["code"] == "relation_exists"


def test_relation_errors(api, people):
    url = f"/communities/{people.community.id}/relations"
    r = api.post(
        url,
        {"member": people.bob.id, "relative": people.bob.id, "relation": "child"},
        as_=people.alice,
    )
    assert problem(r)["code"] == "relation_to_self"
    r = api.post(
        url, {"member": people.bob.id, "relative": 99999, "relation": "child"}, as_=people.alice
    )
    assert r.status_code == 404
    r = api.post(
        url,
        {"member": people.bob.id, "relative": people.carol.id, "relation": "cousin"},
        as_=people.alice,
    )
    assert r.status_code == 422
    r = api.post(
        url,
        {"member": people.bob.id, "relative": people.carol.id, "relation": "child"},
        as_=people.bob,
    )
    assert r.status_code == 403
    assert not Relation.objects.exists()


def test_admin_grants_role_to_existing_member(api, people):
    r = api.post(
        f"/communities/{people.community.id}/roles",
        {"member": people.frank.id, "role": "volunteer"},
        as_=people.alice,
    )
    assert r.status_code == 201
    assert Role.objects.filter(member=people.frank, community=people.community).exists()


def test_english_detail_with_accept_language(api, people):
    import re

    r = api.post("/communities", COMMUNITY, as_=people.bob, headers={"Accept-Language": "en"})
    assert r.status_code == 403
    body = problem(r)
    assert body["code"] == "forbidden"
    cjk = re.compile(r"[\u4e00-\u9fff]")
    assert not cjk.search(body["detail"]) and not cjk.search(body["title"]), body
    zh = problem(api.post("/communities", COMMUNITY, as_=people.bob))
    assert cjk.search(zh["detail"]), zh  # zh-Hans by default


def test_openapi_describes_every_endpoint(api):
    r = api.client.get("/api/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for path in [
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/me",
        "/api/v1/communities",
        "/api/v1/communities/{cid}/members",
        "/api/v1/communities/{cid}/relations",
    ]:
        assert path in paths
    assert api.client.get("/api/docs").status_code == 200


def test_openapi_document_is_valid_with_unique_operation_ids(api):
    from collections import Counter

    from openapi_spec_validator import validate

    doc = api.client.get("/api/openapi.json").json()
    validate(doc)
    ids = Counter(op["operationId"] for ops in doc["paths"].values() for op in ops.values())
    assert [k for k, n in ids.items() if n > 1] == []
    # Every contract path of API.md is described.
    for path in [
        "/api/v1/ledger/me",
        "/api/v1/ledger/me/entries",
        "/api/v1/ledger/gifts",
        "/api/v1/ledger/donations",
        "/api/v1/ledger/transfers/{transfer_id}/reverse",
        "/api/v1/ledger/certificates",
        "/api/v1/needs",
        "/api/v1/shifts",
        "/api/v1/matching/runs",
        "/api/v1/spaces",
        "/api/v1/reservations",
        "/api/v1/volunteers/me",
    ]:
        assert path in doc["paths"], path


def test_admin_sets_the_matching_policy_and_it_is_audited(api, people):
    from timebank.audit.models import AuditEntry

    path = f"/communities/{people.community.id}"
    assert api.get(path, as_=people.bob).json()["matching_auto_confirm"] is False
    r = api.call("PATCH", path, {"matching_auto_confirm": True}, as_=people.erin)
    assert r.status_code == 200, r.content
    assert r.json()["matching_auto_confirm"] is True
    row = AuditEntry.objects.get(action="policy.changed", object_type="people.community")
    assert row.actor_id == people.erin.id
    assert row.changes == {
        "before": {"matching_auto_confirm": False},
        "after": {"matching_auto_confirm": True},
    }
    # The same value again changes nothing and writes nothing.
    assert (
        api.call("PATCH", path, {"matching_auto_confirm": True}, as_=people.erin).status_code == 200
    )
    assert AuditEntry.objects.filter(action="policy.changed").count() == 1


@pytest.mark.parametrize("who", ["alice", "bob", "carol", "dave", "frank"])
def test_only_the_communitys_admin_changes_its_policy(api, people, who):
    r = api.call(
        "PATCH",
        f"/communities/{people.community.id}",
        {"matching_auto_confirm": True},
        as_=getattr(people, who),
    )
    assert r.status_code == 403
    assert problem(r)["code"] == "forbidden"


def test_bad_policy_change_is_422_and_writes_nothing(api, people):
    path = f"/communities/{people.community.id}"
    r = api.call("PATCH", path, {"residents": -1, "matching_auto_confirm": True}, as_=people.erin)
    assert r.status_code == 422
    assert api.get(path, as_=people.erin).json()["matching_auto_confirm"] is False
    assert (
        api.call("PATCH", "/communities/999999", {"residents": 1}, as_=people.root).status_code
        == 404
    )
