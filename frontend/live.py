"""Live delivery helpers shared by the consumer: group choice and outbox tailing."""

from __future__ import annotations

import asyncio
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
