"""Every metric of the package against an independent reference: one parametrized test.

In the spirit of torchmetrics' ``MetricTester`` and micrograd's tests: each :class:`Oracle`
pairs a function of the package (``ours``) with a second implementation of the definition its
docstring states (``reference``): brute force in numpy or plain Python, the paper's formula,
or the scikit-learn / SciPy call the docstring says it reproduces. A reference never calls the
function under test; it reads only the unpacked 0/1 bits, the labels, or the model's
parameters as numpy arrays. Every oracle runs over several seeds and several named input
shapes, edge cases among them (all codes identical, all distinct, one row, k = 1, k = N,
distance and vote ties, labels absent from the training set).

Floats are compared within ``tolerance`` (absolute) plus ``rtol`` (relative); both 0, the
default, means bit-for-bit equal, and integers, booleans and strings are always compared
exactly. Where a tolerance is not 0 the registry says why: float32 arithmetic the function's
docstring names, or a solver's stopping rule.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch
from code_fixtures import relu_codes
from scipy.optimize import minimize
from scipy.spatial.distance import cdist
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsOneClassifier
from threadpoolctl import threadpool_limits
from torch import nn

from hashlib_nn.categorization import (
    drop_constant_bits,
    hungarian_accuracy,
    kmeans_purity,
    kmeans_scores,
    knn_accuracy,
    knn_accuracy_sklearn,
    knn_tie_stats,
    logreg_accuracy,
)
from hashlib_nn.codes import NeuralCodes, neural_codes
from hashlib_nn.fast_categorization import (
    kmeans_batched,
    kmeans_plusplus_batched,
    ovo_decision,
    ovo_logreg_batched,
)
from hashlib_nn.hamming import hamming_distances, hamming_knn, knn_predict
from hashlib_nn.hashing import collision_anatomy, mean_average_precision, precision_at_radius
from hashlib_nn.metrics import (
    collision_fraction,
    count_distinct,
    distinct_codes,
    net_metrics,
    redundancy_ratio,
)
from hashlib_nn.models import PaperMLP

Inputs = dict[str, Any]


@dataclass(frozen=True)
class Oracle:
    """A metric of the package and an independent implementation of its definition."""

    name: str  # the function under test, as the package names it (with a variant tag)
    ours: Callable[[Inputs], Any]  # the package's function applied to the inputs
    reference: Callable[[Inputs], Any]  # the definition, computed without the package
    make_inputs: Callable[[np.random.Generator, str], Inputs]  # inputs of one named shape
    shapes: tuple[str, ...]  # the named shapes, edge cases among them
    tolerance: float = 0.0  # absolute; with rtol 0 as well: exactly equal
    seeds: tuple[int, ...] = (0, 1, 2)
    rtol: float = 0.0  # relative, for float32 sums whose size grows with the inputs


def assert_agree(ours: Any, ref: Any, tol: float, rtol: float = 0.0,
                 where: str = "result") -> None:  # fmt: skip
    """``ours`` equals ``ref``, recursing into dicts and tuples: the same shape and kind of
    dtype; integers, booleans and strings exactly, floats within ``tol + rtol * |ref|``; NaN
    equals NaN."""
    if isinstance(ref, dict):
        assert isinstance(ours, dict) and sorted(ours) == sorted(ref), f"{where}: keys differ"
        for key in ref:
            assert_agree(ours[key], ref[key], tol, rtol, f"{where}[{key!r}]")
        return
    if isinstance(ref, tuple | list):
        assert isinstance(ours, tuple | list) and len(ours) == len(ref), f"{where}: length"
        for i, (a, b) in enumerate(zip(ours, ref, strict=True)):
            assert_agree(a, b, tol, rtol, f"{where}[{i}]")
        return
    a, b = np.asarray(ours), np.asarray(ref)
    assert a.shape == b.shape, f"{where}: shape {a.shape} vs reference {b.shape}"
    assert a.dtype.kind == b.dtype.kind, f"{where}: dtype {a.dtype} vs reference {b.dtype}"
    if tol == rtol == 0 or a.dtype.kind not in "fc" and b.dtype.kind not in "fc":
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        np.testing.assert_allclose(a, b, rtol=rtol, atol=tol, equal_nan=True, err_msg=where)


# ============================================================================ inputs


def _random_bits(rng: np.random.Generator, n: int, n_bits: int, p: float = 0.5) -> np.ndarray:
    return (rng.random((n, n_bits)) < p).astype(np.uint8)


def _split(seed: int, n_train: int, n_test: int, n_bits: int, n_classes: int = 10,
           spread: float = 1.5) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Training and test bits and labels of one random ReLU layer (realistic ties)."""
    codes, y = relu_codes(n_train + n_test, n_bits, seed, n_classes, spread)
    bits = codes.unpack()
    return bits[:n_train], y[:n_train], bits[n_train:], y[n_train:]


def _code_bits(rng: np.random.Generator, shape: str) -> np.ndarray:
    """A 0/1 code matrix of one named shape (each reaches a different path of the grouping)."""
    seed = int(rng.integers(2**31))
    if shape == "13bits_relu":  # realistic codes: duplicates and near-duplicates
        return relu_codes(400, 13, seed)[0].unpack()
    if shape == "1bit":
        return _random_bits(rng, 50, 1)
    if shape == "64bits_sparse":  # one 64-bit word per row; sparse, so many duplicates
        return _random_bits(rng, 300, 64, 0.02)
    if shape == "65bits_few_repeats":  # two words, hashed; few repeats
        bits = _random_bits(rng, 2000, 65)
        bits[:10] = bits[-10:]
        return bits
    if shape == "200bits_many_repeats":  # repeats among more than 1/8 of the rows
        bits = _random_bits(rng, 800, 200, 0.1)
        bits[:300] = bits[500:]
        return bits
    if shape == "1000bits":
        bits = _random_bits(rng, 300, 1000)
        bits[rng.choice(300, 30, replace=False)] = bits[:30]
        return bits
    if shape == "all_identical":
        return np.repeat(_random_bits(rng, 1, 30), 40, axis=0)
    if shape == "all_distinct":  # every 6-bit code once, in random order
        return np.unpackbits(rng.permutation(64).astype(np.uint8)[:, None], axis=1)[:, 2:]
    if shape == "one_row":
        return _random_bits(rng, 1, 9)
    raise KeyError(shape)


CODE_SHAPES = ("13bits_relu", "1bit", "64bits_sparse", "65bits_few_repeats",
               "200bits_many_repeats", "1000bits", "all_identical", "all_distinct", "one_row",
               "bare_packed")  # fmt: skip


def code_inputs(rng: np.random.Generator, shape: str) -> Inputs:
    """``codes`` for the package (packed), ``bits`` (unpacked 0/1) for the reference."""
    if shape == "bare_packed":  # a bare uint8 array: all 8 bits of every byte count
        packed = rng.integers(0, 256, size=(300, 3), dtype=np.uint8)
        packed[100:200] = packed[:100]
        return {"codes": packed, "bits": np.unpackbits(packed, axis=1)}
    bits = _code_bits(rng, shape)
    return {"codes": NeuralCodes.from_bits(bits), "bits": bits}


def pair_inputs(rng: np.random.Generator, shape: str) -> Inputs:
    """Training and query codes with labels, and k, for the Hamming and K-NN metrics."""
    seed = int(rng.integers(2**31))
    k = 9
    if shape == "5bits_ties":  # short codes: most queries tie across the k-th place
        a, y_tr, b, y_te = _split(seed, 120, 40, 5, n_classes=4, spread=0.7)
        k = 3
    elif shape == "13bits":
        a, y_tr, b, y_te = _split(seed, 300, 80, 13)
    elif shape == "70bits_k1":
        a, y_tr, b, y_te = _split(seed, 200, 50, 70)
        k = 1
    elif shape in ("1bit", "64bits"):  # one padded byte; exactly one 64-bit word
        n_bits = 1 if shape == "1bit" else 64
        a, b = _random_bits(rng, 50, n_bits), _random_bits(rng, 20, n_bits)
        y_tr, y_te = rng.integers(0, 3, 50), rng.integers(0, 3, 20)
        k = 3
    elif shape == "k_equals_n_train":
        a, b = _random_bits(rng, 9, 6), _random_bits(rng, 5, 6)
        y_tr, y_te = rng.integers(0, 3, 9), rng.integers(0, 3, 5)
        k = 9
    elif shape == "train_all_identical":  # every distance tied: the first k training codes
        a = np.repeat(_random_bits(rng, 1, 12), 30, axis=0)
        b = _random_bits(rng, 10, 12)
        y_tr, y_te = rng.integers(0, 3, 30), rng.integers(0, 3, 10)
        k = 4
    elif shape == "vote_ties":  # even k and two labels: many 2-2 votes
        a, b = _random_bits(rng, 60, 16), _random_bits(rng, 30, 16)
        y_tr, y_te = rng.integers(0, 2, 60), rng.integers(0, 2, 30)
        k = 4
    elif shape == "unseen_test_label":  # a test label the training set lacks is always wrong
        a, y_tr, b, y_te = _split(seed, 150, 40, 10, n_classes=4)
        y_tr[y_tr == 3] = 0
        k = 5
    elif shape == "string_labels":
        a, y_tr, b, y_te = _split(seed, 150, 40, 20, n_classes=3)
        names = np.array(["cat", "dog", "emu"])
        y_tr, y_te = names[y_tr], names[y_te]
    elif shape == "9000bits":  # longer than the fused top-k handles: the general path
        base = _random_bits(rng, 1, 9000)
        a = base ^ (rng.random((40, 9000)) < rng.random((40, 1)) * 0.02)
        b = base ^ (rng.random((6, 9000)) < 0.01)
        a, b = a.astype(np.uint8), b.astype(np.uint8)
        y_tr, y_te = rng.integers(0, 3, 40), rng.integers(0, 3, 6)
        k = 5
    else:
        raise KeyError(shape)
    return {"train": NeuralCodes.from_bits(a), "query": NeuralCodes.from_bits(b), "a": a,
            "b": b, "y_train": np.asarray(y_tr), "y_query": np.asarray(y_te), "k": k}


PAIR_SHAPES = ("5bits_ties", "13bits", "70bits_k1", "k_equals_n_train", "train_all_identical",
               "vote_ties", "unseen_test_label", "string_labels", "9000bits")  # fmt: skip


def _brute_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamming distances of every row of ``b`` to every row of ``a``: count of differing bits."""
    return (b[:, None, :] != a[None, :, :]).sum(axis=2)


def _stable_neighbours(d: np.ndarray, k: int) -> np.ndarray:
    """The k nearest per row under the (distance, training index) order."""
    return np.array([sorted(range(d.shape[1]), key=lambda j: (row[j], j))[:k] for row in d])


def _majority(labels: Any) -> Any:
    """The most frequent label; among tied labels the smallest."""
    counts = Counter(labels.tolist() if isinstance(labels, np.ndarray) else labels)
    top = max(counts.values())
    return min(label for label, c in counts.items() if c == top)


# ============================================================================ metrics.py


def _ref_groups(bits: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Groups of identical rows numbered by first appearance: (inverse, counts, first_index)."""
    seen: dict[bytes, int] = {}
    inverse, counts, first = [], [], []
    for i, row in enumerate(bits):
        g = seen.setdefault(row.tobytes(), len(seen))
        if g == len(counts):
            counts.append(0)
            first.append(i)
        counts[g] += 1
        inverse.append(g)
    return np.array(inverse), np.array(counts), np.array(first)


def _ref_redundancy_ratio(inp: Inputs) -> float:
    n = len(inp["bits"])  # (N - D) / N, D counted by np.unique (the style guide's oracle)
    return (n - len(np.unique(inp["bits"], axis=0))) / n


def _ref_collision_fraction(inp: Inputs) -> float:
    rows = [r.tobytes() for r in inp["bits"]]
    counts = Counter(rows)
    return sum(counts[r] > 1 for r in rows) / len(rows)


def _ours_groups(inp: Inputs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    g = distinct_codes(inp["codes"])
    return g.inverse, g.counts, g.first_index


def logits_inputs(rng: np.random.Generator, shape: str) -> Inputs:
    n, c = {"one_row": (1, 10), "two_classes": (60, 2)}.get(shape, (200, 10))
    logits = rng.normal(size=(n, c)).astype(np.float32)
    if shape == "large_logits":  # log-sum-exp must not overflow
        logits *= 60
    if shape == "all_equal":  # argmax ties: the first class; loss log(C)
        logits[:] = 0.5
    return {"logits": logits, "y": rng.integers(0, c, size=n)}


def _ref_net_metrics(inp: Inputs) -> tuple[float, float]:
    z = inp["logits"].astype(np.float64)
    y = inp["y"]
    top = z.max(axis=1, keepdims=True)
    log_norm = top[:, 0] + np.log(np.exp(z - top).sum(axis=1))
    loss = float(np.mean(log_norm - z[np.arange(len(y)), y]))
    first_max = np.array([list(row).index(row.max()) for row in z])
    return loss, float(np.mean(first_max == y))


# ============================================================================ hamming.py


def _ref_knn(inp: Inputs) -> tuple[np.ndarray, np.ndarray]:
    d = _brute_distances(inp["a"], inp["b"])
    idx = _stable_neighbours(d, inp["k"])
    return np.take_along_axis(d, idx, axis=1), idx


def predict_inputs(rng: np.random.Generator, shape: str) -> Inputs:
    n_classes, n_train, k = {"k1": (4, 30, 1), "vote_ties": (2, 30, 4),
                             "one_class": (1, 10, 3)}.get(shape, (5, 40, 7))  # fmt: skip
    return {"labels": rng.integers(0, n_classes, size=n_train), "n_classes": n_classes,
            "indices": rng.integers(0, n_train, size=(200, k))}


def _ref_knn_predict(inp: Inputs) -> np.ndarray:
    return np.array([_majority(inp["labels"][row]) for row in inp["indices"]])


# ============================================================================ categorization.py


def cluster_inputs(rng: np.random.Generator, shape: str) -> Inputs:
    n_labels, n_clusters, n = {
        "4labels_3clusters": (4, 3, 40),
        "3labels_6clusters": (3, 6, 40),
        "one_cluster": (3, 1, 30),
        "own_cluster_each": (2, 6, 6),
        "5labels_5clusters": (5, 5, 60),
    }.get(shape, (3, 4, 30))
    y = rng.integers(0, n_labels, size=n)
    y[:2] = [0, 1]  # at least two classes
    c = rng.integers(0, n_clusters, size=n) if shape != "own_cluster_each" else rng.permutation(n)
    if shape == "named_labels":  # any sortable labels and cluster ids
        y = np.array(["a", "b", "c"])[y]
        c = np.array([5, 7, 100, 3])[c]
    return {"y": y, "c": c}


CLUSTER_SHAPES = ("4labels_3clusters", "3labels_6clusters", "one_cluster", "own_cluster_each",
                  "5labels_5clusters", "named_labels")  # fmt: skip


def _ref_purity(inp: Inputs) -> float:
    y, c = inp["y"].tolist(), inp["c"].tolist()
    total = sum(max(Counter(a for a, b in zip(y, c, strict=True) if b == j).values())
                for j in set(c))  # fmt: skip
    return total / len(y)


def _ref_hungarian(inp: Inputs) -> float:
    """Best one-to-one matching, by enumerating every injective map of clusters to labels."""
    y, c = inp["y"].tolist(), inp["c"].tolist()
    labels, clusters = sorted(set(y)), sorted(set(c))
    pairs = Counter(zip(c, y, strict=True))
    best = 0
    if len(clusters) <= len(labels):
        for perm in itertools.permutations(labels, len(clusters)):
            best = max(best, sum(pairs[(j, v)] for j, v in zip(clusters, perm, strict=True)))
    else:
        for perm in itertools.permutations(clusters, len(labels)):
            best = max(best, sum(pairs[(j, v)] for j, v in zip(perm, labels, strict=True)))
    return best / len(y)


def _nmi(y: np.ndarray, c: np.ndarray) -> float:
    """Normalized mutual information, arithmetic mean of the entropies (natural log)."""
    n = len(y)
    joint = Counter(zip(y.tolist(), c.tolist(), strict=True))
    py, pc = Counter(y.tolist()), Counter(c.tolist())
    mi = sum(m / n * math.log(m * n / (py[a] * pc[b])) for (a, b), m in joint.items())
    h_y = -sum(m / n * math.log(m / n) for m in py.values())
    h_c = -sum(m / n * math.log(m / n) for m in pc.values())
    return mi / ((h_y + h_c) / 2) if h_y + h_c > 0 else 1.0


def kmeans_inputs(rng: np.random.Generator, shape: str) -> Inputs:
    seed = int(rng.integers(2**31))
    if shape == "few_distinct_codes":  # at most n_clusters distinct codes: the exact optimum
        bits = _random_bits(rng, 3, 8)[rng.integers(0, 3, size=60)]
        y = rng.integers(0, 3, size=60)
        y[:2] = [0, 1]
        return {"bits": bits, "y": y, "n_clusters": 4}
    n_bits, n_clusters = {"16bits_4clusters": (16, 4), "8bits_5clusters": (8, 5)}[shape]
    codes, y = relu_codes(240, n_bits, seed, n_classes=4)
    return {"bits": codes.unpack(), "y": y, "n_clusters": n_clusters}


def _ours_kmeans_scores(inp: Inputs) -> tuple[float, float, float]:
    s = kmeans_scores(NeuralCodes.from_bits(inp["bits"]), inp["y"], inp["n_clusters"], n_init=3)
    return s["purity"], s["hungarian"], s["nmi"]


def _ref_kmeans_scores(inp: Inputs) -> tuple[float, float, float]:
    """scikit-learn's KMeans(lloyd) on float32 bits, one thread (the docstring's clustering),
    or each distinct code its own cluster when there are at most n_clusters of them; scored
    by the brute-force definitions."""
    bits, y, k = inp["bits"], inp["y"], inp["n_clusters"]
    uniq, inverse = np.unique(bits, axis=0, return_inverse=True)
    if len(uniq) <= k:
        c = inverse.ravel()
    else:
        with threadpool_limits(limits=1):
            c = KMeans(k, n_init=3, random_state=9, algorithm="lloyd").fit_predict(
                bits.astype(np.float32))
    scored = {"y": y, "c": c}
    return _ref_purity(scored), _ref_hungarian(scored), _nmi(y, c)


def _ours_knn_accuracy(inp: Inputs) -> float:
    return knn_accuracy(inp["train"], inp["y_train"], inp["query"], inp["y_query"], inp["k"],
                        device="cpu")


def _ref_knn_accuracy(inp: Inputs) -> float:
    """Majority vote (ties: smallest label) of the k nearest under (distance, index)."""
    idx = _stable_neighbours(_brute_distances(inp["a"], inp["b"]), inp["k"])
    pred = [_majority(inp["y_train"][row]) for row in idx]
    return float(np.mean([p == t for p, t in zip(pred, inp["y_query"].tolist(), strict=True)]))


def tie_free_inputs(rng: np.random.Generator, shape: str) -> Inputs:
    """Queries whose k nearest training codes are unique (no tie across the k-th place), where
    any exact K-NN search, scikit-learn's included, must return the same neighbours."""
    n_bits, k = {"64bits_k1": (64, 1), "64bits_k5": (64, 5), "24bits_k3": (24, 3),
                 "constant_bit": (40, 3)}[shape]  # fmt: skip
    a, b = _random_bits(rng, 80, n_bits), _random_bits(rng, 120, n_bits)
    if shape == "constant_bit":  # dropped before fitting; no distance changes
        a[:, 0], b[:, 0] = 1, 1
    srt = np.sort(_brute_distances(a, b), axis=1)
    b = b[srt[:, k] > srt[:, k - 1]][:40]
    inp = {"a": a, "b": b, "train": NeuralCodes.from_bits(a), "query": NeuralCodes.from_bits(b),
           "y_train": rng.integers(0, 3, 80), "y_query": rng.integers(0, 3, len(b)), "k": k}
    assert len(b) >= 10
    return inp


def _ours_knn_sklearn(inp: Inputs) -> float:
    return knn_accuracy_sklearn(inp["train"], inp["y_train"], inp["query"], inp["y_query"],
                                k=inp["k"])


def tie_stat_inputs(rng: np.random.Generator, shape: str) -> Inputs:
    seed = int(rng.integers(2**31))
    n_bits, k, n_classes = {"5bits_k3": (5, 3, 4), "6bits_k1": (6, 1, 3),
                            "4bits_k4": (4, 4, 2)}[shape]  # fmt: skip
    a, y_tr, b, y_te = _split(seed, 40, 25, n_bits, n_classes=n_classes, spread=0.7)
    return {"train": NeuralCodes.from_bits(a), "query": NeuralCodes.from_bits(b), "a": a, "b": b,
            "y_train": y_tr, "y_query": y_te, "k": k}


def _ours_tie_stats(inp: Inputs) -> dict[str, float]:
    return knn_tie_stats(inp["train"], inp["y_train"], inp["query"], inp["y_query"], inp["k"],
                         device="cpu").as_dict()


def _ref_tie_stats(inp: Inputs) -> dict[str, float]:
    """Enumerate every choice of the codes tied at the k-th distance, query by query."""
    d = _brute_distances(inp["a"], inp["b"])
    y, y_q, k = inp["y_train"], inp["y_query"], inp["k"]
    n_q = len(d)
    tied_queries = candidates = lo = hi = small = large = 0
    for q in range(n_q):
        kth = np.sort(d[q])[k - 1]
        less = [j for j in range(d.shape[1]) if d[q, j] < kth]
        tied = [j for j in range(d.shape[1]) if d[q, j] == kth]
        slots = k - len(less)
        tied_queries += len(tied) > slots
        candidates += len(less) + len(tied)
        right = {_majority(y[less + list(chosen)]) == y_q[q]
                 for chosen in itertools.combinations(tied, slots)}  # fmt: skip
        lo += all(right)
        hi += any(right)
        small += _majority(y[less + tied[:slots]]) == y_q[q]
        large += _majority(y[less + tied[len(tied) - slots:]]) == y_q[q]
    return {"tie_fraction": tied_queries / n_q, "mean_candidates": candidates / n_q,
            "accuracy_smallest_index": small / n_q, "accuracy_largest_index": large / n_q,
            "accuracy_min": lo / n_q, "accuracy_max": hi / n_q}  # fmt: skip


def logreg_inputs(rng: np.random.Generator, shape: str) -> Inputs:
    seed = int(rng.integers(2**31))
    n_bits, n_classes = {"24bits_4classes": (24, 4), "two_classes": (16, 2),
                         "unseen_test_label": (20, 3), "odd_labels": (20, 3)}[shape]
    a, y_tr, b, y_te = _split(seed, 240, 120, n_bits, n_classes + (shape == "unseen_test_label"))
    if shape == "unseen_test_label":  # class 3 only in the test set: always predicted wrong
        y_tr[y_tr == 3] = 0
    a[:, 0], b[:, 0] = 1, 1  # a constant bit: only the L2 penalty sees it
    if shape == "odd_labels":  # labels need not be 0..L-1
        y_tr, y_te = np.array([3, 7, 9])[y_tr], np.array([3, 7, 9])[y_te]
    return {"a": a, "b": b, "train": NeuralCodes.from_bits(a), "query": NeuralCodes.from_bits(b),
            "y_train": y_tr, "y_query": y_te}


def _ref_ovo_logreg_accuracy(inp: Inputs, C: float = 1.0) -> float:
    """One-vs-one L2 logistic regression solved to its optimum with SciPy, and the one-vs-one
    vote: one vote per pair, plus the summed decision values s mapped to s / (3 (|s| + 1))."""
    x, y, xq = inp["a"].astype(np.float64), inp["y_train"], inp["b"].astype(np.float64)
    classes = np.unique(y)
    votes = np.zeros((len(xq), len(classes)))
    conf = np.zeros((len(xq), len(classes)))
    pen = np.append(np.ones(x.shape[1]), 0.0)  # the intercept is not penalized
    for i, j in itertools.combinations(range(len(classes)), 2):
        rows = (y == classes[i]) | (y == classes[j])
        xp = np.hstack([x[rows], np.ones((rows.sum(), 1))])
        s = np.where(y[rows] == classes[j], 1.0, -1.0)  # the pair's second class is positive

        def objective(w: np.ndarray, xp: np.ndarray = xp, s: np.ndarray = s) -> tuple:
            margin = s * (xp @ w)
            loss = C * np.logaddexp(0, -margin).sum() + 0.5 * (pen * w) @ w
            return loss, C * xp.T @ (-s / (1 + np.exp(margin))) + pen * w

        def hessian(w: np.ndarray, xp: np.ndarray = xp) -> np.ndarray:
            p = 1 / (1 + np.exp(-(xp @ w)))
            return C * (xp.T * (p * (1 - p))) @ xp + np.diag(pen)

        # Newton's method (trust region, exact Hessian): another solver than scikit-learn's
        # L-BFGS, to the same unique optimum
        w = minimize(objective, np.zeros(xp.shape[1]), jac=True, hess=hessian,
                     method="trust-exact", options={"gtol": 1e-10}).x
        z = xq @ w[:-1] + w[-1]
        votes[:, j] += z > 0
        votes[:, i] += z <= 0
        conf[:, i] -= z
        conf[:, j] += z
    pred = classes[np.argmax(votes + conf / (3 * (np.abs(conf) + 1)), axis=1)]
    return float(np.mean(pred == inp["y_query"]))


def _ours_logreg(backend: str) -> Callable[[Inputs], float]:
    def run(inp: Inputs) -> float:
        return logreg_accuracy(inp["train"], inp["y_train"], inp["query"], inp["y_query"],
                               backend=backend, device="cpu", tol=1e-8)
    return run


def drop_inputs(rng: np.random.Generator, shape: str) -> Inputs:
    a, b = _random_bits(rng, 30, 20, 0.3), _random_bits(rng, 10, 20, 0.3)
    a[:, [2, 11]], b[:, [2, 11]] = 1, 1  # constant over both
    a[:, [5, 17]], b[:, [5, 17]] = 0, 0
    a[:, 8] = 0  # constant in train only
    return {"a": a, "b": b if shape == "with_test" else None, "sizes": (12, 8)}


def _ours_drop(inp: Inputs) -> tuple:
    test = None if inp["b"] is None else NeuralCodes.from_bits(inp["b"], inp["sizes"])
    tr, te, kept = drop_constant_bits(NeuralCodes.from_bits(inp["a"], inp["sizes"]), test)
    return tr.unpack(), None if te is None else te.unpack(), kept, tr.layer_sizes


def _ref_drop(inp: Inputs) -> tuple:
    both = inp["a"] if inp["b"] is None else np.vstack([inp["a"], inp["b"]])
    kept = both.min(axis=0) != both.max(axis=0)
    te = None if inp["b"] is None else inp["b"][:, kept]
    sizes = (int(kept[:12].sum()), int(kept[12:].sum()))
    return inp["a"][:, kept], te, kept, sizes


# ======================================================================= fast_categorization.py


def batched_kmeans_inputs(rng: np.random.Generator, shape: str) -> Inputs:
    seed = int(rng.integers(2**31))
    if shape == "duplicates_empty_clusters":  # 12 distinct codes, 8 clusters
        x = _random_bits(rng, 12, 6)[rng.integers(0, 12, size=400)].astype(np.float32)
        return {"x": x, "k": 8, "max_iter": 300}
    if shape == "max_iter_2":
        return {"x": _random_bits(rng, 300, 20).astype(np.float32), "k": 6, "max_iter": 2}
    if shape == "float_blobs":
        y = rng.integers(0, 5, size=300)
        x = (rng.normal(size=(5, 8)) * 20)[y] + rng.normal(size=(300, 8))
        return {"x": x, "k": 5, "max_iter": 300}
    n, n_bits, k = {"16bits_k6": (300, 16, 6), "40bits_k10": (300, 40, 10)}[shape]
    return {"x": relu_codes(n, n_bits, seed)[0].unpack().astype(np.float32), "k": k,
            "max_iter": 300}


def _ours_kmeans_batched(inp: Inputs) -> tuple[np.ndarray, float]:
    fit = kmeans_batched(inp["x"], inp["k"], max_iter=inp["max_iter"], device="cpu")
    return fit.labels, fit.inertia


def _ref_kmeans_batched(inp: Inputs) -> tuple[np.ndarray, float]:
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        km = KMeans(inp["k"], n_init=10, random_state=9, algorithm="lloyd",
                    max_iter=inp["max_iter"]).fit(inp["x"])
    return km.labels_, float(km.inertia_)


def seeding_inputs(rng: np.random.Generator, shape: str) -> Inputs:
    seed = int(rng.integers(2**31))
    if shape == "duplicates":
        x = _random_bits(rng, 15, 10)[rng.integers(0, 15, size=200)]
        return {"x": x.astype(np.float32), "k": 6, "n_init": 3, "seed": seed}
    k = {"k10": 10, "k1": 1, "k2": 2}[shape]
    return {"x": relu_codes(300, 30, seed)[0].unpack().astype(np.float32), "k": k, "n_init": 4,
            "seed": seed}


def _ref_seeding(inp: Inputs) -> np.ndarray:
    """scikit-learn's k-means++ on the centred data, runs drawn from one RandomState."""
    x = inp["x"] - inp["x"].mean(axis=0)
    rs = np.random.RandomState(inp["seed"])
    return np.array([kmeans_plusplus(x, inp["k"], random_state=rs)[1]
                     for _ in range(inp["n_init"])])  # fmt: skip


def _ours_ovo_batched(inp: Inputs) -> tuple[np.ndarray, np.ndarray]:
    fit = ovo_logreg_batched(inp["a"].astype(np.float32), inp["y_train"], C=inp["C"],
                             tol=1e-10, max_iter=1000, device="cpu")
    query = inp["b"].astype(np.float32)
    return fit.decision(query), fit.predict(query)


def _ref_ovo_batched(inp: Inputs) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's OneVsOneClassifier(LogisticRegression) with the same C, tol, max_iter:
    every pair's decision values on the query codes, and the predictions."""
    model = OneVsOneClassifier(LogisticRegression(C=inp["C"], tol=1e-10, max_iter=1000))
    query = inp["b"].astype(np.float64)
    with threadpool_limits(limits=1):
        model.fit(inp["a"].astype(np.float64), inp["y_train"])
        decision = np.column_stack([e.decision_function(query) for e in model.estimators_])
        return decision, model.predict(query)


def ovo_batched_inputs(rng: np.random.Generator, shape: str) -> Inputs:
    inp = logreg_inputs(rng, {"C_0.5": "24bits_4classes"}.get(shape, shape))
    return inp | {"C": 0.5 if shape == "C_0.5" else 1.0}


def decision_inputs(rng: np.random.Generator, shape: str) -> Inputs:
    n_classes = {"10classes": 10, "2classes": 2, "zero_decisions": 4}[shape]
    pairs = np.array(list(itertools.combinations(range(n_classes), 2)))
    dec = rng.normal(size=(100, len(pairs)))
    if shape == "zero_decisions":  # exact ties of votes and confidences: the first class
        dec[:30] = 0.0
    return {"dec": dec, "pairs": pairs, "n_classes": n_classes}


def _ours_decision(inp: Inputs) -> tuple[np.ndarray, np.ndarray]:
    score = ovo_decision(inp["dec"], inp["pairs"], inp["n_classes"])
    return score, score.argmax(axis=1)


def _ref_decision(inp: Inputs) -> tuple[np.ndarray, np.ndarray]:
    out = np.zeros((len(inp["dec"]), inp["n_classes"]))
    for r, row in enumerate(inp["dec"]):
        votes = [0.0] * inp["n_classes"]
        conf = [0.0] * inp["n_classes"]
        for value, (i, j) in zip(row, inp["pairs"], strict=True):
            votes[j if value > 0 else i] += 1
            conf[i] -= value
            conf[j] += value
        out[r] = [v + s / (3 * (abs(s) + 1)) for v, s in zip(votes, conf, strict=True)]
    return out, np.array([list(row).index(max(row)) for row in out])


# ============================================================================ hashing.py


def retrieval_inputs(rng: np.random.Generator, shape: str) -> Inputs:
    n_train, n_query, n_bits, k = {
        "3bits": (40, 12, 3, None), "6bits": (40, 12, 6, None), "20bits": (40, 12, 20, None),
        "3bits_at1": (40, 12, 3, 1), "6bits_at5": (40, 12, 6, 5),
        "20bits_at_n": (40, 12, 20, 40), "unseen_query_label": (30, 10, 6, None),
    }[shape]  # fmt: skip
    y_query = rng.integers(0, 3, n_query)
    if shape == "unseen_query_label":
        y_query[:3] = 7  # AP 0, still counted in the mean
    a, b = _random_bits(rng, n_train, n_bits), _random_bits(rng, n_query, n_bits)
    return {"train": NeuralCodes.from_bits(a), "query": NeuralCodes.from_bits(b), "a": a, "b": b,
            "y_train": rng.integers(0, 3, n_train), "y_query": y_query, "k": k}


def _ap(rel: list[bool], n_relevant: int) -> float:
    """Sum of precision@i at every relevant rank i, over the number of relevant items."""
    hits, total = 0, 0.0
    for rank, r in enumerate(rel, start=1):
        if r:
            hits += 1
            total += hits / rank
    return total / n_relevant if n_relevant else 0.0


def _ours_map(inp: Inputs) -> float:
    return mean_average_precision(inp["train"], inp["y_train"], inp["query"], inp["y_query"],
                                  k=inp["k"], device="cpu")


def _ref_map(inp: Inputs) -> float:
    d = _brute_distances(inp["a"], inp["b"])
    aps = []
    for q, row in enumerate(_stable_neighbours(d, d.shape[1])):
        rel = [bool(inp["y_train"][i] == inp["y_query"][q]) for i in row]
        top = rel if inp["k"] is None else rel[: inp["k"]]
        aps.append(_ap(top, sum(top)))
    return float(np.mean(aps))


def tiny_retrieval_inputs(rng: np.random.Generator, shape: str) -> Inputs:
    n_train, n_bits = {"7codes_3bits": (7, 3), "6codes_2bits": (6, 2),
                       "6codes_6bits": (6, 6)}[shape]  # fmt: skip
    a, b = _random_bits(rng, n_train, n_bits), _random_bits(rng, 4, n_bits)
    return {"train": NeuralCodes.from_bits(a), "query": NeuralCodes.from_bits(b), "a": a, "b": b,
            "y_train": rng.integers(0, 2, n_train), "y_query": rng.integers(0, 2, 4)}


def _ours_expected_map(inp: Inputs) -> float:
    return mean_average_precision(inp["train"], inp["y_train"], inp["query"], inp["y_query"],
                                  tie_policy="expected", device="cpu")


def _ref_expected_map(inp: Inputs) -> float:
    """The mean of AP over every order of the items tied in distance (all permutations)."""
    d = _brute_distances(inp["a"], inp["b"])
    aps = []
    for q in range(len(d)):
        groups = [[i for i in range(d.shape[1]) if d[q, i] == lv] for lv in sorted(set(d[q]))]
        n_rel = int((inp["y_train"] == inp["y_query"][q]).sum())
        values = []
        for perms in itertools.product(*(itertools.permutations(g) for g in groups)):
            order = [i for p in perms for i in p]
            values.append(_ap([bool(inp["y_train"][i] == inp["y_query"][q]) for i in order],
                              n_rel))  # fmt: skip
        aps.append(float(np.mean(values)))
    return float(np.mean(aps))


def radius_inputs(rng: np.random.Generator, shape: str) -> Inputs:
    radius, on_empty = {"r0_zero": (0, "zero"), "r1_skip": (1, "skip"), "r2_zero": (2, "zero"),
                        "r5_skip": (5, "skip"), "nothing_retrieved_skip": (0, "skip")}[shape]
    n_bits = 24 if shape == "nothing_retrieved_skip" else 8  # 24 bits: no exact match (NaN)
    a, b = _random_bits(rng, 50, n_bits), _random_bits(rng, 15, n_bits)
    if shape == "nothing_retrieved_skip":
        b = b[(_brute_distances(a, b) > 0).all(axis=1)]
    return {"train": NeuralCodes.from_bits(a), "query": NeuralCodes.from_bits(b), "a": a, "b": b,
            "y_train": rng.integers(0, 3, 50), "y_query": rng.integers(0, 3, len(b)),
            "radius": radius, "on_empty": on_empty}


def _ours_radius(inp: Inputs) -> float:
    return precision_at_radius(inp["train"], inp["y_train"], inp["query"], inp["y_query"],
                               inp["radius"], on_empty=inp["on_empty"], device="cpu")


def _ref_radius(inp: Inputs) -> float:
    d = _brute_distances(inp["a"], inp["b"])
    values = []
    for q in range(len(d)):
        got = [i for i in range(d.shape[1]) if d[q, i] <= inp["radius"]]
        if got:
            values.append(sum(inp["y_train"][i] == inp["y_query"][q] for i in got) / len(got))
        elif inp["on_empty"] == "zero":
            values.append(0.0)
    return float(np.mean(values)) if values else math.nan


def anatomy_inputs(rng: np.random.Generator, shape: str) -> Inputs:
    seed = int(rng.integers(2**31))
    if shape == "no_collisions_no_test":
        a = np.unpackbits(rng.permutation(32).astype(np.uint8)[:, None], axis=1)[:, 3:]
        return {"a": a, "b": None, "y_train": rng.integers(0, 3, 32), "y_query": None}
    if shape == "test_without_labels":
        a, y, b, _ = _split(seed, 120, 40, 8, n_classes=3)
        return {"a": a, "b": b, "y_train": y, "y_query": None}
    n_bits = {"8bits": 8, "12bits_dead_units": 12}[shape]
    a, y, b, y_te = _split(seed, 150, 50, n_bits, n_classes=3)
    if shape == "12bits_dead_units":  # a unit never on and one always on
        a[:, 3], a[:, 7], b[:, 3], b[:, 7] = 0, 1, 0, 1
    return {"a": a, "b": b, "y_train": y, "y_query": y_te}


def _ours_anatomy(inp: Inputs) -> dict[str, Any]:
    test = None if inp["b"] is None else NeuralCodes.from_bits(inp["b"])
    an = collision_anatomy(NeuralCodes.from_bits(inp["a"]), inp["y_train"], test, inp["y_query"])
    return {"bucket_histogram": an.bucket_histogram, "n_distinct_train": an.n_distinct_train,
            "colliding_pairs": an.colliding_pairs,
            "same_label_pair_share": an.same_label_pair_share,
            "pure_bucket_share": an.pure_bucket_share, "n_test": an.n_test,
            "test_unseen_share": an.test_unseen_share,
            "test_seen_agreement": an.test_seen_agreement, "firing_rate": an.firing_rate,
            "dead_units": an.dead_units, "always_on_units": an.always_on_units,
            "bit_entropy": an.bit_entropy, "mean_bit_entropy": an.mean_bit_entropy}


def _ref_anatomy(inp: Inputs) -> dict[str, Any]:
    """Buckets as a dict from code to training rows; pairs enumerated; entropies by formula."""
    a, y = inp["a"], inp["y_train"].tolist()
    buckets: dict[bytes, list[int]] = {}
    for i, row in enumerate(a):
        buckets.setdefault(row.tobytes(), []).append(i)
    pairs = [(i, j) for rows in buckets.values() for i, j in itertools.combinations(rows, 2)]
    shared = [rows for rows in buckets.values() if len(rows) > 1]
    nan = math.nan
    unseen = agreement = nan
    n_test = 0 if inp["b"] is None else len(inp["b"])
    if n_test:
        keys = [row.tobytes() for row in inp["b"]]
        unseen = sum(key not in buckets for key in keys) / n_test
        seen = [(key, t) for key, t in zip(keys, [None] * n_test if inp["y_query"] is None
                                             else inp["y_query"].tolist(), strict=True)
                if key in buckets]  # fmt: skip
        if inp["y_query"] is not None and seen:
            agreement = float(np.mean([_majority([y[i] for i in buckets[key]]) == t
                                       for key, t in seen]))  # fmt: skip
    rate = a.mean(axis=0)
    entropy = np.array([0.0 if p in (0.0, 1.0) else -(p * math.log2(p) + (1 - p)
                        * math.log2(1 - p)) for p in rate])  # fmt: skip
    return {"bucket_histogram": dict(Counter(len(r) for r in buckets.values())),
            "n_distinct_train": len(buckets), "colliding_pairs": len(pairs),
            "same_label_pair_share": (sum(y[i] == y[j] for i, j in pairs) / len(pairs)
                                      if pairs else nan),
            "pure_bucket_share": (float(np.mean([len({y[i] for i in r}) == 1 for r in shared]))
                                  if shared else nan),
            "n_test": n_test, "test_unseen_share": unseen, "test_seen_agreement": agreement,
            "firing_rate": rate, "dead_units": np.flatnonzero(rate == 0),
            "always_on_units": np.flatnonzero(rate == 1), "bit_entropy": entropy,
            "mean_bit_entropy": float(entropy.mean())}  # fmt: skip


# ============================================================================ codes.py


def _dyadic(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """Multiples of 1/4 in [-1/2, 1/2]: sums of their products are exact in float32, so the
    float32 network and the float64 reference see the same pre-activations (zeros included)."""
    return rng.integers(-2, 3, size=shape) / 4


class _SharedReLU(nn.Module):
    """One nn.ReLU module called twice: each call contributes its own bits, in call order."""

    def __init__(self, lin1: nn.Linear, lin2: nn.Linear) -> None:
        super().__init__()
        self.lin1, self.lin2, self.relu = lin1, lin2, nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.lin2(self.relu(self.lin1(x))))


def _linear(w: np.ndarray, b: np.ndarray) -> nn.Linear:
    lin = nn.Linear(w.shape[1], w.shape[0])
    with torch.no_grad():
        lin.weight.copy_(torch.as_tensor(w))
        lin.bias.copy_(torch.as_tensor(b))
    return lin


def code_model_inputs(rng: np.random.Generator, shape: str) -> Inputs:
    """A model, its input, and a plan of the same computation in numpy (float64) terms."""
    n = 1 if shape == "one_input" else 40
    x = rng.integers(-3, 4, size=(n, 6)).astype(np.float32)
    batch_size = 8192
    plan: list[tuple] = []
    if shape in ("paper_mlp_batchnorm", "one_input"):  # BatchNorm with running statistics
        model = PaperMLP(6, 8, 1, n_classes=3, seed=int(rng.integers(100)))
        w, b = _dyadic(rng, 8, 6), _dyadic(rng, 8)
        mean, var = _dyadic(rng, 8), rng.uniform(0.1, 3.0, 8)
        gamma = rng.choice([-1.5, -0.5, 0.5, 2.0], 8)  # a negative gamma flips a unit
        bn = model.hidden[1]
        with torch.no_grad():
            model.hidden[0].weight.copy_(torch.as_tensor(w))
            model.hidden[0].bias.copy_(torch.as_tensor(b))
            bn.running_mean.copy_(torch.as_tensor(mean))
            bn.running_var.copy_(torch.as_tensor(var))
            bn.weight.copy_(torch.as_tensor(gamma))
            bn.bias.zero_()  # beta 0: the sign of the output is exact in any rounding
        plan = [("linear", w, b), ("batchnorm", mean, var, gamma, 0.0, bn.eps), ("relu",)]
        model.train()  # neural_codes must switch to eval mode itself
    elif shape in ("paper_mlp_depth3", "batches_of_7"):
        model = PaperMLP(6, 12, 3, n_classes=3, batchnorm=False)
        fan_in = 6
        for layer in model.hidden:
            if isinstance(layer, nn.Linear):
                w, b = _dyadic(rng, 4, fan_in), _dyadic(rng, 4)
                with torch.no_grad():
                    layer.weight.copy_(torch.as_tensor(w))
                    layer.bias.copy_(torch.as_tensor(b))
                plan += [("linear", w, b), ("relu",)]
                fan_in = 4
        batch_size = 7 if shape == "batches_of_7" else batch_size
    elif shape == "shared_relu":
        w1, b1, w2, b2 = _dyadic(rng, 5, 6), _dyadic(rng, 5), _dyadic(rng, 3, 5), _dyadic(rng, 3)
        model = _SharedReLU(_linear(w1, b1), _linear(w2, b2))
        plan = [("linear", w1, b1), ("relu",), ("linear", w2, b2), ("relu",)]
    elif shape == "conv":  # one bit per channel and position, then a dense ReLU layer
        x = rng.integers(-3, 4, size=(n, 1, 5, 5)).astype(np.float32)
        kernel, kb = _dyadic(rng, 2, 1, 3, 3), _dyadic(rng, 2)
        w, b = _dyadic(rng, 4, 50), _dyadic(rng, 4)
        conv = nn.Conv2d(1, 2, 3, padding=1)
        with torch.no_grad():
            conv.weight.copy_(torch.as_tensor(kernel))
            conv.bias.copy_(torch.as_tensor(kb))
        model = nn.Sequential(conv, nn.ReLU(), nn.Flatten(), _linear(w, b), nn.ReLU(),
                              nn.Linear(4, 3))  # fmt: skip
        plan = [("conv", kernel, kb), ("relu",), ("flatten",), ("linear", w, b), ("relu",)]
    else:
        raise KeyError(shape)
    return {"model": model, "x": x, "batch_size": batch_size, "plan": plan}


def _ours_codes(inp: Inputs) -> tuple[np.ndarray, tuple[int, ...]]:
    codes = neural_codes(inp["model"], inp["x"], batch_size=inp["batch_size"], device="cpu")
    assert isinstance(codes, NeuralCodes)
    return codes.unpack(), codes.layer_sizes


def _ref_codes(inp: Inputs) -> tuple[np.ndarray, tuple[int, ...]]:
    """The plan run in float64 numpy: bit = (pre-activation > 0) at every ReLU, in order."""
    h = inp["x"].astype(np.float64)
    bits = []
    for op, *p in inp["plan"]:
        if op == "linear":
            h = h @ p[0].T + p[1]
        elif op == "batchnorm":
            mean, var, gamma, beta, eps = p
            h = (h - mean) / np.sqrt(var + eps) * gamma + beta
        elif op == "conv":  # cross-correlation with zero padding 1, as torch's Conv2d
            kernel, kb = p
            pad = np.pad(h, ((0, 0), (0, 0), (1, 1), (1, 1)))
            out = np.zeros((len(h), kernel.shape[0], h.shape[2], h.shape[3]))
            for i, j in itertools.product(range(h.shape[2]), range(h.shape[3])):
                patch = pad[:, :, i : i + 3, j : j + 3]
                out[:, :, i, j] = np.einsum("ncuv,ocuv->no", patch, kernel) + kb
            h = out
        elif op == "flatten":
            h = h.reshape(len(h), -1)
        elif op == "relu":
            bits.append((h > 0).reshape(len(h), -1))
            h = np.maximum(h, 0)
    return np.concatenate(bits, axis=1).astype(np.uint8), tuple(b.shape[1] for b in bits)


# ============================================================================ the registry


ORACLES = (
    # metrics.py: the redundancy ratio and the grouping of identical codes
    Oracle("redundancy_ratio", lambda i: redundancy_ratio(i["codes"]), _ref_redundancy_ratio,
           code_inputs, CODE_SHAPES),
    Oracle("count_distinct", lambda i: count_distinct(i["codes"]),
           lambda i: len({row.tobytes() for row in i["bits"]}), code_inputs, CODE_SHAPES),
    Oracle("collision_fraction", lambda i: collision_fraction(i["codes"]),
           _ref_collision_fraction, code_inputs, CODE_SHAPES),
    Oracle("distinct_codes", _ours_groups, lambda i: _ref_groups(i["bits"]), code_inputs,
           CODE_SHAPES),
    Oracle("net_metrics", lambda i: net_metrics(i["logits"], i["y"]), _ref_net_metrics,
           logits_inputs, ("random", "large_logits", "all_equal", "one_row", "two_classes"),
           tolerance=1e-6, rtol=1e-5),  # the cross-entropy is a float32 mean (torch)
    # hamming.py
    Oracle("hamming_distances", lambda i: hamming_distances(i["query"], i["train"], device="cpu"),
           lambda i: np.rint(cdist(i["b"], i["a"], "hamming") * i["a"].shape[1]).astype(int),
           pair_inputs, ("1bit", "5bits_ties", "13bits", "64bits", "70bits_k1",
                         "train_all_identical", "9000bits")),
    Oracle("hamming_knn", lambda i: hamming_knn(i["train"], i["query"], i["k"], device="cpu"),
           _ref_knn, pair_inputs, ("1bit", "64bits", *PAIR_SHAPES)),
    Oracle("knn_predict", lambda i: knn_predict(i["labels"], i["indices"], i["n_classes"]),
           _ref_knn_predict, predict_inputs, ("k7", "k1", "vote_ties", "one_class")),
    # categorization.py
    Oracle("kmeans_purity", lambda i: kmeans_purity(i["y"], i["c"]), _ref_purity,
           cluster_inputs, CLUSTER_SHAPES, tolerance=1e-12),
    Oracle("hungarian_accuracy", lambda i: hungarian_accuracy(i["y"], i["c"]), _ref_hungarian,
           cluster_inputs, CLUSTER_SHAPES, tolerance=1e-12),
    Oracle("kmeans_scores", _ours_kmeans_scores, _ref_kmeans_scores, kmeans_inputs,
           ("16bits_4clusters", "8bits_5clusters", "few_distinct_codes"), tolerance=1e-12),
    Oracle("knn_accuracy", _ours_knn_accuracy, _ref_knn_accuracy, pair_inputs, PAIR_SHAPES),
    Oracle("knn_accuracy_sklearn", _ours_knn_sklearn, _ref_knn_accuracy, tie_free_inputs,
           ("64bits_k1", "64bits_k5", "24bits_k3", "constant_bit")),
    Oracle("knn_tie_stats", _ours_tie_stats, _ref_tie_stats, tie_stat_inputs,
           ("5bits_k3", "6bits_k1", "4bits_k4"), tolerance=1e-12),
    Oracle("logreg_accuracy[sklearn]", _ours_logreg("sklearn"), _ref_ovo_logreg_accuracy,
           logreg_inputs, ("24bits_4classes", "two_classes", "unseen_test_label", "odd_labels"),
           seeds=(0, 1)),
    Oracle("logreg_accuracy[torch]", _ours_logreg("torch"), _ref_ovo_logreg_accuracy,
           logreg_inputs, ("24bits_4classes", "two_classes", "unseen_test_label", "odd_labels"),
           seeds=(0, 1)),
    Oracle("drop_constant_bits", _ours_drop, _ref_drop, drop_inputs, ("with_test", "train_only")),
    # fast_categorization.py: scikit-learn's partitions on the CPU (module docstring), and its
    # inertia up to float32 sums
    Oracle("kmeans_batched", _ours_kmeans_batched, _ref_kmeans_batched, batched_kmeans_inputs,
           ("16bits_k6", "40bits_k10", "duplicates_empty_clusters", "max_iter_2", "float_blobs"),
           rtol=1e-4, seeds=(0, 1)),
    Oracle("kmeans_plusplus_batched",
           lambda i: kmeans_plusplus_batched(i["x"], i["k"], i["n_init"], i["seed"],
                                             device="cpu"),
           _ref_seeding, seeding_inputs, ("k10", "k1", "k2", "duplicates")),
    # both solved to tol=1e-10: the same predictions, decision values within 5e-3 (the batched
    # objective's products are float32; measured up to 1.4e-3 on these inputs)
    Oracle("ovo_logreg_batched", _ours_ovo_batched, _ref_ovo_batched, ovo_batched_inputs,
           ("24bits_4classes", "two_classes", "odd_labels", "C_0.5"), tolerance=5e-3,
           seeds=(0, 1)),
    Oracle("ovo_decision", _ours_decision, _ref_decision, decision_inputs,
           ("10classes", "2classes", "zero_decisions"), tolerance=1e-12),
    # hashing.py
    Oracle("mean_average_precision", _ours_map, _ref_map, retrieval_inputs,
           ("3bits", "6bits", "20bits", "3bits_at1", "6bits_at5", "20bits_at_n",
            "unseen_query_label"), tolerance=1e-12),
    Oracle("mean_average_precision[expected]", _ours_expected_map, _ref_expected_map,
           tiny_retrieval_inputs, ("7codes_3bits", "6codes_2bits", "6codes_6bits"),
           tolerance=1e-12),
    Oracle("precision_at_radius", _ours_radius, _ref_radius, radius_inputs,
           ("r0_zero", "r1_skip", "r2_zero", "r5_skip", "nothing_retrieved_skip"),
           tolerance=1e-6),  # the per-query shares are float32 divisions
    Oracle("collision_anatomy", _ours_anatomy, _ref_anatomy, anatomy_inputs,
           ("8bits", "12bits_dead_units", "no_collisions_no_test", "test_without_labels"),
           tolerance=1e-12),
    # codes.py
    Oracle("neural_codes", _ours_codes, _ref_codes, code_model_inputs,
           ("paper_mlp_batchnorm", "paper_mlp_depth3", "batches_of_7", "shared_relu", "conv",
            "one_input")),
)


CASES = [
    pytest.param(oracle, shape, seed, id=f"{oracle.name}-{shape}-seed{seed}")
    for oracle in ORACLES
    for shape in oracle.shapes
    for seed in oracle.seeds
]


@pytest.mark.parametrize(("oracle", "shape", "seed"), CASES)
def test_metric_agrees_with_its_reference(oracle: Oracle, shape: str, seed: int) -> None:
    inputs = oracle.make_inputs(np.random.default_rng([seed, *map(ord, oracle.name)]), shape)
    assert_agree(oracle.ours(inputs), oracle.reference(inputs), oracle.tolerance, oracle.rtol)
