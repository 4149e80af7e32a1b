"""Questions about attention: each attention layer's weights for one sample, and each head over the data."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._arrays import frozen
from ..methods.attention import (
    AttentionEdges,
    HeadSummary,
    HeadView,
    ModelView,
    head_summaries,
    head_view,
    model_view,
    top_edges,
)
from ..model.recording import attention_style
from .answers import AttentionMap, Unavailable
from .core import AnalysisCore
from .questions import question


class AttentionQuestions(AnalysisCore):
    """Attention weights (:meth:`Probe.attention_scores`) laid out for the attention tab."""

    @property
    def has_attention(self) -> bool:
        """Whether a layer of the model can record attention weights (known without running the model)."""
        return self.probe.has_attention

    def attention_layers(self) -> tuple[str, ...]:
        """The layers whose attention weights the probe records (known from one sample's pass)."""
        return self._ask(("attention layers",), lambda: tuple(self._attention_weights(0)), versioned=False)

    def unreadable_attention(self) -> dict[str, str]:
        """Attention layers (by :func:`attention_style`) whose weights the probe cannot read, name -> class name:
        those that compute them inside one call with a bare softmax (KerasHub's GPT-OSS) and keep no sub-layer
        that holds them, so the pass records nothing for them."""

        def compute() -> dict[str, str]:
            recorded = {name.split("@")[0] for name in self.attention_layers()}
            return {
                name: type(layer).__name__
                for name, layer in self.probe.layers.items()
                if attention_style(layer) is not None and name not in recorded
            }

        return self._ask(("unreadable attention",), compute, versioned=False)

    @question
    def attention(self, sample: int, layer: str) -> Any:
        """One sample's weights of attention layer ``layer``, (heads, queries, keys) over its real tokens (padding
        left out), with a label per token; :class:`Unavailable` when ``layer`` records none."""
        sample = self.data.check_sample(sample)
        weights = self._attention_weights(sample, layer).get(layer)
        if weights is None:
            names = ", ".join(self.attention_layers()) or "none in this model"
            return Unavailable(f"{layer} has no attention weights; attention layers: {names}.")
        return self._ask(("attention map", sample, layer), lambda: self._attention_map(sample, layer, weights[0]))

    def _attention_map(self, sample: int, layer: str, w: np.ndarray) -> AttentionMap:
        """``w`` (heads, queries, keys) over the real tokens; a view, not a copy, where they come first (padding
        at the end, the usual case): at 2,048 tokens a copy of every head costs more than drawing one."""
        query_side, key_side = _sides(layer)
        queries, keys = self._real(sample, w.shape[1], query_side), self._real(sample, w.shape[2], key_side)
        return AttentionMap(
            layer,
            frozen(w[:, _index(queries)][:, :, _index(keys)], np.float32, copy=False),
            self.token_labels(sample, queries, w.shape[1], query_side),
            self.token_labels(sample, keys, w.shape[2], key_side),
            frozen(queries, np.int64),
            frozen(keys, np.int64),
        )

    def head_view(self, sample: int, layer: str, head: int, region: Any = None) -> HeadView | Unavailable:
        """Head ``head`` of ``layer`` for one sample over ``region`` (first query, end query, first key, end key;
        None: every real token), within the cell budget: a 2,048-token map is sent reduced, a region of it (a
        zoom) at full resolution once it fits."""
        answer = self.attention(sample, layer)
        if isinstance(answer, Unavailable):
            return answer
        return self._ask(
            ("head view", sample, layer, head, None if region is None else tuple(region)),
            lambda: head_view(
                answer.weights,
                head,
                layer,
                answer.query_labels,
                answer.key_labels,
                self.policy.max_cells,
                region,
            ),
        )

    @question
    def model_view(self, sample: int) -> ModelView:
        """Thumbnails of every head of every attention layer for one sample, within the cell budget."""
        self._attention_weights(sample)  # one pass for every layer, not one per layer
        maps = {name: self.attention(sample, name) for name in self.attention_layers()}
        return model_view({name: m.weights for name, m in maps.items()}, self.policy.max_cells)

    def attention_edges(
        self, sample: int, layer: str, head: int, k: int, region: Any = None
    ) -> tuple[AttentionEdges, AttentionMap] | Unavailable:
        """The ``k`` strongest keys of each query of one head over ``region`` (the lines view), with the map's
        labels; :class:`Unavailable` when ``layer`` records no weights."""
        view = self.head_view(sample, layer, head, region)
        if isinstance(view, Unavailable):
            return view
        answer = self.attention(sample, layer)
        return top_edges(answer.weights[head], k, view.region), answer

    @question
    def head_summaries(self) -> dict[str, HeadSummary]:
        """Every attention head's mean entropy and share on the first token over the explored data."""
        return head_summaries(self.probe, self.data.x)

    # ----------------------------------------------------------------------------------------- internals
    def _attention_weights(self, sample: int, layer: str | None = None) -> dict[str, np.ndarray]:
        """Every attention layer's weights for one sample, or only ``layer``'s (the head view: the other layers
        keep their fused kernels, and the pass costs about one layer's unfused attention more than the forward
        pass), unless every layer's are at hand already."""
        if layer is None or self.cached("attention pass", sample) or layer not in self.attention_layers():
            return self._ask(("attention pass", sample), lambda: self._attention_pass(sample, None))
        return self._ask(("attention pass", sample, layer), lambda: self._attention_pass(sample, layer.split("@")[0]))

    def _attention_pass(self, sample: int, layer: str | None) -> dict[str, np.ndarray]:
        """One attention pass; every layer's output from it is kept too, so the sample view's prediction and the
        activations tab need no forward pass of their own."""
        scores, outputs = self.probe.attention_pass(self.data.inputs(sample), None if layer is None else [layer])
        if not self.cached("activations", sample):
            self.memo.put((self.version, "activations", sample), outputs)
        return scores

    def _real(self, sample: int, positions: int, layer: str) -> np.ndarray:
        """The indices of a sequence's real positions (all when no padding mask of its length exists)."""
        mask = self.data.padding_mask(positions, layer)
        return np.arange(positions) if mask is None else np.flatnonzero(mask[sample])


def _sides(layer: str) -> tuple[str, str]:
    """The names by which a layer's query and key sequences are found (see ``token_input``): a cross-attention
    layer's queries are the decoder's and its keys the encoder's; other layers attend within one sequence."""
    if "cross" not in layer:
        return layer, layer
    return layer.replace("encoder", "decoder"), layer.replace("decoder", "encoder")


def _index(positions: np.ndarray) -> slice | np.ndarray:
    """``positions`` as a slice where they run 0, 1, ..., n - 1 (a view), else as they are (a copy)."""
    n = len(positions)
    return slice(0, n) if n == 0 or (positions[0] == 0 and positions[-1] == n - 1) else positions
