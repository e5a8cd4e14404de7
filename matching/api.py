"""需求与志愿服务 endpoints."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["matching"])
