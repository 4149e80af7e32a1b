"""The README's first command, end to end: ``make lab`` on a fresh copy of the repository, as the user running
the tests (root on CI), serves the quickstart, and its Explorer draws in a real Chromium.

The copy holds what a clone would (tracked files, and new ones git does not ignore), so no virtual environment
comes with it: ``make lab`` makes one and installs the ``lab`` extra, as on a fresh machine.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tarfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import BrowserPage, screenshot_on_failure
from .lab import ROOT, explorer, layer_select, wait_for_settled

pytestmark = [pytest.mark.browser, pytest.mark.slow]

INSTALL_TIMEOUT = 1500  # s: a fresh venv with TensorFlow, about a minute from pip's cache, far more without
ADDRESS = re.compile(r"^nbviz: no browser will open here: point one at (\S+)$", re.M)


def fresh_copy(destination: Path) -> Path:
    """The repository's files as a clone would have them: tracked, plus untracked ones that are not ignored."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    archive = destination.with_suffix(".tar")
    with tarfile.open(archive, "w") as tar:
        for name in filter(None, (n.decode() for n in listed)):
            if (ROOT / name).exists():  # deleted in the working tree but not yet in git
                tar.add(ROOT / name, arcname=name)
    with tarfile.open(archive) as tar:
        tar.extractall(destination, filter="tar")
    archive.unlink()
    return destination


def wait_for(predicate: Any, timeout: float, what: str, process: subprocess.Popen, log: Path) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if process.poll() is not None:
            raise AssertionError(f"make lab exited with {process.returncode} before {what}:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    raise AssertionError(f"no {what} within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def get(url: str, token: str) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


@pytest.fixture(scope="module")
def make_lab(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[tuple[str, Path, subprocess.Popen]]:
    """``make lab ARGS=--no-browser`` running in a fresh copy; yields the address nbviz printed, the log and
    the process."""
    clone = fresh_copy(tmp_path_factory.mktemp("clone") / "nbviz")
    log = artifacts / "make-lab.log"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "JUPYTER_TOKEN", "MAKEFLAGS")}
    with open(log, "wb") as out:
        # A session of its own, so that stopping it stops make, nbviz, JupyterLab and its kernels together.
        process = subprocess.Popen(
            ["make", "lab", "ARGS=--no-browser"], cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        found = wait_for(lambda: ADDRESS.search(log.read_text()), INSTALL_TIMEOUT, "address from nbviz", process, log)
        yield found.group(1), log, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # JupyterLab shuts its kernels down on SIGTERM
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def test_make_lab_serves_the_quickstart_and_its_explorer_draws(
    make_lab: tuple[str, Path, subprocess.Popen], browser: Any, artifacts: Path, request: pytest.FixtureRequest
) -> None:
    address, log, process = make_lab
    base, token = re.match(r"(http://[^/]+)/lab/tree/01_quickstart\.ipynb\?token=(\w+)$", address).groups()
    if os.geteuid() == 0:
        assert "nbviz: running as root, so JupyterLab is started with --allow-root" in log.read_text()

    # The server answers, and serves the repository's quickstart from its notebooks folder.
    wait_for(lambda: _answers(f"{base}/api/status", token), 120, "answer from /api/status", process, log)
    served = get(f"{base}/api/contents/01_quickstart.ipynb?content=1", token)
    ours = json.loads((ROOT / "notebooks" / "01_quickstart.ipynb").read_text())
    assert ["".join(c["source"]) for c in served["content"]["cells"]] == ["".join(c["source"]) for c in ours["cells"]]

    # A person opens the printed address and runs the notebook from the Run menu.
    page = BrowserPage(browser)
    try:
        page.page.goto(address)
        page.page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        page.page.wait_for_function(
            "() => (document.querySelector('#jp-main-statusbar')?.innerText || '').includes('Idle')", timeout=120_000
        )
        page.page.locator(".lm-MenuBar-item", has_text=re.compile("^Run$")).click()
        page.page.get_by_role("menuitem", name=re.compile("^Run All Cells")).click()
        ex = explorer(page.page)
        ex.locator("div.bqplot.figure svg.svg-figure").first.wait_for(timeout=120_000)
        # The second cell chose conv2 and the activations tab: its feature maps arrive as a heatmap picture.
        page.page.wait_for_function(
            "el => el.value === 'conv2 (Conv2D)'", arg=layer_select(ex).element_handle(), timeout=60_000
        )
        hrefs = wait_for_settled(ex)
        assert any(h.startswith("data:image/png") for h in hrefs)
        page.rendered()
        page.page.screenshot(path=artifacts / "make-lab.png")
        page.check_console()
    finally:
        screenshot_on_failure(request, page.page, artifacts)
        page.close(log=artifacts / "make-lab-console.txt")


def _answers(url: str, token: str) -> bool:
    try:
        get(url, token)
    except OSError:
        return False
    return True
