"""Questions: memo keys derived from the question asked (its name and bound arguments), never spelled in the UI;
one protocol that an analysis and a comparison both satisfy."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import nbviz
from nbviz import demo
from nbviz.compute import Questions, analyse
from nbviz.compute.analysis.analysis import analysis_of
from nbviz.compute.analysis.comparison import Comparison
from nbviz.compute.analysis.questions import key_of, question


@pytest.fixture(scope="module")
def cancer():
    d = demo.breast_cancer_mlp()
    return d, analyse(d.model, d.x_test[:60], d.y_test[:60])


def test_a_key_is_the_name_and_the_bound_arguments_with_defaults(cancer):
    _, analysis = cancer
    # Positional, keyword and defaulted spellings of one question share one key.
    assert key_of(analysis.projection, ("dense",), {}) == ("projection", "dense", "pca", "mean")
    assert key_of(analysis.projection, (), {"layer": "dense", "pooling": "mean"}) == key_of(
        analysis.projection, ("dense", "pca"), {}
    )
    with pytest.raises(TypeError, match="question"):
        key_of(analysis.layer_weights, ("dense",), {})  # not a question: nothing to look up
    with pytest.raises(TypeError):
        key_of(analysis.rules, (3, None, "extra"), {})  # the signature's own error


def test_answered_follows_asking_and_the_models_version(cancer):
    d, analysis = cancer
    assert not analysis.answered(analysis.rules, 2, None)
    first = analysis.rules(2, None)
    assert analysis.answered(analysis.rules, 2, None) and not analysis.answered(analysis.rules, 3, None)
    assert analysis.rules(2, None) is first  # from the memo
    kernel = d.model.layers[-1].kernel
    kernel.assign(kernel.numpy() * 1.5)  # a new version: nothing of the old one is answered
    analysis.check_version()
    assert not analysis.answered(analysis.rules, 2, None)
    assert analysis.rules(2, None) is not first


def test_an_analysis_and_a_comparison_are_both_questions(cancer):
    d, analysis = cancer
    comparison = Comparison(analysis, analysis_of(d.model, like=analysis))  # a model beside itself
    assert isinstance(analysis, Questions) and isinstance(comparison, Questions)
    assert not comparison.answered(comparison.predictions)
    changes = comparison.predictions()
    assert comparison.answered(comparison.predictions) and comparison.predictions() is changes
    assert len(changes.flips) == 0 and float(changes.change.max()) == 0.0  # the same weights: no change


def test_a_question_keeps_its_name_signature_and_docstring():
    class Asked:
        def __init__(self) -> None:
            self.asked: list[tuple] = []

        def _ask(self, key, compute):
            self.asked.append(key)
            return compute()

        @question
        def twice(self, x: int, y: int = 2) -> int:
            """Doubles."""
            return 2 * x + y

    asked = Asked()
    assert asked.twice(3) == 8 and asked.asked == [("twice", 3, 2)]
    assert Asked.twice.__name__ == "twice" and Asked.twice.__doc__ == "Doubles."


def test_no_ui_module_spells_a_memo_key():
    # The UI asks analysis.answered(analysis.findings), never analysis.cached("findings").
    package = Path(nbviz.__file__).parent / "ui"
    spelled = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) in ("cached", "_ask"):
                spelled.append(f"{path.name}:{node.lineno}")
            if isinstance(node, ast.Attribute) and node.attr == "memo":
                spelled.append(f"{path.name}:{node.lineno} reads the memo")
    assert spelled == [], spelled
