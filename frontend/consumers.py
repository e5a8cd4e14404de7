"""The live websocket `/ws/live/`. It only translates: auth, groups, frames.

Frames are `{"id", "type", "data"}` with strictly increasing ids. A poke from
the channel layer makes the consumer read everything newer than what it last
sent, from the outbox, so nothing is skipped when commits land out of order.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from frontend.live import event_cache, live_groups, outbox_tail
from timebank import events, metrics
from timebank.auth import member_for_token
from timebank.errors import Unauthorized
from timebank.people.models import Member

CLOSE_UNAUTHENTICATED = 4401
CLOSE_BAD_REQUEST = 4400
BATCH = 500


@database_sync_to_async
def _member_from_token(raw: str) -> Member | None:
    try:
        member, _row = member_for_token(raw)
    except Unauthorized:
        return None
    return member


@database_sync_to_async
def _groups_for(member: Member | None) -> list[str]:
    return live_groups(member)


@database_sync_to_async
def _latest() -> int:
    return events.latest_event_id()


class LiveConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    live_groups: list[str]
    last_sent: int
    counted: bool = False

    async def connect(self) -> None:
        self.live_groups = []
        self.last_sent = 0
        query = parse_qs(self.scope.get("query_string", b"").decode())
        member: Member | None = None
        token = (query.get("token") or [""])[0]
        if token:
            member = await _member_from_token(token)
            if member is None:
                await self.accept()
                await self.close(code=CLOSE_UNAUTHENTICATED)
                return
        else:
            user = self.scope.get("user")
            if user is not None and user.is_authenticated and user.is_active:
                member = user
        since_raw = (query.get("since") or [""])[0]
        since: int | None = None
        if since_raw:
            if not since_raw.isdigit():
                await self.accept()
                await self.close(code=CLOSE_BAD_REQUEST)
                return
            since = int(since_raw)
        self.live_groups = await _groups_for(member)
        for group in self.live_groups:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        self.counted = True
        metrics.websocket_opened()
        await self.send_json(
            {"type": "hello", "member": member.id if member else None, "groups": self.live_groups}
        )
        if since is None:
            self.last_sent = await _latest()
        else:
            self.last_sent = since
            await self._catch_up()
        outbox_tail.ensure_running()

    async def disconnect(self, code: int) -> None:
        if self.counted:
            self.counted = False
            metrics.websocket_closed()
        for group in getattr(self, "live_groups", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong", "last_id": self.last_sent})

    async def dispatch(self, message: dict[str, Any]) -> None:
        if message.get("type") == events.MESSAGE_TYPE:
            # A poke. Channels' default dispatch first hops to a thread to close
            # stale database connections, for every message: with a thousand
            # sockets poked at once that hop was most of the fan-out's cost. Most
            # pokes are answered from the process's event cache without the
            # database, and `database_sync_to_async` closes stale connections
            # itself whenever the database is used.
            await self.live_event(message)
            return
        await super().dispatch(message)

    async def live_event(self, message: dict[str, Any]) -> None:
        poked = int(message.get("id", 0))
        if poked <= self.last_sent:
            return
        await self._catch_up(want=poked)

    async def _catch_up(self, want: int | None = None) -> None:
        while True:
            frames = await event_cache.after(self.live_groups, self.last_sent, BATCH, want=want)
            want = None
            for frame in frames:
                await self.send_json(frame)
                self.last_sent = frame["id"]
            if len(frames) < BATCH:
                return
