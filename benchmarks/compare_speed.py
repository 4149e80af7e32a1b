"""How fast nbviz.compare follows a person, against the floor of two forward passes (one per model).

Run: python benchmarks/compare_speed.py [--quick]   (or python -m benchmarks.compare_speed)

For the demo CNN against its copy fine-tuned for one epoch, and ResNet50 (weights=None, 64 x 64 x 3, 10 classes)
against a clone with one block's kernel scaled by 1.1: the median kernel-side time of a sample change (a new
sample each time, nothing memoised: both models' activations are computed) and of a layer switch (the sample's
activations memoised: the layout of A, B and B - A and the messages) with the activations tab visible, measured
from setting the traitlet to the last widget message built, and the most bytes one update sends. The floor is
``probe.predict`` on one sample for each model, measured in the same run. It runs with an IPython shell in the
process, as in a kernel (``nbviz.testing.like_a_kernel``).
Target (the Explorer's, for two models): at most 1.5 x floor + 20 ms, at most 300 KB per update.
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

NAME = "compare_speed"


def bench(name: str, model_a: keras.Model, model_b: keras.Model, x: np.ndarray, y: np.ndarray, count: int) -> list[Row]:
    start = time.perf_counter()
    view = nbviz.compare(model_a, model_b, x, y)
    opened = time.perf_counter() - start
    comparison = view.comparison
    a, b = comparison.a, comparison.b
    n = len(x)

    def two_forward_passes(i: int = 0) -> None:
        a.probe.predict(x[i % n : i % n + 1])
        b.probe.predict(x[i % n : i % n + 1])

    a.probe.activations(x[:1]), b.probe.activations(x[:1])  # the compiled pass traced, as the view's own is
    for i in range(3):
        two_forward_passes(i)
    floor = measure(two_forward_passes, 30)[0]

    view.tab = "activations"
    layers = [node.name for node in comparison.graph.nodes if comparison.matches()[node.name].outputs]
    view.layer = layers[len(layers) // 2]
    for memo in (a.memo, b.memo, comparison.memo):  # every sample new: both models' passes are computed
        memo.clear()
    sample = measure(lambda i: setattr(view, "sample", 1 + i % (n - 1)), min(count, n - 1))
    order = np.random.default_rng(1).permutation(len(layers))
    switch = measure(lambda i: setattr(view, "layer", layers[order[i % len(layers)]]), count)
    view.close()

    budget = 1.5 * floor + 0.020
    rows = [
        Row(
            NAME,
            f"{name}: open (nbviz.compare until it returns)",
            ms(opened),
            "-",
            "-",
        )
    ]
    for what, (t, worst, size) in (("sample change", sample), ("layer switch", switch)):
        ok = "yes" if t <= budget and size <= 300_000 else "NO"
        rows.append(
            Row(
                NAME,
                f"{name}, activations tab: {what}",
                f"{ms(t)} (max {ms(worst)}), {size / 1000:.0f} KB",
                f"{t / floor:.2f} x two forward passes ({ms(floor)})",
                f"<= {ms(budget)}, <= 300 KB: {ok}",
            )
        )
    return rows


def _fine_tuned_digits() -> tuple[keras.Model, keras.Model, np.ndarray, np.ndarray]:
    digits, tuned = demo.digits_cnn(), demo.digits_cnn()
    keras.utils.set_random_seed(0)
    tuned.model.fit(tuned.x_train[:300], tuned.y_train[:300], epochs=1, verbose=0)
    return digits.model, tuned.model, digits.x_test[:40], digits.y_test[:40]


def _resnet(n: int) -> tuple[keras.Model, keras.Model, np.ndarray, np.ndarray]:
    keras.utils.set_random_seed(0)
    model_a = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=10)
    model_b = keras.models.clone_model(model_a)
    model_b.set_weights(model_a.get_weights())
    kernel = model_b.get_layer("conv4_block3_2_conv").kernel
    kernel.assign(kernel.numpy() * 1.1)
    rng = np.random.default_rng(0)
    return model_a, model_b, rng.random((n, 64, 64, 3), dtype=np.float32), rng.integers(0, 10, n)


def run(quick: bool = False) -> list[Row]:
    with like_a_kernel():  # what a person in a notebook waits for: the version gate holds between cells
        rows = bench("demo CNN", *_fine_tuned_digits(), count=20 if quick else 39)
        rows += bench("ResNet50 64x64", *_resnet(12 if quick else 24), count=10 if quick else 23)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, for a smoke run")
    print(table(run(parser.parse_args().quick)))
