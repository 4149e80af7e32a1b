"""What knowing the model's version costs an interaction, against one compiled forward pass.

Run: python -m benchmarks.version_check [--quick]

For the demo CNN and ResNet50 (weights=None), measured side by side in one run:
  (a) the floor: one compiled forward pass of one sample;
  (b) the version check between two notebook cells (in a kernel: the gate holds, no weight is read), the cost
      of every slider move, layer choice or tab switch;
  (c) the version check after a cell ran (the gate moved: the fingerprint is read), once per cell; also what
      every interaction pays outside a kernel (scripts, tests);
and, as the issue measured it, Grad-CAM called without ``probe=`` (the model's shared probe) against with one.
An IPython shell is made in this process so that (b) runs the code path of a kernel.
Targets: b/a < 5%; c/a reported (once per cell, not per interaction).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks._floors import compiled_passes  # noqa: E402
from benchmarks._timing import Row, interleaved, ms, table  # noqa: E402
from nbviz import demo  # noqa: E402
from nbviz.compute import ModelVersion, Probe, saliency  # noqa: E402
from nbviz.testing import like_a_kernel  # noqa: E402


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} us" if seconds < 1e-3 else ms(seconds)


def bench(name: str, model: keras.Model, x: np.ndarray, y: np.ndarray, repeat: int, shell: Any) -> list[Row]:
    forward, _ = compiled_passes(model, x, y)
    versions = ModelVersion(model)
    versions.current()

    def after_cell() -> str:
        shell.execution_count += 1  # what a cell does to the gate
        return versions.current()

    t = interleaved({"floor": forward, "gate": versions.current, "read": after_cell}, repeat=repeat)
    gate, read = t["gate"] / t["floor"], t["read"] / t["floor"]
    return [
        Row("version_check", f"{name}: (a) compiled forward pass", ms(t["floor"]), "", ""),
        Row("version_check", f"{name}: (b) check between cells (gate)", _us(t["gate"]), f"b/a = {gate:.2%}", "< 5%"),
        Row("version_check", f"{name}: (c) check after a cell (fingerprint)", _us(t["read"]), f"c/a = {read:.1%}", ""),
    ]


def gradcam_rows(repeat: int) -> list[Row]:
    digits = demo.digits_cnn()
    model, x = digits.model, digits.x_test[:1]
    probe = Probe(model)
    t = interleaved(
        {
            "with": lambda: saliency(model, x, "gradcam", probe=probe),
            "without": lambda: saliency(model, x, "gradcam"),
        },
        repeat=repeat,
    )
    ratio = t["without"] / t["with"]
    return [
        Row("version_check", "demo CNN: Grad-CAM with probe=", ms(t["with"]), "", ""),
        Row(
            "version_check",
            "demo CNN: Grad-CAM without probe= (shared probe)",
            ms(t["without"]),
            f"{ratio:.2f}",
            "<= 1.2",
        ),
    ]


def run(quick: bool = False) -> list[Row]:
    with like_a_kernel() as shell:
        digits = demo.digits_cnn()
        rows = bench("demo CNN", digits.model, digits.x_test[:1], digits.y_test[:1], 50 if quick else 300, shell)
        resnet = keras.applications.ResNet50(weights=None)
        x = np.random.default_rng(0).random((1, 224, 224, 3), dtype=np.float32)
        rows += bench("ResNet50", resnet, x, np.array([3]), 5 if quick else 20, shell)
    return rows + gradcam_rows(repeat=20 if quick else 100)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, for a smoke run")
    print(table(run(parser.parse_args().quick)))
