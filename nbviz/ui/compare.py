"""CompareView: two models that take the same inputs, side by side in one widget (:func:`compare`).

The view has the Explorer's public surface: the traitlets ``layer``, ``sample`` and ``tab`` (validated alike: a bad
value raises a TypeError or ValueError naming the attribute and changes nothing), ``panels`` and each panel's
``.values``. Every panel asks the :class:`~nbviz.compute.analysis.comparison.Comparison` and copies its answers
onto marks; the numbers come from :mod:`nbviz.compute.analysis.comparison`, keyed by both models' versions.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ..compute._validate import resolve_model
from ..compute.analysis.analysis import analyse, analysis_of
from ..compute.analysis.answers import Unavailable
from ..compute.analysis.comparison import CHANGE_METRICS, Comparison, SideBySide
from .layer_graph import LayerGraph
from .markup import escape
from .panels.base import Panel, State, error_html, offer
from .plots.figures import BarsPlot, HeatmapPlot, Plot, row
from .sample_view import SampleView, describe
from .shell import ModelView

__all__ = ["CompareView", "compare"]

SIDES = ("A", "B", "B - A")


class Triptych:
    """Three heatmaps (or three bar charts) in a row: A and B on one shared scale, B - A on a symmetric one."""

    def __init__(self, kind: str, size: tuple[str, str] = ("300px", "280px")) -> None:
        self.kind = kind
        self.heatmaps = [HeatmapPlot(f"{kind}: {side}", size=size) for side in SIDES]
        self.bars = [BarsPlot(f"{kind}: {side}", size=size) for side in SIDES]
        # What is shown, once above the three (a title per figure would be cut at these widths); a row too
        # narrow for three wraps rather than squeezing the figures (which clips their right edge).
        self.caption = widgets.HTML()
        self.image_row = row(*(p.widget for p in self.heatmaps))
        self.bar_row = row(*(p.widget for p in self.bars))
        self.bar_row.layout.display = "none"
        self.widget = widgets.VBox([self.caption, self.image_row, self.bar_row])

    @property
    def plots(self) -> list[Plot]:
        return [*self.heatmaps, *self.bars]

    def show(self, side: SideBySide, labels: Sequence[str] | None = None) -> np.ndarray:
        """Draw A, B and B - A; returns what is drawn, stacked (3, ...)."""
        # (value range, top of the symmetric colour scale): one for A and B, so that equal values look equal.
        ranges = [
            (side.vmin, side.vmax, side.span),
            (side.vmin, side.vmax, side.span),
            (-side.dmax, side.dmax, side.dmax),
        ]
        titles = ["A", "B", f"B - A: |B - A| / |A| = {side.change:.3g}"]
        arrays = [side.a, side.b, side.diff]
        bars = side.kind == "bars"
        shape = " x ".join(str(d) for d in side.shape)
        cells = ", max |.| per block" if side.downsampled and not bars else ""
        self.caption.value = f"<b>{escape(side.title)}</b> ({shape}{cells}): A and B on one colour scale"
        if bars:
            names = np.array(labels) if labels is not None and len(labels) == len(side.a) else None
            for plot, values, (lo, hi, top), title in zip(self.bars, arrays, ranges, titles):
                plot.show(values, labels=names, title=title)
                with plot.y_scale.hold_sync(), plot.color_scale.hold_sync():
                    plot.y_scale.min, plot.y_scale.max = lo, hi
                    plot.color_scale.min, plot.color_scale.max = -top, top
        else:
            for heatmap, values, (lo, hi, _), title in zip(self.heatmaps, arrays, ranges, titles):
                heatmap.show(values, lo, hi, title=title)
        self.image_row.layout.display = "none" if bars else None
        self.bar_row.layout.display = None if bars else "none"
        return side.values


class TensorChoice:
    """Toggle buttons over a layer's weight tensors (kernel, bias, ...); a new layer's list is not a choice."""

    def __init__(self, on_select: Any) -> None:
        self._on_select = on_select
        self.widget = widgets.ToggleButtons(options=[], style={"button_width": "auto"})
        self.widget.observe(on_select, names="value")

    @property
    def index(self) -> int:
        return int(self.widget.value) if self.widget.value is not None else 0

    def offer(self, names: tuple[str, ...], index: int) -> None:
        options = tuple((name, i) for i, name in enumerate(names))
        if self.widget.options != options:
            self.widget.unobserve(self._on_select, names="value")
            self.widget.options = options
            self.widget.value = index if options else None
            self.widget.observe(self._on_select, names="value")
        self.widget.layout.display = None if len(names) > 1 else "none"


class ComparePanel(Panel):
    """A tab of the comparison: ``analysis`` is the :class:`Comparison` (its ``version`` covers both models), and
    ``values`` holds A, B and B - A as drawn, stacked (3, ...)."""

    kind = ""
    tensors = False  # a choice of weight tensor

    @property
    def comparison(self) -> Comparison:
        return self.analysis  # type: ignore[return-value]

    def build(self) -> list[widgets.Widget]:
        self.triptych = Triptych(self.kind)
        self.choice = TensorChoice(lambda change: self.refresh())
        return [self.choice.widget, self.triptych.widget] if self.tensors else [self.triptych.widget]

    @property
    def figure(self) -> bq.Figure:
        return self.triptych.heatmaps[2].figure

    @property
    def plots(self) -> list[Plot]:
        return self.triptych.plots

    def ask(self, state: State) -> SideBySide | Unavailable:
        raise NotImplementedError

    def _clear(self) -> None:
        super()._clear()
        self.triptych.caption.value = ""

    def render(self, state: State) -> str:
        answer = self.ask(state)
        if isinstance(answer, Unavailable):
            self.choice.offer((), 0)
            return answer.reason
        self.choice.offer(answer.names, answer.index)
        self.values = self.triptych.show(answer)
        return ""


class WeightsPanel(ComparePanel):
    """The chosen weight tensor of the current layer in A and B, and B - A."""

    name, title, kind, tensors = "weights", "Weights", "weights", True
    depends_on = ("layer",)

    def ask(self, state: State) -> SideBySide | Unavailable:
        return self.comparison.weights(state.layer, self.choice.index)


class ActivationsPanel(ComparePanel):
    """The current layer's output for the current sample in A and B, and B - A."""

    name, title, kind = "activations", "Activations", "output"

    def ask(self, state: State) -> SideBySide | Unavailable:
        return self.comparison.activations(state.layer, state.sample)


class GradientsPanel(ComparePanel):
    """d loss / d the chosen weight (or the output, for a layer without weights) for the current sample."""

    name, title, kind, tensors = "gradients", "Gradients", "d loss", True

    def ask(self, state: State) -> SideBySide | Unavailable:
        return self.comparison.gradients(state.layer, state.sample, self.choice.index)


class PredictionsPanel(Panel):
    """Flips over the data (a list to click, a slider that can walk them), both confusion matrices and their
    difference, and this sample's outputs from A and B. ``values``: the confusion matrices (3, k, k) stacked as
    A, B, B - A (empty without labels); ``output_values``: this sample's outputs, stacked alike."""

    name, title = "predictions", "Predictions"

    @property
    def comparison(self) -> Comparison:
        return self.analysis  # type: ignore[return-value]

    def build(self) -> list[widgets.Widget]:
        self.summary = widgets.HTML()
        self.flip_list = widgets.Select(options=[], rows=8, layout=widgets.Layout(width="340px"))
        self.flip_list.observe(self._clicked, names="value")
        self.flips_only = widgets.Checkbox(value=False, description="slider: flips only", indent=False)
        self.flips_only.observe(self._walk, names="value")
        self.confusions = [HeatmapPlot(f"confusion: {side}", size=("280px", "260px")) for side in SIDES]
        self.outputs = Triptych("output", size=("280px", "240px"))
        self.output_values = np.zeros(0, np.float32)
        self.confusion_caption = widgets.HTML("<b>confusion matrices</b> (true rows, predicted columns)")
        self.confusion_row = row(*(p.widget for p in self.confusions))
        side = widgets.VBox([self.summary, self.flips_only, self.flip_list])
        return [side, self.confusion_caption, self.confusion_row, self.outputs.widget]

    @property
    def figure(self) -> bq.Figure:
        return self.confusions[2].figure

    @property
    def plots(self) -> list[Plot]:
        return [*self.confusions, *self.outputs.plots]

    def render(self, state: State) -> str:
        changes = self.comparison.predictions()
        offer(self.flip_list, list(zip(changes.texts, changes.walk.tolist())), self._clicked)
        what = "flips (predicted class differs)" if changes.is_classifier else "largest output changes"
        self.flips_only.description = "slider: flips only" if changes.is_classifier else "slider: these only"
        count = len(changes.flips) if changes.is_classifier else len(changes.walk)
        self.summary.value = f"<b>{count}</b> {escape(what)} of {len(changes.change)} samples" + (
            "" if changes.is_classifier else " (a regressor has no classes: the samples whose output moved most)"
        )
        outputs = self.comparison.outputs(state.sample)
        units = len(outputs.side.a)
        self.output_values = self.outputs.show(outputs.side, self.comparison.output_labels(units))
        confusion = self.comparison.confusion()
        if isinstance(confusion, Unavailable):
            self.values = np.zeros(0, np.float32)
            for plot in self.confusions:
                plot.clear(confusion.reason)
            return ""
        ranges = [(0.0, confusion.most), (0.0, confusion.most), (-confusion.dmax, confusion.dmax)]
        titles = [f"A: accuracy {confusion.accuracy_a:.1%}", f"B: accuracy {confusion.accuracy_b:.1%}", "B - A"]
        for plot, counts, (lo, hi), title in zip(self.confusions, confusion.values, ranges, titles):
            plot.show(counts, lo, hi, title=title)
        self.values = confusion.values
        return ""

    def _clicked(self, change: dict[str, Any]) -> None:
        if change["new"] is not None:
            self.navigate(sample=int(change["new"]))

    def _walk(self, change: dict[str, Any]) -> None:
        try:
            walk = self.comparison.predictions().walk
            self.set_sample_filter(walk if change["new"] and len(walk) else None)
            if change["new"] and not len(walk):
                self.message.value = "No sample flipped: the slider walks every sample."
        except Exception as err:  # noqa: BLE001 - shown in the panel, which stays usable
            self.message.value = error_html("slider: flips only", err)


PANELS: tuple[type[Panel], ...] = (WeightsPanel, ActivationsPanel, GradientsPanel, PredictionsPanel)


class CompareView(ModelView):
    """Model A and model B side by side: a layer dropdown, A's layer graph painted by how much each layer
    changed, a sample slider and tabs (weights, activations, gradients, predictions).

    As in the :class:`~nbviz.ui.explorer.Explorer`, the traitlets ``layer``, ``sample`` and ``tab`` are the single
    source of truth; a bad value raises (TypeError or ValueError naming the attribute) and changes nothing. Every
    number is the two models as they are now: answers are keyed by both models' versions.

    Use :func:`compare` to make one.
    """

    _holding = ("comparison",)

    def __init__(self, comparison: Comparison, slider_delay: float = 0.03) -> None:
        super().__init__()
        self.comparison = comparison
        a, b = comparison.a, comparison.b
        self.panels = {cls.name: cls(comparison) for cls in PANELS}  # type: ignore[arg-type]
        initial = comparison.first_layer()
        self.graph_view = LayerGraph(
            a, on_select=self._select_layer, current=initial, metrics=CHANGE_METRICS, measure=comparison.layer_metric
        )
        self.graph_view.color_by = "weight_change"
        self.sample_view = SampleView(a)
        self.versus = widgets.HTML()
        matched = sum(m.in_b for m in comparison.matches().values())
        only_b = comparison.only_b
        title = (
            f"<b>A</b> {escape(a.model.name)} vs <b>B</b> {escape(b.model.name)} &middot; {matched} of "
            f"{len(comparison.matches())} layers matched by name"
            + (f" ({len(only_b)} only in B)" if only_b else "")
            + f" &middot; {comparison.data.n_samples} samples"
        )
        self._compose(title, [], [self.versus])
        self._start(initial, slider_delay)

    @property
    def analysis(self) -> Comparison:  # type: ignore[override]
        """The :class:`Comparison` shown, under the name the Explorer's holds its analysis (what the shared view
        and ``nbviz.testing``'s walks read: ``.graph``, ``.data``, ``pinned``, ``check_version``, ``refresh``)."""
        return self.comparison

    @property
    def model_names(self) -> tuple[str, ...]:
        return (self.comparison.a.model.name, self.comparison.b.model.name)

    @property
    def flips(self) -> np.ndarray:
        """Indices (int64, ascending) of the samples whose predicted class differs between A and B (empty for a
        regressor), for the models as they are now."""
        return self.comparison.predictions().flips

    def _layer_names(self) -> Collection[str]:
        return self.comparison.matches()

    def _sample_shown_too(self) -> None:
        self.versus.value = f"<b>B</b>: {describe(self.comparison.b.prediction(self.sample))}"


def compare(
    model_a: Any,
    model_b: Any,
    x: Any,
    y: Any = None,
    *,
    feature_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    max_cells: int = 65_536,
    max_samples: int | None = None,
    redact: bool = False,
    loss: Any = None,
    tokenizer: Any = None,
    vocabulary: Sequence[str] | None = None,
) -> CompareView:
    """Put two models that take the same inputs side by side on the samples ``x``, in one widget.

    Layers are matched by name: where the architectures differ, only the layers with the same name in both are
    compared (their weights where the tensors have the same shapes, their outputs where the output shapes agree),
    and each tab says why a layer is not.

    Parameters
    ----------
    model_a, model_b : keras.Model or path
        Built Keras 3 models, or paths of ``.keras`` files (loaded in Keras's safe mode): typically a model before
        and after fine-tuning, or at two checkpoints. ``model_b`` must take ``model_a``'s inputs and give outputs
        of the same shapes. The layer graph shown is A's.
    x, y
        Samples and optional labels, as :func:`nbviz.explore` takes them; with ``y`` the predictions tab shows
        both confusion matrices and their difference.
    feature_names, class_names, max_cells, max_samples, redact, loss, tokenizer, vocabulary
        As for :func:`nbviz.explore` (``max_cells`` is shared by a tab's three heatmaps).

    Returns
    -------
    CompareView
        A widget; display it. ``.layer``, ``.sample`` and ``.tab`` can be set from code; ``.panels[tab].values``
        holds A, B and B - A as drawn, stacked (3, ...); ``.flips`` the samples whose predicted class differs.

    Raises
    ------
    TypeError
        Naming ``model_a`` or ``model_b`` when it is not a Keras model (or a path to one), or the argument of
        ``explore`` that has the wrong type.
    ValueError
        Naming ``model_b`` when it does not take ``model_a``'s inputs or gives outputs of other shapes.
    """
    model_a = resolve_model(model_a, "model_a")
    model_b = resolve_model(model_b, "model_b")  # before the data is checked: a wrong B fails at once
    a = analyse(
        model_a,
        x,
        y,
        feature_names=feature_names,
        class_names=class_names,
        max_cells=max_cells,
        max_samples=max_samples,
        redact=redact,
        loss=loss,
        tokenizer=tokenizer,
        vocabulary=vocabulary,
    )
    b = analysis_of(model_b, like=a, argument="model_b")
    return CompareView(Comparison(a, b))
