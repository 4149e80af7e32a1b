"""Object detectors (KerasHub's ``ObjectDetector`` tasks, RetinaNet among them): their raw outputs (box deltas and
class logits per anchor) read as boxes on the image, through the model's own ``decode_predictions`` (its anchors,
its box encoding, its non-maximum suppression), and the top score of each class.

The targets such a model trains on (``{"boxes", "labels"}``) are of its own making: its ``compute_loss`` maps them
to its outputs. They are kept as given (``CheckedData.own_targets``) and drawn as boxes too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

__all__ = ["SHOWN_BOXES", "Boxes", "detections", "is_detector", "target_boxes"]

SHOWN_BOXES = 20  # a picture with more boxes than this is unreadable; the text says how many there are


@dataclass(frozen=True, eq=False)
class Boxes:
    """Boxes on one image, at most :data:`SHOWN_BOXES` of them (the highest scores first).

    Attributes
    ----------
    corners : float32 (k, 4)
        (top, left, bottom, right) in the image's pixels, clipped to the image.
    classes : int64 (k,)
    scores : float32 (k,) or None
        The detector's confidence in each box (None for targets).
    count : int
        How many boxes there are in all (more than ``k`` when some were left out).
    class_scores : float32 (classes,) or None
        Per class, the highest score any anchor gives it (sigmoid of the logits), with or without a box.
    """

    corners: np.ndarray
    classes: np.ndarray
    scores: np.ndarray | None
    count: int
    class_scores: np.ndarray | None = None


def is_detector(model: keras.Model) -> bool:
    """Whether ``model`` decodes its outputs into boxes itself, as KerasHub's object detectors do."""
    return callable(getattr(model, "decode_predictions", None)) and isinstance(
        getattr(model, "bounding_box_format", None), str
    )


def detections(model: keras.Model, outputs: Any, image: np.ndarray) -> Boxes:
    """The boxes ``model`` finds in one image (h, w, c), from its raw ``outputs`` for it (a batch of one, in the
    structure the model returns them), decoded as its own ``predict`` decodes them."""
    batch = np.asarray(image, np.float32)[np.newaxis]
    decoded = model.decode_predictions(outputs, batch)
    count = int(np.asarray(decoded["num_detections"])[0])
    corners = _corners(model, np.asarray(decoded["boxes"])[0][:count], batch.shape[1:3])
    scores = np.asarray(decoded["confidence"], np.float32)[0][:count]
    classes = np.asarray(decoded["labels"]).astype(np.int64)[0][:count]
    order = np.argsort(-scores, kind="stable")[:SHOWN_BOXES]
    logits = next((v for k, v in dict(outputs).items() if "cls" in str(k)), None) if isinstance(outputs, dict) else None
    class_scores = None if logits is None else _sigmoid(np.asarray(logits, np.float64)[0]).max(axis=0)
    return Boxes(
        corners[order],
        classes[order],
        scores[order],
        count,
        None if class_scores is None else class_scores.astype(np.float32),
    )


def target_boxes(model: keras.Model, targets: Any, shape: tuple[int, int]) -> Boxes | None:
    """The boxes of one sample's own targets (``{"boxes", "labels"}``, a batch of one), padding left out (KerasHub
    pads with label -1); None when the targets hold no boxes."""
    if not isinstance(targets, dict) or "boxes" not in targets or "labels" not in targets:
        return None
    boxes = np.asarray(targets["boxes"], np.float32).reshape(-1, 4)
    labels = np.asarray(targets["labels"]).reshape(-1)
    real = labels >= 0
    corners = _corners(model, boxes[real], shape)
    return Boxes(corners[:SHOWN_BOXES], labels[real].astype(np.int64)[:SHOWN_BOXES], None, int(real.sum()))


def _corners(model: keras.Model, boxes: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Boxes in the model's format as (top, left, bottom, right) pixels."""
    if len(boxes) == 0:
        return np.zeros((0, 4), np.float32)
    height, width = int(shape[0]), int(shape[1])
    yxyx = keras.utils.bounding_boxes.convert_format(
        np.asarray(boxes, np.float32), source=model.bounding_box_format, target="yxyx", height=height, width=width
    )
    # Clipped to the image, as drawn: an untrained head decodes boxes far outside it (and NaN, which the browser
    # cannot place), and the image is what there is to see.
    corners = np.nan_to_num(np.asarray(yxyx, np.float32).reshape(-1, 4), nan=0.0)
    return np.clip(corners, 0.0, np.array([height, width, height, width], np.float32))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow for large |z|
