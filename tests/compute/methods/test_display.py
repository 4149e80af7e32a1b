"""Tests for nbviz.compute.methods.display: activation layouts, downsampling, value ranges and dead units.

Every activation value is unique, so a cell can only pass if it shows exactly the right value; expected
positions come from the documented geometry, worked out element by element in plain Python.
"""

from __future__ import annotations

import ast
import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nbviz.compute.methods.display as display_module
from nbviz.compute.methods.display import ActivationView, DeadUnits, activation_view, dead_units

from .test_weights import unique_weights


def source_of_cell(row: int, col: int, h: int, w: int, cols: int, c: int) -> tuple[int, int, int] | None:
    """(y, x, k) of the map element a tiled image shows at (row, col), or None for a gutter or unused tile."""
    tile_row, y = divmod(row, h + 1)
    tile_col, x = divmod(col, w + 1)
    k = tile_row * cols + tile_col
    if y == h or x == w or k >= c:
        return None
    return y, x, k


# (h, w, c), expected grid (rows, cols): cols = ceil(sqrt(c*h/w)) clipped to [1, c], worked out by hand
CONV_LAYOUTS = [
    ((4, 4, 1), (1, 1)),  # one map: no gutter at all
    ((4, 4, 3), (2, 2)),  # sqrt(3) -> 2 columns, one unused tile
    ((5, 5, 7), (3, 3)),  # prime c: sqrt(7) -> 3 columns, two unused tiles
    ((2, 9, 5), (3, 2)),  # wide maps: sqrt(10/9) -> 2 columns
    ((3, 3, 16), (4, 4)),  # perfect square: exactly 4 x 4
    ((1, 1, 10), (3, 4)),  # pooled 1 x 1 maps
    ((8, 2, 3), (1, 3)),  # tall maps: sqrt(12) -> 4, clipped to c = 3
]


@pytest.mark.parametrize(("shape", "grid"), CONV_LAYOUTS)
def test_conv_maps_tiled_in_place(shape: tuple[int, int, int], grid: tuple[int, int]) -> None:
    h, w, c = shape
    a = unique_weights(shape, seed=c)
    view = activation_view(a)
    rows, cols = grid
    assert (view.kind, view.grid, view.tile, view.downsampled) == ("image", grid, (h, w), False)
    assert view.values.shape == (rows * (h + 1) - 1, cols * (w + 1) - 1)
    assert view.values.dtype == np.float32
    covered = np.zeros(view.values.shape, dtype=bool)
    for k in range(c):
        r0, c0 = (k // cols) * (h + 1), (k % cols) * (w + 1)
        np.testing.assert_array_equal(view.values[r0 : r0 + h, c0 : c0 + w], a[:, :, k])
        covered[r0 : r0 + h, c0 : c0 + w] = True
    # Everything else (gutters and unused trailing tiles) is NaN, and no map value is NaN.
    assert np.isnan(view.values[~covered]).all() and not np.isnan(view.values[covered]).any()
    unused = rows * cols - c
    assert (~covered).sum() == view.values.size - c * h * w
    if unused:  # the last tile slot of the last row is unused, so its whole area is NaN
        assert np.isnan(view.values[-h:, -w:]).all()


def test_conv_layout_literal() -> None:
    a = np.arange(1.0, 13.0).reshape(2, 2, 3)  # 2 x 2 maps, c = 3 -> 2 x 2 grid, last slot unused
    nan = np.nan
    expected = [
        [1, 4, nan, 2, 5],
        [7, 10, nan, 8, 11],
        [nan, nan, nan, nan, nan],
        [3, 6, nan, nan, nan],
        [9, 12, nan, nan, nan],
    ]
    np.testing.assert_array_equal(activation_view(a).values, np.array(expected, dtype=np.float32))


def test_conv3d_depth_slices_stacked_in_each_tile() -> None:
    d, h, w, c = 2, 3, 4, 5
    a = unique_weights((d, h, w, c), seed=7)
    view = activation_view(a)
    rows, cols = 2, 3  # tiles are (d*h) x w = 6 x 4: sqrt(5 * 6 / 4) = 2.7 -> 3 columns
    assert (view.kind, view.grid, view.tile) == ("image", (rows, cols), (d * h, w))
    assert view.values.shape == (rows * (d * h + 1) - 1, cols * (w + 1) - 1)
    for z, y, x, k in np.ndindex(d, h, w, c):
        row = (k // cols) * (d * h + 1) + z * h + y
        col = (k % cols) * (w + 1) + x
        assert view.values[row, col] == a[z, y, x, k]
    assert np.isnan(view.values).sum() == view.values.size - a.size


def test_sequence_shown_as_it_is() -> None:
    a = unique_weights((7, 5), seed=2)  # (time, units)
    view = activation_view(a)
    assert (view.kind, view.grid, view.tile, view.downsampled) == ("image", (1, 1), (7, 5), False)
    np.testing.assert_array_equal(view.values, a)


@pytest.mark.parametrize(("a", "expected"), [(np.float32(-2.5), [-2.5]), ([3, -1, 4, 0], [3, -1, 4, 0])])
def test_vectors_and_scalars_are_bars(a: Any, expected: list[float]) -> None:
    view = activation_view(a)
    assert (view.kind, view.grid, view.tile, view.downsampled) == ("bars", (1, 1), (1, len(expected)), False)
    assert view.values.dtype == np.float32 and view.values.shape == (len(expected),)
    np.testing.assert_array_equal(view.values, expected)


def test_conv_downsampling_keeps_largest_magnitude_per_block() -> None:
    h, w, c = 64, 64, 128
    a = unique_weights((h, w, c), seed=3)
    view = activation_view(a, max_cells=4096)
    # Full image: grid 11 x 12 (sqrt(128) -> 12 columns) of 65-cell pitches -> 714 x 779 cells. Blocks of
    # 11 x 12 leave 65 x 65 = 4225 cells, too many; the next step, 12 x 12, leaves 60 x 65 = 3900.
    assert view.downsampled and view.values.size <= 4096
    assert view.values.shape == (60, 65)
    assert (view.grid, view.tile) == ((11, 12), (h, w))  # the layout before downsampling
    n_rows, n_cols, br, bc = 714, 779, 12, 12
    rng = np.random.default_rng(0)
    picks = [(0, 0), (59, 64), (0, 64), (59, 0)] + [tuple(p) for p in rng.integers((60, 65), size=(40, 2))]
    for i, j in picks:
        shown = [
            float(a[src])
            for row in range(i * br, min((i + 1) * br, n_rows))
            for col in range(j * bc, min((j + 1) * bc, n_cols))
            if (src := source_of_cell(row, col, h, w, 12, c)) is not None
        ]
        cell = float(view.values[i, j])
        if shown:
            assert cell == max(shown, key=abs), (i, j)
        else:  # a block of gutters and unused tiles only
            assert math.isnan(cell), (i, j)


@pytest.mark.parametrize(("n", "max_cells", "block"), [(100_000, 1000, 100), (1001, 1000, 2), (7, 1, 7)])
def test_long_vector_downsampled_in_1d(n: int, max_cells: int, block: int) -> None:
    a = unique_weights((n,), seed=4)
    view = activation_view(a, max_cells=max_cells)
    assert (view.kind, view.tile, view.downsampled) == ("bars", (1, n), True)
    assert view.values.shape == (math.ceil(n / block),) and view.values.size <= max_cells
    for i, shown in enumerate(view.values.tolist()):
        assert shown == max(a[i * block : (i + 1) * block].tolist(), key=abs)


def test_downsampling_ignores_nan_but_keeps_inf() -> None:
    a = np.array([np.nan, 0.5, np.nan, np.nan, -np.inf, 2.0], dtype=np.float32)
    np.testing.assert_array_equal(activation_view(a, max_cells=3).values, [0.5, np.nan, -np.inf])


def test_not_downsampled_at_exactly_max_cells() -> None:
    view = activation_view(np.ones((4, 4, 4)), max_cells=(2 * 5 - 1) ** 2)  # 2 x 2 grid -> 9 x 9 cells
    assert not view.downsampled and view.values.shape == (9, 9)


@pytest.mark.parametrize(
    ("a", "expected"),
    [
        (np.maximum(unique_weights((4, 4, 3), signed=False) - 10, 0), (0.0, 38.0)),  # ReLU output: vmin is 0
        ([-2.0, 0.5, 3.0], (-3.0, 3.0)),  # mixed signs: symmetric
        ([-2.0, -7.0], (-7.0, 7.0)),
        (np.zeros((5, 3)), (0.0, 1.0)),  # constant zeros: still a non-empty range
        ([7.0, 7.0], (0.0, 7.0)),
        ([-3.0, -3.0], (-3.0, 3.0)),
        ([1.0, np.nan, np.inf, -5.0], (-5.0, 5.0)),  # finite values only
        ([np.nan, -np.inf], (-1.0, 1.0)),  # nothing finite
        (np.array([4, -1, 9], dtype=np.int64), (-9.0, 9.0)),
    ],
)
def test_value_range(a: Any, expected: tuple[float, float]) -> None:
    view = activation_view(a)
    assert (view.vmin, view.vmax) == expected
    assert isinstance(view.vmin, float) and isinstance(view.vmax, float) and view.vmin < view.vmax


def test_value_range_comes_from_full_activation() -> None:
    # Downsampling drops the only negative value (-1 loses to 10 in its block); the range must not change.
    view = activation_view([-1.0, 10.0, 2.0, 3.0], max_cells=2)
    np.testing.assert_array_equal(view.values, [10.0, 3.0])
    assert (view.vmin, view.vmax) == (-10.0, 10.0)


def test_non_finite_values_kept() -> None:
    a = np.array([[1.0, np.nan], [np.inf, -np.inf]])
    view = activation_view(a)
    np.testing.assert_array_equal(view.values, a.astype(np.float32))
    assert (view.vmin, view.vmax) == (0.0, 1.0)


@pytest.mark.parametrize("dtype", [np.float16, np.float64, np.int32, np.int64, np.uint8])
def test_dtypes_come_out_float32(dtype: type) -> None:
    a: np.ndarray = np.arange(24).reshape(2, 3, 4).astype(dtype)
    view = activation_view(a)
    assert view.values.dtype == np.float32
    np.testing.assert_array_equal(view.values[:2, :3], a[:, :, 0].astype(np.float32))


def test_results_are_immutable_and_input_untouched() -> None:
    a = unique_weights((6,))
    before = a.copy()
    view = activation_view(a)
    with pytest.raises(ValueError, match="read-only"):
        view.values[0] = 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        view.vmin = 0.0  # type: ignore[misc]
    assert a.flags.writeable and not np.shares_memory(a, view.values)
    np.testing.assert_array_equal(a, before)
    result = dead_units(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="read-only"):
        result.dead[0] = False
    assert isinstance(view, ActivationView) and isinstance(result, DeadUnits)


def test_accepts_objects_with_numpy_method() -> None:
    class FakeTensor:  # duck-types tf.Tensor / keras outputs
        def numpy(self) -> np.ndarray:
            return np.array([[-1.0, 2.0]])

    np.testing.assert_array_equal(activation_view(FakeTensor()).values, [[-1.0, 2.0]])
    np.testing.assert_array_equal(dead_units(FakeTensor()).dead, [True, False])


def test_dead_units_dense_batch() -> None:
    rng = np.random.default_rng(1)
    batch = rng.uniform(-1.0, 1.0, size=(6, 5)).astype(np.float32)
    batch[:, 0] = -np.abs(batch[:, 0])  # negative everywhere
    batch[:, 3] = 0.0  # exactly zero counts as not firing
    batch[:, [1, 2, 4]] = -1.0
    batch[5, 1], batch[0, 2], batch[3, 4] = 0.25, 1e-6, 3.0  # one positive value suffices
    result = dead_units(batch)
    np.testing.assert_array_equal(result.dead, [True, False, False, True, False])
    assert result.dead.dtype == np.bool_ and result.share == 2 / 5 and result.n_samples == 6


def test_dead_units_conv_batch_counts_every_position() -> None:
    batch = -np.ones((3, 4, 4, 6), dtype=np.float32)
    batch[..., 4] = 0.0
    batch[1, 3, 0, 2] = 1e-6  # unit 2 fires at one position of one sample only
    batch[2, :, :, 5] = 5.0
    batch[0, 0, 0, 1] = np.nan  # NaN is not <= 0: a broken unit, not a dead one
    result = dead_units(batch)
    np.testing.assert_array_equal(result.dead, [True, False, False, True, True, False])
    assert result.share == 3 / 6 and result.n_samples == 3


def test_dead_units_integer_batch_and_no_dead() -> None:
    result = dead_units(np.array([[1, 2], [0, 0]], dtype=np.int32))
    assert not result.dead.any() and result.share == 0.0 and result.n_samples == 2


def test_real_keras_conv_layer() -> None:
    keras = pytest.importorskip("keras")
    layer = keras.layers.Conv2D(3, 3, activation="relu")
    layer.build((None, 6, 6, 2))
    kernel = np.ones((3, 3, 2, 3), dtype=np.float32)
    kernel[..., 1] = 0.0  # filter 1 sees nothing, and its negative bias keeps it below zero
    layer.set_weights([kernel, np.array([0.5, -1.0, 0.0], dtype=np.float32)])
    x = np.random.default_rng(2).uniform(0.0, 1.0, size=(4, 6, 6, 2)).astype(np.float32)
    out = np.asarray(layer(x))
    view = activation_view(out[0])
    assert (view.grid, view.tile, view.vmin) == ((2, 2), (4, 4), 0.0)
    np.testing.assert_array_equal(view.values[:4, 5:9], out[0, :, :, 1])  # tile (0, 1): all zeros
    np.testing.assert_array_equal(view.values[5:9, :4], out[0, :, :, 2])  # tile (1, 0)
    assert out[0, :, :, 2].min() > 0
    np.testing.assert_array_equal(dead_units(out).dead, [False, True, False])


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: activation_view("abc"), TypeError, r"^a: expected an array-like of real numbers, got str"),
        (lambda: activation_view(None), TypeError, r"^a: expected .* got NoneType"),
        (lambda: activation_view([[1, 2], [3]]), TypeError, r"^a: expected .* got list"),
        (lambda: activation_view(np.ones(3, dtype=complex)), TypeError, r"^a: .*dtype complex128"),
        (lambda: activation_view(np.ones(3, dtype=bool)), TypeError, r"^a: .*dtype bool"),
        (
            lambda: activation_view(np.zeros((1, 2, 3, 4, 5))),
            ValueError,
            r"^a: expected .* at most 4 dimensions, got shape \(1, 2, 3, 4, 5\); drop the batch axis",
        ),
        (lambda: activation_view(np.zeros((2, 0))), ValueError, r"^a: expected a non-empty .* got shape \(2, 0\)"),
        (lambda: activation_view([1.0], max_cells=0), ValueError, r"^max_cells: expected an int >= 1, got 0$"),
        (lambda: activation_view([1.0], max_cells=1.5), TypeError, r"^max_cells: expected an int >= 1, got float"),
        (lambda: activation_view([1.0], max_cells=True), TypeError, r"^max_cells: expected an int >= 1, got bool"),
        (lambda: dead_units("abc"), TypeError, r"^batch: expected an array-like of real numbers, got str"),
        (lambda: dead_units([1.0, 2.0]), ValueError, r"^batch: expected .*\(n, \.\.\., units\).* got shape \(2,\)"),
        (lambda: dead_units(np.zeros((0, 4))), ValueError, r"^batch: expected a non-empty batch, got shape \(0, 4\)"),
        (lambda: dead_units(np.zeros((3, 0))), ValueError, r"^batch: expected a non-empty batch, got shape \(3, 0\)"),
    ],
)
def test_bad_input(call: Any, exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match):
        call()


def test_module_imports_only_numpy_stdlib_and_weights() -> None:
    tree = ast.parse(Path(display_module.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {
        ("." * node.level) + (node.module or "") for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    }
    assert imported <= {"__future__", "dataclasses", "math", "typing", "numpy", ".weights", ".._arrays"}


def test_dead_units_streamed_in_chunks_equals_one_pass():
    rng = np.random.default_rng(7)
    batch = rng.normal(size=(12, 3, 3, 6)).astype(np.float32)
    batch[..., 2] = -np.abs(batch[..., 2])
    batch[..., 4] = -np.abs(batch[..., 4])
    batch[9, 1, 1, 4] = 0.5  # positive once, in the last chunk only
    whole = dead_units(batch)
    streamed = None
    for start in range(0, 12, 5):
        streamed = dead_units(batch[start : start + 5], previous=streamed)
    np.testing.assert_array_equal(streamed.dead, whole.dead)
    assert streamed.n_samples == 12 and streamed.share == whole.share == pytest.approx(1 / 6)
    with pytest.raises(ValueError, match="previous: expected a result for 6 units, got 2"):
        dead_units(batch, previous=dead_units(batch[..., :2]))
