"""POST /needs: one-off and recurring shifts, and every kind of bad input."""

from __future__ import annotations

import pytest

from matching.models import Need, Shift
from tests.conftest import problem
from tests.matching.conftest import at, need_body

pytestmark = pytest.mark.django_db


def test_social_worker_posts_a_need_with_shifts(api, people):
    """201 with the need's id and its shifts, each with seats_left = headcount."""
    r = api.post("/needs", need_body(people.community.id, skills=["first_aid"]), as_=people.alice)
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["id"] == Need.objects.get().id
    assert body["status"] == "open"
    assert [s["seats_left"] for s in body["shifts"]] == [2]
    assert body["shifts"][0]["skills"] == ["first_aid"]
    assert body["shifts"][0]["start"].endswith("+08:00")


def test_recurrence_generates_bounded_shifts(api, people):
    """A weekly RRULE with COUNT makes that many shifts, a week apart, same length."""
    r = api.post(
        "/needs",
        need_body(people.community.id, recurrence="FREQ=WEEKLY;COUNT=4"),
        as_=people.alice,
    )
    assert r.status_code == 201, r.content
    shifts = list(Shift.objects.order_by("start"))
    assert len(shifts) == 4
    assert {(s.end - s.start).total_seconds() for s in shifts} == {7200}
    assert (shifts[1].start - shifts[0].start).days == 7


def test_recurrence_with_utc_until(api, people):
    r = api.post(
        "/needs",
        need_body(
            people.community.id, recurrence="RRULE:FREQ=DAILY;UNTIL=20991231T000000Z;INTERVAL=365"
        ),
        as_=people.alice,
    )
    assert r.status_code == 201, r.content
    assert Shift.objects.count() >= 1


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"shifts": [{"start": at(50), "end": at(48), "headcount": 1}]}, "end_before_start"),
        ({"shifts": [{"start": at(48), "end": at(48), "headcount": 1}]}, "end_before_start"),
        ({"shifts": [{"start": at(48), "end": at(50), "headcount": 0}]}, "invalid_headcount"),
        (
            {"shifts": [{"start": at(-24 * 400), "end": at(-24 * 399), "headcount": 1}]},
            "shift_too_old",
        ),
        ({"shifts": []}, "no_shifts"),
        ({"priority": 6}, "invalid_priority"),
        ({"priority": 0}, "invalid_priority"),
        ({"recurrence": "FREQ=WEEKLY"}, "invalid_recurrence"),
        ({"recurrence": "FREQ=DAILY;COUNT=500"}, "invalid_recurrence"),
        ({"recurrence": "FREQ=SOMETIMES;COUNT=2"}, "invalid_recurrence"),
        ({"recurrence": "FREQ=DAILY;UNTIL=20000101T000000"}, "invalid_recurrence"),
        ({"beneficiary": 999999}, "beneficiary_not_found"),
    ],
)
def test_bad_input_is_422_with_a_stable_code_and_writes_nothing(api, people, overrides, code):
    r = api.post("/needs", need_body(people.community.id, **overrides), as_=people.alice)
    assert r.status_code == 422, r.content
    assert problem(r)["code"] == code
    assert not Need.objects.exists()
    assert not Shift.objects.exists()


def test_unknown_category_is_422(api, people):
    r = api.post("/needs", need_body(people.community.id, category="juggling"), as_=people.alice)
    assert r.status_code == 422
    assert problem(r)["code"] == "validation_error"


@pytest.mark.parametrize("who", ["bob", "carol", "frank"])
def test_non_staff_may_not_post(api, people, who):
    r = api.post("/needs", need_body(people.community.id), as_=getattr(people, who))
    assert r.status_code == 403
    assert problem(r)["code"] == "forbidden"


def test_anonymous_gets_401_and_unknown_community_404(api, people):
    assert api.post("/needs", need_body(people.community.id)).status_code == 401
    r = api.post("/needs", need_body(999999), as_=people.alice)
    assert r.status_code == 404
    assert problem(r)["code"] == "community_not_found"


def test_malformed_json_is_400(api, people):
    r = api.post("/needs", raw="{nope", as_=people.alice)
    assert r.status_code == 400


def test_need_cancel_cancels_future_shifts_and_volunteers(api, people, post):
    need = post.need()
    shift_id = need["shifts"][0]["id"]
    assert api.post(f"/shifts/{shift_id}/signups", as_=people.bob).status_code == 201
    r = api.post(f"/needs/{need['id']}/cancel", {"reason": "老人住院"}, as_=people.alice)
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "cancelled"
    mine = api.get("/assignments/me", as_=people.bob).json()["items"]
    assert [a["status"] for a in mine] == ["cancelled"]
    again = api.post(f"/needs/{need['id']}/cancel", {"reason": "x"}, as_=people.alice)
    assert problem(again)["code"] == "need_closed"


def test_a_past_shift_can_be_recorded_but_not_signed_up_for(api, people):
    body = need_body(people.community.id, shifts=[{"start": at(-5), "end": at(-3), "headcount": 1}])
    r = api.post("/needs", body, as_=people.alice)
    assert r.status_code == 201, r.content
    shift_id = r.json()["shifts"][0]["id"]
    r = api.post(f"/shifts/{shift_id}/signups", as_=people.bob)
    assert r.status_code == 422
    assert problem(r)["code"] == "shift_past"
