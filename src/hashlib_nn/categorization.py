r"""Categorization metrics on packed neural codes (paper, Sec. 4: "categorization").

The paper asks whether neural codes carry the label: it fits three simple learners on the
codes alone and reports their accuracy.

* **K-Means** with 10 clusters, fit separately on the training codes and on the test codes
  (``n_init=10``, ``random_state=9`` as in the original code). Scored three ways, for N examples
  with true labels :math:`y` and clusters :math:`c`:

  .. math::

      \mathrm{purity} = \frac{1}{N} \sum_{j} \max_{y} |\{i : c_i = j, y_i = y\}|, \qquad
      \mathrm{hungarian} = \frac{1}{N} \max_{\pi\ \text{one-to-one}} \sum_j
          |\{i : c_i = j, y_i = \pi(j)\}|,

  and the normalized mutual information (scikit-learn, arithmetic mean). Purity lets several
  clusters take the same label; it is what the original computes and what the paper reports as
  K-Means "accuracy". It overstates accuracy; Hungarian matching does not.
* **K-NN**: k = 9, Hamming distance, fit on training codes, accuracy on test codes
  (:mod:`hashlib_nn.hamming`, exact, ties documented there).
* **Logistic regression**: scikit-learn ``OneVsOneClassifier`` around ``LogisticRegression``
  (as the original), fit on training codes, accuracy on test codes.

The original drops bits that are constant over train and test together before fitting; this
peeks at the test set and is exposed as ``drop_constant`` (default True, the paper's protocol).
Dropping a constant bit changes no Hamming distance, so it cannot change K-NN; it changes
K-Means only through floating-point rounding, and logistic regression through the L2 penalty.

>>> import numpy as np
>>> kmeans_purity(np.array([0, 0, 1, 1, 1]), np.array([0, 0, 0, 1, 1]))
0.8
>>> hungarian_accuracy(np.array([0, 0, 1, 1]), np.array([1, 1, 1, 0]))
0.75
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import normalized_mutual_info_score
from sklearn.multiclass import OneVsOneClassifier
from threadpoolctl import threadpool_limits

from hashlib_nn.codes import NeuralCodes
from hashlib_nn.device import resolve_device
from hashlib_nn.fast_categorization import kmeans_batched, ovo_logreg_batched
from hashlib_nn.hamming import (
    TrainCodes,
    check_codes,
    hamming_knn,
    iter_rows,
    knn_predict,
    topk_rows,
)
from hashlib_nn.metrics import distinct_codes
from hashlib_nn.validation import check_chunk_size, check_k, check_labels, check_same_length

__all__ = [
    "KnnTieStats",
    "categorization_report",
    "drop_constant_bits",
    "hungarian_accuracy",
    "kmeans_clusters",
    "kmeans_purity",
    "kmeans_scores",
    "knn_accuracy",
    "knn_accuracy_sklearn",
    "knn_tie_stats",
    "logreg_accuracy",
    "unpack_float",
]

METRICS = ("kmeans", "knn", "lr")
#: How K-Means and logistic regression are fit: scikit-learn's own calls (the default), or the
#: batched torch implementations of :mod:`hashlib_nn.fast_categorization` (CPU or CUDA).
BACKENDS = ("sklearn", "torch")


def _check_backend(backend: object) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}; got backend={backend!r}")
    return str(backend)
_UNPACK_ROWS = 8192


# --------------------------------------------------------------------------- validation


def _check_jobs(n_jobs: object, backend: str) -> int:
    """The number of threads of :func:`categorization_report` (its ``n_jobs``)."""
    if n_jobs is None:
        return max(1, min(4, torch.get_num_threads())) if backend == "torch" else 1
    jobs = _check_positive_int(n_jobs, "n_jobs")
    if jobs > 1 and backend != "torch":
        raise ValueError(f"n_jobs={jobs} needs backend='torch'; with backend={backend!r} use "
                         "n_jobs=1 or None (scikit-learn's fits set process-wide thread limits "
                         "and warn, which threads would mix up)")
    return jobs


def _at_least_two_classes(y: np.ndarray, name: str, what: str) -> None:
    classes = np.unique(y)
    if classes.shape[0] < 2:
        raise ValueError(
            f"{what} needs at least 2 classes in {name}; got only class {classes[0].item()!r}"
        )


def _pair(labels_true: object, clusters: object) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels_true)
    c = np.asarray(clusters)
    if y.ndim != 1 or c.ndim != 1:
        raise ValueError(
            f"labels_true and clusters must be 1-D; got shapes {y.shape} and {c.shape}"
        )
    if y.shape[0] != c.shape[0]:
        raise ValueError(
            f"labels_true has {y.shape[0]} entries but clusters has {c.shape[0]}; they must match"
        )
    if y.shape[0] == 0:
        raise ValueError("labels_true and clusters are empty; at least one example is needed")
    _at_least_two_classes(y, "labels_true", "a clustering score")
    return y, c


def _contingency(y: np.ndarray, c: np.ndarray) -> np.ndarray:
    """(n_clusters, n_classes) counts of examples per (cluster, label)."""
    _, yi = np.unique(y, return_inverse=True)
    _, ci = np.unique(c, return_inverse=True)
    n_c, n_y = int(ci.max()) + 1, int(yi.max()) + 1
    return np.bincount(ci * n_y + yi, minlength=n_c * n_y).reshape(n_c, n_y)


def _check_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {name}={value!r}")
    return int(value)


# --------------------------------------------------------------------------- bits


def unpack_float(
    codes: NeuralCodes | np.ndarray, dtype: type[np.floating] = np.float32, name: str = "codes"
) -> np.ndarray:
    """The codes as a (N, n_bits) float matrix of 0/1, unpacked 8,192 rows at a time.

    Allocates only the result (N n_bits itemsize bytes), no intermediate copy.

    >>> unpack_float(np.array([[0b10100000]], dtype=np.uint8)).tolist()
    [[1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]]
    """
    packed, n_bits = check_codes(codes, name)
    out: np.ndarray = np.empty((packed.shape[0], n_bits), dtype=dtype)
    for s in range(0, packed.shape[0], _UNPACK_ROWS):
        out[s : s + _UNPACK_ROWS] = np.unpackbits(
            packed[s : s + _UNPACK_ROWS], axis=1, count=n_bits
        )
    return out


def drop_constant_bits(
    train: NeuralCodes | np.ndarray,
    test: NeuralCodes | np.ndarray | None = None,
) -> tuple[NeuralCodes, NeuralCodes | None, np.ndarray]:
    """Remove the bits that are constant over ``train`` and ``test`` together.

    Returns ``(train', test', kept)``: re-packed codes holding only the varying bits, and the
    boolean mask of kept bits (length ``n_bits``). As in the original, constancy is judged on
    train and test *together* (the test set is peeked at); pass ``test=None`` to judge on the
    training codes alone. Works on packed rows (OR / AND reductions), unpacking only
    8,192 rows at a time to re-pack. Per-layer sizes of :class:`NeuralCodes` are kept.

    >>> tr = np.array([[0b11000000], [0b10000000]], dtype=np.uint8)
    >>> tr2, _, kept = drop_constant_bits(tr)
    >>> kept[:3].tolist(), tr2.n_bits, tr2.unpack().ravel().tolist()
    ([False, True, False], 1, [1, 0])
    """
    tp, n_bits = check_codes(train, "train")
    parts = [tp]
    if test is not None:
        qp, n_bits_q = check_codes(test, "test")
        check_same_length(n_bits, n_bits_q, "train", "test")
        parts.append(qp)
    any_one = np.bitwise_or.reduce([np.bitwise_or.reduce(p, axis=0) for p in parts])
    all_one = np.bitwise_and.reduce([np.bitwise_and.reduce(p, axis=0) for p in parts])
    kept = np.unpackbits(any_one & ~all_one, count=n_bits).astype(bool)
    n_kept = int(kept.sum())
    if n_kept == 0:
        raise ValueError(
            f"all n_bits={n_bits} bits are constant over the codes given; nothing would remain"
        )
    layer_sizes: tuple[int, ...] = ()
    if isinstance(train, NeuralCodes) and train.layer_sizes:
        bounds = np.cumsum((0,) + train.layer_sizes)
        pairs = zip(bounds[:-1], bounds[1:], strict=True)
        layer_sizes = tuple(int(kept[a:b].sum()) for a, b in pairs)

    def repack(packed: np.ndarray) -> NeuralCodes:
        if n_kept == n_bits:
            return NeuralCodes(np.ascontiguousarray(packed), n_bits, layer_sizes)
        out = np.empty((packed.shape[0], (n_kept + 7) // 8), dtype=np.uint8)
        for s in range(0, packed.shape[0], _UNPACK_ROWS):
            bits = np.unpackbits(packed[s : s + _UNPACK_ROWS], axis=1, count=n_bits)
            out[s : s + _UNPACK_ROWS] = np.packbits(bits[:, kept], axis=1)
        return NeuralCodes(out, n_kept, layer_sizes)

    return repack(tp), (repack(parts[1]) if test is not None else None), kept


# --------------------------------------------------------------------------- K-Means


def kmeans_purity(labels_true: np.ndarray, clusters: np.ndarray) -> float:
    r"""Cluster purity: every cluster takes its majority label (the original's K-Means score).

    :math:`\frac{1}{N} \sum_j \max_y n_{jy}` with :math:`n_{jy}` the examples of label y in
    cluster j. Several clusters may take the same label, so purity >= Hungarian accuracy.

    >>> kmeans_purity(np.array([0, 0, 1, 1]), np.array([5, 5, 5, 7]))
    0.75
    """
    y, c = _pair(labels_true, clusters)
    return float(_contingency(y, c).max(axis=1).sum() / y.shape[0])


kmeans_purity.higher_is_better = True  # type: ignore[attr-defined]


def hungarian_accuracy(labels_true: np.ndarray, clusters: np.ndarray) -> float:
    r"""Clustering accuracy under the best one-to-one matching of clusters to labels.

    :math:`\frac{1}{N}\max_\pi \sum_j n_{j\pi(j)}` over injective matchings (solved with
    ``scipy.optimize.linear_sum_assignment``); with more clusters than labels the extra
    clusters match nothing and count as errors.

    >>> hungarian_accuracy(np.array([0, 0, 1, 1]), np.array([5, 5, 5, 7]))
    0.75
    """
    y, c = _pair(labels_true, clusters)
    table = _contingency(y, c)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / y.shape[0])


hungarian_accuracy.higher_is_better = True  # type: ignore[attr-defined]


def kmeans_clusters(
    codes: NeuralCodes | np.ndarray,
    n_clusters: int = 10,
    *,
    n_init: int = 10,
    random_state: int | None = 9,
    n_threads: int | None = 1,
    backend: str = "sklearn",
    device: str | torch.device = "auto",
) -> tuple[np.ndarray, dict[str, float]]:
    """K-Means cluster of every code, and fit facts (inertia, iterations, distinct codes).

    scikit-learn ``KMeans(algorithm="lloyd")`` on the unpacked bits as **float32** (0/1 are
    exact; float32 halves memory and time against float64). With at most ``n_clusters``
    distinct codes, the optimum is known exactly (each distinct code its own cluster, inertia
    0) and is returned without running K-Means, which would warn and place duplicate centers.

    ``n_threads``: limit of the OpenMP/BLAS pools during the fit (``threadpoolctl``); None
    leaves them alone. The default 1 is deliberate: in float32 the partition depends on the
    thread count (summation order; on 48k MNIST codes 1 vs 2 threads gave ARI 0.99), so a
    fixed count makes results machine-independent, and on 2 shared cores one thread was
    also 2-3x faster (OpenMP threads spin while waiting for a busy core).

    ``backend="torch"``: :func:`hashlib_nn.fast_categorization.kmeans_batched` on ``device``,
    scikit-learn's algorithm with all ``n_init`` runs in one batch (``n_threads`` unused).

    >>> c, info = kmeans_clusters(np.array([[1], [1], [2]], dtype=np.uint8), 2)
    >>> c.tolist(), info["inertia"]
    ([0, 0, 1], 0.0)
    """
    packed, _ = check_codes(codes, "codes")
    n_clusters = _check_positive_int(n_clusters, "n_clusters")
    n_init = _check_positive_int(n_init, "n_init")
    backend = _check_backend(backend)
    if n_threads is not None:
        n_threads = _check_positive_int(n_threads, "n_threads")
    n = packed.shape[0]
    if n_clusters > n:
        raise ValueError(f"n_clusters={n_clusters} needs at least {n_clusters} codes; got {n}")
    groups = distinct_codes(packed)
    info = {"n_distinct": float(groups.n_distinct)}
    if groups.n_distinct <= n_clusters:
        return groups.inverse.copy(), {**info, "inertia": 0.0, "n_iter": 0.0}
    x = unpack_float(codes, np.float32)
    if backend == "torch":
        fit = kmeans_batched(x, n_clusters, n_init=n_init, random_state=random_state,
                             device=device)
        return fit.labels, {**info, "inertia": fit.inertia, "n_iter": float(fit.n_iter)}
    km = KMeans(n_clusters, n_init=n_init, random_state=random_state, algorithm="lloyd")
    with threadpool_limits(limits=n_threads):
        clusters = km.fit_predict(x)
    return clusters, {**info, "inertia": float(km.inertia_), "n_iter": float(km.n_iter_)}


def kmeans_scores(
    codes: NeuralCodes | np.ndarray,
    labels: np.ndarray,
    n_clusters: int = 10,
    n_init: int = 10,
    random_state: int | None = 9,
    *,
    n_threads: int | None = 1,
    backend: str = "sklearn",
    device: str | torch.device = "auto",
) -> dict[str, float]:
    """K-Means on ``codes`` scored against ``labels``: purity, Hungarian accuracy and NMI.

    The clustering is :func:`kmeans_clusters` (float32 bits, lloyd, ``n_threads`` as there).

    Keys: ``purity``, ``hungarian``, ``nmi`` (scores), ``inertia``, ``n_iter``, ``n_distinct``
    and ``time`` (seconds of the fit).
    """
    packed, _ = check_codes(codes, "codes")
    y = check_labels(labels, packed.shape[0], "labels", "codes")
    _at_least_two_classes(y, "labels", "K-Means scoring")
    t0 = time.perf_counter()
    clusters, info = kmeans_clusters(
        codes, n_clusters, n_init=n_init, random_state=random_state, n_threads=n_threads,
        backend=backend, device=device,
    )
    seconds = time.perf_counter() - t0
    return {
        "purity": kmeans_purity(y, clusters),
        "hungarian": hungarian_accuracy(y, clusters),
        "nmi": float(normalized_mutual_info_score(y, clusters)),
        **info,
        "time": seconds,
    }


# --------------------------------------------------------------------------- K-NN


def _knn_inputs(
    train_codes: NeuralCodes | np.ndarray,
    train_labels: np.ndarray,
    test_codes: NeuralCodes | np.ndarray,
    test_labels: np.ndarray,
    k: int,
) -> tuple[np.ndarray, int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validated inputs; labels mapped to 0..L-1 by sorted training label (-1: unseen)."""
    tp, n_bits = check_codes(train_codes, "train_codes")
    qp, n_bits_q = check_codes(test_codes, "test_codes")
    check_same_length(n_bits, n_bits_q, "train_codes", "test_codes")
    y_tr = check_labels(train_labels, tp.shape[0], "train_labels", "train_codes")
    y_te = check_labels(test_labels, qp.shape[0], "test_labels", "test_codes")
    check_k(k, tp.shape[0])
    classes, yi_tr = np.unique(y_tr, return_inverse=True)
    pos = np.clip(np.searchsorted(classes, y_te), 0, classes.shape[0] - 1)
    yi_te = np.where(classes[pos] == y_te, pos, -1)
    return tp, n_bits, qp, yi_tr.astype(np.int64), yi_te.astype(np.int64), classes


def knn_accuracy(
    train_codes: NeuralCodes | np.ndarray,
    train_labels: np.ndarray,
    test_codes: NeuralCodes | np.ndarray,
    test_labels: np.ndarray,
    k: int = 9,
    *,
    chunk_size: int | None = None,
    device: str | torch.device = "auto",
) -> float:
    r"""Accuracy of the k-nearest-neighbour vote (Hamming distance) on the test codes.

    :math:`\frac{1}{N_{test}} \sum_i [\hat y_i = y_i]`, :math:`\hat y_i` the majority label of
    the k nearest training codes (distance ties at the k-th place: smallest training index;
    vote ties: smallest label). Labels may be any sortable values.

    >>> tr = np.array([[0], [1], [254], [255]], dtype=np.uint8)
    >>> knn_accuracy(tr, np.array([0, 0, 1, 1]), np.array([[3]], np.uint8), np.array([0]), k=1)
    1.0
    """
    tp, n_bits, qp, yi_tr, yi_te, classes = _knn_inputs(
        train_codes, train_labels, test_codes, test_labels, k
    )
    _, idx = hamming_knn(
        NeuralCodes(tp, n_bits), NeuralCodes(qp, n_bits), k, chunk_size=chunk_size, device=device
    )
    pred = knn_predict(yi_tr, idx, classes.shape[0])
    return float((pred == yi_te).mean())


knn_accuracy.higher_is_better = True  # type: ignore[attr-defined]


@dataclass(frozen=True)
class KnnTieStats:
    """How much the distance-tie rule at the k-th neighbour matters (see :func:`knn_tie_stats`).

    tie_fraction: share of queries whose k-th distance is shared by more training codes than
        places left, so that the choice among them is a convention.
    mean_candidates: mean number of training codes within the k-th distance (>= k).
    accuracy_smallest_index: accuracy under this package's rule (smallest training index).
    accuracy_largest_index: accuracy when the largest training indices are kept instead.
    accuracy_min, accuracy_max: the lowest and highest accuracy over every way of choosing
        among tied codes, each query chosen independently (vote ties: smallest label).
    """

    tie_fraction: float
    mean_candidates: float
    accuracy_smallest_index: float
    accuracy_largest_index: float
    accuracy_min: float
    accuracy_max: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _can_win(less: np.ndarray, tied: np.ndarray, slots: np.ndarray, label: int) -> np.ndarray:
    """Per query: can ``label`` win the vote for some choice of ``slots`` tied codes?

    ``less``/``tied``: (Q, L) label counts of codes below / at the k-th distance. The label
    takes as many tied places as it can (never worse); every other label c must then stay
    below it (strictly when c < label, since vote ties go to the smallest label), and the
    remaining places must fit into what the others may still take.
    """
    take = np.minimum(tied[:, label], slots)
    votes = less[:, label] + take
    rest = slots - take
    n_labels = less.shape[1]
    strict = (np.arange(n_labels) < label).astype(np.int64)
    cap = votes[:, None] - strict[None, :] - less  # places each other label may still take
    cap[:, label] = 0
    others = np.ones(n_labels, dtype=bool)
    others[label] = False
    feasible = (cap[:, others] >= 0).all(axis=1)
    room = np.minimum(tied, np.maximum(cap, 0))
    room[:, label] = 0
    return feasible & (room.sum(axis=1) >= rest)


@torch.no_grad()
def knn_tie_stats(
    train_codes: NeuralCodes | np.ndarray,
    train_labels: np.ndarray,
    test_codes: NeuralCodes | np.ndarray,
    test_labels: np.ndarray,
    k: int = 9,
    *,
    chunk_size: int | None = None,
    device: str | torch.device = "auto",
) -> KnnTieStats:
    """How often the k-th neighbour is tied, and how far the tie rule can move K-NN accuracy.

    With short codes many training codes share each Hamming distance, so which of them fill
    the last places among the k neighbours is a convention. This computes the share of
    queries where it is one, the accuracy under the smallest- and the largest-index rule, and
    the exact range of accuracy over all choices (per query, the best and the worst
    admissible vote; a query counts as correct in the minimum only if no choice makes it wrong).
    """
    tp, n_bits, qp, yi_tr, yi_te, classes = _knn_inputs(
        train_codes, train_labels, test_codes, test_labels, k
    )
    dev = resolve_device(device)
    n_train, n_labels = tp.shape[0], classes.shape[0]
    chunk = check_chunk_size(chunk_size, n_train, n_bits)
    side = TrainCodes(tp, n_bits, dev)
    onehot = torch.zeros((n_train, n_labels), dtype=torch.float32, device=dev)
    onehot[torch.arange(n_train, device=dev), torch.from_numpy(yi_tr).to(dev)] = 1.0
    n_tied_query = 0
    candidates = 0.0
    correct = np.zeros(4, dtype=np.int64)  # smallest, largest, min, max
    for s, e, d, _ in iter_rows(side, qp, chunk, add_query_norm=False):
        y = yi_te[s:e]
        _, idx_small = topk_rows(d, k)
        _, idx_large = topk_rows(d.flip(1), k)
        idx_large = n_train - 1 - idx_large
        pred_small = knn_predict(yi_tr, idx_small.cpu().numpy(), n_labels)
        pred_large = knn_predict(yi_tr, idx_large.cpu().numpy(), n_labels)
        v_k = torch.topk(d, k, dim=1, largest=False, sorted=True).values[:, k - 1 :]
        less = ((d < v_k).to(torch.float32) @ onehot).round().to(torch.int64).cpu().numpy()
        tied = ((d == v_k).to(torch.float32) @ onehot).round().to(torch.int64).cpu().numpy()
        slots = k - less.sum(axis=1)
        n_tied = tied.sum(axis=1)
        n_tied_query += int((n_tied > slots).sum())
        candidates += float((less.sum(axis=1) + n_tied).sum())
        can = np.stack([_can_win(less, tied, slots, c) for c in range(n_labels)], axis=1)
        seen = y >= 0
        rows = np.arange(y.shape[0])
        best = np.zeros(y.shape[0], dtype=bool)
        best[seen] = can[rows[seen], y[seen]]
        can_other = can.copy()
        can_other[rows[seen], y[seen]] = False
        worst = seen & ~can_other.any(axis=1)
        correct += [
            int((pred_small == y).sum()),
            int((pred_large == y).sum()),
            int(worst.sum()),
            int(best.sum()),
        ]
    n_query = qp.shape[0]
    acc = correct / n_query
    return KnnTieStats(
        tie_fraction=n_tied_query / n_query,
        mean_candidates=candidates / n_query,
        accuracy_smallest_index=float(acc[0]),
        accuracy_largest_index=float(acc[1]),
        accuracy_min=float(acc[2]),
        accuracy_max=float(acc[3]),
    )


# --------------------------------------------------------------------------- LR


def logreg_accuracy(
    train_codes: NeuralCodes | np.ndarray,
    train_labels: np.ndarray,
    test_codes: NeuralCodes | np.ndarray,
    test_labels: np.ndarray,
    *,
    n_threads: int | None = 1,
    backend: str = "sklearn",
    device: str | torch.device = "auto",
    **kwargs: object,
) -> float:
    r"""Test accuracy of one-vs-one logistic regression fit on the training codes.

    As the original: ``OneVsOneClassifier(LogisticRegression())`` (L2, C = 1, lbfgs), one
    binary model per pair of classes, prediction by vote. One change: ``max_iter`` defaults to
    1000 instead of scikit-learn's 100, which stops early on neural codes with a
    ``ConvergenceWarning``; any ``kwargs`` go to ``LogisticRegression`` (e.g. ``max_iter``).
    Codes enter as float64 0/1, what scikit-learn makes of integer codes (8 N n_bits bytes:
    48k x 1,000-bit codes peaked at about 0.6 GB; 100-bit codes at about 0.2 GB).

    ``n_threads``: limit of the BLAS/OpenMP pools during fit and predict (``threadpoolctl``);
    None leaves them alone. The default 1 matters: on 48k x 100-bit MNIST codes and 2 shared
    cores the 45 small lbfgs problems took 2.5 CPU-s with one thread and 38 CPU-s (15x)
    with the default two, which spin against each other and other processes.

    ``backend="torch"``: :func:`hashlib_nn.fast_categorization.ovo_logreg_batched` on
    ``device``, all pairs in one batched L-BFGS (``kwargs``: ``C``, ``tol``, ``max_iter``); a
    pair stopped at ``max_iter`` raises one ``ConvergenceWarning``, as scikit-learn would.

    >>> tr = np.array([[0], [1], [254], [255]], dtype=np.uint8)
    >>> logreg_accuracy(tr, np.array([0, 0, 1, 1]), np.array([[3]], np.uint8), np.array([0]))
    1.0
    """
    tp, n_bits = check_codes(train_codes, "train_codes")
    qp, n_bits_q = check_codes(test_codes, "test_codes")
    check_same_length(n_bits, n_bits_q, "train_codes", "test_codes")
    y_tr = check_labels(train_labels, tp.shape[0], "train_labels", "train_codes")
    y_te = check_labels(test_labels, qp.shape[0], "test_labels", "test_codes")
    _at_least_two_classes(y_tr, "train_labels", "logistic regression")
    if n_threads is not None:
        n_threads = _check_positive_int(n_threads, "n_threads")
    acc, n_failed = _logreg(tp, y_tr, qp, y_te, n_bits, n_threads, backend, device, kwargs)
    for _ in range(n_failed):  # scikit-learn warns from inside its fit; this path warns here
        warnings.warn("lbfgs failed to converge (batched one-vs-one logistic regression)",
                      ConvergenceWarning, stacklevel=2)
    return acc


def _logreg(
    tp: np.ndarray,
    y_tr: np.ndarray,
    qp: np.ndarray,
    y_te: np.ndarray,
    n_bits: int,
    n_threads: int | None,
    backend: str,
    device: str | torch.device,
    kwargs: dict[str, object],
) -> tuple[float, int]:
    """(accuracy, pairwise models of the torch backend stopped at max_iter) of
    :func:`logreg_accuracy` on checked inputs; warns nothing itself (scikit-learn's own fit
    still raises its ``ConvergenceWarning``)."""
    params: dict[str, object] = {"max_iter": 1000, **kwargs}
    if _check_backend(backend) == "torch":
        unknown = sorted(set(params) - {"C", "tol", "max_iter"})
        if unknown:
            raise ValueError(f"backend='torch' accepts the options C, tol and max_iter; got "
                             f"{unknown}")
        fit = ovo_logreg_batched(unpack_float(NeuralCodes(tp, n_bits), np.float32), y_tr,
                                 device=device, **params)  # type: ignore[arg-type]
        pred = fit.predict(unpack_float(NeuralCodes(qp, n_bits), np.float32))
        return float((pred == y_te).mean()), int((~fit.converged).sum())
    model = OneVsOneClassifier(LogisticRegression(**params))  # type: ignore[arg-type]
    x_tr = unpack_float(NeuralCodes(tp, n_bits), np.float64)
    with threadpool_limits(limits=n_threads):
        model.fit(x_tr, y_tr)
        del x_tr
        pred = model.predict(unpack_float(NeuralCodes(qp, n_bits), np.float64))
    return float((pred == y_te).mean()), 0


logreg_accuracy.higher_is_better = True  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- report


def _report_tasks(
    wanted: Sequence[str],
    train: NeuralCodes,
    y_tr: np.ndarray,
    test: NeuralCodes,
    y_te: np.ndarray,
    k: int,
    n_clusters: int,
    n_init: int,
    random_state: int | None,
    n_threads: int | None,
    backend: str,
    device: str | torch.device,
) -> list[tuple[str, Callable[[], dict[str, float]]]]:
    """The independent computations of :func:`categorization_report`, in its key order: (name,
    a call returning that part of the report). LR's part carries ``_lr_failed``, the number of
    pairwise models that stopped at max_iter."""
    tasks: list[tuple[str, Callable[[], dict[str, float]]]] = []

    def kmeans(split: str, codes: NeuralCodes, y: np.ndarray) -> dict[str, float]:
        scores = kmeans_scores(codes, y, n_clusters, n_init, random_state, n_threads=n_threads,
                               backend=backend, device=device)  # fmt: skip
        part = {f"kmeans_{key}_{split}": scores[key] for key in ("purity", "hungarian", "nmi")}
        return {**part, f"time_kmeans_{split}": scores["time"]}

    def knn() -> dict[str, float]:
        t0 = time.perf_counter()
        acc = knn_accuracy(train, y_tr, test, y_te, k, device=device)
        return {"knn_test": acc, "time_knn": time.perf_counter() - t0}

    def lr() -> dict[str, float]:
        t0 = time.perf_counter()
        args = (train.packed, y_tr, test.packed, y_te, train.n_bits, n_threads, backend, device,
                {})  # fmt: skip
        if backend == "torch":  # the batched fit counts its unconverged pairs itself
            acc, n_failed = _logreg(*args)
        else:  # scikit-learn warns from inside its fit: count those warnings
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                acc, _ = _logreg(*args)
            n_failed = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
            for w in caught:  # other warnings go on to the caller's filters unchanged
                if not issubclass(w.category, ConvergenceWarning):
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return {"lr_test": acc, "lr_converged": float(n_failed == 0),
                "time_lr": time.perf_counter() - t0, "_lr_failed": float(n_failed)}  # fmt: skip

    if "kmeans" in wanted:
        tasks.append(("kmeans_train", lambda: kmeans("train", train, y_tr)))
        tasks.append(("kmeans_test", lambda: kmeans("test", test, y_te)))
    if "knn" in wanted:
        tasks.append(("knn", knn))
    if "lr" in wanted:
        tasks.append(("lr", lr))
    return tasks


def categorization_report(
    train_codes: NeuralCodes | np.ndarray,
    y_train: np.ndarray,
    test_codes: NeuralCodes | np.ndarray,
    y_test: np.ndarray,
    *,
    k: int = 9,
    n_clusters: int = 10,
    n_init: int = 10,
    random_state: int | None = 9,
    drop_constant: bool = True,
    metrics: Sequence[str] = METRICS,
    device: str | torch.device = "auto",
    n_threads: int | None = 1,
    backend: str = "sklearn",
    n_jobs: int | None = None,
) -> dict[str, float]:
    """The paper's categorization metrics on one pair of train / test codes, as a flat dict.

    Keys (for the metrics asked for): ``kmeans_{purity,hungarian,nmi}_{train,test}``,
    ``knn_test``, ``lr_test``, ``lr_converged`` (1.0, or 0.0 when some pairwise model stopped
    at ``max_iter``; one ``ConvergenceWarning`` then says so); ``n_bits``, ``n_bits_kept``
    (after dropping constant bits; 0 when every bit is constant, in which case the codes are
    used unchanged), ``n_train``,
    ``n_test``; and timings in seconds ``time_drop``, ``time_kmeans_train``,
    ``time_kmeans_test``, ``time_knn``, ``time_lr``, ``time_total``.

    ``device`` is for K-NN (torch); ``n_threads`` limits the thread pools of K-Means and
    logistic regression (see :func:`kmeans_clusters` and :func:`logreg_accuracy`).
    ``backend``: ``"sklearn"`` (default) or ``"torch"`` (batched, on ``device``) for K-Means and
    logistic regression (:mod:`hashlib_nn.fast_categorization`).

    ``n_jobs``: how many of the four computations (K-Means on the training codes, on the test
    codes, K-NN, LR) run at once, in threads. Each is computed exactly as alone, so the values
    do not depend on it (tested); only the ``time_*`` entries then overlap. None (default):
    ``torch.get_num_threads()`` with the torch backend (one in a single-thread process), 1
    with scikit-learn's, whose fits set process-wide thread limits and raise warnings that
    threads would mix up; more than 1 needs ``backend="torch"``.
    """
    t_start = time.perf_counter()
    wanted = tuple(metrics) if not isinstance(metrics, str) else (metrics,)
    unknown = [m for m in wanted if m not in METRICS]
    if unknown or not wanted:
        raise ValueError(f"metrics must be a non-empty subset of {METRICS}; got {metrics!r}")
    backend = _check_backend(backend)
    jobs = _check_jobs(n_jobs, backend)
    tp, n_bits = check_codes(train_codes, "train_codes")
    qp, n_bits_q = check_codes(test_codes, "test_codes")
    check_same_length(n_bits, n_bits_q, "train_codes", "test_codes")
    y_tr = check_labels(y_train, tp.shape[0], "y_train", "train_codes")
    y_te = check_labels(y_test, qp.shape[0], "y_test", "test_codes")
    if "knn" in wanted:
        check_k(k, tp.shape[0])
    if "kmeans" in wanted:
        n_clusters = _check_positive_int(n_clusters, "n_clusters")
        for n, name in ((tp.shape[0], "train_codes"), (qp.shape[0], "test_codes")):
            if n_clusters > n:
                raise ValueError(
                    f"n_clusters={n_clusters} needs at least {n_clusters} codes; {name} has {n}"
                )
        _at_least_two_classes(y_tr, "y_train", "K-Means scoring")
        _at_least_two_classes(y_te, "y_test", "K-Means scoring")
    if "lr" in wanted:
        _at_least_two_classes(y_tr, "y_train", "logistic regression")

    train: NeuralCodes = (
        train_codes if isinstance(train_codes, NeuralCodes) else NeuralCodes(tp, n_bits)
    )
    test: NeuralCodes = (
        test_codes if isinstance(test_codes, NeuralCodes) else NeuralCodes(qp, n_bits)
    )
    out: dict[str, float] = {
        "n_bits": float(n_bits),
        "n_bits_kept": float(n_bits),
        "n_train": float(tp.shape[0]),
        "n_test": float(qp.shape[0]),
    }
    t0 = time.perf_counter()
    if drop_constant:
        try:
            train_k, test_k, kept = drop_constant_bits(train, test)
        except ValueError:
            out["n_bits_kept"] = 0.0  # every bit constant: nothing to drop to
        else:
            assert test_k is not None
            train, test = train_k, test_k
            out["n_bits_kept"] = float(kept.sum())
    out["time_drop"] = time.perf_counter() - t0

    tasks = _report_tasks(wanted, train, y_tr, test, y_te, k, n_clusters, n_init,
                          random_state, n_threads, backend, device)
    if jobs == 1:
        parts = [fn() for _, fn in tasks]
    else:
        # Only the torch backend runs here (checked above): it sets no thread limit of its own
        # that another task could undo, except K-Means' numpy BLAS limit of 1, held here for
        # the whole block so that the tasks' nested limits change nothing; and its fits warn
        # nothing (the LR count comes back as a number), as warnings.catch_warnings is not
        # thread-safe. Longest first: K-Means on the training codes, K-NN, LR, K-Means on test.
        order = {"kmeans_train": 0, "knn": 1, "lr": 2, "kmeans_test": 3}
        with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(jobs) as pool:
            futures = {name: pool.submit(fn) for name, fn in
                       sorted(tasks, key=lambda task: order[task[0]])}
            parts = [futures[name].result() for name, _ in tasks]
    n_failed = 0
    for part in parts:
        n_failed += int(part.pop("_lr_failed", 0))
        out.update(part)
    if n_failed:
        warnings.warn(
            f"logistic regression: {n_failed} pairwise model(s) stopped at max_iter without "
            "converging; reported lr_converged=0.0",
            ConvergenceWarning,
            stacklevel=2,
        )
    out["time_total"] = time.perf_counter() - t_start
    return out


# --------------------------------------------------------------- K-NN, the original's call

#: The algorithms scikit-learn's KNeighborsClassifier accepts.
SKLEARN_KNN_ALGORITHMS = ("auto", "ball_tree", "kd_tree", "brute")


def knn_accuracy_sklearn(
    train_codes: NeuralCodes | np.ndarray,
    y_train: np.ndarray,
    test_codes: NeuralCodes | np.ndarray,
    y_test: np.ndarray,
    *,
    k: int = 9,
    algorithm: str = "auto",
    drop_constant: bool = True,
) -> float:
    """K-NN accuracy exactly as the original computed it: scikit-learn's
    ``KNeighborsClassifier(n_neighbors=k, metric="hamming", algorithm=algorithm)`` fit on the
    0/1 training codes, ``score`` on the test codes, after dropping the bits constant over train
    and test together (protocol.md). The result is scikit-learn's, so it is exact by
    construction: which of the training codes tied at the k-th distance are kept is whatever
    the chosen search keeps (:func:`knn_accuracy` keeps the smallest training indices instead).

    Which search ``"auto"`` picks depends on the scikit-learn version: since 0.24, a ball tree
    for at most 15 (kept) bits and brute force above (``pairwise_distances_chunked`` with
    SciPy's Hamming distance, then ``np.argpartition``); before 0.24, which the original's Keras
    2.2 era ran, a ball tree at every width (Hamming is no KD-tree metric). Pass
    ``algorithm="ball_tree"`` for the older rule. Vote ties go to the smallest label in both.

    Cost on MNIST (48,000 x 10,000 codes, 2 cores): about 1 s at 10 bits (ball tree), 10-17 s
    at 20-40 bits and over a minute at 100 bits (brute force), against about 1 s for
    :func:`knn_accuracy`; so it is not among the default suites of an evaluation.

    >>> tr = np.array([[0b00000000], [0b01000000], [0b11000000]], dtype=np.uint8)
    >>> knn_accuracy_sklearn(tr, np.array([0, 1, 1]), tr, np.array([0, 1, 1]), k=1)
    1.0
    """
    from sklearn.neighbors import KNeighborsClassifier

    tp, n_bits = check_codes(train_codes, "train_codes")
    qp, n_bits_q = check_codes(test_codes, "test_codes")
    check_same_length(n_bits, n_bits_q, "train_codes", "test_codes")
    y_tr = check_labels(y_train, tp.shape[0], "y_train", "train_codes")
    y_te = check_labels(y_test, qp.shape[0], "y_test", "test_codes")
    check_k(k, tp.shape[0])
    if algorithm not in SKLEARN_KNN_ALGORITHMS:
        accepted = ", ".join(repr(a) for a in SKLEARN_KNN_ALGORITHMS)
        raise ValueError(f"algorithm must be one of {accepted}; got algorithm={algorithm!r}")
    if algorithm == "kd_tree":
        raise ValueError("algorithm='kd_tree' does not support the Hamming metric; use 'auto', "
                         "'ball_tree' or 'brute'")  # fmt: skip
    train: NeuralCodes | np.ndarray = NeuralCodes(tp, n_bits)
    test: NeuralCodes | np.ndarray = NeuralCodes(qp, n_bits)
    if drop_constant:
        try:
            train_k, test_k, _ = drop_constant_bits(train, test)
        except ValueError:
            pass  # every bit constant: the codes unchanged (as categorization_report)
        else:
            assert test_k is not None
            train, test = train_k, test_k
    a = unpack_float(train, np.float64)  # what scikit-learn converts 0/1 arrays to anyway
    b = unpack_float(test, np.float64)
    model = KNeighborsClassifier(n_neighbors=k, metric="hamming", algorithm=algorithm)
    return float(model.fit(a, y_tr).score(b, y_te))


knn_accuracy_sklearn.higher_is_better = True  # type: ignore[attr-defined]
