"""Every demo notebook runs top to bottom in a real kernel, offline, without TensorFlow's log lines in its
outputs. How long they take is measured, not asserted (a loaded machine ran the KerasHub notebook in 62 s against
40 s idle): the bound here only catches a hang."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest

from nbviz import _quiet

from . import execute

NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("*.ipynb"))


def test_the_demo_notebooks_exist():
    assert [p.name for p in NOTEBOOKS] == [
        "01_quickstart.ipynb",
        "02_cnn_digits.ipynb",
        "03_tabular_shap.ipynb",
        "04_live_training.ipynb",
        "05_your_own_model.ipynb",
        "06_keras_hub.ipynb",
        "07_large_models.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    # Committed clean: no outputs, no widget state (they would bloat the repository and leak data).
    assert all(not cell.get("outputs") for cell in nb.cells if cell.cell_type == "code"), "committed with outputs"
    assert "widgets" not in nb.metadata, "committed with widget state"
    start = time.perf_counter()
    errors = execute(nb, tmp_path)
    seconds = time.perf_counter() - start
    assert not errors, errors
    assert seconds < HANG_S, f"{path.name} took {seconds:.0f} s"
    # No pink block of TensorFlow's start-up logs ("failed call to cuInit", ...) under any cell: nbviz, imported
    # first, keeps them out. (Other stderr, a warning nbviz means to show, would be a line of its own.)
    stderr = [o.text for cell in nb.cells for o in cell.get("outputs", []) if o.get("name") == "stderr"]
    noise = [line for text in stderr for line in text.splitlines() if _quiet.is_noise(line.encode())]
    assert not noise, noise
    print(f"{path.name}: {seconds:.1f} s")


HANG_S = 300
