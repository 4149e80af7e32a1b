"""Command line: ``nbviz demo`` (or ``python -m nbviz demo``) opens the quickstart notebook in JupyterLab."""

from __future__ import annotations

import argparse
import importlib.resources
import shutil
import subprocess
import sys
from pathlib import Path

QUICKSTART = "01_quickstart.ipynb"


def quickstart_notebook(target: Path | None = None) -> Path:
    """The quickstart notebook to open: the repository's own when nbviz runs from a checkout, else a copy of
    the one shipped in the package, written to ``target`` (default ``./nbviz-demo``) so that it is writable."""
    checkout = Path(__file__).resolve().parents[1] / "notebooks" / QUICKSTART
    if checkout.exists() and target is None:
        return checkout
    folder = Path(target) if target is not None else Path.cwd() / "nbviz-demo"
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / QUICKSTART
    if not copy.exists():
        shipped = importlib.resources.files("nbviz") / "notebooks" / QUICKSTART
        if shipped.is_file():
            copy.write_bytes(shipped.read_bytes())
        else:  # an editable install asked for a copy: take the checkout's
            shutil.copyfile(checkout, copy)
    return copy


def lab_command(notebook: Path, extra: list[str]) -> list[str]:
    """The JupyterLab command that opens ``notebook`` with its folder as the root."""
    return [sys.executable, "-m", "jupyter", "lab", f"--ServerApp.root_dir={notebook.parent}", notebook.name, *extra]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nbviz", description="nbviz: explore Keras models in Jupyter.")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="open the quickstart notebook (the embedded demo) in JupyterLab")
    demo.add_argument("--target", type=Path, help="write a copy of the quickstart here and open that")
    demo.add_argument("--print", action="store_true", help="print the command instead of running it")
    args, extra = parser.parse_known_args(argv)
    notebook = quickstart_notebook(args.target)
    command = lab_command(notebook, extra)
    if args.print:
        print(" ".join(command))
        return 0
    return subprocess.call(command, cwd=notebook.parent)


if __name__ == "__main__":
    sys.exit(main())
