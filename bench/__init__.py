"""Benchmarks for the canary operator: ``python -m bench [--quick] [--json PATH]``.

Each area is one module with ``run(quick: bool) -> list[Figure]`` and a ``NAMES`` tuple listing
the figures it always returns (also when it cannot measure them). Every loop here is bounded
both in iterations and in wall time, so a full run stays well under a minute on two cores.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Figure", "batches", "median", "percentile", "ratio", "timed_calls"]


@dataclass(frozen=True)
class Figure:
    """One measured figure; ``value`` is None when it could not be measured (see ``note``)."""

    name: str
    value: float | None
    unit: str
    samples: int
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def median(values: Sequence[float]) -> float:
    """Median of a non-empty sequence."""
    return float(statistics.median(values))


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return float(ordered[min(rank, len(ordered)) - 1])


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or None when either is missing or the denominator is zero."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def timed_calls(fn: Callable[[], object], *, count: int, budget_s: float) -> list[int]:
    """Call ``fn`` up to ``count`` times (stopping after ``budget_s``); nanoseconds per call."""
    out: list[int] = []
    deadline = time.perf_counter_ns() + int(budget_s * 1e9)
    clock = time.perf_counter_ns
    for _ in range(count):
        start = clock()
        fn()
        end = clock()
        out.append(end - start)
        if end > deadline:
            break
    return out


def batches(
    fn: Callable[[], object], *, batch_size: int, max_batches: int, budget_s: float, warmup: int = 0
) -> list[float]:
    """Seconds per call of ``fn``, one value per batch of ``batch_size`` calls (after ``warmup``).

    At most ``max_batches`` batches, and no new batch starts once ``budget_s`` has elapsed
    (at least one batch always runs).
    """
    for _ in range(warmup):
        fn()
    clock = time.perf_counter_ns
    deadline = clock() + int(budget_s * 1e9)
    per_call: list[float] = []
    for _ in range(max_batches):
        start = clock()
        for _ in range(batch_size):
            fn()
        end = clock()
        per_call.append((end - start) / 1e9 / batch_size)
        if end > deadline:
            break
    return per_call
