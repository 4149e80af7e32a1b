"""Units panel: for one unit (a neuron, or a convolution's filter) of the current layer, the explored samples
that activate it most, with the region a filter responds to boxed, and an input optimised to activate it."""

from __future__ import annotations

from typing import Any

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ...compute.analysis.answers import Unavailable
from ...compute.analysis.units import UnitExamples, UnitMaximum
from ..markup import escape
from ..plots.figures import FULL_WIDTH, GREYS, BarsPlot, Gutters, HeatmapPlot, Plot, no_padding, row
from .base import Panel, State, error_html, note_html, offer
from .worker import LatestJob

HALT_SECONDS = 30.0  # the longest a close or a checkpoint change waits for a cancelled maximisation's next step


class UnitsPanel(Panel):
    """What one unit of the current layer responds to."""

    name = "units"
    title = "Units"
    depends_on = ("layer",)

    def build(self) -> list[widgets.Widget]:
        self.unit = widgets.BoundedIntText(
            value=0, min=0, max=0, description="unit", layout=widgets.Layout(width="160px")
        )
        self.unit.observe(lambda change: self.refresh(), names="value")
        self.count = widgets.HTML()
        # Nine thumbnails in a row, as wide as the tab allows and as tall as their aspect needs (a picture: at most
        # 300 px); a 560 x 110 box drew them about twice as tall as wide.
        self.strip = HeatmapPlot(
            "samples that activate it most", colors=GREYS, size=("900px", "300px"), colorbar=False, picture=True
        )
        self.boxes = bq.Lines(
            x=np.zeros((0, 5), np.float32),
            y=np.zeros((0, 5), np.float32),
            scales={"x": self.strip.x_scale, "y": self.strip.y_scale},
            colors=["#d62728"],
            stroke_width=2,
        )
        self.strip.figure.marks = [*self.strip.figure.marks, self.boxes]
        self.gutters = Gutters(self.strip)  # the gaps between the pictures, under the boxes
        # Margins of a pixel: a 10:1 strip's margins grow in its proportion (to keep its aspect at any width),
        # and 10 px above and below became 90 px either side.
        self.strip.base_margin = dict.fromkeys(("top", "bottom", "left", "right"), 1.0)
        self.top_list = widgets.Select(options=[], rows=5, layout=widgets.Layout(width=FULL_WIDTH, max_width="900px"))
        self.top_list.observe(self._top_clicked, names="value")
        self.run = widgets.Button(description="maximise activation", layout=widgets.Layout(width="170px"))
        self.stop = widgets.Button(description="stop", disabled=True, layout=widgets.Layout(width="80px"))
        self.run.on_click(lambda _: self.start())
        self.stop.on_click(lambda _: self._job.cancel())
        self.progress = widgets.IntProgress(value=0, min=0, max=256, layout=widgets.Layout(width="200px"))
        self.result = widgets.HTML()
        self.climb = widgets.HBox([self.run, self.stop, self.progress], layout=widgets.Layout(align_items="center"))
        self.optimised_image = HeatmapPlot(
            "optimised input", colors=GREYS, size=("240px", "240px"), colorbar=False, picture=True
        )
        no_padding(self.optimised_image)
        self.optimised_bars = BarsPlot("optimised input (0 = the data's min, 1 its max)", horizontal=True)
        # Shown once an input is optimised, with the one of its two views that applies: kept in the layout empty,
        # the two boxes left 300 px blank at 1,600 px and 540 px at 900 px (stacked) before any run.
        self.optimised = row(self.optimised_image.widget, self.optimised_bars.widget)
        self.optimised.layout.display = "none"
        self._job = LatestJob()
        self.values = np.zeros(0, np.float32)
        return [
            widgets.HBox([self.unit, self.count]),
            self.strip.widget,
            self.top_list,
            self.climb,
            self.result,
            self.optimised,
        ]

    @property
    def figure(self) -> bq.Figure:
        return self.strip.figure

    @property
    def plots(self) -> list[Plot]:
        return [self.strip, self.optimised_image, self.optimised_bars]

    def _clear(self) -> None:
        super()._clear()
        offer(self.top_list, [], self._top_clicked)
        self.boxes.x, self.boxes.y = np.zeros((0, 5), np.float32), np.zeros((0, 5), np.float32)

    def render(self, state: State) -> str:
        units = self.analysis.unit_count(state.layer)
        if units is None:
            self.run.disabled = True
            return self.analysis.unit_examples(state.layer, 0).reason  # type: ignore[union-attr]
        self.run.disabled = False
        if self.unit.max != units - 1:
            self.unit.max = units - 1  # clamps the value, which refreshes once more
        self.count.value = (
            f"of {units} ({'filters' if self.analysis.activations(0)[state.layer].ndim > 2 else 'units'})"
        )
        shown = self.analysis.unit_examples(state.layer, int(self.unit.value))
        if isinstance(shown, Unavailable):
            return shown.reason
        self.values = shown.activations
        self._show_examples(shown)
        self._show_maximum(None)
        # An action that cannot apply is not offered: its controls go, one line says why.
        cannot = self.analysis.maximize_reason()
        self.climb.layout.display = "none" if cannot else None
        if cannot:
            self.result.value = note_html(cannot)
        return ""

    def _show_examples(self, shown: UnitExamples) -> None:
        title = f"samples that activate {shown.layer} unit {shown.unit} most"
        if shown.strip is None:
            self.strip.clear("", title=title)
        else:
            self.strip.show(
                shown.strip,
                0.0,
                1.0,
                title=title + (" (red: the region it responds to)" if shown.boxes is not None else ""),
            )
            self.gutters.show()
        boxes = np.zeros((0, 4), np.float32) if shown.boxes is None else shown.boxes
        top, left, bottom, right = (boxes[:, i : i + 1] for i in range(4))
        with self.boxes.hold_sync():
            self.boxes.x = np.hstack([left, right, right, left, left]).astype(np.float32)
            self.boxes.y = np.hstack([top, top, bottom, bottom, top]).astype(np.float32)
        offer(self.top_list, [(t, int(i)) for t, i in zip(shown.texts, shown.indices)], self._top_clicked)

    # ----------------------------------------------------------------------------------------- maximisation
    def start(self, wait: bool = False) -> None:
        """Optimise an input for the unit on show, in a worker thread (the widget stays usable); ``wait`` joins it."""
        if self.state is None or self.analysis.maximize_reason():
            return
        layer, unit = self.state.layer, int(self.unit.value)
        self.run.disabled, self.stop.disabled = True, False
        self.progress.value = 0
        self.result.value = f"optimising an input for {escape(layer)} unit {unit}..."

        def work(cancelled: Any) -> None:
            try:
                found = self.analysis.maximize(layer, unit, cancelled=cancelled, on_step=self._step)
                if isinstance(found, Unavailable):
                    self.result.value = escape(found.reason)
                else:
                    self._show_maximum(found)
            except Exception as err:  # noqa: BLE001 - a worker's failure is shown, never raised into a thread
                self.error = f"{type(err).__name__}: {err}"
                self.result.value = error_html(f"maximising {layer} unit {unit}", err)
            finally:
                self.run.disabled, self.stop.disabled = False, True

        self._job.submit((layer, unit), work)
        if wait:
            self.wait()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the maximisation to end; False when ``timeout`` passed first."""
        return self._job.wait(timeout)

    def halt(self) -> None:
        """Stop the maximisation and wait for it (it stops at its next step)."""
        self._job.cancel()
        self._job.wait(HALT_SECONDS)

    def _step(self, step: int, activation: float) -> None:
        self.progress.value = step

    def _show_maximum(self, found: UnitMaximum | None) -> None:
        if found is None:
            self.optimised_image.clear("")
            self.optimised_bars.clear("")
            self.result.value = ""
            self.progress.value = 0
            self.optimised.layout.display = "none"
            return
        self.progress.value = found.steps
        stopped = " (stopped)" if found.stopped else ""
        self.result.value = (
            f"{escape(found.layer)} unit {found.unit}: activation <b>{found.activation:.4g}</b> after "
            f"{found.steps} steps{stopped}; the best explored sample's is {found.best_sample:.4g}"
        )
        title = f"optimised input for {found.layer} unit {found.unit}"
        self.optimised_image.widget.layout.display = None if found.image else "none"
        self.optimised_bars.widget.layout.display = "none" if found.image else None
        self.optimised.layout.display = None
        if found.image:
            self.optimised_image.show(found.picture, 0.0, 1.0, title=title)
        else:
            labels = np.array(self.analysis.data.feature_names or [str(i) for i in range(len(found.picture))])
            self.optimised_bars.show(found.picture, labels=labels, title=title)

    def _top_clicked(self, change: dict[str, Any]) -> None:
        if change["new"] is not None:
            self.navigate(sample=int(change["new"]))
