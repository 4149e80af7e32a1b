"""SHAP speed: nbviz's explainers against shap's own, called directly on the same inputs, in one run.

Run: python -m benchmarks.shap_speed [--quick]

For both demo models and each explainer, the median time of one local explanation (one sample, every class)
through nbviz.compute.ShapExplainer, beside a direct call of the shap explainer with the same background and
model function (the overhead should be at most 10%; the gradient explainer is nbviz's own batched expected
gradients, compared with shap.GradientExplainer, and also for the class on show alone, as the SHAP tab
asks). For the model-agnostic explainers, a third column calls shap the way a user usually would, with
``model.predict`` as the function. Last, the global view's time for 200 samples (the auto explainer, in
chunks of 10, as the panel runs it).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import shap  # noqa: E402

from benchmarks._timing import Row, interleaved, ms, table  # noqa: E402
from nbviz import demo  # noqa: E402
from nbviz.compute import ShapExplainer, analyse, default_background  # noqa: E402


def _direct(name: str, model, background: np.ndarray, f, x: np.ndarray):
    """A call of shap's own explainer, as nbviz makes it, without nbviz around it."""
    flat_bg = background.reshape(len(background), -1)
    flat = x.reshape(len(x), -1)
    if name == "gradient":
        explainer = shap.GradientExplainer(model, background)
        return lambda: explainer.shap_values(x)
    if name == "deep":
        explainer = shap.DeepExplainer(model, background)
        return lambda: explainer.shap_values(x, check_additivity=False)
    if name == "kernel":
        explainer = shap.KernelExplainer(f, flat_bg)
        return lambda: explainer.shap_values(flat, silent=True)
    explainer = shap.PermutationExplainer(f, shap.maskers.Independent(flat_bg, max_samples=len(flat_bg)))
    return lambda: explainer(flat, max_evals=max(500, 2 * flat.shape[1] + 1), silent=True)


def bench(data, repeat: int, global_n: int) -> list[Row]:
    model, x = data.model, data.x_test[:1]
    background = default_background(data.x_train)
    rows = []
    for name in ("gradient", "deep", "permutation", "kernel"):
        ours = ShapExplainer(model, background, name)
        candidates = {
            "nbviz": lambda ours=ours: ours.explain(x),
            "shap": _direct(name, model, background, ours._flat_predict, x),
        }
        t = interleaved(candidates, repeat=repeat, warmup=2)
        extra = ""
        if name in ("permutation", "kernel"):
            # Timed apart: seconds per call, and interleaving it would disturb the pair measured above.

            def predict(flat):
                return model.predict(flat.reshape(-1, *x.shape[1:]), verbose=0)

            slow = interleaved({"predict": _direct(name, model, background, predict, x)}, repeat=3, warmup=1)
            extra = f"; shap with model.predict: {ms(slow['predict'])}"
        overhead = t["nbviz"] / t["shap"] - 1
        rows.append(
            Row(
                "shap_speed",
                f"{data.name}: {name}, one sample",
                f"{ms(t['nbviz'])} (shap direct {ms(t['shap'])}{extra})",
                f"overhead {overhead:+.1%}",
                "<= +10%, < 1 s",
            )
        )
    # What the SHAP tab asks: the class on show only; shap's own way to explain the top class alone.
    ours = ShapExplainer(model, background, "gradient")
    direct = shap.GradientExplainer(model, background)
    t = interleaved(
        {
            "nbviz": lambda: ours.attribution(x),
            "shap": lambda: direct.shap_values(x, ranked_outputs=1, rseed=0),
        },
        repeat=repeat,
        warmup=2,
    )
    rows.append(
        Row(
            "shap_speed",
            f"{data.name}: gradient, one sample, the class on show",
            f"{ms(t['nbviz'])} (shap ranked_outputs=1: {ms(t['shap'])})",
            f"{t['nbviz'] / t['shap']:.2f}x shap",
            "< 1 s",
        )
    )
    analysis = analyse(model, data.x_test, background=background)
    start = time.perf_counter()
    analysis.compute_shap_global("auto", global_n)
    seconds = time.perf_counter() - start
    rows.append(
        Row(
            "shap_speed",
            f"{data.name}: global view, {global_n} samples ({analysis.shap_explainer().name})",
            ms(seconds),
            "",
            "",
        )
    )
    return rows


def run(quick: bool = False) -> list[Row]:
    repeat = 5 if quick else 25
    global_n = 40 if quick else 200
    return bench(demo.breast_cancer_mlp(), repeat, global_n) + bench(demo.digits_cnn(), repeat, global_n)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, for a smoke run")
    print(table(run(parser.parse_args().quick)))
