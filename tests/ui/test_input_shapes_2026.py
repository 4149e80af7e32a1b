"""Inputs of unusual rank (issue 34, items 4, 8, 9): a wide-and-deep model of scalar inputs (one
``keras.Input(shape=())`` per feature), a ConvLSTM over 5-D video batches, and a two-tower CLIP whose logits are
(images, texts). Every tab on every layer shows data or a note, never an error; values are checked against Keras
sub-models, GradientTape and the documented picture layout."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import nbviz
from nbviz.compute.methods.display import block_mean
from nbviz.testing import panel_errors

FLOATS = ("age", "fare", "hours")


# ------------------------------------------------------------------------------------------ models
def _wide_and_deep() -> tuple[keras.Model, dict[str, np.ndarray], np.ndarray]:
    """As the Keras structured-data example: a scalar input per feature, an int category one-hot (wide) and
    embedded (deep), a wide Dense and a deep MLP added, a sigmoid."""
    keras.utils.set_random_seed(0)
    floats = [keras.Input(shape=(), name=name) for name in FLOATS]
    city = keras.Input(shape=(), name="city", dtype="int32")
    columns = [keras.layers.Reshape((1,), name=f"{n}_col")(i) for n, i in zip(FLOATS, floats)]
    numeric = keras.layers.Concatenate(name="numeric")(columns)
    onehot = keras.layers.CategoryEncoding(num_tokens=4, output_mode="one_hot", name="city_onehot")(city)
    embedded = keras.layers.Flatten(name="city_flat")(keras.layers.Embedding(4, 2, name="city_emb")(city))
    wide = keras.layers.Dense(1, name="wide")(keras.layers.Concatenate(name="wide_in")([numeric, onehot]))
    deep = keras.layers.Concatenate(name="deep_in")([numeric, embedded])
    deep = keras.layers.Dense(1, name="deep2")(keras.layers.Dense(6, activation="relu", name="deep1")(deep))
    out = keras.layers.Activation("sigmoid", name="prob")(keras.layers.Add(name="combine")([wide, deep]))
    model = keras.Model([*floats, city], out)
    model.compile("adam", "binary_crossentropy")
    rng = np.random.default_rng(0)
    x = {name: rng.normal(size=16).astype("float32") for name in FLOATS}
    x["city"] = rng.integers(0, 4, 16).astype("int32")
    return model, x, rng.integers(0, 2, 16).astype("float32")


def _conv_lstm() -> tuple[keras.Model, np.ndarray, np.ndarray]:
    """Next-frame prediction over (frames, h, w, 1) clips: 4 frames of 12 x 12 tile to 25 x 25, past the
    strip's 256 cells, so the strip's pictures are shrunk (where the 1-column stacking failed)."""
    keras.utils.set_random_seed(0)
    frames = keras.Input((4, 12, 12, 1), name="frames")
    hidden = keras.layers.ConvLSTM2D(2, 3, padding="same", return_sequences=True, name="convlstm")(frames)
    out = keras.layers.Conv3D(1, 3, padding="same", activation="sigmoid", name="next")(hidden)
    model = keras.Model(frames, out)
    model.compile("adam", "binary_crossentropy")
    rng = np.random.default_rng(0)
    return model, rng.random((6, 4, 12, 12, 1)).astype("float32"), rng.random((6, 4, 12, 12, 1)).astype("float32")


def _clip() -> tuple[keras.Model, dict[str, np.ndarray]]:
    """A tiny keras_hub CLIP: its logits are (images, texts), each image scored against every text of its batch."""
    keras_hub = pytest.importorskip("keras_hub")
    keras.utils.set_random_seed(0)
    vision = keras_hub.models.CLIPVisionEncoder(
        patch_size=8, hidden_dim=16, num_layers=1, num_heads=2, intermediate_dim=32, image_shape=(16, 16, 3)
    )
    text = keras_hub.models.CLIPTextEncoder(
        vocabulary_size=60, embedding_dim=16, hidden_dim=16, num_layers=1, num_heads=2, intermediate_dim=32,
        max_sequence_length=8,
    )  # fmt: skip
    model = keras_hub.models.CLIPBackbone(vision, text, projection_dim=8)
    rng = np.random.default_rng(0)
    x = {
        "images": rng.random((8, 16, 16, 3)).astype("float32"),
        "token_ids": rng.integers(0, 60, (8, 8)).astype("int32"),
    }
    return model, x


@pytest.fixture(scope="module")
def wide_and_deep():
    model, x, y = _wide_and_deep()
    return model, x, nbviz.explore(model, x, y)


@pytest.fixture(scope="module")
def conv_lstm():
    model, x, y = _conv_lstm()
    return model, x, nbviz.explore(model, x, y)


@pytest.fixture(scope="module")
def clip():
    model, x = _clip()
    return model, x, nbviz.explore(model, x)


def _frames_picture(sample: np.ndarray) -> np.ndarray:
    """What the code documents for a (frames, h, w, c) sample, written out: channels averaged, frames on a
    near-square grid read like text (4 frames: 2 x 2), NaN in one-cell gutters between them."""
    frames = sample.mean(axis=-1)
    n, h, w = frames.shape
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    out = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan, np.float32)
    for k, frame in enumerate(frames):
        r, c = divmod(k, cols)
        out[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = frame
    return out


# ------------------------------------------------------------------------------------------ item 8: scalars
def test_scalar_inputs_show_every_tab_and_layer(wide_and_deep):
    _, _, ex = wide_and_deep
    assert panel_errors(ex) == []
    ex.tab = "saliency"
    for _, method in ex.panels["saliency"].method.options:
        ex.panels["saliency"].method.value = method
        assert ex.panels["saliency"].error is None


def test_scalar_inputs_activations_equal_a_keras_sub_model(wide_and_deep):
    model, x, ex = wide_and_deep
    # An output of a fixed shape cannot follow the batch: no pass was run to ask.
    assert not ex.analysis.first_output_follows_batch()
    assert (None, "first output follows batch") not in ex.analysis.memo
    for layer in ("numeric", "city_onehot", "deep1", "prob"):
        expected = keras.Model(model.inputs, model.get_layer(layer).output)({k: v[3:4] for k, v in x.items()})
        np.testing.assert_allclose(ex.analysis.activations(3)[layer], np.asarray(expected), rtol=1e-5, atol=1e-6)


def test_a_scalar_input_is_one_feature_of_saliency_equal_to_its_gradient(wide_and_deep):
    model, x, ex = wide_and_deep
    sample = 5
    shown = ex.analysis.saliency_map(sample, "gradient", 0, None)  # the sigmoid unit
    inputs = {k: tf.constant(v[sample : sample + 1]) for k, v in x.items()}
    with tf.GradientTape() as tape:
        tape.watch([inputs[k] for k in FLOATS])
        unit = model(inputs)[:, 0]
    grads = tape.gradient(unit, [inputs[k] for k in FLOATS])
    assert shown.values.shape == (4,)  # one value per input, in the inputs' order
    np.testing.assert_allclose(shown.values[:3], [float(g[0]) for g in grads], rtol=1e-4, atol=1e-7)
    assert shown.values[3] == 0.0  # the category id takes no gradient through its cast, and the note says so
    assert "city" in shown.note
    assert set(shown.bars.labels) == {*FLOATS, "city"}
    # The panel draws the bars per input, not a picture.
    ex.sample, ex.tab = sample, "saliency"
    assert ex.panels["saliency"].tabular and ex.panels["saliency"].error is None


# ------------------------------------------------------------------------------------------ item 9: 5-D
def test_video_inputs_show_every_tab_and_layer(conv_lstm):
    _, _, ex = conv_lstm
    assert panel_errors(ex) == []


def test_a_video_sample_is_its_frames_side_by_side(conv_lstm):
    _, x, ex = conv_lstm
    shown = ex.analysis.sample_display(2)
    assert shown.kind == "image"
    np.testing.assert_array_equal(shown.values, _frames_picture(x[2]))  # 25 x 25: under the sample view's bound
    saliency = ex.analysis.saliency_map(2, "gradient", None, None)
    assert saliency.picture.values.shape == (25, 25)  # the map lies on the same frames as the input
    assert np.isnan(saliency.picture.values[12]).all()


def test_the_neighbour_and_unit_strips_hold_each_video_rescaled(conv_lstm):
    _, x, ex = conv_lstm

    def expected(sample: int) -> np.ndarray:
        # The picture's 25 x 25 cells shrink to the strip's 256 by 2 x 2 block means (a block over a gutter is
        # NaN), then to 0..1 over its own finite range.
        small = block_mean(_frames_picture(x[sample]), 256)
        lo, hi = np.nanmin(small), np.nanmax(small)
        return (small - lo) / (hi - lo)

    near = ex.analysis.neighbours("convlstm", 0)
    assert near.strip.shape == (12, 12 * len(near.indices) + len(near.indices) - 1)
    for k, i in enumerate(near.indices):
        np.testing.assert_allclose(near.strip[:, k * 13 : k * 13 + 12], expected(int(i)), rtol=1e-6, atol=1e-6)
    top = ex.analysis.unit_examples("convlstm", 1)
    for k, i in enumerate(top.indices):
        np.testing.assert_allclose(top.strip[:, k * 13 : k * 13 + 12], expected(int(i)), rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------------------------------ item 4: CLIP
def test_clip_shows_every_tab_and_layer(clip):
    _, _, ex = clip
    assert panel_errors(ex) == []


def test_clip_logits_get_a_note_and_per_sample_layers_a_projection(clip):
    model, x, ex = clip
    note = ex.analysis.projection("clip_head", "pca")
    assert "clip_head's output is not one row per sample" in note.reason
    assert "1 for a batch of 1 and 2 for a batch of 2" in note.reason
    ex.tab, ex.layer = "projector", "clip_head"
    assert "clip_head" in ex.panels["projector"].message.value and ex.panels["projector"].error is None
    # A tower's embedding has one row per sample: its points are the samples', and the principal coordinates
    # keep the distances between the samples' (independently computed) embeddings.
    shown = ex.analysis.projection("vision_projection", "pca")
    features = np.asarray(keras.Model(model.inputs, model.get_layer("vision_projection").output)(x))
    assert shown.coords.shape == (8, 2)

    def distances(a: np.ndarray) -> np.ndarray:
        return np.linalg.norm(a[:, None] - a[None], axis=-1)

    np.testing.assert_allclose(distances(shown.projection.components), distances(features), rtol=1e-3, atol=1e-4)


def test_a_one_input_model_whose_output_compares_its_batch_gets_notes_where_rows_are_needed():
    # One input, so the unit view and the rules apply; its first output is the batch's similarity matrix (n, n).
    keras.utils.set_random_seed(0)
    inputs = keras.Input((5,), name="features")
    embedded = keras.layers.Dense(4, activation="relu", name="embed")(inputs)
    similarity = keras.layers.Lambda(lambda t: keras.ops.matmul(t, keras.ops.transpose(t)), name="similarity")
    model = keras.Model(inputs, [similarity(embedded), embedded])
    x = np.random.default_rng(0).normal(size=(40, 5)).astype("float32")  # past one batch of 32
    ex = nbviz.explore(model, x)
    # Built with the first output's check alone (its outputs on two samples): not every layer's pass.
    assert (None, "first output follows batch") in ex.analysis.memo
    assert (None, "batch shaped") not in ex.analysis.memo
    assert panel_errors(ex) == []
    for note in (ex.analysis.unit_examples("similarity", 0), ex.analysis.rules(2, "embed")):
        assert note.reason.startswith("similarity's output is not one row per sample")
    assert "prediction" not in ex.analysis.color_options()  # no score per sample to colour points by
    # The embedding has a row per sample: its units rank the samples as the sub-model's outputs do.
    top = ex.analysis.unit_examples("embed", 1)
    expected = np.asarray(keras.Model(inputs, embedded)(x))[:, 1]
    np.testing.assert_allclose(top.activations, np.sort(expected)[::-1][: len(top.indices)], rtol=1e-5, atol=1e-6)
