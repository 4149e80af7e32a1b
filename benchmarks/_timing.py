"""Side-by-side timing: candidates run interleaved in one process, so machine noise hits them alike."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nbviz.testing import RecordingComm


def interleaved(candidates: dict[str, Callable[[], object]], repeat: int = 30, warmup: int = 3) -> dict[str, float]:
    """Median seconds per call of each candidate, calling them in turn ``repeat`` times.

    Every candidate is called ``warmup`` times first (tracing, caches), and those calls are not timed.
    """
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeat):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in samples.items()}


def measure(change: Callable[[int], Any], count: int) -> tuple[float, float, int]:
    """Median and worst seconds, and the most bytes widgets sent (``RecordingComm``), over ``count`` calls of
    ``change(i)``."""
    times, sizes = [], []
    for i in range(count):
        RecordingComm.sent = 0
        start = time.perf_counter()
        change(i)
        times.append(time.perf_counter() - start)
        sizes.append(RecordingComm.sent)
    return statistics.median(times), max(times), max(sizes)


@dataclass
class Row:
    """One line of the benchmark table."""

    benchmark: str
    case: str
    measured: str
    ratio: str
    target: str

    def cells(self) -> list[str]:
        return [self.benchmark, self.case, self.measured, self.ratio, self.target]


HEADER = ["benchmark", "case", "measured (median)", "ratio", "target"]


def table(rows: list[Row]) -> str:
    """A markdown table, as the README shows it."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"
