"""Journeys across two browsers, with live updates over the socket."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.e2e.test_pages_a11y import login

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def new_page(browser):
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, locale="zh-CN", timezone_id="Asia/Shanghai"
    )
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return context, page


def test_session_seat_cancel_and_live_waitlist_offer(server, browser):
    """A resident takes the last seat of a session and cancels it; a waitlisted
    resident sees the offer arrive live, with its countdown, and accepts it."""
    setup = (
        "import json, datetime as dt\n"
        "from django.utils import timezone\n"
        "from resources import services\n"
        "from timebank.people.models import Member, Community\n"
        "c = Community.objects.order_by('id').first()\n"
        "mgr = Member.objects.get(phone='13800000004')\n"
        "room = services.space_create(actor=mgr, community=c, name='舞蹈小教室', kind='room', mode='session',\n"
        "    capacity=1, lat=c.center_lat, lon=c.center_lon)\n"
        "other = Member.objects.filter(roles__community=c, roles__role='resident').exclude(phone__isnull=True)\n"
        "other = other.exclude(phone='13800000003').order_by('id').first()\n"
        "day = timezone.localdate() + dt.timedelta(days=1)\n"
        "start = timezone.make_aware(dt.datetime.combine(day, dt.time(10)))\n"
        "print(json.dumps({'space': room.id, 'other': other.phone, 'start': start.isoformat(),\n"
        "    'end': (start + dt.timedelta(hours=1)).isoformat()}))\n"
    )
    info = json.loads(server.shell(setup).strip().splitlines()[-1])
    first_ctx, first = new_page(browser)
    second_ctx, second = new_page(browser)
    login(first, server.base_url, "13800000003")
    login(second, server.base_url, info["other"])

    query = urlencode({"space": info["space"], "start": info["start"], "end": info["end"]})
    first.goto(f"{server.base_url}/r/reserve?{query}")
    first.check("#id_accept_terms")
    first.locator("main button[type=submit]").click()
    try:
        first.wait_for_url(server.base_url + "/r/reservations", timeout=10000)
    except Exception:
        shot(first, "journey4-debug")
        raise
    assert first.locator(".qr svg").count() == 1
    shot(first, "journey4-1-reserved")

    second.goto(f"{server.base_url}/r/spaces/{info['space']}?week={info['start'][:10]}")
    slot = second.locator(".slot-full").first
    slot.locator("button", has_text="候补").click()
    second.wait_for_selector("text=已加入候补")
    second.goto(server.base_url + "/r/reservations")
    second.wait_for_selector("html[data-live=open]")
    assert second.locator("time[data-countdown]").count() == 0

    first.locator("button", has_text="取消预约").first.click()
    second.wait_for_selector("time[data-countdown]", timeout=15000)
    shot(second, "journey4-2-offer-live")
    second.check("input[name=accept_terms]")
    second.locator("#my-reservations button[type=submit]", has_text="确认").click()
    second.wait_for_selector(".qr svg")
    shot(second, "journey4-3-accepted")
    assert first.errors == [] and second.errors == []
    first_ctx.close()
    second_ctx.close()
