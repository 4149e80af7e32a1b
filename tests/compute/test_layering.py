"""nbviz.compute stays free of widget libraries (it must be usable and testable without a front end), and the widgets
live on their own floor, nbviz/ui."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import nbviz


def test_importing_compute_leaves_widget_libraries_out():
    code = (
        "import sys, nbviz.compute, nbviz.compute.graph, nbviz.compute.probe, nbviz.compute.weights, "
        "nbviz.compute.comparison, nbviz.compute.checkpoints; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ipywidgets', 'bqplot')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def _imports(path: Path, package: Path) -> set[str]:
    """The absolute module names ``path`` imports (relative imports resolved against its package)."""
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    here = parts[:-1]  # the module's package (a package's __init__ is its own package)
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - (node.level - 1)] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            names |= {f"{module}.{alias.name}" for alias in node.names}  # `from . import style`
    return names


def test_widgets_live_in_nbviz_ui_and_compute_never_imports_them():
    package = Path(nbviz.__file__).parent
    # Outside nbviz/ui only the public face (lazy), `nbviz demo` and the helpers tests share may name a widget.
    allowed = {"__init__.py", "__main__.py", "testing.py"}
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package).as_posix()
        imported = _imports(path, package)
        widget_libraries = {name for name in imported if name.split(".")[0] in ("ipywidgets", "bqplot", "bqscales")}
        if not relative.startswith("ui/") and relative not in allowed:
            assert not widget_libraries, f"{relative} imports {sorted(widget_libraries)}: widgets belong in nbviz/ui"
        if relative.startswith("compute/"):
            upward = {name for name in imported if name.startswith("nbviz.") and not name.startswith("nbviz.compute")}
            assert not upward, f"{relative} imports {sorted(upward)}: compute is the floor below the widgets"


def test_only_compute_backend_names_a_backend():
    package = Path(nbviz.__file__).parent
    named = {}
    for path in sorted((package / "compute").rglob("*.py")):
        relative = path.relative_to(package).as_posix()
        if relative.startswith("compute/backend/"):
            continue
        imported = _imports(path, package)
        ones = ("nbviz.compute.backend.tensorflow", "nbviz.compute.backend.jax", "nbviz.compute.backend.torch")
        backends = {n for n in imported if n.split(".")[0] in ("tensorflow", "jax", "torch") or n.startswith(ones)}
        source = path.read_text()
        asks = "backend()" in source or "keras.backend.backend" in source
        if backends or asks:
            named[relative] = sorted(backends) + (["asks backend()"] if asks else [])
    assert named == {}, named
