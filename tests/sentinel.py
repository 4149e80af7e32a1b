"""A sentinel input value, and a search for it in what widgets send to the browser or a notebook saves."""

from __future__ import annotations

import base64
import copy
import json
import re
from typing import Any

import numpy as np

# Exact in float32 and float64, and far outside the demos' data (digits 0..16, cancer features < 4300).
SENTINEL = 7777.125
# How the value reads in text ("7777.125", "7777", "7.78e+03", ...), as a number on its own: not inside a
# widget id or base64 text, where four 7s in a row turn up by chance.
SENTINEL_TEXT = re.compile(r"(?<![A-Za-z0-9_.])(7777(\.\d*)?|7\.7\d*e\+?0?3)(?![A-Za-z0-9_])")
SENTINEL_BYTES = (np.float32(SENTINEL).tobytes(), np.float64(SENTINEL).tobytes())


def plant(x: np.ndarray, index: tuple[int, ...]) -> np.ndarray:
    """A copy of ``x`` with the sentinel at ``index``."""
    x = np.array(x, copy=True)
    x[index] = SENTINEL
    return x


def found_in(texts: list[str], buffers: list[bytes]) -> list[str]:
    """Where the sentinel shows: the text patterns and buffer encodings found (empty when nowhere)."""
    hits = sorted({m.group(0) for text in texts for m in SENTINEL_TEXT.finditer(text)})
    joined = b"\0".join(buffers)
    hits += [f"bytes {b.hex()}" for b in SENTINEL_BYTES if b in joined]
    return hits


def saved_widget_state(notebook: dict[str, Any]) -> tuple[list[str], list[bytes]]:
    """A saved notebook's whole text, and every binary buffer in its widget state (base64-decoded)."""
    notebook = copy.deepcopy(notebook)
    buffers = []
    state = notebook.get("metadata", {}).get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    for model in state.get("state", {}).values():
        for buffer in model.get("buffers", []):
            buffers.append(base64.b64decode(buffer.pop("data")))  # searched as bytes, not as base64 text
    return [json.dumps(notebook)], buffers
