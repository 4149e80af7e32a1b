"""Explorers over the two demos, shared by the widget tests (building them traces the model once)."""

from __future__ import annotations

import pytest

import nbviz
from nbviz.testing import recording, synced_array  # noqa: F401 - synced_array: imported from here by tests


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


@pytest.fixture
def recorded():
    """Widgets made in the test send their messages to a :class:`nbviz.testing.RecordingComm`."""
    with recording() as comm:
        yield comm
