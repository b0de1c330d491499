"""Redundancy ratio and code grouping against the brute-force oracle np.unique(axis=0)."""

from __future__ import annotations

import numpy as np
import pytest

from hashlib_nn.codes import NeuralCodes
from hashlib_nn.metrics import collision_fraction, distinct_codes, redundancy_ratio


def _oracle(bits: np.ndarray) -> tuple[float, float]:
    uniq, inverse, counts = np.unique(bits.astype(np.int8), axis=0, return_inverse=True,
                                      return_counts=True)
    n = len(bits)
    shared = counts[inverse.ravel()] > 1
    return (n - len(uniq)) / n, float(shared.mean())


@pytest.mark.parametrize("n_bits", [1, 7, 8, 9, 64, 65, 130, 1000])
@pytest.mark.parametrize("density", [0.02, 0.5])
def test_redundancy_ratio_matches_np_unique(n_bits: int, density: float) -> None:
    rng = np.random.default_rng(n_bits)
    bits = (rng.random((3000, n_bits)) < density).astype(np.uint8)
    # Plant exact duplicates so both regimes (many and few collisions) are covered.
    bits[1500:1600] = bits[:100]
    codes = NeuralCodes.from_bits(bits)
    rr, shared = _oracle(bits)
    assert redundancy_ratio(codes) == pytest.approx(rr, abs=0)
    assert collision_fraction(codes) == pytest.approx(shared, abs=0)


def test_groups_are_exact_partition() -> None:
    rng = np.random.default_rng(0)
    bits = (rng.random((500, 40)) < 0.05).astype(np.uint8)
    g = distinct_codes(NeuralCodes.from_bits(bits))
    # Same group <=> identical rows, checked pairwise (brute force, small N).
    same_group = g.inverse[:, None] == g.inverse[None, :]
    same_row = (bits[:, None, :] == bits[None, :, :]).all(axis=2)
    np.testing.assert_array_equal(same_group, same_row)
    assert g.inverse[0] == 0
    np.testing.assert_array_equal(g.counts, np.bincount(g.inverse))
    np.testing.assert_array_equal(g.inverse[g.first_index], np.arange(g.n_distinct))


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


def test_count_distinct_equals_the_partition_size() -> None:
    from hashlib_nn.metrics import count_distinct

    rng = np.random.default_rng(5)
    for n_bits, dup in ((5, 0), (64, 0), (65, 10), (200, 100), (200, 1500), (513, 50)):
        bits = (rng.random((2000, n_bits)) < 0.1).astype(np.uint8)
        bits[:dup] = bits[2000 - dup:]  # few repeats (subset path) and many (one grouping)
        codes = NeuralCodes.from_bits(bits)
        assert count_distinct(codes) == distinct_codes(codes).n_distinct == len(
            np.unique(bits, axis=0))
