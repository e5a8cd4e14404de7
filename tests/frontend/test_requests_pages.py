"""Residents ask for help; staff turn the request into a need or decline it; a need
can be edited or cancelled. Through the pages and through the API."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from matching.models import Need, ServiceRequest
from tests.conftest import problem

pytestmark = pytest.mark.django_db


def _client(member) -> Client:
    c = Client()
    c.force_login(member)
    return c


def _local(hours: float) -> str:
    return timezone.localtime(timezone.now() + dt.timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M")


def test_resident_request_becomes_a_need(people):
    carol = _client(people.carol)
    assert carol.get("/r/request").status_code == 200
    r = carol.post(
        "/r/request",
        {
            "community": people.community.id,
            "category": "escort",
            "description": "下周二陪我去医院复查",
            "preferred": "上午",
        },
    )
    assert r.status_code == 302
    asked = ServiceRequest.objects.get()
    alice = _client(people.alice)
    board = alice.get("/staff/needs").content.decode()
    assert "下周二陪我去医院复查" in board
    prefilled = alice.get("/staff/needs", {"from_request": asked.id}).content.decode()
    assert "下周二陪我去医院复查" in prefilled and f'value="{asked.id}"' in prefilled
    r = alice.post(
        "/staff/needs",
        {
            "title": "陪同复查",
            "category": "escort",
            "priority": "5",
            "address": "北大深圳医院",
            "lat": "22.55",
            "lon": "114.05",
            "start": _local(30),
            "end": _local(33),
            "headcount": "1",
            "weeks": "1",
            "request_id": asked.id,
            "community": people.community.id,
        },
    )
    assert r.status_code == 302
    asked.refresh_from_db()
    need = Need.objects.get()
    assert asked.status == "accepted" and asked.need == need and need.beneficiary == people.carol
    assert "陪同复查" in carol.get("/r/request").content.decode()


def test_decline_needs_a_reason(people):
    asked = ServiceRequest.objects.create(
        community=people.community, member=people.carol, category="other", description="帮忙修水管"
    )
    alice = _client(people.alice)
    alice.post(f"/staff/requests/{asked.id}/decline", {"note": ""})
    asked.refresh_from_db()
    assert asked.status == "open"
    alice.post(f"/staff/requests/{asked.id}/decline", {"note": "请联系物业维修"})
    asked.refresh_from_db()
    assert asked.status == "declined" and asked.note == "请联系物业维修"


def test_service_request_api(api, people):
    body = {
        "community": people.community.id,
        "category": "elder_care",
        "description": "想找人陪聊天",
    }
    r = api.post("/service-requests", body, as_=people.carol)
    assert r.status_code == 201
    rid = r.json()["id"]
    assert (
        problem(api.post("/service-requests", {**body, "category": "magic"}, as_=people.carol))[
            "code"
        ]
        == "invalid_category"
    )
    assert api.post("/service-requests", body, as_=people.frank).status_code == 403
    assert api.post("/service-requests", body).status_code == 401
    listing = api.get(f"/communities/{people.community.id}/service-requests", as_=people.alice)
    assert [x["id"] for x in listing.json()] == [rid]
    assert (
        api.get(f"/communities/{people.community.id}/service-requests", as_=people.bob).status_code
        == 403
    )
    r = api.post(f"/service-requests/{rid}/handle", {"accept": False}, as_=people.alice)
    assert problem(r)["code"] == "reason_required"
    r = api.post(f"/service-requests/{rid}/handle", {"accept": True}, as_=people.alice)
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    assert (
        problem(api.post(f"/service-requests/{rid}/handle", {"accept": True}, as_=people.alice))[
            "code"
        ]
        == "request_handled"
    )


def test_need_edit_and_cancel(api, people):
    alice = _client(people.alice)
    alice.post(
        "/staff/needs",
        {
            "title": "整理图书",
            "category": "other",
            "priority": "2",
            "address": "图书角",
            "lat": "22.55",
            "lon": "114.05",
            "start": _local(30),
            "end": _local(32),
            "headcount": "2",
            "weeks": "1",
            "community": people.community.id,
        },
    )
    need = Need.objects.get()
    assert alice.get(f"/staff/needs/{need.id}").status_code == 200
    alice.post(
        f"/staff/needs/{need.id}",
        {
            "form": "edit",
            "title": "整理社区图书角",
            "priority": "3",
            "address": "图书角",
            "description": "",
        },
    )
    need.refresh_from_db()
    assert need.title == "整理社区图书角" and need.priority == 3
    r = api.patch(f"/needs/{need.id}", {"priority": 9}, as_=people.alice)
    assert r.status_code == 422
    r = api.patch(f"/needs/{need.id}", {"priority": 4}, as_=people.bob)
    assert r.status_code == 403
    alice.post(f"/staff/needs/{need.id}", {"form": "cancel", "reason": "场地维修"})
    need.refresh_from_db()
    assert need.status == "cancelled"
    assert _client(people.bob).get(f"/staff/needs/{need.id}").status_code == 403
