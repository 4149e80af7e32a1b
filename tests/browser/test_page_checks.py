"""Each page check fails on a small static page with a defect issue 35 lists and passes on the page corrected.

The pages are plain HTML in Chromium (no JupyterLab), shaped like what bqplot and ipywidgets draw: a figure is
``div.bqplot.figure > svg``, an axis ``g.axis`` of ``g.tick`` groups each holding a ``text``, its title a
``text.axislabel`` beside it, a heatmap one ``<image class="heatmap">`` of a PNG the size of the plot area.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pytest

from nbviz.ui.plots.figures import png

from .page_checks import ASPECT, BLANK, CONTRAST, COUNT_AXES, TEXT_OUTSIDE, TICK_OVERLAP, TICK_STEPS, ConsoleLog

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page(browser: Any) -> Iterator[Any]:
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    yield page
    page.close()


def check(page: Any, body: str, script: str) -> list[str]:
    page.set_content(f'<html><body style="margin:0;font:12px sans-serif"><div id="root">{body}</div></body></html>')
    return page.locator("#root").evaluate(script)


def figure(axis: str, classes: str = "", width: int = 400, height: int = 300) -> str:
    return (
        f'<div class="bqplot figure {classes}"><svg class="svg-figure" width="{width}" height="{height}">'
        f'<g transform="translate(60,20)">{axis}</g></svg></div>'
    )


def axis(ticks: Sequence[tuple[float, str]], vertical: bool = False, label: str = "", length: int = 250) -> str:
    """A d3 axis as bqplot draws it: ticks at pixel positions along it, the label beside the axis group."""
    if vertical:
        domain = f'<path class="domain" d="M-6,0H0V{length}H-6" stroke="black" fill="none"/>'
        tick = '<g class="tick" transform="translate(0,{p})"><line x2="-6" stroke="black"/><text x="-9" dy="0.32em" text-anchor="end">{t}</text></g>'  # noqa: E501
        where = "translate(0,0)"
        title = f'<text class="axislabel" transform="rotate(-90)" x="-120" y="-45">{label}</text>'
    else:
        domain = f'<path class="domain" d="M0,6V0H{length}V6" stroke="black" fill="none"/>'
        tick = '<g class="tick" transform="translate({p},0)"><line y2="6" stroke="black"/><text y="9" dy="0.71em" text-anchor="middle">{t}</text></g>'  # noqa: E501
        where = "translate(0,230)"
        title = f'<text class="axislabel" x="120" y="40">{label}</text>'
    inner = domain + "".join(tick.format(p=p, t=t) for p, t in ticks)
    return f'<g transform="{where}"><g class="axis">{inner}</g>{title}</g>'


def spread(texts: Sequence[str], length: int = 250, vertical: bool = False) -> list[tuple[float, str]]:
    """Texts evenly along an axis (bottom to top on a vertical one, as values grow)."""
    steps = np.linspace(0, length, len(texts))
    return [(length - p if vertical else p, t) for p, t in zip(steps, texts, strict=True)]


def data_url(rgb: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png(rgb)).decode()


# ------------------------------------------------------------------------------------------------ tick overlap
def test_tick_labels_that_only_touch(page: Any) -> None:
    """Vertical ticks 14 px apart: their 12 px digits do not touch though their line boxes (about 17 px) do."""
    ticks = [(250 - 14 * i, str(i)) for i in range(6)]
    assert check(page, figure(axis(ticks, vertical=True)), TICK_OVERLAP) == []
    crowded = [(250 - 6 * i, str(i)) for i in range(6)]
    assert check(page, figure(axis(crowded, vertical=True)), TICK_OVERLAP) != []


def test_tick_overlap(page: Any) -> None:
    crowded = figure(axis([(0, "-0.0007"), (30, "0.0006"), (60, "0.0019")]))
    failures = check(page, crowded, TICK_OVERLAP)
    assert any("'-0.0007' and '0.0006'" in f for f in failures), failures
    assert check(page, figure(axis(spread(["-5e-4", "0", "5e-4"]))), TICK_OVERLAP) == []


def test_axis_title_over_its_ticks(page: Any) -> None:
    """BERT's 'position, token' title drawn over its tick labels; moved clear of them, it passes."""

    def titled(x: int) -> str:
        ticks = "".join(
            f'<g class="tick" transform="translate(0,{y})"><text x="-9" dy="0.32em" text-anchor="end">{t}</text></g>'
            for y, t in [(20, "0 31"), (60, "1 33"), (100, "2 46")]
        )
        title = f'<text class="axislabel" transform="translate({x},60) rotate(-90)">position, token</text>'
        return figure(f'<g><g class="axis">{ticks}</g>{title}</g>')

    failures = check(page, titled(-20), TICK_OVERLAP)
    assert len(failures) == 1 and failures[0].startswith("axis title 'position, token' over its tick labels"), failures
    assert check(page, titled(-50), TICK_OVERLAP) == []


# ------------------------------------------------------------------------------------------------ tick steps
@pytest.mark.parametrize(
    ("bad", "good"),
    [
        (["0", "39", "78", "116", "155"], ["0", "50", "100", "150"]),
        (["353", "263", "172", "81"], ["100", "200", "300"]),
        (["-1", "-0.6", "-0.1"], ["-1", "-0.5", "0"]),
        (["0.000", "0.000", "0.000"], ["0", "1e-4", "2e-4"]),  # a gradient of 0.00012 written "0.000"
        (["0", "23k", "46k", "69k"], ["0", "20k", "40k", "60k"]),  # SI suffixes, as style.fmt writes them
    ],
)
def test_tick_steps(page: Any, bad: list[str], good: list[str]) -> None:
    failures = check(page, figure(axis(spread(bad))), TICK_STEPS)
    assert len(failures) == 1 and ", ".join(bad) in failures[0], failures
    assert check(page, figure(axis(spread(good))), TICK_STEPS) == []


def test_tick_steps_on_a_log_axis(page: Any) -> None:
    """Ticks placed by their log10 (a log axis): decades pass, 0.001 / 0.01 / 0.3 do not."""

    def placed(texts: list[str]) -> list[tuple[float, str]]:
        logs = np.log10([float(t) for t in texts])
        return [(float(250 * (v - logs[0]) / 3), t) for v, t in zip(logs, texts, strict=True)]

    failures = check(page, figure(axis(placed(["0.001", "0.01", "0.3"]))), TICK_STEPS)
    assert failures == ["log axis ticks not on decades (0.001, 0.01, 0.3) on an axis"], failures
    assert check(page, figure(axis(placed(["0.001", "0.01", "0.1", "1"]))), TICK_STEPS) == []
    assert check(page, figure(axis(spread(["0.1", "1"]))), TICK_STEPS) == []  # two decades: a log axis's two ticks
    assert check(page, figure(axis(spread(["0.1", "1.3"]))), TICK_STEPS) != []


def test_tick_steps_leave_names_alone(page: Any) -> None:
    assert check(page, figure(axis(spread(["conv1", "conv2", "dense"]))), TICK_STEPS) == []
    # A position and its token, and classes named by numbers (only those present, evenly spaced): categories.
    assert check(page, figure(axis(spread(["0 31", "1 33", "2 46"]))), TICK_STEPS) == []
    assert check(page, figure(axis(spread(["0", "2", "6", "9", "12"]))), TICK_STEPS) == []


def test_tick_steps_read_d3_minus_signs(page: Any) -> None:
    assert check(page, figure(axis(spread(["\u22121", "\u22120.5", "0", "0.5"]))), TICK_STEPS) == []


# ------------------------------------------------------------------------------------------------ count axes
def test_count_axis_below_zero(page: Any) -> None:
    below = figure(axis(spread(["-9", "0", "10", "20"], vertical=True), vertical=True, label="count"))
    failures = check(page, below, COUNT_AXES)
    assert failures == ["count axis below 0 (-9) on axis 'count'"], failures
    fixed = figure(axis(spread(["0", "10", "20", "30"], vertical=True), vertical=True, label="count"))
    assert check(page, fixed, COUNT_AXES) == []


def test_count_axis_by_class(page: Any) -> None:
    """A figure marked ``nbviz-count`` (its vertical axis), with 0 drawn above the axis's start: fails."""
    ticks = [(250 - p, t) for p, t in [(40, "0"), (140, "10"), (240, "20")]]
    failures = check(page, figure(axis(ticks, vertical=True), classes="nbviz-count"), COUNT_AXES)
    assert len(failures) == 1 and "does not start at 0 (0 is 40 px" in failures[0], failures
    fixed = figure(axis(spread(["0", "10", "20"], vertical=True), vertical=True), classes="nbviz-count")
    assert check(page, fixed, COUNT_AXES) == []
    # Not marked, no "count" in its label: a signed axis is not a count axis.
    signed = figure(axis(spread(["-10", "0", "10"], vertical=True), vertical=True, label="gradient"))
    assert check(page, signed, COUNT_AXES) == []


# ------------------------------------------------------------------------------------------------ text outside
def test_text_outside_its_figure(page: Any) -> None:
    cut = figure(axis(spread(["0.000", "8.17e-3"], length=335), length=335))  # the last label passes the 400 px svg
    failures = check(page, cut, TEXT_OUTSIDE)
    assert failures == ["text cut by its figure (right): '8.17e-3'"], failures
    assert check(page, figure(axis(spread(["0", "8e-3"], length=300), length=300)), TEXT_OUTSIDE) == []


def test_text_outside_its_cell(page: Any) -> None:
    cell = '<div style="width:{w}px;overflow:hidden;white-space:nowrap">bert_backbone/transformer_layer_1</div>'
    failures = check(page, cell.format(w=80), TEXT_OUTSIDE)
    assert len(failures) == 1 and "text wider than its box" in failures[0], failures
    assert check(page, cell.format(w=400), TEXT_OUTSIDE) == []


def test_text_outside_its_list(page: Any) -> None:
    """The layer list cuts its chosen entry ("bert_backbone/token_embedding (Rev"); a wide enough list does not."""
    select = '<select style="width:{w}px;font:13px sans-serif"><option>bert_backbone/token_embedding (ReversibleEmbedding)</option></select>'  # noqa: E501
    failures = check(page, select.format(w=200), TEXT_OUTSIDE)
    assert len(failures) == 1 and failures[0].startswith("list entry wider than its list by"), failures
    assert check(page, select.format(w=500), TEXT_OUTSIDE) == []


# ------------------------------------------------------------------------------------------------ aspect
def picture(rows: int = 10, cols: int = 10, seed: int = 0) -> np.ndarray:
    """Random grey cells, as an MNIST tile would be: (rows, cols, 3) uint8."""
    grey = np.random.default_rng(seed).integers(0, 256, size=(rows, cols), dtype=np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def heatmap(cell_w: int, cell_h: int, title: str = "samples that activate it most", classes: str = "") -> str:
    """A bqplot heatmap of a 10 x 10 picture whose cells are drawn ``cell_w`` x ``cell_h`` px."""
    cells = picture()
    drawn = np.repeat(np.repeat(cells, cell_h, axis=0), cell_w, axis=1)
    h, w = drawn.shape[:2]
    return (
        f'<div class="nbviz-plot"><div class="nbviz-title">{title}</div><div class="bqplot figure {classes}">'
        f'<svg width="{w + 20}" height="{h + 20}"><g transform="translate(10,10)">'
        f'<image class="heatmap" width="{w}" height="{h}" preserveAspectRatio="none" href="{data_url(drawn)}"/>'
        "</g></svg></div></div>"
    )


def test_aspect_of_a_squashed_heatmap_picture(page: Any) -> None:
    failures = check(page, heatmap(8, 4), ASPECT)  # cells twice as wide as tall: the 1:2 thumbnails
    assert (
        len(failures) == 1 and "cells drawn 8.0 x 4.0 px (aspect 2.00, not 1; plot area 80 x 40 px)" in failures[0]
    ), failures
    assert check(page, heatmap(8, 8), ASPECT) == []
    # A matrix (not a picture: no picture title, no nbviz-picture class) may have any cells.
    assert check(page, heatmap(8, 4, title="conv2 weights"), ASPECT) == []
    assert check(page, heatmap(8, 4, title="conv2 weights", classes="nbviz-picture"), ASPECT) != []


def test_aspect_by_shape_class(page: Any) -> None:
    """An exact shape (``nbviz-shape-<rows>x<cols>``) is compared with the drawn plot area."""
    assert check(page, heatmap(8, 4, classes="nbviz-picture nbviz-shape-10x20"), ASPECT) == []
    assert check(page, heatmap(8, 8, classes="nbviz-picture nbviz-shape-10x20"), ASPECT) != []


def test_aspect_of_an_image_mark(page: Any) -> None:
    """bqplot's Image mark scales a 1 x 1 image: a 28 x 28 picture must be drawn square."""
    mark = (
        '<svg width="300" height="300"><image x="0" y="0" width="1" height="1" preserveAspectRatio="none" '
        'transform="scale({w}, {h})" href="{href}"/></svg>'
    )
    href = data_url(np.kron(picture(), np.ones((3, 3, 1), np.uint8))[:28, :28])
    failures = check(page, mark.format(w=200, h=100, href=href), ASPECT)
    assert failures == ["picture drawn 200 x 100 px for picture 28 x 28 (aspect 2.00, not 1.00)"], failures
    assert check(page, mark.format(w=200, h=200, href=href), ASPECT) == []


# ------------------------------------------------------------------------------------------------ contrast
def wcag(a: str, b: str) -> float:
    """WCAG 2's contrast ratio of two "#rrggbb" colours, written out from the definition."""

    def luminance(color: str) -> float:
        channels = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    hi, lo = sorted([luminance(a), luminance(b)], reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_contrast_of_token_chips(page: Any) -> None:
    chip = '<span style="background:#f4f4f4;color:{c};padding:2px">great</span>'
    failures = check(page, chip.format(c="#ffffff"), CONTRAST)  # white text on near-white: unreadable
    assert failures == [f"contrast {wcag('#ffffff', '#f4f4f4'):.2f} < 4.5: 'great' (#ffffff on #f4f4f4)"], failures
    assert check(page, chip.format(c="#111111"), CONTRAST) == []


def test_contrast_leaves_markers_and_disabled_controls_alone(page: Any) -> None:
    """A legend's coloured dot is a marker, not text; a disabled button is exempt (WCAG 1.4.3); enabled, it fails."""
    assert check(page, '<span style="color:#bbbbbb">\u25cf</span>', CONTRAST) == []
    button = '<button {state} style="color:#aaaaaa;background:#f5f5f5;border:0">stop</button>'
    assert check(page, button.format(state="disabled"), CONTRAST) == []
    assert check(page, button.format(state=""), CONTRAST) != []


def test_contrast_over_a_heatmap(page: Any) -> None:
    """Black digits on the dark-blue confusion diagonal: the text's background is the picture's pixel under it."""
    blue = np.zeros((2, 2, 3), np.uint8) + np.array([8, 48, 107], np.uint8)  # #08306b
    cell = (
        f'<svg width="200" height="200"><image class="heatmap" width="200" height="200" preserveAspectRatio="none"'
        f' href="{data_url(blue)}"/><text x="100" y="100" style="fill:{{c}}">42</text></svg>'
    )
    failures = check(page, cell.format(c="#000000"), CONTRAST)
    assert failures == [f"contrast {wcag('#000000', '#08306b'):.2f} < 4.5: '42' (#000000 on #08306b)"], failures
    assert check(page, cell.format(c="#ffffff"), CONTRAST) == []


def test_contrast_off_screen(page: Any) -> None:
    """Text below the window is brought into view and read against what is drawn under it: grey text over a dark
    layer (a sibling, not an ancestor) fails, though its ancestors' white would pass."""
    chip = (
        '<div style="height:2500px"></div><div style="position:relative;background:#ffffff;height:40px">'
        '<div style="position:absolute;inset:0;background:{b}"></div>'
        '<span style="position:relative;color:#555555">x1</span></div>'
    )
    failures = check(page, chip.format(b="#222222"), CONTRAST)
    assert failures == [f"contrast {wcag('#555555', '#222222'):.2f} < 4.5: 'x1' (#555555 on #222222)"], failures
    assert check(page, chip.format(b="#ffffff"), CONTRAST) == []


def test_contrast_in_a_dark_theme(page: Any) -> None:
    """An orange axis title on a dark background fails; the theme's light grey passes."""
    text = '<div style="background:#111111;padding:8px"><svg width="200" height="40"><text x="10" y="20" style="fill:{c}">x</text></svg></div>'  # noqa: E501
    assert check(page, text.format(c="#333333"), CONTRAST) != []
    assert check(page, text.format(c="#e0e0e0"), CONTRAST) == []


# ------------------------------------------------------------------------------------------------ blank areas
def test_blank_area(page: Any) -> None:
    panel = '<div style="width:600px"><p>global importance</p>{gap}<button>estimate</button></div>'
    failures = check(page, panel.format(gap='<div style="height:500px"></div>'), BLANK)
    assert len(failures) == 1 and failures[0].startswith("blank 5"), failures
    assert check(page, panel.format(gap='<div style="height:50px"></div>'), BLANK) == []


def test_blank_area_of_an_empty_list(page: Any) -> None:
    """An empty list box under "Nothing alarming found" is blank; a list with entries is not."""
    panel = '<div style="width:600px"><p>Nothing alarming found.</p><select multiple style="height:300px">{o}'
    panel += "</select></div>"
    assert check(page, panel.format(o=""), BLANK) != []
    assert check(page, panel.format(o="<option>dense: 22 of 64 units dead</option>"), BLANK) == []


def test_blank_area_counts_figures_as_content(page: Any) -> None:
    """A 300 px heatmap is content, the figure's own backdrop is not."""
    backdrop = '<rect class="plotarea_background" width="600" height="400" style="fill:white"/>'
    shown = f'<svg width="600" height="400">{backdrop}<rect y="20" width="600" height="360" style="fill:red"/></svg>'
    empty = f'<svg width="600" height="400">{backdrop}</svg>'
    assert check(page, f"<p>title</p>{shown}", BLANK) == []
    assert check(page, f"<p>title</p>{empty}", BLANK) != []


# ------------------------------------------------------------------------------------------------ console
def test_console_log(page: Any) -> None:
    log = ConsoleLog().attach(page)
    page.set_content("<script>console.log('fine'); console.warn('careful'); console.error('broken')</script>")
    page.wait_for_timeout(100)
    assert log.messages == ["console warning: careful", "console error: broken"]
    mark = log.mark()
    page.set_content("<p>quiet</p>")
    page.wait_for_timeout(100)
    assert log.since(mark) == []
