"""Crash safety (issue §6): `python -m benchmarks.crash` on PostgreSQL, with a
small bound. It SIGKILLs the server mid-load, restarts it, and proves in SQL
and with `manage.py ledger verify` that every acknowledged write is there,
whole, and that no reservations overlap. See benchmarks/crash.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hardening.dbtools import ROOT


@pytest.mark.postgres
@pytest.mark.slow
def test_kill_9_under_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    results = tmp_path / "crash.json"
    env = {k: v for k, v in os.environ.items() if k != "TEST_DATABASE_NAME"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.crash",
            "--requests",
            "100",
            "--threads",
            "4",
            "--seconds",
            "25",
            "--results",
            str(results),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert done.stdout.startswith("crash: ok:"), done.stdout
    report = json.loads(results.read_text())
    assert report["ok"] is True
    assert report["violations"] == []
    # The kill really happened under load, and the restarted server took writes.
    assert report["in_flight_at_kill"] >= 1
    assert report["answered_2xx_after_restart"] >= 1
    assert report["sent"] <= 101  # the bound, plus the one gift after the restart
    assert report["acknowledged_reservations"] >= 1
    assert report["acknowledged_gifts"] >= 1
    db = report["database"]
    for check in (
        "unbalanced_transfers",
        "stale_balances",
        "reservations_missing_blocks",
        "orphan_blocks",
        "overlapping_reservations",
        "conflicting_blocks",
    ):
        assert db[check] == 0, check
    assert db["ledger_verify"][0].startswith("ok ")
    # Every acknowledged gift is one gift transfer; unanswered ones may also have landed.
    assert db["gift_transfers"] >= report["acknowledged_gifts"]


def test_crash_check_refuses_without_postgresql() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.crash", "--requests", "10"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "DATABASE_URL=postgres://" in done.stdout
