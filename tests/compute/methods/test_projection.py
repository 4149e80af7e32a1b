"""The projector's numbers: PCA against scikit-learn, streaming against one shot, pooling, neighbours, brushes."""

from __future__ import annotations

import tracemalloc

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

from nbviz.compute.methods import projection
from nbviz.compute.methods.projection import pool, project
from nbviz.compute.model.probe import shared_probe


def _same_up_to_sign(ours: np.ndarray, ref: np.ndarray) -> float:
    """The largest difference after flipping each of our columns to match the reference's sign."""
    signs = np.sign(np.sum(ours * ref, axis=0))
    return float(np.max(np.abs(ours * signs - ref)))


@pytest.fixture(scope="module")
def dense_acts(digits):
    return shared_probe(digits.model).activations(digits.x_test, ["dense"])["dense"].astype(np.float64)


def test_pca_equals_scikit_learn(digits, dense_acts):
    shown = project(digits.model, digits.x_test, "dense")
    k = shown.components.shape[1]
    reference = PCA(n_components=k).fit(dense_acts)
    ref = reference.transform(dense_acts)
    scale = float(np.max(np.abs(ref)))
    assert _same_up_to_sign(shown.components, ref) <= 1e-4 * scale
    assert _same_up_to_sign(shown.coords, ref[:, :2]) <= 1e-4 * scale
    np.testing.assert_allclose(shown.explained_variance, reference.explained_variance_ratio_, rtol=1e-3, atol=1e-6)
    assert shown.coords.dtype == np.float32 and shown.coords.shape == (len(digits.x_test), 2)
    assert shown.pooling == "none" and shown.n_features == 64 and shown.fitted is None


def test_incremental_equals_one_shot_and_streams_again(digits):
    one_shot = project(digits.model, digits.x_test, "dense", batch_size=100_000)
    small = project(digits.model, digits.x_test, "dense", batch_size=7)
    streamed = project(digits.model, digits.x_test, "dense", batch_size=32, store_bytes=0)  # a second pass
    scale = float(np.max(np.abs(one_shot.components)))
    for other in (small, streamed):
        np.testing.assert_allclose(other.components, one_shot.components, atol=1e-5 * scale)
        np.testing.assert_allclose(other.explained_variance, one_shot.explained_variance, rtol=1e-5, atol=1e-7)


def test_dataset_streams_like_arrays(digits):
    arrays = project(digits.model, digits.x_test, "conv2")
    batched = tf.data.Dataset.from_tensor_slices((digits.x_test, digits.y_test)).batch(50)
    unbatched = tf.data.Dataset.from_tensor_slices(digits.x_test)
    scale = float(np.max(np.abs(arrays.components)))
    for data in (batched, unbatched):
        shown = project(digits.model, data, "conv2", batch_size=64)
        np.testing.assert_allclose(shown.components, arrays.components, atol=1e-5 * scale)
    limited = project(digits.model, batched.repeat(), "conv2", max_samples=120)
    assert limited.n == 120


def test_pooling_is_numpy_mean_and_max(digits):
    acts = shared_probe(digits.model).activations(digits.x_test[:20], ["conv2"])["conv2"]
    mean, text = pool(acts, "mean")
    np.testing.assert_allclose(mean, acts.mean(axis=(1, 2)), rtol=1e-6, atol=1e-7)
    assert text == "mean over 8 x 8 positions"
    np.testing.assert_array_equal(pool(acts, "max")[0], acts.max(axis=(1, 2)))
    np.testing.assert_array_equal(pool(acts, "flatten")[0], acts.reshape(20, -1))
    seq = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)
    mask = np.array([[True, True, False], [False, True, False]])
    masked, text = pool(seq, "mean", mask)
    np.testing.assert_allclose(masked, [seq[0, :2].mean(axis=0), seq[1, 1]])
    np.testing.assert_allclose(pool(seq, "max", mask)[0], [seq[0, 1], seq[1, 1]])
    assert "real tokens" in text
    shown = project(digits.model, digits.x_test, "conv2", pooling="max")
    reference = PCA(n_components=2).fit_transform(acts_all := _conv2_max(digits))
    assert _same_up_to_sign(shown.coords, reference) <= 1e-4 * float(np.max(np.abs(reference)))
    assert shown.n_features == acts_all.shape[1] == 32


def _conv2_max(digits) -> np.ndarray:
    acts = shared_probe(digits.model).activations(digits.x_test, ["conv2"])["conv2"]
    return acts.max(axis=(1, 2)).astype(np.float64)


def test_nearest_and_inside(cancer):
    x = cancer.x_test
    shown = project(cancer.model, x, "hidden1")
    feats = shared_probe(cancer.model).activations(x, ["hidden1"])["hidden1"].astype(np.float64)
    assert shown.components.shape[1] == feats.shape[1] == 16  # every component kept: distances are the layer's
    for sample in (0, 17, 100):
        near, dist = shown.nearest(sample, 6)
        ref_dist, ref_near = NearestNeighbors(n_neighbors=7).fit(feats).kneighbors(feats[sample : sample + 1])
        keep = ref_near[0] != sample
        np.testing.assert_allclose(dist, ref_dist[0][keep][:6], rtol=1e-4, atol=1e-4)
        assert set(near) == set(ref_near[0][keep][:6]) or np.allclose(dist[-1], ref_dist[0][keep][5], rtol=1e-4)
        assert sample not in near
    x_range, y_range = (-1.0, 2.5), (3.0, -0.5)  # either order
    inside = shown.inside(x_range, y_range)
    c = shown.coords
    expected = np.flatnonzero((c[:, 0] >= -1) & (c[:, 0] <= 2.5) & (c[:, 1] >= -0.5) & (c[:, 1] <= 3))
    np.testing.assert_array_equal(inside, expected)
    assert 0 < len(inside) < len(x)


def test_tsne_on_a_sample_places_the_rest_by_their_neighbours(digits, monkeypatch):
    monkeypatch.setitem(projection.FIT_SAMPLES, "tsne", 150)
    shown = project(digits.model, digits.x_test, "dense", method="tsne")
    assert shown.method == "tsne" and len(shown.fitted) == 150 and "t-SNE fitted on 150 of 450" in shown.note
    rest = np.setdiff1d(np.arange(shown.n), shown.fitted)
    index = NearestNeighbors(n_neighbors=projection.PLACEMENT_NEIGHBOURS).fit(shown.components[shown.fitted])
    _, near = index.kneighbors(shown.components[rest[:20]])
    expected = shown.coords[shown.fitted][near].mean(axis=1)
    np.testing.assert_allclose(shown.coords[rest[:20]], expected, rtol=1e-5, atol=1e-5)
    # The fitted points are spread out (t-SNE ran), and the same seed gives the same picture.
    assert np.std(shown.coords[shown.fitted]) > 1.0
    again = project(digits.model, digits.x_test, "dense", method="tsne")
    np.testing.assert_array_equal(again.coords, shown.coords)


def test_umap(digits):
    pytest.importorskip("umap")
    shown = project(digits.model, digits.x_test[:200], "dense", method="umap")
    assert shown.coords.shape == (200, 2) and np.all(np.isfinite(shown.coords))
    # UMAP keeps neighbourhoods: most of a point's 5 nearest in 2-D are among its 15 nearest in the layer.
    feats = shown.components
    high = NearestNeighbors(n_neighbors=16).fit(feats).kneighbors(feats)[1][:, 1:]
    low = NearestNeighbors(n_neighbors=6).fit(shown.coords).kneighbors(shown.coords)[1][:, 1:]
    kept = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(low, high)])
    assert kept > 0.5


@pytest.mark.parametrize("n", [8, 600])
def test_pca_of_a_wide_layer_equals_scikit_learn(n):
    # Past DENSE_EIGEN features only the top components are found (Lanczos on the covariance): the same
    # coordinates and variance ratios as scikit-learn's full PCA, with fewer samples than features (8: what a
    # zoo model's layer has; rank 7) and with more (600), on a spectrum that decays as a layer's does.
    d = 1500
    assert d > projection.DENSE_EIGEN
    inputs = keras.Input((d,))
    model = keras.Model(inputs, keras.layers.Activation("linear", name="wide")(inputs))
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((n, 40)) * np.geomspace(10, 0.1, 40)) @ rng.standard_normal((40, d))
    x = (x + 0.01 * rng.standard_normal((n, d))).astype(np.float32)
    shown = project(model, x, "wide")
    k = min(shown.components.shape[1], n - 1)  # beyond the rank, components are noise in an empty space
    reference = PCA(n_components=k).fit(x.astype(np.float64))
    ref = reference.transform(x.astype(np.float64))
    scale = float(np.max(np.abs(ref)))
    assert _same_up_to_sign(shown.components[:, :k], ref) <= 1e-4 * scale
    np.testing.assert_allclose(shown.explained_variance[:k], reference.explained_variance_ratio_, rtol=1e-3, atol=1e-6)


def test_a_wide_layer_without_variance_projects_to_its_centre():
    # A dead ReLU layer of many units outputs zeros for every sample: no direction explains anything, and the
    # projection says so (every point at the origin, no variance) rather than failing in the eigensolver.
    d = 1500
    inputs = keras.Input((d,))
    model = keras.Model(inputs, keras.layers.ReLU(name="dead")(keras.layers.Activation("linear")(inputs)))
    x = -np.abs(np.random.default_rng(2).standard_normal((20, d))).astype(np.float32)
    shown = project(model, x, "dead")
    assert np.all(shown.coords == 0) and np.all(shown.explained_variance == 0)


def test_wide_layers_are_sketched():
    inputs = keras.Input((5000,))
    model = keras.Model(inputs, keras.layers.Activation("linear", name="wide")(inputs))
    rng = np.random.default_rng(0)
    # Activations of rank 10 (as a layer's are, low-rank): the 32 principal coordinates hold all of them.
    x = (rng.standard_normal((64, 10)) @ rng.standard_normal((10, 5000))).astype(np.float32)
    shown = project(model, x, "wide")
    assert shown.n_features == 5000 and "sketched from 5,000 to 2,048" in shown.note
    # The sketch keeps distances: every distance from sample 0 within 10% of the true one.
    near, dist = shown.nearest(0, 63)
    true = np.linalg.norm(x[near] - x[0], axis=1)
    assert np.max(np.abs(dist - true) / true) < 0.1


def test_streaming_200k_samples_keeps_memory_bounded():
    """200,000 samples of a 256-unit layer (features: 205 MB) streamed from a dataset: the numpy memory held at
    the peak (tracemalloc) stays under 48 MB: one batch, the cross products and the coordinates (26 MB)."""
    inputs = keras.Input((8,))
    model = keras.Model(inputs, keras.layers.Dense(256, activation="relu", name="wide")(inputs))
    n = 200_000
    data = tf.data.Dataset.range(n).batch(4096).map(lambda i: tf.random.stateless_normal((tf.size(i), 8), (1, 2)))
    tracemalloc.start()
    try:
        shown = project(model, data, "wide", batch_size=4096, store_bytes=32 * 2**20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert shown.n == n and shown.n_features == 256
    assert shown.components.nbytes == n * 32 * 4
    assert peak < 48 * 2**20, f"peak numpy memory {peak / 2**20:.1f} MB"


def test_bad_arguments(digits):
    with pytest.raises(ValueError, match="layer: expected one of"):
        project(digits.model, digits.x_test, "nope")
    with pytest.raises(ValueError, match="method: expected one of"):
        project(digits.model, digits.x_test, "dense", method="lda")
    with pytest.raises(ValueError, match="pooling: expected one of"):
        project(digits.model, digits.x_test, "conv2", pooling="median")
    with pytest.raises(ValueError, match="batch_size: expected a positive int"):
        project(digits.model, digits.x_test, "dense", batch_size=0)
    with pytest.raises(ValueError, match="data: expected shape"):
        project(digits.model, np.zeros((3, 5)), "dense")
    shown = project(digits.model, digits.x_test[:10], "dense")
    with pytest.raises(ValueError, match=r"sample: expected an index in \[0, 10\)"):
        shown.nearest(10)


def test_samples_with_nan_or_inf_features_are_left_out(cancer):
    x = cancer.x_test[:60].copy()
    x[5, 3], x[17, 0] = np.nan, np.inf  # the Normalization layer passes them on
    shown = project(cancer.model, x, "normalize")
    fine = project(cancer.model, np.delete(x, [5, 17], axis=0), "normalize")
    assert np.isnan(shown.coords[[5, 17]]).all() and "2 of 60 samples have NaN or Inf features" in shown.note
    keep = np.setdiff1d(np.arange(60), [5, 17])
    scale = float(np.max(np.abs(fine.components)))
    np.testing.assert_allclose(shown.components[keep], fine.components, atol=1e-5 * scale)  # PCA of the others
    near, _ = shown.nearest(0, 59)
    assert 5 not in near and 17 not in near and len(near) == 57
    tsne = project(cancer.model, x, "normalize", method="tsne")
    assert np.isnan(tsne.coords[[5, 17]]).all() and np.isfinite(np.delete(tsne.coords, [5, 17], axis=0)).all()
