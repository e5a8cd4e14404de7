"""Live delivery helpers shared by the consumer: group choice and outbox tailing."""

from __future__ import annotations

import asyncio
import bisect
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from timebank import events
from timebank.models import EventRecipient
from timebank.people.models import Member
from timebank.permissions import role_map, staff_communities

log = logging.getLogger(__name__)

PUBLIC_GROUP = "public"


def live_groups(member: Member | None) -> list[str]:
    """The groups a socket joins: the member's own, each community they belong to,
    and the staff group of every community where they are staff."""
    if member is None:
        return [PUBLIC_GROUP]
    groups = [PUBLIC_GROUP, events.member_group(member.id)]
    groups += [events.community_group(cid) for cid in sorted(role_map(member))]
    if member.is_superuser:
        # Every staff event is also addressed to this group (see events.record).
        groups.append(events.SUPERUSER_GROUP)
    else:
        groups += [events.staff_group(cid) for cid in staff_communities(member)]
    return groups


def _recipients_after(after_id: int, limit: int = 2000) -> list[tuple[int, str]]:
    rows = (
        EventRecipient.objects.filter(event_id__gt=after_id)
        .order_by("event_id")
        .values_list("event_id", "group")[:limit]
    )
    return list(rows)


class OutboxTail:
    """Pokes this process's sockets for outbox rows that another process wrote.

    Only needed with the in-memory channel layer (the embedded default): the
    task worker's `publish()` lands in the worker's own memory, not here.
    """

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    def ensure_running(self) -> None:
        interval = float(settings.LIVE_OUTBOX_POLL_SECONDS)
        if interval <= 0:
            return
        if self._task is not None and not self._task.done():
            return
        self._task = asyncio.get_running_loop().create_task(self._run(interval))

    async def _run(self, interval: float) -> None:
        last = await database_sync_to_async(events.latest_event_id)()
        layer = get_channel_layer()
        while True:
            await asyncio.sleep(interval)
            try:
                rows = await database_sync_to_async(_recipients_after)(last)
            except Exception:
                log.exception("outbox tail query failed")
                continue
            newest: dict[str, int] = {}
            for event_id, group in rows:
                newest[group] = max(newest.get(group, 0), event_id)
                last = max(last, event_id)
            for group, event_id in newest.items():
                message: dict[str, Any] = {"type": events.MESSAGE_TYPE, "id": event_id}
                await layer.group_send(group, message)


outbox_tail = OutboxTail()


def _events_with_groups(after_id: int, limit: int) -> list[tuple[dict[str, Any], frozenset[str]]]:
    """Committed events newer than `after_id`, oldest first, each with its groups."""
    frames = events.events_after_all(after_id, limit=limit)
    groups: dict[int, set[str]] = {}
    if frames:
        ids = [f["id"] for f in frames]
        for event_id, group in EventRecipient.objects.filter(event_id__in=ids).values_list(
            "event_id", "group"
        ):
            groups.setdefault(event_id, set()).add(group)
    return [(f, frozenset(groups.get(f["id"], ()))) for f in frames]


async def _outbox_after(groups: list[str], after_id: int, limit: int) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = await database_sync_to_async(events.events_after)(
        groups, after_id, limit=limit
    )
    return frames


class EventCache:
    """The newest committed events with their groups, shared by this process's sockets.

    One commit pokes every socket of its groups at once; without this each socket
    would read the outbox itself (a thousand sockets, a thousand queries). Reads
    are single-flight: the first socket to need newer events fetches them for
    everybody, the others wait for it and filter in memory.

    It is only a cache of the outbox, never the truth: event ids are allocated in
    commit order (see `timebank.events.record`), so once a read has seen id N every
    committed event up to N is known, and the cache holds *every* event in
    (`floor`, `upto`]. A socket asking from before `floor` (a reconnect with
    `since=`, a slow socket) reads the outbox directly.
    """

    def __init__(self, keep: int = 4000, fetch: int = 1000) -> None:
        self.keep = keep
        self.fetch = fetch
        self.floor: int | None = None
        self.upto = 0
        # Parallel lists in id order (ids only grow), so a read is one bisect.
        self._ids: list[int] = []
        self._items: list[tuple[dict[str, Any], frozenset[str]]] = []
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _guard(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            # A new event loop (tests run several) starts a new cache.
            self._lock, self._loop = asyncio.Lock(), loop
            self.floor, self.upto, self._ids, self._items = None, 0, [], []
        return self._lock

    async def after(
        self, groups: list[str], after_id: int, limit: int, *, want: int | None = None
    ) -> list[dict[str, Any]]:
        """Frames for any of `groups` newer than `after_id`, oldest first, at most
        `limit`. `want` is the id a poke announced: when the cache already reaches it
        the outbox is not read again; without it the outbox is always read."""
        mine = set(groups)
        async with self._guard():
            if self.floor is None:
                self.floor = self.upto = after_id
            if after_id < self.floor:
                want = -1  # not ours to serve: read the outbox outside the lock
            # Read whole pages until the poked id is known (or, without one, until
            # the outbox has nothing newer): a page may hold only other groups' events.
            while want is None or want > self.upto:
                rows = await database_sync_to_async(_events_with_groups)(self.upto, self.fetch)
                for frame, targets in rows:
                    if frame["id"] > self.upto:
                        self._ids.append(frame["id"])
                        self._items.append((frame, targets))
                        self.upto = frame["id"]
                if len(self._ids) > self.keep:
                    drop = len(self._ids) - self.keep
                    self.floor = max(self.floor, self._ids[drop - 1])
                    del self._ids[:drop], self._items[:drop]
                if len(rows) < self.fetch:
                    break
            behind = after_id < self.floor
            out: list[dict[str, Any]] = []
            if not behind:
                for frame, targets in self._items[bisect.bisect_right(self._ids, after_id) :]:
                    if targets & mine:
                        out.append(frame)
                        if len(out) >= limit:
                            break
        if behind:
            return await _outbox_after(groups, after_id, limit)
        return out


event_cache = EventCache()
