"""The version of a model's weights: what the analysis memo is keyed by, so that nothing shown is stale.

Weights change in many ways: ``fit``, ``set_weights``, ``load_weights``, assigning a variable, a custom training
loop. None of them leaves a mark that costs nothing to read, so the version has two parts:

* a **fingerprint**: a few values gathered from every variable (all of a small one; 16 at fixed positions of a
  large one), in one compiled call. It changes when any variable gets new values
  (an assignment that changes only unsampled elements of a large variable is the blind spot: ``refresh``).
  About 0.1 ms on the demo CNN and 1 ms on ResNet50, so it is not run on every interaction;
* a **gate** that says when the fingerprint must be read again: a counter that :func:`bump` raises (LiveTraining
  calls it while it trains), the identity of ``model.history`` (a new one with every ``fit``), and, in a
  Jupyter kernel, the execution count (every cell that ran could have changed the weights). Reading the gate
  costs microseconds. Outside a kernel (scripts, tests) there is no execution count, and every check reads
  the fingerprint.

The version itself is a digest of the fingerprint and of the compiled loss's configuration (``compile`` with
another loss, other loss weights or ``from_logits`` changes every gradient): weights that come back (a
checkpoint loaded again) get their old version back, and whatever was memoised for them is valid again.

Work that runs while the model may change (the SHAP tab's worker, a cell calling ``fit`` meanwhile) is stored
only when :meth:`ModelVersion.unchanged` says the version it started on still holds when it ends.
"""

from __future__ import annotations

import hashlib
import sys
import threading
import weakref
from typing import Any

import keras
import numpy as np

from ..backend import gather_function
from .losses import loss_config

__all__ = ["ModelVersion", "bump"]

SAMPLES = 16  # values read from each variable larger than this
_bumps: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def bump(model: keras.Model) -> None:
    """Say that ``model``'s weights may have changed (cheap: call it on every training batch)."""
    with _lock:
        _bumps[model] = _bumps.get(model, 0) + 1


def _execution_count() -> int | None:
    """The IPython kernel's execution count, or None outside IPython (IPython is never imported here)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return None if shell is None else int(getattr(shell, "execution_count", 0))


class ModelVersion:
    """The current version of one model's weights.

    ``current()`` returns a short string that changes whenever the weights do (see the module docstring);
    ``refresh()`` forces a new one, as if every weight had changed.
    """

    def __init__(self, model: keras.Model) -> None:
        self.model = model
        self.reads = 0  # how many times the fingerprint was read (tests and benchmarks read it)
        self._refreshes = 0
        self._function: Any = None
        self._gate: Any = None
        self._version = ""
        self._changes = 0  # how many times a read found a new version (work spanning one is not stored)

    def current(self, force: bool = False) -> str:
        """The version now: the gate is checked, and the fingerprint read only when the gate moved (or ``force``:
        after a notebook cell, whose code may have changed the weights after the cell's last check)."""
        gate = self._gate_now()
        if force or gate is None or gate != self._gate:
            digest = hashlib.blake2b(self.fingerprint().tobytes(), digest_size=8)
            digest.update(loss_config(self.model).encode())
            version = f"{digest.hexdigest()}.{self._refreshes}"
            with _lock:
                if version != self._version:
                    self._changes += 1
                self._version, self._gate = version, gate
        return self._version

    def stamp(self) -> tuple[int, int, int]:
        """What a worker notes when it starts (microseconds): the versions seen so far, the training counter of
        :func:`bump` and the identity of ``model.history`` (a new one with every ``fit``)."""
        return (self._changes, _bumps.get(self.model, 0), id(vars(self.model).get("history")))

    def unchanged(self, version: str, stamp: tuple[int, int, int]) -> bool:
        """Whether work that started on ``version`` (with ``stamp``) may be stored: the weights read now give
        the same version, and no new version was seen nor any training ran in between (weights that changed
        and came back while it ran would give a mix of both)."""
        return self.current() == version and self.stamp() == stamp

    def refresh(self) -> str:
        """A new version whatever the weights: everything memoised for the old one is computed again."""
        self._refreshes += 1
        self._gate = None
        self._function = None  # the model may have gained or lost variables
        return self.current()

    def fingerprint(self) -> np.ndarray:
        """The sampled values of every variable, as float64."""
        self.reads += 1
        if self._function is None:  # built on first use (model.weights walks every layer: read it once)
            variables = self.model.weights
            self._function = gather_function(variables, sample_positions(variables, SAMPLES))
        return np.asarray(self._function(), dtype=np.float64)

    def _gate_now(self) -> tuple[int, int, int] | None:
        count = _execution_count()
        if count is None:
            return None  # no kernel: nothing says when a script changed the weights, so always look
        # vars(): a model never fitted has no `history`, and Keras's attribute lookup would search its layers.
        return (_bumps.get(self.model, 0), id(vars(self.model).get("history")), count)


def sample_positions(variables: list[Any], samples: int) -> list[np.ndarray | None]:
    """Where the fingerprint reads each variable: ``samples`` flat positions of a larger one, drawn once with a
    fixed seed and sorted; None (all of it) for a smaller one."""
    rng = np.random.default_rng(0)
    picks: list[np.ndarray | None] = []
    for v in variables:
        size = int(np.prod(v.shape))
        picks.append(None if size <= samples else np.sort(rng.choice(size, samples, replace=False)))
    return picks
