"""The projector's figure: up to a million points on a WebGL scatter, the current sample and its neighbours on
top, clicks sent back as data coordinates.

bqplot-gl's ScatterGL draws the points (bqplot's SVG Scatter slows down past about ten thousand) on a canvas
under the figure's SVG marks, with no clicks of its own; a transparent Image mark over the plot area takes them:
bqplot's Image sends the data coordinates of a click, and the kernel finds the nearest point. A region is
chosen by two clicks, its corners, on the same Image: bqplot 0.13.1's BrushSelector draws its rectangle in
JupyterLab but never sends the selection to the kernel (its d3 event lookup misses the bundled d3's events; seen
in Chromium with SVG and WebGL scatters alike).

Every redraw of the points costs the browser a pass over all of them (10-12 s for a million in Chromium's
software WebGL, milliseconds on a GPU), so the points, their colours and the scales change in one message each
time: the scales first, in the same call, and the arrays held together.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from .plots import Plot

try:  # bqplot-gl is a dependency; should it be missing, the SVG scatter still works on smaller data
    from bqplot_gl import ScatterGL as _Points
except ImportError:  # pragma: no cover - exercised only where bqplot-gl is not installed
    _Points = bq.Scatter


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


#: A 1 x 1 RGBA PNG with alpha 0: the click catcher's picture, made here so that it is surely transparent.
CLEAR_PNG = (
    b"\x89PNG\r\n\x1a\n"
    + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0))
    + _png_chunk(b"IDAT", zlib.compress(b"\x00\x00\x00\x00\x00"))
    + _png_chunk(b"IEND", b"")
)
CURRENT = "#000000"
NEIGHBOUR = "#ff7f0e"


class ProjectorPlot(Plot):
    """Points coloured by a value, the current sample ringed, its neighbours framed.

    ``on_click(x, y)`` gets a click's data coordinates (in "click" mode); ``on_region(x_range, y_range)`` the
    rectangle whose corners two clicks chose (in "region" mode).
    """

    def __init__(
        self,
        on_click: Callable[[float, float], None],
        on_region: Callable[[tuple[float, float], tuple[float, float]], None],
        size: tuple[str, str] = ("560px", "520px"),
    ) -> None:
        self.x_scale, self.y_scale = bq.LinearScale(min=0.0, max=1.0), bq.LinearScale(min=0.0, max=1.0)
        self.color_scale = bq.ColorScale(colors=["#4e79a7", "#4e79a7"], min=0.0, max=1.0)
        scales = {"x": self.x_scale, "y": self.y_scale}
        self.points = _Points(
            x=np.zeros(1, np.float32),
            y=np.zeros(1, np.float32),
            color=np.zeros(1, np.float32),
            scales={**scales, "color": self.color_scale},
            default_size=12,
            stroke=None,
            opacities=[0.8],
        )
        self.neighbours = _outlines(scales, "square", 90, NEIGHBOUR, 2)
        self.current = _outlines(scales, "circle", 260, CURRENT, 3)
        self.catcher = bq.Image(
            image=widgets.Image(value=CLEAR_PNG, format="png"), x=[0.0, 1.0], y=[0.0, 1.0], scales=scales
        )
        self.catcher.on_element_click(self._clicked)
        # The region being chosen: its first corner, then its outline.
        self.region = bq.Lines(
            x=np.zeros(0, np.float32), y=np.zeros(0, np.float32), scales=scales, colors=["#d62728"], stroke_width=2
        )
        self.mode = "click"
        self.corner: tuple[float, float] | None = None
        self.color_axis = bq.ColorAxis(scale=self.color_scale, side="right", num_ticks=5, visible=False)
        self.x_axis = bq.Axis(scale=self.x_scale, label="component 1", num_ticks=5)
        self.y_axis = bq.Axis(scale=self.y_scale, side="left", label="component 2", num_ticks=5)
        self.figure = bq.Figure(
            marks=[self.points, self.region, self.neighbours, self.current, self.catcher],
            axes=[self.x_axis, self.y_axis, self.color_axis],
            fig_margin={"top": 10, "bottom": 45, "left": 55, "right": 80},
            layout=widgets.Layout(width=size[0], height=size[1]),
        )
        self._on_click, self._on_region = on_click, on_region
        self._titled("projection", *size)

    # ----------------------------------------------------------------------------------------- drawing
    def show(
        self,
        coords: np.ndarray,
        x_range: Sequence[float],
        y_range: Sequence[float],
        title: str,
        colors: tuple[np.ndarray, Sequence[str], float, float, bool],
        axes: tuple[str, str] = ("component 1", "component 2"),
    ) -> None:
        """Draw new points (n, 2) coloured as :meth:`paint` says (``colors`` are its arguments), in one message,
        with the axes labelled ``axes``."""
        xy = np.ascontiguousarray(coords, dtype=np.float32)
        (x0, x1), (y0, y1) = (float(v) for v in x_range), (float(v) for v in y_range)
        # Shown before the points come: a hidden figure has no size, and the points drawn into it would be drawn
        # again when it appears (twice 10 s for a million points in software WebGL).
        self._reveal()
        self.x_axis.label, self.y_axis.label = axes
        with self.x_scale.hold_sync(), self.y_scale.hold_sync():
            self.x_scale.min, self.x_scale.max, self.y_scale.min, self.y_scale.max = x0, x1, y0, y1
        values, palette, vmin, vmax, bar = colors
        self._scale_colors(palette, vmin, vmax, bar)
        with self.catcher.hold_sync():
            self.catcher.x, self.catcher.y = [x0, x1], [y0, y1]
        self._forget_region()
        with self.points.hold_sync():  # last: every change above may redraw the points it has
            self.points.x, self.points.y = xy[:, 0], xy[:, 1]
            self.points.color = np.ascontiguousarray(values, dtype=np.float32)
        self.set_title(title)

    def paint(self, values: np.ndarray, colors: Sequence[str], vmin: float, vmax: float, bar: bool) -> None:
        """Colour the points by ``values`` on ``colors`` from ``vmin`` to ``vmax``; ``bar`` shows a colour bar."""
        self._scale_colors(colors, vmin, vmax, bar)
        self.points.color = np.ascontiguousarray(values, dtype=np.float32)

    def _scale_colors(self, colors: Sequence[str], vmin: float, vmax: float, bar: bool) -> None:
        with self.color_scale.hold_sync():
            self.color_scale.colors = list(colors) if len(colors) > 1 else [colors[0], colors[0]]
            self.color_scale.min, self.color_scale.max = float(vmin), float(vmax)
        self.color_axis.visible = bar

    def mark(self, current: np.ndarray, neighbours: np.ndarray) -> None:
        """Ring the point at ``current`` (2,) and frame the points ``neighbours`` (k, 2)."""
        here = np.asarray(current, np.float32).reshape(-1, 2)
        near = np.asarray(neighbours, np.float32).reshape(-1, 2)
        with self.current.hold_sync():
            self.current.x, self.current.y = here[:, 0], here[:, 1]
        with self.neighbours.hold_sync():
            self.neighbours.x, self.neighbours.y = near[:, 0], near[:, 1]

    def set_mode(self, mode: str) -> None:
        """ "click": a click picks the nearest point; "region": two clicks choose a rectangle's corners."""
        self.mode = mode
        self._forget_region()

    def _forget_region(self) -> None:
        self.corner = None
        with self.region.hold_sync():
            self.region.x, self.region.y = np.zeros(0, np.float32), np.zeros(0, np.float32)

    @property
    def shown(self) -> np.ndarray:
        """The points drawn now, (n, 2) float32."""
        return np.column_stack([np.asarray(self.points.x), np.asarray(self.points.y)]).astype(np.float32)

    # ----------------------------------------------------------------------------------------- events
    def _clicked(self, _: Any, content: dict[str, Any]) -> None:
        data = content.get("data", {})
        if "click_x" not in data or "click_y" not in data:
            return
        x, y = float(data["click_x"]), float(data["click_y"])
        if self.mode != "region":
            self._on_click(x, y)
        elif self.corner is None:
            self.corner = (x, y)
            with self.region.hold_sync():  # the first corner as a small cross until the second click
                d = 0.01 * (self.x_scale.max - self.x_scale.min), 0.01 * (self.y_scale.max - self.y_scale.min)
                self.region.x = np.array([[x - d[0], x + d[0]], [x, x]], np.float32)
                self.region.y = np.array([[y, y], [y - d[1], y + d[1]]], np.float32)
        else:
            (x0, y0), self.corner = self.corner, None
            with self.region.hold_sync():
                self.region.x = np.array([x0, x, x, x0, x0], np.float32)
                self.region.y = np.array([y0, y0, y, y, y0], np.float32)
            self._on_region((min(x0, x), max(x0, x)), (min(y0, y), max(y0, y)))


def _outlines(scales: dict[str, bq.Scale], marker: str, size: int, color: str, width: float) -> bq.Scatter:
    """An SVG scatter of unfilled markers (none yet), drawn over the points: the ring and the frames."""
    empty = np.zeros(0, np.float32)
    return bq.Scatter(
        x=empty,
        y=empty,
        scales=scales,
        marker=marker,
        default_size=size,
        fill=False,
        colors=[color],
        stroke_width=width,
    )
