"""Keras 3 on JAX: the tests that go through the backend seam pass again with KERAS_BACKEND=jax, both backends
give the same numbers on the same weights, and a walk over every feature on JAX imports no TensorFlow (torch:
tests/test_install_torch.py).

Keras picks its backend once per process, so each JAX run is a process of its own (``tests/backend_runs.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from tests import backend_runs

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="runs the JAX processes from the TensorFlow suite"
)


#: The methods whose tests go through the backend seam (they differentiate or record inside a pass).
SEAM_METHODS = ("attention", "attribution", "path_gradients", "saliency", "token_attribution", "units")


def _on_jax(*args: str, timeout: float, x64: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "2", "JAX_ENABLE_X64": "1" if x64 else "0"}
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def test_the_compute_core_tests_pass_on_jax() -> None:
    # The passes are written once over the backend seam, so the tests that go through the seam run again here:
    # the probe's (activations against Keras sub-models, gradients against central finite differences in
    # float64, ...) and the methods that differentiate (integrated gradients' completeness, SHAP's additivity,
    # Grad-CAM, unit and token gradients, attention), less those marked tensorflow_only: they check against
    # TensorFlow itself. The numpy floors above (diagnostics, rules, projections, the analysis) read the probe's
    # arrays, whichever backend made them. float64 needs JAX's x64 mode (else JAX computes it in float32).
    # (The folding of layer names into groups reads names only, whatever the backend: it runs once, here.)
    seam = [f"tests/compute/methods/test_{m}.py" for m in SEAM_METHODS]
    model = ["tests/compute/model", "--ignore=tests/compute/model/test_groups.py"]
    command = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow", *model, *seam]
    run = _on_jax(*command, timeout=2400, x64=True)
    tail = run.stdout[-4000:]
    assert run.returncode == 0, tail + run.stderr[-2000:]
    assert " passed" in tail and "skipped" in tail, tail  # it ran, and skipped the TensorFlow-only tests


def test_the_model_zoo_walks_on_jax() -> None:
    # KerasHub task models and backbones, keras.applications and the Keras examples: every tab on every layer
    # shows numbers or a note, activations equal Keras sub-models, predictions equal predict. The example that
    # takes strings is refused with its reason (string layers run on TensorFlow only).
    tests = "every_tab_on_every_layer or activations_equal_keras_submodels or predictions_equal_model_predict"
    run = _on_jax(
        "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow", "-k", tests, "tests/ui/test_zoo.py",
        timeout=2400,
    )  # fmt: skip
    tail = run.stdout[-4000:]
    assert run.returncode == 0, tail + run.stderr[-2000:]
    assert " passed" in tail, tail


def test_tensorflow_and_jax_give_the_same_numbers(tmp_path: Path) -> None:
    # JAX writes the weights it built and its numbers; TensorFlow loads those weights and computes its own.
    run = _on_jax("-m", "tests.backend_runs", "numbers", str(tmp_path), timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    backend_runs.numbers(tmp_path)
    assert backend_runs.compare(tmp_path, "jax", "tensorflow") > 100


def test_a_walk_on_jax_works_and_imports_no_tensorflow(tmp_path: Path) -> None:
    # TensorFlow is made impossible to import in that process, as where it is not installed: Keras then runs
    # without it, and nbviz must never reach for it.
    run = _on_jax("-m", "tests.backend_runs", "walk", str(tmp_path / "report.html"), timeout=1200)
    backend_runs.check_walk(run, "jax")
