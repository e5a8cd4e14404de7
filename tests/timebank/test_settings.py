"""Configuration: bad values stop start-up with a message naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _check(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "maybe"}, "DEBUG='maybe' is not a boolean"),
        ({"TOKEN_TTL_HOURS": "soon"}, "TOKEN_TTL_HOURS='soon' is not a whole number"),
        ({"TOKEN_TTL_HOURS": "0"}, "TOKEN_TTL_HOURS=0 must be at least 1"),
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL must start with postgres://"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL must start with redis://"),
        ({"PRODUCTION": "true"}, "PRODUCTION=true needs SECRET_KEY"),
    ],
)
def test_bad_value_stops_start_up(env, message):
    result = _check(**env)
    assert result.returncode != 0
    assert message in result.stderr


def test_defaults_start_embedded():
    result = _check()
    assert result.returncode == 0, result.stderr


def test_embedded_default_is_sqlite_wal_immediate(settings):
    db = settings.DATABASES["default"]
    if settings.USING_POSTGRES:
        assert db["ENGINE"] == "django.db.backends.postgresql"
        return
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in db["OPTIONS"]["init_command"]


def test_language_and_time(settings):
    assert settings.TIME_ZONE == "Asia/Shanghai"
    assert settings.LANGUAGE_CODE == "zh-hans"
    assert [code for code, _ in settings.LANGUAGES] == ["zh-hans", "en"]
