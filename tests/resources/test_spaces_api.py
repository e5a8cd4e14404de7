"""POST /spaces, GET /spaces, availability, opening rules and closures."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest

from resources.models import Space
from tests.conftest import problem
from tests.resources.conftest import at, iso

pytestmark = pytest.mark.django_db


def space_body(people: Any, **extra: Any) -> dict[str, Any]:
    return {
        "community": people.community.pk,
        "name": "学校田径场",
        "kind": "sports_field",
        "owner": "school",
        "mode": "exclusive",
        "capacity": 40,
        "location": {"lat": 22.54, "lon": 114.06, "address": "香蜜小学"},
        "rules": {"booking_window_days": 7, "weekly_quota_bookings": 2},
        "opening": [{"weekdays": [1, 2, 3, 4, 5], "start": "19:00", "end": "21:00"}],
        **extra,
    }


def slots(api: Any, space_id: int, start: Any, end: Any) -> list[dict[str, Any]]:
    r = api.client.get(
        f"/api/v1/spaces/{space_id}/availability", {"from": iso(start), "to": iso(end)}
    )
    assert r.status_code == 200, r.content
    return list(r.json()["slots"])


def test_space_manager_creates_a_space(api, people):
    r = api.post("/spaces", space_body(people), as_=people.dave)
    assert r.status_code == 201, r.content
    data = r.json()
    assert data["kind"] == "sports_field"
    assert data["rules"]["weekly_quota_bookings"] == 2
    assert data["rules"]["booking_window_days"] == 7
    assert len(data["opening"]) == 5
    assert api.post("/spaces", space_body(people, name="礼堂"), as_=people.erin).status_code == 201


@pytest.mark.parametrize("who", ["bob", "carol", "alice", "frank"])
def test_other_roles_cannot_create_spaces(api, people, who):
    r = api.post("/spaces", space_body(people), as_=getattr(people, who))
    assert r.status_code == 403
    assert not Space.objects.exists()


def test_anonymous_cannot_create_but_can_list(api, people):
    assert api.post("/spaces", space_body(people)).status_code == 401
    api.post("/spaces", space_body(people), as_=people.dave)
    api.post(
        "/spaces",
        space_body(people, name="活动室", kind="room", location={"lat": 22.70, "lon": 114.20}),
        as_=people.dave,
    )
    listed = api.get("/spaces").json()
    assert len(listed["items"]) == 2
    assert [s["name"] for s in api.get("/spaces?kind=room").json()["items"]] == ["活动室"]
    near = api.get("/spaces?near=22.541,114.061").json()["items"]
    assert [s["name"] for s in near] == ["学校田径场"]
    assert near[0]["distance_km"] < 1
    assert api.get(f"/spaces?community={people.other.pk}").json()["items"] == []
    assert problem(api.get("/spaces?near=abc"))["code"] == "invalid_near"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"mode": "shared"}, "validation_error"),
        ({"kind": "swimming_pool"}, "validation_error"),
        ({"capacity": 0}, "validation_error"),
        ({"rules": {"booking_window_days": 0}}, "invalid_rule"),
        ({"rules": {"min_duration_minutes": 200, "max_duration_minutes": 60}}, "invalid_rule"),
        ({"rules": {"teleport": True}}, "validation_error"),
        ({"opening": [{"weekday": 1, "start": "21:00", "end": "19:00"}]}, "invalid_opening"),
        ({"opening": [{"weekday": 9, "start": "19:00", "end": "21:00"}]}, "validation_error"),
        ({"parent": 999999}, "space_not_found"),
        ({"community": 999999}, "community_not_found"),
    ],
)
def test_bad_space_input(api, people, change, code):
    r = api.post("/spaces", space_body(people, **change), as_=people.dave)
    assert 400 <= r.status_code < 500
    assert problem(r)["code"] == code
    assert not Space.objects.exists()


def test_outside_teaching_time_template(api, people, clock):
    """School days 19:00–21:00; weekends 08:00–12:00 and 14:00–18:00."""
    body = space_body(people, opening_template="outside_teaching_time")
    del body["opening"]
    sid = api.post("/spaces", body, as_=people.dave).json()["id"]
    monday = slots(api, sid, at(0, 0), at(1, 0))
    assert [(s["start"][11:16], s["end"][11:16]) for s in monday] == [
        ("19:00", "20:00"),
        ("20:00", "21:00"),
    ]
    saturday = slots(api, sid, at(5, 0), at(6, 0))
    assert [s["start"][11:16] for s in saturday] == [
        "08:00",
        "09:00",
        "10:00",
        "11:00",
        "14:00",
        "15:00",
        "16:00",
        "17:00",
    ]


def test_holidays_close_a_school_field(api, people, clock):
    body = space_body(
        people,
        opening_template="outside_teaching_time",
        seasons=[
            {
                "name": "寒假",
                "season": "holiday",
                "start_date": "2026-12-09",
                "end_date": "2027-02-20",
            }
        ],
    )
    del body["opening"]
    sid = api.post("/spaces", body, as_=people.dave).json()["id"]
    assert len(slots(api, sid, at(1, 0), at(2, 0))) == 2
    assert slots(api, sid, at(2, 0), at(3, 0)) == []
    r = api.post(
        "/reservations",
        {"space": sid, "start": iso(at(2, 19)), "end": iso(at(2, 20)), "accept_terms": True},
        as_=people.carol,
    )
    assert problem(r)["code"] == "outside_opening_hours"


def test_manager_edits_opening_rules_and_closures(api, people, court, clock):
    r = api.put(
        f"/spaces/{court.pk}/opening",
        {"opening": [{"weekday": "tue", "start": "09:00", "end": "11:00"}]},
        as_=people.dave,
    )
    assert r.status_code == 200, r.content
    assert r.json()["opening"] == [
        {"weekday": 2, "start": "09:00:00", "end": "11:00:00", "season": "any"}
    ]
    assert [s["start"][11:16] for s in slots(api, court.pk, at(1, 0), at(2, 0))] == [
        "09:00",
        "10:00",
    ]
    assert (
        api.put(f"/spaces/{court.pk}/opening", {"opening": []}, as_=people.carol).status_code == 403
    )

    closure = api.post(
        f"/spaces/{court.pk}/closures",
        {"start": iso(at(1, 10)), "end": iso(at(1, 11)), "reason": "exam"},
        as_=people.dave,
    ).json()
    assert [s["status"] for s in slots(api, court.pk, at(1, 0), at(2, 0))] == ["free", "closed"]
    assert len(api.get(f"/spaces/{court.pk}/closures").json()) == 1
    assert (
        api.delete(f"/spaces/{court.pk}/closures/{closure['id']}", as_=people.dave).status_code
        == 204
    )
    assert [s["status"] for s in slots(api, court.pk, at(1, 0), at(2, 0))] == ["free", "free"]

    r = api.patch(
        f"/spaces/{court.pk}/rules", {"approval_required": True, "hold_minutes": 5}, as_=people.dave
    )
    assert r.json()["rules"]["approval_required"] is True
    assert r.json()["rules"]["hold_minutes"] == 5
    assert (
        api.patch(f"/spaces/{court.pk}/rules", {"hold_minutes": 5}, as_=people.bob).status_code
        == 403
    )


def test_availability_input(api, people, court, clock):
    r = api.client.get(
        f"/api/v1/spaces/{court.pk}/availability", {"from": iso(at(2, 0)), "to": iso(at(1, 0))}
    )
    assert problem(r)["code"] == "invalid_period"
    r = api.client.get(
        f"/api/v1/spaces/{court.pk}/availability", {"from": iso(at(0, 0)), "to": iso(at(40, 0))}
    )
    assert problem(r)["code"] == "range_too_long"
    r = api.client.get(
        "/api/v1/spaces/999999/availability", {"from": iso(at(0, 0)), "to": iso(at(1, 0))}
    )
    assert r.status_code == 404
    assert problem(r)["code"] == "space_not_found"
    past = slots(api, court.pk, at(0, 8), at(0, 12))
    assert [s["status"] for s in past] == ["past", "past", "free", "free"]


def test_half_pitch_closure_closes_the_full_pitch(api, people, pitch, clock):
    api.post(
        f"/spaces/{pitch['left'].pk}/closures",
        {"start": iso(at(1, 0)), "end": iso(at(2, 0)), "reason": "maintenance"},
        as_=people.dave,
    )
    assert {s["status"] for s in slots(api, pitch["full"].pk, at(1, 0), at(2, 0))} == {"closed"}
    assert {s["status"] for s in slots(api, pitch["right"].pk, at(1, 0), at(2, 0))} == {"free"}


def test_utilisation(api, people, court, clock):
    from resources.booking import reservation_create
    from resources.lifecycle import reservation_check_in
    from resources.tasks import reservation_lapse_task

    a = reservation_create(member=people.carol, space=court, start=at(0, 11), end=at(0, 12))
    b = reservation_create(member=people.bob, space=court, start=at(0, 13), end=at(0, 14))
    clock.move_to(at(0, 11, 5))
    reservation_check_in(actor=people.dave, reservation_id=a.pk, token=None)
    clock.move_to(at(0, 13, 20))
    reservation_lapse_task.call(b.pk)
    query = urlencode({"from": iso(at(0, 0)), "to": iso(at(1, 0))})
    r = api.get(f"/spaces/{court.pk}/utilisation?{query}", as_=people.dave)
    assert r.status_code == 200, r.content
    data = r.json()
    assert data["open_minutes"] == 14 * 60
    assert data["booked_share"] == round(120 / 840, 4)
    assert data["checked_in_share"] == round(60 / 840, 4)
    assert data["no_show_rate"] == 0.5
    eleven = next(row for row in data["rows"] if row["hour"] == 11)
    assert (eleven["booked_minutes"], eleven["checked_in_minutes"], eleven["bookings"]) == (
        60,
        60,
        1,
    )
    assert (
        api.get(f"/spaces/{court.pk}/utilisation?from=x&to=y", as_=people.carol).status_code == 422
    )
    assert api.get(f"/spaces/{court.pk}/utilisation?{query}", as_=people.carol).status_code == 403


def test_opening_windows_accept_day_names_and_open_close(api, people, court, clock):
    assert [s["start"][11:16] for s in slots(api, court.pk, at(5, 0), at(6, 0))][:1] == ["08:00"]
    r = api.put(
        f"/spaces/{court.pk}/opening",
        {"opening": [{"days": ["sat", "sun"], "open": "09:00", "close": "11:00"}]},
        as_=people.dave,
    )
    assert r.status_code == 200, r.content
    assert [w["weekday"] for w in r.json()["opening"]] == [6, 7]
    # The cached shape of the space was dropped: the next read sees the edit.
    assert [s["start"][11:16] for s in slots(api, court.pk, at(5, 0), at(6, 0))] == [
        "09:00",
        "10:00",
    ]
    assert slots(api, court.pk, at(1, 0), at(2, 0)) == []


def test_a_new_sub_area_is_seen_by_its_parent_at_once(api, people, pitch, clock):
    """The parent's cached shape is dropped when a sub-area is added, so a
    closure of the new sub-area closes the parent on the next read."""
    full = pitch["full"]
    assert {s["status"] for s in slots(api, full.pk, at(1, 0), at(2, 0))} == {"free"}
    body = space_body(people, name="C区", parent=full.pk, capacity=8)
    del body["opening"]
    third = api.post("/spaces", body, as_=people.dave)
    assert third.status_code == 201, third.content
    assert third.json()["opening"] == []  # it borrows the pitch's
    api.post(
        f"/spaces/{third.json()['id']}/closures",
        {"start": iso(at(1, 0)), "end": iso(at(2, 0)), "reason": "maintenance"},
        as_=people.dave,
    )
    assert {s["status"] for s in slots(api, full.pk, at(1, 0), at(2, 0))} == {"closed"}
    assert [s["start"][11:16] for s in slots(api, third.json()["id"], at(1, 0), at(2, 0))] == [
        "19:00",
        "20:00",
    ]
