"""Cursor pagination: `?limit=&cursor=` → `{items, next_cursor}`.

The cursor is the opaque, base64-encoded key of the last row returned, so a
page never repeats or skips rows when new ones arrive.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, TypeVar

from django.db.models import Model, QuerySet
from django.utils.translation import gettext_lazy as _

from timebank.errors import field_error

M = TypeVar("M", bound=Model)

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Any:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise field_error("cursor", _("分页游标无效"), code="invalid_cursor") from None


def check_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if limit < 1 or limit > MAX_LIMIT:
        raise field_error("limit", _("每页数量须在 1 到 200 之间"), code="invalid_limit")
    return limit


def paginate_by_id(
    queryset: QuerySet[M], *, limit: int | None, cursor: str | None, descending: bool = False
) -> tuple[list[M], str | None]:
    """One page ordered by primary key, and the cursor of the next page (or None)."""
    size = check_limit(limit)
    qs = queryset.order_by("-pk" if descending else "pk")
    if cursor:
        last = decode_cursor(cursor)
        if not isinstance(last, int):
            raise field_error("cursor", _("分页游标无效"), code="invalid_cursor")
        qs = qs.filter(pk__lt=last) if descending else qs.filter(pk__gt=last)
    rows = list(qs[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return rows, (encode_cursor(rows[-1].pk) if more and rows else None)
