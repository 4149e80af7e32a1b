"""Plots of attention over tokens: a labelled (query x key) map, a grid of thumbnails, and token-to-token lines.

Like :mod:`nbviz.ui.plots.figures`, marks are made once and updated in place, float32 is sent, and what is drawn (cells,
labels, edges) comes laid out from the compute core. Token labels are drawn as bqplot ``Label`` marks outside
the clipped plot area; hovering one sends its index, which the owner turns into a highlight.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ..markup import escape
from . import style
from .figures import CellGrid, Plot, fluid, heatmap_cells, natural_px

# White for no attention, dark blue for all of it: weights are never negative, so no diverging map.
WEIGHT_COLORS = ["#ffffff", "#08306b"]
MOST_LABELS = 64  # beyond this many tokens a side, labels would overlap: the map is drawn without them
LABEL_CHARS = 12
_EMPTY = np.full((2, 2), np.nan, dtype=np.float32)


def short(label: str, most: int = LABEL_CHARS) -> str:
    """A token label that fits beside a map row ("international" -> "internation…")."""
    return label if len(label) <= most else label[: most - 1] + "\u2026"


def _texts(labels: Sequence[str]) -> np.ndarray:
    # bqplot squeezes arrays: a single label would become a 0-d array that its front end cannot iterate.
    return np.array([short(t) for t in labels] or [""], dtype=str)


def _pixels(figure: bq.Figure, side: str, margins: float) -> float:
    """The figure's plot area along ``side`` ("width" or "height") in px, its CSS size less ``margins``."""
    return max(natural_px(figure, side, 560.0) - margins, 40.0)


class _HoverLabels:
    """A column or row of token labels; with ``on_hover``, the index of the one under the mouse is reported.

    bqplot's Label mark sends no hover message of its own, so a nearly transparent square sits over each label
    (a Scatter, as the layer graph's nodes, whose hover message names the point's index).
    """

    def __init__(
        self, scales: dict[str, Any], align: str, rotate: float = 0.0, on_hover: Callable[[int], None] | None = None
    ):
        self.tooltip = widgets.HTML()
        self.mark = bq.Label(
            x=np.zeros(1, np.float32),
            y=np.zeros(1, np.float32),
            text=np.array([""]),
            scales=scales,
            align=align,
            rotate_angle=rotate,
            default_size=11,
            font_weight="normal",
            colors=["#333333"],
            apply_clip=False,
        )
        self.targets: bq.Scatter | None = None
        if on_hover is not None:
            self.targets = bq.Scatter(
                x=np.zeros(1, np.float32),
                y=np.zeros(1, np.float32),
                scales=scales,
                marker="square",
                default_size=64,
                colors=["#000000"],
                opacities=[0.01],
                apply_clip=False,
                interactions={"hover": "tooltip"},
                tooltip=self.tooltip,
            )
            self.targets.on_hover(lambda _mark, event: self._hovered(event, on_hover))
        self.count = 0

    @property
    def marks(self) -> list[bq.Mark]:
        return [self.mark] if self.targets is None else [self.mark, self.targets]

    def _hovered(self, event: dict[str, Any], on_hover: Callable[[int], None]) -> None:
        index = int(event.get("data", {}).get("index", -1))
        if 0 <= index < self.count:
            on_hover(index)

    def show(self, labels: Sequence[str], x: np.ndarray, y: np.ndarray, target_px: float = 8.0) -> None:
        """Draw ``labels`` at (x, y); hover targets of ``target_px`` a side sit over their anchor points."""
        self.count = len(labels)
        x = np.asarray(x if len(labels) else [0.0], np.float32)
        y = np.asarray(y if len(labels) else [0.0], np.float32)
        with self.mark.hold_sync():
            self.mark.text = _texts(labels)
            self.mark.x, self.mark.y = x, y
        self.mark.visible = bool(labels)
        if self.targets is not None:
            with self.targets.hold_sync():
                self.targets.x, self.targets.y = x, y
                self.targets.default_size = int(target_px * target_px)
            self.targets.visible = bool(labels)


class _WeightMap(Plot):
    """A canvas heatmap of weights (white 0 to dark blue at ``vmax``) with a colour bar, and cell coordinates
    0..n-1 on both axes (rows downwards) that the marks drawn over it share."""

    def _weight_map(self, null_color: str) -> dict[str, bq.Scale]:
        self.x_scale, self.y_scale = bq.LinearScale(min=-0.5, max=1.5), bq.LinearScale(min=-0.5, max=1.5, reverse=True)
        self.color_scale = bq.ColorScale(colors=WEIGHT_COLORS, min=0.0, max=1.0)
        scales = {"x": self.x_scale, "y": self.y_scale}
        self.mark = bq.HeatMap(
            color=_EMPTY,
            x=np.arange(2, dtype=np.float32),
            y=np.arange(2, dtype=np.float32),
            scales={**scales, "color": self.color_scale},
            null_color=null_color,
        )
        self.color_axis = bq.ColorAxis(scale=self.color_scale, side="right")
        return scales

    def _paint(self, image: np.ndarray, vmax: float) -> tuple[int, int]:
        """Draw ``image`` (a 1-row or 1-column one doubled: bqplot refuses them); returns the cells drawn."""
        image = heatmap_cells(image)
        rows, cols = image.shape
        with self.mark.hold_sync(), self.color_scale.hold_sync():
            if (self.x_scale.max, self.y_scale.max) != (cols - 0.5, rows - 0.5):
                self.x_scale.max, self.y_scale.max = cols - 0.5, rows - 0.5
            self.color_scale.max = float(vmax) if vmax > 0 else 1.0
            style.set_ticks(self.color_axis, 0.0, self.color_scale.max, n=4)
            self.mark.x = np.arange(cols, dtype=np.float32)
            self.mark.y = np.arange(rows, dtype=np.float32)
            self.mark.color = image
        return rows, cols

    @property
    def shown(self) -> np.ndarray:
        """The array the heatmap holds now."""
        return np.asarray(self.mark.color)


class AttentionMapPlot(_WeightMap):
    """A (query x key) weight map with the query tokens left of its rows and the key tokens above its columns.

    ``on_hover(row)`` is called when the mouse is over a query token; ``outline(row)`` frames that row.
    """

    def __init__(
        self, title: str, size: tuple[str, str] = ("560px", "560px"), on_hover: Callable[[int], None] | None = None
    ) -> None:
        scales = self._weight_map(null_color="#e8e8e8")
        self.rows = _HoverLabels(scales, align="end", on_hover=on_hover)
        self.columns = _HoverLabels(scales, align="start", rotate=-60.0)
        self.frame = bq.Lines(
            x=np.zeros(5, np.float32), y=np.zeros(5, np.float32), scales=scales, colors=["#d62728"], stroke_width=2
        )
        self.frame.visible = False
        self.figure = style.figure(
            marks=[self.mark, self.frame, *self.columns.marks, *self.rows.marks],
            axes=[self.color_axis],
            fig_margin={"top": 80, "bottom": 10, "left": 90, "right": 90},
            layout=fluid(*size),
        )
        self.figure.add_class("nbviz-tokens")  # token labels in the theme's text colour (style.THEME_CSS)
        self.shape = (0, 0)
        self._titled(title, *size)

    @property
    def tooltip(self) -> widgets.HTML:
        """What a hovered query token shows (its strongest keys); the owner fills it."""
        return self.rows.tooltip

    def show(
        self,
        values: np.ndarray,
        query_labels: Sequence[str],
        key_labels: Sequence[str],
        vmax: float,
        title: str | None = None,
    ) -> None:
        """Draw ``values`` (rows, cols); labels are drawn when there is one per row (and column) and few enough."""
        rows, _ = self._paint(values, vmax)
        self.shape = (int(values.shape[0]), int(values.shape[1]))
        labelled_rows = len(query_labels) == values.shape[0] and len(query_labels) <= MOST_LABELS
        labelled_cols = len(key_labels) == values.shape[1] and len(key_labels) <= MOST_LABELS
        n_rows = len(query_labels) if labelled_rows else 0
        n_cols = len(key_labels) if labelled_cols else 0
        row_px = _pixels(self.figure, "height", 90) / max(rows, 1)
        self.rows.show(
            query_labels if labelled_rows else (), np.full(n_rows, -0.7), np.arange(n_rows), min(24.0, row_px)
        )
        self.columns.show(key_labels if labelled_cols else (), np.arange(n_cols), np.full(n_cols, -0.7))
        self.frame.visible = False
        self._reveal()
        if title is not None:
            self.set_title(title)

    def outline(self, row: int | None) -> None:
        """Frame row ``row`` (None: no frame)."""
        if row is None or not 0 <= row < self.shape[0]:
            self.frame.visible = False
            return
        right = self.shape[1] - 0.5
        with self.frame.hold_sync():
            self.frame.x = np.array([-0.5, right, right, -0.5, -0.5], np.float32)
            self.frame.y = np.array([row - 0.5, row - 0.5, row + 0.5, row + 0.5, row - 0.5], np.float32)
        self.frame.visible = True


def _edges(centres: np.ndarray, cells: int) -> np.ndarray:
    """The edges of the click cells around thumbnails centred at ``centres`` on a picture ``cells`` long; a
    single thumbnail gets two cells (bqplot squeezes a grid of one row or column away, then refuses it)."""
    centres = centres if len(centres) > 1 else np.array([cells / 2 - 0.5, cells / 2 - 0.5 + 1e-3])
    middles = (centres[1:] + centres[:-1]) / 2
    return np.concatenate([[-0.5], middles, [cells - 0.5]]).astype(np.float64)


class ThumbnailGridPlot(_WeightMap):
    """Thumbnails tiled on one canvas heatmap (a row per layer, a column per head), with a clickable square over
    each; ``on_click(index)`` gets the index of the clicked thumbnail."""

    def __init__(self, title: str, on_click: Callable[[int], None], size: tuple[str, str] = ("560px", "420px")) -> None:
        scales = self._weight_map(null_color="#ffffff")
        self.tooltip = widgets.HTML()
        # A grid of nearly transparent cells, one over each thumbnail, takes the clicks the canvas cannot. Not a
        # scatter of squares: bqplot pads a figure's scales by half a marker, so thumbnails filled 178 of 280 px
        # and a grid that is not square was drawn stretched; a grid's cells pad nothing.
        self._grid = (1, 1)
        self.cells = CellGrid(
            color=np.zeros((2, 2), np.float32),
            row=np.array([-0.5, 0.5, 1.5]),
            column=np.array([-0.5, 0.5, 1.5]),
            scales={"row": scales["y"], "column": scales["x"], "color": bq.ColorScale(colors=["transparent"] * 2)},
            opacity=0.2,  # bqplot allows no less; the cells are transparent anyway
            stroke=None,
            interactions={"click": "select"},
            selected_style={"stroke": "#d62728", "stroke-width": 3, "opacity": 0.3},
        )
        self.row_labels = _HoverLabels(scales, align="end")
        self.column_labels = _HoverLabels(scales, align="middle")
        self._on_click = on_click
        self.cells.observe(self._clicked, names="selected")
        self.figure = style.figure(
            marks=[self.mark, self.cells, *self.row_labels.marks, *self.column_labels.marks],
            axes=[self.color_axis],
            fig_margin={"top": 30, "bottom": 10, "left": 50, "right": 90},
            layout=fluid(*size),
        )
        self.figure.add_class("nbviz-tokens")  # token labels in the theme's text colour (style.THEME_CSS)
        self._titled(title, *size)

    def show(
        self,
        image: np.ndarray,
        centers: np.ndarray,
        tile: tuple[int, int],
        row_labels: Sequence[str],
        column_labels: Sequence[str],
        vmax: float,
        title: str | None = None,
    ) -> None:
        """Draw the tiled ``image``; ``centers`` (k, 2) are the thumbnails' centres, ``tile`` their size in cells.
        No thumbnail stays selected, so that a click on any of them (the last one opened too) opens it."""
        rows, cols = self._paint(image, vmax)
        rows_at, cols_at = np.unique(centers[:, 1]), np.unique(centers[:, 0])
        self.cells.unobserve(self._clicked, names="selected")
        with self.cells.hold_sync(), self.cells.hold_trait_notifications():
            self.cells.color = np.zeros((max(2, len(rows_at)), max(2, len(cols_at))), np.float32)
            # The cells' edges: half-way between thumbnails, and the picture's own edges outside.
            self.cells.row = _edges(rows_at, rows)
            self.cells.column = _edges(cols_at, cols)
            self.cells.selected = None
        self.cells.observe(self._clicked, names="selected")
        self._grid = (len(rows_at), len(cols_at))
        th, tw = tile
        row_y = np.arange(len(row_labels)) * (th + 1) + (th - 1) / 2
        col_x = np.arange(len(column_labels)) * (tw + 1) + (tw - 1) / 2
        self.row_labels.show(row_labels, np.full(len(row_labels), -1.0), row_y)
        self.column_labels.show(column_labels, col_x, np.full(len(column_labels), -1.0))
        self._reveal()
        if title is not None:
            self.set_title(title)

    def _clicked(self, change: dict[str, Any]) -> None:
        selected = change["new"]
        if selected is not None and len(selected) > 0:
            row, col = (int(v) for v in np.asarray(selected).reshape(-1, 2)[-1])
            layers, heads = self._grid
            # Thumbnails are numbered row by row; a single row or column was drawn as two cells (see _edges).
            self._on_click(min(row, layers - 1) * heads + min(col, heads - 1))


class TokenLinesPlot(Plot):
    """Query tokens on the left, key tokens on the right, a line from each query to its strongest keys, as dark as
    its weight; ``highlight(query)`` fades every other query's lines."""

    def __init__(self, title: str, on_hover: Callable[[int], None], size: tuple[str, str] = ("420px", "560px")) -> None:
        self.x_scale = bq.LinearScale(min=0.0, max=1.0)
        self.y_scale = bq.LinearScale(min=-0.5, max=1.5, reverse=True)
        scales = {"x": self.x_scale, "y": self.y_scale}
        self.lines = bq.Lines(
            x=np.zeros((1, 2), np.float32),
            y=np.zeros((1, 2), np.float32),
            scales=scales,
            colors=["#08306b"],
            stroke_width=2,
            opacities=[0.0],
        )
        self.left = _HoverLabels(scales, align="end", on_hover=on_hover)
        self.right = _HoverLabels(scales, align="start")
        self.figure = style.figure(
            marks=[self.lines, *self.right.marks, *self.left.marks],
            fig_margin={"top": 10, "bottom": 10, "left": 100, "right": 100},
            layout=fluid(*size),
        )
        self.figure.add_class("nbviz-tokens")  # token labels in the theme's text colour (style.THEME_CSS)
        self.queries = np.zeros(0, np.int64)
        self.weights = np.zeros(0, np.float32)
        self._titled(title, *size)

    @property
    def tooltip(self) -> widgets.HTML:
        return self.left.tooltip

    def show(
        self,
        query_labels: Sequence[str],
        key_labels: Sequence[str],
        queries: np.ndarray,
        keys: np.ndarray,
        weights: np.ndarray,
        title: str | None = None,
    ) -> None:
        """Draw edge i from query row ``queries[i]`` to key row ``keys[i]`` (rows counted from the region's first
        query and key), ``weights[i]`` its opacity."""
        rows = max(len(query_labels), len(key_labels), 2)
        self.queries, self.weights = np.asarray(queries), np.asarray(weights, np.float32)
        with self.lines.hold_sync():
            self.y_scale.max = rows - 0.5
            self.lines.x = np.tile(np.array([[0.0, 1.0]], np.float32), (max(len(queries), 1), 1))
            self.lines.y = (
                np.stack([queries, keys], axis=1).astype(np.float32) if len(queries) else np.zeros((1, 2), np.float32)
            )
            self.lines.opacities = self._opacities(None)
        row_px = _pixels(self.figure, "height", 20) / rows
        self.left.show(query_labels, np.full(len(query_labels), -0.03), np.arange(len(query_labels)), min(24.0, row_px))
        self.right.show(key_labels, np.full(len(key_labels), 1.03), np.arange(len(key_labels)))
        self._reveal()
        if title is not None:
            self.set_title(title)

    def _opacities(self, query: int | None) -> list[float]:
        top = float(self.weights.max()) if self.weights.size else 1.0
        alpha = self.weights / (top if top > 0 else 1.0)
        if query is not None:
            alpha = np.where(self.queries == query, alpha, 0.03)
        return [float(a) for a in alpha] or [0.0]

    def highlight(self, query: int | None) -> None:
        """Show only the lines of query row ``query`` (None: every query's)."""
        self.lines.opacities = self._opacities(query)


CHIP_STYLE = (
    "<style>.nbviz-token{display:inline-block; margin:1px; padding:0 3px; "
    "border:1px solid var(--jp-border-color1, #ccc); border-radius:3px; white-space:pre}</style>"
)


def _ink(color: str) -> str:
    """The text colour for a chip of ``color`` ("#rrggbb"; black for any other form of colour)."""
    return style.text_on(color) if len(color) == 7 and color.startswith("#") else "#000000"


def token_chips(tokens: tuple[str, ...], colors: tuple[str, ...] | None = None) -> str:
    """Tokens as boxed text (spaces kept, so that " the" and "the" differ), each on its own background colour;
    the style is written once, so that 2,048 tokens stay a small message."""
    # The text is black or white, whichever reads on the chip's colour: inherited, it was white on near-white
    # chips in the dark theme.
    fills = [f" style='background:{c}; color:{_ink(c)}'" if c else "" for c in colors or ("",) * len(tokens)]
    spans = "".join(f"<span class='nbviz-token'{fill}>{escape(t)}</span>" for t, fill in zip(tokens, fills))
    return CHIP_STYLE + spans
