"""Backups: `manage.py backup`/`restore` on the embedded SQLite default, and the
documented `pg_dump -Fc`/`pg_restore` procedure on PostgreSQL (deploy/BACKUP.md).

Every round trip runs on its own scratch database, made with `manage.py
migrate` and `seed_demo --size community` in subprocesses; the test database
is not touched."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import pytest

from tests.conftest import unreachable
from tests.hardening.dbtools import MUTATE, digest, manage, scratch_env

pytestmark = pytest.mark.slow


def sqlite_digest(path: Path) -> dict[str, str]:
    db = sqlite3.connect(path)
    try:
        return digest(db.cursor())
    finally:
        db.close()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, seeded SQLite file; each test copies it."""
    path = tmp_path_factory.mktemp("seeded") / "seed.sqlite3"
    env = scratch_env(SQLITE_PATH=str(path))
    manage(["migrate", "--noinput", "-v0"], env)
    manage(["seed_demo", "--size", "community", "-v0"], env)
    # Fold any WAL left by the subprocesses into the file, so it stands alone.
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("PRAGMA journal_mode=DELETE")
    finally:
        db.close()
    return path


@pytest.fixture
def live(seeded: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    path = tmp_path / "db.sqlite3"
    source, target = sqlite3.connect(seeded), sqlite3.connect(path)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    return path, scratch_env(SQLITE_PATH=str(path))


def test_sqlite_round_trip(live: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    db, env = live
    before = sqlite_digest(db)
    backup = tmp_path / "backup.sqlite3"

    out = manage(["backup", str(backup)], env)
    assert "integrity ok" in out.stdout
    assert sqlite_digest(backup) == before
    # The backup is one self-contained file, not a WAL database.
    mode = sqlite3.connect(backup).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "delete"

    manage(["shell", "-c", MUTATE], env)
    mutated = sqlite_digest(db)
    assert mutated["ledger_transfer"] != before["ledger_transfer"]
    assert mutated["people_member"] != before["people_member"]

    out = manage(["restore", str(backup)], env)
    assert "Restored" in out.stdout
    assert sqlite_digest(db) == before
    verify = manage(["ledger", "verify"], env)
    assert verify.stdout.startswith("ok "), verify.stdout
    # The set-aside copy is gone once the restore succeeded.
    assert not list(tmp_path.glob("db.sqlite3.pre-restore-*"))


def test_backup_while_the_database_is_being_written(
    live: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """An open writer in WAL mode with uncheckpointed pages: the backup holds
    the committed data, and is consistent (ledger verify passes on it)."""
    db, env = live
    writer = sqlite3.connect(db)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute(
        "UPDATE people_member SET name = 'committed in the WAL' WHERE phone = ?", ("13800000005",)
    )
    writer.commit()
    assert Path(f"{db}-wal").stat().st_size > 0
    try:
        backup = tmp_path / "online.sqlite3"
        manage(["backup", str(backup)], env)
    finally:
        writer.close()
    names = (
        sqlite3.connect(backup)
        .execute("SELECT name FROM people_member WHERE phone = '13800000005'")
        .fetchall()
    )
    assert names == [("committed in the WAL",)]
    copy_env = scratch_env(SQLITE_PATH=str(backup))
    assert manage(["ledger", "verify"], copy_env).stdout.startswith("ok ")


def test_backup_refuses_to_overwrite_without_force(
    live: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    _, env = live
    target = tmp_path / "exists.sqlite3"
    target.write_bytes(b"keep me")
    result = manage(["backup", str(target)], env, check=False)
    assert result.returncode == 1
    assert "already exists" in result.stderr
    assert target.read_bytes() == b"keep me"
    manage(["backup", "--force", str(target)], env)
    assert target.read_bytes().startswith(b"SQLite format 3\x00")


@pytest.mark.parametrize("kind", ["missing", "garbage", "damaged", "empty_sqlite"])
def test_restore_refuses_a_bad_backup(
    live: tuple[Path, dict[str, str]], tmp_path: Path, kind: str
) -> None:
    db, env = live
    before = sqlite_digest(db)
    bad = tmp_path / f"{kind}.sqlite3"
    if kind == "garbage":
        bad.write_bytes(os.urandom(8192))
    elif kind == "damaged":
        data = bytearray(db.read_bytes())
        page = 4096
        # Scribble over the middle pages, keeping the header intact.
        for offset in range(page * 2, min(len(data), page * 40), page):
            data[offset : offset + 200] = os.urandom(200)
        bad.write_bytes(bytes(data))
    elif kind == "empty_sqlite":
        sqlite3.connect(bad).execute("CREATE TABLE t (x)").connection.close()
    result = manage(["restore", str(bad)], env, check=False)
    assert result.returncode == 1, result.stdout
    assert "CommandError" in result.stderr
    expected = {
        "missing": "no backup",
        "garbage": "not an SQLite database",
        "damaged": "refusing to restore",
        "empty_sqlite": "not a timebank database",
    }[kind]
    assert expected in result.stderr
    # Nothing changed, and nothing was left behind.
    assert sqlite_digest(db) == before
    assert not list(tmp_path.glob("db.sqlite3.pre-restore-*"))


@pytest.mark.parametrize("command", ["backup", "restore"])
def test_commands_refuse_on_postgresql(tmp_path: Path, command: str) -> None:
    """They refuse before connecting, so this needs no PostgreSQL server."""
    env = scratch_env(DATABASE_URL="postgres://postgres@127.0.0.1:5432/timebank")
    result = manage([command, str(tmp_path / "x.dump")], env, check=False)
    assert result.returncode == 1
    assert "pg_dump -Fc" in result.stderr
    assert "pg_restore" in result.stderr
    assert "deploy/BACKUP.md" in result.stderr


# --- PostgreSQL: pg_dump -Fc / pg_restore, as deploy/BACKUP.md documents ----------


def pg_run(args: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=300, check=False, **kw)


def pg_url(name: str) -> str:
    base = urlparse(os.environ["DATABASE_URL"])
    return urlunparse(base._replace(path=f"/{name}"))


def pg_digest(url: str) -> dict[str, str]:
    import psycopg

    with psycopg.connect(url) as conn, conn.cursor() as cur:
        return digest(cur)


@pytest.fixture
def pg_scratch() -> Iterator[tuple[str, str]]:
    for tool in ("createdb", "dropdb", "pg_dump", "pg_restore"):
        if shutil.which(tool) is None:
            unreachable(f"the PostgreSQL client tool {tool}")
    base = urlparse(os.environ["DATABASE_URL"])
    conn = ["-h", base.hostname or "127.0.0.1", "-p", str(base.port or 5432)]
    conn += ["-U", base.username or "postgres"]
    names = (f"tb_backup_src_{os.getpid()}", f"tb_backup_dst_{os.getpid()}")
    for name in names:
        pg_run(["dropdb", *conn, "--if-exists", name])
        made = pg_run(["createdb", *conn, name])
        if made.returncode != 0:
            unreachable(f"PostgreSQL (createdb {name}: {made.stderr.strip()})")
    try:
        yield names
    finally:
        for name in names:
            pg_run(["dropdb", *conn, "--if-exists", "--force", name])


@pytest.mark.postgres
def test_postgres_pg_dump_pg_restore_round_trip(
    pg_scratch: tuple[str, str], tmp_path: Path
) -> None:
    source, restored = pg_scratch
    src_url, dst_url = pg_url(source), pg_url(restored)
    env = scratch_env(DATABASE_URL=src_url)
    manage(["migrate", "--noinput", "-v0"], env)
    manage(["seed_demo", "--size", "community", "-v0"], env)
    before = pg_digest(src_url)

    dump = tmp_path / "timebank.dump"
    done = pg_run(["pg_dump", "-Fc", "--no-owner", "-d", src_url, "-f", str(dump)])
    assert done.returncode == 0, done.stderr
    manage(["shell", "-c", MUTATE], env)
    assert pg_digest(src_url) != before

    done = pg_run(
        [
            "pg_restore",
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
            "-d",
            dst_url,
            str(dump),
        ]
    )
    assert done.returncode == 0, done.stderr
    assert pg_digest(dst_url) == before
    verify = manage(["ledger", "verify"], scratch_env(DATABASE_URL=dst_url))
    assert verify.stdout.startswith("ok "), verify.stdout

    # Restoring over the live (mutated) database, as BACKUP.md describes.
    done = pg_run(
        [
            "pg_restore",
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "--exit-on-error",
            "-d",
            src_url,
            str(dump),
        ]
    )
    assert done.returncode == 0, done.stderr
    assert pg_digest(src_url) == before
    assert manage(["ledger", "verify"], env).stdout.startswith("ok ")
