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


def _local_input(hours_from_now: float) -> str:
    import datetime as dt

    from django.utils import timezone

    when = timezone.localtime(timezone.now() + dt.timedelta(hours=hours_from_now))
    return when.strftime("%Y-%m-%dT%H:%M")


def test_need_posted_live_sign_up_and_coverage(server, browser):
    """A social worker posts a need; a volunteer's open shift list shows it live and
    the volunteer signs up; the social worker's coverage page updates live."""
    sw_ctx, sw = new_page(browser)
    vo_ctx, vo = new_page(browser)
    login(sw, server.base_url, "13800000001")
    login(vo, server.base_url, "13800000002")
    vo.goto(server.base_url + "/v/shifts")
    vo.wait_for_selector("html[data-live=open]")
    assert vo.locator("text=冬至包饺子送长者").count() == 0

    sw.goto(server.base_url + "/staff/needs")
    sw.locator("summary").click()
    sw.fill("#id_title", "冬至包饺子送长者")
    sw.select_option("#id_category", "event")
    sw.select_option("#id_priority", "4")
    sw.fill("#id_address", "党群服务中心")
    sw.fill("#id_start", _local_input(50))
    sw.fill("#id_end", _local_input(53))
    sw.fill("#id_headcount", "3")
    sw.locator("form.stack button[type=submit]").click()
    sw.wait_for_selector("text=已发布")

    vo.wait_for_selector("text=冬至包饺子送长者", timeout=15000)
    shot(vo, "journey1-1-need-live")
    sw.goto(server.base_url + "/staff/coverage")
    sw.wait_for_selector("html[data-live=open]")
    row = sw.locator("tr", has_text="冬至包饺子送长者")
    assert "0 / 3" in row.inner_text()

    vo.locator("a", has_text="冬至包饺子送长者").first.click()
    vo.locator("main form button[type=submit]").click()
    vo.wait_for_selector("text=报名成功")
    sw.wait_for_function(
        "() => [...document.querySelectorAll('tr')].some(r => r.innerText.includes('冬至包饺子送长者') && r.innerText.includes('1 / 3'))",
        timeout=15000,
    )
    shot(sw, "journey1-2-coverage-live")
    assert sw.errors == [] and vo.errors == []
    sw_ctx.close()
    vo_ctx.close()


def test_check_in_out_verify_balance_live_and_certificate(server, browser):
    """Check in and out with the shift's code; the social worker verifies; the
    volunteer's balance rises live; a certificate downloads and verifies."""
    setup = (
        "import json, datetime as dt\n"
        "from django.utils import timezone\n"
        "from matching.services.needs import ShiftSpec, need_post\n"
        "from matching.services.signups import signup_create\n"
        "from timebank.people.models import Member, Community\n"
        "c = Community.objects.order_by('id').first()\n"
        "sw = Member.objects.get(phone='13800000001')\n"
        "vo = Member.objects.get(phone='13800000002')\n"
        "start = timezone.now() - dt.timedelta(minutes=50)\n"
        "need = need_post(actor=sw, community=c, title='社区图书角整理', category='other', priority=2,\n"
        "    lat=c.center_lat, lon=c.center_lon, address='图书角', skills=[], languages=[],\n"
        "    shifts=[ShiftSpec(start=start, end=start + dt.timedelta(hours=2), headcount=2)])\n"
        "shift = need.shifts.get()\n"
        "from matching.services.staffing import assignment_assign\n"
        "a = assignment_assign(actor=sw, shift_id=shift.id, volunteer=vo)\n"
        "print(json.dumps({'shift': shift.id, 'assignment': a.id}))\n"
    )
    info = json.loads(server.shell(setup).strip().splitlines()[-1])
    sw_ctx, sw = new_page(browser)
    vo_ctx, vo = new_page(browser)
    login(sw, server.base_url, "13800000001")
    login(vo, server.base_url, "13800000002")

    sw.goto(f"{server.base_url}/staff/shifts/{info['shift']}/candidates")
    code = sw.locator("[data-checkin-code]").inner_text().strip()
    vo.goto(server.base_url + "/v/check-in")
    vo.select_option("#id_assignment", str(info["assignment"]))
    vo.fill("#id_code", code)
    vo.select_option("#id_action", "in")
    vo.locator("form.stack button[type=submit]").click()
    vo.wait_for_selector("text=签到成功")
    vo.goto(server.base_url + "/v/check-in")
    vo.select_option("#id_assignment", str(info["assignment"]))
    vo.fill("#id_code", code)
    vo.select_option("#id_action", "out")
    vo.locator("form.stack button[type=submit]").click()
    vo.wait_for_selector("text=签退成功")

    vo.goto(server.base_url + "/v/hours")
    vo.wait_for_selector("html[data-live=open]")
    before = int(vo.locator("#v-balance dd strong").first.inner_text())
    sw.goto(server.base_url + "/staff/verify")
    card = sw.locator("li.card", has_text="社区图书角整理")
    card.locator("input[name=minutes]").fill("50")
    card.locator("button[type=submit]").click()
    sw.wait_for_selector("text=已核验")
    vo.wait_for_function(
        f"() => parseInt(document.querySelector('#v-balance dd strong').innerText) === {before + 50}",
        timeout=15000,
    )
    shot(vo, "journey3-1-balance-live")

    vo.locator("section[aria-labelledby=cert-h] button[type=submit]").click()
    try:
        vo.wait_for_selector("text=证明已开具", timeout=10000)
    except Exception:
        print("XDEBUG:", vo.url, vo.locator("main").inner_text()[-800:])
        raise
    link = vo.locator("a", has_text="PDF").first
    href = link.get_attribute("href")
    assert href
    pdf = vo.request.get(server.base_url + href)
    assert pdf.status == 200 and pdf.body()[:4] == b"%PDF"
    number = href.split("/certificates/")[1].split("/")[0]
    check = href.split("code=")[1]
    verified = vo.request.get(
        f"{server.base_url}/api/v1/ledger/certificates/{number}?code={check}"
    ).json()
    assert verified["valid"] is True and verified["minutes"] >= 50
    assert sw.errors == [] and vo.errors == []
    sw_ctx.close()
    vo_ctx.close()


def test_run_matching_progress_and_apply_updates_volunteer_live(server, browser):
    """A social worker runs matching; the worker solves it and pushes progress; the
    social worker applies the proposals; an affected volunteer's page updates live."""
    sw_ctx, sw = new_page(browser)
    login(sw, server.base_url, "13800000001")
    sw.goto(server.base_url + "/staff/runs")
    sw.fill("#id_time_limit_s", "3")
    sw.locator("form.stack button[type=submit]").click()
    sw.wait_for_url("**/staff/runs/*")
    sw.wait_for_selector("html[data-live=open]")
    try:
        sw.wait_for_selector("text=采纳", timeout=60000)
    except Exception:
        rid = sw.url.rstrip("/").split("/")[-1]
        print(
            "XDEBUG",
            server.shell(
                "from matching.models import MatchingRun; from django_tasks_db.models import DBTaskResult\n"
                f"r = MatchingRun.objects.get(pk={rid}); print(r.status, r.error, r.progress)\n"
                "print(list(DBTaskResult.objects.values_list('task_path', 'status', 'queue_name')))\n"
            ),
        )
        print("XDEBUG main", sw.locator("main").inner_text()[:600])
        raise
    shot(sw, "journey2-1-run-finished")
    run_id = sw.url.rstrip("/").split("/")[-1]
    code = (
        "import json\n"
        "from matching.models import Proposal\n"
        f"p = Proposal.objects.filter(run_id={run_id}, status='proposed').exclude(volunteer__phone__isnull=True)"
        ".select_related('volunteer').order_by('id').first()\n"
        "print(json.dumps({'phone': p.volunteer.phone if p else None}))\n"
    )
    phone = json.loads(server.shell(code).strip().splitlines()[-1])["phone"]
    assert phone, "the run proposed nobody"
    vo_ctx, vo = new_page(browser)
    login(vo, server.base_url, phone)
    vo.goto(server.base_url + "/v/")
    vo.wait_for_selector("html[data-live=open]")
    before = vo.locator("#v-home li.card").count()
    sw.locator("button", has_text="全部采纳").click()
    sw.wait_for_selector("text=已采纳")
    vo.wait_for_function(
        f"() => document.querySelectorAll('#v-home li.card').length > {before}", timeout=15000
    )
    shot(vo, "journey2-2-volunteer-live")
    assert sw.errors == [] and vo.errors == []
    sw_ctx.close()
    vo_ctx.close()


def test_keyboard_only_sign_up(server, browser):
    """Log in, find a shift and sign up with the keyboard alone; focus stays visible."""
    server.shell(
        "import datetime as dt\n"
        "from django.utils import timezone\n"
        "from matching.services.needs import ShiftSpec, need_post\n"
        "from timebank.people.models import Member, Community\n"
        "c = Community.objects.order_by('id').first()\n"
        "sw = Member.objects.get(phone='13800000001')\n"
        "start = timezone.now() + dt.timedelta(hours=3)\n"
        "need_post(actor=sw, community=c, title='键盘报名测试', category='other', priority=5,\n"
        "    lat=c.center_lat, lon=c.center_lon, address='活动室', skills=[], languages=[],\n"
        "    shifts=[ShiftSpec(start=start, end=start + dt.timedelta(hours=1), headcount=2)])\n"
    )
    ctx, page = new_page(browser)
    page.goto(server.base_url + "/login/")
    # The phone field has focus on arrival, so typing starts at once.
    assert page.evaluate("document.activeElement.id") == "id_username"
    page.keyboard.type("13800000002")
    page.keyboard.press("Tab")
    page.keyboard.type("timebank-demo")
    page.keyboard.press("Enter")
    page.wait_for_url(server.base_url + "/")
    page.goto(server.base_url + "/v/shifts")
    # Tab to the first shift link and follow it.
    for _ in range(60):
        page.keyboard.press("Tab")
        text = page.evaluate("document.activeElement.innerText || ''")
        if "键盘报名测试" in text:
            break
    else:
        raise AssertionError("no shift link reachable by Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    page.keyboard.press("Enter")
    page.wait_for_url("**/v/shifts/*")
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate(
            "document.activeElement.closest('main form') !== null && document.activeElement.type === 'submit'"
        ):
            break
    else:
        raise AssertionError("no sign-up button reachable by Tab")
    page.keyboard.press("Enter")
    page.wait_for_selector(".messages li")
    shot(page, "keyboard-sign-up")
    assert page.errors == []
    ctx.close()
