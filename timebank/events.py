"""The outbox: record an event inside the transaction, publish it after commit.

`record()` writes an `Event` row (plus one `EventRecipient` per group) in the
caller's transaction. After commit, each group is poked on the channel layer;
the live consumer then reads everything newer than what it last sent from the
outbox, in id order. So a rolled-back change is never announced, a socket that
reconnects with `?since=` loses nothing, and a client never sees ids go down.

Ids are allocated in commit order: on PostgreSQL a transaction-scoped advisory
lock is taken before the insert and held until commit; SQLite serialises
writers anyway. Without that, a reader could see id 7 committed before id 6
and skip 6 forever.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction

from timebank.models import Event, EventRecipient

log = logging.getLogger(__name__)

# Arbitrary, fixed: the key of the advisory lock that orders outbox ids.
OUTBOX_LOCK_KEY = 0x7469_6D65  # "time"
MESSAGE_TYPE = "live.event"


def member_group(member_id: int) -> str:
    """Everything addressed to one member."""
    return f"member-{member_id}"


def staff_group(community_id: int) -> str:
    """The community's social workers, space managers and admins."""
    return f"staff-{community_id}"


def community_group(community_id: int) -> str:
    """Every member with a role in the community: public changes such as seats left."""
    return f"community-{community_id}"


# Superusers' sockets join this group, and every community's staff group.
SUPERUSER_GROUP = "superusers"


def record(groups: str | Iterable[str], type: str, data: dict[str, Any]) -> Event:
    """Write an event for `groups` in the current transaction; publish it after commit."""
    chosen = {groups} if isinstance(groups, str) else set(groups)
    if not chosen:
        raise ValueError("an event needs at least one group")
    if any(g.startswith("staff-") for g in chosen):
        # Superusers are staff of every community, including ones created
        # after their socket connected.
        chosen.add(SUPERUSER_GROUP)
    targets = sorted(chosen)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [OUTBOX_LOCK_KEY])
        event = Event.objects.create(type=type, data=data)
        EventRecipient.objects.bulk_create(
            [EventRecipient(event=event, group=group) for group in targets]
        )
        event_id = event.id
        transaction.on_commit(lambda: publish(event_id, targets))
    return event


def publish(event_id: int, groups: Iterable[str]) -> None:
    """Poke each group's sockets. A failure here loses nothing: the row is committed,
    and clients catch up on their next poke or reconnect."""
    layer = get_channel_layer()
    if layer is None:
        return
    for group in groups:
        try:
            async_to_sync(layer.group_send)(group, {"type": MESSAGE_TYPE, "id": event_id})
        except Exception:
            log.exception("publishing event %s to %s failed", event_id, group)


def as_frame(event: Event) -> dict[str, Any]:
    return {"id": event.id, "type": event.type, "data": event.data}


def events_after(groups: Iterable[str], after_id: int, *, limit: int = 500) -> list[dict[str, Any]]:
    """Committed events for any of `groups` with id > `after_id`, oldest first."""
    ids = (
        EventRecipient.objects.filter(group__in=list(groups), event_id__gt=after_id)
        .values_list("event_id", flat=True)
        .distinct()
        .order_by("event_id")[:limit]
    )
    rows = Event.objects.filter(id__in=list(ids)).order_by("id")
    return [as_frame(e) for e in rows]


def events_after_all(after_id: int, *, limit: int = 1000) -> list[dict[str, Any]]:
    """Committed events of every group with id > `after_id`, oldest first."""
    rows = Event.objects.filter(id__gt=after_id).order_by("id")[:limit]
    return [as_frame(e) for e in rows]


def latest_event_id() -> int:
    last = Event.objects.order_by("-id").values_list("id", flat=True).first()
    return int(last or 0)
