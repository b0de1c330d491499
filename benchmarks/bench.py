"""`make bench`: speed and memory of hashlib_nn against the original pipeline's way.

    python benchmarks/bench.py                     # the full run (about 5-8 min on 2 cores)
    python benchmarks/bench.py --quick             # smoke run on smaller data
    python benchmarks/bench.py --json benchmarks/results/cpu-2core.json

The 1-minute load average is printed before and after the run; with ``--json`` the script
refuses to start (and to write) when the load average before the run is above 1.5, as the
figures would measure the other processes too, unless ``--force`` is given. The tables are laid
out by :mod:`hashlib_nn.reports.benchmarks`, which the compute appendix uses to show the
committed run (``benchmarks/results/cpu-2core.json``).

What is measured (this script prints it; ``book/appendix_compute.md`` shows it), all
on one width-100 MNIST model trained briefly by the protocol and on its codes, in one run:

* **full evaluation**: train and test redundancy ratio, K-Means on the training and on the test
  codes, K-NN (k = 9, Hamming) and one-vs-one logistic regression. Ours:
  :func:`hashlib_nn.metrics.redundancy_ratio` and
  :func:`hashlib_nn.categorization.categorization_report` on packed codes with
  ``backend="torch"`` (batched K-Means and logistic regression,
  :mod:`hashlib_nn.fast_categorization`); the package default (``backend="sklearn"``) is
  measured beside it as a reference. The original's way
  (:func:`original_evaluation`): ``np.unique(axis=0)`` over int8 rows, float64 K-Means
  (scikit-learn's default algorithm, ``n_init=10``) on the unpacked codes, scikit-learn's brute
  force Hamming ``KNeighborsClassifier`` and ``OneVsOneClassifier(LogisticRegression())``;
  once with the thread pools left at their defaults (as the original ran) and once limited to
  one thread (``threadpoolctl``), the setting our K-Means and LR use;
* **K-NN** alone, 48,000 training x 10,000 test codes: :func:`hashlib_nn.hamming.hamming_knn`
  against scikit-learn's brute force, with the equality check (same 9 neighbour distances for
  every query; same prediction on every query without a distance tie at the 9th place);
* **redundancy ratio** of 60,000 packed codes against ``np.unique(axis=0)`` over int8 rows;
* **encoding** 60,000 images (:func:`hashlib_nn.codes.neural_codes`) against a bare forward
  pass of the same model in the same batches;
* **batched training**: 10 width-50 MLPs by :func:`hashlib_nn.batched.train_many` against one
  at a time (:func:`hashlib_nn.batched.train_many_sequential`).

Every measurement runs in a **fresh subprocess** (``python benchmarks/bench.py _worker ...``)
that loads its inputs, resets the kernel's resident-set high-water mark
(``/proc/self/clear_refs``), and reports wall time, process CPU time (all threads) and peak
memory = ``VmHWM`` after the call minus ``VmRSS`` before it (inputs and imports excluded; torch's
CPU tensors live in ordinary process memory, so RSS covers them). The two short benchmarks
(redundancy ratio, encoding) are timed in one subprocess alternating the two sides, with
separate subprocesses for their peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch / scikit-learn load OpenMP

import numpy as np  # noqa: E402

from hashlib_nn.reports.benchmarks import format_report  # noqa: E402
from hashlib_nn.reports.benchmarks import line as _line  # noqa: E402

#: Above this 1-minute load average before the run, --json refuses to write (unless --force).
MAX_LOAD = 1.5


KNN_K = 9


# ------------------------------------------------------------------------------------ settings


@dataclass(frozen=True)
class BenchSettings:
    """What one benchmark run does. ``full()`` is ``make bench``; ``quick()`` a smoke run."""

    quick: bool = False  # smaller data everywhere; ratios are indicative, not the goals' setting
    epochs: int = 3  # training epochs of the width-100 model whose codes are measured
    width: int = 100  # hidden units of that model (depth 1, the paper's MNIST MLP)
    n_train: int = 48_000  # training codes evaluated (the protocol's MNIST split)
    n_test: int = 10_000  # test codes evaluated
    n_encode: int = 60_000  # images encoded / codes hashed (all official MNIST training images)
    knn_queries: int = 10_000  # test queries scikit-learn's K-NN answers in the K-NN benchmark
    eval_knn_queries: int = 3_000  # ... inside the original full evaluation (scaled linearly)
    knn_repeats: int = 3  # timed calls of our K-NN (median; scikit-learn's single call is long)
    eval_repeats: int = 3  # timed calls of our full evaluation (median; the original's is long)
    batched_models: int = 10
    batched_width: int = 50
    batched_epochs: int = 1
    batched_n: int = 48_000
    batched_repeats: int = 2  # alternating timings of each side of the batched benchmark
    repeats: int = 11  # alternating timings of each side of the short benchmarks
    device: str = "cpu"  # torch device of our side (the figures are CPU figures)
    seed: int = 0

    @classmethod
    def full(cls, **overrides: Any) -> BenchSettings:
        return cls(**overrides)

    @classmethod
    def quick_run(cls, **overrides: Any) -> BenchSettings:
        base: dict[str, Any] = dict(
            quick=True, epochs=1, n_train=12_000, n_test=2_000, knn_queries=1_000,
            eval_knn_queries=500, batched_n=12_000, repeats=3, batched_repeats=1,
        )
        return cls(**{**base, **overrides})


# ------------------------------------------------------------------------------ machine facts


def load_average() -> float:
    """1-minute load average (``/proc/loadavg``; ``os.getloadavg`` elsewhere)."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:
        return float(os.getloadavg()[0])


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """CPU, cores, memory, library versions, thread-pool defaults, date and load average."""
    import scipy
    import sklearn
    import threadpoolctl
    import torch

    from hashlib_nn.book import package_fingerprint

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 0
    mem_gib = float("nan")
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = int(line.split()[1]) / 2**20
    except OSError:
        pass
    pools = sorted({f"{p['user_api']}:{p['internal_api']}={p['num_threads']}"
                    for p in threadpoolctl.threadpool_info()})
    return {
        "cpu": _cpu_model(),
        "cores": cores,
        "memory_gib": round(mem_gib, 1),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "sklearn": sklearn.__version__,
        "threadpoolctl": threadpoolctl.__version__,
        "thread_pools": pools,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "hashlib_nn": package_fingerprint(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "load_average_start": load_average(),
    }


# --------------------------------------------------------------------------- memory and time


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux ``clear_refs`` 5); False where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_mib() -> float:
    try:
        return _status_mib("VmHWM")
    except (OSError, KeyError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mib() -> float:
    try:
        return _status_mib("VmRSS")
    except (OSError, KeyError):
        return float("nan")


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, process CPU seconds) of one call."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


# ---------------------------------------------------------------------- the original's way


def _purity(labels: np.ndarray, clusters: np.ndarray) -> float:
    from sklearn.metrics.cluster import contingency_matrix

    return float(contingency_matrix(labels, clusters).max(axis=0).sum() / labels.shape[0])


def original_redundancy_ratio(bits: np.ndarray) -> float:
    """The original's RR: ``np.unique(axis=0)`` over the unpacked 0/1 rows."""
    return (bits.shape[0] - np.unique(bits, axis=0).shape[0]) / bits.shape[0]


def original_evaluation(
    train_bits: np.ndarray,
    y_train: np.ndarray,
    test_bits: np.ndarray,
    y_test: np.ndarray,
    *,
    knn_queries: int | None = None,
    n_threads: int | None = None,
) -> dict[str, float]:
    """The original pipeline's evaluation of one pair of train/test codes, timed per stage.

    ``train_bits``/``test_bits``: int8 0/1 matrices (N, n_bits), the original's representation.
    Stages: RR train and test (``np.unique(axis=0)``); dropping bits constant over train and
    test; ``KMeans(10, n_init=10, random_state=9)`` (default algorithm, float64) on train and
    on test, scored as purity; ``KNeighborsClassifier(9, metric="hamming", algorithm="brute")``
    fit on train, scored on the first ``knn_queries`` test codes (all when None);
    ``OneVsOneClassifier(LogisticRegression())`` with scikit-learn's defaults (100 lbfgs
    iterations; convergence warnings silenced). ``n_threads`` limits the BLAS/OpenMP pools
    (``threadpoolctl``); None leaves them at their defaults, as the original did.

    Returns scores and ``time_<stage>`` / ``cpu_<stage>`` seconds; ``knn_scale`` is
    ``len(test) / knn_queries``, the factor by which the K-NN stage was shortened.
    """
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsOneClassifier
    from sklearn.neighbors import KNeighborsClassifier
    from threadpoolctl import threadpool_limits

    q = test_bits.shape[0] if knn_queries is None else min(int(knn_queries), test_bits.shape[0])
    out: dict[str, float] = {}

    def stage(name: str, fn: Callable[[], Any]) -> Any:
        result, wall, cpu = _timed(fn)
        out[f"time_{name}"], out[f"cpu_{name}"] = wall, cpu
        return result

    with threadpool_limits(limits=n_threads), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        out["rr_train"] = stage("rr_train", lambda: original_redundancy_ratio(train_bits))
        out["rr_test"] = stage("rr_test", lambda: original_redundancy_ratio(test_bits))

        def drop() -> tuple[np.ndarray, np.ndarray]:
            both = np.concatenate([train_bits, test_bits])
            keep = both.min(axis=0) != both.max(axis=0)
            return train_bits[:, keep], test_bits[:, keep]

        tr, te = stage("drop", drop)
        for split, x, y in (("train", tr, y_train), ("test", te, y_test)):
            km = KMeans(n_clusters=10, n_init=10, random_state=9)
            clusters = stage(f"kmeans_{split}", partial(km.fit_predict, x))
            out[f"kmeans_purity_{split}"] = _purity(y, clusters)

        def knn() -> float:
            model = KNeighborsClassifier(n_neighbors=KNN_K, metric="hamming", algorithm="brute")
            return float(model.fit(tr, y_train).score(te[:q], y_test[:q]))

        out["knn_test"] = stage("knn", knn)
        out["knn_queries"] = float(q)
        out["knn_scale"] = test_bits.shape[0] / q

        def lr() -> float:
            model = OneVsOneClassifier(LogisticRegression())
            return float(model.fit(tr, y_train).score(te, y_test))

        out["lr_test"] = stage("lr", lr)
    return out


def our_evaluation(
    train: Any, y_train: np.ndarray, test: Any, y_test: np.ndarray, *, device: str = "cpu",
    backend: str = "torch",
) -> dict[str, float]:
    """This package's evaluation: packed RR train and test, then ``categorization_report``
    (K-NN on ``device``; K-Means and LR by ``backend``: ``"torch"`` batched on ``device``,
    ``"sklearn"`` scikit-learn with one thread, the package default)."""
    from hashlib_nn.categorization import categorization_report
    from hashlib_nn.metrics import redundancy_ratio

    out: dict[str, float] = {}
    for split, codes in (("train", train), ("test", test)):
        rr, wall, cpu = _timed(partial(redundancy_ratio, codes))
        out[f"rr_{split}"], out[f"time_rr_{split}"], out[f"cpu_rr_{split}"] = rr, wall, cpu
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = categorization_report(train, y_train, test, y_test, device=device,
                                       backend=backend)
    out.update({k: v for k, v in report.items() if k != "time_total"})
    return out


# ------------------------------------------------------------------------------- breakdowns


def torch_op_profile(fn: Callable[[], Any], top: int = 8) -> dict[str, float]:
    """Self CPU milliseconds of the ``top`` most expensive torch operators in one call of
    ``fn`` (``torch.profiler``), plus ``"total"``."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    out = {e.key: e.self_cpu_time_total / 1e3 for e in events[:top]}
    out["total"] = sum(e.self_cpu_time_total for e in events) / 1e3
    return out


def _median_cpu_ms(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        _, _, cpu = _timed(fn)
        times.append(cpu)
    return statistics.median(times) * 1e3


def rr_breakdown(codes: Any, repeats: int = 7) -> dict[str, float]:
    """Median CPU ms of the parts of ``redundancy_ratio``: row hashing, sorting the hashes
    (``np.sort``: the least any hash-and-sort method pays), and the whole call; the rest of
    the call is building the full partition (``distinct_codes``: stable argsort, gather,
    renumbering groups by first appearance)."""
    from hashlib_nn.metrics import _row_hash, _row_words, redundancy_ratio

    words = _row_words(codes.packed)
    h = _row_hash(words)
    return {
        "hash_ms": _median_cpu_ms(lambda: _row_hash(_row_words(codes.packed)), repeats),
        "sort_hashes_ms": _median_cpu_ms(lambda: np.sort(h), repeats),
        "stable_argsort_hashes_ms": _median_cpu_ms(lambda: np.argsort(h, kind="stable"),
                                                   repeats),
        "redundancy_ratio_ms": _median_cpu_ms(lambda: redundancy_ratio(codes), repeats),
    }


def encode_breakdown(model: Any, x: np.ndarray, repeats: int = 7,
                     batch_size: int = 8192) -> dict[str, float]:
    """Median CPU ms over all of ``x``: bare forward, ``neural_codes``, and the packing step
    alone (``codes._pack_rows`` on the hidden activations' ``> 0``, batch by batch) against
    ``np.packbits`` on the same bits."""
    import torch

    from hashlib_nn.codes import _pack_rows, neural_codes

    model.eval()
    with torch.no_grad():
        bits = [(model.hidden(torch.as_tensor(x[s : s + batch_size])) > 0)
                for s in range(0, len(x), batch_size)]
    return {
        "forward_ms": _median_cpu_ms(lambda: bare_forward(model, x), repeats),
        "neural_codes_ms": _median_cpu_ms(lambda: neural_codes(model, x, device="cpu"),
                                          repeats),
        "pack_rows_ms": _median_cpu_ms(lambda: [_pack_rows(b) for b in bits], repeats),
        "np_packbits_ms": _median_cpu_ms(
            lambda: [np.packbits(b.numpy(), axis=1) for b in bits], repeats),
    }


# ---------------------------------------------------------------------------- worker tasks


@dataclass
class _Task:
    """Prepared work: ``run`` is measured; ``warm`` (optional) runs once before, untimed."""

    run: Callable[[], Any]
    warm: Callable[[], Any] | None = None
    threads: str = ""
    save: Callable[[Any], dict[str, Any]] | None = None  # result -> JSON-able outputs
    profile: Callable[[], dict[str, Any]] | None = None  # untimed breakdown after the call


def _inputs(d: Path) -> dict[str, Any]:
    meta = json.loads((d / "meta.json").read_text())
    arrays = np.load(d / "codes.npz")
    return {"meta": meta, **{k: arrays[k] for k in arrays.files}}


def _codes(d: Path, p: dict[str, Any]) -> tuple[Any, np.ndarray, Any, np.ndarray]:
    from hashlib_nn.codes import NeuralCodes

    inp = _inputs(d)
    n_bits = inp["meta"]["n_bits"]
    tr = NeuralCodes(np.ascontiguousarray(inp["all"][: p["n_train"]]), n_bits)
    te = NeuralCodes(np.ascontiguousarray(inp["test"][: p["n_test"]]), n_bits)
    return tr, inp["y_all"][: p["n_train"]], te, inp["y_test"][: p["n_test"]]


def _int8(codes: Any) -> np.ndarray:
    return codes.unpack().astype(np.int8)


def _torch_threads() -> str:
    import torch

    return f"torch intra-op threads {torch.get_num_threads()}"


def _task_eval_ours(d: Path, p: dict[str, Any], backend: str = "torch") -> _Task:
    tr, ytr, te, yte = _codes(d, p)
    return _Task(
        run=lambda: our_evaluation(tr, ytr, te, yte, device=p["device"], backend=backend),
        warm=lambda: our_evaluation(tr[:1000], ytr[:1000], te[:500], yte[:500],
                                    device=p["device"], backend=backend),
        threads=(f"K-Means and LR batched in torch ({_torch_threads()}; numpy BLAS 1 thread "
                 f"for K-Means products); K-NN: {_torch_threads()}" if backend == "torch" else
                 f"K-Means and LR: scikit-learn, threadpoolctl limit 1 (package default); "
                 f"K-NN: {_torch_threads()}"),
        save=lambda r: r,
    )


def _task_eval_original(d: Path, p: dict[str, Any]) -> _Task:
    tr, ytr, te, yte = _codes(d, p)
    a, b = _int8(tr), _int8(te)
    n_threads = p.get("n_threads")
    return _Task(
        run=lambda: original_evaluation(a, ytr, b, yte, knn_queries=p["eval_knn_queries"],
                                        n_threads=n_threads),
        warm=lambda: original_evaluation(a[:1000], ytr[:1000], b[:500], yte[:500],
                                         knn_queries=100, n_threads=n_threads),
        threads=("defaults (OpenBLAS and OpenMP pools at their default size)"
                 if n_threads is None else f"threadpoolctl limit {n_threads} (BLAS and OpenMP)"),
        save=lambda r: r,
    )


def _task_knn_ours(d: Path, p: dict[str, Any]) -> _Task:
    import torch

    from hashlib_nn.hamming import hamming_knn, knn_predict

    tr, ytr, te, yte = _codes(d, p)

    def run() -> tuple[np.ndarray, np.ndarray]:
        dist, idx = hamming_knn(tr, te, KNN_K, device=p["device"])
        return dist, knn_predict(ytr, idx, int(ytr.max()) + 1)

    def save(r: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
        # Untimed: 10 neighbours, to know which queries have a distance tie at the 9th place.
        d10, _ = hamming_knn(tr, te, KNN_K + 1, device=p["device"])
        np.savez(d / "knn_ours.npz", dist=r[0], pred=r[1], dist10=d10)
        return {"accuracy": float((r[1] == yte).mean())}

    return _Task(run=run, warm=lambda: hamming_knn(tr, te[:200], KNN_K, device=p["device"]),
                 threads=f"{_torch_threads()} ({torch.__version__})", save=save,
                 profile=lambda: torch_op_profile(lambda: hamming_knn(tr, te, KNN_K,
                                                                      device=p["device"])))


def _sk_predict(y_fit: np.ndarray, ind: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """scikit-learn's uniform-weight vote on given neighbours: most frequent label, the
    smallest on a tie (``scipy.stats.mode``); checked against ``predict`` in the worker."""
    from scipy.stats import mode

    return classes[mode(y_fit[ind], axis=1, keepdims=False).mode]


def _task_knn_sklearn(d: Path, p: dict[str, Any]) -> _Task:
    from sklearn.neighbors import KNeighborsClassifier

    tr, ytr, te, yte = _codes(d, p)
    a, b = _int8(tr), _int8(te[: p["knn_queries"]])
    n_bits = tr.n_bits

    def run() -> tuple[KNeighborsClassifier, np.ndarray, np.ndarray]:
        model = KNeighborsClassifier(n_neighbors=KNN_K, metric="hamming", algorithm="brute")
        model.fit(a, ytr)
        dist, ind = model.kneighbors(b)
        return model, dist, ind

    def save(r: tuple[Any, np.ndarray, np.ndarray]) -> dict[str, Any]:
        model, dist, ind = r
        _, y_fit = np.unique(ytr, return_inverse=True)
        pred = _sk_predict(y_fit, ind, model.classes_)
        n_check = min(200, b.shape[0])
        same_rule = bool((model.predict(b[:n_check]) == pred[:n_check]).all())
        np.savez(d / "knn_sklearn.npz", dist=np.rint(dist * n_bits).astype(np.int32),
                 pred=pred)
        return {"accuracy": float((pred == yte[: b.shape[0]]).mean()),
                "queries": int(b.shape[0]), "vote_rule_checked_on": n_check,
                "vote_rule_matches_predict": same_rule}

    return _Task(run=run, threads="defaults (scipy cdist_hamming is single-threaded)",
                 save=save)


def _task_rr(d: Path, p: dict[str, Any], side: str) -> _Task:
    from hashlib_nn.codes import NeuralCodes
    from hashlib_nn.metrics import redundancy_ratio

    inp = _inputs(d)
    codes = NeuralCodes(np.ascontiguousarray(inp["all"][: p["n_encode"]]), inp["meta"]["n_bits"])
    if side == "ours":
        return _Task(run=lambda: redundancy_ratio(codes), threads="single-threaded numpy",
                     save=lambda r: {"rr": r}, profile=lambda: rr_breakdown(codes, p["repeats"]))
    bits = _int8(codes)
    return _Task(run=lambda: original_redundancy_ratio(bits), threads="single-threaded numpy",
                 save=lambda r: {"rr": r})


def _model_and_images(d: Path, p: dict[str, Any]) -> tuple[Any, np.ndarray]:
    import torch

    from hashlib_nn.data import load_dataset
    from hashlib_nn.models import PaperMLP

    meta = json.loads((d / "meta.json").read_text())
    model = PaperMLP(784, meta["width"], 1)
    model.load_state_dict(torch.load(d / "model.pt", weights_only=True))
    x = load_dataset("mnist", train_fraction=1.0).x_train[: p["n_encode"]]
    return model.to(p["device"]), np.ascontiguousarray(x)


def bare_forward(model: Any, x: np.ndarray, *, batch_size: int = 8192,
                 device: str = "cpu") -> np.ndarray:
    """The model's outputs for ``x`` in eval mode and the same batches as ``neural_codes``:
    the baseline for encoding throughput."""
    import torch

    model.eval()
    outs = []
    with torch.no_grad():
        for s in range(0, len(x), batch_size):
            xt = torch.as_tensor(x[s : s + batch_size]).to(device, dtype=torch.float32)
            outs.append(model(xt).cpu().numpy())
    return np.concatenate(outs)


def _task_encode(d: Path, p: dict[str, Any], side: str) -> _Task:
    from hashlib_nn.codes import neural_codes

    model, x = _model_and_images(d, p)
    if side == "ours":
        run: Callable[[], Any] = lambda: neural_codes(model, x, device=p["device"])  # noqa: E731
        prof: Callable[[], dict[str, Any]] | None = (
            (lambda: {"cpu_ms": encode_breakdown(model, x, p["repeats"]),
                      "torch_ops_neural_codes": torch_op_profile(run, 10),
                      "torch_ops_forward": torch_op_profile(
                          lambda: bare_forward(model, x, device=p["device"]), 10)})
            if p["device"] == "cpu" else None)
    else:
        run = lambda: bare_forward(model, x, device=p["device"])  # noqa: E731
        prof = None
    return _Task(run=run, warm=run, threads=_torch_threads(), profile=prof)


def _task_train(d: Path, p: dict[str, Any], side: str) -> _Task:
    import copy

    from hashlib_nn.batched import train_many, train_many_sequential
    from hashlib_nn.data import load_dataset
    from hashlib_nn.models import PaperMLP
    from hashlib_nn.train import TrainConfig

    ds = load_dataset("mnist")
    x, y = ds.x_train[: p["batched_n"]], ds.y_train[: p["batched_n"]]
    r, w = p["batched_models"], p["batched_width"]
    models = [PaperMLP(784, w, 1, seed=s) for s in range(r)]
    cfgs = [TrainConfig(epochs=p["batched_epochs"], seed=s, early_stopping=False)
            for s in range(r)]
    fn = train_many if side == "ours" else train_many_sequential
    warm_models = copy.deepcopy(models[:2])
    warm_cfgs = [TrainConfig(epochs=1, seed=s) for s in range(2)]
    return _Task(
        run=lambda: fn(copy.deepcopy(models), x, y, cfgs, device=p["device"]),
        warm=lambda: fn(warm_models, x[:640], y[:640], warm_cfgs, device=p["device"]),
        threads=_torch_threads(),
        save=lambda hs: {"final_loss_mean": float(np.mean([h.epochs[-1].loss for h in hs]))},
    )


_TASKS: dict[str, Callable[[Path, dict[str, Any]], _Task]] = {
    "eval_ours": _task_eval_ours,
    "eval_ours_sklearn": lambda d, p: _task_eval_ours(d, p, "sklearn"),
    "eval_original": _task_eval_original,
    "knn_ours": _task_knn_ours,
    "knn_sklearn": _task_knn_sklearn,
    "rr_ours": lambda d, p: _task_rr(d, p, "ours"),
    "rr_original": lambda d, p: _task_rr(d, p, "original"),
    "encode": lambda d, p: _task_encode(d, p, "ours"),
    "forward": lambda d, p: _task_encode(d, p, "forward"),
    "train_many": lambda d, p: _task_train(d, p, "ours"),
    "train_sequential": lambda d, p: _task_train(d, p, "sequential"),
}


def _worker_single(task: str, d: Path, p: dict[str, Any]) -> dict[str, Any]:
    """One measured call: peak memory (reset high-water mark) and times; with
    ``timed_repeats`` > 1 further calls follow and the times are the medians of all."""
    t = _TASKS[task](d, p)
    if t.warm is not None and not p.get("cold"):
        t.warm()
    resettable = _reset_peak()
    before = _rss_mib()
    result, wall, cpu = _timed(t.run)
    peak = _peak_mib()
    walls, cpus = [wall], [cpu]
    for _ in range(int(p.get("timed_repeats", 1)) - 1):
        _, wall, cpu = _timed(t.run)
        walls.append(wall)
        cpus.append(cpu)
    out = {
        "task": task, "wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus),
        "walls": walls, "wall_min_s": min(walls),
        "peak_mib": peak - before if resettable else float("nan"),
        "rss_before_mib": before, "peak_method": "VmHWM - VmRSS before (clear_refs reset)"
        if resettable else "unavailable (clear_refs not writable)",
        "threads": t.threads, "load_average": load_average(),
    }
    if t.save is not None:
        out["result"] = t.save(result)
    if t.profile is not None:
        out["profile"] = t.profile()
    return out


def _worker_pair(tasks: list[str], d: Path, p: dict[str, Any]) -> dict[str, Any]:
    """Alternating timings of two tasks in one process (after one warm-up call each: the
    task's own warm-up where it has one, else a full call)."""
    prepared = {name: _TASKS[name](d, p) for name in tasks}
    for t in prepared.values():
        (t.warm or t.run)()
    walls: dict[str, list[float]] = {n: [] for n in tasks}
    cpus: dict[str, list[float]] = {n: [] for n in tasks}
    for _ in range(p["pair_repeats"]):
        for name, t in prepared.items():
            _, wall, cpu = _timed(t.run)
            walls[name].append(wall)
            cpus[name].append(cpu)
    return {
        name: {"wall_s": statistics.median(walls[name]), "wall_min_s": min(walls[name]),
               "cpu_s": statistics.median(cpus[name]), "walls": walls[name],
               "threads": prepared[name].threads}
        for name in tasks
    } | {"load_average": load_average()}


def _run_worker(args: list[str], inputs: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Run ``python benchmarks/bench.py _worker ...`` and parse its JSON answer."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "_worker", *args, "--inputs",
           str(inputs), "--params", json.dumps(params)]
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark worker {args} failed (exit {proc.returncode}):\n"
                           f"{proc.stderr[-4000:]}")
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"benchmark worker {args} printed no RESULT line:\n{proc.stdout[-2000:]}")


# ------------------------------------------------------------------------------ orchestration


def _prepare(s: BenchSettings, d: Path, echo: Callable[[str], None]) -> dict[str, Any]:
    """Train the width-s.width model (protocol, ``s.epochs`` epochs) and store its codes."""
    import torch

    from hashlib_nn.codes import NeuralCodes, neural_codes
    from hashlib_nn.data import load_dataset
    from hashlib_nn.models import PaperMLP
    from hashlib_nn.train import TrainConfig, train

    ds = load_dataset("mnist")
    full = load_dataset("mnist", train_fraction=1.0)
    model = PaperMLP(784, s.width, 1, seed=s.seed)
    cfg = TrainConfig(epochs=s.epochs, seed=s.seed, early_stopping=False)
    _, wall, cpu = _timed(lambda: train(model, ds.x_train, ds.y_train, cfg, device=s.device))
    codes_all = neural_codes(model, full.x_train, device=s.device)
    codes_test = neural_codes(model, ds.x_test, device=s.device)
    assert isinstance(codes_all, NeuralCodes) and isinstance(codes_test, NeuralCodes)
    np.savez(d / "codes.npz", all=codes_all.packed, y_all=full.y_train, test=codes_test.packed,
             y_test=ds.y_test)
    torch.save(model.cpu().state_dict(), d / "model.pt")
    meta = {"width": s.width, "n_bits": codes_all.n_bits}
    (d / "meta.json").write_text(json.dumps(meta))
    info = {"epochs": s.epochs, "width": s.width, "train_wall_s": wall, "train_cpu_s": cpu,
            "n_bits": codes_all.n_bits,
            "config": f"PaperMLP(784, {s.width}, depth 1, seed={s.seed}), TrainConfig(epochs="
                      f"{s.epochs}, seed={s.seed}, early_stopping=False); otherwise the protocol "
                      "(Adam 1e-2, batch 64, L2 1e-6, the 48,000 training images)"}
    echo(f"model: width {s.width}, {s.epochs} epochs by the protocol in {wall:.1f} s "
         f"({cpu:.1f} CPU-s); {codes_all.n_bits}-bit codes of {len(codes_all):,} + "
         f"{len(codes_test):,} images")
    return info


def _ratio(baseline: float, ours: float) -> float:
    return baseline / ours if ours > 0 else float("inf")


def _equality(d: Path) -> dict[str, Any]:
    ours, sk = np.load(d / "knn_ours.npz"), np.load(d / "knn_sklearn.npz")
    q = sk["dist"].shape[0]
    same_dist = np.all(ours["dist"][:q] == sk["dist"], axis=1)
    tie = ours["dist10"][:q, KNN_K] == ours["dist10"][:q, KNN_K - 1]
    same_pred = ours["pred"][:q] == sk["pred"]
    return {
        "queries_compared": int(q),
        "distances_equal_all": bool(same_dist.all()),
        "queries_with_different_distances": int((~same_dist).sum()),
        "queries_tied_at_9th": int(tie.sum()),
        "predictions_equal_untied": bool(same_pred[~tie].all()),
        "untied_prediction_mismatches": int((~same_pred[~tie]).sum()),
        "tied_prediction_mismatches": int((~same_pred[tie]).sum()),
    }


def run_benchmarks(
    settings: BenchSettings | None = None,
    *,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run every benchmark (module docstring) and return all figures as a JSON-able dict."""
    import resource

    s = settings or BenchSettings()
    t_start = time.perf_counter()
    cpu_start = sum(u.ru_utime + u.ru_stime for u in
                    (resource.getrusage(w) for w in (resource.RUSAGE_SELF,
                                                     resource.RUSAGE_CHILDREN)))
    results: dict[str, Any] = {"machine": machine_info(), "settings": s.__dict__.copy()}
    m = results["machine"]
    echo(f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; torch {m['torch']}, "
         f"numpy {m['numpy']}, scikit-learn {m['sklearn']}; OMP_WAIT_POLICY="
         f"{m['omp_wait_policy']}; load average {m['load_average_start']:.2f}"
         + ("; QUICK run (smaller data: ratios indicative only)" if s.quick else ""))
    p = {k: v for k, v in s.__dict__.items()}
    bench: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="hashlib_nn_bench_") as tmp:
        d = Path(tmp)
        results["model"] = _prepare(s, d, echo)

        # 1. full evaluation
        reps = {**p, "timed_repeats": s.eval_repeats}
        ours = _run_worker(["eval_ours"], d, reps)
        ours_sk = _run_worker(["eval_ours_sklearn"], d, reps)
        orig = _run_worker(["eval_original"], d, {**p, "n_threads": None})
        orig1 = _run_worker(["eval_original"], d, {**p, "n_threads": 1})
        for o in (orig, orig1):  # scale the K-NN stage from the subset to all test queries
            r = o["result"]
            extra = r["knn_scale"] - 1.0
            o["wall_s_measured"], o["cpu_s_measured"] = o["wall_s"], o["cpu_s"]
            o["wall_s"] = o["wall_s"] + extra * r["time_knn"]
            o["cpu_s"] = o["cpu_s"] + extra * r["cpu_knn"]
        bench["evaluation"] = {
            "ours": ours, "original": orig, "original_1thread": orig1, "backend": "torch",
            "ours_sklearn": ours_sk,
            "ratio_sklearn_backend": _ratio(orig["wall_s"], ours_sk["wall_s"]),
            "ratio_sklearn_backend_cpu": _ratio(orig["cpu_s"], ours_sk["cpu_s"]),
            "ratio": _ratio(orig["wall_s"], ours["wall_s"]),
            "ratio_cpu": _ratio(orig["cpu_s"], ours["cpu_s"]),
            "ratio_1thread": _ratio(orig1["wall_s"], ours["wall_s"]),
            "ratio_1thread_cpu": _ratio(orig1["cpu_s"], ours["cpu_s"]),
            "note": f"original K-NN timed on the first {int(orig['result']['knn_queries']):,} "
                    f"of {s.n_test:,} test queries and scaled linearly "
                    f"(x{orig['result']['knn_scale']:.2f}); ours: median of "
                    f"{s.eval_repeats} calls in one process (stage times from the first)",
        }
        echo(_line("evaluation", bench["evaluation"]))

        # 2. K-NN alone
        k_ours = _run_worker(["knn_ours"], d, {**p, "timed_repeats": s.knn_repeats})
        k_sk = _run_worker(["knn_sklearn"], d, p)
        scale = s.n_test / k_sk["result"]["queries"]
        k_sk["wall_s_measured"], k_sk["cpu_s_measured"] = k_sk["wall_s"], k_sk["cpu_s"]
        k_sk["wall_s"] *= scale
        k_sk["cpu_s"] *= scale
        bench["knn"] = {
            "ours": k_ours, "sklearn": k_sk, "equality": _equality(d),
            "ratio": _ratio(k_sk["wall_s"], k_ours["wall_s"]),
            "ratio_cpu": _ratio(k_sk["cpu_s"], k_ours["cpu_s"]),
            "note": (f"scikit-learn answered {k_sk['result']['queries']:,} of {s.n_test:,} "
                     f"queries, time scaled x{scale:.2f}" if scale != 1 else
                     f"scikit-learn answered all {s.n_test:,} queries")
                    + f" in one call; ours: median of {s.knn_repeats} calls in one process",
        }
        echo(_line("knn", bench["knn"]))

        # 3. redundancy ratio, 4. encoding, 5. batched training: alternating timings in one
        # process, and one peak-memory subprocess per side
        batched_note = (f"{s.batched_models} models, {s.batched_epochs} epoch(s) on "
                        f"{s.batched_n:,} images, batch 64, seeds 0..{s.batched_models - 1}; "
                        "benchmarks/bench_batched.py has the detailed study (widths 10/50/100)")
        for key, a, b, reps in (("rr", "rr_ours", "rr_original", s.repeats),
                                ("encode", "encode", "forward", s.repeats),
                                ("batched", "train_many", "train_sequential", s.batched_repeats)):
            pair = _run_worker(["--pair", a, b], d, {**p, "pair_repeats": reps})
            peak_a = _run_worker([a], d, {**p, "cold": True})
            peak_b = _run_worker([b], d, {**p, "cold": True})
            entry = {
                "ours": {**pair[a], "peak_mib": peak_a["peak_mib"], "single_call": peak_a,
                         "profile": peak_a.get("profile")},
                "baseline": {**pair[b], "peak_mib": peak_b["peak_mib"], "single_call": peak_b},
                "load_average": pair["load_average"],
                "ratio": _ratio(pair[b]["wall_s"], pair[a]["wall_s"]),
                "ratio_min": _ratio(pair[b]["wall_min_s"], pair[a]["wall_min_s"]),
                "ratio_cpu": _ratio(pair[b]["cpu_s"], pair[a]["cpu_s"]),
                "note": f"median of {reps} alternating timing(s) in one process after a "
                        "warm-up call; peak memory from one cold call in its own process"
                        + (f"; {batched_note}" if key == "batched" else ""),
            }
            if key == "rr":
                entry["equal"] = peak_a["result"]["rr"] == peak_b["result"]["rr"]
                entry["rr"] = peak_a["result"]["rr"]
            bench[key] = entry
            echo(_line(key, entry))

    results["benchmarks"] = bench
    results["total_s"] = time.perf_counter() - t_start
    usage = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    results["total_cpu_s"] = sum(u.ru_utime + u.ru_stime for u in usage) - cpu_start
    results["machine"]["load_average_end"] = load_average()
    return results


# ------------------------------------------------------------------------------ command line


def _worker_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python benchmarks/bench.py _worker")
    ap.add_argument("tasks", nargs="+", choices=sorted(_TASKS))
    ap.add_argument("--pair", action="store_true")
    ap.add_argument("--inputs", type=Path, required=True)
    ap.add_argument("--params", required=True)
    args = ap.parse_args(argv)
    p = json.loads(args.params)
    if args.pair:
        out = _worker_pair(args.tasks, args.inputs, p)
    else:
        out = _worker_single(args.tasks[0], args.inputs, p)
    print("RESULT " + json.dumps(out, default=float), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "_worker":
        return _worker_main(argv[1:])
    ap = argparse.ArgumentParser(
        prog="python benchmarks/bench.py",
        description="Speed and memory of hashlib_nn against the original pipeline's way.")
    ap.add_argument("--quick", action="store_true", help="smoke run on smaller data (~2 min)")
    ap.add_argument("--json", type=Path, help="write all figures and machine facts here")
    ap.add_argument("--epochs", type=int, help="epochs of the measured model (default 3)")
    ap.add_argument("--sklearn-queries", type=int,
                    help="test queries scikit-learn's K-NN answers in the K-NN benchmark "
                         "(default: all 10,000; time scaled linearly when fewer)")
    ap.add_argument("--eval-knn-queries", type=int,
                    help="queries of the K-NN stage inside the original full evaluation "
                         "(default 3,000, scaled linearly)")
    ap.add_argument("--force", action="store_true",
                    help=f"write --json even when the load average before the run is above "
                         f"{MAX_LOAD} (the figures then also measure the other processes)")
    args = ap.parse_args(argv)
    before = load_average()
    print(f"load average before the run: {before:.2f} (1 min; {os.cpu_count()} CPUs)",
          flush=True)
    if args.json and before > MAX_LOAD and not args.force:
        print(f"refusing to run for {args.json}: the load average {before:.2f} is above "
              f"{MAX_LOAD}, so the figures would measure other processes too; wait for an idle "
              "machine, or pass --force (make bench FORCE=1) to write them anyway",
              file=sys.stderr)
        return 2
    over: dict[str, Any] = {}
    if args.epochs is not None:
        over["epochs"] = args.epochs
    if args.sklearn_queries is not None:
        over["knn_queries"] = args.sklearn_queries
    if args.eval_knn_queries is not None:
        over["eval_knn_queries"] = args.eval_knn_queries
    s = BenchSettings.quick_run(**over) if args.quick else BenchSettings.full(**over)
    results = run_benchmarks(s, echo=lambda line: print(line, flush=True))
    print()
    print(format_report(results))
    after = load_average()
    print(f"load average before the run: {before:.2f}, after: {after:.2f} (1 min; the run "
          "itself adds up to its own thread count)")
    results["machine"]["load_average_before_run"] = before
    results["machine"]["forced"] = bool(args.force and before > MAX_LOAD)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1, default=float) + "\n")
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
