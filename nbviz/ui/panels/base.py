"""The panel contract: ``.figure``, ``.values``, ``.widget`` and one ``update(state)`` entry point.

A panel asks the :class:`~nbviz.compute.analysis.analysis.Analysis` and copies the answer's fields onto its marks: no
Keras, no TensorFlow and no arithmetic here (a test reads the sources for it).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ...compute.analysis.analysis import Analysis
from ..markup import escape
from ..plots.figures import MUTED, Plot

#: Raise a panel's errors instead of showing them (tests set it through ``nbviz.testing.raising_panel_errors``).
RAISE_ERRORS = False
#: A menu of classes lists them up to this many; beyond (a vocabulary, a million classes) it offers the predicted
#: class only, so that no widget's state grows with the number of classes.
MOST_CLASSES = 100


def computing_html(work: str) -> str:
    """The message line while a panel computes: what it computes, so a first-time cost is never a mystery."""
    return f'<span style="color:{MUTED}">computing: {escape(work)}...</span>'


def error_html(context: str, err: BaseException) -> str:
    """One readable line for an error shown inside the widget."""
    return (
        f'<span style="color:var(--jp-error-color1, #b00020)">&#9888; {escape(context)}: '
        f"{type(err).__name__}: {escape(str(err))}</span>"
    )


def note_html(note: str) -> str:
    return f'<span style="color:{MUTED}">{escape(note)}</span>' if note else ""


class Remark(str):
    """A note that goes with what a panel drew (how many samples a view left out), not instead of it: ``render``
    returns one where the plots stay; a plain str note clears them."""


def offer(select: widgets.Select, options: list[tuple[str, int]], on_click: Callable[[Any], None]) -> None:
    """New options for a list that a person clicks, none chosen; ``on_click`` does not see the change."""
    select.unobserve(on_click, names="value")
    select.options = options
    select.value = None
    select.observe(on_click, names="value")


@dataclass(frozen=True)
class State:
    """What the Explorer shows: the single source of truth is the Explorer's traitlets, copied here."""

    layer: str
    sample: int
    #: Named selections of samples (a region chosen in the projector): name -> int64 indices, ascending.
    selections: Mapping[str, np.ndarray] = field(default_factory=dict, compare=False)


class Panel:
    """One tab of the Explorer.

    Subclasses build their widgets once in ``build`` and draw a state in ``render``, which only assigns new
    data to existing marks and returns a note for the message line ('' for none). On a note every plot of the
    panel is cleared (its figure replaced by nothing), so no old picture stays under it. ``update`` wraps
    ``render``: an exception becomes a readable line in the panel (``error``; the traceback in ``last_error``),
    the plots are cleared, and the panel stays usable for the next state.

    ``version`` is the model version the panel last drew: the Explorer redraws a panel whose version is not
    the analysis's.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    depends_on: ClassVar[tuple[str, ...]] = ("layer", "sample")  # a change elsewhere leaves the panel as it is

    @classmethod
    def applies(cls, analysis: Analysis) -> bool:
        """Whether the tab belongs in an Explorer of this model (the attention tab only where there is attention)."""
        return True

    def __init__(self, analysis: Analysis) -> None:
        self.analysis = analysis
        self.values: np.ndarray = np.zeros(0, np.float32)
        self.state: State | None = None
        self.stale = True
        self.version: str | None = None
        self.error: str | None = None
        self.last_error: str | None = None
        # Set by the Explorer: move it to a layer, sample or tab (clicks on rules, cells and findings).
        self.navigate: Callable[..., None] = lambda **target: None
        self.set_sample_filter: Callable[[Any], None] = lambda samples: None
        self.select_samples: Callable[[str, Any], None] = lambda name, samples: None
        self.message = widgets.HTML(layout=widgets.Layout(min_height="1.6em"))
        self.widget = widgets.VBox([self.message, *self.build()])

    @property
    def figure(self) -> bq.Figure:
        """The panel's main figure."""
        raise NotImplementedError

    @property
    def plots(self) -> list[Plot]:
        """Every plot of the panel: what a note clears."""
        raise NotImplementedError

    def halt(self) -> None:
        """Stop background work and wait for it to end (before the Explorer shows other weights)."""

    def build(self) -> list[widgets.Widget]:
        """Create the panel's widgets (once); return them in display order."""
        raise NotImplementedError

    def render(self, state: State) -> str:
        """Show ``state`` by updating existing marks; return a note for the message line ('' for none)."""
        raise NotImplementedError

    def pending(self, state: State) -> str:
        """What drawing ``state`` has to compute first, in words ('' for nothing): shown while it does."""
        return ""

    def update(self, state: State) -> None:
        """Bring the panel to ``state``; errors are shown in the panel, never raised into the widget loop."""
        self.state = state
        self.stale = False
        self.version = self.analysis.version
        work = self.pending(state)
        if work:
            # Sent at once: the browser shows it while the kernel computes.
            self.message.value = computing_html(work)
        try:
            note = self.render(state)
            # Every tab says so when the model's outputs are NaN or Inf (for every sample, or for this one).
            said = self.analysis.outputs_note(state.sample) if isinstance(self.analysis, Analysis) else ""
        except Exception as err:  # noqa: BLE001 - any failure must stay inside the widget
            if RAISE_ERRORS:
                raise
            self.last_error = traceback.format_exc()
            self.error = f"{type(err).__name__}: {err}"
            self.message.value = error_html(f"{self.title} for layer {state.layer}", err)
            self._clear()
            return
        self.error = self.last_error = None
        if note and not isinstance(note, Remark):
            self._clear()
        self.message.value = note_html("; ".join(dict.fromkeys(text for text in (note, said) if text)))

    def _clear(self) -> None:
        self.values = np.zeros(0, np.float32)
        for plot in self.plots:
            plot.clear()

    def refresh(self) -> None:
        """Redraw the current state (after a control inside the panel changed)."""
        if self.state is not None:
            self.update(self.state)
