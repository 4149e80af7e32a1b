"""Start JupyterLab or Voila and a Chromium for browser tests and the browser benchmark.

Shared by ``tests/browser/conftest.py`` and ``benchmarks/browser_latency.py``; the recipe is the one in
TESTING.md (allow_root because CI runs as root, windowing off so every cell output exists, no news pop-up).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = "notebooks/01_quickstart.ipynb"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"]
LAB_SETTINGS = {
    # Without it, cells scrolled off screen are virtualised and their widget outputs may be missing.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    # Otherwise a news pop-up covers the page.
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    # A page open for two minutes saved the run notebook, outputs and all, into the repository: the next page then
    # asked for the widgets of that output, gone with the old kernel ("widget model not found").
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}
# Notebook 7 reads the same settings; the others are JupyterLab's own.
NOTEBOOK7_SETTINGS = {
    name: value for name, value in LAB_SETTINGS.items() if name.startswith("@jupyterlab/docmanager-extension")
}
# Console errors that say nothing about nbviz: the missing favicon, and bqplot drawing a figure that is hidden
# (display: none gives it a zero size, so its marks get negative widths for a moment).
HARMLESS = ("favicon", "attribute width: A negative value", "attribute height: A negative value")
# A race in bqplot 0.13.1's Axis view: its scale's "domain_changed" listener is attached before the view has made
# its d3 axis, so a mark whose data changes while its figure is still being drawn throws in
# Axis.update_scale_domain (this.axis is undefined). With "run all cells" the quickstart's second cell redraws
# the weights histogram (ex.layer = "conv2") while the first cell's output is still rendering: seen in about 1
# run in 7 with a cold browser cache, more under CPU load. Tolerated only until the notebook has run (then
# recorded in Console.known); at any later moment it fails the test like any other "Error setting state".
BQPLOT_AXIS_RACE = "Error setting state: Cannot read properties of undefined (reading 'scale')"

Stop = Callable[[], None]


def write_notebook(path: Path, sources: list[str]) -> str:
    """Write a notebook of code cells ``sources`` (Python 3 kernel) at ``path``; returns its file name."""
    cells = [
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": c} for c in sources
    ]
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.write_text(
        json.dumps({"cells": cells, "metadata": {"kernelspec": kernel}, "nbformat": 4, "nbformat_minor": 5})
    )
    return path.name


def free_port() -> int:
    """A TCP port nobody listens on now (bind to port 0 and let the OS choose)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def chromium_wanted() -> str:
    """Where the Chromium should be: ``$NBVIZ_CHROMIUM``, else Debian's ``/usr/bin/chromium``."""
    return os.environ.get("NBVIZ_CHROMIUM", "/usr/bin/chromium")


def chromium_path() -> str | None:
    """:func:`chromium_wanted` if it exists and runs; None otherwise."""
    found = shutil.which(chromium_wanted())
    return found if found and os.access(found, os.X_OK) else None


def launch_chromium(playwright: Any, executable: str | None = None) -> Any:
    """A headless Chromium Browser from the system's executable (Playwright's own download is not used)."""
    executable = executable or chromium_path()
    if executable is None:
        raise FileNotFoundError("no Chromium: set NBVIZ_CHROMIUM or install /usr/bin/chromium")
    return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)


def _wait_http(url: str, process: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode} before {url} answered; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s; see {log}")


def _stopper(process: subprocess.Popen, workdir: Path, before: Callable[[], None] | None = None) -> Stop:
    def stop() -> None:
        if process.poll() is None:
            if before is not None:
                try:
                    before()
                except (OSError, urllib.error.URLError):
                    pass  # the server is going down anyway; SIGTERM shuts its kernels down too
            process.terminate()  # both servers shut their kernels down on SIGTERM
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)

    return stop


def _start(command: list[str], env: dict[str, str], url: str, workdir: Path, log: Path, timeout: float):
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_http(url, process, timeout, log)
    except BaseException:
        _stopper(process, workdir)()
        raise
    return process


def _start_jupyter(
    app: str, root: Path, log: Path | None, timeout: float, settings: dict[str, Any], flags: list[str]
) -> tuple[str, Stop]:
    """Start ``jupyter <app>`` (lab or notebook) serving ``root`` on a free port, with ``settings`` as its only
    user settings; returns its base URL and a function that stops it (and its kernels)."""
    workdir = Path(tempfile.mkdtemp(prefix=f"nbviz-{app}-"))
    folder = workdir / "settings"
    folder.mkdir()
    for name, value in settings.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "jupyter", app, "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        "--IdentityProvider.token=", "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
        "--ServerApp.allow_root=True", f"--ServerApp.root_dir={root}", *flags,
    ]  # fmt: skip
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(folder))
    process = _start(command, env, f"{url}/api/status", workdir, log or workdir / "server.log", timeout)

    def shutdown_kernels() -> None:
        for kernel in get_json(f"{url}/api/kernels"):
            request = urllib.request.Request(f"{url}/api/kernels/{kernel['id']}", method="DELETE")
            urllib.request.urlopen(request, timeout=20).close()

    return url, _stopper(process, workdir, before=shutdown_kernels)


def start_lab(root: Path = ROOT, log: Path | None = None, timeout: float = 90.0) -> tuple[str, Stop]:
    """Start JupyterLab serving ``root`` on a free port; returns its base URL and a function that stops it.

    The server log goes to ``log`` (default: a file in the temporary folder, removed by ``stop``).
    """
    workspaces = Path(tempfile.mkdtemp(prefix="nbviz-workspaces-"))
    flags = [f"--LabApp.workspaces_dir={workspaces}", "--LabApp.expose_app_in_browser=True"]
    url, stop = _start_jupyter("lab", root, log, timeout, LAB_SETTINGS, flags)

    def stop_and_clean() -> None:
        stop()
        shutil.rmtree(workspaces, ignore_errors=True)

    return url, stop_and_clean


def start_notebook7(root: Path = ROOT, log: Path | None = None, timeout: float = 90.0) -> tuple[str, Stop]:
    """Start Jupyter Notebook 7 (``jupyter notebook``) serving ``root``, with autosave off and its defaults else."""
    flags = ["--JupyterNotebookApp.expose_app_in_browser=True"]
    return _start_jupyter("notebook", root, log, timeout, NOTEBOOK7_SETTINGS, flags)


def start_voila(notebook: str = QUICKSTART, log: Path | None = None, timeout: float = 90.0) -> tuple[str, Stop]:
    """Start Voila on ``notebook`` (relative to the repository) on a free port; returns its URL and a stopper."""
    workdir = Path(tempfile.mkdtemp(prefix="nbviz-voila-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "voila", notebook, "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1"]
    log = log or workdir / "voila.log"
    # Voila's start page runs the whole notebook, so ask for a static file to know that the server is up.
    process = _start(command, dict(os.environ), f"{url}/voila/static/voila.js", workdir, log, timeout)
    return url, _stopper(process, workdir)


def end_sessions(base_url: str) -> None:
    """End every notebook session of the server at ``base_url`` (their kernels stop): a page opened after this
    runs its notebook in a new kernel, not in one whose widgets the run would close under the page's feet."""
    for session in get_json(f"{base_url}/api/sessions"):
        request = urllib.request.Request(f"{base_url}/api/sessions/{session['id']}", method="DELETE")
        urllib.request.urlopen(request, timeout=20).close()


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=20) as response:
        return json.load(response)


@dataclass
class Console:
    """Browser console errors and uncaught page errors of one page, minus the known harmless ones.

    Set ``ready`` once the page has rendered: before that, the known bqplot race goes to ``known``.
    """

    errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    known: list[str] = field(default_factory=list)
    ready: bool = False

    def attach(self, page: Any) -> Console:
        page.on("console", self._on_console)
        page.on("pageerror", lambda err: self.page_errors.append(str(err)))
        return self

    def _on_console(self, message: Any) -> None:
        if message.type != "error" or any(text in message.text for text in HARMLESS):
            return
        if not self.ready and message.text == BQPLOT_AXIS_RACE:
            self.known.append(message.text)
        else:
            self.errors.append(message.text)

    def fatal(self) -> list[str]:
        """What fails a test: widget state that could not be set, and any uncaught page error."""
        return [e for e in self.errors if "Error setting state" in e] + [f"pageerror: {e}" for e in self.page_errors]


def open_notebook(page: Any, base_url: str, notebook: str = QUICKSTART, timeout_ms: float = 120_000) -> None:
    """Open ``notebook`` in JupyterLab, wait for an idle kernel, run all cells and wait for the first figure."""
    page.goto(f"{base_url}/lab/tree/{notebook}?reset")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout_ms)
    page.wait_for_function(
        "() => (document.querySelector('#jp-main-statusbar')?.innerText || '').includes('Idle')", timeout=timeout_ms
    )
    _run_all(page, timeout_ms)


def open_notebook7(page: Any, base_url: str, notebook: str = QUICKSTART, timeout_ms: float = 120_000) -> None:
    """Open ``notebook`` in Notebook 7, run all cells once its kernel is idle, and wait until every cell ran."""
    page.goto(f"{base_url}/notebooks/{notebook}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout_ms)
    page.wait_for_function(
        "() => window.jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'",
        timeout=timeout_ms,
    )
    _run_all(page, timeout_ms)


def _run_all(page: Any, timeout_ms: float) -> None:
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_selector("div.bqplot.figure svg.svg-figure", timeout=timeout_ms)
    # Run-all returns before the kernel is done; the last cell's prompt shows a number once all cells ran.
    page.wait_for_function(
        """() => {
            const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
            return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.innerText));
        }""",
        timeout=timeout_ms,
    )


VIEWPORT = {"width": 1500, "height": 1400}


@contextmanager
def notebook_in_lab(playwright: Any, folder: Path, notebook: str, timeout_ms: float) -> Iterator[Any]:
    """A Chromium page of a JupyterLab serving ``folder``, with ``notebook`` open and run (what the browser
    benchmarks measure in); the browser and the lab stop after."""
    url, stop = start_lab(folder)
    browser = launch_chromium(playwright)
    try:
        page = browser.new_page(viewport=VIEWPORT)
        open_notebook(page, url, notebook=notebook, timeout_ms=timeout_ms)
        yield page
    finally:
        browser.close()
        stop()


# ------------------------------------------------------------------------------------------- the Explorer page
def explorer(page: Any) -> Any:
    """The Explorer widget's element: the first cell output holding a dropdown (in JupyterLab and in Voila)."""
    outputs = page.locator(".jp-OutputArea-executeResult .jp-OutputArea-output")
    return outputs.filter(has=page.locator(".widget-dropdown")).first


def cell_widget(page: Any, notebook: str, source: str, timeout_ms: float = 30_000) -> Any:
    """The widget output of the cell of ``notebook`` whose source holds ``source``.

    Found by the cell's place in the notebook file, not by its place among the outputs: a cell whose widget is
    missing then fails here with what that cell shows instead (a traceback, a warning), not as a later cell's widget
    in its place. (Not by the editor's text: CodeMirror leaves lines out of the page when they are off screen.)
    """
    cells = json.loads((ROOT / notebook).read_text())["cells"]
    index = next(i for i, cell in enumerate(cells) if source in "".join(cell["source"]))
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    output = cell.locator(".jp-OutputArea-executeResult .jp-OutputArea-output").filter(
        has=page.locator(".widget-dropdown")
    )
    try:
        output.wait_for(timeout=timeout_ms)
    except Exception as error:  # playwright's TimeoutError: say what the cell showed instead
        shown = cell.locator(".jp-OutputArea").all_inner_texts()
        raise AssertionError(f"no widget in cell {index} of {notebook} ({source!r}); it shows: {shown}") from error
    return output


def visible_panel(explorer: Any) -> Any:
    """The tab panel shown now (Lumino hides the others with lm-mod-hidden)."""
    return explorer.locator(".widget-tab-contents > .widget-box:not(.lm-mod-hidden)")


def layer_select(explorer: Any) -> Any:
    """The layer dropdown's <select> (ipywidgets uses the option labels as values)."""
    return explorer.locator(".widget-dropdown select").first


def sample_readout(explorer: Any) -> Any:
    """The sample slider's readout: the index of the sample shown."""
    return explorer.locator(".widget-readout").first


def current_tab(explorer: Any) -> Any:
    """The tab bar's current tab."""
    return explorer.locator(".lm-TabBar-tab.lm-mod-current")


def open_tab(explorer: Any, name: str) -> Any:
    """Click the tab ``name``; returns its panel once the tab bar shows it as current."""
    explorer.get_by_role("tab", name=name, exact=True).click()
    assert current_tab(explorer).inner_text().strip() == name
    return visible_panel(explorer)


def wait_for_readout(explorer: Any, text: str, timeout_ms: float = 30_000) -> None:
    """Wait until the sample readout reads ``text``."""
    explorer.page.wait_for_function(
        "([el, text]) => el.textContent.trim() === text",
        arg=[sample_readout(explorer).element_handle(), text],
        timeout=timeout_ms,
    )


def plot_title(root: Any) -> Any:
    """The title of the first plot under ``root`` (nbviz draws it as HTML above the figure: ``.nbviz-title``)."""
    return root.locator(".nbviz-title").first


def wait_for_title(root: Any, text: str, prefix: bool = False, timeout_ms: float = 30_000) -> None:
    """Wait until the first plot title under ``root`` reads ``text`` (or starts with it, if ``prefix``).

    The locator is resolved again at every poll, so the wait cannot hold on to an element that was replaced.
    """
    from playwright.sync_api import expect

    expected = re.compile("^" + re.escape(text)) if prefix else text
    expect(plot_title(root)).to_have_text(expected, timeout=timeout_ms)


def heatmap_hrefs(root: Any) -> list[str]:
    """The PNG data URLs of every HeatMap under ``root``: bqplot draws a heatmap into one <image>."""
    return root.locator("image.heatmap").evaluate_all("els => els.map(e => e.getAttribute('href') || '')")


def wait_for_new_heatmap(root: Any, before: list[str], timeout_ms: float = 30_000) -> list[str]:
    """Wait until some heatmap under ``root`` shows a picture that is not in ``before``; returns the new hrefs."""
    root.page.wait_for_function(
        """([root, before]) => {
            const old = new Set(before);
            return [...root.querySelectorAll('image.heatmap')].some(e => {
                const href = e.getAttribute('href');
                return href && href.startsWith('data:image/png') && !old.has(href);
            });
        }""",
        arg=[root.element_handle(), before],
        timeout=timeout_ms,
    )
    return heatmap_hrefs(root)


def wait_for_settled(root: Any, quiet_ms: float = 400, timeout_ms: float = 30_000) -> list[str]:
    """Wait until the heatmaps under ``root`` have not changed for ``quiet_ms``; returns their hrefs.

    A panel that was hidden redraws its old picture when shown and its new one a moment later: a baseline
    taken in between would make a later comparison pass for the wrong reason.
    """
    token = os.urandom(8).hex()
    root.page.wait_for_function(
        """([root, quiet, token]) => {
            const key = [...root.querySelectorAll('image.heatmap')].map(e => e.getAttribute('href')).join('|');
            const now = performance.now();
            const s = window.__nbvizSettle;
            if (!s || s.token !== token || s.key !== key) {
                window.__nbvizSettle = {token, key, since: now};
                return false;
            }
            return now - s.since >= quiet;
        }""",
        arg=[root.element_handle(), quiet_ms, token],
        polling=50,
        timeout=timeout_ms,
    )
    return heatmap_hrefs(root)
