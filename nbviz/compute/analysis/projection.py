"""Questions about the whole explored dataset through one layer: the projector's points, their colours, a
sample's neighbours, and named selections of samples with their metrics."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._arrays import frozen
from ..data.nonfinite import finite_rows
from ..methods.diagnostics import probability_rows
from ..methods.projection import BATCH_BYTES, METHODS, POOLINGS, NoFiniteRow, NoRowPerSample, Projection, project
from ..methods.raster import Raster, color_map, rasterize
from .answers import MetricsTable, Unavailable, picture_strip
from .core import AnalysisCore
from .questions import question

#: Ten and twenty well-separated colours (Tableau's): categories beyond twenty are coloured on a continuous scale.
TABLEAU10 = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
             "#bab0ac")  # fmt: skip
TABLEAU20 = ("#4e79a7", "#a0cbe8", "#f28e2b", "#ffbe7d", "#59a14f", "#8cd17d", "#b6992d", "#f1ce63", "#499894",
             "#86bcb6", "#e15759", "#ff9d9a", "#79706e", "#bab0ac", "#d37295", "#fabfd2", "#b07aa1", "#d4a6c8",
             "#9d7660", "#d7b5a6")  # fmt: skip
CONTINUOUS = ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725")  # viridis, light on both themes at the top
NEIGHBOURS = 8
PICTURE_SIZE = (480, 480)  # pixels of the points' picture (about the plot's size on screen)
FEW_POINTS = 2000  # up to this many, each point is 5 x 5 pixels; beyond, 3 x 3
STRIP_CELLS = 256  # per neighbour picture


@dataclass(frozen=True, eq=False)
class ProjectionDisplay:
    """What the projector draws: the points (n, 2) float32 in sample order, their bounds, the title, and a note
    (samples left out for NaN or Inf, what was done beyond the plain method; '' for nothing)."""

    projection: Projection
    title: str
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    note: str = ""

    @property
    def coords(self) -> np.ndarray:
        return self.projection.coords


@dataclass(frozen=True, eq=False)
class PointColors:
    """A colour value per point: category indices (as float32) with their names and colours, or a continuous
    quantity on [vmin, vmax]."""

    kind: str
    values: np.ndarray
    categorical: bool
    names: tuple[str, ...]
    colors: tuple[str, ...]
    vmin: float
    vmax: float


@dataclass(frozen=True, eq=False)
class Neighbours:
    """A sample's nearest samples in a layer's space: indices and distances, nearest first; their pictures
    side by side (one row, NaN between them) for image data, None otherwise or in redact mode; a text each."""

    sample: int
    indices: np.ndarray
    distances: np.ndarray
    strip: np.ndarray | None
    texts: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class SampleScores:
    """Per explored sample: true and predicted class (-1 where unknown), confidence and loss (NaN where
    unknown); for a regression, the prediction (first unit) and the squared error."""

    classifier: bool
    true: np.ndarray | None
    predicted: np.ndarray
    confidence: np.ndarray | None
    loss: np.ndarray | None


class ProjectionQuestions(AnalysisCore):
    """The projector's questions over the explored samples (``x``)."""

    @question
    def projection(self, layer: str, method: str = "pca", pooling: str = "mean") -> ProjectionDisplay | Unavailable:
        """``layer``'s activations over every explored sample in 2-D (:func:`nbviz.compute.methods.projection.project`),
        or why there are none (a layer withheld in redact mode, a layer without a row per sample)."""
        if method not in METHODS:
            raise ValueError(f"method: expected one of {list(METHODS)}, got {method!r}")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling: expected one of {list(POOLINGS)}, got {pooling!r}")
        if layer in self.hidden_layers:
            return Unavailable(f"{layer} passes the raw input on: redact mode withholds its projection.")
        first = self.activations(0).get(layer)
        if first is None or first.dtype.kind not in "fiub":
            return Unavailable(f"{layer} outputs no numbers to project.")
        if self.data.n_samples < 2:
            return Unavailable("A projection needs at least 2 samples; x has 1.")
        across = self.batch_shaped_note(layer, "point per sample")
        if across is not None:
            return Unavailable(across)

        mask = self.data.padding_mask(first.shape[1], layer) if first.ndim == 3 else None
        self.sample_scores()  # the outputs over the data, which tell the samples left out (and colour points)
        gone = self.left_out()
        if gone.outputs_nonfinite:
            return Unavailable(gone.outputs_text())
        if int(gone.keep.sum()) < 2:
            return Unavailable(f"A projection needs at least 2 samples with finite values; {gone.note()}.")
        try:
            shown = project(
                self.model, self.data.x, layer, method, pooling=pooling, probe=self.probe, padding_mask=mask,
                batch_size=_batch_size(first, self.probe.batch_size * 4), leave_out=~gone.keep,
            )  # fmt: skip
        except NoRowPerSample:
            return Unavailable(f"{layer}'s output has no row per sample (it is the same for all): no projection.")
        except NoFiniteRow:
            return Unavailable(f"{layer}'s output holds NaN or Inf for every sample: nothing to project.")
        note = "; ".join(text for text in (gone.note(), shown.note) if text)
        x_range, y_range = _bounds(shown.coords[:, 0]), _bounds(shown.coords[:, 1])
        return ProjectionDisplay(shown, _title(shown), x_range, y_range, note)

    def projection_picture(
        self, layer: str, method: str = "pca", pooling: str = "mean", color_by: str = "none"
    ) -> Raster | Unavailable:
        """The points of :meth:`projection` drawn in their colours (:meth:`point_colors`) as one picture."""
        shown = self.projection(layer, method, pooling)
        if isinstance(shown, Unavailable):
            return shown

        def compute() -> Raster:
            c = self.point_colors(color_by)
            rgb = color_map(c.values, c.colors, c.vmin, c.vmax, c.categorical)
            radius = 2 if len(shown.coords) <= FEW_POINTS else 1
            return rasterize(shown.coords, rgb, shown.x_range, shown.y_range, PICTURE_SIZE, radius)

        return self._ask(("projection picture", layer, method, pooling, color_by), compute)

    def color_options(self) -> tuple[str, ...]:
        """What the points can be coloured by, for this model and data (known without running the model)."""
        options = ["none"]
        if self._scored():
            labelled = self.data.y is not None
            if self.data.is_classifier:
                options += (["true label"] if labelled else []) + ["predicted label"]
                options += (["correct / wrong"] if labelled else []) + ["confidence"]
            else:
                options += ["prediction"]
            options += ["loss"] if labelled else []
        if self.data.tabular and not self.policy.redact:  # feature values are raw input
            names = self.data.feature_names or tuple(str(i) for i in range(self.data.sample_shape[-1]))
            options += [f"feature: {name}" for name in names]
        return tuple(options)

    def _scored(self) -> bool:
        """Whether the first output is one row of units per sample (what :meth:`sample_scores` scores): not a map,
        and not an output whose row follows the batch (image x text logits, :meth:`batch_shaped`)."""
        if len(self.data.output_shape) != 1 or self.probe.output_kinds[0] == "map":
            return False
        return not self.first_output_follows_batch()

    def point_colors(self, kind: str) -> PointColors:
        """A colour value per explored sample for one of :meth:`color_options`."""
        options = self.color_options()
        if kind not in options:
            raise ValueError(f"color_by: expected one of {list(options)[:8]}, got {kind!r}")
        n = self.data.n_samples
        if kind == "none":
            return PointColors(kind, np.zeros(n, np.float32), True, (), (TABLEAU10[0],), 0.0, 1.0)
        if kind.startswith("feature: "):
            names = self.data.feature_names or tuple(str(i) for i in range(self.data.sample_shape[-1]))
            return _continuous(kind, self.data.x[0][:, names.index(kind[len("feature: ") :])])
        scores = self.sample_scores()
        assert scores is not None
        if kind in ("true label", "predicted label"):
            classes = scores.true if kind == "true label" else scores.predicted
            assert classes is not None
            k = max(int(self.data.n_classes or 0), int(classes.max()) + 1)
            return _categories(kind, classes, tuple(self.policy.class_name(i) for i in range(k)))
        if kind == "correct / wrong":
            assert scores.true is not None
            known = (scores.true >= 0) & (scores.predicted >= 0)
            wrong = np.where(known, scores.true != scores.predicted, np.nan)
            return PointColors(kind, frozen(wrong, np.float32), True, ("correct", "wrong"), ("#59a14f", "#e15759"),
                               0.0, 1.0)  # fmt: skip
        values = {"confidence": scores.confidence, "loss": scores.loss, "prediction": scores.predicted}[kind]
        assert values is not None
        return _continuous(kind, values)

    def sample_scores(self) -> SampleScores | None:
        """Each explored sample's label, prediction, confidence and loss, from one pass over the data (shared
        with the rules); None for an output that is not one row of units per sample."""
        if not self._scored():
            return None

        def compute() -> SampleScores:
            x = self.data.x[0] if len(self.data.x) == 1 else self.data.x
            out = self._ask(("first output over data",), lambda: probability_rows(self.probe, x))
            y = None if self.data.y is None else np.asarray(self.data.y[0])
            if self.data.is_classifier:
                probs = self.probe.probabilities(out)
                probs = np.concatenate([1 - probs, probs], axis=1) if probs.shape[1] == 1 else probs
                # A NaN output predicts no class, a NaN label names none: -1 there (argmax would say class 0, and
                # NaN cast to int64 is a huge negative index), with NaN confidence and loss.
                scored = finite_rows([probs])
                predicted = np.where(scored, np.argmax(probs, axis=1), -1)
                confidence = np.where(scored, probs[np.arange(len(probs)), np.maximum(predicted, 0)], np.nan)
                true = None if y is None else _classes(y.reshape(len(y), -1)[:, 0])
                loss = None
                if true is not None:
                    p_true = probs[np.arange(len(probs)), np.maximum(true, 0)]
                    loss = np.where(scored & (true >= 0), -np.log(np.clip(p_true, 1e-7, 1.0)), np.nan)
                return SampleScores(True, _opt(true), frozen(predicted, np.int64), frozen(confidence),
                                    _opt(loss, np.float32))  # fmt: skip
            loss = None if y is None else np.mean(np.square(out - y.reshape(len(y), -1)), axis=1)
            return SampleScores(False, None, frozen(out[:, 0]), None, _opt(loss, np.float32))

        return self._ask(("sample scores",), compute)

    def neighbours(
        self, layer: str, sample: int, method: str = "pca", pooling: str = "mean", k: int = NEIGHBOURS
    ) -> Neighbours | Unavailable:
        """``sample``'s ``k`` nearest samples in ``layer``'s space (its principal coordinates)."""
        sample = self.data.check_sample(sample)
        shown = self.projection(layer, method, pooling)
        if isinstance(shown, Unavailable):
            return shown
        near, dist = shown.projection.nearest(sample, k)
        scores = self.sample_scores()
        texts = []
        for i, d in zip(near, dist):
            label = ""
            if scores is not None and scores.classifier:
                label = f" predicted {self.policy.class_name(int(scores.predicted[i]))}"
            texts.append(f"#{i}{label}, distance {d:.3g}")
        x = self.data.x[0]
        pictured = not self.policy.redact and len(self.data.x) == 1 and x.ndim >= 3 and x.dtype.kind == "f"
        strip = picture_strip([x[i] for i in near], STRIP_CELLS) if pictured and len(near) else None
        return Neighbours(sample, near, dist, strip, tuple(texts))

    def nearest_point(self, layer: str, method: str, pooling: str, x: float, y: float) -> int | None:
        """The sample whose point is nearest to (x, y) in the projector's plane (a click)."""
        shown = self.projection(layer, method, pooling)
        if isinstance(shown, Unavailable):
            return None
        c = shown.coords
        d2 = np.square(c[:, 0] - x) + np.square(c[:, 1] - y)
        return None if np.isnan(d2).all() else int(np.nanargmin(d2))

    def selection_table(self, selections: Mapping[str, Any]) -> MetricsTable:
        """Metrics on named selections of the explored samples (a region chosen in the projector), beside all of them:
        accuracy and mean loss for a classifier, mean squared error for a regression."""
        scores = self.sample_scores()
        if scores is None or not selections:
            return MetricsTable(())
        columns = ("accuracy", "loss") if scores.classifier else ("mse",)
        rows = []
        keep = self.left_out().keep  # a sample left out for NaN or Inf is in no mean
        for name, samples in {"all samples": np.arange(self.data.n_samples), **selections}.items():
            idx = np.asarray(samples, np.int64)
            idx = idx[keep[idx]]
            if not len(idx):
                rows.append((str(name), 0, tuple(float("nan") for _ in columns)))
                continue
            values: list[float] = []
            if scores.classifier:
                correct = np.nan if scores.true is None else float(np.mean(scores.true[idx] == scores.predicted[idx]))
                values.append(correct)
            values.append(float("nan") if scores.loss is None else float(np.mean(scores.loss[idx])))
            rows.append((str(name), len(idx), tuple(values)))
        return MetricsTable(columns, tuple(rows))


def _classes(labels: np.ndarray) -> np.ndarray:
    """Class indices int64, -1 where a label is NaN or Inf."""
    labels = np.asarray(labels)
    if labels.dtype.kind not in "fc":
        return labels.astype(np.int64)
    finite = np.isfinite(labels)
    return np.where(finite, np.where(finite, labels, 0).astype(np.int64), -1)


def _batch_size(one: np.ndarray, most: int) -> int:
    """Samples per streamed batch of a projection: at most ``most``, and at most BATCH_BYTES of the layer's output
    (``one`` is one sample's)."""
    return int(np.clip(BATCH_BYTES // max(1, one.nbytes), 1, most))


def _opt(values: np.ndarray | None, dtype: Any = None) -> np.ndarray | None:
    return None if values is None else frozen(values, dtype)


def _bounds(values: np.ndarray) -> tuple[float, float]:
    """The range of ``values`` with 5% to spare on each side (never empty)."""
    finite = values[np.isfinite(values)]
    lo, hi = (float(np.min(finite)), float(np.max(finite))) if finite.size else (0.0, 1.0)
    pad = 0.05 * (hi - lo) or 1.0
    return lo - pad, hi + pad


def _title(shown: Projection) -> str:
    name = {"pca": "PCA", "umap": "UMAP", "tsne": "t-SNE"}[shown.method]
    explained = ""
    if shown.method == "pca":
        share = shown.explained_variance[:2]
        explained = f", {100 * float(share.sum()):.1f}% of the variance ({', '.join(f'{100 * s:.1f}' for s in share)})"
    pooled = "" if shown.pooling == "none" else f", {shown.pooling}"
    return f"{shown.layer}: {name} of {shown.n:,} samples x {shown.n_features} features{pooled}{explained}"


def _categories(kind: str, classes: np.ndarray, names: tuple[str, ...]) -> PointColors:
    k = len(names)
    values = np.where(classes >= 0, classes, np.nan)  # no class (-1: a NaN label or output) is drawn grey
    if k > len(TABLEAU20):  # too many to tell apart: the class index on a continuous scale
        return PointColors(kind, frozen(values, np.float32), False, (), CONTINUOUS, 0.0, float(k - 1))
    palette = TABLEAU10 if k <= len(TABLEAU10) else TABLEAU20
    return PointColors(kind, frozen(values, np.float32), True, names, palette[:k], 0.0, float(max(k - 1, 1)))


def _continuous(kind: str, values: np.ndarray) -> PointColors:
    finite = values[np.isfinite(values)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    return PointColors(kind, frozen(values, np.float32), False, (), CONTINUOUS, lo, hi if hi > lo else lo + 1.0)
