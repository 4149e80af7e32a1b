"""SHAP values: additivity, a linear model's exact answer, the top feature of 3*x0, auto's fallback."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from nbviz.compute import ShapExplainer, available_explainers, default_background, shap_values


@pytest.fixture(scope="module")
def linear_model():
    """f(x) = w . x + b: for independent features, SHAP value i is exactly w_i (x_i - E[background_i])."""
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1, name="linear")])
    model.get_layer("linear").set_weights(
        [np.array([[3.0], [0.0], [-2.0], [0.5], [1.0]], "float32"), np.array([0.7], "float32")]
    )
    return model


# The gradient explainer draws 200 background rows at random, so its answer here is only right in expectation
# (measured: off by up to 0.43 for values near 3); its exact case is the one-background-row test below.
@pytest.mark.parametrize(
    "explainer", ["exact", "permutation", "kernel", pytest.param("deep", marks=pytest.mark.tensorflow_only)]
)
def test_linear_model_has_the_analytic_shap_values(linear_model, rng, explainer):
    x = rng.normal(size=(4, 5)).astype("float32")
    background = rng.normal(size=(30, 5)).astype("float32")
    w = linear_model.get_layer("linear").get_weights()[0][:, 0]
    attribution = shap_values(linear_model, x, background=background, explainer=explainer)
    expected = w * (x - background.mean(axis=0))
    tolerance = 1e-3 if explainer == "kernel" else 1e-4
    np.testing.assert_allclose(attribution.values, expected, atol=tolerance)
    np.testing.assert_allclose(attribution.outputs, np.asarray(linear_model(x))[:, 0], atol=1e-5)
    assert attribution.explainer == explainer and attribution.additivity_error.max() < tolerance


def test_gradient_explainer_is_exact_on_a_linear_model_with_one_background_row(linear_model, rng):
    x = rng.normal(size=(3, 5)).astype("float32")
    background = rng.normal(size=(1, 5)).astype("float32")
    w = linear_model.get_layer("linear").get_weights()[0][:, 0]
    attribution = shap_values(linear_model, x, background=background, explainer="gradient")
    np.testing.assert_allclose(attribution.values, w * (x - background), atol=1e-5)


def test_sampling_explainers_are_reproducible(cancer):
    bg = default_background(cancer.x_train)
    for name in ("gradient", "permutation"):
        first, second = (shap_values(cancer.model, cancer.x_test[:3], background=bg, explainer=name) for _ in range(2))
        np.testing.assert_array_equal(first.values, second.values)


def test_three_x0_puts_x0_on_top(linear_model, rng):
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1, name="linear")])
    model.get_layer("linear").set_weights([np.array([[3.0], [0], [0], [0], [0]], "float32"), np.zeros(1, "float32")])
    x = rng.normal(size=(6, 5)).astype("float32") + 2.0
    attribution = shap_values(model, x, background=rng.normal(size=(40, 5)).astype("float32"), explainer="permutation")
    assert (np.argmax(np.abs(attribution.values), axis=1) == 0).all()
    assert np.abs(attribution.values[:, 1:]).max() < 1e-5


def test_permutation_is_additive_on_the_tabular_demo(cancer):
    x = cancer.x_test[:6]
    attribution = shap_values(cancer.model, x, background=default_background(cancer.x_train), explainer="permutation")
    np.testing.assert_allclose(attribution.base_values + attribution.values.sum(axis=1), attribution.outputs, atol=1e-4)
    probs = np.asarray(cancer.model(x))
    np.testing.assert_array_equal(attribution.class_index, probs.argmax(axis=1))  # default: the predicted class
    np.testing.assert_allclose(attribution.outputs, probs.max(axis=1), atol=1e-5)


def test_gradient_explainer_additivity_error_is_bounded(cancer, digits):
    # Expected gradients sample the background (seeded, so reproducible), so additivity holds only on average.
    # Measured on these 5 samples: up to 0.058 (breast cancer) and 0.26 (digits) in probability units.
    for data in (cancer, digits):
        attribution = shap_values(
            data.model, data.x_test[:5], background=default_background(data.x_train), explainer="gradient"
        )
        assert attribution.explainer == "gradient"
        assert attribution.additivity_error.max() < 0.35, attribution.additivity_error


def test_auto_falls_back_on_integer_inputs(rng):
    tokens = keras.Input((6,), dtype="int32")
    h = keras.layers.Embedding(20, 4)(tokens)
    h = keras.layers.GlobalAveragePooling1D()(h)
    model = keras.Model(tokens, keras.layers.Dense(3, activation="softmax")(h))
    x = rng.integers(0, 20, size=(3, 6))
    attribution = shap_values(model, x, background=rng.integers(0, 20, size=(10, 6)))
    assert attribution.explainer == "permutation"
    assert "integer inputs" in attribution.fallback
    assert attribution.additivity_error.max() < 1e-4


def test_auto_uses_gradient_when_it_works(cancer):
    explainer = ShapExplainer(cancer.model, default_background(cancer.x_train, size=20), "auto")
    assert (explainer.name, explainer.fallback) == ("gradient", None)


@pytest.mark.tensorflow_only  # shap's GradientExplainer and DeepExplainer read TensorFlow graphs
def test_class_choice_and_default_background(cancer):
    bg = default_background(cancer.x_train)
    assert bg.shape == (100, 30) and bg.dtype == np.float32
    assert len(np.unique(bg, axis=0)) <= 50  # k-means centres, repeated by cluster size (tiny ones drop out)
    # Weighted by cluster size, the summary keeps the data's mean output: the base value SHAP starts from.
    mean_output = [np.asarray(cancer.model(data)).mean(axis=0) for data in (bg, cancer.x_train)]
    np.testing.assert_allclose(mean_output[0], mean_output[1], atol=0.03)
    assert default_background(cancer.x_train[:50]) is not None and len(default_background(cancer.x_train[:50])) == 50
    explanation = ShapExplainer(cancer.model, bg, "deep").explain(cancer.x_test[:3])
    both = [explanation.for_class(k) for k in (0, 1)]
    np.testing.assert_allclose(both[0].outputs + both[1].outputs, 1.0, atol=1e-5)  # softmax over two classes
    with pytest.raises(ValueError, match=r"class_index: expected an output unit in \[0, 2\), got 2"):
        explanation.for_class(2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"explainer": "magic"}, "explainer: expected one of"),
        ({"explainer": "exact"}, r"explainer: 'exact' evaluates 2\*\*30 coalitions"),
    ],
)
def test_bad_arguments(cancer, kwargs, match):
    with pytest.raises(ValueError, match=match):
        shap_values(cancer.model, cancer.x_test[:2], background=cancer.x_train[:10], **kwargs)


def test_several_inputs_are_refused(two_input_model, rng):
    x = [rng.normal(size=(2, 4)).astype("float32") for _ in range(2)]
    with pytest.raises(ValueError, match="model: SHAP values need a model with one input, got 2"):
        shap_values(two_input_model, x)


@pytest.mark.skipif(keras.backend.backend() == "tensorflow", reason="the refusal is for other backends")
def test_deep_is_refused_off_tensorflow_and_auto_uses_the_probe(cancer):
    with pytest.raises(ValueError, match=r"explainer: 'deep' is shap's DeepExplainer, which reads TensorFlow"):
        ShapExplainer(cancer.model, cancer.x_train[:10], "deep")
    assert "deep" not in available_explainers()
    assert ShapExplainer(cancer.model, cancer.x_train[:10], "auto").name == "gradient"
