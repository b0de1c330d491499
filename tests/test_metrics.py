"""Redundancy ratio: the hash-collision fallback, a hand case and bad inputs.

The comparison with the brute-force oracle np.unique(axis=0) over many code widths is in
test_oracles.py (redundancy_ratio, count_distinct, collision_fraction, distinct_codes).
"""

from __future__ import annotations

import numpy as np
import pytest

from hashlib_nn.codes import NeuralCodes
from hashlib_nn.metrics import collision_fraction, redundancy_ratio


def _oracle(bits: np.ndarray) -> tuple[float, float]:
    uniq, inverse, counts = np.unique(bits.astype(np.int8), axis=0, return_inverse=True,
                                      return_counts=True)
    n = len(bits)
    shared = counts[inverse.ravel()] > 1
    return (n - len(uniq)) / n, float(shared.mean())


def test_hash_collision_fallback_is_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    """Force every row to the same 64-bit hash: grouping must still be exact."""
    import hashlib_nn.metrics as m

    monkeypatch.setattr(m, "_row_hash", lambda words: np.zeros(len(words), dtype=np.uint64))
    rng = np.random.default_rng(1)
    bits = (rng.random((400, 100)) < 0.03).astype(np.uint8)
    assert m.redundancy_ratio(NeuralCodes.from_bits(bits)) == _oracle(bits)[0]
    # about half the rows (by content) collide on hash 0, the rest keep their real hash: both
    # parts of count_distinct (rows with a hash of their own, rows sharing one) are exercised
    monkeypatch.undo()
    real = m._row_hash
    monkeypatch.setattr(m, "_row_hash", lambda words: np.where(
        words[:, 0] % 2 == 0, np.uint64(0), real(words)))  # fmt: skip
    assert m.count_distinct(NeuralCodes.from_bits(bits)) == len(np.unique(bits, axis=0))


def test_known_small_case() -> None:
    codes = np.array([[0b1010_0000], [0b1010_0000], [0b0000_0001], [0b1111_1111]], np.uint8)
    assert redundancy_ratio(codes) == 0.25
    assert collision_fraction(codes) == 0.5
    assert redundancy_ratio(codes[:1]) == 0.0


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((3, 2), dtype=np.int8), "2-D uint8 array of packed bits.*int8"),
        (np.zeros(5, dtype=np.uint8), "2-D uint8 array.*shape \\(5,\\)"),
        ([[1, 0]], "got list"),
    ],
)
def test_bad_codes_are_refused(bad: object, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        redundancy_ratio(bad)  # type: ignore[arg-type]


def test_empty_codes_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one example"):
        redundancy_ratio(np.zeros((0, 2), dtype=np.uint8))
