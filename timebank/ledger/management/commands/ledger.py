"""`manage.py ledger verify`: prove the ledger has not been tampered with."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from timebank.ledger.verify import verify


class Command(BaseCommand):
    help = "Ledger tools. `verify` recomputes the hash chain and every balance."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["verify"])
        parser.add_argument("--timing", action="store_true", help="print the elapsed time")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        report = verify()
        if options["timing"]:
            self.stderr.write(f"{time.perf_counter() - started:.3f} s")
        if not report.ok:
            for problem in report.problems[:20]:
                self.stderr.write(problem)
            raise CommandError(f"broken: {report.problems[0]}", returncode=1)
        self.stdout.write(f"ok {report.transfers} transfers")
