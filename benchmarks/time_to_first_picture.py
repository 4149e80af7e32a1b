"""Time to first picture: from ``nbviz.explore()`` to the Explorer on the page, and to its first filled tab.

Run: python -m benchmarks.time_to_first_picture [--quick] [--no-browser]

Four models (a 3,002-layer residual chain, ResNet50 at 224 px with 1,000 classes, a KerasHub BERT classifier and a
tiny KerasHub Gemma 3 causal LM), each in a fresh process:

- in Python: when ``explore()`` returns, and when its first picture is drawn (``Explorer.wait()``), with the first
  picture drawn in a worker as in a kernel;
- in JupyterLab + Chromium: from the cell's ``explore()`` call (the kernel's clock) to the first animation frame
  that shows the Explorer's tab strip and layer graph ("first paint"), and to the frame where the visible tab and
  the sample view no longer say "computing: the first forward pass" ("first filled tab");
- the floor beside them, in a fresh process of its own: the model's first eager call on one sample, and its first
  compiled call on the data (a traced ``predict_on_batch``: the trace and one run).

Target: ``explore()`` returns and the page shows the Explorer within 1 s for any model.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks._timing import Row, ms, table

NAME = "time_to_first_picture"
TARGET = 1.0  # seconds
MODELS = {
    "chain": "3,002-layer residual chain",
    "resnet50": "ResNet50 (224 px, 1,000 classes)",
    "bert": "BERT classifier (KerasHub, 128 tokens)",
    "gemma3": "Gemma 3 causal LM (KerasHub, tiny, 128 tokens)",
}
ROOT = Path(__file__).resolve().parents[1]


def build(name: str) -> tuple[Any, Any, Any]:
    """(model, x, y) for one of :data:`MODELS`, with random weights."""
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    if name == "chain":
        from nbviz.testing import residual_chain

        return residual_chain(1000, named=False), rng.random((50, 4)).astype("float32"), None
    if name == "resnet50":
        model = keras.applications.ResNet50(weights=None)
        return model, rng.random((16, 224, 224, 3)).astype("float32"), rng.integers(0, 1000, 16)
    if name == "bert":
        from benchmarks.update_latency import keras_hub_models

        return keras_hub_models(16)["BERT classifier (KerasHub)"]
    from benchmarks.update_latency import gemma3_model

    return gemma3_model(16)


def _one_sample(x: Any) -> Any:
    return {k: v[:1] for k, v in x.items()} if isinstance(x, dict) else x[:1]


def floor(name: str) -> dict[str, float]:
    """Seconds of the model's first eager call on one sample and of its first compiled call on the data."""
    model, x, _ = build(name)
    start = time.perf_counter()
    model(_one_sample(x), training=False)
    eager = time.perf_counter() - start
    start = time.perf_counter()
    model.predict_on_batch(x)
    compiled = time.perf_counter() - start
    return {"eager": eager, "compiled": compiled}


def in_python(name: str) -> dict[str, float]:
    """Seconds until ``explore()`` returns and until its first picture is drawn (in a worker, as in a kernel)."""
    import nbviz
    from nbviz.ui import shell

    shell.BACKGROUND_START = True
    model, x, y = build(name)
    start = time.perf_counter()
    ex = nbviz.explore(model, x, y)
    returned = time.perf_counter() - start
    ex.wait()
    drawn = time.perf_counter() - start
    failed = [p.error for p in ex.panels.values() if p.error] + ([ex.message.value] if ex.message.value else [])
    ex.close()
    return {"returned": returned, "drawn": drawn, "errors": len(failed)}


def _subprocess(mode: str, name: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.time_to_first_picture", f"--{mode}", name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------- in the browser
def _notebook(folder: Path, name: str) -> str:
    from tests.browser.lab import write_notebook

    cells = [
        f"import sys, time\nsys.path.insert(0, {str(ROOT)!r})\nimport nbviz\n"
        f"from benchmarks.time_to_first_picture import build\nmodel, x, y = build({name!r})",
        "t0 = time.time()\nex = nbviz.explore(model, x, y)\nprint(f'T0={t0:.3f}')\nex",
    ]
    return write_notebook(folder / f"{name}.ipynb", cells)


# Installed before the cells run: the first frame with the Explorer's tabs and graph, and the first frame where no
# part of it says it waits for the first forward pass and the sample view has its caption.
WATCH = """() => {
    window.__first = {paint: null, filled: null};
    const check = () => {
        const view = document.querySelector('.nbviz-view');
        if (!view) return;
        const painted = view.querySelector('.lm-TabBar-tab') && view.querySelector('div.bqplot.figure svg');
        if (painted && window.__first.paint === null) {
            requestAnimationFrame(() => { window.__first.paint = window.__first.paint ?? Date.now(); });
        }
        const text = view.innerText || '';
        const filled = painted && !text.includes('the first forward pass') && /predicted|label/.test(text);
        if (filled && window.__first.filled === null) {
            requestAnimationFrame(() => { window.__first.filled = window.__first.filled ?? Date.now(); });
        }
    };
    new MutationObserver(check).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def in_browser(name: str) -> dict[str, float]:
    """Seconds from the cell's explore() call to the Explorer's first paint and to its first filled tab."""
    from playwright.sync_api import sync_playwright

    from tests.browser.lab import launch_chromium, start_lab

    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        notebook = _notebook(folder, name)
        url, stop = start_lab(folder)
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1400})
            page.goto(f"{url}/lab/tree/{notebook}?reset")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
            page.wait_for_function(
                "() => (document.querySelector('#jp-main-statusbar')?.innerText || '').includes('Idle')",
                timeout=120_000,
            )
            page.evaluate(WATCH)
            # Run all, and again if the kernel took no cell within a minute (it happened once: a kernel that
            # reported Idle before it took requests).
            for attempt in range(2):
                page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
                try:
                    page.wait_for_function(
                        "() => [...document.querySelectorAll('.jp-InputPrompt')].some(p => /\\[\\*\\]|\\[\\d+\\]/"
                        ".test(p.innerText))",
                        timeout=60_000,
                    )
                    break
                except Exception:  # noqa: BLE001 - no cell started: ask again
                    if attempt:
                        raise
            page.wait_for_function("() => window.__first.filled !== null", timeout=1_200_000)
            text = page.locator(".jp-OutputArea-output").filter(has_text="T0=").first.inner_text()
            t0 = float(text.split("T0=")[1].split()[0]) * 1e3
            paint, filled = page.evaluate("() => [window.__first.paint, window.__first.filled]")
            return {"paint": (paint - t0) / 1e3, "filled": (filled - t0) / 1e3}
        finally:
            browser.close()
            stop()


def run(quick: bool = False, browser: bool = True, only: list[str] | None = None) -> list[Row]:
    from tests.browser.lab import chromium_path

    names = ["chain", "bert"] if quick else list(only or MODELS)
    browser = browser and chromium_path() is not None
    rows = []
    for name in names:
        floors = _subprocess("floor", name)
        python = _subprocess("python", name)
        seen = _subprocess("browser", name) if browser else None
        shown = f"; first paint in Chromium {ms(seen['paint'])}" if seen else ""
        filled = seen["filled"] if seen else python["drawn"]
        start = max(python["returned"], seen["paint"] if seen else 0.0)
        errors = f"; {python['errors']:.0f} errors shown" if python["errors"] else ""
        rows.append(
            Row(
                NAME,
                f"{MODELS[name]}: explore() returns{' / first paint' if seen else ''}, first filled tab",
                f"returns {ms(python['returned'])}{shown}; first filled tab {ms(filled)}{errors}",
                f"one eager pass {ms(floors['eager'])}, one compiled {ms(floors['compiled'])}; filled tab "
                f"{filled / floors['eager']:.1f}x the eager pass",
                f"< 1 s: {'yes' if start < TARGET else 'no'}",
            )
        )
    if not browser:
        rows.append(Row(NAME, "in Chromium", "not run (--no-browser, or no Chromium: set NBVIZ_CHROMIUM)", "", ""))
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the chain and BERT only")
    parser.add_argument("--no-browser", action="store_true", help="in Python only")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), help="these models only")
    parser.add_argument("--floor", choices=list(MODELS), help=argparse.SUPPRESS)
    parser.add_argument("--python", choices=list(MODELS), help=argparse.SUPPRESS)
    parser.add_argument("--browser", choices=list(MODELS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor or args.python or args.browser:
        mode = "floor" if args.floor else "python" if args.python else "browser"
        measure = {"floor": floor, "python": in_python, "browser": in_browser}[mode]
        print(json.dumps(measure(args.floor or args.python or args.browser)))
    else:
        print(table(run(args.quick, browser=not args.no_browser, only=args.models)))
