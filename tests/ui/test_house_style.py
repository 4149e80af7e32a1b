"""The house style (nbviz/style.py) and the plots that use it: ticks on 1-2-5 steps written so neighbours differ,
numbers by magnitude, count axes from 0, colour bars whose margin holds their labels, pictures at their aspect,
WCAG contrast, and the theme's CSS (bqplot's orange dark-theme text replaced by JupyterLab's colour)."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess

import numpy as np
import pytest

from nbviz.ui.plots import style
from nbviz.ui.plots.figures import GREYS, BarsPlot, HeatmapPlot, ImagePlot

RANGES = [(0, 155), (81, 353), (-1, -0.1), (-0.0007, 0.0006), (0.00012, 0.00098), (-3.2, 8.17), (0, 1e6), (0.3, 0.31)]


def _is_125(step: float) -> bool:
    mantissa = step / 10.0 ** math.floor(math.log10(step) + 1e-9)
    return any(abs(mantissa - m) < 1e-6 for m in (1, 2, 5))


@pytest.mark.parametrize("seed", range(3))
def test_ticks_are_125_steps_inside_the_range_and_written_distinctly(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ranges = RANGES + [tuple(sorted(rng.normal(0, 10.0 ** rng.integers(-6, 7), 2))) for _ in range(200)]
    for lo, hi in ranges:
        ticks = style.nice_ticks(lo, hi, n=5)
        assert 2 <= len(ticks) <= 6, (lo, hi, ticks)
        assert ticks.min() >= lo - 1e-12 * abs(lo) and ticks.max() <= hi + 1e-12 * abs(hi)
        steps = np.diff(ticks)
        assert np.allclose(steps, steps[0], rtol=1e-6) and _is_125(float(steps[0])), (lo, hi, ticks)
        labels = style.tick_text(ticks)
        assert len(set(labels)) == len(labels), (lo, hi, labels)  # "0.000" twice is the defect
        for value, text in zip(ticks, labels):
            # Each label reads back as its tick (within the step's precision).
            assert abs(_read(text) - value) <= 1e-6 * abs(steps[0]) + 1e-12, (text, value)


def _read(text: str) -> float:
    for suffix, scale in (("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12)):
        if text.endswith(suffix):
            return float(text[:-1]) * scale
    return float(text)


def test_the_issues_ranges_get_the_ticks_a_person_expects() -> None:
    assert style.tick_text(style.nice_ticks(0, 155)) == ["0", "50", "100", "150"]  # not 0/39/78/116/155
    assert style.tick_text(style.nice_ticks(81, 353)) == ["100", "150", "200", "250", "300", "350"]
    assert style.tick_text(style.nice_ticks(-0.00123, 0.00123)) == ["-1e-3", "-5e-4", "0", "5e-4", "1e-3"]
    assert style.tick_text(style.decade_ticks(1e-5, 3), log=True) == ["1e-5", "1e-4", "0.001", "0.01", "0.1", "1"]


def test_numbers_are_written_by_magnitude_and_never_as_zero() -> None:
    assert [style.fmt(v) for v in (0.00012, 0.06199, 0.9806, 12.345, 50257, 1e6, 0, -7e-4)] == [
        "1.2e-4", "0.062", "0.981", "12.3", "50.3k", "1M", "0", "-7e-4",
    ]  # fmt: skip
    rng = np.random.default_rng(0)
    for value in rng.normal(0, 1, 500) * 10.0 ** rng.integers(-12, 12, 500):
        text = style.fmt(value)
        assert abs(_read(text) - value) <= 0.005 * abs(value), (value, text)  # 3 significant digits
    # One column, one precision: the metrics table read 0.98 / 0.06199 / 0.9806.
    assert style.fmt_column([0.98, 0.06199, 0.9806]) == ["0.980", "0.062", "0.981"]
    assert style.fmt_column([0.98, 0.004]) == ["0.980", "0.004"]


def test_count_axes_start_at_zero_on_a_125_tick() -> None:
    assert style.count_range([3, 9, 14]) == (0.0, 15.0)
    assert style.count_range([0, 0]) == (0.0, 1.0)
    assert style.count_range([394]) == (0.0, 400.0)


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run JavaScript's String(number)")
def test_tick_label_keys_are_what_javascript_writes() -> None:
    """bqplot looks a tick's label up by ``String(value)``: a key Python writes otherwise ("1e-05") shows the
    front end's own guess instead."""
    values = [float(v) for lo, hi in RANGES for v in style.nice_ticks(lo, hi)] + [1e-7, 2.5e-8, 1e21, 123456.0]
    script = f"console.log(JSON.stringify({json.dumps(values)}.map(String)))"
    written = json.loads(subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True).stdout)
    assert [style.js_key(v) for v in values] == written


def test_wcag_contrast_and_text_on_a_cell() -> None:
    assert style.contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert style.contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # WCAG's own example
    for background in ("#2166ac", "#b2182b", "#f7f7f7", "#08306b", "#ffffff", "#000000", "#e8e8e8"):
        assert style.contrast(style.text_on(background), background) >= 4.5, background


def test_heatmap_colour_bar_is_as_tall_as_the_picture_and_writes_125_ticks() -> None:
    """bqplot's own bar is 200 px shorter than the plot area: under a 250 px picture its labels ran together."""
    plot = HeatmapPlot("gradient", size=("240px", "240px"), picture=True)
    plot.show(np.array([[-0.00012, 0.0], [0.0, 0.00098]]), -0.001, 0.001)
    html = plot.bar.value
    labels = re.findall(r"white-space:nowrap\">([^<]*)</div>", html)
    assert labels == ["-1e-3", "-5e-4", "0", "5e-4", "1e-3"]
    margin, height = plot.figure.fig_margin, float(plot.figure.layout.height[:-2])
    assert f"height:{height - margin['top'] - margin['bottom']:.0f}px" in html  # the plot area's height
    assert "#2166ac 0.00%, #f7f7f7 50.00%, #b2182b 100.00%" in html  # white at 0, in the middle of -1e-3..1e-3
    assert not plot.color_axis.visible  # bqplot's bar is hidden (kept for the static report)
    assert not plot.figure.display_toolbar  # bqplot's pop-up toolbar covered axis labels
    assert plot._body.children == (plot.figure, plot.bar)


def test_histograms_count_from_zero_and_label_their_bins_on_125_steps() -> None:
    plot = BarsPlot("distribution", counts=True)
    centres = np.linspace(-0.00071, 0.00062, 30)
    plot.show(np.arange(30.0) % 7, labels=centres, color=centres)
    assert (plot.y_scale.min, plot.y_scale.max) == (0.0, 6.0)
    assert plot.value_axis.label == "count" and "nbviz-count" in plot.figure._dom_classes
    steps = np.diff(plot.index_axis.tick_values)
    assert _is_125(float(steps[0])) and len(plot.index_axis.tick_labels) <= 5


def test_log_norm_bars_grow_from_the_decade_below_the_smallest() -> None:
    """The longest bar is the largest gradient, and two layers a decade apart do not look alike."""
    plot = BarsPlot("norms", horizontal=True, value_label="|g| (log scale)")
    log_norms = np.log10([3e-5, 2e-4, 0.5])
    plot.show(log_norms, labels=np.array(["dense", "a_very_long_layer_name/with/scopes", "conv"]), decades=True)
    assert plot.mark.base == -5.0 and plot.y_scale.min == -5.0 and plot.y_scale.max == 0.0
    assert plot.value_axis.tick_labels["-5"] == "1e-5" and plot.value_axis.tick_labels["0"] == "1"
    # The long name is cut in the middle on the axis (the bar keeps its name), and the margin holds it.
    assert plot.index_axis.tick_labels == {"a_very_long_layer_name/with/scopes": "a_very_long_la\u2026ame/with/scopes"}
    assert list(plot.mark.x)[1] == "a_very_long_layer_name/with/scopes"
    assert plot.figure.fig_margin["left"] >= style.CHAR_PX * 30


@pytest.mark.parametrize("shape", [(8, 8), (28, 56), (60, 20)])
def test_pictures_keep_their_aspect_ratio(shape: tuple[int, int]) -> None:
    plot = HeatmapPlot("sample", colors=GREYS, size=("240px", "240px"), colorbar=False, picture=True)
    plot.show(np.zeros(shape), 0.0, 1.0)
    margin, height = plot.figure.fig_margin, float(plot.figure.layout.height[:-2])
    width = height * plot.figure.max_aspect_ratio
    plot_w, plot_h = width - margin["left"] - margin["right"], height - margin["top"] - margin["bottom"]
    assert plot_w / plot_h == pytest.approx(shape[1] / shape[0], rel=0.02)
    assert width <= 240 + 0.5 and height <= 240 + 0.5
    assert {"nbviz-greys", "nbviz-picture"} <= set(plot.figure._dom_classes)
    image = ImagePlot("overlay", size=("300px", "300px"))
    image.show(np.zeros((*shape, 3), np.uint8))
    assert _plot_area_ratio(image.figure) == pytest.approx(shape[1] / shape[0], rel=0.02)


def _plot_area_ratio(figure: object, width: float | None = None) -> float:
    """The plot area's width / height when bqplot draws ``figure`` ``width`` px wide (its natural size by
    default), as bqplot does: the whole box held between the figure's min and max aspect ratio."""
    margin, height = figure.fig_margin, float(figure.layout.height[:-2])  # type: ignore[attr-defined]
    box_w = width if width is not None else height * figure.max_aspect_ratio  # type: ignore[attr-defined]
    box_h = min(height, box_w / figure.min_aspect_ratio)  # type: ignore[attr-defined]
    box_w = min(box_w, box_h * figure.max_aspect_ratio)  # type: ignore[attr-defined]
    return (box_w - margin["left"] - margin["right"]) / (box_h - margin["top"] - margin["bottom"])


@pytest.mark.parametrize("width", [120.0, 200.0, 400.0])
def test_a_picture_with_a_colour_bar_keeps_its_aspect_at_any_width(width: float) -> None:
    """The margins are grown in the data's proportion, so a narrower output area does not squash the picture
    (the units tab's thumbnails were 1:2 at 900 px)."""
    plot = HeatmapPlot("saliency", size=("360px", "320px"), picture=True)
    for shape in [(28, 28), (10, 40), (40, 10), (28, 28)]:  # margins do not pile up from one picture to the next
        plot.show(np.random.default_rng(0).normal(size=shape), -2.0, 2.0)
        assert _plot_area_ratio(plot.figure, width) == pytest.approx(shape[1] / shape[0], rel=0.01)


def test_heatmap_rows_and_columns_are_named_at_their_cells() -> None:
    plot = HeatmapPlot("activations")
    tokens = [f"tok{i}" for i in range(60)]
    plot.label(rows=tokens, x_title="unit", y_title="token")
    plot.show(np.zeros((60, 8)), -1.0, 1.0)
    left = plot._left_axis
    assert left.label == "token" and len(left.tick_values) <= 24 and left.tick_values[0] == 0
    assert all(left.tick_labels[str(int(i))] == tokens[int(i)] for i in left.tick_values)
    assert left.tick_values[-1] == 59  # the last row is named too
    assert plot.figure.fig_margin["left"] >= style.CHAR_PX * len("tok59")
    plot.label(x_title="step", x_range=(0.0, 120.0), y_range=(0.5, -0.5))  # a histogram over records
    plot.show(np.zeros((10, 6)), 0.0, 1.0)
    bottom = plot._bottom_axis
    assert list(bottom.tick_labels.values()) == ["0", "50", "100"] and bottom.label == "step"
    # 50 of 0..120 over 6 columns spanning -0.5..5.5 sits at -0.5 + 6 * 50 / 120 = 2.0
    assert bottom.tick_labels[style.js_key(2.0)] == "50"
    # The highest bin on top: 0.4 of 0.5..-0.5 over 10 rows sits at -0.5 + 10 * (0.4 - 0.5) / -1 = 0.5
    left = plot._left_axis
    assert sorted(left.tick_labels.values()) == sorted(["0.4", "0.2", "0", "-0.2", "-0.4"])
    assert left.tick_labels[style.js_key(0.5)] == "0.4" and left.tick_labels[style.js_key(8.5)] == "-0.4"
    plot.label()
    plot.show(np.zeros((3, 3)), -1.0, 1.0)
    assert not plot._left_axis.visible and plot.figure.fig_margin["left"] == plot.base_margin["left"]


def test_the_theme_replaces_bqplots_orange_dark_text() -> None:
    css = style.THEME_CSS
    assert "--bq-content-font-color: var(--jp-ui-font-color1" in css and "orange" not in css
    assert "nbviz-greys" in css and "invert(1)" in css


def test_the_metrics_table_lines_up_and_its_header_reads() -> None:
    """It read "selection of data accuracy loss" over 0.98 / 0.06199 / 0.9806."""
    from nbviz.compute.analysis.answers import MetricsTable
    from nbviz.ui.panels.diagnostics import CELL_BLUE, metrics_html

    datasets = MetricsTable(("accuracy", "loss"), (("train", 1437, (0.98, 0.06199)), ("data", 360, (0.9806, 0.5))))
    selections = MetricsTable(("accuracy", "loss"), (("selection 1", 36, (1.0, 0.00012)),))
    html = metrics_html(datasets, selections)
    assert "<th>dataset (samples)</th><th>accuracy</th><th>loss</th>" in html
    assert "<th>selection (samples)</th>" in html and "selection of data" not in html
    assert "<td><b>train</b> (1,437)</td><td>0.9800</td><td>0.0620</td>" in html
    assert "<td><b>data</b> (360)</td><td>0.9806</td><td>0.5000</td>" in html
    assert "<td>1e-4</td>" not in html and "<td>1.2e-4</td>" in html  # never "0.000" for a loss of 0.00012
    assert metrics_html(MetricsTable(("accuracy",)), MetricsTable(("accuracy",))) == ""
    # The counts on the confusion matrix are black: they must read on its darkest cell.
    assert style.contrast("#000000", CELL_BLUE) >= 4.5


def test_token_chips_write_in_the_colour_that_reads_on_them() -> None:
    """White text on near-white chips (the dark theme's inherited colour) was unreadable."""
    from nbviz.ui.plots.tokens import token_chips

    html = token_chips(("the", " cat", "sat"), ("#f7f7f7", "#2166ac", ""))
    assert "background:#f7f7f7; color:#000000'>the<" in html
    assert "background:#2166ac; color:#ffffff'> cat<" in html
    assert "<span class='nbviz-token'>sat</span>" in html  # no colour: the theme's own text colour


def test_the_projectors_picture_has_a_transparent_background() -> None:
    """An opaque white square sat in the dark theme's page; the points' colours are kept exactly."""
    from nbviz.ui.plots.projector import ProjectorPlot, png_pixels

    plot = ProjectorPlot(lambda x, y: None, lambda xs, ys: None)
    rgb = np.full((6, 8, 3), 255, np.uint8)
    rgb[2, 3], rgb[4, 5] = (78, 121, 167), (250, 250, 250)
    plot.show(rgb, (-3.2, 8.17), (0.0, 1.0), "projection", (["#4e79a7"], 0.0, 1.0, False))
    data = bytes(plot.image_widget.value)
    assert data[25] == 6  # RGBA
    np.testing.assert_array_equal(png_pixels(data), rgb)
    import zlib

    raw = np.frombuffer(zlib.decompress(data[41:-12]), np.uint8).reshape(6, 1 + 4 * 8)[:, 1:].reshape(6, 8, 4)
    assert raw[0, 0, 3] == 0 and raw[2, 3, 3] == 255 and raw[4, 5, 3] == 255  # only pure white is see-through
    assert list(plot.x_axis.tick_labels.values()) == ["-2", "0", "2", "4", "6", "8"]


def test_vertical_bars_named_by_text_are_drawn_at_positions_with_their_names_below() -> None:
    """Names as x on a linear scale are NaN to bqplot: no bar was drawn, and every tick threw "translate(NaN, 0)"
    in the console (the cancer MLP's saliency and d loss / d output bars)."""
    plot = BarsPlot("saliency per feature")
    names = [f"feature number {i}" for i in range(30)]
    plot.show(np.linspace(-1, 1, 30), labels=np.array(names))
    np.testing.assert_array_equal(np.asarray(plot.mark.x), np.arange(30, dtype=np.float32))
    ticks = plot.index_axis.tick_values
    assert len(ticks) == 12 and ticks[0] == 0 and ticks[-1] == 29
    assert plot.index_axis.tick_labels[style.js_key(29.0)] == style.shorten("feature number 29", 14)
    assert plot.index_axis.tick_rotate == -90 and plot.figure.fig_margin["bottom"] > 90
    plot.show(np.arange(5.0), labels=np.linspace(0.0, 1.0, 5))  # numbers again: a histogram's centres
    assert plot.names is None and plot.index_axis.tick_rotate == 0 and plot.figure.fig_margin["bottom"] == 30


def test_a_reason_for_no_figure_takes_one_line_and_work_in_progress_holds_its_place() -> None:
    """A layer no gradient reaches left 340 px blank under one sentence on the gradients tab."""
    plot = HeatmapPlot("d loss / d this weight", size=("400px", "340px"))
    assert plot.note_text == "computing..." and plot.note.layout.height == "340px"  # the page does not jump
    plot.clear("not differentiable here: no gradient reaches it")
    assert plot.note.layout.height is None and plot.widget.children == (plot.title, plot.note)
    plot.show(np.ones((3, 3)), 0.0, 1.0)
    assert plot.widget.children == (plot.title, plot._body, plot.note) and plot.note.layout.display == "none"
