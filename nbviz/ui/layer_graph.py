"""The layer graph: an outline of the model's layers and groups, top to bottom, that opens where you click.

Groups (nested models, blocks, name scopes, repeated blocks folded as "xN", ranges of long levels: see
:mod:`nbviz.compute.model.groups`) are squares; a click opens one in place, and a click on an open group's
header closes it. Layers are circles; a click selects the layer. Only what is open is laid out and sent, so a
10,000-layer model costs what its few dozen visible rows cost. Nodes are coloured by their kind, or by a
per-layer metric with a colour scale (a group shows its layers' max or sum, as the legend says).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ..compute.analysis.analysis import Analysis
from ..compute.analysis.answers import Unavailable
from ..compute.analysis.graph import METRICS, LayerMetric, Metric
from ..compute.methods.graph_layout import (
    GraphLayout,
    Painted,
    group_value,
    initial_expanded,
    layout_graph,
    paint,
    route_edges,
)
from ..compute.model.graph import LayerNode
from .markup import escape
from .panels.base import error_html
from .plots.figures import MUTED

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
GROUP_COLOR = "#dddddd"  # a group's square when colouring by kind
#: Low to high values of a metric (viridis, readable on a light and a dark background).
SCALE_COLORS = ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725")
ROW_PX = 22  # vertical space per row
UNIT_PX = 26  # horizontal space per column of the layout
CHAR_PX = 7  # a label's character, to size the figure so that no label is cut
MARGIN_PX = 10  # the figure's margin on each side
#: The selected node's ring: the theme's strongest text colour (black on light, white on dark), so it reads on
#: either background; black where no JupyterLab theme is loaded.
RING = "var(--jp-ui-font-color0, #000000)"
GRAPH_CLASS = "nbviz-layer-graph"  # on the figure, for the theme's CSS and for tests
#: What a group's kind means, in a tooltip's sentence.
GROUP_KINDS = {
    "model": "a nested model",
    "block": "a layer built of layers",
    "scope": "layers that share a name prefix",
    "repeat": "identical blocks in a row",
    "range": "consecutive items of a long level",
}


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


class LayerGraph:
    """The graph view; ``on_select(name)`` is called when a person clicks a layer.

    Attributes read by code and tests: :attr:`visible` (what is drawn, in row order), :attr:`expanded`,
    :attr:`color_by` (settable) and :attr:`values` (the painted metric per visible row).
    """

    def __init__(
        self,
        analysis: Analysis,
        on_select: Callable[[str], None],
        recorder: Any = None,
        current: str | None = None,
        metrics: Mapping[str, Metric] | None = None,
        measure: Callable[[str, int], LayerMetric | Unavailable] | None = None,
    ) -> None:
        self.analysis = analysis
        #: The metrics the colour menu offers: the analysis's own (:data:`METRICS`), or those of another view that
        #: paints the same graph (nbviz.compare: the change from model A to B), which ``measure(metric, sample)``
        #: answers.
        self.metrics: Mapping[str, Metric] = METRICS if metrics is None else metrics
        self._measure = measure if measure is not None else self._analysis_metric
        self.graph = analysis.graph
        self.tree = self.graph.groups
        self.recorder = recorder  # a LiveTraining's recorder, for the training metrics
        self._on_select = on_select
        self._expanded = initial_expanded(self.graph, keep_open=current)
        self._current = current
        self._sample = 0
        self._version = ""
        self._painted_for: tuple[Any, ...] | None = None  # what the colours were computed for
        self._metric: LayerMetric | None = None
        self._kinds: set[str] | None = None  # the layer kinds the model has, for the legend
        self.layout: GraphLayout = layout_graph(self.graph, self._expanded)
        self.painted: Painted | None = None

        self.x_scale = bq.LinearScale(min=-0.5, max=10.0)
        self.y_scale = bq.LinearScale(min=-0.5, max=1.0, reverse=True)
        scales = {"x": self.x_scale, "y": self.y_scale}
        self.edges = bq.Lines(
            x=np.zeros((0, 4)), y=np.zeros((0, 4)), scales=scales, colors=["#b0b0b0"], stroke_width=1, interactions={}
        )
        self.brackets = bq.Lines(x=[], y=[], scales=scales, colors=["#d0d0d0"], stroke_width=2, interactions={})
        self.tooltip = widgets.HTML()
        self.nodes = bq.Scatter(
            x=[],
            y=[],
            scales=scales,
            display_names=True,
            default_size=90,
            label_display_horizontal_offset=8,  # the name right of its dot, centred on it
            label_display_vertical_offset=-4,
            stroke="#333333",
            interactions={"click": "select", "hover": "tooltip"},
            selected_style={"stroke": RING, "stroke-width": 4, "opacity": 1.0},
            unselected_style={"opacity": 0.8},
            tooltip=self.tooltip,
        )
        self.groups = bq.Scatter(
            x=[],
            y=[],
            scales=scales,
            marker="square",
            display_names=True,
            default_size=110,
            label_display_horizontal_offset=9,
            label_display_vertical_offset=-4,
            stroke="#333333",
            interactions={"click": "select", "hover": "tooltip"},
            tooltip=self.tooltip,
        )
        self.flags = bq.Scatter(  # findings: a red triangle beside each row that holds one
            x=[], y=[], scales=scales, marker="triangle-up", default_size=40, colors=["#d62728"], interactions={}
        )
        self.nodes.on_hover(self._hover)
        self.groups.on_hover(self._hover)
        self.nodes.observe(self._clicked, names="selected")
        self.groups.observe(self._group_clicked, names="selected")
        self.figure = bq.Figure(
            marks=[self.brackets, self.edges, self.nodes, self.groups, self.flags],
            fig_margin={"top": MARGIN_PX, "bottom": MARGIN_PX, "left": MARGIN_PX, "right": MARGIN_PX},
            layout=widgets.Layout(width="280px", height="240px", grid_area="graph"),
            padding_y=0.0,
            display_toolbar=False,  # its pop-up toolbar covered the top rows' names
        )
        self.figure.add_class(GRAPH_CLASS)
        self.color_choice = widgets.Dropdown(
            options=[("colour: kind", "kind"), *((f"colour: {m.label}", name) for name, m in self.metrics.items())],
            value="kind",
            layout=widgets.Layout(width="290px"),
        )
        self.search = widgets.Text(
            placeholder="find a layer (name or part)", continuous_update=False, layout=widgets.Layout(width="290px")
        )
        self.found = widgets.HTML()
        self.legend = widgets.HTML()
        self.color_choice.observe(lambda _: self._recolor(), names="value")
        self.search.observe(lambda change: self.find(change["new"]), names="value")
        # Scrolled, so a long open graph stays usable without shrinking its nodes to dots. A browser scrolls a
        # box to show the element it focuses, and a widget can be focused from Python: a thin button that lies
        # over the figure at the selected row (in the same grid cell) is focused to bring that row into view.
        self.spacer = widgets.Box(layout=widgets.Layout(height="0px", width="1px", flex="0 0 auto"))
        self.anchor = widgets.Button(
            tooltip="the selected layer",
            layout=widgets.Layout(width="1px", height=f"{ROW_PX}px", padding="0", margin="0", border="none"),
        )
        self.anchor.style.button_color = "transparent"
        marker = widgets.VBox(
            [self.spacer, self.anchor],
            layout=widgets.Layout(grid_area="graph", width="1px", align_self="flex-start"),
        )
        self.scroll_box = widgets.GridBox(
            [self.figure, marker],
            layout=widgets.Layout(grid_template_areas='"graph"', overflow="auto", max_height="380px", width="300px"),
        )
        self.widget = widgets.VBox([self.search, self.found, self.scroll_box, self.color_choice, self.legend])
        self._draw()

    # --------------------------------------------------------------------------------------------- public
    @property
    def visible(self) -> tuple[str, ...]:
        """The names drawn now, in row order: layers, closed groups, and the headers of open groups."""
        return self.layout.items

    @property
    def names(self) -> list[str]:
        """The layers drawn, in the order of the circles (``nodes``)."""
        return [item for item, kind in zip(self.layout.items, self.layout.kinds) if kind == "layer"]

    @property
    def group_rows(self) -> list[str]:
        """The groups drawn, closed and open, in the order of the squares (``groups``)."""
        return [item for item, kind in zip(self.layout.items, self.layout.kinds) if kind != "layer"]

    @property
    def expanded(self) -> frozenset[str]:
        """The open groups (an open group inside a closed one is remembered, not drawn)."""
        return frozenset(self._expanded)

    @property
    def values(self) -> np.ndarray:
        """The painted metric per visible row (float64; NaN where none applies, and for headers); the kind's
        index in :data:`KIND_COLORS` per layer when colouring by kind."""
        if self.painted is not None:
            return self.painted.values
        kinds = list(KIND_COLORS)
        return np.array(
            [kinds.index(kind_of(self.graph.node(n))) if k == "layer" else np.nan for n, k in self._rows()],
            dtype=np.float64,
        )

    @property
    def color_by(self) -> str:
        return str(self.color_choice.value)

    @color_by.setter
    def color_by(self, metric: str) -> None:
        if metric != "kind" and metric not in self.metrics:
            raise ValueError(f"color_by: expected one of {['kind', *self.metrics]}, got {metric!r}")
        self.color_choice.value = metric

    def expand(self, name: str) -> None:
        """Open group ``name`` and the groups around it."""
        self._check_group(name)
        self._expanded.update([*self.tree.path(name), name])
        self._draw()

    def collapse(self, name: str) -> None:
        """Close group ``name`` (the groups open inside it are remembered)."""
        self._check_group(name)
        self._expanded.discard(name)
        self._draw()

    def find(self, text: str) -> list[str]:
        """Layers whose name holds ``text`` (case-insensitive); one alone (or an exact name) is selected and
        its groups opened, several are listed (the first 12) to click in the dropdown or type further."""
        text = text.strip()
        if not text:
            self.found.value = ""
            return []
        names = self.graph.names
        exact = [n for n in names if n == text or n.rsplit("/", 1)[-1] == text]
        matches = exact or [n for n in names if text.lower() in n.lower()]
        if len(matches) == 1:
            self.found.value = ""
            self._on_select(matches[0])
        elif not matches:
            self.found.value = f"<small>no layer name holds {escape(text)!r}</small>"
        else:
            shown = ", ".join(escape(m) for m in matches[:12])
            more = f" and {len(matches) - 12} more" if len(matches) > 12 else ""
            self.found.value = f"<small>{len(matches)} layers: {shown}{more}</small>"
        return matches

    def highlight(self, name: str) -> None:
        """Show ``name`` as the current layer: the groups holding it open, its circle selected (no callback),
        and the graph's box scrolled to it where it lies outside the part shown."""
        moved, self._current = name != self._current, name
        path = self.tree.layer_path(name)
        if not self._expanded.issuperset(path):
            self._expanded.update(path)
            self._draw()
        else:
            self._select_current()
        # Only when the layer changed: a new sample must not send a message here, nor take the keyboard's focus
        # from the slider.
        if moved and name in self.names:
            # Blurred first: a browser scrolls to an element as it gains focus, not when it has it already.
            self.anchor.blur()
            self.anchor.focus()

    def row_top_px(self, row: int) -> float:
        """Where row ``row`` is drawn, in px from the top of the figure: the centre of its dot."""
        rows = max(len(self.layout.items), 1)
        height = max(120, ROW_PX * (rows + 1))
        return MARGIN_PX + (row + 0.5) / rows * (height - 2 * MARGIN_PX)

    def update(self, sample: int, version: str) -> None:
        """Bring the colours to the sample and the model's version, when the metric depends on them."""
        self._sample, self._version = sample, version
        if self._painted_for != self._paint_key():
            self._recolor()

    def training_drawn(self) -> None:
        """LiveTraining recorded more: a training metric's colours follow it."""
        if self.color_by in self.metrics and self.metrics[self.color_by].source == "training":
            self._recolor()

    def _analysis_metric(self, metric: str, sample: int) -> LayerMetric | Unavailable:
        return self.analysis.layer_metric(metric, sample, self.recorder)

    # --------------------------------------------------------------------------------------------- drawing
    def _rows(self) -> list[tuple[str, str]]:
        return list(zip(self.layout.items, self.layout.kinds))

    def _draw(self) -> None:
        layout = self.layout = layout_graph(self.graph, self._expanded)
        is_layer = np.array([k == "layer" for k in layout.kinds], dtype=bool)
        labels = [self._label(item, kind) for item, kind in self._rows()]
        width = (
            max((float(x) + 1.0) * UNIT_PX + CHAR_PX * len(label) for x, label in zip(layout.x, labels))
            if labels
            else 240.0
        )
        edge_x, edge_y = route_edges(layout)
        left = min(-0.6, float(edge_x.min()) - 0.2) if len(edge_x) else -0.6  # the lanes of long edges
        width_px = int(max(280, width + 30 + (-0.6 - left) * UNIT_PX))
        rows = max(len(layout.items), 1)
        spans = layout.spans
        bracket_x = layout.x[spans[:, 0]] - 0.35 if len(spans) else np.zeros(0)
        with self.nodes.hold_sync(), self.groups.hold_sync(), self.edges.hold_sync(), self.brackets.hold_sync():
            self.x_scale.min, self.x_scale.max = left, left + (width_px - 2 * MARGIN_PX) / UNIT_PX
            self.y_scale.max = rows - 0.5
            self.edges.x, self.edges.y = edge_x, edge_y
            self.brackets.x = np.stack([bracket_x, bracket_x], axis=1) if len(spans) else np.zeros((0, 2))
            self.brackets.y = (
                np.stack([layout.y[spans[:, 0]] + 0.3, layout.y[spans[:, 1]] + 0.3], axis=1)
                if len(spans)
                else np.zeros((0, 2))
            )
            self._set_points(self.nodes, layout.x[is_layer], layout.y[is_layer], np.array(labels)[is_layer])
            self._set_points(self.groups, layout.x[~is_layer], layout.y[~is_layer], np.array(labels)[~is_layer])
        self.figure.layout.height = f"{max(120, ROW_PX * (rows + 1))}px"
        self.figure.layout.width = f"{width_px}px"
        self._recolor()
        self._select_current()

    def _place_anchor(self) -> None:
        """Put the focusable marker on the current layer's row (see ``__init__``)."""
        names = self.names
        if self._current not in names:
            return
        row = self.layout.row(self._current, "layer")
        self.spacer.layout.height = f"{max(0, round(self.row_top_px(row) - ROW_PX / 2))}px"

    @staticmethod
    def _set_points(mark: bq.Scatter, x: np.ndarray, y: np.ndarray, labels: np.ndarray) -> None:
        mark.x, mark.y = x.astype(np.float32), y.astype(np.float32)
        mark.names = [str(label) for label in labels]

    def _label(self, item: str, kind: str) -> str:
        if kind == "layer":
            return item.rsplit("/", 1)[-1]
        group = self.tree[item]
        return ("\u25be " if kind == "open" else "\u25b8 ") + group.label

    def _select_current(self) -> None:
        names = self.names
        index = names.index(self._current) if self._current in names else None
        wanted = None if index is None else [index]
        self._place_anchor()
        current = None if self.nodes.selected is None else list(self.nodes.selected)
        if current != wanted:
            self.nodes.unobserve(self._clicked, names="selected")
            self.nodes.selected = None if wanted is None else np.array(wanted)
            self.nodes.observe(self._clicked, names="selected")

    def _paint_key(self) -> tuple[Any, ...]:
        """What the colours depend on: the metric, and the sample and the model's version where it reads them."""
        metric = self.color_by
        source = self.metrics[metric].source if metric in self.metrics else "kind"
        return (metric, self._sample if source == "sample" else None, None if source == "kind" else self._version)

    def _recolor(self) -> None:
        """Colour the rows by the chosen metric (its values are the analysis's, memoised per model version)."""
        metric = self.color_by
        self._painted_for = self._paint_key()
        is_layer = np.array([k == "layer" for k in self.layout.kinds], dtype=bool)
        if metric == "kind":
            self.painted, self._metric = None, None
            self.nodes.colors = [KIND_COLORS[kind_of(self.graph.node(n))] for n in self.names] or ["#8c8c8c"]
            self.groups.colors = [GROUP_COLOR]
            if self._kinds is None:  # once: 10,000 layers take 60 ms
                self._kinds = {kind_of(node) for node in self.graph.nodes}
            present = self._kinds
            self.legend.value = (
                '<div style="font-size:0.85em">'
                + " ".join(
                    f'<span style="color:{c}">&#9679;</span>&nbsp;{escape(k)}'
                    for k, c in KIND_COLORS.items()
                    if k in present
                )
                + "</div>"
            )
            self._flag()
            return
        try:
            answer = self._measure(metric, self._sample)
            note = escape(answer.reason) if isinstance(answer, Unavailable) else ""
        except Exception as err:  # noqa: BLE001 - shown in the widget, which stays usable
            answer, note = Unavailable(str(err)), error_html(f"colour by {metric}", err)
        if isinstance(answer, Unavailable):
            self.painted, self._metric = None, None
            self.nodes.colors, self.groups.colors = ["#cccccc"], ["#cccccc"]
            self.legend.value = f'<div style="font-size:0.85em;color:{MUTED}">{note}</div>'
            return
        self._metric = answer
        painted = self.painted = paint(
            self.graph, self.layout, answer.values, answer.reduction, SCALE_COLORS, answer.log
        )
        colors = np.array(painted.colors)
        self.nodes.colors = list(colors[is_layer]) or ["#cccccc"]
        self.groups.colors = list(colors[~is_layer]) or ["#cccccc"]
        gradient = ", ".join(SCALE_COLORS)
        scale = "log scale" if answer.log else "linear"
        self.legend.value = (
            f'<div style="font-size:0.85em;line-height:1.3">{escape(answer.label)} ({scale}; a group shows '
            f"the {escape(answer.reduction)} of its layers; grey: none)<br>{_number(painted.vmin)}&nbsp;"
            f'<span style="display:inline-block;width:140px;height:10px;vertical-align:middle;'
            f'background:linear-gradient(to right, {gradient})"></span>&nbsp;{_number(painted.vmax)}</div>'
        )
        self._flag()

    def _flag(self) -> None:
        """A red triangle beside each row holding a layer with a finding, once the findings are known for the
        version the Explorer last showed (read without asking for the version: opening a group reads no weight)."""
        found: set[str] = set()
        if self._version and self.analysis.answered(self.analysis.findings, version=self._version):
            found = {f.layer for f in self.analysis.findings() if f.layer is not None}
        rows = [
            i
            for i, (item, kind) in enumerate(self._rows())
            if (item in found if kind == "layer" else kind == "group" and not found.isdisjoint(self.tree[item].layers))
        ]
        with self.flags.hold_sync():
            self.flags.x = (self.layout.x[rows] - 0.45).astype(np.float32) if rows else np.zeros(0, np.float32)
            self.flags.y = self.layout.y[rows].astype(np.float32) if rows else np.zeros(0, np.float32)

    # --------------------------------------------------------------------------------------------- events
    def _clicked(self, change: dict[str, Any]) -> None:
        selected = change["new"]
        if selected is not None and len(selected) > 0:
            self._on_select(self.names[int(selected[-1])])

    def _group_clicked(self, change: dict[str, Any]) -> None:
        selected = change["new"]
        if selected is None or len(selected) == 0:
            return
        item = self.group_rows[int(selected[-1])]  # a visible group is drawn open exactly when it is expanded
        self.groups.unobserve(self._group_clicked, names="selected")
        self.groups.selected = None  # every click is a new change: the next one toggles again
        self.groups.observe(self._group_clicked, names="selected")
        self.collapse(item) if item in self._expanded else self.expand(item)

    def _check_group(self, name: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"name: expected a group name (str), got {type(name).__name__}")
        if name not in self.tree:
            known = list(self.tree.groups)
            raise ValueError(
                f"name: expected a group, one of {known[:8]}{'...' if len(known) > 8 else ''}, got {name!r}"
            )

    def _hover(self, mark: Any, event: dict[str, Any]) -> None:
        index = int(event.get("data", {}).get("index", -1))
        rows = self.names if mark is self.nodes else self.group_rows
        if not 0 <= index < len(rows):
            return
        name = rows[index]
        self.tooltip.value = self.layer_tooltip(name) if mark is self.nodes else self.group_tooltip(name)

    def layer_tooltip(self, name: str) -> str:
        """What hovering layer ``name`` shows: sentences on its class, shapes, parameters and painted value."""
        node = self.graph.node(name)
        shapes = lambda s: ", ".join(str(tuple(shape)) for shape in s) or "none"  # noqa: E731
        text = (
            f"<b>{escape(node.name)}</b>: a {escape(node.class_name)} layer.<br>"
            f"Input shape {shapes(node.input_shapes)}; output shape {shapes(node.output_shapes)}.<br>"
            f"Parameters: {node.trainable_params:,} trainable, {node.non_trainable_params:,} non-trainable."
            f"{_calls(node)}"
        )
        if self.painted is not None and self._metric is not None:
            value = self.painted.values[self.layout.row(name, "layer")]
            label = escape(self._metric.label)
            text += (
                f"<br>{_capital(label)}: {_number(value)}."
                if np.isfinite(value) or np.isinf(value)
                else f"<br>No {label} for this layer."
            )
        return text

    def group_tooltip(self, name: str) -> str:
        """What hovering group ``name`` (closed, or an open group's header) shows: sentences on what it holds."""
        group = self.tree[name]
        nodes = [self.graph.node(n) for n in group.layers]
        params = sum(n.params for n in nodes if not n.is_model and not n.is_block)  # holders count theirs
        what = GROUP_KINDS.get(group.kind, escape(group.kind))
        if group.fold > 1:
            what += f", {group.fold} of them"
        layers = f"{len(group.layers):,} layer{'s' if len(group.layers) != 1 else ''}"
        text = (
            f"<b>{escape(group.name)}</b>: a group of {layers} ({what}), {params:,} parameters in all.<br>"
            f"Click to {'close' if name in self._expanded else 'open'} it."
        )
        if self.painted is not None and self._metric is not None:
            # An open group's header row has no value of its own: it shows what the closed group would.
            value = group_value(self.tree, name, self._metric.values, self._metric.reduction)
            label = escape(self._metric.label)
            reduction = escape(self._metric.reduction)
            text += (
                f"<br>{_capital(label)}: {_number(value)}, the {reduction} over its layers."
                if not np.isnan(value)
                else f"<br>None of its layers has a {label}."
            )
        return text


def _calls(node: LayerNode) -> str:
    """A shared layer's line in the tooltip: which call this node is, and where its weights are counted (a later
    call's node counts none, so that a total is not doubled)."""
    if node.call_of is not None:
        call = int(node.name.rsplit("@", 1)[1]) + 1
        return f"<br>This is call {call} of {node.calls}: weights are {escape(node.call_of)}'s, counted there."
    return f"<br>A shared layer, called {node.calls} times." if node.calls > 1 else ""


def _capital(text: str) -> str:
    """``text`` with its first letter upper-case (a sentence's start), the rest as it is."""
    return text[:1].upper() + text[1:]


def _number(value: float) -> str:
    if not np.isfinite(value):
        return "none" if np.isnan(value) else str(value)
    return f"{value:,.0f}" if abs(value) >= 1000 or float(value).is_integer() else f"{value:.3g}"
