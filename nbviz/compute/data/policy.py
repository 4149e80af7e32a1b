"""DisplayPolicy: what may be shown, and how values become labels. Redact mode is enforced here, in one place.

Every label that could carry a raw input value (a feature's value next to its name, a rule's threshold, a slice's
edges) is written by this policy, so that ``redact=True`` keeps raw values out of everything the analysis hands
to the widgets: quantiles of the feature instead of values, names without values.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._arrays import is_int


@dataclass(frozen=True)
class DisplayPolicy:
    """How results are laid out for display.

    Attributes
    ----------
    max_cells : int
        The most cells any heatmap sends to the browser (larger ones are reduced by blocks).
    redact : bool
        Send no raw input value to the browser (see :mod:`nbviz.compute.data.redact`).
    class_names : tuple of str
        One per class (empty: classes are named by their index).
    vocabulary : tuple of str
        The text of each token id (empty: tokens are shown by their id); see :mod:`nbviz.compute.data.tokens`.
    """

    max_cells: int = 65_536
    redact: bool = False
    class_names: tuple[str, ...] = ()
    vocabulary: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        if not is_int(self.max_cells):
            raise TypeError(f"max_cells: expected an int, got {type(self.max_cells).__name__}")
        if self.max_cells < 16:
            raise ValueError(f"max_cells: expected at least 16 cells, got {self.max_cells}")
        if not isinstance(self.redact, bool):
            raise TypeError(f"redact: expected True or False, got {type(self.redact).__name__}")

    def class_name(self, index: int) -> str:
        """The name of class ``index`` (its number when unnamed)."""
        names = self.class_names
        return names[index] if 0 <= index < len(names) else str(index)

    def token_labels(self, ids: np.ndarray | None, positions: np.ndarray) -> tuple[str, ...]:
        """A label per token at ``positions``: its text (its id without a vocabulary, ``[id]`` for one outside
        it), or in redact mode its position only (``#3``): token text is raw input."""
        if self.redact or ids is None:
            return tuple(f"#{int(p)}" for p in positions)
        words, n = self.vocabulary, len(self.vocabulary)
        if not n:
            return tuple(str(int(i)) for i in ids)
        return tuple(words[i] if 0 <= i < n else f"[{i}]" for i in np.asarray(ids, dtype=np.int64).tolist())

    def feature_label(self, name: str, value: float) -> str:
        """A feature named with its value ("worst radius = 16.8"), or by name only in redact mode."""
        return name if self.redact else f"{name} = {value:.4g}"

    def slice_labels(self, edges: np.ndarray, counts: np.ndarray) -> list[str]:
        """Labels of quantile slices: their edges, or in redact mode where they sit among the samples."""
        if self.redact:
            share = np.concatenate([[0], np.cumsum(counts)]) / max(int(np.sum(counts)), 1)
            return [f"q{lo:.2f} to q{hi:.2f} (n={n})" for lo, hi, n in zip(share[:-1], share[1:], counts)]
        return [f"{lo:.3g} to {hi:.3g} (n={n})" for lo, hi, n in zip(edges[:-1], edges[1:], counts)]


def check_names(names: Any, arg: str, expected: int | None) -> tuple[str, ...] | None:
    """Names as a tuple of str, checked against the count they must have; None stays None."""
    if names is None:
        return None
    if isinstance(names, str) or not isinstance(names, Sequence | np.ndarray):
        raise TypeError(f"{arg}: expected a sequence of strings, got {type(names).__name__}")
    out = tuple(str(n) for n in names)
    if expected is not None and len(out) != expected:
        raise ValueError(f"{arg}: expected {expected} names, got {len(out)}")
    # A repeated name merges two classes (string labels map to the first) or hides a feature from every menu.
    counts = Counter(out)
    repeats = [(name, c) for name, c in counts.items() if c > 1]
    if repeats:
        said = [f"{name!r} {'twice' if c == 2 else f'{c} times'}" for name, c in repeats[:5]]
        more = f" and {len(repeats) - 5} more" if len(repeats) > 5 else ""
        raise ValueError(f"{arg}: expected distinct names, got {', '.join(said)}{more}")
    return out
