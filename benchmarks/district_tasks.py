"""District run solved as parts on separate task workers (Django Tasks).

    DATABASE_URL=postgres://… TEST_DATABASE_NAME=<scratch db> \
        python -m benchmarks.district_tasks [--volunteers 20000] [--shifts 12000] \
        [--communities 60] [--seed 1] [--time-limit 90] [--workers 2]

A scratch database is made with Django's test-database machinery (so it honours
TEST_DATABASE_NAME and is dropped afterwards). The district instance comes from
the optimizer's generator; its volunteers and shifts are written as members and
shifts (their ids mapped to the rows'), so proposals are stored as for any run.

The run's problem is that instance, handed straight to
`matching.services.distributed.start` in this process: it bypasses
`problem_for` (the generated people are not full volunteer records), and the
split (plan_parts, storing the parts) therefore runs here rather than on a
worker; it is timed. `--workers` `manage.py db_worker` processes on the
"matching" queue solve the parts and the join, as in production.

Figures: wall time from the split's start (the enqueue of the parts) to the run
finished; the split's own time; coverage against the first-come plan (greedy,
computed in the same run) and against the run's proven bound; whether the
stored proposals form a valid plan (the optimizer's independent validator);
peak RSS of each worker (VmHWM) and of this process. Writes
benchmarks/results/district_tasks.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

RESULTS = Path(__file__).resolve().parent / "results" / "district_tasks.json"
TARGET_S = 120.0
TARGET_GB = 4.0


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "timebank.settings")
    import django

    django.setup()


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory of a live process (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def seed(doc: dict[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
    """Members and shifts for the generated people and shifts; the instance with
    its ids mapped to theirs."""
    from django.contrib.auth.hashers import make_password

    from matching.models import Need, Shift
    from tests.factories import CommunityFactory, member_with_roles
    from timebank.people.models import Member

    community = CommunityFactory(name="基准街道")
    creator = member_with_roles(community, "social_worker", name="基准社工")
    unusable = make_password(None)
    members = Member.objects.bulk_create(
        [
            Member(phone=f"139{i:08d}", name=f"志愿{i}", password=unusable)
            for i in range(len(doc["volunteers"]))
        ],
        batch_size=2000,
    )
    need = Need.objects.create(
        community=community,
        title="基准需求",
        category="other",
        priority=3,
        lat=22.54,
        lon=114.06,
        created_by=creator,
    )
    shifts = Shift.objects.bulk_create(
        [
            Shift(
                need=need,
                community=community,
                start=dt.datetime.fromisoformat(s["start"]),
                end=dt.datetime.fromisoformat(s["end"]),
                headcount=s["headcount"],
            )
            for s in doc["shifts"]
        ],
        batch_size=2000,
    )
    vmap = {v["id"]: f"v{m.pk}" for v, m in zip(doc["volunteers"], members, strict=True)}
    smap = {s["id"]: f"s{row.pk}" for s, row in zip(doc["shifts"], shifts, strict=True)}
    for v in doc["volunteers"]:
        v["id"] = vmap[v["id"]]
    for s in doc["shifts"]:
        s["id"] = smap[s["id"]]
    for h in doc.get("history", []):
        h["volunteer"] = vmap[h["volunteer"]]
    return community, creator, doc


def start_workers(n: int, database_url: str, log: Any) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING", "DEBUG": "false"}
    env.pop("TEST_DATABASE_NAME", None)
    here = Path(__file__).resolve().parent.parent
    return [
        subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "db_worker",
                "--queue-name",
                "matching",
                "--interval",
                "0.2",
                "--no-startup-delay",
                "--no-reload",
                "--worker-id",
                f"bench-{i}",
            ],
            cwd=here,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        for i in range(n)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.district_tasks")
    parser.add_argument("--volunteers", type=int, default=20_000)
    parser.add_argument("--shifts", type=int, default=12_000)
    parser.add_argument("--communities", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=int, default=90)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("district_tasks benchmark: set DATABASE_URL=postgres://… (and TEST_DATABASE_NAME)")
        return 2
    setup_django()
    from django.conf import settings
    from django.db import connection
    from django.test.utils import setup_test_environment

    from matching import optimizer as opt
    from matching.models import MatchingRun, MatchingRunPart, RunStatus
    from matching.services import distributed

    settings.MATCHING_WORKERS = args.workers
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    procs: list[subprocess.Popen[bytes]] = []
    # Append mode: the workers share this file, and reading it must not move
    # their write position.
    log = tempfile.NamedTemporaryFile(mode="ab", suffix=".log")  # noqa: SIM115
    doc_out: dict[str, Any] = {}
    try:
        raw = opt.generate(
            args.volunteers, args.shifts, seed=args.seed, communities=args.communities
        )
        community, creator, raw = seed(raw)
        problem = opt.problem_from_dict(raw)
        starts = [s.start for s in problem.shifts if s.start is not None]
        ends = [s.end for s in problem.shifts if s.end is not None]
        run = MatchingRun.objects.create(
            community=community,
            period_start=min(starts),
            period_end=max(ends),
            time_limit_s=args.time_limit,
            status=RunStatus.RUNNING,
            created_by=creator,
        )
        url = urlparse(os.environ["DATABASE_URL"])
        db_url = urlunparse(url._replace(path="/" + connection.settings_dict["NAME"]))
        procs = start_workers(args.workers, db_url, log)
        # The clock starts once every worker is polling the queue.
        ready_by = time.monotonic() + 120
        while time.monotonic() < ready_by:
            if Path(log.name).read_bytes().count(b"Starting worker") >= args.workers:
                break
            time.sleep(0.2)
        connection.close()
        t0 = time.monotonic()
        distributed.start(run=run, problem=problem)
        split_s = time.monotonic() - t0
        while time.monotonic() - t0 < args.timeout:
            run.refresh_from_db()
            if run.status in (RunStatus.FINISHED, RunStatus.FAILED):
                break
            if any(p.poll() is not None for p in procs):
                break
            time.sleep(0.5)
        wall = time.monotonic() - t0
        run.refresh_from_db()
        rss = [round(peak_rss_mb(p.pid), 1) if p.poll() is None else None for p in procs]
        parts = list(
            MatchingRunPart.objects.filter(run=run)
            .order_by("index")
            .values("index", "status", "worker", "seconds", "time_limit_s")
        )
        # Outside the timed part: the first-come baseline and the validator.
        greedy = opt.greedy_solution(problem).objective.coverage
        pairs = tuple(
            opt.Pair(f"s{s}", f"v{v}")
            for s, v in run.proposals.values_list("shift_id", "volunteer_id")
        )
        report = opt.check_solution(
            problem, opt.Solution("FEASIBLE", pairs, (), opt.Objective(), 0.0)
        )
        # Hard rules only: the bookkeeping lines compare against the empty
        # objective and unfilled list given here.
        hard = [v for v in report.violations if not v.startswith(("objective:", "unfilled:"))]
        coverage = int(run.objective.get("coverage", 0)) if run.objective else 0
        bound = run.bound or 0
        doc_out = {
            "benchmark": "district_tasks",
            "machine": {"cores": os.cpu_count(), "platform": platform.platform()},
            "instance": {
                "volunteers": args.volunteers,
                "shifts": args.shifts,
                "communities": args.communities,
                "seed": args.seed,
            },
            "time_limit_s": args.time_limit,
            "workers": args.workers,
            "status": run.status,
            "error": run.error,
            "solver_status": run.solver_status,
            "parts": run.parts_total,
            "wall_s": round(wall, 1),
            "split_s": round(split_s, 1),
            "coverage": coverage,
            "greedy_coverage": greedy,
            "vs_greedy": round(coverage / greedy, 4) if greedy else None,
            "bound": bound,
            "of_bound": round(coverage / bound, 4) if bound else None,
            "proposals": len(pairs),
            "valid": not hard and report.coverage == coverage,
            "recomputed_coverage": report.coverage,
            "violations": hard[:5],
            "worker_peak_rss_mb": rss,
            "splitter_peak_rss_mb": round(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
            ),
            "part_rows": parts,
            "targets": {"wall_s": TARGET_S, "peak_gb": TARGET_GB},
        }
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)
    errors = Path(log.name).read_bytes().decode(errors="replace")
    log.close()
    if errors.strip():
        doc_out["worker_log_tail"] = errors[-2000:]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc_out, indent=2, ensure_ascii=False, default=str) + "\n")
    print(
        f"{'status':>9}{'parts':>6}{'wall s':>8}{'split s':>8}{'coverage':>10}{'greedy':>9}"
        f"{'x greedy':>9}{'bound':>9}{'of bound':>9}{'valid':>6}  worker peak MB"
    )
    print(
        f"{doc_out.get('status', '?'):>9}{doc_out.get('parts', 0):>6}{doc_out.get('wall_s', 0):>8}"
        f"{doc_out.get('split_s', 0):>8}{doc_out.get('coverage', 0):>10}"
        f"{doc_out.get('greedy_coverage', 0):>9}{doc_out.get('vs_greedy')!s:>9}"
        f"{doc_out.get('bound', 0):>9}{doc_out.get('of_bound')!s:>9}"
        f"{doc_out.get('valid')!s:>6}  {doc_out.get('worker_peak_rss_mb')}"
    )
    ok = (
        doc_out.get("status") == "finished"
        and doc_out.get("valid")
        and doc_out["wall_s"] <= TARGET_S
        and all(r is not None and r <= TARGET_GB * 1024 for r in doc_out["worker_peak_rss_mb"])
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
