"""Explorers over the two demos, shared by the widget tests (building them traces the model once)."""

from __future__ import annotations

import numpy as np
import pytest

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
