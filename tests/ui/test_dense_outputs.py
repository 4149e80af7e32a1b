"""Dense outputs: a class per pixel (a U-Net, a KerasHub SegFormer) and predicted frames (a ConvLSTM).

SHAP values of every output position at once are (samples, *input_shape, positions x classes): a 32x32x3 input
and a 32x32x3 output make 9.4 million values per sample, and the SHAP tab grew the process past 8 GB. Each
class's score averaged over the positions is what the tab explains, and it says so. Every tab on every layer
shows no error, and what each step allocates stays within a bound set by the model and its data.
"""

from __future__ import annotations

import tracemalloc
import warnings

import keras
import numpy as np
import pytest

import nbviz
from nbviz.compute import ShapExplainer
from nbviz.compute.methods.attribution import MASKED_VALUES, masked_rows
from nbviz.testing import footprint, panel_errors, recording

MB = 2**20
N = 8  # explored samples


def _unet() -> tuple[keras.Model, np.ndarray, np.ndarray]:
    """The Keras segmentation example's U-Net (Xception-style blocks down, transposed convolutions up), tiny."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="down")(inputs)
    x = keras.layers.BatchNormalization(name="norm")(x)
    skip = x
    x = keras.layers.SeparableConv2D(16, 3, padding="same", activation="relu", name="separable")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="pool")(x)
    x = keras.layers.add([x, keras.layers.Conv2D(16, 1, strides=2, padding="same", name="residual")(skip)])
    x = keras.layers.Conv2DTranspose(16, 3, padding="same", activation="relu", name="transpose1")(x)
    x = keras.layers.UpSampling2D(2, name="up1")(x)
    x = keras.layers.Conv2DTranspose(8, 3, padding="same", activation="relu", name="transpose2")(x)
    x = keras.layers.UpSampling2D(2, name="up2")(x)
    outputs = keras.layers.Conv2D(3, 1, activation="softmax", name="mask")(x)
    model = keras.Model(inputs, outputs, name="tiny_unet")
    model.compile("adam", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    return model, rng.random((N, 32, 32, 3), dtype=np.float32), rng.integers(0, 3, (N, 32, 32, 1))


def _convlstm() -> tuple[keras.Model, np.ndarray, np.ndarray]:
    """Next-frame prediction as in the Keras ConvLSTM example: (frames, h, w, 1) in, the frames after out."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4, 16, 16, 1), name="frames")
    x = keras.layers.ConvLSTM2D(4, 3, padding="same", return_sequences=True, name="lstm1")(inputs)
    x = keras.layers.BatchNormalization(name="norm")(x)
    x = keras.layers.ConvLSTM2D(4, 3, padding="same", return_sequences=True, name="lstm2")(x)
    outputs = keras.layers.Conv3D(1, 3, padding="same", activation="sigmoid", name="next_frame")(x)
    model = keras.Model(inputs, outputs, name="next_frame")
    model.compile("adam", "binary_crossentropy")
    frames = (np.random.default_rng(1).random((N, 4, 16, 16, 1)) > 0.7).astype(np.float32)
    return model, frames, np.roll(frames, -1, axis=1)


def _segformer() -> tuple[keras.Model, np.ndarray, np.ndarray]:
    """KerasHub's SegFormer on a two-stage MiT backbone of 8 and 16 channels (random weights)."""
    keras_hub = pytest.importorskip("keras_hub")
    keras.utils.set_random_seed(0)
    encoder = keras_hub.models.MiTBackbone(
        layerwise_depths=[1, 1],
        num_layers=2,
        layerwise_num_heads=[1, 1],
        layerwise_sr_ratios=[2, 1],
        max_drop_path_rate=0.0,
        layerwise_patch_sizes=[7, 3],
        layerwise_strides=[4, 2],
        hidden_dims=[8, 16],
        image_shape=(32, 32, 3),
    )
    backbone = keras_hub.models.SegFormerBackbone(image_encoder=encoder, projection_filters=16)
    model = keras_hub.models.SegFormerImageSegmenter(backbone=backbone, num_classes=3)
    model.compile("adam", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(2)
    return model, rng.random((N, 32, 32, 3), dtype=np.float32), rng.integers(0, 3, (N, 32, 32, 1))


MODELS = {"unet": _unet, "convlstm": _convlstm, "segformer": _segformer}


def _bound(model: keras.Model, x: np.ndarray) -> int:
    """What a step may allocate: 128 MB and 12 times what the model costs to read (its weights, the explored
    inputs and one output per sample). A step's peak spans every layer's view on its tab, memo included (the
    projector's on SegFormer's 40-odd layers is about 90 MB). The old SHAP tab held (samples, input values,
    output values) float64: 8 x 3,072 x 3,072 x 8 bytes = 600 MB for the U-Net, before shap's copies."""
    out = int(np.prod(model(x[:1]).shape[1:]))
    return 128 * MB + 12 * 4 * (model.count_params() + x.size + N * out)


@pytest.mark.parametrize("name", list(MODELS))
def test_every_tab_and_layer_on_a_dense_output(name):
    model, x, y = MODELS[name]()
    bound = _bound(model, x)
    with recording():
        costs, problems = footprint(lambda: nbviz.explore(model, x, y))
        assert not problems
        for step, (_, peak) in costs.items():
            assert peak <= bound, (step, peak / MB, bound / MB)
        # The SHAP tab's local view (in footprint's walk) and its global view say which scalar they explain.
        ex = nbviz.explore(model, x, y)
        ex.tab = "shap"
        panel = ex.panels["shap"]
        assert panel.wait(120) and panel.error is None
        positions = int(np.prod(model(x[:1]).shape[1:-1]))
        assert f"averaged over the {positions:,} output positions" in panel.info.value
        assert panel.values.shape == x.shape[1:]
        tracemalloc.start()
        try:
            panel.start_global(wait=True)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak <= bound, ("shap global", peak / MB, bound / MB)
        assert f"averaged over the {positions:,} output positions" in panel.global_status.value
        assert panel.global_values.shape == (x[0].size,)
        # Saliency's default target is the class with the top summed score: the class SHAP explains, named so.
        saliency = ex.analysis.saliency_map(0, "gradient", None, None)
        assert saliency.class_index == ex.analysis.shap_class(0, None)
        assert f"summed over the {positions:,} output positions" in saliency.note
        ex.close()


def _mean_score(model: keras.Model) -> keras.Model:
    """The reference's model: each class's score averaged over the pixels, as Keras's own global pooling reads
    it (a layer last: shap.GradientExplainer explains the output of the model's last layer)."""
    inputs = keras.Input(model.input_shape[1:])
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(model(inputs)))


@pytest.mark.tensorflow_only  # shap's GradientExplainer reads TensorFlow graphs
def test_gradient_values_equal_shaps_on_the_mean_class_score():
    import shap

    model, x, _ = _unet()
    explainer = ShapExplainer(model, x, "auto")
    assert (explainer.name, explainer.fallback) == ("gradient", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = shap.GradientExplainer(_mean_score(model), x)
        # One sample per call: shap's draws go on over the rows of a call; nbviz gives each sample a call's own.
        reference = np.concatenate([np.asarray(reference.shap_values(x[i : i + 1], rseed=0)) for i in (2, 3)])
    for cls in range(3):
        ours = explainer.attribution(x[2:4], cls)
        scale = np.abs(reference[..., cls]).max()
        np.testing.assert_allclose(ours.values, reference[..., cls], rtol=1e-4, atol=1e-5 * scale)
        mean = np.asarray(model(x[2:4])).mean(axis=(1, 2))[:, cls]
        np.testing.assert_allclose(ours.outputs, mean, rtol=1e-5)
        np.testing.assert_allclose(ours.base_values, np.asarray(model(x)).mean(axis=(0, 1, 2))[cls], rtol=1e-5)


def test_exact_values_add_up_to_the_mean_score_less_its_expectation():
    """Completeness of the exact explainer on a 9-feature image with a class per pixel: the values sum to
    f(x) - E[f(background)], f the class's score averaged over the pixels, read from the model here."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((3, 3, 1))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="tanh")(inputs)
    model = keras.Model(inputs, keras.layers.Conv2D(3, 1, activation="softmax")(h))
    rng = np.random.default_rng(3)
    x, background = rng.normal(size=(2, 3, 3, 1)).astype(np.float32), rng.normal(size=(2, 3, 3, 1)).astype("f4")
    explainer = ShapExplainer(model, background, "exact")
    explanation = explainer.explain(x)
    f = np.asarray(model(x)).mean(axis=(1, 2))
    expected = np.asarray(model(background)).mean(axis=(1, 2)).mean(axis=0)
    for cls in range(3):
        ours = explanation.for_class(cls)
        assert ours.values.shape == x.shape
        np.testing.assert_allclose(ours.values.reshape(2, -1).sum(axis=1), f[:, cls] - expected[cls], atol=1e-5)
        np.testing.assert_allclose(ours.outputs, f[:, cls], rtol=1e-5)
    assert "class 1's score averaged over the 9 output positions (3 x 3)" in explainer.describe("class 1")


def test_permutation_and_kernel_take_the_background_rows_that_fit():
    """shap's permutation and kernel explainers mask every background row at once: on a 32x32x3 image one row
    of masks is 19 million values, so they take one row (never 8 rows, 1.2 GB); larger inputs are refused."""
    features = 32 * 32 * 3
    assert masked_rows("permutation", 2 * features + 1, features, 8) == 1
    assert masked_rows("kernel", 2 * features + 2048, features, 8) == 1
    assert masked_rows("permutation", 2 * 64 + 1, 64, 100) == 100  # the digits demo keeps its 100 rows
    assert masked_rows("permutation", 2 * 1024 + 1, 1024, 100) == MASKED_VALUES // (2049 * 1024)
    with pytest.raises(ValueError, match=f"explainer: 'kernel' evaluates 26,624 masked copies .* {MASKED_VALUES:,}"):
        masked_rows("kernel", 2 * 4 * features + 2048, 4 * features, 8)


@pytest.mark.tensorflow_only  # shap's DeepExplainer reads TensorFlow graphs
def test_deep_values_add_up_to_the_mean_score_less_its_expectation():
    """DeepLIFT's summation to delta, through the mean over positions that DeepExplainer is given: every
    class's values sum to f(x) - E[f(background)], f its score averaged over the pixels, read from the model."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((6, 6, 2))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Conv2D(3, 1, activation="softmax")(h))
    rng = np.random.default_rng(3)
    x, background = rng.normal(size=(2, 6, 6, 2)).astype(np.float32), rng.normal(size=(5, 6, 6, 2)).astype("f4")
    explanation = ShapExplainer(model, background, "deep").explain(x)
    assert explanation.values.shape == (2, 6, 6, 2, 3)  # (samples, *input_shape, classes): no axis of pixels
    f = np.asarray(model(x)).mean(axis=(1, 2))
    expected = np.asarray(model(background)).mean(axis=(1, 2)).mean(axis=0)
    np.testing.assert_allclose(explanation.values.reshape(2, -1, 3).sum(axis=1), f - expected, atol=1e-5)
    np.testing.assert_allclose(explanation.base_values, np.broadcast_to(expected, (2, 3)), atol=1e-6)


def test_a_segmenter_is_scored_per_pixel():
    """A class per pixel (the U-Net's softmax over 3 classes, masks of (n, h, w, 1) as the example's): pixel
    accuracy, per-class recall and precision and a confusion over pixels, against numpy on model.predict; the
    sample view still draws the output as a map."""
    model, images, masks = _unet()
    ex = nbviz.explore(model, images, masks)
    assert ex.analysis.data.is_classifier
    report = ex.analysis.reports()["data"]
    predicted = model.predict(images, verbose=0).argmax(axis=-1).ravel()
    true = masks.ravel()
    assert report.task == "classification" and report.n == N * 32 * 32
    np.testing.assert_allclose(report.metrics["accuracy"], np.mean(predicted == true), rtol=1e-6)
    confusion = np.zeros((3, 3), np.int64)
    np.add.at(confusion, (true, predicted), 1)
    np.testing.assert_array_equal(report.confusion, confusion)
    recall = np.diag(confusion) / confusion.sum(axis=1)
    np.testing.assert_allclose(report.recall, recall, rtol=1e-6)
    # Every pixel row names its sample: a confusion cell's samples are the images holding such pixels.
    np.testing.assert_array_equal(np.bincount(report.sample_of, minlength=N), [32 * 32] * N)
    # The sample view draws the predicted classes and the pixels they get wrong, and says the share right.
    shown = ex.analysis.sample_display(2)
    classes = model.predict(images[2:3], verbose=0)[0].argmax(axis=-1)
    wrong = classes != masks[2, ..., 0]
    np.testing.assert_allclose(shown.error.values, wrong.astype(np.float32), atol=1e-6)
    np.testing.assert_array_equal(shown.output.values, classes.astype(np.float32))
    assert f"{1 - wrong.mean():.1%} of pixels predicted right" in shown.prediction.label
    assert panel_errors(ex, ["diagnostics", "gradients", "findings"]) == []
    nbviz.findings(model, images, masks)


def test_pixel_values_that_are_not_classes_stay_a_regression():
    model, images, _ = _unet()
    soft = np.random.default_rng(3).random((N, 32, 32, 3)).astype("f4")
    soft /= soft.sum(axis=-1, keepdims=True)  # soft targets per pixel: compared as values
    ex = nbviz.explore(model, images, soft)
    assert not ex.analysis.data.is_classifier and ex.analysis.reports()["data"].task == "regression"
