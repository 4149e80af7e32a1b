"""Attention heads over the data: how spread each head's weights are, and how much of them sit on the first token.

People find heads worth looking at by these numbers (Clark et al. 2019, "What does BERT look at?"): a head with
low entropy attends sharply; one that puts most of its weight on the first token (or a separator) is often
"resting" there. The weights come from :meth:`Probe.attention_scores`, streamed in batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._arrays import frozen
from .._validate import as_inputs, input_specs, padding_mask
from ..model.probe import Probe
from .weights import block_shape

GAP_FRACTION = 12  # the gutter between model-view thumbnails: this fraction of a thumbnail, at least a cell


@dataclass(frozen=True, eq=False)
class HeadSummary:
    """Per head of one attention layer, averaged over every real query of every sample.

    Attributes
    ----------
    entropy : np.ndarray
        float32 (heads,): the mean entropy of a query's weights over the keys, in nats (0: all on one key;
        log(keys): spread evenly).
    first_share : np.ndarray
        float32 (heads,): the mean weight a query puts on the first key.
    samples : int
        How many samples the means are over.
    """

    entropy: np.ndarray
    first_share: np.ndarray
    samples: int


def head_summaries(probe: Probe, x: Any, batch_size: int = 32) -> dict[str, HeadSummary]:
    """A :class:`HeadSummary` for every attention layer of ``probe``'s model over the samples ``x``.

    Queries at padding positions (KerasHub's ``padding_mask`` input, where it fits a layer's queries) are left
    out: their rows say nothing of the text.
    """
    specs = input_specs(probe.model)
    inputs = as_inputs(specs, x, "x")
    names = [spec[0] for spec in specs] if specs else [""] * len(inputs)  # what the padding mask is found by
    n = len(inputs[0])
    entropy: dict[str, np.ndarray] = {}
    first: dict[str, np.ndarray] = {}
    queries: dict[str, float] = {}
    for start in range(0, n, batch_size):
        chunk = [a[start : start + batch_size] for a in inputs]
        for layer, weights in probe.attention_scores(chunk).items():
            w = weights.astype(np.float64)  # (b, heads, queries, keys)
            mask = padding_mask(dict(zip(names, chunk)), (len(w), w.shape[2]), layer)
            real = np.ones((len(w), w.shape[2]), bool) if mask is None else mask
            h = -(w * np.log(np.where(w > 0, w, 1.0))).sum(axis=-1)  # (b, heads, queries)
            keep = real[:, None, :]
            entropy[layer] = entropy.get(layer, 0.0) + (h * keep).sum(axis=(0, 2))
            first[layer] = first.get(layer, 0.0) + (w[..., 0] * keep).sum(axis=(0, 2))
            queries[layer] = queries.get(layer, 0.0) + float(real.sum())
    return {
        layer: HeadSummary(
            frozen(entropy[layer] / max(queries[layer], 1.0), np.float32),
            frozen(first[layer] / max(queries[layer], 1.0), np.float32),
            n,
        )
        for layer in entropy
    }


# --------------------------------------------------------------------------------------------- views
@dataclass(frozen=True, eq=False)
class HeadView:
    """One head's (query x key) weights over a region of one sample's real tokens, as the head view draws it.

    Attributes
    ----------
    values : np.ndarray
        float32 (rows, cols): the weights, each cell the largest weight of a ``block`` of them when the region
        holds more than the cell budget (a sharp pattern stays visible; a mean would blur it away).
    region : (int, int, int, int)
        (first query, end query, first key, end key), indices into the real tokens.
    block : (int, int)
        Queries and keys per cell; (1, 1) at full resolution.
    query_labels, key_labels : tuple of str
        The tokens of the region's rows and columns, one per cell at full resolution; () when reduced.
    """

    layer: str
    head: int
    heads: int
    values: np.ndarray
    region: tuple[int, int, int, int]
    block: tuple[int, int]
    query_labels: tuple[str, ...]
    key_labels: tuple[str, ...]
    queries: int
    keys: int

    @property
    def downsampled(self) -> bool:
        return self.block != (1, 1)

    @property
    def vmax(self) -> float:
        """The top of the colour scale: the largest weight shown (1.0 for none)."""
        top = float(self.values.max(initial=0.0))
        return top if top > 0 else 1.0


@dataclass(frozen=True, eq=False)
class ModelView:
    """Every attention layer's heads as thumbnails on one grid: a row per layer, a column per head.

    ``image`` (float32) holds the thumbnails, each (``tile``) with a NaN gutter of ``gap`` cells between them
    and NaN where a layer has fewer heads; ``centers`` are (x, y) of each thumbnail in the image's cells, in the
    order of ``cells`` ((layer, head) pairs). A thumbnail's top-left cell is at ``(i * pitch[0], h * pitch[1])``.
    """

    layers: tuple[str, ...]
    heads: int
    image: np.ndarray
    tile: tuple[int, int]
    cells: tuple[tuple[str, int], ...]
    centers: np.ndarray
    gap: int = 1

    @property
    def pitch(self) -> tuple[int, int]:
        """Cells from one thumbnail's start to the next one's, down and across: its size and the gap."""
        return self.tile[0] + self.gap, self.tile[1] + self.gap

    @property
    def vmax(self) -> float:
        """The top of the colour scale: the largest weight of any thumbnail (1.0 for none)."""
        finite = self.image[np.isfinite(self.image)]
        top = float(finite.max()) if finite.size else 0.0
        return top if top > 0 else 1.0

    def layer_tiles(self, layer: str) -> np.ndarray:
        """The thumbnails of ``layer``'s heads as drawn, (heads, rows, cols)."""
        i, (th, tw), (down, across) = self.layers.index(layer), self.tile, self.pitch
        heads = [h for name, h in self.cells if name == layer]
        top = i * down
        return np.stack([self.image[top : top + th, h * across : h * across + tw] for h in heads])


@dataclass(frozen=True, eq=False)
class AttentionEdges:
    """The ``k`` strongest keys of each query of a region (what the lines view draws): ``queries``, ``keys``
    (int indices into the real tokens) and ``weights``, one per edge, grouped by query."""

    queries: np.ndarray
    keys: np.ndarray
    weights: np.ndarray
    k: int


def block_max(w: np.ndarray, max_cells: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Reduce a (rows, cols) matrix of non-negative weights to at most ``max_cells`` cells, each the largest
    weight of its block; returns the reduced matrix (float32) and the block shape."""
    rows, cols = w.shape
    br, bc = block_shape(rows, cols, max_cells)
    if (br, bc) == (1, 1):
        return np.ascontiguousarray(w, np.float32), (1, 1)
    # Rows, then columns, each as one reshape: 5 ms on a 2,048 x 2,048 map, where a 4-D reshape's max over two
    # axes took 24 ms and reduceat 19 ms; the last partial block of each side is reduced on its own.
    return _max_blocks(_max_blocks(np.asarray(w, np.float32), br, 0), bc, 1), (br, bc)


def _max_blocks(a: np.ndarray, size: int, axis: int) -> np.ndarray:
    """The largest value of each run of ``size`` along ``axis`` (0 or 1) of a 2-D array; a shorter last run too."""
    a = a if axis == 0 else a.T
    whole = (len(a) // size) * size
    parts = [a[:whole].reshape(-1, size, a.shape[1]).max(axis=1)] if whole else []
    if whole < len(a):
        parts.append(a[whole:].max(axis=0, keepdims=True))
    out = np.concatenate(parts) if len(parts) > 1 else parts[0]
    return np.ascontiguousarray(out if axis == 0 else out.T)


def check_region(region: Any, queries: int, keys: int) -> tuple[int, int, int, int]:
    """``region`` (first query, end query, first key, end key) clipped to the tokens; None is all of them."""
    if region is None:
        return 0, queries, 0, keys
    if (
        not isinstance(region, tuple | list)
        or len(region) != 4
        or not all(isinstance(v, int | np.integer) for v in region)
    ):
        raise TypeError(f"region: expected (first query, end query, first key, end key) as 4 ints, got {region!r}")
    q0, q1 = max(0, int(region[0])), min(queries, int(region[1]))
    k0, k1 = max(0, int(region[2])), min(keys, int(region[3]))
    if q0 >= q1 or k0 >= k1:
        raise ValueError(f"region: expected a non-empty region of {queries} queries x {keys} keys, got {region!r}")
    return q0, q1, k0, k1


def head_view(
    weights: np.ndarray,
    head: int,
    layer: str,
    query_labels: tuple[str, ...],
    key_labels: tuple[str, ...],
    max_cells: int,
    region: Any = None,
) -> HeadView:
    """Head ``head`` of ``weights`` (heads, queries, keys) over ``region`` (None: every token), reduced by
    :func:`block_max` to ``max_cells``."""
    heads, queries, keys = weights.shape
    if not isinstance(head, int | np.integer) or not 0 <= head < heads:
        raise ValueError(f"head: expected a head index in [0, {heads}), got {head!r}")
    q0, q1, k0, k1 = check_region(region, queries, keys)
    values, block = block_max(weights[head, q0:q1, k0:k1], max_cells)
    full = block == (1, 1)
    return HeadView(
        layer,
        int(head),
        heads,
        frozen(values, np.float32),
        (q0, q1, k0, k1),
        block,
        tuple(query_labels[q0:q1]) if full else (),
        tuple(key_labels[k0:k1]) if full else (),
        queries,
        keys,
    )


def model_view(weights: dict[str, np.ndarray], max_cells: int, most_tile: int = 48) -> ModelView:
    """Thumbnails of every head of every layer in ``weights`` (layer -> (heads, queries, keys)), each reduced by
    :func:`block_max` so that the whole grid holds at most ``max_cells`` cells (and a thumbnail at most
    ``most_tile`` cells a side: a thumbnail is for spotting a pattern, the head view for reading it)."""
    layers = tuple(weights)
    heads = max((w.shape[0] for w in weights.values()), default=0)
    if not layers or heads == 0:
        return ModelView((), 0, frozen(np.full((1, 1), np.nan), np.float32), (1, 1), (), frozen(np.zeros((0, 2))))
    longest = max(max(w.shape[1:]) for w in weights.values())
    side = max(1, min(most_tile, longest, int(np.sqrt(max_cells / (len(layers) * heads))) - 1))
    tiles = {name: [block_max(w[h], side * side)[0] for h in range(w.shape[0])] for name, w in weights.items()}
    th = max(t.shape[0] for ts in tiles.values() for t in ts)
    tw = max(t.shape[1] for ts in tiles.values() for t in ts)
    # A gutter in proportion to the thumbnails: one cell of a 48-cell thumbnail is under a pixel on screen, and
    # the thumbnails then read as one picture.
    gap = max(1, round(max(th, tw) / GAP_FRACTION))
    image = np.full((len(layers) * (th + gap) - gap, heads * (tw + gap) - gap), np.nan, np.float32)
    cells, centers = [], []
    for i, name in enumerate(layers):
        for h, tile in enumerate(tiles[name]):
            top, left = i * (th + gap), h * (tw + gap)
            image[top : top + tile.shape[0], left : left + tile.shape[1]] = tile
            cells.append((name, h))
            centers.append((left + (tw - 1) / 2, top + (th - 1) / 2))
    return ModelView(layers, heads, frozen(image, np.float32), (th, tw), tuple(cells), frozen(centers, np.float32), gap)


def top_edges(weights: np.ndarray, k: int, region: tuple[int, int, int, int]) -> AttentionEdges:
    """The ``k`` largest weights of each query row of one head's (queries, keys) ``weights`` within ``region``."""
    if not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k: expected a positive number of edges per query, got {k!r}")
    q0, q1, k0, k1 = region
    part = weights[q0:q1, k0:k1]
    k = int(min(k, part.shape[1]))
    top = np.argpartition(-part, k - 1, axis=1)[:, :k]
    rows = np.repeat(np.arange(q0, q1), k)
    return AttentionEdges(
        frozen(rows, np.int64),
        frozen(top.ravel() + k0, np.int64),
        frozen(np.take_along_axis(part, top, axis=1).ravel(), np.float32),
        k,
    )
