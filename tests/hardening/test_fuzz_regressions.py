"""What the schemathesis run (test_fuzz.py) found, kept as plain tests."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import problem
from tests.factories import CommunityFactory, member_with_roles
from timebank.auth import token_issue

pytestmark = pytest.mark.django_db


def test_certificate_pdf_with_a_non_ascii_code_is_404_not_500(api: Any) -> None:
    # hmac.compare_digest raised TypeError on non-ASCII str.
    r = api.get("/ledger/certificates/%C3%86k%C2%9E/pdf?code=%C2%AAz")
    assert r.status_code == 404
    assert problem(r)["code"] == "certificate_not_found"
    r = api.get("/ledger/certificates/ZY202600010000001/pdf?code=%E4%B8%AD%E6%96%87")
    assert r.status_code == 404


def test_certificate_check_with_a_non_ascii_code_is_not_a_server_error(api: Any) -> None:
    r = api.get("/ledger/certificates/ZY202600010000001?code=%E4%B8%AD%E6%96%87")
    assert r.status_code < 500


def test_opening_hours_in_the_document_are_partial_times(api: Any) -> None:
    # "08:00:00" is what the API sends; JSON Schema's "time" needs an offset.
    spec = api.client.get("/api/openapi.json").json()
    window = spec["components"]["schemas"]["OpeningWindowOut"]["properties"]
    assert window["start"]["format"] == "partial-time"
    assert window["end"]["format"] == "partial-time"


@pytest.mark.parametrize("field", ["availability", "exceptions"])
def test_profile_times_with_an_offset_are_422_not_500(api: Any, field: str) -> None:
    # A time with an offset could not be compared with the wall-clock ones: 500.
    volunteer = member_with_roles(CommunityFactory(), "volunteer")
    token = token_issue(member=volunteer)[0]
    if field == "availability":
        body = {"availability": [{"weekday": 1, "start": "09:00Z", "end": "08:00"}]}
    else:
        body = {
            "exceptions": [
                {"date": "2026-12-08", "available": True, "start": "09:00", "end": "08:00+08:00"}
            ]
        }
    for method in ("PATCH", "PUT"):
        r = api.call(method, "/volunteers/me", body, token=token)
        assert r.status_code == 422, r.content
        assert problem(r)["code"] == "validation_error"
    # Wall-clock times are still accepted.
    ok = {"availability": [{"weekday": 1, "start": "08:00", "end": "09:00"}]}
    r = api.patch("/volunteers/me", ok, token=token)
    assert r.status_code == 200, r.content
    assert r.json()["availability"] == [{"weekday": 1, "start": "08:00:00", "end": "09:00:00"}]


def test_a_nul_byte_is_bad_input_not_an_outage(api: Any) -> None:
    # PostgreSQL refuses NUL in text: DataError, which the API called a 503 outage.
    r = api.post("/auth/login", {"phone": "138\u00000000000", "password": "x"})
    assert r.status_code in (401, 422), r.content  # 401 where the database can hold it
    body = problem(r)
    assert body["code"] in ("bad_credentials", "invalid_data")
    assert "Retry-After" not in r


@pytest.mark.postgres
def test_a_nul_byte_on_postgresql_is_422_invalid_data(api: Any) -> None:
    r = api.post("/auth/login", {"phone": "138\u00000000000", "password": "x"})
    assert r.status_code == 422, r.content
    assert problem(r)["code"] == "invalid_data"
