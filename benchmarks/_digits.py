"""Many digits: scikit-learn's 1,797 repeated with Gaussian noise, for benchmarks at 10k to 1M samples."""

from __future__ import annotations

import numpy as np

from nbviz import demo


def noisy_digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    d = demo.digits_cnn()
    x = np.concatenate([d.x_train, d.x_test])
    y = np.concatenate([d.y_train, d.y_test])
    rng = np.random.default_rng(seed)
    pick = np.arange(n) % len(x)
    noisy = x[pick] + rng.normal(0, 0.05, size=(n, *x.shape[1:])).astype(np.float32)
    return np.clip(noisy, 0, 1).astype(np.float32), y[pick]
