"""District-sized runs solved as parts, each a separate task on any worker (分片求解).

`run_execute` hands a problem with more volunteer x shift pairs than
`settings.MATCHING_SPLIT_PAIRS` (default: the optimizer's own `GEO_SPLIT_PAIRS`)
to `start`, which

1. splits it with the optimizer's `plan_parts` (street-sized regions cut around
   the first-come plan, the same split `opt.solve` makes in one process);
2. stores the whole problem and the join state as the run's *join record*, a
   `MatchingRunPart` with `index == run.parts_total` and worker `"join"`, and
   each part as a `MatchingRunPart` (problem JSON, time share), all in one
   transaction, then enqueues one `solve_run_part` task per part on the
   "matching" queue (largest first) after commit.

Each part task solves its part within its time share, never past the run's
shared wall-clock deadline (passed in the task's arguments), stores the
solution JSON, and counts `parts_done` under a row lock on the run, pushing
`run.progress` (parts done, coverage and bound so far). The task that completes
the last part enqueues `finish_run`, which joins the parts (`join_parts`: never
below first come) and stores the result through `run_record_solution`.

A worker that dies leaves its part `running`, and its task is never retried by
the backend. `resume(run_id)` (safe at any time) re-enqueues every part that is
not finished, and the join if they all are. Running a part twice is harmless: a
part already finished is skipped, and a part counts towards `parts_done` only
on its one transition to finished, decided under the run's and the part's row
locks (in that order). Parts of a run that failed or finished are not solved.
The join claims the join record under the same locks, so two `finish_run`
tasks never both record a solution.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import replace
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from matching import optimizer as opt
from matching.models import MatchingRun, MatchingRunPart, RunStatus
from matching.optimizer import parallel
from timebank.events import record, staff_group

log = logging.getLogger(__name__)

JOIN_WORKER = "join"


def split_pairs() -> int:
    return int(getattr(settings, "MATCHING_SPLIT_PAIRS", 0)) or parallel.GEO_SPLIT_PAIRS


def region_shifts() -> int | None:
    value = getattr(settings, "MATCHING_REGION_SHIFTS", None)
    return int(value) if value else None


def worker_count() -> int:
    """Task workers expected on the "matching" queue: the parts' lanes."""
    return max(1, int(getattr(settings, "MATCHING_WORKERS", 2)))


def wanted(problem: opt.Problem) -> bool:
    """Whether `problem` is district-sized: solved as parts on separate tasks."""
    return len(problem.volunteers) * len(problem.shifts) > split_pairs()


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def _progress(run: MatchingRun, payload: dict[str, Any]) -> None:
    """Caller holds the transaction (and the run's lock)."""
    run.progress = payload
    run.save(update_fields=["progress"])
    record(staff_group(run.community_id), "run.progress", {"run": run.pk, **payload})


def fail(run_id: int, error: str) -> None:
    """Mark a running run failed and tell the staff; its remaining parts are dropped."""
    with transaction.atomic(durable=True):
        run = MatchingRun.objects.select_for_update(no_key=True).get(pk=run_id)
        if run.status != RunStatus.RUNNING:
            return
        run.status = RunStatus.FAILED
        run.error = error[:500]
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "error", "finished_at"])
        record(
            staff_group(run.community_id),
            "run.finished",
            {"run": run.pk, "kind": run.kind, "status": run.status, "error": run.error},
        )


def start(*, run: MatchingRun, problem: opt.Problem, elapsed_s: float = 0.0) -> MatchingRun:
    """Split a running run's problem into parts and enqueue their tasks."""
    t0 = time.monotonic()
    plan = parallel.plan_parts(
        problem,
        time_limit_s=float(run.time_limit_s),
        workers=worker_count(),
        split_pairs=split_pairs(),
        region_shifts=region_shifts(),
        elapsed_s=elapsed_s,
    )
    whole = opt.problem_to_dict(problem)
    docs = [opt.problem_to_dict(p) for p in plan.parts]
    # Wall clock, shared by every worker: a part that starts late gets what is left.
    deadline = time.time() + plan.seconds
    n = len(plan.parts)
    with transaction.atomic(durable=True):
        locked = MatchingRun.objects.select_for_update(no_key=True).get(pk=run.pk)
        if locked.status != RunStatus.RUNNING or locked.parts_total:
            return locked
        MatchingRunPart.objects.create(
            run=locked,
            index=n,
            problem=whole,
            solution={"state": plan.state},
            time_limit_s=0,
            worker=JOIN_WORKER,
        )
        parts = MatchingRunPart.objects.bulk_create(
            [
                MatchingRunPart(run=locked, index=i, problem=doc, time_limit_s=plan.time_limits[i])
                for i, doc in enumerate(docs)
            ]
        )
        locked.parts_total = n
        locked.parts_done = 0
        locked.save(update_fields=["parts_total", "parts_done"])
        _progress(
            locked,
            {
                "stage": "parts",
                "parts_done": 0,
                "parts_total": n,
                "objective": 0,
                "bound": 0,
                "elapsed_s": round(elapsed_s + time.monotonic() - t0, 2),
            },
        )
        order = sorted(range(n), key=lambda i: -plan.time_limits[i])
        ids = [parts[i].pk for i in order]

        def enqueue() -> None:
            from matching.tasks import solve_run_part

            for part_id in ids:
                solve_run_part.enqueue(part_id=part_id, deadline=deadline)

        transaction.on_commit(enqueue)
    run.refresh_from_db()
    return run


def solve_part(*, part_id: int, deadline: float) -> str:
    """Solve one part (called by the task worker); see the module docstring."""
    with transaction.atomic(durable=True):
        part = (
            MatchingRunPart.objects.select_for_update(no_key=True)
            .select_related("run")
            .filter(pk=part_id)
            .first()
        )
        if part is None:
            return "gone"
        if part.status == RunStatus.FINISHED or part.run.status != RunStatus.RUNNING:
            return str(part.status)
        part.status = RunStatus.RUNNING
        part.worker = _worker_id()
        part.save(update_fields=["status", "worker"])
    run_id = part.run_id
    t0 = time.monotonic()
    try:
        problem = opt.problem_from_dict(part.problem)
        limit = max(0.5, min(part.time_limit_s, deadline - time.time()))
        threads = max(1, (os.cpu_count() or 1) // worker_count())
        solution = opt.solve_one(problem, time_limit_s=limit, workers=threads)
    except Exception as exc:
        log.exception("part %s of matching run %s failed", part_id, run_id)
        with transaction.atomic(durable=True):
            MatchingRunPart.objects.filter(pk=part_id).exclude(status=RunStatus.FINISHED).update(
                status=RunStatus.FAILED
            )
        fail(run_id, f"part {part.index}: {exc}")
        return str(RunStatus.FAILED)
    seconds = time.monotonic() - t0
    with transaction.atomic(durable=True):
        run = MatchingRun.objects.select_for_update(no_key=True).get(pk=run_id)
        part = MatchingRunPart.objects.select_for_update(no_key=True).get(pk=part_id)
        if part.status == RunStatus.FINISHED or run.status != RunStatus.RUNNING:
            return str(part.status)
        part.solution = opt.solution_to_dict(solution)
        part.status = RunStatus.FINISHED
        part.seconds = round(seconds, 3)
        part.save(update_fields=["solution", "status", "seconds"])
        run.parts_done += 1
        run.save(update_fields=["parts_done"])
        before = run.progress or {}
        _progress(
            run,
            {
                "stage": "parts",
                "parts_done": run.parts_done,
                "parts_total": run.parts_total,
                "objective": int(before.get("objective", 0)) + solution.objective.coverage,
                "bound": int(before.get("bound", 0)) + solution.objective.coverage_bound,
                "elapsed_s": round((timezone.now() - run.created_at).total_seconds(), 2),
            },
        )
        if run.parts_done >= run.parts_total:
            transaction.on_commit(lambda: _enqueue_finish(run_id))
    return str(RunStatus.FINISHED)


def _enqueue_finish(run_id: int) -> None:
    from matching.tasks import finish_run

    finish_run.enqueue(run_id=run_id)


def finish(*, run_id: int) -> MatchingRun:
    """Join the finished parts into the run's solution and record it."""
    from matching.services.runs import run_record_solution

    with transaction.atomic(durable=True):
        run = (
            MatchingRun.objects.select_for_update(no_key=True)
            .select_related("community")
            .get(pk=run_id)
        )
        if run.status != RunStatus.RUNNING or not run.parts_total:
            return run
        join = MatchingRunPart.objects.select_for_update(no_key=True).get(
            run=run, index=run.parts_total
        )
        unfinished = (
            run.parts.filter(index__lt=run.parts_total).exclude(status=RunStatus.FINISHED).exists()
        )
        if unfinished or join.status != RunStatus.QUEUED:
            return run  # parts still out, or another task is joining
        join.status = RunStatus.RUNNING
        join.save(update_fields=["status"])
        _progress(run, {**(run.progress or {}), "stage": "joining"})
    t0 = time.monotonic()
    try:
        problem = opt.problem_from_dict(join.problem)
        parts = run.parts.filter(index__lt=run.parts_total).order_by("index")
        solutions = [opt.solution_from_dict(p.solution) for p in parts]
        state = (join.solution or {}).get("state", {})
        solution = parallel.join_parts(problem, state, solutions)
    except Exception as exc:
        log.exception("joining matching run %s failed", run_id)
        fail(run_id, f"join: {exc}")
        run.refresh_from_db()
        return run
    MatchingRunPart.objects.filter(pk=join.pk).update(
        status=RunStatus.FINISHED, seconds=round(time.monotonic() - t0, 3)
    )
    # The run's solve time is its wall time, split and join included.
    elapsed = (timezone.now() - run.created_at).total_seconds()
    return run_record_solution(
        run=run, problem=problem, solution=replace(solution, solve_seconds=elapsed)
    )


def resume(run_id: int) -> int:
    """Re-enqueue what a dead worker left behind: every part of a running run that is
    not finished, or the join if all are. Returns the number of tasks enqueued."""
    from matching.tasks import finish_run, solve_run_part

    run = MatchingRun.objects.filter(pk=run_id).first()
    if run is None or run.status != RunStatus.RUNNING or not run.parts_total:
        return 0
    left = list(
        run.parts.filter(index__lt=run.parts_total)
        .exclude(status=RunStatus.FINISHED)
        .values_list("pk", "time_limit_s")
    )
    for part_id, limit in left:
        solve_run_part.enqueue(part_id=part_id, deadline=time.time() + limit)
    if left:
        return len(left)
    MatchingRunPart.objects.filter(run=run, index=run.parts_total).exclude(
        status=RunStatus.FINISHED
    ).update(status=RunStatus.QUEUED)
    finish_run.enqueue(run_id=run_id)
    return 1
