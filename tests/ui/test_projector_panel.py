"""The projector tab: what it draws equals PCA of the layer, clicks and brushes move the Explorer,
colours are the model's own numbers, and a sample change sends no picture again."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest
from sklearn.decomposition import PCA

import nbviz
from nbviz.compute.methods.raster import color_map
from nbviz.compute.model.probe import shared_probe
from nbviz.testing import raising_panel_errors, recording, synced_array


@pytest.fixture(scope="module")
def ex(digits):
    with raising_panel_errors():
        explorer = nbviz.explore(digits.model, digits.x_test[:200], digits.y_test[:200], class_names=digits.class_names)
        explorer.tab = "projector"
        explorer.layer = "dense"
        yield explorer


def _panel(ex):
    return ex.panels["projector"]


def test_points_are_the_layers_pca(ex, digits):
    panel = _panel(ex)
    acts = shared_probe(digits.model).activations(digits.x_test[:200], ["dense"])["dense"].astype(np.float64)
    ref = PCA(n_components=2).fit_transform(acts)
    signs = np.sign(np.sum(panel.values * ref, axis=0))
    assert np.max(np.abs(panel.values * signs - ref)) <= 1e-4 * np.max(np.abs(ref))
    # What the browser gets: one picture of the points (the PNG sent decodes to the analysis's), over their range.
    picture = ex.analysis.projection_picture("dense")
    np.testing.assert_array_equal(panel.plot.shown, picture.rgb)
    assert list(panel.plot.points.x) == list(picture.x_range) and list(panel.plot.points.y) == list(picture.y_range)
    lo, hi = panel.values.min(axis=0), panel.values.max(axis=0)
    assert picture.x_range[0] < lo[0] and hi[0] < picture.x_range[1] and picture.drawn == 200
    assert panel.plot.title_text.startswith("dense: PCA of 200 samples x 64 features")
    assert panel.pooling.layout.display == "none"  # a dense layer has nothing to pool
    ex.layer = "conv2"
    assert "mean over 8 x 8 positions" in panel.plot.title_text and panel.pooling.layout.display is None
    ex.layer = "dense"


def test_a_click_goes_to_the_nearest_point(ex):
    panel = _panel(ex)
    c = panel.values
    for target in (17, 123):
        x, y = c[target] + np.float32(1e-4)
        _click(panel, x, y)
        expected = int(np.argmin((c[:, 0] - x) ** 2 + (c[:, 1] - y) ** 2))
        assert ex.sample == expected
        assert ex.slider.value == expected
        np.testing.assert_array_equal(synced_array(panel.plot.current, "x"), c[expected : expected + 1, 0])


def _click(panel, x, y):
    """The message bqplot's Image mark sends for a click, with its data coordinates."""
    panel.plot.points._handle_custom_msg({"event": "element_click", "data": {"click_x": x, "click_y": y}}, [])


def test_a_brush_makes_a_selection_the_slider_walks_and_diagnostics_reports(ex, digits):
    panel = _panel(ex)
    c = panel.values
    x_range = (float(np.min(c[:, 0])) - 1, float(np.median(c[:, 0])))
    y_range = (float(np.median(c[:, 1])), float(np.max(c[:, 1])) + 1)
    panel.mode.value = "brush"
    assert panel.plot.figure.interaction is panel.plot.brush
    brush = panel.plot.brush
    brush.brushing = True  # what the browser sends while the rectangle is dragged, then when it is let go
    brush.selected_x, brush.selected_y = np.array(x_range[::-1]), np.array(y_range)
    assert ex.selections == {}
    brush.brushing = False
    inside = np.flatnonzero((c[:, 0] >= x_range[0]) & (c[:, 0] <= x_range[1]) & (c[:, 1] >= y_range[0]))
    assert inside.size > 10
    np.testing.assert_array_equal(ex.selections["selection 1"], inside)
    np.testing.assert_array_equal(ex.order, inside)
    assert ex.sample in inside and ex.slider.max == inside.size - 1
    ex.slider.value = 3
    assert ex.sample == inside[3]
    # The diagnostics tab reports the selection: accuracy and mean crossentropy over its samples, from the model.
    ex.tab = "diagnostics"
    probs = digits.model(digits.x_test[:200]).numpy()
    y = digits.y_test[:200]
    accuracy = np.mean(np.argmax(probs[inside], axis=1) == y[inside])
    loss = float(np.mean(keras.losses.sparse_categorical_crossentropy(y[inside], probs[inside])))
    table = ex.panels["diagnostics"].table.value
    row = re.search(r"<b>selection 1</b> \((\d+)\)</td><td>([^<]+)</td><td>([^<]+)</td>", table)
    assert row is not None and int(row[1]) == inside.size
    np.testing.assert_allclose([float(row[2]), float(row[3])], [accuracy, loss], rtol=1e-3)
    # Unticked, the slider walks every sample again; back in click mode, a click picks a point again.
    ex.tab = "projector"
    panel.walk.value = False
    assert len(ex.order) == 200
    panel.mode.value = "click"
    assert panel.plot.figure.interaction is None
    ex.select("selection 1", [])
    assert "selection 1" not in ex.selections


def test_colours_are_the_models_numbers(ex, digits):
    panel = _panel(ex)
    probs = digits.model(digits.x_test[:200]).numpy()
    y = digits.y_test[:200]
    expected = {
        "true label": y,
        "predicted label": np.argmax(probs, axis=1),
        "correct / wrong": (np.argmax(probs, axis=1) != y),
        "confidence": np.max(probs, axis=1),
        "loss": keras.losses.sparse_categorical_crossentropy(y, probs).numpy(),
    }
    assert list(panel.color_by.options) == ["none", *expected]
    picture = ex.analysis.projection_picture("dense")
    rows, cols = _pixels(panel.values, picture)
    # The points on top at their pixel (no later point within the 5 x 5 square of another): their own colour.
    on_top = [
        i
        for i in range(200)
        if not np.any((np.abs(rows[i + 1 :] - rows[i]) <= 4) & (np.abs(cols[i + 1 :] - cols[i]) <= 4))
    ]
    assert len(on_top) > 100
    for kind, values in expected.items():
        panel.color_by.value = kind
        colors = ex.analysis.point_colors(kind)
        np.testing.assert_allclose(colors.values, values, rtol=1e-4, atol=1e-5)
        assert panel.plot.color_axis.visible == (kind in ("confidence", "loss"))
        drawn = panel.plot.shown[rows[on_top], cols[on_top]]
        np.testing.assert_array_equal(
            drawn, color_map(values[on_top], colors.colors, colors.vmin, colors.vmax, colors.categorical)
        )
    panel.color_by.value = "true label"
    assert panel.legend.value.count("background:") == 10 and ">7</span>" in panel.legend.value
    panel.color_by.value = "none"


def _pixels(coords, picture):
    """The pixel (row, column) of each point in the picture."""
    height, width, _ = picture.rgb.shape
    (x0, x1), (y0, y1) = picture.x_range, picture.y_range
    cols = np.floor((coords[:, 0].astype(np.float64) - x0) / (x1 - x0) * width).astype(int)
    rows = np.floor((y1 - coords[:, 1].astype(np.float64)) / (y1 - y0) * height).astype(int)
    return rows, cols


def test_a_sample_change_moves_the_marks_only(digits):
    with raising_panel_errors(), recording() as comm:
        ex = nbviz.explore(digits.model, digits.x_test[:100], digits.y_test[:100])
        ex.tab = "projector"
        ex.layer = "dense"
        panel = _panel(ex)
        comm.reset()
        ex.sample = 9
        picture = {panel.plot.points.comm.comm_id, panel.plot.image_widget.comm.comm_id}
        assert not [m for m in comm.messages if m[0] in picture]  # the picture is not sent again
        assert comm.sent < 20_000
        near = ex.analysis.neighbours("dense", 9).indices
        np.testing.assert_array_equal(synced_array(panel.plot.neighbours, "x"), panel.values[near, 0])
        ex.close()


def test_neighbours_strip_and_list(ex, digits):
    panel = _panel(ex)
    ex.sample = 4
    near = ex.analysis.neighbours("dense", 4)
    acts = shared_probe(digits.model).activations(digits.x_test[:200], ["dense"])["dense"].astype(np.float64)
    k = ex.analysis.projection("dense").projection.components.shape[1]
    comps = PCA(n_components=k).fit_transform(acts)  # the layer's space as far as its 32 components go
    d = np.linalg.norm(comps - comps[4], axis=1)
    d[4] = np.inf
    np.testing.assert_array_equal(near.indices, np.argsort(d, kind="stable")[:8])
    np.testing.assert_allclose(near.distances, np.sort(d)[:8], rtol=1e-4)
    # The strip: the 8 neighbours' pictures side by side, each on its own 0-1 range, NaN between them.
    strip = panel.strip.shown
    assert strip.shape == (8, 8 * 8 + 7) and np.isnan(strip[:, 8]).all()
    first = digits.x_test[near.indices[0], :, :, 0]
    np.testing.assert_allclose(strip[:, :8], (first - first.min()) / (first.max() - first.min()), atol=1e-6)
    panel.strip_list.value = int(near.indices[2])
    assert ex.sample == near.indices[2]


def test_feature_colours_and_redact(cancer):
    with raising_panel_errors():
        ex = nbviz.explore(cancer.model, cancer.x_test, cancer.y_test, feature_names=cancer.feature_names)
        ex.tab = "projector"
        ex.layer = "hidden1"
        panel = _panel(ex)
        name = cancer.feature_names[3]
        panel.color_by.value = f"feature: {name}"
        np.testing.assert_allclose(ex.analysis.point_colors(f"feature: {name}").values, cancer.x_test[:, 3], rtol=1e-6)
        assert panel.plot.color_axis.visible and panel.plot.color_scale.max == float(cancer.x_test[:, 3].max())
        assert panel.strip.note_text == "" and not panel.strip.has_data  # not images: the list only
        ex.close()

        hidden = nbviz.explore(cancer.model, cancer.x_test, cancer.y_test, redact=True)
        hidden.tab = "projector"
        panel = _panel(hidden)
        assert not [o for o in panel.color_by.options if o.startswith("feature")]  # feature values are raw input
        hidden.layer = "normalize"  # passes the standardised input on
        assert "redact mode withholds" in panel.message.value and panel.values.size == 0
        hidden.layer = "hidden1"
        assert panel.values.shape == (len(cancer.x_test), 2)
        hidden.close()


def test_digits_in_redact_mode_show_no_pictures(digits):
    with raising_panel_errors():
        ex = nbviz.explore(digits.model, digits.x_test[:50], digits.y_test[:50], redact=True)
        ex.tab = "projector"
        ex.layer = "dense"
        panel = _panel(ex)
        assert not panel.strip.has_data and len(panel.strip_list.options) == 8
        assert ex.analysis.neighbours("dense", 0).strip is None
        ex.close()
