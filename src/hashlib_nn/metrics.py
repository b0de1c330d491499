r"""Determinism metrics on packed neural codes (paper, Sec. 4: "redundancy ratio").

The paper measures how often distinct examples fall into the same linear region. With N
examples and D distinct codes among them,

.. math::

    \mathrm{RR} = \frac{N - D}{N},

computed on the training set and on the test set separately (test RR counts collisions among
test examples only). RR = 0 means every example has a code of its own.

Everything here works on packed rows by hashing: each row is folded into a 64-bit hash, the
hashes are sorted (O(N log N) on one uint64 array), and rows that share a hash are compared
byte for byte, so a hash collision can never merge two different codes. Nothing is O(N^2) and
the codes are never unpacked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hashlib_nn.codes import NeuralCodes, as_packed

__all__ = [
    "CodeGroups",
    "collision_fraction",
    "count_distinct",
    "distinct_codes",
    "net_metrics",
    "redundancy_ratio",
]

# Odd 64-bit multipliers (splitmix64 constants) for the row hash.
_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)


def _row_words(packed: np.ndarray) -> np.ndarray:
    """View packed rows as uint64 words (zero-padded to a multiple of 8 bytes)."""
    n, nbytes = packed.shape
    pad = (-nbytes) % 8
    if pad:
        packed = np.concatenate([packed, np.zeros((n, pad), dtype=np.uint8)], axis=1)
    return np.ascontiguousarray(packed).view(np.uint64)


def _row_hash(words: np.ndarray) -> np.ndarray:
    """A 64-bit hash per row (splitmix64-style mixing of each word, chained over words)."""
    h = np.zeros(words.shape[0], dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(words.shape[1]):
            z = words[:, j] + np.uint64(j + 1) * _M1
            z = (z ^ (z >> np.uint64(30))) * _M2
            z = (z ^ (z >> np.uint64(27))) * _M3
            z ^= z >> np.uint64(31)
            h = (h ^ z) * _M1 + np.uint64(j)
    return h


@dataclass(frozen=True)
class CodeGroups:
    """The partition of N codes into groups of identical codes (linear regions hit).

    inverse: int64 (N,), the group id of each row; groups are numbered in order of first
        appearance, so ``inverse[0] == 0``.
    counts: int64 (D,), the size of each group.
    first_index: int64 (D,), the first row of each group.
    """

    inverse: np.ndarray
    counts: np.ndarray
    first_index: np.ndarray

    @property
    def n_distinct(self) -> int:
        return int(self.counts.shape[0])


def _sorted_boundaries(packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows in an order where identical rows are adjacent, and where each new group starts.

    Returns ``(order, new_group)``: ``packed[order]`` groups identical rows together and
    ``new_group[i]`` is True where sorted row ``i`` differs from row ``i - 1``. Exact: rows that
    share a 64-bit hash are compared in full.
    """
    n = packed.shape[0]
    if n == 0:
        raise ValueError("codes hold no rows; the redundancy ratio needs at least one example")
    words = _row_words(packed)
    new_group = np.empty(n, dtype=bool)
    new_group[0] = True
    if words.shape[1] == 1:
        keys = words[:, 0]
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=new_group[1:])
        return order, new_group
    h = _row_hash(words)
    order = np.argsort(h, kind="stable")
    sh = h[order]
    # A new group starts where the hash changes, or where the hash repeats but the row
    # differs (a hash collision): the rows are compared in full there.
    np.not_equal(sh[1:], sh[:-1], out=new_group[1:])
    same_hash = np.flatnonzero(~new_group[1:]) + 1
    if same_hash.size:
        rows = order[same_hash]
        prev = order[same_hash - 1]
        if (words[rows] != words[prev]).any(axis=1).any():
            # Rare: a true 64-bit collision. Fall back to an exact lexicographic sort of the
            # rows (still O(N log N)), then recompute boundaries.
            order = np.lexsort(tuple(words[:, j] for j in range(words.shape[1] - 1, -1, -1)))
            sw = words[order]
            new_group[1:] = (sw[1:] != sw[:-1]).any(axis=1)
    return order, new_group


def count_distinct(codes: NeuralCodes | np.ndarray) -> int:
    """The number of distinct codes (linear regions hit), without building the partition.

    Exact and cheaper than :func:`distinct_codes`: the 64-bit row hashes are sorted without
    an index (no argsort), so a row whose hash no other row has counts once; only the rows
    whose hash repeats (duplicates, or in theory a hash collision) are grouped exactly.
    """
    packed, _ = as_packed(codes)
    n = packed.shape[0]
    if n == 0:
        raise ValueError("codes hold no rows; the redundancy ratio needs at least one example")
    words = _row_words(packed)
    keys = words[:, 0] if words.shape[1] == 1 else _row_hash(words)
    sk = np.sort(keys)
    repeat = sk[1:] == sk[:-1]
    if not repeat.any():
        return n
    if words.shape[1] == 1:  # the key is the whole row: equal keys are equal rows
        return int(n - repeat.sum())
    shared = np.unique(sk[1:][repeat])  # hashes that more than one row has
    # The rows carrying a shared hash: a 65,536-entry table of the shared hashes' low 16 bits
    # picks candidates in one gather (a searchsorted of every row costs ~5x more), then an
    # exact membership test on the candidates.
    low = np.uint64(0xFFFF)
    table = np.zeros(1 << 16, dtype=bool)
    table[(shared & low).astype(np.intp)] = True
    cand = np.flatnonzero(table[(keys & low).astype(np.intp)])
    if len(cand) > n // 8:  # many repeats (a narrow network): one exact grouping of all rows
        return int(_sorted_boundaries(packed)[1].sum())
    rows = cand[np.isin(keys[cand], shared)]
    once = int(n - repeat.sum()) - len(shared)  # distinct hashes carried by one row each
    return once + int(_sorted_boundaries(packed[rows])[1].sum())


def distinct_codes(codes: NeuralCodes | np.ndarray) -> CodeGroups:
    """Group identical rows of packed codes, exactly, without unpacking or O(N^2) work."""
    packed, _ = as_packed(codes)
    n = packed.shape[0]
    order, new_group = _sorted_boundaries(packed)
    sorted_group = np.cumsum(new_group) - 1
    n_groups = int(sorted_group[-1]) + 1
    # Each group's first row: the sorts are stable, so inside a run of identical rows the
    # original indices ascend and the run's first element is the group's first appearance.
    first_index_sorted = order[new_group].astype(np.int64)
    # Renumber groups by first appearance, so the labelling does not depend on the hash.
    by_first = np.argsort(first_index_sorted, kind="stable")
    rank = np.empty_like(by_first)
    rank[by_first] = np.arange(n_groups, dtype=np.int64)
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = rank[sorted_group]
    counts = np.bincount(inverse, minlength=n_groups).astype(np.int64)
    return CodeGroups(inverse, counts, first_index_sorted[by_first])


def redundancy_ratio(codes: NeuralCodes | np.ndarray) -> float:
    r"""The paper's redundancy ratio :math:`(N - D) / N` (lower is more hash-like).

    >>> import numpy as np
    >>> redundancy_ratio(np.array([[1], [1], [2], [3]], dtype=np.uint8))
    0.25
    """
    packed, _ = as_packed(codes)
    n = packed.shape[0]
    return (n - count_distinct(packed)) / n


redundancy_ratio.higher_is_better = False  # type: ignore[attr-defined]


def collision_fraction(codes: NeuralCodes | np.ndarray) -> float:
    """The fraction of examples that share their code with at least one other example.

    >>> import numpy as np
    >>> collision_fraction(np.array([[1], [1], [2], [3]], dtype=np.uint8))
    0.5
    """
    groups = distinct_codes(codes)
    return float((groups.counts[groups.inverse] > 1).mean())


collision_fraction.higher_is_better = False  # type: ignore[attr-defined]


def net_metrics(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The network's own mean cross-entropy and accuracy on labels ``y`` from its logits
    (float32, as :func:`hashlib_nn.codes.neural_codes` returns them with ``return_logits``):
    ``(loss, accuracy)``. The MLP and CNN runs' ``net_loss_*``/``net_acc_*``."""
    import torch
    import torch.nn.functional as F

    loss = F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(y)).item()
    return loss, float((logits.argmax(1) == y).mean())
