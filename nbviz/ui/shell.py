"""ModelView: what the Explorer and the CompareView share, a header (title, layer dropdown, sample slider and
more), a layer graph and a sample view on the left, tabs of panels on the right, and the traitlets ``layer``,
``sample`` and ``tab`` that every control only sets."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Collection, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import numpy as np
import traitlets

from .layer_graph import LayerGraph
from .lifecycle import close_owned, forget_callbacks
from .markup import escape
from .panels.base import Panel, State, computing_html, error_html
from .panels.worker import THREAD_NAME
from .plots.style import THEME_CSS
from .report import write_report
from .sample_view import SampleView
from .state import Checked, Coalescer, InvalidType, InvalidValue, after_each_cell, checked, in_kernel, running_cell

if TYPE_CHECKING:
    from ..compute import Questions

#: The narrowest the tabs get beside the graph column; narrower, they go under it.
MIN_TABS_WIDTH = 480
#: The sample slider's width in px: at least ``SLIDER_PX[0]``, more for more samples (``SLIDER_PX[1]`` per decade
#: of them), at most ``SLIDER_PX[2]``. At 124 px, 450 samples were 4 to a pixel.
SLIDER_PX = (240, 60, 520)
#: A panel's control that sets the slider's filter is a checkbox described "slider: ..." (the projector's
#: "slider: this selection only", the diagnostics' "slider: misclassified samples only"): its words name the
#: filter in the header, and "show all" unticks it, so that the box and the slider never disagree.
FILTER_BOX = "slider: "
#: Where a view draws its first picture (the visible tab and the sample view): in a worker thread when None and
#: a kernel shows it, so that explore() returns at once and the header, the layer graph and the tabs show (and
#: answer) while the model's first forward pass runs; in the caller's thread otherwise (a script, a test or a
#: report reads the values as soon as the view exists). True or False decides for every view.
BACKGROUND_START: bool | None = None
#: Seconds the view waits for a first picture drawn in the background before it returns: a small model's view
#: shows complete, without a "computing" line that would be gone a moment later.
FIRST_PICTURE_WAIT = 0.1


def slider_width(n_samples: int) -> str:
    """The sample slider's CSS width for ``n_samples`` (see ``SLIDER_PX``)."""
    least, per_decade, most = SLIDER_PX
    grown = least - 2 * per_decade + per_decade * math.log10(max(n_samples, 1))  # 100 samples: the least
    return f"{round(min(most, max(least, grown)))}px"


#: The view's own CSS, scoped by its class: tab names are never cut (the tab bar wraps to a second row
#: instead of shrinking them to "Diagnos", as ipywidgets' fixed tab width did).
STYLE = (
    """<style>
.nbviz-view .lm-TabBar-content { flex-wrap: wrap; }
.nbviz-view .lm-TabBar-tab { flex: 0 0 auto !important; min-width: 0 !important; max-width: none !important; }
.nbviz-view .lm-TabBar { height: auto !important; max-height: none !important; min-height: fit-content; }
.nbviz-view .lm-TabBar-tab { color: var(--jp-ui-font-color1, #1a1a1a) !important; }
"""
    + THEME_CSS
    + "</style>"
)


class ModelView(widgets.VBox):
    """The traitlets ``layer``, ``sample`` and ``tab`` are the single source of truth: the dropdown, a click on
    the graph and the slider only set them, and observers bring the visible panel up to date. A hidden panel is
    marked stale and catches up when it is shown. A bad value raises (a TypeError or ValueError that is also
    traitlets' TraitError) and changes nothing.

    A subclass makes ``analysis`` (what the panels ask: its ``data``, ``graph``, ``pinned``, ``check_version`` and
    ``refresh``), the ``panels`` and the ``graph_view``, then calls :meth:`_compose` and :meth:`_start`.
    """

    # Checked by the validators below, so that a wrong type raises TypeError naming the attribute (a typed
    # trait would raise traitlets' own TraitError first).
    layer = Checked("")
    sample = Checked(0)
    tab = Checked("weights")

    analysis: Questions
    panels: dict[str, Panel]
    #: The attributes that hold the model(s) (through an analysis): dropped by :meth:`close`.
    _holding: tuple[str, ...] = ()
    graph_view: LayerGraph
    sample_view: SampleView

    def _compose(self, title: str, controls: Sequence[widgets.Widget], left: Sequence[widgets.Widget]) -> None:
        """Lay out the header (``title``, the dropdown, the slider, ``controls`` and the message line) and the
        body (the graph, the sample view and ``left`` on the left, the tabs on the right)."""
        graph, n_samples = self.analysis.graph, self.analysis.data.n_samples
        options = [(f"{n.name} ({n.class_name})", n.name) for n in graph.nodes]
        # As wide as its longest entry needs (BERT's were cut at 340 px), up to 640 px: 90 px for "layer" and
        # the arrow, 7.5 px a character of the 13 px font.
        longest = max((len(label) for label, _ in options), default=0)
        self.dropdown = widgets.Dropdown(
            options=options,
            description="layer",
            layout=widgets.Layout(width=f"{min(640, max(340, round(90 + 7.5 * longest)))}px", max_width="100%"),
        )
        self.slider = widgets.IntSlider(
            value=0,
            min=0,
            max=max(n_samples - 1, 0),
            description="sample",
            layout=widgets.Layout(width=slider_width(n_samples)),
        )
        # While a filter is on, the slider walks positions in it: its own readout would show the position (36)
        # beside sample #253, so it hides, and this says which sample and where it is in the filter.
        self.slider_note = widgets.HTML(layout=widgets.Layout(display="none"))
        # The filter, whenever one is on: how many samples the slider walks, which filter, and a way out.
        self.filter_line = widgets.HTML()
        self.show_all = widgets.Button(
            description="show all", tooltip="let the slider walk every sample", layout=widgets.Layout(width="auto")
        )
        self.filter_chip = widgets.HBox(
            [self.filter_line, self.show_all],
            layout=widgets.Layout(
                display="none",
                align_items="center",
                border="1px solid var(--jp-border-color1, #bbb)",
                padding="0 4px",
                margin="2px 6px",
            ),
        )
        # The tabs take the rest and scroll when a panel is wider (their layout given here: a Layout replaced later
        # would stay open, out of the view's reach).
        # Each tab's page holds its panel once the tab is first shown: the page then draws the visible tab's
        # figures only (an Explorer's ten tabs hold 33 figures, whose drawing held its first paint past 2 s).
        self._pages = {name: widgets.VBox() for name in self.panels}
        self.tabs = widgets.Tab(
            children=list(self._pages.values()),
            layout=widgets.Layout(flex=f"1 1 {MIN_TABS_WIDTH}px", min_width="0", overflow="auto"),
        )
        self.tabs.titles = tuple(p.title for p in self.panels.values())
        self.message = widgets.HTML()
        self.add_class("nbviz-view")
        header = widgets.HBox(
            [
                widgets.HTML(STYLE),
                widgets.HTML(title),
                self.dropdown,
                # The note wraps with its slider, never onto a row of its own away from it.
                widgets.HBox([self.slider, self.slider_note], layout=widgets.Layout(align_items="center")),
                self.filter_chip,
                *controls,
                self.message,
            ],
            layout=widgets.Layout(align_items="center", flex_flow="row wrap"),
        )
        # The graph and the sample keep their width; the tabs take the rest (above). In an output narrower than
        # both (a small window, the file browser open) the tabs go under them.
        side = widgets.VBox(
            [self.graph_view.widget, self.sample_view.widget, *left],
            # As tall as what it holds (stretched to a taller tab, it was a blank column under the sample).
            layout=widgets.Layout(flex="0 0 310px", width="310px", align_self="flex-start"),
        )
        body = widgets.HBox([side, self.tabs], layout=widgets.Layout(width="100%", flex_flow="row wrap"))
        self.children = [header, body]

    def _start(self, initial: str, slider_delay: float, observed: Sequence[str] = ("layer", "sample")) -> None:
        """Wire the controls and the observers, show ``initial`` and hook the after-cell check."""
        # The slider walks positions in `order`: every sample, or a filtered subset (e.g. misclassified only).
        self.order = np.arange(self.analysis.data.n_samples)
        #: What the slider's filter is, in words ('' while it walks every sample), and the panel that set it.
        self.filter_reason = ""
        self._filter_panel: Panel | None = None
        for panel in self.panels.values():
            panel.navigate = self.navigate
            panel.set_sample_filter = self._filter_setter(panel)
        self.show_all.on_click(lambda _: self._show_all())
        self._sample_shown: tuple[int, str] | None = None
        # In a kernel a worker thread draws (`_drawer`), so that a click never waits on the model; the first
        # picture is its first draw. A change while it draws sets `_again`, and it draws the new state before it
        # lets go (both under `_gate`). `_idle` is set while no worker draws, `_ready` once the first picture is.
        self._gate = threading.Lock()
        self._again = self._said = False
        self._ready, self._idle = threading.Event(), threading.Event()
        self._idle.set()
        self._drawer: threading.Thread | None = None
        self._background = in_kernel() if BACKGROUND_START is None else BACKGROUND_START
        self._from_code = 0  # > 0 while the view's own code moves it and reads what it drew (save_html)
        self._slide = Coalescer(self._set_sample, slider_delay)
        self.dropdown.value = self.layer = initial  # before the observers: the first picture below draws it
        self.dropdown.observe(lambda change: self._select_layer(change["new"]), names="value")
        self.slider.observe(lambda change: self._slide(change["new"]), names="value")
        self.tabs.observe(self._tab_selected, names="selected_index")
        self.observe(self._on_state, names=list(observed))
        self.observe(self._on_tab, names="tab")
        self.graph_view.highlight(initial)
        self._show_page()
        if self._background:
            self._say_computing()
            self._refresh_visible(wait=False)
            self._ready.wait(FIRST_PICTURE_WAIT)
        else:
            self._refresh_visible()
        self._unhook = after_each_cell(self)

    # ----------------------------------------------------------------------------------------- validation
    def _layer_names(self) -> Collection[str]:
        """The names ``layer`` may take."""
        return self.analysis.graph.names

    @traitlets.validate("layer")
    def _valid_layer(self, proposal: dict[str, Any]) -> str:
        name = proposal["value"]
        if not isinstance(name, str):
            raise InvalidType(f"layer: expected a layer name (str), got {type(name).__name__}")
        known = self._layer_names()
        if name not in known:
            first = list(known)[:8]
            raise InvalidValue(f"layer: expected one of {first}{'...' if len(known) > 8 else ''}, got {name!r}")
        return str(name)

    @traitlets.validate("sample")
    def _valid_sample(self, proposal: dict[str, Any]) -> int:
        return checked(self.analysis.data.check_sample, proposal["value"])

    @traitlets.validate("tab")
    def _valid_tab(self, proposal: dict[str, Any]) -> str:
        if not isinstance(proposal["value"], str):
            raise InvalidType(f"tab: expected a tab name (str), got {type(proposal['value']).__name__}")
        if proposal["value"] not in self.panels:
            raise InvalidValue(f"tab: expected one of {list(self.panels)}, got {proposal['value']!r}")
        return str(proposal["value"])

    @property
    def model_names(self) -> tuple[str, ...]:
        """The name of the model shown (a comparison: of A and of B)."""
        return (self.analysis.model.name,)

    # ----------------------------------------------------------------------------------------- moving
    @property
    def state(self) -> State:
        return State(layer=self.layer, sample=self.sample)

    def navigate(self, layer: str | None = None, sample: int | None = None, tab: str | None = None) -> None:
        """Move the view (what a click on a rule, a confusion cell, a finding or a flip does); all or nothing."""
        with self.hold_trait_notifications():  # checked together at the end, and rolled back together
            if layer is not None:
                self.layer = layer
            if sample is not None:
                self.sample = sample
            if tab is not None:
                self.tab = tab

    def set_sample_filter(self, samples: Any = None, reason: str | None = None) -> None:
        """Let the slider walk only ``samples`` (indices into x), or every sample again with None.

        The header says so while a filter is on ("showing 40 of 450 samples: selection 1 [show all]"), and the
        slider says where the sample is in it ("#253: 37 of 40 in selection"). ``reason`` names the filter; by
        default a named selection holding exactly these samples, else "chosen samples".
        """
        self._filter(None, samples, reason)

    def _filter_setter(self, panel: Panel) -> Any:
        """``set_sample_filter`` for ``panel``: the filter it sets is named after it where it gives no reason."""

        def set_filter(samples: Any = None, reason: str | None = None) -> None:
            self._filter(panel, samples, reason)

        return set_filter

    def _filter(self, panel: Panel | None, samples: Any, reason: str | None) -> None:
        order = self.analysis.data.sample_order(samples)
        self.order = order
        filtered = samples is not None
        self.filter_reason = (reason or self._filter_name(panel, order)) if filtered else ""
        self._filter_panel = panel if filtered else None
        n = self.analysis.data.n_samples
        self.filter_line.value = (
            f"showing <b>{len(order):,}</b> of {n:,} samples: {escape(self.filter_reason)}" if filtered else ""
        )
        self.filter_chip.layout.display = None if filtered else "none"
        self.slider_note.layout.display = None if filtered else "none"
        self.slider.readout = not filtered
        if not np.any(order == self.sample):
            self.sample = int(order[0])  # the slider goes to position 0, inside any range
        # A smaller max clamps the slider's value, and the clamped position would move the sample (sample 300 at
        # position 20 of a 40-sample selection became its 40th): the value moves first when the range shrinks.
        if len(order) - 1 >= self.slider.max:
            self.slider.max = len(order) - 1
            self._sync_slider()
        else:
            self._sync_slider()
            self.slider.max = len(order) - 1

    def _filter_name(self, panel: Panel | None, order: np.ndarray) -> str:
        """The words for a filter given without them: a named selection holding exactly ``order``, else the
        words of ``panel``'s ticked "slider: ..." box, else "chosen samples"; with the tab it was set on."""
        where = f" ({panel.title} tab)" if panel is not None else ""
        for name, chosen in getattr(self, "selections", {}).items():
            if np.array_equal(chosen, order):
                return f"{name}{where}"
        box = self._filter_box(panel)
        if box is not None:
            return f"{box.description[len(FILTER_BOX) :]}{where}"
        return f"chosen samples{where}"

    @staticmethod
    def _filter_box(panel: Panel | None) -> widgets.Checkbox | None:
        """``panel``'s ticked checkbox that set the slider's filter (described "slider: ..."), if any."""
        for value in vars(panel).values() if panel is not None else ():
            if isinstance(value, widgets.Checkbox) and value.value and value.description.startswith(FILTER_BOX):
                return value
        return None

    def _show_all(self) -> None:
        """The header's "show all": every sample again, and the box that set the filter unticked."""
        box = self._filter_box(self._filter_panel)
        if box is not None:
            box.value = False  # its panel lifts the filter, as when a person unticks it
        if self.filter_reason:  # no box, or its panel kept the filter
            self.set_sample_filter(None)

    def refresh(self) -> None:
        """Compute everything shown again from the model(s) as they are now (after a change the version cannot
        see, such as one weight assigned in place; see :mod:`nbviz.compute.model.version`)."""
        self.analysis.refresh()
        self._refresh_visible()

    def save_html(
        self,
        path: str | os.PathLike[str],
        layers: Sequence[str] | None = None,
        samples: Sequence[int] | None = None,
        tabs: Sequence[str] | None = None,
    ) -> Path:
        """Write the chosen views to one self-contained HTML file: no kernel, server or network is needed to read it.

        Every combination of the chosen tabs, layers and samples is drawn as the widget draws it (a tab that does
        not depend on the layer or the sample, as diagnostics and findings, once) with the sample view and the
        model summary; redact mode holds in the file. A reader switches among the exported tabs, layers and
        samples and hovers bars for their values; everything else needs the notebook.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (its folder must exist).
        layers : list of str, optional
            By default up to 8 learned layers, spread over the model.
        samples : list of int, optional
            By default the first 5.
        tabs : list of str, optional
            By default weights, activations, gradients, saliency, diagnostics and findings (those this view has).

        Returns
        -------
        pathlib.Path
            The file written. The view is back where it was.
        """
        self._from_code += 1  # each state the report draws is drawn here, not by a worker
        try:
            self.wait()
            return write_report(self, path, layers, samples, tabs)
        finally:
            self._from_code -= 1

    # ----------------------------------------------------------------------------------------- events
    def _select_layer(self, name: str) -> None:
        self.layer = name

    def _set_sample(self, position: int) -> None:
        self.sample = int(self.order[min(position, len(self.order) - 1)])

    def _sync_slider(self) -> None:
        position = int(np.searchsorted(self.order, self.sample))
        inside = position < len(self.order) and self.order[position] == self.sample
        if inside:
            self.slider.value = position
        if self.filter_reason:  # a sample reached otherwise (a click on a point) may lie outside the filter
            where = f"{position + 1:,} of {len(self.order):,} in selection" if inside else "not in the selection"
            self.slider_note.value = f"#{self.sample}: {where}"

    def _tab_selected(self, change: dict[str, Any]) -> None:
        if change["new"] is not None:
            self.tab = list(self.panels)[change["new"]]

    def _on_state(self, change: dict[str, Any]) -> None:
        # Controls follow the traitlets (setting an equal value fires nothing, so there is no loop).
        self.dropdown.value = self.layer
        self._sync_slider()
        self.graph_view.highlight(self.layer)
        for panel in self.panels.values():
            panel.stale = panel.stale or change["name"] in panel.depends_on
        self._refresh_visible()

    def _on_tab(self, change: dict[str, Any]) -> None:
        self.tabs.selected_index = list(self.panels).index(self.tab)
        self._show_page()
        self._refresh_visible()

    def _show_page(self) -> None:
        """Put the visible tab's panel in its page, the first time it is shown."""
        page = self._pages[self.tab]
        if not page.children:
            page.children = (self.panels[self.tab].widget,)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the view has drawn its state (in a kernel it draws in a worker, so that the page answers at
        once: the first picture while the model's first pass runs, then each change); True once it has, False
        when ``timeout`` seconds passed first."""
        return self._ready.wait(timeout) and self._idle.wait(timeout)

    @property
    def first_pass_words(self) -> str:
        """What the first picture waits for, in words."""
        return f"the first forward pass of {len(self.analysis.graph.names):,} layers"

    def _say_computing(self) -> None:
        """Say in the visible tab (unless it is drawn already) and in the sample view what the first picture waits
        for."""
        shown = computing_html(self.first_pass_words)
        panel = self.panels[self.tab]
        if panel.stale or panel.version is None:
            panel.message.value = shown
            self._said = True
        if self._sample_shown is None:
            self.sample_view.text.value = shown

    def _refresh_visible(self, wait: bool | None = None) -> None:
        """Bring the visible panel, the sample view and the graph's colours to the state and the version (checked
        once). In a kernel a click leaves it to the drawing worker, so that the widget answers at once (the first
        picture's worker, or a new one), and a cell's code (``wait``; by default while one runs) waits for that
        worker and draws, so that its next line reads what it set."""
        if not self._background:
            self._draw_visible()
            self._ready.set()
            return
        with self._gate:
            if not (self._from_code or running_cell() if wait is None else wait):
                if self._drawer is not None:
                    self._again = True
                    if not self._ready.is_set():
                        self._say_computing()
                else:
                    self._idle.clear()
                    self._drawer = threading.Thread(target=self._draw_in_background, daemon=True, name=THREAD_NAME)
                    self._drawer.start()
                return
        self._idle.wait()  # no click comes in meanwhile: the kernel's thread runs this cell
        self._draw_visible()
        self._ready.set()

    def _draw_in_background(self) -> None:
        """The drawing worker: draw the state, again while it changed meanwhile."""
        while True:
            try:
                if self._said:  # what the kernel's thread said meanwhile ("computing: ...") is drawn over
                    self._said = False
                    self.panels[self.tab].stale = True
                self._draw_visible(pin=False)  # a cell may run meanwhile: every answer checks its version
                self._ready.set()
            except Exception as err:  # noqa: BLE001 - a closed view (ends below), or a failure the widget must show
                if self.comm is not None:
                    self.message.value = error_html("drawing the view", err)
            with self._gate:
                if not self._again or self.comm is None:
                    self._drawer = None  # decided with the click's check: none is left undrawn
                    self._idle.set()
                    break
                self._again = False
        self._ready.set()  # also when the view closed first: nobody waits for a picture that will not come

    def _draw_visible(self, pin: bool = True) -> None:
        with self.analysis.pinned() if pin else nullcontext(self.analysis.version) as version:
            # The panel first: on the gradients tab its backward pass gives the sample view's forward pass too.
            panel = self.panels[self.tab]
            if panel.stale or panel.version != version:
                panel.update(self.state)
            if self._sample_shown != (self.sample, version):
                self._show_sample(version)
            self.graph_view.update(self.sample, version)  # its colours, where the metric reads either

    def _show_sample(self, version: str) -> None:
        # Like the panels, the sample view reports a failure in the widget and leaves the rest usable.
        self._sample_shown = (self.sample, version)
        try:
            self.sample_view.show(self.sample)
            self._sample_shown_too()
            self.message.value = ""
        except Exception as err:  # noqa: BLE001 - must not escape into the widget loop
            self.message.value = error_html(f"sample {self.sample}", err)

    def _sample_shown_too(self) -> None:
        """What else follows the sample (the CompareView's line for model B)."""

    def _after_cell(self) -> None:
        """After a notebook cell: if its code changed the weights, what is on show is drawn again."""
        try:
            self.analysis.check_version()
            self._refresh_visible(wait=False)  # the cell that made the view ends while its first picture is drawn
        except Exception as err:  # noqa: BLE001 - a hook's error would print a traceback under every cell
            self.message.value = error_html("after the last cell", err)

    def _not_owned(self) -> list[Any]:
        """What this view shows but did not make, so does not close (the Explorer's LiveTraining)."""
        return []

    def close(self) -> None:
        """Close the view and every widget it made, after stopping its background work, and let go of the model(s).

        Afterwards ``ipywidgets.Widget.widgets`` holds none of this view's widgets, and the view, even while still
        referenced, holds no analysis, panel or model: once nothing else holds a model, ``gc.collect()`` frees it.
        Closing twice does nothing more.
        """
        if self.comm is None:  # closed already
            return
        getattr(self, "_unhook", lambda: None)()  # also when __init__ failed before hooking (close runs in __del__)
        panels = getattr(self, "panels", {})
        for panel in panels.values():
            panel.halt()  # no worker may go on computing (and drawing) into closed widgets
        close_owned(self, keep=self._not_owned())
        super().close()
        forget_callbacks(self)
        # What the closed widgets reach no more, this view must not hold either.
        self.panels = {}
        for name in ("graph_view", "sample_view", "_slide", *self._holding):
            self.__dict__.pop(name, None)
        self.children = []
