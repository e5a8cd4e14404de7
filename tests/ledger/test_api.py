"""The time-bank endpoints of API.md, with their status and error codes."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from tests.conftest import problem
from tests.factories import member_with_roles
from tests.ledger.conftest import assert_verified, earn
from timebank.ledger.models import Account, AccountKind, Transfer, TransferKind
from timebank.ledger.selectors import policy_for
from timebank.people.models import Relation

pytestmark = pytest.mark.django_db


def relate(a, b, community, kind="child"):
    inverse = {"child": "parent", "parent": "child", "spouse": "spouse"}[kind]
    Relation.objects.create(member=a, relative=b, relation=kind, community=community)
    Relation.objects.create(member=b, relative=a, relation=inverse, community=community)


def balance(member):
    account = Account.objects.filter(member=member).first()
    return account.balance_minutes if account else 0


# --- GET /ledger/me and the statement ----------------------------------------


def test_me_needs_a_credential(api):
    assert problem(api.get("/ledger/me"))["code"] == "not_authenticated"
    assert api.get("/ledger/me").status_code == 401


def test_me_shows_balance_earned_and_spent(api, funded):
    p = funded
    p.bob.birth_date = dt.date(1950, 1, 1)
    p.bob.save()
    assert (
        api.post(
            "/ledger/redemptions", {"community": p.community.pk, "minutes": 100}, as_=p.bob
        ).status_code
        == 201
    )
    body = api.get("/ledger/me", as_=p.bob).json()
    assert body["balance_minutes"] == 500
    assert body["earned_minutes"] == 600
    assert body["spent_minutes"] == 100


def test_me_for_a_member_without_account_is_zero(api, people):
    body = api.get("/ledger/me", as_=people.carol).json()
    assert body["balance_minutes"] == 0 and body["earned_minutes"] == 0


def test_statement_is_newest_first_with_running_balance(api, people):
    for minutes in (10, 20, 30):
        earn(people.community, people.bob, minutes, people.alice)
    page = api.get("/ledger/me/entries?limit=2", as_=people.bob).json()
    assert [i["minutes"] for i in page["items"]] == [30, 20]
    assert [i["balance_after"] for i in page["items"]] == [60, 30]
    assert page["items"][0]["counterparty"].endswith("发行账户")
    assert page["next_cursor"]
    rest = api.get(
        f"/ledger/me/entries?limit=2&cursor={page['next_cursor']}", as_=people.bob
    ).json()
    assert [i["balance_after"] for i in rest["items"]] == [10]
    assert rest["next_cursor"] is None
    assert "+08:00" in rest["items"][0]["created_at"]


def test_statement_bad_cursor_is_422(api, people):
    r = api.get("/ledger/me/entries?cursor=!!", as_=people.bob)
    assert r.status_code == 422
    assert problem(r)["code"] == "invalid_cursor"


def test_statement_csv(api, funded):
    r = api.get("/ledger/me/entries.csv", as_=funded.bob)
    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/csv")
    text = r.content.decode("utf-8-sig")
    lines = text.strip().splitlines()
    assert lines[0].startswith("时间,类型")
    assert ",earn," in lines[1] and ",600,600," in lines[1]


def test_yearly_summary(api, funded):
    year = timezone.localdate().year
    body = api.get(f"/ledger/me/summary?year={year}", as_=funded.bob).json()
    assert body["opening_balance_minutes"] == 0
    assert body["closing_balance_minutes"] == 600
    assert body["by_kind"] == [{"kind": "earn", "in": 600, "out": 0}]
    assert sum(m["in"] for m in body["by_month"]) == 600
    assert api.get("/ledger/me/summary?year=1800", as_=funded.bob).status_code == 422


# --- gifts ---------------------------------------------------------------------


def test_gift_to_a_relative(api, funded):
    p = funded
    relate(p.bob, p.carol, p.community)
    r = api.post("/ledger/gifts", {"to": p.carol.pk, "minutes": 120}, as_=p.bob)
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["kind"] == "gift"
    assert sorted(e["minutes"] for e in body["entries"]) == [-120, 120]
    assert balance(p.bob) == 480 and balance(p.carol) == 120
    assert_verified()


def test_gift_to_a_non_relative_is_403(api, funded):
    r = api.post("/ledger/gifts", {"to": funded.carol.pk, "minutes": 10}, as_=funded.bob)
    assert r.status_code == 403
    assert problem(r)["code"] == "not_a_relative"
    assert balance(funded.carol) == 0


def test_gift_to_anyone_when_the_policy_allows(api, funded):
    policy = policy_for(funded.community)
    policy.gift_scope = "anyone"
    policy.save()
    assert (
        api.post(
            "/ledger/gifts", {"to": funded.carol.pk, "minutes": 10}, as_=funded.bob
        ).status_code
        == 201
    )


def test_gift_insufficient_balance_is_409(api, funded):
    relate(funded.bob, funded.carol, funded.community)
    r = api.post("/ledger/gifts", {"to": funded.carol.pk, "minutes": 601}, as_=funded.bob)
    assert r.status_code == 409
    assert problem(r)["code"] == "insufficient_balance"
    assert balance(funded.bob) == 600
    assert Transfer.objects.count() == 1


def test_gift_to_self_is_422(api, funded):
    r = api.post("/ledger/gifts", {"to": funded.bob.pk, "minutes": 10}, as_=funded.bob)
    assert r.status_code == 422
    assert problem(r)["code"] == "gift_to_self"


def test_gift_to_unknown_member_is_404(api, funded):
    r = api.post("/ledger/gifts", {"to": 999999, "minutes": 10}, as_=funded.bob)
    assert r.status_code == 404
    assert problem(r)["code"] == "member_not_found"


@pytest.mark.parametrize("minutes", [0, -10, 1.5, 2.0])
def test_gift_bad_minutes_is_422(api, funded, minutes):
    relate(funded.bob, funded.carol, funded.community)
    r = api.post("/ledger/gifts", {"to": funded.carol.pk, "minutes": minutes}, as_=funded.bob)
    assert r.status_code == 422
    assert problem(r)["code"] == "invalid_minutes"
    assert Transfer.objects.count() == 1


@pytest.mark.parametrize("minutes", ["10", None, True])
def test_gift_non_numbers_are_422(api, funded, minutes):
    r = api.post("/ledger/gifts", {"to": funded.carol.pk, "minutes": minutes}, as_=funded.bob)
    assert r.status_code == 422
    assert problem(r)["code"] in {"validation_error", "invalid_minutes"}


def test_malformed_json_is_400(api, funded):
    r = api.post("/ledger/gifts", raw="{not json", as_=funded.bob)
    assert r.status_code == 400


def test_gift_idempotency(api, funded):
    relate(funded.bob, funded.carol, funded.community)
    headers = {"Idempotency-Key": "gift-1"}
    body = {"to": funded.carol.pk, "minutes": 50}
    first = api.post("/ledger/gifts", body, as_=funded.bob, headers=headers)
    again = api.post("/ledger/gifts", body, as_=funded.bob, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert balance(funded.carol) == 50
    other = api.post("/ledger/gifts", {**body, "minutes": 60}, as_=funded.bob, headers=headers)
    assert other.status_code == 409
    assert problem(other)["code"] == "idempotency_conflict"
    assert balance(funded.carol) == 50
    assert str(Transfer.objects.get(kind="gift").idempotency_key).endswith(":gift-1")


# --- donations, grants ----------------------------------------------------------


def test_donation_to_the_pool_then_a_grant(api, funded):
    p = funded
    r = api.post("/ledger/donations", {"minutes": 200, "community": p.community.pk}, as_=p.bob)
    assert r.status_code == 201
    pool = Account.objects.get(community=p.community, kind=AccountKind.POOL)
    assert pool.balance_minutes == 200
    elder = member_with_roles(p.community, "resident", name="刘奶奶")
    grant = {"community": p.community.pk, "to": elder.pk, "minutes": 150, "memo": "困难老人"}
    assert api.post("/ledger/grants", grant, as_=p.bob).status_code == 403
    assert api.post("/ledger/grants", grant, as_=p.erin).status_code == 201
    assert balance(elder) == 150
    too_much = api.post("/ledger/grants", grant, as_=p.erin)
    assert too_much.status_code == 409
    assert problem(too_much)["code"] == "insufficient_balance"
    assert_verified()


def test_donation_unknown_community_is_404(api, funded):
    r = api.post("/ledger/donations", {"minutes": 10, "community": 999999}, as_=funded.bob)
    assert r.status_code == 404
    assert problem(r)["code"] == "community_not_found"


def test_donation_insufficient_is_409(api, people):
    r = api.post(
        "/ledger/donations", {"minutes": 10, "community": people.community.pk}, as_=people.carol
    )
    assert r.status_code == 409
    assert problem(r)["code"] == "insufficient_balance"
    assert not Transfer.objects.exists()


def test_donation_idempotent_replay(api, funded):
    h = {"Idempotency-Key": "d1"}
    body = {"minutes": 10, "community": funded.community.pk}
    a = api.post("/ledger/donations", body, as_=funded.bob, headers=h)
    b = api.post("/ledger/donations", body, as_=funded.bob, headers=h)
    assert a.json()["id"] == b.json()["id"]
    assert balance(funded.bob) == 590


# --- redemption ---------------------------------------------------------------


def test_redemption_under_age_is_403(api, funded):
    funded.bob.birth_date = dt.date(1990, 5, 1)
    funded.bob.save()
    r = api.post(
        "/ledger/redemptions", {"community": funded.community.pk, "minutes": 60}, as_=funded.bob
    )
    assert r.status_code == 403
    assert problem(r)["code"] == "under_redemption_age"
    assert balance(funded.bob) == 600


def test_redemption_by_a_spouse_of_age(api, funded):
    p = funded
    p.bob.birth_date = dt.date(1990, 5, 1)
    p.bob.save()
    spouse = member_with_roles(p.community, "resident", birth_date=dt.date(1955, 3, 3))
    relate(p.bob, spouse, p.community, "spouse")
    r = api.post("/ledger/redemptions", {"community": p.community.pk, "minutes": 60}, as_=p.bob)
    assert r.status_code == 201
    assert balance(p.bob) == 540


def test_redemption_in_mutual_credit_pays_the_provider_within_the_limit(api, people):
    p = people
    policy = policy_for(p.community)
    policy.mode = "mutual_credit"
    policy.credit_limit_minutes = 100
    policy.save()
    body = {"community": p.community.pk, "minutes": 100, "provider": p.bob.pk}
    assert api.post("/ledger/redemptions", body, as_=p.carol).status_code == 201
    assert balance(p.carol) == -100 and balance(p.bob) == 100
    again = api.post("/ledger/redemptions", {**body, "minutes": 1}, as_=p.carol)
    assert again.status_code == 409
    assert problem(again)["code"] == "insufficient_balance"
    no_provider = api.post(
        "/ledger/redemptions", {"community": p.community.pk, "minutes": 1}, as_=p.carol
    )
    assert problem(no_provider)["code"] == "provider_required"
    assert_verified()


def test_staff_redeem_for_a_member(api, funded):
    p = funded
    p.bob.birth_date = dt.date(1950, 1, 1)
    p.bob.save()
    body = {"community": p.community.pk, "minutes": 30, "member": p.bob.pk}
    assert api.post("/ledger/redemptions", body, as_=p.carol).status_code == 403
    assert api.post("/ledger/redemptions", body, as_=p.alice).status_code == 201
    assert balance(p.bob) == 570


def test_redeem_elsewhere_shows_in_the_clearing_report(api, funded):
    """通存通兑: bob's hours from one community are redeemed in another."""
    p = funded
    p.bob.birth_date = dt.date(1950, 1, 1)
    p.bob.save()
    assert (
        api.post(
            "/ledger/redemptions", {"community": p.other.pk, "minutes": 90}, as_=p.bob
        ).status_code
        == 201
    )
    today = timezone.localdate().isoformat()
    admin_other = member_with_roles(p.other, "admin")
    r = api.get(f"/ledger/clearing?community={p.other.pk}&from={today}&to={today}", as_=admin_other)
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["items"] == [
        {
            "issuer": p.community.pk,
            "issuer_name": p.community.name,
            "redeemed_in": p.other.pk,
            "redeemed_in_name": p.other.name,
            "minutes": 90,
            "owed_to_community": True,
        }
    ]
    mine = api.get(
        f"/ledger/clearing?community={p.community.pk}&from={today}&to={today}", as_=p.erin
    ).json()
    assert mine["items"][0]["owed_to_community"] is False
    assert (
        api.get(
            f"/ledger/clearing?community={p.community.pk}&from={today}&to={today}", as_=p.alice
        ).status_code
        == 403
    )


# --- reversal -----------------------------------------------------------------


def test_reverse_by_social_worker_tells_both_parties(api, funded):
    p = funded
    relate(p.bob, p.carol, p.community)
    gift = api.post("/ledger/gifts", {"to": p.carol.pk, "minutes": 100}, as_=p.bob).json()
    r = api.post(f"/ledger/transfers/{gift['id']}/reverse", {"reason": "误操作"}, as_=p.alice)
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["kind"] == "reverse" and body["reverses"] == gift["id"]
    assert balance(p.bob) == 600 and balance(p.carol) == 0
    from timebank.models import Event

    reversal_events = Event.objects.filter(data__transfer=body["id"])
    groups = {rcp.group for e in reversal_events for rcp in e.recipients.all()}
    assert groups == {f"member-{p.bob.pk}", f"member-{p.carol.pk}"}
    twice = api.post(f"/ledger/transfers/{gift['id']}/reverse", {"reason": "再来"}, as_=p.alice)
    assert twice.status_code == 409
    assert problem(twice)["code"] == "already_reversed"
    assert_verified()


def test_reverse_permissions_and_errors(api, funded):
    tid = Transfer.objects.get().pk
    assert api.post(f"/ledger/transfers/{tid}/reverse", {"reason": "x"}).status_code == 401
    assert (
        problem(api.post(f"/ledger/transfers/{tid}/reverse", {"reason": "x"}, as_=funded.bob))[
            "code"
        ]
        == "forbidden"
    )
    assert (
        api.post(f"/ledger/transfers/{tid}/reverse", {"reason": "x"}, as_=funded.frank).status_code
        == 403
    )
    missing = api.post("/ledger/transfers/999999/reverse", {"reason": "x"}, as_=funded.alice)
    assert missing.status_code == 404
    assert problem(missing)["code"] == "transfer_not_found"
    blank = api.post(f"/ledger/transfers/{tid}/reverse", {"reason": "  "}, as_=funded.alice)
    assert problem(blank)["code"] == "reason_required"


def test_reverse_of_spent_hours_is_409(api, funded):
    p = funded
    p.bob.birth_date = dt.date(1950, 1, 1)
    p.bob.save()
    api.post("/ledger/redemptions", {"community": p.community.pk, "minutes": 500}, as_=p.bob)
    earn_id = Transfer.objects.get(kind=TransferKind.EARN).pk
    r = api.post(f"/ledger/transfers/{earn_id}/reverse", {"reason": "核查不实"}, as_=p.alice)
    assert r.status_code == 409
    assert problem(r)["code"] == "insufficient_balance"


def test_transfer_detail_for_parties_and_staff(api, funded):
    tid = Transfer.objects.get().pk
    assert api.get(f"/ledger/transfers/{tid}", as_=funded.bob).status_code == 200
    assert api.get(f"/ledger/transfers/{tid}", as_=funded.alice).status_code == 200
    assert api.get(f"/ledger/transfers/{tid}", as_=funded.carol).status_code == 403


# --- earnings recorded by staff --------------------------------------------------


def test_staff_record_earning_once(api, people):
    body = {
        "community": people.community.pk,
        "volunteer": people.bob.pk,
        "minutes": 45,
        "record_key": "paper-7",
    }
    assert api.post("/ledger/earnings", body, as_=people.bob).status_code == 403
    a = api.post("/ledger/earnings", body, as_=people.alice)
    b = api.post("/ledger/earnings", body, as_=people.alice)
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] == b.json()["id"]
    assert balance(people.bob) == 45


# --- policy ---------------------------------------------------------------------


def test_policy_read_and_update(api, people):
    url = f"/communities/{people.community.pk}/policy"
    body = api.get(url, as_=people.bob).json()
    assert body["mode"] == "deposit_only"
    assert body["credit_limit_minutes"] == 1500
    assert body["storage_cap_minutes"] == 90000
    assert body["redemption_age"] == 60
    assert api.put(url, {"mode": "mutual_credit"}, as_=people.alice).status_code == 403
    r = api.put(
        url, {"mode": "mutual_credit", "category_multipliers": {"escort": 1.5}}, as_=people.erin
    )
    assert r.status_code == 200, r.content
    assert r.json()["mode"] == "mutual_credit"
    assert r.json()["category_multipliers"] == {"escort": 1.5}
    bad = api.put(url, {"category_multipliers": {"escort": -1}}, as_=people.erin)
    assert bad.status_code == 422
    assert api.put(url, {"mode": "money"}, as_=people.erin).status_code == 422
    assert api.get("/communities/999999/policy", as_=people.bob).status_code == 404


# --- staff views of a member's ledger, query counts, admin ------------------------


def test_staff_read_a_members_ledger(api, funded):
    p = funded
    url = f"/ledger/members/{p.bob.pk}"
    assert api.get(url, as_=p.alice).json()["balance_minutes"] == 600
    assert api.get(url, as_=p.bob).status_code == 200
    assert problem(api.get(url, as_=p.carol))["code"] == "forbidden"
    assert api.get(url, as_=member_with_roles(p.other, "social_worker")).status_code == 403
    assert problem(api.get("/ledger/members/999999", as_=p.alice))["code"] == "member_not_found"
    entries = api.get(f"{url}/entries", as_=p.erin).json()
    assert [i["balance_after"] for i in entries["items"]] == [600]


def test_statement_query_count_does_not_grow_with_rows(api, people, django_assert_max_num_queries):
    for minutes in range(1, 31):
        earn(people.community, people.bob, minutes, people.alice)
    from timebank.auth import token_issue

    token = token_issue(member=people.bob)[0]
    with django_assert_max_num_queries(8):
        r = api.get("/ledger/me/entries?limit=30", token=token)
    assert len(r.json()["items"]) == 30


def test_admin_is_read_only_and_reverses_through_the_service(client, funded):
    p = funded
    transfer = Transfer.objects.get()
    client.force_login(p.root)
    assert client.get("/admin/ledger/transfer/").status_code == 200
    assert client.get(f"/admin/ledger/transfer/{transfer.pk}/change/").status_code == 200
    assert client.get(f"/admin/ledger/transfer/{transfer.pk}/delete/").status_code == 403
    assert client.get("/admin/ledger/account/").status_code == 200
    r = client.post(
        "/admin/ledger/transfer/",
        {"action": "reverse_selected", "_selected_action": [transfer.pk]},
    )
    assert r.status_code == 302
    assert Transfer.objects.filter(kind=TransferKind.REVERSE, reverses=transfer).exists()
    assert balance(p.bob) == 0
    assert_verified()


def test_admin_operation_form_uses_the_services(client, people):
    client.force_login(people.root)
    url = "/admin/ledger/account/operate/"
    assert client.get(url).status_code == 200
    form = {
        "operation": "earn",
        "community": people.community.pk,
        "member": people.bob.pk,
        "minutes": 45,
        "memo": "纸质签到表",
        "record_key": "paper-1",
    }
    assert client.post(url, form).status_code == 302
    assert client.post(url, form).status_code == 302
    assert balance(people.bob) == 45
    refused = client.post(url, {**form, "operation": "grant", "minutes": 10})
    assert refused.status_code == 200
    assert balance(people.bob) == 45
    assert_verified()


def test_clearing_in_mutual_credit_counts_the_payer_side_net_of_reversals(api, people):
    p = people
    policy = policy_for(p.other)
    policy.mode = "mutual_credit"
    policy.save()
    earn(p.community, p.carol, 200, p.alice)
    body = {"community": p.other.pk, "minutes": 80, "provider": p.frank.pk}
    first = api.post("/ledger/redemptions", body, as_=p.carol).json()
    api.post("/ledger/redemptions", {**body, "minutes": 20}, as_=p.carol)
    admin_other = member_with_roles(p.other, "admin")
    api.post(f"/ledger/transfers/{first['id']}/reverse", {"reason": "未提供服务"}, as_=admin_other)
    today = timezone.localdate().isoformat()
    r = api.get(f"/ledger/clearing?community={p.other.pk}&from={today}&to={today}", as_=admin_other)
    assert [(i["issuer"], i["redeemed_in"], i["minutes"]) for i in r.json()["items"]] == [
        (p.community.pk, p.other.pk, 20)
    ]


def test_gift_tells_both_members_live(api, funded):
    from timebank.models import Event

    relate(funded.bob, funded.carol, funded.community)
    gift = api.post("/ledger/gifts", {"to": funded.carol.pk, "minutes": 25}, as_=funded.bob).json()
    events = {
        (e.type, e.recipients.get().group, e.data["balance_minutes"])
        for e in Event.objects.filter(data__transfer=gift["id"])
    }
    assert events == {
        ("ledger.debited", f"member-{funded.bob.pk}", 575),
        ("ledger.credited", f"member-{funded.carol.pk}", 25),
    }
