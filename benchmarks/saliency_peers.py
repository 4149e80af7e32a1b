"""Grad-CAM and Grad-CAM++ side by side with Xplique's, in one process, on the same weights and images.

Run: PYTHONPATH=<a folder holding xplique> python -m benchmarks.saliency_peers [--quick]

Xplique pins TensorFlow <= 2.20, so it is not a dependency: install it without its pins into a folder of its own
(``pip install --target DIR --no-deps xplique deprecated einops opencv-python-headless tensorflow-probability
tf_keras scikit-image``) and put that folder on PYTHONPATH. Without it the rows say so.

Each library gets its own copy of the model (Xplique wraps a layer's call while it explains), with the same
weights. Measured: 16 images (each with its predicted class) and one image, interleaved, after a warm-up; and the
first call on a fresh copy (the trace included). The maps are compared after Xplique's own bicubic resize to the
input's size: Grad-CAM is the same map; Xplique's Grad-CAM++ normalises its weights differently (the mean over
the grid and the activations' mean, where nbviz follows tf-keras-vis: sums, with the alphas normalised per
channel), so only its time is compared.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np

from benchmarks._timing import Row, interleaved, ms, table

NAME = "saliency_peers"


def _models() -> dict[str, tuple[Any, Any, np.ndarray, str]]:
    """name -> (model for nbviz, a copy for Xplique, 16 images, the CAM layer)."""
    import keras

    from nbviz import demo

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    mobile = keras.applications.MobileNetV2(input_shape=(96, 96, 3), weights=None)
    images = rng.random((16, 96, 96, 3)).astype("float32")
    # Random weights with the data's BatchNorm statistics (one training-mode call with momentum 0): with the
    # initial statistics every class's map is zero after the ReLU, and two libraries would agree on nothing.
    norms = [layer for layer in mobile.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        layer.momentum = 0.0
    mobile(images, training=True)
    for layer in norms:
        layer.momentum = 0.99
    twin = keras.applications.MobileNetV2(input_shape=(96, 96, 3), weights=None)
    twin.set_weights(mobile.get_weights())
    digits = demo.digits_cnn()
    return {
        "MobileNetV2 (96 px)": (mobile, twin, images, "Conv_1"),
        "demo CNN (8 x 8)": (digits.model, demo.digits_cnn().model, digits.x_test[:16], "conv2"),
    }


def _fresh(model: Any) -> Any:
    import keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def rows_for(name: str, model: Any, twin: Any, x: np.ndarray, layer: str, repeat: int) -> list[Row]:
    from xplique.attributions import GradCAM, GradCAMPP

    targets = np.asarray(model(x)).argmax(axis=1)
    onehot = np.eye(int(model.output_shape[-1]), dtype="float32")[targets]
    return [
        _row(name, method, peer_class, model, twin, x, layer, targets, onehot, repeat)
        for method, peer_class in (("gradcam", GradCAM), ("gradcam++", GradCAMPP))
    ]


def _row(
    name: str,
    method: str,
    peer_class: Any,
    model: Any,
    twin: Any,
    x: np.ndarray,
    layer: str,
    targets: np.ndarray,
    onehot: np.ndarray,
    repeat: int,
) -> Row:
    import tensorflow as tf

    from nbviz.compute import saliency
    from nbviz.compute.model.probe import shared_probe

    # First calls on fresh copies: what a person waits for the first time.
    fresh = _fresh(model)
    start = time.perf_counter()
    saliency(fresh, x, method, target=targets, layer=layer)
    first_ours = time.perf_counter() - start
    fresh_peer = peer_class(_fresh(twin), conv_layer=layer)
    start = time.perf_counter()
    fresh_peer(x, onehot)
    first_peer = time.perf_counter() - start
    probe = shared_probe(model)
    peer = peer_class(twin, conv_layer=layer)

    def ours(rows: int) -> Any:
        return saliency(model, x[:rows], method, target=targets[:rows], layer=layer, probe=probe)

    def theirs(rows: int) -> Any:
        return peer(x[:rows], onehot[:rows])

    n = len(x)
    times = interleaved(
        {
            "ours 16": lambda: ours(n),
            "peer 16": lambda: theirs(n),
            "ours 1": lambda: ours(1),
            "peer 1": lambda: theirs(1),
        },
        repeat=repeat,
    )
    mine, other = np.asarray(ours(n)), np.asarray(theirs(n))
    other = other[..., 0] if other.ndim == 4 else other  # Xplique keeps a channel axis of 1
    resized = tf.image.resize(mine[..., None], x.shape[1:3], method=tf.image.ResizeMethod.BICUBIC).numpy()[..., 0]
    scale = max(float(np.abs(other).max()), 1e-12)
    agreement = f"max |diff| {np.abs(resized - other).max() / scale:.1e} of the map's max"
    if not other.any():
        agreement = "both maps zero everywhere"
    if method == "gradcam++":
        agreement = "another variant (see the docstring)"
    speedup = times["peer 16"] / times["ours 16"]
    faster = speedup >= 1 and times["peer 1"] >= times["ours 1"]
    return Row(
        NAME,
        f"{name}: {method}, 16 images (1 image; first call on a fresh model)",
        f"{ms(times['ours 16'])} ({ms(times['ours 1'])}; first {ms(first_ours)})",
        f"Xplique {ms(times['peer 16'])} ({ms(times['peer 1'])}; first {ms(first_peer)}): "
        f"{speedup:.2f}x its speed; {agreement}",
        f">= 1x Xplique: {'yes' if faster else 'no'}",
    )


def run(quick: bool = False) -> list[Row]:
    try:
        import xplique  # noqa: F401
    except ImportError:
        return [Row(NAME, "Grad-CAM beside Xplique", "not run: xplique is not importable (see the docstring)", "", "")]
    rows = []
    for name, (model, twin, x, layer) in _models().items():
        rows += rows_for(name, model, twin, x, layer, repeat=5 if quick else 20)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    print(table(run(parser.parse_args().quick)))
