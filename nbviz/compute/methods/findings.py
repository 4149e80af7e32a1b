"""Automatic health checks: what is wrong with a model, where, how badly, and which Explorer tab shows it.

Every check reads a figure (a share of units, a gradient norm, an accuracy gap) and compares it with the
thresholds below; a healthy trained model should pass them all without a warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from .._arrays import is_int, one_or_list
from ..data.dataset import check_data
from ..data.nonfinite import KEPT, NothingFinite, finite_rows
from ..model.graph import activation_of
from ..model.probe import Gradients, Probe, probe_for
from .diagnostics import DatasetReport, diagnose
from .display import dead_units

__all__ = ["Finding", "findings", "plural"]

# Dead ReLU units: never > 0 on any sample and real (not padding) position, as display.dead_units counts them.
# Small trained nets often leave a third of a layer unused (the demo CNN: 34% of its dense layer over 256
# samples), so a layer is only reported from 40% on.
DEAD_INFO, DEAD_WARNING, DEAD_CRITICAL = 0.4, 0.5, 0.9
# Saturated sigmoid/tanh units: in the flat part (|tanh| > 0.99, sigmoid outside [0.01, 0.99]) on at least
# SATURATED_SAMPLES of the samples; a layer is rated by its share of such units, like dead units.
SATURATED_TANH, SATURATED_SIGMOID, SATURATED_SAMPLES = 0.99, 0.01, 0.9
SATURATED_INFO, SATURATED_WARNING, SATURATED_CRITICAL = 0.4, 0.5, 0.9
# Gradient norm of the loss per layer (its trainable weights): relative to the median over layers, or absolute.
VANISHING_RATIO, VANISHING_ABSOLUTE = 1e-3, 1e-7
EXPLODING_RATIO, EXPLODING_ABSOLUTE = 1e3, 1e3
# A norm below this never explodes, however small the median: ConvNeXtTiny at random initialisation (its
# LayerScale multiplies each block's branch by 1e-6) has a median of 2.2e-05 and its stem and downsampling
# convolutions at 26 and 33, as they should be. Gradients are taken in training mode, as fit takes them:
# in inference mode BatchNorm's initial statistics left MobileNetV3Small's norms at 7e-16 to 0.14.
EXPLODING_FLOOR = 100.0
GRADIENT_CRITICAL_FACTOR = 1e3  # critical when a further factor of 1000 past a gradient threshold
# Overfitting: accuracy on the "train" set minus accuracy on another set; for regression, the ratio of mse.
OVERFIT_GAP_WARNING, OVERFIT_GAP_CRITICAL = 0.1, 0.25
OVERFIT_RATIO_WARNING, OVERFIT_RATIO_CRITICAL = 2.0, 5.0
# Error concentration: one true class collects this share of the errors (of at least ERRORS_MIN errors) and at
# least ERRORS_LIFT times its share of the samples (with two classes one always holds half, which says nothing).
ERRORS_SHARE, ERRORS_MIN, ERRORS_LIFT, ERRORS_WARNING = 0.5, 10, 1.5, 0.75

_SEVERITY_RANK = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Finding:
    """One problem found, with the figure that shows it.

    Attributes
    ----------
    kind : "dead_units", "saturated_units", "vanishing_gradients", "exploding_gradients", "nonfinite_weights",
        "nonfinite_activations", "overfitting", "error_concentration" or "no_loss_known" (a model with its own
        ``train_step`` and no compiled loss: its gradients are not judged against a guessed loss).
    layer : qualified layer name, or None for a model-wide finding.
    severity : "info", "warning" or "critical".
    message : one sentence naming the layer or class and quoting ``value``, with its final full stop.
    value : the evidence figure: a share of units, samples or errors, a gradient norm, a count of non-finite
        weights, an accuracy gap or an mse ratio.
    panel : the Explorer tab that shows it: "activations", "gradients", "weights" or "diagnostics".
    class_name : the class an error concentration is about, else None.
    """

    kind: str
    layer: str | None
    severity: str
    message: str
    value: float
    panel: str
    class_name: str | None = None


def findings(
    model: keras.Model,
    x: Any,
    y: Any = None,
    *,
    datasets: Mapping[str, tuple[Any, Any]] | None = None,
    class_names: Any = None,
    probe: Probe | None = None,
    limit: int = 256,
    loss: Any = None,
    max_samples: int | None = None,
) -> list[Finding]:
    """Run every health check on ``model``.

    ``x`` and ``y`` are what :func:`nbviz.explore` takes (arrays, dicts, a ``tf.data.Dataset`` read as far as
    ``max_samples``, class names with ``class_names``; an autoencoder without ``y`` is judged against its
    input), and ``loss`` a loss of the model's own, as there. Activations and gradients use the first
    ``limit`` samples (gradients of the loss need ``y`` for a regression model, and use a classifier's own
    predictions without it); gradient health is judged with the model in training mode, as ``fit`` runs it
    (BatchNorm on batch statistics), without changing it. Error concentration uses all of ``(x, y)`` when
    ``y`` is given, else every set of ``datasets`` but "train". Overfitting compares ``datasets["train"]``
    with each other named set.

    Returns
    -------
    list of Finding
        Most severe first (critical, warning, info); an empty list for a healthy model.
    """
    probe = probe_for(model, probe)
    model = probe.model  # loaded, when model was the path of a .keras file
    if not is_int(limit) or limit < 1:
        raise ValueError(f"limit: expected a positive int, got {limit!r}")
    if datasets is not None and (not isinstance(datasets, Mapping) or not datasets):
        raise TypeError(f"datasets: expected a non-empty dict of name -> (x, y), got {type(datasets).__name__}")
    data = check_data(probe, x, y, class_names=class_names, max_samples=max_samples, loss=loss)
    inputs, targets = data.x, data.y
    batch = [a[:limit] for a in inputs]
    xb = one_or_list(batch)
    acts = probe.activations(xb)
    # Samples whose inputs, labels or output hold NaN or Inf are found out loud ("nonfinite_activations") and
    # left out of the other checks: NaN is never <= 0, so one such sample would hide every dead unit it reaches.
    keep = np.ones(len(batch[0]), bool) if data.nonfinite is None else data.nonfinite[:limit] == KEPT
    if probe.output_names[0] in acts:
        finite = finite_rows([acts[probe.output_names[0]]])
        # (When no output is finite, the layers are read without that test: a unit dead before the NaN is news.)
        keep &= finite if finite.any() else keep
    real = {}  # padding masks (samples of the batch, positions) per layer of a token model, as the Explorer's
    for name, a in acts.items():
        mask = data.padding_mask(a.shape[1], name) if a.ndim >= 3 and len(a) == len(batch[0]) else None
        if mask is not None:
            real[name] = mask[:limit]
    found = _weight_checks(probe) + _activation_checks(probe, acts, keep, real)
    source = probe.loss_source(loss)
    if source == "unknown":  # no guessed loss: gradient health of another loss than fit's would mislead
        message = f"{probe.loss_name(loss)}; its gradients are not judged."
        found.append(Finding("no_loss_known", None, "info", message[0].upper() + message[1:], 0.0, "gradients"))
    elif (targets is not None or data.is_classifier or source in ("given", "added")) and keep.any():
        yb = None if targets is None else [t[:limit][keep] for t in targets]
        weights = None if data.weights is None else data.weights[:limit][keep]
        xb = one_or_list([a[keep] for a in batch])
        grads = probe.gradients(
            xb, None if yb is None else one_or_list(yb), sample_weight=weights, loss=loss, training=True
        )
        found += _gradient_checks(probe, grads)
    try:
        if datasets is not None:
            found += _overfitting(diagnose(model, datasets, class_names, probe))
        if data.is_classifier:
            if targets is not None:
                pair = (one_or_list(inputs), one_or_list(targets))
                found += _error_concentration(diagnose(model, {"x": pair}, class_names, probe)["x"])
            elif datasets is not None:
                others = {k: v for k, v in datasets.items() if str(k).lower() != "train"}
                for report in diagnose(model, others, class_names, probe).values() if others else []:
                    found += _error_concentration(report)
    except NothingFinite:
        pass  # a dataset whose every sample holds NaN or Inf has no accuracy: "nonfinite_activations" says why
    return sorted(found, key=lambda f: _SEVERITY_RANK[f.severity])  # stable: check order within a severity


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``count`` and ``noun``, in the plural unless the count is 1: "1 sample", "64 samples"."""
    return f"{count:,} {noun if count == 1 else many or noun + 's'}"


def _rate(share: float, info: float, warning: float, critical: float) -> str | None:
    if share >= critical:
        return "critical"
    if share >= warning:
        return "warning"
    return "info" if share >= info else None


def _layers(probe: Probe) -> dict[str, Any]:
    """Layers that hold their own computation: nested models are left out (their inner layers are checked)."""
    return {k: v for k, v in probe.layers.items() if k not in probe.holders}


def _weight_checks(probe: Probe) -> list[Finding]:
    found, seen = [], set()
    for name, layer in _layers(probe).items():
        if id(layer) in seen or not layer.weights:
            continue
        seen.add(id(layer))
        values = [np.asarray(w.numpy()) for w in layer.weights]
        bad, total = sum(int(np.sum(~np.isfinite(v))) for v in values), sum(v.size for v in values)
        if bad:
            message = f"{name}: {bad:,} of {plural(total, 'weight')} {'is' if bad == 1 else 'are'} NaN or Inf."
            found.append(Finding("nonfinite_weights", name, "critical", message, float(bad), "weights"))
    return found


def _activation_checks(
    probe: Probe, acts: dict[str, np.ndarray], keep: np.ndarray, real: Mapping[str, np.ndarray] | None = None
) -> list[Finding]:
    """Non-finite outputs over every sample; dead and saturated units over the samples ``keep`` says (bool (n,))
    and, for a layer ``real`` has a padding mask of (samples, positions) for, its real positions only."""
    found: list[Finding] = []
    layers = _layers(probe)
    nonfinite = [k for k, a in acts.items() if a.size and not np.all(np.isfinite(a))]
    if nonfinite:  # only the first: every layer after it inherits the NaN, the first is where it starts
        first, a = nonfinite[0], acts[nonfinite[0]]
        hit = int(np.sum(~np.isfinite(a.reshape(len(a), -1)).all(axis=1)))
        share = hit / len(a)
        more = len(nonfinite) - 1
        later = f" (and {more} later layer{'s' if more > 1 else ''})" if more else ""
        message = f"{first}: outputs NaN or Inf for {share:.0%} of {plural(len(a), 'sample')}{later}."
        found.append(Finding("nonfinite_activations", first, "critical", message, share, "activations"))
    for name, a in acts.items():
        layer = layers.get(name)
        if layer is None or a.ndim < 2 or a.size == 0 or name in probe.output_names:
            continue  # a sigmoid output layer is supposed to be confident, so outputs are not checked
        mask = (real or {}).get(name)
        if len(a) == len(keep) and not keep.all():
            if not keep.any():
                continue
            a, mask = a[keep], None if mask is None else mask[keep]
        kind = activation_of(layer)
        # Samples and real positions alike are occurrences of a unit (padding positions are not: their units rest).
        units = (a if mask is None else a[mask]).reshape(-1, a.shape[-1])
        samples = plural(len(a), "sample")
        if kind == "relu":
            dead = dead_units(a, mask=mask)  # the one definition, which the activations tab counts with too
            share = dead.share
            severity = _rate(share, DEAD_INFO, DEAD_WARNING, DEAD_CRITICAL)
            verb = "never activates" if a.shape[-1] == 1 else "never activate"
            what = f"{share:.0%} of {plural(a.shape[-1], 'ReLU unit')} {verb} on {samples}."
            check = ("dead_units", severity)
        elif kind in ("tanh", "sigmoid"):
            flat = np.abs(units) > SATURATED_TANH if kind == "tanh" else np.abs(units - 0.5) > 0.5 - SATURATED_SIGMOID
            saturated = flat.mean(axis=0) >= SATURATED_SAMPLES
            share = float(np.mean(saturated))
            severity = _rate(share, SATURATED_INFO, SATURATED_WARNING, SATURATED_CRITICAL)
            verb = "is" if a.shape[-1] == 1 else "are"
            when = f"on {SATURATED_SAMPLES:.0%} or more of {samples}"
            what = f"{share:.0%} of {plural(a.shape[-1], kind + ' unit')} {verb} saturated {when}."
            check = ("saturated_units", severity)
        else:
            continue
        if severity is not None:
            found.append(Finding(check[0], name, severity, f"{name}: {what}", share, "activations"))
    return found


def _gradient_checks(probe: Probe, grads: Gradients) -> list[Finding]:
    # A layer with no trainable weights (Normalization, pooling) has nothing to learn, and no norm.
    norms = probe.gradient_norms(grads)
    finite = {name: v for name, v in norms.items() if np.isfinite(v)}  # NaN norms are reported by the NaN checks
    if not finite:
        return []
    median = float(np.median(list(finite.values())))
    # Either test suffices: below the larger of the two lower bounds, or above the smaller upper bound (never below
    # the floor). A median of 0 (most layers get no gradient) says nothing of the rest: only the absolute bound then.
    low = max(VANISHING_RATIO * median, VANISHING_ABSOLUTE)
    relative = max(EXPLODING_RATIO * median, EXPLODING_FLOOR) if median > 0 else EXPLODING_ABSOLUTE
    high = min(relative, EXPLODING_ABSOLUTE)
    exploding = {name: v for name, v in finite.items() if v > high}
    # One diagnosis per model: when layers explode the median is pulled up and sane layers would look vanishing.
    if exploding:
        kind, flagged = "exploding_gradients", exploding
        critical = {name for name, v in exploding.items() if v > high * GRADIENT_CRITICAL_FACTOR}
    else:
        kind, flagged = "vanishing_gradients", {name: v for name, v in finite.items() if v < low}
        critical = {name for name, v in flagged.items() if v < low / GRADIENT_CRITICAL_FACTOR}
    found = []
    for name, norm in flagged.items():
        over = plural(len(finite), "layer")
        message = f"{name}: gradient norm {norm:.2g} against a median of {median:.2g} over {over}."
        severity = "critical" if name in critical else "warning"
        found.append(Finding(kind, name, severity, message, norm, "gradients"))
    return found


def _overfitting(reports: dict[str, DatasetReport]) -> list[Finding]:
    train = next((r for k, r in reports.items() if k.lower() == "train"), None)
    if train is None:
        return []
    found = []
    for name, other in reports.items():
        if other is train:
            continue
        if train.task == "classification":
            gap = train.metrics["accuracy"] - other.metrics["accuracy"]
            severity = _rate(gap, OVERFIT_GAP_WARNING, OVERFIT_GAP_WARNING, OVERFIT_GAP_CRITICAL)
            what = f"accuracy {train.metrics['accuracy']:.0%} on train but {other.metrics['accuracy']:.0%} on {name}"
            message, value = f"overfitting: {what} (gap {gap:.0%}).", gap
        else:
            ratio = other.metrics["mse"] / train.metrics["mse"] if train.metrics["mse"] > 0 else float("inf")
            severity = _rate(ratio, OVERFIT_RATIO_WARNING, OVERFIT_RATIO_WARNING, OVERFIT_RATIO_CRITICAL)
            message, value = f"overfitting: mse on {name} is {ratio:.1f}x the mse on train.", ratio
        if severity is not None:
            found.append(Finding("overfitting", None, severity, message, float(value), "diagnostics"))
    return found


def _error_concentration(report: DatasetReport) -> list[Finding]:
    errors = ~report.correct
    if errors.sum() < ERRORS_MIN:
        return []
    k = len(report.class_names)
    per_class = np.bincount(report.true[errors], minlength=k)
    worst = int(np.argmax(per_class))
    share = float(per_class[worst] / errors.sum())
    sample_share = float(np.mean(report.true == worst))
    if share < ERRORS_SHARE or share < ERRORS_LIFT * sample_share:
        return []
    name = report.class_names[worst]
    severity = "warning" if share >= ERRORS_WARNING else "info"
    message = (
        f"Class {name!r} collects {share:.0%} of the {int(errors.sum()):,} errors on {report.name} "
        f"but is {sample_share:.0%} of its samples."
    )
    return [Finding("error_concentration", None, severity, message, share, "diagnostics", class_name=name)]
