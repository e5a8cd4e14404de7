"""Write the audit trail. Call inside the transaction of the change you record,
so a rollback takes the audit row with it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.db import models

from timebank.audit.models import AuditEntry

if TYPE_CHECKING:
    from timebank.people.models import Member


def record_audit(
    *,
    actor: Member | int | None,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: int | str | None = None,
    community_id: int | None = None,
    subject_id: int | None = None,
    changes: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one audit row. `obj` fills `object_type` (``app.model``) and `object_id`."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = obj.pk if object_id is None else object_id
    actor_id = actor if isinstance(actor, int) or actor is None else actor.pk
    return AuditEntry.objects.create(
        actor_id=actor_id,
        action=action,
        community_id=community_id,
        object_type=object_type,
        object_id="" if object_id is None else str(object_id),
        subject_id=subject_id,
        changes=changes or {},
    )


def personal_data_viewed(
    *,
    actor: Member,
    members: Iterable[int],
    community_id: int | None,
    via: str,
) -> AuditEntry | None:
    """One row per request in which staff saw unmasked personal data of `members`
    (other than themselves). Nothing is written when the list is empty."""
    ids = sorted({m for m in members if m != actor.pk})
    if not ids:
        return None
    return record_audit(
        actor=actor,
        action="personal_data.viewed",
        object_type="people.member",
        object_id=ids[0] if len(ids) == 1 else "",
        community_id=community_id,
        subject_id=ids[0] if len(ids) == 1 else None,
        changes={"members": ids, "via": via},
    )
