"""Login, tokens, logout and throttling."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.conftest import problem
from tests.factories import DEFAULT_PASSWORD
from timebank.people.models import ApiToken

pytestmark = pytest.mark.django_db


def test_login_returns_token_and_member(api, people):
    """A phone and password give a bearer token and the member, phone masked."""
    r = api.post("/auth/login", {"phone": people.bob.phone, "password": DEFAULT_PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["member"]["id"] == people.bob.id
    assert body["member"]["phone"] == people.bob.phone[:3] + "****" + people.bob.phone[-4:]
    me = api.get("/me", token=body["token"])
    assert me.status_code == 200
    assert me.json()["roles"] == [{"community": people.community.id, "role": "volunteer"}]


def test_token_is_stored_hashed(api, people):
    """Only the SHA-256 of a token is stored."""
    token = api.post(
        "/auth/login", {"phone": people.bob.phone, "password": DEFAULT_PASSWORD}
    ).json()["token"]
    assert not ApiToken.objects.filter(key_hash=token).exists()
    assert ApiToken.objects.filter(prefix=token[:8], member=people.bob).count() == 1


def test_wrong_password_is_401_bad_credentials(api, people):
    r = api.post("/auth/login", {"phone": people.bob.phone, "password": "wrong-password"})
    assert r.status_code == 401
    assert problem(r)["code"] == "bad_credentials"


def test_unknown_phone_is_401_bad_credentials(api, people):
    r = api.post("/auth/login", {"phone": "13712345678", "password": "whatever-pass"})
    assert problem(r)["code"] == "bad_credentials"


def test_repeated_failures_get_429_even_with_right_password(api, people, settings):
    """After LOGIN_MAX_FAILURES failures the phone is locked out for a while."""
    settings.LOGIN_MAX_FAILURES = 3
    for _ in range(3):
        assert (
            api.post(
                "/auth/login", {"phone": people.bob.phone, "password": "nope-nope"}
            ).status_code
            == 401
        )
    r = api.post("/auth/login", {"phone": people.bob.phone, "password": DEFAULT_PASSWORD})
    assert r.status_code == 429
    assert problem(r)["code"] == "too_many_attempts"
    assert int(r["Retry-After"]) > 0


def test_logout_revokes_the_token(api, people):
    token = api.post(
        "/auth/login", {"phone": people.bob.phone, "password": DEFAULT_PASSWORD}
    ).json()["token"]
    assert api.post("/auth/logout", token=token).status_code == 204
    r = api.get("/me", token=token)
    assert r.status_code == 401
    assert problem(r)["code"] == "token_revoked"


def test_expired_token_is_401(api, people):
    token = api.post(
        "/auth/login", {"phone": people.bob.phone, "password": DEFAULT_PASSWORD}
    ).json()["token"]
    ApiToken.objects.filter(member=people.bob).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    r = api.get("/me", token=token)
    assert r.status_code == 401
    assert problem(r)["code"] == "token_expired"


def test_missing_and_garbage_credentials_are_401(api, people):
    assert problem(api.get("/me"))["code"] == "not_authenticated"
    assert problem(api.get("/me", token="garbage"))["code"] == "invalid_token"


def test_inactive_member_cannot_log_in(api, people):
    people.bob.is_active = False
    people.bob.save()
    r = api.post("/auth/login", {"phone": people.bob.phone, "password": DEFAULT_PASSWORD})
    assert problem(r)["code"] == "bad_credentials"


def test_session_cookie_authenticates_the_api(api, people):
    """The web app's session works on the API; unsafe methods need the CSRF token."""
    api.client.force_login(people.root)
    assert api.get("/me").status_code == 200


def test_session_write_without_csrf_is_rejected():
    from django.test import Client

    from tests.factories import MemberFactory

    root = MemberFactory(is_superuser=True, is_staff=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(root)
    r = client.post(
        "/api/v1/communities",
        data='{"name": "a", "street": "b", "district": "c", "center": {"lat": 1, "lon": 1}}',
        content_type="application/json",
    )
    assert r.status_code in (401, 403)
    assert r["Content-Type"].startswith("application/problem+json")


def test_argon2_is_the_password_hasher():
    from django.conf import settings as real_settings

    from timebank import settings as module

    assert module.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
    assert real_settings.AUTH_USER_MODEL == "people.Member"
