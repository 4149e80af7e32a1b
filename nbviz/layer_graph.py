"""The layer graph: every layer a node, top to bottom in topological order, coloured by kind; click to select."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from .compute.graph import LayerNode, ModelGraph

KIND_COLORS = {
    "input": "#9e9e9e",
    "conv": "#1f77b4",
    "dense": "#d62728",
    "pool": "#9467bd",
    "norm": "#2ca02c",
    "recurrent": "#ff7f0e",
    "attention": "#e377c2",
    "model": "#17becf",
    "other": "#8c8c8c",
}
ROW_PX = 22  # vertical space per node: compact enough for ResNet50's 177 layers in a scrolled box


def kind_of(node: LayerNode) -> str:
    """A layer's kind, for its colour."""
    name = node.class_name.lower()
    if node.is_model:
        return "model"
    for kind, keys in (
        ("input", ("inputlayer",)),
        ("attention", ("attention",)),
        ("recurrent", ("lstm", "gru", "rnn", "bidirectional")),
        ("conv", ("conv",)),
        ("pool", ("pool",)),
        ("norm", ("normalization",)),
        ("dense", ("dense", "embedding")),
    ):
        if any(key in name for key in keys):
            return kind
    return "other"


def layout(graph: ModelGraph) -> tuple[np.ndarray, np.ndarray]:
    """Node positions: levels (the longest path from an input) top to bottom, a slot within the level as the
    column, and a row of its own for every node, so that the labels of a level's nodes (BERT's three inputs
    side by side) never overlap. Layers that only their parent's call connects (a custom block's sub-layers, a
    subclassed model's) sit indented right under their parent."""
    index = {name: i for i, name in enumerate(graph.names)}
    level = np.zeros(len(graph.nodes), dtype=np.int64)
    linked = np.zeros(len(graph.nodes), dtype=bool)
    for source, target in graph.edges:  # edges come in topological order of their sources
        level[index[target]] = max(level[index[target]], level[index[source]] + 1)
        linked[index[source]] = linked[index[target]] = True
    inside = {
        i: index[n.parent] for i, n in enumerate(graph.nodes) if n.parent in index and not linked[i] and not n.is_input
    }
    for i, parent in inside.items():  # parents come first: a block's own sub-blocks follow it
        level[i] = level[parent]
    column = np.zeros(len(graph.nodes), dtype=np.float64)
    row = np.zeros(len(graph.nodes), dtype=np.float64)
    start = 0
    for lvl in np.unique(level):
        members = np.flatnonzero(level == lvl)  # in graph order: a parent's inner layers right after it
        own = np.array([m for m in members if m not in inside], dtype=np.int64)
        column[own] = np.arange(len(own)) - (len(own) - 1) / 2
        row[members] = start + np.arange(len(members))
        start += len(members)
    for i, parent in inside.items():
        column[i] = column[parent] + 0.6
    return column, row


class LayerGraph:
    """Scatter nodes over line edges; ``on_select(name)`` is called when a person clicks a node."""

    def __init__(self, graph: ModelGraph, on_select: Callable[[str], None]) -> None:
        self.graph = graph
        self.names = graph.names
        self._on_select = on_select
        x, y = layout(graph)
        self.x, self.y = x, y
        index = {name: i for i, name in enumerate(self.names)}
        kinds = [kind_of(n) for n in graph.nodes]
        x_scale = bq.LinearScale(min=float(x.min()) - 1.5, max=float(x.max()) + 3.0)
        y_scale = bq.LinearScale(min=-0.5, max=float(y.max()) + 0.5, reverse=True)
        scales = {"x": x_scale, "y": y_scale}
        sources = [index[s] for s, _ in graph.edges]
        targets = [index[t] for _, t in graph.edges]
        self.edges = bq.Lines(
            x=np.stack([x[sources], x[targets]], axis=1).astype(np.float32) if sources else np.zeros((0, 2)),
            y=np.stack([y[sources], y[targets]], axis=1).astype(np.float32) if sources else np.zeros((0, 2)),
            scales=scales,
            colors=["#b0b0b0"],
            stroke_width=1,
            interactions={},
        )
        self.tooltip = widgets.HTML()
        self.nodes = bq.Scatter(
            x=x.astype(np.float32),
            y=y.astype(np.float32),
            color=np.array(kinds),
            names=[name.split("/")[-1] for name in self.names],
            display_names=True,
            scales={
                **scales,
                "color": bq.OrdinalColorScale(domain=list(KIND_COLORS), colors=list(KIND_COLORS.values())),
            },
            default_size=90,
            stroke="#333333",
            interactions={"click": "select", "hover": "tooltip"},
            selected_style={"stroke": "#000000", "stroke-width": 4, "opacity": 1.0},
            unselected_style={"opacity": 0.75},
            tooltip=self.tooltip,
        )
        self.nodes.on_hover(self._hover)
        self.nodes.observe(self._clicked, names="selected")
        height = max(240, int(ROW_PX * (y.max() + 2)))
        width = max(240, int(70 * (x.max() - x.min() + 4)))
        self.figure = bq.Figure(
            marks=[self.edges, self.nodes],
            fig_margin={"top": 10, "bottom": 10, "left": 10, "right": 10},
            layout=widgets.Layout(width=f"{width}px", height=f"{height}px"),
            padding_y=0.0,
        )
        legend = " ".join(
            f'<span style="color:{color}">&#9679;</span>&nbsp;{kind}'
            for kind, color in KIND_COLORS.items()
            if kind in kinds
        )
        # Scrolled, so a 175-layer ResNet50 stays usable without shrinking its nodes to dots.
        self.widget = widgets.VBox(
            [
                widgets.HTML(f'<div style="font-size:0.85em">{legend}</div>'),
                widgets.Box([self.figure], layout=widgets.Layout(overflow="auto", max_height="380px", width="300px")),
            ]
        )

    def highlight(self, name: str) -> None:
        """Mark ``name`` as the selected node (without calling back)."""
        index = self.names.index(name)
        if self.nodes.selected is None or list(self.nodes.selected) != [index]:
            self.nodes.unobserve(self._clicked, names="selected")
            self.nodes.selected = np.array([index])
            self.nodes.observe(self._clicked, names="selected")

    def _clicked(self, change: dict[str, Any]) -> None:
        selected = change["new"]
        if selected is not None and len(selected) > 0:
            self._on_select(self.names[int(selected[-1])])

    def _hover(self, _mark: Any, event: dict[str, Any]) -> None:
        index = int(event.get("data", {}).get("index", -1))
        if 0 <= index < len(self.names):
            node = self.graph.nodes[index]
            shapes = lambda s: ", ".join(str(tuple(shape)) for shape in s)  # noqa: E731
            self.tooltip.value = (
                f"<b>{html.escape(node.name)}</b> ({node.class_name})<br>in: {shapes(node.input_shapes)}"
                f"<br>out: {shapes(node.output_shapes)}<br>params: {node.trainable_params:,} trainable, "
                f"{node.non_trainable_params:,} non-trainable"
            )
