"""Questions about whole datasets: surrogate rules, diagnostics and slices, findings."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._arrays import frozen, nbytes
from ..data.nonfinite import NothingFinite
from ..methods.diagnostics import (
    SHOWN_CLASSES,
    DatasetReport,
    diagnose,
    in_cell,
    probability_rows,
    slice_metrics,
    top_confusion,
)
from ..methods.findings import Finding, findings
from ..methods.rules import readable_depth, rule_layers, surrogate_rules
from .answers import (
    ConfusionDisplay,
    MetricsTable,
    RulesDisplay,
    SliceDisplay,
    Unavailable,
)
from .core import AnalysisCore
from .questions import question


class DatasetQuestions(AnalysisCore):
    """Rules, diagnostics, slices and findings over the explored data and named datasets."""

    # ----------------------------------------------------------------------------------------- data-wide
    def rule_layers(self) -> tuple[str, ...]:
        """The layers whose activations make readable rule features (see
        :func:`nbviz.compute.methods.rules.rule_layers`), in graph order."""
        return tuple(rule_layers(self.graph, self.probe.output_names))

    @question
    def readable_depth(self, layer: str | None) -> tuple[int, bool]:
        """The default depth of rules over ``layer`` (None: the inputs), and whether it reaches the fidelity goal:
        the shallowest readable depth whose held-out fidelity does (see
        :func:`nbviz.compute.methods.rules.readable_depth`); each depth it tries is asked, and kept, as
        :meth:`rules`."""

        def fidelity(depth: int) -> float | None:
            answer = self.rules(depth, layer)
            return None if isinstance(answer, Unavailable) else answer.rules.fidelity

        return readable_depth(fidelity, self.data.n_classes if self.data.is_classifier else None)

    @question
    def rules(self, depth: int, layer: str | None) -> Any:
        """Surrogate rules of depth ``depth`` over the input features (``layer`` None) or a layer's activations;
        a :class:`RulesDisplay`, or :class:`Unavailable`."""
        x = self.data.x
        if len(x) > 1:
            return Unavailable(f"Rules here need a model with one input; this one has {len(x)}.")
        if self.data.n_samples < 2:
            return Unavailable(
                "Rules need at least 2 samples (the tree is fitted on some and checked on others); x has 1."
            )
        units = int(np.prod(self.data.output_shape)) if self.data.output_shape else 1
        if not self.data.is_classifier and units != 1:
            shape = " x ".join(str(d) for d in self.data.output_shape)
            return Unavailable(f"Rules need a classifier or one regression output: the first output is {shape}.")
        # The tree is fitted to the first output per sample, on features per sample: neither may follow the batch.
        across = self.first_output_note("rule") or (None if layer is None else self.batch_shaped_note(layer, "rule"))
        if across is not None:
            return Unavailable(across)
        if layer is None and x[0].ndim != 2:
            return Unavailable(
                "Rules over raw inputs need tabular data (samples x features): tick the box to use activations."
            )

        features = self._rule_features(layer)
        if len(features) != self.data.n_samples:  # a position embedding's table, the same for every sample
            return Unavailable(f"{layer}'s output has no row per sample (it is the same for all): no rules.")
        outputs = self._ask(("first output over data",), lambda: probability_rows(self.probe, x[0]))
        gone = self.left_out()  # read from those outputs: no second pass
        if gone.outputs_nonfinite:
            return Unavailable(gone.outputs_text())
        keep = gone.keep
        rows, features = (x[0], features) if keep.all() else (x[0][keep], features[keep])
        if len(rows) < 2:
            return Unavailable(f"Rules need at least 2 samples with finite values; {gone.note()}.")
        rules = surrogate_rules(
            self.model,
            rows,
            max_depth=depth,
            feature_names=self.data.feature_names if layer is None else None,
            class_names=self.policy.class_names or None,
            features=None if layer is None else features,
            probe=self.probe,
            quantiles=self.policy.redact,
            classify=self.data.is_classifier,
            outputs=outputs if keep.all() else outputs[keep],
        )
        texts = tuple(f"{r.text}  ({r.samples} samples, {r.agreement:.0%} agree)" for r in rules.rules)
        coverage = np.array([r.samples for r in rules.rules], dtype=np.float32)
        source = f"activations of {layer}" if layer else "input features"
        return RulesDisplay(rules, source, layer, coverage, texts, gone.note())

    def _rule_features(self, layer: str | None) -> np.ndarray:
        if layer is None:
            return self.data.x[0]
        # Every layer's output over the data in one pass when they fit in an eighth of the memo (a person on the
        # rules tab walks from layer to layer), else the one layer's.
        whole = nbytes(self.activations(0)) * self.data.n_samples <= self.memo.max_bytes // 8
        if whole:
            acts = self._ask(("layers over data",), lambda: self.probe.activations(self.data.x))[layer]
        else:
            acts = self._ask(("layer over data", layer), lambda: self.probe.activations(self.data.x, [layer])[layer])
        return acts.reshape(len(acts), -1)

    def rule_sample(self, depth: int, layer: str | None, index: int, current: int) -> int | None:
        """A sample covered by rule ``index``: ``current`` if it is, else the next one after it (wrapping)."""
        shown = self.rules(depth, layer)
        if isinstance(shown, Unavailable):
            return None
        # A sample left out of the rules (NaN or Inf) is not offered as one they cover.
        covered = np.flatnonzero(shown.rules.rules[index].covers(self._rule_features(layer)) & self.left_out().keep)
        if covered.size == 0:
            return None
        if current in covered:
            return current
        later = covered[covered > current]
        return int(later[0] if later.size else covered[0])

    @question
    def reports(self) -> dict[str, DatasetReport] | Unavailable:
        """How the model does on every named dataset (``"data"`` is the explored (x, y))."""
        if not self.data.datasets:
            return Unavailable("No labels: pass y (or datasets={'train': (x, y), ...}) to explore() for diagnostics.")
        names = self.policy.class_names or None
        across = self.first_output_note("score per sample")
        if across is not None:
            return Unavailable(f"Diagnostics score the first output: {across}")

        gone = self.left_out()
        if gone.outputs_nonfinite:  # nothing to score: no accuracy of NaN predictions counted as class 0
            return Unavailable(gone.outputs_text())
        try:
            return diagnose(self.model, self.data.datasets, class_names=names, probe=self.probe)
        except NothingFinite as err:  # a named dataset whose every sample holds NaN or Inf
            return Unavailable(f"Nothing to score: {err}.")
        except ValueError as err:  # labels the gradients can use but no metric can score: a note, not an error
            return Unavailable(f"Diagnostics cannot score these labels against the model's output: {err}")

    def metrics_table(self) -> MetricsTable:
        reports = self.reports()
        if isinstance(reports, Unavailable):
            return MetricsTable(())
        columns = tuple(sorted({k for r in reports.values() for k in r.metrics}))
        rows = tuple((name, r.n, tuple(r.metrics.get(k, float("nan")) for k in columns)) for name, r in reports.items())
        return MetricsTable(columns, rows, self._left_out_note(reports))

    def _left_out_note(self, reports: dict[str, DatasetReport]) -> str:
        """What the reports left out for NaN or Inf, per dataset, in words ('' for nothing)."""
        positions = self.data.is_classifier and len(self.data.output_shape) > 1  # rows are tokens, not samples
        notes = []
        for name, report in reports.items():
            if not report.left_out:
                continue
            if name == "data" and not positions:  # the explored samples: why each was left out, too
                notes.append(f"data: {self.left_out().note()}")
                continue
            rows, total = "positions" if positions else "samples", report.n + report.left_out
            why = "NaN or Inf in inputs, labels or outputs"
            notes.append(f"{name}: {report.left_out:,} of {total:,} {rows} left out: {why}")
        return "; ".join(notes)

    def confusion(self, dataset: str) -> ConfusionDisplay | Unavailable:
        """One dataset's confusion matrix, recall, precision and calibration, or why there is none."""
        reports = self.reports()
        if isinstance(reports, Unavailable):
            return reports
        report = reports[dataset]
        if report.task != "classification" or report.recall is None or report.precision is None:
            return Unavailable("A regression model has no classes: its metrics are in the table.")
        k = len(report.class_names)
        shown, counts = top_confusion(report.true, report.predicted, k, SHOWN_CLASSES)
        names = tuple(self.policy.class_name(int(i)) if i >= 0 else "other" for i in shown)
        real = shown[shown >= 0]
        note = ""
        if len(real) < k:
            note = (
                f"{k:,} classes: the {len(real)} with the most rows (true or predicted) are shown, the other "
                f"{k - len(real):,} as 'other'; accuracy, loss and macro precision and recall cover them all."
            )
        return ConfusionDisplay(
            dataset, names, counts, max(float(counts.max()), 1.0), frozen(report.recall[real]),
            frozen(report.precision[real]), report.calibration, frozen(shown, np.int64), note,
        )  # fmt: skip

    def confusion_cell_samples(self, dataset: str, row: int, column: int) -> np.ndarray:
        """The samples in one cell of :meth:`confusion`'s matrix (by its row and column, 'other' included)."""
        shown, reports = self.confusion(dataset), self.reports()
        if isinstance(shown, Unavailable) or isinstance(reports, Unavailable):
            raise ValueError(f"dataset: expected a dataset with a confusion matrix, got {dataset!r}")
        report = reports[dataset]
        return report.samples(np.flatnonzero(in_cell(report.true, report.predicted, shown.class_index, row, column)))

    def slices(self, dataset: str, feature: int) -> SliceDisplay | None:
        """The metric per quantile slice of a feature of tabular data (labelled by the policy); None otherwise."""
        x, y = self.data.datasets[dataset]
        if not isinstance(x, np.ndarray) or x.ndim != 2:
            return None

        def compute() -> SliceDisplay:
            names = self.data.feature_names
            sliced = slice_metrics(self.model, x, y, feature, feature_names=names, probe=self.probe)
            labels = self.policy.slice_labels(sliced.edges, sliced.counts)
            return SliceDisplay(f"{sliced.metric_name} by {sliced.feature}", sliced.values, tuple(labels))

        return self._ask(("slices", dataset, feature), compute)

    def misclassified(self) -> np.ndarray | None:
        """Indices of the explored samples the classifier gets wrong; None without labels or for regression."""
        reports = self.reports()
        if isinstance(reports, Unavailable) or "data" not in reports or reports["data"].task != "classification":
            return None
        report = reports["data"]
        return report.samples(np.flatnonzero(~report.correct.astype(bool)))

    @question
    def findings(self) -> tuple[Finding, ...]:
        """Every health check (:func:`nbviz.compute.methods.findings`) on the explored data and named datasets."""
        data = self.data
        x = data.x[0] if len(data.x) == 1 else data.x
        y = data.y[0] if data.y is not None and len(data.y) == 1 else data.y
        others = data.datasets if len(data.datasets) > 1 else None
        names = self.policy.class_names or None
        found = findings(self.model, x, y, datasets=others, class_names=names, probe=self.probe, loss=data.loss)
        return tuple(found)
