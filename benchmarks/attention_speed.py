"""The attention tab at 128, 512 and 2,048 tokens: a sample change against one compiled forward pass.

Run: python -m benchmarks.attention_speed [--quick]

A tiny 2-layer transformer (token embedding, two residual MultiHeadAttention blocks of 2 heads, pooling, 3
classes) on random token ids. Each sample change is to a sample not seen before (the memo is cleared), in the
model view (every layer's heads as thumbnails) and in the head view (one head, reduced to the cell budget:
65,536 cells, so a 2,048 x 2,048 map is sent as 256 x 256 blocks). The floor is one compiled forward pass of
the bare model on one sample, timed in the same run; bytes are what the widgets send for the update.

Targets: at most 1.5 x floor + 20 ms and at most 300 KB per update, at every length.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks._floors import compiled_passes  # noqa: E402
from benchmarks._timing import Row, ms, table  # noqa: E402
from nbviz.testing import RecordingComm, like_a_kernel, record_widget_messages  # noqa: E402

record_widget_messages()  # before any widget exists

import nbviz  # noqa: E402

BUDGET_BYTES = 300_000


def tiny_transformer(length: int, vocab: int = 1000, dim: int = 32, heads: int = 2) -> keras.Model:
    ids = keras.Input((length,), dtype="int32", name="token_ids")
    h = keras.layers.Embedding(vocab, dim)(ids)
    for _ in range(2):
        h = keras.layers.LayerNormalization()(h + keras.layers.MultiHeadAttention(heads, dim // heads)(h, h))
    out = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling1D()(h))
    return keras.Model(ids, out, name=f"transformer_{length}")


def _median(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench(length: int, changes: int) -> list[Row]:
    keras.utils.set_random_seed(0)
    model = tiny_transformer(length)
    n = changes + 1
    x = np.random.default_rng(0).integers(1, 1000, size=(n, length)).astype("int32")
    y = np.arange(n) % 3
    forward, _ = compiled_passes(model, x[:1], y[:1])
    floor = _median(forward, 20)
    ex = nbviz.explore(model, x, y)
    ex.tab = "attention"
    panel = ex.panels["attention"]
    rows = []
    for view in ("model", "head"):
        panel.view.value = view
        ex.analysis.memo.clear()
        times, sizes = [], []
        for i in range(1, n):
            RecordingComm.sent = 0
            start = time.perf_counter()
            ex.sample = i
            times.append(time.perf_counter() - start)
            sizes.append(RecordingComm.sent)
            assert panel.error is None, panel.error
        t, size = statistics.median(times), max(sizes)
        budget = 1.5 * floor + 0.020
        ok = "yes" if t <= budget and size <= BUDGET_BYTES else "NO"
        rows.append(
            Row(
                "attention_speed",
                f"2-layer transformer, {length} tokens, {view} view: sample change",
                f"{ms(t)} (max {ms(max(times))}), {size / 1000:.0f} KB",
                f"{t / floor:.2f} x forward ({ms(floor)})",
                f"<= {ms(budget)}, <= 300 KB: {ok}",
            )
        )
    ex.close()
    return rows


def run(quick: bool = False) -> list[Row]:
    with like_a_kernel():
        return [row for length in (128, 512, 2048) for row in bench(length, 4 if quick else 12)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    print(table(run(parser.parse_args().quick)))
