"""The house style of every figure: ticks, numbers, margins, colours and the theme.

One home for what a person reads on a figure, so that every plot says it the same way:

- tick values on 1-2-5 x 10^k steps (:func:`nice_ticks`), decades on log axes (:func:`decade_ticks`), written by
  :func:`fmt` and sent as bqplot ``tick_labels`` (:func:`set_ticks`): the front end's own guesses gave
  "0/39/78/116/155" and "0.000" for 0.00012;
- numbers formatted by magnitude (:func:`fmt`, :func:`fmt_column`), never "0.000" for a value that is not 0;
- margins sized to the labels they hold (:func:`label_px`);
- count axes from 0 (:func:`count_range`);
- text colours from JupyterLab's theme (:data:`THEME_CSS`) and text on a coloured cell in black or white,
  whichever has the higher contrast (:func:`text_on`, WCAG 2's ratio in :func:`contrast`).

Pure Python and numpy except :func:`figure` and :func:`set_ticks`, which only set bqplot traits.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "THEME_CSS",
    "contrast",
    "count_range",
    "decade_ticks",
    "figure",
    "fmt",
    "fmt_column",
    "js_key",
    "label_px",
    "nice_step",
    "nice_ticks",
    "padded_range",
    "set_ticks",
    "shorten",
    "text_on",
    "tick_text",
]

#: The widths of one character of bqplot's 12 px sans-serif tick text, in px: an upper bound for digits and
#: lower-case letters, so a margin sized with it never cuts a label.
CHAR_PX = 7.0
_SI = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


# ------------------------------------------------------------------------------------------------ numbers
def _trim(text: str) -> str:
    """'1.500' -> '1.5', '2.000' -> '2', '1.20e-04' -> '1.2e-4' (zeros that say nothing)."""
    mantissa, _, exponent = text.partition("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    if not exponent:
        return mantissa
    sign = "-" if exponent.startswith("-") else ""
    return f"{mantissa}e{sign}{exponent.lstrip('+-').lstrip('0') or '0'}"


def fmt(x: float, digits: int = 3) -> str:
    """``x`` with ``digits`` significant digits, written by its magnitude.

    Zero is "0"; |x| in [1e-3, 1e4) positional ("0.062", "12.3", "1234"); smaller in scientific notation
    ("1.2e-4", never "0.000"); larger with an SI suffix ("50.3k", "1.2M"). Trailing zeros are dropped; NaN and
    infinities are written as such.
    """
    x = float(x)
    if not math.isfinite(x):
        return "NaN" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if x == 0:
        return "0"
    size = abs(x)
    if size < 1e-3:
        return _trim(f"{x:.{digits - 1}e}")
    if size >= 1e4:
        for scale, suffix in _SI:
            if size >= scale * (1 - 0.5 * 10.0 ** (1 - digits)):  # 999,999.6 is "1M", not "1000k"
                return fmt(x / scale, digits) + suffix
        return _trim(f"{x:.{digits - 1}e}")  # beyond tera
    decimals = max(0, digits - 1 - math.floor(math.log10(size)))
    return _trim(f"{x:.{decimals}f}")


def fmt_column(values: Iterable[float], digits: int = 3) -> list[str]:
    """The numbers of one table column with the same number of decimals, so they line up and read alike.

    The decimals are those ``digits`` significant digits need for the column's largest magnitude (at least
    enough that no non-zero value reads as 0), positional; a column with values below 1e-3 or at or above 1e4 is
    written by :func:`fmt` value by value.
    """
    array = np.asarray(list(values), dtype=np.float64)
    finite = np.abs(array[np.isfinite(array) & (array != 0)])
    if finite.size == 0:
        return [fmt(v) for v in array]
    if finite.min() < 1e-3 or finite.max() >= 1e4:
        return [fmt(v, digits) for v in array]
    decimals = max(0, digits - 1 - math.floor(math.log10(finite.max())))
    decimals = max(decimals, -math.floor(math.log10(finite.min())))  # 0.004 beside 0.98: "0.004", not "0.00"
    return [f"{v:.{decimals}f}" if math.isfinite(v) else fmt(v) for v in array]


# -------------------------------------------------------------------------------------------------- ticks
def nice_step(span: float, n: int = 5) -> float:
    """The smallest step of 1, 2 or 5 x 10^k that cuts ``span`` into at most ``n`` parts."""
    if not (math.isfinite(span) and span > 0):
        return 1.0
    raw = span / max(n, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    for multiple in (1.0, 2.0, 5.0, 10.0):
        if raw <= multiple * power * (1 + 1e-9):
            return multiple * power
    return 10.0 * power  # pragma: no cover (the loop ends at 10)


def nice_ticks(lo: float, hi: float, n: int = 5) -> np.ndarray:
    """Tick values on a 1-2-5 x 10^k step inside [lo, hi] (at most ``n`` + 1 of them; float64).

    A range of one value (or none) gets that value as its only tick; a non-finite range gets none.
    """
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return np.zeros(0)
    lo, hi = min(lo, hi), max(lo, hi)
    if hi == lo:
        return np.array([lo])
    # The finest 1-2-5 step that gives at most n + 1 ticks: "the smallest step over n parts" alone gave only
    # 0 and 5 on [-3.2, 8.17].
    step = nice_step((hi - lo) / (2 * n), 1)  # finer than needed, then up one step at a time
    while True:
        first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
        if last - first + 1 <= n + 1:
            break
        step = nice_step(step * 1.5, 1)  # the next 1-2-5 step up
    ticks = np.arange(first, last + 1, dtype=np.float64) * step
    # Round to the step's own decimals: 3 * 0.1 is 0.30000000000000004 in binary, and a key of tick_labels.
    decimals = max(0, -math.floor(math.log10(step)) + 1)
    return np.round(ticks, decimals) + 0.0  # + 0.0 turns -0.0 into 0.0


def decade_ticks(lo: float, hi: float) -> np.ndarray:
    """The powers of ten inside [lo, hi] (both > 0) for a log axis; every other decade past 6 of them."""
    if not (lo > 0 and hi > 0 and math.isfinite(lo) and math.isfinite(hi)):
        return np.zeros(0)
    first, last = math.ceil(math.log10(min(lo, hi)) - 1e-9), math.floor(math.log10(max(lo, hi)) + 1e-9)
    exponents = np.arange(first, last + 1)
    if len(exponents) > 6:
        exponents = exponents[:: math.ceil(len(exponents) / 6)]
    return 10.0 ** exponents.astype(np.float64)


def tick_text(ticks: Sequence[float] | np.ndarray, log: bool = False) -> list[str]:
    """The labels of ``ticks``: all with the decimals their step needs, so that neighbours differ.

    A log axis's decades are written "0.01", "1", "100" up to 1e4 and as "1e-5", "1e6" beyond.
    """
    values = np.asarray(ticks, dtype=np.float64)
    if log or len(values) < 2:
        return [fmt(v) for v in values]
    step = float(np.min(np.abs(np.diff(values))))
    size = float(np.max(np.abs(values)))
    if step >= 1e-3 and size < 1e4:
        decimals = max(0, -math.floor(math.log10(step) + 1e-9))
        return [f"{v:.{decimals}f}" if v != 0 else "0" for v in values]
    # Scientific or SI: enough significant digits that the step shows.
    digits = max(1, math.floor(math.log10(size) + 1e-9) - math.floor(math.log10(step) + 1e-9) + 1)
    if size >= 1e4:
        return [fmt(v, digits) for v in values]
    # Small steps: every label in scientific notation ("-1e-3", "-5e-4", "0"), not a mix of styles.
    return [_trim(f"{v:.{digits - 1}e}") if v != 0 else "0" for v in values]


def js_key(value: float) -> str:
    """``value`` as JavaScript's ``String(number)`` writes it: bqplot looks tick labels up by that key."""
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    text = repr(float(value))
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    power = int(exponent)
    if -7 < power < 21:  # JavaScript writes these positionally
        return np.format_float_positional(value, trim="-")
    return f"{mantissa}e{'+' if power > 0 else '-'}{abs(power)}"


def set_ticks(axis: Any, lo: float, hi: float, n: int = 5, log: bool = False) -> list[str]:
    """Put 1-2-5 ticks (decades on a log axis) on a bqplot ``axis`` over [lo, hi], written by :func:`tick_text`.

    Returns the labels, so that a caller can size its margin to them (:func:`label_px`).
    """
    ticks = decade_ticks(lo, hi) if log else nice_ticks(lo, hi, n)
    labels = tick_text(ticks, log=log)
    with axis.hold_sync():
        axis.tick_values = ticks
        axis.tick_labels = {js_key(float(v)): text for v, text in zip(ticks, labels)}
    return labels


def count_range(counts: np.ndarray | Sequence[float], n: int = 5) -> tuple[float, float]:
    """A count axis's span: from 0 to the first 1-2-5 tick at or above the largest count (1 when all are 0)."""
    values = np.asarray(counts, dtype=np.float64)
    top = float(np.nanmax(values)) if values.size and np.isfinite(values).any() else 0.0
    if top <= 0:
        return 0.0, 1.0
    step = nice_step(top, n)
    return 0.0, math.ceil(top / step - 1e-9) * step


def shorten(text: str, most: int = 30) -> str:
    """``text`` cut in the middle with an ellipsis when longer than ``most`` characters: a layer's scope and its
    own name both stay readable ("transformer_layer_0/…/attention_output")."""
    if len(text) <= most:
        return text
    head = (most - 1) // 2
    return f"{text[:head]}\u2026{text[len(text) - (most - 1 - head) :]}"


def padded_range(values: np.ndarray | Sequence[float], pad: float = 0.05) -> tuple[float, float]:
    """The finite values' range with ``pad`` of it free on either side, so that marks at the ends are drawn
    whole; a single value (or none) gets a range around it."""
    array = np.asarray(values, dtype=np.float64).ravel()
    array = array[np.isfinite(array)]
    lo, hi = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
    margin = pad * (hi - lo) if hi > lo else max(abs(lo), 1e-6)
    return lo - margin, hi + margin


def label_px(labels: Iterable[str], pad: float = 12.0, most: float = 220.0) -> int:
    """A margin in px that holds the longest of ``labels`` (at most ``most``: longer names are cut by their
    caller with an ellipsis)."""
    longest = max((len(text) for text in labels), default=0)
    return int(min(most, pad + CHAR_PX * longest))


# ------------------------------------------------------------------------------------------------ colours
def _luminance(color: str) -> float:
    """WCAG 2's relative luminance of "#rrggbb"."""
    text = color.lstrip("#")
    if len(text) == 3:
        text = "".join(c * 2 for c in text)
    channels = [int(text[i : i + 2], 16) / 255.0 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(color_a: str, color_b: str) -> float:
    """WCAG 2's contrast ratio of two "#rrggbb" colours, from 1 (equal) to 21 (black on white)."""
    a, b = sorted((_luminance(color_a), _luminance(color_b)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def text_on(background: str) -> str:
    """Black or white, whichever has the higher contrast on ``background`` ("#rrggbb")."""
    return "#000000" if contrast("#000000", background) >= contrast("#ffffff", background) else "#ffffff"


# ---------------------------------------------------------------------------------------------- the theme
#: Injected once by each Explorer, CompareView and LiveTraining (a ``<style>`` in an HTML widget), scoped by
#: the class ``nbviz-view``. bqplot colours its text with ``--bq-content-font-color``, which its own CSS sets to
#: orange whenever JupyterLab's theme is dark; here it is JupyterLab's own text colour in either theme, and
#: figures are transparent so that they sit on the notebook's background.
THEME_CSS = """
.nbviz-view {
  --bq-content-font-color: var(--jp-ui-font-color1, #1a1a1a);
  --bq-mainheading-fill: var(--jp-ui-font-color1, #1a1a1a);
  --bq-axislabel-fill: var(--jp-ui-font-color1, #1a1a1a);
  --bq-axis-tick-text-fill: var(--jp-ui-font-color1, #1a1a1a);
  --bq-axis-border-color: var(--jp-ui-font-color2, #555);
  --bq-plotarea-background-fill: transparent;
  --bq-background: transparent;
}
/* bqplot's figure theme ("classic") sets its own tick colour (--jp-content-font-color2: 4.4:1 on a light grey)
   on the figure itself, nearer than .nbviz-view: matched there. */
.nbviz-view .bqplot.classic, .nbviz-view .bqplot.gg {
  --bq-axis-tick-text-fill: var(--jp-ui-font-color1, #1a1a1a);
  --bq-plotarea-background-fill: transparent;
}
.nbviz-view .bqplot > .svg-background, .nbviz-view .bqplot > svg { background: transparent; }
.nbviz-view .bqplot .axislabel, .nbviz-view .bqplot .mainheading { fill: var(--jp-ui-font-color1, #1a1a1a); }
/* Token labels drawn by bqplot Label marks (attention views): their fixed dark grey almost vanished on a dark
   background. */
.nbviz-view .nbviz-tokens .mark text { fill: var(--jp-ui-font-color1, #1a1a1a) !important; }
/* Grey pictures (inputs, thumbnails) are drawn dark on light; in a dark theme they are shown light on dark,
   so that a sample does not sit on a glaring white square. The data and the colour scale are unchanged. */
[data-jp-theme-light='false'] .nbviz-view .nbviz-greys image.heatmap { filter: invert(1); }
/* A saliency map over its input: the input light on dark as above, the map's hues kept. */
[data-jp-theme-light='false'] .nbviz-view .nbviz-overlay image { filter: invert(1) hue-rotate(180deg); }
"""


def figure(**kwargs: Any) -> Any:
    """A bqplot Figure in the house style: no pop-up toolbar (it covered the graph and axis labels) and a
    transparent background (the theme's own shows through); other arguments go to ``bq.Figure``."""
    import bqplot as bq

    kwargs.setdefault("display_toolbar", False)
    kwargs.setdefault("background_style", {"fill": "transparent"})
    return bq.Figure(**kwargs)
