"""Opened in JupyterLab, a stored notebook is not marked modified (before it was, as soon as its kernel answered:
JupyterLab writes the kernel's kernelspec and language_info into the notebook, and cell ids it lacked).

The lab serves copies of the notebooks, so that nothing it might save reaches the repository.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.lab import chromium_path, launch_chromium, start_lab

ROOT = Path(__file__).parents[2]
NOTEBOOKS = ("01_quickstart.ipynb", "06_keras_hub.ipynb")

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    if chromium_path() is None:
        pytest.skip("no Chromium")
    pytest.importorskip("playwright.sync_api")
    folder = tmp_path_factory.mktemp("notebooks")
    for name in NOTEBOOKS:
        shutil.copyfile(ROOT / "notebooks" / name, folder / name)
    # The control: the quickstart as it was stored before (no language_info, "Python 3" as the kernel's name).
    old = json.loads((folder / NOTEBOOKS[0]).read_text())
    old["metadata"] = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}}
    (folder / "old_quickstart.ipynb").write_text(json.dumps(old, indent=1) + "\n")
    url, stop = start_lab(folder)
    yield url, folder
    stop()


def dirty_after_the_kernel_answers(browser: Any, url: str, name: str) -> tuple[bool, bool]:
    """Open ``name`` in a page of its own (nothing run), wait until its kernel has answered and JupyterLab has
    taken its info; returns whether the document model and its tab are marked modified."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        return _dirty(page, url, name)
    finally:
        page.close()  # without running JupyterLab's "leave unsaved changes?" handler


def _dirty(page: Any, url: str, name: str) -> tuple[bool, bool]:
    page.goto(f"{url}/lab/tree/{name}?reset")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
    page.wait_for_function(
        "() => (document.querySelector('#jp-main-statusbar')?.innerText || '').includes('Idle')", timeout=120_000
    )
    page.evaluate(
        """async () => {
            const panel = window.jupyterapp.shell.currentWidget;
            await panel.sessionContext.ready;
            await panel.sessionContext.session.kernel.info;
        }"""
    )
    page.wait_for_timeout(2000)  # the language_info update follows the kernel's info reply
    model = page.evaluate("() => window.jupyterapp.shell.currentWidget.context.model.dirty")
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current.jp-mod-dirty").count() > 0
    return bool(model), tab


def test_notebooks_open_unmodified(lab):
    from playwright.sync_api import sync_playwright

    url, folder = lab
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            # The control first: the check sees a notebook JupyterLab changes on open.
            assert dirty_after_the_kernel_answers(browser, url, "old_quickstart.ipynb") == (True, True)
            for name in NOTEBOOKS:
                assert dirty_after_the_kernel_answers(browser, url, name) == (False, False), name
        finally:
            browser.close()
    for name in NOTEBOOKS:  # nothing saved either
        assert (folder / name).read_bytes() == (ROOT / "notebooks" / name).read_bytes()
