"""Pictures as a person sees them: thumbnails, feature maps, saliency and kernels at their data's aspect ratio, a
conv kernel as a grid of its filters with gutters, the saliency overlay in the sample view's grey convention, and
a sequence's heatmap with its tokens down the side."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import nbviz
from nbviz.compute.methods.display import activation_view, overlay
from nbviz.compute.methods.weights import filter_grid
from nbviz.testing import raising_panel_errors
from nbviz.ui.panels.pictures import labelled_height, row_labels
from nbviz.ui.plots.figures import GREYS, natural_px


def drawn_aspect(plot, share: float = 1.0) -> float:
    """Width / height of the data area bqplot draws at ``share`` of the figure's natural width (a narrower
    output area): its box (that width x layout height) narrowed or lowered to the figure's aspect-ratio bounds
    (bqplot's rule), less the margins and the figure's vertical padding."""
    figure = plot.figure
    width, height = share * natural_px(figure, "width", 0.0), natural_px(figure, "height", 0.0)
    if width / height < figure.min_aspect_ratio:
        height = width / figure.min_aspect_ratio
    elif width / height > figure.max_aspect_ratio:
        width = height * figure.max_aspect_ratio
    m = figure.fig_margin
    # bqplot draws the marks inside a vertical padding of padding_y a side (2.5% by default).
    return (width - m["left"] - m["right"]) / ((height - m["top"] - m["bottom"]) * (1 - 2 * figure.padding_y))


def assert_at_aspect(plot, rows: int, cols: int) -> None:
    """Within 5% of the data's aspect at the natural width and in output areas down to half as wide."""
    expected = cols / rows
    for share in (1.0, 0.8, 0.5):
        assert abs(drawn_aspect(plot, share) / expected - 1) <= 0.05, (share, drawn_aspect(plot, share), expected)


@pytest.fixture(scope="module")
def ex(digits):
    with raising_panel_errors():
        explorer = nbviz.explore(digits.model, digits.x_test[:40], digits.y_test[:40])
        yield explorer


# ------------------------------------------------------------------------------------------------ aspect
def test_unit_thumbnails_at_their_aspect(ex):
    with raising_panel_errors():
        ex.tab, ex.layer = "units", "conv2"
    panel = ex.panels["units"]
    rows, cols = panel.strip.shown.shape
    assert (rows, cols) == (8, 9 * 9 - 1)  # nine 8 x 8 pictures and their gutters
    assert_at_aspect(panel.strip, rows, cols)  # a 560 x 110 box drew them 6:1, not 10:1


def test_optimised_input_at_its_aspect(ex):
    panel = ex.panels["units"]
    with raising_panel_errors():
        ex.tab, ex.layer = "units", "conv2"
        panel.start(wait=True)
    assert panel.optimised_image.has_data
    assert_at_aspect(panel.optimised_image, *panel.optimised_image.shown.shape)


def test_projector_neighbours_at_their_aspect(ex):
    with raising_panel_errors():
        ex.tab, ex.layer = "projector", "dense"
    panel = ex.panels["projector"]
    rows, cols = panel.strip.shown.shape
    assert (rows, cols) == (8, 8 * 9 - 1)
    assert_at_aspect(panel.strip, rows, cols)


def test_saliency_and_its_overlay_at_the_inputs_aspect(ex):
    with raising_panel_errors():
        ex.tab, ex.layer, ex.sample = "saliency", "conv2", 3
    panel = ex.panels["saliency"]
    assert_at_aspect(panel.heatmap, *panel.heatmap.shown.shape)
    picture = ex.analysis.saliency_map(3, "gradient", None, "conv2").overlay
    assert_at_aspect(panel.overlay, *picture.shape[:2])
    assert "nbviz-overlay" in panel.overlay.figure._dom_classes  # turned light on dark with the sample view


def test_feature_maps_and_kernels_at_their_aspect(ex):
    with raising_panel_errors():
        ex.tab, ex.layer = "activations", "conv1"
    view = ex.panels["activations"].view
    assert view.view.picture and view.heatmap.picture
    assert_at_aspect(view.heatmap, *view.heatmap.shown.shape)
    with raising_panel_errors():
        ex.tab, ex.layer = "weights", "conv2"
    heatmap = ex.panels["weights"].view.heatmap
    assert heatmap.picture
    assert_at_aspect(heatmap, *heatmap.shown.shape)
    with raising_panel_errors():
        ex.layer = "dense"  # a matrix fills its box again: no aspect bound left from the kernel
    assert not heatmap.picture and (heatmap.figure.min_aspect_ratio, heatmap.figure.max_aspect_ratio) == (0.01, 100)


def gutter_mask(gutters) -> np.ndarray:
    """The cells the gutters' picture paints (opaque), read back from its PNG at one pixel per cell."""
    import zlib

    data = bytes(gutters.current.value)
    width, height = (int.from_bytes(data[16 + 4 * i : 20 + 4 * i], "big") for i in range(2))
    raw = zlib.decompress(data[data.index(b"IDAT") + 4 :])  # one IDAT chunk, filter type 0 per row
    rgba = np.frombuffer(raw, np.uint8).reshape(height, 1 + 4 * width)[:, 1:].reshape(height, width, 4)
    k = height // gutters.plot.shown.shape[0]
    return rgba[::k, ::k, 3] == 255


def test_gutters_are_drawn_in_the_null_colour(ex):
    with raising_panel_errors():
        ex.tab, ex.layer = "weights", "conv2"
    view = ex.panels["weights"].view
    shown = view.heatmap.shown
    assert np.isnan(shown).any()
    # The picture over the cells paints exactly the NaN cells (bqplot leaves them the colour of the cell before).
    np.testing.assert_array_equal(gutter_mask(view.gutters), np.isnan(shown))
    mark = view.gutters.mark
    assert mark.visible and mark in view.heatmap.figure.marks
    # Upright as bqplot draws an Image (translate to scale(y[1]), height scale(y[0]) - scale(y[1])): its top row
    # on the heatmap's row 0, which a reversed y scale puts on top.
    assert view.heatmap.y_scale.reverse
    assert [list(map(float, mark.x)), list(map(float, mark.y))] == [
        [-0.5, shown.shape[1] - 0.5],
        [shown.shape[0] - 0.5, -0.5],
    ]
    with raising_panel_errors():
        ex.layer = "dense"  # no NaN: no picture over it
    assert not mark.visible
    with raising_panel_errors():
        ex.tab, ex.layer = "units", "conv2"
    units = ex.panels["units"]
    np.testing.assert_array_equal(gutter_mask(units.gutters), np.isnan(units.strip.shown))
    assert units.strip.figure.marks.index(units.gutters.mark) < units.strip.figure.marks.index(units.boxes)


# ------------------------------------------------------------------------------------------------ kernels
def grid_of(n: int, h: int, w: int, image: np.ndarray) -> tuple[int, int]:
    """(rows, cols) of tiles, read off the image's size: rows*(h+1) - 1 by cols*(w+1) - 1."""
    return (image.shape[0] + 1) // (h + 1), (image.shape[1] + 1) // (w + 1)


@pytest.mark.parametrize("shape", [(3, 3, 4, 6), (3, 3, 1, 16), (5, 5, 3, 7), (3, 3, 16, 32)])
def test_a_kernel_is_a_grid_of_its_filters(shape):
    kernel = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    kh, kw, n_in, n_out = shape
    shown = filter_grid(kernel)
    rows, cols = grid_of(n_out, kh, kw, shown.image)
    assert shown.image.shape == (rows * (kh + 1) - 1, cols * (kw + 1) - 1) and rows * cols >= n_out > (rows - 1) * cols
    assert 0.5 <= shown.image.shape[1] / shown.image.shape[0] <= 2.5  # near square, not a 3 x 63 strip
    gutter = np.ones(shown.image.shape, bool)
    for k in range(n_out):
        r, c = divmod(k, cols)
        top, left = r * (kh + 1), c * (kw + 1)
        tile = shown.image[top : top + kh, left : left + kw]
        np.testing.assert_allclose(tile, kernel[:, :, :, k].mean(axis=2), rtol=1e-5, atol=1e-6)
        gutter[top : top + kh, left : left + kw] = False
    assert np.isnan(shown.image[gutter]).all()  # gutters and unused trailing tiles
    assert shown.note == f"{n_out} filters" + (f", mean over {n_in} input channels" if n_in > 1 else "")
    finite = np.abs(shown.image[~gutter]).max()
    assert (shown.vmin, shown.vmax) == (-finite, finite)


def test_a_kernel_with_one_input_channel_shows_its_weights_and_their_indices():
    kernel = np.arange(2 * 2 * 1 * 3, dtype=np.float32).reshape(2, 2, 1, 3) + 1
    shown = filter_grid(kernel)
    # Three 2 x 2 filters on a 2 x 2 grid (the fourth tile unused), read like text.
    expected = np.full((5, 5), np.nan, np.float32)
    expected[0:2, 0:2], expected[0:2, 3:5], expected[3:5, 0:2] = (kernel[:, :, 0, k] for k in range(3))
    np.testing.assert_array_equal(shown.image, expected)
    assert shown.source_index(3, 1) == (0, 1, 0, 2) and shown.source_index(2, 2) is None


def test_a_depthwise_kernel_shows_a_filter_per_input_channel():
    kernel = np.random.default_rng(1).normal(size=(3, 3, 5, 1)).astype(np.float32)
    shown = filter_grid(kernel)
    cols = (shown.image.shape[1] + 1) // 4
    for k in range(5):
        r, c = divmod(k, cols)
        np.testing.assert_array_equal(shown.image[r * 4 : r * 4 + 3, c * 4 : c * 4 + 3], kernel[:, :, k, 0])
    assert shown.note == "a tile per input channel (5)"


def test_the_grid_of_a_large_kernel_is_reduced_by_blocks_of_largest_magnitude():
    kernel = np.random.default_rng(2).normal(size=(3, 3, 2, 256)).astype(np.float32)
    shown = filter_grid(kernel, max_cells=200)
    assert shown.downsampled and shown.image.size <= 200
    full = filter_grid(kernel)
    br, bc = shown.block
    block = full.image[:br, :bc]
    assert shown.image[0, 0] == block.flat[np.nanargmax(np.abs(block))]


# ------------------------------------------------------------------------------------------------ overlay
def test_the_overlay_draws_the_input_as_the_sample_view_does():
    rng = np.random.default_rng(3)
    image = rng.uniform(-1, 3, size=(8, 8))
    bright, dark = np.unravel_index(np.argmin(image), image.shape), np.unravel_index(np.argmax(image), image.shape)
    shown = overlay(image, np.zeros((8, 8)), min_px=8).astype(np.float64)[..., 1]
    # The sample view's ramp (GREYS: white at the minimum, black at the maximum), written out independently.
    assert GREYS == ["#ffffff", "#000000"]
    expected = 255 * (1 - (image - image.min()) / (image.max() - image.min()))
    np.testing.assert_allclose(shown, expected, atol=1.0)
    assert shown[bright] == 255 and shown[dark] == 0  # the lowest value white, the highest black
    # In the order of the values, the grey never gets lighter.
    assert (np.diff(shown.ravel()[np.argsort(image, axis=None)]) <= 0).all()


def test_the_saliency_tab_overlay_keeps_the_samples_dark_strokes_dark(ex, digits):
    with raising_panel_errors():
        ex.tab, ex.layer, ex.sample = "saliency", "conv2", 4
    picture = np.asarray(ex.analysis.saliency_map(4, "gradient", None, "conv2").overlay, np.float64)
    x = digits.x_test[4, ..., 0]
    factor = picture.shape[0] // x.shape[0]
    small = picture[::factor, ::factor]
    # Where the saliency is weak the picture is the input's grey: the digit's strokes (high values) darker.
    heat = np.abs(ex.analysis.saliency_map(4, "gradient", None, "conv2").values).sum(axis=-1)
    weak = heat <= np.quantile(heat, 0.5)
    strokes, paper = weak & (x >= np.quantile(x, 0.8)), weak & (x <= x.min())
    assert strokes.any() and paper.any()
    assert small[..., 1][strokes].mean() < small[..., 1][paper].mean()


# ------------------------------------------------------------------------------------------------ tokens
VOCABULARY = [f"w{i}" for i in range(30)]


@pytest.fixture(scope="module")
def text_ex():
    keras.utils.set_random_seed(4)
    inputs = keras.Input((10,), dtype="int32", name="ids")
    embedded = keras.layers.Embedding(30, 6, name="embedding")(inputs)
    hidden = keras.layers.Dense(5, activation="relu", name="mix")(embedded)
    outputs = keras.layers.Dense(3, activation="softmax", name="probs")(keras.layers.GlobalAveragePooling1D()(hidden))
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(5).integers(0, 30, size=(12, 10)).astype("int32")
    with raising_panel_errors():
        explorer = nbviz.explore(model, x, np.arange(12) % 3, vocabulary=VOCABULARY)
        explorer.tab, explorer.layer, explorer.sample = "activations", "mix", 2
        yield explorer, x


def test_a_sequence_heatmap_names_its_rows_by_token(text_ex):
    ex, x = text_ex
    figure = ex.panels["activations"].view
    axis = figure.heatmap._left_axis
    assert not figure.heatmap.picture and axis.visible and axis.label == "token"
    written = {int(float(k)): v for k, v in axis.tick_labels.items()}
    assert written == {p: f"{p}: {VOCABULARY[x[2, p]]}" for p in range(10)}
    np.testing.assert_array_equal(axis.tick_values, np.arange(10))
    # As tall as its rows need: not a 340 px box for 10 tokens.
    assert figure.heatmap.figure.layout.height == f"{labelled_height(10):.0f}px"
    assert figure.heatmap.figure.fig_margin["left"] >= 7 * len("9: w29")
    with raising_panel_errors():
        ex.sample = 5
    assert {int(float(k)): v for k, v in axis.tick_labels.items()}[0] == f"0: {VOCABULARY[x[5, 0]]}"
    with raising_panel_errors():
        ex.layer = "probs"  # bars: the heatmap's names go with it
        ex.layer = "embedding"
    assert figure.heatmap._left_axis.visible


def test_row_labels_of_a_long_or_reduced_sequence():
    assert row_labels([0, 1, 2], ["[CLS]", "#1", "unbelievably-long"]) == ["0: [CLS]", "1", "2: unbelievabl\u2026"]
    view = activation_view(np.random.default_rng(6).normal(size=(512, 768)), max_cells=8192)
    assert view.downsampled and not view.picture
    # Each row of the reduced picture stands for row_step positions: the labels name their first.
    assert view.row_step * (view.values.shape[0] - 1) < 512 <= view.row_step * view.values.shape[0]
    assert labelled_height(view.values.shape[0]) <= 480 and labelled_height(1) >= 260


def test_a_sequence_without_tokens_is_numbered_on_nice_ticks():
    keras.utils.set_random_seed(7)
    inputs = keras.Input((40, 3), name="series")
    hidden = keras.layers.Dense(6, activation="relu", name="mix")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(hidden)))
    x = np.random.default_rng(8).normal(size=(6, 40, 3)).astype("float32")
    with raising_panel_errors():
        ex = nbviz.explore(model, x, np.arange(6) % 2)
        ex.tab, ex.layer = "activations", "mix"
    heatmap = ex.panels["activations"].view.heatmap
    left, bottom = heatmap._left_axis, heatmap._bottom_axis
    assert (left.label, bottom.label) == ("position", "unit")
    for axis, most in ((left, 39), (bottom, 5)):
        ticks = np.asarray(axis.tick_values, float)
        steps = np.diff(ticks)
        assert len(ticks) >= 2 and (steps == steps[0]).all() and ticks.min() >= 0 and ticks.max() <= most
        assert steps[0] / 10 ** np.floor(np.log10(steps[0])) in (1, 2, 5)
    assert heatmap.figure.layout.height == f"{labelled_height(40):.0f}px"


def test_a_padded_sequence_shows_its_real_tokens_only():
    pytest.importorskip("keras_hub")
    from tests.zoo import bert_classifier

    case = bert_classifier()  # 12 positions, padding from position 9 on
    vocabulary = [f"t{i}" for i in range(60)]
    # Keras numbers the backbone's name by how many were built before it in this process ("bert_backbone_9").
    layer = f"{case.model.backbone.name}/token_embedding"
    with raising_panel_errors():
        ex = nbviz.explore(case.model, case.x, case.y, vocabulary=vocabulary)
        ex.tab, ex.layer, ex.sample = "activations", layer, 1
    panel = ex.panels["activations"]
    full = ex.analysis.layer_activation(layer, 1).view.values
    assert full.shape[0] == 12
    np.testing.assert_array_equal(panel.values, full[:9])  # the 3 padding rows left out
    heatmap = panel.view.heatmap
    np.testing.assert_array_equal(heatmap.shown, full[:9])
    written = {int(float(k)): v for k, v in heatmap._left_axis.tick_labels.items()}
    assert written == {p: f"{p}: t{case.x['token_ids'][1, p]}" for p in range(9)}
    assert "9 tokens (not the 3 padding positions)" in heatmap.title_text
    with raising_panel_errors():
        ex.tab = "gradients"
    gradients = ex.panels["gradients"]
    assert gradients.output_view.heatmap.shown.shape[0] == 9
