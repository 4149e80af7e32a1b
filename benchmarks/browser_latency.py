"""Browser latency: from a key press on the sample slider to the redrawn activations heatmap, in JupyterLab.

Run: python -m benchmarks.browser_latency [--quick]

Starts JupyterLab on the quickstart notebook (as the browser tests do), runs all cells in a headless Chromium,
shows the activations of conv2 and presses ArrowRight on the slider's handle 30 times (10 with --quick), one
new sample each time. Each latency is measured in the page's own clock: from the keydown event to the first
animation frame after the activations heatmap got a new picture (its <image> href, a PNG data URL). That covers
the slider message, the kernel (the 30 ms slider coalescing, the forward pass, the widget messages) and bqplot
drawing the heatmap. Target: median under 150 ms.

Two rows more, from the gallery (benchmarks/gallery.py) on the demo CNN at 900 px in the light theme: the gallery's
time (a JupyterLab started, the notebook run, every tab opened, photographed and checked), and the bytes of each
tab's first draw (the kernel websocket's frames to the page from the tab's click until it settled; the notebook's
run draws the Explorer and its first tab).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
from benchmarks._timing import Row, ms, table  # noqa: E402
from tests.browser.lab import (  # noqa: E402
    VIEWPORT,
    chromium_path,
    explorer,
    launch_chromium,
    layer_select,
    open_notebook,
    open_tab,
    sample_readout,
    start_lab,
    wait_for_readout,
    wait_for_settled,
    wait_for_title,
)

TARGET = 0.150  # seconds
NAME = "browser_latency"
CASE = "demo CNN in JupyterLab + Chromium: slider key press -> activations heatmap redrawn"

# Installed once: the keydown time, then a MutationObserver that notes the first animation frame after the
# watched heatmap's href changes.
SETUP = """() => {
    window.__nbvizBench = {t0: null, t1: null};
    document.addEventListener('keydown', e => {
        if (e.key === 'ArrowRight') window.__nbvizBench.t0 = performance.now();
    }, true);
}"""
ARM = """([root, before]) => {
    const bench = window.__nbvizBench;
    bench.t0 = null;
    bench.t1 = null;
    const observer = new MutationObserver(() => {
        const image = root.querySelector('image.heatmap');
        if (image && image.getAttribute('href') !== before) {
            observer.disconnect();
            requestAnimationFrame(() => { bench.t1 = performance.now(); });
        }
    });
    observer.observe(root, {subtree: true, childList: true, attributes: true, attributeFilter: ['href']});
}"""


def measure(page: Any, changes: int) -> list[float]:
    """Latencies in seconds of ``changes`` slider steps, on a page with the quickstart already run."""
    ex = explorer(page)
    panel = open_tab(ex, "Activations")
    layer_select(ex).select_option(label="conv2 (Conv2D)")
    wait_for_title(panel, "conv2 output", prefix=True)
    wait_for_settled(panel)
    page.evaluate(SETUP)
    readout = sample_readout(ex)
    handle = ex.locator(".widget-hslider .noUi-handle").first
    handle.focus()
    latencies = []
    for _ in range(changes):
        sample = int(readout.inner_text())
        href = panel.locator("image.heatmap").first.get_attribute("href")
        page.evaluate(ARM, [panel.element_handle(), href])
        page.keyboard.press("ArrowRight")
        page.wait_for_function("() => window.__nbvizBench.t1 !== null && window.__nbvizBench.t0 !== null")
        t0, t1 = page.evaluate("() => [window.__nbvizBench.t0, window.__nbvizBench.t1]")
        latencies.append((t1 - t0) / 1e3)
        wait_for_readout(ex, str(sample + 1))
        wait_for_settled(ex, quiet_ms=150)  # the sample view and the panel done: the next step starts clean
    return latencies


def run(quick: bool) -> list[Row]:
    changes = 10 if quick else 30
    if chromium_path() is None:
        return [Row(NAME, CASE, "not run: no Chromium (set NBVIZ_CHROMIUM)", "", "under 150 ms")]
    from playwright.sync_api import sync_playwright

    url, stop = start_lab()
    try:
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                page = browser.new_page(viewport=VIEWPORT)
                open_notebook(page, url)
                latencies = measure(page, changes)
            finally:
                browser.close()
    finally:
        stop()
    return [latency_row(latencies, changes), *gallery_rows()]


def latency_row(latencies: list[float], changes: int) -> Row:
    median = statistics.median(latencies)
    p90 = statistics.quantiles(latencies, n=10, method="inclusive")[-1]
    return Row(
        NAME,
        f"{CASE}, {changes} steps",
        f"{ms(median)} (p90 {ms(p90)})",
        f"{median / TARGET:.2f} x target",
        f"under 150 ms: {'yes' if median < TARGET else 'no'}",
    )


def gallery_rows() -> list[Row]:
    """The gallery of the demo CNN at 900 px, light: its time, its failures, and the bytes of each tab's first draw."""
    from benchmarks.gallery import OUT, run_gallery

    gallery = run_gallery(["cnn"], [900], ["light"], out=OUT / "browser_latency")
    failures = sum(len(v) for shot in gallery.failed for v in shot.failures.values())
    drawn = gallery.first_draw_bytes["cnn"]
    tabs = {tab: size for tab, size in drawn.items() if not tab.startswith("(")}
    largest = max(tabs, key=tabs.__getitem__)
    return [
        Row(
            NAME,
            f"gallery: demo CNN, {len(tabs)} tabs at 900 px, light: lab started, notebook run, each tab drawn, "
            f"photographed and checked ({failures} check failures)",
            ms(gallery.seconds),
            "",
            "none",
        ),
        Row(
            NAME,
            "first draw of each tab, demo CNN (kernel websocket bytes to the page): "
            + ", ".join(f"{tab} {size / 1e3:.1f} kB" for tab, size in drawn.items()),
            f"{sum(tabs.values()) / 1e3:.0f} kB, {len(tabs)} tabs (largest {largest}: {tabs[largest] / 1e3:.0f} kB)",
            "",
            "none",
        ),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 slider steps instead of 30")
    print(table(run(parser.parse_args().quick)))
