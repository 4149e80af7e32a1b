"""The Explorer fits: in JupyterLab at 900 and 1,600 px, light and dark theme, every tab of the quickstart is
shown and no text of the Explorer overflows its box (its scroll width is its client width), tab names included,
and the console has no error at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .lab import BQPLOT_AXIS_RACE, Console, cell_widget, end_sessions, open_notebook, visible_panel

pytestmark = pytest.mark.browser

NOTEBOOK = "notebooks/01_quickstart.ipynb"
TIMEOUT = 120_000  # ms
TABS = ("Weights", "Activations", "Gradients", "SHAP", "Saliency", "Rules", "Diagnostics", "Projector", "Units",
        "Findings")  # fmt: skip

# Elements whose text does not fit their box. Boxes that scroll (overflow auto or scroll) are meant to, the
# slider's own parts (noUiSlider) are wider than their track by design, and a list's entries are one line each (a
# clicked rule is shown in full under the list).
OVERFLOWING = """root => {
    const name = e => `${e.tagName.toLowerCase()}.${[...e.classList].join('.')}: ${e.textContent.trim().slice(0, 50)}`;
    const boxes = [...root.querySelectorAll('*')].filter(e => {
        if (e instanceof SVGElement || e.tagName === 'OPTION' || e.closest('.noUi-target')) return false;
        if (!e.textContent.trim()) return false;
        const style = getComputedStyle(e);
        if (['auto', 'scroll'].includes(style.overflowX) || style.display === 'none') return false;
        return e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1;
    }).map(name);
    // A figure's text (titles, ticks, colour-bar labels) must lie inside the figure, or the SVG cuts it.
    const svgText = [...root.querySelectorAll('svg.svg-figure')].flatMap(svg => {
        const frame = svg.getBoundingClientRect();
        return [...svg.querySelectorAll('text')].filter(t => {
            const box = t.getBoundingClientRect();
            return t.textContent.trim() && box.width > 0 &&
                (box.right > frame.right + 1 || box.left < frame.left - 1);
        }).map(t => 'svg ' + name(t));
    });
    return boxes.concat(svgText);
}"""


@pytest.mark.parametrize("theme", ["JupyterLab Light", "JupyterLab Dark"])
@pytest.mark.parametrize("width", [900, 1600])
def test_every_tab_fits_and_logs_nothing(browser: Any, lab_url: str, artifacts: Path, width: int, theme: str) -> None:
    end_sessions(lab_url)  # a new kernel for each page (see lab.end_sessions)
    page = browser.new_page(viewport={"width": width, "height": 1000})
    console = Console().attach(page)
    # Every console error, the "harmless" negative sizes of figures drawn hidden included (Console leaves those
    # out): none is expected.
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "favicon" not in m.text else None)
    try:
        open_notebook(page, lab_url, notebook=NOTEBOOK, timeout_ms=TIMEOUT)
        # bqplot's known race while the notebook first renders (see lab.BQPLOT_AXIS_RACE) is not this test's.
        errors[:] = [e for e in errors if e != BQPLOT_AXIS_RACE]
        console.ready = True
        page.evaluate(f"() => window.jupyterapp.commands.execute('apputils:change-theme', {{theme: '{theme}'}})")
        page.wait_for_function(
            f"() => document.body.dataset.jpThemeLight === '{'true' if 'Light' in theme else 'false'}'",
            timeout=TIMEOUT,
        )
        ex = cell_widget(page, NOTEBOOK, "ex = nbviz.explore(", TIMEOUT)
        overflow: dict[str, list[str]] = {}
        for name in TABS:
            ex.get_by_role("tab", name=name, exact=True).click()
            page.wait_for_timeout(1500)  # the panel computes and draws (SHAP's first estimate, a projection)
            found = ex.evaluate(OVERFLOWING)
            if found:
                overflow[name] = found
            if name in ("Activations", "Diagnostics"):
                ex.screenshot(path=artifacts / f"layout-{width}-{theme.split()[-1].lower()}-{name.lower()}.png")
        assert overflow == {}, "\n".join(f"{tab}: {found}" for tab, found in overflow.items())
        assert errors == [] and console.page_errors == [], errors[:5] + console.page_errors[:5]
    finally:
        page.close()


# Where the visible panel's figures or content pass its right edge (the tab would need a horizontal scroll).
PAST_THE_EDGE = """panel => {
    const edge = panel.getBoundingClientRect().right + 1;
    const figures = [...panel.querySelectorAll('.bqplot.figure')].filter(f => f.getBoundingClientRect().width > 0);
    const past = figures.filter(f => f.getBoundingClientRect().right > edge).map(f => f.innerText.slice(0, 40));
    return panel.scrollWidth > panel.clientWidth + 1 ? past.concat(`scroll ${panel.scrollWidth}`) : past;
}"""
WIDEST_FIGURE = """panel => Math.max(...[...panel.querySelectorAll('.bqplot.figure svg.svg-figure')].map(
    svg => svg.getBoundingClientRect().width))"""


def test_figures_follow_the_output_area(browser: Any, lab_url: str, artifacts: Path) -> None:
    """The window narrows from 1,600 to 900 px with the file browser open: every tab's figures shrink into the
    output area (none passes its right edge, no tab scrolls sideways), and they grow back when the window widens
    again. Measured on the Units tab, whose strip of top samples is the widest figure (560 px)."""
    end_sessions(lab_url)
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    console = Console().attach(page)
    try:
        open_notebook(page, lab_url, notebook=NOTEBOOK, timeout_ms=TIMEOUT)
        console.ready = True
        ex = cell_widget(page, NOTEBOOK, "ex = nbviz.explore(", TIMEOUT)
        page.evaluate("() => window.jupyterapp.commands.execute('filebrowser:activate')")
        ex.get_by_role("tab", name="Units", exact=True).click()
        page.wait_for_timeout(1500)
        wide = visible_panel(ex).evaluate(WIDEST_FIGURE)
        page.set_viewport_size({"width": 900, "height": 1000})
        page.wait_for_timeout(1500)  # bqplot redraws a resized figure after a debounce
        narrow = visible_panel(ex).evaluate(WIDEST_FIGURE)
        past: dict[str, list[str]] = {}
        for name in TABS:
            ex.get_by_role("tab", name=name, exact=True).click()
            page.wait_for_timeout(1500)
            found = visible_panel(ex).evaluate(PAST_THE_EDGE)
            if found:
                past[name] = found
            if name in ("Activations", "Saliency", "Diagnostics"):
                ex.screenshot(path=artifacts / f"layout-900-narrowed-{name.lower()}.png")
        ex.get_by_role("tab", name="Units", exact=True).click()
        page.set_viewport_size({"width": 1600, "height": 1000})
        page.wait_for_timeout(1500)
        again = visible_panel(ex).evaluate(WIDEST_FIGURE)
        assert past == {}, past
        assert narrow < wide - 10, (wide, narrow)
        assert again == pytest.approx(wide, abs=2), (wide, again)
        assert console.fatal() == [], console.fatal()[:5]
    finally:
        page.close()
