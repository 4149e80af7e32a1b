"""The gallery: every tab of five models, at 900 and 1,600 px, in JupyterLab's light and dark themes, to screenshots,
each checked by what a person sees (tests/browser/page_checks.py).

Run: python -m benchmarks.gallery [--models cnn mlp] [--widths 900] [--themes dark] [--out artifacts/gallery]
(``make gallery`` runs it all). Prints one table of failures per model, tab, width and theme, then each failure,
and the gallery's total time; writes the screenshots (``<model>-<width>-<theme>-<tab>.png``), ``failures.txt``
and ``gallery.json`` (the failures and the bytes of each tab's first draw) into the output folder. Exits with
status 1 when a check failed.

Each model gets a notebook of its own in a temporary folder (one cell: build it, ``nbviz.explore`` it), opened and
run in one JupyterLab page; for each width and theme every tab is opened, left to finish (no "computing..." note,
its heatmaps quiet), photographed and checked. The tab's first draw is measured too: the bytes of the kernel's
websocket frames from the click until the tab settled, the first time it opens.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.browser.lab import (
    ROOT,
    chromium_path,
    end_sessions,
    launch_chromium,
    open_notebook,
    open_tab,
    start_lab,
    wait_for_settled,
)
from tests.browser.page_checks import BLANK, CHECKS, ConsoleLog, run_checks

OUT = ROOT / "artifacts" / "gallery"
WIDTHS = (900, 1600)
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}
HEIGHT = 2000  # tall enough that the whole Explorer is on screen: contrast reads what is drawn under each text
TIMEOUT = 300_000  # ms: a notebook that builds ResNet50 on two shared cores
SETTLE_TIMEOUT = 60_000  # ms: a tab that computes (SHAP's first estimate, a projection)

_SETUP = f"""import os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, {str(ROOT)!r})  # tests.zoo builds the KerasHub models offline
import numpy as np
import keras
import nbviz
"""

#: name: (what it is, the code that builds ``ex``); the notebook shows ``ex`` as its last line.
MODELS: dict[str, tuple[str, str]] = {
    "cnn": (
        "demo CNN (digits)",
        """from nbviz import demo
d = demo.digits_cnn()
ex = nbviz.explore(d.model, d.x_test, d.y_test, class_names=d.class_names)""",
    ),
    "mlp": (
        "breast cancer MLP",
        """from nbviz import demo
b = demo.breast_cancer_mlp()
ex = nbviz.explore(
    b.model, b.x_test, b.y_test, feature_names=b.feature_names, class_names=b.class_names,
    datasets={"train": (b.x_train, b.y_train), "test": (b.x_test, b.y_test)},
)""",
    ),
    "bert": (
        "KerasHub BERT classifier (tiny, random weights)",
        """from tests import zoo
case = zoo.bert_classifier()
ex = nbviz.explore(case.model, case.x, case.y, loss=case.loss)""",
    ),
    "gpt2": (
        "KerasHub GPT-2 causal LM (tiny, random weights)",
        """from tests import zoo
case = zoo.gpt2_causal_lm()
ex = nbviz.explore(case.model, case.x, case.y, loss=case.loss)""",
    ),
    "resnet50": (
        "ResNet50 (random weights, 224 px)",
        """keras.utils.set_random_seed(0)
model = keras.applications.ResNet50(weights=None)
rng = np.random.default_rng(0)
images = rng.uniform(0, 255, size=(4, 224, 224, 3)).astype("float32")
ex = nbviz.explore(model, images, rng.integers(0, 1000, size=4))""",
    ),
}


@dataclass
class Shot:
    """One tab of one model at one width and theme: its screenshot and what the checks found."""

    model: str
    tab: str
    width: int
    theme: str
    png: str = ""
    failures: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class Gallery:
    shots: list[Shot] = field(default_factory=list)
    first_draw_bytes: dict[str, dict[str, int]] = field(default_factory=dict)  # model -> tab -> bytes
    seconds: float = 0.0

    @property
    def failed(self) -> list[Shot]:
        return [shot for shot in self.shots if shot.failures]


def write_notebook(folder: Path, name: str) -> str:
    """The notebook of model ``name`` in ``folder``; returns its file name."""
    cell = _SETUP + MODELS[name][1] + "\nex\n"
    notebook = {
        "cells": [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": cell}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = folder / f"{name}.ipynb"
    path.write_text(json.dumps(notebook))
    return path.name


def set_theme(page: Any, theme: str) -> None:
    """Switch JupyterLab to ``theme`` ("JupyterLab Light" or "JupyterLab Dark") and wait until it applies."""
    page.evaluate(f"() => window.jupyterapp.commands.execute('apputils:change-theme', {{theme: '{theme}'}})")
    light = "true" if "Light" in theme else "false"
    page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{light}'", timeout=TIMEOUT)
    page.wait_for_timeout(300)  # the theme's CSS variables reach every figure


def settle(page: Any, panel: Any) -> None:
    """Wait until the panel has computed (no "computing..." note shown) and its heatmaps stopped changing."""
    try:
        page.wait_for_function(
            """panel => ![...panel.querySelectorAll('.nbviz-note')].some(
                n => n.offsetParent !== null && /computing/i.test(n.textContent))""",
            arg=panel.element_handle(),
            timeout=SETTLE_TIMEOUT,
        )
    except Exception:  # noqa: BLE001 - still computing after a minute: photograph and check what shows
        pass
    wait_for_settled(panel, quiet_ms=400, timeout_ms=SETTLE_TIMEOUT)
    try:  # d3 fades new ticks in (opacity 1e-6 -> 1): a check mid-fade would read pale text
        page.wait_for_function(
            """panel => [...panel.querySelectorAll('g.tick')].every(
                t => !t.hasAttribute('opacity') || parseFloat(t.getAttribute('opacity')) >= 1)""",
            arg=panel.element_handle(),
            timeout=5_000,
        )
    except Exception:  # noqa: BLE001 - a tick that never finishes fading is the contrast check's to report
        pass
    page.wait_for_timeout(300)  # bqplot redraws a figure that was just shown after a debounce


class KernelBytes:
    """Bytes of the frames the kernel's websockets send to the page (comm messages and their status messages)."""

    def __init__(self, page: Any) -> None:
        self.received = 0
        page.on("websocket", self._on_socket)

    def _on_socket(self, socket: Any) -> None:
        if "/api/kernels/" in socket.url:
            socket.on("framereceived", self._on_frame)

    def _on_frame(self, payload: str | bytes) -> None:
        self.received += len(payload.encode() if isinstance(payload, str) else payload)


def render_model(
    browser: Any, url: str, folder: Path, name: str, widths: Iterable[int], themes: Iterable[str], out: Path
) -> tuple[list[Shot], dict[str, int]]:
    """Every tab of model ``name`` at each width and theme: screenshots into ``out``, the checks' failures, and
    the bytes of each tab's first draw."""
    notebook = write_notebook(folder, name)
    widths, themes = list(widths), list(themes)
    page = browser.new_page(viewport={"width": widths[0], "height": HEIGHT})
    console = ConsoleLog().attach(page)
    wire = KernelBytes(page)
    shots: list[Shot] = []
    first_draw: dict[str, int] = {}
    seen: set[tuple[int, str, str, str]] = set()
    try:
        try:
            open_notebook(page, url, notebook=notebook, timeout_ms=TIMEOUT)
        except Exception as error:  # noqa: BLE001 - say what the cell showed instead (a traceback)
            shown = [text[-400:] for text in page.locator(".jp-OutputArea").all_inner_texts()]
            raise RuntimeError(f"the notebook drew no Explorer; it shows: {shown}") from error
        ex = _explorer(page)
        # The notebook's run: the Explorer and its first tab, drawn before any click.
        first_draw["(notebook run)"] = wire.received
        tabs = [t.strip() for t in ex.locator(".lm-TabBar-tab").all_inner_texts()]
        loading = console.since(0)
        if loading:
            shots.append(Shot(name, "(notebook run)", widths[0], themes[0], failures={"console": loading}))
        for width in widths:
            page.set_viewport_size({"width": width, "height": HEIGHT})
            for theme in themes:
                set_theme(page, THEMES[theme])
                page.wait_for_timeout(1000)  # bqplot redraws resized figures after a debounce
                for tab in tabs:
                    start, mark, sent = time.perf_counter(), console.mark(), wire.received
                    panel = open_tab(ex, tab)
                    settle(page, panel)
                    if tab not in first_draw:
                        first_draw[tab] = wire.received - sent
                    ex.scroll_into_view_if_needed()
                    shot = Shot(name, tab, width, theme)
                    path = out / f"{name}-{width}-{theme}-{tab.lower().replace(' ', '_')}.png"
                    ex.screenshot(path=path)
                    shot.png = str(path)
                    # What the header or the tab bar shows fails once per width and theme, not under every tab.
                    shot.failures = {}
                    found = run_checks(ex, panel)
                    # The header (layer graph, sample view) is a panel too: a figure that did not draw leaves it blank.
                    for part in header_parts(ex):
                        found.setdefault("blank", []).extend(f"header: {f}" for f in part.evaluate(BLANK))
                    for check, failures in found.items():
                        new = [f for f in failures if (width, theme, check, f) not in seen]
                        seen.update((width, theme, check, f) for f in new)
                        if new:
                            shot.failures[check] = new
                    messages = console.since(mark)
                    if messages:
                        shot.failures["console"] = messages
                    shot.seconds = time.perf_counter() - start
                    shots.append(shot)
    finally:
        page.close()
        end_sessions(url)  # the model's kernel stops: ResNet50's memory is not held while the next one runs
    return shots, first_draw


# The parts of the Explorer beside or above its tabs (header, layer graph, sample view), taller than a blank run.
_HEADER_PARTS = """root => {
    const parts = [];
    for (let n = root.querySelector('.widget-tab'); n && n !== root && n.parentElement; n = n.parentElement)
        for (const s of n.parentElement.children)
            if (s !== n && s.getBoundingClientRect().height > 200) parts.push(s);
    return parts;
}"""


def header_parts(explorer: Any) -> list[Any]:
    """Element handles of the Explorer's parts outside its tabs (see ``_HEADER_PARTS``)."""
    handle = explorer.evaluate_handle(_HEADER_PARTS)
    return [p.as_element() for p in handle.get_properties().values() if p.as_element() is not None]


def _explorer(page: Any) -> Any:
    """The gallery notebook's only widget output: the Explorer (waits for it)."""
    output = page.locator(".jp-OutputArea-executeResult .jp-OutputArea-output").filter(
        has=page.locator(".widget-dropdown")
    )
    try:
        output.first.wait_for(timeout=TIMEOUT)
    except Exception as error:  # noqa: BLE001 - say what the cell showed instead
        shown = [text[-400:] for text in page.locator(".jp-OutputArea").all_inner_texts()]
        raise RuntimeError(f"no Explorer in the gallery notebook; it shows: {shown}") from error
    return output.first


def run_gallery(
    models: Iterable[str] = tuple(MODELS),
    widths: Iterable[int] = WIDTHS,
    themes: Iterable[str] = tuple(THEMES),
    out: Path = OUT,
    browser: Any = None,
) -> Gallery:
    """Render and check the gallery; ``browser`` (a Playwright Browser) is launched here when not given."""
    out.mkdir(parents=True, exist_ok=True)
    gallery = Gallery()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nbviz-gallery-") as tmp:
        folder = Path(tmp)
        url, stop = start_lab(folder, log=out / "lab-server.log")
        try:
            if browser is None:
                from playwright.sync_api import sync_playwright

                with sync_playwright() as playwright:
                    own = launch_chromium(playwright)
                    try:
                        _render_all(gallery, own, url, folder, models, widths, themes, out)
                    finally:
                        own.close()
            else:
                _render_all(gallery, browser, url, folder, models, widths, themes, out)
        finally:
            stop()
    gallery.seconds = time.perf_counter() - start
    return gallery


def _render_all(gallery: Gallery, browser: Any, url: str, folder: Path, models, widths, themes, out: Path) -> None:
    for name in models:
        try:
            shots, first_draw = render_model(browser, url, folder, name, widths, themes, out)
        except Exception as error:  # noqa: BLE001 - one model that does not render fails its row, not the gallery
            message = str(error).splitlines()[0][:500]
            shots, first_draw = [Shot(name, "(notebook run)", 0, "", failures={"error": [message]})], {}
        gallery.shots += shots
        gallery.first_draw_bytes[name] = first_draw


def table(gallery: Gallery) -> str:
    """One line per model, tab, width and theme that failed: how many failures of each check."""
    names = [*CHECKS, "console", "error"]
    header = ["model", "tab", "width", "theme", *names]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for shot in gallery.failed:
        counts = [str(len(shot.failures.get(n, []))) or "" for n in names]
        counts = [c if c != "0" else "" for c in counts]
        lines.append("| " + " | ".join([shot.model, shot.tab, str(shot.width), shot.theme, *counts]) + " |")
    return "\n".join(lines)


def details(gallery: Gallery) -> str:
    """Every failure, one line each, grouped by shot."""
    out = []
    for shot in gallery.failed:
        out.append(f"## {shot.model} / {shot.tab} / {shot.width} px / {shot.theme}   ({shot.png})")
        for check, failures in shot.failures.items():
            out += [f"- {check}: {failure}" for failure in failures]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--widths", nargs="+", type=int, default=list(WIDTHS))
    parser.add_argument("--themes", nargs="+", choices=list(THEMES), default=list(THEMES))
    parser.add_argument("--out", type=Path, default=OUT, help="folder of the screenshots (default artifacts/gallery)")
    args = parser.parse_args(argv)
    # Stopped (timeout, kill): leave through the finally blocks, which stop the JupyterLab and its kernels.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if chromium_path() is None:
        print("no Chromium: set NBVIZ_CHROMIUM or install /usr/bin/chromium", file=sys.stderr)
        return 2
    gallery = run_gallery(args.models, args.widths, args.themes, args.out)
    report = details(gallery)
    (args.out / "failures.txt").write_text(report + "\n")
    (args.out / "gallery.json").write_text(
        json.dumps(
            {
                "seconds": gallery.seconds,
                "first_draw_bytes": gallery.first_draw_bytes,
                "shots": [asdict(s) for s in gallery.shots],
            },
            indent=1,
        )  # fmt: skip
    )
    print(table(gallery))
    print()
    print(report)
    print()
    for model, tabs in gallery.first_draw_bytes.items():
        print(f"first draw of each tab, {model}: " + ", ".join(f"{t} {b / 1e3:.1f} kB" for t, b in tabs.items()))
    print(
        f"{len(gallery.shots)} tab views, {len(gallery.failed)} with failures, "
        f"{sum(len(v) for s in gallery.failed for v in s.failures.values())} failures; "
        f"screenshots in {args.out}; gallery time {gallery.seconds:.1f} s"
    )
    return 1 if gallery.failed else 0


if __name__ == "__main__":
    sys.exit(main())
