"""Test data shared by the metric tests: realistic neural codes with many Hamming ties."""

from __future__ import annotations

import numpy as np

from hashlib_nn.codes import NeuralCodes


def relu_codes(
    n: int, n_bits: int, seed: int, n_classes: int = 10, spread: float = 1.5
) -> tuple[NeuralCodes, np.ndarray]:
    """Codes of a random ReLU layer on class-clustered Gaussian inputs (realistic ties)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_classes, 20)) * spread
    y = rng.integers(0, n_classes, size=n)
    x = centers[y] + rng.normal(size=(n, 20))
    w = rng.normal(size=(20, n_bits))
    return NeuralCodes.from_bits(x @ w + 0.3 * rng.normal(size=n_bits) > 0), y
