"""Attention panel: every attention layer's heads for the current sample (model view), one head's (query x key)
weights with tokens on both axes (head view) or as token-to-token lines, and each head summarised over the data."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ...compute.analysis.answers import Unavailable
from ..markup import escape
from ..plots.figures import Gutters, Plot, fit_aspect, row
from ..plots.tokens import AttentionMapPlot, ThumbnailGridPlot, TokenLinesPlot
from .base import Panel, State

VIEWS = (("model view", "model"), ("head view", "head"), ("lines", "lines"))
#: Text over the thumbnails' background: the theme's (it was a fixed dark grey, near invisible in the dark theme).
LABEL_COLOR = "var(--jp-ui-font-color1, #333333)"
LINE_QUERIES = 64  # the lines view draws at most this many queries of the region: more would be a black smear
TOP_KEYS = 5  # keys listed when a query token is hovered


class AttentionPanel(Panel):
    """Attention weights of the current sample: all heads at a glance, one head in detail, heads over the data.

    The panel follows the Explorer's layer when it is an attention layer (else it keeps the one shown last);
    clicking a thumbnail opens that head and moves the Explorer to its layer. Long sequences are drawn reduced
    to the cell budget; the query and key ranges zoom into a region, sent at full resolution once it fits.
    """

    name = "attention"
    title = "Attention"

    @classmethod
    def applies(cls, analysis: Any) -> bool:
        return analysis.has_attention

    def build(self) -> list[widgets.Widget]:
        self.view = widgets.ToggleButtons(options=VIEWS, value="model", style={"button_width": "auto"})
        self.layer_choice = widgets.Dropdown(
            options=[], description="attention", layout=widgets.Layout(width="auto", max_width="100%")
        )
        self.head = widgets.Dropdown(options=[0], value=0, description="head", layout=widgets.Layout(width="130px"))
        self.top_k = widgets.Dropdown(
            options=[1, 2, 3, 5, 10], value=3, description="top keys", layout=widgets.Layout(width="160px")
        )
        self.queries = widgets.IntRangeSlider(description="queries", continuous_update=False)
        self.keys = widgets.IntRangeSlider(description="keys", continuous_update=False)
        self.zoom_row = widgets.HBox([self.queries, self.keys])
        self.model_plot = ThumbnailGridPlot("model view", on_click=self._thumbnail_clicked)
        self._grid_margin = dict(self.model_plot.figure.fig_margin)  # before fit_aspect grows it to the data
        self._grid_height = str(self.model_plot.figure.layout.height)
        for labels in (self.model_plot.row_labels, self.model_plot.column_labels):
            labels.mark.colors = [LABEL_COLOR]
        # The thumbnails' click targets are sized for the figure's natural width: drawn narrower, their outlines
        # would cover the gaps between thumbnails. They take the clicks unseen.
        self.model_plot.cells.stroke = None
        # The gaps between thumbnails are NaN cells, which bqplot's HeatMap paints in its neighbour's colour: a
        # picture laid over them draws them in the null colour (and sets padding_y 0: thumbnails were 8% too tall).
        self.model_gutters = Gutters(self.model_plot)  # type: ignore[arg-type]  # a heatmap plot like HeatmapPlot
        self.head_plot = AttentionMapPlot("head view", on_hover=self._query_hovered)
        self.lines_plot = TokenLinesPlot("lines", on_hover=self._query_hovered)
        self.hovered = widgets.HTML()
        self.summary = widgets.HTML()
        self.summarise = widgets.Button(
            description="summarise heads over the data", layout=widgets.Layout(width="260px")
        )
        self.summarise.on_click(lambda _: self._summarise())
        self._quiet = False
        for control in (self.view, self.layer_choice, self.head, self.top_k, self.queries, self.keys):
            control.observe(self._control_changed, names="value")
        self.region: tuple[int, int, int, int] | None = None
        self.hovered_query: int | None = None
        self.summary_box = widgets.VBox([self.summarise, self.summary])
        return [
            widgets.HBox([self.view, self.head, self.top_k], layout=widgets.Layout(flex_flow="row wrap")),
            self.layer_choice,
            self.zoom_row,
            row(self.model_plot.widget, self.head_plot.widget, self.lines_plot.widget),
            self.hovered,
            self.summary_box,
        ]

    @property
    def figure(self) -> bq.Figure:
        return {"model": self.model_plot, "head": self.head_plot, "lines": self.lines_plot}[self.view.value].figure

    @property
    def plots(self) -> list[Plot]:
        return [self.model_plot, self.head_plot, self.lines_plot]

    # ----------------------------------------------------------------------------------------- controls
    @contextmanager
    def _setting(self) -> Iterator[None]:
        """Set controls from code without each change drawing again."""
        self._quiet = True
        try:
            yield
        finally:
            self._quiet = False

    def _control_changed(self, change: dict[str, Any]) -> None:
        if self._quiet:
            return
        if change["owner"] in (self.layer_choice, self.head):
            self.region = None  # another map: the zoom of the last one means nothing here
        elif change["owner"] in (self.queries, self.keys):
            self.region = (*self.queries.value, *self.keys.value)
            self.region = (self.region[0], self.region[1] + 1, self.region[2], self.region[3] + 1)
        if change["owner"] is self.layer_choice and change["new"] in self.analysis.probe.layers:
            self.navigate(layer=change["new"])  # the Explorer follows, and draws this panel again
            return
        self.refresh()

    def zoom(self, queries: tuple[int, int] | None = None, keys: tuple[int, int] | None = None) -> None:
        """Show the region of real tokens ``queries`` x ``keys`` (first, end) of the open head; None: all."""
        self.region = (
            None if queries is None and keys is None else (*(queries or (0, 1 << 30)), *(keys or (0, 1 << 30)))
        )
        self.refresh()

    def open_head(self, layer: str, head: int) -> None:
        """Open ``head`` of attention layer ``layer`` in the head view."""
        with self._setting():
            self.layer_choice.value = layer
            self.head.options = list(range(max(head + 1, len(self.head.options))))
            self.head.value = head
            self.view.value = "head"
        self.region = None
        if layer in self.analysis.probe.layers and self.state is not None and self.state.layer != layer:
            self.navigate(layer=layer)
        else:
            self.refresh()

    def _thumbnail_clicked(self, index: int) -> None:
        cells = self._cells
        if 0 <= index < len(cells):
            self.open_head(*cells[index])

    # ----------------------------------------------------------------------------------------- drawing
    def pending(self, state: State) -> str:
        if self.view.value == "model":
            done = self.analysis.answered(self.analysis.model_view, state.sample)
        else:
            done = self.analysis.answered(self.analysis.attention, state.sample, state.layer)
        if done:
            return ""
        return f"attention weights of sample {state.sample}"

    def render(self, state: State) -> str:
        analysis = self.analysis
        layers = analysis.attention_layers()
        self.hovered.value = ""
        unreadable = analysis.unreadable_attention()
        if not layers or state.layer in unreadable:
            self.summary_box.layout.display = "none"
            if unreadable:
                return _unreadable_note(unreadable, state.layer, layers)
            return (
                "No attention layers in this model (Keras MultiHeadAttention, KerasHub's attention layers, or a "
                "layer with Keras's _compute_attention)."
            )
        layer = state.layer if state.layer in layers else self.layer_choice.value
        layer = layer if layer in layers else layers[0]
        with self._setting():
            if tuple(self.layer_choice.options) != layers:
                self.layer_choice.options = list(layers)
            self.layer_choice.value = layer
        self.summary_box.layout.display = None
        self._show_summary(layers)
        view = self.view.value
        self.head.layout.display = None if view != "model" else "none"
        self.top_k.layout.display = None if view == "lines" else "none"
        for plot, name in ((self.model_plot, "model"), (self.head_plot, "head"), (self.lines_plot, "lines")):
            plot.widget.layout.display = None if view == name else "none"
        if view == "model":
            self.zoom_row.layout.display = "none"
            return self._draw_model(state, layer)
        return self._draw_head(state, layer, view)

    def _draw_model(self, state: State, layer: str) -> str:
        grid = self.analysis.model_view(state.sample)
        self._cells = grid.cells
        # Each thumbnail at its map's aspect ratio (a square map square) at any width. Set before ``show``: bqplot
        # 0.13 loses a margin or aspect change that arrives while the figure's first render runs (bqplot #640),
        # and ``show`` puts the figure on the page.
        rows, cols = grid.image.shape
        fit_aspect(self.model_plot.figure, self._grid_margin, self._grid_height, rows, cols)
        self.model_plot.show(
            grid.image,
            grid.centers,
            grid.tile,
            [f"L{i}" for i in range(len(grid.layers))],
            [f"H{h}" for h in range(grid.heads)],
            grid.vmax,
            title=f"model view: {len(grid.layers)} layers x {grid.heads} heads, sample {state.sample} (click to open)",
        )
        # The labels at the thumbnails' centres, with the gaps between them as the grid has them.
        (th, tw), (down, across) = grid.tile, grid.pitch
        layers, heads = len(grid.layers), grid.heads
        self.model_plot.row_labels.show(
            [f"L{i}" for i in range(layers)], np.full(layers, -1.0), np.arange(layers) * down + (th - 1) / 2
        )
        self.model_plot.column_labels.show(
            [f"H{h}" for h in range(heads)], np.arange(heads) * across + (tw - 1) / 2, np.full(heads, -1.0)
        )
        self.model_gutters.show()
        self.model_plot.tooltip.value = "".join(f"L{i}: {escape(name)}<br>" for i, name in enumerate(grid.layers))
        self.values = grid.layer_tiles(layer)
        return ""

    def _draw_head(self, state: State, layer: str, view: str) -> str:
        answer = self.analysis.attention(state.sample, layer)
        if isinstance(answer, Unavailable):
            return answer.reason
        heads = answer.weights.shape[0]
        with self._setting():
            if len(self.head.options) != heads:
                self.head.options = list(range(heads))
            if self.head.value is None or self.head.value >= heads:
                self.head.value = 0
        head = int(self.head.value)
        region = self.region
        if view == "lines" and region is None:
            region = (0, min(LINE_QUERIES, answer.weights.shape[1]), 0, answer.weights.shape[2])
        shown = self.analysis.head_view(state.sample, layer, head, region)
        if isinstance(shown, Unavailable):
            return shown.reason
        self._set_zoom(shown)
        self._map, self._shown = answer, shown
        q0, q1, k0, k1 = shown.region
        where = f"queries {q0}-{q1 - 1} x keys {k0}-{k1 - 1} of {shown.queries} x {shown.keys}"
        if view == "head":
            block = f", each cell the largest of {shown.block[0]} x {shown.block[1]}" if shown.downsampled else ""
            self.head_plot.show(
                shown.values,
                shown.query_labels,
                shown.key_labels,
                shown.vmax,
                title=f"{layer} head {head}, sample {state.sample}: {where}{block}",
            )
            self.values = shown.values
            return ""
        if q1 - q0 > LINE_QUERIES:
            return f"The lines view draws at most {LINE_QUERIES} queries: narrow the queries range (now {q1 - q0})."
        result = self.analysis.attention_edges(state.sample, layer, head, int(self.top_k.value), shown.region)
        if isinstance(result, Unavailable):
            return result.reason
        edges, _ = result
        self.lines_plot.show(
            answer.query_labels[q0:q1],
            answer.key_labels[k0:k1],
            edges.queries - q0,
            edges.keys - k0,
            edges.weights,
            title=f"{layer} head {head}, sample {state.sample}: top {edges.k} keys per query, {where}",
        )
        self.values = edges.weights
        return ""

    def _set_zoom(self, shown: Any) -> None:
        """The query and key ranges show the region on show; they are offered only where a map is reduced or
        zoomed (a short sequence is shown whole)."""
        q0, q1, k0, k1 = shown.region
        with self._setting():
            for slider, (lo, hi), n in ((self.queries, (q0, q1), shown.queries), (self.keys, (k0, k1), shown.keys)):
                slider.max = max(n - 1, 0)
                slider.value = (lo, hi - 1)
        zoomable = shown.downsampled or (q1 - q0, k1 - k0) != (shown.queries, shown.keys) or shown.queries > 64
        self.zoom_row.layout.display = None if zoomable else "none"

    def _query_hovered(self, row: int) -> None:
        """A query token under the mouse: frame its row and list the keys it attends to most."""
        shown = getattr(self, "_shown", None)
        if shown is None:
            return
        q0, _, k0, k1 = shown.region
        query = q0 + row * shown.block[0]
        if shown.block == (1, 1):
            self.head_plot.outline(row)
        self.lines_plot.highlight(row)
        self.hovered_query = query
        strongest = self._map.strongest(shown.head, query, TOP_KEYS, (k0, k1))
        listed = ", ".join(f"{escape(label)} ({weight:.2f})" for label, weight in strongest)
        text = f"<b>{escape(self._map.query_labels[query])}</b> (query {query}) attends most to: {listed}"
        self.hovered.value = text
        self.head_plot.tooltip.value = self.lines_plot.tooltip.value = text

    def _summarise(self) -> None:
        self.summarise.description = "computing..."
        try:
            self.analysis.head_summaries()
        finally:
            self.summarise.description = "summarise heads over the data"
        self._show_summary(self.analysis.attention_layers())

    def _show_summary(self, layers: tuple[str, ...]) -> None:
        """Each head's mean entropy and share on the first token over the data, once computed (a button asks)."""
        if not self.analysis.answered(self.analysis.head_summaries):
            self.summarise.layout.display = None
            self.summary.value = ""
            return
        summaries = self.analysis.head_summaries()
        self.summarise.layout.display = "none"
        heads = max(len(s.entropy) for s in summaries.values())
        header = "".join(f"<th>H{h}</th>" for h in range(heads))
        body = "".join(
            f"<tr><td title='{escape(name)}'>L{i}</td>"
            + "".join(
                f"<td style='background:rgba(8,48,107,{0.6 * float(s.first_share[h]):.2f})'>"
                f"{float(s.entropy[h]):.2f} &middot; {float(s.first_share[h]):.0%}</td>"
                for h in range(len(s.entropy))
            )
            + "</tr>"
            for i, (name, s) in enumerate((n, summaries[n]) for n in layers if n in summaries)
        )
        n = next(iter(summaries.values())).samples if summaries else 0
        self.summary.value = (
            f"<b>heads over {n} samples</b>: mean entropy of a query's weights (nats; low = sharp) &middot; "
            f"share on the first token (shaded)<table style='font-size:0.85em'><tr><th></th>{header}</tr>{body}</table>"
        )


def _unreadable_note(unreadable: dict[str, str], layer: str, readable: tuple[str, ...]) -> str:
    """Why no weights show: the attention layers (``layer`` if it is one, else the first few) compute theirs with
    a bare softmax inside one call (KerasHub's GPT-OSS), which leaves nothing to read; and where the readable
    ones are. Bounded: a model of a hundred such layers names three."""
    names = [layer] if layer in unreadable else list(unreadable)[:3]
    more = len(unreadable) - len(names) if layer not in unreadable else 0
    classes = ", ".join(dict.fromkeys(unreadable[name] for name in names))
    said = ", ".join(names) + (f" and {more} more" if more > 0 else "")
    note = (
        f"No attention weights to show for {said} ({classes}): the layer computes them inside one call (a bare "
        "softmax or a fused kernel) and keeps no sub-layer that holds them, so nbviz cannot read them."
    )
    if readable:
        shown = ", ".join(readable[:3]) + (f" and {len(readable) - 3} more" if len(readable) > 3 else "")
        note += f" Attention layers with weights to show: {shown}."
    return note
