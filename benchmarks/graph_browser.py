"""The layer graph in JupyterLab + Chromium at 101, 1,001 and 10,001 layers: opening a group on a click.

Run: python -m benchmarks.graph_browser [--quick]

A notebook explores :func:`nbviz.testing.residual_chain` models (identical residual blocks named by block). In the
page's own clock, from the mouse press on a closed group's square to the first animation frame after its header
shows it open (the kernel lays out the new rows, sends the marks' new state, bqplot draws them). Also reported:
how many nodes the open graph draws. Target: under 200 ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

from benchmarks._timing import Row, ms, table
from tests.browser.lab import (
    ROOT,
    chromium_path,
    notebook_in_lab,
    write_notebook,
)

NAME = "graph_browser"
TARGET = 0.200  # seconds
SIZES = (33, 333, 3333)  # blocks: 101, 1,001 and 10,001 layers


def _notebook(folder: Path, sizes: tuple[int, ...]) -> str:
    cells = [
        f"import sys\nsys.path.insert(0, {str(ROOT)!r})\nimport numpy as np\nimport nbviz\n"
        "from nbviz.testing import residual_chain\nx = np.random.default_rng(0).random((8, 4)).astype('float32')"
    ]
    cells += [f"nbviz.explore(residual_chain({n}), x)" for n in sizes]
    return write_notebook(folder / "graph.ipynb", cells)


def measure(page: Any, index: int, clicks: int) -> tuple[list[float], int]:
    """Round trips of ``clicks`` opens (each closed again after) in the ``index``-th Explorer, and its dot count."""
    outputs = page.locator(".jp-OutputArea-executeResult .jp-OutputArea-output").filter(
        has=page.locator(".widget-dropdown")
    )
    ex = outputs.nth(index)
    ex.scroll_into_view_if_needed()
    graph = ex.locator("div.bqplot.figure").first
    graph.locator("text.dot_text").first.wait_for(timeout=600_000)
    page.wait_for_timeout(1000)
    latencies, dots = [], 0
    for _ in range(clicks):
        labels = graph.locator("text.dot_text").evaluate_all("els => els.map(e => e.textContent)")
        closed = next(label for label in labels if label.startswith("\u25b8 "))
        opened = "\u25be " + closed[2:]
        page.evaluate(
            """([figure, opened]) => {
                window.__open = {t0: null, t1: null};
                document.addEventListener('mousedown', () => { window.__open.t0 = performance.now(); },
                                          {once: true, capture: true});
                const observer = new MutationObserver(() => {
                    const texts = [...figure.querySelectorAll('text.dot_text')].map(e => e.textContent);
                    if (texts.includes(opened)) {
                        observer.disconnect();
                        requestAnimationFrame(() => { window.__open.t1 = performance.now(); });
                    }
                });
                observer.observe(figure, {subtree: true, childList: true, characterData: true});
            }""",
            [graph.element_handle(), opened],
        )
        square = graph.locator("g.object_grp").filter(has=page.locator("text.dot_text", has_text=closed)).first
        square.locator("path.dot").click()
        page.wait_for_function("() => window.__open.t1 !== null", timeout=120_000)
        t0, t1 = page.evaluate("() => [window.__open.t0, window.__open.t1]")
        latencies.append((t1 - t0) / 1e3)
        dots = graph.locator("path.dot").count()
        header = graph.locator("g.object_grp").filter(has=page.locator("text.dot_text", has_text=opened)).first
        header.locator("path.dot").click()  # closed again: the next click opens the same group
        graph.locator("text.dot_text", has_text=closed).first.wait_for(timeout=120_000)
        page.wait_for_timeout(200)
    return latencies, dots


def run(quick: bool = False) -> list[Row]:
    if chromium_path() is None:
        return [Row(NAME, "layer graph in Chromium", "not run: no Chromium (set NBVIZ_CHROMIUM)", "", "")]
    from playwright.sync_api import sync_playwright

    sizes = SIZES[:2] if quick else SIZES
    clicks = 3 if quick else 8
    rows = []
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        notebook = _notebook(folder, sizes)
        with notebook_in_lab(playwright, folder, notebook, timeout_ms=900_000) as page:
            for index, blocks in enumerate(sizes):
                latencies, dots = measure(page, index, clicks)
                median = statistics.median(latencies)
                rows.append(
                    Row(
                        NAME,
                        f"{3 * blocks + 2:,} layers in JupyterLab + Chromium: click on a group -> its rows drawn",
                        f"{ms(median)} (max {ms(max(latencies))}); {dots} nodes drawn",
                        f"{median / TARGET:.2f} x target",
                        f"under 200 ms: {'yes' if median < TARGET else 'no'}",
                    )
                )
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="101 and 1,001 layers, 3 clicks")
    print(table(run(parser.parse_args().quick)))
