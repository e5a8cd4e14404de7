"""A need that requires a shared space books it once its shift is staffed."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from matching.models import Notification, Shift
from matching.tasks import reserve_space
from resources.models import Reservation
from resources.services import space_create
from tests.conftest import problem

pytestmark = pytest.mark.django_db


def tomorrow_at(hour):
    day = timezone.localdate() + dt.timedelta(days=2)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour))).isoformat()


@pytest.fixture
def room(people):
    return space_create(
        actor=people.dave,
        community=people.community,
        name="党群服务中心活动室",
        kind="room",
        mode="exclusive",
        capacity=20,
        lat=22.541,
        lon=114.059,
    )


def test_space_is_booked_once_the_shift_is_staffed(
    api, people, post, room, django_capture_on_commit_callbacks
):
    need = post.need(
        space=room.pk,
        shifts=[{"start": tomorrow_at(10), "end": tomorrow_at(12), "headcount": 1}],
    )
    shift_id = need["shifts"][0]["id"]
    assert need["space"] == room.pk
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        api.post(f"/shifts/{shift_id}/signups", as_=people.bob)
    assert callbacks  # the booking was enqueued after commit
    reservation_id = reserve_space.call(shift_id=shift_id)
    assert reservation_id is not None
    booked = Reservation.objects.get(pk=reservation_id)
    assert booked.need_shift_id == shift_id
    assert Shift.objects.get(pk=shift_id).reservation_id == reservation_id
    assert Notification.objects.filter(member=people.alice, kind="shift.space_reserved").exists()
    # running the task again books nothing twice
    assert reserve_space.call(shift_id=shift_id) == reservation_id
    assert Reservation.objects.filter(need_shift_id=shift_id).count() == 1


def test_a_space_that_cannot_be_booked_is_reported_not_fatal(api, people, post, room):
    need = post.need(
        space=room.pk,
        shifts=[{"start": tomorrow_at(2), "end": tomorrow_at(4), "headcount": 1}],
    )
    shift_id = need["shifts"][0]["id"]
    assert api.post(f"/shifts/{shift_id}/signups", as_=people.bob).status_code == 201
    assert reserve_space.call(shift_id=shift_id) is None
    shift = Shift.objects.get(pk=shift_id)
    assert shift.reservation_id is None
    assert shift.space_note  # e.g. outside opening hours
    assert Notification.objects.filter(member=people.alice, kind="shift.space_failed").exists()


def test_unknown_space_is_422(api, people):
    from tests.matching.conftest import need_body

    r = api.post("/needs", need_body(people.community.id, space=999999), as_=people.alice)
    assert r.status_code == 422
    assert problem(r)["code"] == "space_not_found"


def test_cancelling_the_need_releases_its_room(
    api, people, post, room, django_capture_on_commit_callbacks
):
    need = post.need(
        space=room.pk,
        shifts=[{"start": tomorrow_at(10), "end": tomorrow_at(12), "headcount": 1}],
    )
    shift_id = need["shifts"][0]["id"]
    api.post(f"/shifts/{shift_id}/signups", as_=people.bob)
    reservation_id = reserve_space.call(shift_id=shift_id)
    assert reservation_id is not None
    with django_capture_on_commit_callbacks(execute=True):
        r = api.post(f"/needs/{need['id']}/cancel", {"reason": "天气原因"}, as_=people.alice)
    assert r.status_code == 200
    assert Reservation.objects.get(pk=reservation_id).status == "cancelled"
