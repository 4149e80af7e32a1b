"""Samples left out of every aggregate because their inputs, labels or outputs hold NaN or Inf.

One NaN in one feature of one sample would otherwise spread into every number computed over the data: a SHAP
background summarised by k-means, the base value E[f], a mean of |SHAP| per feature, a PCA covariance; and a
NaN prediction would be counted as class 0 (``argmax`` of NaN). So each such sample is left out, once, for a
reason kept per sample (one byte each: bounded whatever the data), and every view says how many it left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .._arrays import frozen

#: Why a sample is left out (the first that applies): kept, or NaN or Inf in an input, a label or the output.
KEPT, INPUTS, LABELS, OUTPUTS = 0, 1, 2, 3
_REASONS = {INPUTS: "inputs", LABELS: "labels", OUTPUTS: "outputs"}
_CHUNK_BYTES = 64 * 2**20  # rows are checked in blocks of about this size: no bool copy of a whole image dataset


def finite_rows(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """Whether every value of each row is finite, over several arrays with rows in common: bool (n,).

    Integer, boolean and string arrays (token ids, class indices, text) cannot hold NaN: their rows are finite.
    """
    arrays = [np.asarray(a) for a in arrays]
    n = len(arrays[0])
    keep = np.ones(n, bool)
    for a in arrays:
        if a.dtype.kind not in "fc" or a.size == 0:
            continue
        row_bytes = max(1, a.nbytes // max(n, 1))
        step = max(1, _CHUNK_BYTES // row_bytes)
        for start in range(0, n, step):
            block = a[start : start + step]
            keep[start : start + len(block)] &= np.isfinite(block.reshape(len(block), -1)).all(axis=1)
    return keep


def reasons(inputs: Sequence[np.ndarray], labels: Sequence[np.ndarray] | None = None) -> np.ndarray | None:
    """Why each sample is left out by its data alone: int8 (n,) of KEPT, INPUTS or LABELS; None when none is."""
    why = np.where(finite_rows(inputs), KEPT, INPUTS).astype(np.int8)
    if labels:
        why[(why == KEPT) & ~finite_rows(labels)] = LABELS
    return frozen(why, np.int8) if why.any() else None


class NothingFinite(ValueError):
    """Every sample of a dataset holds NaN or Inf in its inputs, labels or outputs: there is nothing to score."""


@dataclass(frozen=True, eq=False)
class LeftOut:
    """Which samples the aggregates leave out, and why.

    Attributes
    ----------
    why : np.ndarray
        int8 (n,): KEPT, or the first of INPUTS, LABELS, OUTPUTS that holds NaN or Inf.
    finite_outputs : int
        The samples whose output is finite, whatever their inputs and labels (0: the model's outputs are NaN
        or Inf everywhere).
    """

    why: np.ndarray
    finite_outputs: int

    @property
    def keep(self) -> np.ndarray:
        """bool (n,): the samples every aggregate uses."""
        return self.why == KEPT

    @property
    def n(self) -> int:
        return len(self.why)

    def count(self, stop: int | None = None) -> int:
        """How many of the first ``stop`` samples (all by default) are left out."""
        return int(np.count_nonzero(self.why[:stop]))

    @property
    def outputs_nonfinite(self) -> bool:
        """Whether the model's output is NaN or Inf for every sample: there is nothing to score."""
        return self.finite_outputs == 0

    def note(self, stop: int | None = None) -> str:
        """What a view over the first ``stop`` samples (all by default) left out, in words ('' for nothing):
        "1 of 60 samples left out: NaN or Inf in its inputs"."""
        why = self.why[:stop]
        left = int(np.count_nonzero(why))
        if not left:
            return ""
        counts = {name: int(np.count_nonzero(why == code)) for code, name in _REASONS.items()}
        parts = [(name, c) for name, c in counts.items() if c]
        owner = "its" if left == 1 else "their"
        if len(parts) == 1:
            where = parts[0][0]
        else:
            where = ", ".join(f"{name} ({c})" for name, c in parts[:-1]) + f" and {parts[-1][0]} ({parts[-1][1]})"
        return f"{left:,} of {len(why):,} samples left out: NaN or Inf in {owner} {where}"

    def outputs_text(self) -> str:
        """Why nothing is scored when the outputs are NaN or Inf for every sample ('' when they are not)."""
        if not self.outputs_nonfinite:
            return ""
        return (
            f"The model's output is NaN or Inf for every one of the {self.n:,} samples: nothing to score or "
            "explain (the weights tab and the findings show where NaN starts)."
        )


def left_out(data_why: np.ndarray | None, outputs_finite: np.ndarray) -> LeftOut:
    """Combine what the data leaves out (:func:`reasons`, None for nothing) with which samples' outputs are
    finite (bool (n,))."""
    why = np.zeros(len(outputs_finite), np.int8) if data_why is None else np.array(data_why, np.int8)
    why[(why == KEPT) & ~outputs_finite] = OUTPUTS
    return LeftOut(frozen(why, np.int8), int(np.count_nonzero(outputs_finite)))
