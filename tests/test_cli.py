"""`nbviz demo` opens the quickstart in JupyterLab, from a checkout or from an installed package, as root or not.

The command it builds is checked here; ``tests/browser/test_make_lab.py`` runs ``make lab`` for real.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

from nbviz.__main__ import QUICKSTART, free_port, lab_launch, main, option, quickstart_notebook

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / QUICKSTART


def test_from_a_checkout_it_opens_the_repository_notebook(capsys):
    assert quickstart_notebook() == NOTEBOOK
    assert main(["demo", "--print", "--no-browser"]) == 0
    command = capsys.readouterr().out.split()
    assert command[1:4] == ["-m", "jupyter", "lab"]
    assert f"--ServerApp.root_dir={NOTEBOOK.parent}" in command and QUICKSTART in command
    assert command[-1] == "--no-browser"  # extra arguments go to JupyterLab, last so that they win


def test_elsewhere_it_opens_a_writable_copy(tmp_path):
    copy = quickstart_notebook(tmp_path / "demo")
    assert copy == tmp_path / "demo" / QUICKSTART
    assert json.loads(copy.read_text())["cells"] == json.loads(NOTEBOOK.read_text())["cells"]
    copy.write_text("{}")  # a person's edits are never overwritten
    assert quickstart_notebook(tmp_path / "demo").read_text() == "{}"


def test_python_dash_m_nbviz():
    out = subprocess.run([sys.executable, "-m", "nbviz", "demo", "--print"], capture_output=True, text=True, check=True)
    assert "jupyter lab" in out.stdout and QUICKSTART in out.stdout


def test_as_root_jupyterlab_gets_allow_root_and_the_person_is_told():
    launch = lab_launch(NOTEBOOK, [], root=True, browser=True, environ={})
    assert launch.command.count("--allow-root") == 1
    assert "running as root, so JupyterLab is started with --allow-root" in launch.notes
    # Given already (in either spelling), it is not added twice.
    for given in (["--allow-root"], ["--ServerApp.allow_root=True"]):
        launch = lab_launch(NOTEBOOK, given, root=True, browser=True, environ={})
        assert launch.command.count("--allow-root") == given.count("--allow-root")


def test_as_a_normal_user_nothing_about_root():
    launch = lab_launch(NOTEBOOK, [], root=False, browser=True, environ={})
    assert "--allow-root" not in launch.command
    assert not any("root" in note for note in launch.notes)


def test_the_first_line_says_where_to_point_a_browser():
    headless = lab_launch(NOTEBOOK, [], root=False, browser=False, environ={})
    port = headless.command[headless.command.index("--ServerApp.port_retries=0") - 1].split("=")[1]
    token = headless.env["JUPYTER_TOKEN"]  # in the environment, not in the process list
    assert token not in " ".join(headless.command) and len(token) >= 32
    assert headless.url == f"http://localhost:{port}/lab/tree/{QUICKSTART}?token={token}"
    assert headless.notes[0] == f"no browser will open here: point one at {headless.url}"
    # --no-browser says the same, whether or not a browser could open.
    assert (
        lab_launch(NOTEBOOK, ["--no-browser"], root=False, browser=True, environ={})
        .notes[0]
        .startswith("no browser will open here: point one at http://localhost:")
    )
    assert lab_launch(NOTEBOOK, [], root=False, browser=True, environ={}).notes[0].startswith("opening http://")


def test_a_port_token_or_address_the_person_gives_is_used_and_announced():
    launch = lab_launch(
        NOTEBOOK, ["--port", "8890", "--ip=127.0.0.1", "--IdentityProvider.token=abc"], root=False, browser=False
    )
    assert launch.url == f"http://127.0.0.1:8890/lab/tree/{QUICKSTART}?token=abc"
    assert not any(arg.startswith("--ServerApp.port=") for arg in launch.command) and launch.env == {}
    assert launch.command[-3:] == ["8890", "--ip=127.0.0.1", "--IdentityProvider.token=abc"]
    # A token already in the environment is JupyterLab's too; an empty one means no token.
    assert lab_launch(NOTEBOOK, [], root=False, browser=False, environ={"JUPYTER_TOKEN": "t0"}).url.endswith(
        "?token=t0"
    )
    no_token = lab_launch(NOTEBOOK, ["--ServerApp.token="], root=False, browser=False, environ={})
    assert no_token.url.endswith(f"/lab/tree/{QUICKSTART}") and no_token.env == {}


def test_option_reads_both_spellings_and_the_last_wins():
    assert option(["--port=1", "--no-browser", "--port", "2"], ["--port"]) == "2"
    assert option(["--port", "--no-browser"], ["--port"]) is None
    assert option(["--ServerApp.port=7"], ["--port", "--ServerApp.port"]) == "7"


def test_free_port_skips_a_port_in_use():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        assert free_port(taken, tries=1) != taken
