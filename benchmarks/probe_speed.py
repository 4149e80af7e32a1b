"""Probe speed against the floor (one compiled pass) and against keract-style sub-models with predict.

Run: python -m benchmarks.probe_speed [--quick]

For the demo CNN and for ResNet50 (weights=None) on one input it prints, measured side by side in one run:
  (a) the floor: one compiled forward pass of the model (a tf.function traced once);
  (b) Probe.activations for every layer;
  (c) the keract-style approach: a sub-model built per layer and `predict` called on it;
and likewise for gradients: one compiled forward+backward pass (d loss / d trainable weights) against
Probe.gradients (d loss / d all weights, all layer outputs and the input, from one tape).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks._floors import compiled_passes  # noqa: E402
from benchmarks._timing import Row, interleaved, ms, table  # noqa: E402
from nbviz import demo  # noqa: E402
from nbviz.compute import Probe  # noqa: E402


def _keract_style(model: keras.Model, x: np.ndarray, layers: list[keras.layers.Layer]) -> float:
    """Seconds to get the given layers' outputs the keract way: one sub-model and one predict per layer."""
    start = time.perf_counter()
    for layer in layers:
        keras.Model(model.inputs, layer.output).predict(x, verbose=0)
    return time.perf_counter() - start


def bench(
    name: str, model: keras.Model, x: np.ndarray, y: np.ndarray, repeat: int, keract_layers: int | None
) -> list[Row]:
    probe = Probe(model)
    forward, forward_backward = compiled_passes(model, x, y)
    start = time.perf_counter()
    probe.activations(x)
    first = time.perf_counter() - start
    t = interleaved(
        {
            "floor": forward,
            "probe": lambda: probe.activations(x),
            "floor_grad": forward_backward,
            "probe_grad": lambda: probe.gradients(x, y),
        },
        repeat=repeat,
    )
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    chosen = layers if keract_layers is None else layers[:: max(1, len(layers) // keract_layers)][:keract_layers]
    keract = _keract_style(model, x, chosen) * len(layers) / len(chosen)
    keract_note = "" if len(chosen) == len(layers) else f", extrapolated from {len(chosen)} of {len(layers)} layers"
    n = len(probe.layers)
    b_a = t["probe"] / t["floor"]
    g = t["probe_grad"] / t["floor_grad"]
    c_b = keract / t["probe"]
    target = name == "demo CNN"
    return [
        Row("probe_speed", f"{name}: (a) compiled forward pass", ms(t["floor"]), "", ""),
        Row(
            "probe_speed",
            f"{name}: (b) Probe.activations, {n} layers",
            ms(t["probe"]),
            f"b/a = {b_a:.2f}",
            "<= 1.3" if target else "",
        ),
        Row(
            "probe_speed",
            f"{name}: (c) sub-model + predict per layer{keract_note}",
            ms(keract),
            f"c/b = {c_b:.0f}",
            ">= 50" if target else "",
        ),
        Row("probe_speed", f"{name}: compiled forward+backward pass", ms(t["floor_grad"]), "", ""),
        Row(
            "probe_speed",
            f"{name}: Probe.gradients (weights, outputs, input)",
            ms(t["probe_grad"]),
            f"{g:.2f}",
            "<= 1.3" if target else "",
        ),
        Row("probe_speed", f"{name}: Probe first call (trace)", ms(first), "", ""),
    ]


def run(quick: bool = False) -> list[Row]:
    digits = demo.digits_cnn()
    rows = bench(
        "demo CNN",
        digits.model,
        digits.x_test[:1],
        digits.y_test[:1],
        repeat=30 if quick else 200,
        keract_layers=None,
    )
    resnet = keras.applications.ResNet50(weights=None)
    rng = np.random.default_rng(0)
    x = rng.random((1, 224, 224, 3), dtype=np.float32)
    rows += bench("ResNet50", resnet, x, np.array([3]), repeat=3 if quick else 10, keract_layers=4 if quick else 12)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, for a smoke run")
    print(table(run(parser.parse_args().quick)))
