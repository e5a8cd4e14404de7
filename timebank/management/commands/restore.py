"""`manage.py restore PATH`: put a backup made by `manage.py backup` back in place.

Stop the server and the task workers first. The restore:

1. refuses unless PATH is an SQLite file that passes `PRAGMA integrity_check`
   and holds a Django schema (a `django_migrations` table);
2. sets the current database aside, as a consistent copy next to it
   (`<db>.pre-restore-<time>`);
3. loads the backup into the database through SQLite's backup API, which
   replaces every page in one transaction under SQLite's own locks, so a
   failure half-way leaves the old content, and no process keeps writing to
   an unlinked file;
4. checks the result with `PRAGMA integrity_check`, and puts the set-aside
   copy back if anything failed. The copy is deleted once the restore has
   succeeded, unless `--keep-old` is given.

On PostgreSQL the command refuses: use `pg_restore` (see deploy/BACKUP.md).
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from timebank.management.commands.backup import (
    copy_database,
    fsync_dir,
    integrity_problems,
    sqlite_path,
)


def check_backup(path: Path) -> int:
    """Refuse a missing, corrupt or foreign file; return its applied migrations."""
    if not path.exists():
        raise CommandError(f"There is no backup at {path}.")
    if not path.is_file():
        raise CommandError(f"{path} is not a file.")
    with path.open("rb") as fh:
        header = fh.read(16)
    if header != b"SQLite format 3\x00":
        raise CommandError(f"{path} is not an SQLite database (bad header); refusing to restore.")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise CommandError(f"{path} cannot be opened: {exc}") from exc
    try:
        problems = integrity_problems(db)
        if problems:
            raise CommandError(
                f"{path} failed PRAGMA integrity_check ({problems[0]}); refusing to restore."
            )
        row = db.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'django_migrations'"
        ).fetchone()
        if not row or not row[0]:
            raise CommandError(f"{path} is not a timebank database (no django_migrations).")
        return int(db.execute("SELECT count(*) FROM django_migrations").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        raise CommandError(f"{path} is corrupt: {exc}; refusing to restore.") from exc
    finally:
        db.close()


def load_into(source_path: Path, target: sqlite3.Connection) -> None:
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    try:
        source.backup(target, pages=-1)
    finally:
        source.close()


class Command(BaseCommand):
    help = "Restore the embedded SQLite database from a file made by `manage.py backup`."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="the backup file to restore")
        parser.add_argument(
            "--keep-old",
            action="store_true",
            help="keep the set-aside copy of the replaced database",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        db_path = sqlite_path()
        backup = Path(options["path"]).expanduser().resolve()
        if backup == db_path:
            raise CommandError("The backup is the database file itself.")
        migrations = check_backup(backup)
        connections.close_all()

        aside: Path | None = None
        if db_path.exists():
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
            aside = db_path.with_name(f"{db_path.name}.pre-restore-{stamp}")
            live = sqlite3.connect(db_path, timeout=30)
            try:
                copy_database(live, aside)
            except sqlite3.Error as exc:
                aside.unlink(missing_ok=True)
                raise CommandError(f"Could not set the current database aside: {exc}") from exc
            finally:
                live.close()
            fsync_dir(aside.parent)
        elif not db_path.parent.is_dir():
            raise CommandError(f"The directory {db_path.parent} does not exist.")

        target = sqlite3.connect(db_path, timeout=30)
        try:
            try:
                load_into(backup, target)
                problems = integrity_problems(target)
                if problems:
                    raise CommandError(f"The restored database failed its check: {problems[0]}")
                target.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except (sqlite3.Error, CommandError) as exc:
                if aside is None:
                    raise CommandError(f"Restore failed: {exc}") from exc
                try:
                    load_into(aside, target)
                except sqlite3.Error as undo:
                    raise CommandError(
                        f"Restore failed ({exc}) and putting the old database back failed "
                        f"({undo}); the old database is kept at {aside}."
                    ) from exc
                raise CommandError(
                    f"Restore failed: {exc}. The old database is back in place "
                    f"(a copy is kept at {aside})."
                ) from exc
        finally:
            target.close()

        kept = ""
        if aside is not None:
            if options["keep_old"]:
                kept = f" The replaced database is kept at {aside}."
            else:
                os.unlink(aside)
        self.stdout.write(
            self.style.SUCCESS(
                f"Restored {db_path} from {backup} ({migrations} migrations applied in the backup; "
                f"integrity ok).{kept} Run `manage.py migrate` if the code is newer than the backup."
            )
        )
