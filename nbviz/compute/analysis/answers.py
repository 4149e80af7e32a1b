"""What the analysis answers: one frozen dataclass per question a panel asks, and the numpy that lays results out.

A panel copies these fields onto its marks and does no arithmetic of its own: every reduction, ordering, range
and label is decided here (and redact mode in :class:`~nbviz.compute.data.policy.DisplayPolicy`). Arrays are float32
and read-only, already bounded for display.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .._arrays import frozen
from ..methods.display import ActivationView, DeadUnits, block_mean, tile_frames
from ..methods.rules import Rules
from ..methods.weights import Histogram, WeightImage, filter_grid, histogram, weight_image


@dataclass(frozen=True)
class Unavailable:
    """A question that has no answer for this model, layer or data, and why (the panel shows it as a note)."""

    reason: str


# --------------------------------------------------------------------------------------------- the sample
@dataclass(frozen=True, eq=False)
class Prediction:
    """What the model makes of one sample, ready to read.

    Attributes
    ----------
    is_classifier : bool
    predicted : str
        The predicted class's name, or the predicted value(s) rounded to 4 digits.
    confidence : float or None
        The predicted class's probability (classifiers).
    label : str or None
        The true class's name or target value(s); None without labels.
    correct : bool or None
        Whether a classifier's prediction equals the label.
    class_index : int or None
        The predicted class.
    """

    is_classifier: bool
    predicted: str
    confidence: float | None
    label: str | None
    correct: bool | None
    class_index: int | None


@dataclass(frozen=True, eq=False)
class SampleDisplay:
    """The current sample as the sample view draws it: "bars" (z-score per feature), "image", "table" (each
    input by name, as text: several inputs, token ids, strings) or "hidden" (redact mode: only the prediction)."""

    kind: str
    values: np.ndarray
    labels: tuple[str, ...]
    vmin: float
    vmax: float
    prediction: Prediction
    rows: tuple[tuple[str, str], ...] = ()
    #: An image-shaped output (an autoencoder's) as a grey picture like the input's (channels averaged), and
    #: its per-pixel |output - target| where there is a target.
    output: Picture | None = None
    error: Picture | None = None
    #: What the two pictures are, as their titles say (a segmenter's: its predicted classes, the pixels wrong).
    output_titles: tuple[str, str] = ("output", "|error|")
    #: Per token input (name, its real tokens as text; positions only in redact mode, where the view is hidden).
    tokens: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: An object detector's boxes and its targets' (by class), as (top, left, bottom, right) in the picture's cells.
    boxes: tuple[tuple[str, np.ndarray, tuple[str, ...]], ...] = ()


# --------------------------------------------------------------------------------------------- tensors
@dataclass(frozen=True, eq=False)
class TensorDisplay:
    """One tensor (a weight, or its gradient) as a heatmap and a histogram.

    ``image`` is the heatmap (downsampled to the cell budget; ``block`` says by how much); ``centers`` and
    ``counts`` are the histogram's bins (float32).
    """

    name: str
    shape: tuple[int, ...]
    image: WeightImage
    centers: np.ndarray
    counts: np.ndarray

    @property
    def shape_text(self) -> str:
        """ "3 x 3 x 1 x 16", with the block each cell stands for when downsampled."""
        text = " x ".join(str(d) for d in self.shape) or "scalar"
        block = self.image.block
        return text + (f", max |.| per {block[0]}x{block[1]} block" if self.image.downsampled else "")


def tensor_display(name: str, tensor: np.ndarray, max_cells: int, bins: int = 40) -> TensorDisplay:
    """Lay one tensor out as a heatmap of at most ``max_cells`` cells and a histogram of ``bins`` bins."""
    hist: Histogram = histogram(tensor, bins=bins)
    centers = (hist.edges[:-1] + hist.edges[1:]) / 2
    return TensorDisplay(
        name=name,
        shape=tuple(int(d) for d in np.shape(tensor)),
        # A conv kernel as the grid of its filters (one tile per output filter); a matrix or vector as it is.
        image=filter_grid(tensor, max_cells=max_cells)
        if np.ndim(tensor) >= 3
        else weight_image(tensor, max_cells=max_cells),
        centers=frozen(centers),
        counts=frozen(hist.counts, np.float32),
    )


@dataclass(frozen=True, eq=False)
class LayerWeights:
    """A layer's weight tensors: their short names ("kernel", "bias", ...) and the chosen one laid out."""

    layer: str
    class_name: str
    names: tuple[str, ...]
    tensor: TensorDisplay | None


@dataclass(frozen=True, eq=False)
class LayerActivation:
    """A layer's output for one sample: ``view`` is None when redact mode withholds it (``redacted``).

    ``labels`` name the bars of an input layer's tabular output (the features); ``dead`` is the share of units
    that never fire over the data, for plain ReLU layers.
    """

    layer: str
    shape: tuple[int, ...]
    view: ActivationView | None
    labels: tuple[str, ...] | None
    redacted: bool
    dead: DeadUnits | None


@dataclass(frozen=True, eq=False)
class LayerGradients:
    """The backward pass of one sample at one layer: d target / d its output and d target / d one weight.

    ``output`` or ``weight`` is None where no gradient reaches (see :attr:`Gradients.undefined`); ``names`` are
    the layer's weight tensors (empty for a layer without weights).
    """

    layer: str
    target: str
    output: ActivationView | None
    names: tuple[str, ...]
    weight: TensorDisplay | None
    weight_undefined: bool


@dataclass(frozen=True, eq=False)
class SampleGradients:
    """What the backward pass of one sample gives across layers: the input saliency and log10 of each layer's
    gradient norm (NaN where the norm is 0), in graph order."""

    target: str
    saliency: ActivationView | None
    saliency_labels: tuple[str, ...] | None
    layers: tuple[str, ...]
    norms: np.ndarray
    log_norms: np.ndarray
    loss: str = ""  # which loss is differentiated, in words


def log10_norms(norms: np.ndarray) -> np.ndarray:
    """log10 of gradient norms for a bar chart; a zero norm (no gradient at all) becomes NaN, not -inf."""
    with np.errstate(divide="ignore"):
        return frozen(np.where(norms > 0, np.log10(np.where(norms > 0, norms, 1.0)), np.nan))


# --------------------------------------------------------------------------------------------- attributions
@dataclass(frozen=True, eq=False)
class Bars:
    """Bars read top to bottom: ``values`` and their ``labels``, the largest |value| last (drawn on top)."""

    values: np.ndarray
    labels: tuple[str, ...]


def top_bars(values: np.ndarray, labels: list[str], k: int) -> Bars:
    """The ``k`` largest |values| with their labels, largest last (a stable order among equals)."""
    order = np.argsort(np.abs(values), kind="stable")[-k:]
    return Bars(frozen(np.asarray(values)[order]), tuple(labels[i] for i in order))


@dataclass(frozen=True, eq=False)
class Picture:
    """A 2-D map for a heatmap: ``values`` with its colour range."""

    values: np.ndarray
    vmin: float
    vmax: float


def grey_picture(image: np.ndarray, max_cells: int) -> Picture:
    """One sample's image (or an image output) as the sample view draws it: channels averaged, block means
    down to ``max_cells``, on its own finite range."""
    values = block_mean(input_picture(image), max_cells)
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    return Picture(frozen(values), lo, hi if hi > lo else lo + 1.0)


def picture_strip(images: Sequence[np.ndarray], max_cells: int) -> np.ndarray:
    """Samples' pictures (:func:`grey_picture`, each on its own range scaled to 0-1) side by side, a NaN column
    between them: one heatmap for a row of samples (a sample's neighbours, a unit's top samples)."""
    parts: list[np.ndarray] = []
    for image in images:
        p = grey_picture(image, max_cells)
        if parts:
            parts.append(np.full((p.values.shape[0], 1), np.nan, np.float32))
        parts.append((p.values - p.vmin) / (p.vmax - p.vmin))
    return frozen(np.hstack(parts) if parts else np.zeros((0, 0), np.float32))


def signed_picture(values: np.ndarray) -> Picture:
    """A map on a symmetric range around zero (attributions: red adds to the output, blue takes away)."""
    image = frozen(values)
    finite = image[np.isfinite(image)]
    m = float(np.abs(finite).max()) if finite.size else 0.0
    return Picture(image, -(m or 1.0), m or 1.0)


def saliency_picture(values: np.ndarray, method: str) -> Picture:
    """A saliency map as shown: gradient maps as magnitude summed over channels (as tf-keras-vis shows them),
    Integrated Gradients with its sign, CAM maps as they are; the frames of a volume or video (frames, h, w, c)
    tiled as :func:`input_picture` tiles the input's, so the overlay's cells fall on the frames they belong to."""
    if method in ("gradcam", "gradcam++"):
        shown = values
    elif method == "integrated_gradients":
        shown = values.sum(axis=-1) if values.ndim >= 3 else values
    else:
        shown = np.abs(values).sum(axis=-1) if values.ndim >= 3 else np.abs(values)
    shown = shown.reshape(1, -1) if shown.ndim < 2 else shown
    if shown.ndim > 2:
        shown = tile_frames(shown.reshape(-1, *shown.shape[-2:]))
    m = float(np.nanmax(np.abs(shown))) or 1.0
    return Picture(frozen(shown), -m if float(np.nanmin(shown)) < 0 else 0.0, m)


def input_picture(x: np.ndarray) -> np.ndarray:
    """One sample of any rank as a 2-D grey picture, float32.

    A scalar is one cell, a vector one row, a matrix itself, an (h, w, c) image its channels' mean. A higher
    rank, (..., h, w, c) (a video's frames, a volume's slices), has its channels averaged and its leading axes
    read as frames in order, tiled on a near-square grid with NaN gutters (:func:`tile_frames`): a (frames, h,
    w, 1) clip shows every frame at its own aspect, where stacking them into one (frames*h*w, 1) column did not.
    """
    image = np.asarray(x, dtype=np.float32)
    if image.ndim <= 1:
        return image.reshape(1, -1)
    if image.ndim == 2:
        return image
    image = image.mean(axis=-1)
    if image.ndim == 2:
        return image
    return tile_frames(image.reshape(-1, *image.shape[-2:]))


@dataclass(frozen=True, eq=False)
class TokenSaliency:
    """How much each real token of one sample drives one class (at one position, for a language model), laid
    out as coloured text: ``labels``, ``values`` and a background ``colors`` per token (red drives the class up,
    blue down, white nothing), with the completeness check of Integrated Gradients (``total`` against
    ``output - baseline``)."""

    method: str
    class_index: int
    class_name: str
    position: int | None
    labels: tuple[str, ...]
    values: np.ndarray
    colors: tuple[str, ...]
    output: float
    baseline: float
    total: float
    gap: float
    layer: str
    steps: int

    @property
    def change(self) -> float:
        """f(x) - f(baseline): what Integrated Gradients' values add up to (completeness)."""
        return self.output - self.baseline


def diverging_colors(values: np.ndarray) -> tuple[str, ...]:
    """A hex colour per value on the weights' blue-white-red ramp, symmetric around zero (the largest |value|
    is full colour)."""
    values = np.asarray(values, np.float64)
    top = float(np.abs(values).max(initial=0.0))
    t = values / top if top > 0 else np.zeros_like(values)
    white, red, blue = np.array([247, 247, 247]), np.array([178, 24, 43]), np.array([33, 102, 172])
    ends = np.where(t[:, None] >= 0, red, blue)
    rgb = np.rint(white + np.abs(t)[:, None] * (ends - white)).astype(int)
    return tuple(f"#{r:02x}{g:02x}{b:02x}" for r, g, b in rgb)


@dataclass(frozen=True, eq=False)
class SaliencyMap:
    """A saliency map of one sample for one class.

    ``values`` is the method's own output (the panel's ``.values``); ``bars`` (tabular inputs, the 15 largest)
    or ``picture`` (images) is what is drawn; ``overlay`` the map over the input as (h, w, 3) uint8, None in
    redact mode or for tabular inputs.
    """

    method: str
    class_index: int
    class_name: str
    values: np.ndarray
    bars: Bars | None
    picture: Picture | None
    overlay: np.ndarray | None
    layer: str | None
    note: str = ""  # what the values cannot show, in one line (an integer input's zero gradient)


@dataclass(frozen=True, eq=False)
class AttentionMap:
    """One sample's weights of one attention layer over its real tokens: ``weights`` (heads, queries, keys),
    a label per query and key token, and their positions in the padded sequence."""

    layer: str
    weights: np.ndarray
    query_labels: tuple[str, ...]
    key_labels: tuple[str, ...]
    query_positions: np.ndarray
    key_positions: np.ndarray

    def strongest(
        self, head: int, query: int, k: int, keys: tuple[int, int] | None = None
    ) -> tuple[tuple[str, float], ...]:
        """The ``k`` keys (within ``keys``, first and end) that query ``query`` of head ``head`` attends to most,
        as (label, weight), strongest first."""
        k0, k1 = keys if keys is not None else (0, self.weights.shape[2])
        row = self.weights[head, query, k0:k1]
        top = np.argsort(-row, kind="stable")[:k]
        return tuple((self.key_labels[k0 + int(i)], float(row[i])) for i in top)


@dataclass(frozen=True, eq=False)
class ShapLocal:
    """SHAP values of one sample for one class, laid out: ``bars`` (top features, labelled with their values
    unless redacted), ``steps`` (a sequence: one value per step, summed over features) or ``picture``; an
    estimate from ``done`` of ``draws`` background draws until ``final``."""

    explainer: str
    fallback: str | None
    auto: bool
    class_index: int
    class_name: str
    multiclass: bool
    base_value: float
    output: float
    total: float
    values: np.ndarray
    bars: Bars | None
    steps: np.ndarray | None
    picture: Picture | None
    done: int = 1
    draws: int = 1
    explained: str = ""  # which scalar the values explain, where it is not plainly the class's unit

    @property
    def final(self) -> bool:
        """False for an estimate from ``done`` of ``draws`` background draws, still being refined."""
        return self.done >= self.draws


@dataclass(frozen=True, eq=False)
class ShapGlobal:
    """Global importance (mean |SHAP| per feature) over ``n`` samples, and the beeswarm of its top features.

    ``importance`` holds every feature (the panel's ``global_values``); ``swarm_x`` are SHAP values, ``swarm_y``
    the feature's row with jitter, ``swarm_color`` the feature's value scaled to [0, 1] (its rank in redact
    mode); ``ticks`` name the rows.
    """

    explainer: str
    fallback: str | None
    auto: bool
    n: int
    importance: np.ndarray
    top: Bars
    swarm_x: np.ndarray
    swarm_y: np.ndarray
    swarm_color: np.ndarray
    ticks: tuple[str, ...]
    note: str = ""  # the samples left out for NaN or Inf, in words


def beeswarm(values: np.ndarray, features: np.ndarray, ranks: bool, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Scatter coordinates of a beeswarm: for (n, k) SHAP ``values`` and feature values, x = SHAP value,
    y = feature row with uniform jitter of +-0.3 (seeded), colour = the feature's value between its 5th and 95th
    percentile, or its rank (``ranks``, for redact mode: the order of the values without the values)."""
    from ..data.redact import rank_quantiles

    n, k = values.shape
    features = features.astype(np.float64)
    if ranks:
        scaled = rank_quantiles(features)
    else:
        lo, hi = np.percentile(features, 5, axis=0), np.percentile(features, 95, axis=0)
        scaled = np.clip((features - lo) / np.where(hi > lo, hi - lo, 1.0), 0.0, 1.0)
    jitter = np.random.default_rng(seed).uniform(-0.3, 0.3, size=(n, k))
    rows = np.broadcast_to(np.arange(k, dtype=np.float64), (n, k)) + jitter
    return frozen(values.ravel()), frozen(rows.ravel()), frozen(np.asarray(scaled).ravel())


def feature_labels(names: tuple[str, ...] | None, shape: tuple[int, ...]) -> list[str]:
    """A name per flattened input value: the given names, or positions such as '3,4' for a 2-D input."""
    size = int(np.prod(shape))
    if names is not None and len(names) == size:
        return list(names)
    if len(shape) > 1:
        return [",".join(str(i) for i in idx) for idx in np.ndindex(*shape)]
    return [str(i) for i in range(size)]


# --------------------------------------------------------------------------------------------- data-wide
@dataclass(frozen=True, eq=False)
class RulesDisplay:
    """Surrogate rules with what the list and coverage bars show: ``coverage`` = training rows per rule."""

    rules: Rules
    source: str
    layer: str | None
    coverage: np.ndarray
    texts: tuple[str, ...]
    note: str = ""  # the samples left out for NaN or Inf, in words


@dataclass(frozen=True, eq=False)
class ConfusionDisplay:
    """One dataset's confusion matrix (float32 counts, true rows x predicted columns; ``most`` is the top of its
    colour scale), recall and precision of each class shown, and the calibration curve (None when it has no
    points). At most :data:`~nbviz.compute.methods.diagnostics.SHOWN_CLASSES` rows: ``class_index`` says which class
    each row and column is (-1: "other", every class not shown, as ``note`` says)."""

    dataset: str
    classes: tuple[str, ...]
    confusion: np.ndarray
    most: float
    recall: np.ndarray
    precision: np.ndarray
    calibration: tuple[np.ndarray, np.ndarray] | None
    class_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    note: str = ""


@dataclass(frozen=True, eq=False)
class SliceDisplay:
    """A metric per quantile slice of one feature, with labels the policy wrote (edges, or quantiles)."""

    title: str
    values: np.ndarray
    labels: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class MetricsTable:
    """Metrics per dataset: ``rows`` of (dataset name, sample count, value per column; NaN where absent), and
    ``note``: the samples left out of them for NaN or Inf, in words."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, int, tuple[float, ...]], ...] = field(default=())
    note: str = ""
