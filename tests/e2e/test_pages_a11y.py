"""Every page, as the person who uses it, in zh-Hans and English, at 360 px and
at desktop width: axe-core finds no serious or critical violation, nothing
scrolls sideways, and there are no console errors."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import serious_violations

pytestmark = pytest.mark.e2e

PASSWORD = "timebank-demo"
PERSONAS = {
    "social_worker": "13800000001",
    "volunteer": "13800000002",
    "resident": "13800000003",
    "space_manager": "13800000004",
}


@pytest.fixture(scope="module")
def ids(server):
    code = (
        "import json\n"
        "from matching.models import Shift\n"
        "from resources.models import Space\n"
        "s = Shift.objects.order_by('id').first()\n"
        "sp = Space.objects.filter(parent__isnull=True).order_by('id').first()\n"
        "print(json.dumps({'shift': s.id, 'space': sp.id}))\n"
    )
    return json.loads(server.shell(code).strip().splitlines()[-1])


def pages(ids):
    shift, space = ids["shift"], ids["space"]
    return {
        None: ["/", "/login/", "/r/spaces", f"/r/spaces/{space}"],
        "volunteer": [
            "/v/",
            "/v/shifts",
            f"/v/shifts/{shift}",
            "/v/schedule",
            "/v/check-in",
            "/v/hours",
            "/v/profile",
        ],
        "resident": ["/r/reservations", f"/r/spaces/{space}", "/me/data"],
        "social_worker": [
            "/staff/needs",
            "/staff/coverage",
            "/staff/verify",
            "/staff/register",
            "/staff/directory",
            "/staff/dashboard",
            f"/staff/shifts/{shift}/candidates",
        ],
        "space_manager": [
            "/m/spaces",
            f"/m/spaces/{space}/rules",
            f"/m/spaces/{space}/gate",
            f"/m/spaces/{space}/utilisation",
        ],
    }


def login(page, base_url: str, phone: str) -> None:
    page.goto(base_url + "/login/")
    page.fill("#id_username", phone)
    page.fill("#id_password", PASSWORD)
    page.locator("main button[type=submit]").click()
    page.wait_for_url(base_url + "/")


@pytest.mark.parametrize("lang", ["zh-hans", "en"])
@pytest.mark.parametrize("width", [360, 1280])
def test_every_page_is_accessible(server, browser, ids, lang, width):
    problems: list[str] = []
    for persona, paths in pages(ids).items():
        context = browser.new_context(
            viewport={"width": width, "height": 800}, locale="zh-CN", timezone_id="Asia/Shanghai"
        )
        host = server.base_url.split("//")[1].split(":")[0]
        context.add_cookies(
            [{"name": "django_language", "value": lang, "domain": host, "path": "/"}]
        )
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m, errors=errors: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
        if persona:
            login(page, server.base_url, PERSONAS[persona])
        for path in paths:
            response = page.goto(server.base_url + path)
            assert response is not None
            if response.status != 200:
                problems.append(f"{persona} {path}: HTTP {response.status}")
                continue
            expected = "zh-Hans" if lang == "zh-hans" else "en"
            if page.locator("html").get_attribute("lang") != expected:
                problems.append(f"{persona} {path}: lang is not {expected}")
            for v in serious_violations(page):
                targets = [n.get("target") for n in v.get("nodes", [])][:3]
                problems.append(
                    f"{persona} {path} [{lang} {width}px]: {v['id']} ({v['impact']}) {targets}"
                )
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            if overflow > 0:
                problems.append(f"{persona} {path} [{width}px]: scrolls sideways by {overflow}px")
        if errors:
            problems.append(f"{persona}: console errors {errors[:3]}")
        context.close()
    assert not problems, "\n".join(problems)
