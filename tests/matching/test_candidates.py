"""`shift_candidates`: the SQL prefilter drops nobody the plain rules would keep,
and keeps nobody they would drop; ranking and reasons hold."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
from django.utils import timezone

from matching.candidates import shift_candidates
from matching.models import (
    ACTIVE,
    COMMITTED,
    Assignment,
    AssignmentStatus,
    AvailabilityException,
    AvailabilityWindow,
    Need,
    Shift,
    VolunteerProfile,
    VolunteerSkill,
)
from matching.optimizer.geo import haversine_km
from tests.factories import member_with_roles

pytestmark = pytest.mark.django_db

LAT, LON = 22.5410, 114.0590


def _shift(people: Any, start: dt.datetime, *, skills: list[str], languages: list[str]) -> Shift:
    need = Need.objects.create(
        community=people.community,
        title="上门探访",
        category="visit",
        priority=3,
        lat=LAT,
        lon=LON,
        skills=skills,
        languages=languages,
        created_by=people.alice,
    )
    return Shift.objects.create(
        need=need,
        community=people.community,
        start=start,
        end=start + dt.timedelta(hours=2),
        headcount=3,
    )


def _expected(shift: Shift, community_id: int) -> set[int]:
    """The rules, applied plainly to every volunteer of the community."""
    need = shift.need
    day = timezone.localtime(shift.start).date()
    out = set()
    for p in VolunteerProfile.objects.filter(
        member__roles__community_id=community_id, member__roles__role="volunteer"
    ).distinct():
        if Assignment.objects.filter(
            shift=shift, volunteer_id=p.member_id, status__in=ACTIVE
        ).exists():
            continue
        if Assignment.objects.filter(
            volunteer_id=p.member_id, status__in=COMMITTED, start__lt=shift.end, end__gt=shift.start
        ).exists():
            continue
        valid = {
            s.name
            for s in VolunteerSkill.objects.filter(profile=p)
            if s.cert_expires is None or s.cert_expires >= day
        }
        if not set(need.skills) <= valid:
            continue
        if need.languages and not set(need.languages) & set(p.languages):
            continue
        lat, lon = p.home_lat, p.home_lon
        if (
            lat is not None
            and lon is not None
            and haversine_km(lat, lon, need.lat, need.lon) > (p.travel_radius_km)
        ):
            continue
        local_s, local_e = timezone.localtime(shift.start), timezone.localtime(shift.end)
        exception = AvailabilityException.objects.filter(profile=p, date=day).first()
        if exception is not None:
            # A dated exception decides the day: away all day, or free 13-17.
            if exception.available:
                out.add(p.member_id)
            continue
        windows = list(AvailabilityWindow.objects.filter(profile=p))
        if windows and not any(
            w.weekday == local_s.weekday() and w.start <= local_s.time() and local_e.time() <= w.end
            for w in windows
        ):
            continue
        out.add(p.member_id)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_prefilter_agrees_with_the_plain_rules(people, seed, monkeypatch):
    rng = random.Random(seed)
    start = timezone.localtime(timezone.now() + dt.timedelta(days=3)).replace(
        hour=14, minute=0, second=0, microsecond=0
    )
    shift = _shift(people, start, skills=["first_aid"], languages=["yue"])
    other = _shift(people, start + dt.timedelta(hours=1), skills=[], languages=[])
    today = timezone.localdate()
    for i in range(40):
        far = rng.random() < 0.3
        home = (
            None
            if rng.random() < 0.15
            else (
                LAT + rng.uniform(-0.08, 0.08) if far else LAT + rng.uniform(-0.02, 0.02),
                LON + rng.uniform(-0.08, 0.08) if far else LON + rng.uniform(-0.02, 0.02),
            )
        )
        member = member_with_roles(people.community, "volunteer", name=f"候选{seed}-{i}")
        profile = VolunteerProfile.objects.create(
            member=member,
            languages=rng.choice([["zh"], ["zh", "yue"], ["yue"]]),
            home_lat=home[0] if home else None,
            home_lon=home[1] if home else None,
            travel_radius_km=rng.choice([1.0, 3.0, 8.0]),
            preferred_categories=["visit"] if rng.random() < 0.4 else [],
        )
        if rng.random() < 0.7:
            expires = rng.choice(
                [None, today + dt.timedelta(days=30), today - dt.timedelta(days=1)]
            )
            VolunteerSkill.objects.create(profile=profile, name="first_aid", cert_expires=expires)
        if rng.random() < 0.3:
            AvailabilityWindow.objects.create(
                profile=profile,
                weekday=start.weekday() if rng.random() < 0.5 else (start.weekday() + 1) % 7,
                start=dt.time(9),
                end=dt.time(18),
            )
        if rng.random() < 0.15:
            free = rng.random() < 0.5
            AvailabilityException.objects.create(
                profile=profile,
                date=start.date(),
                available=free,
                start=dt.time(13) if free else None,
                end=dt.time(17) if free else None,
            )
        if rng.random() < 0.15:
            Assignment.objects.create(
                shift=other,
                volunteer=member,
                community=people.community,
                status=AssignmentStatus.CONFIRMED,
                start=other.start,
                end=other.end,
            )
        elif rng.random() < 0.1:
            Assignment.objects.create(
                shift=shift,
                volunteer=member,
                community=people.community,
                status=AssignmentStatus.WAITLISTED,
                start=shift.start,
                end=shift.end,
            )
    # Someone of another community never appears, however well they fit.
    VolunteerProfile.objects.create(
        member=people.frank, languages=["yue"], home_lat=LAT, home_lon=LON
    )
    VolunteerSkill.objects.create(profile=people.frank.volunteer_profile, name="first_aid")
    expected = _expected(shift, people.community.id)
    got = shift_candidates(shift=shift, k=1000)
    assert {c.volunteer_id for c in got} == expected
    assert expected, "the instance should leave some candidates"
    assert [c.score for c in got] == sorted((c.score for c in got), reverse=True)
    for c in got:
        assert c.reasons and c.reliability == 1.0
    # Scoring in small batches, nearest first, and stopping early gives exactly
    # the head of the full ranking.
    import matching.candidates as module

    monkeypatch.setattr(module, "BATCH", 3)
    full = [(c.volunteer_id, c.score) for c in got]
    for k in (1, 2, 5, 9):
        assert [(c.volunteer_id, c.score) for c in shift_candidates(shift=shift, k=k)] == full[:k]


def test_reliability_lowers_the_rank_and_is_stated(people):
    start = timezone.localtime(timezone.now() + dt.timedelta(days=3)).replace(
        hour=14, minute=0, second=0, microsecond=0
    )
    shift = _shift(people, start, skills=[], languages=[])
    past = _shift(people, start - dt.timedelta(days=10), skills=[], languages=[])
    a, b = (member_with_roles(people.community, "volunteer") for _ in range(2))
    for m in (a, b):
        VolunteerProfile.objects.create(member=m, languages=["zh"], home_lat=LAT, home_lon=LON)
    for _ in range(2):
        Assignment.objects.create(
            shift=past,
            volunteer=b,
            community=people.community,
            status=AssignmentStatus.NO_SHOW,
            start=past.start,
            end=past.end,
        )
        past = _shift(people, past.start - dt.timedelta(days=1), skills=[], languages=[])
    ranked = [c for c in shift_candidates(shift=shift, k=10) if c.volunteer_id in (a.pk, b.pk)]
    assert [c.volunteer_id for c in ranked] == [a.pk, b.pk]
    assert ranked[1].reliability == round(1 / 3, 3)
    assert any("33%" in r for r in ranked[1].reasons)


def test_the_edges_of_the_prefilter(people):
    """Just inside and just outside each volunteer's own radius, north-south and
    east-west; and a dated exception overriding the weekly windows both ways."""
    import math

    start = timezone.localtime(timezone.now() + dt.timedelta(days=3)).replace(
        hour=14, minute=0, second=0, microsecond=0
    )
    shift = _shift(people, start, skills=[], languages=[])
    km_lat = 111.195
    km_lon = km_lat * math.cos(math.radians(LAT))

    def volunteer(dlat_km: float, dlon_km: float, radius: float = 3.0) -> int:
        m = member_with_roles(people.community, "volunteer")
        VolunteerProfile.objects.create(
            member=m,
            languages=["zh"],
            home_lat=LAT + dlat_km / km_lat,
            home_lon=LON + dlon_km / km_lon,
            travel_radius_km=radius,
        )
        return int(m.pk)

    inside = {
        volunteer(-2.95, 0),
        volunteer(2.95, 0),
        volunteer(0, 2.95),
        volunteer(0, -2.95),
        volunteer(0, 79.5, radius=80),
    }
    outside = {volunteer(-3.05, 0), volunteer(0, 3.05), volunteer(2.2, 2.2)}  # 3.11 km away
    other_day = (start.weekday() + 1) % 7

    def windowed(weekday: int, exception: dict[str, Any] | None) -> int:
        m = member_with_roles(people.community, "volunteer")
        p = VolunteerProfile.objects.create(member=m, languages=["zh"], home_lat=LAT, home_lon=LON)
        AvailabilityWindow.objects.create(
            profile=p, weekday=weekday, start=dt.time(9), end=dt.time(18)
        )
        if exception is not None:
            AvailabilityException.objects.create(profile=p, date=start.date(), **exception)
        return int(m.pk)

    inside |= {
        windowed(other_day, {"available": True, "start": dt.time(13), "end": dt.time(17)}),
        windowed(start.weekday(), None),
    }
    outside |= {
        windowed(start.weekday(), {"available": False}),
        windowed(other_day, None),
    }
    got = {c.volunteer_id for c in shift_candidates(shift=shift, k=100)}
    assert inside <= got
    assert not outside & got
    assert got == _expected(shift, people.community.id)


def test_a_farther_volunteer_with_more_going_for_them_still_ranks_first(people, monkeypatch):
    """Early stopping must not cut off a volunteer who is farther but scores
    higher (a preferred category, past visits to the same person)."""
    import math

    import matching.candidates as module

    monkeypatch.setattr(module, "BATCH", 1)
    start = timezone.localtime(timezone.now() + dt.timedelta(days=3)).replace(
        hour=14, minute=0, second=0, microsecond=0
    )
    shift = _shift(people, start, skills=[], languages=[])
    km_lat = 111.195

    def at_km(km: float, **fields: Any) -> int:
        m = member_with_roles(people.community, "volunteer")
        VolunteerProfile.objects.create(
            member=m, languages=["zh"], home_lat=LAT + km / km_lat, home_lon=LON, **fields
        )
        return int(m.pk)

    near = [at_km(1.0 + 0.1 * i) for i in range(4)]
    keen = at_km(1.4, preferred_categories=["visit"])
    top = shift_candidates(shift=shift, k=1)
    assert [c.volunteer_id for c in top] == [keen]
    assert [c.volunteer_id for c in shift_candidates(shift=shift, k=3)] == [keen, *near[:2]]
    assert math.isclose(top[0].distance_km or 0, 1.4, abs_tol=0.01)
