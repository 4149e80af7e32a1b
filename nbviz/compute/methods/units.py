"""One unit of a layer: the samples that activate it most, and an input optimised to activate it.

A unit is a dense layer's neuron or a convolution's filter (a channel of an output (n, ..., channels)). Its
per-sample activation is the unit itself for a dense layer and its strongest response, the max over its map, for
a convolution (:func:`unit_activations`); :func:`top_examples` ranks the data by it, and
:func:`maximize_activation` climbs the filter's mean response by gradient ascent on the Probe's compiled
:meth:`Probe.unit_gradient` pass, with the usual regularisers (jitter, blur, L2 decay) and the data's range as
bounds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from .._arrays import frozen, is_int, one_or_list
from .._validate import as_inputs, check_model, input_specs
from ..model.probe import Probe, probe_for


@dataclass(frozen=True)
class TopExamples:
    """The samples that activate one unit most, best first.

    Attributes
    ----------
    layer : str
        The layer.
    unit : int
        The unit (channel) of its output.
    indices : np.ndarray
        int64 (k,): sample indices into the data, by descending activation; ties go to the lower index.
    activations : np.ndarray
        float32 (k,): their activation of the unit (as :func:`unit_activations` reduces it).
    positions : np.ndarray or None
        int64 (k, 2): row and column of the unit's maximum in each sample's map, for a layer with a 4-D output
        (n, h, w, channels); None for other layers.
    boxes : np.ndarray or None
        float32 (k, 4): top, left, bottom, right of that map cell in input pixels (the cell scaled by input size
        / map size), for a 4-D output of a model whose one input is an image (n, h, w, c); None otherwise.
        Approximate: the region the cell covers at the layer's stride, not its full receptive field (a 3x3
        convolution on the input already sees a pixel's neighbours).
    """

    layer: str
    unit: int
    indices: np.ndarray
    activations: np.ndarray
    positions: np.ndarray | None = None
    boxes: np.ndarray | None = None


@dataclass(frozen=True)
class MaximizedInput:
    """An input optimised to activate one unit (:func:`maximize_activation`).

    Attributes
    ----------
    input : np.ndarray
        float32, the input's shape without the batch axis.
    activation : float
        Its activation of the unit, as :func:`unit_activations` reduces it (a filter's max over its map).
    history : np.ndarray
        float32 (r,): the activation (same reduction) after each recorded step.
    history_steps : np.ndarray
        int64 (r,): the steps those are after: every ``record_every``-th, and the last step run.
    steps : int
        Steps run (fewer than asked when cancelled).
    stopped : bool
        Whether ``cancelled()`` stopped it.
    """

    input: np.ndarray
    activation: float
    history: np.ndarray
    history_steps: np.ndarray
    steps: int
    stopped: bool


def unit_activations(probe: Probe, x: Any, layer: str) -> np.ndarray:
    """Every unit's activation of ``layer`` for each sample of ``x``.

    Streamed over ``x`` in batches of ``probe.batch_size`` (one compiled forward pass each), so memory holds one
    batch of the layer's output at a time.

    Parameters
    ----------
    probe : Probe
        The model's probe.
    x : array-like, list or dict
        Samples, in any structure the model's inputs take, batch first.
    layer : str
        A name from ``probe.layers``, whose output is (n, units) or (n, ..., channels).

    Returns
    -------
    np.ndarray
        Read-only float32 (n, units): a rank-2 output as it is; for a convolution or sequence output
        (n, ..., channels), the max over the spatial or time axes per channel: each filter's strongest response.
    """
    _check_layer(probe, layer)
    inputs = as_inputs(input_specs(probe.model), x, "x")
    parts = [_reduce(out) for out in _stream(probe, inputs, layer)]
    return frozen(np.concatenate(parts) if len(parts) > 1 else parts[0], np.float32)


def top_examples(
    model: keras.Model, data: Any, layer: str, unit: int, k: int = 9, probe: Probe | None = None
) -> TopExamples:
    """The ``k`` samples of ``data`` that activate unit ``unit`` of ``layer`` most (:func:`unit_activations`).

    Parameters
    ----------
    model : keras.Model
        A built Keras 3 model.
    data : array-like, list or dict
        Samples, batch first: an array for a model with one input, a list (or dict) of arrays for several.
    layer : str
        A layer name (qualified as in :class:`Probe`, e.g. "conv2").
    unit : int
        The unit (channel) of the layer's output.
    k : int
        How many samples (at most all of them).
    probe : Probe, optional
        A Probe of ``model`` to reuse; the model's shared Probe by default.

    Returns
    -------
    TopExamples
        The samples by descending activation (ties to the lower index), with each one's map position and input
        box for a layer with a 4-D output.
    """
    probe = probe_for(check_model(model), probe)
    _check_layer(probe, layer)
    if not is_int(k) or k < 1:
        raise ValueError(f"k: expected an int >= 1, got {k!r}")
    inputs = as_inputs(input_specs(model), data, "data")
    unit = _check_unit(probe, inputs, layer, unit)
    values, where = [], []
    for out in _stream(probe, inputs, layer):
        values.append(_reduce(out)[:, unit])
        if out.ndim == 4:  # the row and column of the filter's maximum in each sample's map
            cells = out[..., unit].reshape(len(out), -1)
            where.append(np.stack(np.unravel_index(np.argmax(cells, axis=1), out.shape[1:3]), axis=1))
            map_size = out.shape[1:3]
    activations = np.concatenate(values)
    order = np.argsort(-activations, kind="stable")[:k]
    positions = boxes = None
    if where:
        positions = np.concatenate(where)[order].astype(np.int64)
        if len(inputs) == 1 and inputs[0].ndim == 4:
            scale = np.array(inputs[0].shape[1:3], np.float64) / np.array(map_size, np.float64)
            boxes = np.concatenate([positions * scale, (positions + 1) * scale], axis=1)
    return TopExamples(
        layer=layer,
        unit=unit,
        indices=frozen(order.astype(np.int64)),
        activations=frozen(activations[order], np.float32),
        positions=None if positions is None else frozen(positions),
        boxes=None if boxes is None else frozen(boxes, np.float32),
    )


def maximize_activation(
    model: keras.Model,
    layer: str,
    unit: int,
    *,
    data: Any = None,
    steps: int = 256,
    learning_rate: float = 0.05,
    jitter: int = 1,
    blur_every: int = 4,
    blur_sigma: float = 0.5,
    l2: float = 1e-3,
    seed: int = 0,
    start: Any = None,
    probe: Probe | None = None,
    on_step: Callable[[int, float], Any] | None = None,
    cancelled: Callable[[], bool] | None = None,
    record_every: int = 16,
    objective: str = "mean",
) -> MaximizedInput:
    """An input that activates unit ``unit`` of ``layer`` strongly, by gradient ascent (Erhan et al. 2009, with
    the regularisers of Yosinski et al. 2015 and Olah et al. 2017).

    The climb runs in the data's units scaled to [0, 1]: z = (x - lo) / (hi - lo), where lo and hi are the data's
    min and max, global for an image (a sample of rank >= 3, (h, w, channels)) and per input position otherwise
    (a tabular row's features), so that a feature in thousands and one in thousandths move alike. Each step:

    1. jitter (images): roll z by up to ``jitter`` pixels along each spatial axis (seeded), and back after the
       gradient;
    2. ascend the unit's mean over its map (:meth:`Probe.unit_gradient`): z += learning_rate * g / std(g), a
       normalised gradient step (not Adam), g the gradient in z;
    3. blur (images, every ``blur_every`` steps): a separable Gaussian of std ``blur_sigma`` pixels over the
       spatial axes;
    4. L2 decay towards the data's mean: z -= l2 * (z - mean);
    5. clip z to [0, 1], i.e. x to the data's range (per feature for tabular inputs).

    Without ``data``, lo = 0 and hi = 1 serve for the scale, the mean is 0, and nothing is clipped.

    Parameters
    ----------
    model : keras.Model
        A built Keras 3 model with one float input.
    layer, unit
        The unit: a layer name and a channel of its output.
    data : array-like, optional
        Samples of the input, batch first: its range bounds the result and its mean is the start.
    steps : int
        Gradient steps.
    learning_rate : float
        Step size in the scaled units, per gradient std.
    jitter : int
        Largest roll in pixels (images; 0: none).
    blur_every : int
        Blur every this many steps (images; 0: never).
    blur_sigma : float
        The blur's std in pixels.
    l2 : float
        Decay per step towards the data's mean, in [0, 1).
    seed : int
        Seeds the start's noise and the jitter: a fixed seed gives the same result.
    start : array-like, optional
        The starting input, the input's shape without batch; default the data's mean plus seeded noise of 1% of
        the range, or uniform noise in [0, 1) without data.
    probe : Probe, optional
        A Probe of ``model`` to reuse; the model's shared Probe by default.
    on_step : callable, optional
        ``on_step(step, activation)``, called after every ``record_every``-th step and the last (progress).
    cancelled : callable, optional
        Asked before every step; when it returns True the climb stops there (``stopped=True``).
    record_every : int
        Steps between recorded activations.
    objective : str
        What is climbed: "mean", the unit's mean over its map, or "center", the filter's neuron at the middle
        of its map (:meth:`Probe.unit_gradient`'s ``where``): the pattern one neuron prefers, where the mean of
        a filter with mostly positive weights is climbed by a bright image everywhere.

    Returns
    -------
    MaximizedInput
    """
    probe = probe_for(check_model(model), probe)
    _check_layer(probe, layer)
    specs = input_specs(model)
    if specs is not None and len(specs) != 1:
        raise ValueError(f"model: expected a model with one input to optimise, got {len(specs)} inputs")
    for name, value, least in (("steps", steps, 0), ("jitter", jitter, 0), ("blur_every", blur_every, 0)):
        if not is_int(value) or value < least:
            raise ValueError(f"{name}: expected an int >= {least}, got {value!r}")
    if not is_int(record_every) or record_every < 1:
        raise ValueError(f"record_every: expected an int >= 1, got {record_every!r}")
    if not is_int(seed):
        raise TypeError(f"seed: expected an int, got {seed!r}")
    _check_number("learning_rate", learning_rate, positive=True)
    _check_number("blur_sigma", blur_sigma)
    _check_number("l2", l2)
    if l2 >= 1:
        raise ValueError(f"l2: expected a decay in [0, 1), got {l2!r}")
    for name, fn in (("on_step", on_step), ("cancelled", cancelled)):
        if fn is not None and not callable(fn):
            raise TypeError(f"{name}: expected a callable or None, got {type(fn).__name__}")

    rng = np.random.default_rng(int(seed))
    samples = None if data is None else as_inputs(specs, data, "data")[0]
    shape = _sample_shape(specs, samples, start)
    image = len(shape) >= 3
    if samples is not None:
        if not np.issubdtype(samples.dtype, np.floating):
            raise TypeError(f"data: expected float inputs to optimise, got dtype {samples.dtype}")
        lo = samples.min(axis=None if image else 0).astype(np.float64)
        hi = samples.max(axis=None if image else 0).astype(np.float64)
        span = np.where(hi > lo, hi - lo, 1.0)
        centre = (samples.mean(axis=0, dtype=np.float64) - lo) / span
    else:
        lo, span, centre = np.zeros(()), np.ones(()), np.zeros(())
    if start is not None:
        z = (np.asarray(as_inputs(specs, np.asarray(start)[None], "start")[0][0], np.float64) - lo) / span
    elif samples is not None:
        z = centre + 0.01 * rng.standard_normal(shape)
    else:
        z = rng.uniform(size=shape)
    bounded = samples is not None
    z = np.clip(z, 0.0, 1.0) if bounded else z
    unit = _check_unit(probe, [_to_x(z, lo, span)[None]], layer, unit)
    spatial = tuple(range(len(shape) - 1)) if image else ()

    def activation_of(z: np.ndarray) -> float:
        return float(unit_activations(probe, _to_x(z, lo, span)[None], layer)[0, unit])

    history: list[float] = []
    recorded: list[int] = []

    def record(step: int) -> None:
        value = activation_of(z)
        history.append(value)
        recorded.append(step)
        if on_step is not None:
            on_step(step, value)

    done, stopped = 0, False
    for step in range(1, steps + 1):
        if cancelled is not None and cancelled():
            stopped = True
            break
        shifts = tuple(int(s) for s in rng.integers(-jitter, jitter + 1, len(spatial))) if spatial else ()
        moved = np.roll(z, shifts, axis=spatial) if any(shifts) else z
        grad, _ = probe.unit_gradient(_to_x(moved, lo, span)[None], layer, unit, objective)
        g = grad[0].astype(np.float64) * span  # d a / d z = d a / d x * dx / dz
        if any(shifts):
            g = np.roll(g, tuple(-s for s in shifts), axis=spatial)
        z = z + learning_rate * g / (g.std() + 1e-12)
        if spatial and blur_every and step % blur_every == 0 and blur_sigma > 0:
            z = _blur(z, blur_sigma, spatial)
        z = z - l2 * (z - centre)
        if bounded:
            z = np.clip(z, 0.0, 1.0)
        done = step
        if step % record_every == 0:
            record(step)
    if not recorded or recorded[-1] != done:
        record(done)
    return MaximizedInput(
        input=frozen(_to_x(z, lo, span), np.float32),
        activation=history[-1],
        history=frozen(np.array(history), np.float32),
        history_steps=frozen(np.array(recorded, np.int64)),
        steps=done,
        stopped=stopped,
    )


# --------------------------------------------------------------------------------------------- helpers
def _check_layer(probe: Probe, layer: Any) -> None:
    if not isinstance(layer, str) or layer not in probe.layers:
        raise ValueError(f"layer: expected one of {probe.layer_names}, got {layer!r}")


def _check_unit(probe: Probe, inputs: list[np.ndarray], layer: str, unit: Any) -> int:
    """``unit`` as an int, checked against the units of ``layer`` (read off one row's forward pass)."""
    if not is_int(unit):
        raise TypeError(f"unit: expected an int, got {unit!r}")
    out = next(_stream(probe, [a[:1] for a in inputs], layer))
    units = out.shape[-1]
    if not 0 <= unit < units:
        raise ValueError(f"unit: expected a unit in [0, {units}) of layer {layer!r}, got {unit}")
    return int(unit)


def _check_number(name: str, value: Any, positive: bool = False) -> None:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{name}: expected a {'positive' if positive else 'non-negative'} number, got {value!r}")


def _stream(probe: Probe, inputs: list[np.ndarray], layer: str) -> Iterator[np.ndarray]:
    """The layer's (first) output for each batch of ``probe.batch_size`` samples."""
    for start in range(0, len(inputs[0]), probe.batch_size):
        batch = [a[start : start + probe.batch_size] for a in inputs]
        out = probe.activations(one_or_list(batch), [layer]).get(layer)
        if out is None:
            raise ValueError(f"layer: expected a layer that the model calls, got {layer!r}, which it never calls")
        if out.ndim < 2:
            raise ValueError(f"layer: expected an output with units, (n, ..., units), got {layer!r} of {out.shape}")
        yield out


def _reduce(out: np.ndarray) -> np.ndarray:
    """(n, units) as it is; (n, ..., channels) -> its max over the axes between, (n, channels)."""
    return out if out.ndim == 2 else out.max(axis=tuple(range(1, out.ndim - 1)))


def _sample_shape(specs: Any, samples: np.ndarray | None, start: Any) -> tuple[int, ...]:
    if samples is not None:
        return tuple(samples.shape[1:])
    if start is not None:
        return tuple(np.shape(start))
    shape = specs[0][1][1:] if specs else (None,)
    known = tuple(int(d) for d in shape if d is not None)
    if len(known) != len(shape):
        raise ValueError(f"data: expected data or start to fix the input's shape, which the model leaves as {shape}")
    return known


def _to_x(z: np.ndarray, lo: np.ndarray, span: np.ndarray) -> np.ndarray:
    return (lo + z * span).astype(np.float32)


def _blur(z: np.ndarray, sigma: float, axes: tuple[int, ...]) -> np.ndarray:
    """A separable Gaussian blur of std ``sigma`` along ``axes``, edges reflected."""
    radius = max(1, math.ceil(3 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    for axis in axes:
        pad = [(0, 0)] * z.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(z, pad, mode="reflect" if z.shape[axis] > radius else "edge")
        size = z.shape[axis]
        z = sum(w * np.take(padded, range(i, i + size), axis=axis) for i, w in enumerate(taps))
    return z
