"""The attention tab on KerasHub's cached decoder LMs (Gemma 3, Llama 3, Qwen 3, Mixtral, Mistral, Phi-3,
GPT-NeoX, Gemma): their ``_compute_attention`` returns the output alone and their weights come out of a
``keras.layers.Softmax`` sub-layer (5-D for Gemma's grouped-query attention). Every layer's tab shows no error,
and the weights shown equal the ones that sub-layer gives in an eager call of the model, seen by a plain spy."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import keras
import numpy as np
import pytest

import nbviz
from nbviz.testing import panel_errors, raising_panel_errors

keras_hub = pytest.importorskip("keras_hub")

VOCAB, LENGTH = 60, 10
REAL = (10, 7, 4)  # real tokens of each sample: one full, two right-padded


def _tokens() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    ids = rng.integers(1, VOCAB, size=(len(REAL), LENGTH)).astype("int32")
    mask = np.arange(LENGTH)[None, :] < np.array(REAL)[:, None]
    ids[~mask] = 0
    return {"token_ids": ids, "padding_mask": mask.astype("int32")}


def _gemma3() -> keras.Model:
    backbone = keras_hub.models.Gemma3Backbone(
        vocabulary_size=VOCAB, image_size=None, num_layers=2, num_query_heads=4, num_key_value_heads=2,
        hidden_dim=16, intermediate_dim=32, head_dim=8,
    )  # fmt: skip
    return keras_hub.models.Gemma3CausalLM(backbone=backbone, preprocessor=None)


def _gemma() -> keras.Model:
    backbone = keras_hub.models.GemmaBackbone(
        vocabulary_size=VOCAB, num_layers=2, num_query_heads=4, num_key_value_heads=2, hidden_dim=16,
        intermediate_dim=32, head_dim=8,
    )  # fmt: skip
    return keras_hub.models.GemmaCausalLM(backbone=backbone, preprocessor=None)


def _llama3() -> keras.Model:
    backbone = keras_hub.models.Llama3Backbone(
        vocabulary_size=VOCAB, num_layers=2, num_query_heads=4, num_key_value_heads=2, hidden_dim=16,
        intermediate_dim=32,
    )  # fmt: skip
    return keras_hub.models.Llama3CausalLM(backbone=backbone, preprocessor=None)


def _qwen3() -> keras.Model:
    backbone = keras_hub.models.Qwen3Backbone(
        vocabulary_size=VOCAB, num_layers=2, num_query_heads=4, num_key_value_heads=2, head_dim=8, hidden_dim=16,
        intermediate_dim=32,
    )  # fmt: skip
    return keras_hub.models.Qwen3CausalLM(backbone=backbone, preprocessor=None)


def _mixtral() -> keras.Model:
    backbone = keras_hub.models.MixtralBackbone(
        vocabulary_size=VOCAB, num_layers=2, num_query_heads=4, num_key_value_heads=2, hidden_dim=16,
        intermediate_dim=32, num_experts=2, top_k=1,
    )  # fmt: skip
    return keras_hub.models.MixtralCausalLM(backbone=backbone, preprocessor=None)


def _mistral() -> keras.Model:
    backbone = keras_hub.models.MistralBackbone(
        vocabulary_size=VOCAB, num_layers=2, num_query_heads=4, num_key_value_heads=2, hidden_dim=16,
        intermediate_dim=32,
    )  # fmt: skip
    return keras_hub.models.MistralCausalLM(backbone=backbone, preprocessor=None)


def _phi3() -> keras.Model:
    backbone = keras_hub.models.Phi3Backbone(
        vocabulary_size=VOCAB, num_layers=2, num_query_heads=4, num_key_value_heads=2, hidden_dim=16,
        intermediate_dim=32,
    )  # fmt: skip
    return keras_hub.models.Phi3CausalLM(backbone=backbone, preprocessor=None)


def _gpt_neo_x() -> keras.Model:
    backbone = keras_hub.models.GPTNeoXBackbone(
        vocabulary_size=VOCAB, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32
    )
    return keras_hub.models.GPTNeoXCausalLM(backbone=backbone, preprocessor=None)


MODELS: dict[str, Callable[[], keras.Model]] = {
    "gemma3": _gemma3,
    "llama3": _llama3,
    "qwen3": _qwen3,
    "mixtral": _mixtral,
    "mistral": _mistral,
    "phi3": _phi3,
    "gpt_neo_x": _gpt_neo_x,
    "gemma": _gemma,
}


def _softmax_of(layer: keras.layers.Layer) -> keras.layers.Softmax:
    for attribute in ("softmax", "_softmax"):
        if isinstance(getattr(layer, attribute, None), keras.layers.Softmax):
            return getattr(layer, attribute)
    raise AssertionError(f"{type(layer).__name__} has no Softmax sub-layer")


@contextmanager
def _spied(layers: dict[str, keras.layers.Layer]) -> Iterator[dict[str, list[np.ndarray]]]:
    """Each layer's Softmax outputs of the calls made inside, as numpy; the layers' unfused path is forced (on JAX
    and torch they would call one fused kernel that keeps no weights; on TensorFlow this changes nothing)."""
    seen: dict[str, list[np.ndarray]] = {name: [] for name in layers}
    undo: list[Callable[[], None]] = []
    for name, layer in layers.items():
        softmax = _softmax_of(layer)
        original = softmax.call

        def spy(*args: Any, _original: Any = original, _name: str = name, **kwargs: Any) -> Any:
            out = _original(*args, **kwargs)
            seen[_name].append(keras.ops.convert_to_numpy(out))
            return out

        softmax.__dict__["call"] = spy
        undo.append(lambda s=softmax: s.__dict__.pop("call"))
        module = inspect.getmodule(type(layer))
        if hasattr(module, "fused_attention_op_available"):
            before = module.fused_attention_op_available
            module.fused_attention_op_available = lambda: False
            undo.append(lambda m=module, b=before: setattr(m, "fused_attention_op_available", b))
        if hasattr(type(layer), "_use_fused_attention_op"):
            layer.__dict__["_use_fused_attention_op"] = lambda: False
            undo.append(lambda la=layer: la.__dict__.pop("_use_fused_attention_op"))
    try:
        yield seen
    finally:
        for step in reversed(undo):
            step()


def _heads(weights: np.ndarray) -> np.ndarray:
    """(batch, heads, queries, keys); Gemma's (batch, kv heads, groups, queries, keys) as query heads: the layer
    reshapes its query heads (heads,) into (kv heads, groups), so query head ``kv * groups + g``."""
    return weights.reshape(weights.shape[0], -1, *weights.shape[-2:])


@pytest.fixture(scope="module", params=list(MODELS))
def decoder(request: pytest.FixtureRequest) -> tuple[str, keras.Model, dict[str, np.ndarray], Any]:
    keras.utils.set_random_seed(7)
    model = MODELS[request.param]()
    x = _tokens()
    with raising_panel_errors():
        ex = nbviz.explore(model, x)
        ex.tab = "attention"
    return request.param, model, x, ex


def test_every_attention_layer_shows_its_own_softmax_weights(decoder):
    name, model, x, ex = decoder
    panel = ex.panels["attention"]
    attention = {n: layer for n, layer in ex.analysis.probe.layers.items() if hasattr(layer, "_compute_attention")}
    assert len(attention) == 2, name
    assert set(ex.analysis.attention_layers()) == set(attention)
    with _spied(attention) as seen:
        model.backbone(x)  # eager: the layers' own weights, outside nbviz
    causal = np.tril(np.ones((LENGTH, LENGTH), bool))
    for layer in attention:
        (own,) = seen[layer]
        own = _heads(own.astype(np.float64))
        assert own.shape == (len(REAL), 4 if name != "gpt_neo_x" else 2, LENGTH, LENGTH)
        for sample, real in enumerate(REAL):
            ex.sample, ex.layer = sample, layer
            assert panel.error is None, (name, layer, panel.error)
            shown = ex.analysis.attention(sample, layer).weights  # what the tab draws: real tokens only
            np.testing.assert_allclose(shown, own[sample, :, :real, :real], atol=1e-5, err_msg=f"{name} {layer}")
            np.testing.assert_allclose(shown.sum(axis=-1), 1.0, atol=1e-5)  # every real query: rows sum to 1
            assert np.all(shown[:, ~causal[:real, :real]] == 0)  # causal: no weight above the diagonal
            assert np.all(own[sample, :, :, real:] == 0)  # padded keys: no weight from any query
        scores = ex.analysis.probe.attention_scores(x, [layer])[layer]  # the whole pass, padding included
        np.testing.assert_allclose(scores, own, atol=1e-5)


def test_no_tab_shows_an_error_on_any_layer_of_gemma3():
    keras.utils.set_random_seed(7)
    x = _tokens()
    ex = nbviz.explore(_gemma3(), x, np.roll(x["token_ids"], -1, axis=1))  # next-token targets, as GPT-2's case
    assert panel_errors(ex) == []


def test_without_labels_a_decoder_is_differentiated_on_its_own_next_tokens():
    """No y: a language model's loss takes its own predicted tokens as labels, as class indices for its sparse
    crossentropy on logits (one-hot rows failed there), checked against a tape."""
    import tensorflow as tf

    keras.utils.set_random_seed(8)
    x, model = _tokens(), _gemma3()
    ex = nbviz.explore(model, x)
    assert panel_errors(ex, ["gradients", "findings"]) == []
    one = {k: v[1:2] for k, v in x.items()}
    norm = model.backbone.get_layer("final_normalization")
    with tf.GradientTape() as tape:
        logits = model(one)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(tf.argmax(logits, axis=-1), logits)
    expected = tape.gradient(loss, norm.trainable_weights[0]).numpy()
    name = next(n for n in ex.analysis.probe.layers if n.endswith("final_normalization"))
    np.testing.assert_allclose(ex.analysis.gradients(1).weights[name][0], expected, rtol=1e-4, atol=1e-7)


def test_gpt_oss_attention_shows_a_note_not_an_error():
    # GPT-OSS computes its weights with a bare ops.softmax inside _compute_attention, which returns the output
    # alone: nothing to read, and the tab says so on each of its attention layers instead of failing.
    keras.utils.set_random_seed(7)
    backbone = keras_hub.models.GptOssBackbone(
        vocabulary_size=VOCAB, num_layers=2, num_query_heads=4, num_key_value_heads=2, hidden_dim=16,
        intermediate_dim=32, num_experts=2, top_k=1, head_dim=8,
    )  # fmt: skip
    with raising_panel_errors():
        ex = nbviz.explore(keras_hub.models.GptOssCausalLM(backbone=backbone, preprocessor=None), _tokens())
        ex.tab = "attention"
    panel = ex.panels["attention"]
    attention = [n for n, layer in ex.analysis.probe.layers.items() if hasattr(layer, "_compute_attention")]
    assert len(attention) == 2 and ex.analysis.attention_layers() == ()
    for layer in attention:
        with raising_panel_errors():
            ex.layer = layer
        assert panel.error is None
        assert f"No attention weights to show for {layer} (GptOssAttention)" in panel.message.value
        assert "cannot read them" in panel.message.value


def test_gemma3_grouped_query_heads_keep_the_query_heads_order():
    # Gemma 3's weights come out (batch, kv heads, groups, queries, keys); nbviz's head h must be query head h.
    # A query head whose projection is zero has zero logits (its norm and rotary embedding keep zero at zero), so
    # it attends uniformly to the keys it may see: query head 1 (kv head 0, group 1) is the only uniform one.
    from nbviz.compute.model.probe import Probe

    keras.utils.set_random_seed(7)
    model = _gemma3()
    x = _tokens()
    layer = model.backbone.get_layer("decoder_block_0").attention
    kernel = keras.ops.convert_to_numpy(layer.query_dense.kernel).copy()  # (query heads, hidden, head dim)
    kernel[1] = 0.0
    layer.query_dense.kernel.assign(kernel)
    probe = Probe(model)
    (name,) = [n for n, la in probe.layers.items() if la is layer]
    scores = probe.attention_scores(x, [name])[name]
    for sample, real in enumerate(REAL):
        uniform = np.tril(np.ones((real, real))) / np.arange(1, real + 1)[:, None]
        w = scores[sample, :, :real, :real]
        np.testing.assert_allclose(w[1], uniform, atol=1e-6)
        assert all(np.abs(w[h] - uniform).max() > 1e-3 for h in (0, 2, 3))
