"""Saliency: IG completeness, gradients against finite differences, Grad-CAM against closed forms and references."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf

from nbviz.compute.methods.saliency import METHODS, cam_layers, integrated_gradients, saliency
from nbviz.compute.model.probe import Probe


@pytest.fixture(scope="module")
def cnn(digits):
    """The demo CNN, 8 test images (several predicted classes) and one Probe reused by every test."""
    return digits.model, digits.x_test[:8], Probe(digits.model)


@pytest.fixture(scope="module")
def wrapped_cnn() -> keras.Model:
    """A fresh copy of the trained demo CNN used as a layer of an outer model (its layers are "digits_cnn/...")."""
    from nbviz import demo

    image = keras.Input((8, 8, 1), name="pixels")
    return keras.Model(image, demo.digits_cnn().model(image), name="wrapped")


@pytest.fixture(scope="module")
def float64_mlp() -> keras.Model:
    # Sigmoid, not tanh: these finite differences run on JAX too, where Keras computes tanh of float64 in float32.
    keras.utils.set_random_seed(5)
    return keras.Sequential(
        [
            keras.Input((4,), dtype="float64"),
            keras.layers.Dense(5, activation="sigmoid", dtype="float64"),
            keras.layers.Dense(3, activation="softmax", dtype="float64"),
        ]
    )


@pytest.fixture(scope="module")
def region_model() -> keras.Model:
    """Channel k of "conv" is k * relu(x - 0.5) at each pixel; the output sees only the top-left 4x4 block.

    Class 0 weighs every feature it sees by +S and class 1 by -S, so d p0 / d conv = 2 S p0 p1 on that block.
    """
    image = keras.Input((12, 12, 1))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(image)
    h = keras.layers.Cropping2D(((0, 8), (0, 8)), name="crop")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    out = keras.layers.Dense(2, activation="softmax", name="probs")(h)
    model = keras.Model(image, out)
    kernel = np.zeros((3, 3, 1, 4), "float32")
    kernel[1, 1, 0] = [1, 2, 3, 4]
    model.get_layer("conv").set_weights([kernel, -0.5 * np.array([1, 2, 3, 4], "float32")])
    dense = np.stack([np.full(64, S), np.full(64, -S)], axis=1).astype("float32")
    model.get_layer("probs").set_weights([dense, np.zeros(2, "float32")])
    return model


S = 0.01


def _rows(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    return values[np.arange(len(values)), index]


# ------------------------------------------------------------------------------------- integrated gradients
def _completeness_error(model, x, attributions, baseline):
    f, f0 = np.asarray(model(x), np.float64), np.asarray(model(np.broadcast_to(baseline, x.shape)), np.float64)
    target = f.argmax(axis=1)
    change = _rows(f, target) - _rows(f0, target)
    total = attributions.reshape(len(x), -1).sum(axis=1, dtype=np.float64)
    return np.abs(total - change) / np.abs(change)


def test_integrated_gradients_are_complete_on_the_demo_cnn(cnn):
    model, x, probe = cnn
    attributions = integrated_gradients(model, x, steps=64, probe=probe)
    assert attributions.shape == x.shape and attributions.dtype == np.float32
    error = _completeness_error(model, x, attributions, np.zeros(x.shape[1:], "float32"))
    assert error.max() < 0.01, error  # measured: at most 0.0037


def test_integrated_gradients_are_complete_on_a_nested_model(wrapped_cnn, cnn):
    model, x = wrapped_cnn, cnn[1]
    attributions = integrated_gradients(model, x, steps=64)
    error = _completeness_error(model, x, attributions, np.zeros(x.shape[1:], "float32"))
    assert error.max() < 0.01, error  # measured: at most 0.0037, as for the flat model
    np.testing.assert_allclose(attributions, integrated_gradients(cnn[0], x, probe=cnn[2]), atol=1e-6)


def test_integrated_gradients_converge_where_relus_kink_on_the_path(nested_model):
    # The random nested model changes its output little (0.006 to 0.02) and its ReLUs switch along the path,
    # where the gradient jumps. Measured over 8 seeds of x: 16 steps leave 5-34% of that change, 1024 steps
    # 0.1-0.8% (so a bound at 1024 held or failed by the draw, and the session's generator made the draw depend
    # on which tests ran first), 4096 steps at most 0.13%. Its own generator: the same x whatever runs before.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 6, 6, 2)).astype("float32")
    baseline = rng.normal(size=(6, 6, 2)).astype("float32") * 0.1  # one sample, broadcast over the batch
    probe = Probe(nested_model)
    errors = [
        _completeness_error(
            nested_model, x, integrated_gradients(nested_model, x, baseline, steps=steps, probe=probe), baseline
        ).max()
        for steps in (16, 4096)
    ]
    assert errors[1] < 0.005 and errors[1] < errors[0] / 10, errors


def test_linear_model_has_exact_smoothgrad_and_integrated_gradients(rng):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="linear")])
    w = np.array([[1.0, -2.0], [0.5, 3.0], [-1.5, 0.25]], "float32")
    model.get_layer("linear").set_weights([w, np.array([0.1, -0.3], "float32")])
    x = rng.normal(size=(4, 3)).astype("float32")
    probe = Probe(model)
    np.testing.assert_allclose(saliency(model, x, "smoothgrad", target=1, probe=probe), np.tile(w[:, 1], (4, 1)))
    baseline = np.array([0.2, -0.1, 0.4], "float32")
    ig = integrated_gradients(model, x, baseline=baseline, target=0, steps=3, probe=probe)
    np.testing.assert_allclose(ig, (x - baseline) * w[:, 0], rtol=1e-6, atol=1e-7)


@pytest.mark.tensorflow_only  # counts tf.function traces; JAX compiles once per batch size
def test_all_steps_and_targets_share_one_traced_function(digits):
    probe = Probe(digits.model)
    x = digits.x_test[:6]
    assert len(set(np.asarray(digits.model(x)).argmax(axis=1))) > 2  # several targets, so several groups
    integrated_gradients(digits.model, x, probe=probe)
    assert probe.traces == 2  # the forward pass and the input gradient (every target at once), each traced once
    saliency(digits.model, digits.x_test[:3], "smoothgrad", probe=probe)
    saliency(digits.model, x[:5], "gradient", probe=probe)
    assert probe.traces == 2
    saliency(digits.model, x, "gradcam++", probe=probe)
    assert probe.traces == 3  # Grad-CAM reads a layer's gradient: the full target pass, traced once


# ------------------------------------------------------------------------------------------------ gradient
def test_gradient_equals_central_finite_differences_in_float64(float64_mlp, rng):
    model = float64_mlp
    x = rng.normal(size=(5, 4))
    target = np.array([0, 2, 1, 2, 0])
    grads = saliency(model, x, "gradient", target=target)
    eps = 1e-6
    fd = np.empty_like(x)
    for j in range(x.shape[1]):
        step = np.zeros_like(x)
        step[:, j] = eps
        up, down = np.asarray(model(x + step)), np.asarray(model(x - step))
        fd[:, j] = (_rows(up, target) - _rows(down, target)) / (2 * eps)
    np.testing.assert_allclose(grads, fd, rtol=1e-4, atol=1e-4 * np.abs(fd).max())


def test_default_target_is_the_predicted_class_and_an_explicit_one_differs(cnn):
    model, x, probe = cnn
    predicted = np.asarray(model(x)).argmax(axis=1)
    for method in ("gradient", "integrated_gradients", "gradcam"):
        default = saliency(model, x, method, probe=probe)
        np.testing.assert_array_equal(default, saliency(model, x, method, target=predicted, probe=probe))
    other = (predicted + 1) % 10
    explicit = saliency(model, x, "gradient", target=other, probe=probe)
    assert not np.allclose(explicit, saliency(model, x, "gradient", probe=probe), atol=1e-3)
    # One target for all samples: sample i's map is the one computed for it alone.
    one = saliency(model, x, "gradient", target=3, probe=probe)
    np.testing.assert_allclose(one[2:3], saliency(model, x[2:3], "gradient", target=3, probe=probe), atol=1e-6)


def test_smoothgrad_is_reproducible_and_is_the_gradient_without_noise(cnn):
    model, x, probe = cnn
    first, second = (saliency(model, x, "smoothgrad", samples=10, probe=probe) for _ in range(2))
    np.testing.assert_array_equal(first, second)
    gradient = saliency(model, x, "gradient", probe=probe)
    np.testing.assert_array_equal(saliency(model, x, "smoothgrad", noise=0.0, probe=probe), gradient)
    assert not np.allclose(first, gradient, atol=1e-4)
    assert not first.flags.writeable


# ------------------------------------------------------------------------------------------------ Grad-CAM
@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_gradcam_has_the_closed_form_on_the_region_model(region_model, rng, method):
    model = region_model
    # A random positive background below the detectors' threshold and a brighter object in the seen block.
    x = rng.uniform(0.0, 0.45, size=(5, 12, 12, 1)).astype("float32")
    x[:, :4, :4] = rng.uniform(0.55, 1.0, size=(5, 4, 4, 1))
    cam = saliency(model, x, method, target=0, layer="conv")
    assert cam.shape == (5, 12, 12) and cam.dtype == np.float32
    assert (cam[:, :4, :4].sum(axis=(1, 2)) >= 0.95 * cam.sum(axis=(1, 2))).all()
    assert (cam[:, 4:, :] == 0).all() and (cam[:, :, 4:] == 0).all()
    p = np.asarray(model(x), np.float64)
    g = 2 * S * p[:, 0] * p[:, 1]  # d p0 / d A on the block, the same for every channel
    # Grad-CAM: w = mean of g over the 12 x 12 grid; Grad-CAM++: alphas are uniform over the block, so w = g.
    weight = g * 16 / 144 if method == "gradcam" else g
    expected = weight[:, None, None] * 10 * np.maximum(x[..., 0] - 0.5, 0)  # sum_k k relu(x - 0.5), k = 1..4
    np.testing.assert_allclose(cam, expected, rtol=1e-4, atol=1e-9)
    # Class 1 falls with every activation: all its weights are negative, so the ReLU'd map is zero.
    assert (saliency(model, x, method, target=1, layer="conv") == 0).all()


def _reference_cam(acts: Any, grads: Any, probs: Any, target: np.ndarray, method: str) -> np.ndarray:
    """Grad-CAM(++) transcribed from tf-keras-vis (with its exp(score) factor, divided out at the end), from a
    layer's activations, the gradients of the score there, and the probabilities whose ``target`` is the score."""
    acts, grads = np.asarray(acts, np.float64), np.asarray(grads, np.float64)
    score = _rows(np.asarray(probs), target)
    if method == "gradcam":
        return np.maximum(np.einsum("nhwc,nc->nhw", acts, grads.mean(axis=(1, 2))), 0)
    e = np.exp(score)[:, None, None, None]
    first = e * grads
    second, third = first * grads, first * grads * grads
    denom = 2 * second + third * acts.sum(axis=(1, 2), keepdims=True)
    alphas = second / (denom + (second == 0))
    norm = alphas.sum(axis=(1, 2), keepdims=True)
    alphas /= norm + (norm == 0)
    weights = (np.maximum(first, 0) * alphas).sum(axis=(1, 2))
    return np.maximum(np.einsum("nhwc,nc->nhw", acts, weights), 0) / e[:, :, :, 0]


def _cam_atol(acts: Any, grads: Any) -> float:
    """What float32 rounding allows in a CAM: the map sums c terms A * w, which may cancel, so the error scales
    with the sum of their magnitudes (bounded by |A| times the largest |gradient| per channel), not with the map.
    An absolute tolerance of 1e-6 x the map's maximum was below that and failed a clean-clone run."""
    acts, grads = np.abs(np.asarray(acts, np.float64)), np.abs(np.asarray(grads, np.float64))
    return 1e-5 * float(np.einsum("nhwc,nc->nhw", acts, grads.max(axis=(1, 2))).max())


@pytest.mark.tensorflow_only  # checks against TensorFlow's GradientTape
@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_gradcam_matches_a_reference_on_the_demo_cnn(cnn, method):
    model, x, probe = cnn
    conv = keras.Model(model.inputs[0], [model.get_layer("conv2").output, model.output])
    target = np.asarray(model(x)).argmax(axis=1)
    with tf.GradientTape() as tape:
        acts, probs = conv(x)
        score = tf.reduce_sum(tf.gather(probs, target, axis=1, batch_dims=1))
    grads = tape.gradient(score, acts)
    expected = _reference_cam(acts, grads, probs, target, method)
    cam = saliency(model, x, method, layer="conv2", probe=probe)
    assert cam.shape == (8, 8, 8)
    np.testing.assert_allclose(cam, expected, rtol=1e-4, atol=_cam_atol(acts, grads))


def test_default_gradcam_layer_is_the_last_convolution(cnn, nested_model):
    model, x, probe = cnn
    # conv1, conv2 and pool have (n, h, w, c) outputs; pool comes last, but conv2 is the last convolution, at
    # twice pool's resolution (tf-keras-vis and the Grad-CAM paper take the last convolution).
    assert cam_layers(probe, x) == (["conv1", "conv2", "pool"], "conv2")
    np.testing.assert_array_equal(
        saliency(model, x, "gradcam", probe=probe), saliency(model, x, "gradcam", layer="conv2", probe=probe)
    )
    assert saliency(model, x, "gradcam", probe=probe).shape == (8, 8, 8)
    # Inside a nested backbone, its convolution; BatchNorm after it is usable but not the default.
    nested = Probe(nested_model)
    assert cam_layers(nested, np.zeros((1, 6, 6, 2), np.float32)) == (
        ["backbone/conv1", "backbone/bn"],
        "backbone/conv1",
    )


@pytest.mark.tensorflow_only  # checks against TensorFlow's GradientTape
@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_gradcam_on_a_layer_inside_a_nested_model(nested_model, rng, method):
    model, backbone = nested_model, nested_model.get_layer("backbone")
    x = rng.normal(size=(5, 6, 6, 2)).astype("float32")
    cam = saliency(model, x, method, layer="backbone/conv1")
    assert cam.shape == (5, 4, 4) and cam.dtype == np.float32 and (cam >= 0).all()
    # Reference: the same forward pass layer by layer, differentiated at conv1's output.
    target = np.asarray(model(x)).argmax(axis=1)
    with tf.GradientTape() as tape:
        acts = backbone.get_layer("conv1")(x)
        tape.watch(acts)
        h = backbone.get_layer("gap")(backbone.get_layer("bn")(acts, training=False))
        probs = model.get_layer("probs")(model.get_layer("head")(h))
        score = tf.reduce_sum(tf.gather(probs, target, axis=1, batch_dims=1))
    grads = tape.gradient(score, acts)
    expected = _reference_cam(acts, grads, probs, target, method)
    np.testing.assert_allclose(cam, expected, rtol=1e-4, atol=_cam_atol(acts, grads))
    assert saliency(model, x, method).shape == (5, 4, 4)  # default: backbone/conv1, the last convolution


def test_gradcam_inside_a_wrapped_model_equals_the_flat_one(wrapped_cnn, cnn):
    model, x, probe = cnn
    for method in ("gradcam", "gradcam++"):
        nested = saliency(wrapped_cnn, x, method, layer="digits_cnn/conv2")
        np.testing.assert_allclose(nested, saliency(model, x, method, layer="conv2", probe=probe), rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------------------------------------ bad input
BAD = [
    (dict(method="saliency"), ValueError, r"^method: expected one of"),
    (dict(method="gradcam", layer="dense"), ValueError, r"^layer: expected a layer with a 4-D output .* 'dense'"),
    (dict(method="gradcam", layer="nope"), ValueError, r"^layer: expected a layer name from .* got 'nope'"),
    (dict(target=10), ValueError, r"^target: expected units in \[0, 10\)"),
    (dict(target=-1), ValueError, r"^target: expected units in \[0, 10\)"),
    (dict(target=[1, 2]), ValueError, r"^target: expected one unit per sample \(3\), got 2"),
    (dict(target=1.5), TypeError, r"^target: expected an int"),
    (dict(x=np.zeros((3, 8, 7))), ValueError, r"^x: expected shape \(None, 8, 8, 1\).* got shape \(3, 8, 7\)"),
    (dict(x="image"), TypeError, r"^x: expected a numeric array"),
    (dict(method="integrated_gradients", baseline=np.zeros((3, 3))), ValueError, r"^baseline: expected an array"),
    (dict(method="smoothgrad", samples=0), ValueError, r"^samples: expected a positive int, got 0"),
    (dict(method="integrated_gradients", steps="64"), TypeError, r"^steps: expected a positive int"),
    (dict(method="smoothgrad", noise=-0.1), ValueError, r"^noise: expected a finite float >= 0"),
    (dict(probe="probe"), TypeError, r"^probe: expected a nbviz Probe"),
    (dict(model="model"), TypeError, r"^model: expected a keras.Model"),
]


def test_a_trailing_axis_of_one_is_adjusted_as_keras_does(cnn):
    # Keras's own call takes (n, 8, 8) and (n, 8, 8, 1, 1) for an (n, 8, 8, 1) input, so nbviz does too.
    model, x, probe = cnn
    np.testing.assert_array_equal(saliency(model, x[..., 0], probe=probe), saliency(model, x, probe=probe))
    np.testing.assert_array_equal(saliency(model, x[..., None], probe=probe), saliency(model, x, probe=probe))


@pytest.mark.parametrize("kwargs, error, match", BAD, ids=[f"{i}-{'-'.join(c[0])}" for i, c in enumerate(BAD)])
def test_bad_input_names_the_argument(cnn, kwargs, error, match):
    model, x, probe = cnn
    args = dict(model=model, x=x[:3], probe=probe) | kwargs
    with pytest.raises(error, match=match):
        saliency(**args)


def test_bad_models_and_probes(cnn, float64_mlp, two_input_model):
    model, x, probe = cnn
    with pytest.raises(ValueError, match=r"^probe: expected a Probe of model '.*', got one of 'digits_cnn'"):
        saliency(float64_mlp, np.zeros((2, 4)), probe=probe)
    with pytest.raises(ValueError, match=r"^layer: gradcam needs a layer with a 4-D output"):
        saliency(float64_mlp, np.zeros((2, 4)), "gradcam")
    with pytest.raises(ValueError, match=r"^model: expected a model with one input for saliency, got 2"):
        saliency(two_input_model, [np.zeros((2, 4)), np.zeros((2, 4))])
    assert METHODS == ("gradient", "smoothgrad", "integrated_gradients", "gradcam", "gradcam++")


def test_gradcam_runs_one_lean_pass_traced_once_for_any_mix_of_classes(cnn):
    model, x, probe = cnn
    layer = cam_layers(probe, x)[1]
    targets = np.arange(len(x)) % 10  # every class in one batch
    before = probe.traces
    cams = saliency(model, x, "gradcam", target=targets, layer=layer, probe=probe)
    assert probe.traces - before <= 2  # the layer's pass, and the check that gradients reach the input
    traced = probe.traces
    saliency(model, x[::-1], "gradcam++", target=targets[::-1] + 1, layer=layer, probe=probe)
    assert probe.traces == traced  # another mix of classes, the other variant: the same pass
    for i in (0, 3, 7):  # each row's map is its own, with its own class, as computed alone
        alone = saliency(model, x[i : i + 1], "gradcam", target=int(targets[i]), layer=layer, probe=probe)
        np.testing.assert_allclose(cams[i : i + 1], alone, rtol=1e-5, atol=1e-7 * max(float(alone.max()), 1e-3))
