"""Projector panel: the current layer's activations over every explored sample in 2-D, coloured by label,
prediction, correctness, confidence, loss or a feature; click a point to go to its sample, brush a region to
make a named selection, and see the current sample's nearest neighbours in that layer."""

from __future__ import annotations

from typing import Any

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ...compute.analysis.answers import Unavailable
from ...compute.analysis.projection import PointColors
from ...compute.methods.projection import available_methods
from ..markup import escape
from ..plots.figures import FULL_WIDTH, GREYS, Gutters, HeatmapPlot, Plot
from ..plots.projector import ProjectorPlot
from .base import Panel, Remark, State, offer

METHODS = (("PCA", "pca"), ("UMAP (on a sample)", "umap"), ("t-SNE (on a sample)", "tsne"))
POOLINGS = (("mean over positions", "mean"), ("max over positions", "max"), ("flatten", "flatten"))


class ProjectorPanel(Panel):
    """Every explored sample as a point of the current layer's space."""

    name = "projector"
    title = "Projector"

    def build(self) -> list[widgets.Widget]:
        methods = [(label, m) for label, m in METHODS if m in available_methods()]
        self.method = widgets.Dropdown(options=methods, value="pca", description="method")
        self.pooling = widgets.Dropdown(options=list(POOLINGS), value="mean", description="pooling")
        self.color_by = widgets.Dropdown(
            options=list(self.analysis.color_options()), value="none", description="colour"
        )
        for control in (self.method, self.pooling, self.color_by):
            control.layout.width = "260px"  # not a new Layout: the one replaced would stay open
            control.observe(lambda change: self.refresh(), names="value")
        self.mode = widgets.ToggleButtons(
            options=[("click a point", "click"), ("brush a region", "brush")],
            value="click",
            style={"button_width": "130px"},
        )
        self.mode.observe(self._mode_changed, names="value")
        self.plot = ProjectorPlot(on_click=self._point_clicked, on_region=self._region_chosen)
        self.hint = widgets.HTML()
        self.legend = widgets.HTML(layout=widgets.Layout(max_width="560px"))
        self.selection = widgets.HTML()
        self.walk = widgets.Checkbox(value=False, description="slider: this selection only", indent=False)
        self.walk.observe(self._walk, names="value")
        # The neighbours' thumbnails at their aspect (a picture), as tall as that needs at the width they get.
        self.strip = HeatmapPlot(
            "nearest samples in this layer", colors=GREYS, size=("720px", "300px"), colorbar=False, picture=True
        )
        self.gutters = Gutters(self.strip)  # the gaps between the pictures
        self.strip.base_margin = dict.fromkeys(("top", "bottom", "left", "right"), 1.0)  # see the units tab's
        self.strip_list = widgets.Select(options=[], rows=4, layout=widgets.Layout(width=FULL_WIDTH, max_width="560px"))
        self.strip_list.observe(self._neighbour_clicked, names="value")
        self.values = np.zeros((0, 2), np.float32)
        self.selected: np.ndarray | None = None
        self._count = 0
        self._drawn: tuple[Any, ...] | None = None
        controls = widgets.HBox([self.method, self.pooling, self.color_by], layout=widgets.Layout(flex_flow="row wrap"))
        selection = widgets.HBox([self.mode, self.hint, self.walk], layout=widgets.Layout(flex_flow="row wrap"))
        return [controls, selection, self.selection, self.plot.widget, self.legend, self.strip.widget, self.strip_list]

    @property
    def figure(self) -> bq.Figure:
        return self.plot.figure

    @property
    def plots(self) -> list[Plot]:
        return [self.plot, self.strip]

    def _clear(self) -> None:
        super()._clear()
        self.values = np.zeros((0, 2), np.float32)
        self._drawn = None
        self.legend.value = ""
        offer(self.strip_list, [], self._neighbour_clicked)

    def _question(self, state: State) -> tuple[str, str, str]:
        return state.layer, str(self.method.value), str(self.pooling.value)

    def pending(self, state: State) -> str:
        layer, method, pooling = self._question(state)
        if self.analysis.answered(self.analysis.projection, layer, method, pooling):
            return ""
        name = dict((v, k) for k, v in METHODS)[method].split(" (")[0]
        return f"{name} of {layer}'s activations over {self.analysis.data.n_samples:,} samples"

    def render(self, state: State) -> str:
        layer, method, pooling = self._question(state)
        shown = self.analysis.projection(layer, method, pooling)
        if isinstance(shown, Unavailable):
            return shown.reason
        self.pooling.layout.display = None if shown.projection.pooling != "none" else "none"
        color_by = str(self.color_by.value)
        drawn = (self.analysis.version, layer, method, pooling, color_by)
        if self._drawn != drawn:  # the picture is sent only when the projection or its colours change
            picture = self.analysis.projection_picture(layer, method, pooling, color_by)
            if isinstance(picture, Unavailable):
                return picture.reason
            colors = self.analysis.point_colors(color_by)
            axis = "component" if method == "pca" else method.upper().replace("TSNE", "t-SNE")
            bar = (colors.colors, colors.vmin, colors.vmax, not colors.categorical)
            self.plot.show(picture.rgb, picture.x_range, picture.y_range, shown.title, bar, (f"{axis} 1", f"{axis} 2"))
            self.values = shown.coords
            self._legend(colors)
            self._drawn = drawn
        self._show_neighbours(state)
        return Remark(shown.note)  # with the picture, not instead of it

    def _legend(self, colors: PointColors) -> None:
        if colors.categorical and colors.names:
            swatches = "".join(
                f'<span style="white-space:nowrap; margin-right:10px"><span style="display:inline-block; width:10px;'
                f' height:10px; background:{c}; margin-right:4px"></span>{escape(n)}</span> '
                for n, c in zip(colors.names, colors.colors)
            )
            self.legend.value = f"<b>{escape(colors.kind)}</b>: {swatches}"
        else:
            self.legend.value = "" if colors.kind == "none" else f"<b>{escape(colors.kind)}</b> (colour bar)"

    def _show_neighbours(self, state: State) -> None:
        layer, method, pooling = self._question(state)
        near = self.analysis.neighbours(layer, state.sample, method, pooling)
        if isinstance(near, Unavailable):
            return
        coords = self.values
        self.plot.mark(coords[state.sample], coords[near.indices])
        if near.strip is None:
            self.strip.clear("")  # redact mode, or not images: the list says which they are
        else:
            self.strip.show(near.strip, 0.0, 1.0, title=f"nearest samples to #{state.sample} in {layer}")
            self.gutters.show()
        offer(self.strip_list, [(t, int(i)) for t, i in zip(near.texts, near.indices)], self._neighbour_clicked)

    # ----------------------------------------------------------------------------------------- events
    def _point_clicked(self, x: float, y: float) -> None:
        if self.state is None:
            return
        layer, method, pooling = self._question(self.state)
        sample = self.analysis.nearest_point(layer, method, pooling, x, y)
        if sample is not None:
            self.navigate(sample=sample)

    def _mode_changed(self, change: dict[str, Any]) -> None:
        self.plot.set_mode(change["new"])
        self.hint.value = "<i>drag a rectangle over the points</i>" if change["new"] == "brush" else ""

    def _region_chosen(self, x_range: tuple[float, float], y_range: tuple[float, float]) -> None:
        if self.state is None:
            return
        layer, method, pooling = self._question(self.state)
        shown = self.analysis.projection(layer, method, pooling)
        if isinstance(shown, Unavailable):
            return
        inside = shown.projection.inside(x_range, y_range)
        if inside.size == 0:
            self.selection.value = "<i>no point in that region</i>"
            return
        self._count += 1
        name = f"selection {self._count}"
        self.selected = inside
        self.select_samples(name, inside)
        self.selection.value = (
            f"<b>{escape(name)}</b>: {inside.size:,} samples of {escape(layer)} ({escape(method)}); "
            "the diagnostics tab reports it"
        )
        if self.walk.value:
            self.set_sample_filter(inside)
        else:
            self.walk.value = True  # the slider walks the new selection

    def _walk(self, change: dict[str, Any]) -> None:
        self.set_sample_filter(self.selected if change["new"] and self.selected is not None else None)

    def _neighbour_clicked(self, change: dict[str, Any]) -> None:
        if change["new"] is not None:
            self.navigate(sample=int(change["new"]))
