"""The projector in JupyterLab: the digits through a layer drawn in their class colours, and a click on a point
moves the Explorer to that sample (the slider and the ring on the point follow); the units tab's boxes."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pytest

from nbviz.compute.analysis.projection import TABLEAU10

from .conftest import BrowserPage, notebook_fixtures
from .lab import cell_widget, open_tab, wait_for_new_heatmap, wait_for_readout, wait_for_title

pytestmark = pytest.mark.browser

NOTEBOOK = "notebooks/02_cnn_digits.ipynb"
TIMEOUT = 30_000  # ms


lab, _checks = notebook_fixtures(NOTEBOOK, "projector-console.txt")


def _center(box: dict[str, float]) -> tuple[float, float]:
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_the_projector_draws_and_a_click_moves_the_slider(lab: BrowserPage, artifacts: Path) -> None:
    ex = cell_widget(lab.page, NOTEBOOK, "ex = nbviz.explore(d.model", TIMEOUT)
    panel = open_tab(ex, "Projector")
    # The notebook's last cell left the Explorer on conv2: its filters' mean responses over the 450 digits.
    wait_for_title(panel, "conv2: PCA of 450 samples x 32 features", prefix=True, timeout_ms=TIMEOUT)
    figure = panel.locator("div.bqplot.figure").first
    picture = figure.locator("image").first
    picture.wait_for(timeout=TIMEOUT)
    # Read before the change: the kernel can answer before the next line of this test runs.
    before = picture.get_attribute("href")
    panel.locator("select").filter(has=lab.page.locator("option", has_text="true label")).select_option("true label")
    lab.page.wait_for_function(
        "([img, before]) => img.getAttribute('href') !== before",
        arg=[picture.element_handle(), before],
        timeout=TIMEOUT,
    )
    lab.page.wait_for_timeout(300)
    shot = figure.screenshot(path=artifacts / "projector.png")
    # The screenshot's pixels, decoded in the page (no imaging library here).
    colours = lab.page.evaluate(
        """async png => {
            const img = new Image();
            img.src = 'data:image/png;base64,' + png;
            await img.decode();
            const g = Object.assign(document.createElement('canvas'), {width: img.width, height: img.height})
                .getContext('2d');
            g.drawImage(img, 0, 0);
            const d = g.getImageData(0, 0, img.width, img.height).data;
            const seen = new Set();
            for (let i = 0; i < d.length; i += 4) seen.add(`${d[i]},${d[i + 1]},${d[i + 2]}`);
            return [...seen];
        }""",
        base64.b64encode(shot).decode(),
    )
    # The class colours (Tableau's ten) among the figure's pixels: the points are drawn, coloured by label.
    drawn = np.array([[int(v) for v in c.split(",")] for c in colours])
    palette = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in TABLEAU10])
    found = [c for c in palette if np.min(np.abs(drawn - c).max(axis=1)) <= 3]
    assert len(found) >= 8, f"{len(found)} class colours among the figure's pixels"

    # Each neighbour of the current sample is framed by a square at its point: click the second one's centre.
    options = panel.locator("select option").filter(has_text="distance")
    options.first.wait_for(timeout=TIMEOUT)
    target = int(re.match(r"#(\d+)", options.nth(1).inner_text()).group(1))
    frames = figure.locator("path.dot")
    clicked = _center(frames.nth(1).bounding_box())  # the squares come before the ring in the figure
    lab.page.mouse.click(*clicked)
    wait_for_readout(ex, str(target), TIMEOUT)
    # The ring now sits on the clicked point.
    ring = figure.locator("path.dot").last.bounding_box()
    x, y = _center(ring)
    assert abs(x - clicked[0]) < 3 and abs(y - clicked[1]) < 3, (ring, clicked)
    figure.screenshot(path=artifacts / "projector-clicked.png")
    # Brush: drag a rectangle over the middle of the points; the kernel names the selection and the slider walks it.
    panel.get_by_role("button", name="brush a region").click()
    figure.locator("rect.overlay").first.wait_for(timeout=TIMEOUT)  # the brush is in place (d3's overlay)
    box = figure.locator("image").first.bounding_box()
    x0, y0 = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3
    lab.page.mouse.move(x0, y0)
    lab.page.mouse.down()
    lab.page.mouse.move(x0 + box["width"] * 0.4, y0 + box["height"] * 0.4, steps=10)
    lab.page.mouse.up()
    named = panel.locator(".widget-html", has_text="selection 1").first
    named.wait_for(timeout=TIMEOUT)
    count = int(re.search(r"selection 1: ([\d,]+) samples", named.inner_text()).group(1).replace(",", ""))
    assert 0 < count < 450
    walk = panel.locator(".widget-checkbox", has_text="slider: this selection only").locator("input")
    assert walk.is_checked()  # the slider walks the new selection
    panel.screenshot(path=artifacts / "projector-brushed.png")
    panel.get_by_role("button", name="click a point").click()
    panel.screenshot(path=artifacts / "projector-tab.png")
    # The units tab on the same layer: the top samples' strip with their boxes, and the optimised input.
    units = open_tab(ex, "Units")
    wait_for_title(units, "samples that activate conv2 unit 18 most", prefix=True, timeout_ms=TIMEOUT)
    wait_for_new_heatmap(units, [], TIMEOUT)
    assert units.locator("path.line").count() >= 9  # a box on each top sample
    lab.page.wait_for_timeout(500)
    units.screenshot(path=artifacts / "units-tab.png")
