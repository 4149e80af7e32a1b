"""The static HTML report: the views the Explorer draws, in one file with nothing to fetch; its pictures hold the
numbers the panels hold (which equal Keras's own); the Explorer is put back; redact mode holds in the file."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import keras
import numpy as np
import pytest

import nbviz
from nbviz.ui.plots.projector import png_pixels
from tests.sentinel import found_in, plant

SECTION = re.compile(r'<section class="view" data-view data-tab="([^"]+)" data-layer="([^"]+)" data-sample="([^"]+)">')
PNG = re.compile(r'href="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def _sections(text: str) -> dict[tuple[str, str, str], str]:
    """Each exported view's HTML by (tab, layer, sample)."""
    starts = [(m.start(), m.groups()) for m in SECTION.finditer(text)]
    ends = [s for s, _ in starts[1:]] + [text.index("</main>")]
    return {key: text[start:end] for (start, key), end in zip(starts, ends)}


def _pictures(section: str) -> list[np.ndarray]:
    return [png_pixels(base64.b64decode(m.group(1))) for m in PNG.finditer(section)]


def test_the_report_holds_the_views_the_explorer_draws(digits, tmp_path: Path):
    ex = nbviz.explore(digits.model, digits.x_test[:40], digits.y_test[:40], class_names=digits.class_names)
    ex.layer, ex.sample, ex.tab = "dense", 7, "rules"
    path = ex.save_html(
        tmp_path / "report.html",
        layers=["conv1", "conv2", "dense"],
        samples=[0, 3],
        tabs=["weights", "activations", "gradients", "diagnostics", "findings"],
    )
    assert (ex.layer, ex.sample, ex.tab) == ("dense", 7, "rules")  # put back where it was
    text = path.read_text()
    sections = _sections(text)
    layered = {(t, layer, "*") for t in ["weights"] for layer in ("conv1", "conv2", "dense")}
    sampled = {
        (t, layer, s) for t in ("activations", "gradients") for layer in ("conv1", "conv2", "dense") for s in "03"
    }
    assert set(sections) == layered | sampled | {("diagnostics", "*", "*"), ("findings", "*", "*")}
    # Nothing to fetch: no script or style from elsewhere, every picture inlined.
    assert not re.search(r'(src|href)="(https?:|//)', text) and "<link" not in text

    # conv2's activations for sample 3: the picture's colours rank the cells as Keras's own outputs do.
    submodel = keras.Model(digits.model.inputs, digits.model.get_layer("conv2").output)
    expected = submodel(digits.x_test[3:4]).numpy()[0]
    ex.layer, ex.sample, ex.tab = "conv2", 3, "activations"
    shown = ex.panels["activations"].values  # the tiled maps: equal to Keras's, tile by tile
    np.testing.assert_allclose(np.sort(shown[np.isfinite(shown)]), np.sort(expected.ravel()), rtol=1e-5, atol=1e-6)
    picture = _pictures(sections["activations", "conv2", "3"])[0]
    assert picture.shape[:2] == shown.shape
    cells = np.isfinite(shown)
    # White to red: green falls as the value grows, so cells in order of value have green falling (to 8-bit
    # rounding), and the largest value is the reddest cell.
    green = picture[..., 1].astype(float)[cells][np.argsort(shown[cells], kind="stable")]
    assert np.all(np.diff(green) <= 1.0) and green[-1] < green[0] - 100
    # The diagnostics view carries the metrics table as text.
    assert "accuracy" in sections["diagnostics", "*", "*"]
    ex.close()


def test_bad_report_arguments_name_themselves(digits_explorer, tmp_path: Path):
    ex = digits_explorer
    cases = [
        ({"layers": ["nope"]}, ValueError, r"layers: expected items among .* got \['nope'\]"),
        ({"samples": [10**6]}, ValueError, r"samples: expected items among"),
        ({"tabs": "weights"}, TypeError, r"tabs: expected a list of str, got str"),
        ({"samples": [1.5]}, TypeError, r"samples: expected a list of int"),
        ({"layers": []}, ValueError, r"layers: expected at least one"),
    ]
    for kwargs, error, words in cases:
        with pytest.raises(error, match=words):
            ex.save_html(tmp_path / "r.html", **kwargs)
    with pytest.raises(ValueError, match="path: expected a file in an existing folder"):
        ex.save_html(tmp_path / "missing" / "r.html")
    with pytest.raises(TypeError, match="path: expected a file path"):
        ex.save_html(3)
    assert not (tmp_path / "r.html").exists()


def test_redact_mode_holds_in_the_report(cancer, tmp_path: Path):
    x = plant(cancer.x_test[:30], (0, 0))
    kwargs = {"feature_names": cancer.feature_names, "class_names": cancer.class_names}
    shown = nbviz.report(cancer.model, x, cancer.y_test[:30], tmp_path / "open.html", samples=[0], **kwargs)
    hidden = nbviz.report(
        cancer.model, x, cancer.y_test[:30], tmp_path / "redacted.html", samples=[0], redact=True, **kwargs
    )
    # The sentinel is found where it may be (the sample's feature values), so the search can fail.
    assert found_in([shown.read_text()], [])
    text = hidden.read_text()
    pictures = [base64.b64decode(m.group(1)) for m in PNG.finditer(text)]
    assert found_in([text], pictures) == []
    assert "redact mode" in text


def test_a_report_of_a_keras_application_without_a_widget(tmp_path: Path):
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV3Small(weights=None, input_shape=(32, 32, 3), classes=4)
    x = np.random.default_rng(0).random((6, 32, 32, 3), dtype=np.float32)
    path = nbviz.report(model, x, np.arange(6) % 4, tmp_path / "mobilenet.html", samples=[0, 1])
    sections = _sections(path.read_text())
    layers = {layer for _, layer, _ in sections} - {"*"}
    assert len(layers) == 8  # the default: 8 learned layers spread over the model
    assert all(_pictures(body) for (tab, _, _), body in sections.items() if tab in ("weights", "activations"))
