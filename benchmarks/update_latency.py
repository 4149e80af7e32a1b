"""Kernel-side latency of an Explorer update, and the most bytes one update sends, against the floor.

Run: python -m benchmarks.update_latency [--quick]

For the demo CNN, ResNet50 (weights=None), and KerasHub's BERT classifier and GPT-2 causal LM (random weights, the
smallest presets' sizes, 128 tokens), and a tiny KerasHub Gemma 3 causal LM on its attention and activations tabs
(its attention is a cached grouped-query decoder attention, read from its Softmax sub-layer): the median time of a
layer switch and of a sample change (a new sample, so nothing is cached) with each tab visible, measured from
setting the traitlet to the last widget message built, and the bytes those messages carry (JSON plus binary buffers,
recorded by a comm that keeps what ipywidgets would send). The floor is one compiled forward pass (weights and
activations tabs) or one compiled forward+backward pass (gradients tab), the forward pass for the attention tab too
(whose pass computes every attention layer unfused, with its weights kept, and every layer's output), measured side
by side in the same run. It runs with an IPython shell in the process, as in a kernel
(``nbviz.testing.like_a_kernel``): between notebook cells the model's version costs a gate check, not a read of the
weights (``version_check`` times both).
Targets: at most 1.5 x floor + 20 ms, at most 300 KB per update.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks._floors import compiled_passes  # noqa: E402
from benchmarks._timing import Row, measure, ms, table  # noqa: E402
from nbviz.testing import like_a_kernel, record_widget_messages  # noqa: E402

record_widget_messages()  # before any widget exists

import nbviz  # noqa: E402
from nbviz import demo  # noqa: E402


def _median_time(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _rows(x: Any, rows: slice) -> Any:
    return {k: v[rows] for k, v in x.items()} if isinstance(x, dict) else x[rows]


def bench(
    name: str,
    model: keras.Model,
    x: Any,
    y: np.ndarray,
    n_changes: int,
    tabs: tuple[str, ...] = ("weights", "activations", "gradients"),
) -> list[Row]:
    ex = nbviz.explore(model, x, y)
    n = len(y)
    forward, backward = compiled_passes(model, _rows(x, slice(0, 1)), y[:1])
    floors = {"weights": _median_time(forward, 30), "activations": 0.0, "gradients": _median_time(backward, 30)}
    floors["activations"] = floors["attention"] = floors["weights"]
    all_layers = [n.name for n in ex.analysis.graph.nodes if not n.is_model]
    with_weights = [n.name for n in ex.analysis.graph.nodes if n.has_weights]
    rows = []
    for tab in tabs:
        ex.tab = tab
        ex.sample = 0
        # A layer switch on the weights tab is timed over layers that have weights (the others show nothing), on
        # the attention tab over its attention layers (on any other layer it keeps the one it showed).
        layers = with_weights if tab == "weights" else all_layers
        layers = list(ex.analysis.attention_layers()) if tab == "attention" else layers
        order = np.random.default_rng(1).permutation(len(layers))
        sequence = [layers[k] for k in order]
        switch = measure(lambda i, seq=sequence: setattr(ex, "layer", seq[i % len(seq)]), n_changes)
        ex.layer = layers[len(layers) // 2] if tab == "attention" else with_weights[len(with_weights) // 2]
        ex.analysis.memo.clear()  # every sample new: its passes are computed
        change = measure(lambda i: setattr(ex, "sample", 1 + i % (n - 1)), min(n_changes, n - 1))
        floor = floors[tab]
        budget = 1.5 * floor + 0.020
        floor_name = "forward+backward" if tab == "gradients" else "forward"
        for what, (t, worst, size) in (("layer switch", switch), ("sample change", change)):
            ok = "yes" if t <= budget and size <= 300_000 else "NO"
            rows.append(
                Row(
                    "update_latency",
                    f"{name}, {tab} tab: {what}",
                    f"{ms(t)} (max {ms(worst)}), {size / 1000:.0f} KB",
                    f"{t / floor:.2f} x {floor_name} ({ms(floor)})",
                    f"<= {ms(budget)}, <= 300 KB: {ok}",
                )
            )
    ex.close()
    return rows


def run(quick: bool = False) -> list[Row]:
    with like_a_kernel():  # what a person in a notebook waits for: the version gate holds between cells
        return _run(quick)


def _run(quick: bool) -> list[Row]:
    digits = demo.digits_cnn()
    rows = bench("demo CNN", digits.model, digits.x_test[:40], digits.y_test[:40], n_changes=20 if quick else 60)
    resnet = keras.applications.ResNet50(weights=None)
    rng = np.random.default_rng(0)
    n = 8 if quick else 16
    x = rng.random((n, 224, 224, 3), dtype=np.float32)
    rows += bench("ResNet50", resnet, x, rng.integers(0, 1000, n), n_changes=10 if quick else 30)
    for name, (model, tokens, labels) in keras_hub_models(n).items():
        rows += bench(name, model, tokens, labels, n_changes=10 if quick else 30)
    model, tokens, labels = gemma3_model(n)
    rows += bench(
        "Gemma 3 causal LM (KerasHub)", model, tokens, labels, 10 if quick else 30, tabs=("attention", "activations")
    )
    return rows


def gemma3_model(n: int) -> tuple[keras.Model, dict[str, np.ndarray], np.ndarray]:
    """A tiny KerasHub Gemma 3 causal LM with random weights: 2 layers of 128 with 4 query heads over 1 key-value
    head (grouped-query, as Gemma 3 270M), its norms and sliding-window layers, a 32,000-token vocabulary (not
    262,144: its logits alone would be 134 MB a sample), on 128 tokens of which the last quarter is padding."""
    import keras_hub

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    length, vocab = 128, 32_000
    mask = np.ones((n, length), bool)
    mask[:, 3 * length // 4 :] = False
    ids = np.where(mask, rng.integers(1, vocab, (n, length)), 0).astype("int32")
    backbone = keras_hub.models.Gemma3Backbone(
        vocabulary_size=vocab, image_size=None, num_layers=2, num_query_heads=4, num_key_value_heads=1,
        hidden_dim=128, intermediate_dim=512, head_dim=32, use_post_ffw_norm=True, use_post_attention_norm=True,
        use_sliding_window_attention=True, sliding_window_size=512,
    )  # fmt: skip
    model = keras_hub.models.Gemma3CausalLM(backbone=backbone, preprocessor=None)
    return model, {"token_ids": ids, "padding_mask": mask}, np.roll(ids, -1, 1)


def keras_hub_models(n: int) -> dict[str, tuple[keras.Model, dict[str, np.ndarray], np.ndarray]]:
    """KerasHub task models built from their constructors with random weights, at the sizes of the smallest
    presets (BERT tiny: 2 layers of 128; GPT-2 at 2 layers of 128 with its 50,257-token vocabulary), on 128
    tokens of which the last quarter is padding: (model, inputs, labels) each."""
    import keras_hub

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    length = 128
    mask = np.ones((n, length), bool)
    mask[:, 3 * length // 4 :] = False

    def tokens(vocab: int) -> np.ndarray:
        return np.where(mask, rng.integers(1, vocab, (n, length)), 0).astype("int32")

    size = dict(num_layers=2, num_heads=2, hidden_dim=128, intermediate_dim=512, max_sequence_length=length)
    bert = keras_hub.models.BertTextClassifier(
        keras_hub.models.BertBackbone(vocabulary_size=30522, **size), num_classes=2, preprocessor=None
    )
    bert_x = {"token_ids": tokens(30522), "padding_mask": mask, "segment_ids": np.zeros((n, length), "int32")}
    gpt2 = keras_hub.models.GPT2CausalLM(
        keras_hub.models.GPT2Backbone(vocabulary_size=50257, **size), preprocessor=None
    )
    gpt2_ids = tokens(50257)
    return {
        "BERT classifier (KerasHub)": (bert, bert_x, rng.integers(0, 2, n)),
        "GPT-2 causal LM (KerasHub)": (gpt2, {"token_ids": gpt2_ids, "padding_mask": mask}, np.roll(gpt2_ids, -1, 1)),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, for a smoke run")
    print(table(run(parser.parse_args().quick)))
