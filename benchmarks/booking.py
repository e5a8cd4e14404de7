"""Booking benchmark: a hot slot under 200 concurrent HTTP clients, then a
sustained booking mix, against PostgreSQL, compared in the same run with a
no-op endpoint (`/healthz`) on the same server.

    DATABASE_URL=postgres://… TEST_DATABASE_NAME=<scratch db> python -m benchmarks.booking \
        [--clients 200] [--rounds 5] [--servers 2] [--mix-seconds 20] [--mix-clients 32]

A scratch database is made with Django's test-database machinery (so it
honours TEST_DATABASE_NAME and is dropped afterwards). `--servers` Daphne
processes share one listening socket. Each client thread keeps one HTTP/1.1
connection and its own member's bearer token.

Figures: hot-slot latency p50/p99 over every request of every round, and
whether each round had exactly one 201 and the rest 409 slot_taken; the
booking mix's requests per second against `/healthz`'s with the same number
of clients, as a ratio; and the number of overlapping active bookings found in
SQL afterwards, which must be 0. Writes benchmarks/results/booking.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse, urlunparse

RESULTS = Path(__file__).resolve().parent / "results" / "booking.json"

OVERLAPS_SQL = """
    WITH RECURSIVE up(id, ancestor) AS (
        SELECT id, id FROM resources_space
        UNION
        SELECT up.id, s.parent_id FROM up JOIN resources_space s ON s.id = up.ancestor
        WHERE s.parent_id IS NOT NULL
    )
    SELECT count(*) FROM resources_reservation a
    JOIN resources_reservation b ON a.id < b.id
    WHERE a.status IN ('held', 'pending', 'confirmed', 'checked_in')
      AND b.status IN ('held', 'pending', 'confirmed', 'checked_in')
      AND tstzrange(a.start, a."end", '[)') && tstzrange(b.start, b."end", '[)')
      AND (EXISTS (SELECT 1 FROM up WHERE up.id = a.space_id AND up.ancestor = b.space_id)
        OR EXISTS (SELECT 1 FROM up WHERE up.id = b.space_id AND up.ancestor = a.space_id))
"""


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "timebank.settings")
    import django

    django.setup()


def seed(members: int, courts: int) -> dict[str, Any]:
    from resources import services
    from tests.factories import CommunityFactory, member_with_roles
    from timebank.auth import token_issue

    community = CommunityFactory(name="基准社区")
    manager = member_with_roles(community, "space_manager", name="基准场管")
    spaces = [
        services.space_create(
            actor=manager,
            community=community,
            name=f"球场{i}",
            kind="court",
            mode="exclusive",
            capacity=10,
            lat=22.55,
            lon=114.05,
        ).pk
        for i in range(courts + 1)
    ]
    tokens = [
        token_issue(member=member_with_roles(community, "resident"))[0] for _ in range(members)
    ]
    return {"hot": spaces[0], "courts": spaces[1:], "tokens": tokens}


def start_servers(
    n: int, database_url: str, log: IO[bytes]
) -> tuple[list[subprocess.Popen[bytes]], int]:
    """n Daphne processes accepting on one shared socket; their errors go to `log`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    port = sock.getsockname()[1]
    fd = sock.fileno()
    os.set_inheritable(fd, True)
    env = {**os.environ, "DATABASE_URL": database_url, "LOG_LEVEL": "ERROR", "DEBUG": "false"}
    env.pop("TEST_DATABASE_NAME", None)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "daphne", "--fd", str(fd), "timebank.asgi:application"],
            pass_fds=(fd,),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        for _ in range(n)
    ]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                break
        except OSError:
            time.sleep(0.3)
    else:
        raise RuntimeError("the server did not come up")
    sock.close()
    return procs, port


class Client:
    def __init__(self, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, str, float]:
        started = time.perf_counter()
        self.conn.request("POST", path, body=json.dumps(body), headers=self.headers)
        resp = self.conn.getresponse()
        data = resp.read()
        elapsed = (time.perf_counter() - started) * 1000
        code = ""
        if resp.status >= 400:
            code = json.loads(data).get("code", "")
        return resp.status, code, elapsed

    def get(self, path: str) -> int:
        self.conn.request("GET", path)
        resp = self.conn.getresponse()
        resp.read()
        return resp.status


def slot(day: int, hour: int) -> tuple[str, str]:
    from django.utils import timezone

    d = timezone.localdate() + dt.timedelta(days=day)
    start = dt.datetime.combine(d, dt.time(hour), timezone.get_default_timezone())
    return start.isoformat(), (start + dt.timedelta(hours=1)).isoformat()


def hot_slot(port: int, data: dict[str, Any], clients: int, rounds: int) -> dict[str, Any]:
    conns = [Client(port, data["tokens"][i]) for i in range(clients)]
    latencies: list[float] = []
    exact_rounds = 0
    per_round = []
    for r in range(rounds):
        start, end = slot(1, 8 + r)
        body = {"space": data["hot"], "start": start, "end": end, "accept_terms": True}
        barrier = threading.Barrier(clients)
        results: list[tuple[int, str, float]] = [(0, "", 0.0)] * clients

        def run(
            i: int,
            body: dict[str, Any],
            barrier: threading.Barrier,
            results: list[tuple[int, str, float]],
        ) -> None:
            barrier.wait()
            results[i] = conns[i].post("/api/v1/reservations", body)

        threads = [
            threading.Thread(target=run, args=(i, body, barrier, results)) for i in range(clients)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        created = sum(1 for s, _c, _l in results if s == 201)
        taken = sum(1 for s, c, _l in results if s == 409 and c == "slot_taken")
        exact_rounds += int(created == 1 and taken == clients - 1)
        others: dict[str, int] = {}
        for status, code, _lat in results:
            if status != 201 and code != "slot_taken":
                others[f"{status} {code}"] = others.get(f"{status} {code}", 0) + 1
        per_round.append({"created": created, "slot_taken": taken, "other": others})
        latencies.extend(lat for _s, _c, lat in results)
    latencies.sort()
    return {
        "clients": clients,
        "rounds": rounds,
        "rounds_exactly_one_winner": exact_rounds,
        "per_round": per_round,
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1),
        "max_ms": round(latencies[-1], 1),
    }


def sustained(port: int, data: dict[str, Any], clients: int, seconds: float) -> dict[str, Any]:
    """Booking mix vs /healthz, the same client count and duration."""
    stop = threading.Event()
    counts: dict[str, int] = {}
    lock = threading.Lock()

    def book(i: int) -> None:
        rng = random.Random(i)
        client = Client(port, data["tokens"][clients + i])
        while not stop.is_set():
            start, end = slot(rng.randint(1, 6), rng.randint(8, 21))
            body = {
                "space": rng.choice(data["courts"]),
                "start": start,
                "end": end,
                "accept_terms": True,
            }
            status, code, _lat = client.post("/api/v1/reservations", body)
            key = str(status) if status == 201 else f"{status} {code}"
            with lock:
                counts[key] = counts.get(key, 0) + 1

    def noop(i: int) -> None:
        client = Client(port, data["tokens"][i])
        while not stop.is_set():
            status = client.get("/healthz")
            with lock:
                counts[f"noop {status}"] = counts.get(f"noop {status}", 0) + 1

    def drive(fn: Any) -> float:
        stop.clear()
        threads = [threading.Thread(target=fn, args=(i,)) for i in range(clients)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        time.sleep(seconds)
        stop.set()
        for t in threads:
            t.join()
        return time.perf_counter() - started

    noop_s = drive(noop)
    noop_n = sum(n for k, n in counts.items() if k.startswith("noop"))
    book_s = drive(book)
    book_n = sum(n for k, n in counts.items() if not k.startswith("noop"))
    noop_rps = noop_n / noop_s
    book_rps = book_n / book_s
    return {
        "clients": clients,
        "seconds": seconds,
        "noop_requests_per_s": round(noop_rps, 1),
        "booking_requests_per_s": round(book_rps, 1),
        "bookings_created_per_s": round(counts.get("201", 0) / book_s, 1),
        "ratio_booking_to_noop": round(book_rps / noop_rps, 3) if noop_rps else None,
        "responses": dict(sorted(counts.items())),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument("--mix-seconds", type=float, default=20.0)
    parser.add_argument("--mix-clients", type=int, default=32)
    parser.add_argument("--courts", type=int, default=40)
    args = parser.parse_args()
    setup_django()
    from django.conf import settings
    from django.db import connection, connections
    from django.test.utils import setup_test_environment

    if not settings.USING_POSTGRES:
        print("booking benchmark: set DATABASE_URL=postgres://… (and TEST_DATABASE_NAME)")
        return 2
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    procs: list[subprocess.Popen[bytes]] = []
    server_log = tempfile.TemporaryFile()  # noqa: SIM115 - read after the servers stop
    try:
        data = seed(max(args.clients, 2 * args.mix_clients), args.courts)
        url = urlparse(os.environ["DATABASE_URL"])
        db_url = urlunparse(url._replace(path="/" + connection.settings_dict["NAME"]))
        connections.close_all()
        procs, port = start_servers(args.servers, db_url, server_log)
        hot = hot_slot(port, data, args.clients, args.rounds)
        mix = sustained(port, data, args.mix_clients, args.mix_seconds)
        with connection.cursor() as cursor:
            cursor.execute(OVERLAPS_SQL)
            overlaps = int(cursor.fetchone()[0])
            cursor.execute("SELECT count(*) FROM resources_reservation WHERE status = 'confirmed'")
            confirmed = int(cursor.fetchone()[0])
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        connections.close_all()
        connection.creation.destroy_test_db(old_name, verbosity=0)
    server_log.seek(0)
    logged = server_log.read().decode(errors="replace")
    # Why the server answered 503, if it did: the causes PostgreSQL named.
    server_errors = {
        cause: logged.count(cause)
        for cause in ("too many clients", "deadlock detected", "could not serialize")
        if cause in logged
    }

    result = {
        "benchmark": "booking",
        "command": "python -m benchmarks.booking " + " ".join(sys.argv[1:]),
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "database": "postgresql",
            "server": f"{args.servers} daphne processes on one socket",
        },
        "hot_slot": hot,
        "sustained": mix,
        "confirmed_bookings": confirmed,
        "overlapping_active_pairs": overlaps,
        "server_errors": server_errors,
        "targets": {"hot_slot_p99_ms": 150, "ratio_booking_to_noop": 0.5, "overlaps": 0},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(
        f"hot slot, {hot['clients']} clients × {hot['rounds']} rounds: "
        f"p50 {hot['p50_ms']} ms, p99 {hot['p99_ms']} ms; "
        f"exactly one winner in {hot['rounds_exactly_one_winner']}/{hot['rounds']} rounds"
    )
    print(
        f"sustained, {mix['clients']} clients: booking {mix['booking_requests_per_s']}/s, "
        f"no-op {mix['noop_requests_per_s']}/s, ratio {mix['ratio_booking_to_noop']}"
    )
    print(f"overlapping active pairs: {overlaps}   → {RESULTS}")
    return 0 if overlaps == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
