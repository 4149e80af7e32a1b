"""Safety: nbviz opens no network connection, and runs no code from a string or file a user passes."""

from __future__ import annotations

import ast
import socket
import warnings
from pathlib import Path

import pytest

import nbviz

from .interaction import walk_everything

PACKAGE = Path(nbviz.__file__).parent
# Modules that deserialise code or reach the network; nbviz has no business with any of them.
FORBIDDEN_MODULES = {"pickle", "cPickle", "dill", "cloudpickle", "marshal", "shelve", "urllib", "requests", "http",
                     "httpx", "aiohttp", "socket", "ftplib", "smtplib"}  # fmt: skip
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}
# The command line (`nbviz demo`) binds a local port to find a free one for the JupyterLab it starts: no
# connection, and nothing the Explorer imports (the walk below runs with connections refused).
ALLOWED = {("__main__.py", "socket")}


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _problems(source: str, name: str) -> list[str]:
    problems = []
    for node in ast.walk(ast.parse(source, filename=name)):
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or ""]
        else:
            modules = []
        top = [m.split(".")[0] for m in modules]
        problems += [f"{name}: import {m}" for m in top if m in FORBIDDEN_MODULES and (name, m) not in ALLOWED]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
            problems.append(f"{name}:{node.lineno}: {node.func.id}()")
        if isinstance(node, ast.keyword) and node.arg in ("allow_pickle", "safe_mode") and not _is_safe(node):
            problems.append(f"{name}: {node.arg}={ast.unparse(node.value)}")
    return problems


def test_no_eval_pickle_or_network_module_in_the_package():
    sources = _sources()
    assert len(sources) > 20
    assert [p for path in sources for p in _problems(path.read_text(), path.name)] == []


def test_the_scan_finds_what_it_looks_for():
    bad = "import pickle\nfrom urllib.request import urlopen\neval('1')\nnp.load(f, allow_pickle=True)\n"
    bad += "keras.saving.load_model(p, safe_mode=False)\n"
    assert len(_problems(bad, "bad.py")) == 5
    assert _problems("keras.saving.load_model(p, safe_mode=True)\nnp.load(f, allow_pickle=False)\n", "ok.py") == []


def _is_safe(keyword: ast.keyword) -> bool:
    value = keyword.value
    wanted = keyword.arg == "safe_mode"  # safe_mode must be True, allow_pickle False
    return isinstance(value, ast.Constant) and value.value is wanted


@pytest.fixture
def offline(monkeypatch):
    """Any attempt to open a connection or resolve a host fails the test."""
    attempts: list[str] = []

    def refuse(*args, **kwargs):
        attempts.append(repr(args[:2]))
        raise OSError("network access attempted during an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def test_exploring_and_clicking_through_needs_no_network(cancer, offline, tmp_path):
    path = tmp_path / "cancer.keras"
    cancer.model.save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex = nbviz.explore(
            str(path),
            cancer.x_test[:40],
            cancer.y_test[:40],
            feature_names=cancer.feature_names,
            class_names=cancer.class_names,
        )
        walk_everything(ex, 3)
        nbviz.findings(ex.analysis.model, cancer.x_test[:40], cancer.y_test[:40])
    assert offline == []
