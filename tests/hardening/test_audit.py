"""The audit trail: recorded by the services (so every door records it), written
in the caller's transaction, append-only, and readable (only) in the admin."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from resources.lifecycle import gate_token
from tests.conftest import problem
from tests.ledger.conftest import earn
from tests.matching.conftest import Poster
from tests.resources.conftest import at, clock, court, iso  # noqa: F401  (fixtures)
from timebank.audit.models import AuditAppendOnlyError, AuditEntry
from timebank.audit.services import record_audit
from timebank.people import services as people_services
from timebank.people.models import Role

pytestmark = pytest.mark.django_db


def entries(action: str, **filters: Any) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=action, **filters).order_by("id"))


def later(minutes: int) -> Any:
    return time_machine.travel(timezone.now() + dt.timedelta(minutes=minutes), tick=False)


def test_ledger_postings_are_audited_in_one_central_place(api, people):
    earn(people.community, people.bob, 90, people.alice, memo="陪伴", category="visit")
    (row,) = entries("ledger.transfer")
    assert row.actor_id == people.alice.pk
    assert row.subject_id == people.bob.pk
    assert row.community_id == people.community.pk
    assert row.object_type == "ledger.transfer"
    assert row.changes["kind"] == "earn"
    assert row.changes["memo"] == "陪伴"
    # A gift through the API: the giver acts, the receiver is the subject.
    spouse = people.carol
    people_services.relation_record(
        actor=people.alice,
        community=people.community,
        member=people.bob,
        relative=spouse,
        relation="spouse",
    )
    r = api.post("/ledger/gifts", {"to": spouse.pk, "minutes": 30}, as_=people.bob)
    assert r.status_code == 201, r.content
    gift = entries("ledger.transfer")[-1]
    assert (gift.actor_id, gift.subject_id, gift.changes["kind"]) == (
        people.bob.pk,
        spouse.pk,
        "gift",
    )
    assert sorted(gift.changes["accounts"].values()) == [-30, 30]


def test_a_refused_posting_leaves_no_audit_row(api, people):
    r = api.post(
        "/ledger/donations", {"minutes": 30, "community": people.community.pk}, as_=people.bob
    )
    assert problem(r)["code"] == "insufficient_balance"
    assert not AuditEntry.objects.filter(action="ledger.transfer").exists()


def test_a_rolled_back_change_leaves_no_audit_row(people):
    with pytest.raises(RuntimeError), transaction.atomic():
        people_services.role_grant(
            actor=people.erin, member=people.frank, community=people.community, role="volunteer"
        )
        assert entries("role.granted", subject=people.frank)
        raise RuntimeError("the caller fails after the service")
    assert not Role.objects.filter(member=people.frank, community=people.community).exists()
    assert not entries("role.granted", subject=people.frank)


def test_assignment_signup_check_in_out_and_verification(api, people):
    post = Poster(api, people)
    shift_id = post.shift(start=2, hours=2)
    r = api.post(f"/shifts/{shift_id}/signups", as_=people.bob)
    assert r.status_code == 201, r.content
    aid = r.json()["assignment"]["id"]
    (confirmed,) = entries("assignment.confirmed")
    assert confirmed.actor_id == people.bob.pk
    assert confirmed.subject_id == people.bob.pk
    assert confirmed.object_type == "matching.assignment"
    assert confirmed.object_id == str(aid)
    with later(125):
        assert api.post(f"/assignments/{aid}/check-in", {}, as_=people.alice).status_code == 200
    with later(235):
        assert api.post(f"/assignments/{aid}/check-out", {}, as_=people.alice).status_code == 200
    r = api.post(f"/assignments/{aid}/verify", {"minutes": 100}, as_=people.alice)
    assert r.status_code == 200, r.content
    api.post(f"/assignments/{aid}/verify", {"minutes": 100}, as_=people.alice)  # replay
    (checked_in,) = entries("assignment.checked_in")
    assert checked_in.actor_id == people.alice.pk
    (verified,) = entries("assignment.verified")  # once, however often it is called
    assert (verified.actor_id, verified.subject_id) == (people.alice.pk, people.bob.pk)
    assert verified.changes["minutes"] == 100
    (credit,) = entries("ledger.transfer")
    assert credit.subject_id == people.bob.pk and credit.changes["kind"] == "earn"


def test_staff_placement_and_cancellation_name_their_actor(api, people):
    post = Poster(api, people)
    shift_id = post.shift(start=72, hours=2)
    r = api.post(f"/shifts/{shift_id}/assignments", {"volunteer": people.bob.pk}, as_=people.alice)
    assert r.status_code == 201, r.content
    aid = r.json()["id"]
    (placed,) = entries("assignment.confirmed")
    assert (placed.actor_id, placed.subject_id) == (people.alice.pk, people.bob.pk)
    r = api.post(f"/assignments/{aid}/cancel", {"reason": "生病"}, as_=people.bob)
    assert r.status_code == 200, r.content
    (cancelled,) = entries("assignment.cancelled")
    assert cancelled.actor_id == people.bob.pk
    assert cancelled.changes["reason"] == "生病"


def test_reservations_created_checked_in_and_cancelled(api, people, court, clock):  # noqa: F811
    body = {"space": court.pk, "start": iso(at(0, 11)), "end": iso(at(0, 12)), "accept_terms": True}
    rid = api.post("/reservations", body, as_=people.carol).json()["id"]
    (created,) = entries("reservation.created")
    assert (created.actor_id, created.subject_id) == (people.carol.pk, people.carol.pk)
    assert created.object_type == "resources.reservation" and created.object_id == str(rid)
    assert created.community_id == people.community.pk
    clock.shift(dt.timedelta(minutes=40))
    token = gate_token(court)
    r = api.post(f"/reservations/{rid}/check-in", {"token": token}, as_=people.carol)
    assert r.status_code == 200, r.content
    assert entries("reservation.checked_in")[0].actor_id == people.carol.pk
    body2 = {**body, "start": iso(at(2, 11)), "end": iso(at(2, 12))}
    rid2 = api.post("/reservations", body2, as_=people.bob).json()["id"]
    assert api.post(f"/reservations/{rid2}/cancel", as_=people.dave).status_code == 200
    (cancelled,) = entries("reservation.cancelled")
    assert (cancelled.actor_id, cancelled.subject_id) == (people.dave.pk, people.bob.pk)


def test_policy_changes_keep_before_and_after(api, people):
    cid = people.community.pk
    r = api.put(f"/communities/{cid}/policy", {"gift_scope": "anyone"}, as_=people.erin)
    assert r.status_code == 200, r.content
    (row,) = entries("policy.changed")
    assert row.actor_id == people.erin.pk
    assert row.community_id == cid
    assert row.changes == {"before": {"gift_scope": "relatives"}, "after": {"gift_scope": "anyone"}}
    # Refused changes write nothing.
    r = api.put(f"/communities/{cid}/policy", {"gift_scope": "anyone"}, as_=people.alice)
    assert r.status_code == 403
    assert len(entries("policy.changed")) == 1


def test_role_grants_and_revocations(api, people):
    cid = people.community.pk
    r = api.post(
        f"/communities/{cid}/roles",
        {"member": people.frank.pk, "role": "volunteer"},
        as_=people.erin,
    )
    assert r.status_code == 201, r.content
    (granted,) = entries("role.granted", subject=people.frank)
    assert granted.actor_id == people.erin.pk
    assert granted.changes == {"role": "volunteer"}
    people_services.role_revoke(
        actor=people.erin, member=people.frank, community=people.community, role="volunteer"
    )
    (revoked,) = entries("role.revoked")
    assert (revoked.actor_id, revoked.subject_id) == (people.erin.pk, people.frank.pk)
    # Revoking what is not there records nothing.
    people_services.role_revoke(
        actor=people.erin, member=people.frank, community=people.community, role="volunteer"
    )
    assert len(entries("role.revoked")) == 1


def test_registration_records_the_roles_it_grants(api, people):
    body = {"phone": "13912345678", "name": "新居民", "roles": ["resident"]}
    r = api.post(f"/communities/{people.community.pk}/members", body, as_=people.alice)
    assert r.status_code == 201, r.content
    (row,) = entries("role.granted", subject_id=r.json()["id"])
    assert row.actor_id == people.alice.pk and row.changes["role"] == "resident"


def test_rows_are_append_only_in_the_model(people):
    row = record_audit(actor=people.alice, action="test.thing", object_type="x", object_id=1)
    row.action = "changed"
    with pytest.raises(AuditAppendOnlyError):
        row.save()
    with pytest.raises(AuditAppendOnlyError):
        row.delete()


@pytest.mark.postgres
def test_postgres_refuses_update_and_delete(people):
    record_audit(actor=people.alice, action="test.thing", object_type="x", object_id=1)
    for sql in ("UPDATE audit_auditentry SET action = 'x'", "DELETE FROM audit_auditentry"):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)
    assert AuditEntry.objects.filter(action="test.thing").count() == 1


def test_admin_lists_filters_and_searches_but_never_edits(client, people):
    earn(people.community, people.bob, 60, people.alice)
    record_audit(actor=people.alice, action="role.granted", subject_id=people.carol.pk)
    client.force_login(people.root)
    base = "/admin/audit/auditentry/"
    r = client.get(base)
    assert r.status_code == 200
    r = client.get(base, {"action__exact": "ledger.transfer"})
    assert r.status_code == 200 and r.context["cl"].result_count == 1
    r = client.get(base, {"q": str(people.carol.pk)})
    assert r.context["cl"].result_count == 1  # by member id, actor or subject
    r = client.get(base, {"q": people.bob.name})
    assert r.context["cl"].result_count == 1  # by name
    r = client.get(base, {"community__id__exact": people.community.pk})
    assert r.context["cl"].result_count == 1
    row = AuditEntry.objects.first()
    assert row is not None
    assert client.get(f"{base}{row.pk}/change/").status_code == 200  # a read-only view
    assert client.get(f"{base}add/").status_code == 403
    assert client.get(f"{base}{row.pk}/delete/").status_code == 403
    r = client.post(f"{base}{row.pk}/change/", {"action": "forged"})
    assert r.status_code == 403
    assert AuditEntry.objects.get(pk=row.pk).action == row.action


def test_hold_confirmation_and_lapse_are_audited(api, people, court, clock):  # noqa: F811
    from resources.lifecycle import reservation_lapse

    body = {"space": court.pk, "start": iso(at(1, 19)), "end": iso(at(1, 20)), "accept_terms": True}
    hid = api.post("/reservations/holds", body, as_=people.carol).json()["id"]
    r = api.post(f"/reservations/{hid}/confirm", {"accept_terms": True}, as_=people.carol)
    assert r.status_code == 200, r.content
    (confirmed,) = entries("reservation.confirmed")
    assert confirmed.actor_id == people.carol.pk and confirmed.object_id == str(hid)
    other = {**body, "start": iso(at(2, 19)), "end": iso(at(2, 20))}
    hold = api.post("/reservations/holds", other, as_=people.bob).json()
    assert reservation_lapse(reservation_id=hold["id"], now=at(2, 18)) == "expired"
    (expired,) = entries("reservation.expired")
    assert expired.actor_id is None and expired.subject_id == people.bob.pk


def test_admin_member_page_is_an_audited_view_and_roles_are_read_only(client, people):
    client.force_login(people.root)
    r = client.get(f"/admin/people/member/{people.bob.pk}/change/")
    assert r.status_code == 200
    assert people.bob.phone in r.content.decode()  # the full number, so it is logged
    (row,) = entries("personal_data.viewed", subject_id=people.bob.pk)
    assert row.actor_id == people.root.pk and row.changes == {"via": "admin"}
    # Roles change only through the service (which checks and audits).
    assert client.get("/admin/people/role/add/").status_code == 403
    role = Role.objects.filter(member=people.bob).first()
    assert role is not None
    assert client.get(f"/admin/people/role/{role.pk}/delete/").status_code == 403
    # Editing a member in the admin is recorded with the fields that changed.
    before = Role.objects.filter(member=people.bob).count()
    data = {
        "phone": people.bob.phone,
        "name": "改过的名字",
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "roles-TOTAL_FORMS": "0",
        "roles-INITIAL_FORMS": "0",
    }
    r = client.post(f"/admin/people/member/{people.bob.pk}/change/", data)
    assert r.status_code == 302, r.content.decode()[:2000]
    (changed,) = entries("member.changed", subject_id=people.bob.pk)
    assert "name" in changed.changes["fields"]
    assert Role.objects.filter(member=people.bob).count() == before
