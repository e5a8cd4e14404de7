"""Staff pages for people: proxy registration, the directory, and elder mode."""

from __future__ import annotations

import pytest
from django.test import Client

from timebank.people.models import Member

pytestmark = pytest.mark.django_db


def _client(member: Member | None = None) -> Client:
    c = Client()
    if member is not None:
        c.force_login(member)
    return c


def test_social_worker_registers_elder_without_phone(people):
    c = _client(people.alice)
    page = c.get("/staff/register")
    assert page.status_code == 200
    r = c.post(
        "/staff/register",
        {
            "name": "何伯",
            "proxy": "on",
            "roles": ["resident"],
            "birth_date": "1940-02-03",
            "community": people.community.id,
        },
    )
    assert r.status_code == 302
    elder = Member.objects.get(name="何伯")
    assert elder.phone is None and elder.registered_by == people.alice


def test_register_shows_field_errors_inline(people):
    c = _client(people.alice)
    r = c.post(
        "/staff/register",
        {"name": "何伯", "phone": "12345", "roles": ["resident"], "community": people.community.id},
    )
    assert r.status_code == 200
    assert "11位" in r.content.decode()
    assert not Member.objects.filter(name="何伯").exists()


def test_duplicate_phone_is_shown_not_500(people):
    c = _client(people.alice)
    r = c.post(
        "/staff/register",
        {
            "name": "重复",
            "phone": people.bob.phone,
            "roles": ["resident"],
            "community": people.community.id,
        },
    )
    assert r.status_code == 200
    assert "已注册" in r.content.decode()


@pytest.mark.parametrize("who", ["bob", "carol"])
def test_non_staff_cannot_open_staff_pages(people, who):
    c = _client(getattr(people, who))
    assert c.get("/staff/register").status_code == 403
    assert c.get("/staff/directory").status_code == 403


def test_anonymous_is_sent_to_login(people):
    r = _client().get("/staff/directory")
    assert r.status_code == 302 and "/login/" in r["Location"]


def test_directory_masks_phones_and_searches(people):
    c = _client(people.alice)
    r = c.get("/staff/directory", {"q": "王"})
    body = r.content.decode()
    assert "王志愿" in body and "陈居民" not in body
    assert people.bob.phone not in body and people.bob.masked_phone in body
    assert c.get("/staff/directory", {"cursor": "%%%"}).status_code == 200


def test_elder_mode_is_remembered_per_member(people):
    c = _client(people.carol)
    c.post("/prefs/elder-mode", {"on": "1", "next": "/"})
    people.carol.refresh_from_db()
    assert people.carol.elder_mode is True
    other = _client(people.carol)  # a new browser: remembered on the member, not the cookie
    assert 'class="elder"' in other.get("/").content.decode()


def test_login_page_throttles(people, settings):
    settings.LOGIN_MAX_FAILURES = 2
    c = _client()
    for _ in range(2):
        c.post("/login/", {"username": people.bob.phone, "password": "wrong"})
    r = c.post("/login/", {"username": people.bob.phone, "password": "长城-Kite-2026!"})
    assert r.status_code == 429
