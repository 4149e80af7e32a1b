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
        "import sys, nbviz.compute, nbviz.compute.model.graph, nbviz.compute.model.probe, "
        "nbviz.compute.methods.weights, "
        "nbviz.compute.analysis.comparison, nbviz.compute.model.checkpoints; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ipywidgets', 'bqplot')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` that runs on import or call: ``if TYPE_CHECKING:`` blocks are left out."""
    nodes: list[ast.AST] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        nodes.append(node)
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))
    return nodes


def _imports(path: Path, package: Path) -> set[str]:
    """The absolute module names ``path`` imports (relative imports resolved against its package)."""
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    here = parts[:-1]  # the module's package (a package's __init__ is its own package)
    names: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text())):
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


#: compute's floors, lowest first: a module imports only from its own floor and the floors below it.
FLOORS = ["backend", "ground", "model", "data", "methods", "analysis", "face"]


def _floor(module: str) -> str:
    """The floor of a module under nbviz.compute: its folder, the ground for the modules beside __init__ (their
    names start with "_"), and the public face for compute/__init__ itself."""
    parts = module.split(".")[2:]
    if not parts:
        return "face"
    return parts[0] if parts[0] in FLOORS else "ground"


def _compute_modules(package: Path) -> dict[str, set[str]]:
    """Each module under nbviz/compute -> the nbviz.compute modules it imports (names imported from a package's
    __init__ count as the package)."""
    modules = {}
    for path in sorted((package / "compute").rglob("*.py")):
        dotted = ".".join(path.relative_to(package.parent).with_suffix("").parts)
        modules[dotted.removesuffix(".__init__")] = path
    graph = {}
    for name, path in modules.items():
        imported = {m for m in _imports(path, package) if m in modules and m != name}
        graph[name] = imported
    return graph


def test_compute_imports_only_go_down_its_floors():
    graph = _compute_modules(Path(nbviz.__file__).parent)
    upward = {
        (name, target)
        for name, targets in graph.items()
        for target in targets
        if FLOORS.index(_floor(target)) > FLOORS.index(_floor(name))
    }
    assert not upward, sorted(upward)
    assert {_floor(name) for name in graph} == set(FLOORS), "a floor is missing: the test would read nothing"


def test_compute_has_no_import_cycle():
    graph = _compute_modules(Path(nbviz.__file__).parent)
    # A package's __init__ is not followed into (importing a.b runs a/__init__ first, which names no sibling).
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            raise AssertionError(" -> ".join([*path[path.index(name) :], name]))
        if name in done:
            return
        for target in sorted(graph[name]):
            visit(target, [*path, name])
        done.add(name)

    for name in graph:
        visit(name, [])


def test_no_private_name_is_imported_across_modules():
    package = Path(nbviz.__file__).parent
    private = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                # Where the imported names live: a private module (``from . import _quiet``) may be imported.
                base = path.parents[node.level - 1] if node.level else package.parent
                home = base.joinpath(*(node.module or "").split("."))
                for alias in node.names:
                    is_module = (home / f"{alias.name}.py").exists()
                    if alias.name.startswith("_") and not alias.name.startswith("__") and not is_module:
                        private.append(f"{path.relative_to(package)}: {alias.name}")
    assert not private, private


#: What panels may call from nbviz.compute besides answer types and constants: what is installed (the explainers
#: and projections a dropdown offers) and wording (a plural, a feature's label); none of it reads a model.
PANEL_HELPERS = {"available_explainers", "available_methods", "feature_labels", "plural"}


def test_panels_import_nothing_that_computes():
    # A panel asks the analysis and copies its answers onto marks: from nbviz.compute it takes classes (answer
    # types, the analysis it is given) and constants, never a function that computes over a model or data.
    import importlib
    import inspect

    package = Path(nbviz.__file__).parent
    computing = []
    for path in sorted((package / "ui" / "panels").glob("*.py")):
        for node in _runtime_nodes(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or "compute" not in (node.module or ""):
                continue
            module = importlib.import_module("nbviz." + node.module.lstrip(".")) if node.level == 3 else None
            for alias in node.names:
                value = getattr(module, alias.name, None)
                if inspect.isclass(value) or alias.name.isupper() or alias.name in PANEL_HELPERS:
                    continue
                computing.append(f"{path.name}: {alias.name}")
    assert computing == [], computing
