"""Models people bring (``tests/zoo.py``: KerasHub task models and backbones, keras.applications, models written as
in the official Keras examples), each explored as its own ``predict`` takes its data and walked over every tab and
layer; the numbers shown are checked against Keras's own graph."""

from __future__ import annotations

import warnings
from typing import Any

import keras
import numpy as np
import pytest

import nbviz
from nbviz.compute.analysis.analysis import analysis_of
from nbviz.compute.methods.findings import findings
from nbviz.compute.model.checkpoints import copy_model
from nbviz.testing import layer_kinds, panel_errors
from tests.zoo import ZOO, Case

# The largest networks (5-28M parameters): the slowest to walk, so walked over one layer of each kind; they
# still run in `make test`.
BIG = {"efficientnetv2", "densenet", "convnext", "inception"}


@pytest.fixture(scope="module", params=[pytest.param(k, marks=pytest.mark.slow) if k in BIG else k for k in ZOO])
def explored(request: pytest.FixtureRequest) -> Any:
    """(case, explorer), built once per model for every test of this module."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        case = ZOO[request.param]()
        if keras.backend.backend() != "tensorflow" and _takes_strings(case.x):
            # Keras runs string layers only on TensorFlow (or in a tf.data pipeline): the Explorer says so.
            with pytest.raises(ValueError, match="holds strings, which a model cannot take on Keras's"):
                nbviz.explore(case.model, case.x, case.y, loss=case.loss)
            pytest.skip(f"{case.name}: strings reach a model on TensorFlow only")
        ex = nbviz.explore(case.model, case.x, case.y, loss=case.loss)
    yield case, ex
    ex.close()


def _takes_strings(x: Any) -> bool:
    return any(np.asarray(a).dtype.kind in "OUS" for a in (x.values() if isinstance(x, dict) else [x]))


def _rows(x: Any, rows: slice | list[int]) -> Any:
    return {k: v[rows] for k, v in x.items()} if isinstance(x, dict) else x[rows]


def _first(outputs: Any) -> np.ndarray:
    return np.asarray(keras.tree.flatten(outputs)[0])


def _scale(reference: np.ndarray) -> float:
    finite = np.abs(reference[np.isfinite(reference)])
    return float(finite.max()) if finite.size else 1.0


def test_every_tab_on_every_layer_shows_numbers_or_a_note(explored, request):
    case, ex = explored
    other_backend = keras.backend.backend() != "tensorflow"
    # A big network's hundreds of layers are a few dozen kinds, and on another backend what differs is the seam,
    # not the layer or the numpy above it: the first and last layer of each kind take every path a panel has.
    big = request.node.callspec.params["explored"] in BIG
    layers = layer_kinds(ex.analysis.graph) if big or other_backend else None  # None: every layer
    tabs = list(ex.panels)
    if other_backend:
        # SHAP and findings run the input and loss gradients that saliency and gradients run here (the walk of
        # tests/backend_runs.py takes them on the demo CNN; the compute tests check their numbers on this
        # backend), and the first visit of each is most of a model's walk (compiles).
        tabs = [tab for tab in tabs if tab not in ("shap", "findings")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert panel_errors(ex, tabs, layers) == []
        saliency = ex.panels["saliency"]
        ex.tab = "saliency"
        for _, method in saliency.method.options:
            saliency.method.value = method
            assert saliency.error is None, (method, saliency.error)
    # Where a tab cannot apply it says so in grey; the tab on show is drawn for the state on show.
    assert ex.panels["saliency"].state == ex.state


def _reference_activations(model: keras.Model, x: Any, names: list[str]) -> dict[str, np.ndarray]:
    """Each named layer's output from ``keras.Model(inputs, layer.output)``, Keras's own graph run eagerly.

    A name inside a nested model ("backbone/layer") is taken from that model's graph when it takes the outer
    model's inputs (a KerasHub backbone inside its task model). Layers called more than once, outputs of
    another graph, and outputs that differ between two calls (a sampling layer's noise), are left out.
    """
    groups: dict[str, list[tuple[str, Any]]] = {}
    for name in names:
        if "@" in name or "[" in name:
            continue
        outer, _, inner = name.rpartition("/")
        if "/" in outer:  # inside a block inside a nested model: only its block's call connects it
            continue
        holder = model.get_layer(outer) if outer else model
        if not isinstance(holder, keras.Model) or (outer and not _fed_by_inputs(model, holder)):
            continue  # a custom block's sub-layers have no graph of their own
        layer = holder.get_layer(inner)
        if isinstance(layer, keras.layers.InputLayer) or len(layer._inbound_nodes) != 1:
            continue
        groups.setdefault(outer, []).append((name, keras.tree.flatten(layer.output)[0]))
    found: dict[str, np.ndarray] = {}
    for outer, pairs in groups.items():
        holder = model.get_layer(outer) if outer else model
        try:
            sub = keras.Model(holder.input, [tensor for _, tensor in pairs])
        except ValueError:  # some outputs belong to another graph (FeatureSpace's own): keep the connected ones
            pairs = [(name, t) for name, t in pairs if _connected(holder.input, t)]
            sub = keras.Model(holder.input, [tensor for _, tensor in pairs])
        feed = {k: x[k] for k in holder.input} if isinstance(holder.input, dict) and outer else x
        first, second = (keras.tree.flatten(sub(feed, training=False)) for _ in range(2))
        for (name, _), a, b in zip(pairs, first, second):
            if np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True):
                found[name] = np.asarray(a)
    return found


def _fed_by_inputs(model: keras.Model, nested: keras.Model) -> bool:
    """Whether the outer model calls ``nested`` on its own inputs (a KerasHub task model's backbone)."""
    if not model._inbound_nodes and not hasattr(model, "_nodes_by_depth"):
        return nested is model.layers[0]  # subclassed, no graph: its first layer takes its inputs (a VAE's encoder)
    nodes = nested._inbound_nodes
    outer = {id(t) for t in keras.tree.flatten(model.input)}
    return len(nodes) == 1 and {id(t) for t in nodes[0].input_tensors} == outer


def _connected(inputs: Any, tensor: Any) -> bool:
    try:
        keras.Model(inputs, tensor)
    except ValueError:
        return False
    return True


def test_activations_equal_keras_submodels(explored):
    case, ex = explored
    samples = [0, ex.analysis.data.n_samples - 1]
    names = list(ex.analysis.graph.names)
    reference = _reference_activations(case.model, _rows(case.x, samples), names)
    assert len(reference) >= min(3, len(names) // 3), sorted(reference)  # most layers have a reference
    for row, sample in enumerate(samples):
        shown = ex.analysis.activations(sample)
        for name, ref in reference.items():
            np.testing.assert_allclose(
                shown[name][0], ref[row], rtol=1e-4, atol=1e-4 * _scale(ref), err_msg=f"{case.name}: {name}"
            )


def test_predictions_equal_model_predict(explored):
    case, ex = explored
    expected = _first(case.model.predict(case.x, verbose=0))
    probe = ex.analysis.probe
    for sample in range(ex.analysis.data.n_samples):
        out = ex.analysis.output(sample)
        np.testing.assert_allclose(out, expected[sample], rtol=1e-4, atol=1e-4 * _scale(expected))
        if not ex.analysis.data.is_classifier:
            continue
        prediction = ex.analysis.prediction(sample)
        probs = probe.probabilities(expected[sample])  # softmax of the logits, by the model's compiled loss
        if probs.ndim == 1 and probs.size > 1:
            assert prediction.class_index == int(np.argmax(probs))
            assert prediction.confidence == pytest.approx(float(np.max(probs)), rel=1e-4)


# Models Keras cannot copy (neither by saving them in memory nor by clone_model): the Keras VAE example (its
# __init__ takes the encoder and decoder, with no get_config) and a tied embedding inside a nested model. (The ViT
# example's Patches layer takes no **kwargs: it is cloned from the config entries its __init__ takes.)
NOT_COPIED = {"vae_call", "tied"}


def test_a_checkpoint_copy_computes_like_the_model_and_has_its_own_weights(explored, request):
    """A checkpoint is shown on a copy of the model (nbviz.compute.model.checkpoints.copy_model): the copy gives the
    model's outputs, and weights loaded into it leave the model's alone; a model Keras cannot copy says why."""
    case, ex = explored
    live = ex.analysis
    sample = live.probe.structured(live.data.inputs(0))
    if request.node.callspec.params["explored"] in NOT_COPIED:
        with pytest.raises(ValueError, match="could not copy it"):
            copy_model(case.model, sample)
        return
    copy = copy_model(case.model, sample)
    other = analysis_of(copy, live)
    assert list(other.graph.names) == list(live.graph.names)  # the Explorer's layer names hold for the copy
    expected = live.output(0)
    np.testing.assert_allclose(other.output(0), expected, rtol=1e-4, atol=1e-4 * _scale(expected))
    # Every layer under its name computes what the model's layer of that name computes.
    mine, theirs = live.activations(0), other.activations(0)
    assert set(mine) == set(theirs)
    random = _random_and_after(live.probe.layers, live.graph.edges)
    for name, values in mine.items():
        if name in random:
            continue  # a random layer (the VAE's sampling) draws from its own seed: the copy's is another
        np.testing.assert_allclose(theirs[name], values, rtol=1e-4, atol=1e-4 * _scale(values), err_msg=name)
    original = [w.copy() for w in case.model.get_weights()]
    copy.set_weights([np.zeros_like(w) for w in original])
    assert all(np.array_equal(a, b) for a, b in zip(original, case.model.get_weights()))
    np.testing.assert_allclose(live.output(0), expected)  # the model's own version and outputs are unchanged


def _random_and_after(layers: dict[str, Any], edges: Any) -> set[str]:
    """The layers that hold a seed generator (their outputs are drawn at random) and every layer after them.

    Whether two calls differ says nothing here: the probe's traced passes read a seed's state without advancing
    it, and its first calls run eagerly and advance it."""
    found = {
        n for n, layer in layers.items() if any(isinstance(v, keras.random.SeedGenerator) for v in vars(layer).values())
    }
    for source, target in edges:  # in topological order
        if source in found:
            found.add(target)
    return found


APPLICATIONS = {"MobileNetV3Small", "EfficientNetV2B0", "DenseNet121", "ConvNeXtTiny", "InceptionV3"}


def test_no_application_has_a_critical_gradient_finding_at_random_initialisation(explored):
    case, ex = explored
    if case.name not in APPLICATIONS:
        pytest.skip("a keras.applications model's findings")
    found = [f for f in findings(case.model, case.x, case.y, probe=ex.analysis.probe) if f.kind.endswith("_gradients")]
    # MobileNetV3Small's norms in inference mode (BatchNorm's initial statistics) spanned 7e-16 to 0.14: 64 layers
    # were called vanishing and 24 exploding, all critical; ConvNeXtTiny's LayerScale (a median of 2.2e-05) made
    # its stem exploding. Gradient health is judged in training mode, as fit computes it.
    assert [f.message for f in found if f.severity == "critical"] == []
    if case.name in ("MobileNetV3Small", "ConvNeXtTiny"):
        assert [f.message for f in found] == []


def test_logit_heads_are_classifiers():
    """KerasHub classifiers end in a Dense layer without softmax; the ViT example is compiled with from_logits."""
    for key in ("bert", "gpt2", "t5", "vit_example"):
        case = ZOO[key]()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ex = nbviz.explore(case.model, _rows(case.x, slice(0, 4)), _rows(case.y, slice(0, 4)))
        assert ex.analysis.data.is_classifier, case.name
        probs = ex.analysis.probe.probabilities(ex.analysis.output(0))
        np.testing.assert_allclose(probs.sum(axis=-1), 1.0, rtol=1e-5)


def test_a_language_model_is_scored_per_real_token():
    """GPT-2's labels are the next tokens; diagnostics count one row per real token, padding left out."""
    case: Case = ZOO["gpt2"]()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex = nbviz.explore(case.model, case.x, case.y)
        report = ex.analysis.reports()["data"]
    mask = case.x["padding_mask"].astype(bool)
    predicted = np.argmax(case.model.predict(case.x, verbose=0), axis=-1)
    assert report.metrics["accuracy"] == pytest.approx(float(np.mean(predicted[mask] == case.y[mask])))
    assert int(report.confusion.sum()) == int(mask.sum())
    shown = ex.analysis.prediction(0)
    real = predicted[0][mask[0]]
    assert shown.predicted.split()[: len(real)] == [str(k) for k in real[:12]]


def test_a_tied_embedding_records_the_output_head():
    """GPT-2 and T5 reuse the token embedding as the output head: that graph node's activation is the logits."""
    for key in ("gpt2", "t5"):
        case = ZOO[key]()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ex = nbviz.explore(case.model, case.x, case.y)
        logits = case.model.predict(_rows(case.x, slice(2, 3)), verbose=0)
        np.testing.assert_allclose(
            ex.analysis.activations(2)["token_embedding"][0], logits[0], rtol=1e-4, atol=1e-4 * _scale(logits)
        )


def test_string_features_are_shown_as_text():
    """The FeatureSpace model takes a dict of raw features, strings among them; the sample view lists them."""
    case = ZOO["structured"]()
    ex = nbviz.explore(case.model, case.x, case.y)
    ex.sample = 3
    rows = dict(ex.analysis.sample_display(3).rows)
    assert rows["thal"] == str(case.x["thal"][3])
    assert rows["age"] == f"{case.x['age'][3]:.4g}"
    assert "thal" in ex.sample_view.table.value and str(case.x["thal"][3]) in ex.sample_view.table.value
    ex.layer, ex.tab = "thal", "activations"
    assert "text input" in ex.panels["activations"].message.value


def _layer_at(model: keras.Model, name: str) -> keras.layers.Layer:
    """The layer a qualified name ("backbone/transformer_layer_0/self_attention") points at, by Keras's own
    lookups: get_layer through nested models, then a custom block's sub-layers by name."""
    layer: Any = model
    for part in name.split("/"):
        if isinstance(layer, keras.Model):
            layer = layer.get_layer(part)
        else:
            layer = next(sub for sub in layer._flatten_layers(include_self=False, recursive=False) if sub.name == part)
    return layer


@pytest.mark.parametrize("kind", ["text classifier", "causal LM"])
def test_live_training_during_fit_on_the_models_own_dataset(kind):
    """KerasHub models fitted on raw strings through their own preprocessors; LiveTraining monitors the
    preprocessed dataset (a causal LM's yields its padding mask as sample weights). The last record equals the
    gradient norms of Keras's own weighted loss on the final weights, and the Explorer takes the dataset too."""
    import tensorflow as tf

    from tests.zoo import bert_with_preprocessor, gpt2_with_preprocessor

    if kind == "text classifier":
        model, texts, labels = bert_with_preprocessor()
        raw = tf.data.Dataset.from_tensor_slices((texts, labels)).batch(4)
    else:
        model, texts = gpt2_with_preprocessor()
        raw = tf.data.Dataset.from_tensor_slices(texts).batch(4)
    monitor = raw.map(model.preprocessor)  # what fit trains on
    callback = nbviz.LiveTraining(monitor=monitor, every=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # What an Explorer shows before training: the first checkpoint must show it again after.
        before = nbviz.explore(model, monitor)
        names = [n for n in before.analysis.learning_layers]
        looked = {}
        for tab in ("weights", "activations", "gradients"):
            for layer in (names[0], names[len(names) // 2], names[-1]):
                before.tab, before.layer = tab, layer
                looked[tab, layer] = np.array(before.panels[tab].values, copy=True)
        before.close()
        model.fit(raw, epochs=2, verbose=0, callbacks=[callback])
    history = callback.history
    assert list(history["grad_step"]) == list(range(2 * 4 + 1))

    x, y, w = keras.utils.unpack_x_y_sample_weight(next(iter(monitor.unbatch().batch(64))))
    assert (w is None) == (kind == "text classifier")
    layers = [_layer_at(model, name) for name in history["layers"]]
    with tf.GradientTape() as tape:
        loss = model.loss(y, model(x, training=False), sample_weight=w)
    grads = tape.gradient(loss, [layer.trainable_weights for layer in layers])
    dense = [[tf.convert_to_tensor(g).numpy() for g in layer_grads] for layer_grads in grads]  # embeddings: sparse
    expected = [np.sqrt(sum(float(np.sum(np.square(g))) for g in layer_grads)) for layer_grads in dense]
    np.testing.assert_allclose(history["grad_norm"][-1], expected, rtol=1e-3)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex = nbviz.explore(model, monitor, training=callback)
        assert panel_errors(ex) == []
    if w is not None:  # the dataset's padding mask weighs the gradients tab's loss as it weighed training's
        np.testing.assert_array_equal(ex.analysis.data.weights, np.asarray(w, np.float32))
    # The first checkpoint (when fit began) shows the numbers the Explorer showed before training.
    assert [s.epoch for s in callback.snapshots] == [0, 1, 2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ex.checkpoint = 0
        for (tab, layer), values in looked.items():
            ex.tab, ex.layer = tab, layer
            shown = np.asarray(ex.panels[tab].values)
            np.testing.assert_allclose(shown, values, rtol=1e-4, atol=1e-5 * _scale(values), err_msg=f"{tab} {layer}")
        ex.checkpoint = -1
        ex.tab, ex.layer = "weights", names[0]
        assert not np.allclose(ex.panels["weights"].values, looked["weights", names[0]])  # live: trained
    ex.close()


@pytest.mark.parametrize(
    ("change", "exc", "match"),
    [
        (lambda x: {k: v for k, v in x.items() if k != "segment_ids"}, ValueError, "x: expected a dict with keys"),
        (
            lambda x: {**x, "token_ids": x["token_ids"][:, :5]},  # each fits its spec (None, None), not the others
            ValueError,
            # Traced, TensorFlow says "Dimensions must be equal"; run eagerly (the first passes), this:
            r"x: the model cannot be called on inputs of shapes .*token_ids \(8, 5\): Incompatible shapes: "
            r"\[1,5,16\] vs. \[1,12,16\]$",
        ),
        (lambda x: {**x, "token_ids": x["token_ids"].astype(str)}, TypeError, "x\\[.*expected a numeric"),
    ],
    ids=["missing input", "wrong length", "strings for token ids"],
)
def test_data_the_model_cannot_take_is_named(change, exc, match):
    case = ZOO["bert"]()
    x = change(case.x)
    with pytest.raises(exc, match=match):
        nbviz.explore(case.model, x, case.y)


def test_a_vae_with_its_own_train_step():
    """The VAE example defines no call(): explore() says to explore its encoder or decoder (both walked above),
    and LiveTraining records its losses through fit with a grey note in place of layer statistics."""
    from tests.zoo import vae_example

    vae, images = vae_example()
    with pytest.raises(ValueError, match=r"defines no call\(\).*nbviz.explore\(model.encoder, ...\) or nbviz.explore"):
        nbviz.explore(vae, images)
    callback = nbviz.LiveTraining(monitor=images[:8], every=1)
    vae.fit(images, epochs=2, batch_size=8, verbose=0, callbacks=[callback])
    history = callback.history
    assert len(history["batch_loss"]) == 4 and np.all(np.isfinite(history["batch_loss"]))
    assert history["grad_norm"].shape == (0, 0)
    assert "Layer statistics are not recorded" in callback.view.status.value


def test_a_walk_over_layer_kinds_takes_the_first_and_last_of_each_kind():
    # A residual chain: input, then Dense (relu), Dense (linear), Add per block, and a softmax head.
    from nbviz.compute.model.graph import model_graph
    from nbviz.testing import residual_chain

    graph = model_graph(residual_chain(6))
    kinds = layer_kinds(graph)
    assert kinds == [n for n in graph.names if n in set(kinds)]  # in graph order
    by_class: dict[str, list[str]] = {}
    for node in graph.nodes:
        by_class.setdefault(node.class_name, []).append(node.name)
    for cls, names in by_class.items():  # Dense has two kinds (relu and linear): at least its first and last
        assert names[0] in kinds and names[-1] in kinds, cls
    assert len(kinds) < len(graph.names) / 2
    assert [n for n in by_class["Add"] if n in kinds] == [by_class["Add"][0], by_class["Add"][-1]]
