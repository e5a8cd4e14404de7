"""需求与志愿服务 endpoints: one router, assembled from the routers of each concept.

Endpoints are thin: parse, call one service or selector, shape.
"""

from __future__ import annotations

from ninja import Router

from matching.endpoints import assignments, needs, runs, volunteers

router = Router(tags=["matching"])
router.add_router("", needs.router)
router.add_router("", assignments.router)
router.add_router("", volunteers.router)
router.add_router("", runs.router)
