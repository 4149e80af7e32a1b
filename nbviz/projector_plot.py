"""The projector's figure: up to a million points on a WebGL scatter, the current sample and its neighbours on
top, clicks and brushes sent back as data coordinates.

bqplot-gl's ScatterGL draws the points (bqplot's SVG Scatter slows down past about ten thousand). It takes no
clicks of its own, so a transparent Image mark over the plot area does: bqplot's Image sends the data
coordinates of a click, and the kernel finds the nearest point. A BrushSelector replaces it while the person
brushes (a figure's interaction takes the mouse from its marks).
"""

from __future__ import annotations

import base64
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

#: A 1 x 1 fully transparent PNG: the click catcher's picture.
_CLEAR_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
CURRENT = "#000000"
NEIGHBOUR = "#ff7f0e"


class ProjectorPlot(Plot):
    """Points coloured by a value, the current sample ringed, its neighbours framed.

    ``on_click(x, y)`` gets a click's data coordinates (in "click" mode); ``on_brush(x_range, y_range)`` a
    brushed rectangle (in "brush" mode).
    """

    def __init__(
        self,
        on_click: Callable[[float, float], None],
        on_brush: Callable[[tuple[float, float], tuple[float, float]], None],
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
        self.neighbours = bq.Scatter(
            x=np.zeros(0, np.float32),
            y=np.zeros(0, np.float32),
            scales=scales,
            marker="square",
            default_size=90,
            fill=False,
            colors=[NEIGHBOUR],
            stroke_width=2,
        )
        self.current = bq.Scatter(
            x=np.zeros(0, np.float32),
            y=np.zeros(0, np.float32),
            scales=scales,
            marker="circle",
            default_size=260,
            fill=False,
            colors=[CURRENT],
            stroke_width=3,
        )
        self.catcher = bq.Image(
            image=widgets.Image(value=_CLEAR_PNG, format="png"), x=[0.0, 1.0], y=[0.0, 1.0], scales=scales
        )
        self.catcher.on_element_click(self._clicked)
        self.brush = bq.interacts.BrushSelector(x_scale=self.x_scale, y_scale=self.y_scale, color="#d62728")
        self.brush.observe(self._brushed, names="brushing")
        self.color_axis = bq.ColorAxis(scale=self.color_scale, side="right", num_ticks=5, visible=False)
        self.x_axis = bq.Axis(scale=self.x_scale, label="component 1", num_ticks=5)
        self.y_axis = bq.Axis(scale=self.y_scale, side="left", label="component 2", num_ticks=5)
        self.figure = bq.Figure(
            marks=[self.points, self.neighbours, self.current, self.catcher],
            axes=[self.x_axis, self.y_axis, self.color_axis],
            fig_margin={"top": 10, "bottom": 45, "left": 55, "right": 80},
            layout=widgets.Layout(width=size[0], height=size[1]),
        )
        self._on_click, self._on_brush = on_click, on_brush
        self._titled("projection", *size)

    # ----------------------------------------------------------------------------------------- drawing
    def show(self, coords: np.ndarray, x_range: Sequence[float], y_range: Sequence[float], title: str) -> None:
        """Draw new points (n, 2); the colours stay until :meth:`paint`, the marks until :meth:`mark`."""
        xy = np.ascontiguousarray(coords, dtype=np.float32)
        (x0, x1), (y0, y1) = (float(v) for v in x_range), (float(v) for v in y_range)
        with self.x_scale.hold_sync(), self.y_scale.hold_sync():
            self.x_scale.min, self.x_scale.max, self.y_scale.min, self.y_scale.max = x0, x1, y0, y1
        with self.points.hold_sync():
            self.points.x, self.points.y = xy[:, 0], xy[:, 1]
            self.points.color = np.zeros(len(xy), np.float32)
        with self.catcher.hold_sync():
            self.catcher.x, self.catcher.y = [x0, x1], [y0, y1]
        self._reveal()
        self.set_title(title)

    def paint(self, values: np.ndarray, colors: Sequence[str], vmin: float, vmax: float, bar: bool) -> None:
        """Colour the points by ``values`` on ``colors`` from ``vmin`` to ``vmax``; ``bar`` shows a colour bar."""
        with self.color_scale.hold_sync():
            self.color_scale.colors = list(colors) if len(colors) > 1 else [colors[0], colors[0]]
            self.color_scale.min, self.color_scale.max = float(vmin), float(vmax)
        self.points.color = np.ascontiguousarray(values, dtype=np.float32)
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
        """ "click": a click picks the nearest point; "brush": a dragged rectangle selects the points inside."""
        self.figure.interaction = self.brush if mode == "brush" else None

    def set_axis_labels(self, x: str, y: str) -> None:
        self.x_axis.label, self.y_axis.label = x, y

    @property
    def shown(self) -> np.ndarray:
        """The points drawn now, (n, 2) float32."""
        return np.column_stack([np.asarray(self.points.x), np.asarray(self.points.y)]).astype(np.float32)

    # ----------------------------------------------------------------------------------------- events
    def _clicked(self, _: Any, content: dict[str, Any]) -> None:
        data = content.get("data", {})
        if "click_x" in data and "click_y" in data:
            self._on_click(float(data["click_x"]), float(data["click_y"]))

    def _brushed(self, change: dict[str, Any]) -> None:
        if change["new"]:  # still dragging
            return
        xs, ys = self.brush.selected_x, self.brush.selected_y
        if xs is None or ys is None or len(xs) != 2 or len(ys) != 2:
            return
        self._on_brush((float(xs[0]), float(xs[1])), (float(ys[0]), float(ys[1])))
