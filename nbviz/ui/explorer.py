"""The Explorer: one widget to walk through a model's layers and a dataset's samples."""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import keras
import numpy as np
import traitlets

from ..compute.analysis.analysis import Analysis, analyse, analysis_of
from ..compute.model import version as versions
from ..compute.model.checkpoints import copy_model
from .layer_graph import LayerGraph
from .live import LiveTraining
from .markup import escape
from .panels import PANELS
from .panels.base import Panel, State, error_html
from .panels.training import TrainingPanel
from .sample_view import SampleView
from .shell import ModelView
from .state import Checked, InvalidType, InvalidValue


class Explorer(ModelView):
    """An interactive view of a Keras model: layer dropdown, layer graph, sample slider and panels.

    The traitlets ``layer``, ``sample`` and ``tab`` are the single source of truth: the dropdown, a click on
    the graph and the slider only set them, and observers bring the visible panel up to date. A hidden panel
    is marked stale and catches up when it is shown. A bad value raises (a TypeError or ValueError that is also
    traitlets' TraitError) and changes nothing.

    Every number shown is the model as it is now: panels ask the :class:`~nbviz.compute.analysis.analysis.Analysis`,
    whose answers are keyed by the model's version, and a panel drawn for an older version is drawn again when
    it is next shown, after every notebook cell that changed the weights, or on :meth:`refresh`. Given a
    LiveTraining with snapshots, ``checkpoint`` shows the model as it was at one of them (on a copy).

    Use :func:`explore` to make one.
    """

    #: Named selections of samples (a region chosen in the projector, or :meth:`select`): name -> int64 indices.
    selections = traitlets.Dict()
    #: The training snapshot on show (an index into ``training.snapshots``), or -1 for the model as it is now.
    checkpoint = Checked(-1)
    _holding = ("analysis", "live_analysis", "_copy", "training")

    def __init__(
        self,
        analysis: Analysis,
        panels: Sequence[type[Panel]] = PANELS,
        slider_delay: float = 0.03,
        training: LiveTraining | None = None,
    ) -> None:
        super().__init__()
        self.analysis = analysis
        #: The analysis of the model itself (``analysis`` is a copy's while a checkpoint is on show).
        self.live_analysis = analysis
        self._copy: Analysis | None = None  # a copy of the model that checkpoints are loaded into, made once
        self.training = training
        self.panels = {cls.name: cls(analysis) for cls in panels if cls.applies(analysis)}
        if training is not None:
            self.panels["training"] = TrainingPanel(analysis, training)
        initial = analysis.first_layer()
        recorder = training.recorder if training is not None else None
        self.graph_view = LayerGraph(analysis, on_select=self._select_layer, recorder=recorder, current=initial)
        self.sample_view = SampleView(analysis)
        # Shown once the training has snapshots: "live" last, where a person starts.
        self.checkpoint_slider = widgets.SelectionSlider(
            options=[("live", -1)],
            value=-1,
            description="checkpoint",
            continuous_update=False,
            layout=widgets.Layout(width="360px", display="none"),
        )
        graph = analysis.graph
        title = (
            f"<b>{escape(analysis.model.name)}</b> &middot; {graph.total_params:,} parameters &middot; "
            f"{len(graph.names)} layers &middot; {analysis.data.n_samples} samples"
        )
        self._compose(title, [self.checkpoint_slider], [])
        for panel in self.panels.values():
            panel.select_samples = self.select
        self.observe(self._on_checkpoint, names="checkpoint")
        self.checkpoint_slider.observe(self._checkpoint_chosen, names="value")
        self._start(initial, slider_delay, observed=("layer", "sample", "selections"))
        if training is not None:  # a graph coloured by a training metric follows the records while fit runs
            training.listeners.append(self.graph_view.training_drawn)
            training.listeners.append(self._snapshots_changed)
            self._snapshots_changed()

    # ----------------------------------------------------------------------------------------- validation
    def _layer_names(self) -> Collection[str]:
        return self.analysis.probe.layers

    @traitlets.validate("checkpoint")
    def _valid_checkpoint(self, proposal: dict[str, Any]) -> int:
        index = proposal["value"]
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
            raise InvalidType(f"checkpoint: expected a snapshot index (int, -1 for live), got {type(index).__name__}")
        count = 0 if self.training is None else len(self.training.snapshots)
        if not -1 <= index < count:
            if self.training is None:
                raise InvalidValue(
                    f"checkpoint: expected -1 (live): this Explorer has no training (explore(..., training=live) "
                    f"with a LiveTraining that took snapshots), got {index}"
                )
            raise InvalidValue(f"checkpoint: expected -1 (live) or a snapshot index in [0, {count - 1}], got {index}")
        return int(index)

    # ----------------------------------------------------------------------------------------- events
    @property
    def state(self) -> State:
        return State(layer=self.layer, sample=self.sample, selections=self.selections)

    def select(self, name: str, samples: Any) -> None:
        """Name a selection of samples (indices into x): the diagnostics tab reports it beside all samples, and
        ``set_sample_filter(ex.selections[name])`` lets the slider walk it. An empty list removes the name."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"name: expected a non-empty str, got {name!r}")
        given = np.asarray([] if samples is None else samples)
        if given.size and given.dtype.kind not in "iu":
            raise TypeError(f"samples: expected sample indices (ints), got an array of {given.dtype}")
        chosen = np.unique(given.astype(np.int64).ravel())
        if chosen.size:
            data = self.analysis.data
            data.check_sample(int(chosen[0]))
            data.check_sample(int(chosen[-1]))
        chosen.setflags(write=False)
        kept = {k: v for k, v in self.selections.items() if k != name}
        self.selections = {**kept, name: chosen} if chosen.size else kept

    # ----------------------------------------------------------------------------------------- checkpoints
    def _snapshots_changed(self) -> None:
        """The training's snapshots after a redraw of its view: offer them (a reset removes them)."""
        snapshots = list(self.training.snapshots.items) if self.training is not None else []
        options = [(s.label, s.index) for s in snapshots] + [("live", -1)]
        if self.checkpoint >= len(snapshots):
            self.checkpoint = -1
        if tuple(self.checkpoint_slider.options) != tuple(options):
            # New options move the slider to the first one: not a person's choice, so not a checkpoint change.
            self.checkpoint_slider.unobserve(self._checkpoint_chosen, names="value")
            self.checkpoint_slider.options = options
            self.checkpoint_slider.value = self.checkpoint
            self.checkpoint_slider.observe(self._checkpoint_chosen, names="value")
        self.checkpoint_slider.layout.display = None if len(snapshots) else "none"

    def _checkpoint_chosen(self, change: dict[str, Any]) -> None:
        if change["new"] is not None:
            self.checkpoint = int(change["new"])

    def _on_checkpoint(self, change: dict[str, Any]) -> None:
        self.checkpoint_slider.value = self.checkpoint
        try:
            target = self.live_analysis if self.checkpoint < 0 else self._load_checkpoint(self.checkpoint)
        except Exception as err:  # noqa: BLE001 - the widget stays on the live model and says why
            self.message.value = error_html(f"checkpoint {self.checkpoint}", err)
            self.checkpoint = -1
            return
        self._use(target)
        self._refresh_visible()

    def _load_checkpoint(self, index: int) -> Analysis:
        """The analysis of a copy of the model holding snapshot ``index``'s weights (the model is not touched)."""
        live, training = self.live_analysis, self.training
        assert training is not None  # the checkpoint's validator allows no index without it
        if self._copy is None:
            model = copy_model(live.model, live.probe.structured(live.data.inputs(0)))
            copy = analysis_of(model, live)
            if list(copy.graph.names) != list(live.graph.names):
                raise ValueError(
                    f"model: the copy of {live.model.name!r} that checkpoints are shown on names its layers "
                    "differently (a layer that does not pass its name on to Keras)"
                )
            self._copy = copy
        for panel in self.panels.values():
            panel.halt()  # no worker may go on computing while the copy's weights change under it
        training.snapshots.load_into(self._copy.model, index)
        versions.bump(self._copy.model)  # in a kernel, the version's gate must move to see the new weights
        return self._copy

    def _use(self, analysis: Analysis) -> None:
        """Show ``analysis`` (the live model's or the checkpoint copy's) in every part of the widget."""
        if analysis is self.analysis:
            return
        for panel in self.panels.values():
            panel.halt()
            panel.analysis, panel.stale = analysis, True
        self._sample_shown = None
        self.graph_view.analysis = self.sample_view.analysis = self.analysis = analysis

    def _not_owned(self) -> list[Any]:
        training = getattr(self, "training", None)
        return [] if training is None else [training, training.view.widget]

    def close(self) -> None:
        """Close the Explorer and every widget it made (not its LiveTraining's view: the callback is yours, and
        :meth:`LiveTraining.close` closes it), and let go of the model: see :meth:`ModelView.close`."""
        training = getattr(self, "training", None)
        if training is not None:
            graph = getattr(self, "graph_view", None)
            for listener in (getattr(graph, "training_drawn", None), self._snapshots_changed):
                if listener in training.listeners:
                    training.listeners.remove(listener)
        super().close()


def explore(
    model: keras.Model | str | os.PathLike[str],
    x: Any,
    y: Any = None,
    *,
    feature_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    max_cells: int = 65_536,
    background: Any = None,
    training: LiveTraining | None = None,
    datasets: dict[str, Any] | None = None,
    max_samples: int | None = None,
    redact: bool = False,
    loss: Any = None,
    tokenizer: Any = None,
    vocabulary: Sequence[str] | None = None,
) -> Explorer:
    """Explore ``model`` on the samples ``x`` in one interactive widget.

    Parameters
    ----------
    model : keras.Model or path
        A built Keras 3 model (Sequential, Functional, nested or subclassed), or the path of a ``.keras`` file,
        loaded with Keras's safe mode (no code from the file is run).
    x : array-like, list, dict or tf.data.Dataset
        Samples, batch first; a list or dict for a model with several inputs; a DataFrame names the features.
        A dataset yields ``x`` or ``(x, y)`` as for ``model.fit``; batches are read until ``max_samples``.
    y : array-like, optional
        Labels: class indices, one-hot rows, strings (with ``class_names``) or regression targets; None when
        ``x`` is a dataset that yields them.
    feature_names, class_names : sequence of str, optional
        Names of the input features (tabular data) and of the classes.
    max_cells : int
        The most cells one heatmap sends to the browser; larger ones are reduced by blocks.
    background : array-like or tf.data.Dataset, optional
        Background samples for SHAP; default 100 samples of ``x`` (a k-means summary for tabular data). A
        dataset (e.g. the training pipeline) is read as far as ``max_samples`` and summarised the same way.
    training : LiveTraining, optional
        A live training callback: its view becomes the "training" tab, following the Explorer's layer.
    datasets : dict of name -> (x, y) or tf.data.Dataset, optional
        Named datasets for the diagnostics tab (e.g. {"train": ..., "test": ...}); ``(x, y)`` itself is "data".
    max_samples : int, optional
        The most samples read from a ``tf.data.Dataset``; by default 1000, or fewer once they pass 256 MB.
        Arrays are used whole.
    redact : bool
        Send no raw input value to the browser (so none is saved with the notebook's widget state): no sample
        view, no input-layer or preprocessing outputs, no feature values in labels; rule thresholds and slices
        are shown as quantiles, the SHAP beeswarm is coloured by rank. Learned layers, gradients, attributions
        and predictions are still shown.
    loss : callable, optional
        ``loss(y_true, y_pred)`` for the gradients, for a model that trains on a loss of its own (a custom
        ``train_step``; y_true is None without ``y``). By default the model's own ``compute_loss`` where its
        class defines one, else its compiled loss, else crossentropy or mean squared error; the gradients tab
        says which. An autoencoder (an image out of an image of the same shape) given no ``y`` is judged
        against its input.
    tokenizer : KerasHub tokenizer or preprocessor, optional
        Shows token ids as text (the tokenizer's detokenized strings) in the sample view, the attention tab and
        the token attributions; by default the tokenizer of the model's own preprocessor, where it has one.
    vocabulary : list of str, optional
        The same from a plain list: the text of each token id (e.g. a TextVectorization layer's
        ``get_vocabulary()``).

    Returns
    -------
    Explorer
        A widget; display it. ``.layer``, ``.sample`` and ``.tab`` can be set from code too.
    """
    if training is not None and not isinstance(training, LiveTraining):
        raise TypeError(f"training: expected an nbviz.LiveTraining callback, got {type(training).__name__}")
    analysis = analyse(
        model,
        x,
        y,
        feature_names=feature_names,
        class_names=class_names,
        max_cells=max_cells,
        background=background,
        datasets=datasets,
        max_samples=max_samples,
        redact=redact,
        loss=loss,
        tokenizer=tokenizer,
        vocabulary=vocabulary,
    )
    return Explorer(analysis, training=training)


def report(
    model: keras.Model | str | os.PathLike[str],
    x: Any,
    y: Any = None,
    path: str | os.PathLike[str] = "nbviz-report.html",
    *,
    layers: Sequence[str] | None = None,
    samples: Sequence[int] | None = None,
    tabs: Sequence[str] | None = None,
    **options: Any,
) -> Path:
    """Write a static HTML report of ``model`` on ``x`` without showing a widget (for scripts and CI).

    The same as ``explore(model, x, y, **options).save_html(path, layers, samples, tabs)``: see
    :meth:`Explorer.save_html` for what the file holds and :func:`explore` for ``options`` (``redact=True``
    holds in the file too).

    Returns
    -------
    pathlib.Path
        The file written.
    """
    if "training" in options:
        raise TypeError("options: a report has no training tab; call save_html on an Explorer given training=")
    explorer = explore(model, x, y, **options)
    try:
        return explorer.save_html(path, layers=layers, samples=samples, tabs=tabs)
    finally:
        explorer.close()
