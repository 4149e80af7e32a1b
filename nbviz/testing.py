"""What nbviz's tests and benchmarks share: a comm that records what widgets send, the arrays a mark syncs,
the count of live widgets, random walks over an Explorer's state, and walks over every tab and layer.

Importable from an installed nbviz (benchmarks run as scripts, with no ``sys.path`` editing); nothing here is
needed to use nbviz.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import comm
import ipywidgets as widgets
import numpy as np
from comm.base_comm import BaseComm

# Every tab but SHAP (its explainers are slow to build, and tested on their own) and training (none here).
TABS = ("weights", "activations", "gradients", "saliency", "rules", "diagnostics", "projector", "findings")


class RecordingComm(BaseComm):
    """A comm that keeps every message a widget sends, serialised as a kernel would send it.

    ``messages`` holds (comm id, message type, data, buffer sizes); ``texts`` the JSON of each message's data;
    ``sent`` adds up the bytes of JSON and buffers. A widget's comm id is ``widget.comm.comm_id``.
    """

    messages: list[tuple[str, str, Any, list[int]]] = []
    texts: list[str] = []
    buffers: list[bytes] = []
    sent = 0

    def publish_msg(
        self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None, **keys: Any
    ) -> None:
        text = json.dumps(data, default=str)
        raw = [bytes(memoryview(b)) for b in buffers or []]
        RecordingComm.messages.append((self.comm_id, msg_type, data, [len(b) for b in raw]))
        RecordingComm.texts.append(text)
        RecordingComm.buffers.extend(raw)
        RecordingComm.sent += len(text) + sum(len(b) for b in raw)

    @classmethod
    def reset(cls) -> None:
        cls.messages, cls.texts, cls.buffers, cls.sent = [], [], [], 0


@contextmanager
def recording() -> Iterator[type[RecordingComm]]:
    """Widgets created inside use a :class:`RecordingComm` (messages start empty); the old comm factory after."""
    RecordingComm.reset()
    previous = comm.create_comm
    comm.create_comm = RecordingComm
    try:
        yield RecordingComm
    finally:
        comm.create_comm = previous


def record_widget_messages() -> type[RecordingComm]:
    """Make every widget created from now on use a :class:`RecordingComm` (benchmarks: call before widgets)."""
    RecordingComm.reset()
    comm.create_comm = RecordingComm
    return RecordingComm


def synced_array(mark: Any, trait: str) -> np.ndarray:
    """The array a mark's synced state holds for ``trait``: what ipywidgets sends to the browser."""
    state = mark.get_state()[trait]
    return np.frombuffer(state["value"], dtype=state["dtype"]).reshape(state["shape"])


def live_widgets() -> int:
    """How many widgets exist now (ipywidgets' registry of open widgets)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the registry's name is deprecated, not the count
        return len(widgets.Widget.widgets)


def random_change(ex: Any, rng: np.random.Generator) -> None:
    """One change of layer, sample or tab (one in three each), drawn from ``rng``."""
    what = rng.integers(3)
    if what == 0:
        layers = ex.analysis.graph.names
        ex.layer = layers[int(rng.integers(len(layers)))]
    elif what == 1:
        ex.sample = int(rng.integers(ex.analysis.data.n_samples))
    else:
        ex.tab = TABS[int(rng.integers(len(TABS)))]


def panel_errors(ex: Any, tabs: Any = None, layers: Any = None) -> list[tuple[str, str, str]]:
    """Show every layer (or ``layers``) on every tab (or on ``tabs``); returns (tab, layer, error) for each error
    a panel showed."""
    problems = []
    for tab in ex.panels if tabs is None else tabs:
        ex.tab = tab
        wait = getattr(ex.panels[tab], "wait", None)
        if wait is not None:  # a panel that computes in a worker (SHAP): its error shows once the worker ends
            wait()
        for layer in ex.analysis.graph.names if layers is None else layers:
            ex.layer = layer
            error = ex.panels[tab].error
            if error is not None:
                problems.append((tab, layer, error))
    return problems


def layer_kinds(graph: Any) -> list[str]:
    """The first and the last layer of each kind in ``graph`` (a :class:`~nbviz.compute.model.graph.ModelGraph`),
    in graph order: a walk over these takes each code path a panel has for a layer.

    A kind is what a panel's path depends on: the layer's class, the rank of each output, its activation,
    whether it holds weights, is nested, is a model or a block, is called more than once or is an input.
    DenseNet121's 429 layers are 16 such layers. What only a layer's values decide (a dead ReLU layer) is met
    where a kind's first or last layer has it.
    """
    seen: dict[tuple[Any, ...], list[str]] = {}
    for node in graph.nodes:
        kind = (
            node.class_name,
            tuple(len(shape) for shape in node.output_shapes),
            node.activation,
            node.has_weights,
            node.parent is not None,
            node.is_model,
            node.is_block,
            node.calls > 1 or node.call_of is not None,
            node.is_input,
        )
        seen.setdefault(kind, []).append(node.name)
    chosen = {name for names in seen.values() for name in (names[0], names[-1])}
    return [name for name in graph.names if name in chosen]


def wide_head(classes: int, hidden: int = 16, seed: int = 0) -> Any:
    """A tiny classifier whose head has ``classes`` units (a vocabulary's size, a million classes): 8 features,
    a ReLU layer of ``hidden`` units (a million-unit layer when asked), softmax. Its kernel is (hidden, classes)."""
    import keras

    keras.utils.set_random_seed(seed)
    x = keras.Input((8,), name="features")
    h = keras.layers.Dense(hidden, activation="relu", name="hidden")(x)
    out = keras.layers.Dense(classes, activation="softmax", name="head")(h)
    return keras.Model(x, out, name=f"head_{classes}")


def footprint(
    make: Callable[[], Any], tabs: Any = None
) -> tuple[dict[str, tuple[int, int]], list[tuple[str, str, str]]]:
    """What each step of a walk costs: ``make()`` (an Explorer) and then each tab shown on every layer (all
    tabs by default, SHAP and findings included), as (bytes the widgets sent, tracemalloc peak in bytes); and
    the errors the panels showed on the way (:func:`panel_errors`).

    Widgets must send through a :class:`RecordingComm` (:func:`recording` or :func:`record_widget_messages`).
    tracemalloc sees numpy's and Python's allocations, not those inside TensorFlow or XLA.
    """
    import tracemalloc

    costs: dict[str, tuple[int, int]] = {}
    problems: list[tuple[str, str, str]] = []
    started = tracemalloc.is_tracing()
    if not started:
        tracemalloc.start()

    def step(name: str, action: Callable[[], Any]) -> Any:
        RecordingComm.sent = 0
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        out = action()
        costs[name] = (RecordingComm.sent, tracemalloc.get_traced_memory()[1] - base)
        return out

    try:
        ex = step("explore", make)
        for tab in list(ex.panels) if tabs is None else tabs:
            problems += step(tab, lambda tab=tab: panel_errors(ex, [tab]))
        ex.close()
    finally:
        if not started:
            tracemalloc.stop()
    return costs, problems


@contextmanager
def like_a_kernel() -> Iterator[Any]:
    """Inside, an IPython shell exists in this process, as in a Jupyter kernel: the Explorer's version gate reads
    its execution count (so an interaction between cells reads no weight), and after-cell hooks are installed.
    Benchmarks of interactions run inside it, to time what a person in a notebook waits for."""
    from IPython.core.interactiveshell import InteractiveShell

    had = InteractiveShell.initialized()
    shell = InteractiveShell.instance()
    try:
        yield shell
    finally:
        if not had:
            InteractiveShell.clear_instance()


@contextmanager
def raising_panel_errors() -> Iterator[None]:
    """Inside, a panel's error is raised instead of shown in the panel (a test sees the real traceback)."""
    from .ui.panels import base

    previous, base.RAISE_ERRORS = base.RAISE_ERRORS, True
    try:
        yield
    finally:
        base.RAISE_ERRORS = previous


def residual_chain(blocks: int, width: int = 4, named: bool = True) -> Any:
    """A functional model of ``blocks`` identical residual blocks (Dense, Dense, Add) between an input and a
    softmax head: 3 * blocks + 2 layers, what the layer graph's scale tests and benchmarks open. ``named`` gives
    each block's layers the scope ``block{i}_`` (as keras.applications names theirs), else Keras's own names.

    Keras builds and calls a functional graph recursively, so the recursion limit is raised for deep ones."""
    import sys

    import keras

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20 * blocks + 1000))
    inputs = keras.Input((width,), name="features")
    h = inputs
    for i in range(blocks):
        names = [f"block{i}_{part}" if named else None for part in ("dense1", "dense2", "add")]
        a = keras.layers.Dense(width, activation="relu", name=names[0])(h)
        b = keras.layers.Dense(width, name=names[1])(a)
        h = keras.layers.Add(name=names[2])([h, b])
    outputs = keras.layers.Dense(3, activation="softmax", name="head")(h)
    return keras.Model(inputs, outputs, name=f"chain_{3 * blocks + 2}")
