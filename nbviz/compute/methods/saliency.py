"""Saliency maps through one Probe: gradient, SmoothGrad, integrated gradients, Grad-CAM and Grad-CAM++."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from .._arrays import frozen, is_int
from .._validate import as_inputs, check_model, input_specs
from ..data.redact import input_like_layers
from ..model.probe import Probe, probe_for
from .path_gradients import last, path_sums

METHODS = ("gradient", "smoothgrad", "integrated_gradients", "gradcam", "gradcam++")
_CAM = ("gradcam", "gradcam++")


def saliency(
    model: keras.Model,
    x: Any,
    method: str = "gradient",
    target: int | Any | None = None,
    layer: str | None = None,
    *,
    probe: Probe | None = None,
    samples: int = 25,
    noise: float = 0.15,
    steps: int = 64,
    baseline: Any = None,
) -> np.ndarray:
    """Saliency of one output unit per sample, by one of ``METHODS``.

    Parameters
    ----------
    model : keras.Model
        A built Keras 3 model with one float input; the first output holds the units (channels last).
    x : array-like
        Samples, batch first: (n, *input_shape).
    method : str
        "gradient" (d f_target / d x, signed), "smoothgrad" (the gradient averaged over noisy copies of x),
        "integrated_gradients" (see :func:`integrated_gradients`), "gradcam" or "gradcam++" (a heatmap over
        the grid of a layer with a 4-D output).
    target : int or array-like of n ints, optional
        The unit of the first output to explain, one for all samples or one per sample; default each sample's
        predicted class (argmax of the first output, summed over any axes between batch and units).
    layer : str, optional
        Grad-CAM only (ignored otherwise): a qualified layer name as in :class:`Probe`, e.g. "conv2" or
        "backbone/conv1", whose output is (n, h, w, c); default the last convolution (see :func:`cam_layers`).
    probe : Probe, optional
        A Probe of ``model`` to reuse (its compiled functions are traced once per input signature).
    samples, noise : int, float
        SmoothGrad: ``samples`` copies of x with Gaussian noise of std ``noise * (max - min)`` of each sample,
        drawn from ``np.random.default_rng(0)`` so that results are reproducible.
    steps : int
        Integrated gradients: points on the straight path from the baseline to x (midpoint rule).
    baseline : array-like, optional
        Integrated gradients: broadcastable to x's shape; default zeros.

    Returns
    -------
    np.ndarray
        Read-only float32: (n, *input_shape) for the gradient methods; (n, h, w) on the layer's own grid, ReLU'd
        and not resized, for the CAM methods.
    """
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"method: expected one of {list(METHODS)}, got {method!r}")
    probe, x = _prepare(model, x, probe, reach=method not in _CAM)
    targets = _targets(probe, x, target)
    if method == "gradient":
        out = _input_gradients(probe, x, targets)
    elif method == "smoothgrad":
        out = _smoothgrad(probe, x, targets, _count(samples, "samples"), _noise(noise))
    elif method == "integrated_gradients":
        out = _integrated(probe, x, targets, _baseline(baseline, x), _count(steps, "steps"))
    else:
        out = _gradcam(probe, x, targets, _cam_layer(probe, x, layer, method), plus=method == "gradcam++")
    return frozen(out, np.float32)


def integrated_gradients(
    model: keras.Model,
    x: Any,
    baseline: Any = None,
    target: int | Any | None = None,
    steps: int = 64,
    *,
    probe: Probe | None = None,
) -> np.ndarray:
    """Integrated gradients (Sundararajan et al. 2017) of output unit ``target`` for the samples ``x``.

    ``(x - baseline)`` times the mean of d f_target / d x at the midpoints of ``steps`` equal pieces of the
    straight path from ``baseline`` to ``x``. Attributions then sum, per sample, to about
    ``f(x)[target] - f(baseline)[target]`` (completeness); more steps, smaller error.

    Parameters
    ----------
    baseline : array-like, optional
        The reference input, broadcastable to x's shape (e.g. one sample); default zeros.
    target, steps, probe
        As in :func:`saliency`.

    Returns
    -------
    np.ndarray
        Read-only float32 attributions in x's shape, (n, *input_shape).
    """
    return saliency(model, x, "integrated_gradients", target, probe=probe, steps=steps, baseline=baseline)


# --------------------------------------------------------------------------------------------- checks
def _prepare(model: Any, x: Any, probe: Probe | None, reach: bool = True) -> tuple[Probe, np.ndarray]:
    """The probe and the one float input; ``reach``: checked that gradients reach it (the CAM methods
    differentiate a layer, not the input)."""
    probe = probe_for(check_model(model), probe)
    inputs = as_inputs(input_specs(model), x, "x")
    if len(inputs) != 1:
        raise ValueError(f"model: expected a model with one input for saliency, got {len(inputs)} inputs")
    if not np.issubdtype(inputs[0].dtype, np.floating):
        raise TypeError(f"model: expected a float input to differentiate, got an input of dtype {inputs[0].dtype}")
    if reach and not probe.reaches_input(inputs[0]):
        # Float token ids that feed an Embedding: noise or a path to a baseline would make ids that do not exist.
        raise ValueError(
            "model: expected an input that gradients reach, got one that does not (token ids feeding an embedding, "
            "or values cast to integers): saliency on it would be zero or undefined"
        )
    return probe, inputs[0]


def _summed_rows(probe: Probe, x: np.ndarray) -> np.ndarray:
    """The first output for ``x`` as (n, units), summed over any axes in between (as Probe's objective is)."""
    chunks = []
    for start in range(0, len(x), probe.batch_size):
        out = probe.first_output(x[start : start + probe.batch_size])
        chunks.append(
            out.reshape(len(out), -1, out.shape[-1]).sum(axis=1) if out.ndim > 2 else out.reshape(len(out), -1)
        )
    return np.concatenate(chunks)


def _targets(probe: Probe, x: np.ndarray, target: Any) -> np.ndarray:
    """One output unit per sample, int64 (n,)."""
    n = len(x)
    if target is None:
        return np.argmax(_summed_rows(probe, x), axis=1)
    arr = np.asarray(target)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer) or arr.ndim > 1:
        raise TypeError(f"target: expected an int or a 1-D array of ints, got {target!r}")
    if arr.ndim == 1 and len(arr) != n:
        raise ValueError(f"target: expected one unit per sample ({n}), got {len(arr)} units")
    shape = probe.output_shapes([x])[0]  # known per input signature: no forward pass to check a unit
    units = shape[-1] if len(shape) > 1 else 1
    if arr.size and (arr.min() < 0 or arr.max() >= units):
        raise ValueError(f"target: expected units in [0, {units}) of the first output, got {target!r}")
    return np.broadcast_to(arr, (n,)).astype(np.int64)


def _count(value: Any, name: str) -> int:
    if not is_int(value):
        raise TypeError(f"{name}: expected a positive int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return int(value)


def _noise(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"noise: expected a float, got {type(value).__name__} {value!r}")
    if not 0 <= value < np.inf:
        raise ValueError(f"noise: expected a finite float >= 0 (a fraction of each sample's range), got {value!r}")
    return float(value)


def _baseline(baseline: Any, x: np.ndarray) -> np.ndarray:
    if baseline is None:
        return np.zeros(x.shape)
    try:
        return np.broadcast_to(np.asarray(baseline, dtype=np.float64), x.shape)
    except (TypeError, ValueError):
        shape = getattr(baseline, "shape", type(baseline).__name__)
        raise ValueError(f"baseline: expected an array broadcastable to x's shape {x.shape}, got {shape}") from None


def cam_layers(probe: Probe, x: np.ndarray) -> tuple[list[str], str | None]:
    """The layers Grad-CAM can use on inputs like ``x``, and the one it uses by default.

    Usable: every recorded layer with an (n, h, w, c) output that is not an input (nested models' layers
    included). Default: the last convolution among them (as tf-keras-vis and the Grad-CAM paper use), else the
    last usable layer; None when there is none.
    """
    # The symbolic graph tells every layer's output shape where it fixes them; else one forward pass on one sample
    # (nested models' layers included).
    known = probe.known_layer_shapes([x[:1]])
    if known is not None:
        shapes = {name: out[0] for name, out in known.items() if len(out) == 1}
    else:
        shapes = {name: a.shape[1:] for name, a in probe.activations(x[:1]).items()}
    nodes = {n.name: n for n in probe.graph.nodes}
    # Not the input's preprocessing (rescaling, resizing: still the image), nor maps of one cell (a global
    # pooling kept 4-D), where a class activation map has nowhere to point.
    preprocessing = input_like_layers(probe.graph)
    grids = [
        k
        for k, shape in shapes.items()
        if k in nodes
        and len(shape) == 3
        and shape[0] * shape[1] > 1
        and not nodes[k].is_input
        and not nodes[k].is_model
        and k not in preprocessing
    ]
    convs = [k for k in grids if "conv" in nodes[k].class_name.lower()]
    chosen = convs or grids
    return grids, chosen[-1] if chosen else None


def _cam_layer(probe: Probe, x: np.ndarray, layer: str | None, method: str) -> str:
    grids, default = cam_layers(probe, x)
    if layer is None:
        if default is None:
            raise ValueError(f"layer: {method} needs a layer with a 4-D output (n, h, w, c), got a model with none")
        return default
    if not isinstance(layer, str) or layer not in probe.layers:
        raise ValueError(f"layer: expected a layer name from {probe.layer_names}, got {layer!r}")
    if layer not in grids:
        shape = probe.activations(x[:1], layers=[layer]).get(layer, np.zeros(0)).shape
        raise ValueError(
            f"layer: expected a layer with a 4-D output (n, h, w, c) for {method}, "
            f"got {layer!r} with output shape {shape}"
        )
    return layer


# --------------------------------------------------------------------------------------------- methods
def _input_gradients(probe: Probe, x: np.ndarray, targets: np.ndarray) -> np.ndarray:
    return probe.input_gradients(x, targets)[0]  # one lean pass, whatever mix of targets


def _path_mean(probe: Probe, x: np.ndarray, targets: np.ndarray, points: Any, count: int) -> np.ndarray:
    """Mean gradient over ``count`` variants of x; ``points(start, stop)`` gives (stop - start, *x.shape).

    Variants of every sample are stacked into the rows of batched compiled passes (see
    :func:`~nbviz.compute.methods.path_gradients.path_sums`); sums are float64 so that averaging adds no rounding.
    """
    return last(path_sums(probe, x, targets, lambda a, b: (points(a, b), None), count)).mean()


def _smoothgrad(probe: Probe, x: np.ndarray, targets: np.ndarray, samples: int, noise: float) -> np.ndarray:
    if noise == 0:
        return _input_gradients(probe, x, targets)  # noise-free copies are all x: one pass gives their mean
    rng = np.random.default_rng(0)
    flat = x.reshape(len(x), -1)
    sigma = (noise * (flat.max(axis=1) - flat.min(axis=1))).reshape(-1, *[1] * (x.ndim - 1))
    # Drawn chunk by chunk in order, which gives the same numbers as one draw of (samples, *x.shape).
    return _path_mean(probe, x, targets, lambda a, b: x + rng.standard_normal((b - a, *x.shape)) * sigma, samples)


def _integrated(probe: Probe, x: np.ndarray, targets: np.ndarray, baseline: np.ndarray, steps: int) -> np.ndarray:
    delta = x - baseline
    # Midpoint rule: on a smooth path its error is about half the trapezoid's for as many gradient evaluations
    # (where ReLUs switch along the path both are first order; both keep the demo CNN within 1% at 64 steps).
    alphas = ((np.arange(steps) + 0.5) / steps).reshape(-1, *[1] * x.ndim)
    mean = _path_mean(probe, x, targets, lambda a, b: baseline + alphas[a:b] * delta, steps)
    return delta * mean


def _gradcam(probe: Probe, x: np.ndarray, targets: np.ndarray, layer: str, plus: bool) -> np.ndarray:
    # One lean pass for every row and class: the layer's output and its gradient, nothing else differentiated.
    acts, grads = probe.layer_gradients(x, layer, targets)
    return _cam(acts.astype(np.float64), grads.astype(np.float64), plus).astype(np.float32)


def _cam(acts: np.ndarray, grads: np.ndarray, plus: bool) -> np.ndarray:
    """relu(sum_k w_k A_k) over (n, h, w, c) activations A and gradients g of the score; returns (n, h, w).

    Grad-CAM: w_k = mean_ij g. Grad-CAM++ (as tf-keras-vis computes it): alpha = g^2 / (2 g^2 + g^3 sum_ij A),
    normalised to sum 1 over ij per channel, and w_k = sum_ij alpha relu(g). tf-keras-vis differentiates
    exp(score), which scales each map by the positive constant exp(score) only; it is left out here (it
    overflows for large logits and changes no map's shape).
    """
    if not plus:
        weights = grads.mean(axis=(1, 2))
    else:
        g2 = grads**2
        denom = 2.0 * g2 + grads**3 * acts.sum(axis=(1, 2), keepdims=True)
        alphas = np.divide(g2, denom, out=np.zeros_like(g2), where=denom != 0)
        norm = alphas.sum(axis=(1, 2), keepdims=True)
        alphas /= np.where(norm != 0, norm, 1.0)
        weights = (alphas * np.maximum(grads, 0.0)).sum(axis=(1, 2))
    return np.maximum(np.einsum("nhwc,nc->nhw", acts, weights), 0.0)
