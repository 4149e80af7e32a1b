"""Training overhead: fit time of the demo CNN with and without LiveTraining, pair by pair in one run.

Run: python -m benchmarks.training_overhead [--quick]

Each pair fits two fresh copies of the demo CNN on the same data (batch 32, 15 epochs as the demo is
trained, without validation: its cost is the same with or without the callback and only adds noise): one
plainly, one with
``LiveTraining(monitor=...)`` at its default settings, its widget
messages built and counted by a recording comm as a kernel would send them. The order within a pair
alternates. The overhead is the median of the per-pair ratios over many short pairs: identical fits on this
shared machine vary by up to 30% from one run to the next, so a second row gives the same ratio in CPU time
of the whole process (all threads: a spinning BLAS thread shows there) and a third measures directly the time
spent inside the callback's hooks.
Target: at most 10%.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks._timing import Row, ms, table  # noqa: E402
from nbviz.testing import RecordingComm, record_widget_messages  # noqa: E402

record_widget_messages()

import keras  # noqa: E402

import nbviz  # noqa: E402
from nbviz import demo  # noqa: E402


class TimedLiveTraining(nbviz.LiveTraining):
    """LiveTraining that adds up the time spent inside its own hooks (the part of the overhead it owns)."""

    inside = 0.0

    def _timed(name):  # noqa: N805 - a class-body helper that wraps the parent's hooks
        hook = getattr(nbviz.LiveTraining, name)

        def wrapper(self, *args, **kwargs):
            start = time.perf_counter()
            try:
                return hook(self, *args, **kwargs)
            finally:
                self.inside += time.perf_counter() - start

        return wrapper

    on_train_begin = _timed("on_train_begin")
    on_train_batch_begin = _timed("on_train_batch_begin")
    on_train_batch_end = _timed("on_train_batch_end")
    on_epoch_end = _timed("on_epoch_end")
    on_train_end = _timed("on_train_end")
    del _timed  # a helper of the class body, not a method


def _fit(data, epochs: int, live: nbviz.LiveTraining | None) -> tuple[float, float]:
    """Wall time and CPU time of the process (every thread) for one fit."""
    model = keras.models.clone_model(data.model)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start, cpu = time.perf_counter(), time.process_time()
    model.fit(
        data.x_train,
        data.y_train,
        epochs=epochs,
        batch_size=32,
        callbacks=[live] if live else [],
        verbose=0,
    )
    return time.perf_counter() - start, time.process_time() - cpu


def run(quick: bool = False) -> list[Row]:
    data = demo.digits_cnn()
    epochs, pairs = (3, 3) if quick else (15, 8)
    _fit(data, 1, None)  # TensorFlow's own first-time costs stay out of the pairs
    ratios, cpu_ratios, plain_times, live_times, draws, inside = [], [], [], [], [], []
    for i in range(pairs):
        live = TimedLiveTraining(monitor=(data.x_test, data.y_test))
        RecordingComm.sent = 0
        if i % 2 == 0:
            (plain, plain_cpu), (with_live, live_cpu) = _fit(data, epochs, None), _fit(data, epochs, live)
        else:
            (with_live, live_cpu), (plain, plain_cpu) = _fit(data, epochs, live), _fit(data, epochs, None)
        ratios.append(with_live / plain)
        cpu_ratios.append(live_cpu / plain_cpu)
        plain_times.append(plain)
        live_times.append(with_live)
        draws.append(live.draws)
        inside.append(live.inside / with_live)
    overhead = statistics.median(ratios) - 1
    return [
        Row(
            "training_overhead",
            f"demo CNN, {epochs} epochs x {len(data.x_train) // 32 + 1} batches, {pairs} pairs",
            f"plain {ms(statistics.median(plain_times))}, with LiveTraining {ms(statistics.median(live_times))}"
            f" ({statistics.median(draws):.0f} redraws)",
            f"overhead {overhead:+.1%}",
            "<= +10%",
        ),
        Row(
            "training_overhead",
            "CPU time of the process, all threads (less sensitive to other work on the machine)",
            "",
            f"overhead {statistics.median(cpu_ratios) - 1:+.1%}",
            "",
        ),
        Row(
            "training_overhead",
            "time inside LiveTraining's hooks (records, redraws, widget messages)",
            f"{statistics.median(inside):.1%} of the fit",
            "",
            "",
        ),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer epochs and pairs, for a smoke run")
    print(table(run(parser.parse_args().quick)))
