"""Bounded state: bytes sent and peak memory of explore() and every tab, flat in the size of the model's head.

Run: python -m benchmarks.bounded_state [--quick]

A tiny classifier (8 features, 16 ReLU units) with heads of 10, 1,000, 50,257 (GPT-2's vocabulary) and
1,000,000 classes, and one with a hidden layer of 1,000,000 units, explored on 20 samples. For each, explore() and
then every tab shown on every layer (nbviz.testing.footprint): the bytes the widgets send (a recording comm) and
the tracemalloc peak of each step (numpy's and Python's allocations, not TensorFlow's). The table shows the
largest step of each kind against the 10-class head, and the model's own size (its largest weight plus one
output per sample) for scale. Target: bytes sent within 2 MB of the 10-class head's, and every peak under
64 MB + 12 x the model's own size. --quick leaves out the million-wide models.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks._timing import Row, table  # noqa: E402
from nbviz.testing import footprint, record_widget_messages, wide_head  # noqa: E402

record_widget_messages()

import numpy as np  # noqa: E402

import nbviz  # noqa: E402

N = 20
MB = 2**20
#: Tabs walked on the million-wide models (every tab takes minutes there; these are the ones that read the head).
WIDE_TABS = ["weights", "activations", "gradients", "diagnostics", "projector", "rules", "findings"]


def _walk(k: int, hidden: int, tabs: list[str] | None) -> tuple[dict[str, tuple[int, int]], int]:
    model = wide_head(k, hidden)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(N, 8)).astype(np.float32), rng.integers(0, k, N)
    costs, problems = footprint(lambda: nbviz.explore(model, x, y), tabs)
    if problems:
        raise RuntimeError(f"panel errors on a head of {k} classes: {problems[:3]}")
    own = 4 * max(hidden * k, 8 * hidden) + 4 * N * max(k, hidden)
    return costs, own


def run(quick: bool = False) -> list[Row]:
    cases = [(1_000, 16), (50_257, 16)] + ([] if quick else [(1_000_000, 16), (3, 1_000_000)])
    base, _ = _walk(10, 16, None)
    rows = []
    for k, hidden in cases:
        wide = max(k, hidden) >= 1_000_000
        costs, own = _walk(k, hidden, WIDE_TABS if wide else None)
        tabs = {name: cost for name, cost in costs.items() if name != "explore"}
        for what, steps in (("explore()", {"explore": costs["explore"]}), ("every tab", tabs)):
            step_sent = max(steps, key=lambda name: steps[name][0])
            step_peak = max(steps, key=lambda name: steps[name][1])
            sent, peak = steps[step_sent][0], steps[step_peak][1]
            ref_sent = max(base[name][0] for name in steps)
            ok = sent <= ref_sent + 2 * MB and peak <= 64 * MB + 12 * own
            model = f"{k:,} classes" if hidden < 1_000_000 else f"a {hidden:,}-unit layer"
            rows.append(
                Row(
                    "bounded_state",
                    f"{model}: {what}" + (" (7 tabs)" if wide and what == "every tab" else ""),
                    f"sent {sent / MB:.2f} MB ({step_sent}), peak {peak / MB:.0f} MB ({step_peak})",
                    f"10 classes: sent {ref_sent / MB:.2f} MB; model {own / MB:.0f} MB",
                    f"sent <= 10 classes' + 2 MB, peak <= 64 MB + 12 x model: {'yes' if ok else 'NO'}",
                )
            )
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="leave out the million-wide models")
    print(table(run(parser.parse_args().quick)))
