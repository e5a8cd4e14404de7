"""Live benchmark: websocket push latency from commit to client with many
connected clients, and the memory the server holds for idle connections.

    DATABASE_URL=postgres://… REDIS_URL=redis://… TEST_DATABASE_NAME=<scratch db> \
        python -m benchmarks.live [--clients 1000] [--events 60] [--rate 5] [--idle 10000]

A scratch database is made with Django's test-database machinery (honouring
TEST_DATABASE_NAME, dropped afterwards). Daphne serves `/ws/live/` with the
Redis channel layer, as in production; `--servers` Daphne processes share one
listening socket, as several ASGI workers behind nginx do in deploy/, and each
gets the Redis publish once and fans it out to its own sockets.

Every client is a member of one community with their own bearer token, so each
socket joins the real groups (public, its own, the community's). This process
commits events to the community's group through `timebank.events.record`, one
at a time at `--rate` per second; each event carries the wall-clock time just
*before* its transaction commits, so a latency includes the commit itself, the
Redis publish, the server's outbox read and the frame on the wire. `--warmup`
events go first and are not measured (the servers' first reads open their
connections). The clients run in `--client-procs` separate processes and report,
per event, when every socket received it.

Memory: after the latency phase, `--idle` sockets connect and stay idle; the
servers' resident sets (VmRSS, summed) are read from /proc before they connect
and once they are all open, and the difference is reported, with the total.

Writes benchmarks/results/live.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

from benchmarks.booking import start_servers

RESULTS = Path(__file__).resolve().parent / "results" / "live.json"


def _rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _raise_fd_limit(want: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(hard, max(soft, want))
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[k]


# --- the client process ---------------------------------------------------------------


async def _clients(
    port: int, tokens: list[str], expect: int, ready: Any, results: Any, timeout: float
) -> None:
    import websockets

    received: dict[int, list[float]] = {}
    socks = []
    sem = asyncio.Semaphore(100)

    async def connect(token: str) -> Any:
        async with sem:
            ws = await websockets.connect(
                f"ws://127.0.0.1:{port}/ws/live/?token={token}",
                max_size=2**20,
                open_timeout=60,
                ping_interval=None,
            )
            hello = json.loads(await ws.recv())
            assert hello.get("type") == "hello", hello
            return ws

    socks = await asyncio.gather(*(connect(t) for t in tokens))
    ready.send(len(socks))

    async def listen(ws: Any) -> None:
        while True:
            frame = json.loads(await ws.recv())
            if frame.get("type") == "bench.ping":
                now = time.time()
                received.setdefault(int(frame["data"]["n"]), []).append(
                    (now - float(frame["data"]["t"])) * 1000
                )

    tasks = [asyncio.create_task(listen(ws)) for ws in socks]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = sum(len(v) for v in received.values())
        if done >= expect * len(socks):
            break
        await asyncio.sleep(0.2)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*(ws.close() for ws in socks), return_exceptions=True)
    results.send(received)


def client_main(port: int, tokens: list[str], expect: int, ready: Any, results: Any) -> None:
    _raise_fd_limit(len(tokens) + 256)
    asyncio.run(_clients(port, tokens, expect, ready, results, timeout=120 + expect))


async def _idle(port: int, n: int, ready: Any, release: Any) -> None:
    import websockets

    sem = asyncio.Semaphore(200)

    async def connect() -> Any:
        async with sem:
            return await websockets.connect(
                f"ws://127.0.0.1:{port}/ws/live/", open_timeout=120, ping_interval=None
            )

    socks = await asyncio.gather(*(connect() for _ in range(n)), return_exceptions=True)
    opened = [s for s in socks if not isinstance(s, BaseException)]
    ready.send(len(opened))
    await asyncio.get_running_loop().run_in_executor(None, release.recv)
    await asyncio.gather(*(ws.close() for ws in opened), return_exceptions=True)


def idle_main(port: int, n: int, ready: Any, release: Any) -> None:
    _raise_fd_limit(n + 256)
    asyncio.run(_idle(port, n, ready, release))


# --- the server and the writer -----------------------------------------------------------


def _servers_rss_kib(procs: list[subprocess.Popen[bytes]]) -> int:
    return sum(_rss_kib(p.pid) for p in procs)


def seed(clients: int) -> tuple[int, list[str]]:
    from django.test import override_settings

    from tests.factories import CommunityFactory, member_with_roles
    from timebank.auth import token_issue

    # The clients use bearer tokens; a fast hasher keeps seeding from taking minutes.
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        community = CommunityFactory(name="直播基准社区")
        tokens = [
            token_issue(member=member_with_roles(community, "volunteer"))[0] for _ in range(clients)
        ]
    return int(community.pk), tokens


def write_events(community_id: int, n: int, rate: float, kind: str = "bench.ping") -> None:
    from django.db import transaction

    from timebank.events import community_group, record

    gap = 1.0 / rate
    for i in range(n):
        started = time.monotonic()
        with transaction.atomic():
            # The time is taken as late as the transaction allows: just before commit.
            record(community_group(community_id), kind, {"n": i, "t": time.time()})
        time.sleep(max(0.0, gap - (time.monotonic() - started)))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.live")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--events", type=int, default=60)
    parser.add_argument("--rate", type=float, default=5.0, help="events per second")
    parser.add_argument("--idle", type=int, default=10000)
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured events first")
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--servers", type=int, default=2, help="Daphne processes")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get(
        "REDIS_URL"
    ):
        print("live benchmark: set DATABASE_URL=postgres://… and REDIS_URL=redis://…")
        return 2
    _raise_fd_limit(args.idle + args.clients + 512)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "timebank.settings")
    import django

    django.setup()
    from django.db import connection, connections

    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    log = tempfile.NamedTemporaryFile(prefix="live-bench-", suffix=".log", delete=False)  # noqa: SIM115
    procs: list[subprocess.Popen[bytes]] = []
    try:
        community_id, tokens = seed(args.clients)
        url = urlparse(os.environ["DATABASE_URL"])
        db_url = urlunparse(url._replace(path="/" + connection.settings_dict["NAME"]))
        # Daphne inherits this process's raised file limit, and REDIS_URL.
        procs, port = start_servers(args.servers, db_url, log)
        rss_start = _servers_rss_kib(procs)

        ctx = multiprocessing.get_context("spawn")
        # The sockets are spread over several client processes, so that one
        # client's own parsing does not queue up behind the others' and count
        # as server latency.
        n_procs = max(1, min(args.client_procs, len(tokens)))
        pipes = []
        children = []
        t0 = time.monotonic()
        for k in range(n_procs):
            ready_r, ready_w = ctx.Pipe(duplex=False)
            res_r, res_w = ctx.Pipe(duplex=False)
            child = ctx.Process(
                target=client_main,
                args=(port, tokens[k::n_procs], args.events, ready_w, res_w),
                daemon=True,
            )
            child.start()
            pipes.append((ready_r, res_r))
            children.append(child)
        connected = sum(ready_r.recv() for ready_r, _res in pipes)
        connect_s = time.monotonic() - t0
        time.sleep(1.0)
        # Warm-up events (not measured): the server's first reads open its
        # database connections and fill the event cache.
        write_events(community_id, args.warmup, args.rate, kind="bench.warmup")
        time.sleep(1.0)
        write_events(community_id, args.events, args.rate)
        received: dict[int, list[float]] = {}
        for _ready, res_r in pipes:
            for n, values in res_r.recv().items():
                received.setdefault(n, []).extend(values)
        for child in children:
            child.join(timeout=30)
        latencies = [ms for per in received.values() for ms in per]
        delivered = len(latencies)
        expected = args.events * connected
        per_event_p99 = [_percentile(v, 0.99) for v in received.values()]
        rss_busy = _servers_rss_kib(procs)

        # Idle connections: memory held by the server.
        connections.close_all()
        rss_before_idle = _servers_rss_kib(procs)
        ready_r2, ready_w2 = ctx.Pipe(duplex=False)
        rel_r, rel_w = ctx.Pipe(duplex=False)
        idler = ctx.Process(target=idle_main, args=(port, args.idle, ready_w2, rel_r), daemon=True)
        t1 = time.monotonic()
        idler.start()
        idle_open = ready_r2.recv()
        idle_connect_s = time.monotonic() - t1
        time.sleep(2.0)
        rss_idle = _servers_rss_kib(procs)
        rel_w.send(True)
        idler.join(timeout=60)

        figures = {
            "machine": {
                "cores": os.cpu_count(),
                "python": platform.python_version(),
                "database": "postgresql",
                "channel_layer": "redis",
                "load_average": os.getloadavg(),
            },
            "clients": connected,
            "client_processes": n_procs,
            "server_processes": len(procs),
            "connect_seconds": round(connect_s, 2),
            "events": args.events,
            "rate_per_s": args.rate,
            "warmup_events": args.warmup,
            "delivered": delivered,
            "expected": expected,
            "latency_ms": {
                "p50": round(statistics.median(latencies), 1) if latencies else None,
                "p95": round(_percentile(latencies, 0.95), 1),
                "p99": round(_percentile(latencies, 0.99), 1),
                "max": round(max(latencies), 1) if latencies else None,
                "median_of_per_event_p99": round(statistics.median(per_event_p99), 1)
                if per_event_p99
                else None,
            },
            "per_event_p99_ms": [
                round(x, 1)
                for _n, x in sorted((n, _percentile(v, 0.99)) for n, v in received.items())
            ],
            "server_rss_mib": {
                "start": round(rss_start / 1024, 1),
                "after_latency_phase": round(rss_busy / 1024, 1),
                "before_idle": round(rss_before_idle / 1024, 1),
                "with_idle": round(rss_idle / 1024, 1),
            },
            "idle_connections": idle_open,
            "idle_connect_seconds": round(idle_connect_s, 1),
            "idle_added_mib": round((rss_idle - rss_before_idle) / 1024, 1),
            "targets": {"p99_ms": 100, "idle_10k_mib": 1024},
        }
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(figures, indent=2, ensure_ascii=False))
        lat = figures["latency_ms"]
        print(f"clients {connected}, events {args.events} at {args.rate}/s")
        print(f"  delivered {delivered}/{expected}")
        print(f"  latency p50 {lat['p50']} ms, p95 {lat['p95']} ms, p99 {lat['p99']} ms")
        print(
            f"  idle sockets {idle_open}: server RSS {figures['server_rss_mib']['with_idle']} MiB "
            f"(+{figures['idle_added_mib']} MiB over {figures['server_rss_mib']['before_idle']})"
        )
        return 0 if delivered == expected else 1
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        connections.close_all()
        connection.creation.destroy_test_db(old_name, verbosity=0)
        log.close()
        text = Path(log.name).read_text(errors="replace").strip()
        if text:
            print(f"server log ({log.name}):\n" + text[-2000:])


if __name__ == "__main__":
    sys.exit(main())
