"""The static report in Chromium with no server and no network: it shows the exported views, its pictures load,
and the layer and sample choices switch among them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import nbviz

pytestmark = pytest.mark.browser


def test_the_report_opens_offline_and_switches_views(browser: Any, digits, tmp_path: Path, artifacts: Path) -> None:
    path = nbviz.report(
        digits.model,
        digits.x_test[:40],
        digits.y_test[:40],
        tmp_path / "report.html",
        layers=["conv1", "conv2", "dense"],
        samples=[0, 3],
        class_names=digits.class_names,
    )
    context = browser.new_context(offline=True, viewport={"width": 1300, "height": 1000})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    page.on("requestfailed", lambda r: problems.append(f"failed {r.url}"))
    page.on("request", lambda r: None if r.url.startswith(("file:", "data:")) else problems.append(f"fetch {r.url}"))
    try:
        page.goto(path.as_uri())
        page.select_option("select[name=tab]", "activations")
        page.select_option("select[name=layer]", "conv2")
        page.select_option("select[name=sample]", "3")
        shown = page.locator("section.view:visible")
        assert shown.count() == 1 and shown.locator("h3").inner_text() == "Activations · conv2 · sample 3"
        image = shown.locator("image").first
        # The inlined PNG decoded: an SVG <image> has no naturalWidth, so load the same data as an <img>.
        size = page.evaluate(
            """async href => { const img = new Image(); img.src = href; await img.decode();
                               return [img.naturalWidth, img.naturalHeight]; }""",
            image.get_attribute("href"),
        )
        assert size[0] > 8 and size[1] > 8
        assert page.locator("section.sample:visible").inner_text().startswith("sample 3")
        page.screenshot(path=artifacts / "report-activations.png")
        page.select_option("select[name=layer]", "dense")
        assert page.locator("section.view:visible h3").inner_text() == "Activations · dense · sample 3"
        page.select_option("select[name=tab]", "diagnostics")
        assert "accuracy" in page.locator("section.view:visible").inner_text()
        page.screenshot(path=artifacts / "report-diagnostics.png", full_page=True)
        assert problems == []
    finally:
        context.close()
