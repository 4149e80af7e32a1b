"""The header says when the slider walks a filter: how many samples of how many, which filter, where the sample
is in it, and a "show all" that lifts it (and unticks the box that set it); the slider is wide enough to aim."""

from __future__ import annotations

import numpy as np
import pytest

import nbviz
from nbviz.testing import raising_panel_errors
from nbviz.ui.shell import slider_width


@pytest.fixture(scope="module")
def ex(digits):
    with raising_panel_errors():
        explorer = nbviz.explore(digits.model, digits.x_test[:450], digits.y_test[:450], class_names=digits.class_names)
        explorer.layer = "dense"
        yield explorer


def _brush(panel, x_range, y_range):
    """What a person does: brush mode, then a rectangle dragged over the points and let go."""
    panel.mode.value = "brush"
    brush = panel.plot.brush
    brush.brushing = True
    brush.selected_x, brush.selected_y = np.array(x_range), np.array(y_range)
    brush.brushing = False


def _shown(widget) -> bool:
    return widget.layout.display != "none"


def test_a_brushed_selection_shows_in_the_header_and_show_all_lifts_it(ex):
    n = 450
    assert not _shown(ex.filter_chip) and not _shown(ex.slider_note) and ex.slider.readout
    ex.tab = "projector"
    panel = ex.panels["projector"]
    c = panel.values
    x_range = (float(np.min(c[:, 0])) - 1, float(np.median(c[:, 0])))
    y_range = (float(np.median(c[:, 1])), float(np.max(c[:, 1])) + 1)
    _brush(panel, x_range, y_range)
    inside = np.flatnonzero((c[:, 0] <= x_range[1]) & (c[:, 1] >= y_range[0]))
    assert 10 < inside.size < n
    # The header says the filter is on, with its counts and its name; the slider says where the sample is in it.
    assert _shown(ex.filter_chip) and ex.filter_line.value == (
        f"showing <b>{inside.size}</b> of {n} samples: selection 1 (Projector tab)"
    )
    assert ex.filter_reason == "selection 1 (Projector tab)"
    assert not ex.slider.readout and _shown(ex.slider_note)  # the position (36) never reads as a sample (#253)
    for position in (0, 7, inside.size - 1):
        ex.slider.value = position
        assert ex.sample == inside[position]
        assert ex.slider_note.value == f"#{inside[position]}: {position + 1} of {inside.size} in selection"
    ex.sample = int(inside[3])  # moved elsewhere (a click on a point): the note follows
    assert ex.slider.value == 3 and ex.slider_note.value == f"#{inside[3]}: 4 of {inside.size} in selection"
    outside = int(np.setdiff1d(np.arange(n), inside)[0])
    ex.sample = outside  # a sample the filter does not hold (a neighbour clicked): said so, never a stale place
    assert ex.slider_note.value == f"#{outside}: not in the selection"
    ex.sample = int(inside[3])
    # "show all": every sample again, the slider's readout is the sample, and the box that set it is unticked.
    ex.show_all.click()
    assert not panel.walk.value
    assert not _shown(ex.filter_chip) and not _shown(ex.slider_note) and ex.filter_reason == ""
    assert ex.slider.readout and ex.slider.description == "sample"
    assert ex.slider.max == n - 1 and len(ex.order) == n and ex.slider.value == ex.sample == inside[3]
    # Ticking the box again walks the selection again, and says so.
    panel.walk.value = True
    assert _shown(ex.filter_chip) and f"showing <b>{inside.size}</b> of {n}" in ex.filter_line.value
    panel.walk.value = False  # unticked by a person: the header says nothing more
    assert not _shown(ex.filter_chip) and ex.slider.readout and len(ex.order) == n
    panel.mode.value = "click"
    ex.select("selection 1", [])


def test_filters_set_elsewhere_are_named_too(ex, digits):
    n = 450
    wrong = np.flatnonzero(np.argmax(digits.model(digits.x_test[:n]), axis=1) != digits.y_test[:n])
    assert wrong.size
    ex.tab = "diagnostics"
    box = ex.panels["diagnostics"].misclassified
    box.value = True
    try:
        assert ex.filter_line.value == (
            f"showing <b>{wrong.size}</b> of {n} samples: misclassified samples only (Diagnostics tab)"
        )
        ex.show_all.click()
        assert not box.value and not _shown(ex.filter_chip) and len(ex.order) == n
    finally:
        box.value = False
    # From code: a reason given is shown as given; none, "chosen samples".
    ex.set_sample_filter([5, 9, 2], reason="three samples I picked")
    assert ex.filter_line.value == f"showing <b>3</b> of {n} samples: three samples I picked"
    ex.sample = 9
    assert ex.slider_note.value == "#9: 3 of 3 in selection"
    ex.set_sample_filter([1, 4])
    assert ex.filter_line.value.endswith("samples: chosen samples") and ex.sample == 1
    ex.show_all.click()
    assert not _shown(ex.filter_chip) and ex.slider.max == n - 1 and ex.slider.value == 1


def test_the_slider_is_wide_enough_to_aim(ex):
    assert ex.slider.layout.width == slider_width(450)
    widths = [int(slider_width(n)[:-2]) for n in (1, 100, 450, 10_000, 60_000, 10**9)]
    assert widths[0] == widths[1] == 240  # at least 240 px
    assert widths[1] < widths[2] < widths[3] < widths[4] <= widths[5] == 520  # more for more samples, at most 520
    assert widths[2] >= 2 * 124  # 450 samples: twice the 124 px it was


def test_a_filter_holding_the_sample_keeps_it(ex):
    ex.sample = 300
    ex.set_sample_filter(np.arange(250, 350, 2))  # 300 is 26th of 50: the slider's 300 was past the new range
    try:
        assert ex.sample == 300 and ex.slider.value == 25 and ex.slider.max == 49
        assert ex.slider_note.value == "#300: 26 of 50 in selection"
    finally:
        ex.set_sample_filter(None)
    assert ex.sample == 300 and ex.slider.value == 300 and ex.slider.max == 449
