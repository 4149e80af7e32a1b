"""Token attributions against independent computations: a tape on the embedding output of a model built from its
layers, the model run with its token embedding zeroed (F(0)), completeness, and causality in a language model."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from nbviz.compute import Probe
from nbviz.compute.analysis.answers import Unavailable
from nbviz.compute.methods.token_attribution import TokenAttribution, embedding_layer, token_attributions

STEPS = 64  # completeness within 0.03% on the zoo's BERT and GPT-2 (measured over 8 samples x 3 units each)


def _one(x: dict[str, np.ndarray], sample: int) -> dict[str, np.ndarray]:
    return {k: v[sample : sample + 1] for k, v in x.items()}


@pytest.fixture(scope="module")
def bert():
    pytest.importorskip("keras_hub")
    from tests.zoo import bert_classifier

    case = bert_classifier()
    return case, Probe(case.model)


@pytest.fixture(scope="module")
def gpt2():
    pytest.importorskip("keras_hub")
    from tests.zoo import gpt2_causal_lm

    case = gpt2_causal_lm()
    return case, Probe(case.model)


@pytest.fixture(scope="module")
def attention_model():
    """Token ids -> Embedding -> self-attention -> pooling -> Dense, with its layers kept to call the tail on E."""
    keras.utils.set_random_seed(5)
    ids = keras.Input((8,), dtype="int32", name="ids")
    embedding = keras.layers.Embedding(30, 8, name="embedding")
    attention = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, name="attention")
    pool = keras.layers.GlobalAveragePooling1D(name="pool")
    dense = keras.layers.Dense(3, name="logits")
    h = embedding(ids)
    model = keras.Model(ids, dense(pool(attention(h, h))))

    def tail(e):
        return dense(pool(attention(e, e)))

    x = np.random.default_rng(5).integers(0, 30, size=(4, 8)).astype("int32")
    return model, embedding, tail, x


def _tail_gradients(embedding, tail, ids, unit, alphas):
    """d tail(a E)[unit] / d (a E) for each alpha, with a tape of our own (float64 out)."""
    import tensorflow as tf

    e = tf.convert_to_tensor(embedding(ids))
    grads = []
    for a in alphas:
        scaled = tf.constant(a, tf.float32) * e
        with tf.GradientTape() as tape:
            tape.watch(scaled)
            f = tail(scaled)[:, unit]
        grads.append(tape.gradient(f, scaled).numpy()[0].astype(np.float64))
    return e.numpy()[0].astype(np.float64), grads


@pytest.mark.tensorflow_only  # checks against TensorFlow's GradientTape
def test_gradient_x_input_and_ig_match_a_tape_on_the_embedding_output(attention_model):
    model, embedding, tail, x = attention_model
    probe = Probe(model)
    assert embedding_layer(probe) == "embedding"
    for sample, unit in [(0, 0), (1, 2), (3, 1)]:
        ids = x[sample : sample + 1]
        e, (g,) = _tail_gradients(embedding, tail, ids, unit, [1.0])
        own = (e * g).sum(axis=-1)
        got = token_attributions(probe, ids, unit, method="gradient_x_input")
        assert isinstance(got, TokenAttribution) and got.values.shape == (8,) and got.steps == 1
        np.testing.assert_allclose(got.values, own, rtol=1e-4, atol=1e-6 * np.abs(own).max())
        np.testing.assert_allclose(got.output, np.asarray(model(ids))[0, unit], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(got.baseline, np.asarray(tail(0.0 * embedding(ids)))[0, unit], rtol=1e-5, atol=1e-7)

        steps = 8
        alphas = [(k + 0.5) / steps for k in range(steps)]
        e, grads = _tail_gradients(embedding, tail, ids, unit, alphas)
        own_ig = (e * np.mean(grads, axis=0)).sum(axis=-1)
        ig = token_attributions(probe, ids, unit, steps=steps)
        np.testing.assert_allclose(ig.values, own_ig, rtol=1e-4, atol=1e-6 * np.abs(own_ig).max())
    with pytest.raises(ValueError, match="read-only"):
        got.values[0] = 1.0


def test_ig_completeness_on_bert_and_its_output_is_the_models(bert):
    case, probe = bert
    # Keras names a model by how many were built before it in the process ("bert_backbone_3"): read its name.
    assert embedding_layer(probe) == f"{case.model.backbone.name}/token_embedding"
    table = case.model.backbone.token_embedding.embeddings
    weights = table.numpy()
    table.assign(np.zeros_like(weights))
    try:  # F(0): the model with its token embedding zeroed, which is E = 0 (the segment and position ones stay)
        zero = np.asarray(case.model(case.x, training=False), np.float64)
    finally:
        table.assign(weights)
    full = np.asarray(case.model(case.x, training=False), np.float64)
    for sample in range(4):
        one = _one(case.x, sample)
        predicted = probe.predict(one)
        for cls in range(3):
            got = token_attributions(probe, one, cls, steps=STEPS)
            assert got.method == "integrated_gradients" and got.steps == STEPS and got.values.shape == (12,)
            np.testing.assert_allclose(got.output, predicted[0, cls], rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(got.output, full[sample, cls], rtol=1e-4, atol=1e-6)
            np.testing.assert_allclose(got.baseline, zero[sample, cls], rtol=1e-4, atol=1e-6)
            delta = full[sample, cls] - zero[sample, cls]
            assert abs(got.values.sum(dtype=np.float64) - delta) <= 0.01 * abs(delta)
            assert got.gap <= 0.01


def test_gpt2_head_is_not_scaled_and_later_tokens_get_nothing(gpt2):
    case, probe = gpt2
    layer = embedding_layer(probe)
    backbone = case.model.backbone
    assert layer == f"{backbone.name}/token_embedding"  # its first name: the output head is the same layer
    vocab = backbone.token_embedding.input_dim
    sample, position, token = 1, 5, 17
    one = _one(case.x, sample)
    unit = position * vocab + token
    got = token_attributions(probe, one, unit, steps=STEPS)

    logits = np.asarray(case.model(one, training=False), np.float64)[0]
    np.testing.assert_allclose(got.output, logits[position, token], rtol=1e-4, atol=1e-6)
    # F(0) by hand: the backbone run with a zero token table, then the head with the real table (tied, unscaled).
    table = backbone.token_embedding.embeddings
    weights = table.numpy()
    table.assign(np.zeros_like(weights))
    try:
        hidden = np.asarray(backbone(one, training=False), np.float64)[0]
    finally:
        table.assign(weights)
    np.testing.assert_allclose(got.baseline, hidden[position] @ weights[token].astype(np.float64), rtol=1e-4, atol=1e-6)

    delta = got.output - got.baseline
    assert abs(got.values.sum(dtype=np.float64) - delta) <= 0.01 * abs(delta)
    assert np.all(got.values[position + 1 :] == 0)  # causal: a later token cannot move this position's logits
    assert np.count_nonzero(got.values[: position + 1]) == position + 1
    plain = token_attributions(probe, one, unit, method="gradient_x_input")
    assert np.all(plain.values[position + 1 :] == 0) and plain.output == pytest.approx(got.output, rel=1e-5)


def test_embedding_layers_chosen_on_the_zoo():
    pytest.importorskip("keras_hub")
    from tests.zoo import distilbert_classifier, transformer_text_example, vit_example

    distil = Probe(distilbert_classifier().model)
    backbone = distil.model.backbone.name
    assert embedding_layer(distil) == f"{backbone}/token_and_position_embedding/token_embedding"
    example = Probe(transformer_text_example().model)  # float ids, into the example's own block
    chosen = embedding_layer(example)
    assert chosen is not None and example.layers[chosen].input_dim == 50  # the token table, not the positions'
    vit = vit_example()
    vit_probe = Probe(vit.model)
    assert embedding_layer(vit_probe) is None  # a position embedding inside a patch encoder
    with pytest.raises(ValueError, match="layer: expected a layer whose output has the batch axis first"):
        position = next(n for n in vit_probe.layers if n.startswith("patch_encoder") and "/embedding" in n)
        vit_probe.embedding_gradients(vit.x[:2], position, 1.0, 0)


def test_bad_arguments_name_themselves(attention_model):
    model, _, _, x = attention_model
    probe = Probe(model)
    one = x[:1]
    with pytest.raises(ValueError, match=r"method: expected one of .*integrated_gradients.*got 'ig'"):
        token_attributions(probe, one, 0, method="ig")
    with pytest.raises(TypeError, match="method: .*got int 3"):
        token_attributions(probe, one, 0, method=3)
    with pytest.raises(ValueError, match="steps: expected a positive int, got 0"):
        token_attributions(probe, one, 0, steps=0)
    with pytest.raises(TypeError, match="steps: expected a positive int, got float 2.5"):
        token_attributions(probe, one, 0, steps=2.5)
    with pytest.raises(ValueError, match=r"unit: expected a flat unit in \[0, 3\) .*got 3"):
        token_attributions(probe, one, 3)
    with pytest.raises(TypeError, match="unit: expected an int"):
        token_attributions(probe, one, 1.0)
    with pytest.raises(ValueError, match="x: expected one sample"):
        token_attributions(probe, x[:2], 0)
    with pytest.raises(ValueError, match="layer: expected a layer name from .*got 'nope'"):
        token_attributions(probe, one, 0, layer="nope")
    with pytest.raises(ValueError, match="out_index: expected an output index in \\[0, 1\\), got 1"):
        token_attributions(probe, one, 0, out_index=1)
    with pytest.raises(ValueError, match=r"units: expected flat units in \[0, 3\)"):
        probe.embedding_gradients(x[:2], "embedding", [0.5, 1.0], [0, 5])
    with pytest.raises(ValueError, match="layer: expected a layer name"):
        probe.embedding_gradients(x[:2], "embeding", 1.0, 0)
    with pytest.raises(ValueError, match="layer: expected a layer that the model calls, got 'ids'"):
        probe.embedding_gradients(x[:2], "ids", 1.0, 0)  # an input layer is never called


def test_the_analysis_explains_the_predicted_class_and_says_why_not_elsewhere(bert, gpt2):
    from nbviz.compute import analyse

    case, probe = bert
    analysis = analyse(case.model, case.x, case.y)
    got = analysis.token_attribution(2, "integrated_gradients")
    assert isinstance(got, TokenAttribution)
    predicted = analysis.prediction(2).class_index
    assert got.unit == predicted
    direct = token_attributions(probe, _one(case.x, 2), int(predicted))
    np.testing.assert_allclose(got.values, direct.values, rtol=1e-5, atol=1e-9)
    assert analysis.token_attribution(2, "integrated_gradients") is got  # memoised
    other = (int(predicted) + 1) % 3
    assert analysis.token_attribution(2, "gradient_x_input", class_index=other).unit == other
    with pytest.raises(ValueError, match="class_index"):
        analysis.token_attribution(2, "gradient_x_input", class_index=3)
    assert isinstance(analysis.token_attribution(2, "gradient_x_input", position=0), Unavailable)

    lm, _ = gpt2
    lm_analysis = analyse(lm.model, lm.x)
    last = lm_analysis.token_attribution(0, "gradient_x_input")  # padding from position 10: the last real is 9
    vocab = lm.model.backbone.token_embedding.input_dim
    logits = np.asarray(lm.model(_one(lm.x, 0), training=False))[0]
    assert last.unit == 9 * vocab + int(np.argmax(logits[9]))

    keras.utils.set_random_seed(6)
    dense = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    x = np.random.default_rng(6).normal(size=(5, 4)).astype("float32")
    reason = analyse(dense, x).token_attribution(0, "integrated_gradients")
    assert isinstance(reason, Unavailable) and "embedding" in reason.reason
