"""`manage.py backup PATH`: an online, consistent copy of the embedded SQLite database.

It uses SQLite's backup API, so it is safe while the server runs (WAL mode
included): the copy is one consistent snapshot, taken in one step. The copy is
written to a temporary file next to PATH, switched to a self-contained
rollback journal, checked with `PRAGMA integrity_check`, flushed to disk and
only then renamed into place. On PostgreSQL the command refuses: use
`pg_dump -Fc` (see deploy/BACKUP.md).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

PG_HINT = (
    "This database is PostgreSQL: back it up with "
    "`pg_dump -Fc --no-owner -d <database> -f <file>.dump` and restore it with "
    "`pg_restore --clean --if-exists --no-owner -d <database> <file>.dump` "
    "(see deploy/BACKUP.md). `manage.py backup` and `restore` are for the embedded SQLite file."
)


def sqlite_path(using: str = "default") -> Path:
    """The file of the embedded database, or a CommandError on any other backend."""
    conn = connections[using]
    if conn.vendor != "sqlite":
        raise CommandError(
            PG_HINT if conn.vendor == "postgresql" else f"Unsupported: {conn.vendor}"
        )
    name = str(conn.settings_dict["NAME"])
    if name == ":memory:" or name.startswith("file:"):
        raise CommandError(f"The database {name!r} is not a file; there is nothing to back up.")
    return Path(name).resolve()


def integrity_problems(db: sqlite3.Connection) -> list[str]:
    """The result of `PRAGMA integrity_check`, empty when the file is sound."""
    rows = [str(row[0]) for row in db.execute("PRAGMA integrity_check").fetchall()]
    return [] if rows == ["ok"] else rows


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_database(source: sqlite3.Connection, target: Path) -> None:
    """Copy `source` into a new self-contained file at `target` and check it."""
    dest = sqlite3.connect(target)
    try:
        # pages=-1: the whole database in one step, under one read snapshot.
        source.backup(dest, pages=-1)
        # A backup of a WAL database is itself flagged WAL; make it one file.
        dest.execute("PRAGMA journal_mode=DELETE")
        problems = integrity_problems(dest)
        if problems:
            raise CommandError(f"The copy failed its integrity check: {problems[0]}")
    finally:
        dest.close()
    fsync_file(target)


def table_count(path: Path) -> int:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()
        return int(row[0])
    finally:
        db.close()


class Command(BaseCommand):
    help = "Copy the embedded SQLite database to PATH, online and consistently (backup API)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="the backup file to write")
        parser.add_argument(
            "--force", action="store_true", help="overwrite PATH if it already exists"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        source_path = sqlite_path()
        if not source_path.is_file():
            raise CommandError(f"There is no database at {source_path}; run `manage.py migrate`.")
        target = Path(options["path"]).expanduser().resolve()
        if target == source_path:
            raise CommandError("The backup cannot be the database file itself.")
        if target.is_dir():
            raise CommandError(f"{target} is a directory; give a file name.")
        if target.exists() and not options["force"]:
            raise CommandError(f"{target} already exists; pass --force to overwrite it.")
        if not target.parent.is_dir():
            raise CommandError(f"The directory {target.parent} does not exist.")

        tmp = target.with_name(f".{target.name}.{os.getpid()}.partial")
        tmp.unlink(missing_ok=True)
        # Read-write open (it only reads): a read-only open of a WAL file can fail
        # when its -shm file is missing.
        source = sqlite3.connect(source_path, timeout=30)
        try:
            copy_database(source, tmp)
            os.replace(tmp, target)
            fsync_dir(target.parent)
        except sqlite3.Error as exc:
            raise CommandError(f"Backup failed: {exc}") from exc
        finally:
            source.close()
            tmp.unlink(missing_ok=True)
        size = target.stat().st_size
        self.stdout.write(
            self.style.SUCCESS(
                f"Backed up {source_path} to {target} "
                f"({size} bytes, {table_count(target)} tables, integrity ok)."
            )
        )
