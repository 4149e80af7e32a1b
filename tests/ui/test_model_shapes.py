"""Models of shapes people bring beyond classifiers (issue 22): an autoencoder's image output, a model with its own
train_step or compute_loss, a custom block of layers, a dataset or raw text given to findings(). Each is walked
over every tab in test_zoo.py; here what they show is checked against Keras itself."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import nbviz
from nbviz.compute import Probe
from nbviz.compute.methods.findings import findings
from nbviz.compute.methods.saliency import cam_layers
from nbviz.testing import panel_errors
from tests.zoo import ZOO, vae_loss


def _explore(model, x, y=None, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nbviz.explore(model, x, y, **kwargs)


def _block_means(image: np.ndarray, factor: int) -> np.ndarray:
    h, w = image.shape[0] // factor, image.shape[1] // factor
    return image[: h * factor, : w * factor].reshape(h, factor, w, factor).mean(axis=(1, 3))


@pytest.fixture(scope="module")
def autoencoder():
    return ZOO["autoencoder"]()


@pytest.mark.parametrize("given", ["fit(x, x)", "no y"])
def test_an_autoencoder_shows_its_output_and_per_pixel_error(autoencoder, given):
    """The image out is no binary classifier: the sample view draws input, output and |output - input|, and the
    gradients and diagnostics judge the reconstruction (as fit(x, x) does), with or without y."""
    case = autoencoder
    ex = _explore(case.model, case.x, case.y if given == "fit(x, x)" else None)
    assert not ex.analysis.data.is_classifier and ex.analysis.probe.output_kinds == ["map"]
    assert panel_errors(ex) == []
    out = case.model.predict(case.x, verbose=0)
    shown = ex.analysis.sample_display(3)
    np.testing.assert_allclose(shown.output.values, out[3, ..., 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(shown.error.values, np.abs(out[3, ..., 0] - case.x[3, ..., 0]), rtol=1e-4, atol=1e-6)
    ex.sample = 3
    np.testing.assert_allclose(ex.sample_view.output_plot.shown, out[3, ..., 0], rtol=1e-5, atol=1e-6)
    error = float(np.mean(np.abs(out[3] - case.x[3])))
    assert f"mean |error| {error:.3g}" in ex.analysis.prediction(3).label
    # The loss differentiated is the compiled crossentropy against the input itself.
    with tf.GradientTape() as tape:
        loss = keras.losses.binary_crossentropy(case.x[3:4], case.model(case.x[3:4]))
        loss = tf.reduce_mean(loss)
    kernel = case.model.layers[1].kernel
    expected = tape.gradient(loss, kernel).numpy()
    np.testing.assert_allclose(
        ex.analysis.gradients(3).weights[case.model.layers[1].name][0], expected, rtol=1e-3, atol=1e-7
    )
    report = ex.analysis.reports()["data"]
    assert report.metrics["mse"] == pytest.approx(float(np.mean((out - case.x) ** 2)), rel=1e-4)
    if given == "no y":
        assert "against the input" in ex.analysis.loss_text


def test_a_big_autoencoder_image_is_shrunk_like_the_input():
    """A 64 x 64 reconstruction fits the sample view as its input does (block means), without an IndexError."""
    inputs = keras.Input((64, 64, 3))
    outputs = keras.layers.Conv2D(3, 3, padding="same", activation="sigmoid")(inputs)
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(0).random((3, 64, 64, 3), dtype=np.float32)
    ex = _explore(model, x, x, max_cells=1024)
    shown = ex.analysis.sample_display(1)
    assert shown.output.values.shape == shown.values.shape
    factor = 64 // shown.values.shape[0]
    out = model.predict(x[1:2], verbose=0)[0].mean(axis=-1)
    np.testing.assert_allclose(shown.output.values, _block_means(out, factor), rtol=1e-5, atol=1e-6)


def test_a_custom_train_step_says_which_loss_and_takes_one():
    """The VAE trains on its own loss: without loss= the gradients tab says that none is known (and what it shows); with
    loss= the gradients are those of that loss, checked against a tape."""
    case = ZOO["vae_call"]()
    plain = _explore(case.model, case.x, case.y)
    plain.tab = "gradients"
    info = plain.panels["gradients"].info.value  # no guessed loss: which loss is unknown, and what is shown
    assert "no loss is known" in info and "own train_step" in info and "pass loss=" in info
    assert "shown instead: the sum of output unit 0" in info
    ex = _explore(case.model, case.x, case.y, loss=case.loss)
    ex.tab = "gradients"
    assert "loss=vae_loss" in ex.panels["gradients"].info.value
    decoder_out = case.model.decoder.layers[-1]
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(vae_loss(case.x[2:3], case.model(case.x[2:3])))
    expected = tape.gradient(loss, decoder_out.kernel).numpy()
    shown = ex.analysis.gradients(2).weights[f"decoder/{decoder_out.name}"][0]
    np.testing.assert_allclose(shown, expected, rtol=1e-3, atol=1e-6 * np.abs(expected).max())


def test_a_loss_that_ignores_its_labels_needs_no_y():
    """A loss of the model's own that reads only the output (y_true is None) works without labels."""
    case = ZOO["vae_call"]()

    def brightness(y_true, y_pred):
        assert y_true is None
        return keras.ops.mean(y_pred, axis=(1, 2, 3))

    probe = Probe(case.model)
    grads = probe.gradients(case.x[:2], loss=brightness)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(case.model(case.x[:2]))
    kernel = case.model.decoder.layers[-1].kernel
    np.testing.assert_allclose(
        grads.weights[f"decoder/{case.model.decoder.layers[-1].name}"][0],
        tape.gradient(loss, kernel).numpy(),
        rtol=1e-3,
        atol=1e-9,
    )


class OwnLoss(keras.Model):
    """A model whose class defines compute_loss (as KerasHub's detectors do): fit differentiates that."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.tracker = keras.metrics.Mean(name="own_loss")

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = 10.0 * keras.ops.mean(keras.ops.abs(y_pred - y))
        self.tracker.update_state(loss)
        return loss


def test_a_models_own_compute_loss_is_the_loss_shown():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(3, activation="relu", name="hidden")(inputs)
    model = OwnLoss(inputs, keras.layers.Dense(1, name="out")(hidden))
    model.compile("sgd", loss="mse")  # compiled, but compute_loss is what fit uses
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(6, 4)).astype("float32"), rng.normal(size=(6, 1)).astype("float32")
    ex = _explore(model, x, y)
    assert ex.analysis.loss_text == "OwnLoss.compute_loss"
    with tf.GradientTape() as tape:
        loss = 10.0 * tf.reduce_mean(tf.abs(model(x[1:2]) - y[1:2]))
    expected = tape.gradient(loss, model.get_layer("hidden").kernel).numpy()
    np.testing.assert_allclose(ex.analysis.gradients(1).weights["hidden"][0], expected, rtol=1e-4, atol=1e-7)
    assert float(model.tracker.count.numpy()) == 0  # the probe's calls leave fit's metric untouched


def test_live_training_takes_a_loss_and_records_a_tied_embedding():
    """The tied embedding used to fail LiveTraining on the first batch; an autoencoder's monitor needs no y."""
    for key, loss in (("tied", None), ("autoencoder", None), ("vae_call", vae_loss)):
        case = ZOO[key]()
        monitor = case.x if key == "autoencoder" else (case.x, case.y)
        callback = nbviz.LiveTraining(monitor=monitor, every=1, loss=loss)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            y = None if key == "vae_call" else case.y  # the VAE's train_step takes images alone
            case.model.fit(case.x, y, epochs=1, batch_size=4, verbose=0, callbacks=[callback])
        norms = callback.history["grad_norm"]
        assert norms.shape == (3, len(callback.history["layers"])) and np.all(np.isfinite(norms)), key
        if loss is not None:
            assert "loss=vae_loss" in callback.view.status.value
    with pytest.raises(TypeError, match="loss: expected a callable"):
        nbviz.LiveTraining(monitor=case.x, loss="mse")


def test_a_custom_block_shows_its_layers_and_names_its_weights():
    """The Keras example's TransformerBlock: its attention, feed-forward and norms are nodes inside it, recorded
    in the same pass (checked against the block's own sub-layers called eagerly), and its weights are named by
    path, not "kernel, bias, kernel, bias, ..."."""
    case = ZOO["transformer_text"]()
    ex = _explore(case.model, case.x, case.y)
    block = next(layer for layer in case.model.layers if type(layer).__name__ == "TransformerBlock")
    inside = {n.name: n for n in ex.analysis.graph.nodes if n.parent == block.name}
    subs = (block.att, block.ffn, block.layernorm1, block.layernorm2)
    assert {f"{block.name}/{sub.name}" for sub in subs} <= set(inside), sorted(inside)
    names = ex.analysis.layer_weights(block.name).names
    assert len(set(names)) == len(names) and f"{block.att.name}/query/kernel" in names
    embedding = case.model.layers[1]
    h = embedding(case.x[:1])
    attention = block.att(h, h)
    norm1 = block.layernorm1(h + attention)
    acts = ex.analysis.activations(0)
    attention_name, norm_name = f"{block.name}/{block.att.name}", f"{block.name}/{block.layernorm1.name}"
    np.testing.assert_allclose(acts[attention_name][0], np.asarray(attention)[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(acts[norm_name][0], np.asarray(norm1)[0], rtol=1e-4, atol=1e-5)
    # Its sub-layers learn and have gradient norms; the block itself is not counted twice.
    assert block.name not in ex.analysis.learning_layers
    assert norm_name in ex.analysis.learning_layers


def test_float_token_ids_get_a_note_in_every_saliency_method():
    case = ZOO["transformer_text"]()
    ex = _explore(case.model, case.x, case.y)
    ex.tab = "saliency"
    panel = ex.panels["saliency"]
    for method in ("gradient", "smoothgrad", "integrated_gradients"):
        panel.method.value = method
        assert panel.error is None and "feeds an embedding" in panel.message.value, method


def test_findings_take_what_explore_takes():
    """A tf.data pipeline (read as explore reads it) gives the findings of the same arrays; raw text given for
    token ids names the input and says what to pass instead."""
    case = ZOO["transformer_text"]()
    dataset = tf.data.Dataset.from_tensor_slices((case.x, case.y)).batch(3)
    from_arrays = findings(case.model, case.x, case.y)
    from_dataset = findings(case.model, dataset)
    assert [f.message for f in from_dataset] == [f.message for f in from_arrays]
    bert = ZOO["bert"]()
    texts = {**bert.x, "token_ids": np.array([["the cat"] * bert.x["token_ids"].shape[1]] * 8)}
    with pytest.raises(TypeError, match=r"x\['token_ids'\]: expected a numeric array, got strings.*preprocessor"):
        findings(bert.model, texts, bert.y)


def test_gradcam_offers_only_layers_with_a_map():
    """Not the preprocessing (Rescaling still is the image), not 1 x 1 maps (a pooled output kept 4-D)."""
    inputs = keras.Input((8, 8, 3))
    scaled = keras.layers.Rescaling(1 / 255, name="rescale")(inputs)
    conv = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(scaled)
    pooled = keras.layers.GlobalAveragePooling2D(keepdims=True, name="pool")(conv)
    head = keras.layers.Conv2D(2, 1, name="head_conv")(pooled)
    outputs = keras.layers.Softmax()(keras.layers.Flatten()(head))
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(0).random((4, 8, 8, 3), dtype=np.float32) * 255
    usable, default = cam_layers(Probe(model), x)
    assert usable == ["conv"] and default == "conv"


def test_resnet50_at_random_initialisation_has_no_critical_gradient_finding():
    """In training mode (as fit runs it) ResNet50's first convolutions get the largest norms (1.3e4 against a
    median of 77: BatchNorm's gradient growth at initialisation): warnings at most, never critical."""
    from tests.zoo import application

    case = application("ResNet50")()
    found = [f for f in findings(case.model, case.x, case.y) if f.kind.endswith("_gradients")]
    assert [f.message for f in found if f.severity == "critical"] == []
    assert {f.kind for f in found} <= {"exploding_gradients"}


def test_labels_no_metric_can_score_get_a_note():
    """One target per sample for an output per time step: the loss (and fit) broadcast it, no metric can score it; the
    diagnostics tab says so in grey and every other tab still works."""
    keras.utils.set_random_seed(4)
    inputs = keras.Input((5, 3))
    model = keras.Model(inputs, keras.layers.Dense(2, name="per_step")(inputs))
    model.compile("sgd", "mse")
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(6, 5, 3)).astype("float32"), rng.normal(size=(6, 1, 2)).astype("float32")
    ex = _explore(model, x, y)
    assert panel_errors(ex) == []
    ex.tab = "diagnostics"
    assert "cannot score these labels" in ex.panels["diagnostics"].message.value


def test_one_probe_per_model_and_one_shap_trial(monkeypatch):
    """findings() on the Explorer's model reuses its compiled passes (no trace on a second call), and SHAP's
    "auto" runs expected gradients on the same probe: no shap.GradientExplainer is built, nothing is traced
    again."""
    import shap

    from nbviz import demo
    from nbviz.compute.methods.attribution import ShapExplainer
    from nbviz.compute.model.probe import shared_probe

    digits = demo.digits_cnn()
    x, y = digits.x_test[:32], digits.y_test[:32]
    ex = _explore(digits.model, x, y)
    probe = shared_probe(digits.model)
    assert ex.analysis.probe is probe
    findings(digits.model, x, y)
    traced = probe.traces
    findings(digits.model, x, y)
    assert probe.traces == traced
    built = []
    original = shap.GradientExplainer.__init__

    def counting(self, *args, **kwargs):
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(shap.GradientExplainer, "__init__", counting)
    explainer = ShapExplainer(digits.model, x[:10], "auto")
    explainer.attribution(x[:2])
    assert explainer.name == "gradient" and explainer.probe is probe and built == []
    traced = probe.traces
    ShapExplainer(digits.model, x[10:20], "auto").attribution(x[2:5], 3)
    assert probe.traces == traced
