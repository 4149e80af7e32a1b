"""The quickstart in Jupyter Notebook 7 (``jupyter notebook``), with the checks of the JupyterLab test: the layer
dropdown redraws the weights, the slider moves with the keyboard and redraws the activations, a tab change shows
its panel; no console error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .lab import (
    Console,
    explorer,
    layer_select,
    open_notebook7,
    open_tab,
    sample_readout,
    start_notebook7,
    visible_panel,
    wait_for_new_heatmap,
    wait_for_settled,
    wait_for_title,
)

pytestmark = pytest.mark.browser

TIMEOUT = 60_000  # ms
# Notebook 7.6 (with this environment's lab extensions) throws this while it loads any notebook, one holding only
# print(1) too: its own settings code (notebook_core.js, in a settings "load" signal), not nbviz's.
NOTEBOOK7_LOAD_ERROR = "Cannot read properties of undefined (reading 'schema')"


@pytest.fixture(scope="module")
def notebook7(browser: Any, artifacts: Path) -> Iterator[tuple[Any, Console]]:
    url, stop = start_notebook7(log=artifacts / "notebook7-server.log")
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    console = Console().attach(page)
    try:
        open_notebook7(page, url, timeout_ms=240_000)
        console.ready = True  # bqplot's known race while the notebook first renders is not this test's
        wait_for_settled(explorer(page))
        yield page, console
    finally:
        page.close()
        stop()


def test_the_quickstart_works_in_notebook_7(notebook7: tuple[Any, Console], artifacts: Path) -> None:
    page, console = notebook7
    ex = explorer(page)
    panel = visible_panel(ex)
    before = wait_for_settled(panel)
    layer_select(ex).select_option(label="conv1 (Conv2D)")
    wait_for_new_heatmap(panel, before, TIMEOUT)
    wait_for_title(panel, "conv1 output", prefix=True, timeout_ms=TIMEOUT)

    sample = int(sample_readout(ex).inner_text())
    activations = wait_for_settled(panel)
    # A click on the slider's track (Notebook 7 takes the arrow keys for its own shortcuts).
    track = ex.locator(".widget-hslider .noUi-target").first
    box = track.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] / 2)
    page.wait_for_function(
        "([el, old]) => el.textContent.trim() !== old",
        arg=[sample_readout(ex).element_handle(), str(sample)],
        timeout=TIMEOUT,
    )
    wait_for_new_heatmap(panel, activations, TIMEOUT)

    weights = open_tab(ex, "Weights")
    wait_for_title(weights, "kernel", prefix=True, timeout_ms=TIMEOUT)
    wait_for_new_heatmap(weights, [], TIMEOUT)
    page.mouse.move(0, 0)
    page.screenshot(path=artifacts / "notebook7.png")
    page_errors = [e for e in console.page_errors if e != NOTEBOOK7_LOAD_ERROR]
    assert console.errors == [] and page_errors == [], console.errors[:5] + page_errors[:5]
