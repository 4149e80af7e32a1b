"""The probe and the Explorer on Keras's JAX and torch backends beside TensorFlow, in one table.

Run: python -m benchmarks.backends [--quick]

Keras picks its backend once per process, so each backend measures in a process of its own (one after the
other, in this run), with the same models, inputs and repeats: the demo CNN and ResNet50 (weights=None, one
224 x 224 image). Rows: (a) the floor, one compiled forward pass of the model (``tf.function`` / ``jax.jit``);
(b) ``Probe.activations`` of every layer; (c) keract-style, a sub-model and ``predict`` per layer (ResNet50:
timed on 12 layers and scaled to all); the compiled forward+backward pass (d loss / d trainable weights) and
``Probe.gradients`` (every weight, layer output and the input); the Explorer's sample change on the
activations and gradients tabs (kernel side, as ``update_latency`` times it); and the first call (the trace and
compile). The ratio column is JAX / TensorFlow and torch / TensorFlow.

torch runs in the Python that ``NBVIZ_TORCH_PYTHON`` names (PyPI's torch for Linux is the 6 GB CUDA build, so the
project's own environment has none; ``tests/test_install_torch.py`` makes one), else in this one when it has
torch; without either its column says so.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks._timing import Row, interleaved, measure, ms, table  # noqa: E402

NAME = "backends"
CASES = (
    "(a) compiled forward pass",
    "(b) Probe.activations, every layer",
    "(c) sub-model + predict per layer",
    "compiled forward+backward pass",
    "Probe.gradients (weights, outputs, input)",
    "Explorer sample change, activations tab",
    "Explorer sample change, gradients tab",
    "Probe first call (trace and compile)",
)


def _measure(quick: bool) -> dict[str, dict[str, float]]:
    """Seconds per case and model, on the backend of this process."""
    import keras
    import numpy as np

    from nbviz.testing import record_widget_messages

    record_widget_messages()  # before any widget exists
    from nbviz import demo

    digits = demo.digits_cnn()
    rng = np.random.default_rng(0)
    models = {
        "demo CNN": (digits.model, digits.x_test[:40], digits.y_test[:40], 30 if quick else 200, None),
        "ResNet50": (
            keras.applications.ResNet50(weights=None),
            rng.random((8, 224, 224, 3), dtype=np.float32),
            rng.integers(0, 1000, 8),
            3 if quick else 10,
            4 if quick else 12,
        ),
    }
    return {name: _one_model(*case, quick) for name, case in models.items()}


def _one_model(model: Any, x: Any, y: Any, repeat: int, keract_layers: int | None, quick: bool) -> dict[str, float]:
    import keras

    import nbviz
    from benchmarks._floors import compiled_passes
    from nbviz.compute import Probe
    from nbviz.testing import like_a_kernel

    one, label = x[:1], y[:1]
    probe = Probe(model)
    start = time.perf_counter()
    probe.activations(one)
    first = time.perf_counter() - start
    forward, backward = compiled_passes(model, one, label)
    t = interleaved(
        {
            CASES[0]: forward,
            CASES[1]: lambda: probe.activations(one),
            CASES[3]: backward,
            CASES[4]: lambda: probe.gradients(one, label),
        },
        repeat=repeat,
    )
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    chosen = layers if keract_layers is None else layers[:: max(1, len(layers) // keract_layers)][:keract_layers]
    start = time.perf_counter()
    for layer in chosen:
        keras.Model(model.inputs, layer.output).predict(one, verbose=0)
    t[CASES[2]] = (time.perf_counter() - start) * len(layers) / len(chosen)
    with like_a_kernel():
        ex = nbviz.explore(model, x, y)
        for tab, case in (("activations", CASES[5]), ("gradients", CASES[6])):
            ex.tab = tab
            ex.sample = 0
            ex.analysis.memo.clear()  # every sample new
            count = min(len(y) - 1, 10 if quick else 30)
            t[case] = measure(lambda i: setattr(ex, "sample", 1 + i % (len(y) - 1)), count)[0]
        ex.close()
    t[CASES[7]] = first
    return t


def _torch_python() -> str | None:
    """A Python with torch: ``NBVIZ_TORCH_PYTHON``, else this one if it has torch, else None."""
    named = os.environ.get("NBVIZ_TORCH_PYTHON")
    if named:
        return named
    return sys.executable if importlib.util.find_spec("torch") is not None else None


def run(quick: bool = False) -> list[Row]:
    results: dict[str, dict[str, dict[str, float]]] = {}
    pythons = {"tensorflow": sys.executable, "jax": sys.executable, "torch": _torch_python()}
    for backend, python in pythons.items():
        if python is None:
            continue
        env = {**os.environ, "KERAS_BACKEND": backend}
        env.pop("PYTHONPATH", None)  # run from this repository (the working directory), whatever the Python
        command = [python, "-m", "benchmarks.backends", "--measure"] + (["--quick"] if quick else [])
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
        if done.returncode != 0:
            raise RuntimeError(f"{backend} run failed:\n{done.stderr[-3000:]}")
        results[backend] = json.loads(done.stdout.split("RESULT ", 1)[1])
    rows = []
    for model in results["tensorflow"]:
        for case in CASES:
            tf_s, jax_s = results["tensorflow"][model][case], results["jax"][model][case]
            measured = f"TF {ms(tf_s)}, JAX {ms(jax_s)}"
            ratio = f"JAX/TF {jax_s / tf_s:.2f}"
            if "torch" in results:
                torch_s = results["torch"][model][case]
                measured += f", torch {ms(torch_s)}"
                ratio += f", torch/TF {torch_s / tf_s:.2f}"
            else:
                ratio += ", torch: not measured (no torch; set NBVIZ_TORCH_PYTHON)"
            rows.append(Row(NAME, f"{model}: {case}", measured, ratio, ""))
    return rows


def _main(argv: Any = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, for a smoke run")
    parser.add_argument("--measure", action="store_true", help="measure on this process's backend (internal)")
    args = parser.parse_args(argv)
    if args.measure:
        print("RESULT " + json.dumps(_measure(args.quick)))
    else:
        print(table(run(args.quick)))


if __name__ == "__main__":
    _main()
