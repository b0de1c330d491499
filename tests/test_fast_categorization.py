"""Batched K-Means and one-vs-one logistic regression against scikit-learn (the oracle).

Real codes: two small MNIST networks (widths 10 and 40) trained for one epoch on 3,000 images,
so the codes have the ties and constant bits of real ones. Exact cases: well-separated blobs,
where every correct implementation gives the same partition, and scikit-learn's own seeding and
vote functions on the same inputs.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsOneClassifier, _ovr_decision_function  # type: ignore
from threadpoolctl import threadpool_limits

from hashlib_nn.categorization import (
    categorization_report,
    drop_constant_bits,
    hungarian_accuracy,
    kmeans_purity,
    unpack_float,
)
from hashlib_nn.codes import NeuralCodes, neural_codes
from hashlib_nn.data import load_dataset
from hashlib_nn.fast_categorization import (
    kmeans_batched,
    kmeans_plusplus_batched,
    ovo_decision,
    ovo_logreg_batched,
)
from hashlib_nn.models import PaperMLP
from hashlib_nn.train import TrainConfig, train

KMEANS_TOL = 0.005  # issue 17: purity and Hungarian accuracy within 0.005 of scikit-learn
LR_TOL = 0.003  # issue 17: LR accuracy within 0.003


@pytest.fixture(scope="module", params=[10, 40], ids=["width10", "width40"])
def mnist_codes(request: pytest.FixtureRequest) -> dict[str, np.ndarray]:
    """0/1 float32 codes (constant bits dropped) of a briefly trained MNIST MLP."""
    ds = load_dataset("mnist")
    n_tr, n_te = 3000, 1000
    model = PaperMLP(784, request.param, 1, seed=0)
    train(model, ds.x_train[:n_tr], ds.y_train[:n_tr],
          TrainConfig(epochs=1, seed=0, early_stopping=False), device="cpu")
    tr = neural_codes(model, ds.x_train[:n_tr], device="cpu")
    te = neural_codes(model, ds.x_test[:n_te], device="cpu")
    assert isinstance(tr, NeuralCodes) and isinstance(te, NeuralCodes)
    tr_k, te_k, _ = drop_constant_bits(tr, te)
    assert te_k is not None
    return {"train": unpack_float(tr_k), "test": unpack_float(te_k),
            "y_train": ds.y_train[:n_tr], "y_test": ds.y_test[:n_te],
            "packed_train": tr, "packed_test": te}


def _sk_kmeans(x: np.ndarray, k: int = 10, n_init: int = 10, seed: int = 9) -> KMeans:
    with threadpool_limits(limits=1):
        return KMeans(k, n_init=n_init, random_state=seed, algorithm="lloyd").fit(x)


# ----------------------------------------------------------------------------- K-Means


def test_seeding_draws_scikit_learns_seeds(mnist_codes: dict[str, np.ndarray]) -> None:
    x = mnist_codes["train"]
    rs = np.random.RandomState(9)
    expected = [kmeans_plusplus(x - x.mean(axis=0), 10, random_state=rs)[1] for _ in range(4)]
    np.testing.assert_array_equal(kmeans_plusplus_batched(x, 10, 4, 9, device="cpu"),
                                  np.array(expected))


@pytest.mark.parametrize("split", ["train", "test"])
def test_kmeans_scores_match_scikit_learn_on_real_codes(
    mnist_codes: dict[str, np.ndarray], split: str
) -> None:
    x, y = mnist_codes[split], mnist_codes[f"y_{split}"]
    ours = kmeans_batched(x, 10, device="cpu")
    sk = _sk_kmeans(x)
    assert abs(kmeans_purity(y, ours.labels) - kmeans_purity(y, sk.labels_)) <= KMEANS_TOL
    assert abs(hungarian_accuracy(y, ours.labels)
               - hungarian_accuracy(y, sk.labels_)) <= KMEANS_TOL
    assert ours.inertia == pytest.approx(sk.inertia_, rel=1e-3)


def test_kmeans_runs_iterate_as_scikit_learns(mnist_codes: dict[str, np.ndarray]) -> None:
    """Each of the batched runs takes scikit-learn's iterations from the same seeds."""
    x = mnist_codes["test"]
    rs = np.random.RandomState(9)
    with threadpool_limits(limits=1):
        sk_iters = [KMeans(10, n_init=1, random_state=rs, algorithm="lloyd").fit(x).n_iter_
                    for _ in range(5)]
    ours = kmeans_batched(x, 10, n_init=5, device="cpu")
    agree = np.mean(np.array(sk_iters) == ours.n_iters)
    assert agree >= 0.8, (sk_iters, ours.n_iters.tolist())


def test_pruning_only_skips_work(mnist_codes: dict[str, np.ndarray]) -> None:
    x = mnist_codes["train"]
    pruned = kmeans_batched(x, 10, n_init=4, device="cpu")
    full = kmeans_batched(x, 10, n_init=4, device="cpu", prune=False)
    np.testing.assert_array_equal(pruned.labels, full.labels)
    np.testing.assert_array_equal(pruned.n_iters, full.n_iters)


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "float"])
def test_kmeans_blobs_identical_to_scikit_learn(binary: bool) -> None:
    rng = np.random.default_rng(0)
    if binary:  # 5 far-apart 0/1 prototypes of 64 bits, 2 bits flipped per sample
        protos = rng.integers(0, 2, size=(5, 64))
        y = rng.integers(0, 5, size=600)
        x = protos[y].copy()
        flip = rng.integers(0, 64, size=(600, 2))
        x[np.arange(600)[:, None], flip] ^= 1
        x = x.astype(np.float32)
    else:
        y = rng.integers(0, 5, size=600)
        x = (rng.normal(size=(5, 8)) * 20)[y] + rng.normal(size=(600, 8))
    ours = kmeans_batched(x, 5, device="cpu")
    sk = _sk_kmeans(x, 5)
    np.testing.assert_array_equal(ours.labels, sk.labels_)
    np.testing.assert_allclose(ours.centers, sk.cluster_centers_, atol=1e-4)
    assert kmeans_purity(y, ours.labels) == 1.0


def test_kmeans_duplicates_and_empty_clusters_as_scikit_learn() -> None:
    """Few distinct codes (heavy duplicates): labels and inertia as scikit-learn's."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 2, size=(12, 6))[rng.integers(0, 12, size=500)].astype(np.float32)
    ours = kmeans_batched(x, 8, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = _sk_kmeans(x, 8)
    np.testing.assert_array_equal(ours.labels, sk.labels_)
    assert ours.inertia == pytest.approx(sk.inertia_, rel=1e-5, abs=1e-3)


def test_kmeans_max_iter_and_tolerance_rule() -> None:
    """With max_iter=2 both stop after two steps and relabel to the final centers."""
    rng = np.random.default_rng(1)
    x = rng.integers(0, 2, size=(400, 20)).astype(np.float32)
    ours = kmeans_batched(x, 6, n_init=3, max_iter=2, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sk = KMeans(6, n_init=3, random_state=9, max_iter=2, algorithm="lloyd").fit(x)
    np.testing.assert_array_equal(ours.labels, sk.labels_)
    assert ours.n_iter == sk.n_iter_ == 2


# ----------------------------------------------------------------------------- LR


def test_logreg_accuracy_matches_scikit_learn_on_real_codes(
    mnist_codes: dict[str, np.ndarray],
) -> None:
    xtr, ytr = mnist_codes["train"], mnist_codes["y_train"]
    xte, yte = mnist_codes["test"], mnist_codes["y_test"]
    ours = ovo_logreg_batched(xtr, ytr, max_iter=1000, device="cpu")
    with threadpool_limits(limits=1):
        sk = OneVsOneClassifier(LogisticRegression(max_iter=1000)).fit(
            xtr.astype(np.float64), ytr)
    acc_ours = float((ours.predict(xte) == yte).mean())
    acc_sk = float((sk.predict(xte.astype(np.float64)) == yte).mean())
    assert abs(acc_ours - acc_sk) <= LR_TOL
    assert ours.converged.all()
    assert (ours.predict(xte) == sk.predict(xte.astype(np.float64))).mean() >= 0.99


def test_logreg_weights_converge_to_scikit_learns_optimum() -> None:
    """A tight tolerance on both sides: the same unique optimum of the same objective."""
    rng = np.random.default_rng(2)
    y = rng.integers(0, 4, size=800)
    x = ((rng.normal(size=(4, 12)))[y] + rng.normal(size=(800, 12)) > 0).astype(np.float64)
    ours = ovo_logreg_batched(x, y, C=0.5, tol=1e-10, max_iter=1000, device="cpu")
    sk = OneVsOneClassifier(LogisticRegression(C=0.5, tol=1e-10, max_iter=1000)).fit(x, y)
    coef = np.array([e.coef_.ravel() for e in sk.estimators_])
    icpt = np.array([e.intercept_[0] for e in sk.estimators_])
    np.testing.assert_allclose(ours.coef, coef, atol=2e-4)
    np.testing.assert_allclose(ours.intercept, icpt, atol=2e-4)
    np.testing.assert_array_equal(ours.predict(x), sk.predict(x))


def test_ovo_vote_is_scikit_learns() -> None:
    rng = np.random.default_rng(4)
    dec = rng.normal(size=(300, 45))
    dec[:20] = 0.0  # exact ties of votes and confidences: the first class must win
    pairs = np.array([(i, j) for i in range(10) for j in range(i + 1, 10)])
    expected = _ovr_decision_function((dec > 0).astype(int), dec, 10)
    np.testing.assert_allclose(ovo_decision(dec, pairs, 10), expected, atol=1e-12)
    assert (ovo_decision(dec, pairs, 10).argmax(1) == expected.argmax(1)).all()


def test_logreg_max_iter_reported_as_not_converged() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 3, size=300)
    x = rng.integers(0, 2, size=(300, 30)).astype(np.float32)
    fit = ovo_logreg_batched(x, y, max_iter=2, device="cpu")
    assert not fit.converged.any()
    assert (fit.n_iter == 2).all()


# ----------------------------------------------------------------------------- report hook


def test_report_backends_agree(mnist_codes: dict[str, np.ndarray]) -> None:
    args = (mnist_codes["packed_train"], mnist_codes["y_train"], mnist_codes["packed_test"],
            mnist_codes["y_test"])
    sk = categorization_report(*args, metrics=("kmeans", "lr"), device="cpu")
    ours = categorization_report(*args, metrics=("kmeans", "lr"), device="cpu",
                                 backend="torch")
    assert sk.keys() == ours.keys()
    for key in sk:
        if key.startswith("kmeans_") and not key.startswith("kmeans_nmi"):
            assert abs(sk[key] - ours[key]) <= KMEANS_TOL, key
    assert abs(sk["lr_test"] - ours["lr_test"]) <= LR_TOL
    assert ours["lr_converged"] == 1.0


@pytest.mark.parametrize("metrics", [("kmeans", "knn", "lr"), ("lr", "knn")])
def test_report_in_threads_equals_the_serial_report(
    mnist_codes: dict[str, np.ndarray], metrics: tuple[str, ...]
) -> None:
    args = (mnist_codes["packed_train"], mnist_codes["y_train"], mnist_codes["packed_test"],
            mnist_codes["y_test"])
    serial = categorization_report(*args, metrics=metrics, device="cpu", backend="torch",
                                   n_jobs=1)
    threads = categorization_report(*args, metrics=metrics, device="cpu", backend="torch",
                                    n_jobs=3)
    assert list(serial) == list(threads)  # same keys in the same order
    assert {k: v for k, v in serial.items() if not k.startswith("time_")} == {
        k: v for k, v in threads.items() if not k.startswith("time_")}


def test_report_threads_run_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """With n_jobs=2 two computations are in flight together: each waits at a barrier for the
    other (a serial report would time out there)."""
    import threading

    from hashlib_nn import categorization

    barrier = threading.Barrier(2, timeout=3)
    knn, kmeans = categorization.knn_accuracy, categorization.kmeans_scores

    def knn_waiting(*a: object, **kw: object) -> float:
        barrier.wait()
        return knn(*a, **kw)  # type: ignore[arg-type]

    def kmeans_waiting(codes: object, *a: object, **kw: object) -> dict[str, float]:
        if len(codes) > 20:  # type: ignore[arg-type]  # the training codes only
            barrier.wait()
        return kmeans(codes, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(categorization, "knn_accuracy", knn_waiting)
    monkeypatch.setattr(categorization, "kmeans_scores", kmeans_waiting)
    rng = np.random.default_rng(0)
    tr, te = rng.integers(0, 256, (60, 2), dtype=np.uint8), rng.integers(0, 256, (20, 2),
                                                                           dtype=np.uint8)
    y_tr, y_te = np.arange(60) % 3, np.arange(20) % 3
    rep = categorization_report(tr, y_tr, te, y_te, n_clusters=3, device="cpu",
                                backend="torch", n_jobs=2)
    assert not barrier.broken and 0.0 <= rep["knn_test"] <= 1.0
    with pytest.raises(threading.BrokenBarrierError):  # and one thread alone would wait
        barrier.reset()
        categorization_report(tr, y_tr, te, y_te, n_clusters=3, device="cpu",
                              backend="torch", n_jobs=1)


def test_report_in_threads_counts_unconverged_pairs(
    monkeypatch: pytest.MonkeyPatch, mnist_codes: dict[str, np.ndarray]
) -> None:
    from hashlib_nn import categorization

    fit = categorization.ovo_logreg_batched
    monkeypatch.setattr(categorization, "ovo_logreg_batched",
                        lambda x, y, **kw: fit(x, y, **{**kw, "max_iter": 2}))
    args = (mnist_codes["packed_train"], mnist_codes["y_train"], mnist_codes["packed_test"],
            mnist_codes["y_test"])
    with pytest.warns(ConvergenceWarning, match=r"45 pairwise model\(s\) stopped at max_iter"):
        rep = categorization_report(*args, metrics=("knn", "lr"), device="cpu",
                                    backend="torch", n_jobs=2)
    assert rep["lr_converged"] == 0.0


# ----------------------------------------------------------------------------- bad inputs


def test_bad_inputs_name_the_value() -> None:
    x = np.zeros((5, 3), dtype=np.float32)
    with pytest.raises(ValueError, match=r"backend must be one of \('sklearn', 'torch'\); got "
                                         r"backend='gpu'"):
        categorization_report(np.zeros((20, 1), np.uint8), np.arange(20) % 2,
                              np.zeros((4, 1), np.uint8), np.arange(4) % 2, backend="gpu")
    codes, y = np.zeros((20, 1), np.uint8), np.arange(20) % 2
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match=rf"n_jobs must be a positive integer; got "
                                             rf"n_jobs={bad!r}"):
            categorization_report(codes, y, codes, y, backend="torch", n_jobs=bad)
    with pytest.raises(ValueError, match=r"n_jobs=2 needs backend='torch'; with "
                                         r"backend='sklearn' use n_jobs=1 or None"):
        categorization_report(codes, y, codes, y, n_jobs=2)
    with pytest.raises(ValueError, match=r"n_clusters=6 needs at least 6 samples; got 5"):
        kmeans_batched(x, 6, device="cpu")
    with pytest.raises(ValueError, match=r"x must be a 2-D array .* got shape \(5,\)"):
        kmeans_batched(np.zeros(5), 2, device="cpu")
    with pytest.raises(ValueError, match=r"x holds NaN or infinite values"):
        kmeans_batched(np.full((5, 2), np.nan), 2, device="cpu")
    with pytest.raises(ValueError, match=r"n_init must be an integer >= 1; got n_init=0"):
        kmeans_batched(x, 2, n_init=0, device="cpu")
    with pytest.raises(ValueError, match=r"tol must be a finite number >= 0; got tol=-1"):
        kmeans_batched(x, 2, tol=-1, device="cpu")
    with pytest.raises(ValueError, match=r"at least 2 classes in y; got only \[7\]"):
        ovo_logreg_batched(x, np.full(5, 7), device="cpu")
    with pytest.raises(ValueError, match=r"y must be 1-D with one label per row of x \(5\)"):
        ovo_logreg_batched(x, np.zeros(4), device="cpu")
    with pytest.raises(ValueError, match=r"C must be a finite number > 0; got C=0"):
        ovo_logreg_batched(x, np.arange(5) % 2, C=0, device="cpu")
    with pytest.raises(ValueError, match=r"device must be"):
        kmeans_batched(x, 2, device="tpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_agrees_with_cpu(mnist_codes: dict[str, np.ndarray]) -> None:
    x, y = mnist_codes["train"], mnist_codes["y_train"]
    gpu, cpu = kmeans_batched(x, 10, device="cuda"), kmeans_batched(x, 10, device="cpu")
    assert abs(kmeans_purity(y, gpu.labels) - kmeans_purity(y, cpu.labels)) <= KMEANS_TOL
    lr_g = ovo_logreg_batched(x, y, device="cuda").predict(mnist_codes["test"])
    lr_c = ovo_logreg_batched(x, y, device="cpu").predict(mnist_codes["test"])
    assert abs((lr_g == mnist_codes["y_test"]).mean()
               - (lr_c == mnist_codes["y_test"]).mean()) <= LR_TOL
