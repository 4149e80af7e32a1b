"""The KerasHub notebook in JupyterLab: a BERT classifier's sample shows its tokens as text, with the prediction
under it; its attention tab opens a head on a click and answers a hovered token; a GPT-2 Explorer opens on its
per-token diagnostics."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import BrowserPage, notebook_fixtures
from .lab import cell_widget, open_tab, wait_for_new_heatmap, wait_for_title

pytestmark = pytest.mark.browser

NOTEBOOK = "notebooks/06_keras_hub.ipynb"
TIMEOUT = 30_000  # ms


lab, _checks = notebook_fixtures(NOTEBOOK, "keras-hub-console.txt")


def test_a_text_classifiers_sample_shows_its_tokens_as_text(lab: BrowserPage, artifacts: Path) -> None:
    ex = cell_widget(lab.page, NOTEBOOK, "ex = nbviz.explore(classifier", TIMEOUT)
    chips = ex.locator(".nbviz-token")
    chips.first.wait_for(timeout=TIMEOUT)
    tokens = chips.all_inner_texts()
    # The model's own tokenizer reads the ids: [CLS], the words of a text of the notebook, [SEP]; no padding.
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and "[PAD]" not in tokens, tokens
    assert " ".join(tokens[1:-1]) in lab.page.content()  # one of the notebook's texts
    table = ex.locator("table").first
    rows = table.locator("tr")
    assert [rows.nth(i).locator("td").first.inner_text() for i in range(rows.count())] == ["segment_ids"]
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


def test_the_attention_tab_opens_a_head_and_answers_a_hovered_token(lab: BrowserPage, artifacts: Path) -> None:
    ex = cell_widget(lab.page, NOTEBOOK, "ex = nbviz.explore(classifier", TIMEOUT)
    tokens = ex.locator(".nbviz-token").all_inner_texts()
    panel = open_tab(ex, "Attention")
    wait_for_title(panel, "model view: 2 layers x 2 heads", prefix=True, timeout_ms=TIMEOUT)
    wait_for_new_heatmap(panel, [], TIMEOUT)
    ex.screenshot(path=artifacts / "keras-hub-attention-model-view.png")
    # One click cell over each thumbnail (a GridHeatMap's cells, row by row).
    thumbnails = panel.locator(".nbviz-plot:visible rect.heatmapcell")
    assert thumbnails.count() == 4  # 2 layers x 2 heads
    thumbnails.nth(3).click()  # layer 1, head 1
    shown = panel.locator(".nbviz-plot:visible")
    wait_for_title(shown, "bert_backbone/transformer_layer_1/self_attention_layer head 1", prefix=True)
    # The tokens label the map's rows and columns: the sample view's tokens, in order.
    labels = panel.locator(".nbviz-plot:visible text.element")
    labels.first.wait_for(timeout=TIMEOUT)
    assert labels.evaluate_all("els => els.map(e => e.textContent)") == tokens + tokens  # SVG: no innerText
    # Each query token has a hover target over it (bqplot's labels send no hover of their own): the second one.
    shown.locator("path.dot").nth(1).hover()
    hovered = panel.locator(".widget-html", has_text="attends most to").first
    hovered.wait_for(timeout=TIMEOUT)
    assert hovered.inner_text().startswith(f"{tokens[1]} (query 1) attends most to: ")
    ex.screenshot(path=artifacts / "keras-hub-attention-head-view.png")


def test_a_language_model_opens_on_its_per_token_diagnostics(lab: BrowserPage, artifacts: Path) -> None:
    lm = cell_widget(lab.page, NOTEBOOK, "lm_ex = nbviz.explore(lm", TIMEOUT)
    lm.scroll_into_view_if_needed()
    panel = lm.locator(".widget-tab-contents > .widget-box:not(.lm-mod-hidden)")
    metrics = panel.locator("table", has_text="accuracy").first
    try:  # drawn once the kernel is idle: a loaded machine (CI) has taken more than 30 s for it
        metrics.wait_for(timeout=4 * TIMEOUT)
    except Exception as error:  # playwright's TimeoutError: say what the panel shows instead
        raise AssertionError(f"no metrics table; the diagnostics panel shows: {panel.all_inner_texts()}") from error
    # One row per real token (20 texts of 7 to 19 characters, each with its start token): not 20 samples.
    count = int(re.search(r"data \((\d+)\)", metrics.inner_text()).group(1))
    assert 200 < count < 480, metrics.inner_text()
    lm.screenshot(path=artifacts / "keras-hub-gpt2.png")
