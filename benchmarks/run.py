"""`make bench`: run every benchmark module present, in order, and list where
each wrote its figures (benchmarks/results/<name>.json)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

ORDER = ["matching", "district_tasks", "replan", "ledger", "booking", "availability", "live"]


def main() -> int:
    here = Path(__file__).resolve().parent
    failed = []
    for name in ORDER:
        if importlib.util.find_spec(f"benchmarks.{name}") is None:
            print(f"-- {name}: not written yet, skipped")
            continue
        print(f"== {name}")
        started = time.monotonic()
        code = subprocess.call([sys.executable, "-m", f"benchmarks.{name}"], cwd=here.parent)
        print(
            f"   exit {code} after {time.monotonic() - started:.1f} s → benchmarks/results/{name}.json"
        )
        if code:
            failed.append(name)
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
