"""The projector over 10k, 100k and 1M samples of the demo CNN's dense layer.

Run: python -m benchmarks.projector_speed [--quick]

Samples are the 1,797 digits repeated with Gaussian noise (std 0.05, clipped to [0, 1]). For each size:

- activations: the projection's streamed pass (the probe's compiled forward pass per batch, the dense layer kept)
  against the floor, the bare model's compiled forward pass (a tf.function with a free batch axis) over the same
  batches, interleaved in one run. Target: at most 1.3 x the floor.
- reduction: the rest of the first projector draw in an Explorer (incremental PCA, the 2-D points, their colours
  and picture, the neighbours) = that draw's time minus the activations' time measured beside it.
- bytes: what the widgets send for the first draw (the points' picture, a 480 x 480 PNG, and the neighbour strip),
  and for a sample change after it (the current sample's ring and its neighbours only), with that change's time.

The browser's side (drawing a million points, a click's round trip) is ``benchmarks.projector_browser``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore")

import tensorflow as tf  # noqa: E402

from benchmarks._digits import noisy_digits  # noqa: E402
from benchmarks._timing import Row, interleaved, ms, table  # noqa: E402
from nbviz.testing import RecordingComm, like_a_kernel, record_widget_messages  # noqa: E402

record_widget_messages()  # before any widget exists

import nbviz  # noqa: E402
from nbviz import demo  # noqa: E402
from nbviz.compute.methods.projection import pool  # noqa: E402
from nbviz.compute.model.probe import shared_probe  # noqa: E402

BATCH = 256  # the probe's batch: both sides run the same compiled calls on the same batches
LAYER = "dense"


def bench(n: int, repeat: int) -> list[Row]:
    d = demo.digits_cnn()
    model = d.model
    x, y = noisy_digits(n)
    probe = shared_probe(model)
    forward = tf.function(lambda t: model(t, training=False), input_signature=[tf.TensorSpec((None, 8, 8, 1))])

    def floor() -> None:
        for start in range(0, n, BATCH):
            forward(tf.constant(x[start : start + BATCH])).numpy()

    def activations() -> None:
        step = probe.batch_size * 4  # as the analysis streams them (the probe splits each into its batches)
        for start in range(0, n, step):
            pool(probe.activations([x[start : start + step]], [LAYER])[LAYER], "mean")

    times = interleaved({"floor": floor, "activations": activations}, repeat=repeat, warmup=1)
    ex = nbviz.explore(model, x, y, class_names=d.class_names)
    ex.layer = LAYER  # on the weights tab: nothing over the data yet
    RecordingComm.sent = 0
    start = time.perf_counter()
    ex.tab = "projector"
    first = time.perf_counter() - start
    panel = ex.panels["projector"]
    assert panel.error is None and panel.values.shape == (n, 2), panel.error
    first_bytes = RecordingComm.sent
    changes, sizes = [], []
    for sample in (5, 50, 500, 5000 % n):
        RecordingComm.sent = 0
        start = time.perf_counter()
        ex.sample = sample
        changes.append(time.perf_counter() - start)
        sizes.append(RecordingComm.sent)
    ex.close()
    ratio = times["activations"] / times["floor"]
    reduction = first - times["activations"]
    case = f"demo CNN dense, {n:,} samples"
    return [
        Row(
            "projector_speed",
            f"{case}: activations over the data",
            ms(times["activations"]),
            f"{ratio:.2f} x forward passes ({ms(times['floor'])})",
            f"<= 1.3x: {'yes' if ratio <= 1.3 else 'NO'}",
        ),
        Row(
            "projector_speed",
            f"{case}: first draw (PCA, picture, neighbours)",
            f"{ms(first)} (reduction {ms(reduction)}), {first_bytes / 1000:.0f} KB sent",
            "",
            "bytes independent of n",
        ),
        Row(
            "projector_speed",
            f"{case}: sample change",
            f"{ms(statistics.median(changes))}, {max(sizes) / 1000:.1f} KB",
            "no picture sent again",
            "bytes independent of n",
        ),
    ]


def run(quick: bool = False) -> list[Row]:
    sizes = (10_000, 100_000) if quick else (10_000, 100_000, 1_000_000)
    with like_a_kernel():
        return [row for n in sizes for row in bench(n, 2 if quick or n >= 1_000_000 else 5)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    print(table(run(parser.parse_args().quick)))
