"""The attention tab: what it draws is each layer's own attention, over the real tokens, labelled with the
tokenizer's text (positions only in redact mode); it stays within the cell budget at 2,048 tokens."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import nbviz
from nbviz.testing import raising_panel_errors

from .conftest import synced_array

pytest.importorskip("keras_hub")


def mha_model(length: int = 8, vocab: int = 30, heads: int = 2, layers: int = 1, dim: int = 8) -> keras.Model:
    """Token ids -> embedding -> self-attention blocks -> pooling -> 3 classes, as a plain functional model."""
    ids = keras.Input((length,), dtype="int32", name="ids")
    h = keras.layers.Embedding(vocab, dim, name="embedding")(ids)
    for i in range(layers):
        h = h + keras.layers.MultiHeadAttention(heads, dim // heads, name=f"attention_{i}")(h, h)
    out = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling1D()(h))
    return keras.Model(ids, out)


@pytest.fixture(scope="module")
def plain():
    keras.utils.set_random_seed(4)
    model = mha_model()
    x = np.random.default_rng(4).integers(0, 30, size=(6, 8)).astype("int32")
    vocabulary = [f"tok{i}" for i in range(30)]
    with raising_panel_errors():
        ex = nbviz.explore(model, x, np.arange(6) % 3, vocabulary=vocabulary)
        ex.tab = "attention"
    return model, x, vocabulary, ex


def own_scores(model: keras.Model, x: np.ndarray, layer: str) -> np.ndarray:
    """The layer's own weights: called with return_attention_scores=True on the embedding's output."""
    embedded = keras.Model(model.inputs, model.get_layer("embedding").output)([x])
    _, scores = model.get_layer(layer)(embedded, embedded, return_attention_scores=True)
    return np.asarray(scores)


def test_the_head_view_draws_the_layers_own_scores(plain):
    model, x, vocabulary, ex = plain
    panel = ex.panels["attention"]
    with raising_panel_errors():
        ex.sample = 2
        panel.open_head("attention_0", 1)
    own = own_scores(model, x[2:3], "attention_0")[0, 1]
    np.testing.assert_allclose(panel.values, own, atol=1e-6)
    np.testing.assert_allclose(panel.values.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(synced_array(panel.head_plot.mark, "color"), panel.values)
    tokens = [vocabulary[i] for i in x[2]]
    assert list(panel.head_plot.rows.mark.text) == tokens and list(panel.head_plot.columns.mark.text) == tokens
    assert ex.layer == "attention_0" and panel.head.value == 1


def test_the_model_view_holds_every_head_and_a_click_opens_one(plain):
    model, x, _, ex = plain
    panel = ex.panels["attention"]
    with raising_panel_errors():
        ex.sample = 1
        panel.view.value = "model"
    own = own_scores(model, x[1:2], "attention_0")[0]
    assert panel.values.shape == own.shape  # (heads, queries, keys): 8 tokens fit a thumbnail whole
    np.testing.assert_allclose(panel.values, own, atol=1e-6)
    with raising_panel_errors():
        panel.model_plot.cells.set_state({"selected": [[0, 1]]})  # what a click on the second thumbnail sends
    assert panel.view.value == "head" and panel.head.value == 1
    np.testing.assert_allclose(panel.values, own[1], atol=1e-6)


def test_hovering_a_query_token_lists_its_strongest_keys(plain):
    model, x, vocabulary, ex = plain
    panel = ex.panels["attention"]
    with raising_panel_errors():
        ex.sample = 0
        panel.open_head("attention_0", 0)
    panel._query_hovered(3)  # what the Label mark's hover message calls
    own = own_scores(model, x[:1], "attention_0")[0, 0, 3]
    best = int(np.argmax(own))
    assert panel.hovered_query == 3 and panel.head_plot.frame.visible
    assert f"<b>{vocabulary[x[0, 3]]}</b> (query 3) attends most to: {vocabulary[x[0, best]]} ({own[best]:.2f})" in (
        panel.hovered.value
    )


def test_the_lines_view_draws_the_top_keys_of_each_query(plain):
    model, x, _, ex = plain
    panel = ex.panels["attention"]
    with raising_panel_errors():
        ex.sample = 4
        panel.open_head("attention_0", 1)
        panel.top_k.value = 2
        panel.view.value = "lines"
    own = own_scores(model, x[4:5], "attention_0")[0, 1]
    expected = np.sort(own, axis=1)[:, ::-1][:, :2]
    drawn = np.sort(panel.values.reshape(8, 2), axis=1)[:, ::-1]
    np.testing.assert_allclose(drawn, expected, atol=1e-6)
    assert np.asarray(panel.lines_plot.lines.y).shape == (16, 2)


def test_a_model_without_attention_has_no_attention_tab(digits_explorer):
    assert "attention" not in digits_explorer.panels


def test_padding_is_left_out_and_tokens_are_the_tokenizers_text():
    from tests.zoo import bert_with_preprocessor

    model, texts, y = bert_with_preprocessor()
    x = {k: np.asarray(v) for k, v in model.preprocessor(texts).items()}
    tokenizer = model.preprocessor.tokenizer
    with raising_panel_errors():
        ex = nbviz.explore(model, x, y)  # the model's own preprocessor gives the tokenizer
        ex.tab = "attention"
        ex.sample = 1
        panel = ex.panels["attention"]
        layer = panel.layer_choice.options[0]
        panel.open_head(layer, 0)
    real = np.flatnonzero(x["padding_mask"][1])
    ids = x["token_ids"][1, real]
    expected = [str(t) for t in tokenizer.detokenize(ids[:, None])]
    assert list(panel.head_plot.rows.mark.text) == expected
    assert panel.values.shape == (len(real), len(real))
    chips = ex.sample_view.table.value.split("<span class='nbviz-token'>")[1:]
    assert [c.split("</span>")[0] for c in chips] == expected
    np.testing.assert_allclose(panel.values.sum(axis=1), 1.0, atol=1e-5)  # padding keys had no weight


def test_gpt2_tokens_are_its_detokenized_text():
    from tests.zoo import gpt2_with_preprocessor

    model, texts = gpt2_with_preprocessor()
    x, _, _ = model.preprocessor(texts)
    x = {k: np.asarray(v) for k, v in x.items()}
    tokenizer = model.preprocessor.tokenizer
    ex = nbviz.explore(model, x, tokenizer=tokenizer)
    shown = ex.analysis.sample_display(0).tokens
    real = np.flatnonzero(x["padding_mask"][0])
    assert shown == (("token_ids", tuple(str(t) for t in tokenizer.detokenize(x["token_ids"][0, real][:, None]))),)


def test_redact_sends_no_token_text(recorded):
    keras.utils.set_random_seed(5)
    model = mha_model()
    x = np.random.default_rng(5).integers(0, 30, size=(4, 8)).astype("int32")
    vocabulary = [f"zq{i}word" for i in range(30)]
    for redact in (False, True):
        recorded.texts.clear()
        with raising_panel_errors():
            ex = nbviz.explore(model, x, np.arange(4) % 3, vocabulary=vocabulary, redact=redact)
            ex.tab = "attention"
            panel = ex.panels["attention"]
            panel.open_head("attention_0", 0)
            panel.view.value = "lines"
            panel._query_hovered(0)
        found = any("zq" in text for text in recorded.texts)
        assert found != redact
    assert list(panel.head_plot.rows.mark.text) == [f"#{i}" for i in range(8)]


def test_2048_tokens_stay_within_the_cell_budget_and_a_zoom_is_full_resolution():
    keras.utils.set_random_seed(6)
    model = mha_model(length=2048, vocab=50, heads=2, layers=2, dim=16)
    x = np.random.default_rng(6).integers(0, 50, size=(2, 2048)).astype("int32")
    with raising_panel_errors():
        ex = nbviz.explore(model, x, max_cells=16_384)
        ex.tab = "attention"
        panel = ex.panels["attention"]
        assert panel.values.size <= 16_384  # the model view: 2 layers x 2 heads of thumbnails
        panel.open_head("attention_1", 1)
    full = ex.analysis.attention(0, "attention_1").weights[1]
    assert panel.values.shape == (128, 128) and panel.head_plot.rows.count == 0  # no labels on a reduced map
    np.testing.assert_array_equal(panel.values, full.reshape(128, 16, 128, 16).max(axis=(1, 3)))
    with raising_panel_errors():
        panel.zoom(queries=(1000, 1064), keys=(0, 200))
    np.testing.assert_array_equal(panel.values, full[1000:1064, :200])
    assert panel.head_plot.rows.count == 64 and (panel.queries.value, panel.keys.value) == ((1000, 1063), (0, 199))


@pytest.mark.parametrize(
    "build", ["distilbert_classifier", "gpt2_causal_lm", "vit_classifier", "whisper_backbone", "vit_example"]
)
def test_every_head_of_a_real_model_is_its_probes_scores_over_the_real_tokens(build):
    import tests.zoo as zoo
    from nbviz.compute.model.probe import shared_probe

    case = getattr(zoo, build)()
    with raising_panel_errors():
        ex = nbviz.explore(case.model, case.x, case.y)
        ex.tab = "attention"
        ex.sample = 1
    panel = ex.panels["attention"]
    layers = panel.layer_choice.options
    assert layers and panel.values.ndim == 3  # the model view
    inputs = {k: v[1:2] for k, v in case.x.items()} if isinstance(case.x, dict) else case.x[1:2]
    scores = shared_probe(case.model).attention_scores(inputs)
    for layer in layers:
        answer = ex.analysis.attention(1, layer)
        with raising_panel_errors():
            panel.open_head(layer, answer.weights.shape[0] - 1)
        padded = scores[layer][0, -1]
        np.testing.assert_allclose(
            panel.values, padded[np.ix_(answer.query_positions, answer.key_positions)], atol=1e-6
        )
        np.testing.assert_allclose(padded.sum(axis=-1), 1.0, atol=1e-5)
        if "cross" in layer:  # Whisper: the decoder's tokens attend to the encoder's frames
            assert panel.values.shape == (6, 8) and panel.head_plot.columns.mark.text[0] == "#0"
        assert len(panel.head_plot.rows.mark.text) == len(answer.query_positions)


def test_t5s_own_attention_layers_give_causal_decoder_and_encoder_keyed_cross_attention():
    # KerasHub's T5 attention has no _compute_attention: its weights are read at its Dropout sub-layer.
    from tests.zoo import t5_seq2seq

    case = t5_seq2seq()
    ex = nbviz.explore(case.model, case.x, case.y)
    layers = ex.analysis.attention_layers()
    assert len(layers) == 6 and "attention" in ex.panels
    encoder = case.x["encoder_token_ids"][1][case.x["encoder_padding_mask"][1].astype(bool)]
    decoder = case.x["decoder_token_ids"][1][case.x["decoder_padding_mask"][1].astype(bool)]
    for layer in layers:
        answer = ex.analysis.attention(1, layer)
        np.testing.assert_allclose(answer.weights.sum(axis=-1), 1.0, atol=1e-5)
        queries = decoder if "decoder" in layer else encoder
        keys = encoder if "encoder" in layer or "cross" in layer else decoder
        assert answer.query_labels == tuple(str(i) for i in queries)
        assert answer.key_labels == tuple(str(i) for i in keys)
        if "decoder" in layer and "self" in layer:
            assert np.all(np.triu(answer.weights, k=1) == 0)  # causal: no query sees a later token
