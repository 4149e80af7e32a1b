"""model_graph: nodes, edges, shapes and parameter counts for every kind of model."""

from __future__ import annotations

import keras
import pytest

from nbviz.compute import model_graph


def _assert_topological(graph) -> None:
    position = {name: i for i, name in enumerate(graph.names)}
    for source, target in graph.edges:
        assert position[source] < position[target], (source, target)
    assert len(set(graph.names)) == len(graph.names)


def _leaf_params(graph) -> int:
    return sum(n.params for n in graph.nodes if not n.is_model)


def test_sequential(sequential_mlp):
    graph = model_graph(sequential_mlp)
    assert graph.names == ["features", "hidden", "probs"]
    assert graph.edges == (("features", "hidden"), ("hidden", "probs"))
    hidden = graph.node("hidden")
    assert hidden.class_name == "Dense"
    assert hidden.input_shapes == ((None, 5),) and hidden.output_shapes == ((None, 4),)
    assert (hidden.trainable_params, hidden.non_trainable_params) == (5 * 4 + 4, 0)
    assert graph.total_params == _leaf_params(graph) == sequential_mlp.count_params()


def test_two_inputs_two_outputs_shared_layer(two_input_model):
    graph = model_graph(two_input_model)
    _assert_topological(graph)
    # The shared layer's second call is a node of its own, "shared@1", which counts no parameters.
    assert sorted(graph.names) == ["a", "b", "cat", "label", "shared", "shared@1", "value"]
    # The bare `ha + hb` op is not a node: its producers link straight to its consumer.
    assert set(graph.edges) == {
        ("a", "shared"),
        ("b", "shared@1"),
        ("shared", "value"),
        ("shared@1", "value"),
        ("shared", "cat"),
        ("shared@1", "cat"),
        ("cat", "label"),
    }
    assert graph.node("shared").calls == graph.node("shared@1").calls == 2
    assert graph.node("shared@1").call_of == "shared" and graph.node("shared@1").params == 0
    assert graph.node("cat").input_shapes == ((None, 5), (None, 5))
    assert graph.total_params == two_input_model.count_params()


def test_nested_model(nested_model):
    graph = model_graph(nested_model)
    _assert_topological(graph)
    assert graph.names == [
        "image",
        "backbone/backbone_in",
        "backbone/conv1",
        "backbone/bn",
        "backbone/gap",
        "backbone",
        "head",
        "probs",
    ]
    assert len(graph.edges) == 7
    assert ("image", "backbone/backbone_in") in graph.edges
    assert ("backbone/gap", "backbone") in graph.edges
    assert ("backbone", "head") in graph.edges
    bn = graph.node("backbone/bn")
    assert bn.parent == "backbone" and (bn.trainable_params, bn.non_trainable_params) == (6, 6)
    backbone = graph.node("backbone")
    assert backbone.is_model and backbone.params == nested_model.get_layer("backbone").count_params()
    # Counted once: at the top level the nested model stands for its layers.
    assert graph.total_params == _leaf_params(graph) == nested_model.count_params()


def test_demo_cnn(digits):
    model = digits.model
    graph = model_graph(model)
    _assert_topological(graph)
    assert len(graph.nodes) == len(model.layers)
    assert len(graph.edges) == len(model.layers) - 1
    assert graph.total_params == model.count_params()
    for node in graph.nodes:
        layer = model.get_layer(node.name)
        assert node.output_shapes == (tuple(layer.output.shape),)


def test_subclassed_model_lists_its_layers(subclassed_model):
    graph = model_graph(subclassed_model)
    assert graph.names == ["hidden", "out"]
    assert graph.edges == ()
    assert graph.total_params == subclassed_model.count_params()


def test_unknown_node_names_the_known_layers(sequential_mlp):
    with pytest.raises(KeyError, match="hidden"):
        model_graph(sequential_mlp).node("nope")


def test_not_a_model():
    with pytest.raises(TypeError, match="model: expected a keras.Model"):
        model_graph("resnet")


def test_model_never_built():
    unbuilt = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="model: expected a built model"):
        model_graph(unbuilt)
