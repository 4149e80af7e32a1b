"""Where the layer graph's visible items go, and what colour a per-layer metric gives them.

Only what is visible is laid out: the layers and collapsed groups of the expanded groups (see
:mod:`nbviz.compute.model.groups`), one row each in the groups' order, indented by depth, with a header row for
each expanded group. Edges between visible items are the model's edges with each end moved to the visible item
that holds it (a collapsed group), merged: the edges between two groups are drawn once. Laying out 10,000
layers with one group open costs what its few dozen rows cost, plus one pass over the edges.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np

from ..model.graph import ModelGraph
from ..model.groups import GroupTree
from .raster import color_map

INDENT = 0.7  # x offset of each nesting level, in node widths
OPEN_BUDGET = 24  # rows the graph opens with: groups are opened, outermost first, while they fit


@dataclass(frozen=True)
class GraphLayout:
    """Positions of the visible items.

    Attributes
    ----------
    items : tuple of str
        Rows in order: layer names, group names, and (for ``kinds == "open"``) the headers of expanded groups.
    kinds : tuple of str
        Per row: "layer", "group" (collapsed) or "open" (the header of an expanded group).
    x, y : np.ndarray
        float32 position of each row (y is the row number, top to bottom).
    depth : np.ndarray
        int64 nesting depth of each row (0 at the top level).
    edges : np.ndarray
        (m, 2) int64 rows (source, target) of the merged edges between layer and group rows.
    spans : np.ndarray
        (k, 2) int64: for the k-th header row, its first and last rows (the group's extent, for a bracket).
    """

    items: tuple[str, ...]
    kinds: tuple[str, ...]
    x: np.ndarray
    y: np.ndarray
    depth: np.ndarray
    edges: np.ndarray
    spans: np.ndarray

    def row(self, name: str, kind: str | None = None) -> int:
        """The row of ``name`` (of that kind, when a holder's header and its own layer share the name)."""
        for i, (item, k) in enumerate(zip(self.items, self.kinds)):
            if item == name and (kind is None or k == kind):
                return i
        raise KeyError(f"name: expected a visible layer or group, got {name!r}")


def layout_graph(graph: ModelGraph, expanded: Collection[str]) -> GraphLayout:
    """Lay out ``graph`` with the groups in ``expanded`` open (a group whose parent is closed stays hidden)."""
    tree = graph.groups
    items: list[str] = []
    kinds: list[str] = []
    depth: list[int] = []
    spans: list[list[int]] = []
    where: dict[str, int] = {}  # each layer's row: its own, or its collapsed group's

    def walk(children: tuple[str, ...], level: int, owner: str | None) -> None:
        for child in children:
            group = tree.groups.get(child) if child != owner else None
            if group is not None and child in expanded:
                spans.append([len(items), 0])
                span = spans[-1]
                items.append(child)
                kinds.append("open")
                depth.append(level)
                walk(group.children, level + 1, child)
                span[1] = len(items) - 1
                continue
            row = len(items)
            items.append(child)
            depth.append(level)
            kinds.append("group" if group is not None else "layer")
            for layer in group.layers if group is not None else (child,):
                where[layer] = row

    walk(tree.top, 0, None)
    edges = sorted({(where[s], where[t]) for s, t in graph.edges if where[s] != where[t]})
    edge_array = np.array(edges, dtype=np.int64).reshape(-1, 2)
    x = _columns(len(items), edge_array) + INDENT * np.asarray(depth, np.float64)
    return GraphLayout(
        items=tuple(items),
        kinds=tuple(kinds),
        x=x.astype(np.float32),
        y=np.arange(len(items), dtype=np.float32),
        depth=np.asarray(depth, np.int64),
        edges=edge_array,
        spans=np.array(spans, dtype=np.int64).reshape(-1, 2),
    )


def _columns(n: int, edges: np.ndarray) -> np.ndarray:
    """A column per row that sets parallel branches side by side: rows at the same level (the longest path
    from a source, over edges that run down the rows) take columns 0, 1, ... in row order."""
    level = np.zeros(n, dtype=np.int64)
    for s, t in edges:  # sorted by source row: a row's level is final before it is read
        if s < t:
            level[t] = max(level[t], level[s] + 1)
    linked = np.zeros(n, dtype=bool)
    linked[edges.ravel()] = True
    column = np.zeros(n, dtype=np.float64)
    seen: dict[int, int] = {}
    for row in np.flatnonzero(linked):
        column[row] = seen.get(int(level[row]), 0)
        seen[int(level[row])] = column[row] + 1
    return column


def initial_expanded(graph: ModelGraph, keep_open: str | None = None, budget: int = OPEN_BUDGET) -> set[str]:
    """The groups a graph opens with: outermost first, each one that keeps the rows within ``budget`` (a
    small model opens whole; ResNet50 shows its stages and blocks), and the groups holding ``keep_open``."""
    tree = graph.groups
    expanded: set[str] = set()
    rows = len(tree.top)
    queue = [g for g in tree.top if g in tree.groups]
    while queue:
        following: list[str] = []
        for name in queue:
            group = tree.groups[name]
            if rows + len(group.children) <= budget:  # its header stays, and its items come in
                expanded.add(name)
                rows += len(group.children)
                following.extend(c for c in group.children if c in tree.groups and c != name)
        queue = following
    if keep_open is not None:
        expanded.update(tree.layer_path(keep_open))
    return expanded


# --------------------------------------------------------------------------------------------- overlays
@dataclass(frozen=True)
class Painted:
    """A metric's value and colour per visible row.

    Attributes
    ----------
    values : np.ndarray
        float64 per row: a layer's value, a group's reduction of its layers' values, NaN where none applies
        (and for headers).
    colors : tuple of str
        "#rrggbb" per row (grey where the value is NaN).
    vmin, vmax : float
        The colour scale's ends, in the metric's units.
    log : bool
        Whether colours follow log10 of the values.
    """

    values: np.ndarray
    colors: tuple[str, ...]
    vmin: float
    vmax: float
    log: bool


def group_value(tree: GroupTree, name: str, values: Mapping[str, float], reduction: str) -> float:
    """A group's value: the ``reduction`` ("sum" or "max") of its layers' values, NaN when none has one."""
    found = [values[layer] for layer in tree.groups[name].layers if layer in values]
    finite = [v for v in found if np.isfinite(v)]
    if not found:
        return float("nan")
    if len(finite) < len(found):  # a NaN or Inf inside shows on the group
        return float("inf") if reduction == "sum" or any(np.isinf(v) for v in found) else float("nan")
    return float(np.sum(finite) if reduction == "sum" else np.max(finite))


def paint(
    graph: ModelGraph,
    layout: GraphLayout,
    values: Mapping[str, float],
    reduction: str,
    colors: tuple[str, ...],
    log: bool,
) -> Painted:
    """Each row's value (a layer's own, a collapsed group's ``reduction`` of its layers') and colour, along
    ``colors`` from the smallest to the largest value shown (log10 when ``log``; values <= 0 then stay grey)."""
    tree = graph.groups
    row_values = np.full(len(layout.items), np.nan)
    for i, (item, kind) in enumerate(zip(layout.items, layout.kinds)):
        if kind == "layer":
            row_values[i] = values.get(item, np.nan)
        elif kind == "group":
            row_values[i] = group_value(tree, item, values, reduction)
    shown = np.where(row_values > 0, row_values, np.nan) if log else row_values
    scaled = np.log10(shown, where=np.isfinite(shown), out=np.full_like(shown, np.nan)) if log else shown
    finite = scaled[np.isfinite(scaled)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    rgb = color_map(scaled, colors, lo, hi if hi > lo else lo + 1.0, categorical=False)
    return Painted(
        values=row_values,
        colors=tuple(f"#{r:02x}{g:02x}{b:02x}" for r, g, b in rgb.tolist()),
        vmin=10**lo if log and finite.size else lo,
        vmax=10**hi if log and finite.size else hi,
        log=log,
    )


# --------------------------------------------------------------------------------------------- edges
LANE_GAP = 0.6  # a lane's distance left of the leftmost dot it passes, in node widths
LANE_STEP = 0.22  # between lanes that overlap in rows
BETWEEN_ROWS = 0.25  # where a bend runs between two rows: below the upper row's text, above the lower row's


def route_edges(layout: GraphLayout) -> tuple[np.ndarray, np.ndarray]:
    """Polylines for the layout's edges that pass no row's label (a label is drawn right of its dot).

    An edge between neighbouring rows runs straight when it goes down to the right (it leaves its source below
    the source's label and meets its target left of the target's) and bends between the rows when it goes down
    to the left (straight, it would cross the target's label). An edge that spans rows leaves its source to the
    left, runs down a lane left of every dot it passes, and enters its target from the left: the labels are all
    right of their dots, so a lane crosses none. Edges from one source share a lane (a fan-out reads as one
    bus); sources whose lanes overlap in rows get lanes side by side.

    Returns
    -------
    x, y : np.ndarray
        float32 (m, 4): four points per edge, in the order of ``layout.edges`` (a straight edge repeats its
        ends).
    """
    edges = layout.edges
    x = np.zeros((len(edges), 4), np.float32)
    y = np.zeros((len(edges), 4), np.float32)
    lanes = _lanes(layout)
    for i, (s, t) in enumerate(edges.tolist()):
        xs, ys, xt, yt = float(layout.x[s]), float(layout.y[s]), float(layout.x[t]), float(layout.y[t])
        if abs(t - s) > 1:
            lane = lanes[s]
            x[i], y[i] = (xs, lane, lane, xt), (ys, ys, yt, yt)
        elif xt < xs:
            bend = min(ys, yt) + BETWEEN_ROWS
            x[i], y[i] = (xs, xs, xt, xt), (ys, bend, bend, yt)
        else:
            x[i], y[i] = (xs, xs, xt, xt), (ys, ys, yt, yt)
    return x, y


def _lanes(layout: GraphLayout) -> dict[int, float]:
    """The lane's x of each source row with an edge that spans rows: left of the leftmost dot of the rows it
    spans, one step further left for each lane it would overlap."""
    spans: dict[int, tuple[int, int]] = {}
    for s, t in layout.edges.tolist():
        if abs(t - s) > 1:
            lo, hi = spans.get(s, (s, s))
            spans[s] = (min(lo, s, t), max(hi, s, t))
    lanes: dict[int, float] = {}
    taken: list[tuple[int, int, int]] = []  # (first row, last row, step) of the lanes given
    for source, (lo, hi) in sorted(spans.items(), key=lambda item: item[1]):
        busy = {step for a, b, step in taken if a <= hi and lo <= b}
        step = next(k for k in range(len(busy) + 1) if k not in busy)
        taken.append((lo, hi, step))
        lanes[source] = float(layout.x[lo : hi + 1].min()) - LANE_GAP - LANE_STEP * step
    return lanes
