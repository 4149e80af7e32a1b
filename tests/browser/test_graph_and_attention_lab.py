"""The layer graph and the attention view as a person sees them, in JupyterLab's dark theme at 900 px: the selected
node's ring contrasts with the page, choosing a layer far down the graph scrolls the graph's box to it, and the
attention model view draws its thumbnails apart, each square for a square map."""

from __future__ import annotations

import json
import re
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest

from .lab import ROOT, end_sessions, layer_select, open_notebook, open_tab

pytestmark = pytest.mark.browser

TIMEOUT = 120_000  # ms
FOLDER = ROOT / "test-artifacts"  # gitignored, served by the lab (it serves the repository)
NOTEBOOK = "test-artifacts/graph_and_attention.ipynb"
SOURCE = """import numpy as np, keras, nbviz
keras.utils.set_random_seed(4)
ids = keras.Input((16,), dtype="int32", name="ids")
h = keras.layers.Embedding(30, 16, name="embedding")(ids)
for i in range(4):
    h = h + keras.layers.MultiHeadAttention(4, 4, name=f"attention_{i}")(h, h)
h = keras.layers.GlobalAveragePooling1D(name="pool")(h)
for i in range(30):  # a graph far taller than its 380 px box
    h = keras.layers.Dense(16, activation="relu", name=f"dense_{i:02d}")(h)
model = keras.Model(ids, keras.layers.Dense(3, name="out")(h))
x = np.random.default_rng(4).integers(0, 30, size=(6, 16)).astype("int32")
ex = nbviz.explore(model, x, np.arange(6) % 3, vocabulary=[f"tok{i}" for i in range(30)])
ex"""


# The graph's scrolling box, the selected dot (its ring is the widest stroke) and the page behind them.
SELECTED = """fig => {
        const box = fig.closest('.widget-gridbox');
        const dot = [...fig.querySelectorAll('.dot')]
            .find(d => parseFloat(getComputedStyle(d).strokeWidth) >= 3);
        const b = box.getBoundingClientRect(), d = dot.getBoundingClientRect();
        return {scroll: box.scrollTop, boxTop: b.top, boxBottom: b.bottom, dotTop: d.top, dotBottom: d.bottom,
                stroke: getComputedStyle(dot).stroke,
                page: getComputedStyle(document.querySelector('.jp-Notebook')).backgroundColor};
    }"""


def write_notebook() -> None:
    metadata = json.loads((ROOT / "notebooks/01_quickstart.ipynb").read_text())["metadata"]
    cell = {"cell_type": "code", "execution_count": None, "id": "graph-attention", "metadata": {}, "outputs": [],
            "source": SOURCE.splitlines(keepends=True)}  # fmt: skip
    FOLDER.mkdir(exist_ok=True)
    (ROOT / NOTEBOOK).write_text(json.dumps({"cells": [cell], "metadata": metadata, "nbformat": 4,
                                             "nbformat_minor": 5}))  # fmt: skip


def rgb(text: str) -> tuple[float, float, float, float]:
    """A computed CSS colour ("rgb(r, g, b)" or "rgba(r, g, b, a)") as numbers."""
    values = [float(v) for v in re.findall(r"[\d.]+", text)]
    return (values[0], values[1], values[2], values[3] if len(values) > 3 else 1.0)


def luminance(color: tuple[float, float, float, float], under: tuple[float, float, float, float]) -> float:
    """WCAG relative luminance of ``color`` laid over the opaque ``under``."""
    alpha = color[3]
    channels = [(alpha * c + (1 - alpha) * u) / 255 for c, u in zip(color[:3], under[:3])]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def png_row(png: bytes) -> list[tuple[int, int, int]]:
    """The first row of pixels of a PNG screenshot (8-bit RGB or RGBA), decoded with the standard library."""
    pos, idat, width, channels = 8, b"", 0, 3
    while pos < len(png):
        size, kind = struct.unpack(">I4s", png[pos : pos + 8])
        body = png[pos + 8 : pos + 8 + size]
        pos += 12 + size
        if kind == b"IHDR":
            width, channels = struct.unpack(">I", body[:4])[0], {2: 3, 6: 4}[body[9]]
        elif kind == b"IDAT":
            idat += body
    raw = zlib.decompress(idat)
    kind, line = raw[0], bytearray(raw[1 : 1 + width * channels])
    for i in range(channels, len(line)):  # the first row: filters "sub" and "paeth" read only the left byte
        if kind in (1, 4):
            line[i] = (line[i] + line[i - channels]) & 255
        elif kind == 3:
            line[i] = (line[i] + line[i - channels] // 2) & 255
    return [tuple(line[i : i + 3]) for i in range(0, len(line), channels)]  # type: ignore[misc]


def contrast(a: float, b: float) -> float:
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)


def test_graph_ring_scroll_and_attention_thumbnails_in_the_dark(browser: Any, lab_url: str, artifacts: Path) -> None:
    write_notebook()
    end_sessions(lab_url)
    page = browser.new_page(viewport={"width": 900, "height": 1000})
    try:
        open_notebook(page, lab_url, notebook=NOTEBOOK, timeout_ms=TIMEOUT)
        page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'", timeout=TIMEOUT)
        ex = page.locator(".jp-OutputArea-output").filter(has=page.locator(".widget-dropdown")).first
        graph = ex.locator(".nbviz-layer-graph")
        graph.wait_for(state="attached", timeout=TIMEOUT)
        page.wait_for_timeout(1000)

        # Choose the last layer: the graph's box scrolls so that its dot is inside the part shown; then the first
        # (the marker has the focus already: it must scroll again).
        for name, scrolled in (("out", True), ("embedding", False)):
            layer_select(ex).select_option(label=next(o for o in layer_options(ex) if o.startswith(name)))
            page.wait_for_timeout(1500)
            seen = graph.evaluate(SELECTED)
            assert (seen["scroll"] > 0) == scrolled, (name, seen)
            assert seen["boxTop"] - 1 <= seen["dotTop"] and seen["dotBottom"] <= seen["boxBottom"] + 1, (name, seen)
        ex.screenshot(path=artifacts / "graph-dark-900.png")
        # The ring against the page behind the graph: at least 3:1 (WCAG's contrast for graphics).
        background = rgb(seen["page"])
        ring = contrast(luminance(rgb(seen["stroke"]), background), luminance(background, background))
        assert ring >= 3.0, seen

        # The model view: thumbnails with gaps, each drawn square (16 x 16 maps), labels readable.
        panel = open_tab(ex, "Attention")
        image = panel.locator(".bqplot.figure image").first
        image.wait_for(timeout=TIMEOUT)
        page.wait_for_timeout(1500)
        drawn = image.evaluate(
            """img => { const r = img.getBoundingClientRect();
                const labels = [...img.closest('svg').querySelectorAll('text.label')]
                    .filter(t => /^[LH]\\d+$/.test(t.textContent)).map(t => getComputedStyle(t).fill);
                return {w: r.width, h: r.height, labels}; }"""
        )
        panel.screenshot(path=artifacts / "attention-dark-900.png")
        # Across the first row of thumbnails: the gaps between the 4 heads are drawn, lighter than the thumbnails
        # (these weights are near uniform, so each thumbnail is one dark colour).
        box = image.bounding_box()
        row = png_row(page.screenshot(clip={"x": box["x"] + 2, "y": box["y"] + box["height"] / 8,
                                            "width": box["width"] - 4, "height": 1}))  # fmt: skip
        light = [sum(pixel) / 3 > 128 for pixel in row]
        gaps = sum(1 for i in range(1, len(light)) if light[i] and not light[i - 1])
        assert gaps == 3, [round(sum(p) / 3) for p in row]
        cells = 4 * 16 + 3 * max(1, round(16 / 12))  # 4 thumbnails of 16 cells and their gaps, each way
        assert abs(drawn["w"] / drawn["h"] - 1.0) < 0.05, drawn
        assert drawn["w"] / cells * max(1, round(16 / 12)) >= 1.5, drawn  # a gap of at least 1.5 px
        for fill in drawn["labels"]:
            assert contrast(luminance(rgb(fill), background), luminance(background, background)) >= 4.5, drawn
        assert drawn["labels"], drawn
    finally:
        page.close()


def layer_options(ex: Any) -> list[str]:
    return layer_select(ex).locator("option").evaluate_all("els => els.map(e => e.textContent)")
