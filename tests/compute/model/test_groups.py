"""Groups of the layer graph (nested models, blocks, name scopes, folded repeats, ranges), the layout of what is
open, and the per-layer metrics painted on it: checked against the models' own layers, names and weights."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from nbviz.compute import analyse, model_graph
from nbviz.compute.methods.graph_layout import group_value, initial_expanded, layout_graph, paint
from nbviz.compute.model.groups import MAX_ITEMS, GroupTree
from nbviz.testing import residual_chain
from tests import zoo


@pytest.fixture(scope="module")
def resnet50() -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=10)


def levels(tree: GroupTree) -> list[tuple[str, ...]]:
    return [tree.top, *(g.children for g in tree)]


def check_partition(tree: GroupTree, names: list[str]) -> None:
    """Every group's layers are its children's, and the top level's items hold every layer exactly once."""
    for group in tree:
        inner: list[str] = []
        for child in group.children:
            inner.extend(tree[child].layers if child in tree and child != group.name else [child])
        assert sorted(inner) == sorted(group.layers), group.name
    top: list[str] = []
    for item in tree.top:
        top.extend(tree[item].layers if item in tree else [item])
    assert sorted(top) == sorted(names)


def test_a_nested_backbone_is_a_group_of_its_inner_layers(nested_model):
    graph = model_graph(nested_model)
    tree = graph.groups
    group = tree["backbone"]
    assert group.kind == "model" and group.fold == 1
    inner = {f"backbone/{layer.name}" for layer in nested_model.get_layer("backbone").layers}
    assert set(group.layers) == inner | {"backbone"}
    assert tree.top == ("image", "backbone", "head", "probs")
    assert tree.path("backbone/conv1") == ["backbone"]
    check_partition(tree, graph.names)


def test_resnet50_folds_into_4_stages_of_16_residual_blocks(resnet50):
    graph = model_graph(resnet50)
    tree = graph.groups
    first = resnet50.layers[0].name  # Keras numbers input layers by how many were made before
    assert tree.top == (first, "conv1", "pool1", "conv2", "conv3", "conv4", "conv5", "avg_pool", "predictions")
    names = [layer.name for layer in resnet50.layers]
    blocks = sorted(g.name for g in tree.by_kind("scope") if re.fullmatch(r"conv\d_block\d+", g.name))
    # keras.applications.ResNet50 stacks 3, 4, 6 and 3 blocks; each block's layers are those named after it.
    assert blocks == sorted(f"conv{s}_block{b}" for s, n in zip(range(2, 6), (3, 4, 6, 3)) for b in range(1, n + 1))
    for block in blocks:
        assert set(tree[block].layers) == {n for n in names if n.startswith(block + "_")}
    for stage, n in zip(range(2, 6), (3, 4, 6, 3)):
        assert set(tree[f"conv{stage}"].layers) == {name for name in names if name.startswith(f"conv{stage}_")}
        # The first block has the projection shortcut; the others are the same block, folded.
        fold = tree[f"conv{stage}_block2..conv{stage}_block{n}"]
        assert fold.kind == "repeat" and fold.fold == n - 1
        assert tree[f"conv{stage}"].children == (f"conv{stage}_block1", fold.name)
    check_partition(tree, graph.names)


@pytest.mark.parametrize("build", [zoo.bert_classifier, zoo.gpt2_causal_lm], ids=["bert", "gpt2"])
def test_a_keras_hub_backbone_folds_its_transformer_layers(build):
    case = build()
    graph = model_graph(case.model)
    tree = graph.groups
    backbone = case.model.backbone
    n = backbone.num_layers
    blocks = [backbone.get_layer(f"transformer_layer_{i}") for i in range(n)]
    folds = tree.by_kind("repeat")
    assert len(folds) == 1 and folds[0].fold == n
    for group_name, block in zip(folds[0].children, blocks):
        group = tree[group_name]
        assert group.kind == "block" and group_name.endswith(block.name)
        # The block's own layer and one node per layer inside it (their names are the block's, then theirs).
        inside = {f"{group_name}/{sub.name}" for sub in block._flatten_layers(include_self=False, recursive=False)}
        assert inside <= set(group.layers) and group_name in group.layers
    assert tree[backbone.name].kind == "model"
    assert tree.path(folds[0].children[-1]) == [backbone.name, folds[0].name]
    check_partition(tree, graph.names)


def test_keras_own_names_make_no_scope_and_long_levels_become_ranges():
    model = residual_chain(60, named=False)  # dense, dense_1, add, dense_2, ...: 182 layers, no scope
    graph = model_graph(model)
    tree = graph.groups
    assert not tree.by_kind("scope") and not tree.by_kind("repeat")
    assert all(len(level) <= MAX_ITEMS for level in levels(tree))
    position = {name: i for i, name in enumerate(graph.names)}
    for group in tree.by_kind("range"):  # a range is a run of neighbours in the graph's order
        spots = sorted(position[n] for n in group.layers)
        assert spots == list(range(spots[0], spots[0] + len(spots)))
    check_partition(tree, graph.names)


@pytest.mark.slow
def test_a_10000_layer_model_folds_into_one_repeat_with_every_level_short():
    model = residual_chain(3333)  # 10,001 layers
    graph = model_graph(model)
    tree = graph.groups
    assert len(graph.nodes) == 10_001
    (fold,) = tree.by_kind("repeat")
    assert fold.fold == 3333 and len(fold.layers) == 9999
    assert tree.top == ("features", fold.name, "head")
    assert all(len(level) <= MAX_ITEMS for level in levels(tree))
    check_partition(tree, graph.names)
    # Opening the fold lays out its ranges only: a bounded number of rows whatever the depth of the model.
    layout = layout_graph(graph, {fold.name})
    assert len(layout.items) == 3 + len(fold.children) <= 3 + MAX_ITEMS


# --------------------------------------------------------------------------------------------- layout
def expected_edges(graph, layout) -> set[tuple[int, int]]:
    """Merged edges computed the slow way: a row feeds another when any layer in it feeds any layer in the other."""
    tree = graph.groups
    rows = [
        (set(tree[item].layers) if kind == "group" else {item}) if kind != "open" else set()
        for item, kind in zip(layout.items, layout.kinds)
    ]
    edges = set()
    for i, a in enumerate(rows):
        for j, b in enumerate(rows):
            if i != j and any(s in a and t in b for s, t in graph.edges):
                edges.add((i, j))
    return edges


def test_layout_merges_edges_between_what_is_visible(resnet50):
    graph = model_graph(resnet50)
    for expanded in [set(), {"conv3"}, {"conv3", "conv3_block1", "conv3_block2..conv3_block4", "conv3_block3"}]:
        layout = layout_graph(graph, expanded)
        assert {tuple(e) for e in layout.edges.tolist()} == expected_edges(graph, layout)
        # Each open group's header comes before its rows, which follow it without a gap, one depth deeper.
        for (first, last), header in zip(layout.spans, [i for i, k in enumerate(layout.kinds) if k == "open"]):
            assert first == header and last >= first
            assert (layout.depth[first + 1 : last + 1] > layout.depth[first]).all()
        again = layout_graph(graph, set(expanded))
        np.testing.assert_array_equal(again.x, layout.x)
        assert again.items == layout.items
    collapsed = layout_graph(graph, set())
    assert collapsed.items == graph.groups.top and set(collapsed.kinds) == {"layer", "group"}


def test_the_graph_opens_within_its_budget_and_with_the_current_layer_shown(resnet50):
    graph = model_graph(resnet50)
    opened = initial_expanded(graph, budget=24)
    assert len(layout_graph(graph, opened).items) <= 24
    deep = "conv4_block5_2_conv"
    with_layer = layout_graph(graph, initial_expanded(graph, keep_open=deep, budget=24))
    assert deep in with_layer.items


# --------------------------------------------------------------------------------------------- metrics
@pytest.fixture(scope="module")
def bert_analysis():
    case = zoo.bert_classifier()
    return case, analyse(case.model, case.x, case.y)


def test_parameter_counts_are_keras_own_and_groups_sum_them(bert_analysis):
    case, analysis = bert_analysis
    metric = analysis.layer_metric("params")
    layers = analysis.probe.layers
    for name, value in metric.values.items():
        assert value == layers[name].count_params(), name
    tree = analysis.graph.groups
    backbone = case.model.backbone
    assert group_value(tree, backbone.name, metric.values, "sum") == backbone.count_params()
    fold = tree.by_kind("repeat")[0]
    assert group_value(tree, fold.name, metric.values, "sum") == sum(
        backbone.get_layer(f"transformer_layer_{i}").count_params() for i in range(backbone.num_layers)
    )
    assert sum(metric.values.values()) == case.model.count_params()


@pytest.mark.tensorflow_only  # checks against TensorFlow's GradientTape
def test_gradient_norms_equal_a_gradient_tape_and_groups_show_the_max(nested_model, rng):
    x = rng.normal(size=(5, 6, 6, 2)).astype("float32")
    y = np.array([0, 1, 1, 0, 1])
    analysis = analyse(nested_model, x, y)
    metric = analysis.layer_metric("grad_norm", sample=3)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    with tf.GradientTape() as tape:
        loss = loss_fn(y[3:4], nested_model(x[3:4], training=False))
    layers = {
        "backbone/conv1": nested_model.get_layer("backbone").get_layer("conv1"),
        "backbone/bn": nested_model.get_layer("backbone").get_layer("bn"),
        "head": nested_model.get_layer("head"),
        "probs": nested_model.get_layer("probs"),
    }
    grads = tape.gradient(loss, [w.value for layer in layers.values() for w in layer.trainable_weights])
    expected, k = {}, 0
    for name, layer in layers.items():
        part = grads[k : k + len(layer.trainable_weights)]
        k += len(part)
        expected[name] = float(np.sqrt(sum(float(np.sum(np.square(g))) for g in part)))
    assert set(metric.values) == set(expected)
    for name, value in expected.items():
        assert metric.values[name] == pytest.approx(value, rel=1e-4, abs=1e-7)
    # A group shows the stated reduction of its members' values.
    inner = max(metric.values["backbone/conv1"], metric.values["backbone/bn"])
    assert group_value(analysis.graph.groups, "backbone", metric.values, "max") == inner
    # The painted rows carry the same values: a closed backbone shows the max of its layers.
    layout = layout_graph(analysis.graph, set())
    painted = paint(analysis.graph, layout, metric.values, "max", ("#000000", "#ffffff"), log=True)
    assert painted.values[layout.row("backbone")] == inner
    # The colour scale spans the layers' own values (which equal the tape's to float32 rounding, above).
    assert painted.vmax == pytest.approx(max(metric.values.values()), rel=1e-6)


def test_nan_and_inf_are_counted_per_layer_and_summed_by_groups(nested_model):
    model = keras.models.clone_model(nested_model)
    model.set_weights(nested_model.get_weights())
    kernel = model.get_layer("backbone").get_layer("conv1").kernel
    values = kernel.numpy()
    values[0, 0, 0, 0], values[1, 0, 0, 0] = np.nan, np.inf
    kernel.assign(values)
    x = np.ones((2, 6, 6, 2), "float32")
    analysis = analyse(model, x, np.array([0, 1]))
    counts = analysis.layer_metric("nonfinite", sample=0).values
    acts = analysis.activations(0)
    for name, count in counts.items():
        weights = sum(int(np.size(w) - np.isfinite(w).sum()) for w in analysis.probe.layers[name].get_weights())
        out = acts.get(name)
        outputs = int(out.size - np.isfinite(out).sum()) if out is not None and out.dtype.kind == "f" else 0
        assert count == weights + outputs, name
    assert counts["backbone/conv1"] >= 2
    inner = [n for n in analysis.graph.groups["backbone"].layers if n in counts]
    assert group_value(analysis.graph.groups, "backbone", counts, "sum") == sum(counts[n] for n in inner)


@pytest.mark.parametrize("name", ["MobileNetV3Small", "InceptionV3", "EfficientNetB0"])
def test_applications_with_keras_own_names_between_scopes_keep_every_layer(name):
    """Keras's numbered names (activation_3, batch_normalization_7) between named layers split a prefix into
    several runs: each is a group of its own, numbered, and no layer is lost (a lost one broke the layout)."""
    size = 75 if name == "InceptionV3" else 32
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3), classes=10)
    graph = model_graph(model)
    tree = graph.groups
    check_partition(tree, graph.names)
    assert all(len(level) <= MAX_ITEMS for level in levels(tree))
    assert not [g for g in tree.by_kind("scope") if re.fullmatch(r"(batch_normalization|activation|conv2d)", g.name)]
    layout = layout_graph(graph, set(tree.groups))  # every group open: every layer has its row
    assert sorted(i for i, k in zip(layout.items, layout.kinds) if k == "layer") == sorted(graph.names)
