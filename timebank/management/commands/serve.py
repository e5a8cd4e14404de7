"""`manage.py serve`: the ASGI server (HTTP and websockets) plus one task worker.

This is what `make run` starts. Ctrl-C stops both: the children are sent
SIGTERM, given a few seconds, then killed.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve HTTP and websockets on one port, with one background task worker."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--no-worker", action="store_true", help="do not start a task worker")

    def handle(self, *args: Any, **options: Any) -> None:
        python = sys.executable
        server = [
            python,
            "-m",
            "daphne",
            "-b",
            options["host"],
            "-p",
            str(options["port"]),
            "timebank.asgi:application",
        ]
        worker = [
            python,
            "manage.py",
            "db_worker",
            "--queue-name",
            "*",
            "--interval",
            "0.5",
            "--no-reload",
            "--verbosity",
            "0",
        ]
        children = [subprocess.Popen(server)]  # noqa: S603
        if not options["no_worker"]:
            children.append(subprocess.Popen(worker))  # noqa: S603
        self.stdout.write(
            self.style.SUCCESS(
                f"Serving on http://{options['host']}:{options['port']}/ "
                f"(websockets at /ws/live/, API docs at /api/docs). Ctrl-C stops."
            )
        )

        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                if any(child.poll() is not None for child in children):
                    self.stderr.write("A child process exited; stopping the others.")
                    break
                time.sleep(0.3)
        finally:
            for child in children:
                if child.poll() is None:
                    child.terminate()
            deadline = time.monotonic() + 8
            for child in children:
                remaining = max(0.1, deadline - time.monotonic())
                try:
                    child.wait(timeout=remaining)
                except subprocess.TimeoutExpired:
                    child.kill()
            self.stdout.write("Stopped.")
