"""The first minutes of a new user: the notebooks import only what ``pip install -e '.[lab]'`` installs, are stored
clean (no outputs, and as JupyterLab writes them, so that opening one does not mark it modified), and TensorFlow's
start-up log lines do not become their first output."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import nbformat
import pytest
from ipykernel.ipkernel import IPythonKernel
from packaging.requirements import Requirement

from nbviz import _quiet

ROOT = Path(__file__).parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_ID = re.compile(r"^[a-zA-Z0-9-_]{1,64}$")  # nbformat 4.5's pattern


def _name(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def installed_by(extra: str) -> set[str]:
    """The distributions ``pip install nbviz[extra]`` installs: nbviz's requirements with that extra as this
    checkout's pyproject.toml declares them, closed over the installed packages' own requirements (normalised
    names)."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11 on
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    todo = [Requirement(r) for r in project["dependencies"]]
    extras, seen_extras = [extra], set()
    while extras:
        name = extras.pop()
        seen_extras.add(name)
        for line in project["optional-dependencies"][name]:
            req = Requirement(line)
            if _name(req.name) == "nbviz":
                extras += [e for e in req.extras if e not in seen_extras]
            else:
                todo.append(req)
    found: set[str] = set()
    while todo:
        req = todo.pop()
        if _name(req.name) in found:
            continue
        found.add(_name(req.name))
        try:
            requires = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            continue
        for line in requires:
            sub = Requirement(line)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in (req.extras or {""})):
                todo.append(sub)
    return found


def imported_modules(nb: nbformat.NotebookNode) -> set[str]:
    """The top-level modules the code cells import (magics and shell lines left out)."""
    names: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_imports_only_what_the_lab_extra_installs(path):
    lab = installed_by("lab") | {"nbviz"}
    providers = metadata.packages_distributions()
    missing = {}
    for module in imported_modules(nbformat.read(path, as_version=4)):
        if module in sys.stdlib_module_names:
            continue
        dists = {_name(d) for d in providers.get(module, [module])}
        if not dists & lab:
            missing[module] = sorted(dists)
    assert not missing, f"{path.name} imports what the lab extra does not install: {missing}"


def test_the_lab_extra_installs_keras_hub():
    """The KerasHub notebook's package, which the lab extra lacked (``No module named 'keras_hub'`` under make lab)."""
    assert "keras-hub" in installed_by("lab")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_clean(path):
    text = path.read_text()
    nb = nbformat.reads(text, as_version=4)
    assert (nb.nbformat, nb.nbformat_minor) == (4, 5), "JupyterLab upgrades older minors on open (and marks it)"
    ids = [cell.get("id") for cell in nb.cells]
    assert all(isinstance(i, str) and CELL_ID.match(i) for i in ids), "every cell needs an id (nbformat 4.5)"
    assert len(set(ids)) == len(ids), "cell ids are unique"
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] for cell in code), "stored with outputs"
    assert all(cell.execution_count is None for cell in code), "stored with execution counts"
    assert "widgets" not in nb.metadata, "stored with widget state"
    nbformat.validate(nb)
    # What JupyterLab sets once the kernel answers (its notebook panel's _updateSpec and _updateLanguage): equal
    # values leave the notebook unmodified, different ones mark it so. The Python version is the kernel's own.
    kernel = json.loads((Path(sys.prefix) / "share/jupyter/kernels/python3/kernel.json").read_text())
    assert nb.metadata.kernelspec == {"display_name": kernel["display_name"], "language": "python", "name": "python3"}
    expected = dict(IPythonKernel.language_info)
    assert {k: v for k, v in nb.metadata.language_info.items() if k != "version"} == {
        k: v for k, v in expected.items() if k != "version"
    }
    assert re.fullmatch(r"3\.\d+\.\d+", nb.metadata.language_info["version"])
    # Byte for byte as the server writes it on save: saving an unchanged notebook leaves git clean.
    written = nbformat.writes(nb)
    written += "" if written.endswith("\n") else "\n"  # as nbformat.write ends the file
    assert text == written, "not in the server's own format: saving it would change the file"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_nbviz_is_imported_before_tensorflow(path):
    """nbviz quiets TensorFlow's start-up logs only if it is imported before Keras loads TensorFlow."""
    nb = nbformat.read(path, as_version=4)
    first = next(cell for cell in nb.cells if cell.cell_type == "code")
    order = [
        m
        for m in re.findall(r"^(?:import|from) (\w+)", first.source, re.M)
        if m in ("nbviz", "keras", "tensorflow", "keras_hub")
    ]
    assert order and order[0] == "nbviz", f"{path.name}: first imports {order}"


@pytest.mark.parametrize(
    "line, noise",
    [
        (b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR", True),
        (
            b"I0000 00:00:1796621812.130060    3149 cudart_stub.cc:31] Could not find cuda drivers on your machine.",
            True,
        ),
        (
            b"E0000 00:00:1796621750.649508    1673 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error",
            True,
        ),
        (b"E1207 05:34:49.123456   1 cuda_dnn.cc:8310] Unable to register cuDNN factory: Attempting to register", True),
        (b"To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow", True),
        (b"F0000 00:00:1796621750.649508    1673 some.cc:52] Check failed: fatal", False),  # the reason for a crash
        (b"<stdin>:1: UserWarning: a Python warning", False),
        (b"Traceback (most recent call last):", False),
        (b"", False),
    ],
)
def test_noise_is_only_tensorflows_log_lines(line, noise):
    assert _quiet.is_noise(line) is noise


def _stderr_of(code: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"} | env
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ, timeout=300)
    assert run.returncode == 0, run.stderr
    return run.stderr


@pytest.mark.slow
def test_importing_nbviz_then_keras_prints_nothing_to_stderr():
    """In this container TensorFlow prints "Could not find cuda drivers" twice while loading and "failed call to
    cuInit" at its first op; with nbviz imported first a Python warning and a plain stderr line still print."""
    code = (
        "import nbviz, keras, os, warnings\n"
        "keras.ops.ones(3) + 1\n"
        "warnings.warn('still shown')\n"
        "os.write(2, b'a plain line\\n')\n"
    )
    lines = _stderr_of(code).splitlines()
    assert lines == ["<string>:3: UserWarning: still shown", "  warnings.warn('still shown')", "a plain line"] or (
        lines == ["<string>:3: UserWarning: still shown", "a plain line"]
    ), lines


@pytest.mark.slow
def test_a_chosen_log_level_is_respected():
    """Someone who sets TF_CPP_MIN_LOG_LEVEL asked for TensorFlow's logs: nbviz then leaves stderr alone."""
    assert "cudart_stub" in _stderr_of("import nbviz, keras", TF_CPP_MIN_LOG_LEVEL="0") or not _has_cuda_stub()


def _has_cuda_stub() -> bool:
    """Whether this TensorFlow logs its CUDA stub at all (a tensorflow-cpu build does not)."""
    return "cudart_stub" in _stderr_of("import tensorflow", TF_CPP_MIN_LOG_LEVEL="0")
