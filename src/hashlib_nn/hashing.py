r"""Neural codes seen as hash codes: retrieval metrics and the anatomy of collisions.

The paper's title claim is that a trained network behaves as a *hash encoder*. This module
scores the codes the way the learning-to-hash field scores hash codes, and opens up the
buckets (sets of examples that share a code).

**Mean average precision** over a Hamming ranking of the training codes (the database) for
each query, an item being *relevant* when it has the query's label. With :math:`rel_i` the
relevance at rank i and :math:`P@i` the precision of the first i items,

.. math::

    \mathrm{AP} = \frac{1}{R} \sum_{i=1}^{N} P@i \; rel_i, \qquad
    \mathrm{AP@}k = \frac{1}{R_k} \sum_{i=1}^{k} P@i \; rel_i,

with R the number of relevant training items and :math:`R_k` the number among the first k
(the convention of the common deep-hashing code, DeepHash-pytorch ``CalcTopMap``). A query
with :math:`R = 0` (or :math:`R_k = 0`) has AP 0 and still counts in the mean.

Ranks are only defined up to ties in distance, and with short codes ties are the rule. Two
policies: ``"index"`` orders tied items by training index (a stable sort; deterministic, and
the same convention as :func:`hashlib_nn.hamming.hamming_knn`); ``"expected"`` is the exact
mean of AP over all orders of the tied items (McSherry & Najork, ECIR 2008), computed in
closed form from per-distance counts: for a tie group of n items, r of them relevant, behind
s items holding :math:`R_b` relevant ones, the expected sum of :math:`P@i\,rel_i` is

.. math::

    \frac{r}{n} \sum_{j=1}^{n} \frac{R_b + 1 + (j - 1)\frac{r - 1}{n - 1}}{s + j}.

**Precision within Hamming radius r**: the share of relevant items among the training codes
at distance <= r. A query that retrieves nothing has precision 0 by default (the usual
convention of hashing papers, e.g. "Hamming radius 2" lookup); ``on_empty="skip"`` averages
over the queries that retrieve something instead.

>>> import numpy as np
>>> train = np.array([[0b00000000], [0b00000011], [0b11111111]], dtype=np.uint8)
>>> y_train = np.array([0, 0, 1])
>>> query, y_query = np.array([[0b00000001]], dtype=np.uint8), np.array([0])
>>> mean_average_precision(train, y_train, query, y_query, device="cpu")
1.0
>>> precision_at_radius(train, y_train, query, y_query, radius=1, device="cpu")
1.0
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from hashlib_nn.codes import NeuralCodes
from hashlib_nn.device import resolve_device
from hashlib_nn.hamming import TrainCodes, check_codes, iter_rows, topk_rows
from hashlib_nn.metrics import distinct_codes
from hashlib_nn.validation import check_chunk_size, check_k, check_labels, check_same_length

__all__ = [
    "CollisionAnatomy",
    "code_length",
    "collision_anatomy",
    "mean_average_precision",
    "precision_at_radius",
]

_SORT_BLOCK = 4 * 2**20  # elements of one (chunk, N_train) block when whole rows are sorted
_UNPACK_ROWS = 8192


def code_length(codes: NeuralCodes | np.ndarray) -> int:
    """Code length in bits (the hash length).

    >>> code_length(NeuralCodes.from_bits(np.zeros((2, 12), dtype=np.uint8)))
    12
    """
    return check_codes(codes, "codes")[1]


def _retrieval_inputs(
    train: NeuralCodes | np.ndarray,
    y_train: np.ndarray,
    query: NeuralCodes | np.ndarray,
    y_query: np.ndarray,
) -> tuple[np.ndarray, int, np.ndarray, np.ndarray, np.ndarray, int]:
    """Packed codes and labels mapped to 0..L-1 by sorted training label (query: -1 unseen)."""
    tp, n_bits = check_codes(train, "train")
    qp, n_bits_q = check_codes(query, "query")
    check_same_length(n_bits, n_bits_q, "train", "query")
    y_tr = check_labels(y_train, tp.shape[0], "y_train", "train")
    y_q = check_labels(y_query, qp.shape[0], "y_query", "query")
    classes, yi_tr = np.unique(y_tr, return_inverse=True)
    pos = np.clip(np.searchsorted(classes, y_q), 0, classes.shape[0] - 1)
    yi_q = np.where(classes[pos] == y_q, pos, -1)
    return tp, n_bits, qp, yi_tr.astype(np.int64), yi_q.astype(np.int64), classes.shape[0]


def _ap_sorted(rel: np.ndarray, n_relevant: np.ndarray) -> np.ndarray:
    """AP per row of a (Q, n) relevance matrix in ranked order, normalized by n_relevant."""
    hits = np.cumsum(rel, axis=1, dtype=np.float64)
    ranks = np.arange(1, rel.shape[1] + 1, dtype=np.float64)
    total = (hits / ranks * rel).sum(axis=1)
    return np.divide(total, n_relevant, out=np.zeros_like(total), where=n_relevant > 0)


def _ap_expected(d: np.ndarray, rel: np.ndarray, n_bits: int, harmonic: np.ndarray) -> np.ndarray:
    """Tie-averaged AP per row from per-distance counts (closed form, module docstring)."""
    n_rows = d.shape[0]
    n_levels = n_bits + 1
    flat = (np.arange(n_rows, dtype=np.int64)[:, None] * n_levels + d).ravel()
    n = np.bincount(flat, minlength=n_rows * n_levels).reshape(n_rows, n_levels).astype(float)
    r = np.bincount(flat, weights=rel.ravel(), minlength=n_rows * n_levels)
    r = r.reshape(n_rows, n_levels)
    s = np.cumsum(n, axis=1) - n
    r_before = np.cumsum(r, axis=1) - r
    safe_n = np.maximum(n, 1.0)
    slope = np.divide(r - 1, n - 1, out=np.zeros_like(r), where=n > 1)
    start = r_before + 1 - slope
    s_int = s.astype(np.int64)
    h_diff = harmonic[s_int + n.astype(np.int64)] - harmonic[s_int]
    contrib = r / safe_n * (n * slope + (start - slope * s) * h_diff)
    total = contrib.sum(axis=1)
    n_relevant = r.sum(axis=1)
    return np.divide(total, n_relevant, out=np.zeros_like(total), where=n_relevant > 0)


@torch.no_grad()
def mean_average_precision(
    train: NeuralCodes | np.ndarray,
    y_train: np.ndarray,
    query: NeuralCodes | np.ndarray,
    y_query: np.ndarray,
    *,
    k: int | None = None,
    tie_policy: Literal["index", "expected"] = "index",
    chunk_size: int | None = None,
    device: str | torch.device = "auto",
) -> float:
    """Mean average precision of Hamming ranking (relevant: same label), see module docstring.

    ``k=None`` ranks the whole training set; an integer k scores the first k items (AP@k).
    ``tie_policy="index"`` breaks distance ties by training index; ``"expected"`` averages
    over all orders of tied items (full ranking only). Whole rows are sorted per query chunk
    (about 4M entries per chunk by default), never the full (N_query, N_train) matrix.
    """
    tp, n_bits, qp, yi_tr, yi_q, _ = _retrieval_inputs(train, y_train, query, y_query)
    if tie_policy not in ("index", "expected"):
        raise ValueError(f"tie_policy must be 'index' or 'expected'; got {tie_policy!r}")
    if k is not None:
        k = check_k(k, tp.shape[0])
        if tie_policy == "expected":
            raise ValueError(
                f"tie_policy='expected' is defined for the full ranking only (k=None); got k={k}"
            )
    dev = resolve_device(device)
    n_train = tp.shape[0]
    if chunk_size is None and k is None:
        chunk_size = max(1, _SORT_BLOCK // n_train)
    chunk = check_chunk_size(chunk_size, n_train, n_bits)
    side = TrainCodes(tp, n_bits, dev)
    n_relevant_all = np.bincount(yi_tr, minlength=int(yi_tr.max()) + 1)
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, n_train + 1))])
    ap_sum = 0.0
    for s, e, d, _ in iter_rows(side, qp, chunk, add_query_norm=k is None):
        y = yi_q[s:e]
        if k is not None:
            _, idx = topk_rows(d, k)
            rel = yi_tr[idx.cpu().numpy()] == y[:, None]
            ap = _ap_sorted(rel, rel.sum(axis=1))
        else:
            n_rel = np.where(y >= 0, n_relevant_all[np.maximum(y, 0)], 0)
            dist = d.cpu().numpy().astype(np.int16 if n_bits < 2**15 else np.int32)
            rel_unsorted = yi_tr[None, :] == y[:, None]
            if tie_policy == "index":
                order = np.argsort(dist, axis=1, kind="stable")  # radix sort for int16
                ap = _ap_sorted(np.take_along_axis(rel_unsorted, order, axis=1), n_rel)
            else:
                ap = _ap_expected(dist.astype(np.int64), rel_unsorted, n_bits, harmonic)
        ap_sum += float(ap.sum())
    return ap_sum / qp.shape[0]


mean_average_precision.higher_is_better = True  # type: ignore[attr-defined]


@torch.no_grad()
def precision_at_radius(
    train: NeuralCodes | np.ndarray,
    y_train: np.ndarray,
    query: NeuralCodes | np.ndarray,
    y_query: np.ndarray,
    radius: int = 2,
    *,
    on_empty: Literal["zero", "skip"] = "zero",
    chunk_size: int | None = None,
    device: str | torch.device = "auto",
) -> float:
    r"""Mean precision of the training items within Hamming distance ``radius`` of each query.

    :math:`\frac{1}{N_q}\sum_q \frac{|\{i : d(q, i) \le r, y_i = y_q\}|}{|\{i : d(q, i) \le r\}|}`.
    A query that retrieves nothing scores 0 (``on_empty="zero"``, the hashing-literature
    convention) or is left out of the mean (``"skip"``; NaN if every query retrieves nothing).
    """
    tp, n_bits, qp, yi_tr, yi_q, n_labels = _retrieval_inputs(train, y_train, query, y_query)
    if isinstance(radius, bool) or not isinstance(radius, int | np.integer) or radius < 0:
        raise ValueError(f"radius must be a non-negative integer; got radius={radius!r}")
    if on_empty not in ("zero", "skip"):
        raise ValueError(f"on_empty must be 'zero' or 'skip'; got {on_empty!r}")
    dev = resolve_device(device)
    chunk = check_chunk_size(chunk_size, tp.shape[0], n_bits)
    side = TrainCodes(tp, n_bits, dev)
    onehot = torch.zeros((tp.shape[0], n_labels), dtype=torch.float32, device=dev)
    onehot[torch.arange(tp.shape[0], device=dev), torch.from_numpy(yi_tr).to(dev)] = 1.0
    total, n_scored = 0.0, 0
    for s, e, d, _ in iter_rows(side, qp, chunk, add_query_norm=True):
        per_label = ((d <= radius).to(torch.float32) @ onehot).round().cpu().numpy()
        retrieved = per_label.sum(axis=1)
        y = yi_q[s:e]
        relevant = np.where(y >= 0, per_label[np.arange(e - s), np.maximum(y, 0)], 0.0)
        hit = retrieved > 0
        total += float((relevant[hit] / retrieved[hit]).sum())
        n_scored += int(hit.sum()) if on_empty == "skip" else e - s
    return total / n_scored if n_scored else float("nan")


precision_at_radius.higher_is_better = True  # type: ignore[attr-defined]


@dataclass(frozen=True)
class CollisionAnatomy:
    """What the buckets (groups of examples sharing a code) look like; see collision_anatomy.

    Undefined shares (no colliding pair, no test set, ...) are NaN.
    """

    n_train: int
    n_distinct_train: int
    # bucket size -> number of distinct training codes shared by exactly that many examples
    bucket_histogram: dict[int, int]
    # pairs of training examples with the same code, and the share of them with the same label
    colliding_pairs: int
    same_label_pair_share: float
    # among codes shared by >= 2 training examples: share whose examples all have one label
    pure_bucket_share: float
    n_test: int
    # share of test examples whose code no training example has
    test_unseen_share: float
    # among test examples with a code seen in training: share whose label is the majority
    # training label of that code (ties: smallest label); a hash-table lookup's accuracy
    test_seen_agreement: float
    # per bit, over the training codes: share of examples where the unit fires
    firing_rate: np.ndarray = field(repr=False)
    dead_units: np.ndarray = field(repr=False)  # bits never 1 on the training codes
    always_on_units: np.ndarray = field(repr=False)  # bits always 1 on the training codes
    bit_entropy: np.ndarray = field(repr=False)  # binary entropy of firing_rate, in bits
    mean_bit_entropy: float = 0.0

    def summary(self) -> dict[str, float]:
        """The scalar fields (and unit counts) as a flat dict, for tables."""
        return {
            "n_train": float(self.n_train),
            "n_distinct_train": float(self.n_distinct_train),
            "max_bucket_size": float(max(self.bucket_histogram)),
            "colliding_pairs": float(self.colliding_pairs),
            "same_label_pair_share": self.same_label_pair_share,
            "pure_bucket_share": self.pure_bucket_share,
            "n_test": float(self.n_test),
            "test_unseen_share": self.test_unseen_share,
            "test_seen_agreement": self.test_seen_agreement,
            "n_bits": float(self.firing_rate.shape[0]),
            "n_dead_units": float(self.dead_units.shape[0]),
            "n_always_on_units": float(self.always_on_units.shape[0]),
            "mean_bit_entropy": self.mean_bit_entropy,
        }


def _firing_counts(packed: np.ndarray, n_bits: int) -> np.ndarray:
    counts = np.zeros(n_bits, dtype=np.int64)
    for s in range(0, packed.shape[0], _UNPACK_ROWS):
        bits = np.unpackbits(packed[s : s + _UNPACK_ROWS], axis=1, count=n_bits)
        counts += bits.sum(axis=0, dtype=np.int64)
    return counts


def _binary_entropy(p: np.ndarray) -> np.ndarray:
    q = 1.0 - p
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(np.where(p > 0, p * np.log2(p), 0.0) + np.where(q > 0, q * np.log2(q), 0.0))
    return np.clip(h, 0.0, 1.0)


def collision_anatomy(
    train_codes: NeuralCodes | np.ndarray,
    y_train: np.ndarray,
    test_codes: NeuralCodes | np.ndarray | None = None,
    y_test: np.ndarray | None = None,
) -> CollisionAnatomy:
    """Bucket sizes, label agreement within buckets, unseen test codes and per-unit firing.

    Grouping is exact (:func:`hashlib_nn.metrics.distinct_codes` on train and test codes
    together). Unit statistics are over the training codes.

    >>> codes = np.array([[1], [1], [1], [2], [3]], dtype=np.uint8)
    >>> a = collision_anatomy(codes, np.array([0, 0, 1, 1, 2]))
    >>> a.bucket_histogram, a.colliding_pairs, a.same_label_pair_share
    ({1: 2, 3: 1}, 3, 0.3333333333333333)
    """
    tp, n_bits = check_codes(train_codes, "train_codes")
    y_tr = check_labels(y_train, tp.shape[0], "y_train", "train_codes")
    n_train = tp.shape[0]
    if test_codes is None:
        if y_test is not None:
            raise ValueError("y_test was given without test_codes; pass both or neither")
        qp = np.zeros((0, tp.shape[1]), dtype=np.uint8)
        y_te = None
    else:
        qp, n_bits_q = check_codes(test_codes, "test_codes")
        check_same_length(n_bits, n_bits_q, "train_codes", "test_codes")
        y_te = (None if y_test is None
                else check_labels(y_test, qp.shape[0], "y_test", "test_codes"))
    groups = distinct_codes(np.concatenate([tp, qp]) if qp.shape[0] else tp)
    g_tr = groups.inverse[:n_train]
    n_distinct = int((groups.first_index < n_train).sum())  # train groups are ids 0..D-1
    sizes = np.bincount(g_tr, minlength=n_distinct)
    size_values, size_counts = np.unique(sizes, return_counts=True)
    histogram = {int(v): int(c) for v, c in zip(size_values, size_counts, strict=True)}

    classes, yi_tr = np.unique(y_tr, return_inverse=True)
    n_labels = classes.shape[0]
    table = np.bincount(g_tr * n_labels + yi_tr, minlength=n_distinct * n_labels)
    table = table.reshape(n_distinct, n_labels)
    pairs = int((sizes * (sizes - 1) // 2).sum())
    same_pairs = int((table * (table - 1) // 2).sum())
    shared = sizes >= 2
    pure = table[shared].max(axis=1) == sizes[shared] if shared.any() else np.zeros(0, bool)

    nan = float("nan")
    n_test = qp.shape[0]
    unseen_share = agreement = nan
    if n_test:
        g_te = groups.inverse[n_train:]
        seen = g_te < n_distinct
        unseen_share = float((~seen).mean())
        if y_te is not None and seen.any():
            majority = classes[table.argmax(axis=1)]
            agreement = float((majority[g_te[seen]] == y_te[seen]).mean())

    counts = _firing_counts(tp, n_bits)
    rate = counts / n_train
    entropy = _binary_entropy(rate)
    return CollisionAnatomy(
        n_train=n_train,
        n_distinct_train=n_distinct,
        bucket_histogram=histogram,
        colliding_pairs=pairs,
        same_label_pair_share=same_pairs / pairs if pairs else nan,
        pure_bucket_share=float(pure.mean()) if pure.size else nan,
        n_test=n_test,
        test_unseen_share=unseen_share,
        test_seen_agreement=agreement,
        firing_rate=rate,
        dead_units=np.flatnonzero(counts == 0),
        always_on_units=np.flatnonzero(counts == n_train),
        bit_entropy=entropy,
        mean_bit_entropy=float(entropy.mean()),
    )
