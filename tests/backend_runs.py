"""What tests/compute/test_backends.py runs in a process of its own, on the backend that KERAS_BACKEND names
(Keras picks its backend once, when first imported).

    python -m tests.backend_runs numbers FOLDER   # the probe's numbers on shared models, written to FOLDER
    python -m tests.backend_runs walk REPORT      # every nbviz feature on the demo CNN; prints a JSON summary
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


class _Absent:
    """A module finder that makes ``tensorflow`` impossible to import, as on a machine without it (Keras then
    runs without it, as it does there), and records the importer of each try: nbviz's own code is a defect
    (Keras asks too, for its optional uses of TensorFlow: copying a model checks whether it is there)."""

    def __init__(self) -> None:
        self.tries: list[str] = []

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name == "tensorflow" or name.startswith("tensorflow."):
            stack = traceback.extract_stack()[:-1]
            if any(f.filename == "<frozen importlib.util>" for f in stack):
                return None  # importlib.util.find_spec only asks where it is (torch lists libraries to skip)
            frames = [f"{f.filename}:{f.lineno}" for f in stack]
            outside = [f for f in frames if "importlib" not in f]  # the import machinery's frames
            self.tries.append(outside[-1] if outside else "?")
            raise ModuleNotFoundError(f"No module named {name!r} (absent for this test)", name=name)
        return None


# ------------------------------------------------------------------------------------------------- models
def models() -> dict[str, Any]:
    """Models built alike on every backend (their random weights differ: ``numbers`` loads shared ones)."""
    import keras

    from nbviz import demo

    inputs = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(6, 3, padding="same", name="conv")(inputs)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.Activation("relu", name="relu")(h)
    skip = keras.layers.Conv2D(6, 1, name="skip")(inputs)
    h = keras.layers.Add(name="add")([h, skip])
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    h = keras.layers.Dropout(0.3, name="drop")(h)
    out = keras.layers.Dense(4, activation="softmax", name="probs", kernel_regularizer=keras.regularizers.L2(0.01))(h)
    residual = keras.Model(inputs, out, name="residual")
    tokens = keras.Input((6,), dtype="int32", name="tokens")
    e = keras.layers.Embedding(30, 8, name="embed")(tokens)
    a = keras.layers.MultiHeadAttention(2, 4, name="attention")(e, e)
    logits = keras.layers.Dense(3, name="logits")(keras.layers.GlobalAveragePooling1D(name="pool")(a))
    text = keras.Model(tokens, logits, name="text")
    text.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return {
        "digits": demo.digits_cnn().model,
        "mobilenet": keras.applications.MobileNetV3Small(
            weights=None, input_shape=(32, 32, 3), classes=5, include_preprocessing=False, dropout_rate=0.0
        ),
        "residual": residual,
        "text": text,
    }


def inputs_for(name: str, model: Any) -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(3)
    if name == "text":
        return rng.integers(0, 30, size=(5, 6)).astype("int32"), rng.integers(0, 3, 5)
    shape = tuple(model.inputs[0].shape[1:])
    units = int(model.outputs[0].shape[-1])
    return rng.random((5, *shape), dtype=np.float32), rng.integers(0, units, 5)


def numbers(folder: Path) -> None:
    """Each model's weights from ``folder/<name>.weights.npz`` (written by the first backend to run, read by the
    next), then the probe's activations, loss gradients (inference and training mode, as the findings take
    them), target and input gradients and attention scores, saved to ``folder/<name>.<backend>.npz``."""
    import keras
    import numpy as np

    from nbviz.compute import Probe
    from nbviz.compute.model.recording import base_key

    backend = keras.backend.backend()
    for name, model in models().items():
        stored = folder / f"{name}.weights.npz"
        if stored.exists():
            with np.load(stored) as w:
                model.set_weights([w[f"w{i}"] for i in range(len(w.files))])
        else:
            np.savez(stored, **{f"w{i}": a for i, a in enumerate(model.get_weights())})
        probe = Probe(model)
        # Keys by layer position: Keras numbers unnamed layers by a count per process ("input_layer_6").
        position = {layer: i for i, layer in enumerate(probe.layer_names)}

        def at(key: str, position: dict[str, int] = position) -> str:
            base = base_key(key)
            return f"{position[base]}{key[len(base) :]}"

        x, y = inputs_for(name, model)
        out: dict[str, Any] = {}
        out.update({f"act/{at(k)}": v for k, v in probe.activations(x).items()})
        grads = probe.gradients(x, y)
        out.update({f"grad/{at(k)}/{i}": g for k, gs in grads.weights.items() for i, g in enumerate(gs)})
        out.update({f"out/{at(k)}": g for k, g in grads.outputs.items() if k not in grads.undefined})
        out["objective"] = np.float64(grads.objective)
        out["norms"] = np.array(list(probe.gradient_norms(grads).values()))
        # Training mode on MobileNetV3 alone (BatchNorm on batch statistics): the other models have dropout,
        # whose random draws no two backends share.
        if name == "mobilenet":
            train = probe.gradients(x, y, training=True)
            out.update({f"train/{at(k)}/{i}": g for k, gs in train.weights.items() for i, g in enumerate(gs)})
        target = probe.gradients(x, target=1)
        out.update({f"target/{at(k)}": g for k, g in target.outputs.items() if k not in target.undefined})
        if name != "text":
            g, f = probe.input_gradients(x, np.arange(5) % 2)
            out["input_grad"], out["input_f"] = g, f
            out["inputs"] = grads.inputs
        else:
            out.update({f"attention/{at(k)}": v for k, v in probe.attention_scores(x).items()})
        np.savez(folder / f"{name}.{backend}.npz", **out)


def compare(folder: Path, one: str, other: str) -> int:
    """Assert that two backends' ``numbers`` in ``folder`` agree; returns how many arrays were compared.

    float32 on two compilers (oneDNN, XLA, ATen): within 2e-5 of the largest value of the same kind for that
    model. A conv bias before BatchNorm in training mode has a gradient of zero in exact arithmetic, so every
    backend gives rounding noise (1e-8) there, which no relative bound compares."""
    import numpy as np

    compared = 0
    for name in models():
        with np.load(folder / f"{name}.{one}.npz") as a, np.load(folder / f"{name}.{other}.npz") as b:
            assert set(a.files) == set(b.files), (name, set(a.files) ^ set(b.files))
            scales: dict[str, float] = {}
            for key in b.files:
                kind = key.split("/")[0]
                scales[kind] = max(scales.get(kind, 0.0), float(np.abs(b[key]).max(initial=0.0)))
            for key in b.files:
                atol = 2e-5 * max(scales[key.split("/")[0]], 1e-6)
                np.testing.assert_allclose(a[key], b[key], rtol=1e-4, atol=atol, err_msg=f"{name} {key}")
                compared += 1
    return compared


# --------------------------------------------------------------------------------------------------- walk
def walk(report: Path) -> dict[str, Any]:
    """Every tab on every layer of the demo CNN (SHAP included), the findings, LiveTraining inside ``fit`` with
    snapshots, a checkpoint shown, a comparison and a static report; what went wrong, and which backend ran."""
    absent = _Absent()
    sys.meta_path.insert(0, absent)
    import keras
    import numpy as np

    import nbviz
    from nbviz import demo
    from nbviz.testing import panel_errors

    digits = demo.digits_cnn()
    model = digits.model
    x, y = digits.x_test[:120], digits.y_test[:120]
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    live = nbviz.LiveTraining(monitor=(x[:32], y[:32]))
    ex = nbviz.explore(model, x, y, training=live)
    errors = [f"{tab} {layer}: {error[:300]}" for tab, layer, error in panel_errors(ex)]
    found = nbviz.findings(model, x, y)
    epochs: list[list[np.ndarray]] = []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: epochs.append(model.get_weights()))
    model.fit(digits.x_train[:256], digits.y_train[:256], epochs=2, batch_size=64, callbacks=[live, record], verbose=0)
    history = live.history
    snapshot_errors = [
        k
        for k in (1, 2)
        if not all(np.array_equal(a, b) for a, b in zip(live.snapshots.weights(k, model), epochs[k - 1]))
    ]
    sub = keras.Model(model.inputs, model.get_layer("dense").output)
    ex.tab, ex.layer, ex.sample = "activations", "dense", 3  # the Explorer reads the trained weights
    stale = float(
        np.abs(ex.panels["activations"].values.ravel() - keras.ops.convert_to_numpy(sub(x[3:4])).ravel()).max()
    )
    ex.checkpoint = 1
    sub_errors = [f"checkpoint {tab}: {e[:300]}" for tab, _, e in panel_errors(ex, tabs=["activations", "gradients"])]
    ex.checkpoint = -1
    before = live.checkpoint_model(0)
    view = nbviz.compare(before, model, x, y)
    flips = len(view.flips)
    path = nbviz.report(
        model, x, y, report, layers=["conv1", "dense"], samples=[0, 1], tabs=["activations", "findings"]
    )
    return {
        "backend": keras.backend.backend(),
        "probe": type(ex.analysis.probe).__name__,
        "explainer": ex.analysis.shap_explainer().name,
        "errors": errors + sub_errors,
        "findings": len(found),
        "grad_steps": len(history["grad_step"]),
        "grad_norms_finite": bool(np.isfinite(history["grad_norm"]).all()),
        "snapshots": len(live.snapshots),
        "snapshot_errors": snapshot_errors,
        "stale": stale,
        "flips": flips,
        "report_bytes": Path(path).stat().st_size,
        "tensorflow_tries": absent.tries,
        "tensorflow_loaded": "tensorflow" in sys.modules,
    }


def check_walk(run: Any, backend: str) -> None:
    """Assert what a ``walk`` process on ``backend`` printed: every feature worked, the figures it read are
    right, and nbviz never reached for TensorFlow (the walk made it impossible to import)."""
    assert run.returncode == 0, run.stderr[-4000:]
    result = json.loads(run.stdout.split("RESULT ", 1)[1])
    assert result["backend"] == backend and result["probe"] == "Probe"
    assert result["errors"] == []
    assert result["explainer"] == "gradient"  # expected gradients on the probe: shap's own need TensorFlow
    assert result["grad_steps"] >= 2 and result["grad_norms_finite"]
    assert result["snapshots"] == 3 and result["snapshot_errors"] == []  # each equals get_weights at its epoch
    assert result["stale"] < 1e-5  # after fit, the Explorer shows the trained weights
    assert result["report_bytes"] > 10_000
    assert [t for t in result["tensorflow_tries"] if "/nbviz/" in t] == [], result["tensorflow_tries"]
    assert not result["tensorflow_loaded"]


if __name__ == "__main__":
    command, where = sys.argv[1], Path(sys.argv[2])
    if command == "numbers":
        numbers(where)
    elif command == "walk":
        print("RESULT " + json.dumps(walk(where)))
    else:
        raise SystemExit(f"unknown command {command!r}")
