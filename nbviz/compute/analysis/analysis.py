"""Analysis: every question a panel asks about a model and its data, answered for the model as it is now.

All derived data lives here, in one :class:`~nbviz.compute.analysis.memo.Memo` keyed by (model version, question): after
``fit``, ``set_weights`` or ``load_weights`` the version changes (:mod:`nbviz.compute.model.version`), and every
answer is computed again from the new weights; answers for weights that come back are found again. Panels ask
and display; they hold no derived data of their own.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import keras

from .._validate import input_specs, resolve_model
from ..data.dataset import check_data, keras_reason
from ..data.policy import DisplayPolicy
from ..data.tokens import vocabulary_of
from ..model.probe import shared_probe
from .attention import AttentionQuestions
from .attributions import CAM, METHOD_NAMES, AttributionQuestions
from .core import AnalysisCore, weight_name
from .datasets import DatasetQuestions
from .graph import GraphQuestions
from .projection import ProjectionQuestions
from .units import UnitQuestions

__all__ = ["CAM", "METHOD_NAMES", "Analysis", "AnalysisCore", "analyse", "analysis_of", "weight_name"]


class Analysis(
    AttributionQuestions, GraphQuestions, DatasetQuestions, AttentionQuestions, ProjectionQuestions, UnitQuestions
):
    """A model with its checked data and display policy: every question a panel asks.

    Parameters
    ----------
    probe : Probe
        The compiled passes over the model.
    data : CheckedData
        The explored samples, labels and names (:func:`nbviz.compute.data.dataset.check_data`).
    policy : DisplayPolicy
        Cell budget, redact mode and class names.
    cache_bytes : int
        The memo's bound, for every answer together.
    """


def analyse(
    model: keras.Model | str | os.PathLike[str],
    x: Any,
    y: Any = None,
    *,
    feature_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    max_cells: int = 65_536,
    background: Any = None,
    datasets: dict[str, Any] | None = None,
    max_samples: int | None = None,
    redact: bool = False,
    cache_bytes: int = 512 * 2**20,
    loss: Any = None,
    tokenizer: Any = None,
    vocabulary: Sequence[str] | None = None,
) -> Analysis:
    """Check a model and its data once and return their :class:`Analysis` (what :func:`nbviz.explore` shows).

    The arguments are :func:`nbviz.explore`'s; ``cache_bytes`` bounds the memo of every answer together.
    """
    model = resolve_model(model)  # held here: the shared probe holds its model weakly
    probe = shared_probe(model)
    if not isinstance(redact, bool):
        raise TypeError(f"redact: expected True or False, got {type(redact).__name__}")
    words = vocabulary_of(tokenizer, vocabulary, model)
    data = check_data(probe, x, y, feature_names, class_names, background, datasets, max_samples, loss)
    policy = DisplayPolicy(max_cells=max_cells, redact=redact, class_names=data.class_names or (), vocabulary=words)
    analysis = Analysis(probe, data, policy, cache_bytes=cache_bytes)
    if data.first_output is not None:  # the sample view's first prediction: the model has run on it already
        analysis.seed_output(0, data.first_output)
    return analysis


def analysis_of(model: keras.Model | str | os.PathLike[str], like: Analysis, argument: str = "model") -> Analysis:
    """The same questions about another model that takes the same inputs: ``like``'s checked data and display
    policy, with ``model``'s own probe and memo (a checkpoint's copy of the model, or the B of a comparison).

    Raises
    ------
    ValueError
        Naming ``argument``, when ``model`` does not take ``like``'s inputs or gives outputs of other shapes.
    """
    model = resolve_model(model, argument)
    probe = shared_probe(model)
    inputs = like.data.inputs(0)
    specs = input_specs(model)
    if specs is not None:
        given = [a.shape[1:] for a in inputs]
        wanted = [spec[1][1:] for spec in specs]
        fits = len(given) == len(wanted) and all(
            len(g) == len(w) and all(d is None or d == e for d, e in zip(w, g)) for g, w in zip(given, wanted)
        )
        if not fits:
            raise ValueError(
                f"{argument}: expected a model that takes the inputs of {like.model.name!r} (per sample "
                f"{[tuple(g) for g in given]}), got {model.name!r}, which takes {[tuple(w) for w in wanted]}"
            )
    try:
        shapes = probe.output_shapes(inputs)
    except Exception as err:  # noqa: BLE001 - whatever the model raises, the person needs the argument named
        raise ValueError(
            f"{argument}: expected a model that takes the inputs of {like.model.name!r}, but calling it on one "
            f"sample failed: {type(err).__name__}: {keras_reason(err)}"
        ) from err
    expected = like.probe.output_shapes(inputs)
    if shapes != expected:
        raise ValueError(
            f"{argument}: expected outputs shaped as {like.model.name!r}'s {expected}, got {shapes} from {model.name!r}"
        )
    return Analysis(probe, like.data, like.policy, cache_bytes=like.memo.max_bytes)
