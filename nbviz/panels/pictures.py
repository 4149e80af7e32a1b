"""Heatmaps that switch between a picture (square cells at the data's aspect) and a matrix, and the names of a
sequence's rows (its positions and tokens).

One heatmap of the weights or activations tab shows a conv kernel's filters (a picture: its cells are square)
and, for the next layer, a bias or a (tokens x units) sequence (a matrix: it fills its box). The sizing itself
is ``HeatmapPlot(picture=True)``'s (nbviz.plots).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ..plots import HeatmapPlot, Plot

#: bqplot's defaults: any box goes.
_FREE = (0.01, 100.0)


def set_picture(plot: HeatmapPlot, on: bool) -> None:
    """Draw ``plot``'s next data as a picture (square cells, at the data's aspect: ``HeatmapPlot(picture=True)``)
    or as a matrix filling the figure's box (a bias, a Dense kernel, a sequence's tokens x units)."""
    if plot.picture == on:
        return
    plot.picture = on
    if not on:  # the box a picture left behind: free again, and of its made height
        figure = plot.figure
        with figure.hold_sync():
            figure.min_aspect_ratio, figure.max_aspect_ratio = _FREE
        figure.layout.height = plot.size[1]


#: The most characters of a token a label keeps ("12 unbelievab…").
ROW_LABEL_CHARS = 12
#: A row of a labelled heatmap is at least this tall (px) while the figure is at most ``MOST_HEIGHT``; at least
#: ``LEAST_HEIGHT``: bqplot's colour bar takes a fixed share less of the height, and at 228 px (12 tokens) its
#: labels ran into each other.
ROW_PX, LEAST_HEIGHT, MOST_HEIGHT = 14.0, 260.0, 480.0


def row_labels(positions: Sequence[int], texts: Sequence[str] | None) -> list[str]:
    """A label per row: "position: token" ("3: the"; "3: 1996" for a token id without a vocabulary, where "3 1996"
    read as one number), the position alone without a token text (or where the text is the position), a token
    cut to :data:`ROW_LABEL_CHARS` characters."""
    out = []
    for k, position in enumerate(positions):
        text = "" if texts is None else str(texts[k]).strip()
        text = text if len(text) <= ROW_LABEL_CHARS else text[: ROW_LABEL_CHARS - 1] + "\u2026"
        out.append(f"{position}: {text}" if text and text not in (str(position), f"#{position}") else str(position))
    return out


def labelled_height(rows: int) -> float:
    """A labelled heatmap's height (px): :data:`ROW_PX` per row and about 60 px of margins (an axis title below),
    within [LEAST, MOST]_HEIGHT, so that 12 tokens are not drawn 25 px tall each and a single row does not sit
    above an empty box."""
    return float(min(MOST_HEIGHT, max(LEAST_HEIGHT, rows * ROW_PX + 60.0)))


def no_padding(plot: Plot) -> None:
    """Let the cells fill the plot area: bqplot's default ``padding_y`` of 2.5% a side drew every picture 5%
    lower than wide (cells of 31.6 x 30.0 px measured in the saliency tab)."""
    if plot.figure.padding_y != 0.0:
        plot.figure.padding_y = 0.0


def png_rgba(rgba: np.ndarray) -> bytes:
    """Encode an (h, w, 4) uint8 array as a PNG with alpha (zlib only, as :func:`nbviz.plots.png`)."""
    height, width, _ = rgba.shape
    raw = b"".join(b"\x00" + rgba[row].tobytes() for row in range(height))  # filter type 0 per scanline

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


#: The gutters' picture is about this many px on its longer side: each cell a block of pixels, so that the
#: browser's smoothing of a scaled image blurs no more than a pixel of a gutter's edge.
GUTTER_PX = 960


def gutter_picture(values: np.ndarray, color: str) -> np.ndarray:
    """(h*k, w*k, 4) uint8: ``color`` where ``values`` is NaN, transparent elsewhere, each cell a k x k block."""
    missing = np.isnan(np.asarray(values, dtype=np.float32))
    k = int(np.clip(GUTTER_PX // max(missing.shape), 1, 32))
    rgba = np.zeros((*missing.shape, 4), np.uint8)
    color = color if len(color) == 7 and color.startswith("#") else "#e8e8e8"  # a hex colour, as plots gives
    rgba[missing] = [int(color[i : i + 2], 16) for i in (1, 3, 5)] + [255]
    return np.ascontiguousarray(np.repeat(np.repeat(rgba, k, axis=0), k, axis=1))


class Gutters:
    """The NaN cells of a heatmap (gutters between tiles, unused tiles) drawn in its null colour.

    bqplot 0.13's HeatMap fills a cell with ``null_color`` only for a JavaScript ``null``; a NaN sent in a float
    buffer goes through the colour scale, which gives no colour, and the canvas keeps the cell before's: each
    gutter column took its left neighbour's colour and each gutter row one colour end to end, so the tiles of a
    kernel or of feature maps ran into each other. A transparent picture with the NaN cells painted, laid over
    the cells (x from -0.5 to cols - 0.5, y likewise), draws them. Like :class:`nbviz.plots.Pictures`, a new
    image widget per picture, the one before the last closed.
    """

    def __init__(self, plot: HeatmapPlot) -> None:
        self.plot = plot
        self._empty = widgets.Image(value=png_rgba(np.zeros((1, 1, 4), np.uint8)), format="png")
        self.current, self._retired = self._empty, None
        self.mark = bq.Image(
            image=self.current,
            scales={"x": plot.x_scale, "y": plot.y_scale},
            x=[-0.5, 1.5],
            y=[-0.5, 1.5],
            visible=False,
        )
        no_padding(plot)
        marks = list(plot.figure.marks)
        plot.figure.marks = [*marks[:1], self.mark, *marks[1:]]  # over the cells, under boxes drawn on them
        self.missing = np.zeros((0, 0), bool)

    def show(self) -> None:
        """Paint the NaN cells of what the heatmap shows now (call it after each ``show``); none: no picture."""
        cells = np.asarray(self.plot.shown, dtype=np.float32)  # as drawn: a single row or column is doubled
        missing = np.isnan(cells)
        if not missing.any():
            self.mark.visible = False
            self.missing = missing
            return
        if not (missing.shape == self.missing.shape and (missing == self.missing).all()):
            if self._retired is not None and self._retired is not self._empty:
                self._retired.layout.close()
                self._retired.close()
            picture = widgets.Image(value=png_rgba(gutter_picture(cells, self.plot.mark.null_color)), format="png")
            self._retired, self.current = self.current, picture
            rows, cols = missing.shape
            with self.mark.hold_sync():
                self.mark.image = picture
                self.mark.x, self.mark.y = [-0.5, cols - 0.5], [-0.5, rows - 0.5]
            self.missing = missing
        self.mark.visible = True
