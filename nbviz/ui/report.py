"""A static HTML report of an Explorer: the chosen views as they are drawn, in one file that needs no kernel.

Each view is a snapshot of a panel's widgets after the Explorer drew it for one (layer, sample): text as it is
shown, and every bqplot figure drawn again as SVG, heatmaps and pictures as PNG images inlined in the file. The
snapshot reads only what the widgets hold, so redact mode holds in the file as it does in the widget (what the
widget withholds was never drawn). One inline script, a few lines, switches among the exported layers, samples
and tabs; with scripts off every view is shown, one under the other. No file, font or script is fetched.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import bqplot as bq
import ipywidgets as widgets
import numpy as np

from ..compute.methods.raster import color_map
from .markup import escape
from .plots.figures import natural_px, png

__all__ = ["DEFAULT_TABS", "write_report"]

#: Exported unless ``tabs`` says otherwise (SHAP and the projector compute over many samples: ask for them).
DEFAULT_TABS = ("weights", "activations", "gradients", "saliency", "diagnostics", "findings")
DEFAULT_LAYERS = 8
DEFAULT_SAMPLES = 5


# --------------------------------------------------------------------------------------------- figures
def _log(scale: Any, values: Any) -> np.ndarray:
    """Positions along ``scale``: log10 of the values on a log scale (where they are drawn evenly)."""
    values = np.asarray(values, np.float64)
    if isinstance(scale, bq.LogScale):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(values > 0, np.log10(np.where(values > 0, values, 1.0)), np.nan)
    return values


def _domain(scale: Any, values: np.ndarray) -> tuple[float, float]:
    """The scale's range (in positions, see ``_log``): its own min/max where set, else the data's."""
    values = _log(scale, values)
    finite = values[np.isfinite(values)] if values.size else values
    lo = None if getattr(scale, "min", None) is None else float(_log(scale, [scale.min])[0])
    hi = None if getattr(scale, "max", None) is None else float(_log(scale, [scale.max])[0])
    lo = float(np.min(finite)) if lo is None and finite.size else (0.0 if lo is None else float(lo))
    hi = float(np.max(finite)) if hi is None and finite.size else (1.0 if hi is None else float(hi))
    return (lo, hi) if hi != lo else (lo - 0.5, hi + 0.5)


def _colors(values: np.ndarray, scale: Any) -> np.ndarray:
    """(..., 3) uint8 colours of ``values`` on a bqplot ColorScale (piecewise through ``mid``), NaN light grey."""
    colors = list(scale.colors)
    lo, hi = _domain(scale, values.ravel())
    mid = getattr(scale, "mid", None)
    v = np.asarray(values, np.float64)
    finite = np.isfinite(v)
    if mid is not None and len(colors) == 3 and lo < mid < hi:  # each half of the ramp spans its side of mid
        v = np.where(v < mid, (v - lo) / (mid - lo) * 0.5, 0.5 + (v - mid) / (hi - mid) * 0.5)
        lo, hi = 0.0, 1.0
    out = color_map(v.ravel(), colors, lo, hi, categorical=False).reshape(*v.shape, 3)
    out[~finite] = (232, 232, 232)  # as the HeatMap's null colour
    return out


def _hex(rgb: np.ndarray) -> str:
    return "#" + "".join(f"{int(c):02x}" for c in rgb)


def _data_url(data: bytes, kind: str = "png") -> str:
    return f"data:image/{kind};base64,{base64.b64encode(data).decode()}"


class _Frame:
    """Maps data coordinates of a figure's scales to SVG pixels inside its margins."""

    def __init__(self, figure: bq.Figure) -> None:
        self.width = natural_px(figure, "width", 400.0)
        self.height = natural_px(figure, "height", 300.0)
        margin = dict(figure.fig_margin or {})
        self.left, self.right = float(margin.get("left", 60)), float(margin.get("right", 60))
        self.top, self.bottom = float(margin.get("top", 60)), float(margin.get("bottom", 60))
        self.inner_w = max(self.width - self.left - self.right, 1.0)
        self.inner_h = max(self.height - self.top - self.bottom, 1.0)
        self.domains: dict[int, tuple[float, float]] = {}  # scale id -> the range its marks were drawn on

    def seen(self, scale: Any, domain: tuple[float, float]) -> tuple[float, float]:
        """Note the range ``scale`` was drawn on (its axis is labelled with it); returns it."""
        self.domains.setdefault(id(scale), domain)
        return domain

    def x(self, scale: Any, values: Any, domain: tuple[float, float]) -> np.ndarray:
        """Pixels of ``values`` along ``scale`` drawn horizontally over ``domain``."""
        lo, hi = self.seen(scale, domain)
        return self.left + (_log(scale, values) - lo) / (hi - lo) * self.inner_w

    def y(self, scale: Any, values: Any, domain: tuple[float, float]) -> np.ndarray:
        """Pixels of ``values`` along ``scale`` drawn vertically (upwards unless the scale is reversed)."""
        lo, hi = self.seen(scale, domain)
        t = (_log(scale, values) - lo) / (hi - lo)
        t = t if getattr(scale, "reverse", False) else 1.0 - t
        return self.top + t * self.inner_h


def _numeric(values: Any) -> np.ndarray | None:
    array = np.asarray(values)
    return array.astype(np.float64) if array.dtype.kind in "fiub" else None


def _positions(values: Any, scale: Any) -> tuple[np.ndarray, tuple[float, float], list[str] | None]:
    """Numeric positions of ``values`` on ``scale`` (an ordinal scale places categories at 0..k-1)."""
    numeric = _numeric(values)
    if numeric is not None and not isinstance(scale, bq.OrdinalScale):
        return numeric.ravel(), _domain(scale, numeric.ravel()), None
    labels = [str(v) for v in np.asarray(values).ravel()]
    return np.arange(len(labels), dtype=np.float64), (-0.5, len(labels) - 0.5), labels


def _heatmap(mark: bq.HeatMap, frame: _Frame) -> str:
    color = np.asarray(mark.color, np.float64)
    if color.ndim != 2 or color.size == 0:
        return ""
    rgb = _colors(color, mark.scales["color"])
    sx, sy = mark.scales["x"], mark.scales["y"]
    xd, yd = _domain(sx, np.asarray(mark.x, np.float64)), _domain(sy, np.asarray(mark.y, np.float64))
    rows, cols = color.shape
    x0, x1 = frame.x(sx, np.array([-0.5, cols - 0.5]), xd)
    y0, y1 = frame.y(sy, np.array([-0.5, rows - 0.5]), yd)
    return _image_element(rgb, min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0))


def _grid_heatmap(mark: bq.GridHeatMap, frame: _Frame) -> str:
    color = np.asarray(mark.color, np.float64)
    if color.ndim != 2 or color.size == 0:
        return ""
    rgb = _colors(color, mark.scales["color"])
    return _image_element(rgb, frame.left, frame.top, frame.inner_w, frame.inner_h)


def _image_element(rgb: np.ndarray, x: float, y: float, w: float, h: float) -> str:
    return (
        f'<image x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" preserveAspectRatio="none" '
        f'style="image-rendering:pixelated" href="{_data_url(png(rgb))}"/>'
    )


def _picture(mark: bq.Image, frame: _Frame) -> str:
    image = mark.image
    if not isinstance(image, widgets.Image) or not image.value:
        return ""
    sx, sy = mark.scales["x"], mark.scales["y"]
    xs, ys = np.asarray(mark.x, np.float64), np.asarray(mark.y, np.float64)
    x0, x1 = frame.x(sx, xs[:2], _domain(sx, xs))
    y0, y1 = frame.y(sy, ys[:2], _domain(sy, ys))
    return (
        f'<image x="{min(x0, x1):.1f}" y="{min(y0, y1):.1f}" width="{abs(x1 - x0):.1f}" height="{abs(y1 - y0):.1f}"'
        f' preserveAspectRatio="none" href="{_data_url(bytes(image.value), image.format or "png")}"/>'
    )


def _bars(mark: bq.Bars, frame: _Frame) -> str:
    y = _numeric(mark.y)
    if y is None or y.size == 0:
        return ""
    y = y.ravel()
    sx, sy = mark.scales["x"], mark.scales["y"]
    pos, xd, labels = _positions(mark.x, sx)
    yd = _domain(sy, np.concatenate([y, [0.0]]))
    color = _numeric(mark.color)
    fills = (
        [_hex(c) for c in _colors(color.ravel(), mark.scales["color"])]
        if color is not None and color.size == y.size and "color" in mark.scales
        else [(list(mark.colors) or ["#1f77b4"])[0]] * y.size
    )
    horizontal = mark.orientation == "horizontal"
    out = []
    step = (frame.inner_h if horizontal else frame.inner_w) / max(xd[1] - xd[0], 1e-9) * (1 - float(mark.padding))
    for i, (p, v) in enumerate(zip(pos, y)):
        if not np.isfinite(v):
            continue
        name = labels[i] if labels else f"{p:g}"
        tip = f"<title>{escape(name)}: {v:.4g}</title>"
        if horizontal:
            c = float(frame.y(sx, np.array([p]), xd)[0])
            a, b = frame.x(sy, np.array([0.0, v]), yd)
            out.append(
                f'<rect x="{min(a, b):.1f}" y="{c - step / 2:.1f}" width="{abs(b - a):.1f}" height="{step:.1f}"'
                f' fill="{fills[i]}">{tip}</rect>'
            )
        else:
            c = float(frame.x(sx, np.array([p]), xd)[0])
            a, b = frame.y(sy, np.array([0.0, v]), yd)
            out.append(
                f'<rect x="{c - step / 2:.1f}" y="{min(a, b):.1f}" width="{step:.1f}" height="{abs(b - a):.1f}"'
                f' fill="{fills[i]}">{tip}</rect>'
            )
    if labels and len(labels) <= 30:  # the category names along the index axis
        for i, name in enumerate(labels):
            if horizontal:
                c = float(frame.y(sx, np.array([pos[i]]), xd)[0])
                out.append(_text(frame.left - 4, c + 4, name, "end"))
            else:
                c = float(frame.x(sx, np.array([pos[i]]), xd)[0])
                out.append(_text(c, frame.top + frame.inner_h + 14, name, "middle"))
    return "".join(out)


def _lines(mark: bq.Lines, frame: _Frame) -> str:
    xs, ys = _numeric(mark.x), _numeric(mark.y)
    if xs is None or ys is None or ys.size == 0:
        return ""
    ys2 = ys if ys.ndim == 2 else ys[np.newaxis]
    xs2 = xs if xs.ndim == 2 else np.broadcast_to(xs, ys2.shape) if xs.size == ys2.shape[-1] else None
    if xs2 is None:
        return ""
    sx, sy = mark.scales["x"], mark.scales["y"]
    xd, yd = _domain(sx, xs2.ravel()), _domain(sy, ys2.ravel())
    colors = list(mark.colors) or ["#1f77b4"]
    out = []
    for k, (x, y) in enumerate(zip(xs2, ys2)):
        keep = np.isfinite(x) & np.isfinite(y)
        if keep.sum() < 2:
            continue
        px, py = frame.x(sx, x[keep], xd), frame.y(sy, y[keep], yd)
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py))
        out.append(
            f'<polyline points="{points}" fill="none" stroke="{colors[k % len(colors)]}" '
            f'stroke-width="{float(mark.stroke_width or 2):g}"/>'
        )
    return "".join(out)


def _scatter(mark: bq.Scatter, frame: _Frame) -> str:
    xs, ys = _numeric(mark.x), _numeric(mark.y)
    if xs is None or ys is None or xs.size == 0 or xs.size != ys.size:
        return ""
    sx, sy = mark.scales["x"], mark.scales["y"]
    px = frame.x(sx, xs.ravel(), _domain(sx, xs.ravel()))
    py = frame.y(sy, ys.ravel(), _domain(sy, ys.ravel()))
    colors = list(mark.colors) or ["#1f77b4"]
    color = _numeric(mark.color) if mark.color is not None else None
    fills = (
        [_hex(c) for c in _colors(color.ravel(), mark.scales["color"])]
        if color is not None and color.size == xs.size and "color" in mark.scales
        else [colors[i % len(colors)] for i in range(xs.size)]
    )
    names = [str(n) for n in np.asarray(mark.names).ravel()] if mark.names is not None and mark.display_names else []
    radius = max(float(np.sqrt(float(mark.default_size or 64))) / 2.5, 1.5)
    out = []
    for i, (a, b) in enumerate(zip(px, py)):
        if np.isfinite(a) and np.isfinite(b):
            out.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="{radius:.1f}" fill="{fills[i]}"/>')
            if i < len(names):
                out.append(_text(a + radius + 3, b + 4, names[i], "start"))
    return "".join(out)


def _text(x: float, y: float, text: str, anchor: str) -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="11">{escape(text)}</text>'


def _color_axis(axis: bq.ColorAxis, frame: _Frame) -> str:
    scale = axis.scale
    lo, hi = _domain(scale, np.zeros(0))
    steps = np.linspace(lo, hi, 64)[::-1, np.newaxis]
    bar = _colors(steps, scale)
    x = frame.left + frame.inner_w + 12
    h = min(frame.inner_h, 160.0)
    y = frame.top + (frame.inner_h - h) / 2
    return (
        _image_element(bar, x, y, 12, h)
        + _text(x + 16, y + 8, f"{hi:.3g}", "start")
        + _text(x + 16, y + h, f"{lo:.3g}", "start")
    )


def _axis(axis: bq.Axis, frame: _Frame) -> str:
    """A number axis: its line, three ticks (ends and middle) and its label; category axes are named by the bars."""
    domain = frame.domains.get(id(axis.scale))
    if domain is None or isinstance(axis.scale, bq.OrdinalScale):
        return ""
    lo, hi = domain
    log = isinstance(axis.scale, bq.LogScale)
    ticks = 10.0 ** np.linspace(lo, hi, 3) if log else np.linspace(lo, hi, 3)  # values: x() and y() place them
    names = [f"{t:.3g}" for t in ticks]
    vertical = axis.side in ("left", "right") or axis.orientation == "vertical"
    out = []
    if vertical:
        x = frame.left if axis.side != "right" else frame.left + frame.inner_w
        ys = frame.y(axis.scale, ticks, domain)
        out.append(
            f'<line x1="{x:.1f}" y1="{frame.top:.1f}" x2="{x:.1f}" y2="{frame.top + frame.inner_h:.1f}" stroke="#999"/>'
        )
        out += [_text(x - 4, y + 4, name, "end") for y, name in zip(ys, names)]
        if axis.label:
            x, y = max(x - 44, 10), frame.top + frame.inner_h / 2
            out.append(
                f'<text transform="translate({x:.1f},{y:.1f}) rotate(-90)" text-anchor="middle" font-size="11">'
                f"{escape(axis.label)}</text>"
            )
    else:
        y = frame.top + frame.inner_h
        xs = frame.x(axis.scale, ticks, domain)
        out.append(
            f'<line x1="{frame.left:.1f}" y1="{y:.1f}" x2="{frame.left + frame.inner_w:.1f}" y2="{y:.1f}" '
            'stroke="#999"/>'
        )
        out += [_text(x, y + 14, name, "middle") for x, name in zip(xs, names)]
        if axis.label:
            out.append(_text(frame.left + frame.inner_w / 2, y + 30, axis.label, "middle"))
    return "".join(out)


_MARKS: dict[type, Callable[[Any, _Frame], str]] = {
    bq.HeatMap: _heatmap,
    bq.GridHeatMap: _grid_heatmap,
    bq.Image: _picture,
    bq.Bars: _bars,
    bq.Lines: _lines,
    bq.Scatter: _scatter,
}


def figure_svg(figure: bq.Figure) -> str:
    """``figure`` drawn again as an SVG element: its marks (heatmaps and pictures as inlined PNG) and colour bars."""
    frame = _Frame(figure)
    parts = []
    for mark in figure.marks:
        if not getattr(mark, "visible", True):
            continue
        draw = next((fn for kind, fn in _MARKS.items() if isinstance(mark, kind)), None)
        if draw is not None:
            parts.append(draw(mark, frame))
    for axis in figure.axes:
        parts.append(_color_axis(axis, frame) if isinstance(axis, bq.ColorAxis) else _axis(axis, frame))
    title = f"<title>{escape(figure.title)}</title>" if figure.title else ""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{frame.width:.0f}" height="{frame.height:.0f}" '
        f'viewBox="0 0 {frame.width:.0f} {frame.height:.0f}">{title}{"".join(parts)}</svg>'
    )


# --------------------------------------------------------------------------------------------- widgets
def widget_html(widget: widgets.Widget) -> str:
    """What ``widget`` shows now, as static HTML: text as it is, figures as SVG; controls (buttons, sliders,
    checkboxes) are left out, since they need the kernel; a list shows its entries."""
    layout = getattr(widget, "layout", None)
    if layout is not None and layout.display == "none":
        return ""
    if isinstance(widget, bq.Figure):
        return f'<div class="fig">{figure_svg(widget)}</div>'
    if isinstance(widget, (widgets.HTML, widgets.HTMLMath)):
        return f"<div>{widget.value}</div>" if widget.value else ""
    if isinstance(widget, widgets.Label):
        return f"<div>{escape(widget.value)}</div>" if widget.value else ""
    if isinstance(widget, widgets.Image):
        return f'<img src="{_data_url(bytes(widget.value), widget.format or "png")}"/>'
    if isinstance(widget, widgets.Select):
        labels = [option[0] if isinstance(option, tuple) else option for option in widget.options]
        items = "".join(f"<li>{escape(str(label))}</li>" for label in labels)
        return f'<ul class="list">{items}</ul>' if items else ""
    if isinstance(widget, widgets.Dropdown):  # a choice made in the widget: say which
        if widget.value is None or not widget.description:
            return ""
        return f'<div class="choice">{escape(widget.description)}: <b>{escape(str(widget.label))}</b></div>'
    if isinstance(widget, widgets.Tab):
        index = widget.selected_index
        return widget_html(widget.children[index]) if index is not None and widget.children else ""
    if isinstance(widget, widgets.Box):
        inner = "".join(widget_html(child) for child in widget.children)
        if not inner:
            return ""
        row = isinstance(widget, widgets.HBox) or (layout is not None and "row" in str(layout.flex_flow or ""))
        return f'<div class="{"row" if row else "col"}">{inner}</div>'
    return ""


# --------------------------------------------------------------------------------------------- report
_STYLE = """
body{font:14px system-ui,sans-serif;color:#222;background:#fff;margin:16px}
header{display:flex;gap:16px;align-items:baseline;flex-wrap:wrap}
nav{display:flex;gap:12px;margin:10px 0;flex-wrap:wrap}
.row{display:flex;flex-flow:row wrap;gap:8px;align-items:flex-start}.col{display:flex;flex-direction:column;gap:4px}
.view{border-top:1px solid #ddd;padding-top:8px;margin-top:8px}.view h3{margin:4px 0;font-size:15px}
.sample{float:left;margin-right:16px;width:300px}.list{max-height:160px;overflow:auto;font-size:12px}
.fig svg{overflow:visible}.note{color:#555}
@media (prefers-color-scheme: dark){body{background:#1e1e1e;color:#ddd}.view{border-color:#444}
.fig svg{background:#fff}}
"""

_SCRIPT = """
(function(){
  var pick = {};
  function show(){
    document.querySelectorAll('[data-view]').forEach(function(el){
      var ok = ['layer','sample','tab'].every(function(k){
        var v = el.getAttribute('data-' + k); return v === '*' || v === pick[k];
      });
      el.style.display = ok ? '' : 'none';
    });
  }
  document.querySelectorAll('nav select').forEach(function(s){
    pick[s.name] = s.value;
    s.addEventListener('change', function(){ pick[s.name] = s.value; show(); });
  });
  show();
})();
"""


def _select(name: str, options: Sequence[tuple[str, str]]) -> str:
    items = "".join(f'<option value="{escape(v)}">{escape(label)}</option>' for label, v in options)
    return f'<label>{name} <select name="{name}">{items}</select></label>'


def _checked_choice(name: str, given: Any, known: Sequence[Any], default: Sequence[Any], kind: type) -> list[Any]:
    if given is None:
        return list(default)
    if isinstance(given, (str, bytes)) or not isinstance(given, Sequence | np.ndarray):
        raise TypeError(f"{name}: expected a list of {kind.__name__}, got {type(given).__name__}")
    chosen = list(given)
    for item in chosen:
        if kind is int and isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            continue
        if not isinstance(item, kind) or isinstance(item, bool):
            raise TypeError(f"{name}: expected a list of {kind.__name__}, got an item {item!r}")
    unknown = [item for item in chosen if item not in known]
    if unknown:
        shown = list(known)[:8]
        raise ValueError(f"{name}: expected items among {shown}{'...' if len(known) > 8 else ''}, got {unknown}")
    if not chosen:
        raise ValueError(f"{name}: expected at least one, got none")
    return [int(i) for i in chosen] if kind is int else chosen


def _spread(items: Sequence[str], count: int) -> list[str]:
    if len(items) <= count:
        return list(items)
    return [items[int(round(i))] for i in np.linspace(0, len(items) - 1, count)]


def write_report(
    view: Any,
    path: str | os.PathLike[str],
    layers: Sequence[str] | None = None,
    samples: Sequence[int] | None = None,
    tabs: Sequence[str] | None = None,
) -> Path:
    """Write ``view``'s chosen views to ``path`` as one self-contained HTML file; see :meth:`Explorer.save_html`.

    The view is moved through the chosen layers, samples and tabs to draw them, and put back where it was.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a file path (str or os.PathLike), got {type(path).__name__}")
    target = Path(path)
    # Checked before the views are drawn (which takes a while), each saying which path it is about.
    if target.is_dir():
        raise ValueError(f"path: expected a file path, got the folder {str(target)!r}")
    if not target.parent.is_dir():
        raise ValueError(f"path: expected a file in an existing folder, got {str(target)!r}")
    analysis = view.analysis
    names = list(analysis.graph.names)
    learned = [n for n in getattr(analysis, "learning_layers", ()) if n in names] or names
    layers = _checked_choice("layers", layers, names, _spread(learned, DEFAULT_LAYERS), str)
    n = analysis.data.n_samples
    samples = _checked_choice("samples", samples, range(n), list(range(min(DEFAULT_SAMPLES, n))), int)
    available = [t for t in view.panels if t != "training"]
    tabs = _checked_choice("tabs", tabs, available, [t for t in DEFAULT_TABS if t in available], str)

    before = (view.layer, view.sample, view.tab)
    views, samples_html = [], {}
    try:
        for tab in tabs:
            panel = view.panels[tab]
            by_layer = "layer" in panel.depends_on
            by_sample = "sample" in panel.depends_on
            for layer in layers if by_layer else [layers[0]]:
                for sample in samples if by_sample else [samples[0]]:
                    view.navigate(layer=layer, sample=sample, tab=tab)
                    body = widget_html(panel.widget) + widget_html(view.message)
                    heading = " · ".join(
                        [panel.title] + ([layer] if by_layer else []) + ([f"sample {sample}"] if by_sample else [])
                    )
                    views.append(
                        f'<section class="view" data-view data-tab="{escape(tab)}" '
                        f'data-layer="{escape(layer) if by_layer else "*"}" '
                        f'data-sample="{sample if by_sample else "*"}"><h3>{escape(heading)}</h3>{body}</section>'
                    )
                    if sample not in samples_html:
                        samples_html[sample] = widget_html(view.sample_view.widget)
    finally:
        view.navigate(layer=before[0], sample=before[1], tab=before[2])
    sample_views = "".join(
        f'<section class="sample" data-view data-layer="*" data-tab="*" data-sample="{s}">{body}</section>'
        for s, body in samples_html.items()
    )
    graph = analysis.graph
    subject = " vs ".join(view.model_names)  # the model, or a comparison's A and B
    title = f"nbviz report: {subject}"
    redacted = bool(getattr(getattr(analysis, "policy", None), "redact", False))
    summary = (
        f"<b>{escape(subject)}</b> · {graph.total_params:,} parameters · "
        f"{len(names)} layers · {n} samples · written {time.strftime('%Y-%m-%d %H:%M')}"
        + (" · redact mode: no raw input value in this file" if redacted else "")
    )
    navigation = "".join(
        [
            _select("tab", [(view.panels[t].title, t) for t in tabs]),
            _select("layer", [(layer, layer) for layer in layers]),
            _select("sample", [(f"#{s}", str(s)) for s in samples]),
        ]
    )
    document = (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body><header><h2>{escape(title)}</h2><div>{summary}</div></header>"
        f'<p class="note">A snapshot: switch among the exported tabs, layers and samples here; hover a bar for its '
        f"value. Everything else (other layers and samples, clicks, SHAP refinement, training) needs the running "
        f"notebook.</p><nav>{navigation}</nav>{sample_views}<main>{''.join(views)}</main>"
        f"<script>{_SCRIPT}</script></body></html>"
    )
    try:
        target.write_text(document, encoding="utf-8")
    except OSError as err:  # the same kind of error (PermissionError, ...), saying which path
        reason = err.strerror or str(err)
        raise type(err)(err.errno, f"path: cannot write the report to {str(target)!r}: {reason}") from err
    return target
