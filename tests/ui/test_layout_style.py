"""Layout and style of the layer graph and the attention view (issue 35): no pop-up toolbar, edges that pass no
node's name, a selected row scrolled into view, a ring that follows the theme, tooltips written as sentences,
and attention thumbnails with gaps between them."""

from __future__ import annotations

import warnings

import bqplot as bq
import ipywidgets as widgets
import keras
import numpy as np
import pytest

import nbviz
from nbviz.compute.methods.attention import model_view
from nbviz.ui.layer_graph import CHAR_PX, MARGIN_PX

# Where bqplot draws a Scatter's name (the layer graph's labels): its text's baseline is
# label_display_vertical_offset px below the dot's centre (negative: above), and the glyphs of an 11-14 px font
# reach about 10 px above the baseline and 3 below it.
ASCENT_PX, DESCENT_PX = 10.0, 3.0


def side_input_model(blocks: int = 6) -> keras.Model:
    """A chain of blocks that each read a second input, as KerasHub's BERT reads its padding mask in every
    transformer layer: edges from that input span the rows of every block before."""
    x = keras.Input((4,), name="features")
    side = keras.Input((4,), name="side_input_with_a_long_name")
    h = x
    for i in range(blocks):
        h = keras.layers.Dense(4, name=f"transform_{i}_with_a_long_layer_name")(h)
        h = keras.layers.Add(name=f"add_side_{i}")([h, side])
    return keras.Model([x, side], keras.layers.Dense(2, activation="softmax", name="out")(h))


@pytest.fixture(scope="module")
def side_explorer():
    keras.utils.set_random_seed(0)
    model = side_input_model()
    rng = np.random.default_rng(0)
    x = [rng.random((8, 4)).astype("float32"), rng.random((8, 4)).astype("float32")]
    ex = nbviz.explore(model, x, rng.integers(0, 2, 8))
    yield ex
    ex.close()


@pytest.fixture(scope="module")
def long_explorer():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((4,)), *(keras.layers.Dense(4, name=f"step_{i:02d}") for i in range(40))], name="long"
    )
    x = np.random.default_rng(0).random((8, 4)).astype("float32")
    ex = nbviz.explore(model, x)
    yield ex
    ex.close()


def to_px(graph, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Data coordinates to the figure's px, from the scales and the figure's size as sent to the browser."""
    width = float(graph.figure.layout.width.removesuffix("px"))
    height = float(graph.figure.layout.height.removesuffix("px"))
    xs, ys = graph.x_scale, graph.y_scale
    px = MARGIN_PX + (x - xs.min) / (xs.max - xs.min) * (width - 2 * MARGIN_PX)
    py = MARGIN_PX + (y - ys.min) / (ys.max - ys.min) * (height - 2 * MARGIN_PX)  # reversed: row 0 on top
    return px, py


def label_boxes(graph) -> list[tuple[float, float, float, float, str]]:
    """(left, right, top, bottom) in px of each drawn name, from the marks' positions, offsets and texts."""
    boxes = []
    for mark in (graph.nodes, graph.groups):
        px, py = to_px(graph, np.asarray(mark.x, np.float64), np.asarray(mark.y, np.float64))
        for x, y, name in zip(px, py, mark.names):
            left = x + mark.label_display_horizontal_offset
            baseline = y + mark.label_display_vertical_offset
            boxes.append((left, left + CHAR_PX * len(name), baseline - ASCENT_PX, baseline + DESCENT_PX, name))
    return boxes


def crosses(segment: tuple[float, float, float, float], box: tuple[float, float, float, float, str]) -> bool:
    """Whether the segment (x0, y0, x1, y1) passes through the box's inside (sampled every half px)."""
    x0, y0, x1, y1 = segment
    left, right, top, bottom, _ = box
    steps = int(max(abs(x1 - x0), abs(y1 - y0)) * 2) + 2
    t = np.linspace(0.0, 1.0, steps)
    x, y = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
    return bool(np.any((x > left + 0.5) & (x < right - 0.5) & (y > top + 0.5) & (y < bottom - 0.5)))


def test_graph_figure_has_no_toolbar_and_a_theme_ring(side_explorer):
    graph = side_explorer.graph_view
    assert graph.figure.display_toolbar is False
    # The ring is the theme's text colour (black on light, white on dark), not a fixed black that vanishes on a
    # dark background.
    assert "var(--jp-ui-font-color0" in graph.nodes.selected_style["stroke"]


def test_edges_pass_no_node_name(side_explorer):
    graph = side_explorer.graph_view
    assert "side_input_with_a_long_name" in graph.names and len(graph.layout.edges) >= 12
    ex, ey = to_px(graph, np.asarray(graph.edges.x, np.float64), np.asarray(graph.edges.y, np.float64))
    boxes = label_boxes(graph)
    hits = [
        (box[4], int(i))
        for i in range(len(ex))
        for k in range(ex.shape[1] - 1)
        for box in boxes
        if crosses((ex[i, k], ey[i, k], ex[i, k + 1], ey[i, k + 1]), box)
    ]
    assert hits == []
    # Every edge still joins its two dots: first point at the source's, last at the target's.
    layout = graph.layout
    s, t = layout.edges[:, 0], layout.edges[:, 1]
    np.testing.assert_allclose(np.asarray(graph.edges.x)[:, 0], layout.x[s])
    np.testing.assert_allclose(np.asarray(graph.edges.y)[:, -1], layout.y[t])
    np.testing.assert_allclose(np.asarray(graph.edges.x)[:, -1], layout.x[t])
    # And nothing is drawn left of the figure's edge (the lanes widened it).
    assert float(np.min(ex)) >= 0.0


def test_highlight_scrolls_the_selected_row_into_view(long_explorer, monkeypatch):
    graph = long_explorer.graph_view
    sent: list[dict] = []
    monkeypatch.setattr(graph.anchor, "send", lambda content, buffers=None: sent.append(content))
    name = "step_37"
    graph.highlight(name)
    # The browser scrolls the box to the marker as it gains focus (blurred first: it may have it already).
    assert sent == [{"do": "blur"}, {"do": "focus"}]
    row = graph.layout.row(name, "layer")
    _, dot_y = to_px(graph, np.zeros(1), np.array([float(graph.layout.y[row])]))
    top = float(graph.spacer.layout.height.removesuffix("px"))
    bottom = top + float(graph.anchor.layout.height.removesuffix("px"))
    assert top <= dot_y[0] <= bottom  # the marker covers the selected dot
    # The row lies far below the box's 380 px: without the scroll it would not be seen.
    assert dot_y[0] > float(graph.scroll_box.layout.max_height.removesuffix("px"))
    marker = graph.scroll_box.children[1]  # the spacer and the marker, in the figure's grid cell: drawn over it
    assert graph.anchor in marker.children and marker.layout.grid_area == graph.figure.layout.grid_area


def test_group_tooltips_are_sentences_with_the_groups_totals():
    keras.utils.set_random_seed(0)
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(3)], name="inner_block")
    model = keras.Sequential([keras.Input((4,)), inner, keras.layers.Dense(2, name="head")])
    x = np.random.default_rng(0).random((8, 4)).astype("float32")
    ex = nbviz.explore(model, x, np.array([0, 1] * 4))
    try:
        graph = ex.graph_view
        graph.expand("inner_block")
        graph.color_by = "params"
        text = graph.group_tooltip("inner_block")
        want = inner.count_params()  # 4*8+8 + 8*3+3 = 67, counted by Keras
        layers = len(graph.tree["inner_block"].layers)
        assert text.startswith(f"<b>inner_block</b>: a group of {layers} layers (a nested model), {want:,} parameters")
        assert "none" not in text and "Click to close it." in text
        # The open header's value is the layers' reduction, as the closed group shows it.
        assert f"{want:,}, the sum over its layers." in text or f"{want}, the sum over its layers." in text
        for line in text.split("<br>"):
            assert line.rstrip().endswith("."), line
        head = graph.layer_tooltip("head")
        assert "a Dense layer." in head and "Parameters: 8 trainable, 0 non-trainable." in head
        for line in head.split("<br>"):
            assert line.rstrip().endswith("."), line
    finally:
        ex.close()


def test_attention_thumbnails_have_gaps_in_proportion_to_their_size():
    rng = np.random.default_rng(0)
    weights = {f"layer_{i}": rng.random((4, 32, 32)).astype("float32") for i in range(3)}
    grid = model_view(weights, max_cells=100_000)
    th, tw = grid.tile
    # A gap of at least a twelfth of a thumbnail (one cell of a 32-cell thumbnail was under a pixel on screen).
    gap_rows = grid.image.shape[0] - 3 * th
    gap_cols = grid.image.shape[1] - 4 * tw
    assert gap_rows // 2 >= th / 12 and gap_cols // 3 >= tw / 12
    assert np.isnan(grid.image[th : th + gap_rows // 2]).all()
    for (name, head), tile in zip(grid.cells, np.concatenate([grid.layer_tiles(n) for n in weights])):
        np.testing.assert_array_equal(tile, weights[name][head])  # 32 x 32 fits: no reduction


def test_units_tab_keeps_no_empty_boxes_before_an_input_is_optimised(digits):
    ex = nbviz.explore(digits.model, digits.x_test[:40], digits.y_test[:40])
    try:
        ex.tab = "units"
        ex.layer = "dense"
        panel = ex.panels["units"]
        # Before a run: the optimised input's row takes no space (its two empty boxes stood 540 px tall at 900 px).
        assert panel.optimised.layout.display == "none"
        panel.start(wait=True)
        assert panel.optimised_image.has_data and panel.optimised.layout.display is None
        # An image's optimised input is a picture: the bars box beside it is not shown.
        assert panel.optimised_image.widget.layout.display is None
        assert panel.optimised_bars.widget.layout.display == "none"
        panel.unit.value = 1  # another unit: its result is not there yet, nor its row
        assert panel.optimised.layout.display == "none"
    finally:
        ex.close()


def test_saliency_method_buttons_keep_one_row_and_wrap_the_menu_below(digits_explorer):
    panel = digits_explorer.panels["saliency"]
    method = panel.method
    # The group does not grow into the row's share, nor shrink below its buttons until the row itself is narrower.
    assert method.style.button_width == "auto" and method.layout.flex == "0 1 auto"
    assert method.layout.max_width == "100%"
    holder = next(w for w in panel.widget.children if method in getattr(w, "children", ()))
    assert holder.layout.flex_flow == "row wrap"  # the class menu goes under the buttons where both do not fit


def test_no_figure_of_an_explorer_has_the_pop_up_toolbar(digits):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the registry's name is deprecated, not its content
        before = set(widgets.Widget.widgets)
    ex = nbviz.explore(digits.model, digits.x_test[:40], digits.y_test[:40])
    try:
        for tab in list(ex.panels):
            ex.tab = tab  # each tab draws its figures
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            figures = [w for key, w in widgets.Widget.widgets.items() if key not in before and isinstance(w, bq.Figure)]
        assert len(figures) >= 10
        assert [f for f in figures if f.display_toolbar] == []  # it popped up over the graph and axis labels
    finally:
        ex.close()


def test_a_keras_hub_berts_edges_pass_no_name():
    keras_hub = pytest.importorskip("keras_hub")
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32, max_sequence_length=16
    )
    model = keras_hub.models.BertTextClassifier(backbone=backbone, num_classes=2, preprocessor=None)
    rng = np.random.default_rng(0)
    x = {
        "token_ids": rng.integers(1, 100, (4, 16)).astype("int32"),
        "segment_ids": np.zeros((4, 16), "int32"),
        "padding_mask": np.ones((4, 16), "int32"),
    }
    ex = nbviz.explore(model, x, np.array([0, 1, 0, 1]))
    try:
        graph = ex.graph_view
        ex_, ey = to_px(graph, np.asarray(graph.edges.x, np.float64), np.asarray(graph.edges.y, np.float64))
        boxes = label_boxes(graph)
        segments = [(ex_[i, k], ey[i, k], ex_[i, k + 1], ey[i, k + 1]) for i in range(len(ex_)) for k in range(3)]
        assert [b[4] for s in segments for b in boxes if crosses(s, b)] == []
        # Drawn straight from dot to dot, as before, the same edges crossed names (23 times on this model).
        layout = graph.layout
        s, t = layout.edges[:, 0], layout.edges[:, 1]
        sx, sy = to_px(graph, np.stack([layout.x[s], layout.x[t]], 1), np.stack([layout.y[s], layout.y[t]], 1))
        straight = [(sx[i, 0], sy[i, 0], sx[i, 1], sy[i, 1]) for i in range(len(sx))]
        assert sum(crosses(seg, b) for seg in straight for b in boxes) > 0
    finally:
        ex.close()
