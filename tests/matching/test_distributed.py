"""District-sized runs solved as parts, each a separate Django Task, end to end
with the real database task backend and its worker (forced onto a small
instance by lowering the split threshold)."""

from __future__ import annotations

import pytest
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult

from matching import optimizer as opt
from matching.models import MatchingRun, MatchingRunPart, Shift
from matching.problem import problem_for
from matching.services import distributed
from matching.tasks import solve_run_part
from tests.matching.conftest import at
from timebank.models import Event

pytestmark = pytest.mark.django_db(transaction=True)

# Two neighbourhoods about 5 km apart: the split makes one region of each.
WEST = (22.541, 114.030)
EAST = (22.541, 114.080)


@pytest.fixture
def split_small(settings):
    settings.MATCHING_SPLIT_PAIRS = 1
    settings.MATCHING_REGION_SHIFTS = 2
    settings.MATCHING_WORKERS = 2


def work(queue: str = "matching") -> None:
    """Run every task that is ready, as `manage.py db_worker --batch` does."""
    Worker(
        queue_names=[queue],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test-worker",
        excluded_queue_names=[],
    ).run()


def seed(api, people, post):
    shifts = []
    for i, (lat, lon) in enumerate([WEST, WEST, EAST, EAST]):
        need = post.need(
            location={"lat": lat, "lon": lon, "address": f"{i} 号"},
            priority=3 + i % 2,
            shifts=[{"start": at(48 + 3 * i), "end": at(50 + 3 * i), "headcount": 2}],
        )
        shifts.append(need["shifts"][0]["id"])
    for lat, lon in [WEST] * 4 + [EAST] * 4:
        post.volunteer(home_lat=lat + 0.001, home_lon=lon)
    return shifts


def start_run(api, people):
    body = {"community": people.community.id, "from": at(1), "to": at(24 * 7), "time_limit_s": 4}
    r = api.post("/matching/runs", body, as_=people.alice)
    assert r.status_code == 202, r.content
    return r.json()["id"]


def test_parts_run_as_separate_tasks_and_join(api, people, post, split_small):
    shifts = seed(api, people, post)
    run_id = start_run(api, people)
    run = MatchingRun.objects.get(pk=run_id)
    problem = problem_for(run)
    assert distributed.wanted(problem)
    work()
    run.refresh_from_db()
    assert run.status == "finished", run.error
    assert run.parts_total >= 2
    assert run.parts_done == run.parts_total
    parts = MatchingRunPart.objects.filter(run=run, index__lt=run.parts_total)
    assert parts.count() == run.parts_total
    assert all(p.status == "finished" and p.solution and p.worker for p in parts)
    join = MatchingRunPart.objects.get(run=run, index=run.parts_total)
    assert join.worker == distributed.JOIN_WORKER and join.status == "finished"
    # Each part and the join were separate tasks on the "matching" queue.
    paths = list(
        DBTaskResult.objects.filter(queue_name="matching").values_list("task_path", "status")
    )
    assert paths.count(("matching.tasks.solve_run_part", "SUCCESSFUL")) == run.parts_total
    assert ("matching.tasks.finish_run", "SUCCESSFUL") in paths
    # Every seat is filled (8 volunteers near 8 seats), and never below first come.
    assert run.proposals.count() == 8
    assert {p.shift_id for p in run.proposals.all()} == set(shifts)
    first_come = opt.greedy_solution(problem).objective.coverage
    assert run.objective["coverage"] >= first_come
    assert run.bound >= run.objective["coverage"]
    progress = [
        e.data
        for e in Event.objects.filter(type="run.progress").order_by("id")
        if e.data.get("parts_total")
    ]
    done = [p["parts_done"] for p in progress]
    assert done == sorted(done) and done[-1] == run.parts_total
    assert progress[-1]["objective"] > 0
    assert Event.objects.filter(type="run.finished", data__run=run_id).count() == 1
    # Proposals apply like any run's.
    r = api.post(f"/matching/runs/{run_id}/apply", {}, as_=people.alice)
    assert len(r.json()["applied"]) == 8
    assert sum(Shift.objects.filter(pk__in=shifts).values_list("seats_taken", flat=True)) == 8


def test_a_part_whose_worker_died_runs_again(api, people, post, split_small):
    seed(api, people, post)
    run_id = start_run(api, people)
    # The run task splits the problem and enqueues the parts.
    Worker(
        queue_names=["matching"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=1,
        worker_id="splitter",
        excluded_queue_names=[],
    ).run()
    run = MatchingRun.objects.get(pk=run_id)
    assert run.status == "running" and run.parts_total >= 2
    # A worker claimed part 0 and died: its part stays running, its task never ends.
    lost = MatchingRunPart.objects.get(run=run, index=0)
    MatchingRunPart.objects.filter(pk=lost.pk).update(status="running", worker="gone:1")
    for t in DBTaskResult.objects.filter(task_path="matching.tasks.solve_run_part"):
        if t.args_kwargs["kwargs"]["part_id"] == lost.pk:
            DBTaskResult.objects.filter(pk=t.pk).update(status="RUNNING")
    work()
    run.refresh_from_db()
    assert run.status == "running"
    assert run.parts_done == run.parts_total - 1
    assert not DBTaskResult.objects.filter(task_path="matching.tasks.finish_run").exists()
    assert distributed.resume(run_id) == 1
    work()
    run.refresh_from_db()
    assert run.status == "finished", run.error
    assert run.parts_done == run.parts_total
    lost.refresh_from_db()
    assert lost.status == "finished" and lost.worker != "gone:1"
    proposals = run.proposals.count()
    # Running a finished part again changes nothing, and nothing is left to resume.
    other = MatchingRunPart.objects.get(run=run, index=1)
    assert solve_run_part.call(part_id=other.pk, deadline=0.0) == "finished"
    run.refresh_from_db()
    assert run.parts_done == run.parts_total
    assert run.proposals.count() == proposals
    assert distributed.resume(run_id) == 0


def test_small_runs_stay_in_one_task(api, people, post):
    seed(api, people, post)
    run_id = start_run(api, people)
    work()
    run = MatchingRun.objects.get(pk=run_id)
    assert run.status == "finished"
    assert run.parts_total == 0 and not run.parts.exists()
    assert run.proposals.count() == 8
