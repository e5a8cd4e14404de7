"""Check-in/out by QR token or by staff, service minutes, and verification into the ledger."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core import signing
from django.utils import timezone

from matching.models import Assignment
from tests.conftest import problem
from tests.matching.conftest import at as at_h
from timebank.ledger.models import Transfer

pytestmark = pytest.mark.django_db


@pytest.fixture
def booked(api, people, post):
    """bob confirmed on a 2-hour shift that starts in 2 hours; returns (shift id, assignment id)."""
    shift_id = post.shift(start=2, hours=2)
    r = api.post(f"/shifts/{shift_id}/signups", as_=people.bob)
    assert r.status_code == 201
    return shift_id, r.json()["assignment"]["id"]


def later(minutes):
    return time_machine.travel(timezone.now() + dt.timedelta(minutes=minutes), tick=False)


def qr(api, people, shift_id):
    r = api.get(f"/shifts/{shift_id}/qr", as_=people.alice)
    assert r.status_code == 200, r.content
    assert r.json()["svg"].startswith("<svg")
    return r.json()["token"]


def balance(api, member):
    return api.get("/ledger/me", as_=member).json()["balance_minutes"]


def test_volunteer_checks_in_and_out_with_the_qr_token(api, people, booked):
    shift_id, aid = booked
    with later(110):  # 10 minutes early: minutes are clipped to the shift
        token = qr(api, people, shift_id)
        r = api.post(f"/assignments/{aid}/check-in", {"token": token}, as_=people.bob)
        assert r.status_code == 200, r.content
        assert r.json()["status"] == "checked_in"
    with later(210):
        token = qr(api, people, shift_id)
        r = api.post(f"/assignments/{aid}/check-out", {"token": token}, as_=people.bob)
        assert r.status_code == 200, r.content
    assert r.json()["status"] == "checked_out"
    assert r.json()["minutes"] == 90


def test_wrong_and_expired_tokens_are_refused(api, people, booked, post):
    shift_id, aid = booked
    other_shift = post.shift(start=30)
    cases = [
        (None, "invalid_qr_token"),
        ("garbage", "invalid_qr_token"),
        (
            signing.TimestampSigner(salt="matching.shift-qr").sign(f"shift:{other_shift}"),
            "invalid_qr_token",
        ),
        (signing.TimestampSigner(salt="elsewhere").sign(f"shift:{shift_id}"), "invalid_qr_token"),
    ]
    for token, code in cases:
        r = api.post(f"/assignments/{aid}/check-in", {"token": token}, as_=people.bob)
        assert r.status_code == 422, (token, r.content)
        assert problem(r)["code"] == code
    stale = qr(api, people, shift_id)
    with later(16):
        r = api.post(f"/assignments/{aid}/check-in", {"token": stale}, as_=people.bob)
    assert r.status_code == 422
    assert problem(r)["code"] == "expired_qr_token"
    assert Assignment.objects.get(pk=aid).status == "confirmed"


def test_only_the_volunteer_or_staff(api, people, booked, post):
    shift_id, aid = booked
    r = api.post(f"/assignments/{aid}/check-in", {}, as_=post.volunteer())
    assert r.status_code == 403
    assert problem(r)["code"] == "not_your_assignment"
    assert api.post(f"/assignments/{aid}/check-in", {}, as_=people.frank).status_code == 404
    assert api.get(f"/assignments/{aid}", as_=people.carol).status_code == 403
    assert api.get(f"/assignments/{aid}", as_=people.bob).status_code == 200
    assert api.post(f"/assignments/{aid}/check-in", {}).status_code == 401
    assert api.get(f"/shifts/{shift_id}/qr", as_=people.bob).status_code == 403
    assert api.post("/assignments/999999/check-in", {}, as_=people.alice).status_code == 404


def test_check_out_before_check_in_is_409(api, people, booked):
    _shift_id, aid = booked
    r = api.post(f"/assignments/{aid}/check-out", {}, as_=people.alice)
    assert r.status_code == 409
    assert problem(r)["code"] == "not_checked_in"


def test_staff_checks_in_on_behalf_and_verify_credits_once(api, people, booked):
    """Verification credits the ledger exactly once, however often it is called."""
    _shift_id, aid = booked
    before = balance(api, people.bob)
    with later(125):
        assert api.post(f"/assignments/{aid}/check-in", {}, as_=people.alice).status_code == 200
    with later(235):
        r = api.post(f"/assignments/{aid}/check-out", {"travel_minutes": 5}, as_=people.alice)
        assert r.json()["minutes"] == 105  # 125 → 235, less 5 travel
    first = api.post(f"/assignments/{aid}/verify", {}, as_=people.alice)
    assert first.status_code == 200, first.content
    assert first.json()["status"] == "verified"
    assert first.json()["verified_minutes"] == 105
    second = api.post(f"/assignments/{aid}/verify", {"minutes": 500}, as_=people.alice)
    assert second.status_code == 200
    assert second.json()["verified_minutes"] == 105
    assert Transfer.objects.filter(idempotency_key=f"earn:assignment:{aid}").count() == 1
    assert balance(api, people.bob) == before + 105


def test_verify_with_adjusted_minutes_and_idempotency_key(api, people, booked):
    _shift_id, aid = booked
    with later(120):
        api.post(f"/assignments/{aid}/check-in", {}, as_=people.alice)
    with later(240):
        api.post(f"/assignments/{aid}/check-out", {}, as_=people.alice)
    headers = {"Idempotency-Key": "verify-1"}
    r1 = api.post(
        f"/assignments/{aid}/verify",
        {"minutes": 100, "reason": "含准备时间"},
        as_=people.alice,
        headers=headers,
    )
    r2 = api.post(
        f"/assignments/{aid}/verify",
        {"minutes": 100, "reason": "含准备时间"},
        as_=people.alice,
        headers=headers,
    )
    assert r1.status_code == r2.status_code == 200
    assert r1.json() == r2.json()
    assert r1.json()["verified_minutes"] == 100
    r3 = api.post(f"/assignments/{aid}/verify", {"minutes": 7}, as_=people.alice, headers=headers)
    assert problem(r3)["code"] == "idempotency_conflict"
    assert balance(api, people.bob) == 100


def test_verify_before_check_out_is_409_and_credits_nothing(api, people, booked):
    _shift_id, aid = booked
    r = api.post(f"/assignments/{aid}/verify", {}, as_=people.alice)
    assert r.status_code == 409
    assert problem(r)["code"] == "not_checked_out"
    assert not Transfer.objects.filter(idempotency_key=f"earn:assignment:{aid}").exists()


@pytest.mark.parametrize("minutes", [-1, 100000])
def test_verify_bad_minutes_is_422(api, people, booked, minutes):
    _shift_id, aid = booked
    r = api.post(f"/assignments/{aid}/verify", {"minutes": minutes}, as_=people.alice)
    assert r.status_code == 422
    assert problem(r)["code"] == "invalid_minutes"


@pytest.mark.parametrize("who", ["bob", "carol", "dave"])
def test_only_social_workers_verify(api, people, booked, who):
    _shift_id, aid = booked
    r = api.post(f"/assignments/{aid}/verify", {}, as_=getattr(people, who))
    assert r.status_code == 403
    assert api.post(f"/assignments/{aid}/verify", {}, as_=people.frank).status_code == 404


def test_ratings_after_verification(api, people, post):
    shift_id = post.shift(start=2, hours=1, beneficiary=people.carol.id)
    aid = api.post(f"/shifts/{shift_id}/signups", as_=people.bob).json()["assignment"]["id"]
    early = api.post(f"/assignments/{aid}/ratings", {"score": 5}, as_=people.carol)
    assert problem(early)["code"] == "not_verified"
    with later(120):
        api.post(f"/assignments/{aid}/check-in", {}, as_=people.alice)
    with later(180):
        api.post(f"/assignments/{aid}/check-out", {}, as_=people.alice)
    api.post(f"/assignments/{aid}/verify", {}, as_=people.alice)
    r = api.post(f"/assignments/{aid}/ratings", {"score": 5, "comment": "很耐心"}, as_=people.carol)
    assert r.status_code == 201, r.content
    assert (
        api.post(f"/assignments/{aid}/ratings", {"score": 3}, as_=people.alice).status_code == 201
    )
    assert (
        problem(api.post(f"/assignments/{aid}/ratings", {"score": 4}, as_=people.carol))["code"]
        == "already_rated"
    )
    assert (
        problem(api.post(f"/assignments/{aid}/ratings", {"score": 6}, as_=people.erin))["code"]
        == "invalid_score"
    )
    assert api.post(f"/assignments/{aid}/ratings", {"score": 4}, as_=people.dave).status_code == 403
    summary = api.get("/volunteers/me", as_=people.bob).json()["ratings"]
    assert summary == {
        "average": 4.0,
        "count": 2,
        "by_category": [{"category": "escort", "average": 4.0, "count": 2}],
    }
    by_cat = api.get(f"/communities/{people.community.id}/ratings", as_=people.alice).json()
    assert by_cat == [{"category": "escort", "average": 4.0, "count": 2}]
    assert api.get(f"/communities/{people.community.id}/ratings", as_=people.bob).status_code == 403


def test_qr_token_field_aliases(api, people, booked):
    shift_id, aid = booked
    with later(120):
        token = qr(api, people, shift_id)
        r = api.post(f"/assignments/{aid}/check-in", {"qr_token": token}, as_=people.bob)
    assert r.status_code == 200, r.content


def test_staff_record_past_service_for_a_volunteer_without_a_phone(api, people, post):
    """帮办代办: a shift that already happened is recorded, attended and verified by staff."""
    from tests.factories import member_with_roles

    elder_helper = member_with_roles(people.community, "volunteer", phone=None, name="无手机志愿者")
    body = {"shifts": [{"start": at_h(-4), "end": at_h(-2), "headcount": 1}]}
    shift_id = post.need(**body)["shifts"][0]["id"]
    r = api.post(
        f"/shifts/{shift_id}/assignments", {"volunteer": elder_helper.id}, as_=people.alice
    )
    assert r.status_code == 201, r.content
    aid = r.json()["id"]
    assert api.post(f"/assignments/{aid}/check-in", {}, as_=people.alice).status_code == 200
    assert api.post(f"/assignments/{aid}/check-out", {}, as_=people.alice).status_code == 200
    r = api.post(
        f"/assignments/{aid}/verify", {"minutes": 120, "reason": "纸质签到表"}, as_=people.alice
    )
    assert r.status_code == 200, r.content
    assert r.json()["verified_minutes"] == 120
    full = api.post(
        f"/shifts/{shift_id}/assignments", {"volunteer": people.bob.id}, as_=people.alice
    )
    assert problem(full)["code"] == "shift_full"


def test_staff_assignment_checks(api, people, post):
    shift_id = post.shift(skills=["first_aid"])
    r = api.post(f"/shifts/{shift_id}/assignments", {"volunteer": people.bob.id}, as_=people.bob)
    assert r.status_code == 403
    r = api.post(
        f"/shifts/{shift_id}/assignments", {"volunteer": people.carol.id}, as_=people.alice
    )
    assert problem(r)["code"] == "not_a_volunteer"
    r = api.post(f"/shifts/{shift_id}/assignments", {"volunteer": 999999}, as_=people.alice)
    assert problem(r)["code"] == "volunteer_not_found"
    r = api.post(f"/shifts/{shift_id}/assignments", {"volunteer": people.bob.id}, as_=people.alice)
    assert problem(r)["code"] == "skill_missing"


def test_bodies_with_only_optional_fields_may_be_left_out(api, people, booked):
    """Staff check-in, check-out and verify work with an empty request body."""
    _shift_id, aid = booked
    with later(120):
        r = api.post(f"/assignments/{aid}/check-in", raw="", as_=people.alice)
        assert r.status_code == 200, r.content
    with later(150):
        r = api.post(f"/assignments/{aid}/check-out", raw="", as_=people.alice)
        assert r.status_code == 200
    r = api.post(f"/assignments/{aid}/verify", raw="", as_=people.alice)
    assert r.status_code == 200, r.content
    assert r.json()["verified_minutes"] == 30
