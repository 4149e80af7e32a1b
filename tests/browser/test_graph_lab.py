"""The layer graph of ResNet50 in JupyterLab: it draws as an outline of groups, a click on a closed group opens
it in place, and a click on its header closes it again."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import BrowserPage, notebook_fixtures
from .lab import cell_widget

pytestmark = pytest.mark.browser

NOTEBOOK = "notebooks/07_large_models.ipynb"
TIMEOUT = 60_000  # ms: the notebook builds ResNet50 and a 3,002-layer model

lab, _checks = notebook_fixtures(NOTEBOOK, "graph-console.txt")

CLOSED = "\u25b8 conv3_block2 .. conv3_block4 x3"
OPEN = "\u25be conv3_block2 .. conv3_block4 x3"


def labels(graph) -> list[str]:
    return graph.locator("text.dot_text").evaluate_all("els => els.map(e => e.textContent)")


def test_resnet50s_graph_draws_in_groups_and_a_click_opens_one(lab: BrowserPage, artifacts: Path) -> None:
    page = lab.page
    ex = cell_widget(page, NOTEBOOK, "ex = nbviz.explore(resnet", TIMEOUT)
    graph = ex.locator("div.bqplot.figure").first
    square = graph.locator("g.object_grp").filter(has=page.locator("text.dot_text", has_text=CLOSED))
    square.wait_for(timeout=TIMEOUT)
    shown = labels(graph)
    # The top level and its stages, not 177 layers; the notebook opened conv4 around the layer it chose.
    assert "\u25be conv2 (32)" in shown and "conv4_block5_2_conv" in shown and "predictions" in shown
    assert len(shown) < 60, len(shown)
    assert "parameters (log scale" in ex.inner_text()  # the notebook coloured it by parameter count
    graph.scroll_into_view_if_needed()
    page.mouse.move(0, 0)
    ex.screenshot(path=artifacts / "graph-resnet50-closed.png")

    square.locator("path.dot").click()

    header = graph.locator("text.dot_text", has_text=OPEN)
    header.wait_for(timeout=TIMEOUT)
    opened = labels(graph)
    blocks = ["\u25b8 conv3_block2 (10)", "\u25b8 conv3_block3 (10)", "\u25b8 conv3_block4 (10)"]
    assert opened[opened.index(OPEN) + 1 : opened.index(OPEN) + 4] == blocks
    page.mouse.move(0, 0)
    ex.screenshot(path=artifacts / "graph-resnet50-opened.png")

    graph.locator("g.object_grp").filter(has=page.locator("text.dot_text", has_text=OPEN)).locator("path.dot").click()
    graph.locator("text.dot_text", has_text=CLOSED).wait_for(timeout=TIMEOUT)
    assert not set(blocks) & set(labels(graph))
