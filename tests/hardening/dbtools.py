"""Helpers for the backup and crash tests: run `manage.py` in a subprocess
against a scratch database, and digest the key tables of a database."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parents[2]

# The tables whose content a restore must bring back exactly.
KEY_TABLES = [
    "django_migrations",
    "people_community",
    "people_member",
    "people_role",
    "people_relation",
    "ledger_communitypolicy",
    "ledger_account",
    "ledger_holding",
    "ledger_transfer",
    "ledger_entry",
    "ledger_chainhead",
    "resources_space",
    "resources_openingwindow",
    "resources_reservation",
    "resources_spaceblock",
    "resources_sessionslot",
]

# Run with `manage.py shell -c`: a new credited transfer, so the data changes.
MUTATE = """
from timebank.ledger.services import transfer_earn
from timebank.people.models import Community, Member
c = Community.objects.order_by("id").first()
v = Member.objects.get(phone="13800000002")
w = Member.objects.get(phone="13800000001")
transfer_earn(community=c, volunteer=v, minutes=45, actor=w, assignment_key="after-backup",
              memo="after the backup", category="cleanup")
Member.objects.filter(phone="13800000003").update(name="changed after backup")
"""


class Cursor(Protocol):
    def execute(self, query: Any, params: Any = ..., /) -> Any: ...

    def fetchall(self) -> list[Any]: ...


def scratch_env(**overrides: str) -> dict[str, str]:
    """The current environment without any database or Redis settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "SQLITE_PATH", "TEST_DATABASE_NAME"}
    }
    env.update(overrides)
    return env


def manage(
    args: Iterable[str], env: Mapping[str, str], *, check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"manage.py {' '.join(args)} exited {result.returncode}:\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result


def digest(cursor: Cursor, tables: Iterable[str] = KEY_TABLES) -> dict[str, str]:
    """A sha256 per table over every row, ordered by the first column (the id)."""
    out: dict[str, str] = {}
    for table in tables:
        cursor.execute(f'SELECT * FROM "{table}" ORDER BY 1')  # noqa: S608 - fixed names
        h = hashlib.sha256()
        rows = cursor.fetchall()
        for row in rows:
            h.update(repr(tuple(row)).encode())
        out[table] = f"{len(rows)}:{h.hexdigest()}"
    return out
