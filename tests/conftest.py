"""Shared tiny models: built once per test session, because importing TensorFlow and building models is slow."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow's oneDNN custom ops off, in this process and the kernels and environments it starts: on an AMD EPYC
# with AVX-512 (this project's machine on 2026-12-07) TensorFlow 2.21's oneDNN path corrupted the heap in a plain
# tf.GradientTape over the tiny U-Net of test_dense_outputs.py (no nbviz involved; "free(): invalid next size"),
# and its fused MatMul + ReLU turned NaN into 0. The numbers then do not depend on the CPU the suite runs on.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

#: A module whose tests are each a process of their own (another backend): spread over the workers one at a time.
SPREAD = ("tests/compute/test_backends.py",)
#: The longest tests and groups start first, so that no worker is left with one of them at the end (the JAX
#: zoo walk takes 7 minutes, the browser tests about 14 together); the rest keep their order.
FIRST = (
    "tests/compute/test_backends.py::test_the_model_zoo_walks_on_jax",
    "tests/browser/",
    "tests/compute/test_backends.py",
    "tests/test_install_torch.py",
    "tests/test_binder.py",
    "tests/test_install_jax.py",
)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own, which reads the groups into the test ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Groups and order for pytest-xdist, and on another backend than TensorFlow the tests marked
    ``tensorflow_only`` are skipped.

    ``make test`` runs ``-n 2 --dist loadgroup --no-loadscope-reorder``: without the last, xdist starts the
    groups with the most tests first, and the longest tests, alone in their groups, last.

    A worker takes a group whole, so what a group's tests share is built once: the browser tests share one
    JupyterLab and one Chromium; a module shares its module-scoped models; the model zoo shares each model's
    Explorer, so each model is a group. On another backend (the compute core's tests run again with
    KERAS_BACKEND=jax, see tests/compute/test_backends.py), ``tensorflow_only`` tests check against
    TensorFlow's own tape or graph, or use shap's TensorFlow explainers."""
    for item in items:
        path = item.nodeid.split("::")[0]
        params = getattr(getattr(item, "callspec", None), "params", {})
        if path.startswith("tests/browser/"):
            group = "browser"
        elif path in SPREAD:
            group = item.nodeid  # a group of its own (without one, xdist would take the module whole)
        elif path == "tests/ui/test_zoo.py" and "explored" in params:
            group = f"zoo-{params['explored']}"
        else:
            group = path
        item.add_marker(pytest.mark.xdist_group(group))
    items.sort(key=lambda item: next((i for i, p in enumerate(FIRST) if item.nodeid.startswith(p)), len(FIRST)))
    if keras.backend.backend() == "tensorflow":
        return
    skip = pytest.mark.skip(reason=f"TensorFlow only (KERAS_BACKEND={keras.backend.backend()})")
    for item in items:
        if "tensorflow_only" in item.keywords:
            item.add_marker(skip)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Stop a pytest-xdist worker whose groups did not take: xdist 3.8 writes each group into the test's id,
    which pytest 9.2 no longer reads (pytest-xdist#1386), and the tests that share a JupyterLab or a model would
    be spread, each worker building them again."""
    if (
        getattr(session.config.option, "loadgroup", False)
        and session.items
        and not any("@" in i.nodeid for i in session.items)
    ):
        raise pytest.UsageError(f"--dist loadgroup: pytest {pytest.__version__} dropped the test groups")


@pytest.fixture(scope="session")
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def digits():
    from nbviz import demo

    return demo.digits_cnn()


@pytest.fixture(scope="session")
def cancer():
    from nbviz import demo

    return demo.breast_cancer_mlp()


@pytest.fixture(scope="session")
def sequential_mlp() -> keras.Model:
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((5,), name="features"),
            keras.layers.Dense(4, activation="relu", name="hidden"),
            keras.layers.Dense(3, activation="softmax", name="probs"),
        ],
        name="mlp",
    )
    model.compile(loss="sparse_categorical_crossentropy")
    return model


@pytest.fixture(scope="session")
def two_input_model() -> keras.Model:
    """Two inputs, two outputs, a layer called twice and a bare op between layers."""
    keras.utils.set_random_seed(2)
    a = keras.Input((4,), name="a")
    b = keras.Input((4,), name="b")
    shared = keras.layers.Dense(5, activation="tanh", name="shared")
    ha, hb = shared(a), shared(b)
    added = ha + hb  # a bare op, not a layer: the graph passes through it
    reg = keras.layers.Dense(1, name="value")(added)
    cat = keras.layers.Concatenate(name="cat")([ha, hb])
    cls = keras.layers.Dense(3, activation="softmax", name="label")(cat)
    return keras.Model([a, b], [reg, cls], name="two_in_two_out")


@pytest.fixture(scope="session")
def nested_model() -> keras.Model:
    """A transfer-learning style model: a Functional backbone used as a layer, plus a head."""
    keras.utils.set_random_seed(3)
    inner_in = keras.Input((6, 6, 2), name="backbone_in")
    h = keras.layers.Conv2D(3, 3, activation="relu", name="conv1")(inner_in)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    backbone = keras.Model(inner_in, h, name="backbone")
    x = keras.Input((6, 6, 2), name="image")
    y = keras.layers.Dense(4, activation="relu", name="head")(backbone(x))
    y = keras.layers.Dense(2, activation="softmax", name="probs")(y)
    model = keras.Model(x, y, name="nested")
    # Non-trivial BatchNorm statistics, so that a wrong inference-mode pass would show.
    bn = backbone.get_layer("bn")
    bn.moving_mean.assign(np.array([0.1, -0.2, 0.3], "float32"))
    bn.moving_variance.assign(np.array([1.5, 0.5, 2.0], "float32"))
    return model


class Subclassed(keras.Model):
    def __init__(self) -> None:
        super().__init__(name="subclassed")
        self.hidden = keras.layers.Dense(6, activation="relu", name="hidden")
        self.out = keras.layers.Dense(2, activation="softmax", name="out")

    def call(self, x):
        return self.out(self.hidden(x) * 2.0)


@pytest.fixture(scope="session")
def subclassed_model() -> keras.Model:
    keras.utils.set_random_seed(4)
    model = Subclassed()
    model(np.zeros((1, 3), "float32"))
    return model
