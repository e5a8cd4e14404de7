"""Run one callable from many threads at once, each on its own DB connection."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.db import connections

T = TypeVar("T")


def run_concurrently(
    fn: Callable[[int], T], n: int, *, workers: int | None = None
) -> list[T | BaseException]:
    """Call fn(i) for i in range(n) from `workers` threads released together by a
    barrier. Returns each result, or the exception it raised, in order of i."""
    size = min(workers or n, n)
    barrier = threading.Barrier(size)

    def call(i: int) -> T | BaseException:
        try:
            if i < size:
                barrier.wait(timeout=30)
            return fn(i)
        except BaseException as exc:  # the test inspects what each attempt raised
            return exc
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=size) as pool:
        return list(pool.map(call, range(n)))


def outcomes(results: list[Any]) -> dict[str, int]:
    """Count results by type name, e.g. {"Reservation": 1, "Conflict": 199}."""
    counts: dict[str, int] = {}
    for r in results:
        name = type(r).__name__
        counts[name] = counts.get(name, 0) + 1
    return counts
