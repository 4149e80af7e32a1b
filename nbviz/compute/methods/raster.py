"""Points drawn into a picture in the kernel: a million points become one image of a fixed size.

Sending every point to the browser costs 12 bytes a point and a WebGL scatter (bqplot-gl) to draw them, and
bqplot-gl's front end breaks bqplot's own clicks in JupyterLab (its bundled d3 takes the place of bqplot's, whose
event is then null: the layer graph, confusion cells and thumbnails stop answering). A picture costs the same at a
thousand points and at a million, draws in every front end without a GPU, and bqplot's Image mark sends back the
data coordinates of a click.

Each point covers a small square of pixels; where points overlap, the later one (in sample order) is on top, as in
a scatter drawn in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .._arrays import frozen

BACKGROUND = (255, 255, 255)


@dataclass(frozen=True, eq=False)
class Raster:
    """An (h, w, 3) uint8 picture of points over ``x_range`` x ``y_range`` (row 0 at the top, ``y_range[1]``),
    and how many of them fell inside."""

    rgb: np.ndarray
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    drawn: int


def hex_rgb(colors: Sequence[str]) -> np.ndarray:
    """'#rrggbb' colours as an (k, 3) float array of 0-255."""
    return np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in colors], np.float64)


def color_map(values: np.ndarray, colors: Sequence[str], vmin: float, vmax: float, categorical: bool) -> np.ndarray:
    """(n, 3) uint8 colours of ``values``: category ``i`` gets ``colors[i]``; a quantity is interpolated along
    ``colors`` from ``vmin`` to ``vmax`` (clipped); NaN is grey."""
    ramp = hex_rgb(colors)
    v = np.asarray(values, np.float64)
    finite = np.isfinite(v)
    if categorical:
        out = ramp[np.clip(np.where(finite, v, 0).astype(np.int64), 0, len(ramp) - 1)]
    else:
        t = np.clip((np.where(finite, v, vmin) - vmin) / ((vmax - vmin) or 1.0), 0, 1) * (len(ramp) - 1)
        low = np.minimum(np.floor(t).astype(np.int64), len(ramp) - 2) if len(ramp) > 1 else np.zeros(len(t), int)
        frac = (t - low)[:, np.newaxis] if len(ramp) > 1 else 0.0
        out = ramp[low] * (1 - frac) + ramp[np.minimum(low + 1, len(ramp) - 1)] * frac
    out[~finite] = 160.0
    return np.round(out).astype(np.uint8)


def rasterize(
    coords: np.ndarray,
    colors: np.ndarray,
    x_range: Sequence[float],
    y_range: Sequence[float],
    size: tuple[int, int] = (480, 480),
    radius: int = 1,
) -> Raster:
    """Draw points (n, 2) in their ``colors`` (n, 3) uint8 into a ``size`` (width, height) picture of the
    rectangle ``x_range`` x ``y_range``, each a square of (2 * radius + 1) pixels a side, later points on top.

    Points outside the rectangle are left out (counted in ``drawn``).
    """
    width, height = size
    (x0, x1), (y0, y1) = (float(v) for v in x_range), (float(v) for v in y_range)
    xy = np.asarray(coords, np.float64)
    finite = np.asarray(np.isfinite(xy).all(axis=1))  # a sample without a place (NaN) is not drawn
    xy = np.where(finite[:, np.newaxis], xy, x0 - 1.0)
    col = np.floor((xy[:, 0] - x0) / ((x1 - x0) or 1.0) * width).astype(np.int64)
    row = np.floor((y1 - xy[:, 1]) / ((y1 - y0) or 1.0) * height).astype(np.int64)
    inside = finite & (col >= 0) & (col < width) & (row >= 0) & (row < height)
    # The last point (in sample order) on each pixel: the highest index, whatever order numpy writes in.
    top = np.full(height * width, -1, np.int64)
    np.maximum.at(top, row[inside] * width + col[inside], np.flatnonzero(inside))
    grid = top.reshape(height, width)
    if radius > 0:  # each point a square: the highest index over the pixel's neighbourhood
        padded = np.pad(grid, radius, constant_values=-1)
        grid = np.max(
            [padded[dy : dy + height, dx : dx + width] for dy in range(2 * radius + 1) for dx in range(2 * radius + 1)],
            axis=0,
        )
    rgb = np.empty((height, width, 3), np.uint8)
    rgb[:] = BACKGROUND
    painted = grid >= 0
    rgb[painted] = np.asarray(colors, np.uint8)[grid[painted]]
    return Raster(frozen(rgb, np.uint8), (x0, x1), (y0, y1), int(inside.sum()))
