"""One checkpoint's measurements: the data a run sees and every metric suite on its codes.

:func:`run_data` gives the rows a run of the paper's MLP trains on and is measured on,
:func:`build_model` its untrained network, and :func:`evaluate` every requested metric suite
(:data:`hashlib_nn.experiments.config.METRIC_SUITES`) at one epoch. :func:`cnn_data` and
:func:`evaluate_cnn` do the same for the CNN chapter's networks (full codes for RR, the per-layer
table, the documented reduction for K-NN, K-Means and logistic regression), and
:func:`rr_metrics` is the redundancy-ratio suite both use (and the controls of
:mod:`hashlib_nn.controls`).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hashlib_nn.categorization import categorization_report, knn_accuracy_sklearn
from hashlib_nn.cnn import encode as encode_cnn
from hashlib_nn.cnn import per_layer_redundancy, random_bit_positions, take_bits, varying_bits
from hashlib_nn.codes import neural_codes
from hashlib_nn.data import Dataset, load_dataset
from hashlib_nn.experiments.config import (
    CATEGORIZATION_SUITES,
    IMAGE_DATASETS,
    CNNRunConfig,
    RunConfig,
    get_dataset,
)
from hashlib_nn.experiments.result import Checkpoint, CNNCheckpoint
from hashlib_nn.metrics import collision_fraction, count_distinct, net_metrics, redundancy_ratio
from hashlib_nn.models import PaperMLP
from hashlib_nn.noise import original_label_noise, symmetric_label_noise
from hashlib_nn.train import tile_to_length

if TYPE_CHECKING:
    import torch
    from torch import nn

    from hashlib_nn.codes import NeuralCodes

__all__ = [
    "CNNData",
    "RunData",
    "build_model",
    "categorization_suites",
    "check_image_count",
    "cnn_data",
    "evaluate",
    "evaluate_cnn",
    "images_fingerprint",
    "pixel_knn_accuracy",
    "rr_metrics",
    "run_data",
]

_MIB = 2**20


def rr_metrics(codes: Sequence[tuple[str, NeuralCodes]], *,
               collisions: bool = True) -> dict[str, float]:  # fmt: skip
    """The ``rr`` suite for each ``(split, codes)``: ``rr_<split>`` (the redundancy ratio
    (N - D) / N, :func:`hashlib_nn.metrics.redundancy_ratio`), ``n_distinct_<split>`` (D) and,
    with ``collisions``, ``collision_<split>`` (the fraction of examples sharing their code,
    :func:`hashlib_nn.metrics.collision_fraction`)."""
    m: dict[str, float] = {}
    for split, c in codes:
        m[f"rr_{split}"] = redundancy_ratio(c)
        if collisions:
            m[f"collision_{split}"] = collision_fraction(c)
        m[f"n_distinct_{split}"] = float(count_distinct(c))
    return m


def categorization_suites(
    codes_train: NeuralCodes, y_train: np.ndarray, codes_test: NeuralCodes, y_test: np.ndarray,
    *, suites: Sequence[str], n_classes: int, device: Any, k: int | None = None,
) -> tuple[dict[str, float], dict[str, float]]:
    """The categorization suites (``"kmeans"``, ``"knn"``, ``"lr"``) of
    :func:`hashlib_nn.categorization.categorization_report` on the codes: (metrics, seconds per
    suite). The metric names are the report's, less its ``n_bits``/``n_train``/``n_test``."""
    kw = {} if k is None else {"k": k}
    report = categorization_report(codes_train, y_train, codes_test, y_test,
                                   n_clusters=n_classes, metrics=tuple(suites), device=device,
                                   **kw)  # fmt: skip
    metrics: dict[str, float] = {}
    timings: dict[str, float] = {}
    for name, value in report.items():
        if name.startswith("time_"):
            timings[name[5:]] = float(value)
        elif name not in ("n_bits", "n_train", "n_test"):  # known already
            metrics[name] = float(value)
    return metrics, timings


@dataclass(frozen=True)
class RunData:
    """The arrays one run trains on and is evaluated on (:func:`run_data`)."""

    x_fit: np.ndarray  # training rows (the n examples tiled when n_train is set)
    y_fit: np.ndarray  # their labels as trained on (noisy when label_noise > 0)
    x_eval: np.ndarray  # the n unique training examples
    y_eval: np.ndarray  # their labels as trained on (noisy when label_noise > 0)
    y_eval_clean: np.ndarray  # their clean labels
    x_test: np.ndarray
    y_test: np.ndarray
    in_features: int
    n_classes: int


def run_data(config: RunConfig, *, fit: bool = True) -> RunData:
    """The rows to train on and to evaluate for ``config`` (protocol.md, "Sample size");
    ``fit=False`` leaves the tiled copy out (``x_fit``/``y_fit`` are then the n examples)."""
    ds = get_dataset(config.dataset)
    x, y = np.asarray(ds.x_train), np.asarray(ds.y_train, dtype=np.int64)
    n = config.n_train
    if n is not None and n > len(x):
        raise ValueError(
            f"n_train must be at most {len(x)} for {config.dataset!r}; got n_train={n}"
        )
    x_eval, y_clean = (x, y) if n is None else (x[:n], y[:n])
    n_classes = int(getattr(ds, "n_classes", 0) or int(max(y.max(), ds.y_test.max())) + 1)
    y_eval = _noisy_labels(config, y_clean, n_classes)
    if n is None or not fit:
        x_fit, y_fit = x_eval, y_eval
    else:
        x_fit, y_fit = tile_to_length(x_eval, y_eval, len(x))
    return RunData(
        x_fit,
        y_fit,
        x_eval,
        y_eval,
        y_clean,
        np.asarray(ds.x_test),
        np.asarray(ds.y_test, dtype=np.int64),
        int(x.shape[1]),
        n_classes,
    )


def _noisy_labels(config: RunConfig, y: np.ndarray, n_classes: int) -> np.ndarray:
    """Training labels with ``config.label_noise`` noise on the n unique examples, seeded by the
    training seed on its own stream: :func:`hashlib_nn.noise.symmetric_label_noise` (modes
    "uniform_other", "uniform_any") or :func:`hashlib_nn.noise.original_label_noise` (mode
    "original"); tiling repeats each example with its one noisy label."""
    if config.label_noise == 0:
        return y
    if config.label_noise_mode == "original":
        return original_label_noise(y, config.label_noise, n_classes, seed=config.seed).y_noisy
    mode: Any = config.label_noise_mode  # "uniform_other" or "uniform_any" (validated)
    noisy = symmetric_label_noise(y, config.label_noise, n_classes, seed=config.seed, mode=mode)
    return noisy.y_noisy


def build_model(config: RunConfig, data: RunData) -> PaperMLP:
    """The untrained network of ``config`` for ``data`` (seeded by the training seed)."""
    return PaperMLP(
        data.in_features,
        config.width,
        config.depth,
        data.n_classes,
        batchnorm=config.batchnorm,
        dropout=config.dropout,
        seed=config.seed,
        bn_running_var=config.bn_running_var,
    )


def _codes_and_logits(
    model: nn.Module, x: np.ndarray, device: Any
) -> tuple[NeuralCodes, np.ndarray]:
    out = neural_codes(model, x, device=device, return_logits=True)
    assert isinstance(out, tuple)
    return out


def evaluate(model: nn.Module, config: RunConfig, data: RunData, device: Any,
             epoch: int) -> Checkpoint:  # fmt: skip
    """All requested metric suites of ``model`` at ``epoch``."""
    import torch

    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    if next(model.parameters()).dtype != torch.float32:  # a float64 run: the encoder works in
        model = copy.deepcopy(model).float()  # float32, on the weights rounded to float32
    codes_tr, logits_tr = _codes_and_logits(model, data.x_eval, device)
    codes_te, logits_te = _codes_and_logits(model, data.x_test, device)
    timings["codes"] = time.perf_counter() - t0
    m: dict[str, float] = {}
    if "rr" in config.metrics:
        t = time.perf_counter()
        m.update(rr_metrics((("train", codes_tr), ("test", codes_te))))
        m["n_bits"] = float(codes_tr.n_bits)
        timings["rr"] = time.perf_counter() - t
    if "net" in config.metrics:
        t = time.perf_counter()
        m["net_loss_train"], m["net_acc_train"] = net_metrics(logits_tr, data.y_eval)
        m["net_loss_test"], m["net_acc_test"] = net_metrics(logits_te, data.y_test)
        if config.label_noise > 0:  # the training labels are noisy: also score the clean ones
            m["net_acc_clean_train"] = float((logits_tr.argmax(1) == data.y_eval_clean).mean())
        timings["net"] = time.perf_counter() - t
    suites = tuple(s for s in CATEGORIZATION_SUITES if s in config.metrics)
    if suites:
        t = time.perf_counter()
        cat, cat_seconds = categorization_suites(codes_tr, data.y_eval, codes_te, data.y_test,
                                                 suites=suites, n_classes=data.n_classes,
                                                 device=device)  # fmt: skip
        m.update(cat)
        timings.update(cat_seconds)
        timings["categorization"] = time.perf_counter() - t
    if "knn_sklearn" in config.metrics:
        t = time.perf_counter()
        m["knn_sklearn_test"] = knn_accuracy_sklearn(codes_tr, data.y_eval, codes_te, data.y_test)
        timings["knn_sklearn"] = time.perf_counter() - t
    return Checkpoint(epoch, m, time.perf_counter() - t0, timings)



# ----------------------------------------------------------------------------------------------
# CNN runs: data and one checkpoint's metrics
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CNNData:
    """The images one CNN run trains on and is measured on (:func:`cnn_data`)."""

    name: str
    x_train: np.ndarray  # (n_train, C, H, W) float32: exactly the images trained on
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int


def images_fingerprint(*arrays: np.ndarray) -> str:
    """SHA-256 of the arrays' dtypes, shapes and bytes (the key of a run on a Dataset passed in)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.data)
    return h.hexdigest()


def check_image_count(name: str, value: object, available: int, dataset: str) -> int:
    """``value`` (a count of images) checked against the ``available`` ones; None: all."""
    if value is None:
        return available
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer or None; got {value!r}")
    if value > available:
        raise ValueError(f"{name}={value} but {dataset} has {available} such images")
    return int(value)


def cnn_data(dataset: str | Dataset, n_train: int | None, n_test: int | None) -> CNNData:
    """The first ``n_train`` training and ``n_test`` test images, shaped (N, C, H, W)."""
    if isinstance(dataset, str):
        if dataset not in IMAGE_DATASETS:
            raise ValueError(f"dataset must be one of {IMAGE_DATASETS} or a hashlib_nn.data."
                             f"Dataset of images; got {dataset!r}")  # fmt: skip
        ds = load_dataset(dataset, flatten=False)
    elif isinstance(dataset, Dataset):
        ds = dataset
    else:
        raise TypeError(f"dataset must be a name or a hashlib_nn.data.Dataset; got "
                        f"{type(dataset).__name__}")  # fmt: skip
    if np.ndim(ds.x_train) != 4:
        raise ValueError(f"CNNs need images (N, C, H, W); {ds.name} has x_train of shape "
                         f"{np.shape(ds.x_train)} (load it with flatten=False)")  # fmt: skip
    k_tr = check_image_count("n_train", n_train, len(ds.x_train), ds.name)
    k_te = check_image_count("n_test", n_test, len(ds.x_test), ds.name)
    return CNNData(ds.name, np.ascontiguousarray(ds.x_train[:k_tr], dtype=np.float32),
                   np.asarray(ds.y_train[:k_tr], dtype=np.int64),
                   np.ascontiguousarray(ds.x_test[:k_te], dtype=np.float32),
                   np.asarray(ds.y_test[:k_te], dtype=np.int64), int(ds.n_classes))  # fmt: skip


# ----------------------------------------------------------------------------------------------
# Measuring one checkpoint
# ----------------------------------------------------------------------------------------------


def _bit_counts(n: int) -> list[int]:
    """8, 16, 32, ... below ``n``, then ``n``."""
    counts = [2**j for j in range(3, max(3, math.ceil(math.log2(max(n, 1)))))]
    return [c for c in counts if c < n] + [n]


def _rr_by_bits(reduced: Sequence[tuple[str, NeuralCodes]], seed: int) -> list[dict[str, Any]]:
    """RR of nested random subsets of the reduced code's bits: the first k of one seeded
    permutation, k = 8, 16, ..., all (nested, so RR can only fall as k grows)."""
    n = reduced[0][1].n_bits
    order = np.random.default_rng(seed).permutation(n)
    rows: list[dict[str, Any]] = []
    for k in _bit_counts(n):
        pos = np.sort(order[:k])
        for split, codes in reduced:
            rows.append({"split": split, "n_bits": int(k),
                         "rr": redundancy_ratio(take_bits(codes, pos))})  # fmt: skip
    return rows


def evaluate_cnn(
    model: nn.Module, config: CNNRunConfig, data: CNNData, device: torch.device, epoch: int,
    layout: Sequence[Any], batch_size: int, memory: dict[str, float],
) -> CNNCheckpoint:
    """Every metric of one CNN checkpoint (module docstring of :mod:`hashlib_nn.experiments`):
    RR of the full codes, the network's own loss and accuracy, the per-layer table, the
    documented reduction and the categorization suites on it."""
    timings: dict[str, float] = {}
    n_bits = sum(layer.n_bits for layer in layout)
    sizes = tuple(layer.n_bits for layer in layout)
    names = [layer.name for layer in layout]
    t0 = time.perf_counter()
    codes_tr, logits_tr = encode_cnn(model, data.x_train, batch_size=batch_size, device=device,
                                     progress=False, return_logits=True)  # fmt: skip
    timings["encode_train"] = time.perf_counter() - t0
    t = time.perf_counter()
    codes_te, logits_te = encode_cnn(model, data.x_test, batch_size=batch_size, device=device,
                                     progress=False, return_logits=True)  # fmt: skip
    timings["encode_test"] = time.perf_counter() - t
    memory["codes_train"] = codes_tr.packed.nbytes / _MIB
    memory["codes_test"] = codes_te.packed.nbytes / _MIB

    m: dict[str, float] = {"n_bits": float(n_bits), "n_layers": float(len(sizes)),
                           "bytes_per_image": float(codes_tr.n_bytes)}  # fmt: skip
    t = time.perf_counter()
    m.update(rr_metrics((("train", codes_tr), ("test", codes_te)), collisions=False))
    timings["rr"] = time.perf_counter() - t
    t = time.perf_counter()
    m["net_loss_train"], m["net_acc_train"] = net_metrics(logits_tr, data.y_train)
    m["net_loss_test"], m["net_acc_test"] = net_metrics(logits_te, data.y_test)
    timings["net"] = time.perf_counter() - t

    t = time.perf_counter()
    layers: list[dict[str, Any]] = []
    for split, codes in (("train", codes_tr), ("test", codes_te)):
        table = per_layer_redundancy(codes, names=names)
        layers += [{"split": split, **{k: (v.item() if hasattr(v, "item") else v)
                                       for k, v in row.items()}}
                   for row in table.to_dict("records")]  # fmt: skip
    timings["layers"] = time.perf_counter() - t

    t = time.perf_counter()
    varying = varying_bits(codes_tr, codes_te)
    m["n_bits_varying"] = float(varying.size)
    among = varying if varying.size else None
    positions = random_bit_positions(n_bits, config.reduction_bits, config.reduction_seed, among)
    red_tr, red_te = take_bits(codes_tr, positions), take_bits(codes_te, positions)
    m["n_bits_reduced"] = float(positions.size)
    m["rr_reduced_train"] = redundancy_ratio(red_tr)
    m["rr_reduced_test"] = redundancy_ratio(red_te)
    rr_by_bits = _rr_by_bits((("train", red_tr), ("test", red_te)), config.reduction_seed)
    timings["reduce"] = time.perf_counter() - t
    del codes_tr, codes_te

    if config.metrics:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lr_converged records a ConvergenceWarning
            cat, cat_seconds = categorization_suites(red_tr, data.y_train, red_te, data.y_test,
                                                     suites=config.metrics,
                                                     n_classes=data.n_classes, device=device,
                                                     k=config.k)  # fmt: skip
        m.update(cat)
        timings.update(cat_seconds)
    timings["total"] = time.perf_counter() - t0
    return CNNCheckpoint(epoch, m, layers, rr_by_bits, timings)




@functools.lru_cache(maxsize=8)
def pixel_knn_accuracy(
    dataset: str | Dataset, n_train: int | None, n_test: int | None, *, k: int = 9
) -> float:
    """Baseline: K-NN (``k`` neighbours, Euclidean) on the raw pixels of the same first
    ``n_train`` training and ``n_test`` test images that :func:`cnn_run` uses. What K-NN on
    neural codes should be compared with when asking what the codes add to the image. Cached
    per arguments (several models of one chapter share the data)."""
    from sklearn.neighbors import KNeighborsClassifier
    from threadpoolctl import threadpool_limits

    data = cnn_data(dataset, n_train, n_test)
    knn = KNeighborsClassifier(n_neighbors=k, algorithm="brute")
    with threadpool_limits(limits=1):
        knn.fit(data.x_train.reshape(len(data.x_train), -1), data.y_train)
        pred = knn.predict(data.x_test.reshape(len(data.x_test), -1))
    return float((pred == data.y_test).mean())


