"""Certificates of verified service (志愿服务证明): issue, check, PDF, revoke."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from tests.conftest import problem
from tests.factories import MemberFactory, member_with_roles
from tests.ledger.conftest import earn
from timebank.ledger.certificates import check_code, mask_name
from timebank.ledger.models import Certificate

pytestmark = pytest.mark.django_db


def period():
    today = timezone.localdate()
    return {"from": (today - dt.timedelta(days=30)).isoformat(), "to": today.isoformat()}


def test_issue_check_and_download(api, funded):
    earn(funded.community, funded.bob, 90, funded.alice, memo="助浴服务", category="care")
    r = api.post("/ledger/certificates", period(), as_=funded.bob)
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["minutes"] == 690
    assert body["check_code"] == check_code(body["number"])
    assert body["number"].startswith("ZY")

    check = api.get(f"/ledger/certificates/{body['number']}?code={body['check_code']}")
    assert check.status_code == 200
    data = check.json()
    assert data["valid"] is True
    assert data["volunteer"] == "王**"
    assert data["minutes"] == 690
    assert data["issuer"] == str(funded.community)
    assert "+08:00" in data["issued_at"]

    pdf = api.client.get(body["pdf_url"])
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    content = pdf.content
    assert content.startswith(b"%PDF")
    assert b"STSong-Light" in content
    cert = Certificate.objects.get(number=body["number"])
    assert len(cert.items) == 2
    assert {i["content"] for i in cert.items} == {"陪伴老人", "助浴服务"}


def test_wrong_code_or_unknown_number_is_not_valid(api, funded):
    number = api.post("/ledger/certificates", period(), as_=funded.bob).json()["number"]
    bad = api.get(f"/ledger/certificates/{number}?code=AAAAAAAA").json()
    assert bad["valid"] is False and bad["volunteer"] is None and bad["minutes"] is None
    unknown = api.get("/ledger/certificates/ZY000?code=AAAAAAAA").json()
    assert unknown["valid"] is False
    assert api.client.get(f"/api/v1/ledger/certificates/{number}/pdf?code=nope").status_code == 404


def test_revoke(api, funded):
    body = api.post("/ledger/certificates", period(), as_=funded.bob).json()
    url = f"/ledger/certificates/{body['number']}/revoke"
    assert api.post(url, {"reason": "重复出具"}, as_=funded.bob).status_code == 403
    assert api.post(url, {"reason": "重复出具"}, as_=funded.frank).status_code == 403
    assert api.post(url, {"reason": "重复出具"}, as_=funded.alice).status_code == 200
    again = api.post(url, {"reason": "重复出具"}, as_=funded.alice)
    assert problem(again)["code"] == "already_revoked"
    check = api.get(f"/ledger/certificates/{body['number']}?code={body['check_code']}").json()
    assert check["valid"] is False and check["reason"] == "revoked"
    assert api.client.get(body["pdf_url"]).status_code == 409


def test_certificate_errors(api, people):
    assert api.post("/ledger/certificates", period()).status_code == 401
    none = api.post("/ledger/certificates", period(), as_=people.bob)
    assert none.status_code == 201
    assert none.json()["minutes"] == 0 and none.json()["issuer"] == people.community.pk
    assert api.client.get(none.json()["pdf_url"]).status_code == 200
    stranger = MemberFactory()
    lonely = api.post("/ledger/certificates", period(), as_=stranger)
    assert problem(lonely)["code"] == "no_verified_service"
    today = timezone.localdate()
    backwards = {"from": today.isoformat(), "to": (today - dt.timedelta(days=1)).isoformat()}
    assert (
        problem(api.post("/ledger/certificates", backwards, as_=people.bob))["code"]
        == "invalid_period"
    )
    assert (
        api.post(
            "/ledger/certificates", {"from": "yesterday", "to": "x"}, as_=people.bob
        ).status_code
        == 422
    )


def test_several_issuers_must_be_chosen(api, funded):
    p = funded
    earn(p.other, p.bob, 30, member_with_roles(p.other, "social_worker"))
    r = api.post("/ledger/certificates", period(), as_=p.bob)
    assert problem(r)["code"] == "issuer_required"
    r = api.post("/ledger/certificates", {**period(), "community": p.other.pk}, as_=p.bob)
    assert r.status_code == 201
    assert r.json()["minutes"] == 30 and r.json()["issuer"] == p.other.pk


def test_reversed_service_is_not_certified(api, funded):
    from timebank.ledger.models import Transfer

    earn_id = Transfer.objects.get().pk
    api.post(f"/ledger/transfers/{earn_id}/reverse", {"reason": "未到岗"}, as_=funded.alice)
    r = api.post("/ledger/certificates", period(), as_=funded.bob)
    assert r.status_code == 201
    assert r.json()["minutes"] == 0


def test_mask_name():
    assert mask_name("王志愿") == "王**"
    assert mask_name("李") == "*"
