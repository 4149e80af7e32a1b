"""Big models: a new sample's SHAP values and saliency maps against the floor of the passes they need.

Run: python -m benchmarks.big_models [--quick]

On keras.applications ResNet50 (224 x 224, 1,000 classes) and ConvNeXtTiny (128 x 128 here: at 224 one
forward and backward pass alone takes 2-3 s on a 2-core CPU, its grouped convolutions running through XLA),
both with random weights, after one sample has traced the passes (what the Explorer has done by the time a
person moves the slider):

- SHAP (auto: expected gradients, the class on show): the time to the first estimate and to the full result
  (200 draws) for a new sample, through the Analysis as the SHAP tab asks it;
- the gradient, SmoothGrad (25 samples) and integrated gradients (64 steps) of a new sample;
- each beside its floor, timed in the same run: the same number of forward and backward passes through a bare
  compiled function of the model (input gradient of one output unit), in batches of the same size.

Targets: first estimate < 2 s, full result <= 1.5x the floor. --quick uses 64 x 64 inputs and 10 classes.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks._timing import Row, ms  # noqa: E402
from nbviz.compute import analyse, saliency  # noqa: E402


def _floor(model: keras.Model, x: np.ndarray, passes: int, rows: int) -> float:
    """Seconds for ``passes`` input-gradient passes of one unit through a bare compiled function, ``rows`` a call."""

    def grad(batch: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            tape.watch(batch)
            objective = tf.reduce_sum(model(batch, training=False)[:, 0])
        return tape.gradient(objective, batch)

    fn = tf.function(grad).get_concrete_function(tf.TensorSpec((None, *x.shape[1:]), tf.float32))
    batches = [np.repeat(x[:1], min(rows, passes - start), axis=0) for start in range(0, passes, rows)]
    for size in {len(b) for b in batches}:  # compiled (and XLA-compiled) for every size first
        fn(tf.constant(batches[0][:size]))
    start = time.perf_counter()
    for batch in batches:
        fn(tf.constant(batch)).numpy()
    return time.perf_counter() - start


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench(name: str, size: int, classes: int) -> list[Row]:
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3), classes=classes)
    x = np.random.default_rng(0).uniform(0, 255, size=(8, size, size, 3)).astype(np.float32)
    analysis = analyse(model, x, background=x)
    probe = analysis.probe
    rows = probe.gradient_rows(x[:1])
    case = f"{name} {size}x{size}, {classes} classes"
    # Sample 0 traces every pass and measures one, as the Explorer's first sample does.
    start = time.perf_counter()
    analysis.refine_shap(0, "auto", None, cancelled=lambda: True)
    traced = time.perf_counter() - start
    saliency(model, x[:1], "smoothgrad", probe=probe, samples=1)

    first: list[tuple[float, int]] = []
    start = time.perf_counter()
    done = analysis.refine_shap(
        1, "auto", None, on_estimate=lambda e: first or first.append((time.perf_counter(), e.done))
    )
    full = time.perf_counter() - start
    assert done is not None and done.final and analysis.shap_explainer().name == "gradient"
    floor = _floor(model, x, done.total, rows)
    (first_at, first_draws) = first[0]
    out = [
        Row(
            "big_models",
            f"{case}: SHAP first estimate, new sample",
            f"{ms(first_at - start)} ({first_draws} of {done.total} draws)",
            "",
            "< 2 s",
        ),
        Row(
            "big_models",
            f"{case}: SHAP full result (200 draws), new sample",
            f"{ms(full)} (floor {ms(floor)}; {rows} rows a pass)",
            f"{full / floor:.2f}x the floor",
            "<= 1.5x",
        ),
        Row("big_models", f"{case}: first sample (tracing the passes)", ms(traced), "", "shown as computing"),
    ]
    for method, passes, kwargs in (
        ("gradient", 1, {}),
        ("smoothgrad", 25, {"samples": 25}),
        ("integrated_gradients", 64, {"steps": 64}),
    ):
        ours = _timed(lambda m=method, k=kwargs: saliency(model, x[2:3], m, target=0, probe=probe, **k))
        floor = _floor(model, x, passes, rows)
        out.append(
            Row(
                "big_models",
                f"{case}: {method}, new sample ({passes} passes)",
                f"{ms(ours)} (floor {ms(floor)})",
                f"{ours / floor:.2f}x the floor",
                "<= 1.5x",
            )
        )
    return out


def run(quick: bool = False) -> list[Row]:
    if quick:
        return bench("ResNet50", 64, 10) + bench("ConvNeXtTiny", 64, 10)
    return bench("ResNet50", 224, 1000) + bench("ConvNeXtTiny", 128, 1000)


if __name__ == "__main__":
    from benchmarks._timing import table

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small inputs, for a smoke run")
    print(table(run(parser.parse_args().quick)))
