"""Run every benchmark in this folder and print one table (what `make bench` shows and the README quotes).

Each benchmark module has ``run(quick: bool) -> list[Row]``; pass --quick for a smoke run with fewer repeats.
"""

from __future__ import annotations

import argparse
import importlib

from benchmarks._timing import table

BENCHMARKS = [
    "probe_speed",
    "update_latency",
    "version_check",
    "shap_speed",
    "big_models",
    "attention_speed",
    "projector_speed",
    "graph_scale",
    "checkpoint_speed",
    "compare_speed",
    "report_size",
    "training_overhead",
    "training_redraw",
    "rapid_interaction",
    "bounded_state",
    "browser_latency",
    "projector_browser",
    "graph_browser",
    "time_to_first_picture",
    "saliency_peers",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, for a smoke run")
    quick = parser.parse_args().quick
    rows = []
    for name in BENCHMARKS:
        rows += importlib.import_module(f"benchmarks.{name}").run(quick)
    print(table(rows))


if __name__ == "__main__":
    main()
