"""Checks that see what a person sees: JavaScript run on a rendered page, each returning human-readable failures.

Each check is a JavaScript function of one element (the Explorer's output, or one tab panel) that returns a list of
strings, one per defect found, empty when the element passes. Run them with :func:`run_checks` (or
``locator.evaluate(CHECK)``). They read the page as drawn (bounding boxes, computed styles, the pixels of the
pictures), not the widgets' state, so a check fails where a person would frown:

- :data:`TICK_OVERLAP`: two tick labels of one axis whose boxes overlap ("-0.00070.0006");
- :data:`TEXT_OUTSIDE`: text cut by its figure (an SVG text past the ``svg``) or wider than its box (an HTML element
  whose scroll width passes its client width: a cut cell, a cut layer name);
- :data:`COUNT_AXES`: a count axis that does not start at 0 or goes negative. A count axis is the vertical axis of a
  figure with the CSS class ``nbviz-count`` (the horizontal one with ``nbviz-count-x``), or any axis whose label
  says "count" or "samples";
- :data:`TICK_STEPS`: numeric tick labels whose values are not 1, 2 or 5 x 10^k apart (0/39/78/116/155), or are
  not distinct ("0.000" twice); a log axis passes with decades (1e-3, 1e-2, ...);
- :data:`ASPECT`: a picture drawn more than 5% off its data's aspect ratio (see below);
- :data:`CONTRAST`: text whose contrast with what is drawn behind it is under 4.5:1 (WCAG AA);
- :data:`BLANK`: a run of more than 200 px of the element's height where nothing visible is drawn;
- :class:`ConsoleLog` (Python, not JavaScript): console errors and warnings, and uncaught page errors.

How the aspect ratio is found (the robust way, documented here because bqplot hides the data's shape): bqplot draws
a HeatMap into a canvas the size of the plot area and shows it as one ``<image class="heatmap">``, so the PNG's
size is the figure's, not the data's. The check reads that PNG's pixels instead and measures its cells: it notes,
in every row, where the colour changes (a cell's edge), keeps the columns where edges recur, and fits one cell width
to their spacing (edges of several cells apart count as a multiple of it); the same down the columns gives the cell
height. A picture's cells are square pixels of the data, so width / height must be 1 within 5%. Exact shapes win
over that estimate: a figure with the class ``nbviz-shape-<rows>x<cols>`` (the data's cells, all tiles and gutters
included) is compared with its rendered plot area. Only pictures are held to it, not every matrix (a layer's
weights, 784 x 64, need not have square cells): a heatmap is a picture when its figure has the class
``nbviz-picture``, or when the title of its plot (``.nbviz-title``) names a picture (:data:`PICTURE_TITLES`). A
bqplot Image mark or an HTML ``<img>`` carries its picture at its own size: its PNG's natural width / height is
compared with its box (an ``<img>`` with ``object-fit: contain`` keeps its ratio by itself).

Contrast: the text's colour (SVG text: its ``fill``) with its opacity, against what lies under the middle of its box
(``document.elementsFromPoint``: the first opaque background of an HTML element, an SVG shape's fill, or the pixel
of a picture under it), layered until opaque; text off screen falls back to its ancestors' backgrounds.
"""

# The checks are JavaScript in strings; their long template literals read better unbroken.
# ruff: noqa: E501

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MIN_CONTRAST = 4.5
MAX_BLANK_PX = 200
ASPECT_TOLERANCE = 0.05
# Plot titles of heatmaps that show pictures (images, their tiles): their cells must be square.
PICTURE_TITLES = (
    "sample",
    "samples that activate it most",
    "nearest samples in this layer",
    "optimised input",
    "saliency",
    "over the input",
    "output",
    "|error|",
)

# Shared helpers, put at the top of every check's body.
_HELPERS = r"""
const H = {};
H.visible = e => {
    const box = e.getBoundingClientRect();
    if (box.width <= 0 || box.height <= 0) return false;
    for (let n = e; n && n.nodeType === 1; n = n.parentElement) {
        const s = getComputedStyle(n);
        if (s.display === 'none' || s.visibility === 'hidden' || s.opacity === '0') return false;
    }
    return true;
};
H.text = e => (e.textContent || '').replace(/\s+/g, ' ').trim();
H.title = e => {
    const plot = e.closest('.nbviz-plot');
    const title = plot && plot.querySelector('.nbviz-title');
    return title ? H.text(title) : '';
};
H.where = e => {
    const t = H.title(e);
    return t ? ` in '${t.slice(0, 60)}'` : '';
};
H.name = e => `${e.tagName.toLowerCase()}${[...e.classList].map(c => '.' + c).join('')} '${H.text(e).slice(0, 50)}'`;
// A tick label's number: d3's minus sign, thousands commas, SI suffixes, %, scientific; NaN when not a number.
H.number = raw => {
    let t = raw.replace(/\u2212/g, '-').trim();  // "0 31" (a position and its token) is not a number
    if (/^-?\d{1,3}(,\d{3})+(\.\d+)?/.test(t)) t = t.replace(/,/g, '');
    const m = t.match(/^([-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?)([TGMkmµun%]?)$/i);
    if (!m) return NaN;
    const scale = {T: 1e12, G: 1e9, M: 1e6, k: 1e3, m: 1e-3, 'µ': 1e-6, u: 1e-6, n: 1e-9, '%': 1e-2, '': 1};
    return parseFloat(m[1]) * (scale[m[4]] ?? NaN);
};
// The value of one step in a label's last digit: "0.05" 0.01, "155" 1, "2.5e-4" 1e-5, "25k" 1000.
H.unit = raw => {
    const t = raw.replace(/\u2212/g, '-').trim();
    const m = t.match(/^[-+]?(\d*)\.?(\d*)(e([-+]?\d+))?([TGMkmµun%]?)$/i);
    if (!m) return 0;
    const scale = {T: 1e12, G: 1e9, M: 1e6, k: 1e3, m: 1e-3, 'µ': 1e-6, u: 1e-6, n: 1e-9, '%': 1e-2, '': 1}[m[5]] ?? 1;
    return Math.pow(10, -m[2].length + (m[4] ? parseInt(m[4]) : 0)) * scale;
};
H.axes = root => [...root.querySelectorAll('g.axis')].filter(a => a.querySelector('g.tick') && H.visible(a));
H.ticks = axis => [...axis.querySelectorAll('g.tick text')].filter(t => H.text(t) && H.visible(t));
H.axisLabel = axis => {
    const own = axis.querySelector('text.axislabel') || axis.parentElement?.querySelector('text.axislabel');
    return own ? H.text(own) : '';
};
H.vertical = ticks => {
    const c = ticks.map(t => t.getBoundingClientRect());
    const spread = f => Math.max(...c.map(f)) - Math.min(...c.map(f));
    return spread(b => b.top + b.height / 2) > spread(b => b.left + b.width / 2);
};
// A text's box shrunk to its ink: a line box is taller than the digits in it, and neighbours' boxes may touch.
H.ink = e => {
    const b = e.getBoundingClientRect(), cut = 0.15 * b.height;
    return {left: b.left, right: b.right, top: b.top + cut, bottom: b.bottom - cut};
};
H.overlap = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 0.5 &&
    Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 0.5;
H.axisName = axis => {
    const label = H.axisLabel(axis);
    return (label ? `axis '${label}'` : 'an axis') + H.where(axis);
};
H.rgba = text => {
    const m = (text || '').match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
};
H.over = (top, below) => {  // top over below (below opaque)
    const a = top.a;
    return {r: top.r * a + below.r * (1 - a), g: top.g * a + below.g * (1 - a), b: top.b * a + below.b * (1 - a), a: 1};
};
H.luminance = c => {
    const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
};
H.contrast = (a, b) => {
    const [x, y] = [H.luminance(a), H.luminance(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
};
H.hex = c => '#' + [c.r, c.g, c.b].map(v => Math.round(v).toString(16).padStart(2, '0')).join('');
H.pixels = {};
H.load = href => {  // the RGBA pixels of a picture (data: URLs and same-origin files), cached per href
    if (!H.pixels[href]) H.pixels[href] = new Promise(resolve => {
        const img = new Image();
        img.onload = () => {
            const canvas = document.createElement('canvas');
            canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
            const ctx = canvas.getContext('2d');
            ctx.drawImage(img, 0, 0);
            try {
                resolve({w: canvas.width, h: canvas.height, data: ctx.getImageData(0, 0, canvas.width, canvas.height).data});
            } catch (err) { resolve(null); }  // a cross-origin picture: unreadable
        };
        img.onerror = () => resolve(null);
        img.src = href;
    });
    return H.pixels[href];
};
H.href = e => e.getAttribute('href') || e.getAttribute('xlink:href') || e.currentSrc || e.src || '';
"""


def _check(body: str, is_async: bool = False) -> str:
    return ("async " if is_async else "") + "root => {\n" + _HELPERS + body + "\n}"


TICK_OVERLAP = _check(r"""
const failures = [];
for (const axis of H.axes(root)) {
    const ticks = H.ticks(axis);
    const boxes = ticks.map(H.ink);
    for (let i = 0; i < ticks.length; i++) for (let j = i + 1; j < ticks.length; j++) {
        if (H.overlap(boxes[i], boxes[j]))
            failures.push(`tick labels overlap on ${H.axisName(axis)}: '${H.text(ticks[i])}' and '${H.text(ticks[j])}'`);
    }
    // The axis's title over its own tick labels reads as one smudge too.
    const title = axis.querySelector('text.axislabel') || axis.parentElement?.querySelector('text.axislabel');
    if (title && H.text(title) && H.visible(title)) {
        const a = H.ink(title);
        const hit = ticks.filter((t, i) => H.overlap(a, boxes[i]));
        if (hit.length)
            failures.push(`axis title '${H.text(title)}' over its tick labels ${hit.map(t => `'${H.text(t)}'`).join(', ')}${H.where(axis)}`);
    }
}
return failures;
""")

TEXT_OUTSIDE = _check(r"""
const failures = [];
for (const e of root.querySelectorAll('*')) {
    if (e instanceof SVGElement || e.tagName === 'OPTION' || e.tagName === 'SELECT' || e.closest('.noUi-target')) continue;
    if (!H.text(e) || !H.visible(e)) continue;
    const s = getComputedStyle(e);
    if (['auto', 'scroll'].includes(s.overflowX)) continue;  // a box that scrolls is meant to
    if (e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1)
        failures.push(`text wider than its box by ${e.scrollWidth - e.clientWidth} px: ${H.name(e)}${H.where(e)}`);
}
// A list's chosen entry wider than the list: the browser cuts it ("bert_backbone/token_embedding (Rev").
const measure = document.createElement('canvas').getContext('2d');
for (const select of root.querySelectorAll('select:not([multiple])')) {
    const option = select.options[select.selectedIndex];
    if (!option || !H.visible(select)) continue;
    const s = getComputedStyle(select);
    measure.font = `${s.fontStyle} ${s.fontWeight} ${s.fontSize} ${s.fontFamily}`;
    const room = select.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
    const wide = measure.measureText(option.text).width;
    if (wide > room + 1)
        failures.push(`list entry wider than its list by ${Math.round(wide - room)} px: '${option.text.slice(0, 50)}'${H.where(select)}`);
}
for (const svg of root.querySelectorAll('svg')) {
    if (!H.visible(svg)) continue;
    const frame = svg.getBoundingClientRect();
    for (const t of svg.querySelectorAll('text')) {
        if (!H.text(t) || !H.visible(t)) continue;
        const b = t.getBoundingClientRect();
        const cut = [b.left < frame.left - 1 && 'left', b.right > frame.right + 1 && 'right',
                     b.top < frame.top - 1 && 'top', b.bottom > frame.bottom + 1 && 'bottom'].filter(Boolean);
        if (cut.length) failures.push(`text cut by its figure (${cut.join(', ')}): '${H.text(t).slice(0, 50)}'${H.where(t)}`);
    }
}
return failures;
""")

COUNT_AXES = _check(r"""
const failures = [];
for (const axis of H.axes(root)) {
    const ticks = H.ticks(axis);
    if (ticks.length < 2) continue;
    const vertical = H.vertical(ticks);
    const figure = axis.closest('.bqplot.figure, .nbviz-count, .nbviz-count-x');
    const marked = figure && ((figure.classList.contains('nbviz-count') && vertical) ||
                              (figure.classList.contains('nbviz-count-x') && !vertical));
    if (!marked && !/\b(counts?|samples)\b/i.test(H.axisLabel(axis))) continue;
    const values = ticks.map(t => H.number(H.text(t)));
    const negative = values.filter(v => v < 0);
    if (negative.length) { failures.push(`count axis below 0 (${negative.join(', ')}) on ${H.axisName(axis)}`); continue; }
    // The axis starts where its domain line starts: the bottom of a vertical axis, the left of a horizontal one.
    const domain = axis.querySelector('path.domain');
    const zero = ticks.find((t, i) => values[i] === 0);
    if (!zero) { failures.push(`count axis without a 0 tick on ${H.axisName(axis)}`); continue; }
    if (domain) {
        const d = domain.getBoundingClientRect(), z = zero.getBoundingClientRect();
        const gap = vertical ? Math.abs(d.bottom - (z.top + z.height / 2)) : Math.abs(d.left - (z.left + z.width / 2));
        if (gap > 3) failures.push(`count axis does not start at 0 (0 is ${gap.toFixed(0)} px from its start) on ${H.axisName(axis)}`);
    }
}
return failures;
""")

TICK_STEPS = _check(r"""
const failures = [];
for (const axis of H.axes(root)) {
    const ticks = H.ticks(axis), texts = ticks.map(H.text);
    if (texts.length < 2) continue;
    const values = texts.map(H.number);
    if (values.some(Number.isNaN)) continue;  // names, not numbers
    const shown = texts.join(', ');
    const sorted = [...values].sort((a, b) => a - b);
    const steps = sorted.slice(1).map((v, i) => v - sorted[i]);
    if (steps.some(s => s === 0)) { failures.push(`tick labels repeat (${shown}) on ${H.axisName(axis)}`); continue; }
    // Where each tick sits along its axis, to tell a linear axis from a log one and from categories named by
    // numbers (the classes present: 0, 2, 6, 9, evenly placed whatever their values).
    const vertical = H.vertical(ticks);
    const at = ticks.map(t => { const b = t.getBoundingClientRect(); return vertical ? -(b.top + b.height / 2) : b.left + b.width / 2; });
    const units = texts.map(H.unit);  // how far each label's rounding may have moved its value
    const proportional = (v, slack) => {
        const i = at.indexOf(Math.min(...at)), j = at.indexOf(Math.max(...at));
        if (at[j] === at[i]) return false;
        const slope = (v[j] - v[i]) / (at[j] - at[i]), span = Math.abs(v[j] - v[i]);
        return v.every((x, k) => Math.abs(v[i] + slope * (at[k] - at[i]) - x) <= 0.505 * slack[k] + 0.01 * span);
    };
    const decades = vs => vs.every(v => v > 0) && vs.map(Math.log10).every((l, i, logs) =>
        Math.abs(l - Math.round(l)) < 0.01 && (i === 0 || Math.abs(l - logs[i - 1] - 1) < 0.01));
    if (texts.length === 2 && decades(sorted)) continue;  // two ticks sit on a line and on a log scale alike
    const linear = proportional(values, units);
    const logarithmic = !linear && values.every(v => v > 0) && proportional(values.map(Math.log10), units.map(() => 0.05));
    if (logarithmic) {
        if (!decades(sorted)) failures.push(`log axis ticks not on decades (${shown}) on ${H.axisName(axis)}`);
        continue;
    }
    if (!linear) continue;  // categories, not a scale
    const step = steps[0];
    const even = steps.every(s => Math.abs(s - step) <= 0.02 * step + Math.max(...units));
    const mantissa = step / Math.pow(10, Math.floor(Math.log10(step) + 1e-9));
    const nice = [1, 2, 5, 10].some(m => Math.abs(mantissa - m) <= 0.01 * m);
    if (!even || !nice) failures.push(`ticks not on 1-2-5 steps (${shown}) on ${H.axisName(axis)}`);
}
return failures;
""")

ASPECT = _check(
    r"""
const failures = [];
const tolerance = TOLERANCE, titles = PICTURE_TITLES;
// One cell size from edge positions: edges that recur are kept, their spacing fit as multiples of one cell.
const cell = (counts, lines) => {
    const keep = [];
    counts.forEach((c, x) => { if (c >= Math.max(2, 0.05 * lines)) keep.push(x); });
    const edges = [];  // merge the edges of one boundary (anti-aliased over 2 px) at their weighted middle
    for (const x of keep) {
        const last = edges[edges.length - 1];
        if (last && x - last.x1 <= 1) { last.x1 = x; last.sum += x * counts[x]; last.n += counts[x]; }
        else edges.push({x1: x, sum: x * counts[x], n: counts[x]});
    }
    const at = edges.map(e => e.sum / e.n);
    if (at.length < 3) return null;
    const gaps = at.slice(1).map((x, i) => x - at[i]).sort((a, b) => a - b);
    const rough = gaps[0];
    if (rough < 2) return null;
    const units = gaps.reduce((n, g) => n + Math.max(1, Math.round(g / rough)), 0);
    return (at[at.length - 1] - at[0]) / units;
};
const measure = p => {  // cell width and height of a heatmap's PNG
    const diff = (i, j) => Math.abs(p.data[i] - p.data[j]) + Math.abs(p.data[i + 1] - p.data[j + 1]) +
        Math.abs(p.data[i + 2] - p.data[j + 2]);
    const cols = new Array(p.w).fill(0), rows = new Array(p.h).fill(0);
    const every = Math.max(1, Math.floor(Math.min(p.w, p.h) / 200));
    let lines = 0;
    for (let y = 0; y < p.h; y += every, lines++) for (let x = 1; x < p.w; x++)
        if (diff((y * p.w + x) * 4, (y * p.w + x - 1) * 4) > 24) cols[x]++;
    let lines2 = 0;
    for (let x = 0; x < p.w; x += every, lines2++) for (let y = 1; y < p.h; y++)
        if (diff((y * p.w + x) * 4, ((y - 1) * p.w + x) * 4) > 24) rows[y]++;
    return [cell(cols, lines), cell(rows, lines2)];
};
const isPicture = e => {
    const figure = e.closest('.bqplot.figure');
    return (figure && figure.classList.contains('nbviz-picture')) || titles.includes(H.title(e).split(':')[0].trim());
};
const shapeOf = e => {
    const figure = e.closest('.bqplot.figure');
    const c = figure && [...figure.classList].find(c => /^nbviz-shape-\d+x\d+$/.test(c));
    return c ? c.slice(12).split('x').map(Number) : null;
};
const off = (drawn, data) => Math.abs(drawn / data - 1);
for (const image of root.querySelectorAll('svg image')) {
    if (!H.visible(image)) continue;
    const box = image.getBoundingClientRect();
    const heatmap = image.classList.contains('heatmap');
    if (heatmap && !isPicture(image)) continue;
    const shape = heatmap ? shapeOf(image) : null;
    let data = null, how = '';
    if (shape) { data = shape[1] / shape[0]; how = `data ${shape[0]} x ${shape[1]}`; }
    else {
        const p = await H.load(H.href(image));
        if (!p) continue;
        if (heatmap) {
            const [w, h] = measure(p);
            if (!w || !h) continue;  // too few cells to measure
            const drawn = w / h;
            if (off(drawn, 1) > tolerance)
                failures.push(`picture cells drawn ${w.toFixed(1)} x ${h.toFixed(1)} px (aspect ${drawn.toFixed(2)}, not 1; plot area ${box.width.toFixed(0)} x ${box.height.toFixed(0)} px)${H.where(image)}`);
            continue;
        }
        data = p.w / p.h; how = `picture ${p.w} x ${p.h}`;
    }
    const drawn = box.width / box.height;
    if (off(drawn, data) > tolerance)
        failures.push(`picture drawn ${box.width.toFixed(0)} x ${box.height.toFixed(0)} px for ${how} (aspect ${drawn.toFixed(2)}, not ${data.toFixed(2)})${H.where(image)}`);
}
for (const img of root.querySelectorAll('img')) {
    if (!H.visible(img) || !img.naturalWidth || !img.naturalHeight) continue;
    const s = getComputedStyle(img);
    if (['contain', 'scale-down', 'cover'].includes(s.objectFit)) continue;  // the browser keeps its ratio
    const box = img.getBoundingClientRect(), data = img.naturalWidth / img.naturalHeight, drawn = box.width / box.height;
    if (off(drawn, data) > tolerance)
        failures.push(`picture drawn ${box.width.toFixed(0)} x ${box.height.toFixed(0)} px for ${img.naturalWidth} x ${img.naturalHeight} (aspect ${drawn.toFixed(2)}, not ${data.toFixed(2)})${H.where(img)}`);
}
return failures;
""".replace("TOLERANCE", repr(ASPECT_TOLERANCE)).replace("PICTURE_TITLES", repr(list(PICTURE_TITLES))),
    is_async=True,
)

CONTRAST = _check(
    r"""
const failures = [], least = MIN_CONTRAST;
// elementsFromPoint skips what ignores the pointer (bqplot's marks may): every element takes it while we look.
const unblock = document.createElement('style');
unblock.textContent = '* { pointer-events: auto !important; }';
document.head.appendChild(unblock);
try {
const SHAPES = new Set(['rect', 'path', 'circle', 'ellipse', 'polygon', 'polyline']);
// What is drawn at (x, y) under the element `text`, as layers from the top; null where it cannot be read.
const layers = async (text, x, y) => {
    const out = [];
    const inView = x >= 0 && y >= 0 && x < innerWidth && y < innerHeight;
    const stack = inView ? document.elementsFromPoint(x, y) : [];
    const chain = [];
    for (let n = text; n; n = n.parentElement) chain.push(n);
    const list = inView ? stack.filter(e => !(e !== text && text.contains(e))) : chain;
    for (const e of list) {
        const tag = e.tagName.toLowerCase();
        if (e !== text && ['text', 'tspan'].includes(tag)) continue;
        const s = getComputedStyle(e);
        const alpha = parseFloat(s.opacity);
        if (e instanceof SVGElement && tag === 'image') {
            const p = await H.load(H.href(e));
            if (!p) continue;
            const b = e.getBoundingClientRect();
            const px = Math.min(p.w - 1, Math.floor((x - b.left) / b.width * p.w));
            const py = Math.min(p.h - 1, Math.floor((y - b.top) / b.height * p.h));
            const i = (py * p.w + px) * 4;
            out.push({r: p.data[i], g: p.data[i + 1], b: p.data[i + 2], a: p.data[i + 3] / 255 * alpha});
        } else if (e instanceof SVGElement && SHAPES.has(tag)) {
            const c = H.rgba(s.fill);
            if (c) { c.a *= parseFloat(s.fillOpacity) * alpha; out.push(c); }
        } else if (tag === 'img' && e.naturalWidth) {
            const p = await H.load(H.href(e));
            if (!p) continue;
            const b = e.getBoundingClientRect();
            const i = (Math.min(p.h - 1, Math.floor((y - b.top) / b.height * p.h)) * p.w +
                       Math.min(p.w - 1, Math.floor((x - b.left) / b.width * p.w))) * 4;
            out.push({r: p.data[i], g: p.data[i + 1], b: p.data[i + 2], a: p.data[i + 3] / 255 * alpha});
        } else if (!(e instanceof SVGElement) || tag === 'svg') {
            const c = H.rgba(s.backgroundColor);
            if (c) { c.a *= alpha; out.push(c); }
        }
        if (out.length && out[out.length - 1].a >= 0.999) break;
    }
    return out;
};
// Words and numbers: a coloured marker ("●" in a legend) is not text, and a disabled control is exempt (WCAG 1.4.3).
const words = t => /[\p{L}\p{N}]/u.test(t);
const texts = [...root.querySelectorAll('*')].filter(e => {
    if (['OPTION', 'SCRIPT', 'STYLE', 'tspan'].includes(e.tagName)) return false;
    if (e.closest(':disabled, [disabled], .mod-disabled')) return false;
    if (e instanceof SVGElement) return e.tagName.toLowerCase() === 'text' && words(H.text(e));
    return [...e.childNodes].some(n => n.nodeType === 3 && words(n.textContent));
}).filter(H.visible);
for (const e of texts) {
    const s = getComputedStyle(e);
    const svg = e instanceof SVGElement;
    const color = H.rgba(svg ? s.fill : s.color);
    if (!color) continue;
    let alpha = color.a * (svg ? parseFloat(s.fillOpacity) : 1);
    for (let n = e; n && n.nodeType === 1; n = n.parentElement) alpha *= parseFloat(getComputedStyle(n).opacity);
    let box;
    if (svg) box = e.getBoundingClientRect();
    else {  // the box of the element's own text, not of its children
        const range = document.createRange();
        const node = [...e.childNodes].find(n => n.nodeType === 3 && words(n.textContent));
        range.selectNodeContents(node);
        box = range.getBoundingClientRect();
    }
    if (box.width <= 0 || box.height <= 0) continue;
    if (box.top < 0 || box.bottom > innerHeight || box.left < 0 || box.right > innerWidth) {
        // Off screen nothing can be hit-tested: bring it into view (its ancestors' colours alone may mislead).
        e.scrollIntoView({block: 'center', inline: 'nearest'});
        box = svg ? e.getBoundingClientRect() : (() => {
            const range = document.createRange();
            range.selectNodeContents([...e.childNodes].find(n => n.nodeType === 3 && words(n.textContent)));
            return range.getBoundingClientRect();
        })();
    }
    const under = await layers(e, box.left + box.width / 2, box.top + box.height / 2);
    let back = {r: 255, g: 255, b: 255, a: 1};  // the page's canvas when nothing is opaque
    for (const layer of under.reverse()) back = H.over(layer, back);
    const fore = H.over({...color, a: alpha}, back);
    const ratio = H.contrast(fore, back);
    if (ratio < least)
        failures.push(`contrast ${ratio.toFixed(2)} < ${least}: '${H.text(e).slice(0, 40)}' (${H.hex(fore)} on ${H.hex(back)})${H.where(e)}`);
}
} finally { unblock.remove(); }
return failures;
""".replace("MIN_CONTRAST", repr(MIN_CONTRAST)),
    is_async=True,
)

BLANK = _check(
    r"""
const most = MAX_BLANK;
const frame = root.getBoundingClientRect();
if (frame.height <= most) return [];
const spans = [];
const add = b => { if (b.width > 0 && b.height > 0 && b.bottom > frame.top && b.top < frame.bottom) spans.push([b.top, b.bottom]); };
const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (!n.textContent.trim() || !n.parentElement || !H.visible(n.parentElement)) continue;
    if (n.parentElement.closest('svg')) continue;  // SVG text is counted below, as an element
    const range = document.createRange();
    range.selectNodeContents(n);
    add(range.getBoundingClientRect());
}
const GRAPHICS = 'svg text, svg image, svg path, svg line, svg rect, svg circle, svg ellipse, svg polygon, svg polyline';
for (const e of root.querySelectorAll(`${GRAPHICS}, img, input, select, button, textarea, video`)) {
    if (!H.visible(e)) continue;
    if (e.tagName === 'SELECT' && !e.options.length) continue;  // an empty list box shows nothing
    if (e instanceof SVGElement && !['text', 'image'].includes(e.tagName.toLowerCase())) {
        const s = getComputedStyle(e);
        const filled = H.rgba(s.fill) && H.rgba(s.fill).a > 0 && parseFloat(s.fillOpacity) > 0;
        const stroked = H.rgba(s.stroke) && H.rgba(s.stroke).a > 0 && parseFloat(s.strokeWidth) > 0;
        if (!filled && !stroked) continue;
        const cls = e.getAttribute('class') || '';
        if (/background|plotarea_events/.test(cls)) continue;  // a figure's own backdrop is not content
    }
    add(e.getBoundingClientRect());
}
spans.sort((a, b) => a[0] - b[0]);
const failures = [];
let reach = frame.top;
const gap = (from, to) => {
    if (to - from > most) failures.push(`blank ${Math.round(to - from)} px (from ${Math.round(from - frame.top)} to ${Math.round(to - frame.top)} px of a ${Math.round(frame.height)} px panel)`);
};
for (const [top, bottom] of spans) {
    if (top > reach) gap(reach, top);
    reach = Math.max(reach, bottom);
}
gap(reach, frame.bottom);
return failures;
""".replace("MAX_BLANK", repr(MAX_BLANK_PX))
)

#: Every JavaScript check by name, in the order the gallery's table lists them.
CHECKS: dict[str, str] = {
    "tick overlap": TICK_OVERLAP,
    "text outside": TEXT_OUTSIDE,
    "count axis": COUNT_AXES,
    "tick steps": TICK_STEPS,
    "aspect": ASPECT,
    "contrast": CONTRAST,
    "blank": BLANK,
}


def run_checks(root: Any, panel: Any | None = None, names: list[str] | None = None) -> dict[str, list[str]]:
    """The failures of each check on the Playwright locator ``root`` (the blank-area check on ``panel``, the tab's
    own panel, when given: the Explorer's header is not a panel); checks without failures are left out."""
    found = {}
    for name, script in CHECKS.items():
        if names is not None and name not in names:
            continue
        target = panel if (name == "blank" and panel is not None) else root
        failures = target.evaluate(script)
        if failures:
            found[name] = failures
    return found


@dataclass
class ConsoleLog:
    """Every console error and warning of a page, and its uncaught errors ("no console error or warning").

    ``mark()`` returns a position; ``since(mark)`` the messages after it (the ones of one tab)."""

    messages: list[str] = field(default_factory=list)
    ignore: tuple[str, ...] = ("favicon",)  # the server has none: says nothing about nbviz

    def attach(self, page: Any) -> ConsoleLog:
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.messages.append(f"pageerror: {error}"))
        return self

    def _on_console(self, message: Any) -> None:
        if message.type in ("error", "warning") and not any(text in message.text for text in self.ignore):
            self.messages.append(f"console {message.type}: {message.text}")

    def mark(self) -> int:
        return len(self.messages)

    def since(self, mark: int) -> list[str]:
        return self.messages[mark:]
