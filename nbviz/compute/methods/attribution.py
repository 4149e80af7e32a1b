"""SHAP feature attributions: expected gradients on the compiled probe, shap's other explainers as they are.

The gradient explainer (what ``shap.GradientExplainer`` computes, with shap's draws: the tests hold the two
equal) runs on :mod:`nbviz.compute.methods.path_gradients`, one class at a time and in batched passes, so a 1,000-class
model costs what one class costs, and a first estimate comes after one pass. The model-agnostic explainers
(deep, permutation, exact, kernel) are shap's own and explain every class at once.
"""

from __future__ import annotations

import dataclasses
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np

from .._arrays import frozen
from .._validate import as_inputs, check_model, input_specs
from ..backend import DEEP_EXPLAINER, NAME
from ..data.nonfinite import finite_rows
from ..model.probe import Probe, probe_for
from .path_gradients import SHAP_SAMPLES, ExpectedGradients, PathSums, last

EXPLAINERS = ("auto", "gradient", "deep", "permutation", "exact", "kernel")


def available_explainers() -> tuple[str, ...]:
    """The explainers of ``EXPLAINERS`` that run on the Keras backend in use ("deep" reads TensorFlow graphs)."""
    return EXPLAINERS if DEEP_EXPLAINER else tuple(e for e in EXPLAINERS if e != "deep")


EXACT_MAX_FEATURES = 16  # the exact explainer evaluates 2**features coalitions
#: The most masked input values shap's permutation and kernel explainers may build at once. Both evaluate each
#: of their masks on every background row in one call (shap's masked model does not batch): a 32x32x3 image has
#: 3,072 features, 6,145 permutation masks, and with 8 background rows 151 million float64 values (1.2 GB),
#: before the model's outputs and the copies around them. Past this, fewer background rows (at least one).
MASKED_VALUES = 2**25
#: shap's DeepExplainer swaps TensorFlow's global gradient registry while it runs: two at once (the SHAP tab's
#: worker and the global view's) break each other ("Incompatible shapes between op input and calculated input
#: gradient"), so they take turns.
_DEEP_LOCK = threading.Lock()
FIRST_SECONDS = 1.0  # a first estimate takes the draws that fit in about this long (at least one)
#: An explainer that adds up by construction misses f(x) - E[f] by float error only: at most this share of the
#: magnitudes it adds (f(x), E[f] and every |SHAP value|, float32 sums of up to thousands of values).
FLOAT_GAP = 1e-4


@dataclasses.dataclass(frozen=True, eq=False)
class Attribution:
    """SHAP values for one class per sample.

    Attributes
    ----------
    values : np.ndarray
        float32, (n, *input_shape): each input value's contribution to the explained output.
    base_values : np.ndarray
        float32, (n,): the expected output over the background (what the contributions start from).
    outputs : np.ndarray
        float32, (n,): the model output that is explained, f(x) for the class.
    class_index : np.ndarray
        int64, (n,): the output unit explained for each sample.
    explainer : str
        The explainer used: "gradient", "deep", "permutation", "exact" or "kernel".
    fallback : str or None
        Why "auto" did not use the gradient explainer; None when it did or when one was asked for.
    """

    values: np.ndarray
    base_values: np.ndarray
    outputs: np.ndarray
    class_index: np.ndarray
    explainer: str
    fallback: str | None = None

    @property
    def additivity_error(self) -> np.ndarray:
        """|base value + sum of values - output| per sample (0 for exact methods, small for gradient ones)."""
        total = self.values.reshape(len(self.values), -1).sum(axis=1, dtype=np.float64)
        return np.abs(self.base_values + total - self.outputs)


@dataclasses.dataclass(frozen=True, eq=False)
class Explanation:
    """SHAP values for every output unit: ``values`` (n, *input_shape, k), ``base_values`` and ``outputs`` (n, k)."""

    values: np.ndarray
    base_values: np.ndarray
    outputs: np.ndarray
    explainer: str
    fallback: str | None = None

    def for_class(self, class_index: int | np.ndarray | None = None) -> Attribution:
        """One class per sample: an int for all, an array per sample, or None for each sample's top output."""
        index = _class_per_row(self.outputs, class_index)
        rows = np.arange(len(index))
        values = np.moveaxis(self.values, -1, 1)[rows, index]
        return Attribution(
            values=frozen(values),
            base_values=frozen(self.base_values[rows, index]),
            outputs=frozen(self.outputs[rows, index]),
            class_index=frozen(index, np.int64),
            explainer=self.explainer,
            fallback=self.fallback,
        )


@dataclasses.dataclass(frozen=True, eq=False)
class Estimate:
    """SHAP values so far: after ``done`` of ``total`` draws (``done == total``: the full result).

    ``sums`` is what refining goes on from (None once complete, and for the explainers that answer at once).
    ``totals`` (expected gradients only) holds each draw's contribution summed over the features, per sample,
    float64 (done, n): the estimate's sum is their mean, and their spread its standard error
    (:func:`additivity`). None for the other explainers, and after resuming from bare ``sums``.
    """

    attribution: Attribution
    done: int
    total: int
    sums: PathSums | None = None
    totals: np.ndarray | None = None

    @property
    def final(self) -> bool:
        return self.done >= self.total

    @property
    def share(self) -> float:
        """The share of the draws done (what a progress bar shows)."""
        return self.done / self.total


@dataclasses.dataclass(frozen=True)
class Additivity:
    """How far one sample's base value plus its SHAP values fall from its output.

    Attributes
    ----------
    gap : float
        f(x) - E[f] - sum of the SHAP values.
    standard_error : float or None
        The gap's standard error over the draws (expected gradients: the standard deviation of each draw's
        summed contribution over the square root of the draws); None for an explainer that adds up by
        construction, and where fewer than two draws are known.
    draws : int
        The draws the estimate averages (1 for an explainer that answers at once).
    in_expectation : bool
        Whether the explainer adds up only in expectation (expected gradients: each draw's contribution
        averages to f(x) - f(background row), so their mean meets f(x) - E[f] only as the draws grow).
    tolerance : float
        The float error of an explainer that adds up by construction, for this sample (see ``FLOAT_GAP``).
    """

    gap: float
    standard_error: float | None
    draws: int
    in_expectation: bool
    tolerance: float

    @property
    def within_float_error(self) -> bool:
        """Whether the gap is float error (never said of an estimate that adds up only in expectation)."""
        return not self.in_expectation and abs(self.gap) <= self.tolerance


def additivity(estimate: Estimate, row: int = 0) -> Additivity:
    """The gap f(x) - E[f] - sum of SHAP values of sample ``row`` of ``estimate``, with its standard error over
    the draws for expected gradients (additive only in expectation), or whether it is float error for the
    explainers that add up by construction (deep, permutation, exact, kernel)."""
    a = estimate.attribution
    values = a.values[row].astype(np.float64)
    base, output = float(a.base_values[row]), float(a.outputs[row])
    gap = output - base - float(values.sum())
    tolerance = FLOAT_GAP * (abs(output) + abs(base) + float(np.abs(values).sum())) + 1e-7
    in_expectation = a.explainer == "gradient"
    error = None
    totals = estimate.totals
    if in_expectation and totals is not None and len(totals) >= 2:
        # The gap's only random part is the mean of the draws' totals: its standard error is theirs.
        error = float(np.std(totals[:, row], ddof=1) / np.sqrt(len(totals)))
    return Additivity(gap, error, estimate.done if in_expectation else 1, in_expectation, tolerance)


def concatenate(parts: list[Any]) -> Any:
    """One Attribution (or Explanation) of the rows of several, in order."""
    first = parts[0]
    arrays = {
        f.name: np.concatenate([getattr(p, f.name) for p in parts])
        for f in dataclasses.fields(first)
        if isinstance(getattr(first, f.name), np.ndarray)
    }
    return dataclasses.replace(first, **arrays)


def default_background(x: np.ndarray, size: int = 100, seed: int = 0) -> np.ndarray:
    """``size`` rows standing for ``x``: a k-means summary for tabular data (n, features), a random subset otherwise.

    The summary has ``size // 2`` centres (shap.kmeans), each repeated in proportion to its cluster's size:
    shap's maskers weigh background rows equally, and unweighted centres would over-represent outliers (the
    base value would drift from the data's mean output).
    """
    x = np.asarray(x)
    if len(x) <= size:
        return x
    if x.ndim == 2 and np.issubdtype(x.dtype, np.floating):
        import shap

        summary = shap.kmeans(x, size // 2)
        share = np.asarray(summary.weights, dtype=np.float64) * size / np.sum(summary.weights)
        counts = np.floor(share).astype(np.int64)
        remainder = np.argsort(counts - share)[: size - counts.sum()]  # largest remainders first
        counts[remainder] += 1
        return np.repeat(np.asarray(summary.data, dtype=x.dtype), counts, axis=0)
    rng = np.random.default_rng(seed)
    return x[np.sort(rng.choice(len(x), size, replace=False))]


class ShapExplainer:
    """One SHAP explainer for one model and background, built once and reused for every sample.

    Parameters
    ----------
    model : keras.Model
        A built Keras 3 model with one input.
    background : array-like
        Samples that stand for "absent" features (see :func:`default_background`).
    explainer : str
        One of ``EXPLAINERS``. "gradient" is expected gradients on the probe (shap.GradientExplainer's values);
        "auto" uses it where it applies (a float input that gradients reach) and falls back to the
        model-agnostic permutation explainer elsewhere; ``fallback`` then says why. A dense output (a class
        per pixel, a predicted frame) is explained as each class's score averaged over its positions
        (:meth:`describe` says so in words).
    probe : Probe, optional
        Reuse a Probe of the model: every explainer calls its compiled passes.
    seed : int
        Seed of the sampling explainers (gradient, permutation), so that the same sample gets the same values.
    samples : int
        The gradient explainer's draws per sample (shap's ``nsamples``).
    """

    def __init__(
        self,
        model: keras.Model,
        background: Any,
        explainer: str = "auto",
        probe: Probe | None = None,
        seed: int = 0,
        samples: int = SHAP_SAMPLES,
    ):
        check_model(model)
        if explainer not in EXPLAINERS:
            raise ValueError(f"explainer: expected one of {list(EXPLAINERS)}, got {explainer!r}")
        if explainer == "deep" and not DEEP_EXPLAINER:
            raise ValueError(
                f"explainer: 'deep' is shap's DeepExplainer, which reads TensorFlow (or PyTorch) graphs; with "
                f"KERAS_BACKEND={NAME!r} use 'gradient' (the same expected gradients shap's GradientExplainer "
                f"computes, on the probe) or 'permutation'"
            )
        specs = input_specs(model)
        if specs is not None and len(specs) > 1:
            raise ValueError(f"model: SHAP values need a model with one input, got {len(specs)} inputs")
        self.model = model
        self.seed = seed
        self.probe = probe_for(model, probe)
        self.background = as_inputs(specs, background, "background")[0]
        #: The first output's shape per sample; a dense output (a class per pixel, a predicted frame) has axes
        #: of positions before its last (classes) axis.
        self.output_shape = tuple(int(d) for d in self.probe.output_shapes([self.background[:1]])[0][1:])
        #: How many positions each class's score is averaged over (1 for a (classes,) output). SHAP values of
        #: every pixel at once would be (samples, *input_shape, pixels x classes): 32x32 inputs and a 32x32x3
        #: output make 9.4 million values per sample, and shap's explainers hold several copies. Each class's
        #: score averaged over the positions is one scalar per class, what a (classes,) output gives.
        self.positions = int(np.prod(self.output_shape[:-1])) if len(self.output_shape) > 1 else 1
        # Background rows whose values or outputs hold NaN or Inf are left out: one would make the base value
        # E[f] NaN, and every SHAP value with it (each draw blends a sample with a background row).
        outputs = self._predict(self.background)
        finite = finite_rows([self.background, outputs])
        #: How many background rows were left out for NaN or Inf.
        self.left_out = len(finite) - int(finite.sum())
        if not finite.any():
            raise ValueError(
                f"background: expected rows whose values and model outputs are finite, got NaN or Inf in every one "
                f"of its {len(finite):,} rows"
            )
        if self.left_out:
            self.background, outputs = self.background[finite], outputs[finite]
        self.input_shape = self.background.shape[1:]
        self.n_features = int(np.prod(self.input_shape))
        self.fallback: str | None = None
        self.name = explainer
        self._explainer: Any = None
        why_not = self._no_gradient() if explainer in ("auto", "gradient") else None
        if explainer == "auto":
            self.name, self.fallback = ("permutation", why_not) if why_not else ("gradient", None)
        elif explainer == "gradient" and why_not:
            raise ValueError(f"explainer: 'gradient' does not apply to this model: {why_not}")
        if self.name == "gradient":
            self._gradients = ExpectedGradients(self.probe, self.background, seed, samples)
        self._base = outputs.mean(axis=0)
        self._build()

    @property
    def per_class(self) -> bool:
        """Whether each class costs a computation of its own (the gradient explainer); the others explain every
        class at once."""
        return self.name == "gradient"

    # ----------------------------------------------------------------------------------------- public
    def explain(self, x: Any) -> Explanation:
        """SHAP values of every output unit for the samples ``x`` (batch first); the gradient explainer runs
        once per unit (prefer :meth:`attribution` for one class)."""
        x = self._inputs(x)
        outputs = self._predict(x)
        k = outputs.shape[1]
        if self.per_class:
            values = np.stack([self.attribution(x, unit).values for unit in range(k)], axis=-1)
            base = self._base
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # shap's own deprecation and retracing chatter
                values, base = self._run(x)
            values = np.asarray(values, dtype=np.float32).reshape(len(x), *self.input_shape, k)
        base = np.broadcast_to(np.asarray(base, dtype=np.float32).reshape(-1, k), (len(x), k))
        return Explanation(
            values=frozen(values),
            base_values=frozen(base),
            outputs=frozen(outputs),
            explainer=self.name,
            fallback=self.fallback,
        )

    def attribution(self, x: Any, class_index: int | np.ndarray | None = None) -> Attribution:
        """SHAP values of one class per sample (an int for all, an array per sample, None for each sample's
        top output): the full result."""
        return last(self._estimates(self._inputs(x), class_index)).attribution

    def estimates(
        self,
        x: Any,
        class_index: int | np.ndarray | None = None,
        start: Estimate | PathSums | None = None,
        first: int | None = None,
    ) -> Iterator[Estimate]:
        """SHAP values of one class per sample as they refine: the gradient explainer yields an estimate after
        every pass, the first after about ``FIRST_SECONDS`` (or ``first`` draws), and goes on from ``start``
        (an earlier estimate, or its ``sums``: then the estimate's ``totals`` are not kept); the other
        explainers yield their one result."""
        x = self._inputs(x)
        if first is None and start is None and self.per_class:
            seconds = self.probe.row_seconds(x)
            first = 1 if seconds is None else int(FIRST_SECONDS / (seconds * len(x)))
        return self._estimates(x, class_index, start, first)

    # ----------------------------------------------------------------------------------------- internals
    def _estimates(
        self, x: np.ndarray, class_index: Any, start: Estimate | PathSums | None = None, first: int | None = None
    ) -> Iterator[Estimate]:
        """The estimates, every pass full unless ``first`` sizes the first one."""
        if not self.per_class:
            yield Estimate(self.explain(x).for_class(class_index), 1, 1)
            return
        outputs = self._predict(x)
        rows = np.arange(len(x))
        units = _class_per_row(outputs, class_index)
        base, out = frozen(self._base[units], np.float32), frozen(outputs[rows, units], np.float32)
        if isinstance(start, Estimate):
            resume, kept = start.sums, start.totals
        else:
            resume, kept = start, (None if start is not None else np.zeros((0, len(x)), np.float64))
        for sums, totals in self._passes(x, units, resume, kept, first):
            attribution = Attribution(
                # The probe differentiates a unit summed over positions: over their count, the mean's values.
                values=frozen(sums.mean() / self.positions, np.float32),
                base_values=base,
                outputs=out,
                class_index=frozen(units, np.int64),
                explainer=self.name,
                fallback=self.fallback,
            )
            kept = None if totals is None else frozen(totals / self.positions, np.float64)
            yield Estimate(attribution, sums.done, sums.total, None if sums.complete else sums, kept)

    def _passes(
        self,
        x: np.ndarray,
        units: np.ndarray,
        start: PathSums | None,
        totals: np.ndarray | None,
        first: int | None,
    ) -> Iterator[tuple[PathSums, np.ndarray | None]]:
        """Expected gradients pass by pass, as :func:`~nbviz.compute.methods.path_gradients.path_sums` runs them (the
        same draws, rows and sums), keeping also each draw's contribution summed over the features per sample
        (``totals``, (draws, n), appended to): the running sums alone lose the spread over the draws that the
        estimate's standard error needs. ``totals`` None: not kept."""
        eg = self._gradients
        state = PathSums(np.zeros(x.shape, np.float64), 0, eg.samples) if start is None else start
        per_pass = max(1, self.probe.gradient_rows(x) // len(x))
        step = per_pass if first is None else max(1, min(first, per_pass))
        draw = eg.draw(x)
        while not state.complete:
            a, b = state.done, min(state.total, state.done + step)
            points, weights = draw(a, b)
            assert weights is not None  # expected gradients weigh every draw by x - background row
            flat = points.reshape(-1, *x.shape[1:]).astype(x.dtype)
            grads, _ = self.probe.input_gradients(flat, np.tile(units, b - a))
            grads = grads.reshape(b - a, *x.shape).astype(np.float64) * weights
            state = PathSums(state.sums + grads.sum(axis=0), b, state.total)
            if totals is not None:
                totals = np.concatenate([totals, grads.reshape(b - a, len(x), -1).sum(axis=2)])
            yield state, totals
            step = per_pass

    def _inputs(self, x: Any) -> np.ndarray:
        return as_inputs(input_specs(self.model), x, "x")[0]

    def _predict(self, x: np.ndarray) -> np.ndarray:
        """The explained outputs, float64 (n, classes): a dense output's class scores averaged over positions."""
        out = np.asarray(self.probe.first_output(x))
        if self.positions > 1:
            # The mean in float64 without a float64 copy of the whole output (the permutation explainer asks
            # for thousands of rows at once).
            return out.reshape(len(x), self.positions, -1).mean(axis=1, dtype=np.float64)
        return out.astype(np.float64).reshape(len(x), -1)

    def _flat_predict(self, flat: np.ndarray) -> np.ndarray:
        return self._predict(flat.reshape(-1, *self.input_shape).astype(self.background.dtype))

    def _no_gradient(self) -> str | None:
        """Why expected gradients do not apply here (None when they do)."""
        if not np.issubdtype(self.background.dtype, np.floating):
            return f"integer inputs ({self.background.dtype}) have no gradient"
        if not self.probe.reaches_input(self.background[:1]):
            return "no gradient reaches the input (token ids feeding an embedding, or values cast to integers)"
        return None

    def _build(self) -> None:
        if self.name == "gradient":
            return
        import shap

        flat_bg = self.background.reshape(len(self.background), -1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.name == "deep":
                with _DEEP_LOCK:
                    self._explainer = shap.DeepExplainer(self._mean_model(), self.background)
            elif self.name == "kernel":
                # shap's default nsamples ("auto") is 2 * features + 2048 coalitions.
                rows = masked_rows("kernel", 2 * self.n_features + 2048, self.n_features, len(flat_bg))
                self._explainer = shap.KernelExplainer(self._flat_predict, flat_bg[:rows])
            else:
                if self.name == "exact" and self.n_features > EXACT_MAX_FEATURES:
                    raise ValueError(
                        f"explainer: 'exact' evaluates 2**{self.n_features} coalitions for {self.n_features} "
                        f"features (at most {EXACT_MAX_FEATURES}); use 'permutation'"
                    )
                rows = len(flat_bg)
                if self.name == "permutation":
                    rows = masked_rows("permutation", 2 * self.n_features + 1, self.n_features, rows)
                masker = shap.maskers.Independent(flat_bg, max_samples=rows)
                if self.name == "exact":
                    self._explainer = shap.ExactExplainer(self._flat_predict, masker)
                else:
                    self._explainer = shap.PermutationExplainer(self._flat_predict, masker, seed=self.seed)

    def _mean_model(self) -> keras.Model:
        """The model DeepExplainer reads: the model itself, or for a dense output a functional model whose
        output is each class's score averaged over the positions (mean is linear: DeepLIFT passes it through)."""
        if self.positions == 1:
            return self.model
        out = self.model.outputs[0]
        flat = keras.layers.Reshape((self.positions, self.output_shape[-1]))(out)
        mean = keras.layers.GlobalAveragePooling1D()(flat)
        return keras.Model(self.model.inputs, mean)

    def describe(self, target: str | None = None) -> str:
        """Which scalar the values explain, in words (see :func:`explained_scalar`)."""
        return explained_scalar(self.output_shape, target)

    def _run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        flat = x.reshape(len(x), -1)
        if self.name == "deep":
            with _DEEP_LOCK:
                values = self._explainer.shap_values(x, check_additivity=False)
            return values, np.asarray(self._explainer.expected_value)
        if self.name == "kernel":
            return self._explainer.shap_values(flat, silent=True), np.asarray(self._explainer.expected_value)
        if self.name == "exact":
            result = self._explainer(flat, silent=True)
        else:
            # One permutation evaluates every feature twice; more permutations average the estimate.
            result = self._explainer(flat, max_evals=max(500, 2 * self.n_features + 1), silent=True)
        return result.values, result.base_values


def masked_rows(explainer: str, masks: int, n_features: int, rows: int) -> int:
    """How many of ``rows`` background rows shap's permutation or kernel explainer may take: it builds
    ``masks`` masked copies of the ``n_features`` input values per row at once, at most ``MASKED_VALUES`` values
    in all (at least one row). Raises ValueError where not even one row fits."""
    per_row = masks * n_features
    if per_row > MASKED_VALUES:
        raise ValueError(
            f"explainer: {explainer!r} evaluates {masks:,} masked copies of the {n_features:,} input values at "
            f"once ({per_row:,} values per background row, at most {MASKED_VALUES:,}); use 'gradient'"
        )
    return max(1, min(rows, MASKED_VALUES // per_row))


def input_labels(names: tuple[str, ...] | None, shape: tuple[int, ...]) -> list[str]:
    """A name per flattened input value that says where it sits: the given ``names`` when there is one per value;
    else a table's column number ("3"), a sequence's "step 3, feature 4", an image's "pixel (2, 5)" (row,
    column), with ", channel 0" where it has more than one channel, and a video's "frame 1, " before it.

    "2,5,0" said nothing of which number was the row, the column or the channel.
    """
    size = int(np.prod(shape))
    if names is not None and len(names) == size:
        return list(names)
    if len(shape) <= 1:
        return [str(i) for i in range(size)]
    if len(shape) == 2:
        return [f"step {t}, feature {f}" for t, f in np.ndindex(*shape)]
    if len(shape) in (3, 4):
        labels = []
        for index in np.ndindex(*shape):
            *frame, r, c, k = index
            text = f"pixel ({r}, {c})" + (f", channel {k}" if shape[-1] > 1 else "")
            labels.append(f"frame {frame[0]}, {text}" if frame else text)
        return labels
    return [f"position ({', '.join(str(i) for i in index)})" for index in np.ndindex(*shape)]


def explained_scalar(output_shape: tuple[int, ...], target: str | None = None) -> str:
    """Which scalar SHAP values of an output of ``output_shape`` per sample explain, in words: for a dense
    output (positions before the classes axis), the score of ``target`` (a class in words, "class cat"; None:
    a one-unit output) averaged over the positions; '' for a (classes,) output, whose unit is the class."""
    if len(output_shape) < 2:
        return ""
    positions = int(np.prod(output_shape[:-1]))
    where = " x ".join(str(d) for d in output_shape[:-1])
    what = "the output" if target is None else f"{target}'s score"
    return (
        f"Explained: {what} averaged over the {positions:,} output positions ({where}), one scalar per sample "
        f"(SHAP values of every position at once would be {positions:,} times as large)."
    )


def _class_per_row(outputs: np.ndarray, class_index: int | np.ndarray | None) -> np.ndarray:
    """One output unit per row: ``class_index`` broadcast, or each row's top output when None."""
    n, k = outputs.shape
    if class_index is None:
        return np.argmax(outputs, axis=1)
    index = np.broadcast_to(np.asarray(class_index, dtype=np.int64), (n,))
    if index.min() < 0 or index.max() >= k:
        raise ValueError(f"class_index: expected an output unit in [0, {k}), got {class_index!r}")
    return index


def shap_values(
    model: keras.Model,
    x: Any,
    background: Any = None,
    explainer: str = "auto",
    class_index: int | None = None,
) -> Attribution:
    """SHAP values of ``model`` for the samples ``x``.

    Parameters
    ----------
    model : keras.Model
        A built Keras 3 model with one input.
    x : array-like
        Samples to explain, batch first.
    background : array-like, optional
        Default: :func:`default_background` of ``x`` (100 samples; a k-means summary for tabular data).
    explainer : str
        "auto", "gradient", "deep", "permutation", "exact" or "kernel" (see :class:`ShapExplainer`).
    class_index : int, optional
        The output unit to explain; default each sample's top output (its predicted class).

    Returns
    -------
    Attribution
        ``.values`` in the input's shape per sample, ``.base_values``, ``.outputs`` and ``.explainer``.
    """
    check_model(model)
    inputs = as_inputs(input_specs(model), x, "x")
    if len(inputs) > 1:
        raise ValueError(f"model: SHAP values need a model with one input, got {len(inputs)} inputs")
    bg = default_background(inputs[0]) if background is None else background
    return ShapExplainer(model, bg, explainer).attribution(inputs[0], class_index)
