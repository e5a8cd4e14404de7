"""Re-planning benchmark: single cancellations inside a street plan.

    python -m benchmarks.replan [--cancellations 60] [--seed 1]
    DATABASE_URL=postgres://… TEST_DATABASE_NAME=<scratch db> \
        python -m benchmarks.replan --django [--cancellations 30] [--seed 1]

With ``--django`` it measures the web app's re-plan instead (see
``django_main``): the service a cancellation's task runs, database included.

Solves a street instance (3,000 volunteers x 2,000 shifts) once, then cancels
assignments one at a time (each from the same plan) and records the time to
the new plan, how many OTHER assignments changed (pairs beyond the cancelled
one and the seat that replaced it), and the latency of the top-5 candidate
list for the same shift.  Writes benchmarks/results/replan.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from matching.optimizer import (
    candidates,
    check_solution,
    generate,
    problem_from_dict,
    replan,
    solve,
)

RESULTS = Path(__file__).resolve().parent / "results" / "replan.json"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.replan")
    parser.add_argument("--cancellations", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--plan-seconds", type=float, default=30.0)
    parser.add_argument("--django", action="store_true", help="measure the web app's re-plan")
    parser.add_argument("--apply-share", type=float, default=0.5)
    args = parser.parse_args(argv)
    if args.django:
        return django_main(args)
    problem = problem_from_dict(generate(3000, 2000, seed=args.seed, communities=10))
    plan = solve(problem, time_limit_s=args.plan_seconds, workers=2)
    rng = random.Random(args.seed)
    picks = rng.sample(list(plan.assignments), min(args.cancellations, len(plan.assignments)))
    before = {(a.shift, a.volunteer) for a in plan.assignments}
    times: list[float] = []
    others: list[int] = []
    cand_ms: list[float] = []
    invalid = 0
    for a in picks:
        t0 = time.perf_counter()
        new = replan(problem, plan, [(a.shift, a.volunteer)], time_limit_s=1.0)
        times.append(time.perf_counter() - t0)
        after = {(x.shift, x.volunteer) for x in new.assignments}
        changed = (before - {(a.shift, a.volunteer)}) ^ after
        # The seat that replaced the cancellation is the repair, not a change.
        refill = {p for p in changed if p[0] == a.shift and p in after}
        others.append(len(changed - set(list(refill)[:1])))
        if not check_solution(problem, new).ok:
            invalid += 1
        t0 = time.perf_counter()
        candidates(problem, a.shift, 5, assigned=plan.assignments, placements=plan.placements or ())
        cand_ms.append((time.perf_counter() - t0) * 1000)
    doc = {
        "benchmark": "replan",
        "machine": {"cores": os.cpu_count(), "platform": platform.platform()},
        "plan": {
            "status": plan.status,
            "coverage": plan.objective.coverage,
            "assignments": len(plan.assignments),
        },
        "cancellations": len(picks),
        "replan_p50_s": round(statistics.median(times), 3),
        "replan_p95_s": round(_pct(times, 0.95), 3),
        "other_changes_mean": round(statistics.mean(others), 2),
        "other_changes_max": max(others),
        "candidates_p50_ms": round(statistics.median(cand_ms), 2),
        "candidates_p95_ms": round(_pct(cand_ms, 0.95), 2),
        "invalid_plans": invalid,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
    print(
        f"{'cancellations':>14}{'p50 s':>8}{'p95 s':>8}{'other chg':>10}"
        f"{'top5 p50 ms':>12}{'top5 p95 ms':>12}{'invalid':>8}"
    )
    print(
        f"{doc['cancellations']:>14}{doc['replan_p50_s']:>8}{doc['replan_p95_s']:>8}"
        f"{doc['other_changes_mean']:>10}{doc['candidates_p50_ms']:>12}"
        f"{doc['candidates_p95_ms']:>12}{invalid:>8}"
    )
    return 0 if invalid == 0 else 1


DJANGO_RESULTS = Path(__file__).resolve().parent / "results" / "replan_django.json"


def _seed_street(doc: dict[str, Any]) -> tuple[Any, Any]:
    """A community holding the generated street: volunteers with their profiles
    (home, radius, weekly limit, skills, languages, weekly windows) and one need
    per shift. Returns (community, the social worker who posts the needs)."""
    import datetime as dt

    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from matching.models import (
        AvailabilityWindow,
        Category,
        Need,
        Shift,
        VolunteerProfile,
        VolunteerSkill,
    )
    from tests.factories import CommunityFactory, member_with_roles
    from timebank.people.models import Member, Role

    community = CommunityFactory(name="基准街道", center_lat=22.54, center_lon=114.06)
    creator = member_with_roles(community, "social_worker", name="基准社工")
    unusable = make_password(None)
    vols = doc["volunteers"]
    members = Member.objects.bulk_create(
        [
            Member(
                phone=f"137{i:08d}",
                name=f"志愿{i}",
                password=unusable,
                home_lat=v["location"]["lat"],
                home_lon=v["location"]["lon"],
            )
            for i, v in enumerate(vols)
        ],
        batch_size=1000,
    )
    Role.objects.bulk_create(
        [Role(member=m, community=community, role="volunteer") for m in members], batch_size=1000
    )
    profiles = VolunteerProfile.objects.bulk_create(
        [
            VolunteerProfile(
                member=m,
                languages=v["languages"],
                home_lat=v["location"]["lat"],
                home_lon=v["location"]["lon"],
                travel_radius_km=v["max_travel_km"],
                weekly_limit_minutes=int(v["max_minutes"]),
                preferred_categories=v["preferences"],
            )
            for m, v in zip(members, vols, strict=True)
        ],
        batch_size=1000,
    )
    skills: list[Any] = []
    windows: list[Any] = []
    for p, v in zip(profiles, vols, strict=True):
        skills += [VolunteerSkill(profile=p, name=name) for name in v["skills"]]
        for a in v["availability"]:
            start = timezone.localtime(dt.datetime.fromisoformat(a["start"]))
            end = timezone.localtime(dt.datetime.fromisoformat(a["end"]))
            windows.append(
                AvailabilityWindow(
                    profile=p, weekday=start.weekday(), start=start.time(), end=end.time()
                )
            )
    VolunteerSkill.objects.bulk_create(skills, batch_size=2000)
    AvailabilityWindow.objects.bulk_create(windows, batch_size=2000)
    known = set(Category.values)
    for s in doc["shifts"]:
        need = Need.objects.create(
            community=community,
            title=s["category"],
            category=s["category"] if s["category"] in known else Category.OTHER,
            priority=s["priority"],
            lat=s["location"]["lat"],
            lon=s["location"]["lon"],
            skills=s["skills"],
            languages=s["languages"],
            created_by=creator,
        )
        Shift.objects.create(
            need=need,
            community=community,
            start=dt.datetime.fromisoformat(s["start"]),
            end=dt.datetime.fromisoformat(s["end"]),
            headcount=s["headcount"],
        )
    return community, creator


def django_main(args: argparse.Namespace) -> int:
    """The web app's re-plan, on a scratch PostgreSQL database (Django's test
    database machinery, honouring TEST_DATABASE_NAME, dropped afterwards).

    A generated street (3,000 volunteers x 2,000 shifts) is written as
    volunteers with profiles and needs; a matching run plans the week and
    ``--apply-share`` of its proposals are applied (the rest stay proposed,
    the hints a re-plan keeps). Then ``--cancellations`` confirmed volunteers
    cancel, one after another, through the cancel service, and for each we time
    ``replan_after_cancellation`` (what the ``replan_shift`` task runs: problem
    from the database, re-plan, proposals recorded, events) and count the
    other changes: its proposals on other shifts plus plan proposals it
    dropped. Also timed: the staff's top-5 candidate list for the shift
    (``matching.candidates.shift_candidates``, the ``shift.replacements`` event).
    """
    import os as _os

    if not _os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("replan --django: set DATABASE_URL=postgres://… (and TEST_DATABASE_NAME)")
        return 2
    _os.environ.setdefault("DJANGO_SETTINGS_MODULE", "timebank.settings")
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    from matching import services
    from matching.candidates import shift_candidates
    from matching.models import Assignment, MatchingRun, Proposal, Shift
    from matching.optimizer.generator import WEEK_START
    from matching.services.replan import replan_after_cancellation
    from matching.services.runs import run_apply, run_create, run_execute

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        doc = generate(3000, 2000, seed=args.seed, communities=10)
        community, creator = _seed_street(doc)
        plan = run_create(
            actor=creator,
            community=community,
            start=WEEK_START,
            end=WEEK_START + timedelta(days=7),
            time_limit_s=int(args.plan_seconds),
        )
        plan = run_execute(run_id=plan.pk)
        rng = random.Random(args.seed)
        ids = list(plan.proposals.values_list("id", flat=True))
        chosen = rng.sample(ids, round(len(ids) * args.apply_share))
        applied = run_apply(actor=creator, run=plan, proposal_ids=chosen)
        confirmed = list(
            Assignment.objects.filter(source="matching", status="confirmed")
            .select_related("volunteer")
            .order_by("id")
        )
        picks = rng.sample(confirmed, min(args.cancellations, len(confirmed)))
        times: list[float] = []
        others: list[int] = []
        cand_ms: list[float] = []
        filled = 0
        skipped = 0
        for a in picks:
            services.assignment_cancel(actor=a.volunteer, assignment=a, reason="基准取消")
            dropped_before = Proposal.objects.filter(run=plan, reason="replanned").count()
            t0 = time.perf_counter()
            run = replan_after_cancellation(a.pk)
            times.append(time.perf_counter() - t0)
            if run is None:
                skipped += 1  # the seat went to the waitlist, or the shift left the window
                continue
            dropped = Proposal.objects.filter(run=plan, reason="replanned").count() - dropped_before
            others.append(run.proposals.exclude(shift_id=a.shift_id).count() + dropped)
            filled += run.proposals.filter(shift_id=a.shift_id).exists()
            shift = Shift.objects.select_related("need").get(pk=a.shift_id)
            t0 = time.perf_counter()
            shift_candidates(shift=shift, k=5)
            cand_ms.append((time.perf_counter() - t0) * 1000)
        out = {
            "benchmark": "replan_django",
            "machine": {"cores": os.cpu_count(), "platform": platform.platform()},
            "plan": {
                "status": plan.solver_status,
                "coverage": plan.objective.get("coverage"),
                "proposals": len(ids),
                "applied": len(applied["applied"]),
            },
            "cancellations": len(picks),
            "replans": len(others),
            "no_replan": skipped,
            "holes_refilled": filled,
            "replan_p50_s": round(statistics.median(times), 3),
            "replan_p95_s": round(_pct(times, 0.95), 3),
            "other_changes_mean": round(statistics.mean(others), 2) if others else None,
            "other_changes_max": max(others) if others else None,
            "candidates_p50_ms": round(statistics.median(cand_ms), 2) if cand_ms else None,
            "candidates_p95_ms": round(_pct(cand_ms, 0.95), 2) if cand_ms else None,
            "replan_runs": MatchingRun.objects.filter(kind="replan").count(),
        }
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)
    DJANGO_RESULTS.parent.mkdir(parents=True, exist_ok=True)
    DJANGO_RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(
        f"{'cancellations':>14}{'p50 s':>8}{'p95 s':>8}{'other chg':>10}{'refilled':>9}"
        f"{'top5 p50 ms':>12}{'top5 p95 ms':>12}"
    )
    print(
        f"{out['cancellations']:>14}{out['replan_p50_s']:>8}{out['replan_p95_s']:>8}"
        f"{out['other_changes_mean']!s:>10}{filled:>9}"
        f"{out['candidates_p50_ms']!s:>12}{out['candidates_p95_ms']!s:>12}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
