"""Volunteer profiles at /volunteers/me and, for staff, /volunteers/{member}."""

from __future__ import annotations

import pytest

from matching.services import parse_availability
from tests.conftest import problem

pytestmark = pytest.mark.django_db


def test_defaults_on_first_read(api, people):
    body = api.get("/volunteers/me", as_=people.bob).json()
    assert body["member"] == people.bob.id
    assert body["travel_radius_km"] == 3.0
    assert body["languages"] == ["zh"]
    assert body["home"] == {"lat": people.bob.home_lat, "lon": people.bob.home_lon}
    assert body["reliability"] == {"score": 1.0, "completed": 0, "no_shows": 0, "late_cancels": 0}
    assert body["ratings"] == {"average": None, "count": 0, "by_category": []}


def test_update_replaces_only_the_parts_given(api, people):
    r = api.put(
        "/volunteers/me",
        {
            "skills": [{"name": "first_aid", "cert_expires": "2030-01-01"}, {"name": "driving"}],
            "languages": ["zh", "yue"],
            "home": {"lat": 22.55, "lon": 114.05},
            "travel_radius_km": 5,
            "weekly_limit_minutes": 480,
            "preferred_categories": ["elder_care"],
            "availability_text": "mon-fri 18:00-21:00; sat,sun 09:00-12:00",
            "exceptions": [{"date": "2030-02-10", "note": "春节"}],
        },
        as_=people.bob,
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert [s["name"] for s in body["skills"]] == ["first_aid", "driving"]
    assert len(body["availability"]) == 7
    assert body["availability"][0] == {"weekday": 0, "start": "18:00:00", "end": "21:00:00"}
    assert body["exceptions"][0]["available"] is False
    r = api.put("/volunteers/me", {"travel_radius_km": 2}, as_=people.bob)
    assert r.json()["travel_radius_km"] == 2
    assert r.json()["languages"] == ["yue", "zh"]
    assert len(r.json()["availability"]) == 7


def test_quick_availability_entry():
    windows = parse_availability("fri-mon 08:00-09:30")
    assert [w.weekday for w in windows] == [0, 4, 5, 6]
    assert str(windows[0].end) == "09:30:00"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"availability_text": "someday 9-10"}, "invalid_availability"),
        ({"availability_text": "mon 10:00-09:00"}, "invalid_availability"),
        (
            {"availability": [{"weekday": 1, "start": "10:00", "end": "09:00"}]},
            "invalid_availability",
        ),
        ({"exceptions": [{"date": "2030-01-01", "start": "10:00"}]}, "invalid_availability"),
        ({"travel_radius_km": 0}, "validation_error"),
        ({"preferred_categories": ["juggling"]}, "validation_error"),
        ({"availability": [{"weekday": 7, "start": "10:00", "end": "11:00"}]}, "validation_error"),
    ],
)
def test_bad_profile_input_is_422(api, people, body, code):
    r = api.put("/volunteers/me", body, as_=people.bob)
    assert r.status_code == 422, r.content
    assert problem(r)["code"] == code


def test_staff_read_and_edit_others_volunteers_do_not(api, people):
    r = api.get(f"/volunteers/{people.bob.id}", as_=people.alice)
    assert r.status_code == 200
    r = api.put(
        f"/volunteers/{people.bob.id}", {"skills": [{"name": "tutoring"}]}, as_=people.alice
    )
    assert r.status_code == 200
    assert r.json()["skills"] == [{"name": "tutoring", "cert_expires": None}]
    assert api.get(f"/volunteers/{people.bob.id}", as_=people.carol).status_code == 403
    # staff of another community cannot reach this volunteer
    assert api.get(f"/volunteers/{people.frank.id}", as_=people.alice).status_code == 403
    assert api.get("/volunteers/999999", as_=people.alice).status_code == 404
    assert api.get("/volunteers/me").status_code == 401


def test_short_forms_are_accepted(api, people):
    """Plain skill names, day names, `location` and PATCH all work."""
    r = api.patch(
        "/volunteers/me",
        {
            "skills": ["first_aid"],
            "location": {"lat": 22.55, "lon": 114.05},
            "availability": [{"weekday": "sat", "start": "09:00", "end": "12:00"}],
        },
        as_=people.bob,
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["skills"] == [{"name": "first_aid", "cert_expires": None}]
    assert body["home"] == {"lat": 22.55, "lon": 114.05}
    assert body["availability"] == [{"weekday": 5, "start": "09:00:00", "end": "12:00:00"}]
