"""A notebook executed and saved with its widget state keeps no raw input value when explore(redact=True)."""

from __future__ import annotations

import nbformat
import pytest

from tests.sentinel import SENTINEL, found_in, saved_widget_state

from . import execute

CELLS = [
    "import warnings\nwarnings.simplefilter('ignore')\nimport nbviz\nfrom nbviz import demo",
    # Written as a quotient, so that the cell's own source does not spell the value the search looks for.
    f"d = demo.breast_cancer_mlp()\nx = d.x_test[:60].copy()\nx[3, 5] = {SENTINEL * 4!r} / 4",
    "ex = nbviz.explore(d.model, x, d.y_test[:60], feature_names=d.feature_names, class_names=d.class_names,\n"
    "                   redact={redact})\nex.sample = 3\nex",
    # Every tab on every layer, global SHAP and every slice: what a person would click through before saving.
    "for tab in ex.panels:\n    ex.tab = tab\n    for layer in ex.analysis.graph.names:\n        ex.layer = layer\n"
    "ex.tab = 'shap'\nex.panels['shap'].subset.value = 20\nex.panels['shap'].start_global(wait=True)\n"
    "ex.tab = 'diagnostics'\nfor _, f in ex.panels['diagnostics'].slice_feature.options:\n"
    "    ex.panels['diagnostics'].slice_feature.value = f\nex.tab = 'rules'",
]


@pytest.mark.parametrize("redact", [True, False], ids=["redact", "control"])
def test_saved_notebook_keeps_no_raw_input_value(redact, tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source.replace("{redact}", str(redact))) for source in CELLS]
    errors = execute(nb, tmp_path, store_widget_state=True)
    assert not errors, errors
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, path)

    saved = nbformat.read(path, as_version=4)
    texts, buffers = saved_widget_state(saved)
    state = saved.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert len(state) > 100 and buffers  # the widgets and their arrays were saved
    hits = found_in(texts, buffers)
    if redact:
        assert hits == []
    else:  # the same search finds the value in a notebook saved without redact
        assert hits
