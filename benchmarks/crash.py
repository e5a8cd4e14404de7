"""Crash safety: SIGKILL the server in the middle of a booking and gift load,
restart it, and prove that nothing acknowledged was lost or half-written.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python -m benchmarks.crash \
        [--requests 400] [--threads 4] [--seconds 30] [--kill-at 0.4] [--results PATH]

It makes its own scratch database next to DATABASE_URL's (dropped afterwards
unless --keep-db), migrates it and seeds a demo community (`seed_demo --size
community`) in subprocesses, and starts `python -m daphne -b 127.0.0.1 -p
<free port> timebank.asgi:application`. Client threads then send a bounded
mix over loopback: reservation creations on the exclusive spaces (random free
slots, so they contend, including a pitch against its halves) and 1-3 minute
gifts between the demo volunteer and the elder recorded as their parent, each
gift with its own Idempotency-Key. Once `--kill-at` of the requests have been
answered, the server gets SIGKILL with requests in flight; it is restarted on
the same port and the load goes on. A request refused at connect (the server
was down) never reached it and is sent again; one that got no answer is
counted as lost in flight, and may or may not have committed.

Then, with the server stopped, it proves in SQL and with `manage.py ledger
verify` that:

- every reservation answered 201 exists, active, for the same space, member and
  time, and every transfer answered 201 exists, as a gift, with its key;
- nothing is half-written: every transfer has entries that sum to zero, every
  account's cached balance is the sum of its entries, every active exclusive
  reservation has an active block on its area and on each ancestor, and no
  active block belongs to an inactive reservation;
- `ledger verify` passes;
- no two active reservations overlap on the same area (or an area and its
  ancestor), and no two active blocks conflict.

It prints one summary line, writes benchmarks/results/crash.json (or
--results), and exits 0, or 1 on any violation (2 on bad usage).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlparse, urlunparse

import psycopg

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "crash.json"
HOST = "127.0.0.1"
ACTIVE = ("held", "pending", "confirmed", "checked_in")
GIVER, ELDER = "13800000002", "13800000003"  # the demo volunteer and their parent

# Run in a subprocess against the scratch database: migrate, seed a demo
# community, and hand back the exclusive spaces, the gift parties and a bearer
# token for each client member, as one JSON line.
SETUP = """
import json, sys
import django
django.setup()
from django.core.management import call_command
call_command("migrate", interactive=False, verbosity=0)
call_command("seed_demo", size="community", seed=int(sys.argv[1]), verbosity=0)
from resources.models import Space
from timebank.auth import token_issue
from timebank.people.models import Member
giver, elder = sys.argv[2], sys.argv[3]
members = list(
    Member.objects.filter(is_active=True, phone__isnull=False)
    .exclude(phone__in=[giver, elder]).order_by("id")[:6]
)
parties = {m.phone: m for m in Member.objects.filter(phone__in=[giver, elder])}
out = {
    "spaces": list(
        Space.objects.filter(mode="exclusive", is_active=True).order_by("id")
        .values_list("id", flat=True)
    ),
    "bookers": [token_issue(member=m)[0] for m in members],
    "giver": parties[giver].pk,
    "elder": parties[elder].pk,
    "giver_token": token_issue(member=parties[giver])[0],
    "elder_token": token_issue(member=parties[elder])[0],
}
print("SETUP " + json.dumps(out))
"""

CHECKS: dict[str, str] = {
    # Half-written ledger: a transfer without balanced entries.
    "unbalanced_transfers": """
        SELECT t.id FROM ledger_transfer t LEFT JOIN ledger_entry e ON e.transfer_id = t.id
        GROUP BY t.id HAVING count(e.id) < 2 OR coalesce(sum(e.minutes), 0) <> 0
    """,
    # A cached balance that disagrees with the entries.
    "stale_balances": """
        SELECT a.id FROM ledger_account a
        LEFT JOIN (SELECT account_id, sum(minutes) AS s FROM ledger_entry GROUP BY account_id) x
          ON x.account_id = a.id
        WHERE a.balance_minutes <> coalesce(x.s, 0)
    """,
    # Half-written reservation: active and exclusive, but a block is missing on
    # its area or on one of the area's ancestors.
    "reservations_missing_blocks": """
    WITH RECURSIVE up(id, ancestor) AS (
        SELECT id, id FROM resources_space
        UNION
        SELECT up.id, s.parent_id FROM up JOIN resources_space s ON s.id = up.ancestor
        WHERE s.parent_id IS NOT NULL
    )
        SELECT r.id FROM resources_reservation r
        JOIN resources_space s ON s.id = r.space_id
        JOIN up ON up.id = r.space_id
        WHERE s.mode = 'exclusive' AND r.status IN ('held', 'pending', 'confirmed', 'checked_in')
          AND NOT EXISTS (
            SELECT 1 FROM resources_spaceblock b
            WHERE b.reservation_id = r.id AND b.area_id = up.ancestor AND b.active
              AND b.start = r.start AND b."end" = r."end"
              AND b.kind = CASE WHEN up.ancestor = r.space_id THEN 0 ELSE 1 END
          )
    """,
    # A block still occupying an area for a reservation that no longer does.
    "orphan_blocks": """
        SELECT b.id FROM resources_spaceblock b
        JOIN resources_reservation r ON r.id = b.reservation_id
        WHERE b.active AND r.status NOT IN ('held', 'pending', 'confirmed', 'checked_in')
    """,
    # Two active reservations on the same area, or on an area and its ancestor.
    "overlapping_reservations": """
    WITH RECURSIVE up(id, ancestor) AS (
        SELECT id, id FROM resources_space
        UNION
        SELECT up.id, s.parent_id FROM up JOIN resources_space s ON s.id = up.ancestor
        WHERE s.parent_id IS NOT NULL
    )
        SELECT a.id, b.id FROM resources_reservation a
        JOIN resources_reservation b ON a.id < b.id
        JOIN resources_space sa ON sa.id = a.space_id
        JOIN resources_space sb ON sb.id = b.space_id
        WHERE sa.mode = 'exclusive' AND sb.mode = 'exclusive'
          AND a.status IN ('held', 'pending', 'confirmed', 'checked_in')
          AND b.status IN ('held', 'pending', 'confirmed', 'checked_in')
          AND tstzrange(a.start, a."end", '[)') && tstzrange(b.start, b."end", '[)')
          AND (EXISTS (SELECT 1 FROM up WHERE up.id = a.space_id AND up.ancestor = b.space_id)
            OR EXISTS (SELECT 1 FROM up WHERE up.id = b.space_id AND up.ancestor = a.space_id))
    """,
    # Two active blocks that conflict: own vs own, or own vs shadow, same area.
    "conflicting_blocks": """
        SELECT a.id, b.id FROM resources_spaceblock a
        JOIN resources_spaceblock b ON a.area_id = b.area_id AND a.id < b.id
        WHERE a.active AND b.active AND (a.kind = 0 OR b.kind = 0)
          AND tstzrange(a.start, a."end", '[)') && tstzrange(b.start, b."end", '[)')
    """,
}


@dataclass
class Op:
    n: int
    kind: str  # "reserve" or "gift"
    token: str
    body: dict[str, Any]
    key: str = ""


@dataclass
class Outcome:
    op: Op
    status: int | None  # None: sent, but no answer (lost in flight)
    data: dict[str, Any] = field(default_factory=dict)
    after_restart: bool = False


def scratch_url(base: str, name: str) -> str:
    return urlunparse(urlparse(base)._replace(path=f"/{name}"))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def request(
    port: int,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        payload = json.dumps(body) if body is not None else None
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        conn.request(method, path, body=payload, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = {"raw": raw[:200].decode("utf-8", "replace")}
    return resp.status, data if isinstance(data, dict) else {"items": data}


class Server:
    """One daphne process on a fixed loopback port, restartable."""

    def __init__(self, port: int, env: dict[str, str], log_dir: Path) -> None:
        self.port = port
        self.env = env
        self.log_dir = log_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.first_start_s = 0.0
        self.boot_error: str | None = None

    def boot(self) -> None:
        """The first start, from a thread: records the time or the error."""
        try:
            self.first_start_s = self.start(wait_s=180)
        except RuntimeError as exc:
            self.boot_error = f"the first start failed: {exc}"

    def start(self, wait_s: float = 90) -> float:
        self.starts += 1
        log = (self.log_dir / f"daphne-{self.starts}.log").open("wb")
        started = time.monotonic()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                HOST,
                "-p",
                str(self.port),
                "timebank.asgi:application",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        while time.monotonic() - started < wait_s:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daphne exited with {self.proc.returncode}; see {log.name}")
            try:
                status, _ = request(self.port, "GET", "/api/v1/me", timeout=10)
                if status in (200, 401):
                    return time.monotonic() - started
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"daphne did not answer within {wait_s:.0f} s")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()


class Load:
    """Client threads draining a fixed list of operations; a monitor kills and
    restarts the server once enough have been answered."""

    def __init__(
        self, server: Server, ops: list[Op], threads: int, seconds: float, kill_after: int
    ):
        self.server = server
        self.ops = ops
        self.threads = threads
        self.seconds = seconds
        self.kill_after = kill_after
        self.lock = threading.Lock()
        self.next = 0
        self.answered = 0
        self.outcomes: list[Outcome] = []
        self.up = threading.Event()
        self.up.set()
        self.killed = threading.Event()
        self.restarted = threading.Event()
        self.in_flight_at_kill = 0
        self.in_flight = 0
        self.downtime_s = 0.0
        self.restart_s = 0.0
        self.deadline = 0.0
        self.error: str | None = None

    def take(self) -> Op | None:
        with self.lock:
            if self.next >= len(self.ops) or time.monotonic() > self.deadline:
                return None
            op = self.ops[self.next]
            self.next += 1
            return op

    def send(self, conn: http.client.HTTPConnection, op: Op) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {op.token}", "Content-Type": "application/json"}
        if op.key:
            headers["Idempotency-Key"] = op.key
        path = "/api/v1/reservations" if op.kind == "reserve" else "/api/v1/ledger/gifts"
        conn.request("POST", path, body=json.dumps(op.body), headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {}
        return resp.status, data if isinstance(data, dict) else {}

    def worker(self) -> None:
        conn: http.client.HTTPConnection | None = None
        op = self.take()
        while op is not None and self.error is None:
            self.up.wait(timeout=120)
            if conn is None:
                conn = http.client.HTTPConnection(HOST, self.server.port, timeout=30)
                try:
                    conn.connect()
                except OSError:
                    # Refused at connect: the server is down and never saw it. Send it again.
                    conn = None
                    time.sleep(0.1)
                    continue
            after = self.restarted.is_set()
            with self.lock:
                self.in_flight += 1
            try:
                status, data = self.send(conn, op)
                outcome = Outcome(op, status, data, after)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = None
                outcome = Outcome(op, None, {}, after)
            finally:
                with self.lock:
                    self.in_flight -= 1
            with self.lock:
                self.outcomes.append(outcome)
                if outcome.status is not None:
                    self.answered += 1
            op = self.take()
        if conn is not None:
            conn.close()

    def monitor(self) -> None:
        started = time.monotonic()
        while not self.killed.is_set():
            with self.lock:
                done = self.next >= len(self.ops)
                due = self.answered >= self.kill_after
            late = time.monotonic() - started > self.seconds * 0.5
            if due or late or done:
                break
            time.sleep(0.01)
        # Kill with requests in the server's hands, not between two of them.
        settle = time.monotonic() + 2
        while time.monotonic() < settle:
            with self.lock:
                if self.in_flight >= min(2, self.threads):
                    break
            time.sleep(0.001)
        with self.lock:
            self.in_flight_at_kill = self.in_flight
        down = time.monotonic()
        self.up.clear()
        self.server.kill()
        self.killed.set()
        try:
            self.restart_s = self.server.start()
        except RuntimeError as exc:
            self.error = f"restart failed: {exc}"
            with self.lock:
                self.next = len(self.ops)
        self.downtime_s = time.monotonic() - down
        with self.lock:
            self.deadline += self.downtime_s
        self.restarted.set()
        self.up.set()

    def run(self) -> float:
        started = time.monotonic()
        self.deadline = started + self.seconds
        threads = [threading.Thread(target=self.worker, daemon=True) for _ in range(self.threads)]
        mon = threading.Thread(target=self.monitor, daemon=True)
        for t in threads:
            t.start()
        mon.start()
        for t in threads:
            t.join()
        mon.join()
        return time.monotonic() - started


def free_slots(port: int, spaces: list[int]) -> list[tuple[int, str, str]]:
    now = dt.datetime.now(dt.UTC)
    query = urlencode(
        {
            "from": (now + dt.timedelta(hours=2)).isoformat(),
            "to": (now + dt.timedelta(days=5)).isoformat(),
        }
    )
    slots: list[tuple[int, str, str]] = []
    for space in spaces:
        status, data = request(port, "GET", f"/api/v1/spaces/{space}/availability?{query}")
        if status != 200:
            raise RuntimeError(f"availability of space {space} → {status} {data}")
        slots += [(space, s["start"], s["end"]) for s in data["slots"] if s["status"] == "free"]
    return slots


def plan(
    rng: random.Random,
    n: int,
    bookers: list[str],
    slots: list[tuple[int, str, str]],
    gift: dict[str, Any],
    booking_share: float = 0.6,
) -> list[Op]:
    # A narrow pool of slots, so bookings contend with each other.
    pool = rng.sample(slots, min(len(slots), max(8, n // 3)))
    ops: list[Op] = []
    for i in range(n):
        if rng.random() < booking_share:
            space, start, end = rng.choice(pool)
            body = {"space": space, "start": start, "end": end, "accept_terms": True}
            ops.append(Op(i, "reserve", rng.choice(bookers), body))
        else:
            forward = rng.random() < 0.7
            token = gift["giver_token"] if forward else gift["elder_token"]
            to = gift["elder"] if forward else gift["giver"]
            body = {"to": to, "minutes": rng.randint(1, 3), "memo": f"crash {i}"}
            ops.append(Op(i, "gift", token, body, key=f"crash-{i}-{uuid.uuid4().hex[:8]}"))
    return ops


def prove(db_url: str, env: dict[str, str], outcomes: list[Outcome]) -> dict[str, Any]:
    violations: list[str] = []
    acked = [o for o in outcomes if o.status is not None and 200 <= o.status < 300]
    reservations = {int(o.data["id"]): o for o in acked if o.op.kind == "reserve"}
    gifts = {int(o.data["id"]): o for o in acked if o.op.kind == "gift"}
    found: dict[str, Any] = {}
    with psycopg.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute(
            'SELECT id, space_id, member_id, start, "end", status FROM resources_reservation '
            "WHERE id = ANY(%s)",
            (list(reservations),),
        )
        rows = {int(r[0]): r for r in cur.fetchall()}
        for rid, o in reservations.items():
            row = rows.get(rid)
            if row is None:
                violations.append(f"reservation {rid} was answered 201 but is not in the database")
                continue
            start = dt.datetime.fromisoformat(o.op.body["start"])
            end = dt.datetime.fromisoformat(o.op.body["end"])
            same = (
                row[1] == o.op.body["space"]
                and row[2] == o.data["member"]
                and row[3] == start
                and row[4] == end
            )
            if not same or row[5] not in ACTIVE:
                violations.append(f"reservation {rid} differs from its 201: {row!r}")
        cur.execute(
            "SELECT id, kind, idempotency_key FROM ledger_transfer WHERE id = ANY(%s)",
            (list(gifts),),
        )
        trows = {int(r[0]): r for r in cur.fetchall()}
        for tid, o in gifts.items():
            trow = trows.get(tid)
            if trow is None:
                violations.append(f"transfer {tid} was answered 201 but is not in the database")
            elif trow[1] != "gift" or not str(trow[2] or "").endswith(f":{o.op.key}"):
                violations.append(f"transfer {tid} differs from its 201: {trow!r}")
        for name, sql in CHECKS.items():
            cur.execute(sql)
            bad = cur.fetchall()
            found[name] = len(bad)
            if bad:
                violations.append(f"{name}: {len(bad)} (first {bad[0]!r})")
        cur.execute(
            "SELECT count(*) FROM resources_reservation WHERE status = ANY(%s)", (list(ACTIVE),)
        )
        found["active_reservations"] = int(cur.fetchone()[0])  # type: ignore[index]
        cur.execute("SELECT count(*) FROM ledger_transfer WHERE kind = 'gift'")
        found["gift_transfers"] = int(cur.fetchone()[0])  # type: ignore[index]
    verify = subprocess.run(
        [sys.executable, "manage.py", "ledger", "verify"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    found["ledger_verify"] = (verify.stdout.strip() or verify.stderr.strip()).splitlines()[-1:]
    if verify.returncode != 0 or not verify.stdout.startswith("ok "):
        violations.append(f"ledger verify failed: {verify.stderr.strip()[:300]}")
    # Requests that got no answer may still have committed; that is allowed.
    found["committed_without_answer"] = {
        "reservations": found["active_reservations"] - len(reservations),
        "gifts": found["gift_transfers"] - len(gifts),
    }
    return {
        "acknowledged_reservations": len(reservations),
        "acknowledged_gifts": len(gifts),
        "database": found,
        "violations": violations,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--requests", type=int, default=400, help="at most this many (≤ 400)")
    parser.add_argument("--threads", type=int, default=4, help="client threads (≤ 8)")
    parser.add_argument("--seconds", type=float, default=30.0, help="load time bound (≤ 60)")
    parser.add_argument("--kill-at", type=float, default=0.4, help="fraction answered, then kill")
    parser.add_argument(
        "--booking-share", type=float, default=0.6, help="share of bookings; the rest are gifts"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--keep-db", action="store_true", help="do not drop the scratch database")
    args = parser.parse_args(argv)
    if not (1 <= args.requests <= 400 and 1 <= args.threads <= 8 and 0 < args.seconds <= 60):
        print("crash: --requests 1..400, --threads 1..8, --seconds up to 60", file=sys.stderr)
        return 2
    if not 0 <= args.booking_share <= 1:
        print("crash: --booking-share is a fraction between 0 and 1", file=sys.stderr)
        return 2
    if not 0 < args.kill_at < 1:
        print("crash: --kill-at is a fraction between 0 and 1", file=sys.stderr)
        return 2
    base = os.environ.get("DATABASE_URL", "")
    if urlparse(base).scheme not in {"postgres", "postgresql", "pgsql"}:
        print("crash: set DATABASE_URL=postgres://… (the scratch database is made next to it)")
        return 2

    started = time.monotonic()
    name = f"timebank_crash_{os.getpid()}"
    db_url = scratch_url(base, name)
    env = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_NAME"}
    env.update(DATABASE_URL=db_url, DEBUG="false", LOG_LEVEL="ERROR", PYTHONUNBUFFERED="1")
    if env.get("REDIS_URL"):
        env["REDIS_PREFIX"] = f"crash{os.getpid()}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')

    server: Server | None = None
    result: dict[str, Any] = {}
    log_dir = Path(tempfile.mkdtemp(prefix="timebank-crash-"))
    try:
        # The server boots (imports) while the database is migrated and seeded;
        # no load is sent before both are done.
        server = Server(free_port(), env, log_dir)
        booting = threading.Thread(target=server.boot, daemon=True)
        booting.start()
        setup_started = time.monotonic()
        setup = subprocess.run(
            [sys.executable, "-c", SETUP, str(args.seed), GIVER, ELDER],
            cwd=ROOT,
            env={**env, "DJANGO_SETTINGS_MODULE": "timebank.settings"},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        setup_s = time.monotonic() - setup_started
        booting.join()
        if setup.returncode != 0:
            raise RuntimeError(f"setup failed:\n{setup.stdout}\n{setup.stderr}")
        if server.boot_error:
            raise RuntimeError(server.boot_error)
        line = next(x for x in setup.stdout.splitlines() if x.startswith("SETUP "))
        gift = json.loads(line.removeprefix("SETUP "))
        bookers = [*gift["bookers"], gift["giver_token"], gift["elder_token"]]
        slots = free_slots(server.port, gift["spaces"])
        if not slots:
            raise RuntimeError("no free slots to book")
        rng = random.Random(args.seed)
        ops = plan(rng, args.requests, bookers, slots, gift, args.booking_share)
        kill_after = max(1, int(args.requests * args.kill_at))
        load = Load(server, ops, args.threads, args.seconds, kill_after)
        elapsed = load.run()
        if load.error:
            raise RuntimeError(load.error)
        # The restarted server must still take writes.
        status, data = request(
            server.port,
            "POST",
            "/api/v1/ledger/gifts",
            {"to": gift["elder"], "minutes": 1, "memo": "after restart"},
            headers={
                "Authorization": f"Bearer {gift['giver_token']}",
                "Idempotency-Key": "after-restart",
            },
        )
        load.outcomes.append(
            Outcome(Op(len(ops), "gift", "", {}, "after-restart"), status, data, True)
        )
        server.stop()

        outcomes = load.outcomes
        statuses: dict[str, int] = {}
        for o in outcomes:
            key = f"{o.op.kind} {o.status if o.status is not None else 'no answer'}"
            if o.status is not None and o.status >= 400:
                key += f" {o.data.get('code', '')}".rstrip()
            statuses[key] = statuses.get(key, 0) + 1
        proof = prove(db_url, env, outcomes)
        ok_after = sum(
            1 for o in outcomes if o.after_restart and o.status is not None and o.status < 300
        )
        if ok_after == 0:
            proof["violations"].append("no request was answered 2xx after the restart")
        if status != 201:
            proof["violations"].append(f"a gift after the restart was answered {status} {data}")
        result = {
            "benchmark": "crash",
            "command": "python -m benchmarks.crash " + " ".join(argv or sys.argv[1:]),
            "machine": {
                "cores": os.cpu_count(),
                "python": platform.python_version(),
                "database": "postgresql",
                "redis": bool(env.get("REDIS_URL")),
                "server": "1 daphne process",
            },
            "bound": {
                "requests": args.requests,
                "threads": args.threads,
                "seconds": args.seconds,
                "kill_after_answered": kill_after,
            },
            "sent": len(outcomes),
            "answered": sum(1 for o in outcomes if o.status is not None),
            "lost_in_flight": sum(1 for o in outcomes if o.status is None),
            "in_flight_at_kill": load.in_flight_at_kill,
            "answered_2xx_after_restart": ok_after,
            "responses": dict(sorted(statuses.items())),
            "setup_s": round(setup_s, 2),
            "first_start_s": round(server.first_start_s, 2),
            "restart_s": round(load.restart_s, 2),
            "downtime_s": round(load.downtime_s, 2),
            "load_s": round(elapsed, 2),
            **proof,
            "ok": not proof["violations"],
            "total_s": round(time.monotonic() - started, 1),
        }
    except Exception as exc:
        result = {"benchmark": "crash", "ok": False, "violations": [f"harness error: {exc}"]}
    finally:
        if server is not None:
            server.stop()
        if not args.keep_db:
            with psycopg.connect(base, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    if result["ok"]:
        shutil.rmtree(log_dir, ignore_errors=True)
    else:
        result["server_logs"] = str(log_dir)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")
    if not result["ok"]:
        for v in result["violations"][:20]:
            print(f"crash: {v}", file=sys.stderr)
        print(
            f"crash: FAILED ({len(result['violations'])} violations) → {args.results}; "
            f"server logs in {result['server_logs']}"
        )
        return 1
    print(
        f"crash: ok: {result['sent']} requests, SIGKILL with {result['in_flight_at_kill']} in "
        f"flight after {result['bound']['kill_after_answered']} answered, restarted in "
        f"{result['restart_s']} s; {result['acknowledged_reservations']} reservations and "
        f"{result['acknowledged_gifts']} gifts acknowledged, all present; "
        f"{result['lost_in_flight']} lost in flight; {result['database']['ledger_verify'][0]}; "
        f"0 overlaps; {result['total_s']} s → {args.results}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
