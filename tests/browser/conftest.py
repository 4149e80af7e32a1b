"""A real Chromium against JupyterLab and Voila: servers and the browser are started once per session.

Without a Chromium the browser tests are skipped, except on CI (``CI=true``), where they fail: a green CI run
must mean that a browser saw the widgets.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from .lab import (
    ROOT,
    VIEWPORT,
    Console,
    chromium_path,
    chromium_wanted,
    launch_chromium,
    open_notebook,
    start_lab,
    start_voila,
)

ARTIFACTS = ROOT / "test-artifacts"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: browser tests must run on CI)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="package")
def chromium_executable() -> str:
    path = chromium_path()
    if path is None:
        _unavailable(f"no Chromium executable at {chromium_wanted()}: apt-get install chromium, or set NBVIZ_CHROMIUM")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("the playwright package is not installed: pip install -e '.[test]'")
    return str(path)


@pytest.fixture(scope="package")
def artifacts() -> Path:
    """Where screenshots and server logs go (gitignored; CI keeps it)."""
    ARTIFACTS.mkdir(exist_ok=True)
    for stale in ARTIFACTS.glob("failed-*.png"):
        stale.unlink()  # from an earlier run: would blame tests that pass now
    return ARTIFACTS


@pytest.fixture(scope="package")
def browser(chromium_executable: str) -> Iterator[Any]:
    # Package scope: Playwright runs an event loop in the main thread while it lives, which other tests must
    # not inherit.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, chromium_executable)
        yield browser
        browser.close()


@pytest.fixture(scope="package")
def lab_url(chromium_executable: str, artifacts: Path) -> Iterator[str]:
    """A JupyterLab serving the repository (so ``notebooks/`` is visible); stopped with its kernels at the end."""
    url, stop = start_lab(ROOT, log=artifacts / "lab-server.log")
    yield url
    stop()


@pytest.fixture(scope="package")
def voila_url(chromium_executable: str, artifacts: Path) -> Iterator[str]:
    """Voila on the quickstart notebook; stopped with its kernels at the end."""
    url, stop = start_voila(log=artifacts / "voila-server.log")
    yield url
    stop()


class BrowserPage:
    """A page and the console errors it produced."""

    def __init__(self, browser: Any) -> None:
        self.page = browser.new_page(viewport=VIEWPORT)
        self.console = Console().attach(self.page)
        self.reported = 0

    def slow_network(self, latency_ms: float) -> None:
        """Delay every HTTP request of this page by ``latency_ms``, as on Binder (Chromium's own emulation)."""
        cdp = self.page.context.new_cdp_session(self.page)
        cdp.send("Network.enable")
        conditions = {"offline": False, "latency": latency_ms, "downloadThroughput": -1, "uploadThroughput": -1}
        cdp.send("Network.emulateNetworkConditions", conditions)

    def rendered(self) -> None:
        """The page has rendered: from now on every widget error counts (see lab.BQPLOT_AXIS_RACE)."""
        self.console.ready = True
        for text in self.console.known:
            warnings.warn(f"known bqplot race while the notebook rendered: {text}", stacklevel=2)

    def check_console(self) -> None:
        """Fail on errors that appeared since the last check (the first check includes the page's setup)."""
        fatal = self.console.fatal()
        new, self.reported = fatal[self.reported :], len(fatal)
        assert not new, "browser errors:\n" + "\n".join(new)

    def close(self, log: Path | None = None) -> None:
        """Close the page; write every console error it saw to ``log`` (for a person reading CI artifacts)."""
        if log is not None:
            lines = [f"console error: {e}" for e in self.console.errors]
            lines += [f"known bqplot race (tolerated while rendering): {e}" for e in self.console.known]
            lines += [f"pageerror: {e}" for e in self.console.page_errors]
            log.write_text("\n".join(lines) + "\n" if lines else "")
        self.page.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    # Keep each phase's report on the test, so that a fixture can screenshot a failure.
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@contextmanager
def notebook_page(browser: Any, lab_url: str, notebook: str, log: Path) -> Iterator[BrowserPage]:
    """A page with ``notebook`` open in JupyterLab and run (one per test module); its console errors go to ``log``."""
    page = BrowserPage(browser)
    open_notebook(page.page, lab_url, notebook=notebook, timeout_ms=240_000)
    page.rendered()
    yield page
    page.close(log=log)


def notebook_fixtures(notebook: str, log_name: str) -> tuple[Any, Any]:
    """A test module's ``lab`` fixture (``notebook`` open and run, once per module; console errors to ``log_name``
    under the artifacts) and its autouse ``_checks`` (a screenshot on failure, no new console error): assign both
    at module level, ``lab, _checks = notebook_fixtures(NOTEBOOK, "name-console.txt")``."""

    @pytest.fixture(scope="module")
    def lab(browser: Any, lab_url: str, artifacts: Path) -> Iterator[BrowserPage]:
        with notebook_page(browser, lab_url, notebook, artifacts / log_name) as page:
            yield page

    @pytest.fixture(autouse=True)
    def _checks(request: pytest.FixtureRequest, lab: BrowserPage, artifacts: Path) -> Iterator[None]:
        yield
        screenshot_on_failure(request, lab.page, artifacts)
        lab.check_console()

    return lab, _checks


def screenshot_on_failure(request: pytest.FixtureRequest, page: Any, artifacts: Path) -> None:
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        page.screenshot(path=artifacts / f"failed-{request.node.name}.png", full_page=True)
