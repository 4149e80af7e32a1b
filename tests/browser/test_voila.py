"""The quickstart notebook as a Voila app: the Explorer renders and answers a layer change."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import BrowserPage, screenshot_on_failure
from .lab import (
    current_tab,
    explorer,
    layer_select,
    visible_panel,
    wait_for_new_heatmap,
    wait_for_settled,
    wait_for_title,
)

pytestmark = pytest.mark.browser

TIMEOUT = 30_000  # ms


@pytest.fixture(scope="module")
def voila(browser: Any, voila_url: str, artifacts: Path) -> Iterator[BrowserPage]:
    page = BrowserPage(browser)
    # Voila runs the whole notebook before it sends the page: TensorFlow's import and the model take a while.
    page.page.goto(f"{voila_url}/", timeout=120_000)
    page.page.wait_for_selector("div.bqplot.figure svg.svg-figure", timeout=120_000)
    page.rendered()
    yield page
    page.close(log=artifacts / "voila-console.txt")


@pytest.fixture(autouse=True)
def _checks(request: pytest.FixtureRequest, voila: BrowserPage, artifacts: Path) -> Iterator[None]:
    yield
    screenshot_on_failure(request, voila.page, artifacts)
    voila.check_console()


def test_voila_shows_the_explorer_and_follows_the_layer_dropdown(voila: BrowserPage, artifacts: Path) -> None:
    page = voila.page
    ex = explorer(page)
    select = layer_select(ex)
    # The notebook's second cell moved the Explorer to conv2 and the activations tab.
    assert select.input_value() == "conv2 (Conv2D)"
    assert select.locator("option").count() == 8
    assert current_tab(ex).inner_text().strip() == "Activations"
    panel = visible_panel(ex)
    wait_for_title(panel, "conv2 output", prefix=True, timeout_ms=TIMEOUT)
    wait_for_new_heatmap(panel, [], TIMEOUT)
    before = wait_for_settled(panel)
    page.screenshot(path=artifacts / "voila-0-conv2.png")

    select.select_option(label="conv1 (Conv2D)")

    after = wait_for_new_heatmap(panel, before, TIMEOUT)
    wait_for_title(panel, "conv1 output", prefix=True, timeout_ms=TIMEOUT)
    page.screenshot(path=artifacts / "voila-1-conv1.png")
    assert set(after) != set(before)
    assert select.input_value() == "conv1 (Conv2D)"
