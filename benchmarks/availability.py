"""Availability benchmark: one space-week's slots with 1 M reservations stored.

    DATABASE_URL=postgres://… TEST_DATABASE_NAME=<scratch db> python -m benchmarks.availability \
        [--reservations 1000000] [--spaces 200] [--repeat 300]

Builds a scratch database through Django's test-database machinery (so it
honours TEST_DATABASE_NAME and is dropped afterwards), fills it with
`--reservations` exclusive bookings spread over `--spaces` courts (hourly,
08:00–22:00, about a year of history and future per court, each with its
own-area block row), then times `space_availability` for one week of one
court: the median and p95 of `--repeat` calls, and the same through the HTTP
endpoint with Django's test client. Writes benchmarks/results/availability.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "availability.json"


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "timebank.settings")
    import django

    django.setup()


def fill(spaces: int, reservations: int) -> tuple[int, dt.datetime]:
    """Insert the reservations with set-based SQL; returns a court id and the
    Monday of a week in the middle of its bookings."""
    from django.db import connection
    from django.utils import timezone

    from resources import services
    from resources.models import Space
    from tests.factories import CommunityFactory, member_with_roles

    community = CommunityFactory(name="基准社区")
    manager = member_with_roles(community, "space_manager", name="基准场管")
    booker = member_with_roles(community, "resident", name="基准居民")
    ids = []
    for i in range(spaces):
        space = services.space_create(
            actor=manager,
            community=community,
            name=f"球场{i}",
            kind="court",
            mode="exclusive",
            capacity=10,
            lat=22.55,
            lon=114.05,
        )
        ids.append(space.pk)
    per_space = reservations // spaces
    days = per_space // 14 + 1
    today = timezone.localdate()
    first_day = today - dt.timedelta(days=days // 2)
    now = timezone.now()
    # Slot k of a court: day k // 14, hour 8 + k % 14, in Asia/Shanghai.
    sql_res = """
        INSERT INTO resources_reservation
            (space_id, member_id, start, "end", party_size, companions, status, live_until,
             terms_accepted_at, purpose, no_show, created_at, confirmed_at)
        SELECT s.id, %(member)s, t.start, t.start + interval '1 hour', 1, '[]'::jsonb,
               CASE WHEN t.start < %(now)s THEN 'checked_in' ELSE 'confirmed' END,
               CASE WHEN t.start < %(now)s THEN NULL ELSE t.start + interval '15 minutes' END,
               %(now)s, '', false, %(now)s, %(now)s
        FROM unnest(%(spaces)s::bigint[]) AS s(id)
        CROSS JOIN LATERAL (
            SELECT ((%(first)s::date + (k / 14)) + make_interval(hours => 8 + k %% 14))
                   AT TIME ZONE 'Asia/Shanghai' AS start
            FROM generate_series(0, %(per)s - 1) AS k
        ) t
    """
    sql_blocks = """
        INSERT INTO resources_spaceblock (reservation_id, area_id, start, "end", kind, active, live_until)
        SELECT id, space_id, start, "end", 0, true, live_until FROM resources_reservation
    """
    with connection.cursor() as cursor:
        cursor.execute(
            sql_res,
            {"member": booker.pk, "now": now, "spaces": ids, "first": first_day, "per": per_space},
        )
        cursor.execute(sql_blocks)
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE resources_reservation")
            cursor.execute("ANALYZE resources_spaceblock")
    monday = today - dt.timedelta(days=today.weekday())
    week = dt.datetime.combine(monday, dt.time(), timezone.get_default_timezone())
    assert Space.objects.count() == spaces
    return ids[len(ids) // 2], week


def timed(fn: Any, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reservations", type=int, default=1_000_000)
    parser.add_argument("--spaces", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=300)
    args = parser.parse_args()
    setup_django()
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django.utils import timezone

    from resources.availability import BUSY_AND_CLOSED_SQL, space_availability
    from resources.models import Reservation, Space

    if not settings.USING_POSTGRES:
        print("availability benchmark: set DATABASE_URL=postgres://… (and TEST_DATABASE_NAME)")
        return 2
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        started = time.perf_counter()
        space_id, week = fill(args.spaces, args.reservations)
        fill_s = time.perf_counter() - started
        stored = Reservation.objects.count()
        space = Space.objects.get(pk=space_id)
        end = week + dt.timedelta(days=7)
        slots = space_availability(space, week, end)
        booked = sum(1 for s in slots if s["status"] in ("booked", "past"))
        for _ in range(20):  # warm the caches and the connection
            space_availability(space, week, end)
        direct = timed(lambda: space_availability(space, week, end), args.repeat)
        client = Client()
        query = {"from": week.isoformat(), "to": end.isoformat()}
        url = f"/api/v1/spaces/{space_id}/availability"
        assert client.get(url, query).status_code == 200
        http = timed(lambda: client.get(url, query), args.repeat)
        with connection.cursor() as cursor:
            lower = week - dt.timedelta(days=1)
            cursor.execute(
                "EXPLAIN " + BUSY_AND_CLOSED_SQL,
                [[space_id], space_id, timezone.now(), lower, end, week, [space_id], end, week],
            )
            plan = [row[0] for row in cursor.fetchall()]
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)

    def summary(xs: list[float]) -> dict[str, float]:
        xs = sorted(xs)
        return {
            "median_ms": round(statistics.median(xs), 3),
            "p95_ms": round(xs[int(len(xs) * 0.95) - 1], 3),
            "min_ms": round(xs[0], 3),
        }

    result = {
        "benchmark": "availability",
        "command": "python -m benchmarks.availability " + " ".join(sys.argv[1:]),
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "database": "postgresql",
        },
        "reservations_stored": stored,
        "spaces": args.spaces,
        "fill_seconds": round(fill_s, 1),
        "week_slots": len(slots),
        "week_slots_taken": booked,
        "repeat": args.repeat,
        "space_availability": summary(direct),
        "http_endpoint": summary(http),
        "target_median_ms": 5.0,
        "block_query_plan": plan,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"reservations stored     {stored:>12,}")
    print(f"week slots (taken)      {len(slots):>6} ({booked})")
    print(
        f"space_availability      median {result['space_availability']['median_ms']:.2f} ms, "
        f"p95 {result['space_availability']['p95_ms']:.2f} ms"
    )
    print(
        f"GET …/availability      median {result['http_endpoint']['median_ms']:.2f} ms, "
        f"p95 {result['http_endpoint']['p95_ms']:.2f} ms"
    )
    print(f"target                  median ≤ 5 ms   → {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
