"""时间银行账本 endpoints."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["ledger"])
