"""Head summaries over the data against numpy on each layer's own attention scores."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from scipy.stats import entropy

from nbviz.compute import Probe
from nbviz.compute.methods.attention import head_summaries


def test_head_summaries_of_a_multi_head_attention_model(rng):
    tokens = keras.Input((6, 8))
    attention = keras.layers.MultiHeadAttention(num_heads=3, key_dim=4, name="attention")
    h = attention(tokens, tokens)
    model = keras.Model(tokens, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling1D()(h)))
    x = rng.normal(size=(10, 6, 8)).astype("float32") * 3  # sharper weights than at unit scale
    summary = head_summaries(Probe(model), x, batch_size=4)["attention"]
    _, own = attention(x, x, return_attention_scores=True)
    own = np.asarray(own, np.float64)  # (n, heads, queries, keys)
    np.testing.assert_allclose(summary.entropy, entropy(own, axis=-1).mean(axis=(0, 2)), rtol=1e-5)
    np.testing.assert_allclose(summary.first_share, own[..., 0].mean(axis=(0, 2)), rtol=1e-5)
    assert summary.samples == 10 and summary.entropy.shape == (3,)


def test_padding_queries_are_left_out():
    pytest.importorskip("keras_hub")
    from tests.zoo import bert_classifier

    case = bert_classifier()
    mask = case.x["padding_mask"].copy()
    mask[:, 7:] = 0
    mask[0, 10:] = 1  # real tokens after padding: the mask, not a length, decides
    x = {**case.x, "padding_mask": mask}
    probe = Probe(case.model.backbone)
    summary = head_summaries(probe, x, batch_size=2)["transformer_layer_0/self_attention_layer"]
    weights = probe.attention_scores(x)["transformer_layer_0/self_attention_layer"].astype(np.float64)
    real = mask.astype(bool)
    rows = np.moveaxis(weights, 1, -2)[real]  # (real queries, heads, keys)
    np.testing.assert_allclose(summary.entropy, entropy(rows, axis=-1).mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(summary.first_share, rows[..., 0].mean(axis=0), rtol=1e-5)


def test_the_analysis_lays_out_one_samples_weights_over_its_real_tokens():
    pytest.importorskip("keras_hub")
    from nbviz.compute import analyse
    from tests.zoo import bert_classifier

    case = bert_classifier()
    model, tokens = case.model, case.x["token_ids"]
    mask = case.x["padding_mask"].copy()
    mask[1, 8:] = 0
    x = {**case.x, "padding_mask": mask}
    analysis = analyse(model, x)
    layers = analysis.attention_layers()
    assert len(layers) == 2 and all(name.endswith("self_attention_layer") for name in layers)
    shown = analysis.attention(1, layers[1])
    own = Probe(model).attention_scores(x)[layers[1]][1]  # (heads, 12, 12), padding included
    np.testing.assert_allclose(shown.weights, own[:, :8, :8], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(shown.weights.sum(axis=-1), 1.0, rtol=1e-5)  # padding keys had no weight
    assert shown.query_labels == tuple(str(t) for t in tokens[1, :8]) and list(shown.key_positions) == list(range(8))
    assert "has no attention weights" in analysis.attention(0, "nope").reason
    redacted = analyse(model, x, redact=True).attention(1, layers[1])
    assert redacted.query_labels == tuple(f"#{p}" for p in range(8))  # token ids are raw input
