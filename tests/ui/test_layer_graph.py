"""The layer graph in the Explorer: groups open on click, the current layer's groups open, search, colours by a
per-layer metric (values equal the analysis's, which tests/compute/model/test_groups.py checks against Keras),
live colours while LiveTraining records, and bounded rows for a large model."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import nbviz
from nbviz.testing import recording, residual_chain


@pytest.fixture(scope="module")
def resnet_explorer():
    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=10)
    x = np.random.default_rng(0).random((4, 32, 32, 3)).astype("float32")
    return nbviz.explore(model, x, np.arange(4))


def click(mark, index: int) -> None:
    mark.set_state({"selected": [index]})  # what the browser sends on a click


def test_clicking_a_closed_group_opens_it_and_its_header_closes_it(resnet_explorer):
    graph = resnet_explorer.graph_view
    fold = "conv4_block2..conv4_block6"
    assert fold in graph.visible and fold not in graph.expanded
    click(graph.groups, graph.group_rows.index(fold))
    assert fold in graph.expanded
    children = graph.tree[fold].children
    rows = graph.visible
    assert rows[rows.index(fold) + 1 : rows.index(fold) + 1 + len(children)] == children
    assert graph.groups.selected is None  # ready for the next click
    click(graph.groups, graph.group_rows.index(fold))  # now its header
    assert fold not in graph.expanded and not set(children) & set(graph.visible)


def test_clicking_a_layer_selects_it_and_choosing_a_hidden_layer_opens_its_groups(resnet_explorer):
    ex = resnet_explorer
    graph = ex.graph_view
    click(graph.nodes, graph.names.index("avg_pool"))
    assert ex.layer == "avg_pool"
    deep = "conv4_block5_2_conv"
    assert deep not in graph.visible
    ex.layer = deep
    assert {"conv4", "conv4_block2..conv4_block6", "conv4_block5", "conv4_block5_2"} <= graph.expanded
    assert list(graph.nodes.selected) == [graph.names.index(deep)]
    assert ex.dropdown.value == deep


def test_search_selects_a_single_match_and_lists_several(resnet_explorer):
    ex = resnet_explorer
    graph = ex.graph_view
    graph.search.value = "conv5_block3_3_bn"
    assert ex.layer == "conv5_block3_3_bn" and "conv5_block3" in graph.expanded
    graph.search.value = "block1_0_conv"
    assert ex.layer == "conv5_block3_3_bn"  # four matches: listed, none chosen
    assert "4 layers" in graph.found.value and "conv2_block1_0_conv" in graph.found.value
    graph.search.value = "no such layer"
    assert "no layer name holds" in graph.found.value


def test_colouring_by_a_metric_paints_the_analysis_values(resnet_explorer):
    ex = resnet_explorer
    graph = ex.graph_view
    ex.sample = 2
    graph.color_by = "grad_norm"
    norms = ex.analysis.layer_metric("grad_norm", 2).values
    tree = graph.tree
    for row, (item, kind) in enumerate(zip(graph.visible, graph.layout.kinds)):
        if kind == "layer":
            assert graph.values[row] == norms.get(item, np.nan) or (np.isnan(graph.values[row]) and item not in norms)
        elif kind == "group":
            assert graph.values[row] == max(norms[n] for n in tree[item].layers if n in norms)
    assert "log scale" in graph.legend.value and "max of its layers" in graph.legend.value
    before = graph.values.copy()
    ex.sample = 3  # a metric of the sample follows it
    assert not np.array_equal(before, graph.values, equal_nan=True)
    graph.color_by = "params"
    assert "sum of its layers" in graph.legend.value
    with pytest.raises(ValueError, match="color_by"):
        graph.color_by = "nope"
    assert graph.color_by == "params"
    graph.color_by = "kind"


def test_bad_group_names_raise_and_change_nothing(resnet_explorer):
    graph = resnet_explorer.graph_view
    before = graph.expanded
    with pytest.raises(ValueError, match="name: expected a group"):
        graph.expand("conv9")
    with pytest.raises(TypeError, match="name: expected a group name"):
        graph.collapse(3)
    assert graph.expanded == before


def test_findings_are_flagged_on_their_rows(digits):
    model = keras.models.clone_model(digits.model)
    model.set_weights(digits.model.get_weights())
    kernel = model.get_layer("dense").kernel
    kernel.assign(np.full(kernel.shape, -1.0, "float32"))  # every unit of the dense layer dies
    ex = nbviz.explore(model, digits.x_test[:40], digits.y_test[:40])
    graph = ex.graph_view
    assert len(graph.flags.x) == 0  # findings are not computed until asked for
    graph.color_by = "findings"
    found = {f.layer for f in ex.analysis.findings() if f.layer is not None}
    assert "dense" in found
    flagged = {graph.visible[int(round(y))] for y in graph.flags.y}
    assert flagged == found & set(graph.visible)
    ex.close()


def test_training_metrics_follow_live_training(digits):
    model = keras.models.clone_model(digits.model)
    model.compile("adam", "sparse_categorical_crossentropy")
    live = nbviz.LiveTraining(monitor=(digits.x_test[:16], digits.y_test[:16]), every=2, max_fps=1000)
    ex = nbviz.explore(model, digits.x_test[:20], digits.y_test[:20], training=live)
    graph = ex.graph_view
    graph.color_by = "update_ratio"
    assert "no layer statistics" in graph.legend.value
    model.fit(digits.x_train[:64], digits.y_train[:64], batch_size=16, epochs=1, verbose=0, callbacks=[live])
    latest = live.recorder.latest("update_ratio")
    assert latest
    for name, value in latest.items():
        assert graph.values[graph.visible.index(name)] == value
    ex.close()
    assert graph.training_drawn not in live.listeners


def graph_bytes(comm, graph) -> int:
    """Bytes the graph's marks, scales and figure sent."""
    ids = {w.comm.comm_id for w in (graph.nodes, graph.groups, graph.edges, graph.brackets, graph.flags, graph.figure)}
    return sum(len(text) + sum(sizes) for (cid, _, _, sizes), text in zip(comm.messages, comm.texts) if cid in ids)


def test_a_3002_layer_model_opens_with_few_rows_and_small_messages():
    model = residual_chain(1000)
    x = np.random.default_rng(1).random((8, 4)).astype("float32")
    with recording() as comm:
        ex = nbviz.explore(model, x)
        graph = ex.graph_view
        opened = graph_bytes(comm, graph)
        fold = graph.tree.by_kind("repeat")[0]
        assert fold.fold == 1000
        graph.expand(fold.name)
        expanded = graph_bytes(comm, graph) - opened
    # The first layer's groups are open (the fold, a range of ranges, a range, its block), each at most 48 rows.
    assert len(graph.visible) <= 24 + 4 * 48
    assert opened < 40_000 and expanded < 40_000, (opened, expanded)
    ex.close()
