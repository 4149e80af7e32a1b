"""`nbviz demo` opens the quickstart in JupyterLab, from a checkout or from an installed package."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from nbviz.__main__ import QUICKSTART, main, quickstart_notebook

REPO = Path(__file__).resolve().parents[1]


def test_from_a_checkout_it_opens_the_repository_notebook(capsys):
    assert quickstart_notebook() == REPO / "notebooks" / QUICKSTART
    assert main(["demo", "--print", "--no-browser"]) == 0
    command = capsys.readouterr().out.split()
    assert command[1:4] == ["-m", "jupyter", "lab"]
    assert (
        f"--ServerApp.root_dir={REPO / 'notebooks'}" in command and QUICKSTART in command and "--no-browser" in command
    )


def test_elsewhere_it_opens_a_writable_copy(tmp_path):
    copy = quickstart_notebook(tmp_path / "demo")
    assert copy == tmp_path / "demo" / QUICKSTART
    assert json.loads(copy.read_text())["cells"] == json.loads((REPO / "notebooks" / QUICKSTART).read_text())["cells"]
    copy.write_text("{}")  # a person's edits are never overwritten
    assert quickstart_notebook(tmp_path / "demo").read_text() == "{}"


def test_python_dash_m_nbviz():
    out = subprocess.run([sys.executable, "-m", "nbviz", "demo", "--print"], capture_output=True, text=True, check=True)
    assert "jupyter lab" in out.stdout and QUICKSTART in out.stdout
