"""Small bqplot figures whose marks are created once and then updated in place.

Every ``show`` assigns new arrays to the existing marks inside ``hold_sync`` (one message per widget), sends
float32 only, and never creates a widget: the count of live widgets stays constant however often it runs.
Each plot is displayed as ``.widget``: its title above its ``.figure``, or a sentence instead of the figure while
there is nothing to show (``clear``). Plots draw what they are given: layout, ranges and labels come from the
compute core.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import bqplot as bq
import ipywidgets as widgets
import numpy as np
import traitlets

from ..markup import escape
from . import style

# Blue for negative, white at zero, red for positive: the convention for weights and gradients.
DIVERGING = ["#2166ac", "#f7f7f7", "#b2182b"]
GREYS = ["#ffffff", "#000000"]
_EMPTY = np.full((2, 2), np.nan, dtype=np.float32)
#: The most row or column names a heatmap writes (evenly spaced beyond): more run into each other.
MOST_NAMES = 24
_TITLE_STYLE = "text-align:center; font: var(--bq-mainheading-font, 16px sans-serif)"  # as bqplot's own titles
#: Secondary text: JupyterLab's own colour for it (readable in its light and dark themes), grey elsewhere.
MUTED = "var(--jp-ui-font-color2, #666)"
_NOTE_STYLE = f"color:{MUTED}; padding:2em 1em; text-align:center"


#: The whole width of a widget's box: 100% less the margin ipywidgets gives each widget (2 px a side), which a
#: plain 100% pushed past the box's right edge (a sideways scroll bar on every panel).
FULL_WIDTH = "calc(100% - 2 * var(--jp-widgets-margin, 2px))"


def fluid(width: str, height: str) -> widgets.Layout:
    """A figure's layout that follows the output area: as wide as its box, at most ``width`` (its natural size).

    bqplot redraws a figure whenever its element's size changes (a ResizeObserver), so a figure whose width is a
    share of its box shrinks and grows with the notebook's output area: narrowed by the file browser, a split
    view or a small window, it is redrawn narrower instead of being clipped or scrolled.
    """
    return widgets.Layout(width=FULL_WIDTH, max_width=width, height=height, min_width="0")


def natural_px(figure: bq.Figure, side: str, default: float) -> float:
    """A figure's natural size in px along ``side`` ("width" or "height"): the most a :func:`fluid` figure
    takes (its max width), or the fixed size of another; ``default`` when it is not in px."""
    value = (figure.layout.max_width or figure.layout.width) if side == "width" else figure.layout.height
    text = str(value or "").strip()
    return float(text[:-2]) if text.endswith("px") else default


#: The width of a heatmap's colour bar beside it: the bar, its tick marks and labels of up to 6 characters.
BAR_PX = 64


def colorbar_html(
    colors: Sequence[str], vmin: float, vmax: float, mid: float | None, height: float, edges: tuple[float, float]
) -> str:
    """A vertical colour bar in HTML, as tall as a figure's plot area (``height`` less the ``edges``: the top and
    bottom margins), with 1-2-5 ticks written by the house style in the theme's text colour.

    The ramp is ``colors`` evenly from ``vmin`` to ``vmax``, or, with a ``mid`` and three colours, the middle
    colour at ``mid`` (a diverging scale, white at 0).
    """
    lo, hi = float(vmin), float(vmax)
    span = (hi - lo) or 1.0
    if mid is not None and len(colors) == 3:
        at = [0.0, 100.0 * (float(mid) - lo) / span, 100.0]
    else:
        at = list(np.linspace(0.0, 100.0, len(colors)))
    ramp = ", ".join(f"{c} {p:.2f}%" for c, p in zip(colors, at))
    ticks = style.nice_ticks(lo, hi, n=4)
    marks = "".join(
        f'<div style="position:absolute; left:12px; bottom:{100.0 * (t - lo) / span:.2f}%; width:4px; '
        f'border-top:1px solid currentColor"></div>'
        f'<div style="position:absolute; left:19px; bottom:calc({100.0 * (t - lo) / span:.2f}% - 0.6em); '
        f'white-space:nowrap">{escape(text)}</div>'
        for t, text in zip(ticks, style.tick_text(ticks))
    )
    top, bottom = edges
    return (
        f'<div class="nbviz-colorbar" style="position:relative; width:{BAR_PX - 8}px; margin-top:{top:.0f}px; '
        f"height:{max(height - top - bottom, 10.0):.0f}px; font:11px sans-serif; "
        f'color:var(--jp-ui-font-color1, #1a1a1a)"><div style="position:absolute; left:0; top:0; bottom:0; '
        f"width:12px; border:1px solid var(--jp-border-color1, #999); box-sizing:border-box; "
        f'background:linear-gradient(to top, {ramp})"></div>{marks}</div>'
    )


def fit_aspect(figure: bq.Figure, margin: dict[str, float], height: str, rows: int, cols: int) -> None:
    """Draw ``figure``'s plot area at the data's aspect ratio (cols : rows) at any width.

    bqplot keeps a figure's whole box between its min and max aspect ratio, margins included: with both set to
    the data's ratio and the margins in that same proportion (left + right = ratio x (top + bottom), the smaller
    pair grown evenly from ``margin``), the plot area inside has the data's ratio however narrow the output area
    makes the figure. Its natural size: its natural width, or less where ``height`` is the limit.
    """
    ratio = cols / max(rows, 1)
    margin = {key: float(value) for key, value in margin.items()}
    across, down = margin["left"] + margin["right"], margin["top"] + margin["bottom"]
    if across < ratio * down:
        grow = (ratio * down - across) / 2
        margin["left"], margin["right"] = margin["left"] + grow, margin["right"] + grow
    else:
        grow = (across / ratio - down) / 2
        margin["top"], margin["bottom"] = margin["top"] + grow, margin["bottom"] + grow
    most_h = float(height[:-2]) if height.endswith("px") else 340.0
    wanted = f"{round(min(most_h, natural_px(figure, 'width', 400.0) / ratio))}px"
    with figure.hold_sync():
        if figure.fig_margin != margin:
            figure.fig_margin = margin
        # bqplot refuses a min above the max at every step: widen on the side that moves first.
        if ratio > figure.max_aspect_ratio:
            figure.max_aspect_ratio = ratio
        figure.min_aspect_ratio = ratio
        figure.max_aspect_ratio = ratio
        if figure.layout.height != wanted:
            figure.layout.height = wanted


def legend_html(items: Sequence[tuple[str, str]]) -> str:
    """A legend in one line above a figure (never over its data): a short line of each colour, then its name."""
    entries = "".join(
        f'<span style="margin-right:1.2em; white-space:nowrap"><span style="display:inline-block; width:18px; '
        f'height:3px; vertical-align:middle; margin-right:4px; background:{color}"></span>{escape(label)}</span>'
        for color, label in items
    )
    return f'<div style="font-size:12px; color:var(--jp-ui-font-color1, #1a1a1a); padding-left:60px">{entries}</div>'


def row(*children: widgets.Widget) -> widgets.HBox:
    """Plots side by side while they fit, one under the other when the output area is too narrow for both."""
    return widgets.HBox(list(children), layout=widgets.Layout(flex_flow="row wrap"))


def _ramp(vmin: float, vmax: float) -> list[str]:
    """Zero is white: a two-sided range gets blue-white-red, a one-sided range white-red or blue-white."""
    if vmin >= 0:
        return DIVERGING[1:]
    if vmax <= 0:
        return DIVERGING[:2]
    return DIVERGING


def _f32(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.float32)


def heatmap_cells(image: np.ndarray) -> np.ndarray:
    """``image`` as a HeatMap mark can take it: float32, never empty, at least 2 x 2.

    bqplot squeezes arrays before checking they are 2-D, so a 1 x n strip (a bias) would be refused: a single row
    or column is repeated. The mark's top-left (rows x cols) block is always the image itself.
    """
    image = _f32(image)
    if image.size == 0:
        return _EMPTY
    image = np.repeat(image, 2, axis=0) if image.shape[0] == 1 else image
    return np.repeat(image, 2, axis=1) if image.shape[1] == 1 else image


class Plot:
    """A bqplot figure under a title that ipywidgets draws, with a sentence in its place while it has no data.

    Titles: bqplot 0.13's Figure view writes ``title`` when its first render starts but listens for changes
    only once that render has finished (bqplot issue #640). A title set in between was lost: "run all" on the
    quickstart, whose second cell changes the layer while the first cell's Explorer is still being drawn,
    left conv1's title over conv2's weights (seen in 3 of 4 cold page loads with 100 ms network latency).
    An HTML widget applies every change, whenever it arrives.

    No data, no figure: until ``show`` draws something, and after ``clear``, the figure is hidden and a
    sentence of the figure's size stands in its place ("computing...", or why there is nothing to show), so
    that an empty or half-drawn figure (seen as a solid black square in Chromium) never shows.
    """

    figure: bq.Figure
    title_text: str
    note_text: str
    _body: widgets.Widget | None = None

    def _titled(self, title: str, width: str, height: str, note: str = "computing...") -> None:
        self.title = widgets.HTML(layout=widgets.Layout(width="100%", margin="0"))
        self.title.add_class("nbviz-title")
        self._held = height  # the figure's height, which a "computing..." note keeps (see ``clear``)
        self.note = widgets.HTML(layout=widgets.Layout(width="100%", height=height, margin="0"))
        self.note.add_class("nbviz-note")
        self.set_title(title)
        # At most its natural width, less when its row or column is narrower (see ``fluid``); never so narrow
        # that the figure's margins leave no room for data.
        self.widget = widgets.VBox(
            [self.title, self.note], layout=widgets.Layout(width="100%", max_width=width, min_width="180px")
        )
        self.widget.add_class("nbviz-plot")
        self.clear(note, title=title)

    def set_title(self, text: str) -> None:
        """Show ``text`` as the title (a message is sent only when it changed)."""
        self.title_text = text
        self.title.value = f'<div style="{_TITLE_STYLE}">{escape(text)}</div>'

    @property
    def has_data(self) -> bool:
        """Whether the figure is on show (``show`` drew data and no ``clear`` came after)."""
        return self.figure.layout.display != "none"

    def clear(self, text: str = "", title: str = "") -> None:
        """Hide the figure and show ``text`` in its place (nothing old stays on screen).

        The figure also leaves the page: a bqplot figure drawn while hidden has no size, and draws rectangles of
        negative size (a console error each, 174 on the quickstart's first load); it is drawn when shown again.
        """
        self.note_text = text
        self.note.value = f'<div style="{_NOTE_STYLE}">{escape(text)}</div>' if text else ""
        # Work in progress ("computing...") holds the figure's place, so the page does not jump when it lands;
        # a reason why there is nothing to show (or no text) takes its own line only: empty space is a defect.
        height = self._held if text.endswith("...") else None
        if self.note.layout.height != height:
            self.note.layout.height = height
        self.figure.layout.display = "none"
        self.note.layout.display = None
        self._place(False)
        self.set_title(title)

    def _reveal(self) -> None:
        self.figure.layout.display = None
        self.note.layout.display = "none"
        self._place(True)

    def _place(self, shown: bool) -> None:
        # What is shown under the title while there is data: the figure, or a box holding it (a heatmap's, with
        # its colour bar beside it).
        body = self._body if self._body is not None else self.figure
        children = (self.title, body, self.note) if shown else (self.title, self.note)
        if self.widget.children != children:
            self.widget.children = children


class FigurePlot(Plot):
    """A figure made elsewhere (a confusion matrix, a beeswarm, loss curves), with a title and a stand-in note."""

    def __init__(self, figure: bq.Figure, title: str, note: str = "computing...") -> None:
        self.figure = figure
        made = figure.layout
        width, height = made.width or "400px", made.height or "300px"
        figure.layout = fluid(width, height)
        made.close()  # replaced, so no longer reachable from the figure: it would stay open for good
        self._titled(title, width, height, note)
        self._title = title

    def show(self, title: str | None = None) -> None:
        """The figure's marks hold data now: show it."""
        self._reveal()
        self.set_title(self._title if title is None else title)


class HeatmapPlot(Plot):
    """A heatmap with a colour bar; NaN cells (gutters between tiles) are drawn in light grey.

    Parameters
    ----------
    title : str
        Shown above the figure (see ``_Titled``).
    colors : list of str, optional
        A fixed colour ramp (``GREYS`` for input images); by default zero is white (see ``_ramp``).
    size : (width, height) in CSS units
    colorbar : bool
        Draw a colour bar.
    """

    def __init__(
        self,
        title: str,
        colors: Sequence[str] | None = None,
        size: tuple[str, str] = ("400px", "340px"),
        colorbar: bool = True,
        picture: bool = False,
    ):
        # Without fixed colours the ramp follows the data: blue-white-red around zero, white-red when all >= 0.
        self.fixed_colors = list(colors) if colors is not None else None
        self.picture = picture
        self.size = size
        # Cell centres sit at 0..n-1: the scales span half a cell beyond, or the edge cells are cut in half.
        self.x_scale, self.y_scale = bq.LinearScale(min=-0.5, max=1.5), bq.LinearScale(min=-0.5, max=1.5, reverse=True)
        self.color_scale = bq.ColorScale(colors=self.fixed_colors or DIVERGING, min=-1.0, max=1.0)
        self.mark = bq.HeatMap(
            color=_EMPTY,
            x=np.arange(2, dtype=np.float32),
            y=np.arange(2, dtype=np.float32),
            scales={"x": self.x_scale, "y": self.y_scale, "color": self.color_scale},
            null_color="#e8e8e8",
        )
        # The colour bar is drawn beside the figure in HTML (see colorbar_html): bqplot's own is 200 px shorter
        # than the plot area (it leaves 100 px at each end), so a picture under 250 px tall had a bar of a few px
        # whose labels ran into each other. The bqplot axis stays, hidden, for the static report.
        self.color_axis = bq.ColorAxis(scale=self.color_scale, side="right", visible=False) if colorbar else None
        self.bar = widgets.HTML(layout=widgets.Layout(flex="0 0 auto", margin="0"))
        # The margins it is built with: every show sizes them again from these (names, aspect).
        self.base_margin = {"top": 10.0, "bottom": 10.0, "left": 10.0, "right": 10.0}
        self._names: dict[str, tuple[Sequence[str] | None, str, tuple[float, float] | None]] = {}
        width = natural = float(size[0][:-2]) if size[0].endswith("px") else 400.0
        if colorbar:
            natural = width - BAR_PX
        self.figure = style.figure(
            marks=[self.mark],
            axes=[self.color_axis] if colorbar else [],
            fig_margin=dict(self.base_margin),
            layout=widgets.Layout(
                width="auto", flex="1 1 auto", max_width=f"{natural:.0f}px", height=size[1], min_width="0"
            ),
            padding_y=0.0,  # bqplot's default 2.5% a side drew every picture 5% lower than wide
        )
        self._body = widgets.HBox(
            [self.figure, self.bar] if colorbar else [self.figure],
            layout=widgets.Layout(width="100%", align_items="flex-start", flex_flow="row nowrap"),
        )
        if self.fixed_colors == GREYS:
            self.figure.add_class("nbviz-greys")  # shown light on dark in a dark theme (style.THEME_CSS)
        if picture:
            self.figure.add_class("nbviz-picture")
        self._titled(title, *size)

    def show(self, image: np.ndarray, vmin: float, vmax: float, title: str | None = None) -> None:
        """Draw a 2-D array; ``vmin``/``vmax`` set the colour range."""
        image = heatmap_cells(image)
        rows, cols = image.shape
        with self.mark.hold_sync(), self.color_scale.hold_sync():
            if (self.x_scale.max, self.y_scale.max) != (cols - 0.5, rows - 0.5):
                self.x_scale.max, self.y_scale.max = cols - 0.5, rows - 0.5
            self.color_scale.min, self.color_scale.max = float(vmin), float(vmax)
            if self.fixed_colors is None:
                self.color_scale.colors = _ramp(vmin, vmax)
                self.color_scale.mid = 0.0 if vmin < 0 < vmax else None
            self.mark.x = np.arange(cols, dtype=np.float32)
            self.mark.y = np.arange(rows, dtype=np.float32)
            self.mark.color = image
        self._frame(rows, cols, float(vmin), float(vmax))
        self._reveal()
        if title is not None:
            self.set_title(title)

    def label(
        self,
        rows: Sequence[str] | None = None,
        cols: Sequence[str] | None = None,
        x_title: str = "",
        y_title: str = "",
        x_range: tuple[float, float] | None = None,
        y_range: tuple[float, float] | None = None,
    ) -> None:
        """Name the rows (a left axis) and columns (a bottom axis) of the next pictures shown, with axis titles.

        ``rows``/``cols``: one name per cell (at most :data:`MOST_NAMES` written, evenly spaced); or
        ``y_range``/``x_range``: the values at the first and last cell's outer edges (a histogram's bins, the
        steps of records), written as 1-2-5 ticks where they fall. No arguments: no names.
        """
        self._names = {"left": (rows, y_title, y_range), "bottom": (cols, x_title, x_range)}

    def _name_axis(self, side: str, cells: int) -> bq.Axis | None:
        """The axis that names one side's cells (made on first use), or None when it has nothing to say."""
        names, title, span = self._names.get(side, (None, "", None))
        axis = getattr(self, f"_{side}_axis", None)
        if names is None and span is None and not title:
            if axis is not None and axis.visible:
                axis.visible = False
            return None
        if axis is None:
            scale = self.y_scale if side == "left" else self.x_scale
            axis = bq.Axis(scale=scale, side=side, grid_lines="none")
            setattr(self, f"_{side}_axis", axis)
            self.figure.axes = [*self.figure.axes, axis]
        if span is not None:
            # Cell i covers [i - 0.5, i + 0.5]: the value v sits at -0.5 + cells * (v - first) / (last - first).
            ticks = style.nice_ticks(*sorted(span), n=4 if side == "bottom" else 5)
            positions = np.round(-0.5 + cells * (ticks - span[0]) / ((span[1] - span[0]) or 1.0), 9)
            labels = dict(zip(positions.tolist(), style.tick_text(ticks)))
        else:
            most = MOST_NAMES if side == "left" else MOST_NAMES // 3  # a bottom axis has room for fewer
            index = np.arange(len(names or ()))
            if len(index) > most:
                index = np.unique(np.linspace(0, len(index) - 1, most).round().astype(int))
            labels = {float(i): style.shorten(str((names or ())[i]), 24) for i in index}
        with axis.hold_sync():
            axis.visible, axis.label = True, title
            axis.tick_values = np.array(list(labels), dtype=np.float64)
            axis.tick_labels = {style.js_key(value): text for value, text in labels.items()}
        return axis

    def _frame(self, rows: int, cols: int, vmin: float, vmax: float) -> None:
        """Size the margins from the base: the colour bar's 1-2-5 ticks, the names of rows and columns, and a
        picture's aspect."""
        margin = dict(self.base_margin)
        left = self._name_axis("left", rows)
        if left is not None:
            names_px = style.label_px(left.tick_labels.values(), pad=8.0)
            margin["left"] = names_px + (22 if left.label else 6)
            offset = f"{names_px + 4}px"  # the title beside the names, not over them
            if left.label_offset != offset:
                left.label_offset = offset
        bottom = self._name_axis("bottom", cols)
        if bottom is not None:
            margin["bottom"] = 24.0 + (22 if bottom.label else 0)
            if bottom.label_offset != "36px":
                bottom.label_offset = "36px"
        if self.picture:
            fit_aspect(self.figure, margin, self.size[1], rows, cols)
        elif margin != self.figure.fig_margin:
            self.figure.fig_margin = margin
        if self.color_axis is not None:
            height = natural_px(self.figure, "height", 340.0)
            edges = (float(self.figure.fig_margin["top"]), float(self.figure.fig_margin["bottom"]))
            self.bar.value = colorbar_html(
                list(self.color_scale.colors), vmin, vmax, self.color_scale.mid, height, edges
            )

    @property
    def shown(self) -> np.ndarray:
        """The array the mark holds now."""
        return np.asarray(self.mark.color)

    def outline(self, corners: np.ndarray, colors: Sequence[str] = (), texts: Sequence[str] = ()) -> None:
        """Draw boxes over the heatmap (a detector's, or its targets'): ``corners`` (k, 4) as (top, left, bottom,
        right) in cells, each with its colour and a text at its top-left corner; none hides them."""
        if not hasattr(self, "_boxes"):  # made on first use: most heatmaps never outline anything
            scales = {"x": self.x_scale, "y": self.y_scale}
            self._boxes = bq.Lines(x=[[0.0, 0.0]], y=[[0.0, 0.0]], scales=scales, stroke_width=2, visible=False)
            self._box_texts = bq.Label(x=[0.0], y=[0.0], text=[""], scales=scales, default_size=11, visible=False)
            self.figure.marks = [*self.figure.marks, self._boxes, self._box_texts]
        corners = np.asarray(corners, np.float64).reshape(-1, 4)
        if not len(corners):
            self._boxes.visible = self._box_texts.visible = False
            return
        top, left, bottom, right = corners.T
        with self._boxes.hold_sync(), self._box_texts.hold_sync():
            self._boxes.x = np.stack([left, right, right, left, left], axis=1)
            self._boxes.y = np.stack([top, top, bottom, bottom, top], axis=1)
            self._boxes.colors = list(colors) or ["#e6550d"]
            self._box_texts.x, self._box_texts.y = left, top
            self._box_texts.text = list(texts) or [""] * len(corners)
            self._box_texts.colors = list(colors) or ["#e6550d"]
            self._boxes.visible = self._box_texts.visible = True


class BarsPlot(Plot):
    """Bars coloured by their sign and size (blue negative, red positive), one per value.

    Parameters
    ----------
    title : str
    horizontal : bool
        Horizontal bars, for labelled features read top to bottom.
    size : (width, height) in CSS units
    """

    def __init__(
        self,
        title: str,
        horizontal: bool = False,
        size: tuple[str, str] = ("420px", "300px"),
        counts: bool = False,
        value_label: str = "",
        index_label: str = "",
    ):
        self.horizontal, self.counts = horizontal, counts
        self.x_scale = bq.OrdinalScale() if horizontal else bq.LinearScale()
        self.y_scale = bq.LinearScale()
        self.color_scale = bq.ColorScale(colors=DIVERGING, min=-1.0, max=1.0, mid=0.0)
        self.mark = bq.Bars(
            x=np.zeros(2, np.float32),
            y=np.zeros(2, np.float32),
            color=np.zeros(2, np.float32),
            scales={"x": self.x_scale, "y": self.y_scale, "color": self.color_scale},
            orientation="horizontal" if horizontal else "vertical",
            padding=0.1,
            stroke="#555555" if horizontal else None,
        )
        # In bqplot 0.13 an axis's side sets its orientation. Ticks are the house style's (style.set_ticks).
        self.value_axis = bq.Axis(
            scale=self.y_scale,
            side="bottom" if horizontal else "left",
            grid_lines="dashed",
            label="count" if counts and not value_label else value_label,
        )
        self.index_axis = bq.Axis(scale=self.x_scale, side="left" if horizontal else "bottom", label=index_label)
        self.figure = style.figure(
            marks=[self.mark],
            axes=[self.index_axis, self.value_axis],
            padding_y=0.0,  # a count axis starts at 0 at the plot's edge (bqplot's 2.5% put it 6 px above)
            # Room under the bottom axis for its tick labels, and for its title when it has one.
            fig_margin={
                "top": 10,
                "bottom": 52 if (self.value_axis.label if horizontal else index_label) else 30,
                "left": 130 if horizontal else 50,
                "right": 20,
            },
            layout=fluid(*size),
        )
        self.base_bottom = float(self.figure.fig_margin["bottom"])
        if counts:
            self.figure.add_class("nbviz-count")  # the gallery's checks find count axes by it
        self._titled(title, *size)

    def show(
        self,
        values: np.ndarray,
        labels: Sequence[str] | np.ndarray | None = None,
        color: np.ndarray | None = None,
        title: str | None = None,
        span: tuple[float, float] | None = None,
        decades: bool = False,
    ) -> None:
        """Draw one bar per value; ``labels`` name the bars (positions 0..n-1 otherwise).

        Bars are coloured by ``color`` (default: the values themselves) on a symmetric diverging scale. The value
        axis spans ``span`` when given (a share: (0, 1)); a count axis from 0 to a 1-2-5 tick above the largest
        count; else the values and 0; values all equal get a span of 1 around them (bqplot draws bars of
        negative size on an empty domain). ``decades``: the values are log10 of something, drawn from the whole
        decade below the smallest (so the longest bar is the largest value) and labelled as powers of ten.
        """
        values = _f32(values).ravel()
        color = values if color is None else _f32(color).ravel()
        finite = color[np.isfinite(color)]
        m = float(np.abs(finite).max()) if finite.size and np.abs(finite).max() > 0 else 1.0
        x = np.asarray(labels) if labels is not None else np.arange(len(values), dtype=np.float32)
        # Names under vertical bars: the bars at 0..n-1 on the linear index scale, named by its ticks (names as x
        # on a linear scale are NaN to bqplot: no bar was drawn and each tick threw "translate(NaN, 0)").
        self.names = [str(v) for v in x] if x.dtype.kind not in "fiub" else None
        if self.names is not None and not self.horizontal:
            x = np.arange(len(values), dtype=np.float32)
        shown = values[np.isfinite(values)]
        base = 0.0
        if span is None and decades and shown.size:
            span = (float(np.floor(shown.min())), float(np.ceil(shown.max())))
            span = span if span[1] > span[0] else (span[0], span[0] + 1.0)
            base = span[0]
        elif span is None and self.counts:
            span = style.count_range(shown)
        elif span is None and (shown.size == 0 or shown.min() == shown.max()):
            low = min(0.0, float(shown.min())) if shown.size else 0.0
            span = (low, low + 1.0)
        elif span is None:
            span = (min(0.0, float(shown.min())), max(0.0, float(shown.max())))
        with self.mark.hold_sync(), self.color_scale.hold_sync(), self.y_scale.hold_sync():
            self.y_scale.min, self.y_scale.max = float(span[0]), float(span[1])
            self.color_scale.min, self.color_scale.max = -m, m
            if self.mark.base != base:
                self.mark.base = base
            self.mark.x = x
            self.mark.y = values
            self.mark.color = color
        self._axes(x, span, decades)
        self._reveal()
        if title is not None:
            self.set_title(title)

    def _axes(self, x: np.ndarray, span: tuple[float, float], decades: bool) -> None:
        """1-2-5 ticks on the value axis (powers of ten for ``decades``), and on a numeric index axis (a
        histogram's bin centres); a horizontal chart's left margin sized to its longest label."""
        if decades:
            step = max(1.0, float(np.ceil((span[1] - span[0]) / 6)))
            ticks = np.arange(np.ceil(span[0]), np.floor(span[1]) + 1, step)
            value_labels = [style.fmt(10.0**t) for t in ticks]
            with self.value_axis.hold_sync():
                self.value_axis.tick_values = ticks
                self.value_axis.tick_labels = {str(int(t)): text for t, text in zip(ticks, value_labels)}
        else:
            value_labels = style.set_ticks(self.value_axis, span[0], span[1], n=4 if self.horizontal else 5)
        margin = dict(self.figure.fig_margin)
        if self.horizontal:
            # Long names (BERT's scoped layers) are cut in the middle on the axis only: the bars keep their names.
            names = [str(v) for v in x]
            short = {name: style.shorten(name) for name in names if style.shorten(name) != name}
            if short or self.index_axis.tick_labels:
                self.index_axis.tick_labels = short
            margin["left"] = max(40, style.label_px(short.get(name, name) for name in names))
        else:
            # The value axis's labels, and its title beside them (not over them, nor cut at the figure's edge).
            ticks_px = style.label_px(value_labels, pad=8.0)
            margin["left"] = max(40, ticks_px + (24 if self.value_axis.label else 6))
            if self.value_axis.label and self.value_axis.label_offset != f"{ticks_px + 4}px":
                self.value_axis.label_offset = f"{ticks_px + 4}px"
            margin["bottom"] = self.base_bottom
            if self.names is not None:
                margin["bottom"] = max(self.base_bottom, self._name_bars(self.names))
            elif x.size:  # a histogram's bin centres: 1-2-5 ticks too
                self.index_axis.tick_rotate = 0
                style.set_ticks(self.index_axis, float(np.nanmin(x)), float(np.nanmax(x)), n=4)
        if margin != self.figure.fig_margin:
            self.figure.fig_margin = margin

    def _name_bars(self, names: list[str]) -> float:
        """Name vertical bars under them: at most 12 names, evenly spaced, cut to 14 characters and written
        upright when longer than 3 (slanted, their boxes overlapped); returns the bottom margin they need."""
        index = np.arange(len(names))
        if len(index) > 12:
            index = np.unique(np.linspace(0, len(index) - 1, 12).round().astype(int))
        labels = {style.js_key(float(i)): style.shorten(names[i], 14) for i in index}
        slant = max((len(text) for text in labels.values()), default=0) > 3
        with self.index_axis.hold_sync():
            self.index_axis.tick_values = index.astype(np.float64)
            self.index_axis.tick_labels = labels
            self.index_axis.tick_rotate = -90 if slant else 0
        return 16.0 + style.label_px(labels.values(), pad=0.0) if slant else 30.0

    @property
    def shown(self) -> np.ndarray:
        return np.asarray(self.mark.y)


class CellGrid(bq.GridHeatMap):
    """A GridHeatMap whose selected cells are kept as an (n, 2) int array.

    The browser sends a click as nested [row, column] lists, which bqplot reads as an object array that it
    then cannot send back ("Unsupported dtype object"); a validator makes them numbers.
    """

    @traitlets.validate("selected")
    def _cells(self, proposal: dict[str, Any]) -> Any:
        value = proposal["value"]
        if value is None:
            return None
        return np.asarray(np.asarray(value).tolist(), dtype=np.int32).reshape(-1, 2)


def png(rgb: np.ndarray) -> bytes:
    """Encode an (h, w, 3) RGB or (h, w, 4) RGBA uint8 array as PNG bytes (zlib only: no imaging library needed)."""
    import struct
    import zlib

    height, width, channels = rgb.shape
    raw = b"".join(b"\x00" + rgb[row].tobytes() for row in range(height))  # filter type 0 per scanline

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 6 if channels == 4 else 2, 0, 0, 0)  # colour type
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


class Pictures:
    """The pictures of a bqplot Image mark: bqplot 0.13 redraws an Image mark only when it gets a new
    ``ipywidgets.Image``, so each picture is a new widget. The one before the last is closed, not the last: a
    front end still building the mark's view for the last one (two pictures in quick succession, as a slider
    moved twice) would not find it ("widget model not found" in the console). Two stay alive: the count of live
    widgets is constant from the first picture on."""

    def __init__(self, rgb: np.ndarray) -> None:
        self.current = widgets.Image(value=png(rgb), format="png")
        self._retired: widgets.Image | None = None

    def next(self, rgb: np.ndarray) -> widgets.Image:
        """A new picture widget showing ``rgb``; the one before the last is closed."""
        if self._retired is not None:
            self._retired.layout.close()  # each Image brings its own Layout widget: close both
            self._retired.close()
        self._retired, self.current = self.current, widgets.Image(value=png(rgb), format="png")
        return self.current


class ImagePlot(Plot):
    """A picture made in Python, shown through bqplot's Image mark.

    Each ``show`` assigns a new ``ipywidgets.Image`` (see :class:`Pictures`): the count of live widgets stays
    constant.
    """

    def __init__(self, title: str, size: tuple[str, str] = ("300px", "300px")) -> None:
        self.size = size
        self.pictures = Pictures(np.full((2, 2, 3), 255, np.uint8))
        self.image_widget = self.pictures.current
        scales = {"x": bq.LinearScale(min=0.0, max=1.0), "y": bq.LinearScale(min=0.0, max=1.0)}
        self.mark = bq.Image(image=self.image_widget, scales=scales, x=[0.0, 1.0], y=[0.0, 1.0])
        self.base_margin = {"top": 10.0, "bottom": 10.0, "left": 10.0, "right": 10.0}
        self.figure = style.figure(
            marks=[self.mark],
            padding_y=0.0,
            fig_margin=dict(self.base_margin),
            layout=fluid(*size),
        )
        self.figure.add_class("nbviz-picture")
        self._titled(title, *size)

    def show(self, rgb: np.ndarray, title: str | None = None) -> None:
        """Draw an (h, w, 3) uint8 picture at its aspect ratio."""
        self.image_widget = self.pictures.next(rgb)
        self.mark.image = self.image_widget
        fit_aspect(self.figure, self.base_margin, self.size[1], rgb.shape[0], rgb.shape[1])
        self._reveal()
        if title is not None:
            self.set_title(title)


def no_padding(plot: Plot) -> None:
    """Let the cells fill the plot area: bqplot's default ``padding_y`` of 2.5% a side drew every picture 5%
    lower than wide (cells of 31.6 x 30.0 px measured in the saliency tab)."""
    if plot.figure.padding_y != 0.0:
        plot.figure.padding_y = 0.0


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
    the cells (x from -0.5 to cols - 0.5, y likewise), draws them. Like :class:`nbviz.ui.plots.figures.Pictures`, a new
    image widget per picture, the one before the last closed.
    """

    def __init__(self, plot: HeatmapPlot) -> None:
        self.plot = plot
        self._empty = widgets.Image(value=png(np.zeros((1, 1, 4), np.uint8)), format="png")
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
            picture = widgets.Image(value=png(gutter_picture(cells, self.plot.mark.null_color)), format="png")
            self._retired, self.current = self.current, picture
            rows, cols = missing.shape
            with self.mark.hold_sync():
                self.mark.image = picture
                # bqplot draws an Image from y[1] with height scale(y[0]) - scale(y[1]): on a reversed y scale
                # (row 0 on top) y must run from the last row to the first, or the picture is drawn upside down
                # (the unused tiles of a 6 x 6 grid of 32 maps were painted over the first row's maps).
                top_down = [rows - 0.5, -0.5] if self.plot.y_scale.reverse else [-0.5, rows - 0.5]
                self.mark.x, self.mark.y = [-0.5, cols - 0.5], top_down
            self.missing = missing
        self.mark.visible = True
