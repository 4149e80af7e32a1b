"""Binder's recipe works: binder/requirements.txt in a fresh virtual environment runs the quickstart."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fresh import fresh_python, pip_install

REPO = Path(__file__).resolve().parents[1]


def test_binder_files():
    assert (REPO / "binder" / "runtime.txt").read_text().strip() == "python-3.11"
    requirements = (REPO / "binder" / "requirements.txt").read_text().split()
    assert (
        requirements[0] == "-e"
        and requirements[1] == ".[tensorflow]"
        and any(r.startswith("jupyterlab") for r in requirements)
    )


@pytest.mark.slow
def test_binder_requirements_install_and_run_the_quickstart(tmp_path):
    python = fresh_python(tmp_path / "binder-env")
    # pip runs from the repository root, as repo2docker does, so that "-e ." is this repository.
    pip_install(python, "-r", "binder/requirements.txt", cwd=REPO, timeout=1500)
    script = (
        "import nbformat, sys\n"
        "from nbclient import NotebookClient\n"
        "nb = nbformat.read(sys.argv[1], as_version=4)\n"
        "NotebookClient(nb, timeout=600, kernel_name='python3').execute()\n"
        "errors = [o for c in nb.cells for o in c.get('outputs', []) if o.get('output_type') == 'error']\n"
        "assert not errors, errors\n"
        "print('ran', len(nb.cells), 'cells')\n"
    )
    out = subprocess.run(
        [python, "-c", script, str(REPO / "notebooks" / "01_quickstart.ipynb")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "ran" in out.stdout
    assert sys.executable != str(python)
