"""Names are text, never markup: a name of every kind (model, layer, class, feature, token, metric, dataset,
selection, loss) that holds HTML reaches every HTML widget and the report escaped, on TensorFlow and on JAX.

The scan reads what the widgets send (a recording comm), so a name shown for a moment (a projector selection, a
note while a tab computes) is caught as well as one still on show. On TensorFlow, names it cannot trace (a
layer's ``<img ...>``) are refused at ``explore()``, before anything is traced: a traced name scope that fails
leaves TensorFlow's name stack broken for the rest of the process (a later, unrelated ``fit`` fails).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

import nbviz
from nbviz.testing import panel_errors, recording

from .interaction import walk_everything

REPO = Path(__file__).resolve().parents[2]
ON_TENSORFLOW = keras.backend.backend() == "tensorflow"
HTML_MODELS = {"HTMLModel", "HTMLMathModel"}
#: Where a name's markup would start if it went into HTML unescaped ("<img src=x" never starts nbviz's own).
RAW = "<img src=x"


def planted(kind: str) -> str:
    """A name of ``kind`` that runs a script wherever it lands in HTML unescaped; ``kind`` says which leaked."""
    return f"<img src=x onerror=alert('{kind}')>"


def escaped(kind: str) -> str:
    """How :func:`planted` reads once escaped (what the HTML holds where the name is shown as text)."""
    return f"&lt;img src=x onerror=alert(&#x27;{kind}&#x27;)&gt;"


def layer_name(kind: str) -> str:
    """Layer and model names: planted where the backend can trace them (JAX), plain on TensorFlow."""
    return kind if ON_TENSORFLOW else planted(kind)


def html_sent(comm: Any) -> list[str]:
    """Every text sent to the browser as HTML while recording: the values of HTML widgets, and descriptions
    that a widget renders as HTML (``description_allow_html``)."""
    models: dict[str, str] = {}
    allow: dict[str, bool] = {}
    texts = []
    for comm_id, _, data, _ in comm.messages:
        state = (data or {}).get("state", {}) if isinstance(data, dict) else {}
        if "_model_name" in state:
            models[comm_id] = state["_model_name"]
        if "description_allow_html" in state:
            allow[comm_id] = bool(state["description_allow_html"])
        if models.get(comm_id) in HTML_MODELS and isinstance(state.get("value"), str):
            texts.append(state["value"])
        if allow.get(comm_id) and isinstance(state.get("description"), str):
            texts.append(state["description"])
    return texts


def leaks(texts: list[str]) -> list[str]:
    """Each place a planted name went into HTML unescaped, or escaped twice (shown as "&lt;img"), with context."""
    found = []
    for text in texts:
        for pattern in (RAW, "&amp;lt;img"):
            found += [text[max(i - 80, 0) : i + 60] for i in (m.start() for m in re.finditer(re.escape(pattern), text))]
    return sorted(set(found))


def shown_kinds(texts: list[str], kinds: list[str]) -> set[str]:
    """The kinds whose planted name reached the HTML, escaped (the control: the scan sees the names)."""
    joined = "\n".join(texts)
    return {kind for kind in kinds if escaped(kind) in joined}


# ------------------------------------------------------------------------------------------------ models
def markup_loss() -> Callable[[Any, Any], Any]:
    def loss(y_true: Any, y_pred: Any) -> Any:
        return keras.losses.sparse_categorical_crossentropy(y_true, y_pred)

    loss.__name__ = loss.__qualname__ = planted("loss")
    return loss


def tabular() -> keras.Model:
    """Four features -> Dense -> a weightless Activation (the gradients tab's "has no weights") -> 3 classes."""
    keras.utils.set_random_seed(2)
    inputs = keras.Input((4,), name=layer_name("input"))
    h = keras.layers.Dense(6, name=layer_name("dense"))(inputs)
    h = keras.layers.Activation("relu", name=layer_name("relu"))(h)
    out = keras.layers.Dense(3, activation="softmax", name=layer_name("probs"))(h)
    model = keras.Model(inputs, out, name=layer_name("model"))
    model.compile(
        optimizer="adam", loss=markup_loss(), metrics=[keras.metrics.SparseCategoricalAccuracy(name=planted("metric"))]
    )
    return model


def images() -> keras.Model:
    """8x8 pictures -> two convolutions (Grad-CAM's maps, whose note names the layer) -> 3 classes."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((8, 8, 1), name=layer_name("image"))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name=layer_name("conv1"))(inputs)
    h = keras.layers.Conv2D(4, 3, activation="relu", name=layer_name("conv2"))(h)
    h = keras.layers.GlobalAveragePooling2D(name=layer_name("pool"))(h)
    out = keras.layers.Dense(3, activation="softmax", name=layer_name("classes"))(h)
    return keras.Model(inputs, out, name=layer_name("cnn"))


def tokens() -> keras.Model:
    """Token ids -> embedding -> self-attention -> pooling -> 3 classes (tokens, attention, token saliency)."""
    keras.utils.set_random_seed(4)
    ids = keras.Input((6,), dtype="int32", name=layer_name("ids"))
    h = keras.layers.Embedding(20, 8, name=layer_name("embedding"))(ids)
    h = keras.layers.MultiHeadAttention(2, 4, name=layer_name("attention"))(h, h)
    h = keras.layers.GlobalAveragePooling1D(name=layer_name("mean"))(h)
    out = keras.layers.Dense(3, activation="softmax", name=layer_name("label"))(h)
    return keras.Model(ids, out, name=layer_name("text"))


CLASSES = [planted(f"class{i}") for i in range(3)]


# ------------------------------------------------------------------------------------------------ walks
def walk(ex: nbviz.Explorer, sample: int = 1, maximise: bool = True) -> None:
    """Everything a person can open: every tab on every layer, the controls that show text of their own, a
    hover over every node of the graph, a brushed projector selection and a named one, every dataset, and
    (``maximise``) an input optimised for a unit of every layer."""
    walk_everything(ex, sample)
    names = list(ex.analysis.graph.names)
    ex.tab = "saliency"
    saliency = ex.panels["saliency"]
    for _, method in saliency.method.options:  # Grad-CAM's note names the layer its maps come from
        saliency.method.value = method
        for layer in names:
            ex.layer = layer
    graph = ex.graph_view
    for _, choice in graph.color_choice.options:
        graph.color_choice.value = choice
        for mark, rows in ((graph.nodes, graph.names), (graph.groups, graph.group_rows)):
            for i in range(len(rows)):
                graph._hover(mark, {"data": {"index": i}})
    graph.find("img")
    graph.find(planted("search"))
    ex.layer = names[-2]
    ex.tab = "projector"
    brush(ex.panels["projector"])
    ex.select(planted("selection"), [0, 1, 2])
    ex.tab = "diagnostics"
    diagnostics = ex.panels["diagnostics"]
    for dataset in diagnostics.dataset.options:
        diagnostics.dataset.value = dataset
        diagnostics.cm.selected = np.array([[0, 0]])  # a cell of another dataset: a note names it
    if maximise:
        ex.tab = "units"
        for layer in names:
            ex.layer = layer
            if not ex.panels["units"].run.disabled:
                ex.panels["units"].start(wait=True)
    if "attention" in ex.panels:
        ex.tab = "attention"
        attention = ex.panels["attention"]
        attention._summarise()
        for view in ("model", "head", "lines"):
            attention.view.value = view
            attention._query_hovered(0)
    for panel in ex.panels.values():
        assert panel.error is None, panel.last_error


def brush(panel: Any) -> None:
    """A rectangle over the projector's points, as the browser sends it: a selection named after the layer."""
    c = panel.values
    panel.mode.value = "brush"
    panel.plot.brush.brushing = True
    panel.plot.brush.selected_x = np.array([float(c[:, 0].min()) - 1, float(c[:, 0].max()) + 1])
    panel.plot.brush.selected_y = np.array([float(c[:, 1].min()) - 1, float(c[:, 1].max()) + 1])
    panel.plot.brush.brushing = False
    assert panel.selection.value  # the selection was made and said


def explore_and_walk(
    tmp_path: Path, build: Callable[[], keras.Model], x: Any, y: Any, maximise: bool = True, **options: Any
) -> list[str]:
    """The HTML of everything the Explorer sent while walked, and of its report with every tab and layer."""
    with recording() as comm:
        ex = nbviz.explore(build(), x, y, class_names=CLASSES, **options)
        walk(ex, maximise=maximise)
        tabs = [t for t in ex.panels if t != "training"]
        report = ex.save_html(tmp_path / "report.html", layers=list(ex.analysis.graph.names), samples=[0, 1], tabs=tabs)
        texts = html_sent(comm)
    ex.close()
    return [*texts, report.read_text()]


# ------------------------------------------------------------------------------------------------ tests
def test_the_scan_finds_a_name_put_into_html_unescaped():
    # The control: a planted name put in raw, or escaped twice, is found; escaped once, it is not.
    with recording() as comm:
        from ipywidgets import HTML, Label

        HTML(f"<b>{planted('layer')}</b>")
        HTML("&amp;lt;img src=x")
        HTML(f"<b>{escaped('layer')}</b>")
        Label(planted("label"))  # text, never markup: not scanned
    texts = html_sent(comm)
    assert len(texts) == 3 and len(leaks(texts)) == 2
    assert shown_kinds(texts, ["layer", "label"]) == {"layer"}


def test_one_module_escapes_text_for_html():
    # One door: every text enters HTML through nbviz.ui.markup.escape, so no other module imports html to escape
    # on its own (and a reader checks one function, not a dozen call sites with their own habits).
    package = Path(nbviz.__file__).parent
    importers = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            if any(n == "html" or n.startswith("html.") for n in names):
                importers.append(path.relative_to(package).as_posix())
    assert importers == ["ui/markup.py"]


def test_names_of_every_kind_are_escaped_in_every_html_widget_and_the_report(tmp_path: Path):
    rng = np.random.default_rng(0)
    x, y = rng.random((24, 4), dtype=np.float32), np.arange(24) % 3
    live = nbviz.LiveTraining(monitor=(x[:8], y[:8]), every=2)
    model = tabular()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[live])
    features = [planted(f"feature{i}") for i in range(4)]
    texts = explore_and_walk(
        tmp_path,
        lambda: model,
        x,
        y,
        feature_names=features,
        datasets={planted("dataset"): (x[:12], y[:12])},
        loss=markup_loss(),
        training=live,
    )
    found = leaks(texts)
    assert found == [], "\n\n".join(found)
    kinds = ["model", "dense", "relu", "probs", "class0", "feature0", "dataset", "selection", "loss", "search"]
    wanted = {"class0", "feature0", "dataset", "selection", "loss", "search"}
    if not ON_TENSORFLOW:  # layer and model names hold markup on JAX only (TensorFlow refuses them, below)
        wanted |= {"model", "dense", "relu", "probs"}
    assert shown_kinds(texts, kinds) >= wanted


def test_layer_names_in_image_notes_are_escaped(tmp_path: Path):
    rng = np.random.default_rng(1)
    x, y = rng.random((12, 8, 8, 1), dtype=np.float32), np.arange(12) % 3
    texts = explore_and_walk(tmp_path, images, x, y)
    found = leaks(texts)
    assert found == [], "\n\n".join(found)
    assert shown_kinds(texts, ["class1"]) == {"class1"}
    if not ON_TENSORFLOW:
        assert shown_kinds(texts, ["cnn", "conv1", "conv2", "pool"]) == {"cnn", "conv1", "conv2", "pool"}


def test_tokens_and_attention_layers_are_escaped(tmp_path: Path):
    rng = np.random.default_rng(2)
    x, y = rng.integers(0, 20, size=(8, 6)).astype("int32"), np.arange(8) % 3
    vocabulary = [planted(f"token{i}") for i in range(20)]
    # Token ids are not optimised (no "maximise activation" on an integer input).
    texts = explore_and_walk(tmp_path, tokens, x, y, maximise=False, vocabulary=vocabulary)
    found = leaks(texts)
    assert found == [], "\n\n".join(found)
    token = f"token{x[1, 0]}"  # the sample the walk ends on shows its tokens
    assert shown_kinds(texts, [token, "class0"]) == {token, "class0"}
    if not ON_TENSORFLOW:
        assert shown_kinds(texts, ["text", "attention"]) == {"text", "attention"}


def test_names_are_escaped_in_a_comparison(tmp_path: Path):
    # compare() shows both models' names, the matched layers and the classes: the same door.
    rng = np.random.default_rng(3)
    x, y = rng.random((16, 4), dtype=np.float32), np.arange(16) % 3
    features = [planted(f"feature{i}") for i in range(4)]
    with recording() as comm:
        view = nbviz.compare(tabular(), tabular(), x, y, class_names=CLASSES, feature_names=features)
        assert panel_errors(view) == []
        for sample in (0, 1):
            view.sample = sample
        report = view.save_html(tmp_path / "compare.html", layers=list(view.analysis.graph.names), samples=[0, 1])
        texts = [*html_sent(comm), report.read_text()]
    view.close()
    found = leaks(texts)
    assert found == [], "\n\n".join(found)
    assert shown_kinds(texts, ["class0"]) == {"class0"}
    if not ON_TENSORFLOW:
        assert shown_kinds(texts, ["model", "dense"]) == {"model", "dense"}


# ------------------------------------------------------------------------------------------------ TensorFlow
@pytest.mark.skipif(not ON_TENSORFLOW, reason="TensorFlow's own rule for names")
@pytest.mark.parametrize("where", ["layer", "model", "nested"])
def test_names_tensorflow_cannot_trace_are_refused_at_explore(where: str, tmp_path: Path):
    inputs = keras.Input((4,), name="features")
    inner_in = keras.Input((4,))
    inner = keras.Model(inner_in, keras.layers.Dense(3, name="<b>&amp;inner" if where == "nested" else "d")(inner_in))
    h = (
        inner(inputs)
        if where == "nested"
        else keras.layers.Dense(3, name=planted("layer") if where == "layer" else "h")(inputs)
    )
    out = keras.layers.Dense(2, activation="softmax", name="out")(h)
    model = keras.Model(inputs, out, name=planted("model") if where == "model" else "m")
    model.save(tmp_path / "model.keras")
    x, y = np.random.default_rng(0).random((6, 4), dtype=np.float32), np.arange(6) % 2
    bad = {"layer": planted("layer"), "model": planted("model"), "nested": "<b>&amp;inner"}[where]
    for given in (model, tmp_path / "model.keras"):  # a file someone else wrote, as the issue found it
        with pytest.raises(ValueError) as raised:
            nbviz.explore(given, x, y)
        message = str(raised.value)
        assert (
            message.startswith("model: expected ")
            and f"got the {'model' if where == 'model' else 'layer'} {bad!r}" in message
        )
        assert "'<'" in message and "TensorFlow" in message  # says why: the character TensorFlow refuses
        assert "\x1b[" not in message  # no terminal colour codes (Keras's own errors hold them)
    # Nothing was traced: TensorFlow's name stack is whole, and an unrelated model still trains.
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="fine")])
    other.compile(optimizer="sgd", loss="mse")
    other.fit(x, np.zeros((6, 2)), verbose=0)
    assert all("<" not in v.path for v in [*other.weights, *other.optimizer.variables])


@pytest.mark.skipif(not ON_TENSORFLOW, reason="TensorFlow's own rule for names")
def test_names_tensorflow_can_trace_are_accepted():
    # Its scope rule allows ">" and a leading "_" or "-" inside the model: such names stay explorable.
    inputs = keras.Input((4,), name="_features")
    h = keras.layers.Dense(3, name="a>b")(inputs)
    h = keras.layers.Dense(3, name="-c.d")(h)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="_out")(h), name="m.1")
    ex = nbviz.explore(model, np.random.default_rng(0).random((6, 4), dtype=np.float32), np.arange(6) % 2)
    assert list(ex.analysis.graph.names)[1:] == ["a>b", "-c.d", "_out"]
    assert panel_errors(ex) == []  # every tab traces them
    ex.close()


@pytest.mark.skipif(not ON_TENSORFLOW, reason="runs the JAX process from the TensorFlow suite")
def test_the_same_names_on_jax_hold_markup_and_are_escaped():
    # Keras picks its backend once per process: on JAX, layer and model names hold markup too (JAX traces them).
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "2", "JAX_ENABLE_X64": "0"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", __file__]
    run = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    tail = run.stdout[-4000:]
    assert run.returncode == 0, tail + run.stderr[-2000:]
    passed = re.search(r"(\d+) passed", tail)
    assert passed is not None and int(passed[1]) >= 5 and "failed" not in tail, tail  # the walks ran there
