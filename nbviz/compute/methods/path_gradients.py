"""Path gradients: the mean of ``w * d f / d x`` over many points per sample, as batched compiled passes.

Expected gradients (what ``shap.GradientExplainer`` computes), SmoothGrad and integrated gradients are all this
one sum: for each sample, draws ``k`` give a point ``p_k`` (a blend with a background row, a noisy copy, a step
on a path) and a weight ``w_k``, and the attribution is ``mean_k w_k * grad f(p_k)``. Points of several draws and
samples are stacked into the rows of one :meth:`Probe.input_gradients` pass, so one trace serves every sample,
class and chunk. The running sums come out after every pass (:class:`PathSums`): a caller can show an estimate
early, stop, and go on later from where it stopped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from ..model.probe import Probe

#: ``draw(start, stop)`` -> the points of draws ``start..stop`` for every sample, (stop - start, n, *shape), and
#: their weights in the same shape (None: weight 1).
Draw = Callable[[int, int], tuple[np.ndarray, "np.ndarray | None"]]

T = TypeVar("T")
SHAP_SAMPLES = 200  # shap.GradientExplainer's default nsamples: the full result


@dataclass(frozen=True, eq=False)
class PathSums:
    """The running sum of ``w * grad`` over the first ``done`` of ``total`` draws, per sample (float64).

    Immutable: each pass makes a new one, so whatever a cancelled computation left behind is a consistent
    state that :func:`path_sums` can go on from.
    """

    sums: np.ndarray
    done: int
    total: int

    @property
    def complete(self) -> bool:
        return self.done >= self.total

    def mean(self) -> np.ndarray:
        """The estimate so far: the mean over the draws done."""
        return self.sums / max(self.done, 1)


def path_sums(
    probe: Probe,
    x: np.ndarray,
    units: np.ndarray,
    draw: Draw,
    total: int,
    *,
    start: PathSums | None = None,
    first: int | None = None,
) -> Iterator[PathSums]:
    """Accumulate ``w * d f_unit / d x`` over ``total`` draws for the samples ``x``, yielding after each pass.

    Parameters
    ----------
    probe : Probe
        The model's probe; its lean input-gradient pass does the work.
    x : np.ndarray
        The samples, (n, *shape).
    units : np.ndarray
        The output unit explained for each sample, (n,).
    draw : Draw
        Makes the points and weights of a range of draws.
    total : int
        How many draws make the full result.
    start : PathSums, optional
        Go on from here (what an earlier, stopped call yielded last).
    first : int, optional
        Draws in the first pass (a quick first estimate; at most a full pass); every pass takes as many as fit
        :meth:`Probe.gradient_rows`.

    Yields
    ------
    PathSums
        After every pass; the last one is complete.
    """
    state = PathSums(np.zeros(x.shape, np.float64), 0, total) if start is None else start
    per_pass = max(1, probe.gradient_rows(x) // len(x))
    step = per_pass if first is None else max(1, min(first, per_pass))
    tiled = np.asarray(units)
    while not state.complete:
        a, b = state.done, min(total, state.done + step)
        points, weights = draw(a, b)
        grads, _ = probe.input_gradients(points.reshape(-1, *x.shape[1:]).astype(x.dtype), np.tile(tiled, b - a))
        grads = grads.reshape(b - a, *x.shape).astype(np.float64)
        if weights is not None:
            grads *= weights
        state = PathSums(state.sums + grads.sum(axis=0), b, total)
        yield state
        step = per_pass


def last(items: Iterable[T]) -> T:
    """Drive a generator of refinements (:func:`path_sums`) to its end; its last item."""
    tail = deque(items, maxlen=1)
    if not tail:
        raise ValueError("items: expected at least one refinement, got none")
    return tail[0]


def shap_draws(seed: int, background_rows: int, samples: int = SHAP_SAMPLES) -> tuple[np.ndarray, np.ndarray]:
    """The background rows and blend factors ``shap.GradientExplainer`` draws for one sample: for each of
    ``samples`` draws, ``choice(rows)`` then ``uniform()`` from numpy's legacy generator seeded with ``seed``.

    shap reseeds per class and continues the stream over the rows of one call; here every sample takes the
    draws of a call with that sample alone, so a sample's values do not depend on which others it is explained
    with (the SHAP tab's view of one sample equals its row in the global view).
    """
    rng = np.random.RandomState(seed)
    index, blend = np.empty(samples, np.int64), np.empty(samples, np.float64)
    for k in range(samples):  # interleaved scalar calls: the only order that reproduces shap's stream
        index[k] = rng.choice(background_rows)
        blend[k] = rng.uniform()
    return index, blend


class ExpectedGradients:
    """SHAP values by expected gradients (Erion et al. 2021), as ``shap.GradientExplainer`` computes them.

    For each draw, a background row ``b`` and a factor ``t`` in [0, 1): the gradient at ``t x + (1 - t) b``
    times ``x - b``, averaged over ``samples`` draws. The draws are shap's (see :func:`shap_draws`), so the
    full result equals shap's for the same background and seed; only the passes differ (batched, compiled,
    one class at a time).

    Parameters
    ----------
    probe : Probe
        The model's probe.
    background : np.ndarray
        The background rows, (m, *shape), float.
    seed : int
        shap's ``rseed``.
    samples : int
        shap's ``nsamples``: draws per sample.
    """

    def __init__(self, probe: Probe, background: np.ndarray, seed: int = 0, samples: int = SHAP_SAMPLES):
        self.probe = probe
        self.background = background
        self.samples = samples
        self.index, self.blend = shap_draws(seed, len(background), samples)

    def draw(self, x: np.ndarray) -> Draw:
        """The points and weights of a range of draws, for every sample of ``x`` (the same draws for each)."""

        def points(a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
            rows = self.background[self.index[a:b]][:, None]  # (draws, 1, *shape)
            t = self.blend[a:b].reshape(-1, *[1] * x.ndim)
            # float32 as shap stores them: the points and the differences it multiplies the gradients by.
            blended = (t * x[None] + (1 - t) * rows).astype(np.float32)
            return blended, (x[None] - rows).astype(np.float32)

        return points

    def sums(
        self, x: np.ndarray, units: np.ndarray, start: PathSums | None = None, first: int | None = None
    ) -> Iterator[PathSums]:
        """The running sums for the samples ``x`` and their ``units``, after each pass (see :func:`path_sums`)."""
        return path_sums(self.probe, x, units, self.draw(x), self.samples, start=start, first=first)
