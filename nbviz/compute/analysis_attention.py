"""Questions about attention: each attention layer's weights for one sample, and each head over the data."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._arrays import frozen
from .analysis_core import AnalysisCore
from .answers import AttentionMap, Unavailable
from .attention import HeadSummary, head_summaries


class AttentionQuestions(AnalysisCore):
    """Attention weights (:meth:`Probe.attention_scores`) laid out for the attention tab."""

    def attention_layers(self) -> tuple[str, ...]:
        """The layers whose attention weights the probe records (known from one sample's pass)."""
        return tuple(self._attention_weights(0))

    def attention(self, sample: int, layer: str) -> Any:
        """One sample's weights of attention layer ``layer``, (heads, queries, keys) over its real tokens (padding
        left out), with a label per token; :class:`Unavailable` when ``layer`` records none."""
        sample = self.data.check_sample(sample)
        weights = self._attention_weights(sample).get(layer)
        if weights is None:
            names = ", ".join(self.attention_layers()) or "none in this model"
            return Unavailable(f"{layer} has no attention weights; attention layers: {names}.")
        w = weights[0]  # (heads, queries, keys)
        queries, keys = self._real(sample, w.shape[1], layer), self._real(sample, w.shape[2], layer)
        return AttentionMap(
            layer,
            frozen(w[:, queries][:, :, keys], np.float32),
            self._labels(sample, queries),
            self._labels(sample, keys),
            frozen(queries, np.int64),
            frozen(keys, np.int64),
        )

    def head_summaries(self) -> dict[str, HeadSummary]:
        """Every attention head's mean entropy and share on the first token over the explored data."""
        return self._ask(("head summaries",), lambda: head_summaries(self.probe, self.data.x))

    # ----------------------------------------------------------------------------------------- internals
    def _attention_weights(self, sample: int) -> dict[str, np.ndarray]:
        return self._ask(("attention", sample), lambda: self.probe.attention_scores(self.data.inputs(sample)))

    def _real(self, sample: int, positions: int, layer: str) -> np.ndarray:
        """The indices of a sequence's real positions (all when no padding mask of its length exists)."""
        mask = self.data.padding_mask(positions, layer)
        return np.arange(positions) if mask is None else np.flatnonzero(mask[sample])

    def _labels(self, sample: int, positions: np.ndarray) -> tuple[str, ...]:
        """A label per position: the token id where a ``token_ids`` input of that length exists (its raw value,
        so redact mode shows positions only), else the position."""
        ids = dict(zip(self.data.input_names, self.data.x)).get("token_ids")
        if self.policy.redact or ids is None or ids.shape[1] <= positions.max(initial=-1):
            return tuple(f"#{int(p)}" for p in positions)
        return tuple(f"{int(ids[sample, p])}" for p in positions)
