"""Heatmaps that switch between a picture (square cells at the data's aspect) and a matrix, and the names of a
sequence's rows (its positions and tokens).

One heatmap of the weights or activations tab shows a conv kernel's filters (a picture: its cells are square)
and, for the next layer, a bias or a (tokens x units) sequence (a matrix: it fills its box). The sizing itself
is ``HeatmapPlot(picture=True)``'s (nbviz.ui.plots.figures).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..plots.figures import HeatmapPlot

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
