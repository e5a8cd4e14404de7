"""Sign-up, waitlist, offers with a timed hold, cancellation and live events."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from matching import services
from matching.models import Assignment, Shift
from tests.conftest import problem
from tests.matching.conftest import at as at_h
from timebank.models import Event

pytestmark = pytest.mark.django_db


def signup(api, shift_id, who):
    return api.post(f"/shifts/{shift_id}/signups", as_=who)


def test_confirmed_while_seats_last_then_waitlisted(api, people, post):
    """Two seats: two confirmed (201), the third waitlisted (202, position 1)."""
    shift_id = post.shift(headcount=2)
    v1, v2, v3 = post.volunteer(), post.volunteer(), post.volunteer()
    r1, r2, r3 = (signup(api, shift_id, v) for v in (v1, v2, v3))
    assert (r1.status_code, r2.status_code, r3.status_code) == (201, 201, 202)
    assert r1.json()["status"] == "confirmed"
    assert r1.json()["assignment"]["status"] == "confirmed"
    assert r3.json()["status"] == "waitlisted"
    assert r3.json()["position"] == 1
    shift = api.get(f"/shifts/{shift_id}", as_=v1).json()
    assert (shift["seats_taken"], shift["seats_left"]) == (2, 0)
    types = list(Event.objects.values_list("type", flat=True))
    assert types.count("assignment.confirmed") == 2
    assert "shift.seats_changed" in types


def test_signing_up_twice_is_409(api, people, post):
    shift_id = post.shift()
    assert signup(api, shift_id, people.bob).status_code == 201
    r = signup(api, shift_id, people.bob)
    assert r.status_code == 409
    assert problem(r)["code"] == "already_signed_up"


def test_overlap_is_409(api, people, post):
    a = post.shift(start=48, hours=2)
    b = post.shift(start=49, hours=2)
    c = post.shift(start=50, hours=1)  # touches a's end: no overlap
    assert signup(api, a, people.bob).status_code == 201
    r = signup(api, b, people.bob)
    assert r.status_code == 409
    assert problem(r)["code"] == "overlap"
    assert signup(api, c, people.bob).status_code == 201


def test_skill_missing_is_409_and_expired_cert_does_not_count(api, people, post):
    shift_id = post.shift(skills=["first_aid"])
    r = signup(api, shift_id, people.bob)
    assert r.status_code == 409
    assert problem(r)["code"] == "skill_missing"
    yesterday = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    api.put(
        "/volunteers/me",
        {"skills": [{"name": "first_aid", "cert_expires": yesterday}]},
        as_=people.bob,
    )
    assert problem(signup(api, shift_id, people.bob))["code"] == "skill_missing"
    api.put("/volunteers/me", {"skills": [{"name": "first_aid"}]}, as_=people.bob)
    assert signup(api, shift_id, people.bob).status_code == 201


def test_language_must_be_shared(api, people, post):
    shift_id = post.shift(languages=["yue"])
    r = signup(api, shift_id, people.bob)
    assert problem(r)["code"] == "language_missing"
    api.put("/volunteers/me", {"languages": ["zh", "yue"]}, as_=people.bob)
    assert signup(api, shift_id, people.bob).status_code == 201


def test_weekly_limit(api, people, post):
    api.put("/volunteers/me", {"weekly_limit_minutes": 60}, as_=people.bob)
    r = signup(api, post.shift(hours=2), people.bob)
    assert r.status_code == 409
    assert problem(r)["code"] == "weekly_limit_exceeded"


def test_signup_to_a_past_shift_is_422(api, people, post):
    shift_id = post.shift(start=1, hours=2)
    with time_machine.travel(timezone.now() + dt.timedelta(hours=2)):
        r = signup(api, shift_id, people.bob)
    assert r.status_code == 422
    assert problem(r)["code"] == "shift_past"


@pytest.mark.parametrize("who", ["alice", "carol", "frank"])
def test_only_volunteers_of_the_community_sign_up(api, people, post, who):
    shift_id = post.shift()
    r = signup(api, shift_id, getattr(people, who))
    assert r.status_code == 403


def test_unknown_shift_404_and_anonymous_401(api, people):
    assert problem(signup(api, 999999, people.bob))["code"] == "shift_not_found"
    assert api.post("/shifts/1/signups").status_code == 401


def test_cancel_offers_the_seat_to_the_first_waitlisted(api, people, post):
    shift_id = post.shift(headcount=1)
    v1, v2, v3 = post.volunteer(), post.volunteer(), post.volunteer()
    first = signup(api, shift_id, v1).json()["assignment"]["id"]
    w2 = signup(api, shift_id, v2).json()["assignment"]["id"]
    w3 = signup(api, shift_id, v3).json()
    assert w3["position"] == 2
    r = api.post(f"/assignments/{first}/cancel", {"reason": "家里有事"}, as_=v1)
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "cancelled"
    assert r.json()["late_cancel"] is False
    offered = Assignment.objects.get(pk=w2)
    assert offered.status == "offered"
    assert offered.offer_expires_at is not None
    assert Event.objects.filter(type="assignment.offered").count() == 1
    assert Shift.objects.get(pk=shift_id).seats_taken == 1  # the offer holds the seat
    # a newcomer cannot jump the queue while the seat is held
    assert signup(api, shift_id, post.volunteer()).status_code == 202
    r = api.post(f"/assignments/{w2}/accept", as_=v2)
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "confirmed"


def test_cancel_needs_a_reason_and_the_right_person(api, people, post):
    shift_id = post.shift()
    aid = signup(api, shift_id, people.bob).json()["assignment"]["id"]
    assert (
        problem(api.post(f"/assignments/{aid}/cancel", {"reason": "  "}, as_=people.bob))["code"]
        == "reason_required"
    )
    other = post.volunteer()
    assert api.post(f"/assignments/{aid}/cancel", {"reason": "x"}, as_=other).status_code == 403
    assert (
        api.post(f"/assignments/{aid}/cancel", {"reason": "x"}, as_=people.frank).status_code == 404
    )
    assert (
        api.post(f"/assignments/{aid}/cancel", {"reason": "调整"}, as_=people.alice).status_code
        == 200
    )
    again = api.post(f"/assignments/{aid}/cancel", {"reason": "x"}, as_=people.bob)
    assert problem(again)["code"] == "not_cancellable"


def test_cancelling_within_24h_is_late(api, people, post):
    shift_id = post.shift(start=10)
    aid = signup(api, shift_id, people.bob).json()["assignment"]["id"]
    r = api.post(f"/assignments/{aid}/cancel", {"reason": "临时加班"}, as_=people.bob)
    assert r.json()["late_cancel"] is True
    assert api.get("/volunteers/me", as_=people.bob).json()["reliability"]["late_cancels"] == 1


def test_offers_expire_and_move_on(api, people, post):
    """An unanswered offer lapses after the hold; the seat goes to the next in line,
    lazily on the next read even when no task worker runs."""
    shift_id = post.shift(start=48, headcount=1)
    v1, v2, v3 = post.volunteer(), post.volunteer(), post.volunteer()
    first = signup(api, shift_id, v1).json()["assignment"]["id"]
    w2 = signup(api, shift_id, v2).json()["assignment"]["id"]
    w3 = signup(api, shift_id, v3).json()["assignment"]["id"]
    api.post(f"/assignments/{first}/cancel", {"reason": "生病"}, as_=v1)
    assert Assignment.objects.get(pk=w2).status == "offered"
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=29)):
        api.get("/shifts", as_=v2)
        assert Assignment.objects.get(pk=w2).status == "offered"
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=31)):
        roster = api.get(f"/shifts/{shift_id}/assignments", as_=people.alice).json()
        status = {a["id"]: a["status"] for a in roster}
        assert status[w2] == "expired"
        assert status[w3] == "offered"
        late = api.post(f"/assignments/{w2}/accept", as_=v2)
        assert late.status_code == 409
        assert problem(late)["code"] == "offer_expired"
    assert Shift.objects.get(pk=shift_id).seats_taken == 1
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=62)):
        # the expiry task does the same work as the lazy read
        from matching.tasks import expire_offer

        assert expire_offer.call(assignment_id=w3) == 1
    assert Assignment.objects.get(pk=w3).status == "expired"
    assert Shift.objects.get(pk=shift_id).seats_taken == 0


def test_offer_expiry_task_is_scheduled_for_the_hold_end(
    api, people, post, django_capture_on_commit_callbacks
):
    from django_tasks_db.models import DBTaskResult

    shift_id = post.shift(headcount=1)
    v1, v2 = post.volunteer(), post.volunteer()
    first = signup(api, shift_id, v1).json()["assignment"]["id"]
    signup(api, shift_id, v2)
    with django_capture_on_commit_callbacks(execute=True):
        api.post(f"/assignments/{first}/cancel", {"reason": "出差"}, as_=v1)
    due = DBTaskResult.objects.filter(task_path="matching.tasks.expire_offer").get()
    assert abs((due.run_after - (timezone.now() + dt.timedelta(minutes=30))).total_seconds()) < 60


def test_declining_an_offer(api, people, post):
    shift_id = post.shift(headcount=1)
    v1, v2 = post.volunteer(), post.volunteer()
    first = signup(api, shift_id, v1).json()["assignment"]["id"]
    w2 = signup(api, shift_id, v2).json()["assignment"]["id"]
    api.post(f"/assignments/{first}/cancel", {"reason": "x"}, as_=v1)
    r = api.post(f"/assignments/{w2}/cancel", {"reason": "那天不在"}, as_=v2)
    assert r.json()["status"] == "declined"
    assert Shift.objects.get(pk=shift_id).seats_taken == 0


def test_shift_list_filters(api, people, post):
    near = post.shift(start=30)
    far = post.shift(start=40, location={"lat": 22.70, "lon": 114.30, "address": "远处"})
    full = post.shift(start=50, headcount=1, category="tutoring")
    signup(api, full, post.volunteer())
    items = api.get("/shifts", as_=people.bob).json()["items"]
    assert [s["id"] for s in items] == [near, far, full]
    assert items[2]["seats_left"] == 0
    nearby = api.get("/shifts?near=22.5410,114.0590&radius_km=3", as_=people.bob).json()["items"]
    assert far not in [s["id"] for s in nearby]
    assert nearby[0]["distance_km"] == pytest.approx(0, abs=0.01)
    assert [s["id"] for s in api.get("/shifts?open_only=true", as_=people.bob).json()["items"]] == [
        near,
        far,
    ]
    assert [
        s["id"] for s in api.get("/shifts?category=tutoring", as_=people.bob).json()["items"]
    ] == [full]
    start = timezone.localtime(timezone.now() + dt.timedelta(hours=35)).isoformat()
    r = api.get("/shifts", as_=people.bob, headers={})
    r = api.client.get(
        "/api/v1/shifts", {"from": start}, HTTP_AUTHORIZATION=r.request["HTTP_AUTHORIZATION"]
    )
    assert [s["id"] for s in r.json()["items"]] == [far, full]
    page = api.get("/shifts?limit=2", as_=people.bob).json()
    assert len(page["items"]) == 2
    rest = api.get(f"/shifts?limit=2&cursor={page['next_cursor']}", as_=people.bob).json()
    assert [s["id"] for s in rest["items"]] == [full]
    assert rest["next_cursor"] is None
    # frank belongs to another community and sees none of these
    assert api.get("/shifts", as_=people.frank).json()["items"] == []


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("near=abc", "invalid_near"),
        ("near=91,0", "invalid_near"),
        ("near=22.5,114&radius_km=-1", "invalid_radius"),
        ("from=yesterday", "invalid_datetime"),
        ("cursor=@@@", "invalid_cursor"),
        ("limit=0", "invalid_limit"),
    ],
)
def test_shift_list_bad_filters(api, people, query, code):
    r = api.get(f"/shifts?{query}", as_=people.bob)
    assert r.status_code == 422
    assert problem(r)["code"] == code


def test_roster_is_staff_only(api, people, post):
    shift_id = post.shift()
    assert api.get(f"/shifts/{shift_id}/assignments", as_=people.bob).status_code == 403
    assert api.get(f"/shifts/{shift_id}/assignments", as_=people.alice).status_code == 200


def test_no_show_after_grace(api, people, post):
    shift_id = post.shift(start=2, hours=1)
    aid = signup(api, shift_id, people.bob).json()["assignment"]["id"]
    with time_machine.travel(timezone.now() + dt.timedelta(hours=3, minutes=40)):
        assert services.no_shows_mark_due() == 1
        profile = api.get("/volunteers/me", as_=people.bob).json()
    assert Assignment.objects.get(pk=aid).status == "no_show"
    assert profile["reliability"]["no_shows"] == 1
    assert profile["reliability"]["score"] < 1


def test_events_reach_the_volunteer_staff_and_community_groups(api, people, post):
    from timebank.events import community_group, member_group, staff_group
    from timebank.models import EventRecipient

    shift_id = post.shift(headcount=1)
    api.post(f"/shifts/{shift_id}/signups", as_=people.bob)
    confirmed = Event.objects.get(type="assignment.confirmed")
    groups = set(EventRecipient.objects.filter(event=confirmed).values_list("group", flat=True))
    assert {member_group(people.bob.id), staff_group(people.community.id)} <= groups
    assert not any(g.startswith("community-") for g in groups)
    assert confirmed.data["shift"] == shift_id
    seats = Event.objects.filter(type="shift.seats_changed").last()
    assert seats is not None
    assert seats.data["seats_left"] == 0
    seat_groups = set(EventRecipient.objects.filter(event=seats).values_list("group", flat=True))
    assert community_group(people.community.id) in seat_groups


def test_need_status_follows_the_seats(api, people, post):
    need = post.need(
        shifts=[
            {"start": at_h(48), "end": at_h(50), "headcount": 1},
            {"start": at_h(72), "end": at_h(74), "headcount": 1},
        ]
    )
    first, second = (s["id"] for s in need["shifts"])
    assert api.get(f"/needs/{need['id']}", as_=people.bob).json()["status"] == "open"
    api.post(f"/shifts/{first}/signups", as_=people.bob)
    assert api.get(f"/needs/{need['id']}", as_=people.bob).json()["status"] == "partly_filled"
    api.post(f"/shifts/{second}/signups", as_=post.volunteer())
    assert api.get(f"/needs/{need['id']}", as_=people.bob).json()["status"] == "filled"
    assert api.get(f"/needs/{need['id']}", as_=people.frank).status_code == 404


def test_shift_list_query_count_does_not_grow_with_rows(
    api, people, post, django_assert_max_num_queries
):
    for i in range(15):
        post.shift(start=30 + 3 * i)
    api.get("/volunteers/me", as_=people.bob)  # the profile exists, as for any volunteer
    with django_assert_max_num_queries(12):
        r = api.get("/shifts?limit=50&near=22.5410,114.0590", as_=people.bob)
    assert len(r.json()["items"]) == 15


def test_staff_get_replacements_when_nobody_waits(
    api, people, post, django_capture_on_commit_callbacks
):
    from django_tasks_db.models import DBTaskResult

    from matching.tasks import suggest_replacements

    shift_id = post.shift(headcount=1)
    backup = post.volunteer(name="候补人选")
    api.get("/volunteers/me", as_=backup)
    aid = signup(api, shift_id, people.bob).json()["assignment"]["id"]
    with django_capture_on_commit_callbacks(execute=True):
        api.post(f"/assignments/{aid}/cancel", {"reason": "临时出差"}, as_=people.bob)
    assert DBTaskResult.objects.filter(task_path="matching.tasks.suggest_replacements").exists()
    assert suggest_replacements.call(shift_id=shift_id) >= 1
    event = Event.objects.get(type="shift.replacements")
    assert event.data["shift"] == shift_id
    assert backup.id in [c["volunteer"] for c in event.data["candidates"]]
