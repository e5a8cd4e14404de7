"""Personal data (phone numbers, birth dates) never reaches another member: not
through any API read, page, or live event. Staff of the person's community see
it when they ask for it, and each such view is audited."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from matching.models import Assignment, Need, Shift, VolunteerProfile
from resources.models import Reservation
from tests.conftest import Api
from tests.factories import member_with_roles
from tests.ledger.conftest import earn
from tests.matching.conftest import Poster, need_body
from tests.resources.conftest import at, iso, make_space
from timebank import events
from timebank.audit.models import AuditEntry
from timebank.ledger.models import Certificate, Transfer
from timebank.people import services as people_services
from timebank.people.models import Member

pytestmark = pytest.mark.django_db

# A mainland mobile standing alone: not 11 digits inside a longer run of letters,
# digits, "-" and "_", such as a transfer's hex hash (which once held "15253981189")
# or a URL-safe token.
PHONE = re.compile(r"(?<![0-9A-Za-z_-])1[3-9]\d{9}(?![0-9A-Za-z_-])")
BIRTH = {"bob": dt.date(1990, 2, 3), "carol": dt.date(1948, 5, 17), "frank": dt.date(1985, 9, 30)}


def leaks(text: str, viewer: Member, everyone: list[Member]) -> list[str]:
    """Full phone numbers and birth dates in `text` that are not the viewer's own."""
    found = [p for p in PHONE.findall(text) if p != viewer.phone]
    for m in everyone:
        if m.pk != viewer.pk and m.birth_date is not None:
            for shape in (m.birth_date.isoformat(), m.birth_date.strftime("%Y年%-m月%-d日")):
                if shape in text:
                    found.append(shape)
    return found


@pytest.fixture
def world(api: Api, people: Any) -> dict[str, Any]:
    """Two communities with some of everything: needs, a signed-up and a verified
    volunteer, gifts, a reservation, a registered member, relations."""
    for name, born in BIRTH.items():
        m = getattr(people, name)
        m.birth_date = born
        m.save(update_fields=["birth_date"])
    post = Poster(api, people)
    shift_id = post.shift(start=48, hours=2, headcount=3)
    assert api.post(f"/shifts/{shift_id}/signups", as_=people.bob).status_code == 201
    earn(people.community, people.bob, 120, people.alice, memo="陪伴", category="visit")
    people_services.relation_record(
        actor=people.alice,
        community=people.community,
        member=people.bob,
        relative=people.carol,
        relation="spouse",
    )
    assert (
        api.post(
            "/ledger/gifts", {"to": people.carol.pk, "minutes": 30}, as_=people.bob
        ).status_code
        == 201
    )
    court = make_space(people)
    start = at(3, 10)
    body = {"space": court.pk, "start": iso(start), "end": iso(start + dt.timedelta(hours=1))}
    r = api.post("/reservations", {**body, "accept_terms": True}, as_=people.carol)
    assert r.status_code == 201, r.content
    reg = {
        "phone": "13912345678",
        "name": "新居民",
        "roles": ["resident"],
        "birth_date": "1950-01-02",
    }
    r = api.post(f"/communities/{people.community.pk}/members", reg, as_=people.alice)
    assert r.status_code == 201, r.content
    r = api.post("/ledger/certificates", {"from": "2020-01-01", "to": "2030-01-01"}, as_=people.bob)
    # Frank's side: a shift in the other community, a sign-up and a credit.
    other_sw = member_with_roles(people.other, "social_worker", name="景田社工")
    r = api.post("/needs", need_body(people.other.pk), as_=other_sw)
    assert r.status_code == 201, r.content
    r = api.post(f"/shifts/{r.json()['shifts'][0]['id']}/signups", as_=people.frank)
    assert r.status_code == 201, r.content
    earn(people.other, people.frank, 60, other_sw)
    return {
        "court": court,
        "other_sw": other_sw,
        "newcomer": Member.objects.get(phone=reg["phone"]),
    }


def _values(viewer: Member, world: dict[str, Any], people: Any) -> dict[str, list[Any]]:
    """Candidate values for each path parameter."""
    profile = VolunteerProfile.objects.filter(member=viewer).first()
    return {
        "cid": [people.community.pk, people.other.pk],
        "mid": list(Member.objects.values_list("pk", flat=True)),
        "member_id": list(Member.objects.values_list("pk", flat=True)),
        "need_id": list(Need.objects.values_list("pk", flat=True)),
        "shift_id": list(Shift.objects.values_list("pk", flat=True)),
        "assignment_id": list(Assignment.objects.values_list("pk", flat=True)),
        "transfer_id": list(Transfer.objects.values_list("pk", flat=True)),
        "number": list(Certificate.objects.values_list("number", flat=True)),
        "space_id": [world["court"].pk],
        "reservation_id": list(Reservation.objects.values_list("pk", flat=True)),
        "token": [profile.calendar_token] if profile else [],
        "run_id": [],
        "round_id": [],
        "request_id": [],
    }


def _expand(path: str, values: dict[str, list[Any]]) -> list[str]:
    names = re.findall(r"{(\w+)}", path) + re.findall(r"<(?:\w+:)?(\w+)>", path)
    paths = [path]
    for name in names:
        options = values[name]
        pattern = "{" + name + "}|<(?:\\w+:)?" + name + ">"
        paths = [re.sub(pattern, str(v), p) for p in paths for v in options]
    return paths


def _api_get_paths(client: Client) -> list[str]:
    doc = client.get("/api/openapi.json").json()
    return [p for p, ops in doc["paths"].items() if "get" in ops]


def _page_paths() -> list[str]:
    out: list[str] = []
    for entry in get_resolver().url_patterns:
        if isinstance(entry, URLResolver) and entry.app_name == "frontend":
            for pattern in entry.url_patterns:
                if isinstance(pattern, URLPattern):
                    out.append("/" + str(pattern.pattern))
    return out


@pytest.mark.parametrize("who", ["frank", "bob", "carol"])
def test_no_read_shows_another_members_phone_or_birth_date(api, people, world, who):
    viewer: Member = getattr(people, who)
    everyone = list(Member.objects.all())
    values = _values(viewer, world, people)
    ok = 0
    problems: list[tuple[str, list[str]]] = []
    for template in _api_get_paths(api.client):
        for path in _expand(template, values):
            r = api.get(path, as_=viewer)
            assert r.status_code < 500, (path, r.content)
            ok += r.status_code == 200
            found = leaks(r.content.decode("utf-8", "replace"), viewer, everyone)
            if found:
                problems.append((path, found))
            if path.startswith("/api/v1/communities/") and "/members" in path:
                r = api.get(path + "?reveal=true", as_=viewer)
                assert r.status_code in (403, 404), (path, r.status_code)
    assert not problems, problems
    assert ok >= 15, ok  # the walk really read things, not just 403s
    # Pages too.
    client = Client()
    client.force_login(viewer)
    for template in _page_paths():
        for path in _expand(template, values):
            r = client.get(path)
            assert r.status_code < 500, path
            found = leaks(r.content.decode("utf-8", "replace"), viewer, everyone)
            assert not found, (path, found)
    assert not AuditEntry.objects.filter(action="personal_data.viewed").exists()


@pytest.mark.parametrize("who", ["frank", "bob", "carol"])
def test_no_live_event_carries_another_members_phone_or_birth_date(api, people, world, who):
    viewer: Member = getattr(people, who)
    groups = [events.member_group(viewer.pk)] + [
        events.community_group(cid) for cid in viewer.roles.values_list("community_id", flat=True)
    ]
    frames = events.events_after(groups, 0, limit=10_000)
    assert frames, "the world above announced things to this member"
    text = json.dumps(frames, ensure_ascii=False)
    assert not leaks(text, viewer, list(Member.objects.all()))


def test_staff_events_carry_masked_phones_only(api, people, world):
    frames = events.events_after([events.staff_group(people.community.pk)], 0, limit=10_000)
    registered = [f for f in frames if f["type"] == "member.registered"]
    assert registered and registered[0]["data"]["phone"] == "139****5678"
    assert not PHONE.findall(json.dumps(frames))


def test_the_member_list_is_masked_unless_staff_ask_and_then_it_is_audited(api, people, world):
    cid = people.community.pk
    r = api.get(f"/communities/{cid}/members", as_=people.alice)
    assert r.status_code == 200
    assert not PHONE.findall(r.content.decode())
    assert {m["phone"] for m in r.json()["items"]} >= {"139****5678"}
    assert all(m["birth_date"] is None for m in r.json()["items"])
    assert not AuditEntry.objects.filter(action="personal_data.viewed").exists()

    r = api.get(f"/communities/{cid}/members?reveal=true&limit=3", as_=people.alice)
    assert r.status_code == 200
    items = r.json()["items"]
    by_id = {m["id"]: m for m in items}
    assert by_id[people.bob.pk]["phone"] == people.bob.phone
    assert by_id[people.bob.pk]["birth_date"] == "1990-02-03"
    (row,) = AuditEntry.objects.filter(action="personal_data.viewed")
    assert row.actor_id == people.alice.pk
    assert row.community_id == cid
    assert row.changes["via"] == "member-list"
    # One row per request, naming whose data was shown (never the viewer's own).
    assert row.changes["members"] == sorted(m["id"] for m in items if m["id"] != people.alice.pk)


def test_staff_see_one_member_in_full_and_the_view_is_audited(api, people, world):
    cid = people.community.pk
    carol = people.carol
    for staff in (people.alice, people.dave, people.erin):
        r = api.get(f"/communities/{cid}/members/{carol.pk}", as_=staff)
        assert r.status_code == 200, r.content
        assert r.json()["phone"] == carol.phone
        assert r.json()["birth_date"] == "1948-05-17"
    rows = AuditEntry.objects.filter(action="personal_data.viewed", subject=carol)
    assert sorted(rows.values_list("actor_id", flat=True)) == sorted(
        [people.alice.pk, people.dave.pk, people.erin.pk]
    )
    assert all(r.changes == {"members": [carol.pk], "via": "member-detail"} for r in rows)


def test_others_cannot_see_a_member_in_full(api, people, world):
    cid = people.community.pk
    url = f"/communities/{cid}/members/{people.carol.pk}"
    assert api.get(url, as_=people.bob).status_code == 403  # same community, not staff
    assert api.get(url, as_=people.frank).status_code == 403  # another community
    assert api.get(url, as_=world["other_sw"]).status_code == 403  # staff elsewhere
    # Staff of A cannot reach someone who is not in A through A.
    assert (
        api.get(f"/communities/{cid}/members/{people.frank.pk}", as_=people.alice).status_code
        == 404
    )
    assert api.get(f"/communities/{cid}/members/999999", as_=people.alice).status_code == 404
    assert not AuditEntry.objects.filter(action="personal_data.viewed").exists()


def test_the_detector_finds_what_staff_are_shown(api, people, world):
    """The walk above would notice a leak: the same check flags a revealed list."""
    r = api.get(f"/communities/{people.community.pk}/members?reveal=true", as_=people.alice)
    found = leaks(r.content.decode(), people.bob, list(Member.objects.all()))
    assert people.carol.phone in found
    assert "1948-05-17" in found
