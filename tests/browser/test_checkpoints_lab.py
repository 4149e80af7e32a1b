"""Checkpoints and comparison in JupyterLab (notebook 04): the Explorer's checkpoint slider shows the snapshot the
notebook chose, a key press on it goes back to the live model and the activations are drawn again; the compare
view draws A, B and B - A and lists the flips."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import BrowserPage, notebook_fixtures
from .lab import cell_widget, heatmap_hrefs, open_tab, visible_panel, wait_for_new_heatmap, wait_for_settled

pytestmark = pytest.mark.browser

NOTEBOOK = "notebooks/04_live_training.ipynb"
TIMEOUT = 60_000  # ms: the notebook trains the CNN for 3 epochs first

lab, _checks = notebook_fixtures(NOTEBOOK, "checkpoints-console.txt")


def test_the_checkpoint_slider_goes_back_to_live(lab: BrowserPage, artifacts: Path) -> None:
    page = lab.page
    ex = cell_widget(page, NOTEBOOK, "ex = nbviz.explore(model", TIMEOUT)
    slider = ex.locator(".widget-hslider", has_text="checkpoint")
    readout = slider.locator(".widget-readout")
    # The notebook's later cell chose the snapshot taken before training, on the activations tab.
    page.wait_for_function(
        "el => el.textContent.trim() === 'epoch 0 (step 0)'", arg=readout.element_handle(), timeout=TIMEOUT
    )
    panel = visible_panel(ex)
    before = wait_for_settled(panel, timeout_ms=TIMEOUT)  # the readout moves before the heatmap comes
    assert before, "the activations tab draws a heatmap"
    slider.scroll_into_view_if_needed()
    page.mouse.move(0, 0)
    ex.screenshot(path=artifacts / "checkpoint-epoch0.png")

    slider.locator(".noUi-handle").focus()
    page.keyboard.press("End")  # the last option: the live model
    page.wait_for_function("el => el.textContent.trim() === 'live'", arg=readout.element_handle(), timeout=TIMEOUT)
    wait_for_new_heatmap(panel, before, TIMEOUT)  # the trained filters' responses replace the untrained ones
    page.mouse.move(0, 0)
    ex.screenshot(path=artifacts / "checkpoint-live.png")
    # And back to the first snapshot: its picture is drawn again (from the memo: no pass computed).
    live = heatmap_hrefs(panel)
    page.keyboard.press("Home")
    page.wait_for_function(
        "el => el.textContent.trim() === 'epoch 0 (step 0)'", arg=readout.element_handle(), timeout=TIMEOUT
    )
    wait_for_new_heatmap(panel, live, TIMEOUT)
    page.mouse.move(0, 0)
    ex.screenshot(path=artifacts / "checkpoint-epoch0-again.png")
    box, header = slider.bounding_box(), ex.bounding_box()
    assert box["x"] >= header["x"] and box["x"] + box["width"] <= header["x"] + header["width"] + 1  # not clipped


def test_the_compare_view_draws_a_b_and_the_difference(lab: BrowserPage, artifacts: Path) -> None:
    page = lab.page
    view = cell_widget(page, NOTEBOOK, "view = nbviz.compare(", TIMEOUT)
    panel = visible_panel(view)
    flips = panel.locator("select option")
    flips.first.wait_for(timeout=TIMEOUT)
    assert flips.count() > 10  # trained against untrained: many digits change class
    page.mouse.move(0, 0)
    view.screenshot(path=artifacts / "compare-predictions.png")
    panel = open_tab(view, "Activations")
    panel.locator("image.heatmap").nth(2).wait_for(timeout=TIMEOUT)  # A, B and B - A
    page.mouse.move(0, 0)
    view.screenshot(path=artifacts / "compare-activations.png")
