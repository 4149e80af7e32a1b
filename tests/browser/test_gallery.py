"""The gallery's checks on the demo CNN, at 900 px, in JupyterLab's light and dark themes, every tab: no check fails.

What a person sees, checked on the rendered page (tests/browser/page_checks.py): no overlapping tick labels, no text
cut by its figure or box, count axes from 0, ticks on 1-2-5 steps, pictures at their data's aspect, text contrast
of 4.5:1, no blank run over 200 px in a panel, and no console error or warning. About a minute and a half on two
cores; the screenshots go to test-artifacts/gallery/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks.gallery import details, run_gallery, table

pytestmark = pytest.mark.browser


def test_demo_cnn_every_tab_light_and_dark_at_900_px(browser: Any, artifacts: Path) -> None:
    gallery = run_gallery(["cnn"], [900], ["light", "dark"], out=artifacts / "gallery", browser=browser)
    tabs = {shot.tab for shot in gallery.shots}
    assert {"Weights", "Activations", "Diagnostics", "Findings"} <= tabs, tabs  # every tab was seen
    assert len([s for s in gallery.shots if s.tab != "(notebook run)"]) == 2 * len(tabs - {"(notebook run)"})
    assert gallery.failed == [], f"{table(gallery)}\n\n{details(gallery)}"
