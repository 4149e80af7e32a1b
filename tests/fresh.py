"""Fresh virtual environments for the tests that install nbviz as a user would (the JAX and torch extras,
Binder's requirements)."""

from __future__ import annotations

import subprocess
import venv
from pathlib import Path


def fresh_python(folder: Path) -> Path:
    """A new virtual environment with pip in ``folder``; returns its Python."""
    venv.EnvBuilder(with_pip=True).create(folder)
    return folder / "bin" / "python"


def pip_install(python: Path, *args: str, timeout: float, cwd: Path | None = None) -> None:
    """``pip install -q *args`` with ``python``'s pip (raises when it fails)."""
    subprocess.run([str(python), "-m", "pip", "install", "-q", *args], cwd=cwd, check=True, timeout=timeout)
