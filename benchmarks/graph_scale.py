"""The layer graph at 100, 1,000 and 10,000 layers, and the Explorer's start on a 3,002-layer model.

Run: python -m benchmarks.graph_scale [--quick]

Models are :func:`nbviz.testing.residual_chain`: identical residual blocks (Dense, Dense, Add) named by block,
as keras.applications names theirs, between an input and a head (101, 1,001 and 10,001 layers).

- open: the kernel's time to make the graph view (grouping the layers, laying out and colouring what is open,
  the marks' state) and the bytes its marks and figure send, beside the same view with every group open (what
  drawing every layer costs, as the graph did before it had groups). Target: under 1 s and bounded bytes at
  10,000 layers.
- expand: opening one closed group (a range of blocks) and closing it again, median. Target: under 200 ms.
- start: ``nbviz.explore`` of the 3,002-layer model until it returns, and the first five slider moves, beside
  the same with every forward pass traced and the fingerprint compiled (as the Explorer started before: the
  issue measured 86 s). Target: interactive within 5 s.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np

from benchmarks._timing import Row, ms, table

NAME = "graph_scale"
TARGET_OPEN = 1.0
TARGET_EXPAND = 0.200
TARGET_START = 5.0


def _kb(n: float) -> str:
    return f"{n / 1e3:.0f} KB" if n < 1e6 else f"{n / 1e6:.1f} MB"


def _graph_bytes(comm: Any, view: Any) -> int:
    ids = {w.comm.comm_id for w in (view.nodes, view.groups, view.edges, view.brackets, view.flags, view.figure)}
    return sum(len(text) + sum(sizes) for (cid, _, _, sizes), text in zip(comm.messages, comm.texts) if cid in ids)


def _open(analysis: Any, expand_all: bool) -> tuple[float, int, Any]:
    """Seconds and bytes to make a graph view (groups found afresh), with every group open or as it opens."""
    from nbviz.compute.model.graph import ModelGraph
    from nbviz.testing import recording
    from nbviz.ui.layer_graph import LayerGraph

    old = analysis.graph
    analysis.graph = ModelGraph(old.name, old.nodes, old.edges)  # no groups found yet
    try:
        with recording() as comm:
            start = time.perf_counter()
            view = LayerGraph(analysis, on_select=lambda _: None, current=analysis.first_layer())
            if expand_all:
                view._expanded.update(view.tree.groups)
                view._draw()
            seconds = time.perf_counter() - start
            return seconds, _graph_bytes(comm, view), view
    finally:
        analysis.graph = old


def graph_rows(quick: bool) -> list[Row]:
    from nbviz.compute import analyse, model_graph
    from nbviz.testing import recording, residual_chain

    rows = []
    for blocks in (33, 333, 3333):
        model = residual_chain(blocks)
        n = len(model.layers)
        x = np.random.default_rng(0).random((4, 4)).astype("float32")
        analysis = analyse(model, x)
        start = time.perf_counter()
        model_graph(model)
        walk = time.perf_counter() - start
        opened, sent, view = _open(analysis, expand_all=False)
        flat, flat_sent, _ = _open(analysis, expand_all=True)
        rows.append(
            Row(
                NAME,
                f"{n:,} layers: open the graph ({len(view.visible)} rows)",
                f"{ms(opened)}, {_kb(sent)} (model_graph itself {ms(walk)})",
                f"{flat / opened:.1f}x faster, {flat_sent / sent:.0f}x fewer bytes than every layer drawn "
                f"({ms(flat)}, {_kb(flat_sent)})",
                f"< {ms(TARGET_OPEN)}, bounded",
            )
        )
        closed = next(item for item, kind in zip(view.visible, view.layout.kinds) if kind == "group")
        times, sizes = [], []
        with recording() as comm:
            for _ in range(3 if quick else 10):
                before = comm.sent
                start = time.perf_counter()
                view.expand(closed)
                times.append(time.perf_counter() - start)
                sizes.append(comm.sent - before)
                view.collapse(closed)
        rows.append(
            Row(
                NAME,
                f"{n:,} layers: open a group ({len(view.tree[closed].children)} rows)",
                f"{ms(statistics.median(times))}, {_kb(statistics.median(sizes))}",
                "",
                f"< {ms(TARGET_EXPAND)}",
            )
        )
    return rows


def _start(model: Any, x: np.ndarray, lazy: bool) -> tuple[float, float]:
    """Seconds for explore() to return, and for the first five slider moves, on a fresh probe."""
    import nbviz
    from nbviz.compute.backend import tensorflow as tf_backend
    from nbviz.compute.model import probe as probe_module

    saved = probe_module.EAGER_CALLS, tf_backend.COMPILED_GATHER_LIMIT
    if not lazy:
        probe_module.EAGER_CALLS, tf_backend.COMPILED_GATHER_LIMIT = 0, 10**9
    try:
        probe_module._SHARED.pop(model, None)  # each start makes its probe afresh
        start = time.perf_counter()
        ex = nbviz.explore(model, x)
        opened = time.perf_counter() - start
        start = time.perf_counter()
        for sample in range(1, 6):
            ex.sample = sample
        moves = time.perf_counter() - start
        ex.close()
        return opened, moves
    finally:
        probe_module.EAGER_CALLS, tf_backend.COMPILED_GATHER_LIMIT = saved


def start_rows() -> list[Row]:
    from nbviz.testing import residual_chain

    model = residual_chain(1000, named=False)  # as the issue measured it: Keras's own names
    x = np.random.default_rng(0).random((50, 4)).astype("float32")
    lazy_open, lazy_moves = _start(model, x, lazy=True)
    eager_open, eager_moves = _start(model, x, lazy=False)
    return [
        Row(
            NAME,
            "3,002 layers: explore() returns",
            f"{lazy_open:.1f} s; first 5 slider moves {lazy_moves:.1f} s",
            f"{eager_open / lazy_open:.1f}x faster than tracing first ({eager_open:.1f} s; moves {eager_moves:.1f} s)",
            f"< {TARGET_START:.0f} s",
        )
    ]


def run(quick: bool = False) -> list[Row]:
    return graph_rows(quick) + start_rows()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    print(table(run(parser.parse_args().quick)))


if __name__ == "__main__":
    main()
