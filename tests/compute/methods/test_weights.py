"""Tests for nbviz.compute.methods.weights: layouts, block reduction, colour scales and histograms.

Every weight gets a unique value so that a cell can only pass if it shows exactly the right weight;
expected layouts come from an independent cell-by-cell reference, not from the code under test.
"""

from __future__ import annotations

import ast
import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nbviz.compute.methods.weights as weights_module
from nbviz.compute.methods.weights import Histogram, WeightImage, histogram, weight_image

Cell = tuple[int, int]
Index = tuple[int, ...]


def unique_weights(shape: tuple[int, ...], seed: int = 0, signed: bool = True) -> np.ndarray:
    """float32 tensor of `shape` whose |values| are 1..size in random order (random signs if `signed`)."""
    rng = np.random.default_rng(seed)
    size = math.prod(shape)
    values = (rng.permutation(size) + 1).astype(np.float32)
    if signed:
        values *= rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=size)
    return values.reshape(shape)


def reference_layout(shape: tuple[int, ...]) -> tuple[Cell, dict[Cell, Index]]:
    """Image size and {cell: index into w}, placed one weight at a time from the documented geometry."""
    if len(shape) == 0:
        return (1, 1), {(0, 0): ()}
    if len(shape) == 1:
        return (1, shape[0]), {(0, j): (j,) for j in range(shape[0])}
    if len(shape) == 2:
        return (shape[0], shape[1]), {(i, j): (i, j) for i in range(shape[0]) for j in range(shape[1])}
    if len(shape) == 3:  # Conv1D (k, in, out): tiles are 1 x k
        kd, kh, (kw, n_in, n_out) = 1, 1, shape
    elif len(shape) == 4:  # Conv2D / depthwise (kh, kw, in, out)
        kd, (kh, kw, n_in, n_out) = 1, shape
    else:  # Conv3D (kd, kh, kw, in, out): depth slices stacked vertically
        kd, kh, kw, n_in, n_out = shape
    tile_h, tile_w = kd * kh, kw
    cells = {}
    for idx in np.ndindex(*shape):
        z, y, x, i, o = (0, 0, *idx) if len(shape) == 3 else (0, *idx) if len(shape) == 4 else idx
        cells[(i * (tile_h + 1) + z * kh + y, o * (tile_w + 1) + x)] = idx
    return (n_in * (tile_h + 1) - 1, n_out * (tile_w + 1) - 1), cells


# shape, expected image shape, expected gutter cells (worked out by hand from the geometry)
LAYOUTS = [
    ((), (1, 1), 0),
    ((5,), (1, 5), 0),
    ((4, 6), (4, 6), 0),
    ((3, 4, 5), (4 * 2 - 1, 5 * 4 - 1), 7 * 19 - 60),  # Conv1D k=3: 3 gutter rows, 4 gutter columns
    ((3, 3, 2, 4), (7, 15), 1 * 15 + 3 * 7 - 3),  # Conv2D: 1 gutter row, 3 gutter columns
    ((2, 3, 3, 2, 3), (2 * 7 - 1, 3 * 4 - 1), 1 * 11 + 2 * 13 - 2),  # Conv3D: tiles are 6 x 3
    ((3, 3, 5, 1), (5 * 4 - 1, 3), 4 * 3),  # depthwise, multiplier 1: a single column of tiles
]


@pytest.mark.parametrize(("shape", "image_shape", "n_gutter"), LAYOUTS)
@pytest.mark.parametrize("seed", [0, 1])
def test_every_weight_shown_once_in_its_place(
    shape: tuple[int, ...], image_shape: Cell, n_gutter: int, seed: int
) -> None:
    w = unique_weights(shape, seed=seed)
    result = weight_image(w)
    (rows, cols), cells = reference_layout(shape)

    assert result.image.shape == result.index.shape == image_shape == (rows, cols)
    assert result.image.dtype == np.float32 and result.index.dtype == np.int64
    assert result.shape == shape and not result.downsampled and result.block == (1, 1)
    for r in range(rows):
        for c in range(cols):
            src = result.source_index(r, c)
            if (r, c) in cells:
                assert src == cells[(r, c)]
                assert result.image[r, c] == w[src]
            else:
                assert src is None and result.index[r, c] == -1 and np.isnan(result.image[r, c])
    assert int((result.index < 0).sum()) == n_gutter == rows * cols - w.size
    assert np.array_equal(np.sort(result.index[result.index >= 0]), np.arange(w.size))


def test_conv2d_layout_literal() -> None:
    w = np.zeros((2, 2, 1, 2), dtype=np.float32)
    w[:, :, 0, 0] = [[1, 2], [3, 4]]
    w[:, :, 0, 1] = [[5, 6], [7, 8]]
    expected = np.array([[1, 2, np.nan, 5, 6], [3, 4, np.nan, 7, 8]], dtype=np.float32)
    np.testing.assert_array_equal(weight_image(w).image, expected)  # NaN == NaN here
    assert weight_image(w).source_index(1, 3) == (1, 0, 0, 1)


def check_block_maxima(w: np.ndarray, result: WeightImage) -> None:
    """Recompute every cell with plain loops: its weight must be the largest |w| of its block's weights."""
    (rows, cols), cells = reference_layout(w.shape)
    br, bc = result.block
    assert result.image.shape == (math.ceil(rows / br), math.ceil(cols / bc))
    shown = []
    for r in range(result.image.shape[0]):
        for c in range(result.image.shape[1]):
            members = [
                cells[(y, x)]
                for y in range(r * br, min((r + 1) * br, rows))
                for x in range(c * bc, min((c + 1) * bc, cols))
                if (y, x) in cells
            ]
            src = result.source_index(r, c)
            if not members:
                assert src is None and np.isnan(result.image[r, c])
                continue
            assert src in members
            assert result.image[r, c] == w[src]
            assert abs(float(w[src])) == max(abs(float(w[m])) for m in members)
            shown.append(src)
    assert len(set(shown)) == len(shown)


@pytest.mark.parametrize(
    ("shape", "max_cells"),
    [((300, 400), 10_000), ((3, 3, 64, 128), 4096), ((5000, 3), 300), ((100_000,), 1000)],
)
def test_downsampling_keeps_largest_magnitude(shape: tuple[int, ...], max_cells: int) -> None:
    w = unique_weights(shape, seed=3)
    result = weight_image(w, max_cells=max_cells)
    assert result.downsampled and result.block != (1, 1)
    assert max_cells / 4 < result.image.size <= max_cells  # reduced enough, but not far more than needed
    check_block_maxima(w, result)


def test_downsampling_keeps_aspect_ratio() -> None:
    result = weight_image(unique_weights((300, 400)), max_cells=10_000)
    rows, cols = result.image.shape
    assert abs(math.log((rows / cols) / (300 / 400))) < math.log(1.5)


@pytest.mark.parametrize("shape", [(7,), (9, 4), (3, 4, 5), (3, 3, 2, 4), (2, 3, 3, 2, 3)])
def test_single_cell_shows_global_largest_magnitude(shape: tuple[int, ...]) -> None:
    w = unique_weights(shape, seed=5)
    result = weight_image(w, max_cells=1)
    flat = int(np.argmax(np.abs(w)))
    assert result.image.shape == (1, 1)
    assert result.image[0, 0] == w.flat[flat]
    assert result.source_index(0, 0) == np.unravel_index(flat, shape)


def test_non_finite_weights_preserved() -> None:
    w = np.array([[1.0, np.nan], [np.inf, -5.0]], dtype=np.float32)
    result = weight_image(w)
    assert np.isnan(result.image[0, 1]) and result.source_index(0, 1) == (0, 1)
    assert result.image[1, 0] == np.inf
    assert (result.vmin, result.vmax) == (-5.0, 5.0)  # finite values only
    assert (weight_image(w, scale="minmax").vmin, weight_image(w, scale="minmax").vmax) == (-5.0, 1.0)
    # Inf is the largest magnitude; the sign is kept.
    assert weight_image(w, max_cells=1).source_index(0, 0) == (1, 0)
    assert weight_image(np.array([[3.0, -np.inf]]), max_cells=1).image[0, 0] == -np.inf
    # A NaN weight loses to any number but is still a real weight, not a gutter.
    assert weight_image(np.array([[np.nan, 0.0]]), max_cells=1).image[0, 0] == 0.0
    only_nan = weight_image(np.array([[np.nan, np.nan]]), max_cells=1)
    assert np.isnan(only_nan.image[0, 0]) and only_nan.source_index(0, 0) == (0, 0)
    assert (only_nan.vmin, only_nan.vmax) == (-1.0, 1.0)


def test_nan_weight_beats_gutter_in_block() -> None:
    w = np.arange(1.0, 5.0).reshape(1, 1, 2, 2)
    w[0, 0, 0, 0] = np.nan
    result = weight_image(w, max_cells=4)  # 3 x 3 image (1 x 1 tiles) -> 2 x 2 blocks
    assert result.block == (2, 2)
    assert np.isnan(result.image[0, 0]) and result.source_index(0, 0) == (0, 0, 0, 0)
    assert result.image[1, 1] == 4.0


@pytest.mark.parametrize(
    ("w", "scale", "expected"),
    [
        ([-2.0, 0.5, 3.0], "symmetric", (-3.0, 3.0)),
        ([-2.0, 0.5, 3.0], "minmax", (-2.0, 3.0)),
        ([[-4, 1], [2, 3]], "symmetric", (-4.0, 4.0)),
        ([7.0, 7.0], "symmetric", (-7.0, 7.0)),
    ],
)
def test_scales(w: Any, scale: str, expected: tuple[float, float]) -> None:
    result = weight_image(w, scale=scale)
    assert (result.vmin, result.vmax) == expected
    assert isinstance(result.vmin, float) and isinstance(result.vmax, float)


@pytest.mark.parametrize("scale", ["symmetric", "minmax"])
@pytest.mark.parametrize("value", [0.0, 1.0, -3.0, 1e30])
def test_constant_weights_get_non_empty_range(scale: str, value: float) -> None:
    result = weight_image(np.full((2, 3), value), scale=scale)
    assert result.vmin < result.vmax
    assert result.vmin <= value <= result.vmax


@pytest.mark.parametrize("dtype", [np.float16, np.float64, np.int32, np.int64])
def test_dtypes_come_out_float32(dtype: type) -> None:
    w: np.ndarray = np.arange(12).reshape(3, 4).astype(dtype)
    result = weight_image(w)
    assert result.image.dtype == np.float32
    np.testing.assert_array_equal(result.image, w.astype(np.float32))


def test_results_are_immutable() -> None:
    w = unique_weights((3, 3, 2, 4))
    result = weight_image(w)
    with pytest.raises(ValueError, match="read-only"):
        result.image[0, 0] = 0.0
    with pytest.raises(ValueError, match="read-only"):
        result.index[0, 0] = 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.vmin = 0.0  # type: ignore[misc]
    assert w.flags.writeable  # the caller's array is left alone
    hist = histogram(w)
    assert not hist.edges.flags.writeable and not hist.counts.flags.writeable


def test_accepts_objects_with_numpy_method() -> None:
    class FakeVariable:  # duck-types tf.Variable / keras.Variable
        def numpy(self) -> np.ndarray:
            return np.array([[1.0, -2.0]])

    assert weight_image(FakeVariable()).source_index(0, 1) == (0, 1)
    assert histogram(FakeVariable(), bins=1).counts.tolist() == [2]


def test_real_keras_conv_kernel() -> None:
    keras = pytest.importorskip("keras")
    layer = keras.layers.Conv2D(4, 3)
    layer.build((None, 8, 8, 2))
    kernel = np.asarray(layer.kernel.numpy())
    result = weight_image(layer.kernel)
    assert result.image.shape == (7, 15) and result.shape == (3, 3, 2, 4)
    # Tile (input 1, output 1) starts at row 1*(3+1), column 1*(3+1); its centre tap is one further in.
    assert result.source_index(5, 5) == (1, 1, 1, 1) and result.image[5, 5] == kernel[1, 1, 1, 1]


def test_source_index_outside_image() -> None:
    result = weight_image(np.zeros((3, 3, 2, 4)))
    for row, col in [(7, 0), (0, 15), (-1, 0), (0, -1)]:
        with pytest.raises(IndexError, match="outside the 7 x 15 image"):
            result.source_index(row, col)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"w": "abc"}, TypeError, r"^w: expected an array-like of real numbers, got str"),
        ({"w": {"a": 1}}, TypeError, r"^w: expected .* got dict"),
        ({"w": None}, TypeError, r"^w: expected .* got NoneType"),
        ({"w": [[1, 2], [3]]}, TypeError, r"^w: expected .* got list"),
        ({"w": np.ones(3, dtype=complex)}, TypeError, r"^w: .*dtype complex128"),
        ({"w": np.ones(3, dtype=bool)}, TypeError, r"^w: .*dtype bool"),
        (
            {"w": np.zeros((1, 2, 3, 4, 5, 6))},
            ValueError,
            r"^w: expected a weight tensor with at most 5 dimensions, got shape \(1, 2, 3, 4, 5, 6\)$",
        ),
        ({"w": np.zeros((0, 3))}, ValueError, r"^w: expected a non-empty weight tensor, got shape \(0, 3\)"),
        (
            {"w": [1.0], "scale": "log"},
            ValueError,
            r"^scale: expected one of 'symmetric', 'minmax', got 'log'$",
        ),
        ({"w": [1.0], "max_cells": 0}, ValueError, r"^max_cells: expected an int >= 1, got 0$"),
        ({"w": [1.0], "max_cells": 1.5}, TypeError, r"^max_cells: expected an int >= 1, got float 1.5$"),
        ({"w": [1.0], "max_cells": True}, TypeError, r"^max_cells: expected an int >= 1, got bool"),
    ],
)
def test_weight_image_bad_input(kwargs: dict[str, Any], exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        weight_image(**kwargs)


def test_histogram_matches_numpy_and_counts_non_finite() -> None:
    values = np.random.default_rng(7).normal(size=(40, 25)).astype(np.float32)
    values[0, :3] = np.nan
    values[1, :2] = [np.inf, -np.inf]
    values[2, 0] = np.inf
    finite = values[np.isfinite(values)]
    result = histogram(values, bins=17)
    counts, edges = np.histogram(finite, bins=17)
    assert isinstance(result, Histogram)
    assert (result.n_nan, result.n_inf) == (3, 3)
    assert result.counts.dtype == np.int32 and result.edges.dtype == np.float32
    np.testing.assert_array_equal(result.counts, counts)
    np.testing.assert_array_equal(result.edges, edges.astype(np.float32))
    assert int(result.counts.sum()) == finite.size


def test_histogram_with_range_matches_numpy() -> None:
    values = np.random.default_rng(8).normal(size=1000)
    result = histogram(values, bins=10, range=(-1.0, 1.0))
    np.testing.assert_array_equal(result.counts, np.histogram(values, bins=10, range=(-1.0, 1.0))[0])
    assert (result.edges[0], result.edges[-1]) == (-1.0, 1.0)


@pytest.mark.parametrize(
    ("values", "total", "n_nan"),
    [
        (np.full(5, 2.5), 5, 0),
        (np.array([np.nan, np.nan]), 0, 2),
        (np.array([]), 0, 0),
        ([[3, 3], [3, 3]], 4, 0),
    ],
)
def test_histogram_degenerate_inputs(values: Any, total: int, n_nan: int) -> None:
    result = histogram(values, bins=4)
    assert result.counts.shape == (4,) and result.edges.shape == (5,)
    assert result.edges[0] < result.edges[-1]
    assert int(result.counts.sum()) == total and result.n_nan == n_nan and result.n_inf == 0


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"values": "abc"}, TypeError, r"^values: expected an array-like of real numbers, got str"),
        ({"values": [1.0], "bins": 0}, ValueError, r"^bins: expected an int >= 1, got 0$"),
        ({"values": [1.0], "bins": 2.5}, TypeError, r"^bins: expected an int >= 1, got float 2.5$"),
        (
            {"values": [1.0], "range": (1.0, 0.0)},
            ValueError,
            r"^range: expected finite \(lo, hi\) with lo < hi",
        ),
        ({"values": [1.0], "range": (0.0, np.inf)}, ValueError, r"^range: expected finite"),
        ({"values": [1.0], "range": "ab"}, TypeError, r"^range: expected a \(lo, hi\) pair"),
    ],
)
def test_histogram_bad_input(kwargs: dict[str, Any], exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        histogram(**kwargs)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    imported = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    return imported | {
        ("." if node.level else "") + node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }


def test_module_imports_only_numpy_and_stdlib() -> None:
    # The compute layer must stay importable without widgets or TensorFlow (checked in the source, since
    # the package's other modules legitimately load Keras). The one package module it uses is numpy-only too.
    allowed = {"__future__", "collections", "dataclasses", "math", "typing", "numpy"}
    here = Path(weights_module.__file__)
    assert _imports(here) <= allowed | {"._arrays"}
    assert _imports(here.parent.parent / "_arrays.py") <= allowed
