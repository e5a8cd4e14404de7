"""Database helpers shared by every app: engine checks and connection setup."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.backends.signals import connection_created


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def _on_connect(sender: Any, connection: Any, **kwargs: Any) -> None:
    if connection.vendor == "sqlite":
        # Run on every new connection: WAL is persistent, but busy_timeout and
        # foreign keys are per connection.
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=20000")


def install_connection_hooks() -> None:
    connection_created.connect(_on_connect, dispatch_uid="timebank.db.on_connect")
