"""Turn a Keras weight tensor into a 2-D display matrix, and histogram any tensor.

Pure numpy on purpose: no widget, plotting or TensorFlow import, so the reduction runs (and is tested)
without a notebook front end, and only small arrays ever reach the browser.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._arrays import readonly

__all__ = ["Histogram", "WeightImage", "filter_grid", "histogram", "weight_image"]

_SCALES = ("symmetric", "minmax")
_MAX_NDIM = 5
_INT32_MAX = int(np.iinfo(np.int32).max)


# eq=False: `==` on arrays is element-wise, so a generated __eq__ could not return a bool.
@dataclass(frozen=True, eq=False)
class WeightImage:
    """A weight tensor laid out as a 2-D matrix of its values, ready for a heat map; arrays are read-only."""

    image: np.ndarray  # float32 (rows, cols): the weight values themselves, not colours; NaN in gutters
    index: np.ndarray  # int64 (rows, cols): flat index into w.ravel() of each cell's weight; -1 in gutters
    vmin: float  # colour range given by the scale; always vmin < vmax
    vmax: float
    shape: tuple[int, ...]  # shape of the source tensor w
    downsampled: bool  # True when blocks of cells were reduced to one cell each
    block: tuple[int, int] = (1, 1)  # (rows, cols) of the block each cell stands for
    note: str = ""  # what the tiles are, for a title ("32 filters, mean over 16 input channels"); "" as laid out

    def __post_init__(self) -> None:
        object.__setattr__(self, "image", readonly(self.image))
        object.__setattr__(self, "index", readonly(self.index))

    def source_index(self, row: int, col: int) -> tuple[int, ...] | None:
        """Return the index into ``w`` (a tuple usable as ``w[idx]``) of the weight shown in cell (row, col).

        Returns None for a gutter cell. Raises IndexError for a cell outside the image, negative indices
        included: a click on the heat map never yields one, so wrapping them around would only hide bugs.
        """
        n_rows, n_cols = self.image.shape
        if not (0 <= row < n_rows and 0 <= col < n_cols):
            raise IndexError(f"cell ({row}, {col}) is outside the {n_rows} x {n_cols} image")
        flat = int(self.index[row, col])
        if flat < 0:
            return None
        return tuple(int(i) for i in np.unravel_index(flat, self.shape))


@dataclass(frozen=True, eq=False)
class Histogram:
    """Histogram of the finite values of a tensor; arrays are read-only."""

    edges: np.ndarray  # float32 (bins + 1,)
    counts: np.ndarray  # int32 (bins,): bqplot would silently cut int64 to int32 anyway
    n_nan: int  # NaN values left out of counts
    n_inf: int  # +/-Inf values left out of counts

    def __post_init__(self) -> None:
        object.__setattr__(self, "edges", readonly(self.edges))
        object.__setattr__(self, "counts", readonly(self.counts))


def as_real_array(x: Any, name: str) -> np.ndarray:
    given = type(x).__name__
    # Duck typing lets tf.Variable / tf.Tensor / keras.Variable in without importing TensorFlow here.
    to_numpy = getattr(x, "numpy", None)
    if callable(to_numpy) and not isinstance(x, np.ndarray):
        x = to_numpy()
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:  # e.g. ragged nested lists
        raise TypeError(f"{name}: expected an array-like of real numbers, got {given} ({exc})") from exc
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{name}: expected an array-like of real numbers, got {given} with dtype {arr.dtype}")
    return arr


def check_count(value: Any, name: str) -> int:
    # bool is an int subclass, but max_cells=True is surely a mistake.
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int >= 1, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name}: expected an int >= 1, got {value!r}")
    return int(value)


def _widen(lo: float, hi: float) -> tuple[float, float]:
    # A colour scale or bin range with lo == hi divides by zero. Widening by max(1, |v|) keeps v centred,
    # and unlike a fixed +/-1 it does not vanish in rounding around huge values such as 1e30.
    if lo < hi:
        return lo, hi
    half = max(1.0, abs(lo))
    return lo - half, lo + half


def _color_range(w: np.ndarray, scale: str) -> tuple[float, float]:
    finite = w[np.isfinite(w)]
    if finite.size == 0:
        return -1.0, 1.0
    if scale == "symmetric":
        m = float(np.abs(finite).max())
        return _widen(-m, m)
    return _widen(float(finite.min()), float(finite.max()))


def _tile(kernel: np.ndarray, fill: float | int) -> np.ndarray:
    """Tile (kd, kh, kw, in, out) into shape (in*(kd*kh+1) - 1, out*(kw+1) - 1); gutters hold ``fill``."""
    kd, kh, kw, n_in, n_out = kernel.shape
    # (in, kd*kh, out, kw): grid rows are input channels, grid columns output channels,
    # and depth slices of a 3-D filter are stacked vertically inside their tile.
    tiles = kernel.transpose(3, 0, 1, 4, 2).reshape(n_in, kd * kh, n_out, kw)
    padded = np.full((n_in, kd * kh + 1, n_out, kw + 1), fill, dtype=kernel.dtype)
    padded[:, :-1, :, :-1] = tiles
    # The trailing gutter row and column are dropped: gutters separate tiles, they do not frame the image.
    full = padded.reshape(n_in * (kd * kh + 1), n_out * (kw + 1))[:-1, :-1]
    return np.ascontiguousarray(full)


def _layout(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the full-resolution (values, index) matrices for a weight tensor in Keras layout."""
    index = np.arange(w.size, dtype=np.int64).reshape(w.shape)
    if w.ndim <= 2:  # scalar -> 1 x 1, vector -> 1 x n, matrix as it is
        return np.atleast_2d(w), np.atleast_2d(index)
    # Conv1D (k, in, out), Conv2D/depthwise (kh, kw, in, out) and Conv3D (kd, kh, kw, in, out) all become
    # (kd, kh, kw, in, out), so one tiling path serves them; a Conv1D tile is then 1 x k.
    as_5d = (1,) * (5 - w.ndim) + w.shape
    return _tile(w.reshape(as_5d), np.nan), _tile(index.reshape(as_5d), -1)


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def block_shape(n_rows: int, n_cols: int, max_cells: int) -> tuple[int, int]:
    """Return the first (block_rows, block_cols) whose reduced image has at most ``max_cells`` cells.

    Blocks step through (1, 1), (1, 2), (2, 2), (2, 3), ... growing the longer side first: near-square
    blocks keep the aspect ratio, and the half steps avoid shrinking more than needed.
    """

    def factors(step: int) -> tuple[int, int]:
        short, long_ = step // 2 + 1, step // 2 + 1 + step % 2
        br, bc = (short, long_) if n_cols >= n_rows else (long_, short)
        # A factor beyond the side's length changes nothing; clamping keeps the reported block honest.
        return min(br, n_rows), min(bc, n_cols)

    def cells(step: int) -> int:
        br, bc = factors(step)
        return ceil_div(n_rows, br) * ceil_div(n_cols, bc)

    # cells() never increases with the step, so a binary search finds the first step that fits.
    lo, hi = 0, 2 * max(n_rows, n_cols)
    while lo < hi:
        mid = (lo + hi) // 2
        if cells(mid) <= max_cells:
            hi = mid
        else:
            lo = mid + 1
    return factors(lo)


def block_reduce(values: np.ndarray, index: np.ndarray, br: int, bc: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (image, index) of shape (ceil(rows/br), ceil(cols/bc)): each block's largest-magnitude value."""
    n_rows, n_cols = values.shape
    out_rows, out_cols = ceil_div(n_rows, br), ceil_div(n_cols, bc)
    # Rank by a key with no NaN, so plain argmax works without all-NaN warnings: a gutter ranks -1 and a
    # NaN weight -0.5, so a real NaN weight still beats a gutter but loses to any number; |Inf| ranks top.
    key = np.where(index < 0, -1.0, np.where(np.isnan(values), -0.5, np.abs(values)))

    def blocks(a: np.ndarray, fill: float | int) -> np.ndarray:
        # Padding cells behave as gutters, so a ragged last block needs no special case.
        padded = np.full((out_rows * br, out_cols * bc), fill, dtype=a.dtype)
        padded[:n_rows, :n_cols] = a
        return padded.reshape(out_rows, br, out_cols, bc).transpose(0, 2, 1, 3).reshape(out_rows, out_cols, -1)

    pick = blocks(key, -1.0).argmax(axis=2)[..., np.newaxis]
    image = np.take_along_axis(blocks(values, np.nan), pick, axis=2)[..., 0]
    kept = np.take_along_axis(blocks(index, -1), pick, axis=2)[..., 0]
    return image, kept


def weight_image(w: Any, max_cells: int = 65_536, scale: str = "symmetric") -> WeightImage:
    """Lay out a weight tensor (Keras layout) as a 2-D matrix of its values.

    Parameters
    ----------
    w : array-like or object with ``.numpy()``
        Non-empty, integer or float, at most 5-D. 0-D -> 1 x 1, 1-D -> 1 x n, 2-D as it is. 3-D to 5-D are
        conv kernels (Conv1D (k, in, out), Conv2D/depthwise (kh, kw, in, out), Conv3D (kd, kh, kw, in, out)),
        tiled one tile row per input channel, one tile column per output channel; tiles are 1 x k,
        kh x kw or (kd*kh) x kw, separated by one-cell gutters (a transposed conv's in/out are swapped).
    max_cells : int
        Upper bound on ``rows * cols``; larger layouts are reduced by blocks to their largest-|w| value.
    scale : {"symmetric", "minmax"}
        "symmetric": ``(-m, m)`` with ``m = max |w|``; "minmax": ``(min w, max w)``; finite values only.

    Returns
    -------
    WeightImage
        ``image`` and ``index`` of shape (rows, cols), at most ``max_cells`` cells; for an undownsampled
        4-D kernel ``rows = in*(kh+1) - 1`` and ``cols = out*(kw+1) - 1``.
    """
    arr = as_real_array(w, "w")
    if arr.ndim > _MAX_NDIM:
        raise ValueError(f"w: expected a weight tensor with at most {_MAX_NDIM} dimensions, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"w: expected a non-empty weight tensor, got shape {arr.shape}")
    max_cells = check_count(max_cells, "max_cells")
    if scale not in _SCALES:
        raise ValueError(f"scale: expected one of {', '.join(map(repr, _SCALES))}, got {scale!r}")

    # Convert once, so the colour range, the magnitude ranking and the display all see the same numbers;
    # float64 values beyond float32's range become +/-Inf, which the image shows as such.
    with np.errstate(over="ignore"):
        values32 = arr.astype(np.float32)
    vmin, vmax = _color_range(values32, scale)
    image, index = _layout(values32)
    n_rows, n_cols = image.shape
    block = (1, 1)
    if n_rows * n_cols > max_cells:
        block = block_shape(n_rows, n_cols, max_cells)
        image, index = block_reduce(image, index, *block)
    return WeightImage(image, index, vmin, vmax, tuple(arr.shape), downsampled=block != (1, 1), block=block)


def _grid_shape(n: int, tile_h: int, tile_w: int) -> tuple[int, int]:
    """(rows, cols) of a near-square grid of ``n`` tiles of tile_h x tile_w (with their one-cell gutters)."""
    # The picture is about (rows*(h+1)) x (cols*(w+1)): square when cols = sqrt(n*(h+1)/(w+1)).
    cols = max(1, min(n, round(math.sqrt(n * (tile_h + 1) / (tile_w + 1)))))
    return ceil_div(n, cols), cols


def _grid_tiles(tiles: np.ndarray, fill: float | int) -> np.ndarray:
    """Lay (n, h, w) tiles out on a near-square grid, read like text (tile k at (k // cols, k % cols)), with
    one-cell gutters of ``fill`` between them (not around them) and ``fill`` in unused trailing tiles."""
    n, h, w = tiles.shape
    rows, cols = _grid_shape(n, h, w)
    padded = np.full((rows * cols, h + 1, w + 1), fill, dtype=tiles.dtype)
    padded[:n, :h, :w] = tiles
    full = padded.reshape(rows, cols, h + 1, w + 1).transpose(0, 2, 1, 3).reshape(rows * (h + 1), cols * (w + 1))
    return np.ascontiguousarray(full[:-1, :-1])


def filter_grid(w: Any, max_cells: int = 65_536, scale: str = "symmetric") -> WeightImage:
    """Lay out a conv kernel as the grid of its filters: one tile per output filter, on a near-square grid, with
    one-cell NaN gutters between tiles, so that the picture has about the aspect of one tile row of a few filters
    (the input x output grid of :func:`weight_image` was 3 x 63 cells for a first conv layer: a stretched strip).

    Parameters
    ----------
    w : array-like or object with ``.numpy()``
        A conv kernel in Keras layout: Conv1D (k, in, out), Conv2D (kh, kw, in, out), Conv3D (kd, kh, kw, in,
        out). Other ranks are laid out by :func:`weight_image`.
    max_cells, scale
        As for :func:`weight_image`; the colour range is that of the values shown (the means).

    Returns
    -------
    WeightImage
        Tile k is filter k's ``(kd*kh) x kw`` weights (depth slices stacked), averaged over its input channels
        when it has several; with a single output channel (a depthwise kernel of multiplier 1, or a conv of one
        filter) the tiles are its input channels' weights instead. ``note`` says which; ``index`` names, for a
        mean, the weight of input channel 0 at that place.
    """
    arr = as_real_array(w, "w")
    if not 3 <= arr.ndim <= _MAX_NDIM or arr.size == 0:
        return weight_image(arr, max_cells=max_cells, scale=scale)
    max_cells = check_count(max_cells, "max_cells")
    if scale not in _SCALES:
        raise ValueError(f"scale: expected one of {', '.join(map(repr, _SCALES))}, got {scale!r}")
    with np.errstate(over="ignore"):
        kernel = arr.astype(np.float32).reshape((1,) * (5 - arr.ndim) + arr.shape)
    kd, kh, kw, n_in, n_out = map(int, kernel.shape)
    index = np.arange(kernel.size, dtype=np.int64).reshape(kernel.shape)
    if n_out == 1:  # a depthwise kernel (each input channel its own filter), or a conv of a single filter
        tiles, at = kernel[..., 0], index[..., 0]
        note = f"a tile per input channel ({n_in})" if n_in > 1 else "1 filter"
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            tiles = kernel.mean(axis=3, dtype=np.float64).astype(np.float32) if n_in > 1 else kernel[..., 0, :]
        at = index[..., 0, :]
        note = f"{n_out} filters" + (f", mean over {n_in} input channels" if n_in > 1 else "")

    # (kd, kh, kw, n) -> (n, kd*kh, kw): depth slices stacked vertically in a tile, as weight_image does.
    def as_tiles(a: np.ndarray) -> np.ndarray:
        return a.transpose(3, 0, 1, 2).reshape(a.shape[3], kd * kh, kw)

    image, flat = _grid_tiles(as_tiles(tiles), np.nan), _grid_tiles(as_tiles(at), -1)
    vmin, vmax = _color_range(image, scale)
    block = (1, 1)
    if image.size > max_cells:
        block = block_shape(image.shape[0], image.shape[1], max_cells)
        image, flat = block_reduce(image, flat, *block)
    return WeightImage(image, flat, vmin, vmax, tuple(arr.shape), block != (1, 1), block, note)


def histogram(values: Any, bins: int = 50, range: tuple[float, float] | None = None) -> Histogram:
    """Histogram the finite values of a tensor of any shape.

    Parameters
    ----------
    values : array-like or object with ``.numpy()``
        Integer or float values of any shape; may be empty.
    bins : int
        Number of equal-width bins, >= 1.
    range : (float, float), optional
        Finite ``(lo, hi)`` with ``lo < hi``; values outside it are not counted (as in ``np.histogram``).
        Defaults to the finite min and max, widened when they are equal, or (-1, 1) if nothing is finite.

    Returns
    -------
    Histogram
        ``edges`` of shape (bins + 1,) and ``counts`` of shape (bins,), equal to ``np.histogram`` of the
        finite values over the same range; NaN and +/-Inf are counted in ``n_nan`` and ``n_inf`` instead.
    """
    arr = as_real_array(values, "values").ravel()
    bins = check_count(bins, "bins")
    finite = arr[np.isfinite(arr)]
    if finite.size > _INT32_MAX:  # counts are int32; refuse rather than wrap around
        raise ValueError(f"values: expected at most {_INT32_MAX} finite values, got {finite.size}")
    hist_range: tuple[float, float] | None = None
    if range is not None:
        try:
            lo, hi = (float(v) for v in range)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"range: expected a (lo, hi) pair of floats or None, got {range!r}") from exc
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"range: expected finite (lo, hi) with lo < hi, got {range!r}")
        hist_range = (lo, hi)
    elif finite.size == 0:
        hist_range = (-1.0, 1.0)
    elif finite.min() == finite.max():
        hist_range = _widen(float(finite.min()), float(finite.max()))
    # Otherwise numpy's own default (min, max) keeps counts and edges bit-identical to np.histogram's.
    counts, edges = np.histogram(finite, bins=bins, range=hist_range)
    n_nan = int(np.isnan(arr).sum())
    return Histogram(edges.astype(np.float32), counts.astype(np.int32), n_nan, arr.size - finite.size - n_nan)
