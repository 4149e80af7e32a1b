"""The projector's figure: the points as one picture made in the kernel, the current sample and its neighbours
drawn over it, clicks sent back as data coordinates.

The picture (:func:`nbviz.compute.methods.raster.rasterize`) costs the same at a thousand points and at a million, and
bqplot's Image mark sends the data coordinates of a click on it: the kernel finds the nearest point. In "brush"
mode a BrushSelector takes the figure's mouse instead, and the rectangle dragged comes back as data ranges.
bqplot-gl's WebGL scatter was tried first and dropped: installed, its front end breaks bqplot's own clicks and
brushes in JupyterLab (see :mod:`nbviz.compute.methods.raster`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import bqplot as bq
import numpy as np

from . import style
from .figures import Pictures, Plot, fit_aspect, fluid

CURRENT = "#000000"
NEIGHBOUR = "#ff7f0e"


class ProjectorPlot(Plot):
    """The points' picture, the current sample ringed, its neighbours framed.

    ``on_click(x, y)`` gets a click's data coordinates (in "click" mode); ``on_region(x_range, y_range)`` the
    rectangle brushed (in "brush" mode). Each picture is a new ``ipywidgets.Image``
    (see :class:`~nbviz.ui.plots.figures.Pictures`).
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
        self.pictures = Pictures(np.full((2, 2, 3), 255, np.uint8))
        self.image_widget = self.pictures.current
        self.points = bq.Image(image=self.image_widget, x=[0.0, 1.0], y=[0.0, 1.0], scales=scales)
        self.points.on_element_click(self._clicked)
        self.brush = bq.interacts.BrushSelector(x_scale=self.x_scale, y_scale=self.y_scale, color="#d62728")
        self.brush.observe(self._brushed, names="brushing")
        self.neighbours = _outlines(scales, "square", 90, NEIGHBOUR, 2)
        self.current = _outlines(scales, "circle", 260, CURRENT, 3)
        self.color_axis = bq.ColorAxis(scale=self.color_scale, side="right", visible=False)
        self.x_axis = bq.Axis(scale=self.x_scale, label="component 1")
        self.y_axis = bq.Axis(scale=self.y_scale, side="left", label="component 2")
        self.size = size
        self.base_margin = {"top": 10.0, "bottom": 45.0, "left": 55.0, "right": 80.0}
        self.figure = style.figure(
            marks=[self.points, self.neighbours, self.current],
            axes=[self.x_axis, self.y_axis, self.color_axis],
            fig_margin=dict(self.base_margin),
            layout=fluid(*size),
            padding_y=0.0,
        )
        self._on_click, self._on_region = on_click, on_region
        self._titled("projection", *size)

    # ----------------------------------------------------------------------------------------- drawing
    def show(
        self,
        rgb: np.ndarray,
        x_range: Sequence[float],
        y_range: Sequence[float],
        title: str,
        colors: tuple[Sequence[str], float, float, bool],
        axes: tuple[str, str] = ("component 1", "component 2"),
    ) -> None:
        """Show the points' picture ``rgb`` (h, w, 3) uint8 of the rectangle ``x_range`` x ``y_range``, with the
        colour bar of ``colors`` (the ramp, its range and whether to show it) and the axes labelled ``axes``."""
        (x0, x1), (y0, y1) = (float(v) for v in x_range), (float(v) for v in y_range)
        with self.x_scale.hold_sync(), self.y_scale.hold_sync():
            self.x_scale.min, self.x_scale.max, self.y_scale.min, self.y_scale.max = x0, x1, y0, y1
        self.x_axis.label, self.y_axis.label = axes
        style.set_ticks(self.x_axis, x0, x1)
        style.set_ticks(self.y_axis, y0, y1)
        self.image_widget = self.pictures.next(_clear_background(np.asarray(rgb, np.uint8)))
        # The picture is drawn at its own aspect (it was 275 x 424 px for a 480 x 480 picture at 900 px).
        fit_aspect(self.figure, self.base_margin, self.size[1], rgb.shape[0], rgb.shape[1])
        with self.points.hold_sync():
            self.points.image = self.image_widget
            self.points.x, self.points.y = [x0, x1], [y0, y1]
        palette, vmin, vmax, bar = colors
        with self.color_scale.hold_sync():
            self.color_scale.colors = list(palette) if len(palette) > 1 else [palette[0], palette[0]]
            self.color_scale.min, self.color_scale.max = float(vmin), float(vmax)
        if bar:
            style.set_ticks(self.color_axis, float(vmin), float(vmax), n=4)
        self.color_axis.visible = bar
        self._reveal()
        self.set_title(title)

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

    @property
    def shown(self) -> np.ndarray:
        """The picture on show, (h, w, 3) uint8 (decoded from the PNG sent)."""
        return png_pixels(bytes(self.image_widget.value))

    # ----------------------------------------------------------------------------------------- events
    def _clicked(self, _: Any, content: dict[str, Any]) -> None:
        data = content.get("data", {})
        if "click_x" in data and "click_y" in data:
            self._on_click(float(data["click_x"]), float(data["click_y"]))

    def _brushed(self, change: dict[str, Any]) -> None:
        xs, ys = self.brush.selected_x, self.brush.selected_y
        if change["new"] or xs is None or ys is None or len(xs) != 2 or len(ys) != 2:
            return  # still dragging, or a click without a rectangle
        self._on_region((float(min(xs)), float(max(xs))), (float(min(ys)), float(max(ys))))


def _clear_background(rgb: np.ndarray) -> np.ndarray:
    """The picture as RGBA with its background (pure white, :data:`~nbviz.compute.methods.raster.BACKGROUND`)
    transparent: an opaque white square sat in the dark theme's page."""
    alpha = np.where((rgb == 255).all(axis=-1), 0, 255).astype(np.uint8)
    return np.concatenate([rgb, alpha[..., None]], axis=-1)


def png_pixels(data: bytes) -> np.ndarray:
    """The (h, w, 3) uint8 pixels of a PNG that :func:`nbviz.ui.plots.figures.png` wrote (what tests read back)."""
    import struct
    import zlib

    width, height = struct.unpack(">II", data[16:24])
    channels = 4 if data[25] == 6 else 3  # colour type 6: RGBA (the projector's transparent background)
    chunks, at = [], 8
    while at < len(data):
        (length,), kind = struct.unpack(">I", data[at : at + 4]), data[at + 4 : at + 8]
        if kind == b"IDAT":
            chunks.append(data[at + 8 : at + 8 + length])
        at += 12 + length
    raw = np.frombuffer(zlib.decompress(b"".join(chunks)), np.uint8).reshape(height, 1 + channels * width)
    # Filter type 0 on every scanline, as png() writes them; the colours without their alpha.
    return raw[:, 1:].reshape(height, width, channels)[..., :3]


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
