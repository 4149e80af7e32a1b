"""Command line: ``nbviz demo`` (or ``python -m nbviz demo``) opens the quickstart notebook in JupyterLab."""

from __future__ import annotations

import argparse
import importlib.resources
import os
import secrets
import shutil
import socket
import subprocess
import sys
import webbrowser
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

QUICKSTART = "01_quickstart.ipynb"
DEFAULT_PORT = 8888  # JupyterLab's own default; the first free port from here on is taken
PORT_TRIES = 50
_PORT_OPTIONS = ("--port", "--ServerApp.port")
_IP_OPTIONS = ("--ip", "--ServerApp.ip")
_TOKEN_OPTIONS = ("--IdentityProvider.token", "--ServerApp.token", "--NotebookApp.token")
_ROOT_OPTIONS = ("--allow-root", "--ServerApp.allow_root")


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


def option(args: Sequence[str], names: Sequence[str]) -> str | None:
    """The value of the last of ``names`` in ``args`` (``--name=value`` or ``--name value``), else None."""
    found = None
    for i, arg in enumerate(args):
        key, eq, value = arg.partition("=")
        if key in names:
            if eq:
                found = value
            elif i + 1 < len(args) and not args[i + 1].startswith("--"):
                found = args[i + 1]
    return found


def free_port(start: int = DEFAULT_PORT, tries: int = PORT_TRIES) -> int:
    """The first port from ``start`` on that nothing listens on (as JupyterLab's own port retries choose)."""
    for port in range(start, start + tries):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:  # all taken: any free port
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def can_open_browser() -> bool:
    """Whether Python (and so JupyterLab, which asks the same module) finds a browser to open here."""
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


@dataclass(frozen=True)
class LabLaunch:
    """How JupyterLab is started: the command, its environment additions, the URL and what to tell the person."""

    command: list[str]
    env: dict[str, str]
    url: str
    notes: list[str]


def lab_launch(
    notebook: Path,
    extra: Sequence[str],
    *,
    root: bool | None = None,
    browser: bool | None = None,
    environ: Mapping[str, str] | None = None,
) -> LabLaunch:
    """The JupyterLab command that opens ``notebook`` with its folder as the root, and where it will be served.

    Extra arguments go to JupyterLab unchanged. nbviz chooses the port (the first free one from 8888) and the
    token (random, passed in ``JUPYTER_TOKEN`` so that it does not show in the process list) unless the
    arguments or the environment set them, so that it can say the notebook's address before the server starts.
    As root (``root`` defaults to the effective user id being 0), JupyterLab refuses to start without
    ``--allow-root``, which is then added. ``browser`` (default: whether Python finds one) only changes what
    the notes say.
    """
    environ = os.environ if environ is None else environ
    extra = list(extra)
    root = _is_root() if root is None else root
    headless = "--no-browser" in extra or not (can_open_browser() if browser is None else browser)
    command = [sys.executable, "-m", "jupyter", "lab", f"--ServerApp.root_dir={notebook.parent}", notebook.name]
    env: dict[str, str] = {}
    notes: list[str] = []

    port = option(extra, _PORT_OPTIONS)
    if port is None:
        port = str(free_port())
        command += [f"--ServerApp.port={port}", "--ServerApp.port_retries=0"]
    token = option(extra, _TOKEN_OPTIONS)
    if token is None:
        token = environ.get("JUPYTER_TOKEN")
        if token is None and "JUPYTER_TOKEN_FILE" not in environ:
            token = env["JUPYTER_TOKEN"] = secrets.token_hex(24)
    if root and not any(arg.split("=")[0] in _ROOT_OPTIONS for arg in extra):
        command.append("--allow-root")
        notes.append("running as root, so JupyterLab is started with --allow-root")
    command += extra

    ip = option(extra, _IP_OPTIONS)
    host = ip if ip and ip not in ("0.0.0.0", "*", "::", "") else "localhost"
    url = f"http://{host}:{port}/lab/tree/{notebook.name}" + (f"?token={token}" if token else "")
    if headless:
        notes.insert(0, f"no browser will open here: point one at {url}")
    else:
        notes.insert(0, f"opening {url}")
    return LabLaunch(command=command, env=env, url=url, notes=notes)


def _is_root() -> bool:
    geteuid = getattr(os, "geteuid", None)  # not on Windows, where JupyterLab does not check either
    return geteuid is not None and geteuid() == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="nbviz",
        description="nbviz: explore Keras models in Jupyter.",
        epilog="Arguments nbviz does not know go to JupyterLab, e.g. nbviz demo --no-browser --port 8890.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="open the quickstart notebook (the embedded demo) in JupyterLab")
    demo.add_argument("--target", type=Path, help="write a copy of the quickstart here and open that")
    demo.add_argument("--print", action="store_true", help="print the command instead of running it")
    args, extra = parser.parse_known_args(argv)
    notebook = quickstart_notebook(args.target)
    launch = lab_launch(notebook, extra)
    if args.print:
        print(" ".join(launch.command))
        return 0
    # The first lines say where the demo is: JupyterLab's own log of it comes seconds later, among others.
    for note in launch.notes:
        print(f"nbviz: {note}", flush=True)
    try:
        return subprocess.call(launch.command, cwd=notebook.parent, env={**os.environ, **launch.env})
    except KeyboardInterrupt:  # Ctrl-C stops JupyterLab too (same process group); no traceback for that
        return 130


if __name__ == "__main__":
    sys.exit(main())
