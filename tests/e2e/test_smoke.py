"""The home page renders without console errors, its live socket connects, and
it passes axe-core, keyboard and 360 px checks."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import serious_violations

pytestmark = pytest.mark.e2e

DEMO_STAFF_PHONE = "13800000001"
DEMO_PASSWORD = "timebank-demo"


def test_home_renders_and_live_socket_connects(server, page):
    """Anonymous visitors get the page and an open socket, with no console errors."""
    page.goto(server.base_url + "/")
    assert page.locator("h1").inner_text() == "社区时间银行"
    page.wait_for_selector("html[data-live=open]", timeout=10000)
    assert page.console_errors == []


def test_home_is_accessible_at_360px_and_by_keyboard(server, page):
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(server.base_url + "/")
    page.wait_for_selector("html[data-live=open]", timeout=10000)
    assert serious_violations(page) == []
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 360
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.className")
    assert "skip-link" in focused


def test_login_then_live_event_from_another_process(server, page):
    """A member logs in by the form; an event committed by another process (as the
    task worker would) reaches their open page through the outbox."""
    page.goto(server.base_url + "/login/")
    assert serious_violations(page) == []
    page.fill("#id_username", DEMO_STAFF_PHONE)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit] >> text=登录")
    page.wait_for_url(server.base_url + "/")
    page.wait_for_selector("html[data-live=open]", timeout=10000)
    code = (
        "from django.db import transaction\n"
        "from timebank import events\n"
        "from timebank.people.models import Member\n"
        f"m = Member.objects.get(phone={json.dumps(DEMO_STAFF_PHONE)})\n"
        "with transaction.atomic():\n"
        "    events.record(events.member_group(m.id), 'run.progress', {'best': 1})\n"
    )
    server.shell(code)
    page.wait_for_selector("[data-live-feed] li:has-text('run.progress')", timeout=10000)
    assert page.console_errors == []


def test_english_interface(server, page):
    page.goto(server.base_url + "/")
    page.select_option("#lang-select", "en")
    page.click(".lang-switch button")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("h1").inner_text() == "Community Time Bank"
