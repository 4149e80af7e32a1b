"""A JAX user installs nbviz without TensorFlow: ``pip install ".[jax]"`` into a fresh virtual environment, then
the Explorer on the demo CNN with KERAS_BACKEND=jax."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.fresh import fresh_python, pip_install

REPO = Path(__file__).resolve().parents[1]

SCRIPT = """
import importlib.util, sys
import nbviz
from nbviz import demo
from nbviz.testing import panel_errors
d = demo.digits_cnn()
ex = nbviz.explore(d.model, d.x_test[:40], d.y_test[:40])
errors = panel_errors(ex, tabs=["weights", "activations", "gradients", "saliency", "findings"])
print("probe", type(ex.analysis.probe).__name__, "errors", errors)
print("tensorflow installed:", importlib.util.find_spec("tensorflow") is not None)
"""


@pytest.mark.slow
def test_the_jax_extra_installs_and_runs_without_tensorflow(tmp_path: Path) -> None:
    python = fresh_python(tmp_path / "jax-env")
    pip_install(python, f"{REPO}[jax]", timeout=1500)
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    env.pop("PYTHONPATH", None)
    out = subprocess.run([python, "-c", SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "probe Probe errors []" in out.stdout, out.stdout
    assert "tensorflow installed: False" in out.stdout
