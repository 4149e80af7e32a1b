"""Tokens as text: a vocabulary from a KerasHub tokenizer, a preprocessor or a plain list, and the inputs that
hold token ids.

A text model's inputs are integer ids; people read tokens. The vocabulary is read once, as the tokenizer's own
detokenized strings (one ``detokenize`` call over every id), so what the widget shows for an id is what the
tokenizer would give back for it. Which label leaves the kernel is the display policy's decision (redact mode
shows positions only): this module only finds the strings and the inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["TOKEN_SUFFIX", "padding_of", "token_inputs", "vocabulary_of"]

TOKEN_SUFFIX = "token_ids"  # KerasHub's name for token inputs: token_ids, encoder_token_ids, decoder_token_ids


def vocabulary_of(tokenizer: Any = None, vocabulary: Any = None, model: Any = None) -> tuple[str, ...]:
    """The text of every token id, from ``vocabulary`` (a list), ``tokenizer`` (a KerasHub tokenizer or a
    preprocessor holding one), or else the tokenizer of ``model``'s own preprocessor; () when there is none.

    Raises
    ------
    TypeError
        ``vocabulary`` is not a sequence of strings, or ``tokenizer`` has no ``detokenize``.
    ValueError
        Both are given, or the vocabulary is empty.
    """
    if tokenizer is not None and vocabulary is not None:
        raise ValueError("tokenizer, vocabulary: expected one of them, got both")
    if vocabulary is not None:
        if isinstance(vocabulary, str | bytes) or not isinstance(vocabulary, Sequence | np.ndarray):
            raise TypeError(f"vocabulary: expected a list of token strings, got {type(vocabulary).__name__}")
        words = tuple(vocabulary)
        wrong = next((w for w in words if not isinstance(w, str | np.str_)), None)
        if wrong is not None:
            raise TypeError(f"vocabulary: expected a list of token strings, got an item of {type(wrong).__name__}")
        if not words:
            raise ValueError("vocabulary: expected at least one token, got an empty list")
        return tuple(str(w) for w in words)
    if tokenizer is None:
        own = getattr(getattr(model, "preprocessor", None), "tokenizer", None)
        return _detokenized(own) if own is not None else ()
    inner = getattr(tokenizer, "tokenizer", None)  # a preprocessor holds its tokenizer
    found = inner if inner is not None and not hasattr(tokenizer, "detokenize") else tokenizer
    if not (hasattr(found, "detokenize") and hasattr(found, "vocabulary_size")):
        raise TypeError(
            "tokenizer: expected a KerasHub tokenizer or preprocessor (with detokenize and vocabulary_size), "
            f"got {type(tokenizer).__name__}"
        )
    return _detokenized(found)


def _detokenized(tokenizer: Any) -> tuple[str, ...]:
    """Each id's text as the tokenizer gives it back: one call over a column of every id (GPT-2's byte-level
    "\u0120the" reads " the"); the raw vocabulary where detokenizing single ids fails."""
    size = int(tokenizer.vocabulary_size())
    try:
        texts = tokenizer.detokenize(np.arange(size, dtype=np.int32)[:, None])
        texts = texts.numpy() if hasattr(texts, "numpy") else texts
        out = tuple(t.decode("utf-8", "replace") if isinstance(t, bytes) else str(t) for t in np.ravel(texts))
        if len(out) == size:
            return out
    except Exception:  # noqa: BLE001 - a tokenizer that cannot detokenize one id still has a vocabulary
        pass
    return tuple(str(tokenizer.id_to_token(i)) for i in range(size))


def token_inputs(inputs: Mapping[str, np.ndarray]) -> tuple[str, ...]:
    """The inputs that hold token ids: integer (samples, positions) arrays named ``*token_ids`` (KerasHub), or
    the one input of a model that has one integer sequence input (a Keras example's text classifier)."""
    ids = {k: a.ndim == 2 and np.issubdtype(a.dtype, np.integer) for k, a in inputs.items()}
    named = tuple(k for k, fits in ids.items() if fits and str(k).endswith(TOKEN_SUFFIX))
    if named or len(inputs) != 1:
        return named
    return tuple(k for k, fits in ids.items() if fits)


def padding_of(inputs: Mapping[str, np.ndarray], token_input: str) -> np.ndarray | None:
    """The padding mask that goes with a token input (``token_ids`` -> ``padding_mask``, ``encoder_token_ids``
    -> ``encoder_padding_mask``) as bool (samples, positions); None without one."""
    if not token_input.endswith(TOKEN_SUFFIX):
        return None
    mask = inputs.get(token_input[: -len(TOKEN_SUFFIX)] + "padding_mask")
    if mask is None or np.shape(mask) != np.shape(inputs[token_input]):
        return None
    return np.asarray(mask).astype(bool)
