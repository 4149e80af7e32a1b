"""The saliency tab of a text model: Integrated Gradients and gradient x input per token, drawn as coloured text
over the sample's real tokens, for a class, or for a language model's next token at a position."""

from __future__ import annotations

import numpy as np
import pytest

import nbviz
from nbviz.testing import raising_panel_errors

pytest.importorskip("keras_hub")

VOCABULARY = [f"w{i}" for i in range(60)]


def chips(panel) -> list[tuple[str, str]]:
    """(background, text) of each token the panel shows."""
    parts = panel.tokens.value.split("<span class='nbviz-token' style='background:")[1:]
    return [(p.split("'>")[0].split(";")[0], p.split("'>")[1].split("</span>")[0]) for p in parts]


@pytest.fixture(scope="module")
def bert():
    from tests.zoo import bert_classifier

    case = bert_classifier()
    with raising_panel_errors():
        ex = nbviz.explore(case.model, case.x, case.y, vocabulary=VOCABULARY)
        ex.tab = "saliency"
    return case, ex


def test_integrated_gradients_per_token_add_up_to_the_change_of_the_class(bert):
    case, ex = bert
    panel = ex.panels["saliency"]
    with raising_panel_errors():
        ex.sample = 2
        panel.class_choice.value = 1
        panel.method.value = "integrated_gradients"
    real = np.flatnonzero(case.x["padding_mask"][2])
    full = ex.analysis.token_attribution(2, "integrated_gradients", 1)
    np.testing.assert_array_equal(panel.values, full.values[real])
    # Completeness: what the tokens carry is f(x) - f(zero embedding), here with padding's share included.
    assert abs(full.values.sum() - (full.output - full.baseline)) <= 0.01 * abs(full.output - full.baseline)
    logits = np.asarray(case.model({k: v[2:3] for k, v in case.x.items()}))[0]
    np.testing.assert_allclose(full.output, logits[1], rtol=1e-4, atol=1e-6)
    shown = chips(panel)
    assert [text for _, text in shown] == [VOCABULARY[i] for i in case.x["token_ids"][2, real]]
    strongest = int(np.argmax(np.abs(panel.values)))
    assert shown[strongest][0] == ("#b2182b" if panel.values[strongest] > 0 else "#2166ac")  # full colour
    assert "gap" in panel.info.value and panel.error is None


def test_gradient_x_input_is_the_derivative_along_the_embedding(bert):
    case, ex = bert
    panel = ex.panels["saliency"]
    with raising_panel_errors():
        ex.sample = 0
        panel.class_choice.value = -1
        panel.method.value = "gradient_x_input"
    predicted = ex.analysis.prediction(0).class_index
    full = ex.analysis.token_attribution(0, "gradient_x_input", predicted)
    real = np.flatnonzero(case.x["padding_mask"][0])
    np.testing.assert_array_equal(panel.values, full.values[real])
    assert f"class {predicted}" in panel.bars.title_text
    # Summed over every position, it is d/da f(a E) at a = 1: scaling the token table by a scales E exactly.
    table = case.model.backbone.token_embedding.embeddings
    original, h = table.numpy(), 0.05
    x0 = {k: v[:1] for k, v in case.x.items()}
    f = []
    try:
        for a in (1 + h, 1 - h):
            table.assign(original * a)
            f.append(float(np.asarray(case.model(x0), np.float64)[0, predicted]))
    finally:
        table.assign(original)
    np.testing.assert_allclose(full.values.sum(), (f[0] - f[1]) / (2 * h), rtol=0.02)


def test_a_language_model_explains_the_next_token_at_a_position_from_the_tokens_before_it():
    from tests.zoo import gpt2_causal_lm

    case = gpt2_causal_lm()
    with raising_panel_errors():
        ex = nbviz.explore(case.model, case.x, case.y, vocabulary=VOCABULARY)
        ex.tab = "saliency"
        panel = ex.panels["saliency"]
        panel.position.value = 4
    predicted = int(np.argmax(ex.analysis.output(0)[4]))
    assert f"next token {VOCABULARY[predicted]} at position 4" in panel.bars.title_text
    assert np.all(panel.values[5:] == 0) and np.any(panel.values[:5] != 0)  # causal: later tokens carry nothing


def test_redact_labels_tokens_by_position(bert):
    case, _ = bert
    with raising_panel_errors():
        ex = nbviz.explore(case.model, case.x, case.y, vocabulary=VOCABULARY, redact=True)
        ex.tab = "saliency"
    texts = [text for _, text in chips(ex.panels["saliency"])]
    assert texts == [f"#{i}" for i in range(len(texts))] and texts
    assert "w" not in "".join(texts)


def test_a_multi_input_text_model_s_shap_tab_points_to_the_token_attributions(bert):
    _, ex = bert
    assert "the saliency tab explains each token" in ex.analysis.shap_unavailable()
