"""Batched path gradients against their references: shap's GradientExplainer, and one probe call per point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings

import keras
import numpy as np
import pytest

from nbviz.compute import Probe, ShapExplainer, analyse, default_background, saliency
from nbviz.compute.methods.path_gradients import ExpectedGradients, last, shap_draws


def _shap_reference(model, background, x, cls):
    import shap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = shap.GradientExplainer(model, background).shap_values(x, rseed=0)
    return np.asarray(values)[0, ..., cls]


@pytest.mark.tensorflow_only  # shap's GradientExplainer and DeepExplainer read TensorFlow graphs
@pytest.mark.parametrize("demo", ["digits", "cancer"])
def test_expected_gradients_equal_shaps_gradient_explainer(demo, request):
    data = request.getfixturevalue(demo)
    background = default_background(data.x_train)
    explainer = ShapExplainer(data.model, background, "gradient")
    for sample in (0, 7):
        x = data.x_test[sample : sample + 1]
        top = int(np.argmax(data.model(x)))
        for cls in (top, (top + 1) % data.model.output_shape[-1]):
            ours = explainer.attribution(x, cls)
            reference = _shap_reference(data.model, background, x, cls)
            scale = np.abs(reference).max()
            np.testing.assert_allclose(ours.values[0], reference, rtol=1e-4, atol=1e-5 * scale)
            assert ours.class_index[0] == cls and ours.explainer == "gradient"


def test_shap_draws_are_shaps_stream():
    np.random.seed(5)  # noqa: NPY002 - what shap does per class, on the global generator
    expected = [(np.random.choice(17), np.random.uniform()) for _ in range(30)]  # noqa: NPY002
    index, blend = shap_draws(5, 17, 30)
    assert [(int(i), float(t)) for i, t in zip(index, blend)] == [(int(i), t) for i, t in expected]


def test_first_estimate_correlates_with_the_refined_one_on_the_demo_cnn(digits):
    explainer = ShapExplainer(digits.model, default_background(digits.x_train), "gradient")
    explainer.attribution(digits.x_test[:1])  # the pass is measured once warm: the first estimate is sized by it
    correlations = []
    for sample in range(10):
        x = digits.x_test[sample : sample + 1]
        estimates = list(explainer.estimates(x))
        first, full = estimates[0], estimates[-1]
        assert not first.final and full.final and full.done == 200
        assert [e.done for e in estimates] == sorted({e.done for e in estimates})  # every pass adds draws
        correlations.append(np.corrcoef(first.attribution.values.ravel(), full.attribution.values.ravel())[0, 1])
    assert min(correlations) > 0.9, correlations


def test_an_estimate_resumes_to_the_uninterrupted_result(digits):
    explainer = ShapExplainer(digits.model, default_background(digits.x_train), "gradient")
    x = digits.x_test[3:4]
    whole = explainer.attribution(x, 2).values
    first = next(explainer.estimates(x, 2, first=5))
    assert first.done == 5 and first.sums is not None
    resumed = last(explainer.estimates(x, 2, start=first.sums))
    assert resumed.final and resumed.sums is None
    np.testing.assert_allclose(resumed.attribution.values, whole, rtol=1e-5, atol=1e-8)


def test_cancel_leaves_the_cache_consistent(digits):
    analysis = analyse(digits.model, digits.x_test[:20], digits.y_test[:20])
    seen = []
    stopped = analysis.refine_shap(4, "gradient", None, cancelled=lambda: True, on_estimate=seen.append)
    assert stopped is None and len(seen) == 1 and not seen[0].final
    cls = analysis.shap_class(4, None)
    final, partial = ((analysis.version, kind, "gradient", 4, cls) for kind in ("shap", "shap partial"))
    assert final not in analysis.memo and analysis.memo.peek(partial) is seen[0]
    assert analysis.shap_estimate(4, "gradient", None) is seen[0]
    done = analysis.refine_shap(4, "gradient", None)
    assert done is not None and done.final
    assert analysis.memo.peek(final) is done and partial not in analysis.memo
    fresh = ShapExplainer(digits.model, analysis.background, "gradient").attribution(digits.x_test[4:5])
    np.testing.assert_allclose(done.attribution.values, fresh.values, rtol=1e-5, atol=1e-8)
    assert analysis.refine_shap(4, "gradient", None) is done  # never recomputed


# ------------------------------------------------------------------------------------------------ batched
# Float32 kernels differ in rounding by batch size: measured up to 2e-7 here, where a saturated softmax leaves
# gradients near 1e-4 (so a tolerance relative to each value would not hold).
ATOL = 1e-6


def _one_by_one(probe, points, unit):
    """The unbatched reference: one probe call (the full gradients pass) per point."""
    return np.stack([probe.gradients(p[None], target=int(unit), layers=[]).inputs[0] for p in points])


def test_batched_expected_gradients_equal_one_pass_per_draw(digits):
    probe = Probe(digits.model)
    background = default_background(digits.x_train)
    eg = ExpectedGradients(probe, background, samples=40)
    x = digits.x_test[5:6]
    points, delta = eg.draw(x)(0, 40)
    expected = (_one_by_one(probe, points[:, 0], 6).astype(np.float64) * delta[:, 0]).mean(axis=0)
    np.testing.assert_allclose(last(eg.sums(x, np.array([6]))).mean()[0], expected, rtol=1e-4, atol=ATOL)


def test_batched_smoothgrad_and_integrated_gradients_equal_one_pass_per_point(digits):
    probe = Probe(digits.model)
    x = digits.x_test[:3].astype(np.float64)
    targets = np.argmax(digits.model(digits.x_test[:3]), axis=1)
    sigma = 0.15 * (x.reshape(3, -1).max(axis=1) - x.reshape(3, -1).min(axis=1)).reshape(3, 1, 1, 1)
    noisy = x + np.random.default_rng(0).standard_normal((8, *x.shape)) * sigma
    alphas = (np.arange(16) + 0.5) / 16
    for i, unit in enumerate(targets):
        smooth = _one_by_one(probe, noisy[:, i].astype(np.float32), unit).mean(axis=0, dtype=np.float64)
        got = saliency(digits.model, digits.x_test[:3], "smoothgrad", probe=probe, samples=8)[i]
        np.testing.assert_allclose(got, smooth, rtol=1e-4, atol=ATOL)
        path = (alphas[:, None, None, None] * x[i]).astype(np.float32)
        integrated = x[i] * _one_by_one(probe, path, unit).mean(axis=0, dtype=np.float64)
        got = saliency(digits.model, digits.x_test[:3], "integrated_gradients", probe=probe, steps=16)[i]
        np.testing.assert_allclose(got, integrated, rtol=1e-4, atol=ATOL)


def test_input_gradients_take_a_unit_per_row(digits):
    probe = Probe(digits.model)
    x, units = digits.x_test[:6], np.array([0, 3, 3, 9, 1, 0])
    grads, values = probe.input_gradients(x, units)
    for row, unit in enumerate(units):
        np.testing.assert_allclose(grads[row], _one_by_one(probe, x[row : row + 1], unit)[0], rtol=1e-4, atol=ATOL)
    np.testing.assert_allclose(values, np.asarray(digits.model(x))[np.arange(6), units], rtol=1e-5)
    with pytest.raises(ValueError, match=r"units: expected units in \[0, 10\) of output 0, got 10"):
        probe.input_gradients(x, 10)


# ------------------------------------------------------------------------------------------------ traces
def _walk_sizes(probe, x, classes):
    for n in (1, 3, 7, 64, 100):
        probe.input_gradients(x[: min(n, len(x))], np.arange(min(n, len(x))) % classes)
        probe.predict(x[: min(n, len(x))])


@pytest.mark.tensorflow_only  # counts tf.function traces; JAX compiles once per batch size
def test_traces_stay_constant_across_samples_classes_and_batch_sizes(digits):
    probe = Probe(digits.model)
    explainer = ShapExplainer(digits.model, default_background(digits.x_train), "gradient", probe=probe)
    explainer.attribution(digits.x_test[:1])
    traced = probe.traces
    assert traced == 2  # the forward pass and the input gradient
    for sample in range(1, 6):
        explainer.attribution(digits.x_test[sample : sample + 1], sample)
    saliency(digits.model, digits.x_test[:5], "smoothgrad", probe=probe)
    _walk_sizes(probe, digits.x_test, 10)
    assert probe.traces == traced and probe.xla_batches == {}


@pytest.mark.tensorflow_only  # counts tf.function traces; JAX compiles once per batch size
@pytest.mark.slow
def test_traces_stay_constant_on_resnet50():
    model = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=10)
    probe = Probe(model)
    # A generator of its own: drawing from the session's would change what later tests draw.
    x = np.random.default_rng(0).uniform(0, 255, size=(100, 32, 32, 3)).astype("float32")
    probe.input_gradients(x[:1], 0)
    probe.predict(x[:8])  # compiled (a few rows run eagerly at first)
    traced = probe.traces
    _walk_sizes(probe, x, 10)
    assert probe.traces == traced == 2  # the input gradient's pass and the forward pass, each traced once


XLA_SCRIPT = textwrap.dedent(
    """
    import glob, json, os, sys
    import numpy as np, keras
    from nbviz.compute import Probe

    # ConvNeXt's block: a depthwise 7x7 written as Conv2D(groups=channels), which Keras runs through XLA on CPU.
    inputs = keras.Input((12, 12, 3))
    h = keras.layers.Conv2D(16, 2, strides=2)(inputs)
    for _ in range(2):
        block = keras.layers.Conv2D(16, 7, padding="same", groups=16)(h)
        block = keras.layers.LayerNormalization(epsilon=1e-6)(block)
        block = keras.layers.Dense(32, activation="gelu")(block)
        h = keras.layers.Add()([h, keras.layers.Dense(16)(block)])
    outputs = keras.layers.Dense(5, activation="softmax")(keras.layers.GlobalAveragePooling2D()(h))
    probe = Probe(keras.Model(inputs, outputs))
    x = np.random.default_rng(0).uniform(size=(40, 12, 12, 3)).astype("float32")

    def compiles():
        return len(glob.glob(os.path.join(sys.argv[1], "*before_optimizations.txt")))

    counts = []
    for rounds in range(2):
        for n in (1, 2, 3, 5, 6, 7, 13, 17, 31, 40):
            probe.input_gradients(x[:n], np.arange(n) % 5)
            probe.predict(x[:n])
        counts.append(compiles())
    print(json.dumps({"compiles": counts, "traces": probe.traces,
                      "batches": sorted({b for sizes in probe.xla_batches.values() for b in sizes})}))
    """
)


@pytest.mark.tensorflow_only  # counts tf.function traces; JAX compiles once per batch size
def test_xla_compiled_grouped_convolutions_compile_once_per_piece_size(tmp_path):
    dump = tmp_path / "xla"
    env = {**os.environ, "XLA_FLAGS": f"--xla_dump_to={dump}", "TF_CPP_MIN_LOG_LEVEL": "3"}
    script = tmp_path / "grouped.py"
    script.write_text(XLA_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(dump)], env=env, capture_output=True, text=True, timeout=600, check=True
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["batches"] == [1, 2, 4, 8, 16, 32]  # every size runs in power-of-two pieces (40 = 32 + 8)
    first, second = report["compiles"]
    # Each piece size compiles each grouped convolution's XLA function once per pass that holds it (forward,
    # and forward + backward); ten more calls of every size compile nothing new.
    assert 0 < first <= 2 * 2 * 2 * len(report["batches"]) and second == first
    assert report["traces"] == 2
