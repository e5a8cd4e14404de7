"""Flexible needs (#9): the optimizer chooses the slot and the space, and the booking follows.

Every rule-9 case is built so that breaking the rule would raise coverage: a
solver that ignored opening rules, closures, reservations, capacity or one
room's timeline would fill the shift, so a filled shift would be a bug.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from matching.models import (
    Assignment,
    AvailabilityException,
    AvailabilityWindow,
    MatchingRun,
    Notification,
    Proposal,
    Shift,
    VolunteerProfile,
)
from matching.problem import problem_for
from matching.tasks import solve_run
from resources.booking import reservation_create
from resources.models import Reservation
from resources.services import closure_create, space_create
from tests.conftest import problem
from tests.factories import member_with_roles
from tests.matching.conftest import at, need_body
from timebank.events import member_group
from timebank.models import Event

pytestmark = pytest.mark.django_db


def day() -> dt.date:
    return timezone.localdate() + dt.timedelta(days=2)


def t(hour: int, minute: int = 0) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day(), dt.time(hour, minute)))


def room(people: Any, name: str = "活动室", *, opening: Any = None, **kw: Any) -> Any:
    fields: dict[str, Any] = {"kind": "room", "capacity": 20, "lat": 22.541, "lon": 114.059}
    fields.update(kw)
    return space_create(
        actor=people.dave,
        community=people.community,
        name=name,
        mode="exclusive",
        opening=opening,
        rules={"max_duration_minutes": 240},
        **fields,
    )


def evenings() -> list[dict[str, Any]]:
    return [{"weekdays": list(range(1, 8)), "start": dt.time(18), "end": dt.time(21)}]


@pytest.fixture
def vol(people: Any) -> Any:
    """A volunteer of community A free on the test day in the given hour spans only."""

    def make(*spans: tuple[int, int], **fields: Any) -> Any:
        m = member_with_roles(people.community, "volunteer", **fields)
        profile = VolunteerProfile.objects.create(member=m, home_lat=22.541, home_lon=114.059)
        for start, end in spans:
            AvailabilityWindow.objects.create(
                profile=profile, weekday=day().weekday(), start=dt.time(start), end=dt.time(end)
            )
        return m

    return make


@pytest.fixture(autouse=True)
def _bob_is_away(people: Any) -> None:
    """Bob has no windows (= always free); make him away on the test day."""
    profile = VolunteerProfile.objects.create(member=people.bob)
    AvailabilityException.objects.create(profile=profile, date=day(), available=False)


def flex(window: tuple[int, int] = (9, 21), duration: int = 120, step: int = 60, **kw: Any) -> Any:
    shift: dict[str, Any] = {
        "window": {"start": t(window[0]).isoformat(), "end": t(window[1]).isoformat()},
        "duration_min": duration,
        "step_min": step,
        "headcount": kw.pop("headcount", 1),
    }
    shift.update(kw)
    return shift


def post_need(api: Any, people: Any, *shifts: dict[str, Any], **overrides: Any) -> Any:
    r = api.post(
        "/needs",
        need_body(people.community.id, shifts=list(shifts), **overrides),
        as_=people.alice,
    )
    assert r.status_code == 201, r.content
    return r.json()


def solve(api: Any, people: Any) -> dict[str, Any]:
    body = {"community": people.community.id, "from": at(1), "to": at(24 * 6), "time_limit_s": 5}
    r = api.post("/matching/runs", body, as_=people.alice)
    assert r.status_code == 202, r.content
    assert solve_run.call(run_id=r.json()["id"]) == "finished"
    out = api.get(f"/matching/runs/{r.json()['id']}", as_=people.alice).json()
    return dict(out)


# --- posting -----------------------------------------------------------------------


def test_a_flexible_shift_is_posted_unplaced_and_shown(api, people):
    space = room(people)
    need = post_need(api, people, flex(spaces=[space.pk], participants=12, headcount=2))
    s = need["shifts"][0]
    assert s["flexible"] is True and s["placed"] is False and s["placement"] is None
    assert s["window"]["start"] == t(9).isoformat() and s["window"]["end"] == t(21).isoformat()
    assert (s["duration_min"], s["step_min"], s["participants"]) == (120, 60, 12)
    assert s["spaces"] == [space.pk]
    # Until placed, start/end hold the earliest slot.
    assert s["start"] == t(9).isoformat() and s["end"] == t(11).isoformat()
    row = Shift.objects.get(pk=s["id"])
    assert row.awaiting_placement and row.placed_at is None
    detail = api.get(f"/shifts/{s['id']}", as_=people.bob).json()
    assert detail["flexible"] is True and detail["placed"] is False
    listed = api.get("/shifts", as_=people.bob).json()["items"]
    assert [x["window"] for x in listed if x["id"] == s["id"]] == [s["window"]]


def test_fixed_shift_with_space_kind_and_radius(api, people):
    room(people, "近的活动室", lat=22.541, lon=114.059)
    need = post_need(
        api,
        people,
        {
            "start": t(18).isoformat(),
            "end": t(20).isoformat(),
            "headcount": 1,
            "space_kind": "room",
            "radius_km": 1,
        },
    )
    s = need["shifts"][0]
    assert s["flexible"] is False and s["placed"] is False
    assert (s["space_kind"], s["radius_km"]) == ("room", 1.0)
    # A fixed shift keeps its time: sign-up is open even before the room is chosen.
    assert api.post(f"/shifts/{s['id']}/signups", as_=people.bob).status_code == 201


def test_signup_to_an_unplaced_flexible_shift_is_409(api, people):
    need = post_need(api, people, flex())
    r = api.post(f"/shifts/{need['shifts'][0]['id']}/signups", as_=people.bob)
    assert r.status_code == 409
    assert problem(r)["code"] == "shift_not_placed"
    assert not Assignment.objects.exists()


@pytest.mark.parametrize(
    ("shift", "code"),
    [
        ({"window": (18, 19), "duration": 120}, "window_too_short"),
        ({"step": 0}, "invalid_step"),
        ({"step": -30}, "invalid_step"),
        ({"duration": 0}, "invalid_duration"),
        ({"spaces": [987654]}, "unknown_space"),
        ({"spaces": "other-community"}, "unknown_space"),
        ({"spaces": "room", "participants": 30}, "participants_over_capacity"),
        ({"space_kind": "room", "radius_km": 1, "participants": 30}, "participants_over_capacity"),
        ({"space_kind": "hall", "radius_km": 1}, "no_space_in_reach"),
        ({"space_kind": "room", "radius_km": 0}, "invalid_radius"),
        ({"space_kind": "castle", "radius_km": 1}, "invalid_space_kind"),
        ({"participants": 0, "spaces": "room"}, "invalid_participants"),
    ],
)
def test_bad_flexible_input_is_a_clear_422(api, people, shift, code):
    mine = room(people, capacity=20)
    if shift.get("spaces") == "room":
        shift["spaces"] = [mine.pk]
    if shift.get("spaces") == "other-community":
        theirs = space_create(
            actor=member_with_roles(people.other, "space_manager"),
            community=people.other,
            name="景田活动室",
            kind="room",
            mode="exclusive",
            capacity=20,
            lat=22.541,
            lon=114.059,
        )
        shift["spaces"] = [theirs.pk]
    window = shift.pop("window", (9, 21))
    body = flex(
        window=window, duration=shift.pop("duration", 120), step=shift.pop("step", 60), **shift
    )
    r = api.post("/needs", need_body(people.community.id, shifts=[body]), as_=people.alice)
    assert r.status_code == 422, r.content
    assert problem(r)["code"] == code
    assert not Shift.objects.exists()


def test_a_space_of_another_kind_far_away_is_not_in_reach(api, people):
    room(people, "远的活动室", lat=22.60, lon=114.059)  # about 6.6 km north
    r = api.post(
        "/needs",
        need_body(
            people.community.id, shifts=[flex(space_kind="room", radius_km=1, participants=5)]
        ),
        as_=people.alice,
    )
    assert r.status_code == 422
    assert problem(r)["code"] == "no_space_in_reach"


def test_window_and_times_together_are_refused(api, people):
    body = flex()
    body["start"] = t(9).isoformat()
    r = api.post("/needs", need_body(people.community.id, shifts=[body]), as_=people.alice)
    assert r.status_code == 422
    assert problem(r)["code"] == "window_and_times"


def test_flexible_recurrence_moves_the_window(api, people):
    need = post_need(api, people, flex(), recurrence="FREQ=WEEKLY;COUNT=2")
    a, b = need["shifts"]
    assert a["window"]["start"] == t(9).isoformat()
    assert b["window"]["start"] == (t(9) + dt.timedelta(days=7)).isoformat()
    assert b["flexible"] and b["duration_min"] == 120


# --- rule 9 through the database ---------------------------------------------------


def test_opening_rules_decide_the_slot(api, people, vol):
    """The room opens 18:00-21:00. A tutor free only 09:00-12:00 would fill the shift
    in a closed room, so the shift stays unfilled, and the reason says rooms are free
    but no volunteer then; a second tutor free in the evening is then placed there."""
    space = room(people, opening=evenings())
    shift_id = post_need(api, people, flex(spaces=[space.pk], participants=8))["shifts"][0]["id"]
    vol((9, 12))
    out = solve(api, people)
    assert out["proposals"] == []
    [unfilled] = out["unfilled"]
    assert unfilled["shift"] == shift_id
    assert unfilled["reason"].startswith("rooms free, but none of the")
    evening = vol((17, 22))
    out = solve(api, people)
    [p] = out["proposals"]
    assert p["volunteer"] == evening.pk and p["space"] == space.pk
    start = dt.datetime.fromisoformat(p["start"])
    assert t(18) <= start and start + dt.timedelta(hours=2) <= t(21)
    assert (start - t(9)) % dt.timedelta(hours=1) == dt.timedelta(0)  # on the step grid


def test_a_closure_leaves_no_room_and_says_so(api, people, vol):
    space = room(people)
    closure_create(actor=people.dave, space=space, start=t(0), end=t(23, 59), reason="考试")
    shift_id = post_need(api, people, flex(space_kind="room", radius_km=1, participants=12))[
        "shifts"
    ][0]["id"]
    vol((8, 22))
    out = solve(api, people)
    assert out["proposals"] == []
    [unfilled] = out["unfilled"]
    assert unfilled["shift"] == shift_id
    assert unfilled["reason"].startswith("no room for 12")
    assert unfilled["reason"].endswith("within 1 km")


def test_a_residents_reservation_is_not_double_booked(api, people, vol):
    """A resident holds the only big room 18:00-20:00; the tutor is free only then.
    The small room is free but too small for 12: nothing may be placed."""
    big = room(people, "大活动室", opening=evenings(), capacity=20)
    small = room(people, "小活动室", opening=evenings(), capacity=6)
    reservation_create(member=people.carol, space=big, start=t(18), end=t(20))
    post_need(api, people, flex(window=(17, 21), spaces=[big.pk, small.pk], participants=12))
    vol((18, 20))
    problem_ = problem_for(
        MatchingRun(
            community=people.community, period_start=t(0), period_end=t(23), created_by=people.alice
        )
    )
    spaces = {s.id: s for s in problem_.spaces}
    assert [(i.start, i.end) for i in spaces[f"sp{big.pk}"].free] == [(t(20), t(21))]
    out = solve(api, people)
    assert out["proposals"] == []
    assert out["unfilled"][0]["missing"] == 1


def test_one_room_one_group_at_a_time_and_capacity(api, people, vol):
    """Two 2-hour sessions in a 3-hour evening: only one fits the big room; the
    small room cannot take the 12 participants of either."""
    big = room(people, "大活动室", opening=evenings(), capacity=20)
    small = room(people, "小活动室", opening=evenings(), capacity=6)
    need = post_need(
        api,
        people,
        flex(window=(18, 21), step=30, spaces=[big.pk, small.pk], participants=12),
        flex(window=(18, 21), step=30, spaces=[big.pk, small.pk], participants=12),
    )
    vol((17, 22))
    vol((17, 22))
    out = solve(api, people)
    assert len(out["proposals"]) == 1
    assert out["proposals"][0]["space"] == big.pk
    assert len(out["unfilled"]) == 1
    assert {out["proposals"][0]["shift"], out["unfilled"][0]["shift"]} == {
        s["id"] for s in need["shifts"]
    }


def test_a_space_in_another_radius_is_not_offered(api, people):
    near = room(people, "近", lat=22.541, lon=114.059, capacity=10)
    room(people, "远", lat=22.60, lon=114.059, capacity=30)
    post_need(api, people, flex(space_kind="room", radius_km=2, participants=8))
    p = problem_for(
        MatchingRun(
            community=people.community, period_start=t(0), period_end=t(23), created_by=people.alice
        )
    )
    assert [s.id for s in p.spaces] == [f"sp{near.pk}"]
    assert p.shifts[0].spaces == (f"sp{near.pk}",)
    assert p.shifts[0].participants == 8


# --- applying ------------------------------------------------------------------------


def _placed_run(api, people, vol, *, opening=None, window=(18, 21), headcount=1, duration=120):
    space = room(people, opening=opening or evenings())
    beneficiary = member_with_roles(people.community, "resident", name="王奶奶")
    need = post_need(
        api,
        people,
        flex(
            window=window,
            duration=duration,
            spaces=[space.pk],
            participants=10,
            headcount=headcount,
        ),
        beneficiary=beneficiary.pk,
    )
    tutors = [vol((17, 22)) for _ in range(headcount)]
    out = solve(api, people)
    assert len(out["proposals"]) == headcount, out
    return space, need["shifts"][0]["id"], tutors, beneficiary, out


def test_apply_books_the_space_and_tells_everyone(api, people, vol):
    space, shift_id, [tutor], beneficiary, out = _placed_run(api, people, vol)
    p = out["proposals"][0]
    r = api.post(f"/matching/runs/{out['id']}/apply", {}, as_=people.alice)
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["applied"] == [p["id"]] and body["moved"] == []
    shift = Shift.objects.get(pk=shift_id)
    assert shift.placed_at is not None and shift.space_id == space.pk
    assert shift.start == dt.datetime.fromisoformat(p["start"])
    reservation = Reservation.objects.get(need_shift_id=shift_id)
    assert shift.reservation_id == reservation.pk
    assert reservation.need_shift_id == shift_id and reservation.space_id == space.pk
    assert (reservation.start, reservation.end) == (shift.start, shift.end)
    a = Assignment.objects.get(shift=shift, volunteer=tutor)
    assert (a.start, a.end, a.status) == (shift.start, shift.end, "confirmed")
    placed = Event.objects.filter(type="shift.placed").get()
    assert placed.data["shift"] == shift_id and placed.data["space"] == space.pk
    groups = set(placed.recipients.values_list("group", flat=True))
    assert {member_group(tutor.pk), member_group(beneficiary.pk)} <= groups
    for who in (tutor, beneficiary):
        assert Notification.objects.filter(member=who, kind="shift.placed").exists()
    detail = api.get(f"/shifts/{shift_id}", as_=tutor).json()
    assert detail["placed"] is True
    assert detail["placement"]["space"] == space.pk
    assert detail["placement"]["reservation"] == reservation.pk


def test_a_taken_slot_is_replaced_and_the_worker_told(api, people, vol):
    space, shift_id, [tutor], _b, out = _placed_run(api, people, vol, window=(17, 21), duration=60)
    p = out["proposals"][0]
    start, end = dt.datetime.fromisoformat(p["start"]), dt.datetime.fromisoformat(p["end"])
    # A resident books the chosen slot between the run and its apply.
    taken = reservation_create(member=people.carol, space=space, start=start, end=end)
    body = api.post(f"/matching/runs/{out['id']}/apply", {}, as_=people.alice).json()
    assert body["applied"] == [p["id"]], body
    [moved] = body["moved"]
    assert moved["reason"] == "slot_taken" and moved["shift"] == shift_id
    assert moved["proposed"]["start"] == p["start"]
    shift = Shift.objects.get(pk=shift_id)
    assert moved["placed"]["start"] == timezone.localtime(shift.start).isoformat()
    assert shift.start != start and shift.placed_at is not None
    mine = Reservation.objects.get(need_shift_id=shift_id)
    assert shift.reservation_id == mine.pk
    assert not (mine.start < taken.end and taken.start < mine.end)  # no overlap
    assert t(18) <= mine.start and mine.end <= t(21)  # still inside the opening hours
    assert Assignment.objects.get(shift=shift, volunteer=tutor).start == shift.start
    assert Proposal.objects.get(pk=p["id"]).start == shift.start
    assert Notification.objects.filter(member=people.alice, kind="shift.replaced").exists()
    assert Event.objects.filter(type="shift.replaced").exists()


def test_no_other_slot_means_skipped_not_half_written(api, people, vol):
    # Open 18:00-20:00 only: the one 2-hour slot is the proposed one.
    opening = [{"weekdays": list(range(1, 8)), "start": dt.time(18), "end": dt.time(20)}]
    space, shift_id, [tutor], _b, out = _placed_run(api, people, vol, opening=opening)
    p = out["proposals"][0]
    reservation_create(member=people.carol, space=space, start=t(18), end=t(20))
    body = api.post(f"/matching/runs/{out['id']}/apply", {}, as_=people.alice).json()
    assert body["applied"] == []
    assert body["skipped"] == [{"id": p["id"], "reason": "slot_taken"}]
    assert body["moved"][0]["placed"] is None
    shift = Shift.objects.get(pk=shift_id)
    assert shift.placed_at is None and shift.reservation_id is None and shift.seats_taken == 0
    assert not Assignment.objects.filter(volunteer=tutor).exists()
    assert Notification.objects.filter(member=people.alice, kind="shift.replaced").exists()


def test_moved_volunteers_who_are_not_free_then_are_dropped(api, people, vol):
    """Two tutors; one is free only at the proposed hour. After the resident takes
    it, the shift moves, and only the tutor free at the new time is confirmed."""
    space = room(people, opening=evenings())
    shift_id = post_need(
        api, people, flex(window=(18, 21), duration=60, spaces=[space.pk], headcount=2)
    )["shifts"][0]["id"]
    narrow = vol((18, 19))
    wide = vol((17, 22))
    out = solve(api, people)
    assert len(out["proposals"]) == 2
    assert out["proposals"][0]["start"] == t(18).isoformat()
    reservation_create(member=people.carol, space=space, start=t(18), end=t(19))
    body = api.post(f"/matching/runs/{out['id']}/apply", {}, as_=people.alice).json()
    shift = Shift.objects.get(pk=shift_id)
    assert shift.start >= t(19)
    confirmed = set(Assignment.objects.filter(shift=shift).values_list("volunteer_id", flat=True))
    assert confirmed == {wide.pk}
    dropped = Proposal.objects.get(run_id=out["id"], volunteer=narrow)
    assert dropped.reason == "not_free_after_move"
    assert {"id": dropped.pk, "reason": "not_free_after_move"} in body["skipped"]


def test_a_placed_shift_is_fixed_in_later_runs(api, people, vol):
    _space, shift_id, _tutors, _b, out = _placed_run(api, people, vol)
    api.post(f"/matching/runs/{out['id']}/apply", {}, as_=people.alice)
    shift = Shift.objects.get(pk=shift_id)
    p = problem_for(
        MatchingRun(
            community=people.community, period_start=t(0), period_end=t(23), created_by=people.alice
        )
    )
    [s] = [s for s in p.shifts if s.id == f"s{shift_id}"]
    assert not s.is_flexible and s.spaces == ()
    assert (s.start, s.end) == (shift.start, shift.end)


def test_the_run_page_says_what_moved_and_why(api, people, vol):
    from django.test import Client

    space, shift_id, [_tutor], _b, out = _placed_run(api, people, vol, window=(17, 21), duration=60)
    p = out["proposals"][0]
    start, end = dt.datetime.fromisoformat(p["start"]), dt.datetime.fromisoformat(p["end"])
    reservation_create(member=people.carol, space=space, start=start, end=end)
    client = Client()
    client.force_login(people.alice)
    r = client.post(f"/staff/runs/{out['id']}/apply", {"which": "all"}, follow=True)
    assert r.status_code == 200
    text = r.content.decode()
    shift = Shift.objects.get(pk=shift_id)
    assert f"班次 {shift_id} 原定时段已被占用" in text
    assert timezone.localtime(shift.start).strftime("%Y-%m-%d %H:%M") in text
