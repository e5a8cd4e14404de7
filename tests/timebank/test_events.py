"""The outbox and the live socket: commit publishes, rollback stays silent,
`?since=` replays what was missed, and groups are respected."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.db import transaction

from tests.conftest import redis_url, unreachable
from tests.factories import CommunityFactory, member_with_roles
from timebank import events
from timebank.asgi import application
from timebank.auth import token_issue
from timebank.models import Event, EventRecipient

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@database_sync_to_async
def _setup() -> dict[str, Any]:
    c = CommunityFactory()
    volunteer = member_with_roles(c, "volunteer")
    worker = member_with_roles(c, "social_worker")
    return {
        "community": c,
        "volunteer": volunteer,
        "worker": worker,
        "v_token": token_issue(member=volunteer)[0],
        "w_token": token_issue(member=worker)[0],
    }


@database_sync_to_async
def _record(group: str, type_: str, data: dict[str, Any]) -> int:
    with transaction.atomic():
        return events.record(group, type_, data).id


@database_sync_to_async
def _record_then_fail(group: str) -> None:
    try:
        with transaction.atomic():
            events.record(group, "test.rolled_back", {"n": 1})
            raise RuntimeError("the write failed after recording")
    except RuntimeError:
        pass


async def _connect(query: str) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(application, f"/ws/live/?{query}")
    connected, _ = await comm.connect()
    assert connected
    hello = await comm.receive_json_from(timeout=5)
    assert hello["type"] == "hello"
    return comm


async def test_commit_publishes_to_the_member():
    s = await _setup()
    comm = await _connect(f"token={s['v_token']}")
    event_id = await _record(
        events.member_group(s["volunteer"].id), "ledger.credited", {"minutes": 60}
    )
    frame = await comm.receive_json_from(timeout=5)
    assert frame == {"id": event_id, "type": "ledger.credited", "data": {"minutes": 60}}
    await comm.disconnect()


async def test_rollback_announces_nothing():
    s = await _setup()
    comm = await _connect(f"token={s['v_token']}")
    await _record_then_fail(events.member_group(s["volunteer"].id))
    assert await comm.receive_nothing(timeout=0.5)
    assert not await database_sync_to_async(Event.objects.filter(type="test.rolled_back").exists)()
    await comm.disconnect()


async def test_replay_since_returns_everything_missed_in_order():
    s = await _setup()
    group = events.member_group(s["volunteer"].id)
    first = await _record(group, "a.one", {})
    await _record(events.member_group(s["worker"].id), "not.mine", {})
    second = await _record(group, "a.two", {})
    third = await _record(events.staff_group(s["community"].id), "staff.only", {})
    fourth = await _record(
        events.community_group(s["community"].id), "shift.seats_changed", {"seats_left": 2}
    )
    comm = await _connect(f"token={s['v_token']}&since={first - 1}")
    got = [await comm.receive_json_from(timeout=5) for _ in range(3)]
    assert [f["id"] for f in got] == [first, second, fourth]
    assert [f["type"] for f in got] == ["a.one", "a.two", "shift.seats_changed"]
    assert await comm.receive_nothing(timeout=0.3)
    await comm.disconnect()
    # Staff receive their community's staff group too.
    staff = await _connect(f"token={s['w_token']}&since={second}")
    got = [await staff.receive_json_from(timeout=5) for _ in range(2)]
    assert [f["id"] for f in got] == [third, fourth]
    await staff.disconnect()


async def test_ids_strictly_increase_under_many_events():
    s = await _setup()
    comm = await _connect(f"token={s['v_token']}")
    group = events.member_group(s["volunteer"].id)
    for n in range(20):
        await _record(group, "burst.event", {"n": n})
    ids = [(await comm.receive_json_from(timeout=5))["id"] for _ in range(20)]
    assert ids == sorted(ids) and len(set(ids)) == 20
    await comm.disconnect()


async def test_bad_token_is_closed_4401():
    await _setup()
    comm = WebsocketCommunicator(application, "/ws/live/?token=nope")
    connected, _ = await comm.connect()
    assert connected
    out = await comm.receive_output(timeout=5)
    assert out == {"type": "websocket.close", "code": 4401}


async def test_bad_since_is_closed_4400():
    s = await _setup()
    comm = WebsocketCommunicator(application, f"/ws/live/?token={s['v_token']}&since=abc")
    await comm.connect()
    out = await comm.receive_output(timeout=5)
    assert out == {"type": "websocket.close", "code": 4400}


async def test_anonymous_socket_gets_public_events_only():
    s = await _setup()
    comm = await _connect("")
    await _record(events.member_group(s["volunteer"].id), "private.thing", {})
    public_id = await _record("public", "space.opened", {})
    frame = await comm.receive_json_from(timeout=5)
    assert frame["id"] == public_id
    await comm.disconnect()


async def test_events_written_by_another_process_reach_sockets(settings):
    """With the in-memory layer, the outbox tail delivers rows that another process
    (the task worker) committed: here, rows written without a publish."""
    settings.LIVE_OUTBOX_POLL_SECONDS = 0.1
    from frontend.live import outbox_tail

    outbox_tail._task = None
    s = await _setup()
    comm = await _connect(f"token={s['v_token']}")
    await asyncio.sleep(0.2)  # the tail has read its starting point

    @database_sync_to_async
    def write_like_the_worker() -> int:
        with transaction.atomic():
            event = Event.objects.create(type="run.progress", data={"best": 3})
            EventRecipient.objects.create(event=event, group=events.member_group(s["volunteer"].id))
        return event.id

    event_id = await write_like_the_worker()
    frame = await comm.receive_json_from(timeout=5)
    assert frame["id"] == event_id and frame["type"] == "run.progress"
    await comm.disconnect()
    if outbox_tail._task is not None:
        outbox_tail._task.cancel()
    outbox_tail._task = None


async def test_end_to_end_over_real_redis(settings):
    """The same path through channels-redis: commit → Redis → consumer → client."""
    import redis

    url = redis_url()
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError:
        unreachable(f"Redis at {url}")
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [url], "prefix": "timebank-test"},
        }
    }
    channel_layers.backends = {}
    try:
        s = await _setup()
        comm = await _connect(f"token={s['v_token']}")
        event_id = await _record(
            events.member_group(s["volunteer"].id), "assignment.confirmed", {"shift": 7}
        )
        frame = await comm.receive_json_from(timeout=5)
        assert frame["id"] == event_id and frame["data"] == {"shift": 7}
        await _record_then_fail(events.member_group(s["volunteer"].id))
        assert await comm.receive_nothing(timeout=0.5)
        await comm.disconnect()
    finally:
        channel_layers.backends = {}


async def test_cross_site_browser_origin_is_rejected():
    await _setup()
    comm = WebsocketCommunicator(
        application,
        "/ws/live/",
        headers=[(b"origin", b"https://evil.example"), (b"host", b"127.0.0.1")],
    )
    connected, _ = await comm.connect()
    assert not connected
    ok = WebsocketCommunicator(
        application,
        "/ws/live/",
        headers=[(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1")],
    )
    connected, _ = await ok.connect()
    assert connected
    await ok.disconnect()


async def test_record_requires_a_group():
    with pytest.raises(ValueError):
        await database_sync_to_async(events.record)([], "x.y", {})


async def test_superuser_sees_people_events_live():
    """The acceptance path: a superuser logs in, creates a community and a member,
    and receives both events on /ws/live/."""
    from tests.factories import MemberFactory

    @database_sync_to_async
    def make_root() -> str:
        root = MemberFactory(is_superuser=True, is_staff=True)
        return token_issue(member=root)[0]

    token = await make_root()
    comm = await _connect(f"token={token}")

    @database_sync_to_async
    def act() -> None:
        from django.test import Client

        client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
        r = client.post(
            "/api/v1/communities",
            {
                "name": "上沙社区",
                "street": "沙头街道",
                "district": "福田区",
                "center": {"lat": 22.53, "lon": 114.03},
            },
            content_type="application/json",
        )
        assert r.status_code == 201, r.content
        cid = r.json()["id"]
        r = client.post(
            f"/api/v1/communities/{cid}/members",
            {
                "phone": "13700000001",
                "name": "黄义工",
                "password": "Harbour-2026-x",
                "roles": ["volunteer"],
            },
            content_type="application/json",
        )
        assert r.status_code == 201, r.content

    await act()
    first = await comm.receive_json_from(timeout=5)
    assert first["type"] == "community.created"
    # The community did not exist when the socket connected; its staff events
    # still reach the superuser.
    second = await comm.receive_json_from(timeout=5)
    assert second["type"] == "member.registered"
    assert second["data"]["phone"] == "137****0001"
    assert second["id"] > first["id"]
    await comm.disconnect()


async def test_many_sockets_share_one_outbox_read_and_keep_their_groups(settings):
    """The process-wide event cache: a poke to many sockets reads the outbox once,
    and each socket still gets exactly its own groups' events, in order."""
    from frontend import live

    data = await _setup()
    v2 = await database_sync_to_async(member_with_roles)(data["community"], "volunteer")
    v2_token = await database_sync_to_async(lambda: token_issue(member=v2)[0])()
    mine = await _connect(f"token={data['v_token']}")
    other = await _connect(f"token={v2_token}")
    reads = 0
    real = live._events_with_groups

    def counting(after_id: int, limit: int) -> Any:
        nonlocal reads
        reads += 1
        return real(after_id, limit)

    live._events_with_groups = counting
    try:
        community = events.community_group(data["community"].id)
        ids = [await _record(community, "test.everyone", {"n": n}) for n in range(3)]
        private = await _record(events.member_group(data["volunteer"].id), "test.private", {})
        got_mine = [(await mine.receive_json_from(timeout=5))["id"] for _ in range(4)]
        got_other = [(await other.receive_json_from(timeout=5))["id"] for _ in range(3)]
        assert got_mine == [*ids, private]
        assert got_other == ids
        assert await other.receive_nothing(timeout=0.3)
        # Four commits, two sockets: at most one read per commit, not one per socket.
        assert reads <= 4
    finally:
        live._events_with_groups = real
        await mine.disconnect()
        await other.disconnect()


async def test_socket_behind_the_cache_reads_the_outbox_and_misses_nothing(settings):
    """A cache smaller than the backlog evicts old events; a socket that asks from
    before what the cache holds is served from the outbox, without gaps."""
    from frontend import live

    data = await _setup()
    group = events.member_group(data["volunteer"].id)
    first = await _record(group, "test.n", {"n": -1})
    cache = live.EventCache(keep=3, fetch=2)
    assert [f["id"] for f in await cache.after([group], first, 10, want=first)] == []
    ids = [await _record(group, "test.n", {"n": n}) for n in range(8)]
    # Fetching in pages of 2 into a cache of 3: asking from `first` again is older
    # than what the cache holds now, so it comes from the outbox, whole.
    await cache.after([group], ids[-1], 10, want=ids[-1])
    got = await cache.after([group], first, 10)
    assert [f["id"] for f in got] == ids
    assert cache.floor is not None and cache.floor > first
    # Another group's socket sees none of it.
    assert await cache.after(["member-0"], first, 10) == []
