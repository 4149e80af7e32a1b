"""Explorers over the two demos, shared by the widget tests (building them traces the model once)."""

from __future__ import annotations

import json
from typing import Any

import comm
import numpy as np
import pytest
from comm.base_comm import BaseComm

import nbviz


@pytest.fixture(scope="module")
def digits_explorer(digits):
    return nbviz.explore(digits.model, digits.x_test[:40], digits.y_test[:40], class_names=digits.class_names)


@pytest.fixture(scope="module")
def cancer_explorer(cancer):
    return nbviz.explore(
        cancer.model,
        cancer.x_test[:40],
        cancer.y_test[:40],
        feature_names=cancer.feature_names,
        class_names=cancer.class_names,
    )


def synced_array(mark, trait: str) -> np.ndarray:
    """The array a mark's synced state holds for ``trait``: what ipywidgets sends to the browser."""
    state = mark.get_state()[trait]
    return np.frombuffer(state["value"], dtype=state["dtype"]).reshape(state["shape"])


class _Recorder(BaseComm):
    """A comm that keeps every message a widget sends, serialised as a kernel would send it."""

    texts: list[str] = []
    buffers: list[bytes] = []

    def publish_msg(
        self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None, **keys: Any
    ) -> None:
        _Recorder.texts.append(json.dumps(data, default=str))
        _Recorder.buffers.extend(bytes(memoryview(b)) for b in buffers or [])


@pytest.fixture
def recorded(monkeypatch):
    _Recorder.texts, _Recorder.buffers = [], []
    monkeypatch.setattr(comm, "create_comm", _Recorder)
    return _Recorder
