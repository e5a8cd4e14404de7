"""A member downloads everything held about them, and can ask to be erased: name
and phone anonymised, upcoming commitments cancelled through their services, the
ledger untouched, balanced and verifiable."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from matching.models import Assignment, AvailabilityWindow, Shift, VolunteerProfile, VolunteerSkill
from resources.models import Reservation, WaitlistEntry
from tests.conftest import problem
from tests.factories import DEFAULT_PASSWORD
from tests.ledger.conftest import earn
from tests.matching.conftest import Poster
from tests.resources.conftest import at, iso, make_space
from timebank.audit.models import AuditEntry
from timebank.auth import token_issue
from timebank.ledger.models import Account, Entry, Transfer
from timebank.models import Event
from timebank.people import services as people_services
from timebank.people.models import ApiToken, Member, Relation

pytestmark = pytest.mark.django_db


@pytest.fixture
def bob_busy(api: Any, people: Any) -> dict[str, Any]:
    """bob: birth date, skills, availability, an upcoming shift, a spouse, hours
    earned and given, a booked court."""
    bob = people.bob
    bob.birth_date = dt.date(1990, 2, 3)
    bob.save(update_fields=["birth_date"])
    r = api.put(
        "/volunteers/me",
        {
            "skills": [{"name": "first_aid"}],
            "languages": ["zh", "yue"],
            "availability_text": "mon 09:00-12:00",
            "notify_email": "bob@example.org",
        },
        as_=bob,
    )
    assert r.status_code == 200, r.content
    post = Poster(api, people)
    shift_id = post.shift(start=48, hours=2, headcount=1)
    r = api.post(f"/shifts/{shift_id}/signups", as_=bob)
    assert r.status_code == 201, r.content
    earn(people.community, bob, 300, people.alice, memo="陪伴", category="visit")
    people_services.relation_record(
        actor=people.alice,
        community=people.community,
        member=bob,
        relative=people.carol,
        relation="spouse",
    )
    assert (
        api.post("/ledger/gifts", {"to": people.carol.pk, "minutes": 50}, as_=bob).status_code
        == 201
    )
    court = make_space(people)
    start = at(3, 10)
    r = api.post(
        "/reservations",
        {
            "space": court.pk,
            "start": iso(start),
            "end": iso(start + dt.timedelta(hours=1)),
            "accept_terms": True,
        },
        as_=bob,
    )
    assert r.status_code == 201, r.content
    return {
        "shift": shift_id,
        "assignment": Assignment.objects.get(volunteer=bob).pk,
        "reservation": r.json()["id"],
    }


def verify_ledger() -> str:
    out = io.StringIO()
    call_command("ledger", "verify", stdout=out)
    return out.getvalue()


def test_export_is_an_attachment_with_everything_about_me(api, people, bob_busy):
    bob = people.bob
    r = api.get("/me/export", as_=bob)
    assert r.status_code == 200, r.content
    assert r["Content-Disposition"].startswith("attachment;")
    assert ".json" in r["Content-Disposition"]
    data = json.loads(r.content)
    assert data["member"]["phone"] == bob.phone  # the person's own data, unmasked
    assert data["member"]["birth_date"] == "1990-02-03"
    assert [x["role"] for x in data["roles"]] == ["volunteer"]
    assert data["relations"][0]["relative_id"] == people.carol.pk
    assert sorted(data["volunteer_profile"][0]["languages"]) == ["yue", "zh"]
    assert [s["name"] for s in data["skills"]] == ["first_aid"]
    assert data["availability"]
    assert [a["id"] for a in data["assignments"]] == [bob_busy["assignment"]]
    assert [x["id"] for x in data["reservations"]] == [bob_busy["reservation"]]
    assert data["ledger"]["summary"]["balance_minutes"] == 250
    assert sorted(e["minutes"] for e in data["ledger"]["entries"]) == [-50, 300]
    assert {x["action"] for x in data["audit"]} >= {"assignment.confirmed", "ledger.transfer"}
    assert "notifications" in data and "service_requests" in data
    text = r.content.decode()
    for secret in ("password", "key_hash", "calendar_token", people.carol.phone):
        assert secret not in text
    (row,) = AuditEntry.objects.filter(action="member.exported")
    assert row.actor_id == bob.pk and row.subject_id == bob.pk


def test_export_needs_a_login(api, people):
    assert api.get("/me/export").status_code == 401


def test_erase_needs_confirmation_and_the_right_password(api, people, bob_busy):
    bob = people.bob
    assert api.post("/me/erase", None, as_=bob).status_code == 422
    for body in ({}, {"confirm": False}):
        r = api.post("/me/erase", body, as_=bob)
        assert r.status_code == 422
        assert problem(r)["code"] == "confirmation_required"
    r = api.post("/me/erase", {"confirm": True, "password": "wrong"}, as_=bob)
    assert problem(r)["code"] == "bad_password"
    bob.refresh_from_db()
    assert bob.erased_at is None and bob.phone and bob.is_active
    assert not AuditEntry.objects.filter(action="member.erased").exists()


def test_erase_anonymises_cancels_and_keeps_the_ledger(api, people, bob_busy):
    bob = people.bob
    phone = bob.phone
    account = Account.objects.get(member=bob)
    balance = account.balance_minutes
    transfers = Transfer.objects.count()
    entries = list(Entry.objects.values_list("id", "minutes", "balance_after").order_by("id"))
    assert "ok" in verify_ledger()
    token = token_issue(member=bob)[0]
    other_token = token_issue(member=bob)[0]
    session = Client()
    session.force_login(bob)

    r = api.post("/me/erase", {"confirm": True, "password": DEFAULT_PASSWORD}, token=token)
    assert r.status_code == 200, r.content
    assert r.json()["member"] == bob.pk

    bob.refresh_from_db()
    assert bob.name == f"已注销用户{bob.pk}"
    assert bob.phone is None and bob.birth_date is None
    assert bob.home_lat is None and bob.home_lon is None
    assert not bob.id_verified and not bob.is_active and bob.erased_at is not None
    assert not bob.has_usable_password()
    assert not Relation.objects.filter(member=bob).exists()
    assert not Relation.objects.filter(relative=bob).exists()
    assert not ApiToken.objects.filter(member=bob, revoked_at__isnull=True).exists()
    profile = VolunteerProfile.objects.get(member=bob)
    assert profile.languages == [] and profile.notify_email == "" and profile.home_lat is None
    assert not VolunteerSkill.objects.filter(profile=profile).exists()
    assert not AvailabilityWindow.objects.filter(profile=profile).exists()
    # Upcoming commitments went through their services: seat freed, events sent.
    a = Assignment.objects.get(pk=bob_busy["assignment"])
    assert a.status == "cancelled" and a.cancelled_by_id == bob.pk
    assert Shift.objects.get(pk=bob_busy["shift"]).seats_taken == 0
    assert Event.objects.filter(type="assignment.cancelled", data__id=a.pk).exists()
    assert Reservation.objects.get(pk=bob_busy["reservation"]).status == "cancelled"
    assert Event.objects.filter(type="reservation.released").exists()
    # The ledger is untouched: same rows, same balance, and the chain verifies.
    assert Transfer.objects.count() == transfers
    assert (
        list(Entry.objects.values_list("id", "minutes", "balance_after").order_by("id")) == entries
    )
    assert Account.objects.get(pk=account.pk).balance_minutes == balance
    assert "ok" in verify_ledger()
    # Logged out everywhere: tokens, sessions, and the phone no longer logs in.
    assert api.get("/me", token=other_token).status_code == 401
    assert session.get("/api/v1/me").status_code == 401
    assert not any(
        s.get_decoded().get("_auth_user_id") == str(bob.pk) for s in Session.objects.all()
    )
    r = api.post("/auth/login", {"phone": phone, "password": DEFAULT_PASSWORD})
    assert r.status_code == 401
    # Staff hear of it and see only the anonymous name.
    assert Event.objects.filter(type="member.erased", data__member=bob.pk).exists()
    r = api.get(f"/communities/{people.community.pk}/members?reveal=true", as_=people.alice)
    shown = {m["id"]: m for m in r.json()["items"]}
    assert shown[bob.pk]["name"] == f"已注销用户{bob.pk}" and shown[bob.pk]["phone"] == ""
    (row,) = AuditEntry.objects.filter(action="member.erased")
    assert row.subject_id == bob.pk and row.actor_id == bob.pk
    assert row.changes["communities"] == [people.community.pk]
    assert phone not in json.dumps(row.changes)


def test_past_events_no_longer_name_an_erased_member(api, people):
    body = {"phone": "13912345678", "name": "新居民", "roles": ["resident"]}
    r = api.post(f"/communities/{people.community.pk}/members", body, as_=people.alice)
    assert r.status_code == 201, r.content
    newcomer = Member.objects.get(pk=r.json()["id"])
    people_services.member_erase(actor=newcomer)
    (event,) = Event.objects.filter(type="member.registered", data__member=newcomer.pk)
    assert event.data["name"] == f"已注销用户{newcomer.pk}"
    assert event.data["phone"] == ""
    assert "新居民" not in json.dumps(event.data, ensure_ascii=False)


def test_an_erased_member_leaves_every_queue(api, people):
    court = make_space(people)
    start = at(3, 15)
    period = {"start": iso(start), "end": iso(start + dt.timedelta(hours=1))}
    r = api.post(
        "/reservations", {"space": court.pk, **period, "accept_terms": True}, as_=people.carol
    )
    assert r.status_code == 201, r.content
    w = api.post(f"/spaces/{court.pk}/waitlist", period, as_=people.bob)
    assert w.status_code == 201, w.content
    people_services.member_erase(actor=people.bob)
    assert api.post(f"/reservations/{r.json()['id']}/cancel", as_=people.carol).status_code == 200
    # The freed slot is not held for the erased member.
    assert not Reservation.objects.filter(member=people.bob).exists()
    assert WaitlistEntry.objects.get(member=people.bob).status == "cancelled"


def test_erasing_twice_is_harmless(api, people, bob_busy):
    bob = people.bob
    first = people_services.member_erase(actor=bob)
    again = people_services.member_erase(actor=bob)
    assert again.erased_at == first.erased_at
    assert AuditEntry.objects.filter(action="member.erased").count() == 1
    assert Event.objects.filter(type="member.erased").count() == 1
    assert "ok" in verify_ledger()


def test_a_session_user_can_erase_and_is_logged_out(people):
    client = Client()
    client.force_login(people.carol)
    r = client.post("/api/v1/me/erase", {"confirm": True}, content_type="application/json")
    assert r.status_code == 200, r.content
    assert client.get("/api/v1/me").status_code == 401
    assert Member.objects.get(pk=people.carol.pk).erased_at is not None


def test_others_balances_are_unaffected(api, people, bob_busy):
    carol_before = api.get("/ledger/me", as_=people.carol).json()["balance_minutes"]
    people_services.member_erase(actor=people.bob)
    assert api.get("/ledger/me", as_=people.carol).json()["balance_minutes"] == carol_before == 50


def test_the_page_downloads_and_erases_after_confirmation(people, bob_busy):
    client = Client()
    client.force_login(people.bob)
    page = client.get("/me/data")
    assert page.status_code == 200
    assert "下载我的数据" in page.content.decode() and "注销账户" in page.content.decode()
    r = client.get("/me/data?download=1")
    assert r.status_code == 200 and r["Content-Disposition"].startswith("attachment;")
    assert json.loads(r.content)["member"]["phone"] == people.bob.phone
    # No confirmation: nothing happens, the form says why.
    r = client.post("/me/data", {"password": DEFAULT_PASSWORD})
    assert r.status_code == 200
    assert Member.objects.get(pk=people.bob.pk).erased_at is None
    r = client.post("/me/data", {"confirm": "on", "password": "wrong"})
    assert r.status_code == 200 and "密码不正确" in r.content.decode()
    assert Member.objects.get(pk=people.bob.pk).erased_at is None
    r = client.post("/me/data", {"confirm": "on", "password": DEFAULT_PASSWORD})
    assert r.status_code == 302
    assert Member.objects.get(pk=people.bob.pk).erased_at is not None
    assert client.get("/me/data").status_code == 302  # logged out: off to the login page
    assert "ok" in verify_ledger()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_erasure_races_sign_ups_for_the_seat_it_frees(people):
    """Two erasures of bob and ten sign-ups for his seat, all at once: one erasure,
    the seat counted exactly once, nobody left on a shift for the erased member."""
    from matching import services as matching_services
    from matching.models import ACTIVE, SEAT_HOLDING, Need
    from tests.concurrency import run_concurrently
    from tests.factories import member_with_roles

    need = Need.objects.create(
        community=people.community,
        title="社区义诊",
        category="event",
        priority=3,
        lat=22.54,
        lon=114.06,
        created_by=people.alice,
    )
    start = timezone.now().replace(second=0, microsecond=0) + dt.timedelta(hours=48)
    shift = Shift.objects.create(
        need=need,
        community=people.community,
        start=start,
        end=start + dt.timedelta(hours=2),
        headcount=1,
    )
    _a, position = matching_services.signup_create(volunteer=people.bob, shift_id=shift.pk)
    assert position is None
    earn(people.community, people.bob, 120, people.alice)
    volunteers = [member_with_roles(people.community, "volunteer") for _ in range(10)]

    def attempt(i: int) -> Any:
        if i < 2:
            return people_services.member_erase(actor=Member.objects.get(pk=people.bob.pk))
        return matching_services.signup_create(volunteer=volunteers[i - 2], shift_id=shift.pk)

    results = run_concurrently(attempt, 12)
    assert not [r for r in results if isinstance(r, BaseException)], results
    bob = Member.objects.get(pk=people.bob.pk)
    assert bob.erased_at is not None and not bob.is_active
    assert not Assignment.objects.filter(volunteer=bob, status__in=ACTIVE).exists()
    shift.refresh_from_db()
    holders = Assignment.objects.filter(shift=shift, status__in=SEAT_HOLDING).count()
    assert shift.seats_taken == holders == 1
    assert AuditEntry.objects.filter(action="member.erased").count() == 1
    assert Account.objects.get(member=bob).balance_minutes == 120
    assert "ok" in verify_ledger()
