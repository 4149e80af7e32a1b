"""Points drawn into a picture: against a plain loop that paints each point's square in sample order."""

from __future__ import annotations

import numpy as np
import pytest

from nbviz.compute.methods.raster import color_map, hex_rgb, rasterize


def _painted_by_loop(coords, colors, x_range, y_range, size, radius):
    width, height = size
    out = np.full((height, width, 3), 255, np.uint8)
    (x0, x1), (y0, y1) = x_range, y_range
    for (x, y), c in zip(coords, colors):  # in sample order: later points paint over earlier ones
        col, row = int(np.floor((x - x0) / (x1 - x0) * width)), int(np.floor((y1 - y) / (y1 - y0) * height))
        if not (0 <= col < width and 0 <= row < height):
            continue
        out[max(row - radius, 0) : row + radius + 1, max(col - radius, 0) : col + radius + 1] = c
    return out


@pytest.mark.parametrize("radius", [0, 1, 2])
def test_rasterize_equals_painting_each_point_in_order(radius):
    rng = np.random.default_rng(radius)
    coords = rng.normal(size=(400, 2))
    coords[:5] = [[9, 9], [-9, 0], [0, 9], [0.0, 0.0], [0.0, 0.0]]  # three outside, two on the same pixel
    colors = rng.integers(0, 256, size=(400, 3)).astype(np.uint8)
    shown = rasterize(coords, colors, (-3, 3), (-2.5, 2.5), size=(60, 50), radius=radius)
    expected = _painted_by_loop(coords, colors, (-3, 3), (-2.5, 2.5), (60, 50), radius)
    np.testing.assert_array_equal(shown.rgb, expected)
    assert shown.rgb.shape == (50, 60, 3) and shown.rgb.dtype == np.uint8
    assert shown.drawn == int(np.sum((np.abs(coords[:, 0]) < 3) & (np.abs(coords[:, 1]) < 2.5)))


def test_a_million_points_make_a_picture_of_the_same_size():
    coords = np.random.default_rng(0).normal(size=(1_000_000, 2)).astype(np.float32)
    colors = np.zeros((1_000_000, 3), np.uint8)
    shown = rasterize(coords, colors, (-4, 4), (-4, 4), size=(480, 480))
    assert shown.rgb.shape == (480, 480, 3)
    assert shown.rgb[240, 240].tolist() == [0, 0, 0] and shown.rgb[0, 0].tolist() == [255, 255, 255]


def test_color_map():
    palette = ["#000000", "#ff0000", "#ffffff"]
    np.testing.assert_array_equal(
        color_map(np.array([2.0, 0.0, 1.0]), palette, 0, 2, True), hex_rgb(palette)[[2, 0, 1]]
    )
    ramp = color_map(np.array([0.0, 0.25, 0.5, 1.0, 7.0, np.nan]), palette, 0.0, 1.0, False)
    np.testing.assert_array_equal(ramp[:5], [[0, 0, 0], [128, 0, 0], [255, 0, 0], [255, 255, 255], [255, 255, 255]])
    assert ramp[5].tolist() == [160, 160, 160]  # NaN is grey
