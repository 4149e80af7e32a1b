"""An object detector with targets of its own making: KerasHub's RetinaNet, built from its constructors with a tiny
ResNet, explored, judged and trained with the ``{"boxes", "labels"}`` that its own ``fit`` and ``compute_loss``
take (its outputs are ``{"bbox_regression", "cls_logits"}``). Its loss is its own compute_loss on those targets
(checked against a tape on it), and its boxes are the ones its own ``predict`` decodes."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf

import nbviz
from nbviz.compute.model.probe import shared_probe
from nbviz.testing import panel_errors

from .interaction import tape_norms

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

N, SIZE = 8, 32


@pytest.fixture(scope="module")
def detector() -> tuple[Any, np.ndarray, dict[str, np.ndarray]]:
    import keras_hub

    keras.utils.set_random_seed(7)
    encoder = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[3],
        stackwise_num_filters=[64, 16, 16],
        stackwise_num_blocks=[1, 1, 1],
        stackwise_num_strides=[1, 2, 2],
        block_type="basic_block",
        use_pre_activation=False,
        image_shape=(SIZE, SIZE, 3),
    )
    backbone = keras_hub.models.RetinaNetBackbone(
        image_encoder=encoder, min_level=3, max_level=4, use_p5=False, image_shape=(SIZE, SIZE, 3)
    )
    model = keras_hub.models.RetinaNetObjectDetector(
        backbone=backbone, num_classes=3, bounding_box_format="yxyx", pre_logits_num_conv_layers=1
    )
    # A low threshold, so that the untrained model's decoder keeps boxes to compare.
    model.prediction_decoder = type(model.prediction_decoder)(
        bounding_box_format="yxyx", from_logits=True, confidence_threshold=0.0, max_detections=30
    )
    model.compile(optimizer="sgd")
    rng = np.random.default_rng(7)
    x = rng.uniform(0, 255, (N, SIZE, SIZE, 3)).astype("f4")
    boxes = np.zeros((N, 3, 4), "f4")
    boxes[:, 0], boxes[:, 1] = [4, 4, 20, 20], [10, 12, 30, 28]
    labels = np.array([[0, 2, -1]] * N, "f4")  # KerasHub pads a sample's boxes with label -1
    return model, x, {"boxes": boxes, "labels": labels}


def test_its_own_targets_are_taken_and_its_loss_is_its_compute_loss(detector):
    model, x, y = detector
    ex = nbviz.explore(model, x, y)
    assert ex.analysis.gradient_target == "loss" and "compute_loss" in ex.analysis.loss_text
    probe = shared_probe(model)
    name = next(n for n in probe.layers if n.endswith("cls_logits") or "classification_head" in n)
    kernel = probe.layers[name].trainable_weights[0]
    one = {k: v[2:3] for k, v in y.items()}
    with tf.GradientTape() as tape:
        loss = model.compute_loss(x[2:3], one, model(x[2:3], training=False), None)
    expected = tape.gradient(loss, kernel).numpy()
    shown = ex.analysis.gradients(2).weights[name][0]
    np.testing.assert_allclose(shown, expected, rtol=1e-3, atol=1e-6 * np.abs(expected).max())


def test_its_boxes_are_those_its_own_predict_decodes(detector):
    model, x, y = detector
    ex = nbviz.explore(model, x, y)
    found, truth = ex.analysis.detections(3)
    decoded = model.predict(x[3:4], verbose=0)
    count = int(decoded["num_detections"][0])
    assert found.count == count > 0
    order = np.argsort(-decoded["confidence"][0][:count], kind="stable")[: len(found.scores)]
    np.testing.assert_allclose(found.scores, decoded["confidence"][0][order], rtol=1e-5)
    # yxyx already; drawn clipped to the image (an untrained head decodes boxes far outside it)
    expected = np.clip(np.nan_to_num(decoded["boxes"][0][order]), 0, SIZE)
    np.testing.assert_allclose(found.corners, expected, rtol=1e-4, atol=1e-3)
    assert found.class_scores.shape == (3,)
    # The targets' boxes: the real ones (label >= 0), as given.
    np.testing.assert_array_equal(truth.classes, [0, 2])
    np.testing.assert_allclose(truth.corners, y["boxes"][3][:2])
    # The sample view outlines both on the image, and its caption lists them.
    ex.sample = 3
    lines = ex.sample_view.plot._boxes
    assert lines.visible and len(lines.x) == len(truth.classes) + len(found.classes)
    np.testing.assert_allclose(np.asarray(lines.y)[0][[0, 2]], y["boxes"][3][0][[0, 2]] - 0.5)  # 1 cell a pixel
    caption = ex.sample_view.text.value
    assert "target <b>2 boxes: 0, 2</b>" in caption and f"predicted <b>{count} boxes" in caption


def test_every_tab_findings_and_a_fit_with_its_targets(detector):
    model, x, y = detector
    assert panel_errors(nbviz.explore(model, x, y)) == []
    nbviz.findings(model, x, y)
    names = [n for n in shared_probe(model).learning_layers() if "head" in n][:2]
    expected = tape_norms(model, names, lambda: model.compute_loss(x, y, model(x, training=False), None))
    live = nbviz.LiveTraining(monitor=(x, y), every=1)
    model.fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[live])
    assert live.recorder.failure is None
    history = live.history
    shown = history["grad_norm"][0][[history["layers"].index(n) for n in names]]
    np.testing.assert_allclose(shown, expected, rtol=1e-3)
