"""One fact, one answer: the activations tab, the findings and LiveTraining count dead units with one definition
(display.dead_units: never above 0 on any sample and real position, padding left out), the findings read as
sentences, and the rules tab opens on rules a person can read (or says why there are none)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import nbviz
from nbviz.compute import dead_units, model_graph
from nbviz.compute.methods.findings import DEAD_INFO, Finding
from nbviz.compute.methods.rules import FIDELITY_GOAL, MAX_DEPTH, readable_depth, rule_layers, surrogate_rules
from nbviz.ui.panels.findings import summary

N, LENGTH, UNITS = 32, 6, 4


def token_model() -> keras.Model:
    """Token ids and a padding mask; ``dense`` (4 ReLU units) is the identity of the embedding. The padding
    token (0) turns every unit on; real tokens (1..4) turn them all off but token 1, which turns on unit 0.
    So over real tokens units 1, 2 and 3 are dead; counted with the padding, none is."""
    keras.utils.set_random_seed(0)
    ids = keras.Input((LENGTH,), dtype="int32", name="token_ids")
    mask = keras.Input((LENGTH,), dtype="int32", name="padding_mask")
    h = keras.layers.Embedding(5, UNITS, name="embedding")(ids)
    h = keras.layers.Dense(UNITS, activation="relu", name="dense")(h)
    h = keras.layers.Lambda(lambda t: t[0] * keras.ops.expand_dims(keras.ops.cast(t[1], "float32"), -1))([h, mask])
    h = keras.layers.GlobalAveragePooling1D(name="pool")(h)
    out = keras.layers.Dense(2, activation="softmax", name="out")(h)
    model = keras.Model({"token_ids": ids, "padding_mask": mask}, out)
    table = -np.ones((5, UNITS), "float32")
    table[0] = 1.0
    table[1, 0] = 1.0
    model.get_layer("embedding").set_weights([table])
    model.get_layer("dense").set_weights([np.eye(UNITS, dtype="float32"), np.zeros(UNITS, "float32")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0), loss="sparse_categorical_crossentropy")
    return model


def token_data() -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(0)
    lengths = rng.integers(2, LENGTH, N)  # every sample has padding
    real = np.arange(LENGTH)[None, :] < lengths[:, None]
    ids = np.where(real, rng.integers(1, 5, (N, LENGTH)), 0).astype("int32")
    ids[0, 0] = 1  # unit 0 is alive
    return {"token_ids": ids, "padding_mask": real.astype("int32")}, rng.integers(0, 2, N)


def test_dead_units_leaves_padding_out():
    x, _ = token_data()
    out = np.maximum(0, np.where(x["token_ids"][..., None] == 0, 1.0, -1.0) * np.ones(UNITS))
    out[..., 0] = np.maximum(out[..., 0], (x["token_ids"] == 1).astype(float))
    real = x["padding_mask"].astype(bool)
    assert list(dead_units(out).dead) == [False] * UNITS  # counted with padding: every unit fires there
    masked = dead_units(out, mask=real)
    assert list(masked.dead) == [False, True, True, True] and masked.n_samples == N
    noisy = out.copy()
    noisy[~real] = np.random.default_rng(1).normal(size=(int((~real).sum()), UNITS))
    assert list(dead_units(noisy, mask=real).dead) == list(masked.dead)  # what padding holds does not matter
    # Streamed in two chunks: the same answer.
    first = dead_units(out[:10], mask=real[:10])
    both = dead_units(out[10:], previous=first, mask=real[10:])
    assert list(both.dead) == list(masked.dead) and both.n_samples == N
    with pytest.raises(ValueError, match="mask"):
        dead_units(out, mask=real[:, :3])


def _tab_count(ex: nbviz.Explorer, layer: str) -> tuple[int, int]:
    ex.tab, ex.layer = "activations", layer
    dead = ex.analysis.dead_units()[layer]
    assert f"<b>{dead.count}</b> of {dead.dead.size}" in ex.panels["activations"].dead.value
    return dead.count, dead.dead.size


def _finding_count(found: tuple[Finding, ...], layer: str) -> int | None:
    hits = [f for f in found if f.kind == "dead_units" and f.layer == layer]
    if not hits:
        return None
    (hit,) = hits
    units = int(hit.message.split(" of ", 1)[1].split(" ")[0])
    count = round(hit.value * units)
    assert hit.value == pytest.approx(count / units)
    return count


def test_tab_findings_and_training_agree_on_a_token_model():
    model = token_model()
    x, y = token_data()
    real = x["padding_mask"].astype(bool)
    # Independently: the dense layer's output is the embedding row of each token, through ReLU.
    table = model.get_layer("embedding").get_weights()[0]
    outputs = np.maximum(table[x["token_ids"]], 0)
    expected = int((outputs[real] <= 0).all(axis=0).sum())
    with_padding = int((outputs.reshape(-1, UNITS) <= 0).all(axis=0).sum())
    assert (expected, with_padding) == (3, 0)  # the padding would hide them

    ex = nbviz.explore(model, x, y)
    assert _tab_count(ex, "dense") == (expected, UNITS)
    assert _finding_count(ex.analysis.findings(), "dense") == expected
    (dead,) = [f for f in ex.analysis.findings() if f.kind == "dead_units"]
    assert dead.message == "dense: 75% of 4 ReLU units never activate on 32 samples."

    live = nbviz.LiveTraining(monitor=(x, y), every=1)
    model.fit(x, y, epochs=1, batch_size=N, verbose=0, callbacks=[live])  # learning rate 0: weights stay
    column = live.history["layers"].index("dense")
    assert live.history["dead_share"][:, column] == pytest.approx(expected / UNITS)


def test_tab_and_findings_agree_on_the_demo_cnn(digits):
    """The issue's case: the tab said 22 of dense's 64 units are dead, the findings "no dead or saturated units".
    Now both count alike; below DEAD_INFO the findings name no layer, and both texts say where that line is."""
    ex = nbviz.explore(digits.model, digits.x_test, digits.y_test, class_names=digits.class_names)
    outputs = np.asarray(keras.Model(digits.model.inputs[0], digits.model.get_layer("dense").output)(digits.x_test))
    n = ex.analysis.dead_units()["dense"].n_samples
    expected = int((outputs[:n] <= 0).all(axis=0).sum())
    count, size = _tab_count(ex, "dense")
    assert (count, size) == (expected, 64) and 0 < count
    found = ex.analysis.findings()
    in_findings = _finding_count(found, "dense")
    assert in_findings == (count if count / size >= DEAD_INFO else None)
    assert f"from {DEAD_INFO:.0%}" in ex.panels["activations"].dead.value
    ex.tab = "findings"
    text = ex.panels["findings"].summary.value
    assert "no dead" not in text.lower() and text.endswith(".")
    if not found:
        assert f"{DEAD_INFO:.0%} or more of its ReLU units dead" in text


def _finding(severity: str) -> Finding:
    message = "dense: 12% of 8 ReLU units never activate on 64 samples."
    return Finding("dead_units", "dense", severity, message, 0.1, "activations")


@pytest.mark.parametrize(
    "severities, expected",
    [
        (
            (),
            "Nothing alarming found: no layer has 40% or more of its ReLU units dead or 40% or more of its sigmoid "
            "or tanh units saturated, no gradient vanishes or explodes, and no weight or output is NaN or Inf.",
        ),
        (("warning",), "1 finding: 1 warning. Click a finding to open the tab that shows it."),
        (
            ("critical", "warning", "warning", "info"),
            "4 findings: 1 critical, 2 warnings and 1 note. Click a finding to open the tab that shows it.",
        ),
        (("info", "info"), "2 findings: 2 notes. Click a finding to open the tab that shows it."),
    ],
)
def test_findings_summary_reads_as_sentences(severities, expected):
    assert summary([_finding(s) for s in severities]) == expected


def test_every_finding_is_a_sentence():
    """Every check's message on a broken model ends with a full stop and counts right in the singular."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu", name="hidden"),
            keras.layers.Dense(8, activation="tanh", name="squash"),
            keras.layers.Dense(2, activation="softmax", name="out"),
        ]
    )
    hidden = model.get_layer("hidden")
    bias = np.zeros(8, "float32")
    bias[:7] = -100.0  # 7 of 8 dead
    hidden.bias.assign(bias)
    squash = model.get_layer("squash")
    squash.kernel.assign(squash.kernel.numpy() * 1000)
    kernel = hidden.kernel.numpy()
    kernel[0, 0] = np.nan
    x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
    found = nbviz.findings(model, x, np.zeros(64, int))
    messages = {f.kind: f.message for f in found}
    assert messages["dead_units"] == "hidden: 88% of 8 ReLU units never activate on 64 samples."
    assert all(m.endswith(".") for m in messages.values()), messages
    hidden.kernel.assign(kernel)
    bad = {f.kind: f.message for f in nbviz.findings(model, x, np.zeros(64, int))}
    assert bad["nonfinite_weights"] == "hidden: 1 of 40 weights is NaN or Inf."


# ------------------------------------------------------------------------------------------ the default rules view
def _fidelities(model, x, features, names, class_names) -> dict[int, float]:
    return {
        depth: surrogate_rules(
            model, x, max_depth=depth, features=features, feature_names=names, class_names=class_names
        ).fidelity
        for depth in range(1, MAX_DEPTH + 1)
    }


def test_default_rules_of_the_demo_cnn_are_over_its_dense_layer_at_a_faithful_depth(digits):
    """The issue's view: rules over "unit 1443" of a feature map at 48.9%. Now: the last hidden Dense layer (64
    units), at the shallowest depth from 4 (16 leaves for 10 classes) that agrees with the model on 90%."""
    ex = nbviz.explore(digits.model, digits.x_test, digits.y_test, class_names=digits.class_names)
    ex.tab = "rules"
    panel = ex.panels["rules"]
    assert panel.shown.layer == "dense" and panel.shown.source == "activations of dense"
    dense = np.asarray(keras.Model(digits.model.inputs[0], digits.model.get_layer("dense").output)(digits.x_test))
    fidelity = _fidelities(digits.model, digits.x_test, dense, None, digits.class_names)
    expected = next(d for d in range(4, MAX_DEPTH + 1) if fidelity[d] >= FIDELITY_GOAL)
    assert panel.depth.value == panel.rules.max_depth == expected
    assert panel.rules.fidelity == pytest.approx(fidelity[expected]) and panel.rules.fidelity >= FIDELITY_GOAL
    assert max(fidelity[d] for d in range(1, 4)) < 0.6  # depth 3 (the old default) cannot name 10 classes
    assert "The shallowest depth whose rules agree with the model on 90% is shown." in panel.summary.value
    panel.depth.value = 2  # a person's choice stays, and the summary no longer explains the default
    assert panel.rules.max_depth == 2 and "shallowest" not in panel.summary.value
    ex.layer = "conv2"  # a layer picked in the Explorer: the rules stay where they are (what a tab shows never
    assert panel.shown.layer == "dense"  # depends on the order of earlier clicks: a fresh Explorer shows the same)
    panel.layer_choice.value = ""  # "the current layer": now they follow it
    assert panel.shown.layer == "conv2"


def test_default_rules_of_the_cancer_mlp_are_over_named_features(cancer):
    ex = nbviz.explore(
        cancer.model, cancer.x_test, cancer.y_test, feature_names=cancer.feature_names, class_names=cancer.class_names
    )
    ex.tab = "rules"
    panel = ex.panels["rules"]
    assert panel.shown.layer is None and panel.shown.source == "input features"
    fidelity = _fidelities(cancer.model, cancer.x_test, None, cancer.feature_names, cancer.class_names)
    expected = next(d for d in range(1, MAX_DEPTH + 1) if fidelity[d] >= FIDELITY_GOAL)
    assert panel.rules.max_depth == expected and panel.rules.fidelity >= FIDELITY_GOAL
    conditions = [r.text.removeprefix("if ").split(" then ")[0] for r in panel.rules.rules]
    named = {
        name for text in conditions for name in cancer.feature_names if f"{name} <=" in text or f"{name} >" in text
    }
    assert named and all(any(name in text for name in cancer.feature_names) for text in conditions)


def test_a_model_without_readable_layers_says_why():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
            keras.layers.GlobalAveragePooling2D(name="gap"),
            keras.layers.Dense(3, activation="softmax", name="out"),
        ]
    )
    assert rule_layers(model_graph(model), ["out"]) == []
    x = np.random.default_rng(0).normal(size=(60, 8, 8, 1)).astype("float32")
    ex = nbviz.explore(model, x)
    ex.tab = "rules"
    assert "no hidden layer with weights whose output is one vector" in ex.panels["rules"].summary.value


def test_rule_layers_are_hidden_flat_layers_with_weights(digits, cancer):
    assert rule_layers(model_graph(digits.model), ["probs"]) == ["dense"]  # not flatten (512, no weights), dropout
    assert rule_layers(model_graph(cancer.model), ["probs"]) == ["hidden1", "hidden2"]


@pytest.mark.parametrize(
    "fidelities, classes, expected",
    [
        ({1: 0.86, 2: 0.88, 3: 0.91, 4: 0.91}, 2, (3, True)),
        ({4: 0.67, 5: 0.83, 6: 0.93}, 10, (6, True)),
        ({4: 0.5, 5: 0.7, 6: 0.7}, 10, (5, False)),  # the most faithful, the shallowest of equals
        ({1: 0.95}, None, (1, True)),
    ],
)
def test_readable_depth(fidelities, classes, expected):
    assert readable_depth(fidelities.get, classes) == expected
