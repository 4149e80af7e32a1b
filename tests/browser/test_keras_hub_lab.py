"""The KerasHub notebook in JupyterLab: a BERT classifier's sample shows as a table of its inputs, with the
prediction under it, and the tabs answer; a GPT-2 Explorer opens on its per-token diagnostics."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import BrowserPage, screenshot_on_failure
from .lab import cell_widget, open_notebook, open_tab, wait_for_new_heatmap, wait_for_title

pytestmark = pytest.mark.browser

NOTEBOOK = "notebooks/06_keras_hub.ipynb"
TIMEOUT = 30_000  # ms


@pytest.fixture(scope="module")
def lab(browser: Any, lab_url: str, artifacts: Path) -> Iterator[BrowserPage]:
    page = BrowserPage(browser)
    open_notebook(page.page, lab_url, notebook=NOTEBOOK, timeout_ms=240_000)
    page.rendered()
    yield page
    page.close(log=artifacts / "keras-hub-console.txt")


@pytest.fixture(autouse=True)
def _checks(request: pytest.FixtureRequest, lab: BrowserPage, artifacts: Path) -> Iterator[None]:
    yield
    screenshot_on_failure(request, lab.page, artifacts)
    lab.check_console()


def test_a_text_classifiers_sample_is_a_table_of_its_inputs(lab: BrowserPage, artifacts: Path) -> None:
    ex = cell_widget(lab.page, NOTEBOOK, "ex = nbviz.explore(classifier", TIMEOUT)
    table = ex.locator("table").first
    table.wait_for(timeout=TIMEOUT)
    rows = table.locator("tr")
    names = [rows.nth(i).locator("td").first.inner_text() for i in range(rows.count())]
    assert sorted(names) == ["padding_mask", "segment_ids", "token_ids"]
    token_ids = table.locator("tr", has_text="token_ids").locator("td").nth(1).inner_text()
    assert token_ids.startswith("(8) 2 ")  # eight ids, [CLS] (id 2) first
    widget_html = "ancestor::div[contains(concat(' ', normalize-space(@class), ' '), ' widget-html ')][1]"
    caption = table.locator(f"xpath={widget_html}/following-sibling::*[1]")
    assert re.fullmatch(
        r"label (negative|positive)\s+predicted (negative|positive) \(\d+\.\d%\) [\u2713\u2717]",
        caption.inner_text().strip(),
    ), caption.inner_text()
    # The notebook moved it to a transformer layer's activations: a heatmap of tokens x units.
    panel = open_tab(ex, "Activations")
    wait_for_title(panel, "bert_backbone/transformer_layer_1 output", prefix=True, timeout_ms=TIMEOUT)
    wait_for_new_heatmap(panel, [], TIMEOUT)
    ex.screenshot(path=artifacts / "keras-hub-bert.png")


def test_a_language_model_opens_on_its_per_token_diagnostics(lab: BrowserPage, artifacts: Path) -> None:
    lm = cell_widget(lab.page, NOTEBOOK, "lm_ex = nbviz.explore(lm", TIMEOUT)
    lm.scroll_into_view_if_needed()
    panel = lm.locator(".widget-tab-contents > .widget-box:not(.lm-mod-hidden)")
    metrics = panel.locator("table", has_text="accuracy").first
    metrics.wait_for(timeout=TIMEOUT)
    # One row per real token (20 texts of 7 to 19 characters, each with its start token): not 20 samples.
    count = int(re.search(r"data \((\d+)\)", metrics.inner_text()).group(1))
    assert 200 < count < 480, metrics.inner_text()
    lm.screenshot(path=artifacts / "keras-hub-gpt2.png")
