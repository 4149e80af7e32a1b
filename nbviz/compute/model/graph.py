"""The layer graph of a Keras 3 model: nodes with shapes and parameter counts, edges in topological order."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from typing import Any

import keras
import numpy as np

from .._validate import check_model
from .groups import GroupTree, group_tree

Shape = tuple[int | None, ...]


@dataclass(frozen=True)
class LayerNode:
    """One layer of a model.

    Attributes
    ----------
    name : str
        Qualified name: a layer inside a nested model is ``"outer/inner"``.
    class_name : str
        The layer's class, e.g. ``"Conv2D"``.
    input_shapes, output_shapes : tuple of shapes
        One shape per input or output tensor of the layer's first call; ``None`` is the batch axis.
    trainable_params, non_trainable_params : int
        Parameter counts; a nested model's node counts everything inside it.
    parent : str or None
        Qualified name of the nested model this layer lives in, None at the top level.
    is_model : bool
        True for a nested model, whose inner layers are nodes of their own.
    calls : int
        How many times the layer is called in the graph (2 for a shared layer called twice), on each of its
        call nodes.
    call_of : str or None
        None for a layer's first call. A shared layer's later calls in a symbolic graph are nodes of their own,
        ``"name@1"``, ``"name@2"``, ... (the keys its recorded outputs have), with ``call_of`` naming the first
        call's node, which owns the weights: a call node counts no parameters (they would count twice), holds no
        inner nodes (a nested model's or block's inner layers are shown for its first call) and takes its edges
        from the tensors of its own call (ALBERT's one transformer layer called N times is a chain, not a cycle).
    activation : str
        What the layer's output ends in: "relu" (plain ReLU only: a leaky or capped one does not die the same
        way), "softmax", "sigmoid", "tanh", "linear", ... or "" when unknown. See :func:`activation_of`.
    is_input : bool
        An InputLayer (a nested model's inner ones too; those have a ``parent``).
    is_block : bool
        A custom layer built of layers (a subclassed ``TransformerBlock``, KerasHub's ``TransformerEncoder``):
        its sub-layers are nodes of their own (``"block/attention"``), with the block as their ``parent``.
    """

    name: str
    class_name: str
    input_shapes: tuple[Shape, ...]
    output_shapes: tuple[Shape, ...]
    trainable_params: int
    non_trainable_params: int
    parent: str | None = None
    is_model: bool = False
    calls: int = 1
    activation: str = ""
    is_input: bool = False
    is_block: bool = False
    call_of: str | None = None

    @property
    def params(self) -> int:
        return self.trainable_params + self.non_trainable_params

    @property
    def has_weights(self) -> bool:
        """A layer with weights of its own (a nested model's belong to its inner layers)."""
        return self.params > 0 and not self.is_model


@dataclass(frozen=True)
class ModelGraph:
    """Layers as nodes and data flow as edges, both in topological order.

    A nested model appears as a node of its own *and* its inner layers appear as nodes; edges run from the
    outer producers into the nested model's input layers, and from its output layers to the nested model's node.
    """

    name: str
    nodes: tuple[LayerNode, ...]
    edges: tuple[tuple[str, str], ...]
    _index: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._index.update({n.name: i for i, n in enumerate(self.nodes)})

    @property
    def names(self) -> list[str]:
        return [n.name for n in self.nodes]

    def node(self, name: str) -> LayerNode:
        """The node called ``name``; KeyError naming the known layers otherwise."""
        if name not in self._index:
            raise KeyError(f"layer: expected one of {self.names}, got {name!r}")
        return self.nodes[self._index[name]]

    @functools.cached_property
    def groups(self) -> GroupTree:
        """The layers' groups (nested models, blocks, name scopes, repeated blocks folded, long levels chunked):
        see :mod:`nbviz.compute.model.groups`. Found once, on first use."""
        return group_tree(self)

    @property
    def total_params(self) -> int:
        """Parameters of the top-level nodes (equals ``model.count_params()``)."""
        return sum(n.params for n in self.nodes if n.parent is None)


def model_graph(model: keras.Model) -> ModelGraph:
    """Describe ``model`` as a graph of layers.

    Works for Sequential and Functional models, nested models (inner layers get qualified names), several
    inputs and outputs, and layers called more than once. A subclassed model has no symbolic graph: its
    layers become nodes with no edges.

    Returns
    -------
    ModelGraph
        ``.nodes`` and ``.edges`` (source, target) in topological order.
    """
    return graph_and_layers(model)[0]


def graph_and_layers(model: keras.Model) -> tuple[ModelGraph, dict[str, keras.layers.Layer]]:
    """:func:`model_graph` and :func:`qualified_layers` from one walk of the model (a second walk of a
    3,000-layer model costs half a second)."""
    builder = _build(model)
    nodes, edges = builder.sorted()
    graph = ModelGraph(name=model.name, nodes=tuple(nodes), edges=tuple(edges))
    return graph, {n.name: builder.layers[n.name] for n in nodes}


def activation_of(layer: Any) -> str:
    """The activation a layer's output ends in, by one definition for every check and view.

    A ReLU layer counts as "relu" only when plain (no negative slope, threshold or cap); a Softmax layer is
    "softmax"; any other layer is named by its ``activation`` function ("" when it has none).
    """
    if isinstance(layer, keras.layers.ReLU):
        plain = not layer.negative_slope and not layer.threshold and layer.max_value is None
        return "relu" if plain else ""
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    activation = getattr(layer, "activation", None)
    return str(getattr(activation, "__name__", "")) if activation is not None else ""


def holds_layers(layer: Any) -> bool:
    """A nested model, or a custom layer built of layers (see :func:`is_block`): its weights belong to the
    layers inside, which are nodes of their own (their gradient norms and findings are theirs)."""
    return isinstance(layer, keras.Model) or is_block(layer)


def is_block(layer: Any) -> bool:
    """A custom layer (a direct subclass of ``keras.layers.Layer``, not a Keras layer such as
    MultiHeadAttention or Bidirectional, nor a subclass of one) that holds layers of its own."""
    if isinstance(layer, keras.Model) or not isinstance(layer, keras.layers.Layer):
        return False
    base = next((c for c in type(layer).__mro__ if c.__module__.startswith("keras.")), None)
    return base is keras.layers.Layer and bool(_sublayers(layer))


def _sublayers(layer: Any) -> list[Any]:
    return list(layer._flatten_layers(include_self=False, recursive=False))


def qualified_layers(model: keras.Model) -> dict[str, keras.layers.Layer]:
    """Every layer of ``model`` by qualified name, in topological order (nested models included)."""
    return graph_and_layers(model)[1]


def _build(model: keras.Model) -> _Builder:
    check_model(model)
    builder = _Builder()
    graph = symbolic_graph(model)
    if graph is not None:
        builder.walk(graph, prefix="", parent=None)
    else:
        builder.add_flat(model, prefix="", parent=None)
    return builder


def symbolic_graph(model: Any) -> Any | None:
    """The Functional graph behind a model, or None for a subclassed model."""
    if isinstance(model, keras.Sequential):
        # A Sequential built with a known input shape keeps a Functional twin that holds its graph.
        return getattr(model, "_functional", None)
    return model if hasattr(model, "_nodes_by_depth") else None


def _node(layer: Any, name: str, parent: str | None, inputs: list[Any], outputs: list[Any], **fields: Any) -> LayerNode:
    """The node of one call of ``layer``: what every node holds, and ``fields``."""
    return LayerNode(
        name=name,
        class_name=type(layer).__name__,
        input_shapes=tuple(_shape(t) for t in inputs),
        output_shapes=tuple(_shape(t) for t in outputs),
        parent=parent,
        activation=activation_of(layer),
        **fields,
    )


def _count(weights: list[Any]) -> int:
    return int(sum(int(np.prod(w.shape)) for w in weights))


def _shape(tensor: Any) -> Shape:
    return tuple(None if d is None else int(d) for d in tensor.shape)


class _Builder:
    """Collects nodes and edges while walking Keras's symbolic graph (its Node objects)."""

    def __init__(self) -> None:
        self.nodes: dict[str, LayerNode] = {}
        self.layers: dict[str, keras.layers.Layer] = {}
        self.edges: list[tuple[str, str]] = []

    def add(self, layer: Any, name: str, parent: str | None, inputs: list[Any], outputs: list[Any]) -> bool:
        """Add a node (or count one more call of it); True when the node is new."""
        if name in self.nodes:
            old = self.nodes[name]
            self.nodes[name] = replace(old, calls=old.calls + 1)
            return False
        self.layers[name] = layer
        self.nodes[name] = _node(
            layer,
            name,
            parent,
            inputs,
            outputs,
            trainable_params=_count(layer.trainable_weights),
            non_trainable_params=_count(layer.non_trainable_weights),
            is_model=isinstance(layer, keras.Model),
            is_input=isinstance(layer, keras.layers.InputLayer),
            is_block=is_block(layer),
        )
        return True

    def add_call(self, layer: Any, first: str, parent: str | None, inputs: list[Any], outputs: list[Any]) -> str:
        """A node for a later call of the layer whose first call is the node ``first``; its name.

        Named ``first@k`` for the (k+1)-th call, as :func:`nbviz.compute.model.recording.recording` keys that call's
        output, so that the node's activations are found under its name. The walk meets a layer's calls in the order
        Keras runs them (depth first, then the order of ``_nodes_by_depth``), which is the order they are recorded.
        """
        old = self.nodes[first]
        name = f"{first}@{old.calls}"
        self.nodes[first] = replace(old, calls=old.calls + 1)
        self.layers[name] = layer
        # Its weights are the first call's: counted there, once.
        self.nodes[name] = _node(
            layer, name, parent, inputs, outputs, trainable_params=0, non_trainable_params=0, call_of=first
        )
        return name

    def add_inside(self, layer: Any, name: str) -> None:
        """The layers inside a new node ``name``: a subclassed model's, or a custom block's (no edges: only
        the layers' own call knows how they connect)."""
        if isinstance(layer, keras.Model):
            self.add_flat(layer, prefix=name + "/", parent=name)
        elif is_block(layer):
            for sub in _sublayers(layer):
                shapes = _known_shapes(sub)
                if self.add(sub, f"{name}/{sub.name}", name, shapes[0], shapes[1]):
                    self.add_inside(sub, f"{name}/{sub.name}")

    def link(self, sources: list[str], target: str) -> None:
        for source in sources:
            if (source, target) not in self.edges:
                self.edges.append((source, target))

    def walk(self, graph: Any, prefix: str, parent: str | None) -> tuple[list[str], list[list[str]]]:
        """Walk one Functional graph; return its input nodes' names and the producers of each output."""
        # Keras 3 keeps the graph in Node objects (`_nodes_by_depth`, `parent_nodes`); the public API has no
        # equivalent, so this is the one place nbviz reads them. Depth 0 holds the outputs.
        producers: dict[int, list[str]] = {}

        def producers_of(tensor: Any) -> list[str]:
            history = getattr(tensor, "_keras_history", None)
            if history is None or history.operation is None:
                return []
            return producers[id(history.operation._inbound_nodes[history.node_index])]

        rank = {id(op): i for i, op in enumerate(graph.operations)}
        for depth in sorted(graph._nodes_by_depth, reverse=True):
            for node in sorted(graph._nodes_by_depth[depth], key=lambda n: rank[id(n.operation)]):
                op = node.operation
                args = list(node.arguments.keras_tensors)
                outs = list(node.outputs)
                if not isinstance(op, keras.layers.Layer):
                    # A bare op (x + y, keras.ops.*) between layers: pass its producers through.
                    producers[id(node)] = [p for t in args for p in producers_of(t)]
                    continue
                name = prefix + op.name
                sources = [producers_of(t) for t in args]
                inner = symbolic_graph(op) if isinstance(op, keras.Model) else None
                if isinstance(op, keras.layers.InputLayer):
                    self.add(op, name, parent, outs, outs)
                elif name in self.nodes:
                    # A later call of a shared layer: a node of its own, so that each call's activations can be
                    # shown and a layer that feeds itself (ALBERT) makes a chain instead of a cycle.
                    name = self.add_call(op, name, parent, args, outs)
                    for srcs in sources:
                        self.link(srcs, name)
                elif inner is not None:
                    self.add(op, name, parent, args, outs)
                    inner_inputs, inner_outputs = self.walk(inner, prefix=name + "/", parent=name)
                    for srcs, inner_input in zip(sources, inner_inputs):
                        self.link(srcs, inner_input)
                    for srcs in inner_outputs:
                        self.link(srcs, name)
                else:
                    self.add(op, name, parent, args, outs)
                    self.add_inside(op, name)
                    for srcs in sources:
                        self.link(srcs, name)
                producers[id(node)] = [name]

        inputs = [prefix + t._keras_history.operation.name for t in graph.inputs]
        return inputs, [producers_of(t) for t in graph.outputs]

    def add_flat(self, model: Any, prefix: str, parent: str | None) -> None:
        """Layers of a model without a symbolic graph (subclassed): nodes with no edges."""
        for layer in model.layers:
            name = prefix + layer.name
            shapes = _known_shapes(layer)
            if self.add(layer, name, parent, shapes[0], shapes[1]):
                self.add_inside(layer, name)

    def sorted(self) -> tuple[list[LayerNode], list[tuple[str, str]]]:
        """Nodes in a stable topological order (insertion order breaks ties), edges by source then target."""
        order = list(self.nodes)
        indegree = {n: 0 for n in order}
        children: dict[str, list[str]] = {n: [] for n in order}
        for source, target in self.edges:
            indegree[target] += 1
            children[source].append(target)
        rank = {n: i for i, n in enumerate(order)}
        ready = [n for n in order if indegree[n] == 0]
        result: list[str] = []
        while ready:
            ready.sort(key=rank.__getitem__)
            current = ready.pop(0)
            result.append(current)
            for child in children[current]:
                indegree[child] -= 1
                if indegree[child] == 0:
                    ready.append(child)
        # Every call node tells how many calls its layer has, known only now that the walk is done.
        for name, node in self.nodes.items():
            if node.call_of is not None:
                self.nodes[name] = replace(node, calls=self.nodes[node.call_of].calls)
        position = {n: i for i, n in enumerate(result)}
        edges = sorted(self.edges, key=lambda e: (position[e[0]], position[e[1]]))
        return [self.nodes[n] for n in result], edges


def _known_shapes(layer: Any) -> tuple[list[Any], list[Any]]:
    """Input and output tensors of a layer outside a symbolic graph, where Keras still knows them."""

    def tensors(attr: str) -> list[Any]:
        try:
            value = getattr(layer, attr)
        except (AttributeError, ValueError):
            return []
        return [t for t in keras.tree.flatten(value) if hasattr(t, "shape")]

    return tensors("input"), tensors("output")
