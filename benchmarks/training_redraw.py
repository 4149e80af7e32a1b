"""Training redraw: LiveTraining's redraw at 1,000 and at 100,000 recorded batches, side by side in one run.

Run: python -m benchmarks.training_redraw [--quick]

Two LiveTraining callbacks on the demo CNN (its 4 layers with weights, the Probe built by ``begin``) are
filled synthetically through the recorder's ``add_batch`` / ``add_record`` (what the Keras hooks store: a
noisy decaying loss per batch, random per-layer statistics and 30-bin histograms every 50 batches): one with
1,000 batches (20 records), one with 100,000 (2,000 records); a fit of 100,000 batches would take minutes
and time the same code. Each timed call stores one more batch and one more record, so every picture has
new data (the loss line, the layers x records gradient map, the chosen layer's histogram and update ratio),
then runs ``view.draw()``, which builds and serialises the widget messages through a recording comm that
counts their bytes as a kernel would send them. The two sizes alternate call by call (``interleaved``).
Target: the 100k redraw within 2x of the 1k one. A second row times ``live.history`` (the full series).
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks._timing import Row, interleaved, table  # noqa: E402
from nbviz.testing import RecordingComm, record_widget_messages  # noqa: E402

record_widget_messages()

import numpy as np  # noqa: E402

import nbviz  # noqa: E402
from nbviz import demo  # noqa: E402
from nbviz.compute.methods.training import STATS  # noqa: E402

EVERY = 50


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} us" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def _filled(data: demo.Demo, batches: int) -> nbviz.LiveTraining:
    live = nbviz.LiveTraining(monitor=(data.x_test[:32], data.y_test[:32]), every=EVERY)
    live.recorder.begin(data.model)
    rng = np.random.default_rng(batches)
    loss = np.exp(-np.arange(batches) / 2e4) + 0.05 * rng.random(batches)
    for step in range(1, batches + 1):
        _add(live, step, float(loss[step - 1]), rng, record=step % EVERY == 0)
    live.view.draw()
    return live


def _add(live: nbviz.LiveTraining, step: int, loss: float, rng: np.random.Generator, record: bool) -> None:
    rec = live.recorder
    rec.add_batch(step, {"loss": loss})
    if record:
        stats = {key: rng.uniform(0.1, 1.0, len(rec.layers)) for key in STATS}
        rec.add_record(step, stats, {name: rng.integers(0, 50, rec.bins) for name in rec.layers})


def _redraw(live: nbviz.LiveTraining, sent: list[int]) -> Callable[[], None]:
    rng = np.random.default_rng(0)

    def once() -> None:
        step = int(live.recorder.batch_step.values[-1]) + 1
        _add(live, step, float(rng.random()), rng, record=True)
        before = RecordingComm.sent
        live.view.draw()
        sent.append(RecordingComm.sent - before)

    return once


def run(quick: bool = False) -> list[Row]:
    data = demo.digits_cnn()
    sizes = {"1k": 1_000, "100k": 100_000}
    lives = {name: _filled(data, n) for name, n in sizes.items()}
    sent: dict[str, list[int]] = {name: [] for name in sizes}
    repeat = 15 if quick else 60
    times = interleaved({name: _redraw(live, sent[name]) for name, live in lives.items()}, repeat=repeat)
    history = interleaved({name: (lambda live=live: live.history) for name, live in lives.items()}, repeat=repeat)
    nbytes = {name: statistics.median(values) for name, values in sent.items()}
    ratio = times["100k"] / times["1k"]
    return [
        Row(
            "training_redraw",
            "LiveTraining view.draw() after a new batch and record, 1k vs 100k batches (synthetic fill)",
            f"1k {_us(times['1k'])} ({nbytes['1k'] / 1e3:.1f} KB sent), "
            f"100k {_us(times['100k'])} ({nbytes['100k'] / 1e3:.1f} KB sent)",
            f"100k / 1k = {ratio:.2f}x",
            f"equal within 2x: {'yes' if ratio <= 2 else 'NO'}",
        ),
        Row(
            "training_redraw",
            "live.history (the full, exact series), 1k vs 100k batches",
            f"1k {_us(history['1k'])}, 100k {_us(history['100k'])}",
            f"100k / 1k = {history['100k'] / history['1k']:.2f}x",
            "",
        ),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, for a smoke run")
    print(table(run(parser.parse_args().quick)))
