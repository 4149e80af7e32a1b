"""Bounded state: what the widgets send and what a tab allocates stay flat in the number of classes and units.

Heads of 1,000, 50,257 (GPT-2's vocabulary) and 1,000,000 classes, and a layer of 1,000,000 units: explore() and
every tab on every layer, with the bytes sent (a recording comm) and the tracemalloc peak of each step. A view past
its bound shows the top classes and "other", a sketch or a note, never an array of the head's size.
"""

from __future__ import annotations

import numpy as np
import pytest

import nbviz
from nbviz.compute.methods.diagnostics import SHOWN_CLASSES, top_confusion
from nbviz.compute.methods.projection import CountSketch
from nbviz.testing import footprint, recording, synced_array, wide_head

MB = 2**20
N = 20  # explored samples


def _data(k: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, 8)).astype(np.float32)
    return x, rng.integers(0, k, N)


def _walk(k: int, hidden: int = 16, tabs=None) -> dict[str, tuple[int, int]]:
    model = wide_head(k, hidden)
    x, y = _data(k)
    with recording():
        costs, problems = footprint(lambda: nbviz.explore(model, x, y), tabs)
    assert not problems
    return costs


def _inherent(k: int, hidden: int) -> int:
    """What the model itself costs to read: its largest weight, and one output per explored sample."""
    return 4 * max(hidden * k, 8 * hidden) + 4 * N * max(k, hidden)


@pytest.fixture(scope="module")
def small() -> dict[str, tuple[int, int]]:
    return _walk(10)


@pytest.mark.parametrize("k", [1_000, 50_257])
def test_every_tab_sends_and_holds_the_same_whatever_the_classes(k, small):
    costs = _walk(k)
    for step, (sent, peak) in costs.items():
        # Sent: within 2 MB of a 10-class head's (weights and gradients send a heatmap of at most max_cells).
        assert sent <= small[step][0] + 2 * MB, (step, sent)
        assert peak <= 64 * MB + 12 * _inherent(k, 16), (step, peak)
    assert costs["explore"][0] < 1 * MB


@pytest.mark.slow
def test_a_million_classes_and_a_million_units():
    costs = _walk(1_000_000, tabs=["diagnostics", "projector", "shap", "saliency", "rules", "findings"])
    for step, (sent, peak) in costs.items():
        assert sent < 2 * MB, (step, sent)
        assert peak <= 64 * MB + 12 * _inherent(1_000_000, 16), (step, peak)
    wide = _walk(3, hidden=1_000_000, tabs=["activations", "projector"])
    for step, (sent, peak) in wide.items():
        assert sent < 2 * MB, (step, sent)
        # The 1M-unit layer's output, 20 samples of it, is 80 MB: the old dense sketch alone was 16 GB.
        assert peak <= 64 * MB + 12 * _inherent(1_000_000, 1), (step, peak)


def test_the_confusion_of_many_classes_is_the_top_classes_and_other():
    k = 50_257
    model = wide_head(k)
    x, y = _data(k)
    y[:6] = 7  # one class with most rows
    ex = nbviz.explore(model, x, y)
    ex.tab = "diagnostics"
    panel = ex.panels["diagnostics"]
    assert panel.error is None
    grid = synced_array(panel.cm, "color")
    assert grid.shape == (SHOWN_CLASSES, SHOWN_CLASSES) or grid.shape[0] <= SHOWN_CLASSES
    shown = ex.analysis.confusion("data")
    assert shown.classes[-1] == "other" and shown.class_index[-1] == -1 and "50,257 classes" in shown.note
    assert 7 in shown.class_index
    assert grid.sum() == N  # every row is counted once, in a shown class or in "other"
    assert "50,257 classes" in panel.message.value
    ex.close()


def test_top_confusion_against_a_full_matrix():
    rng = np.random.default_rng(3)
    k, most = 300, 8
    true = rng.zipf(1.6, 500) % k
    pred = np.where(rng.random(500) < 0.6, true, rng.integers(0, k, 500))
    full = np.zeros((k, k))
    np.add.at(full, (true, pred), 1)  # the oracle: every class
    shown, counts = top_confusion(true, pred, k, most)
    top = shown[:-1]
    support = np.bincount(true, minlength=k) + np.bincount(pred, minlength=k)
    assert len(top) == most - 1 and shown[-1] == -1
    assert support[top].min() >= np.sort(support)[-(most - 1)]  # the classes with the most rows
    rest = np.setdiff1d(np.arange(k), top)
    np.testing.assert_array_equal(counts[:-1, :-1], full[np.ix_(top, top)])
    np.testing.assert_array_equal(counts[:-1, -1], full[np.ix_(top, rest)].sum(axis=1))
    np.testing.assert_array_equal(counts[-1, :-1], full[np.ix_(rest, top)].sum(axis=0))
    assert counts[-1, -1] == full[np.ix_(rest, rest)].sum() and counts.sum() == 500
    few, few_counts = top_confusion(true % 5, pred % 5, 5, most)  # few classes: all of them, no "other"
    assert list(few) == [0, 1, 2, 3, 4] and few_counts.sum() == 500


def test_the_count_sketch_is_the_signed_bucket_sum_and_keeps_distances():
    rng = np.random.default_rng(4)
    d, width = 20_000, 512
    x = rng.normal(size=(12, d)).astype(np.float32) + 1.0
    sketch = CountSketch(d, width, seed=0)
    # The oracle: the same buckets and signs as a dense (d, width) matrix.
    draw = np.random.default_rng(0)
    bucket, sign = draw.integers(0, width, d), np.where(draw.random(d) < 0.5, -1.0, 1.0)
    dense = np.zeros((d, width))
    dense[np.arange(d), bucket] = sign
    np.testing.assert_allclose(sketch(x), x @ dense, rtol=1e-4, atol=1e-3)
    from scipy.spatial.distance import pdist

    ratio = pdist(sketch(x)) / pdist(x)
    assert np.all(np.abs(ratio - 1) < 0.25) and abs(np.median(ratio) - 1) < 0.08


def test_bars_of_equal_values_get_a_value_axis():
    """Recall of 0 for every class shown (an untrained model): bqplot drew bars of negative size on the empty
    domain [0, 0] (console errors, an empty figure); the axis spans 1 from the values, or what the caller says."""
    from nbviz.ui.plots.figures import BarsPlot

    bars = BarsPlot("recall per class", horizontal=True)
    bars.show(np.zeros(5), labels=[str(i) for i in range(5)])
    assert (bars.y_scale.min, bars.y_scale.max) == (0.0, 1.0)
    bars.show(np.array([0.2, 0.9, 0.4]))
    assert (bars.y_scale.min, bars.y_scale.max) == (0.0, pytest.approx(0.9))  # the data's own range and 0 again
    bars.show(np.array([0.2, 0.9, 0.4]), span=(0.0, 1.0))
    assert (bars.y_scale.min, bars.y_scale.max) == (0.0, 1.0)
    bars.show(np.full(3, -2.0))
    assert (bars.y_scale.min, bars.y_scale.max) == (-2.0, -1.0)
