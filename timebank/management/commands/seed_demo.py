"""`manage.py seed_demo [--seed N] [--size community|street|district] [--if-empty]`"""

from __future__ import annotations

import importlib
import random
import time
from collections.abc import Iterable
from typing import Any, TypeVar

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from timebank.demo import DEMO_LOGINS, DEMO_PASSWORD, SIZES, DemoContext, seed_people
from timebank.people.models import Community

T = TypeVar("T")

# Each app's demo part, in dependency order. A missing module is skipped.
APP_DEMOS = ["resources.demo", "matching.demo", "timebank.ledger.demo"]


class Command(BaseCommand):
    help = "Load a believable, deterministic demo street (communities, people, spaces, needs)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--size", choices=sorted(SIZES), default="street")
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing if any community exists"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if Community.objects.exists():
            if options["if_empty"]:
                self.stdout.write("Demo data already present; not seeding again.")
                self._print_logins()
                return
            raise CommandError("The database already has communities; seed an empty database.")
        quiet = options["verbosity"] == 0

        def progress(items: Iterable[T], label: str, total: int) -> Iterable[T]:
            return tqdm(items, desc=label, total=total, disable=quiet or total < 1000)

        started = time.monotonic()
        ctx = DemoContext(
            rng=random.Random(options["seed"]),  # noqa: S311 - demo data, not secrets
            size=options["size"],
            progress=progress,
        )
        seed_people(ctx)
        for dotted in APP_DEMOS:
            try:
                module = importlib.import_module(dotted)
            except ModuleNotFoundError as exc:
                if exc.name != dotted:
                    raise
                continue
            module.seed(ctx)
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {len(ctx.communities)} communities, {len(ctx.volunteers)} volunteers, "
                f"{len(ctx.residents)} residents in {time.monotonic() - started:.1f} s."
            )
        )
        self._print_logins()

    def _print_logins(self) -> None:
        self.stdout.write("Demo logins (phone / password):")
        for phone, name, role in DEMO_LOGINS:
            self.stdout.write(f"  {phone} / {DEMO_PASSWORD}   {name} ({role})")
