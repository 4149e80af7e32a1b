"""Growable buffers and the bounded pictures of long series, against independent computations."""

from __future__ import annotations

from types import SimpleNamespace

import keras
import numpy as np
import pytest

from nbviz.compute.methods.series import ColumnBlocks, Growable, MinMaxLine
from nbviz.compute.methods.training import TrainingRecorder


def walk(n: int, seed: int = 0) -> np.ndarray:
    return np.cumsum(np.random.default_rng(seed).normal(size=n))


def chunks(n: int, seed: int = 1) -> list[int]:
    """Series lengths at successive updates: random steps, as batches arrive between redraws."""
    rng = np.random.default_rng(seed)
    ends = np.unique(np.concatenate([rng.integers(1, n + 1, size=40), [n]]))
    return [int(e) for e in ends]


def test_growable_keeps_every_row_and_its_views():
    g = Growable((3,), np.int64, capacity=2)
    rows = np.arange(300).reshape(100, 3)
    early = None
    for i, row in enumerate(rows):
        g.append(row)
        if i == 4:
            early = g.values
    np.testing.assert_array_equal(g.values, rows)
    np.testing.assert_array_equal(early, rows[:5])  # taken before the buffer grew: unchanged
    assert not g.values.flags.writeable
    with pytest.raises(ValueError):
        g.values[0, 0] = 1


@pytest.mark.parametrize("n", [1, 7, 1999, 2000, 2001, 4097, 100_000])
def test_min_max_line_keeps_each_buckets_extremes(n):
    y = walk(n)
    y[n // 3] += 1e3  # a spike: it must be drawn
    line = MinMaxLine(budget=2000)
    for end in chunks(n):  # incremental updates give the same picture as one
        line.update(y[:end])
    index = line.indices(y)
    assert len(index) <= 2000 and (np.diff(index) > 0).all()
    if n <= 2000:
        np.testing.assert_array_equal(index, np.arange(n))  # short series: every point, exactly
        return
    w = line.width
    full = n // w * w
    buckets = y[:full].reshape(-1, w)
    expected = np.unique(
        np.concatenate(
            [
                np.arange(0, full, w) + buckets.argmin(axis=1),
                np.arange(0, full, w) + buckets.argmax(axis=1),
                [full + np.argmin(y[full:]), full + np.argmax(y[full:])] if full < n else [],
            ]
        ).astype(np.int64)
    )
    np.testing.assert_array_equal(index, expected)
    assert n // 3 in index and np.argmin(y) in index
    fresh = MinMaxLine(budget=2000).indices(y)  # one update over the whole series
    np.testing.assert_array_equal(fresh, index)


def test_min_max_line_passes_over_nan_unless_a_bucket_holds_only_nan():
    y = walk(8000)
    y[5] = np.nan  # one NaN among numbers: ignored
    y[4000:] = np.nan  # a diverged run: NaN from there on, shown as NaN
    line = MinMaxLine(budget=100)
    index = line.indices(y)
    assert not np.isnan(y[index[index < 4000]]).any()
    after = y[index[index >= 4000]]
    assert after.size and np.isnan(after).all()


@pytest.mark.parametrize("n", [1, 150, 200, 201, 999, 20_000])
def test_column_blocks_are_block_means(n):
    rows = np.abs(np.random.default_rng(2).normal(size=(n, 3))) + 1e-3
    rows[0, 1] = 0.0  # log10 of zero is left out of its mean
    blocks = ColumnBlocks(max_columns=200, transform=lambda a: np.log10(np.where(a > 0, a, np.nan)))
    for end in chunks(n):
        blocks.update(rows[:end])
    picture = blocks.picture(rows)
    assert picture.shape[0] == 3 and picture.shape[1] <= 200
    logs = np.log10(np.where(rows > 0, rows, np.nan))
    w = blocks.width
    if n <= 200:
        assert w == 1
        np.testing.assert_allclose(picture, logs.T)
        return
    starts = range(0, n, w)
    expected = np.stack([np.nanmean(logs[s : s + w], axis=0) for s in starts], axis=1)
    np.testing.assert_allclose(picture, expected)
    np.testing.assert_allclose(ColumnBlocks(200, blocks.transform).picture(rows), expected)


@pytest.fixture(scope="module")
def recorder():
    """A recorder over a tiny model, filled the way the Keras events fill it, for 30,000 batches."""
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(keras.layers.Dense(3, name="hidden")(inputs)))
    model.compile("sgd", "mse")
    rec = TrainingRecorder(monitor=(np.zeros((2, 4), np.float32), np.zeros((2, 2), np.float32)), every=10, bins=5)
    rec.begin(model)
    rng = np.random.default_rng(3)
    loss = np.exp(walk(30_000) * 0.01)
    for step in range(30_000):
        rec.add_batch(step + 1, {"loss": loss[step], "accuracy": 0.5})
        if step % 10 == 0:
            stats = {key: rng.uniform(0.1, 1.0, 2) for key in ("grad_norm", "update_ratio", "act_mean", "act_std")}
            stats["dead_share"] = np.zeros(2)
            rec.add_record(step, stats, {name: rng.integers(0, 9, 5) for name in rec.layers})
    return rec, loss


def test_history_is_exact_and_pictures_are_bounded(recorder):
    rec, loss = recorder
    h = rec.history
    np.testing.assert_array_equal(h["batch_loss"], loss)
    np.testing.assert_array_equal(h["batch_step"], np.arange(1, 30_001))
    assert h["grad_norm"].shape == (3000, 2) and h["weight_hist"]["out"].shape == (3000, 5)
    line = rec.batch_line()
    assert line.x.dtype == line.y.dtype == np.float32 and len(line.x) <= 2000
    np.testing.assert_array_equal(line.y, loss[line.x.astype(np.int64) - 1].astype(np.float32))  # true x
    assert loss.max().astype(np.float32) in line.y and loss.min().astype(np.float32) in line.y
    grads = rec.grad_map()
    w = grads.records_per_column
    assert grads.values.shape[0] == 2 and grads.values.shape[1] <= 200 and w > 1
    expected = np.log10(h["grad_norm"][:w]).mean(axis=0)
    np.testing.assert_allclose(grads.values[:, 0], expected, rtol=1e-6)
    hist = rec.hist_map("out")
    np.testing.assert_allclose(hist.values[::-1, 0], h["weight_hist"]["out"][:w].mean(axis=0), rtol=1e-6)
    assert hist.vmin == 0.0 and hist.vmax == hist.values.max()


def test_steps_follow_the_optimizer_and_continue_with_a_new_one():
    """The step is the optimizer's count; a second optimizer (the model compiled again) continues from it."""
    model = SimpleNamespace(optimizer=SimpleNamespace(iterations=0))
    rec = TrainingRecorder()  # without a monitor, the events only read the step and store losses
    rec.begin(model)
    for iterations in (4, 8, 10):
        model.optimizer.iterations = iterations
        rec.batch_end(0, {"loss": 1.0})
    model.optimizer = SimpleNamespace(iterations=0)  # compiled again: a new count from 0
    rec.begin(model)
    for iterations in (3, 5):
        model.optimizer.iterations = iterations
        rec.batch_end(0, {"loss": 1.0})
    rec.epoch({"loss": 1.0})
    np.testing.assert_array_equal(rec.history["batch_step"], [4, 8, 10, 13, 15])
    np.testing.assert_array_equal(rec.history["epoch_step"], [15])
