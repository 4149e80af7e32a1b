"""Keras 3 on torch, the proof of the backend seam (``nbviz/compute/backend/torch.py``): a torch user installs
nbviz with ``pip install ".[torch]"`` into a fresh virtual environment (no TensorFlow, no JAX), every feature
runs on the demo CNN without importing TensorFlow, and the probe's numbers equal TensorFlow's on the same weights.

PyPI's torch for Linux is the CUDA build (6 GB installed), so it is not in the test extra: this test installs it
into an environment of its own (about 4 minutes with pip's cache cold, 2 warm) and removes it afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import keras
import pytest

from tests import backend_runs
from tests.fresh import fresh_python, pip_install

REPO = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="compares torch with TensorFlow"),
]


@pytest.fixture(scope="module")
def torch_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    env_dir = tmp_path_factory.mktemp("torch") / "env"
    python = fresh_python(env_dir)
    pip_install(python, f"{REPO}[torch]", timeout=1800)
    yield python
    shutil.rmtree(env_dir, ignore_errors=True)  # 6 GB: not left for pytest's three kept temporary folders


def _on_torch(python: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KERAS_BACKEND": "torch", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("PYTHONPATH", None)
    # cwd=REPO for tests.backend_runs; nbviz is the installed one's copy of this repository.
    return subprocess.run([python, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def test_the_torch_extra_installs_without_tensorflow_or_jax(torch_python: Path) -> None:
    code = "import importlib.util as u; print([m for m in ('tensorflow', 'jax', 'torch') if u.find_spec(m)])"
    out = _on_torch(torch_python, "-c", code, timeout=120)
    assert out.stdout.strip() == "['torch']", out.stdout + out.stderr[-2000:]


def test_a_walk_on_torch_works_and_imports_no_tensorflow(torch_python: Path, tmp_path: Path) -> None:
    # Every tab on every layer (SHAP included), the findings, LiveTraining inside fit with snapshots, a
    # checkpoint shown, a comparison and a static report.
    run = _on_torch(torch_python, "-m", "tests.backend_runs", "walk", str(tmp_path / "report.html"), timeout=1200)
    backend_runs.check_walk(run, "torch")


def test_tensorflow_and_torch_give_the_same_numbers(torch_python: Path, tmp_path: Path) -> None:
    # torch writes the weights it built and its numbers (activations, weight and output gradients in inference
    # and training mode, the loss, norms, target and input gradients, attention scores); TensorFlow loads those
    # weights and computes its own.
    run = _on_torch(torch_python, "-m", "tests.backend_runs", "numbers", str(tmp_path), timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    backend_runs.numbers(tmp_path)
    assert backend_runs.compare(tmp_path, "torch", "tensorflow") > 1000
