"""Questions about attributions: saliency maps, SHAP values and token attributions, laid out for their tabs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._arrays import is_int
from ..data.nonfinite import finite_rows
from ..data.scalar_inputs import is_scalar_table, table_model, table_rows
from ..data.tokens import token_inputs
from ..methods.attribution import (
    Additivity,
    Estimate,
    Explanation,
    ShapExplainer,
    additivity,
    concatenate,
    default_background,
    explained_scalar,
    input_labels,
)
from ..methods.display import overlay, tile_frames
from ..methods.saliency import cam_layers, saliency
from ..methods.token_attribution import METHODS as TOKEN_METHODS
from ..methods.token_attribution import TokenAttribution, embedding_layer, token_attributions
from ..model.probe import Probe
from .answers import (
    SaliencyMap,
    ShapGlobal,
    ShapLocal,
    TokenSaliency,
    Unavailable,
    beeswarm,
    diverging_colors,
    feature_labels,
    input_picture,
    saliency_picture,
    signed_picture,
    top_bars,
)
from .core import AnalysisCore
from .questions import question

SALIENCY_BARS = 15  # the features a tabular saliency map shows
CAM = ("gradcam", "gradcam++")

METHOD_NAMES = {
    "gradient": "gradient",
    "smoothgrad": "SmoothGrad",
    "integrated_gradients": "Integrated Gradients",
    "gradcam": "Grad-CAM",
    "gradcam++": "Grad-CAM++",
}


class AttributionQuestions(AnalysisCore):
    """Saliency and SHAP: which input values drive an output."""

    # ----------------------------------------------------------------------------------------- saliency
    def cam_layers(self) -> tuple[tuple[str, ...], str | None]:
        """The layers Grad-CAM can use and its default (the last convolution); see :func:`cam_layers`."""

        def compute() -> tuple[tuple[str, ...], str | None]:
            if len(self.data.x) != 1 or not np.issubdtype(self.data.x[0].dtype, np.floating):
                return (), None
            grids, default = cam_layers(self.probe, self.data.x[0][:1])
            return tuple(grids), default

        return self._ask(("cam layers",), compute, versioned=False)

    @question
    def saliency_map(self, sample: int, method: str, class_index: int | None, layer: str | None) -> Any:
        """A saliency map of one sample for ``class_index`` (None: the predicted class); CAM methods on
        ``layer``. Returns a :class:`SaliencyMap`, or :class:`Unavailable` saying why not."""
        x = self.data.x
        if self.scalar_features:
            return self._table_saliency(sample, method, class_index)
        if len(x) > 1:
            return Unavailable(f"Saliency here needs a model with one input; this one has {len(x)}.")
        if not np.issubdtype(x[0].dtype, np.floating):
            return Unavailable(
                "Saliency needs float inputs: integer inputs (token ids) have no gradient; see the SHAP tab."
            )
        if "input#0" in self.gradients(self.data.check_sample(sample)).undefined:
            return Unavailable(
                "Saliency needs an input that gradients reach; this one feeds an embedding as token ids (or is cast "
                "to integers), so noise or interpolation would make ids that do not exist. See the SHAP tab."
            )
        tabular = x[0].ndim == 2
        if method in CAM:
            usable = self.cam_layers()[0]
            if tabular or layer not in usable:
                return Unavailable(
                    f"{METHOD_NAMES[method]} needs a convolutional layer (h x w x channels); choose one: "
                    f"{', '.join(usable) or 'none in this model'}."
                )
        else:
            layer = None
        sample = self.data.check_sample(sample)
        inputs = self.data.inputs(sample)[0]

        def compute() -> np.ndarray:
            return saliency(self.model, inputs, method=method, target=class_index, layer=layer, probe=self.probe)[0]

        values = self._ask(("saliency", method, sample, class_index, layer), compute)
        dense = len(self.data.output_shape) > 1
        if class_index is None and dense:
            # A class per position has no one predicted class: the map is of the class whose score summed over
            # the positions is highest (what saliency's default target is), which the mean ranks the same.
            cls: Any = self.shap_class(sample, None)
        else:
            cls = self.prediction(sample).class_index if class_index is None else class_index
        cls = 0 if cls is None else int(cls)
        note = self._dense_note(cls) if dense else ""
        if tabular:
            labels = feature_labels(self.data.feature_names, values.shape)
            bars = top_bars(values, labels, SALIENCY_BARS)
            return SaliencyMap(method, cls, self.policy.class_name(cls), values, bars, None, None, layer, note)
        picture = saliency_picture(values, method)
        # The overlay is a picture of the input itself: redact mode leaves it out.
        shown = None if self.policy.redact else overlay(input_picture(inputs[0]), np.abs(picture.values))
        return SaliencyMap(method, cls, self.policy.class_name(cls), values, None, picture, shown, layer, note)

    def _dense_note(self, cls: int) -> str:
        """Which scalar a saliency map of a dense output (a class per pixel, predicted frames) is of, in words."""
        shape = self.data.output_shape
        positions, where = int(np.prod(shape[:-1])), " x ".join(str(d) for d in shape[:-1])
        what = f"class {self.policy.class_name(cls)}'s score" if self.data.output_units > 1 else "the output"
        return (
            f"The map is of {what} summed over the {positions:,} output positions ({where}): one map for the "
            f"whole output, not one per position."
        )

    @property
    def scalar_features(self) -> bool:
        """Whether every input is one number per sample (``keras.Input(shape=())`` per feature): saliency then
        reads the inputs as one table, one feature per input (:mod:`nbviz.compute.data.scalar_inputs`)."""
        return is_scalar_table(self.data.x)

    def _table_saliency(self, sample: int, method: str, class_index: int | None) -> Any:
        """Saliency of a model of scalar inputs: one value per input, from the model over one table of them."""
        if method in CAM:
            return Unavailable(
                f"{METHOD_NAMES[method]} needs a convolutional layer (h x w x channels); this model's inputs are "
                f"{len(self.data.x)} scalar features."
            )
        sample = self.data.check_sample(sample)

        def wrap() -> tuple[Any, Probe]:
            # The wrapper shares the model's weights, so a version of the model is a version of it too.
            model = table_model(self.model, self.data.x)
            return model, Probe(model, batch_size=self.probe.batch_size)

        model, probe = self._ask(("scalar table model",), wrap, versioned=False)
        rows = table_rows(self.data.x)[sample : sample + 1]

        def compute() -> np.ndarray:
            return saliency(model, rows, method=method, target=class_index, probe=probe)[0]

        values = self._ask(("saliency", method, sample, class_index, None), compute)
        cls = self.prediction(sample).class_index if class_index is None else class_index
        cls = 0 if cls is None else int(cls)
        bars = top_bars(values, list(self.data.input_names), SALIENCY_BARS)
        ids = [name for name, a in zip(self.data.input_names, self.data.x) if a.dtype.kind in "iub"]
        note = (
            f"{', '.join(ids)}: integer ids (categories), which take no gradient through their cast: 0 here."
            if ids
            else ""
        )
        return SaliencyMap(method, cls, self.policy.class_name(cls), values, bars, None, None, None, note)

    # ----------------------------------------------------------------------------------------- SHAP
    @property
    def background(self) -> np.ndarray:
        """The SHAP background: as given, or a summary of x (computed on first use: k-means takes a moment)."""
        if self.data.background is not None:
            return self.data.background  # its rows with NaN or Inf are left out by the explainer
        rows = self.data.background_rows
        # Rows holding NaN or Inf are left out before k-means, whose centres they would make NaN.
        return self._ask(("background",), lambda: default_background(rows[finite_rows([rows])]), versioned=False)

    def shap_explainer(self, name: str = "auto") -> ShapExplainer:
        """The shap explainer ``name`` for the current weights, built once per version ("auto" resolved)."""
        return self._ask(
            ("explainer", name), lambda: ShapExplainer(self.model, self.background, name, probe=self.probe)
        )

    def shap_values(self, sample: int, name: str = "auto") -> Explanation:
        """SHAP values of every class for one sample (the gradient explainer computes each class in turn: the
        SHAP tab asks for one class at a time, see :meth:`refine_shap`)."""
        sample = self.data.check_sample(sample)
        return self._ask(
            ("shap all", name, sample), lambda: self.shap_explainer(name).explain(self.data.inputs(sample)[0])
        )

    def shap_unavailable(self) -> str | None:
        """Why SHAP values cannot be had here (None when they can)."""
        x = self.data.x
        if len(x) > 1:
            names = ", ".join(self.data.input_names)
            text = (
                " For text, the saliency tab explains each token (Integrated Gradients and gradient x input at the "
                "embedding's output)."
                if self.token_model
                else ""
            )
            return f"SHAP values here need a model with one input; this one takes {len(x)} ({names}).{text}"
        gone = self.left_out()
        if gone.outputs_nonfinite:
            return gone.outputs_text()
        return None

    def shap_class(self, sample: int, class_index: int | None) -> int:
        """The class the SHAP tab explains: ``class_index``, or the sample's top output when None."""
        if class_index is not None:
            return int(class_index)
        out = np.asarray(self.output(self.data.check_sample(sample)))
        # A dense output (a class per pixel) is explained per class, averaged over its positions: its top class
        # is the one with the highest mean score, as the explainer's outputs rank them.
        scores = out.reshape(-1, out.shape[-1]).mean(axis=0) if out.ndim > 1 else out.reshape(-1)
        return int(np.argmax(scores))

    def shap_estimate(self, sample: int, name: str, class_index: int | None) -> Estimate | None:
        """The best SHAP values of one sample and class computed so far for this version: the full result, an
        estimate that :meth:`refine_shap` stopped at, or None."""
        key = (name, self.data.check_sample(sample), self.shap_class(sample, class_index))
        return self.memo.peek((self.version, "shap", *key)) or self.memo.peek((self.version, "shap partial", *key))

    def refine_shap(
        self,
        sample: int,
        name: str,
        class_index: int | None,
        cancelled: Callable[[], bool] | None = None,
        on_estimate: Callable[[Estimate], None] | None = None,
        version: str | None = None,
    ) -> Estimate | None:
        """Compute one sample's SHAP values for one class, or go on from where an earlier call stopped.

        Every estimate is stored (replacing the one before: the memo always holds a complete pass) and handed
        to ``on_estimate``; between passes ``cancelled()`` may stop the work, which a later call resumes. Safe
        in a worker thread: results are stored under ``version`` (the version when the work was asked for;
        default now), and only while it holds (:meth:`ModelVersion.unchanged`). Returns the full result, or
        None when cancelled or when the model changed meanwhile (nothing of it is stored or handed on).
        """
        version = self.version if version is None else version
        stamp = self.versions.stamp()
        sample = self.data.check_sample(sample)
        cls = self.shap_class(sample, class_index)
        final_key, partial_key = (version, "shap", name, sample, cls), (version, "shap partial", name, sample, cls)
        done = self.memo.peek(final_key)
        if done is not None:
            return done  # type: ignore[no-any-return]
        explainer = self.shap_explainer(name)
        if not explainer.per_class:  # every class comes at once: one result, kept for the other classes too
            estimate = Estimate(self.shap_values(sample, name).for_class(cls), 1, 1)
            if not self._store(final_key, estimate, stamp):
                return None
            if on_estimate is not None:
                on_estimate(estimate)
            return estimate
        started = self.memo.peek(partial_key)
        x = self.data.inputs(sample)[0]
        for estimate in explainer.estimates(x, cls, start=started):
            if not self._store(final_key if estimate.final else partial_key, estimate, stamp):
                return None
            if on_estimate is not None:
                on_estimate(estimate)
            if estimate.final:
                self.memo.discard(partial_key)
                return estimate
            if cancelled is not None and cancelled():
                return None
        raise AssertionError("the estimates ended before the full result")  # pragma: no cover

    def shap_additivity(self, estimate: Estimate) -> Additivity:
        """How far the SHAP values of ``estimate`` (one sample, as :meth:`refine_shap` makes) fall from adding up
        to f(x) - E[f], with the gap's standard error over the draws where they add up only in expectation."""
        return additivity(estimate)

    def shap_work(self, sample: int, name: str, class_index: int | None) -> str:
        """What computing one sample's SHAP values involves now, in words (the tab shows it while it runs)."""
        cls = self.shap_class(sample, class_index)
        target = f" for class {self.policy.class_name(cls)}" if self.data.output_units > 1 else ""
        explainer = self.memo.peek((self.version, "explainer", name))
        if explainer is None:
            first = "building the explainer (tracing the model's gradient pass the first time), then "
            how = f"{name} explainer"
        else:
            first = ""
            how = "expected gradients" if explainer.per_class else f"{explainer.name} explainer"
        return f"{first}SHAP values ({how}){target} of sample {sample}"

    def shap_local(
        self, sample: int, name: str, class_index: int | None, top_k: int, estimate: Estimate | None = None
    ) -> Any:
        """One sample's SHAP values for ``class_index`` (None: the top output), laid out for the SHAP tab: of
        ``estimate`` when given (one :meth:`refine_shap` made), else the full result, computed here."""
        reason = self.shap_unavailable()
        if reason is not None:
            return Unavailable(reason)
        sample = self.data.check_sample(sample)
        if estimate is None:
            estimate = self.refine_shap(sample, name, class_index)
            assert estimate is not None
        attribution = estimate.attribution
        values = attribution.values[0]
        cls = int(attribution.class_index[0])
        bars = steps = picture = None
        x = self.data.x[0][sample]
        if values.ndim == 1:
            names = feature_labels(self.data.feature_names, values.shape)
            labels = [self.policy.feature_label(n, float(v)) for n, v in zip(names, x)]
            bars = top_bars(values, labels, top_k)
        elif values.ndim == 2:
            steps = values.sum(axis=1).astype(np.float32)
        else:
            # Channels summed; a video's frames (frames, h, w, channels) tiled as the input's picture tiles them.
            summed = values.sum(axis=-1)
            picture = signed_picture(
                summed if summed.ndim == 2 else tile_frames(summed.reshape(-1, *summed.shape[-2:]))
            )
        multiclass = self.data.output_units > 1
        explained = explained_scalar(
            self.data.output_shape, f"class {self.policy.class_name(cls)}" if multiclass else None
        )
        return ShapLocal(
            attribution.explainer,
            attribution.fallback,
            name == "auto",
            cls,
            self.policy.class_name(cls),
            multiclass,
            float(attribution.base_values[0]),
            float(attribution.outputs[0]),
            float(values.sum()),
            values,
            bars,
            steps,
            picture,
            estimate.done,
            estimate.total,
            explained,
        )

    def compute_shap_global(
        self,
        name: str,
        n: int,
        progress: Callable[[float], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
        version: str | None = None,
        chunk: int = 10,
        class_index: int | None = None,
    ) -> bool:
        """Compute SHAP values of the first ``n`` samples in chunks (``progress`` gets the share done); False
        when ``cancelled()`` turned true. The gradient explainer explains ``class_index`` only (None: each
        sample's top output); the others every class. Safe in a worker thread: it builds an explainer of its
        own, and stores its result under ``version`` (the version when the work was asked for; default now) if
        that version still holds when it ends (else it returns False too: the work is for weights gone)."""
        version = self.version if version is None else version
        stamp = self.versions.stamp()
        resolved = self.shap_explainer(name)
        key = (version, "shap global", name, n, class_index if resolved.per_class else "every class")
        if key in self.memo:
            return True
        explainer = ShapExplainer(self.model, self.background, resolved.name, probe=self.probe)
        x = self.data.x[0][self._shap_rows(n)]  # the first n samples, less those left out for NaN or Inf
        parts: list[Any] = []
        for start in range(0, len(x), chunk):
            if cancelled is not None and cancelled():
                return False
            rows = x[start : start + chunk]
            parts.append(explainer.attribution(rows, class_index) if resolved.per_class else explainer.explain(rows))
            if progress is not None:
                progress(min(start + chunk, len(x)) / len(x))
        return self._store(key, concatenate(parts), stamp)

    def shap_global(self, name: str, n: int, class_index: int | None, top_k: int) -> ShapGlobal | None:
        """Global importance over the first ``n`` samples if computed for this version, else None."""
        computed = self.memo.peek((self.version, "shap global", name, n, class_index)) or self.memo.peek(
            (self.version, "shap global", name, n, "every class")
        )
        if computed is None:
            return None
        attribution = computed.for_class(class_index) if isinstance(computed, Explanation) else computed
        count = len(attribution.values)
        flat = attribution.values.reshape(count, -1)
        importance = np.abs(flat).mean(axis=0)
        labels = input_labels(self.data.feature_names, self.data.x[0].shape[1:])
        top = top_bars(importance, labels, top_k)
        order = np.argsort(importance, kind="stable")[-top_k:]
        features = self.data.x[0][self._shap_rows(n)].reshape(count, -1)[:, order]
        x, y, color = beeswarm(flat[:, order], features, ranks=self.policy.redact)
        return ShapGlobal(
            attribution.explainer, attribution.fallback, name == "auto", count, importance.astype(np.float32),
            top, x, y, color, tuple(labels[i] for i in order), self._shap_note(name, n, class_index),
        )  # fmt: skip

    def _shap_rows(self, n: int) -> np.ndarray:
        """The samples the global view explains: the first ``n``, less those left out for NaN or Inf."""
        return np.flatnonzero(self.left_out().keep[:n])

    def _shap_note(self, name: str, n: int, class_index: int | None = None) -> str:
        """What the global view left out for NaN or Inf, in words: samples, and background rows; and which
        scalar it explains, for a dense output ('' for none of these)."""
        if self.data.output_units == 1:
            target = None
        else:
            target = (
                "each sample's top class" if class_index is None else f"class {self.policy.class_name(class_index)}"
            )
        notes = [explained_scalar(self.data.output_shape, target), self.left_out().note(n)]
        rows, dropped = self.data.background_rows, self.shap_explainer(name).left_out
        if self.data.background is None and rows is not self.data.x[0]:  # (x's rows are counted as samples)
            dropped += len(rows) - int(finite_rows([rows]).sum())
        if dropped:
            notes.append(f"{dropped:,} background rows left out: NaN or Inf in their values or outputs")
        return "; ".join(note for note in notes if note)

    # ----------------------------------------------------------------------------------------- tokens
    def token_attribution(
        self, sample: int, method: str, class_index: int | None = None, position: int | None = None
    ) -> TokenAttribution | Unavailable:
        """How much each token of one sample drives one class of the first output, at the embedding's output
        (:func:`~nbviz.compute.methods.token_attribution.token_attributions`: ``method`` is "integrated_gradients" or
        "gradient_x_input").

        ``class_index`` None is the predicted class. For an output with a position axis (a language model's
        (seq, vocab)), the class is the one at ``position`` (the predicted token there by default), and
        ``position`` None is the sample's last real position (its padding mask's; the last one without a mask).
        Returns a :class:`TokenAttribution` (one value per position, padding included), or :class:`Unavailable`
        where the model has no embedding of token ids or an output with no single class to explain.
        """
        sample = self.data.check_sample(sample)
        if not isinstance(method, str) or method not in TOKEN_METHODS:
            raise ValueError(f"method: expected one of {TOKEN_METHODS}, got {method!r}")
        for name, value in (("class_index", class_index), ("position", position)):
            if value is not None and not is_int(value):
                raise TypeError(f"{name}: expected an int or None, got {type(value).__name__} {value!r}")
        layer = self._ask(("embedding layer",), lambda: embedding_layer(self.probe), versioned=False)
        if layer is None:
            return Unavailable(
                "Token attributions need a text model whose token ids feed an embedding layer; this model has "
                "none (for other inputs, see the saliency and SHAP tabs)."
            )
        out = np.asarray(self.output(sample))
        if out.ndim > 2:
            return Unavailable(
                f"Token attributions explain one class, or one class at one position; this model's first output "
                f"has shape {out.shape} per sample."
            )
        positional = out.ndim == 2
        if not positional and position is not None:
            return Unavailable(
                f"This model's first output has no position axis (shape {out.shape} per sample): explain a class, "
                "with no position."
            )
        if positional:
            if position is None:
                mask = self.data.padding_mask(out.shape[0])
                real = np.flatnonzero(mask[sample]) if mask is not None else np.arange(out.shape[0])
                position = int(real[-1]) if len(real) else out.shape[0] - 1
            elif not 0 <= position < out.shape[0]:
                raise ValueError(f"position: expected a position in [0, {out.shape[0]}), got {position}")
        row = out[position] if positional else out.reshape(-1)
        k = int(row.shape[-1])
        if class_index is not None and not 0 <= class_index < k:
            raise ValueError(f"class_index: expected a class in [0, {k}), got {class_index}")
        inputs = self.data.inputs(sample)
        at = position

        def compute() -> TokenAttribution:
            if class_index is not None:
                cls = int(class_index)
            elif k == 1:
                cls = 0  # one unit (a sigmoid's probability, a regressor's value): the unit itself
            else:
                cls = int(self.probe.top_classes(row[np.newaxis])[0][0])
            unit = (int(at) * k + cls) if positional and at is not None else cls
            return token_attributions(self.probe, inputs, unit, method=method, layer=layer)

        return self._ask(("token attribution", sample, method, class_index, position), compute)

    @property
    def token_model(self) -> bool:
        """A text model: token ids (see :func:`~nbviz.compute.data.tokens.token_inputs`) feed an embedding layer."""
        layer = self._ask(("embedding layer",), lambda: embedding_layer(self.probe), versioned=False)
        return layer is not None and bool(token_inputs(self._inputs_by_name()))

    @question
    def token_saliency(
        self, sample: int, method: str, class_index: int | None = None, position: int | None = None
    ) -> TokenSaliency | Unavailable:
        """:meth:`token_attribution` over the sample's real tokens, labelled and coloured for the saliency tab."""
        answer = self.token_attribution(sample, method, class_index, position)
        if isinstance(answer, Unavailable):
            return answer
        seq = len(answer.values)
        name = self.token_input(seq)
        positions = self.real_positions(sample, name) if name is not None else np.arange(seq)
        values = answer.values[positions]
        out = np.asarray(self.output(sample))
        k = int(out.shape[-1])
        cls, at = answer.unit % k, (answer.unit // k if out.ndim == 2 else None)
        words = self.policy.vocabulary
        # A language model's classes are its tokens: named by their text (not in redact mode, where text is raw).
        as_word = out.ndim == 2 and not self.policy.redact and not self.policy.class_names and len(words) == k
        return TokenSaliency(
            method,
            int(cls),
            words[cls] if as_word else self.policy.class_name(int(cls)),
            None if at is None else int(at),
            self.token_labels(sample, positions, seq),
            values,
            diverging_colors(values),
            float(answer.output),
            float(answer.baseline),
            float(answer.values.sum()),
            float(answer.gap),
            answer.layer,
            int(answer.steps),
        )
