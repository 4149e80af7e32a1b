"""How big and how slow a static HTML report is (issue 18's target: ResNet50's under 5 MB and 10 s).

Run: python benchmarks/report_size.py [--quick]   (or python -m benchmarks.report_size)

``nbviz.report`` on the demo CNN (8 layers x 5 samples) and on ResNet50 (weights=None, 64 x 64 x 3, 10 classes;
10 layers x 3 samples), with the default tabs (weights, activations, gradients, saliency, diagnostics, findings):
the time from the call to the file written, the Explorer's own start included, and the file's size.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import nbviz  # noqa: E402
from benchmarks._timing import Row, ms, table  # noqa: E402
from nbviz import demo  # noqa: E402

NAME = "report_size"


def bench(name: str, model: keras.Model, x: np.ndarray, y: np.ndarray, layers: int, samples: int) -> Row:
    names = [n for n in nbviz.compute.analyse(model, x[:2], y[:2]).learning_layers]
    chosen = [names[int(round(i))] for i in np.linspace(0, len(names) - 1, layers)]
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        path = nbviz.report(model, x, y, Path(folder) / "report.html", layers=chosen, samples=list(range(samples)))
        seconds = time.perf_counter() - start
        size = path.stat().st_size
    ok = "yes" if size < 5e6 and seconds < 10 else "NO"
    return Row(
        NAME,
        f"{name}: {layers} layers x {samples} samples, default tabs",
        f"{ms(seconds)}, {size / 1e6:.2f} MB",
        "-",
        f"< 10 s, < 5 MB: {ok}",
    )


def run(quick: bool = False) -> list[Row]:
    import nbviz.compute  # noqa: F401 - analyse, for the layer names

    digits = demo.digits_cnn()
    rows = [bench("demo CNN", digits.model, digits.x_test[:200], digits.y_test[:200], 8, 5)]
    keras.utils.set_random_seed(0)
    resnet = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=10)
    rng = np.random.default_rng(0)
    n = 16 if quick else 64
    rows.append(
        bench("ResNet50 64x64", resnet, rng.random((n, 64, 64, 3), dtype=np.float32), rng.integers(0, 10, n), 10, 3)
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer samples, for a smoke run")
    print(table(run(parser.parse_args().quick)))


if __name__ == "__main__":
    main()
