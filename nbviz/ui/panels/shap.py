"""SHAP panel: local attributions for the current sample and class, global importance over a subset."""

from __future__ import annotations

import threading
import traceback
from typing import TYPE_CHECKING, Any

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ...compute import available_explainers
from ...compute.analysis.answers import ShapGlobal, ShapLocal, Unavailable, feature_labels
from ..markup import escape
from ..plots import style
from ..plots.figures import MUTED, BarsPlot, FigurePlot, HeatmapPlot, Plot, row
from .base import MOST_CLASSES, Panel, State, computing_html, error_html, note_html
from .worker import THREAD_NAME, LatestJob

if TYPE_CHECKING:
    from ...compute.methods.attribution import Additivity, Estimate

SHAP_COLORS = ["#008bfb", "#ff0051"]  # shap's own blue (low feature value) to red (high)
NOT_RUN = "Press Global importance to compute mean |SHAP| per feature over the chosen samples."
#: The share of the SHAP values' range left free on either side of the beeswarm, so its edge points are whole.
SWARM_PAD = 0.06
SYNC_SECONDS = 1.0  # a new sample waits this long for its values; then the worker draws each estimate as it comes
HALT_SECONDS = 30.0  # the longest a checkpoint change waits for a cancelled worker to reach its next check


def additivity_text(explainer: str, a: Additivity) -> str:
    """What the gap f(x) - E[f] - sum of SHAP values means for ``explainer``, in one sentence."""
    gap = f"f(x) - E[f] - sum = {style.fmt(a.gap)}"
    if a.in_expectation:
        if a.standard_error is None:
            spread = f"from {a.draws} draw{'s' if a.draws != 1 else ''}: no standard error yet"
        else:
            spread = f"&plusmn; {style.fmt(a.standard_error, 2)} (standard error over {a.draws} draws)"
        return f"Expected gradients add up only in expectation: {gap} {spread}."
    if a.within_float_error:
        return f"The {escape(explainer)} explainer adds up: {gap}, within float error."
    return f"The {escape(explainer)} explainer misses by more than float error here: {gap}."


def explainer_text(explainer: str, fallback: str | None, auto: bool) -> str:
    text = f"explainer: <b>{escape(explainer)}</b>"
    if fallback:
        return text + f" (auto fell back: {escape(fallback)})"
    return text + (" (auto)" if auto else "")


class ShapPanel(Panel):
    """SHAP values: the current sample's attribution for the class on show and, on request, global importance.

    The local view is computed in a worker thread (:class:`~nbviz.ui.panels.worker.LatestJob`): a new sample waits
    up to ``SYNC_SECONDS`` for its values, then shows the latest estimate, labelled with its draws, and the
    worker redraws after every pass until the full result; moving on cancels the old sample's work, and
    ``Stop`` leaves the estimate (``Refine`` goes on from it). :meth:`wait` joins the worker.
    """

    name = "shap"
    title = "SHAP"
    depends_on = ("sample",)  # attributions are of the model's output, whatever layer is selected

    def build(self) -> list[widgets.Widget]:
        data, policy = self.analysis.data, self.analysis.policy
        shape = data.sample_shape
        self.kind = "bars" if len(shape) == 1 else ("sequence" if len(shape) == 2 else "image")
        n_features = len(feature_labels(data.feature_names, shape))
        n_classes = data.output_units
        # A menu of every class while it is short; a vocabulary's (50,000 tokens, a million classes) explains the
        # predicted class, as the saliency tab does: a menu of k names would be k strings of widget state.
        listed = n_classes if n_classes <= MOST_CLASSES else 0
        class_options = [("predicted class", -1)] + [(policy.class_name(i), i) for i in range(listed)]
        self.explainer_choice = widgets.Dropdown(options=available_explainers(), value="auto", description="explainer")
        self.class_choice = widgets.Dropdown(options=class_options, value=-1, description="class")
        self.class_choice.layout.display = None if listed > 1 else "none"
        self.top_k = widgets.BoundedIntText(value=min(10, n_features), min=1, max=n_features, description="top")
        self.top_k.layout.width = "140px"
        for control in (self.explainer_choice, self.class_choice, self.top_k):
            control.observe(lambda change: self.refresh(), names="value")
        self.info = widgets.HTML()
        # The local view's worker: progress of the refinement, and a stop / go-on pair.
        self.local_progress = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, layout=widgets.Layout(width="160px"))
        self.local_status = widgets.HTML()
        self.stop_button = widgets.Button(description="Stop", icon="stop", layout=widgets.Layout(width="90px"))
        self.refine_button = widgets.Button(description="Refine", icon="play", layout=widgets.Layout(width="90px"))
        self.stop_button.on_click(lambda _: self._local.cancel())
        self.refine_button.on_click(lambda _: self._refine_current())
        self._local = LatestJob()
        self._key: tuple[Any, ...] | None = None
        self._drawn: tuple[Any, ...] | None = None
        self._failure: tuple[tuple[Any, ...], BaseException, str] | None = None
        self._draw_lock = threading.RLock()
        # Shown only while there is something to say (computing, refining, stopped, failed): no empty row.
        self.local_row = widgets.HBox([self.local_progress, self.stop_button, self.refine_button, self.local_status])
        self._show_progress(None)
        if self.kind == "image":
            self.local_plot: BarsPlot | HeatmapPlot = HeatmapPlot("attribution")
        else:
            self.local_plot = BarsPlot("attribution", horizontal=self.kind == "bars", size=("460px", "340px"))

        # Global importance: computed in a worker thread, with progress and a cancel button.
        self.subset = widgets.BoundedIntText(
            value=min(200, data.n_samples), min=1, max=data.n_samples, description="samples"
        )
        self.subset.layout.width = "180px"
        self.run_button = widgets.Button(
            description="Global importance", icon="play", layout=widgets.Layout(width="auto", flex="0 0 auto")
        )
        self.cancel_button = widgets.Button(
            description="Cancel", icon="stop", disabled=True, layout=widgets.Layout(width="auto", flex="0 0 auto")
        )
        self.progress = widgets.FloatProgress(value=0.0, min=0.0, max=1.0, layout=widgets.Layout(width="200px"))
        self.global_status = widgets.HTML()
        self.run_button.on_click(lambda _: self.start_global())
        self.cancel_button.on_click(lambda _: self._cancel.set())
        self._cancel = threading.Event()
        self._global_note = ""  # what the last global run ended with, when it ended without values
        self._worker: threading.Thread | None = None
        self.importance_plot = BarsPlot("mean |SHAP| per feature", horizontal=True, size=("420px", "340px"))
        self.importance_plot.clear(NOT_RUN, title="mean |SHAP| per feature")
        self._build_beeswarm()
        self.global_values = np.zeros(0, np.float32)
        # Until global importance is computed its figures are left out (one line says what to press), not
        # stood in for by notes of their height: that left about 500 px blank.
        self.global_row = row(self.importance_plot.widget, widgets.VBox([self.beeswarm.widget, self.swarm_legend]))
        self.global_row.layout.display = "none"
        self.global_status.value = note_html(NOT_RUN)
        #: Everything but the message line: hidden together where SHAP does not apply (one line says why).
        self.sections: tuple[widgets.Widget, ...] = (
            widgets.HBox(
                [self.explainer_choice, self.class_choice, self.top_k], layout=widgets.Layout(flex_flow="row wrap")
            ),
            self.info,
            self.local_row,
            self.local_plot.widget,
            widgets.HBox(
                [self.subset, self.run_button, self.cancel_button, self.progress],
                layout=widgets.Layout(flex_flow="row wrap"),
            ),
            self.global_status,
            self.global_row,
        )
        return list(self.sections)

    def _build_beeswarm(self) -> None:
        self.swarm_y = bq.LinearScale(min=-0.5, max=10.5)
        # Integer ticks, each relabelled with its feature: tick_labels are looked up by the printed tick ("3").
        self.swarm_axis = bq.Axis(
            scale=self.swarm_y, side="left", tick_values=np.arange(1.0), tick_labels={}, tick_format="d"
        )
        self.swarm = bq.Scatter(
            x=np.zeros(1, np.float32),
            y=np.zeros(1, np.float32),
            color=np.zeros(1, np.float32),
            scales={
                "x": bq.LinearScale(),
                "y": self.swarm_y,
                "color": bq.ColorScale(colors=SHAP_COLORS, min=0.0, max=1.0),
            },
            default_size=12,
            stroke=None,
            interactions={},
        )
        # Ticks on 1-2-5 steps, written by the house style (style.set_ticks) once the values are known.
        self.swarm_x_axis = bq.Axis(
            scale=self.swarm.scales["x"], side="bottom", label="SHAP value", grid_lines="dashed"
        )
        self.beeswarm_figure = style.figure(
            marks=[self.swarm],
            axes=[self.swarm_x_axis, self.swarm_axis],
            fig_margin={"top": 10, "bottom": 40, "left": 130, "right": 20},
            layout=widgets.Layout(width="460px", height="340px"),
        )
        colour = "rank" if self.analysis.policy.redact else "value"
        self.beeswarm = FigurePlot(self.beeswarm_figure, f"SHAP per sample (colour: feature {colour})", NOT_RUN)
        # The colours' legend, under the figure (outside the data): shap's blue for low to its red for high.
        ramp = f"linear-gradient(to right, {SHAP_COLORS[0]}, {SHAP_COLORS[1]})"
        self.swarm_legend = widgets.HTML(
            f'<div style="text-align:center; color:{MUTED}">feature {colour}: low '
            f'<span style="display:inline-block; width:90px; height:10px; vertical-align:middle; '
            f'background:{ramp}"></span> high</div>',
            layout=widgets.Layout(width="100%", max_width="460px"),
        )

    @property
    def figure(self) -> bq.Figure:
        return self.local_plot.figure

    @property
    def plots(self) -> list[Plot]:
        return [self.local_plot]  # a note (one input needed) leaves the global view as it is

    @property
    def class_index(self) -> int | None:
        return None if self.class_choice.value < 0 else int(self.class_choice.value)

    # ----------------------------------------------------------------------------------------- local view
    def render(self, state: State) -> str:
        name = str(self.explainer_choice.value)
        reason = self.analysis.shap_unavailable()
        if reason is not None:
            self._key = None
            self._local.cancel()
            self.info.value = ""
            self._show_progress(None)
            self.run_button.disabled = True  # the global view cannot apply either
            # The message line says why, and nothing else shows: controls for nothing and the stand-ins of the
            # figures left about 900 px blank (a KerasHub BERT classifier's token ids and padding mask). The
            # figures leave the page before their rows hide (a figure hidden on the page redraws at no size).
            for plot in (self.local_plot, self.importance_plot, self.beeswarm):
                plot.clear()
            for section in self.sections:
                section.layout.display = "none"
            return reason
        for section in self.sections:
            if section is not self.local_row and section is not self.global_row:  # each shown when it has content
                section.layout.display = None
        cls = self.analysis.shap_class(state.sample, self.class_index)
        key = (self.analysis.version, name, state.sample, cls)
        with self._draw_lock:
            self._key = key
        estimate = self.analysis.shap_estimate(state.sample, name, cls)
        if estimate is None or not estimate.final:
            job = self._start(key)
            job.done.wait(SYNC_SECONDS)  # fast models answer here, in full; slow ones go on in the worker
            estimate = self.analysis.shap_estimate(state.sample, name, cls)
            failure = self._failure
            if failure is not None and failure[0] == key:
                self._failure = None
                raise failure[1]
        else:
            self._local.cancel()  # the old sample's work stops
        if estimate is None:
            self._waiting(key)
        else:
            self._draw(key, estimate)
        self._show_global_if_computed()
        return ""

    def halt(self) -> None:
        """Stop both workers and wait for them: they read the panel's analysis, which the Explorer may replace."""
        self._local.cancel()
        self._cancel.set()
        self._local.wait(HALT_SECONDS)
        if self._worker is not None:
            self._worker.join(HALT_SECONDS)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the local view's worker has drawn the full result (or stopped); False on ``timeout``."""
        return self._local.wait(timeout)

    def _start(self, key: tuple[Any, ...]) -> Any:
        return self._local.submit(key, lambda cancelled: self._refine(key, cancelled))

    def _refine_current(self) -> None:
        """Refine: go on from the estimate that Stop left."""
        if self._key is not None:
            _, name, sample, cls = self._key
            self._start(self._key)
            self._show_progress(self.analysis.shap_estimate(sample, name, cls))

    def _refine(self, key: tuple[Any, ...], cancelled: Any) -> None:
        """The worker: every estimate is drawn while ``key`` is on show; failures are shown, never lost."""
        version, name, sample, cls = key
        try:
            self.analysis.refine_shap(sample, name, cls, cancelled, lambda e: self._draw(key, e), version)
        except Exception as err:  # noqa: BLE001 - a worker's failure is shown in the panel
            self._failure = (key, err, traceback.format_exc())
            with self._draw_lock:
                if self._key == key:
                    self.error, self.last_error = f"{type(err).__name__}: {err}", self._failure[2]
                    self.local_status.value = error_html("SHAP values", err)
                    self.local_row.layout.display = None
                    self.local_progress.layout.visibility = "hidden"
                    self.stop_button.layout.display = self.refine_button.layout.display = "none"
        else:
            with self._draw_lock:
                if self._key == key and cancelled():
                    self._show_progress(self.analysis.shap_estimate(sample, name, cls))

    def _clear(self) -> None:
        super()._clear()
        self._drawn = None

    def _waiting(self, key: tuple[Any, ...]) -> None:
        """Nothing to draw yet: say what is being computed."""
        self._drawn = None
        _, name, sample, cls = key
        self.values = np.zeros(0, np.float32)
        self.info.value = ""
        work = self.analysis.shap_work(sample, name, cls)
        self.local_plot.clear(f"computing: {work}...")
        self.local_status.value = computing_html(work)
        self.local_row.layout.display = None
        self.local_progress.layout.visibility = "visible"
        self.local_progress.value = 0.0
        self.stop_button.layout.display, self.refine_button.layout.display = None, "none"

    def _draw(self, key: tuple[Any, ...], estimate: Estimate) -> None:
        with self._draw_lock:
            if key != self._key:
                return  # an old sample's estimate
            drawn = (estimate, int(self.top_k.value))
            if self._drawn is not None and self._drawn[0] is estimate and self._drawn[1] == drawn[1]:
                return  # on show already (the worker drew it while render waited)
            _, name, sample, cls = key
            answer = self.analysis.shap_local(sample, name, cls, int(self.top_k.value), estimate=estimate)
            if isinstance(answer, Unavailable):
                return
            self._show(answer, sample)
            self.info.value = self._info(answer, self.analysis.shap_additivity(estimate))
            self._drawn = drawn
            self._show_progress(estimate)

    def _show(self, answer: ShapLocal, sample: int) -> None:
        self.values = answer.values
        label = "" if answer.final else f" (estimate: {answer.done} of {answer.draws} draws)"
        if answer.bars is not None:
            bars = answer.bars
            title = f"top {len(bars.values)} features, sample {sample}{label}"
            self.local_plot.show(bars.values, labels=np.array(bars.labels), title=title)
        elif answer.steps is not None:
            title = f"SHAP per step (summed over features), sample {sample}{label}"
            self.local_plot.show(answer.steps, title=title)
        else:
            assert answer.picture is not None and isinstance(self.local_plot, HeatmapPlot)
            picture = answer.picture
            title = f"attribution, sample {sample}{label}"
            self.local_plot.show(picture.values, picture.vmin, picture.vmax, title=title)

    def _show_progress(self, estimate: Estimate | None) -> None:
        """The refinement's progress bar and buttons: hidden for a full result (or none)."""
        refining = estimate is not None and not estimate.final
        stopped = self._key is None or not self._local.running(self._key)
        self.local_progress.layout.visibility = "visible" if refining else "hidden"
        self.stop_button.layout.display = None if refining and not stopped else "none"
        self.refine_button.layout.display = None if refining and stopped else "none"
        self.local_row.layout.display = None if refining else "none"
        if not refining:
            self.local_status.value = ""
            return
        assert estimate is not None
        self.local_progress.value = estimate.share
        state = "stopped; Refine goes on from here" if stopped else "refining in the background"
        self.local_status.value = note_html(f"estimate from {estimate.done} of {estimate.total} draws ({state})")

    def _info(self, answer: ShapLocal, additivity: Additivity) -> str:
        target = f"class <b>{escape(answer.class_name)}</b>, " if answer.multiclass else ""
        return (
            f"{explainer_text(answer.explainer, answer.fallback, answer.auto)} &middot; {target}"
            f"base value E[f] = {style.fmt(answer.base_value, 4)}, f(x) = {style.fmt(answer.output, 4)}, "
            f"sum of SHAP values = {style.fmt(answer.total, 4)}"
            f"<br>{additivity_text(answer.explainer, additivity)}"
            + (f"<br>{note_html(answer.explained)}" if answer.explained else "")
        )

    # ----------------------------------------------------------------------------------------- global view
    def start_global(self, wait: bool = False) -> None:
        """Compute global importance in a worker thread (the widget stays usable); ``wait`` joins it."""
        if self._worker is not None and self._worker.is_alive():
            return
        reason = self.analysis.shap_unavailable()
        if reason is not None:
            self.global_status.value = note_html(reason)
            return
        self._cancel.clear()
        self._global_note = ""
        self.run_button.disabled, self.cancel_button.disabled = True, False
        self.progress.value = 0.0
        self.global_status.value = computing_html(
            f"SHAP values of {int(self.subset.value)} samples ({self.explainer_choice.value} explainer)"
        )
        question = (str(self.explainer_choice.value), int(self.subset.value), self.analysis.version, self.class_index)
        self._worker = threading.Thread(target=self._global_job, args=question, daemon=True, name=THREAD_NAME)
        self._worker.start()
        if wait:
            self._worker.join()

    def _global_job(self, name: str, n: int, version: str, class_index: int | None) -> None:
        try:
            done = self.analysis.compute_shap_global(
                name,
                n,
                progress=self._set_progress,
                cancelled=self._cancel.is_set,
                version=version,
                class_index=class_index,
            )
            if done:
                self._show_global_if_computed()
            elif self._cancel.is_set():
                self._global_note = self.global_status.value = "cancelled"
            else:  # the weights or the loss changed while it ran: a mix of both is not kept
                self._global_note = self.global_status.value = "not kept: the model changed while this ran; run again"
        except Exception as err:  # noqa: BLE001 - a worker's failure is shown, never lost
            self._global_note = self.global_status.value = error_html("global importance", err)
        finally:
            self.run_button.disabled, self.cancel_button.disabled = False, True

    def _swarm_range(self, values: np.ndarray) -> None:
        """The beeswarm's SHAP axis: the values' range with ``SWARM_PAD`` of it free on either side (bqplot's
        own range ended at the outermost points, cutting them in half), and 1-2-5 ticks inside it."""
        lo, hi = style.padded_range(values, SWARM_PAD)
        scale = self.swarm.scales["x"]
        with scale.hold_sync():
            scale.min, scale.max = lo, hi
        style.set_ticks(self.swarm_x_axis, lo, hi, n=4)

    def _set_progress(self, share: float) -> None:
        self.progress.value = share

    def _show_global_if_computed(self) -> None:
        name, n = str(self.explainer_choice.value), int(self.subset.value)
        answer = self.analysis.shap_global(name, n, self.class_index, int(self.top_k.value))
        if answer is None:
            self.global_values = np.zeros(0, np.float32)
            self.importance_plot.clear(NOT_RUN, title="mean |SHAP| per feature")
            self.beeswarm.clear(NOT_RUN)
            self.global_row.layout.display = "none"  # the status line says what to press: no blank figures
            # A sample change redraws the panel: a run in progress keeps its "computing" line, and one that
            # was cancelled or failed keeps saying so (a render had blanked it, racing the worker).
            if self._worker is None or not self._worker.is_alive():
                self.global_status.value = self._global_note or note_html(NOT_RUN)
            return
        self._show_global(answer)

    def _show_global(self, answer: ShapGlobal) -> None:
        self.global_values = answer.importance
        # The row first: a figure drawn inside a hidden row has no size (negative rectangles, console errors).
        self.global_row.layout.display = None
        self.importance_plot.show(
            answer.top.values, labels=np.array(answer.top.labels), title="mean |SHAP| per feature"
        )
        k = len(answer.ticks)
        with self.swarm.hold_sync(), self.swarm_y.hold_sync(), self.swarm_axis.hold_sync():
            self.swarm_y.min, self.swarm_y.max = -0.5, k - 0.5
            self.swarm_axis.tick_values = np.arange(k, dtype=np.float64)
            # The front end looks labels up by the tick's printed value ("3", not "3.0").
            self.swarm_axis.tick_labels = {str(i): label for i, label in enumerate(answer.ticks)}
            self.swarm.x, self.swarm.y, self.swarm.color = answer.swarm_x, answer.swarm_y, answer.swarm_color
            # The longest feature name sets the left margin (names such as "pixel (12, 15), channel 2").
            margin = dict(self.beeswarm_figure.fig_margin)
            margin["left"] = max(60, style.label_px(answer.ticks))
            if margin != self.beeswarm_figure.fig_margin:
                self.beeswarm_figure.fig_margin = margin
        self._swarm_range(answer.swarm_x)
        self.beeswarm.show()
        self.progress.value = 1.0
        self.global_status.value = (
            f"{explainer_text(answer.explainer, answer.fallback, answer.auto)} &middot; {answer.n} samples"
            + (f" &middot; {escape(answer.note)}" if answer.note else "")
        )
