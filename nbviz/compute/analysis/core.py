"""AnalysisCore: the model, its checked data and display policy, the one memo keyed by the model's version,
and the questions about one sample and one layer (see :mod:`nbviz.compute.analysis.analysis`)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, TypeVar

import keras
import numpy as np

from ..data.dataset import CheckedData
from ..data.nonfinite import KEPT, OUTPUTS, LeftOut, finite_rows, left_out
from ..data.policy import DisplayPolicy
from ..data.redact import labels_repeat_input, raw_value_layers
from ..data.tokens import padding_of, token_inputs
from ..methods.diagnostics import output_chunks
from ..methods.display import DeadUnits, activation_view, dead_units
from ..model.detection import Boxes, detections, is_detector, target_boxes
from ..model.graph import LayerNode, ModelGraph
from ..model.probe import Gradients, Probe
from ..model.version import ModelVersion
from .answers import (
    LayerActivation,
    LayerGradients,
    LayerWeights,
    Picture,
    Prediction,
    SampleDisplay,
    SampleGradients,
    Unavailable,
    feature_labels,
    grey_picture,
    log10_norms,
    tensor_display,
)
from .memo import Memo
from .questions import key_of, question

T = TypeVar("T")
#: What the sample view says for labels that redact mode withholds (they repeat the input).
WITHHELD = "withheld: the labels repeat the input"
MAX_BARS = 1024  # one SVG rect per bar: beyond about a thousand the browser slows down
SAMPLE_CELLS = 4096  # the sample thumbnail
DEAD_UNIT_SAMPLES = 256
DEAD_UNIT_BYTES = 256 * 2**20


LISTED_BOXES = 5  # boxes named in the sample's caption; the picture outlines up to SHOWN_BOXES


class AnalysisCore:
    """The state every question shares, and the questions about one sample and one layer; the parameters are
    :class:`~nbviz.compute.analysis.analysis.Analysis`'s."""

    def __init__(self, probe: Probe, data: CheckedData, policy: DisplayPolicy, cache_bytes: int = 512 * 2**20):
        self.probe = probe
        self.model: keras.Model = probe.model
        self.graph: ModelGraph = probe.graph
        self.data = data
        self.policy = policy
        self.memo = Memo(cache_bytes)
        self.versions = ModelVersion(self.model)
        self.nodes: dict[str, LayerNode] = {n.name: n for n in self.graph.nodes}
        #: Layers whose outputs redact mode withholds (they show the raw input); empty without redact.
        self.hidden_layers = raw_value_layers(self.graph) if policy.redact else frozenset()
        #: Labels that repeat the input (an autoencoder's, a language model's next tokens) are raw input too.
        self.hidden_labels = policy.redact and (
            data.reconstruction or labels_repeat_input(list(data.x), None if data.y is None else list(data.y))
        )
        self.dead_unit_samples, self.dead_unit_bytes = DEAD_UNIT_SAMPLES, DEAD_UNIT_BYTES
        self._pins = threading.local()

    @property
    def gradient_target(self) -> str:
        """What the gradients differentiate: "loss", or "output unit 0" for a regressor given no labels nor loss
        and for a model whose loss is unknown (its own train_step, no compiled loss: none is guessed). Read now:
        a model compiled again may change it."""
        source = self.probe.loss_source(self.data.loss)
        given = self.data.y is not None or self.data.own_targets is not None
        labelled = given or self.data.is_classifier or source in ("given", "added")
        return "loss" if labelled and source != "unknown" else "output unit 0"

    @property
    def loss_text(self) -> str:
        """Which loss, in words (the gradients tab says it): read now, so a model compiled again names its new
        loss."""
        if self.gradient_target != "loss":
            if self.probe.loss_source(self.data.loss) == "unknown":
                return self.probe.loss_name() + "; shown instead: the sum of output unit 0"
            return "no labels: the sum of output unit 0"
        own = ", against the input (an autoencoder's reconstruction)" if self.data.reconstruction else ""
        return self.probe.loss_name(self.data.loss) + own

    # ----------------------------------------------------------------------------------------- versions
    @property
    def version(self) -> str:
        """The model's version now (see :mod:`nbviz.compute.model.version`); fixed inside :meth:`pinned`."""
        pinned = getattr(self._pins, "version", None)
        return pinned if pinned is not None else self.versions.current()

    @contextmanager
    def pinned(self) -> Iterator[str]:
        """Check the version once for a block of questions (one interaction), on this thread."""
        outer = getattr(self._pins, "version", None)
        self._pins.version = outer if outer is not None else self.versions.current()
        try:
            yield self._pins.version
        finally:
            self._pins.version = outer

    def check_version(self) -> str:
        """Read the weights' fingerprint now, whatever the gate says (after a notebook cell ran)."""
        return self.versions.current(force=True)

    def refresh(self) -> str:
        """Forget nothing but compute everything again: a new version, as if every weight had changed."""
        return self.versions.refresh()

    def _ask(self, key: tuple[Hashable, ...], compute: Callable[[], T], versioned: bool = True) -> T:
        if not versioned:
            return self.memo.get((None, *key), compute)
        if getattr(self._pins, "version", None) is not None:
            # An interaction, on the kernel's thread: no cell runs until it returns, so nothing changes the model.
            return self.memo.get((self.version, *key), compute)
        version, stamp = self.version, self.versions.stamp()
        return self.memo.get((version, *key), compute, keep=lambda: self.versions.unchanged(version, stamp))

    def _store(self, key: tuple[Hashable, ...], value: Any, stamp: tuple[int, int, int]) -> bool:
        """Store ``value`` under ``key`` (its version first) if that version still holds (see
        :meth:`ModelVersion.unchanged`); False when it was dropped."""
        if not self.versions.unchanged(str(key[0]), stamp):
            return False
        self.memo.put(key, value)
        return True

    def cached(self, *key: Hashable, version: str | None = None) -> bool:
        """Whether the memo holds ``key`` (as the methods below spell their inner keys) for ``version`` (by default
        the current one, which outside a kernel costs a read of the weights' fingerprint)."""
        return (self.version if version is None else version, *key) in self.memo

    def answered(self, asked: Callable[..., Any], *args: Any, version: str | None = None, **kwargs: Any) -> bool:
        """Whether asking ``asked(*args, **kwargs)`` (a question of this analysis, e.g. ``self.findings``) would
        be answered from the memo for ``version`` (by default the current one)."""
        return self.cached(*key_of(asked, args, kwargs), version=version)

    # ----------------------------------------------------------------------------------------- per sample
    def activations(self, sample: int) -> dict[str, np.ndarray]:
        """Every layer's output for one sample (batch axis of 1 kept), from one compiled pass."""
        sample = self.data.check_sample(sample)

        def compute() -> dict[str, np.ndarray]:
            # The gradients pass records every layer's output too: when it ran for this sample, no forward pass.
            grads = self.memo.peek((self.version, "gradients", sample))
            if grads is not None:
                return dict(grads.activations)
            return self.probe.activations(self.data.inputs(sample))

        return self._ask(("activations", sample), compute)

    def gradients(self, sample: int) -> Gradients:
        """Gradients for one sample: of the loss with its label (or its predicted class), or of output unit 0."""
        sample = self.data.check_sample(sample)

        def compute() -> Gradients:
            inputs, labels, loss = self.data.inputs(sample), self.data.loss_targets(sample), self.data.loss
            if self.gradient_target != "loss":
                return self.probe.gradients(inputs, target=0)
            if labels is not None:
                return self.probe.gradients(inputs, labels, sample_weight=self.data.sample_weights(sample), loss=loss)
            return self.probe.gradients(inputs, loss=loss)

        return self._ask(("gradients", sample), compute)

    def output(self, sample: int) -> np.ndarray:
        """The model's first output for one sample, without the batch axis."""
        sample = self.data.check_sample(sample)

        def compute() -> np.ndarray:
            # Read from every layer's outputs when a tab has them; else the outputs alone, which on a large model
            # run eagerly until a tab needs the compiled pass (see Probe.predict).
            acts = self.memo.peek((self.version, "activations", sample))
            name = self.probe.output_names[0]
            if acts is not None and name in acts:
                return acts[name][0]
            return self.probe.first_output(self.data.inputs(sample))[0]

        return self._ask(("output", sample), compute)

    def seed_output(self, sample: int, output: np.ndarray) -> None:
        """Keep ``output`` as :meth:`output`'s answer for ``sample`` under the current version (a prediction made
        on these weights already, while the data was checked)."""
        self.memo.put((self.version, "output", self.data.check_sample(sample)), output)

    def batch_shaped(self) -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
        """The recorded outputs (layers, and the model's outputs under :attr:`Probe.output_names`) that are not
        one row per sample: their shape past the batch axis follows the batch's size, as a two-tower model's
        image x text logits, (images, texts), whose row for an image scores it against every text in its batch.

        Such an output's rows cannot be concatenated across batches, and a row is not one sample's alone (it
        changes with the samples batched with it), so no projection, unit ranking or per-sample score can be read
        off it. Found by one forward pass on the first two samples, compared with the first sample's own.

        Returns
        -------
        dict of str -> (shape for a batch of 1, shape for a batch of 2), each past the batch axis; empty with
        fewer than 2 samples.
        """
        if self.data.n_samples < 2:
            return {}

        def compute() -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
            one = self.activations(0)
            two = self.probe.activations([a[:2] for a in self.data.x])
            return {
                name: (tuple(one[name].shape[1:]), tuple(b.shape[1:]))
                for name, b in two.items()
                if name in one and one[name].shape[1:] != b.shape[1:]
            }

        # The shapes follow from the model's structure and the data's, not from its weights: asked once.
        return self._ask(("batch shaped",), compute, versioned=False)

    def first_output_follows_batch(self) -> bool:
        """Whether the model's first output is not one row per sample (:meth:`batch_shaped`), asked cheaply: an
        output whose every axis past the batch is fixed in the model cannot follow the batch, and only one whose
        axis is open (``None``) costs a forward pass, of its outputs alone on the first two samples. The
        projector asks this while it is built, where every layer's pass would add a trace to a start."""
        if self.data.n_samples < 2:
            return False
        try:
            fixed = None not in tuple(self.model.outputs[0].shape[1:])
        except (AttributeError, IndexError, TypeError, ValueError):  # a subclassed model has no symbolic outputs
            fixed = False
        if fixed:
            return False

        def compute() -> bool:
            out = self.probe.first_output([a[:2] for a in self.data.x])
            return tuple(int(d) for d in out.shape[1:]) != self.data.output_shape

        return self._ask(("first output follows batch",), compute, versioned=False)

    def first_output_note(self, view: str) -> str | None:
        """Why ``view`` cannot read the first output per sample when it follows the batch
        (:meth:`first_output_follows_batch`), in one line; None when it has a row per sample."""
        if not self.first_output_follows_batch():
            return None
        name = self.probe.output_names[0]
        return self.batch_shaped_note(name, view) or (
            f"{name}'s output is not one row per sample: its shape past the batch axis follows the batch's size, "
            f"so no {view} can be read off it."
        )

    def batch_shaped_note(self, layer: str, view: str) -> str | None:
        """Why ``view`` (a projection, the unit view) cannot show ``layer`` when its output is not one row per
        sample (:meth:`batch_shaped`), in one line; None when it is."""
        shapes = self.batch_shaped().get(layer)
        if shapes is None:
            return None
        one, two = ("x".join(map(str, s)) or "a scalar" for s in shapes)
        return (
            f"{layer}'s output is not one row per sample: past the batch axis it is {one} for a batch of 1 and {two} "
            f"for a batch of 2 (it compares the samples of a batch with each other, as image x text logits do), so "
            f"no {view} can be read off it. Layers before it (each tower's embeddings) have a row per sample."
        )

    def left_out(self) -> LeftOut:
        """The explored samples every aggregate leaves out for this version: NaN or Inf in their inputs or labels
        (found once, by :func:`~nbviz.compute.data.dataset.check_data`) or in their first output (read from the
        outputs over the data when a tab holds them, else from one streamed pass that keeps a bool per sample)."""

        def compute() -> LeftOut:
            held = self.memo.peek((self.version, "first output over data"))
            if held is not None:
                return left_out(self.data.nonfinite, finite_rows([held]))
            finite = np.ones(self.data.n_samples, bool)
            for start, out in output_chunks(self.probe, self.data.x):
                finite[start : start + len(out)] = finite_rows([out])
            return left_out(self.data.nonfinite, finite)

        return self._ask(("left out",), compute)

    def outputs_note(self, sample: int) -> str:
        """A line for every tab ('' for none): that the model's output is NaN or Inf for every sample, or for
        this one (which every aggregate then leaves out). The data is checked only when this sample's own
        output is not finite, so a healthy model pays nothing for it."""
        out = np.asarray(self.output(sample))
        if out.dtype.kind not in "fc" or np.isfinite(out).all():
            return ""
        gone = self.left_out()
        if gone.outputs_nonfinite:
            return gone.outputs_text()
        return f"Sample {sample}'s output holds NaN or Inf: every view over the data leaves it out ({gone.note()})."

    def detections(self, sample: int) -> tuple[Boxes, Boxes | None]:
        """An object detector's boxes for one sample (decoded by the model itself, from the compiled pass's
        outputs), and the boxes of its own targets (None without them)."""
        sample = self.data.check_sample(sample)
        image = self.data.x[0][sample]

        def compute() -> Boxes:
            acts = self.activations(sample)
            outputs = self.probe.structured_outputs([acts[name] for name in self.probe.output_names])
            return detections(self.model, outputs, image)

        found = self._ask(("detections", sample), compute)
        targets = None if self.data.own_targets is None else self.data.loss_targets(sample)
        return found, None if targets is None else target_boxes(self.model, targets, image.shape[:2])

    def _detection_prediction(self, sample: int) -> Prediction:
        found, truth = self.detections(sample)
        name = self.policy.class_name

        def listing(boxes: Boxes) -> str:
            scores = boxes.scores if boxes.scores is not None else [None] * len(boxes.classes)
            listed = list(zip(boxes.classes, scores))[:LISTED_BOXES]  # the picture shows more
            shown = [name(int(k)) + ("" if s is None else f" ({s:.0%})") for k, s in listed]
            more = f", and {boxes.count - len(shown)} more" if boxes.count > len(shown) else ""
            return (
                f"{boxes.count} box{'es' if boxes.count != 1 else ''}"
                + (": " + ", ".join(shown) if shown else "")
                + more
            )

        predicted = listing(found) if found.count else "no box above the detector's threshold"
        if found.class_scores is not None:
            top = np.argsort(-found.class_scores, kind="stable")[:5]
            predicted += "; top score per class: " + ", ".join(
                f"{name(int(k))} ({found.class_scores[k]:.0%})" for k in top
            )
        label = None if truth is None else WITHHELD if self.hidden_labels else listing(truth)
        return Prediction(False, predicted, None, label, None, None)

    def prediction(self, sample: int) -> Prediction:
        """What the model predicts for one sample, next to its label."""
        if is_detector(self.model):
            return self._detection_prediction(sample)
        out = self.output(sample)
        label = None if self.data.y is None else self.data.y[0][sample]
        if self.probe.output_kinds[0] == "map":
            return self._map_prediction(out, label)
        if self.data.is_classifier and out.ndim > 1:
            return self._sequence_prediction(sample, out, label)
        out = self.probe.probabilities(out)  # logits as probabilities
        if self.data.is_classifier:
            probs = out if out.shape[-1] > 1 else np.array([1 - out[0], out[0]])
            k = int(np.argmax(probs))
            given = None if label is None else np.asarray(label).ravel()[0]
            # A NaN label (left out of every aggregate) is shown as it is, and judges nothing.
            truth = None if given is None or not np.isfinite(given) else int(given)
            shown = None if given is None else self.policy.class_name(truth) if truth is not None else str(given)
            return Prediction(
                True,
                self.policy.class_name(k),
                float(probs[k]),
                WITHHELD if self.hidden_labels and shown is not None else shown,
                None if truth is None else truth == k,
                k,
            )
        target = None if label is None else WITHHELD if self.hidden_labels else str(np.round(label, 4))
        return Prediction(False, str(np.round(out, 4)), None, target, None, None)

    def _sequence_prediction(self, sample: int, out: np.ndarray, label: np.ndarray | None) -> Prediction:
        """A class per position (a language model's next tokens): the classes at the real positions as text,
        their mean probability as the confidence, and the share that equals the labels."""
        top, top_p = self.probe.top_classes(out.reshape(-1, out.shape[-1]))
        mask = self.data.padding_mask(len(top))
        real = np.ones(len(top), bool) if mask is None else mask[sample]
        classes = top[real]
        confidence = float(np.mean(top_p[real])) if real.any() else 0.0

        # A language model's classes are the vocabulary's tokens (as ids in redact mode, where text is raw input).
        words = self.policy.vocabulary
        as_words = not (self.policy.redact or self.policy.class_names) and len(words) == out.shape[-1]
        name = (lambda k: words[k]) if as_words else self.policy.class_name

        def text(indices: np.ndarray, most: int = 12) -> str:
            shown = " ".join(name(int(k)) for k in indices[:most])
            return shown + (f" ... ({len(indices)} positions)" if len(indices) > most else "")

        if label is None:
            return Prediction(True, text(classes), confidence, None, None, None)
        truth = np.asarray(label).reshape(-1)[real]
        share = float(np.mean(truth == classes)) if len(truth) else 0.0
        said = WITHHELD if self.hidden_labels else text(truth)  # a causal LM's labels are its input shifted
        label_text = f"{said} ({share:.0%} of positions predicted right)"
        return Prediction(True, text(classes), confidence, label_text, None, None)

    def _pixel_classes(self, out: np.ndarray) -> np.ndarray:
        """A class per pixel of an image-shaped classifier output (h, w, ..., k): the most probable."""
        probs = self.probe.probabilities(out)
        return probs.argmax(axis=-1) if probs.shape[-1] > 1 else (probs[..., 0] > 0.5).astype(np.int64)

    def _map_prediction(self, out: np.ndarray, label: np.ndarray | None) -> Prediction:
        """An image-shaped output, summarised in words (the sample view draws it next to the input)."""
        if self.data.is_classifier:  # a class per pixel (a segmenter's): the classes and the share right
            classes = self._pixel_classes(out)
            counts = np.bincount(classes.ravel())
            top = int(np.argmax(counts))
            where = " x ".join(str(d) for d in classes.shape)
            share = counts[top] / classes.size
            predicted = f"a class per pixel ({where}), most often {self.policy.class_name(top)} ({share:.0%})"
            if label is None:
                return Prediction(False, predicted, None, None, None, None)
            right = float(np.mean(classes == np.asarray(label).reshape(classes.shape)))
            text = WITHHELD if self.hidden_labels else f"a class per pixel: {right:.1%} of pixels predicted right"
            return Prediction(False, predicted, None, text, None, None)
        shape = " x ".join(str(d) for d in out.shape)
        predicted = f"an image ({shape}), values {float(np.min(out)):.3g} to {float(np.max(out)):.3g}"
        if label is None:
            return Prediction(False, predicted, None, None, None, None)
        error = _map_error(out, label)
        target = "the input" if self.data.reconstruction else "the target image"
        text = f"{target}: mean |error| {float(np.mean(error)):.3g}" if error is not None else target
        return Prediction(False, predicted, None, text, None, None)

    def sample_display(self, sample: int) -> SampleDisplay:
        """The sample as the sample view shows it (nothing of it in redact mode but the prediction)."""
        prediction = self.prediction(sample)
        x = self.data.x[0][sample]
        if self.policy.redact:
            return SampleDisplay("hidden", np.zeros(0, np.float32), (), 0.0, 1.0, prediction)
        if self.data.as_table:
            inputs = self._inputs_by_name()
            shown = {name for t in token_inputs(inputs) for name in (t, t.replace("token_ids", "padding_mask"))}
            tokens = tuple((t, self.sample_tokens(sample, t)) for t in token_inputs(inputs))
            # A token input is shown as its tokens (padding hidden), so its ids and padding mask are not repeated.
            rows = tuple((name, value_text(a[sample])) for name, a in inputs.items() if name not in shown)
            return SampleDisplay("table", np.zeros(0, np.float32), (), 0.0, 1.0, prediction, rows, tokens=tokens)
        output, error = self._output_pictures(sample)
        if x.ndim == 1:
            mean, std = self._ask(("feature scale",), self._feature_scale, versioned=False)
            z = ((x - mean) / std).astype(np.float32)
            labels = tuple(feature_labels(self.data.feature_names, x.shape))
            return SampleDisplay("bars", z, labels, 0, 1, prediction, output=output, error=error)
        image = grey_picture(x, SAMPLE_CELLS)
        boxes = self._boxes_shown(sample, image.values.shape[0] / x.shape[0]) if is_detector(self.model) else ()
        titles = ("classes", "wrong pixels") if self.data.is_classifier else ("output", "|error|")
        return SampleDisplay(
            "image", image.values, (), image.vmin, image.vmax, prediction, output=output, error=error, boxes=boxes,
            output_titles=titles,
        )  # fmt: skip

    def _boxes_shown(self, sample: int, scale: float) -> tuple[tuple[str, np.ndarray, tuple[str, ...]], ...]:
        """A detector's boxes and its targets' as the sample view outlines them: ("predicted" or "target", corners
        in the picture's cells (a cell spans ``1 / scale`` pixels; cell centres at 0, 1, ...), a text per box)."""
        found, truth = self.detections(sample)
        shown = []
        for kind, boxes in (("target", truth), ("predicted", found)):
            if boxes is None or not len(boxes.classes):
                continue
            scores = boxes.scores if boxes.scores is not None else [None] * len(boxes.classes)
            texts = tuple(
                self.policy.class_name(int(k)) + ("" if p is None else f" ({p:.0%})")
                for k, p in zip(boxes.classes, scores)
            )
            shown.append((kind, boxes.corners * scale - 0.5, texts))
        return tuple(shown)

    # ----------------------------------------------------------------------------------------- tokens
    def _inputs_by_name(self) -> dict[str, np.ndarray]:
        return dict(zip(self.data.input_names, self.data.x))

    def token_input(self, length: int, layer: str = "") -> str | None:
        """The token input whose sequences have ``length`` positions (for an encoder-decoder model where both
        fit, the encoder's for a ``layer`` named as an encoder's, else the decoder's); None without one."""
        inputs = self._inputs_by_name()
        fits = [k for k in token_inputs(inputs) if inputs[k].shape[1] == length]
        prefer = "encoder" if "encoder" in layer else "decoder"
        return next((k for k in fits if prefer in k), fits[0] if fits else None)

    def real_positions(self, sample: int, token_input: str) -> np.ndarray:
        """The positions of a token input that hold real tokens (its padding mask's; every one without)."""
        inputs = self._inputs_by_name()
        mask = padding_of(inputs, token_input)
        return np.arange(inputs[token_input].shape[1]) if mask is None else np.flatnonzero(mask[sample])

    def token_labels(self, sample: int, positions: np.ndarray, length: int, layer: str = "") -> tuple[str, ...]:
        """A label per position of a sequence of ``length``: the token's text where a token input of that length
        exists (its id without a vocabulary), else the position; positions only in redact mode."""
        name = self.token_input(length, layer)
        ids = None if name is None else self._inputs_by_name()[name][sample, positions]
        return self.policy.token_labels(ids, positions)

    def sample_tokens(self, sample: int, token_input: str) -> tuple[str, ...]:
        """The real tokens of one sample's token input, as text."""
        positions = self.real_positions(sample, token_input)
        return self.policy.token_labels(self._inputs_by_name()[token_input][sample, positions], positions)

    def _output_pictures(self, sample: int) -> tuple[Picture | None, Picture | None]:
        """An image-shaped output as a picture, and |output - target| per pixel where there is a target."""
        if self.probe.output_kinds[0] != "map":
            return None, None
        out = self.output(sample)
        label = None if self.data.y is None else self.data.y[0][sample]
        if self.data.is_classifier:  # a class per pixel: the predicted classes, and 1 where they are wrong
            classes = self._pixel_classes(out)
            picture = grey_picture(classes[..., np.newaxis].astype(np.float32), SAMPLE_CELLS)
            if label is None:
                return picture, None
            wrong = (classes != np.asarray(label).reshape(classes.shape)).astype(np.float32)
            return picture, grey_picture(wrong[..., np.newaxis], SAMPLE_CELLS)
        diff = None if label is None else _map_error(out, label)
        return grey_picture(out, SAMPLE_CELLS), None if diff is None else grey_picture(diff, SAMPLE_CELLS)

    def _feature_scale(self) -> tuple[np.ndarray, np.ndarray]:
        x = self.data.x[0]
        finite = np.where(np.isfinite(x), x, np.nan)
        std = np.nanstd(finite, axis=0)
        return np.nanmean(finite, axis=0), np.where(std > 0, std, 1.0)

    # ----------------------------------------------------------------------------------------- layers
    def first_layer(self) -> str:
        """The layer to open on: the first with weights (an input layer has nothing to show in most tabs)."""
        return next((n.name for n in self.graph.nodes if n.has_weights), self.graph.names[0])

    def layer_weights(self, layer: str, index: int = 0) -> LayerWeights:
        """A layer's weight tensors, and tensor ``index`` (kept in range) as a heatmap and histogram."""
        variables = list(self.probe.layers[layer].weights)
        names = tuple(weight_name(v, i, self.probe.layers[layer]) for i, v in enumerate(variables))
        if not variables:
            return LayerWeights(layer, self.nodes[layer].class_name, names, None)
        index = index if 0 <= index < len(variables) else 0

        def compute() -> LayerWeights:
            tensor = tensor_display(names[index], np.asarray(variables[index].numpy()), self.policy.max_cells)
            return LayerWeights(layer, self.nodes[layer].class_name, names, tensor)

        return self._ask(("weights", layer, index), compute)

    def layer_activation(self, layer: str, sample: int) -> LayerActivation | Unavailable:
        """A layer's output for one sample as bars or a (tiled) heatmap; withheld in redact mode when it passes
        the raw input on."""
        node = self.nodes[layer]
        acts = self.activations(sample)
        if layer not in acts:
            return Unavailable(_unrecorded(node))
        output = acts[layer][0]
        shape = tuple(int(d) for d in output.shape)
        if layer in self.hidden_layers:
            return LayerActivation(layer, shape, None, None, True, None)
        bars = output.ndim <= 1
        view = activation_view(
            output, max_cells=min(self.policy.max_cells, MAX_BARS) if bars else self.policy.max_cells
        )
        labels = self.data.feature_names if node.is_input and node.parent is None else None
        dead = self.dead_units().get(layer) if node.activation == "relu" else None
        return LayerActivation(layer, shape, view, labels, False, dead)

    @question
    def dead_units(self) -> dict[str, DeadUnits]:
        """Units that never output more than 0 over the first samples of x, for every layer with units.

        One streamed pass: each chunk of samples is reduced at once, so memory stays at one chunk. At most 256
        samples, fewer when one sample's activations are large (about 256 MB in all; at least 8 samples). Samples
        whose inputs, labels or output hold NaN or Inf are left out (each answer's ``note`` says how many).
        """
        per_sample = max(1, sum(a.nbytes for a in self.activations(0).values()))
        n = min(self.data.n_samples, self.dead_unit_samples, max(8, self.dead_unit_bytes // per_sample))
        chunk = max(1, min(n, self.dead_unit_bytes // (4 * per_sample)))
        why = np.zeros(n, np.int8) if self.data.nonfinite is None else np.array(self.data.nonfinite[:n])
        dead = self._dead_units_over(n, chunk, why, by_outputs=True)
        if not dead and (why == OUTPUTS).any():
            # The output is NaN or Inf for every sample: the layers before it are read without that test (the
            # every-tab note says it), so that a unit dead before the NaN is still seen.
            why[why == OUTPUTS] = KEPT
            dead = self._dead_units_over(n, chunk, why, by_outputs=False)
        note = LeftOut(why, -1).note()
        return {name: replace(d, note=note) for name, d in dead.items()} if note else dead

    def _dead_units_over(self, n: int, chunk: int, why: np.ndarray, by_outputs: bool) -> dict[str, DeadUnits]:
        """Dead units over the first ``n`` samples, ``chunk`` at a time, leaving out the samples ``why`` marks (int8
        (n,), see :mod:`nbviz.compute.data.nonfinite`) and, ``by_outputs``, those whose output holds NaN or Inf (marked
        in ``why`` as they are found): NaN is never <= 0, so one such sample would make every unit it reaches look
        alive."""
        dead: dict[str, DeadUnits] = {}
        output = self.probe.output_names[0]
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            acts = self.probe.activations([a[start:stop] for a in self.data.x])
            if by_outputs and output in acts:
                why[start:stop][(why[start:stop] == KEPT) & ~finite_rows([acts[output]])] = OUTPUTS
            keep = why[start:stop] == KEPT
            if not keep.any():
                continue
            for name, a in acts.items():
                if a.ndim < 2:
                    continue
                # (A layer without a row per sample, a position embedding's table, has nothing to leave out.)
                a = a if keep.all() or len(a) != len(keep) else a[keep]
                mask = self.data.padding_mask(a.shape[1], name) if a.ndim >= 3 else None
                if mask is not None:
                    # Padding tokens do not count (their units may rest): the real tokens of the chunk as one
                    # batch, counted as the chunk's samples.
                    before = dead.get(name)
                    part = dead_units(a[mask[start:stop][keep]][np.newaxis], previous=before)
                    seen = (before.n_samples if before else 0) + int(keep.sum())
                    dead[name] = DeadUnits(part.dead, part.share, seen)
                else:
                    dead[name] = dead_units(a, previous=dead.get(name))
        return dead

    def layer_gradients(self, layer: str, sample: int, index: int = 0) -> LayerGradients | Unavailable:
        """d target / d a layer's output and d target / d its weight ``index``, for one sample.

        The gradients tab shows three heatmaps, so they share the cell budget of one: an eighth for the output
        and the input saliency each, half for the weight.
        """
        grads = self.gradients(sample)
        if layer not in grads.outputs:
            return Unavailable(_unrecorded(self.nodes[layer]))
        target = self.gradient_target
        small = max(16, self.policy.max_cells // 8)
        undefined = layer in grads.undefined
        output = None if undefined else activation_view(grads.outputs[layer][0], max_cells=small)
        variables = list(self.probe.layers[layer].weights)
        names = tuple(weight_name(v, i, self.probe.layers[layer]) for i, v in enumerate(variables))
        if not variables:
            return LayerGradients(layer, target, output, names, None, False)
        index = index if 0 <= index < len(variables) else 0
        if f"{layer}#{index}" in grads.undefined:
            return LayerGradients(layer, target, output, names, None, True)
        tensor = grads.weights[layer][index]
        weight = tensor_display(f"d {target} / d {names[index]}", tensor, max(16, self.policy.max_cells // 2))
        return LayerGradients(layer, target, output, names, weight, False)

    @property
    def learning_layers(self) -> tuple[str, ...]:
        """Layers with trainable weights of their own, in graph order: those a gradient norm is taken of (the
        probe's answer, read now: a layer frozen since is left out)."""
        return tuple(self.probe.learning_layers())

    def sample_gradients(self, sample: int) -> SampleGradients:
        """The input saliency of one sample and the gradient norm of every layer that learns."""
        grads = self.gradients(sample)
        first = grads.inputs[0] if isinstance(grads.inputs, list) else grads.inputs
        saliency_view = None
        if "input#0" not in grads.undefined:
            saliency_view = activation_view(first[0], max_cells=max(16, self.policy.max_cells // 8))
        norms_by_layer = self.probe.gradient_norms(grads)
        layers = self.learning_layers
        norms = np.array([norms_by_layer.get(name, np.nan) for name in layers], np.float64)
        return SampleGradients(
            self.gradient_target,
            saliency_view,
            self.data.feature_names,
            layers,
            norms,
            log10_norms(norms),
            self.loss_text,
        )


def _map_error(out: np.ndarray, target: np.ndarray) -> np.ndarray | None:
    """|output - target| per pixel, the target read in the output's shape (None when it has another size)."""
    target = np.asarray(target, np.float32)
    if target.size != out.size:
        return None
    return np.abs(out.astype(np.float32) - target.reshape(out.shape))


def value_text(value: np.ndarray, most: int = 16) -> str:
    """One input of one sample as text: a string, a number, or the first ``most`` values of an array."""
    flat = np.ravel(value)
    if flat.size == 1:
        v = flat[0]
        return str(v) if isinstance(v, str) else f"{v:.4g}" if np.issubdtype(flat.dtype, np.floating) else str(v)
    shown = " ".join(str(v) if not isinstance(v, float) else f"{v:.3g}" for v in flat[:most].tolist())
    shape = " x ".join(str(d) for d in np.shape(value))
    return f"({shape}) {shown}" + (" ..." if flat.size > most else "")


def _unrecorded(node: LayerNode) -> str:
    """Why a layer's output has no numbers to show."""
    if node.is_input:
        return f"{node.name} is a text input: its values are strings, shown in the sample view."
    return (
        f"{node.name} ({node.class_name}) outputs no numbers that nbviz recorded (strings, or a layer that is "
        "never called on this path)."
    )


def weight_name(variable: Any, index: int, layer: Any = None) -> str:
    """A weight's name in its layer: 'kernel', 'bias', 'gamma'..., or its path inside the layer where it belongs
    to a layer within ('multi_head_attention/query/kernel' in a custom block), from Keras's variable path."""
    path = str(getattr(variable, "path", "") or "")
    prefix = f"{getattr(layer, 'path', '')}/"
    if layer is not None and path.startswith(prefix) and "/" in path[len(prefix) :]:
        return path[len(prefix) :]
    name = str(getattr(variable, "name", "") or f"w{index}")
    return name.split("/")[-1].split(":")[0]
