"""Rapid interaction: resident memory and live widgets over 500 random changes of layer, sample and tab.

Run: python -m benchmarks.rapid_interaction [--quick]

The Explorer on the demo CNN gets a warm-up round (every tab shown, caches filled to their bound), then
500 random changes; the table shows the growth of resident memory (from /proc/self/statm) and of live
widgets over those changes, and the median time of one change. Target: under 20 MB, no new widgets.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks._timing import Row, ms, table  # noqa: E402
from nbviz.testing import like_a_kernel, record_widget_messages  # noqa: E402

record_widget_messages()

import numpy as np  # noqa: E402

import nbviz  # noqa: E402
from nbviz import demo  # noqa: E402
from nbviz.testing import live_widgets, random_change  # noqa: E402


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _changes(ex, n: int, rng: np.random.Generator) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        random_change(ex, rng)  # drawing the change is timed too: microseconds against milliseconds
        times.append(time.perf_counter() - start)
    return times


def run(quick: bool = False) -> list[Row]:
    with like_a_kernel():  # what a person in a notebook waits for: the version gate holds between cells
        return _run(quick)


def _run(quick: bool) -> list[Row]:
    d = demo.digits_cnn()
    ex = nbviz.explore(d.model, d.x_test[:100], d.y_test[:100], class_names=d.class_names)
    rng = np.random.default_rng(0)
    _changes(ex, 200 if quick else 500, rng)  # warm-up: every panel built, caches at their bound
    rss, count = _rss_mb(), live_widgets()
    times = _changes(ex, 200 if quick else 500, rng)
    growth, new_widgets = _rss_mb() - rss, live_widgets() - count
    ok = "yes" if growth < 20 and new_widgets == 0 else "NO"
    return [
        Row(
            "rapid_interaction",
            f"demo CNN, {len(times)} random changes of layer, sample and tab",
            f"memory {growth:+.1f} MB, widgets {new_widgets:+d}, {ms(statistics.median(times))} per change",
            "",
            f"< 20 MB, no new widgets: {ok}",
        )
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer changes, for a smoke run")
    print(table(run(parser.parse_args().quick)))
