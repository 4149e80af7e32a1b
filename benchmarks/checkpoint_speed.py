"""How fast the Explorer's checkpoint slider shows the model as it was, against one forward pass on those weights.

Run: python benchmarks/checkpoint_speed.py [--quick]   (or python -m benchmarks.checkpoint_speed)

For the demo CNN and ResNet50 (weights=None, 64 x 64 x 3, 10 classes): an Explorer given a LiveTraining whose
snapshots differ from each other in every weight (as after full training), on the activations tab. A
checkpoint change is timed from setting ``ex.checkpoint`` to the last widget message built, each to a snapshot
not shown before (nothing memoised): it loads the snapshot's weights into the Explorer's copy of the model (from
memory, or from its ``.weights.h5`` file past the memory bound), reads the copy's version and computes the
activations tab and the sample view. The floor is one forward pass (``probe.predict`` on one sample) of the copy
with those weights, measured in the same run. It runs with an IPython shell in the process, as in a kernel.
Target (issue 17): at most 1.5 x floor + 20 ms, weight loading included.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks._timing import Row, measure, ms, table  # noqa: E402
from nbviz.testing import like_a_kernel, record_widget_messages  # noqa: E402

record_widget_messages()  # before any widget exists

import nbviz  # noqa: E402
from nbviz import demo  # noqa: E402

NAME = "checkpoint_speed"


def _snapshots(model: keras.Model, live: nbviz.LiveTraining, count: int) -> None:
    """``count`` snapshots in which every weight differs (each scaled by its own factor), as after full training
    (a frozen layer would be kept and loaded once); the model's weights restored."""
    original = model.get_weights()
    for k in range(count):
        model.set_weights([w * (1.0 + 0.01 * (k + 1)) for w in original])
        live.snapshots.take(model, step=k + 1, epoch=None)
    model.set_weights(original)


def bench(name: str, model: keras.Model, x: np.ndarray, y: np.ndarray, layer: str, count: int) -> list[Row]:
    size = sum(w.nbytes for w in model.get_weights())
    warm = 2
    # The first `warm + count` snapshots fit in memory; as many again go to disk.
    live = nbviz.LiveTraining(poll_ui=False, max_snapshot_bytes=(warm + count) * size)
    _snapshots(model, live, 2 * (warm + count))
    with like_a_kernel():
        ex = nbviz.explore(model, x, y, training=live)
        ex.tab = "activations"
        ex.layer = layer
        start = time.perf_counter()
        ex.checkpoint = 0  # the copy of the model is made, and its passes traced
        first = time.perf_counter() - start
        ex.checkpoint = 1
        probe = ex.analysis.probe
        n = len(x)
        for i in range(10):  # past the probe's eager calls: the compiled pass, as the tab's own
            probe.predict(x[i % n : i % n + 1])

        def floor_once(i: int) -> None:
            probe.predict(x[i % n : i % n + 1])

        floor = measure(floor_once, 30)[0]
        in_memory = measure(lambda i: setattr(ex, "checkpoint", warm + i), count)
        on_disk = measure(lambda i: setattr(ex, "checkpoint", 2 * warm + count + i), count)
        assert live.snapshots[2 * warm + count].path is not None and live.snapshots[warm + count - 1].path is None
        ex.checkpoint = -1
        ex.close()
    live.close()
    budget = 1.5 * floor + 0.020
    rows = [Row(NAME, f"{name}: first checkpoint (copy the model, trace its passes)", ms(first), "-", "-")]
    for where, (t, worst, _) in (("from memory", in_memory), ("from a .weights.h5 file", on_disk)):
        rows.append(
            Row(
                NAME,
                f"{name} ({size / 2**20:.1f} MB of weights), activations tab: checkpoint change {where}",
                f"{ms(t)} (max {ms(worst)})",
                f"{t / floor:.2f} x one forward pass ({ms(floor)})",
                f"<= {ms(budget)}: {'yes' if t <= budget else 'NO'}",
            )
        )
    return rows


def run(quick: bool = False) -> list[Row]:
    count = 3 if quick else 8
    digits = demo.digits_cnn()
    rows = bench("demo CNN", digits.model, digits.x_test[:64], digits.y_test[:64], "conv2", count)
    keras.utils.set_random_seed(0)
    resnet = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=10)
    rng = np.random.default_rng(0)
    x = rng.random((16, 64, 64, 3), dtype=np.float32)
    rows += bench("ResNet50 64x64", resnet, x, rng.integers(0, 10, 16), "conv4_block3_2_conv", count)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, for a smoke run")
    print(table(run(parser.parse_args().quick)))


if __name__ == "__main__":
    main()
