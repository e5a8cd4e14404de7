"""`Idempotency-Key` for writes that move hours.

Replaying the same key with the same body returns the first result; the same
key with a different body is 409 `idempotency_conflict`. The record is written
in the same transaction as the write it guards, so a rolled-back write leaves
no record and can be retried.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from timebank.errors import Conflict, field_error
from timebank.models import IdempotencyRecord
from timebank.people.models import Member


def body_hash(body: Any) -> str:
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, default=str, ensure_ascii=False).encode()
    ).hexdigest()


def run_idempotent(
    *,
    member: Member,
    scope: str,
    key: str | None,
    body: Any,
    write: Callable[[], tuple[int, Any]],
) -> tuple[int, Any]:
    """Run `write` (returning status and a JSON-able body) at most once per key.

    Must be called outside any transaction: it opens its own, so the record
    and the write commit together.
    """
    if not key:
        with transaction.atomic(durable=True):
            return write()
    if len(key) > 255:
        raise field_error("Idempotency-Key", _("幂等键过长"), code="invalid_idempotency_key")
    digest = body_hash(body)
    for _attempt in range(2):
        found = IdempotencyRecord.objects.filter(member=member, scope=scope, key=key).first()
        if found is not None:
            if found.request_hash != digest:
                raise Conflict(_("同一幂等键已用于不同的请求内容"), code="idempotency_conflict")
            return found.status, found.body
        try:
            with transaction.atomic(durable=True):
                status, result = write()
                IdempotencyRecord.objects.create(
                    member=member,
                    scope=scope,
                    key=key,
                    request_hash=digest,
                    status=status,
                    body=json.loads(json.dumps(result, default=str)),
                )
                return status, result
        except IntegrityError:
            # A concurrent request with the same key may have won the race;
            # then return its result. Any other integrity error is the write's own.
            if not IdempotencyRecord.objects.filter(member=member, scope=scope, key=key).exists():
                raise
            continue
    raise Conflict(_("请求正在处理中，请稍后重试"), code="idempotency_in_progress")
