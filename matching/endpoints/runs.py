"""Matching runs: start one (solved by a task), watch it, apply its proposals."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from ninja import Router

from matching.endpoints.shapes import me_of
from matching.models import MatchingRun
from matching.schemas import ApplyIn, ApplyOut, RunCreatedOut, RunIn, RunOut
from matching.services.common import iso
from matching.services.runs import run_apply, run_create
from timebank import permissions
from timebank.errors import NotFound
from timebank.people.selectors import community_get

router = Router(tags=["matching"])


def _run_for(request: HttpRequest, run_id: int) -> MatchingRun:
    run = MatchingRun.objects.filter(pk=run_id).first()
    if run is None:
        raise NotFound(_("找不到该匹配运行"), code="run_not_found")
    permissions.require(me_of(request), "matching.run", run.community_id)
    return run


def run_out(run: MatchingRun) -> dict[str, Any]:
    proposals = run.proposals.select_related("volunteer", "shift__need").order_by("id")
    return {
        "id": run.pk,
        "community": run.community_id,
        "kind": run.kind,
        "trigger": run.trigger,
        "parts": {"total": run.parts_total, "done": run.parts_done},
        "status": run.status,
        "solver_status": run.solver_status,
        "period": {"from": iso(run.period_start), "to": iso(run.period_end)},
        "progress": run.progress,
        "objective": run.objective,
        "bound": run.bound,
        "unfilled": run.unfilled,
        "error": run.error,
        "proposals": [
            {
                "id": p.id,
                "shift": p.shift_id,
                "volunteer": p.volunteer_id,
                "volunteer_name": p.volunteer.name,
                "title": p.shift.need.title,
                "start": iso(p.start or p.shift.start),
                "end": iso(p.end or p.shift.end),
                "space": p.space_id,
                "status": p.status,
                "reason": p.reason,
            }
            for p in proposals
        ],
    }


@router.post("/matching/runs", response={202: RunCreatedOut}, url_name="matching-run-create")
def create(request: HttpRequest, payload: RunIn) -> tuple[int, dict[str, Any]]:
    run = run_create(
        actor=me_of(request),
        community=community_get(community_id=payload.community),
        start=payload.start,
        end=payload.to,
        time_limit_s=payload.time_limit_s,
    )
    return 202, {"id": run.pk, "status": run.status}


@router.get("/matching/runs/{run_id}", response=RunOut, url_name="matching-run-detail")
def detail(request: HttpRequest, run_id: int) -> dict[str, Any]:
    return run_out(_run_for(request, run_id))


@router.post("/matching/runs/{run_id}/apply", response=ApplyOut, url_name="matching-run-apply")
def apply(request: HttpRequest, run_id: int, payload: ApplyIn | None = None) -> dict[str, Any]:
    """With no `proposal_ids` (or no body), every open proposal is applied."""
    return run_apply(
        actor=me_of(request),
        run=_run_for(request, run_id),
        proposal_ids=payload.proposal_ids if payload else None,
    )
