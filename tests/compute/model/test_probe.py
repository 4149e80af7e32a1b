"""Probe: activations against Keras sub-models, gradients against central finite differences."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from nbviz.compute import Probe


def _submodel_output(model, layer, x):
    inputs = model.inputs if len(model.inputs) > 1 else model.inputs[0]
    return np.asarray(keras.Model(inputs, layer.output)(x))


# ------------------------------------------------------------------------------------------ activations
def test_demo_cnn_activations_equal_submodels(digits):
    model, x = digits.model, digits.x_test[:7]
    acts = Probe(model).activations(x)
    assert set(acts) == {layer.name for layer in model.layers}
    for layer in model.layers:
        np.testing.assert_allclose(acts[layer.name], _submodel_output(model, layer, x), atol=1e-6)
        assert acts[layer.name].dtype == np.float32


def test_two_input_activations_and_shared_layer(two_input_model, rng):
    model = two_input_model
    x = [rng.normal(size=(6, 4)).astype("float32"), rng.normal(size=(6, 4)).astype("float32")]
    acts = Probe(model).activations(x)
    for name in ("value", "cat", "label"):
        np.testing.assert_allclose(acts[name], _submodel_output(model, model.get_layer(name), x), atol=1e-6)
    np.testing.assert_allclose(acts["a"], x[0])
    np.testing.assert_allclose(acts["b"], x[1])
    # The shared layer's two calls are both kept: first on `a`, then on `b`.
    shared = model.get_layer("shared")
    np.testing.assert_allclose(acts["shared"], np.asarray(shared(x[0])), atol=1e-6)
    np.testing.assert_allclose(acts["shared@1"], np.asarray(shared(x[1])), atol=1e-6)


def test_nested_activations_equal_inner_submodels(nested_model, rng):
    model = nested_model
    x = rng.normal(size=(5, 6, 6, 2)).astype("float32")
    acts = Probe(model).activations(x)
    backbone = model.get_layer("backbone")
    for inner in backbone.layers[1:]:
        expected = np.asarray(keras.Model(backbone.inputs[0], inner.output)(x))
        np.testing.assert_allclose(acts[f"backbone/{inner.name}"], expected, atol=1e-6)
    np.testing.assert_allclose(acts["backbone/backbone_in"], x)
    np.testing.assert_allclose(acts["backbone"], np.asarray(backbone(x)), atol=1e-6)
    for name in ("head", "probs"):
        np.testing.assert_allclose(acts[name], _submodel_output(model, model.get_layer(name), x), atol=1e-6)


def test_subclassed_activations(subclassed_model, rng):
    model = subclassed_model
    x = rng.normal(size=(4, 3)).astype("float32")
    acts = Probe(model).activations(x)
    hidden = np.asarray(model.hidden(x))
    np.testing.assert_allclose(acts["hidden"], hidden, atol=1e-6)
    np.testing.assert_allclose(acts["out"], np.asarray(model.out(hidden * 2.0)), atol=1e-6)


@pytest.mark.tensorflow_only  # counts tf.function traces; JAX compiles once per batch size
def test_traced_once_per_signature_whatever_the_batch(digits):
    probe = Probe(digits.model, batch_size=64)
    for n in (1, 5, 200, 3):  # 200 runs as several chunks
        acts = probe.activations(digits.x_test[:n])
        assert acts["probs"].shape == (n, 10)
    assert probe.traces == 1
    np.testing.assert_allclose(probe.predict(digits.x_test[:9]), np.asarray(digits.model(digits.x_test[:9])), atol=1e-6)
    assert probe.traces == 1


def test_layer_subset(digits):
    acts = Probe(digits.model).activations(digits.x_test[:2], layers=["conv1", "probs"])
    assert list(acts) == ["conv1", "probs"]


# ------------------------------------------------------------------------------------------ gradients
L2 = 0.01


@pytest.fixture(scope="module")
def float64_model():
    """A tiny float64 model (nested backbone, BatchNorm, L2 on the head) for finite differences."""
    keras.utils.set_random_seed(5)
    inner_in = keras.Input((4, 4, 1), dtype="float64")
    h = keras.layers.Conv2D(2, 3, activation="tanh", dtype="float64", name="conv")(inner_in)
    h = keras.layers.BatchNormalization(dtype="float64", name="bn")(h)
    h = keras.layers.GlobalAveragePooling2D(dtype="float64", name="gap")(h)
    backbone = keras.Model(inner_in, h, name="backbone")
    x = keras.Input((4, 4, 1), dtype="float64", name="x")
    y = keras.layers.Dense(
        3, activation="softmax", dtype="float64", name="head", kernel_regularizer=keras.regularizers.L2(L2)
    )(backbone(x))
    model = keras.Model(x, y, name="fd")
    bn = backbone.get_layer("bn")
    bn.moving_mean.assign(np.array([0.2, -0.1]))
    bn.moving_variance.assign(np.array([0.7, 1.3]))
    model.compile(loss="sparse_categorical_crossentropy")
    return model


def _loss(model, x, y) -> float:
    """The loss computed independently: numpy crossentropy on Keras's forward pass, plus the L2 term."""
    p = np.asarray(model(x, training=False), dtype=np.float64)
    kernel = np.asarray(model.get_layer("head").kernel)
    return float(-np.mean(np.log(p[np.arange(len(y)), y])) + L2 * np.sum(kernel**2))


#: Why some float64 tests run on TensorFlow only: Keras on JAX computes tanh, BatchNorm and means of float64 in
#: float32 (it promotes float64 with a Python float to its float32), which no float64 difference quotient
#: survives. The plainer model below runs on both backends.
FLOAT32_ON_JAX = "Keras on JAX computes tanh, BatchNorm and means of float64 in float32"


def _central_difference(f, values: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    grad = np.zeros_like(values, dtype=np.float64)
    for idx in np.ndindex(values.shape):
        old = values[idx]
        values[idx] = old + eps
        up = f()
        values[idx] = old - eps
        down = f()
        values[idx] = old
        grad[idx] = (up - down) / (2 * eps)
    return grad


def _assert_weight_gradients(model, layers, grads, x, y) -> None:
    """Each of ``layers``' weight gradients in ``grads`` equals central differences of the loss on (x, y)."""
    for name, layer in layers.items():
        assert len(grads.weights[name]) == len(layer.weights)
        for variable, grad in zip(layer.weights, grads.weights[name]):
            values = np.array(variable.numpy())

            def loss_at(variable=variable, values=values):
                variable.assign(values)
                return _loss(model, x, y)

            expected = _central_difference(loss_at, values)
            variable.assign(values)
            _assert_close(grad, expected)


def _assert_close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-7)


@pytest.mark.tensorflow_only  # see FLOAT32_ON_JAX
def test_weight_and_input_gradients_equal_finite_differences(float64_model, rng):
    model = float64_model
    x = rng.normal(size=(3, 4, 4, 1))
    y = np.array([0, 2, 1])
    grads = Probe(model).gradients(x, y)
    assert grads.objective == pytest.approx(_loss(model, x, y), rel=1e-6)

    backbone = model.get_layer("backbone")
    layers = {"backbone/conv": backbone.get_layer("conv"), "backbone/bn": backbone.get_layer("bn")}
    _assert_weight_gradients(model, {**layers, "head": model.get_layer("head")}, grads, x, y)
    # BatchNorm's moving statistics are used at inference: their gradients are real, not zero.
    assert np.abs(grads.weights["backbone/bn"][2]).max() > 1e-3

    xs = x.copy()
    _assert_close(grads.inputs, _central_difference(lambda: _loss(model, xs, y), xs))


@pytest.fixture(scope="module")
def float64_plain_model():
    """The float64 model less what Keras on JAX computes in float32 (tanh, BatchNorm, the mean of a global
    pooling): runs on both backends."""
    keras.utils.set_random_seed(6)
    x = keras.Input((4, 4, 1), dtype="float64")
    h = keras.layers.Conv2D(2, 3, activation="sigmoid", dtype="float64", name="conv")(x)
    h = keras.layers.Flatten(dtype="float64", name="flat")(h)
    y = keras.layers.Dense(
        3, activation="softmax", dtype="float64", name="head", kernel_regularizer=keras.regularizers.L2(L2)
    )(h)
    model = keras.Model(x, y, name="fd_plain")
    model.compile(loss="sparse_categorical_crossentropy")
    return model


def test_weight_and_input_gradients_equal_finite_differences_without_batchnorm(float64_plain_model, rng):
    model = float64_plain_model
    x = rng.normal(size=(3, 4, 4, 1))
    y = np.array([2, 0, 1])
    grads = Probe(model).gradients(x, y)
    assert grads.objective == pytest.approx(_loss(model, x, y), rel=1e-6)
    _assert_weight_gradients(model, {name: model.get_layer(name) for name in ("conv", "head")}, grads, x, y)
    xs = x.copy()
    _assert_close(grads.inputs, _central_difference(lambda: _loss(model, xs, y), xs))
    target = Probe(model).gradients(x, target=2)
    xt = x.copy()
    _assert_close(target.inputs, _central_difference(lambda: float(np.asarray(model(xt))[:, 2].sum()), xt))


def test_output_gradients_equal_finite_differences(float64_model, rng):
    model = float64_model
    x = rng.normal(size=(3, 4, 4, 1))
    y = np.array([1, 0, 2])
    grads = Probe(model).gradients(x, y)
    head = model.get_layer("head")
    kernel_penalty = L2 * np.sum(np.asarray(head.kernel) ** 2)
    h = np.array(model.get_layer("backbone")(x), dtype=np.float64)

    def loss_from_h():
        p = np.asarray(head(h))
        return float(-np.mean(np.log(p[np.arange(3), y])) + kernel_penalty)

    expected = _central_difference(loss_from_h, h)
    _assert_close(grads.outputs["backbone"], expected)
    _assert_close(grads.outputs["backbone/gap"], expected)


def test_softmax_output_gradient_equals_finite_differences_on_the_probabilities(float64_model, rng):
    # Keras takes the crossentropy from the logits it caches on a softmax output, so the tape's path skips the
    # output tensor; its gradient used to come back as zeros. d loss / d p is -1 / (n p_y) at the label, 0 off it.
    model = float64_model
    x = rng.normal(size=(3, 4, 4, 1))
    y = np.array([2, 0, 1])
    grads = Probe(model).gradients(x, y)
    p = np.array(model(x), dtype=np.float64)
    penalty = L2 * np.sum(np.asarray(model.get_layer("head").kernel) ** 2)
    expected = _central_difference(lambda: float(-np.mean(np.log(p[np.arange(3), y]))) + penalty, p)
    _assert_close(grads.outputs["head"], expected)
    assert np.allclose(grads.outputs["head"][np.arange(3), y], -1 / (3 * p[np.arange(3), y]))
    assert "head" not in grads.undefined
    # Without labels (the classifier's own predictions serve), the same holds at the predicted class.
    own = Probe(model).gradients(x)
    top = p.argmax(axis=1)
    np.testing.assert_allclose(own.outputs["head"][np.arange(3), top], -1 / (3 * p[np.arange(3), top]), rtol=1e-6)


def test_a_gradient_that_does_not_exist_is_said_to_be_undefined(rng):
    # A token input (integers) has no gradient, and neither has a branch cut by a non-differentiable op.
    tokens = keras.Input((5,), dtype="int32", name="tokens")
    h = keras.layers.Embedding(7, 3, name="embed")(tokens)
    h = keras.layers.Flatten(name="flat")(h)
    cut = keras.layers.Lambda(lambda t: keras.ops.round(t), name="rounded")(h)
    out = keras.layers.Dense(2, activation="softmax", name="probs")(keras.layers.Concatenate(name="cat")([h, cut]))
    model = keras.Model(tokens, out)
    grads = Probe(model).gradients(rng.integers(0, 7, size=(4, 5)).astype("int32"), np.array([0, 1, 1, 0]))
    assert "input#0" in grads.undefined and "flat" not in grads.undefined and "embed#0" not in grads.undefined
    assert not np.any(grads.inputs)  # zeros in the array, which the flag says are no derivative
    assert np.abs(grads.weights["embed"][0]).max() > 0


def test_calls_without_a_probe_share_one_per_model(digits):
    from nbviz.compute.methods.saliency import saliency
    from nbviz.compute.model.probe import shared_probe

    model, x = digits.model, digits.x_test[:1]
    for method in ("gradcam", "gradient"):
        saliency(model, x, method)
    probe = shared_probe(model)
    traces = probe.traces
    for method in ("gradcam", "gradient"):
        saliency(model, x, method)
    assert shared_probe(model) is probe and probe.traces == traces  # each pass traced once, kept between calls
    assert Probe(model) is not probe  # a Probe made directly is a person's own


@pytest.mark.tensorflow_only  # see FLOAT32_ON_JAX
def test_target_unit_saliency_equals_finite_differences(float64_model, rng):
    model = float64_model
    x = rng.normal(size=(2, 4, 4, 1))
    grads = Probe(model).gradients(x, target=2)
    assert grads.objective == pytest.approx(float(np.asarray(model(x))[:, 2].sum()), rel=1e-6)
    xs = x.copy()
    _assert_close(grads.inputs, _central_difference(lambda: float(np.asarray(model(xs))[:, 2].sum()), xs))


def test_labels_as_indices_one_hot_or_predicted(digits):
    probe, x = Probe(digits.model), digits.x_test[:8]
    y = digits.y_test[:8]
    sparse = probe.gradients(x, y)
    onehot = probe.gradients(x, np.eye(10, dtype="float32")[y])
    np.testing.assert_allclose(sparse.weights["conv1"][0], onehot.weights["conv1"][0], rtol=1e-5, atol=1e-7)
    predicted = np.argmax(np.asarray(digits.model(x)), axis=-1)
    own = probe.gradients(x)
    np.testing.assert_allclose(own.inputs, probe.gradients(x, predicted).inputs, rtol=1e-5, atol=1e-7)
    assert set(own.outputs) == {layer.name for layer in digits.model.layers}


def test_two_output_model_gradients(two_input_model, rng):
    model = two_input_model
    x = [rng.normal(size=(4, 4)).astype("float32") for _ in range(2)]
    y = [rng.normal(size=(4, 1)).astype("float32"), np.array([0, 1, 2, 1])]
    grads = Probe(model).gradients(x, y)
    assert isinstance(grads.inputs, list) and [g.shape for g in grads.inputs] == [(4, 4), (4, 4)]
    assert [w.shape for w in grads.weights["shared"]] == [(4, 5), (5,)]
    # With no loss compiled: MSE on the regression output plus crossentropy on the softmax output.
    value, probs = (np.asarray(t) for t in model(x))
    expected = np.mean((value - y[0]) ** 2) - np.mean(np.log(probs[np.arange(4), y[1]]))
    assert grads.objective == pytest.approx(float(expected), rel=1e-5)


# ------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda p, x: p.activations(x[0]), ValueError, r"x: expected shape \(None, 8, 8, 1\).*x\[None\]"),
        (lambda p, x: p.activations(x[:, :4]), ValueError, r"x: expected shape \(None, 8, 8, 1\)"),
        (lambda p, x: p.activations("pixels"), TypeError, "x: expected a numeric array, got str"),
        (lambda p, x: p.activations(x[:0]), ValueError, "x: expected a non-empty batch"),
        (lambda p, x: p.activations(x, layers=["conv9"]), ValueError, "layers: expected names from"),
        (
            lambda p, x: p.gradients(x, np.zeros(3)),
            ValueError,
            r"y: expected labels for 4 samples, got shape \(3,\)",
        ),
        (lambda p, x: p.gradients(x, target=10), ValueError, r"target: expected a unit in \[0, 10\)"),
        (lambda p, x: p.gradients(x, target="cat"), TypeError, "target: expected an int"),
    ],
)
def test_bad_input_is_named(digits, call, exc, match):
    probe = Probe(digits.model)
    with pytest.raises(exc, match=match):
        call(probe, digits.x_test[:4])


def test_regression_without_labels(two_input_model, rng):
    x = [rng.normal(size=(2, 4)).astype("float32") for _ in range(2)]
    with pytest.raises(ValueError, match="y: expected labels"):
        Probe(two_input_model).gradients(x)


def test_probe_rejects_non_models():
    with pytest.raises(TypeError, match="model: expected a keras.Model"):
        Probe(object())


def test_sigmoid_labels_of_either_rank_give_keras_own_loss(rng):
    """Labels (n,) for a (n, 1) sigmoid output, as Keras's fit accepts them, give the same loss as (n, 1)."""
    keras.utils.set_random_seed(6)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy")
    x = rng.normal(size=(10, 4)).astype("float32")
    y = rng.integers(0, 2, 10).astype("float32")
    probe = Probe(model)
    flat, column = probe.gradients(x, y), probe.gradients(x, y[:, None])
    p = np.clip(np.asarray(model(x))[:, 0].astype(np.float64), 1e-7, 1 - 1e-7)
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert flat.objective == pytest.approx(expected, rel=1e-5)
    assert column.objective == pytest.approx(expected, rel=1e-5)
    for a, b in zip(flat.weights[model.layers[0].name], column.weights[model.layers[0].name]):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_sample_weights_weigh_the_loss_as_fit_does(float64_model, rng):
    """Weighted: sum(w * loss) / n, as Keras reduces it; checked by finite differences on the weights and on
    the probabilities (whose gradient is written out, not taped)."""
    model = float64_model
    x = rng.normal(size=(3, 4, 4, 1))
    y = np.array([0, 2, 1])
    w = np.array([1.0, 0.0, 2.5])
    grads = Probe(model).gradients(x, y, sample_weight=w)
    head = model.get_layer("head")

    def weighted_loss() -> float:
        p = np.asarray(model(x, training=False), dtype=np.float64)
        return float(np.mean(-w * np.log(p[np.arange(3), y])) + L2 * np.sum(np.asarray(head.kernel) ** 2))

    assert grads.objective == pytest.approx(weighted_loss(), rel=1e-6)
    kernel = np.array(head.kernel.numpy())

    def at(values=kernel):
        head.kernel.assign(values)
        return weighted_loss()

    expected = _central_difference(at, kernel)
    head.kernel.assign(kernel)
    _assert_close(grads.weights["head"][0], expected)
    p = np.array(model(x), dtype=np.float64)
    np.testing.assert_allclose(grads.outputs["head"][np.arange(3), y], -w / (3 * p[np.arange(3), y]), rtol=1e-6)
    assert not np.any(grads.inputs[1])  # a sample of weight 0 gets no gradient
    with pytest.raises(ValueError, match=r"sample_weight: expected numbers, one per sample \(3,\)"):
        Probe(model).gradients(x, y, sample_weight=np.ones(2))


@pytest.mark.tensorflow_only  # checks against TensorFlow's GradientTape
def test_a_language_models_padding_carries_no_loss():
    """GPT-2's compiled loss is a Keras Loss on logits; weighted by the padding mask (what its preprocessor
    yields), the gradients equal the tape's on Keras's own weighted loss, and change when padding is weighted."""
    import tensorflow as tf

    from tests.zoo import ZOO

    case = ZOO["gpt2"]()
    model, x, y = case.model, case.x, case.y
    w = x["padding_mask"].astype("float32")
    grads = Probe(model).gradients(x, y, sample_weight=w)
    norm = f"{model.backbone.name}/layer_norm"  # the backbone's name has a suffix when another was built before
    variables = model.backbone.get_layer("layer_norm").trainable_weights
    with tf.GradientTape() as tape:
        loss = model.loss(y, model(x, training=False), sample_weight=w)
    expected = tape.gradient(loss, variables)
    assert grads.objective == pytest.approx(float(loss), rel=1e-5)
    for got, ref in zip(grads.weights[norm], expected):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5 * float(np.abs(ref).max()))
    unweighted = Probe(model).gradients(x, y)
    assert not np.allclose(unweighted.weights[norm][0], expected[0], rtol=1e-3)


def test_attention_scores_equal_each_layers_own(rng):
    """Issue 14's first part: every attention layer's weights from one compiled pass, against the layer's own
    ``return_attention_scores=True`` on the same inputs (self- and cross-attention)."""
    query, context = keras.Input((7, 8)), keras.Input((5, 8))
    self_attention = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, name="self_attention")
    cross_attention = keras.layers.MultiHeadAttention(num_heads=3, key_dim=4, name="cross_attention")
    h = cross_attention(self_attention(query, query), context)
    model = keras.Model([query, context], keras.layers.Dense(2)(keras.layers.GlobalAveragePooling1D()(h)))
    xq, xc = rng.normal(size=(4, 7, 8)).astype("float32"), rng.normal(size=(4, 5, 8)).astype("float32")
    probe = Probe(model)
    scores = probe.attention_scores([xq, xc])
    assert {k: v.shape for k, v in scores.items()} == {"self_attention": (4, 2, 7, 7), "cross_attention": (4, 3, 7, 5)}
    _, own = self_attention(xq, xq, return_attention_scores=True)
    np.testing.assert_allclose(scores["self_attention"], np.asarray(own), rtol=1e-5, atol=1e-6)
    _, own = cross_attention(self_attention(xq, xq), xc, return_attention_scores=True)
    np.testing.assert_allclose(scores["cross_attention"], np.asarray(own), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scores["self_attention"].sum(axis=-1), 1.0, rtol=1e-5)  # each query's weights
    # The other passes are untouched: the layers are unwrapped after the trace.
    assert "_compute_attention" not in vars(self_attention)
    np.testing.assert_allclose(probe.predict([xq, xc]), np.asarray(model([xq, xc])), rtol=1e-5, atol=1e-6)


def test_attention_scores_of_a_kerashub_bert_skip_padding():
    pytest.importorskip("keras_hub")
    from tests.zoo import N, bert_classifier

    case = bert_classifier()  # 12 tokens a sample, padding from the 10th
    scores = Probe(case.model.backbone).attention_scores(case.x)
    assert list(scores) == [f"transformer_layer_{i}/self_attention_layer" for i in range(2)]
    for weights in scores.values():
        assert weights.shape == (N, 2, 12, 12)
        np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-5)
        assert np.abs(weights[..., 9:]).max() < 1e-6  # no query attends to padding


@pytest.mark.tensorflow_only
def test_a_fingerprint_read_variable_by_variable_equals_the_compiled_one(monkeypatch):
    """Past COMPILED_GATHER_LIMIT variables the fingerprint is read one variable at a time (a 3,000-layer model's
    compiled gather took 11 s to trace); both ways give the same values, mixed dtypes included, and they are the
    values at the sampled positions."""
    from nbviz.compute.backend import common
    from nbviz.compute.backend import tensorflow as tf_backend
    from nbviz.compute.model.version import sample_positions

    rng = np.random.default_rng(0)
    variables = [keras.Variable(rng.normal(size=(3, 7)).astype("float32")) for _ in range(5)]
    variables += [keras.Variable(rng.normal(size=(4,)).astype("float16")), keras.Variable(np.arange(40.0))]
    picks = sample_positions(variables, 16)
    compiled = tf_backend.gather_function(variables, picks)()
    monkeypatch.setattr(tf_backend, "COMPILED_GATHER_LIMIT", 3)
    one_by_one = tf_backend.gather_function(variables, picks)()
    np.testing.assert_array_equal(one_by_one, compiled)
    assert compiled.size == 5 * 16 + 4 + 16
    expected = [
        np.asarray(v.numpy()).reshape(-1) if p is None else np.asarray(v.numpy()).reshape(-1)[p]
        for v, p in zip(variables, picks)
    ]
    np.testing.assert_array_equal(compiled, np.concatenate(expected).astype(np.float32))
    np.testing.assert_array_equal(common.gather_function(variables, picks)(), compiled)  # JAX's way reads the same
