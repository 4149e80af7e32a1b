"""nbviz.compute stays free of widget libraries: it must be usable and testable without a front end."""

from __future__ import annotations

import subprocess
import sys


def test_importing_compute_leaves_widget_libraries_out():
    code = (
        "import sys, nbviz.compute, nbviz.compute.graph, nbviz.compute.probe, nbviz.compute.weights, "
        "nbviz.compute.comparison, nbviz.compute.checkpoints; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ipywidgets', 'bqplot')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
