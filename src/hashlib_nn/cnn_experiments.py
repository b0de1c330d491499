"""One CNN as a hash encoder: a cached, seeded run and its metrics (paper: CNNs on CIFAR-10).

protocol.md, "CNNs on CIFAR-10". :func:`cnn_run` builds one of the paper's CNNs
(:func:`hashlib_nn.cnn.build_cnn`), trains it by the original CNN protocol
(:class:`hashlib_nn.cnn.CNNTrainConfig`: Adam 1e-2, x0.1 every 50 epochs, L2 5e-6, rotation,
shift and flip augmentation) on the **first** ``n_train`` images of the protocol's training split,
and at every checkpoint (0 = the untrained network) measures:

==================  ==========================================================================
metric              what
==================  ==========================================================================
``rr_{split}``      redundancy ratio :math:`(N - D) / N` of the **full** codes (every spatial
                    ReLU output), on the ``n_train`` training images it trained on and on the
                    first ``n_test`` test images; plus ``n_distinct_{split}``
``net_acc_{split}``  the network's own accuracy and mean cross-entropy (``net_loss_{split}``),
                    from the logits of the encoding pass (no second forward pass)
``knn_test``        K-NN (k = 9, Hamming) on the **reduced** codes, fit on train, scored on test
``kmeans_*``,       K-Means (purity, Hungarian, NMI; train and test) and one-vs-one logistic
``lr_test``         regression on the reduced codes (:mod:`hashlib_nn.categorization`)
``rr_reduced_*``    RR of the reduced codes (so a reader sees the reduction stays hash-like)
==================  ==========================================================================

**The reduction** (documented, seeded): the bits that vary over train and test together
(:func:`hashlib_nn.cnn.varying_bits`; the original drops constant neurons too) are sampled
uniformly without replacement, ``reduction_bits`` of them (default 4,096) with
``np.random.default_rng(reduction_seed)``, the same positions for train and test
(:func:`hashlib_nn.cnn.reduce_codes` ``"random_bits"``). Full CNN codes (ResNet20 on
CIFAR-10: 188,416 bits) would make K-NN over 40k x 10k images hours on a CPU and K-Means and
logistic regression impossible in memory; the RR needs no reduction (packed, hash-based).

Besides, each checkpoint holds the per-layer table of :func:`hashlib_nn.cnn.per_layer_redundancy`
(RR of each ReLU layer alone and of each prefix of layers, train and test) and RR of nested
random subsets of k of the reduced code's bits, k = 8, 16, ... ("how many bits does uniqueness
need?"). Timings (data loading,
training, encoding, each metric) and memory (peak RSS of the process, peak CUDA memory, the
packed codes' size) are recorded.

Deviation from the original, fixed here (protocol.md, defect 6): the original encodes all 50k
CIFAR-10 training images although the CNNs trained on the first 40k; we encode exactly the
images the network trained on.

**Caching.** A run is stored as JSON (numbers only, no weights) in the results store
(:func:`hashlib_nn.store.open_store`; ``$HASHLIB_NN_STORE``) under ``<root>/cnn/<key>.json``,
keyed by the SHA-256 of its :class:`CNNRunConfig` (:func:`cnn_content_key`). The subfolder keeps
these entries out of :class:`~hashlib_nn.store.Store`'s own listing, which would take them for
damaged MLP runs. Entries carry a checksum and are written atomically, as the store's own.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import resource
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hashlib_nn import provenance
from hashlib_nn.analysis import Verdict
from hashlib_nn.cnn import (
    CNN_NAMES,
    CNNTrainConfig,
    build_cnn,
    code_layout,
    encode,
    per_layer_redundancy,
    random_bit_positions,
    take_bits,
    varying_bits,
)
from hashlib_nn.codes import NeuralCodes
from hashlib_nn.data import Dataset, load_dataset
from hashlib_nn.device import resolve_device
from hashlib_nn.metrics import count_distinct, net_metrics, redundancy_ratio
from hashlib_nn.presets import str_list
from hashlib_nn.store import open_store, read_entry, write_entry
from hashlib_nn.train import deviation_identity

if TYPE_CHECKING:
    import pandas as pd
    import torch
    from torch import nn

    from hashlib_nn.store import StoreLike

__all__ = [
    "CNN_PRESETS",
    "CNN_SCHEMA_VERSION",
    "CNNCheckpoint",
    "CNNPreset",
    "CNNRunConfig",
    "CNNRunResult",
    "bits_per_image",
    "chapter_runs",
    "lr_decay_every",
    "pixel_knn_accuracy",
    "cnn_content_key",
    "cnn_run",
    "cnn_verdict",
    "default_hflip",
]

#: Bumped whenever a code change would change a stored CNN result for the same config.
CNN_SCHEMA_VERSION = 1
FORMAT = "hashlib_nn.cnn_run"
STORE_SUBDIR = "cnn"
#: Data sets :func:`cnn_run` loads by name (images, ``load_dataset(name, flatten=False)``).
IMAGE_DATASETS: tuple[str, ...] = ("mnist", "fashion-mnist", "cifar10")
#: Image shape (C, H, W) of each named data set, for :func:`bits_per_image` (no data needed).
IMAGE_SHAPES: dict[str, tuple[int, int, int]] = {
    "mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28), "cifar10": (3, 32, 32),
}  # fmt: skip
CATEGORIZATION = ("knn", "kmeans", "lr")
_MIB = 2**20


def default_hflip(dataset: str) -> bool:
    """Horizontal flips in the augmentation: the original's ``horizontal_flip=True`` except on
    MNIST, whose digits are not mirror images of themselves (a flipped 2 is no digit). Fashion-MNIST
    keeps the flip: a mirrored shirt, sneaker or bag is still a shirt, sneaker or bag (its items
    are roughly left-right symmetric, the shoes all face one way and face the other when flipped),
    so the flip preserves every label, as on CIFAR-10."""
    return dataset != "mnist"


# ----------------------------------------------------------------------------------------------
# Configuration and content key
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CNNRunConfig:
    """Everything that determines one CNN run and what it measures (all part of the key)."""

    model: str  # a build_cnn name: vgg16, vgg19, resnet8 (ours), resnet18, resnet20/32/56
    dataset: str  # "fashion-mnist", "mnist", "cifar10", or the name of a Dataset passed in
    n_train: int  # the first n_train images of the protocol's training split (first 80%)
    n_test: int  # the first n_test images of the official test set
    train: CNNTrainConfig  # the original CNN protocol; epochs, seed and hflip set per run
    checkpoints: tuple[int, ...] = (0,)  # epochs evaluated (0 = initialization); the last
    # epoch reached is always evaluated too
    width_multiplier: float = 1.0  # scales every conv/FC width (1.0: the original)
    init: str = "keras"  # "keras" (the original's initializers) or "torch"
    bn_momentum: float | None = None  # None: the init's (Keras 0.99, i.e. PyTorch 0.01); else
    # PyTorch's convention (0.1: its default), for short runs whose running statistics would
    # otherwise still be mostly their initial values (see cnn_run)
    reduction_bits: int = 4096  # bits sampled (among varying ones) for K-NN/K-Means/LR: ours
    reduction_seed: int = 0  # seed of that sample: ours
    metrics: tuple[str, ...] = CATEGORIZATION  # categorization suites on the reduced codes
    k: int = 9  # K-NN neighbours: original
    data_fingerprint: str | None = None  # SHA-256 of the arrays of a Dataset passed in

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        t = d["train"] = deviation_identity(d["train"])  # MLP-only toggles: keys unchanged
        for name in ("lr", "eps", "lr_decay", "weight_decay", "min_delta", "rotation", "shift"):
            t[name] = float(t[name])
        t["betas"] = [float(b) for b in t["betas"]]
        d["checkpoints"] = list(self.checkpoints)
        d["metrics"] = list(self.metrics)
        d["width_multiplier"] = float(self.width_multiplier)
        if self.bn_momentum is not None:
            d["bn_momentum"] = float(self.bn_momentum)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CNNRunConfig:
        t = dict(d["train"])
        t["betas"] = tuple(t["betas"])
        return cls(**{**d, "train": CNNTrainConfig(**t), "checkpoints": tuple(d["checkpoints"]),
                      "metrics": tuple(d["metrics"])})  # fmt: skip

    def label(self) -> str:
        return (f"{self.model} on {self.dataset}, n_train={self.n_train}, n_test={self.n_test}, "
                f"{self.train.epochs} epochs, seed {self.train.seed}")  # fmt: skip


def cnn_content_key(config: CNNRunConfig) -> str:
    """SHA-256 (hex) of the canonical JSON of the config and :data:`CNN_SCHEMA_VERSION`."""
    payload = {"schema": CNN_SCHEMA_VERSION, "kind": FORMAT, "config": config.to_dict()}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


# ----------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CNNCheckpoint:
    """Metrics of one evaluated epoch."""

    epoch: int  # 0 = initialization; e = after e epochs
    metrics: dict[str, float]  # e.g. "rr_train", "knn_test", "net_acc_test", "n_bits"
    layers: list[dict[str, Any]]  # per_layer_redundancy rows, with "split"
    rr_by_bits: list[dict[str, Any]]  # RR of nested random subsets of the reduced code's bits
    timings: dict[str, float]  # seconds: encode_train, encode_test, rr, layers, knn, ...


@dataclass
class CNNRunResult:
    """Everything one CNN run produced (JSON-serializable); frames for the chapter."""

    config: CNNRunConfig
    key: str
    checkpoints: list[CNNCheckpoint]
    history: list[dict[str, float]]  # per epoch: epoch, lr, loss, accuracy, seconds
    epochs_run: int
    stopped_epoch: int | None
    device: str
    timings: dict[str, float]  # seconds: load_data, build, train (epochs only), evaluate,
    # total (wall) and cpu_total (CPU time of the process, all threads)
    memory: dict[str, float]  # MiB: peak_rss, rss_before, codes_train, codes_test, peak_cuda
    layer_names: list[str]  # ReLU layer names in forward order
    versions: dict[str, str | None]
    created: str  # ISO 8601 UTC
    schema: int = CNN_SCHEMA_VERSION
    from_store: bool = field(default=False, compare=False)  # read back, not computed now

    @property
    def final(self) -> CNNCheckpoint:
        return self.checkpoints[-1]

    def at(self, epoch: int) -> CNNCheckpoint:
        for cp in self.checkpoints:
            if cp.epoch == epoch:
                return cp
        raise KeyError(f"epoch {epoch} was not evaluated; evaluated: "
                       f"{[c.epoch for c in self.checkpoints]}")  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema, "key": self.key, "config": self.config.to_dict(),
            "checkpoints": [dataclasses.asdict(c) for c in self.checkpoints],
            "history": self.history, "epochs_run": self.epochs_run,
            "stopped_epoch": self.stopped_epoch, "device": self.device,
            "timings": self.timings, "memory": self.memory, "layer_names": self.layer_names,
            "versions": self.versions, "created": self.created,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, from_store: bool = False) -> CNNRunResult:
        return cls(
            config=CNNRunConfig.from_dict(d["config"]), key=d["key"],
            checkpoints=[CNNCheckpoint(**c) for c in d["checkpoints"]],
            history=list(d["history"]), epochs_run=d["epochs_run"],
            stopped_epoch=d["stopped_epoch"], device=d["device"], timings=dict(d["timings"]),
            memory=dict(d["memory"]), layer_names=list(d["layer_names"]),
            versions=dict(d["versions"]), created=d["created"], schema=d["schema"],
            from_store=from_store,
        )  # fmt: skip

    # -- frames ----------------------------------------------------------------------------------
    def _base(self) -> dict[str, Any]:
        c = self.config
        return {"model": c.model, "dataset": c.dataset, "n_train": c.n_train,
                "n_test": c.n_test, "seed": c.train.seed}  # fmt: skip

    def to_frame(self) -> pd.DataFrame:
        """Tidy rows: model, dataset, n_train, n_test, seed, epoch, metric, value."""
        import pandas as pd

        base = self._base()
        rows = [{**base, "epoch": cp.epoch, "metric": k, "value": float(v)}
                for cp in self.checkpoints for k, v in cp.metrics.items()]  # fmt: skip
        return pd.DataFrame(rows)

    def summary(self, metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """One row per checkpoint, one column per metric (``metrics``: a selection, in order)."""
        frame = self.to_frame().pivot(index="epoch", columns="metric", values="value")
        if metrics is not None:
            frame = frame[[m for m in metrics if m in frame.columns]]
        frame.columns.name = None
        return frame.reset_index()

    def layers_frame(self) -> pd.DataFrame:
        """Per-layer RR rows: epoch, split, layer, name, n_bits, cum_bits, distinct_layer,
        distinct_prefix, rr_layer, rr_prefix."""
        import pandas as pd

        rows = [{"epoch": cp.epoch, **row} for cp in self.checkpoints for row in cp.layers]
        return pd.DataFrame(rows)

    def bits_frame(self) -> pd.DataFrame:
        """RR of nested random subsets of k of the reduced code's bits: epoch, split, n_bits, rr
        (the full code's RR is ``rr_train``/``rr_test``)."""
        import pandas as pd

        rows = [{"epoch": cp.epoch, **row} for cp in self.checkpoints for row in cp.rr_by_bits]
        return pd.DataFrame(rows)

    def history_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.history)


# ----------------------------------------------------------------------------------------------
# The store (a subfolder of the results store)
# ----------------------------------------------------------------------------------------------


def _store_dir(store: StoreLike | None) -> Path:
    return open_store(store).root / STORE_SUBDIR


def _entry_path(store: StoreLike | None, key: str) -> Path:
    return _store_dir(store) / f"{key}.json"


def _from_store(payload: dict[str, Any]) -> CNNRunResult:
    return CNNRunResult.from_dict(payload, from_store=True)


def _store_get(store: StoreLike | None, key: str) -> CNNRunResult | None:
    return read_entry(_entry_path(store, key), format=FORMAT, schema=CNN_SCHEMA_VERSION,
                      parse=_from_store, label="CNN store entry", stacklevel=3)  # fmt: skip


def _store_put(store: StoreLike | None, result: CNNRunResult) -> Path:
    return write_entry(_entry_path(store, result.key), format=FORMAT, schema=CNN_SCHEMA_VERSION,
                       key=result.key, payload=result.to_dict())  # fmt: skip


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Images:
    name: str
    x_train: np.ndarray  # (n_train, C, H, W) float32: exactly the images trained on
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int


def _fingerprint(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.data)
    return h.hexdigest()


def _check_count(name: str, value: object, available: int, dataset: str) -> int:
    if value is None:
        return available
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer or None; got {value!r}")
    if value > available:
        raise ValueError(f"{name}={value} but {dataset} has {available} such images")
    return int(value)


def _images(dataset: str | Dataset, n_train: int | None, n_test: int | None) -> _Images:
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
    k_tr = _check_count("n_train", n_train, len(ds.x_train), ds.name)
    k_te = _check_count("n_test", n_test, len(ds.x_test), ds.name)
    return _Images(ds.name, np.ascontiguousarray(ds.x_train[:k_tr], dtype=np.float32),
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


def _evaluate(
    model: nn.Module, config: CNNRunConfig, data: _Images, device: torch.device, epoch: int,
    layout: Sequence[Any], batch_size: int, memory: dict[str, float],
) -> CNNCheckpoint:
    from hashlib_nn.categorization import categorization_report
    timings: dict[str, float] = {}
    n_bits = sum(layer.n_bits for layer in layout)
    sizes = tuple(layer.n_bits for layer in layout)
    names = [layer.name for layer in layout]
    t0 = time.perf_counter()
    codes_tr, logits_tr = encode(model, data.x_train, batch_size=batch_size, device=device,
                                 progress=False, return_logits=True)  # fmt: skip
    timings["encode_train"] = time.perf_counter() - t0
    t = time.perf_counter()
    codes_te, logits_te = encode(model, data.x_test, batch_size=batch_size, device=device,
                                 progress=False, return_logits=True)  # fmt: skip
    timings["encode_test"] = time.perf_counter() - t
    memory["codes_train"] = codes_tr.packed.nbytes / _MIB
    memory["codes_test"] = codes_te.packed.nbytes / _MIB

    m: dict[str, float] = {"n_bits": float(n_bits), "n_layers": float(len(sizes)),
                           "bytes_per_image": float(codes_tr.n_bytes)}  # fmt: skip
    t = time.perf_counter()
    for split, codes in (("train", codes_tr), ("test", codes_te)):
        m[f"rr_{split}"] = redundancy_ratio(codes)
        m[f"n_distinct_{split}"] = float(count_distinct(codes))
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
            report = categorization_report(red_tr, data.y_train, red_te, data.y_test,
                                           k=config.k, n_clusters=data.n_classes,
                                           metrics=config.metrics, device=device)  # fmt: skip
        for name, value in report.items():
            if name.startswith("time_"):
                timings[name[5:]] = float(value)
            elif name not in ("n_bits", "n_train", "n_test"):
                m[name] = float(value)
    timings["total"] = time.perf_counter() - t0
    return CNNCheckpoint(epoch, m, layers, rr_by_bits, timings)


# ----------------------------------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------------------------------


def _rss_mib() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / _MIB
    except (OSError, ValueError, IndexError):
        return float("nan")


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _peak_rss_mib() -> float:
    # ru_maxrss: KiB on Linux, bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (_MIB if os.uname().sysname == "Darwin" else 1024)


def cnn_run(
    model_name: str,
    dataset: str | Dataset = "fashion-mnist",
    n_train: int | None = 3000,
    epochs: int = 2,
    seed: int = 0,
    device: str | torch.device = "auto",
    *,
    n_test: int | None = 2000,
    checkpoints: Sequence[int] | None = None,
    width_multiplier: float = 1.0,
    init: str = "keras",
    bn_momentum: float | None = None,
    hflip: bool | None = None,
    reduction_bits: int = 4096,
    reduction_seed: int = 0,
    metrics: Sequence[str] = CATEGORIZATION,
    store: StoreLike | bool | None = None,
    recompute: bool = False,
    log: Callable[[str], None] | None = None,
    encode_batch_size: int = 256,
    **train_kw: Any,
) -> CNNRunResult:
    """Train one CNN by the original protocol and measure it as a hash encoder; cached.

    Args:
        model_name: a :func:`hashlib_nn.cnn.build_cnn` name.
        dataset: "fashion-mnist", "mnist", "cifar10" (loaded with ``flatten=False``; CIFAR-10
            raises :class:`hashlib_nn.data.DataNotFoundError` naming the file to put where when
            absent) or a :class:`hashlib_nn.data.Dataset` of images.
        n_train: train on, and encode, the first ``n_train`` images of the training split
            (None: all of it, 48k or 40k). ``n_test``: the first test images (None: all 10k).
        epochs, seed: training length (``CNNTrainConfig.epochs``; early stopping on the
            training loss may end it sooner, as in the original) and the seed of initialization,
            shuffles and augmentation.
        checkpoints: epochs to evaluate (default ``(0, epochs)``); the last epoch reached is
            always evaluated.
        width_multiplier, init: as for :func:`hashlib_nn.cnn.build_cnn`.
        bn_momentum: BatchNorm running-statistics momentum in PyTorch's convention (None: the
            init's; Keras' 0.99 is PyTorch's 0.01). Eval mode, and so the codes, use the running
            averages; with Keras' value they average over the last few hundred steps, a whole
            short run. Measured on the quick preset (316 steps, seed 0): eval-mode test
            accuracy 0.15 with 0.99, 0.74 with PyTorch's 0.1. Short runs need 0.1.
        hflip: horizontal flips in the augmentation (default :func:`default_hflip`).
        reduction_bits, reduction_seed: the documented reduction for K-NN/K-Means/LR (module
            docstring). ``metrics``: which of "knn", "kmeans", "lr" to compute on it.
        store: None = the default results store, a path or Store, or False (no caching).
        recompute: train again even when the store holds the run (and overwrite it).
        log: called with one line per finished epoch and checkpoint (e.g. ``print``).
        train_kw: other :class:`hashlib_nn.cnn.CNNTrainConfig` fields (``batch_size``,
            ``augment``, ``early_stopping``, ...).

    Returns the :class:`CNNRunResult` (``from_store`` tells whether it was read back).
    """
    import torch

    from hashlib_nn.cnn import train_cnn  # looked up per call (tests stand in for it)

    t_start, cpu_start = time.perf_counter(), _cpu_seconds()
    if not isinstance(model_name, str) or model_name.lower() not in CNN_NAMES:
        raise ValueError(f"unknown CNN {model_name!r}; accepted: {', '.join(CNN_NAMES)}")
    model_name = model_name.lower()
    unknown = [s for s in metrics if s not in CATEGORIZATION]
    if unknown:
        raise ValueError(f"metrics must be a subset of {CATEGORIZATION}; got {list(metrics)}")
    metrics = tuple(s for s in CATEGORIZATION if s in metrics)
    name = dataset if isinstance(dataset, str) else dataset.name
    if hflip is None:
        hflip = default_hflip(name)
    train_config = CNNTrainConfig(epochs=epochs, seed=seed, hflip=bool(hflip), **train_kw)
    wanted = sorted({0, epochs} if checkpoints is None else {int(c) for c in checkpoints})
    if wanted and (wanted[0] < 0 or wanted[-1] > epochs):
        raise ValueError(f"checkpoints must lie in [0, epochs={epochs}]; got {wanted}")

    t = time.perf_counter()
    data: _Images | None = None
    fingerprint = None
    if isinstance(dataset, str):
        sizes = {"mnist": (48_000, 10_000), "fashion-mnist": (48_000, 10_000),
                 "cifar10": (40_000, 10_000)}.get(dataset)  # fmt: skip
        if sizes is None:
            raise ValueError(f"dataset must be one of {IMAGE_DATASETS} or a hashlib_nn.data."
                             f"Dataset of images; got {dataset!r}")  # fmt: skip
        k_tr = _check_count("n_train", n_train, sizes[0], dataset)
        k_te = _check_count("n_test", n_test, sizes[1], dataset)
    else:
        data = _images(dataset, n_train, n_test)
        k_tr, k_te = len(data.x_train), len(data.x_test)
        fingerprint = _fingerprint(data.x_train, data.y_train, data.x_test, data.y_test)
    config = CNNRunConfig(
        model=model_name, dataset=name, n_train=k_tr, n_test=k_te, train=train_config,
        checkpoints=tuple(wanted), width_multiplier=float(width_multiplier), init=init,
        bn_momentum=None if bn_momentum is None else float(bn_momentum),
        reduction_bits=int(reduction_bits), reduction_seed=int(reduction_seed), metrics=metrics,
        data_fingerprint=fingerprint,
    )  # fmt: skip
    key = cnn_content_key(config)
    use_store = store is not False
    root = None if store is True else store
    if use_store and not recompute:
        stored = _store_get(root, key)  # type: ignore[arg-type]
        if stored is not None:
            return stored

    if data is None:
        data = _images(dataset, k_tr, k_te)
    load_seconds = time.perf_counter() - t
    dev = resolve_device(device)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    rss_before = _rss_mib()
    t = time.perf_counter()
    model = build_cnn(model_name, in_channels=int(data.x_train.shape[1]),
                      n_classes=data.n_classes, seed=seed, width_multiplier=width_multiplier,
                      init=init).to(dev)  # type: ignore[arg-type]  # fmt: skip
    if bn_momentum is not None:
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.momentum = float(bn_momentum)
    layout = code_layout(model, tuple(data.x_train.shape[1:]), device=dev)
    build_seconds = time.perf_counter() - t
    memory: dict[str, float] = {"rss_before": rss_before}
    done: dict[int, CNNCheckpoint] = {}

    def on_checkpoint(epoch: int, m: nn.Module) -> None:
        done[epoch] = _evaluate(m, config, data, dev, epoch, layout, encode_batch_size, memory)
        if log is not None:
            mm = done[epoch].metrics
            knn = mm.get("knn_test", float("nan"))
            log(f"checkpoint {epoch}: RR train {mm['rr_train']:.4f} test {mm['rr_test']:.4f}, "
                f"net acc test {mm['net_acc_test']:.4f}, K-NN test {knn:.4f} "
                f"({done[epoch].timings['total']:.1f} s)")  # fmt: skip

    def progress(rec: Any) -> None:
        if log is not None:
            log(f"epoch {rec.epoch}/{epochs}: loss {rec.loss:.4f}, accuracy {rec.accuracy:.4f}, "
                f"lr {rec.lr:g} ({rec.seconds:.1f} s)")  # fmt: skip

    history = train_cnn(model, data.x_train, data.y_train, train_config, checkpoints=wanted,
                        on_checkpoint=on_checkpoint, device=dev, progress=progress)  # fmt: skip
    memory["peak_rss"] = _peak_rss_mib()
    memory["peak_cuda"] = (torch.cuda.max_memory_allocated(dev) / _MIB
                           if dev.type == "cuda" else 0.0)  # fmt: skip
    train_seconds = float(sum(e.seconds for e in history.epochs))
    eval_seconds = float(sum(c.timings["total"] for c in done.values()))
    result = CNNRunResult(
        config=config, key=key, checkpoints=[done[e] for e in sorted(done)],
        history=[dataclasses.asdict(e) for e in history.epochs], epochs_run=history.epochs_run,
        stopped_epoch=history.stopped_epoch, device=str(dev),
        timings={"load_data": load_seconds, "build": build_seconds, "train": train_seconds,
                 "evaluate": eval_seconds, "total": time.perf_counter() - t_start,
                 "cpu_total": _cpu_seconds() - cpu_start},
        memory=memory, layer_names=[layer.name for layer in layout], versions=provenance.versions(),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )  # fmt: skip
    if use_store:
        _store_put(root, result)  # type: ignore[arg-type]
    return result


# ----------------------------------------------------------------------------------------------
# The chapter: presets, the bits table, the verdict
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CNNPreset:
    """What the CNN chapter runs under one preset name (hashlib_nn.presets' names)."""

    models: tuple[str, ...]  # one run per model
    dataset: str
    n_train: int | None  # None: the whole training split (48k; CIFAR-10 40k)
    n_test: int | None  # None: the whole test set (10k)
    epochs: int
    checkpoints: tuple[int, ...]  # epochs evaluated (0: initialization)
    bn_momentum: float | None  # None: Keras' (original); 0.1 for runs of a few hundred steps
    note: str


PAPER_MODELS: tuple[str, ...] = ("vgg16", "vgg19", "resnet18", "resnet20", "resnet32", "resnet56")

CNN_PRESETS: dict[str, CNNPreset] = {
    "smoke": CNNPreset(("resnet8",), "fashion-mnist", 256, 256, 1, (0, 1), 0.1,
                       "seconds: 256 images, one epoch (tests)"),
    "quick": CNNPreset(("resnet8",), "fashion-mnist", 5000, 2000, 4, (0, 4), 0.1,
                       "the default, CPU: our ResNet8 on the first 5,000 Fashion-MNIST training "
                       "images, 4 epochs; 2,000 test images"),
    "standard": CNNPreset(("resnet20",), "fashion-mnist", None, None, 200, (0, 1, 10, 50, 200),
                          None, "GPU: ResNet20 on all 48k Fashion-MNIST training images and the "
                          "10k test images, the original protocol (200 epochs)"),
    "paper": CNNPreset(PAPER_MODELS, "cifar10", None, None, 200, (0, 200), None,
                       "GPU, hours: the paper's six CNNs on CIFAR-10 (40k/10k), the original "
                       "protocol"),
}  # fmt: skip


def lr_decay_every(epochs: int) -> int:
    """The original's schedule scaled to the run: x0.1 after each quarter of the epochs
    (200 epochs: every 50, the original; 4 epochs: every epoch)."""
    return max(1, int(epochs) // 4)


def chapter_runs(
    preset: str = "quick",
    *,
    model: str | Sequence[str] | None = None,
    dataset: str | None = None,
    n_train: int | None = None,
    n_test: int | None = None,
    epochs: int | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """The keyword arguments of each :func:`cnn_run` the chapter makes under ``preset``; every
    argument given (not None) overrides the preset's value (``model`` may be a list or a string
    such as ``"[resnet20, resnet32]"``). The schedule is :func:`lr_decay_every` of the epochs;
    with other epochs than the preset's, the checkpoints are 0 and the last epoch."""
    if preset not in CNN_PRESETS:
        raise ValueError(f"preset must be one of {list(CNN_PRESETS)}; got {preset!r}")
    p = CNN_PRESETS[preset]
    models = str_list(model) if model else p.models
    e = p.epochs if epochs is None else int(epochs)
    cps = p.checkpoints if epochs is None else (0, e)
    return [dict(model_name=m, dataset=dataset or p.dataset,
                 n_train=p.n_train if n_train is None else n_train,
                 n_test=p.n_test if n_test is None else n_test, epochs=e, seed=seed,
                 checkpoints=tuple(sorted(set(cps) | {e})), bn_momentum=p.bn_momentum,
                 lr_decay_every=lr_decay_every(e)) for m in models]  # fmt: skip


def bits_per_image(
    models: Sequence[str] = CNN_NAMES, datasets: Sequence[str] = ("fashion-mnist", "cifar10"),
    *, n_images: int = 60_000,
) -> pd.DataFrame:
    """Code length of each CNN per input shape (:func:`hashlib_nn.cnn.code_layout`; no data and
    no training: one zero image goes through a freshly built network).

    Columns: model, dataset, input, parameters, relu_layers, bits_per_image, packed_kib_per_image,
    packed_gib (for ``n_images`` images; the original encodes 60k CIFAR-10 images).
    """
    import pandas as pd

    rows = []
    for m in models:
        for d in datasets:
            shape = IMAGE_SHAPES[d]
            net = build_cnn(m, in_channels=shape[0], init="torch", seed=None)
            layout = code_layout(net, shape, device="cpu")
            bits = sum(layer.n_bits for layer in layout)
            nbytes = (bits + 7) // 8
            rows.append({"model": m, "dataset": d, "input": "x".join(map(str, shape)),
                         "parameters": sum(p.numel() for p in net.parameters()),
                         "relu_layers": len(layout), "bits_per_image": bits,
                         "packed_kib_per_image": nbytes / 1024,
                         "packed_gib": nbytes * n_images / 2**30})  # fmt: skip
    return pd.DataFrame(rows)


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

    data = _images(dataset, n_train, n_test)
    knn = KNeighborsClassifier(n_neighbors=k, algorithm="brute")
    with threadpool_limits(limits=1):
        knn.fit(data.x_train.reshape(len(data.x_train), -1), data.y_train)
        pred = knn.predict(data.x_test.reshape(len(data.x_test), -1))
    return float((pred == data.y_test).mean())


def cnn_verdict(result: CNNRunResult, *, max_gap: float = 0.03) -> Verdict:
    """Claims 1-2 for a CNN: trained, it hashes every image and its codes categorize.

    Rule (thresholds ours; the K-NN gap is the issue's "within 0.03 of the network's own"): at the
    last checkpoint (trained), with ``gap = net_acc_test - knn_test`` (K-NN, k = 9, on the
    documented reduced codes): *reproduced* when (a) train RR ≤ 0.01 and test RR ≤ 0.05 (as for
    the MLP, :func:`hashlib_nn.analysis.determinism_verdict`) and (b) ``|gap| ≤ max_gap``
    (within, either way: codes that classify much better than the network under K-NN do not
    show that the codes hold what the network learned). *Partly reproduced* when (a) holds and
    ``|gap| ≤ 0.10``, or (b) holds but not (a). *Not reproduced* otherwise. *Not tested* when the
    run has no trained checkpoint or no K-NN result. The evidence also reports RR and K-NN at
    epoch 0 where evaluated: spatial codes are unique at initialization already, so (a) alone says
    nothing about training; (b) is the informative part.
    """
    claim = ("A trained CNN gives every image a code of its own (RR ≈ 0), and K-NN on the codes "
             f"is within {max_gap:g} of the network's own test accuracy.")
    final = result.final
    m = final.metrics
    c = result.config
    where = f"{c.model} on {c.dataset} ({c.n_train} train / {c.n_test} test images)"
    if final.epoch == 0 or "knn_test" not in m:
        return Verdict(claim, "not tested", f"{where}: no trained checkpoint with K-NN.")
    rr_ok = m["rr_train"] <= 0.01 and m["rr_test"] <= 0.05
    gap = m["net_acc_test"] - m["knn_test"]
    numbers = {"epoch": float(final.epoch), "rr_train": m["rr_train"], "rr_test": m["rr_test"],
               "net_acc_test": m["net_acc_test"], "knn_test": m["knn_test"], "gap": gap}
    evidence = (f"{where}, after {final.epoch} epoch(s): train RR = {m['rr_train']:.3f}, test RR "
                f"= {m['rr_test']:.3f}; K-NN on {int(m['n_bits_reduced'])} sampled bits = "
                f"{m['knn_test']:.3f} vs the network's {m['net_acc_test']:.3f} (gap {gap:+.3f}).")
    if result.checkpoints[0].epoch == 0:
        m0 = result.checkpoints[0].metrics
        numbers.update(rr_train_init=m0["rr_train"], rr_test_init=m0["rr_test"])
        evidence += (f" Untrained (epoch 0): train RR = {m0['rr_train']:.3f}, test RR = "
                     f"{m0['rr_test']:.3f}")
        if "knn_test" in m0:
            numbers["knn_test_init"] = m0["knn_test"]
            evidence += f", K-NN = {m0['knn_test']:.3f}"
        evidence += "."
    if rr_ok and abs(gap) <= max_gap:
        status = "reproduced"
    elif (rr_ok and abs(gap) <= 0.10) or abs(gap) <= max_gap:
        status = "partly reproduced"
    else:
        status = "not reproduced"
    return Verdict(claim, status, evidence, numbers)
