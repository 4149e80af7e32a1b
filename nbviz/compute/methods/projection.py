"""A layer's activations over a whole dataset, reduced to 2-D: the projector's numbers.

Activations are streamed batch by batch through the probe's compiled forward pass and pooled to one feature
vector per sample (conv and sequence layers: mean or max over space or time). PCA is exact and incremental: the
first pass sums the features and their cross products (float64, shifted by the first batch's mean so that large
means do not cancel), the eigenvectors of that covariance are the components, and the samples are projected onto
them, from features kept in memory when they fit a byte budget, else from a second streamed pass. Memory is then
one batch plus the coordinates, whatever the dataset's size. UMAP and t-SNE run on a seeded sample of the PCA
coordinates; the other samples are placed at the mean of their nearest fitted neighbours' places.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import keras
import numpy as np
import scipy.sparse.linalg

from .._arrays import frozen, is_int
from .._pipeline import UNBATCHED_BATCH, is_dataset, unbatched
from .._validate import as_inputs, check_model, input_specs
from ..model.probe import Probe, probe_for

METHODS = ("pca", "umap", "tsne")
POOLINGS = ("mean", "max", "flatten")
#: Features beyond this many are first sketched to SKETCH dimensions by a seeded count sketch (each feature added,
#: with a random sign, to one of SKETCH buckets: distances kept within a few percent on dense activations, as a
#: Gaussian projection keeps them, without its (d, SKETCH) matrix: 5 bytes per feature): the covariance is then at
#: most 32 MB whatever the layer's width.
MAX_FEATURES = 4096
SKETCH = 2048
#: The layer's output one streamed batch may hold (a million-unit layer: 16 samples a batch, not 1,024).
BATCH_BYTES = 64 * 2**20
#: How many samples UMAP and t-SNE are fitted on (t-SNE is quadratic-ish; UMAP scales further).
FIT_SAMPLES = {"umap": 20_000, "tsne": 5_000}
PLACEMENT_NEIGHBOURS = 5
#: Pooled features are kept for the projection while they take at most this many bytes; beyond, a second pass.
STORE_BYTES = 256 * 2**20
#: The PCA coordinates kept per sample (for neighbours and UMAP/t-SNE): at most 32, fewer for huge datasets so
#: that they take at most 64 MB.
MAX_COMPONENTS = 32
#: Features up to which PCA takes every eigenpair of the covariance (beyond, the top ones alone: see _Moments).
DENSE_EIGEN = 512
COMPONENT_BYTES = 64 * 2**20


class NoRowPerSample(ValueError):
    """A layer whose output has no row per sample (a position embedding's table, the same for every sample)."""


class NoFiniteRow(ValueError):
    """A layer whose output holds NaN or Inf for every sample."""


@dataclass(frozen=True, eq=False)
class Projection:
    """A layer's activations over a dataset in 2-D; arrays are read-only, rows in sample order.

    Attributes
    ----------
    layer : the layer projected.
    method : "pca", "umap" or "tsne".
    pooling : how each sample's output became one vector, in words ("mean over 4 x 4 positions", "none").
    coords : float32 (n, 2), what the projector draws.
    components : float32 (n, k) the first k principal coordinates (k <= 32): the layer's space as far as the
        neighbours go (distances there equal the pooled features' distances when k equals their count).
    explained_variance : float32 (k,) the share of the features' variance each component explains.
    n_features : the pooled features per sample (before any sketch).
    fitted : int64 indices of the samples UMAP or t-SNE was fitted on (the others were placed by their
        neighbours); None for PCA, where every sample is projected.
    note : what was done beyond the plain method, in words ('' for nothing).
    """

    layer: str
    method: str
    pooling: str
    coords: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray
    n_features: int
    fitted: np.ndarray | None = None
    note: str = ""

    @property
    def n(self) -> int:
        return len(self.coords)

    def nearest(self, sample: int, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` samples nearest to ``sample`` in the layer's space (the principal coordinates), nearest
        first, without the sample itself: (int64 indices, float32 distances)."""
        if not is_int(sample) or not 0 <= sample < self.n:
            raise ValueError(f"sample: expected an index in [0, {self.n}), got {sample!r}")
        d2 = np.asarray(np.sum(np.square(self.components - self.components[sample]), axis=1, dtype=np.float64))
        d2[np.isnan(d2)] = np.inf  # samples without finite activations (NaN, Inf) are nobody's neighbours
        d2[sample] = np.inf  # the largest: never among the k <= n - 1 nearest
        k = max(0, min(k, int(np.sum(np.isfinite(d2)))))
        near = np.argpartition(d2, k - 1)[:k] if k else np.zeros(0, np.int64)
        near = near[np.lexsort((near, d2[near]))]  # nearest first, ties by index
        return near.astype(np.int64), np.sqrt(d2[near]).astype(np.float32)

    def inside(self, x_range: Any, y_range: Any) -> np.ndarray:
        """The samples (int64, ascending) whose point lies in the rectangle ``x_range`` x ``y_range`` (closed)."""
        (x0, x1), (y0, y1) = sorted(map(float, x_range)), sorted(map(float, y_range))
        x, y = self.coords[:, 0], self.coords[:, 1]
        return np.flatnonzero((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)).astype(np.int64)


def project(
    model: keras.Model,
    data: Any,
    layer: str,
    method: str = "pca",
    *,
    pooling: str = "mean",
    probe: Probe | None = None,
    batch_size: int = 1024,
    max_samples: int | None = None,
    padding_mask: np.ndarray | None = None,
    seed: int = 0,
    store_bytes: int = STORE_BYTES,
    leave_out: np.ndarray | None = None,
) -> Projection:
    """Project ``layer``'s activations over ``data`` to 2-D.

    Parameters
    ----------
    model : keras.Model
        A built Keras 3 model.
    data : array-like, list, dict or tf.data.Dataset
        The samples, as the model takes them; a dataset (yielding ``x`` or ``(x, y, ...)`` as for ``fit``) is
        streamed batch by batch and read twice when its features do not fit ``store_bytes``.
    layer : str
        A qualified layer name (as in :class:`~nbviz.compute.model.probe.Probe`).
    method : str
        "pca" (every sample, exact), "umap" (umap-learn, an optional extra) or "tsne" (scikit-learn), the latter
        two fitted on a seeded sample (``FIT_SAMPLES``) of the principal coordinates.
    pooling : str
        For outputs with space or time axes: "mean" or "max" over them per channel (padding positions left out
        where ``padding_mask`` is given), or "flatten".
    probe : Probe, optional
        A probe of ``model`` to reuse.
    batch_size : int
        Samples per streamed batch.
    max_samples : int, optional
        Read at most this many samples (a ``repeat()``-ed dataset needs it).
    padding_mask : np.ndarray, optional
        (n, positions) bool: the real tokens of a sequence layer's positions.
    seed : int
        For the sketch of very wide layers and the UMAP/t-SNE sample.
    store_bytes : int
        Keep the pooled features for the projection up to this size; beyond it, stream the data a second time.
    leave_out : np.ndarray, optional
        (n,) bool: samples to leave out of the fit and the picture (whose inputs, labels or outputs hold NaN or
        Inf); their rows of ``coords`` and ``components`` are NaN.

    Returns
    -------
    Projection
    """
    model = check_model(model)
    probe = probe_for(model, probe)
    if not isinstance(layer, str) or layer not in probe.layers:
        known = list(probe.layers)
        raise ValueError(f"layer: expected one of {known[:8]}{'...' if len(known) > 8 else ''}, got {layer!r}")
    if method not in METHODS:
        raise ValueError(f"method: expected one of {list(METHODS)}, got {method!r}")
    if pooling not in POOLINGS:
        raise ValueError(f"pooling: expected one of {list(POOLINGS)}, got {pooling!r}")
    if not is_int(batch_size) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
    if max_samples is not None and (not is_int(max_samples) or max_samples < 1):
        raise ValueError(f"max_samples: expected a positive int or None, got {max_samples!r}")
    if method == "umap":
        _umap()  # fail before the long pass when the extra is missing

    described = ["none"]

    def features() -> Iterator[np.ndarray]:
        start = 0
        for inputs in batches(probe, data, int(batch_size), None if max_samples is None else int(max_samples)):
            acts = probe.activations(inputs, [layer])[layer]
            if len(acts) != len(inputs[0]):
                raise NoRowPerSample(f"layer: {layer}'s output has no row per sample (it is the same for all)")
            mask = None if padding_mask is None else padding_mask[start : start + len(acts)]
            gone = None if leave_out is None else leave_out[start : start + len(acts)]
            start += len(acts)
            pooled, described[0] = pool(acts, pooling, mask)
            if gone is None or not gone.any():
                yield pooled
            elif not gone.all():
                yield pooled[~gone]

    if leave_out is not None and not np.any(leave_out):
        leave_out = None
    fitted = fit_pca(features, seed=seed, store_bytes=store_bytes)
    shown = reduce(layer, method, described[0], fitted, seed=seed)
    return shown if leave_out is None else _with_rows_left_out(shown, np.asarray(leave_out, bool))


def _with_rows_left_out(shown: Projection, leave_out: np.ndarray) -> Projection:
    """``shown`` (fitted on the samples kept) with a NaN row for each sample left out, in sample order."""
    kept = np.flatnonzero(~leave_out)

    def spread(values: np.ndarray) -> np.ndarray:
        out = np.full((len(leave_out), values.shape[1]), np.nan, np.float32)
        out[kept] = values
        return frozen(out, np.float32, copy=False)

    fitted = None if shown.fitted is None else frozen(kept[shown.fitted], np.int64)
    return replace(shown, coords=spread(shown.coords), components=spread(shown.components), fitted=fitted)


def available_methods() -> tuple[str, ...]:
    """The methods this installation runs: UMAP only where umap-learn is installed (``nbviz[umap]``)."""
    return tuple(m for m in METHODS if m != "umap" or importlib.util.find_spec("umap") is not None)


# --------------------------------------------------------------------------------------------- streaming
def batches(probe: Probe, data: Any, batch_size: int, max_samples: int | None = None) -> Iterator[list[np.ndarray]]:
    """``data`` (arrays, a list or dict of them, or a tf.data.Dataset) as batches of the model's inputs."""
    specs = input_specs(probe.model)
    limit = np.inf if max_samples is None else max_samples
    if is_dataset(data):
        x_spec, _, _ = keras.utils.unpack_x_y_sample_weight(data.element_spec)
        dataset = data.batch(min(UNBATCHED_BATCH, batch_size)) if unbatched(x_spec, specs) else data
        seen = 0
        for element in dataset:
            x, _, _ = keras.utils.unpack_x_y_sample_weight(element)
            inputs = as_inputs(specs, keras.tree.map_structure(np.asarray, x), "data")
            take = int(min(len(inputs[0]), limit - seen))
            yield [a[:take] for a in inputs]
            seen += take
            if seen >= limit:
                return
        if seen == 0:
            raise ValueError("data: expected a tf.data.Dataset with at least one sample, got an empty one")
        return
    inputs = as_inputs(specs, data, "data")
    n = int(min(len(inputs[0]), limit))
    for start in range(0, n, batch_size):
        yield [a[start : min(start + batch_size, n)] for a in inputs]


def pool(acts: np.ndarray, pooling: str, mask: np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """One feature vector per sample from a layer's output (n, ..., channels), and the pooling in words.

    ``mask`` (n, positions) leaves padding positions of a sequence output (n, positions, channels) out of the
    mean and the max. A sample without a real position gets zeros.
    """
    acts = np.asarray(acts)
    if acts.ndim <= 2:
        return acts.reshape(len(acts), -1).astype(np.float32, copy=False), "none"
    if pooling == "flatten":
        return acts.reshape(len(acts), -1).astype(np.float32, copy=False), "flattened"
    positions = acts.shape[1:-1]
    where = " x ".join(str(d) for d in positions)
    axes = tuple(range(1, acts.ndim - 1))
    if mask is not None and acts.ndim == 3 and mask.shape == acts.shape[:2]:
        keep = mask[..., np.newaxis]
        if pooling == "mean":
            counts = np.maximum(keep.sum(axis=1), 1)
            out = np.where(keep, acts, 0).sum(axis=1) / counts
        else:
            out = np.where(keep, acts, -np.inf).max(axis=1)
            out = np.where(np.isfinite(out), out, 0)
        return out.astype(np.float32), f"{pooling} over the real tokens of {where} positions"
    out = acts.mean(axis=axes) if pooling == "mean" else acts.max(axis=axes)
    return out.astype(np.float32, copy=False), f"{pooling} over {where} positions"


# --------------------------------------------------------------------------------------------- PCA
class CountSketch:
    """A seeded random projection of ``d`` features to ``width`` (Weinberger et al. 2009, "feature hashing"):
    feature j is added, times a random sign, to bucket h(j). Inner products and distances are kept in
    expectation, as by a Gaussian projection scaled by 1 / sqrt(width), and it costs two arrays of ``d`` (a
    bucket and a sign) instead of a (d, width) matrix, and one pass over each block."""

    def __init__(self, d: int, width: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        bucket = rng.integers(0, width, d)
        self.order = np.argsort(bucket, kind="stable").astype(np.int64)  # features grouped by bucket
        self.sign = np.where(rng.random(d) < 0.5, -1.0, 1.0).astype(np.float32)[self.order]
        counts = np.bincount(bucket, minlength=width)
        self.used = np.flatnonzero(counts)  # buckets that got a feature (reduceat cannot sum an empty range)
        self.starts = (np.cumsum(counts) - counts)[self.used].astype(np.int64)
        self.width = width

    def __call__(self, block: np.ndarray) -> np.ndarray:
        """(n, d) -> (n, width) float32, in one gather and one segmented sum (memory: one block)."""
        signed = np.asarray(block, np.float32)[:, self.order] * self.sign
        out = np.zeros((len(signed), self.width), np.float32)
        out[:, self.used] = np.add.reduceat(signed, self.starts, axis=1)
        return out


@dataclass(frozen=True, eq=False)
class _Fitted:
    """PCA fitted over a stream: coordinates (n, k), variance ratios (k,), the feature count, and a note."""

    components: np.ndarray
    explained_variance: np.ndarray
    n_features: int
    note: str


class _Moments:
    """Sums and cross products of shifted features, float64: the covariance of everything added so far."""

    def __init__(self, d: int) -> None:
        self.n = 0
        self.shift: np.ndarray | None = None
        self.total = np.zeros(d, np.float64)
        self.cross = np.zeros((d, d), np.float64)

    def add(self, batch: np.ndarray) -> None:
        if len(batch) == 0:
            return
        b = batch.astype(np.float64)
        if self.shift is None:
            self.shift = b.mean(axis=0)
        b -= self.shift
        self.n += len(b)
        self.total += b.sum(axis=0)
        self.cross += b.T @ b

    def eigen(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """(mean, the top ``k`` eigenvalues descending, their eigenvectors as columns, the total variance);
        signs fixed: each vector's largest loading is positive."""
        assert self.shift is not None
        m = self.total / self.n
        cov = self.cross / self.n - np.outer(m, m)
        cov = (cov + cov.T) / 2
        d = len(cov)
        k = min(k, d)
        total = float(np.trace(cov))
        if not total > 0:  # no variance at all (a dead ReLU layer): every direction is as good, none explains any
            return self.shift + m, np.zeros(k), np.eye(d, k), 0.0
        if d <= DENSE_EIGEN or k >= d - 1:
            values, vectors = np.linalg.eigh(cov)
        else:
            # Only the top k of d eigenpairs are drawn: Lanczos (ARPACK, from a seeded start) takes a few hundred
            # products with the covariance, where a full eigendecomposition of ConvNeXt's 3,072 features took
            # 59 s of a projector tab's layer change.
            start = np.random.default_rng(0).standard_normal(d)
            try:
                values, vectors = scipy.sparse.linalg.eigsh(cov, k=k, which="LA", v0=start)
            except scipy.sparse.linalg.ArpackError:  # no convergence: the full decomposition, slow but sure
                values, vectors = np.linalg.eigh(cov)
        order = np.argsort(values)[::-1][:k]
        values, vectors = np.maximum(values[order], 0), vectors[:, order]
        signs = np.sign(vectors[np.argmax(np.abs(vectors), axis=0), np.arange(vectors.shape[1])])
        return self.shift + m, values, vectors * np.where(signs == 0, 1, signs), total


def fit_pca(features: Callable[[], Iterator[np.ndarray]], *, seed: int = 0, store_bytes: int = STORE_BYTES) -> _Fitted:
    """Principal coordinates of the samples that ``features()`` streams as (batch, d) float32 blocks.

    ``features`` is called once, or twice when the features pass ``store_bytes`` (the second pass projects).
    """
    moments: _Moments | None = None
    sketch: CountSketch | None = None
    kept: list[np.ndarray] | None = []
    size = n = dropped = 0
    d = 0
    for block in features():
        if moments is None:
            d = block.shape[1]
            if d > MAX_FEATURES:
                sketch = CountSketch(d, SKETCH, seed)
            moments = _Moments(SKETCH if sketch is not None else d)
        block = sketch(block) if sketch is not None else block
        finite = np.isfinite(block).all(axis=1)
        # A row with NaN or Inf would make every component NaN: left out, not drawn (copied only when there is one).
        moments.add(block if finite.all() else block[finite])
        n, dropped = n + len(block), dropped + int(len(block) - finite.sum())
        size += block.nbytes
        if kept is not None and size <= store_bytes:
            kept.append(block)
        else:
            kept = None  # too large to keep: the projection streams the features again
    if moments is None:
        raise ValueError("data: expected at least one sample, got none")
    if moments.n == 0:
        raise NoFiniteRow(f"data: every sample's features hold NaN or Inf ({n} samples)")
    # n samples span at most n - 1 directions: components past those hold no variance (and slow Lanczos down).
    k = max(1, min(len(moments.total), moments.n - 1, MAX_COMPONENTS, max(2, COMPONENT_BYTES // (4 * n))))
    mean, values, vectors, total = moments.eigen(k)
    basis = vectors.astype(np.float32)
    center = mean.astype(np.float32)
    coords = np.empty((n, k), np.float32)
    start = 0
    for block in kept if kept is not None else features():
        block = sketch(block) if sketch is not None and kept is None else block
        part = coords[start : start + len(block)]
        with np.errstate(invalid="ignore", over="ignore"):
            part[:] = (block - center) @ basis
        part[~np.isfinite(part).all(axis=1)] = np.nan  # NaN or Inf features give no finite coordinate: no place
        start += len(block)
    ratio = (values / total if total > 0 else np.zeros(len(values))).astype(np.float32)
    notes = (
        [f"features sketched from {d:,} to {SKETCH:,} dimensions by a seeded random projection (count sketch)"]
        if sketch is not None
        else []
    )
    if dropped:
        notes.append(f"{dropped:,} of {n:,} samples have NaN or Inf features here: left out, not drawn")
    return _Fitted(coords, ratio, d, "; ".join(notes))


# --------------------------------------------------------------------------------------------- 2-D
def reduce(layer: str, method: str, pooling: str, fitted: _Fitted, *, seed: int = 0) -> Projection:
    """The 2-D projection of fitted principal coordinates by ``method``."""
    comps = fitted.components
    n = len(comps)
    notes = [fitted.note] if fitted.note else []
    chosen: np.ndarray | None = None
    if method == "pca":
        coords = comps[:, :2] if comps.shape[1] >= 2 else np.column_stack([comps[:, 0], np.zeros(n, np.float32)])
    else:
        limit = FIT_SAMPLES[method]
        valid = np.flatnonzero(np.isfinite(comps).all(axis=1))
        rng = np.random.default_rng(seed)
        chosen = valid if len(valid) <= limit else np.sort(rng.choice(valid, limit, replace=False))
        embedded = _embed(method, comps[chosen], seed)
        coords = np.full((n, 2), np.nan, np.float32)
        coords[chosen] = embedded
        if len(chosen) < len(valid):
            rest = np.setdiff1d(valid, chosen)
            coords[rest] = _place(comps[chosen], embedded, comps[rest])
            name = "UMAP" if method == "umap" else "t-SNE"
            notes.append(
                f"{name} fitted on {len(chosen):,} of {len(valid):,} samples; the others placed at the mean of their "
                f"{PLACEMENT_NEIGHBOURS} nearest fitted neighbours"
            )
    return Projection(
        layer=layer,
        method=method,
        pooling=pooling,
        coords=frozen(coords, np.float32),
        components=frozen(comps, np.float32, copy=False),
        explained_variance=frozen(fitted.explained_variance, np.float32),
        n_features=fitted.n_features,
        fitted=None if chosen is None else frozen(chosen, np.int64),
        note="; ".join(notes),
    )


def _embed(method: str, points: np.ndarray, seed: int) -> np.ndarray:
    if len(points) < 4:  # neither method works on a handful of points: their first two coordinates
        return np.pad(points[:, :2], ((0, 0), (0, max(0, 2 - points.shape[1]))))
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, (len(points) - 1) / 3))
        tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
        return np.asarray(tsne.fit_transform(points), np.float32)
    umap = _umap()
    neighbours = int(min(15, len(points) - 1))
    return np.asarray(umap.UMAP(n_neighbors=neighbours, random_state=seed).fit_transform(points), np.float32)


def _place(fitted: np.ndarray, embedded: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Each row of ``rest`` at the mean embedded place of its nearest rows of ``fitted``."""
    from sklearn.neighbors import NearestNeighbors

    k = min(PLACEMENT_NEIGHBOURS, len(fitted))
    index = NearestNeighbors(n_neighbors=k).fit(fitted)
    out = np.empty((len(rest), 2), np.float32)
    for start in range(0, len(rest), 65_536):  # bounded memory for a million queries
        _, near = index.kneighbors(rest[start : start + 65_536])
        out[start : start + len(near)] = embedded[near].mean(axis=1)
    return out


def _umap() -> Any:
    try:
        import umap
    except ImportError:
        raise ValueError(
            "method: 'umap' needs umap-learn (pip install 'nbviz[umap]'); 'pca' and 'tsne' need nothing more"
        ) from None
    return umap
