"""The matching part of `seed_demo` builds profiles, needs and shifts consistently."""

from __future__ import annotations

import random

import pytest

from matching import demo
from matching.models import ACTIVE, SEAT_HOLDING, Assignment, Shift, VolunteerProfile
from timebank.demo import DemoContext, seed_people

pytestmark = pytest.mark.django_db


def test_demo_seed_is_consistent():
    ctx = DemoContext(rng=random.Random(3), size="community", progress=lambda items, *_: items)
    seed_people(ctx)
    demo.seed(ctx)
    assert VolunteerProfile.objects.count() == len(ctx.volunteers)
    assert Shift.objects.count() >= 12
    mine = Assignment.objects.filter(volunteer__phone="13800000002", status__in=ACTIVE)
    assert mine.count() == 2
    for shift in Shift.objects.all():
        held = Assignment.objects.filter(shift=shift, status__in=SEAT_HOLDING).count()
        assert shift.seats_taken == held <= shift.headcount
