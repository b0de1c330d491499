"""Categorization metrics against hand computations, brute force and direct scikit-learn."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from code_fixtures import relu_codes
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import normalized_mutual_info_score
from sklearn.multiclass import OneVsOneClassifier
from sklearn.neighbors import KNeighborsClassifier
from threadpoolctl import threadpool_limits

from hashlib_nn.categorization import (
    categorization_report,
    drop_constant_bits,
    hungarian_accuracy,
    kmeans_clusters,
    kmeans_purity,
    kmeans_scores,
    knn_accuracy,
    knn_tie_stats,
    logreg_accuracy,
)
from hashlib_nn.codes import NeuralCodes
from hashlib_nn.hamming import hamming_distances

# ----------------------------------------------------------------------------- clustering


def test_purity_by_hand() -> None:
    y = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    c = np.array([0, 0, 1, 1, 1, 1, 2, 2, 2])
    # cluster 0: {0, 0} -> 2; cluster 1: {0, 1, 1, 2} -> 2; cluster 2: {2, 2, 2} -> 3
    assert kmeans_purity(y, c) == pytest.approx(7 / 9)
    # two clusters may both take label 0: purity counts both, Hungarian only one
    assert kmeans_purity(np.array([0, 0, 1]), np.array([0, 1, 2])) == pytest.approx(1.0)
    assert hungarian_accuracy(np.array([0, 0, 1]), np.array([0, 1, 2])) == pytest.approx(2 / 3)


def test_hungarian_on_a_hand_table() -> None:
    # contingency (clusters x labels): [[3, 1, 0], [0, 0, 2], [2, 2, 0]]
    table = np.array([[3, 1, 0], [0, 0, 2], [2, 2, 0]])
    y, c = [], []
    for i, j in itertools.product(range(3), range(3)):
        y += [j] * table[i, j]
        c += [i] * table[i, j]
    rows, cols = linear_sum_assignment(table, maximize=True)
    best = table[rows, cols].sum()
    assert best == 7  # 3 (0->0) + 2 (1->2) + 2 (2->1)
    assert hungarian_accuracy(np.array(y), np.array(c)) == pytest.approx(best / table.sum())


def test_kmeans_is_sklearn_kmeans_on_float32_bits_and_nmi_is_sklearn() -> None:
    codes, y = relu_codes(400, 16, 0)
    clusters, info = kmeans_clusters(codes, 10, n_init=3, random_state=9)
    km = KMeans(10, n_init=3, random_state=9, algorithm="lloyd")
    with threadpool_limits(limits=1):  # the float32 partition may depend on the thread count
        expected = km.fit_predict(codes.unpack().astype(np.float32))
    np.testing.assert_array_equal(clusters, expected)
    assert info["inertia"] == pytest.approx(km.inertia_)
    scores = kmeans_scores(codes, y, 10, n_init=3, random_state=9)
    assert scores["nmi"] == pytest.approx(normalized_mutual_info_score(y, expected))
    assert scores["purity"] == pytest.approx(kmeans_purity(y, expected))
    assert scores["hungarian"] == pytest.approx(hungarian_accuracy(y, expected))
    assert scores["time"] >= 0


def test_kmeans_with_few_distinct_codes_returns_the_exact_optimum() -> None:
    codes = NeuralCodes.from_bits(np.array([[0, 1], [1, 1], [0, 1], [1, 0], [1, 1]]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clusters, info = kmeans_clusters(codes, 4)
    assert clusters.tolist() == [0, 1, 0, 2, 1]
    assert info["inertia"] == 0.0 and info["n_distinct"] == 3.0


# ----------------------------------------------------------------------------- constant bits


def test_drop_constant_bits_by_hand() -> None:
    train = NeuralCodes.from_bits(np.array([[1, 0, 1, 0, 1], [1, 0, 0, 0, 1]]), (2, 3))
    test = NeuralCodes.from_bits(np.array([[1, 0, 1, 1, 1]]), (2, 3))
    tr, te, kept = drop_constant_bits(train, test)
    assert kept.tolist() == [False, False, True, True, False]
    assert tr.n_bits == 2 and tr.layer_sizes == (0, 2)
    assert tr.unpack().tolist() == [[1, 0], [0, 0]]
    assert te is not None and te.unpack().tolist() == [[1, 1]]
    # judged on train alone, bit 3 is constant too
    assert drop_constant_bits(train)[2].tolist() == [False, False, True, False, False]


def test_dropping_constant_bits_changes_no_hamming_distance() -> None:
    codes, _ = relu_codes(60, 40, 3)
    bits = codes.unpack()
    bits[:, [0, 5, 17]] = [1, 0, 1]
    codes = NeuralCodes.from_bits(bits)
    tr, te, kept = drop_constant_bits(codes[:40], codes[40:])
    assert te is not None and tr.n_bits == int(kept.sum()) <= 37
    np.testing.assert_array_equal(
        hamming_distances(te, tr, device="cpu"),
        hamming_distances(codes[40:], codes[:40], device="cpu"),
    )


def test_all_constant_bits_raise() -> None:
    codes = NeuralCodes.from_bits(np.ones((3, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match="all n_bits=4 bits are constant"):
        drop_constant_bits(codes, codes)


# ----------------------------------------------------------------------------- K-NN


def brute_knn(train: NeuralCodes, y: np.ndarray, test: NeuralCodes, k: int, reverse: bool):
    full = (test.unpack()[:, None, :] != train.unpack()[None]).sum(-1)
    if reverse:
        order = (len(train) - 1 - np.argsort(full[:, ::-1], axis=1, kind="stable"))[:, :k]
    else:
        order = np.argsort(full, axis=1, kind="stable")[:, :k]
    counts = np.stack([(y[order] == c).sum(1) for c in range(y.max() + 1)], axis=1)
    return full, counts.argmax(1)


@pytest.mark.parametrize("n_bits", [8, 30])
def test_knn_accuracy_vs_brute_force_and_sklearn(n_bits: int) -> None:
    train, y_train = relu_codes(500, n_bits, 1)
    test, y_test = relu_codes(120, n_bits, 2)
    acc = knn_accuracy(train, y_train, test, y_test, k=9, device="cpu")
    full, pred = brute_knn(train, y_train, test, 9, reverse=False)
    assert acc == pytest.approx((pred == y_test).mean())
    srt = np.sort(full, axis=1)
    no_tie = srt[:, 9] > srt[:, 8]
    clf = KNeighborsClassifier(9, metric="hamming", algorithm="brute").fit(train.unpack(), y_train)
    np.testing.assert_array_equal(pred[no_tie], clf.predict(test.unpack())[no_tie])


def test_knn_accuracy_accepts_any_sortable_labels() -> None:
    train, y_train = relu_codes(200, 20, 4, n_classes=3)
    test, y_test = relu_codes(50, 20, 5, n_classes=3)
    names = np.array(["cat", "dog", "emu"])
    assert knn_accuracy(train, names[y_train], test, names[y_test], device="cpu") == (
        knn_accuracy(train, y_train, test, y_test, device="cpu")
    )


def tie_oracle(train: NeuralCodes, y: np.ndarray, test: NeuralCodes, y_test: np.ndarray, k: int):
    """Min / max accuracy by enumerating every choice of tied codes at the k-th distance."""
    full = (test.unpack()[:, None, :] != train.unpack()[None]).sum(-1)
    lo = hi = 0
    ties = 0
    for q in range(len(test)):
        d = full[q]
        kth = np.sort(d)[k - 1]
        less = np.flatnonzero(d < kth)
        tied = np.flatnonzero(d == kth)
        ties += len(less) + len(tied) > k
        outcomes = set()
        for chosen in itertools.combinations(tied, k - len(less)):
            votes = np.bincount(y[np.concatenate([less, chosen]).astype(int)], minlength=10)
            outcomes.add(int(votes.argmax()) == y_test[q])
        lo += all(outcomes)
        hi += any(outcomes)
    return ties / len(test), lo / len(test), hi / len(test)


def test_knn_tie_stats_vs_enumeration() -> None:
    train, y_train = relu_codes(60, 5, 6, n_classes=4, spread=0.7)
    test, y_test = relu_codes(40, 5, 7, n_classes=4, spread=0.7)
    stats = knn_tie_stats(train, y_train, test, y_test, k=3, device="cpu")
    tie_fraction, lo, hi = tie_oracle(train, y_train, test, y_test, 3)
    assert stats.tie_fraction == pytest.approx(tie_fraction) and tie_fraction > 0.5
    assert stats.accuracy_min == pytest.approx(lo)
    assert stats.accuracy_max == pytest.approx(hi)
    assert lo < hi
    _, pred_small = brute_knn(train, y_train, test, 3, reverse=False)
    _, pred_large = brute_knn(train, y_train, test, 3, reverse=True)
    assert stats.accuracy_smallest_index == pytest.approx((pred_small == y_test).mean())
    assert stats.accuracy_largest_index == pytest.approx((pred_large == y_test).mean())
    assert stats.accuracy_smallest_index == knn_accuracy(
        train, y_train, test, y_test, k=3, device="cpu"
    )
    assert set(stats.as_dict()) >= {"tie_fraction", "accuracy_min", "accuracy_max"}


# ----------------------------------------------------------------------------- LR


def test_logreg_matches_direct_sklearn_one_vs_one() -> None:
    train, y_train = relu_codes(300, 24, 8, n_classes=4)
    test, y_test = relu_codes(80, 24, 9, n_classes=4)
    clf = OneVsOneClassifier(LogisticRegression(max_iter=1000))
    with threadpool_limits(limits=1):
        clf.fit(train.unpack().astype(np.float64), y_train)
        expected = (clf.predict(test.unpack().astype(np.float64)) == y_test).mean()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        assert logreg_accuracy(train, y_train, test, y_test) == pytest.approx(expected)


# ----------------------------------------------------------------------------- report


def test_report_agrees_with_the_single_metrics() -> None:
    train, y_train = relu_codes(300, 16, 10)
    test, y_test = relu_codes(100, 16, 11)
    bits = train.unpack()
    bits[:, 0] = 1  # a constant unit, dropped by default
    train = NeuralCodes.from_bits(bits)
    bits = test.unpack()
    bits[:, 0] = 1
    test = NeuralCodes.from_bits(bits)
    rep = categorization_report(train, y_train, test, y_test, n_init=2, device="cpu")
    assert rep["n_bits"] == 16 and rep["n_bits_kept"] == 15
    tr, te, _ = drop_constant_bits(train, test)
    assert te is not None
    km = kmeans_scores(tr, y_train, 10, n_init=2)
    assert rep["kmeans_purity_train"] == km["purity"]
    assert rep["kmeans_hungarian_train"] == km["hungarian"]
    assert rep["kmeans_nmi_test"] == kmeans_scores(te, y_test, 10, n_init=2)["nmi"]
    assert rep["knn_test"] == knn_accuracy(train, y_train, test, y_test, device="cpu")
    assert rep["lr_test"] == logreg_accuracy(tr, y_train, te, y_test)
    assert rep["lr_converged"] == 1.0
    for key in ("time_total", "time_knn", "time_lr", "time_kmeans_train", "time_kmeans_test"):
        assert rep[key] >= 0
    only = categorization_report(
        train, y_train, test, y_test, metrics=("knn",), drop_constant=False, device="cpu"
    )
    assert only["knn_test"] == rep["knn_test"] and "lr_test" not in only
    assert only["n_bits_kept"] == 16


def test_report_with_every_bit_constant_uses_the_codes_unchanged() -> None:
    codes = NeuralCodes.from_bits(np.zeros((12, 3), dtype=np.uint8))
    y = np.arange(12) % 2
    rep = categorization_report(codes, y, codes, y, metrics=("kmeans", "knn"), device="cpu")
    assert rep["n_bits_kept"] == 0.0
    assert rep["kmeans_purity_train"] == 0.5 and rep["knn_test"] == 0.5


# ----------------------------------------------------------------------------- bad inputs


def test_bad_inputs() -> None:
    codes, y = relu_codes(20, 10, 0)
    with pytest.raises(TypeError, match="train_codes: codes must be NeuralCodes or a 2-D uint8"):
        knn_accuracy(codes.unpack().astype(np.float32), y, codes, y)
    with pytest.raises(TypeError, match=r"test_codes: .*shape \(40,\)"):
        categorization_report(codes, y, codes.packed.ravel(), y)
    with pytest.raises(
        ValueError,
        match="train_codes and test_codes must have the same code length; got n_bits=10 and "
        "n_bits=16",
    ):
        logreg_accuracy(codes, y, codes.packed, y)
    with pytest.raises(ValueError, match="k=9 needs at least 9 training codes; got 5"):
        knn_accuracy(codes[:5], y[:5], codes, y)
    with pytest.raises(ValueError, match="k=30 needs at least 30 training codes; got 20"):
        categorization_report(codes, y, codes, y, k=30)
    with pytest.raises(
        ValueError, match="y_train has 19 labels but train_codes has 20 rows; they must match"
    ):
        categorization_report(codes, y[:-1], codes, y)
    with pytest.raises(ValueError, match=r"test_labels must be a 1-D array of labels; got shape"):
        knn_accuracy(codes, y, codes, y[:, None])
    with pytest.raises(
        ValueError, match="logistic regression needs at least 2 classes in train_labels; got "
        "only class 3",
    ):
        logreg_accuracy(codes, np.full(20, 3), codes, y)
    with pytest.raises(ValueError, match="K-Means scoring needs at least 2 classes in y_test"):
        categorization_report(codes, y, codes, np.zeros(20, int), metrics=("kmeans",))
    with pytest.raises(ValueError, match="a clustering score needs at least 2 classes"):
        kmeans_purity(np.zeros(4, int), np.arange(4))
    with pytest.raises(ValueError, match="labels_true has 3 entries but clusters has 4"):
        hungarian_accuracy(np.array([0, 1, 0]), np.arange(4))
    with pytest.raises(ValueError, match="n_clusters=10 needs at least 10 codes; got 5"):
        kmeans_clusters(codes[:5])
    with pytest.raises(
        ValueError, match="n_clusters=30 needs at least 30 codes; train_codes has 20"
    ):
        categorization_report(codes, y, codes, y, n_clusters=30, metrics=("kmeans",))
    with pytest.raises(ValueError, match="n_init must be a positive integer; got n_init=0"):
        kmeans_clusters(codes, 3, n_init=0)
    with pytest.raises(ValueError, match="n_threads must be a positive integer; got n_threads=0"):
        logreg_accuracy(codes, y, codes, y, n_threads=0)
    with pytest.raises(ValueError, match=r"metrics must be a non-empty subset of \('kmeans'"):
        categorization_report(codes, y, codes, y, metrics=("svm",))
