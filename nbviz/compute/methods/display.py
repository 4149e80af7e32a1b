"""Lay out one sample's layer output for display, and find the units that never fire over a batch.

Pure numpy, like ``weights``: the block reduction and input checks are shared with it, so an activation
panel and a weight panel downsample, validate and report errors in exactly the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._arrays import readonly
from .weights import as_real_array, block_reduce, block_shape, ceil_div, check_count

__all__ = ["ActivationView", "DeadUnits", "activation_view", "block_mean", "dead_units", "overlay", "tile_frames"]

_MAX_NDIM = 4


# eq=False: `==` on arrays is element-wise, so a generated __eq__ could not return a bool.
@dataclass(frozen=True, eq=False)
class ActivationView:
    """How one sample's layer output is shown; ``values`` is read-only."""

    kind: str  # "bars" (a vector) or "image" (a 2-D matrix)
    values: np.ndarray  # float32: (n,) for "bars", (rows, cols) for "image"; NaN in gutters; not colours
    vmin: float  # axis / colour range over the finite values of the full activation; always vmin < vmax
    vmax: float
    grid: tuple[int, int]  # (rows, cols) of tiles; (1, 1) when not tiled
    tile: tuple[int, int]  # (height, width) of one tile before downsampling; (1, n) for bars
    downsampled: bool
    # Maps of (h, w) positions (a conv layer's, 3-D or 4-D): a picture, whose cells are square. Otherwise rows are
    # what the output's first axis holds (a sequence's positions, (time, units)), at ``row_step`` positions a row.
    picture: bool = False
    row_step: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", readonly(self.values))


@dataclass(frozen=True, eq=False)
class DeadUnits:
    """Units whose output is never positive over a batch; ``dead`` is read-only."""

    dead: np.ndarray  # bool (units,)
    share: float  # dead.mean(), in [0, 1]
    n_samples: int
    note: str = ""  # the samples left out for NaN or Inf (see nbviz.compute.data.nonfinite), in words

    def __post_init__(self) -> None:
        object.__setattr__(self, "dead", readonly(self.dead))

    @property
    def count(self) -> int:
        """How many units are dead."""
        return int(self.dead.sum())


def _value_range(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return -1.0, 1.0
    if finite.min() < 0:
        # A diverging colour map needs zero in the middle, or the sign of a cell cannot be read off its colour.
        m = float(np.abs(finite).max())
        return -m, m
    # (0, max) rather than (min, max): a ReLU output's zeros should look like zeros, not like "low".
    hi = float(finite.max())
    return 0.0, hi if hi > 0 else 1.0


def _grid(c: int, h: int, w: int) -> tuple[int, int]:
    """Return (rows, cols) of tiles with cols = ceil(sqrt(c*h/w)) clipped to [1, c], rows = ceil(c/cols)."""
    # In integers: the smallest k with k*k >= ceil(c*h/w); float sqrt could round a perfect square up by one.
    cols = math.isqrt(ceil_div(c * h, w) - 1) + 1
    cols = min(max(cols, 1), c)
    return ceil_div(c, cols), cols


def _tile_maps(maps: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """Tile (h, w, c) maps into (rows*(h+1) - 1, cols*(w+1) - 1); map k at tile (k // cols, k % cols).

    Returns the float32 image, NaN in gutters and unused trailing tiles, and the grid (rows, cols).
    """
    h, w, c = maps.shape
    rows, cols = _grid(c, h, w)
    padded = np.full((rows * cols, h + 1, w + 1), np.nan, dtype=np.float32)
    padded[:c, :h, :w] = maps.transpose(2, 0, 1)
    # (tile row, tile col, y, x) -> (tile row, y, tile col, x) puts each map's rows side by side.
    full = padded.reshape(rows, cols, h + 1, w + 1).transpose(0, 2, 1, 3).reshape(rows * (h + 1), cols * (w + 1))
    # The trailing gutter row and column are dropped: gutters separate tiles, they do not frame the image.
    return np.ascontiguousarray(full[:-1, :-1]), (rows, cols)


def tile_frames(frames: np.ndarray) -> np.ndarray:
    """Lay out (n, h, w) frames (a video's, a volume's slices) as one picture: frame k at tile
    (k // cols, k % cols) of the near-square grid :func:`activation_view` uses for conv maps, read like text.

    Returns
    -------
    np.ndarray
        float32 (rows*(h+1) - 1, cols*(w+1) - 1), NaN in the one-cell gutters between frames and in unused
        trailing tiles; a single frame comes back as it is.
    """
    frames = np.asarray(frames, dtype=np.float32)
    if frames.ndim != 3 or frames.size == 0:
        raise ValueError(f"frames: expected a non-empty (n, h, w) array, got shape {frames.shape}")
    if len(frames) == 1:
        return frames[0]
    return _tile_maps(frames.transpose(1, 2, 0))[0]


def _downsample(image: np.ndarray, max_cells: int) -> np.ndarray:
    """Block-reduce a 2-D image to at most ``max_cells`` cells, keeping each block's largest |value|."""
    n_rows, n_cols = image.shape
    br, bc = block_shape(n_rows, n_cols, max_cells)
    # No source index is reported, so a zero-cost all-zero index stands in: every cell ranks as a real value,
    # and NaN cells (gutters or NaN activations) still lose to any number inside block_reduce.
    dummy = np.broadcast_to(np.zeros((), dtype=np.int8), image.shape)
    reduced, _ = block_reduce(image, dummy, br, bc)
    return reduced


def activation_view(a: Any, max_cells: int = 65_536) -> ActivationView:
    """Lay out one sample's layer output (no batch axis) as bars or an image.

    Parameters
    ----------
    a : array-like or object with ``.numpy()``
        Non-empty, integer or float, at most 4-D. 0-D and 1-D (units,) -> bars; 2-D (time, units) -> image
        as it is; 3-D (h, w, c) conv maps -> c tiles of h x w on a near-square grid with one-cell NaN
        gutters; 4-D (d, h, w, c) -> as (d*h, w, c), depth slices stacked vertically in each tile.
    max_cells : int
        Upper bound on the number of values shown; larger layouts are block-reduced to each block's
        largest-|value| entry (NaN only where a block holds nothing else).

    Returns
    -------
    ActivationView
        ``values`` of shape (n,) for bars or (rows, cols) for an image, float32, at most ``max_cells``
        entries; undownsampled conv maps give ``rows = grid[0]*(h+1) - 1`` and ``cols = grid[1]*(w+1) - 1``.
    """
    arr = as_real_array(a, "a")
    if arr.ndim > _MAX_NDIM:
        hint = "; drop the batch axis, e.g. a[0]" if arr.ndim == _MAX_NDIM + 1 else ""
        raise ValueError(
            f"a: expected one sample's layer output with at most {_MAX_NDIM} dimensions, got shape {arr.shape}{hint}"
        )
    if arr.size == 0:
        raise ValueError(f"a: expected a non-empty layer output, got shape {arr.shape}")
    max_cells = check_count(max_cells, "max_cells")

    # Convert once so the range and the display see the same numbers; float64 beyond float32 becomes +/-Inf.
    with np.errstate(over="ignore"):
        values = arr.astype(np.float32)
    # The range comes from the full activation: downsampling keeps the largest magnitudes but may drop
    # the only negative values, which would wrongly switch the scale from symmetric to (0, max).
    vmin, vmax = _value_range(values)

    if values.ndim <= 1:
        bars = values.reshape(-1)
        downsampled = bars.size > max_cells
        if downsampled:  # as a 1 x n image, so bars and images share one reduction
            bars = _downsample(bars[np.newaxis, :], max_cells)[0]
        return ActivationView("bars", bars, vmin, vmax, (1, 1), (1, int(values.size)), downsampled)

    grid = (1, 1)
    if values.ndim == 2:
        image, tile = values, (int(values.shape[0]), int(values.shape[1]))
    else:
        maps = values.reshape(-1, *values.shape[-2:])  # (d, h, w, c) -> (d*h, w, c); (h, w, c) unchanged
        tile = (int(maps.shape[0]), int(maps.shape[1]))
        image, grid = _tile_maps(maps)
    downsampled = image.size > max_cells
    row_step = 1
    if downsampled:
        # The block's rows are what a row of the reduced image stands for (a label per row names its first).
        row_step = block_shape(image.shape[0], image.shape[1], max_cells)[0]
        image = _downsample(image, max_cells)
    return ActivationView("image", image, vmin, vmax, grid, tile, downsampled, values.ndim >= 3, row_step)


def dead_units(batch: Any, previous: DeadUnits | None = None, mask: Any = None) -> DeadUnits:
    """Find the units (last axis) whose output is <= 0 for every sample and real position of a batch.

    The one definition of a dead unit in nbviz: the activations tab, the findings and LiveTraining's
    ``dead_share`` all count with it. With ``previous`` (the result for earlier batches of the same layer) the
    answer covers all of them, so a large dataset can be streamed chunk by chunk.

    Parameters
    ----------
    batch : array-like or object with ``.numpy()``
        A layer's outputs for several samples, batch first: shape (n, ..., units), non-empty, at least 2-D.
        A NaN output counts as not <= 0, so a unit that produces NaN is broken rather than dead.
    previous : DeadUnits, optional
        The answer for earlier batches of the same layer.
    mask : array-like of bool, optional
        Which samples or positions are real, of shape ``batch.shape[:k]`` ((n,) or (n, positions): a token
        model's padding mask). Outputs where it is False do not count: a padding token's units may rest.

    Returns
    -------
    DeadUnits
        ``dead`` of shape (units,), bool; ``share = dead.mean()``; ``n_samples = n`` (with ``previous``, the sum).
    """
    arr = as_real_array(batch, "batch")
    if arr.ndim < 2:
        raise ValueError(f"batch: expected outputs of shape (n, ..., units) with a batch axis, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"batch: expected a non-empty batch, got shape {arr.shape}")
    n = int(arr.shape[0])
    if mask is not None:
        real = np.asarray(mask, dtype=bool)
        if real.ndim < 1 or real.ndim >= arr.ndim or real.shape != arr.shape[: real.ndim]:
            raise ValueError(f"mask: expected a shape that begins the outputs' {arr.shape}, got {real.shape}")
        arr = arr[real]  # (real occurrences, ..., units)
    # Samples and positions alike are just occurrences of a unit, so one flat axis covers Dense and conv. A batch
    # with no real occurrence says nothing: every unit stays as dead as before (all, without a previous answer).
    dead = np.asarray((arr.reshape(-1, arr.shape[-1]) <= 0).all(axis=0))
    if previous is not None:
        if previous.dead.shape != dead.shape:
            raise ValueError(f"previous: expected a result for {dead.size} units, got {previous.dead.size}")
        dead, n = dead & previous.dead, n + previous.n_samples
    return DeadUnits(dead, float(dead.mean()), n)


def block_mean(image: np.ndarray, max_cells: int) -> np.ndarray:
    """Shrink a 2-D picture to at most ``max_cells`` cells by averaging square blocks (for input images, where
    an average reads better than the largest magnitude). Rows and columns beyond whole blocks are dropped.

    Returns
    -------
    np.ndarray
        float32, shape (rows // f, cols // f) for the smallest factor f that fits.
    """
    image = np.asarray(image, dtype=np.float32)
    rows, cols = image.shape
    factor = 1
    while (rows // factor) * (cols // factor) > max_cells and factor < max(rows, cols):
        factor += 1
    if factor == 1:
        return image
    # A side shorter than the factor (a one-pixel-wide strip) is averaged over all it has, not over a block
    # it cannot fill: the blocks are then (fr, fc), not square.
    fr, fc = min(factor, rows), min(factor, cols)
    r, c = rows // fr, cols // fc
    blocks = image[: r * fr, : c * fc].reshape(r, fr, c, fc)
    return blocks.mean(axis=(1, 3), dtype=np.float32)


def overlay(image: np.ndarray, heat: np.ndarray, min_px: int = 160) -> np.ndarray:
    """The input in grey with a heatmap laid over it (red where ``heat`` is high), as (h, w, 3) uint8.

    The input is drawn as the sample view draws it (``GREYS``: its lowest value white, its highest black), so
    the digit is not inverted between the two. ``heat`` (any non-negative map) is resized to the image by
    nearest neighbour; its opacity follows its value, so the input stays visible where the map is low. Small
    images are enlarged by an integer factor.
    """
    grey = np.asarray(image, dtype=np.float64)
    finite = np.isfinite(grey)
    span = np.ptp(grey[finite]) if finite.any() else 0.0
    low = np.min(grey[finite]) if finite.any() else 0.0
    # 1 - (value - min) / span: high values dark, as the sample view's white-to-black ramp; NaN/Inf: black.
    with np.errstate(invalid="ignore"):
        shade = 1.0 - (grey - low) / span if span > 0 else np.ones_like(grey)
    grey = np.where(finite, shade, 0.0)
    rows = (np.arange(grey.shape[0]) * heat.shape[0] // grey.shape[0]).clip(0, heat.shape[0] - 1)
    cols = (np.arange(grey.shape[1]) * heat.shape[1] // grey.shape[1]).clip(0, heat.shape[1] - 1)
    h = np.nan_to_num(np.asarray(heat, dtype=np.float64)[np.ix_(rows, cols)])
    h = h / h.max() if h.max() > 0 else h
    red = np.array([0.70, 0.09, 0.17])
    rgb = (1 - h[..., None]) * grey[..., None] + h[..., None] * red
    factor = max(1, min_px // max(rgb.shape[:2]))
    rgb = np.kron(rgb, np.ones((factor, factor, 1)))
    return (rgb.clip(0, 1) * 255).astype(np.uint8)
