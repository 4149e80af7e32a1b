"""Activations panel: the current layer's output for the current sample, and its dead units over the data."""

from __future__ import annotations

from typing import Any

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ...compute.analysis.answers import Unavailable
from ...compute.methods.display import ActivationView
from ...compute.methods.findings import DEAD_INFO
from ..markup import escape
from ..plots.figures import BarsPlot, Gutters, HeatmapPlot, Plot
from .base import Panel, State
from .pictures import labelled_height, row_labels, set_picture


class ActivationFigure:
    """Feature maps tiled in a heatmap, vectors as bars, sequences as time x units: one figure shown at a time."""

    def __init__(self, title: str) -> None:
        self.heatmap = HeatmapPlot(title, size=("400px", "340px"))
        self.gutters = Gutters(self.heatmap)  # the grey between feature maps (bqplot draws NaN cells in no colour)
        self.bars = BarsPlot(title, size=("400px", "280px"))
        self.named_bars: BarsPlot | None = None  # a vector whose entries have names (features): made when needed
        self.title = title
        # Only the figure in use is on the page: one drawn inside a hidden box has no size, and bqplot then draws
        # rectangles of negative size (console errors on the cancer MLP's activations and gradients tabs).
        self.widget = widgets.Box([self.heatmap.widget])
        self.view: ActivationView | None = None

    @property
    def figure(self) -> bq.Figure:
        """The figure on show (the heatmap's while nothing is)."""
        return self.shown.figure

    @property
    def shown(self) -> Plot:
        """The plot on the page: the heatmap, the bars, or the named bars."""
        plots = {plot.widget: plot for plot in self.plots}
        return plots.get(self.widget.children[0], self.heatmap)

    @property
    def plots(self) -> list[Plot]:
        return [self.heatmap, self.bars] + ([self.named_bars] if self.named_bars is not None else [])

    def clear(self, text: str = "") -> None:
        """Show no figure, and ``text`` in its place."""
        self.view = None
        self.heatmap.clear(text)
        self.bars.clear()
        self._use(self.heatmap)

    def _use(self, plot: Plot) -> None:
        if self.widget.children != (plot.widget,):
            self.widget.children = (plot.widget,)

    def show(
        self,
        view: ActivationView,
        title: str,
        labels: tuple[str, ...] | None = None,
        tokens: tuple[str | None, ...] | None = None,
    ) -> np.ndarray:
        """Draw one laid-out output under ``title``; returns the values shown.

        ``labels`` name a vector's bars; ``tokens`` (a text per position of a sequence's first axis, None at a
        padding position: :func:`sequence_tokens`) name the rows of a (positions x units) heatmap, which are
        numbered without them. Padding positions are left out (a sentence of 9 tokens padded to 128 was one row
        of colour above 119 rows of nothing): the title says how many.
        """
        self.view = view
        values = view.values
        shown: Plot = self.heatmap
        if view.kind == "bars":
            use = labels if labels is not None and len(labels) == len(values) else None
            shown = bars = self.bars if use is None else self._named(len(use))
            bars.show(values, labels=np.array(use) if use else None, title=title)
        else:
            grid = view.grid
            tiles = f", {grid[0]}x{grid[1]} maps of {view.tile[0]}x{view.tile[1]}" if grid != (1, 1) else ""
            # Feature maps are pictures (square cells at their aspect); a (positions x units) matrix is as tall
            # as its rows need, each named by its position and token (a 30 px row per token, or one row above
            # an empty box, said nothing of which token it was).
            set_picture(self.heatmap, view.picture)
            if view.picture:
                self.heatmap.label()
            else:
                rows, cols = values.shape
                positions = np.arange(rows) * view.row_step
                texts = None if tokens is None or len(tokens) < view.tile[0] else [tokens[p] for p in positions]
                if texts is not None and view.row_step == 1 and None in texts and any(t is not None for t in texts):
                    real = [i for i, t in enumerate(texts) if t is not None]
                    tiles += f", {len(real)} tokens (not the {rows - len(real)} padding positions)"
                    values, positions, texts = values[real], positions[real], [texts[i] for i in real]
                    rows = len(real)
                # Units, and positions without tokens, as numbers on 1-2-5 ticks (a cell stands for a block of
                # them when the output was reduced); tokens by name.
                step_c = -(-view.tile[1] // cols)
                units = (-0.5 * step_c, (cols - 0.5) * step_c)
                if texts:
                    names = row_labels(positions.tolist(), [t or "[pad]" for t in texts])
                    self.heatmap.label(rows=names, x_range=units, x_title="unit", y_title="token")
                else:
                    step_r = view.row_step
                    self.heatmap.label(
                        x_range=units,
                        y_range=(-0.5 * step_r, (rows - 0.5) * step_r),
                        x_title="unit",
                        y_title="position",
                    )
                height = f"{labelled_height(rows):.0f}px"
                if self.heatmap.figure.layout.height != height:
                    self.heatmap.figure.layout.height = height
            self.heatmap.show(values, view.vmin, view.vmax, title=f"{title}{tiles}")
            self.gutters.show()
        self._use(shown)
        return values

    def _named(self, n: int) -> BarsPlot:
        """Horizontal bars, one named row of 14 px per entry (names under vertical bars could not be read)."""
        if self.named_bars is None:
            height = f"{min(600, max(240, 14 * n + 70))}px"
            self.named_bars = BarsPlot(self.title, horizontal=True, size=("400px", height))
        return self.named_bars


def sequence_tokens(analysis: Any, state: State, view: ActivationView) -> tuple[str | None, ...] | None:
    """The text of each position of a (positions x units) output of the current layer, where the model has a
    token input of that many positions (its ids without a vocabulary, positions in redact mode), None at its
    padding positions (its padding mask's); None without such an input."""
    if view.kind != "image" or view.picture:
        return None
    length = view.tile[0]
    name = analysis.token_input(length, state.layer)
    if name is None:
        return None
    real = set(np.asarray(analysis.real_positions(state.sample, name)).tolist())
    texts = analysis.token_labels(state.sample, np.arange(length), length, state.layer)
    return tuple(text if position in real else None for position, text in enumerate(texts))


def shape_text(shape: tuple[int, ...]) -> str:
    return " x ".join(str(d) for d in shape)


class ActivationsPanel(Panel):
    """Feature maps (conv), bars (dense), time x units (sequences); share of dead ReLU units over the data."""

    name = "activations"
    title = "Activations"

    def build(self) -> list[widgets.Widget]:
        self.view = ActivationFigure("activations")
        self.dead = widgets.HTML()
        return [self.view.widget, self.dead]

    @property
    def figure(self) -> bq.Figure:
        return self.view.figure

    @property
    def plots(self) -> list[Plot]:
        return self.view.plots

    def pending(self, state: State) -> str:
        if self.analysis.answered(self.analysis.dead_units):
            return ""
        return f"dead-unit statistics over the first {self.analysis.dead_unit_samples} samples (first time only)"

    def render(self, state: State) -> str:
        answer = self.analysis.layer_activation(state.layer, state.sample)
        if isinstance(answer, Unavailable):
            self.dead.value = ""
            return answer.reason
        dead = answer.dead
        # Counted as the findings count (display.dead_units, padding left out); the findings tab names a layer only
        # from DEAD_INFO on, which this line says, so that a third of a layer dead here and no finding there agree.
        self.dead.value = (
            ""
            if dead is None
            else f"dead units (never above 0 on the first {dead.n_samples} samples): <b>{dead.count}</b> "
            f"of {dead.dead.size} ({dead.share:.1%})"
            + (f"; {escape(dead.note)}" if dead.note else "")
            + f". The findings tab reports a layer from {DEAD_INFO:.0%} of its units dead."
        )
        if answer.view is None:
            self.view.clear()
            return (
                f"Redacted: {state.layer} outputs the raw input (unlearned: input, preprocessing or reshaping), "
                "and explore(..., redact=True) sends no raw input value. The gradients tab still shows this layer."
            )
        title = f"{state.layer} output ({shape_text(answer.shape)})"
        tokens = sequence_tokens(self.analysis, state, answer.view)
        self.values = self.view.show(answer.view, title, answer.labels, tokens)
        return ""
