"""Experiments: one configuration, one run, one stored result (paper, Sec. 4).

A :class:`RunConfig` names everything that determines a trained network under the original
protocol (protocol.md): the data set, the architecture, the training sample (the first ``n_train``
examples, tiled to the full training length), the training protocol (:class:`TrainConfig`) and
what to measure (the epochs to evaluate and the metric suites). :func:`run` trains one
configuration and measures, at every checkpoint, the neural codes of the ``n`` unique training
examples and of the test set:

========  ======================================================================================
suite     metrics (``<name>_train`` / ``<name>_test``)
========  ======================================================================================
``rr``    ``rr`` (redundancy ratio), ``collision`` (fraction of examples sharing their code),
          ``n_distinct`` (distinct codes), and ``n_bits``
``net``   the network's own ``net_loss`` (mean cross-entropy) and ``net_acc`` (from the logits
          that :func:`hashlib_nn.codes.neural_codes` returns with the codes: no second pass)
``kmeans``, ``knn``, ``lr``: :func:`hashlib_nn.categorization.categorization_report`
``knn_sklearn``  opt-in (:data:`OPTIONAL_SUITES`, not in the defaults): ``knn_sklearn_test``, the
          original's scikit-learn K-NN call (:func:`hashlib_nn.categorization.knn_accuracy_sklearn`;
          1-17 s per evaluation on MNIST, so only the differential runs of
          :mod:`hashlib_nn.deviations` ask for it)
========  ======================================================================================

:func:`sweep` runs many configurations, skips those already in the result store
(:mod:`hashlib_nn.store`), trains repeats of one architecture together with
:func:`hashlib_nn.batched.train_many`, and stores each run as soon as it is finished.

The **content key** of a configuration (:func:`content_key`) is the SHA-256 of a canonical JSON of
what determines the *trained network* (plus :data:`SCHEMA_VERSION`); the evaluation plan
(``checkpoints``, ``metrics``) is deliberately left out, so a stored run that measured more than
is asked for serves the request, and a request for more re-runs once and stores the union.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np

from hashlib_nn.train import TrainConfig

if TYPE_CHECKING:
    import pandas as pd
    from torch import nn

    from hashlib_nn.codes import NeuralCodes
    from hashlib_nn.models import PaperMLP
    from hashlib_nn.store import StoreLike

__all__ = [
    "BUILTIN_DATASETS",
    "LABEL_NOISE_MODES",
    "METRIC_SUITES",
    "OPTIONAL_SUITES",
    "SCHEMA_VERSION",
    "TRAIN_SIZES",
    "Checkpoint",
    "RunConfig",
    "RunResult",
    "available_datasets",
    "content_key",
    "get_dataset",
    "register_dataset",
    "run",
    "show_progress",
    "sweep",
    "synthetic_dataset",
    "unregister_dataset",
]

#: Bumped whenever a change to the code would change a stored result for the same config
#: (protocol, metrics, code extraction). Part of every content key: old entries are not reused.
SCHEMA_VERSION = 1

#: Metric suites a run can compute at each checkpoint, in canonical order.
METRIC_SUITES: tuple[str, ...] = ("rr", "net", "kmeans", "knn", "lr")
#: Suites a run computes only when asked for (slow): the original's scikit-learn K-NN.
OPTIONAL_SUITES: tuple[str, ...] = ("knn_sklearn",)
_CATEGORIZATION = ("kmeans", "knn", "lr")

#: The paper's data sets (loaded by :func:`hashlib_nn.data.load_dataset`).
BUILTIN_DATASETS: tuple[str, ...] = ("mnist", "fashion-mnist", "cifar10")
#: Training-set sizes under the protocol (first 80% of the official training set).
TRAIN_SIZES: dict[str, int] = {"mnist": 48_000, "fashion-mnist": 48_000, "cifar10": 40_000}
#: How RunConfig.label_noise corrupts labels: "uniform_other" and "uniform_any" as in
#: :func:`hashlib_nn.noise.symmetric_label_noise`, "original" as
#: :func:`hashlib_nn.noise.original_label_noise` (the original helper; the first default).
LABEL_NOISE_MODES: tuple[str, ...] = ("uniform_other", "uniform_any", "original")
#: Hidden blocks of the original MLP per data set (MNIST-like 1, CIFAR-10 5).
DEFAULT_DEPTH: dict[str, int] = {"mnist": 1, "fashion-mnist": 1, "cifar10": 5}


# ----------------------------------------------------------------------------------------------
# Data sets: the paper's, plus in-memory ones registered by name (tests, examples)
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Registered:
    source: Any  # a Dataset-like object, or a zero-argument callable returning one
    n_train: int | None  # training examples, when known without loading
    fingerprint: str | None  # identity of the data in content keys (None: hash on first load)


_REGISTRY: dict[str, _Registered] = {}


def register_dataset(
    name: str, data: Any, *, n_train: int | None = None, fingerprint: str | None = None
) -> None:
    """Make ``data`` available to :class:`RunConfig` as ``dataset=name``.

    ``data`` is a Dataset-like object (attributes ``x_train`` (N, D) float32, ``y_train`` (N,)
    int, ``x_test``, ``y_test``, optionally ``n_classes``) or a zero-argument callable returning
    one (loaded on first use). Content keys of runs on it include ``fingerprint``; by default the
    SHA-256 of the four arrays, so different data under one name never share stored results.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"dataset name must be a non-empty str; got {name!r}")
    if name in BUILTIN_DATASETS:
        raise ValueError(f"{name!r} is one of the paper's data sets; pick another name")
    if not callable(data):
        _check_dataset_like(data, name)
        n_train = len(data.x_train)
        fingerprint = fingerprint or _array_fingerprint(data)
    _REGISTRY[name] = _Registered(data, n_train, fingerprint)
    _load.cache_clear()


def unregister_dataset(name: str) -> None:
    """Forget a registered data set (no error if it is not registered)."""
    _REGISTRY.pop(name, None)
    _load.cache_clear()


def available_datasets() -> tuple[str, ...]:
    """The paper's data sets and the registered ones."""
    return BUILTIN_DATASETS + tuple(n for n in _REGISTRY if n not in BUILTIN_DATASETS)


def _check_dataset_like(data: Any, name: str) -> None:
    missing = [a for a in ("x_train", "y_train", "x_test", "y_test") if not hasattr(data, a)]
    if missing:
        raise TypeError(
            f"dataset {name!r} must have x_train, y_train, x_test and y_test; "
            f"{type(data).__name__} lacks {', '.join(missing)}"
        )
    for part in ("train", "test"):
        x, y = getattr(data, f"x_{part}"), getattr(data, f"y_{part}")
        if np.ndim(x) != 2 or len(x) != len(y) or len(x) == 0:
            raise ValueError(
                f"dataset {name!r}: x_{part} must be a non-empty (N, D) array with N labels; got "
                f"x_{part} of shape {np.shape(x)} and {len(y)} labels"
            )


def _array_fingerprint(data: Any) -> str:
    h = hashlib.sha256()
    for a in ("x_train", "y_train", "x_test", "y_test"):
        arr = np.ascontiguousarray(getattr(data, a))
        h.update(f"{a}:{arr.dtype.str}:{arr.shape}".encode())
        h.update(arr.tobytes())
    return "sha256:" + h.hexdigest()


@functools.lru_cache(maxsize=4)
def _load(name: str) -> Any:
    """The data set, loaded once per process (flattened, protocol split)."""
    if name in _REGISTRY:
        reg = _REGISTRY[name]
        data = reg.source() if callable(reg.source) else reg.source
        _check_dataset_like(data, name)
        return data
    from hashlib_nn.data import load_dataset

    return load_dataset(name, flatten=True)


def get_dataset(name: str) -> Any:
    """The Dataset behind ``RunConfig(dataset=name)``, cached in-process."""
    if name not in available_datasets():
        raise ValueError(_unknown_dataset(name))
    return _load(name)


def _unknown_dataset(name: object) -> str:
    accepted = ", ".join(repr(d) for d in available_datasets())
    return f"unknown dataset {name!r}; accepted: {accepted} (or register_dataset(name, data))"


def _train_size(name: str) -> int | None:
    if name in TRAIN_SIZES:
        return TRAIN_SIZES[name]
    reg = _REGISTRY.get(name)
    if reg is None:
        return None
    if reg.n_train is None:
        return len(_load(name).x_train)
    return reg.n_train


def _data_fingerprint(name: str) -> str | None:
    """What identifies a registered data set's content in content keys (None: a paper data set,
    identified by name and the protocol, whose content the data module verifies by hash)."""
    reg = _REGISTRY.get(name)
    if reg is None:
        return None
    return reg.fingerprint or _array_fingerprint(_load(name))


def synthetic_dataset(
    n_train: int = 2000, n_test: int = 500, dim: int = 784, n_classes: int = 10, seed: int = 0
) -> Any:
    """A small, deterministic, learnable stand-in for MNIST (tests, smoke runs without data).

    Each class has a random sparse prototype in [0, 1]^dim; an example is its class prototype
    plus Gaussian noise, clipped to [0, 1]. Labels cycle through the classes.
    """
    from hashlib_nn.data import Dataset

    rng = np.random.default_rng(seed)
    protos = rng.random((n_classes, dim)) * (rng.random((n_classes, dim)) < 0.2)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % n_classes
        x = protos[y] + 0.25 * rng.standard_normal((n, dim))
        return np.clip(x, 0, 1).astype(np.float32), y.astype(np.int64)

    x_tr, y_tr = draw(n_train)
    x_te, y_te = draw(n_test)
    return Dataset(
        name="synthetic", x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te,
        image_shape=(1, 1, dim), n_classes=n_classes,
        class_names=tuple(str(c) for c in range(n_classes)),
    )  # fmt: skip


# "synthetic": always available, no files needed (CLI smoke runs, tests).
_REGISTRY["synthetic"] = _Registered(synthetic_dataset, 2000, "synthetic-v1:2000x784/500/10/seed0")


# ----------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------


def _is_int(v: object) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


@dataclass(frozen=True)
class RunConfig:
    """One training run and what to measure in it. Defaults: the original MNIST protocol.

    Validated on construction; every error names the value and what is accepted.
    """

    dataset: str = "mnist"  # data set name: BUILTIN_DATASETS or a registered one (original: MNIST)
    width: int = 100  # TOTAL hidden units, split evenly over `depth` layers (original code's width)
    depth: int = 1  # hidden Linear-BN-ReLU blocks (original: MNIST 1, CIFAR-10 5)
    n_train: int | None = None  # first n training examples, tiled to the full training length
    # (original sample-size protocol); None = all (MNIST 48,000); equal to all is stored as None
    batchnorm: bool = True  # BatchNorm after each hidden Linear (original: True)
    dropout: float = 0.0  # dropout after each ReLU (original MLP: none)
    label_noise: float = 0.0  # fraction of the n training labels replaced by another class
    # (hashlib_nn.noise.symmetric_label_noise, seeded by train.seed; ours: no original experiment)
    label_noise_mode: str = "uniform_other"  # how labels are corrupted: LABEL_NOISE_MODES
    # ("uniform_other": ours, exact rate; "original": the original helper, defect #1); at
    # label_noise 0 every mode gives the clean labels, so it is stored as "uniform_other"
    train: TrainConfig = field(default_factory=TrainConfig)  # protocol.md "Training" defaults
    checkpoints: tuple[int, ...] = ()  # epochs to evaluate (0 = initialization); the final epoch
    # is always evaluated (original: final only; training-time grid: 0, 1, 3, ..., 200)
    metrics: tuple[str, ...] = METRIC_SUITES  # suites per checkpoint, from METRIC_SUITES
    # (default: all of them) and OPTIONAL_SUITES
    bn_running_var: str = "unbiased"  # BatchNorm running-variance correction (deviation toggle,
    # issue 13): "unbiased" (PyTorch, ours), "keras" (Keras 2.2), "biased"; PaperMLP's argument

    def __post_init__(self) -> None:
        if not isinstance(self.dataset, str) or self.dataset not in available_datasets():
            raise ValueError(_unknown_dataset(self.dataset))
        if not _is_int(self.depth) or self.depth < 1:
            raise ValueError(f"depth must be a positive integer; got depth={self.depth!r}")
        if not _is_int(self.width) or self.width < self.depth or self.width % self.depth:
            raise ValueError(
                f"width must be a positive multiple of depth={self.depth} (the total number of "
                f"hidden units, split evenly over the layers); got width={self.width!r}"
            )
        if not isinstance(self.batchnorm, bool | np.bool_):
            raise ValueError(f"batchnorm must be True or False; got batchnorm={self.batchnorm!r}")
        if not isinstance(self.train, TrainConfig):
            raise TypeError(
                f"train must be a hashlib_nn.train.TrainConfig; got {type(self.train).__name__}"
            )
        if self.train.epochs <= 0:
            raise ValueError(
                f"train.epochs must be a positive integer; got epochs={self.train.epochs!r}"
            )
        available = _train_size(self.dataset)
        if self.n_train is not None:
            if (
                not _is_int(self.n_train)
                or self.n_train < 1
                or (available is not None and self.n_train > available)
            ):
                limit = f"[1, {available}]" if available is not None else ">= 1"
                raise ValueError(
                    f"n_train must be None (all training examples) or an integer in {limit} "
                    f"for {self.dataset!r}; got n_train={self.n_train!r}"
                )
            object.__setattr__(
                self, "n_train", None if self.n_train == available else int(self.n_train)
            )
        for name, lo, hi_open in (("dropout", 0.0, True), ("label_noise", 0.0, False)):
            v = getattr(self, name)
            ok = isinstance(v, float | int | np.floating) and not isinstance(v, bool)
            if not ok or not (lo <= v < 1.0 if hi_open else lo <= v <= 1.0):
                span = "[0, 1)" if hi_open else "[0, 1]"
                raise ValueError(f"{name} must be a fraction in {span}; got {name}={v!r}")
            object.__setattr__(self, name, float(v))
        if self.label_noise_mode not in LABEL_NOISE_MODES:
            accepted = ", ".join(repr(m) for m in LABEL_NOISE_MODES)
            raise ValueError(
                f"label_noise_mode must be one of {accepted}; "
                f"got label_noise_mode={self.label_noise_mode!r}"
            )
        if self.label_noise == 0:  # no label changes in any mode: one run serves them all
            object.__setattr__(self, "label_noise_mode", LABEL_NOISE_MODES[0])
        object.__setattr__(self, "batchnorm", bool(self.batchnorm))
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "depth", int(self.depth))
        metrics = (self.metrics,) if isinstance(self.metrics, str) else tuple(self.metrics)
        suites = METRIC_SUITES + OPTIONAL_SUITES
        for m in metrics:
            if m not in suites:
                accepted = ", ".join(repr(s) for s in suites)
                raise ValueError(f"unknown metric {m!r}; accepted: {accepted}")
        object.__setattr__(self, "metrics", tuple(m for m in suites if m in metrics))
        from hashlib_nn.models import BN_RUNNING_VARS

        if self.bn_running_var not in BN_RUNNING_VARS:
            accepted = ", ".join(repr(r) for r in BN_RUNNING_VARS)
            raise ValueError(f"bn_running_var must be one of {accepted}; "
                             f"got bn_running_var={self.bn_running_var!r}")  # fmt: skip
        checkpoints = tuple(self.checkpoints)
        for c in checkpoints:
            if not _is_int(c) or c < 0 or c > self.train.epochs:
                raise ValueError(
                    f"checkpoints must be epochs in [0, train.epochs={self.train.epochs}]; "
                    f"got {c!r}"
                )
        object.__setattr__(self, "checkpoints", tuple(sorted({int(c) for c in checkpoints})))

    # -- derived -------------------------------------------------------------------------------
    @property
    def seed(self) -> int:
        return self.train.seed

    @property
    def n_examples(self) -> int:
        """Unique training examples (the resolved ``n_train``)."""
        if self.n_train is not None:
            return self.n_train
        size = _train_size(self.dataset)
        assert size is not None
        return size

    @property
    def key(self) -> str:
        return content_key(self)

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with ``changes``; ``train`` fields may be given directly (``seed=3``)."""
        train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
        own = {k: v for k, v in changes.items() if k not in train_fields}
        tr = {k: v for k, v in changes.items() if k in train_fields}
        if tr:
            own["train"] = dataclasses.replace(own.get("train", self.train), **tr)
        return dataclasses.replace(self, **own)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["train"]["betas"] = list(self.train.betas)
        d["checkpoints"] = list(self.checkpoints)
        d["metrics"] = list(self.metrics)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunConfig:
        d = dict(d)
        tr = dict(d.pop("train", {}))
        if "betas" in tr:
            tr["betas"] = tuple(tr["betas"])
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown RunConfig fields {unknown}; accepted: {sorted(known)}")
        d["checkpoints"] = tuple(d.get("checkpoints", ()))
        d["metrics"] = tuple(d.get("metrics", METRIC_SUITES))
        return cls(**d, train=TrainConfig(**tr))

    def flat(self) -> dict[str, Any]:
        """Config columns for tidy frames (train fields inlined; ``n_train`` resolved)."""
        t = self.train
        return {
            "dataset": self.dataset, "width": self.width, "depth": self.depth,
            "per_layer": self.width // self.depth, "n_train": self.n_examples,
            "batchnorm": self.batchnorm, "dropout": self.dropout, "label_noise": self.label_noise,
            "label_noise_mode": self.label_noise_mode, "weight_decay": t.weight_decay,
            "early_stopping": t.early_stopping, "max_epochs": t.epochs, "seed": t.seed,
        }  # fmt: skip

    def describe(self) -> str:
        n = "" if self.n_train is None else f" n={self.n_train}"
        return f"{self.dataset} w={self.width} d={self.depth}{n} seed={self.seed}"


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _training_identity(config: RunConfig) -> dict[str, Any]:
    """What determines the trained network, normalized (floats as floats; early-stopping
    settings dropped when early stopping is off)."""
    from hashlib_nn.train import deviation_identity

    t = deviation_identity(dataclasses.asdict(config.train))  # toggles at default: left out
    for k in ("lr", "eps", "lr_decay", "weight_decay", "min_delta"):
        t[k] = float(t[k])
    t["betas"] = [float(b) for b in t["betas"]]
    if not config.train.early_stopping:
        t.pop("patience")
        t.pop("min_delta")
    d: dict[str, Any] = {
        "dataset": config.dataset, "width": config.width, "depth": config.depth,
        "n_train": config.n_train, "batchnorm": config.batchnorm, "dropout": config.dropout,
        "label_noise": config.label_noise, "train": t,
    }  # fmt: skip
    if config.label_noise > 0:  # (keys of "uniform_other" runs are those of before the field)
        d["label_noise_mode"] = config.label_noise_mode
    if config.bn_running_var != "unbiased":  # (keys of default runs: as before the toggle)
        d["bn_running_var"] = config.bn_running_var
    fp = _data_fingerprint(config.dataset)
    if fp is not None:
        d["data"] = fp
    return d


def content_key(config: RunConfig) -> str:
    """SHA-256 (hex) of the canonical JSON of the config's training identity and the schema.

    Stable across processes and Python versions; changes with anything that changes the trained
    network (data set, architecture, sample, any TrainConfig field); ignores ``checkpoints`` and
    ``metrics`` (the evaluation plan, see the module docstring) and, when early stopping is off,
    its ``patience`` and ``min_delta``.
    """
    payload = {"schema": SCHEMA_VERSION, "run": _training_identity(config)}
    return hashlib.sha256(_canonical(payload).encode()).hexdigest()


def _group_key(config: RunConfig) -> str:
    """Configs with equal group keys can be trained together by ``train_many``: same data set,
    architecture, epochs, checkpoints and epoch length; seed, weight decay, early stopping, the
    label noise (ratio and mode: per-model labels) and the sample size (per-model rows) may
    differ, as long as the tiled samples have one length (protocol.md, "Sample size": the first
    n examples repeated ``N // n`` times, so e.g. every n dividing 48,000 gives 48,000 rows)."""
    ident = _training_identity(config)
    t = ident["train"]
    for k in ("seed", "weight_decay", "early_stopping", "patience", "min_delta"):
        t.pop(k, None)
    for k in ("label_noise", "label_noise_mode", "n_train"):
        ident.pop(k, None)
    ident["fit_length"] = _fit_length(config)
    ident["checkpoints"] = list(config.checkpoints)
    return _canonical(ident)


def _fit_length(config: RunConfig) -> int | None:
    """Rows per training epoch: n * (N // n) for a sample of n of the N training examples
    (:func:`hashlib_nn.train.tile_to_length`), N for all; None when N is not known without
    loading the data (a registered data set of unstated size: then n_train must match)."""
    total = _train_size(config.dataset)
    n = config.n_train
    if total is None:
        return None if n is None else -n  # unknown length: group equal samples only
    if n is None or n > total:  # (n > total is an error that _run_data reports)
        return total
    return n * (total // n)


# ----------------------------------------------------------------------------------------------
# Results
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """Metrics of one evaluated epoch."""

    epoch: int  # 0 = initialization; e = after e epochs
    metrics: dict[str, float]  # metric name (e.g. "rr_train") -> value
    seconds: float  # evaluation time (codes + all suites)
    timings: dict[str, float] = field(default_factory=dict)  # per-suite seconds


@dataclass
class RunResult:
    """Everything one run produced. ``to_frame()`` gives tidy rows."""

    config: RunConfig
    key: str  # content_key(config)
    checkpoints: list[Checkpoint]  # in epoch order; the last is the final epoch
    history: list[dict[str, float]]  # per epoch: epoch, lr, loss, accuracy, seconds
    stopped_epoch: int | None  # epoch at which early stopping ended the run, else None
    epochs_run: int
    train_seconds: float  # wall time of the training epochs (checkpoint evaluations excluded);
    # with trainer "train_many" the time of the whole batch of `group_size` models
    device: str
    trainer: str  # "train" (one model) or "train_many" (repeats trained together)
    versions: dict[str, str | None]
    created: str  # ISO 8601 UTC
    group_size: int = 1  # models trained together with this one (train_many), including itself
    schema: int = SCHEMA_VERSION

    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def final(self) -> Checkpoint:
        return self.checkpoints[-1]

    @property
    def eval_seconds(self) -> float:
        return float(sum(c.seconds for c in self.checkpoints))

    def evaluated_epochs(self) -> set[int]:
        return {c.epoch for c in self.checkpoints}

    def covers(self, config: RunConfig) -> bool:
        """Whether this result answers ``config``: same training and every requested metric at
        every requested checkpoint (a checkpoint the run never reached, after early stopping,
        counts as answered)."""
        if self.key != content_key(config):
            return False
        have = set(self.config.metrics)
        if not set(config.metrics) <= have:
            return False
        done = self.evaluated_epochs()
        return all(c in done for c in config.checkpoints if c <= self.epochs_run)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "key": self.key,
            "config": self.config.to_dict(),
            "checkpoints": [dataclasses.asdict(c) for c in self.checkpoints],
            "history": self.history,
            "stopped_epoch": self.stopped_epoch,
            "epochs_run": self.epochs_run,
            "train_seconds": self.train_seconds,
            "device": self.device,
            "trainer": self.trainer,
            "versions": self.versions,
            "created": self.created,
            "group_size": self.group_size,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunResult:
        return cls(
            config=RunConfig.from_dict(d["config"]),
            key=d["key"],
            checkpoints=[Checkpoint(**c) for c in d["checkpoints"]],
            history=list(d["history"]),
            stopped_epoch=d["stopped_epoch"],
            epochs_run=d["epochs_run"],
            train_seconds=d["train_seconds"],
            device=d["device"],
            trainer=d["trainer"],
            versions=dict(d["versions"]),
            created=d["created"],
            group_size=d["group_size"],
            schema=d["schema"],
        )

    def to_frame(self, request: RunConfig | None = None) -> pd.DataFrame:
        """Tidy rows, one per checkpoint x metric, with the config columns.

        Columns: key, the config's :meth:`RunConfig.flat` columns, epochs_run, stopped_epoch,
        epoch, final (the last evaluated epoch), metric (e.g. ``"rr_train"``), measure (the
        metric without its split, ``"rr"``), split (``"train"``, ``"test"`` or None), value.
        With ``request``, only its checkpoints (plus the final epoch) and metric suites.
        """
        import pandas as pd

        suites = set(request.metrics) if request is not None else None
        epochs = set(request.checkpoints) if request is not None else None
        base = {"key": self.key, **self.config.flat(), "epochs_run": self.epochs_run,
                "stopped_epoch": self.stopped_epoch}  # fmt: skip
        rows = []
        last = self.checkpoints[-1].epoch if self.checkpoints else None
        for cp in self.checkpoints:
            if epochs is not None and cp.epoch not in epochs and cp.epoch != last:
                continue
            for name, value in cp.metrics.items():
                if suites is not None and not _wanted(name, suites):
                    continue
                measure, split = _split_name(name)
                rows.append({**base, "epoch": cp.epoch, "final": cp.epoch == last,
                             "metric": name, "measure": measure, "split": split,
                             "value": float(value)})  # fmt: skip
        return pd.DataFrame(rows, columns=_FRAME_COLUMNS)

    def history_frame(self) -> pd.DataFrame:
        """Per-epoch training loss and accuracy, with key and config columns."""
        import pandas as pd

        base = {"key": self.key, **self.config.flat()}
        return pd.DataFrame([{**base, **h} for h in self.history])


_FRAME_COLUMNS = [
    "key", "dataset", "width", "depth", "per_layer", "n_train", "batchnorm", "dropout",
    "label_noise", "label_noise_mode", "weight_decay", "early_stopping", "max_epochs", "seed",
    "epochs_run", "stopped_epoch", "epoch", "final", "metric", "measure", "split", "value",
]  # fmt: skip

_SUITE_PREFIXES = (
    ("rr", ("rr_", "collision_", "n_distinct_")),
    ("net", ("net_",)),
    ("kmeans", ("kmeans_",)),
    ("knn_sklearn", ("knn_sklearn_",)),  # before "knn": its names start with "knn_" too
    ("knn", ("knn_",)),
    ("lr", ("lr_",)),
)


def _suite_of(metric: str) -> str | None:
    """The suite that produced ``metric`` (None: shared by the categorization suites, such as
    ``n_bits_kept``)."""
    if metric == "n_bits":
        return "rr"
    for suite, prefixes in _SUITE_PREFIXES:
        if metric.startswith(prefixes):
            return suite
    return None


def _wanted(metric: str, suites: set[str]) -> bool:
    suite = _suite_of(metric)
    return suite in suites if suite is not None else bool(suites & set(_CATEGORIZATION))


def _split_name(metric: str) -> tuple[str, str | None]:
    for split in ("train", "test"):
        if metric.endswith("_" + split):
            return metric[: -len(split) - 1], split
    return metric, None


def _versions() -> dict[str, str | None]:
    """The versions recorded beside every run (:func:`hashlib_nn.provenance.versions`)."""
    from hashlib_nn.provenance import versions

    return versions()


# ----------------------------------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RunData:
    x_fit: np.ndarray  # training rows (the n examples tiled when n_train is set)
    y_fit: np.ndarray  # their labels as trained on (noisy when label_noise > 0)
    x_eval: np.ndarray  # the n unique training examples
    y_eval: np.ndarray  # their labels as trained on (noisy when label_noise > 0)
    y_eval_clean: np.ndarray  # their clean labels
    x_test: np.ndarray
    y_test: np.ndarray
    in_features: int
    n_classes: int


def _run_data(config: RunConfig, *, fit: bool = True) -> _RunData:
    """The rows to train on and to evaluate for ``config`` (protocol.md, "Sample size");
    ``fit=False`` leaves the tiled copy out (``x_fit``/``y_fit`` are then the n examples)."""
    from hashlib_nn.train import tile_to_length

    ds = _load(config.dataset)
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
    return _RunData(
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
    from hashlib_nn.noise import original_label_noise, symmetric_label_noise

    if config.label_noise_mode == "original":
        return original_label_noise(y, config.label_noise, n_classes, seed=config.seed).y_noisy
    mode: Any = config.label_noise_mode  # "uniform_other" or "uniform_any" (validated)
    noisy = symmetric_label_noise(y, config.label_noise, n_classes, seed=config.seed, mode=mode)
    return noisy.y_noisy


def _build_model(config: RunConfig, data: _RunData) -> PaperMLP:
    from hashlib_nn.models import PaperMLP

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


def _net_metrics(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(logits)
    loss = F.cross_entropy(t, torch.from_numpy(y)).item()
    return loss, float((logits.argmax(1) == y).mean())


def _codes_and_logits(
    model: nn.Module, x: np.ndarray, device: Any
) -> tuple[NeuralCodes, np.ndarray]:
    from hashlib_nn.codes import neural_codes

    out = neural_codes(model, x, device=device, return_logits=True)
    assert isinstance(out, tuple)
    return out


def _evaluate(model: nn.Module, config: RunConfig, data: _RunData, device: Any,
              epoch: int) -> Checkpoint:  # fmt: skip
    """All requested metric suites of ``model`` at ``epoch``."""
    import copy

    import torch

    from hashlib_nn.metrics import collision_fraction, distinct_codes

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
        for split, codes in (("train", codes_tr), ("test", codes_te)):
            groups = distinct_codes(codes)
            n = len(codes)
            m[f"rr_{split}"] = (n - groups.n_distinct) / n
            m[f"collision_{split}"] = collision_fraction(codes)
            m[f"n_distinct_{split}"] = float(groups.n_distinct)
        m["n_bits"] = float(codes_tr.n_bits)
        timings["rr"] = time.perf_counter() - t
    if "net" in config.metrics:
        t = time.perf_counter()
        m["net_loss_train"], m["net_acc_train"] = _net_metrics(logits_tr, data.y_eval)
        m["net_loss_test"], m["net_acc_test"] = _net_metrics(logits_te, data.y_test)
        if config.label_noise > 0:  # the training labels are noisy: also score the clean ones
            m["net_acc_clean_train"] = float((logits_tr.argmax(1) == data.y_eval_clean).mean())
        timings["net"] = time.perf_counter() - t
    suites = tuple(s for s in _CATEGORIZATION if s in config.metrics)
    if suites:
        from hashlib_nn.categorization import categorization_report

        t = time.perf_counter()
        report = categorization_report(
            codes_tr,
            data.y_eval,
            codes_te,
            data.y_test,
            n_clusters=data.n_classes,
            metrics=suites,
            device=device,
        )
        for name, value in report.items():
            if name.startswith("time_"):
                timings[name[5:]] = float(value)
            elif name not in ("n_bits", "n_train", "n_test"):  # known already
                m[name] = float(value)
        timings["categorization"] = time.perf_counter() - t
    if "knn_sklearn" in config.metrics:
        from hashlib_nn.categorization import knn_accuracy_sklearn

        t = time.perf_counter()
        m["knn_sklearn_test"] = knn_accuracy_sklearn(codes_tr, data.y_eval, codes_te, data.y_test)
        timings["knn_sklearn"] = time.perf_counter() - t
    return Checkpoint(epoch, m, time.perf_counter() - t0, timings)


def _result(config: RunConfig, checkpoints: dict[int, Checkpoint], history: Any,
            trainer: str, group_size: int = 1) -> RunResult:  # fmt: skip
    # EpochRecord.seconds excludes the checkpoint callbacks (in train and train_many alike).
    return RunResult(
        config=config,
        key=content_key(config),
        checkpoints=[checkpoints[e] for e in sorted(checkpoints)],
        history=[dataclasses.asdict(e) for e in history.epochs],
        stopped_epoch=history.stopped_epoch,
        epochs_run=history.epochs_run,
        train_seconds=float(sum(e.seconds for e in history.epochs)),
        device=history.device,
        trainer=trainer,
        versions=_versions(),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        group_size=group_size,
    )


def _train_one(config: RunConfig, device: Any) -> RunResult:
    from hashlib_nn.train import train

    data = _run_data(config)
    model = _build_model(config, data)
    done: dict[int, Checkpoint] = {}

    def on_checkpoint(epoch: int, m: nn.Module) -> None:
        done[epoch] = _evaluate(m, config, data, device, epoch)

    history = train(model, data.x_fit, data.y_fit, config.train, checkpoints=config.checkpoints,
                    on_checkpoint=on_checkpoint, device=device)  # fmt: skip
    return _result(config, done, history, "train")


def _train_group(configs: Sequence[RunConfig], device: Any) -> list[RunResult]:
    """Runs of one architecture and epoch length (equal :func:`_group_key`), trained together
    (hashlib_nn.batched): model i trains on its own tiled sample (rows into the training set)
    with its own, possibly noisy, labels."""
    from hashlib_nn.batched import train_many

    per_model = [_run_data(c, fit=False) for c in configs]  # no tiled copies: rows instead
    x_pool = np.asarray(_load(configs[0].dataset).x_train)
    lengths = {len(d.x_eval) * (len(x_pool) // len(d.x_eval)) for d in per_model}
    if len(lengths) != 1:  # _group_key groups equal lengths only
        raise ValueError(f"runs trained together need one epoch length; got {sorted(lengths)}")
    length = lengths.pop()
    rows = np.stack([np.arange(length) % len(d.x_eval) for d in per_model])  # tile_to_length
    y_fit = np.stack([d.y_eval[r] for d, r in zip(per_model, rows, strict=True)])
    if all(c.n_train == configs[0].n_train for c in configs):  # one sample: no row map
        x_pool = per_model[0].x_eval if length == len(per_model[0].x_eval) else x_pool[rows[0]]
        rows_arg = None
        if all(c.label_noise == 0 for c in configs):
            y_fit = y_fit[0]  # shared labels
    else:
        rows_arg = rows
    models = [_build_model(c, d) for c, d in zip(configs, per_model, strict=True)]
    done: list[dict[int, Checkpoint]] = [{} for _ in configs]

    def on_checkpoint(i: int, epoch: int, m: nn.Module) -> None:
        done[i][epoch] = _evaluate(m, configs[i], per_model[i], device, epoch)

    histories = train_many(models, x_pool, y_fit, [c.train for c in configs],
                           checkpoints=configs[0].checkpoints, on_checkpoint=on_checkpoint,
                           device=device, rows=rows_arg)  # fmt: skip
    return [_result(c, d, h, "train_many", len(configs)) for c, d, h in
            zip(configs, done, histories, strict=True)]  # fmt: skip


def _resolve_device(device: Any) -> Any:
    from hashlib_nn.device import resolve_device

    return resolve_device(device)


def _check_configs(configs: Iterable[RunConfig]) -> list[RunConfig]:
    out = list(configs)
    for i, c in enumerate(out):
        if not isinstance(c, RunConfig):
            raise TypeError(f"configs[{i}] must be a RunConfig; got {type(c).__name__}")
    return out


def _merge_plan(config: RunConfig, stored: RunResult | None) -> RunConfig:
    """``config`` measuring also what the stored result measured (so a re-run only adds)."""
    return config if stored is None else _union_plan(config, stored.config)


def _union_plan(config: RunConfig, other: RunConfig) -> RunConfig:
    """``config`` with the union of both evaluation plans (metrics and checkpoints)."""
    return dataclasses.replace(
        config,
        metrics=tuple(set(config.metrics) | set(other.metrics)),
        checkpoints=tuple(set(config.checkpoints) | set(other.checkpoints)),
    )


def run(config: RunConfig, *, store: StoreLike | bool | None = None,
        device: Any = "auto") -> RunResult:  # fmt: skip
    """Train and measure one configuration; return (and store) its :class:`RunResult`.

    ``store``: None = the default store (:func:`hashlib_nn.store.default_root`), a path or a
    :class:`~hashlib_nn.store.Store`, or False for no store. A stored result that covers the
    config is returned without training.
    """
    from hashlib_nn.store import open_store

    if not isinstance(config, RunConfig):
        raise TypeError(f"config must be a RunConfig; got {type(config).__name__}")
    st = None if store is False else open_store(None if store is True else store)
    stored = st.get(config) if st is not None else None
    if stored is not None and stored.covers(config):
        return stored
    result = _train_one(_merge_plan(config, stored), _resolve_device(device))
    if st is not None:
        st.put(result)
    return result


def show_progress(progress: bool | None = None) -> bool:
    """Whether to draw a progress bar: ``progress`` if given, else only when stderr is a
    terminal, the environment variable ``CI`` is unset and we are not inside a Jupyter kernel."""
    if progress is not None:
        return bool(progress)
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        return False
    if "ipykernel" in sys.modules:
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def sweep(
    configs: Iterable[RunConfig],
    *,
    store: StoreLike | bool | None = None,
    device: Any = "auto",
    progress: bool | None = None,
    batched: bool = True,
    max_group: int = 16,
    on_result: Callable[[RunResult], None] | None = None,
    scheduler: Any = None,
    keep_going: bool = False,
) -> pd.DataFrame:
    """Run every configuration not already stored; return the tidy frame of all of them.

    Configs that differ only in seed, weight decay or early-stopping settings (same data,
    architecture, epochs and checkpoints) are trained together with
    :func:`hashlib_nn.batched.train_many` (at most ``max_group`` at once; ``batched=False``
    trains one at a time). Each finished run is stored at once, so an interrupted sweep loses
    only the runs in progress and a repeated call resumes. The frame holds, for each config,
    its requested checkpoints (plus the final epoch) and metric suites (see
    :meth:`RunResult.to_frame`), in the order of ``configs``.

    ``scheduler``: where to train (:mod:`hashlib_nn.distributed`). None: on the Dask cluster
    named by ``$HASHLIB_NN_SCHEDULER`` when it is set, else here; False: here; an address
    (``"tcp://host:8786"``) or a ``distributed.Client``: each group of runs is one task on that
    cluster, whose workers write to the same store (it must be on a shared filesystem).
    ``keep_going``: a run that raises does not stop the others; at the end
    :class:`hashlib_nn.distributed.SweepError` lists the failures (its ``frame`` holds the runs
    that finished). Without it the first failure is raised at once.
    """
    from hashlib_nn.distributed import check_device_spec, resolve_scheduler
    from hashlib_nn.store import open_store

    configs = _check_configs(configs)
    cluster = resolve_scheduler(scheduler)
    # On a cluster the device is resolved by each worker (which may have CUDA where we have none).
    dev = check_device_spec(device) if cluster is not None else _resolve_device(device)
    st = None if store is False else open_store(None if store is True else store)
    results: dict[str, RunResult] = {}
    todo: dict[str, RunConfig] = {}  # key -> config with the union of all requested plans
    for c in configs:
        key = content_key(c)
        if key in results:
            if results[key].covers(c):
                continue
            todo[key] = _merge_plan(c, results.pop(key))
        elif key in todo:
            todo[key] = _union_plan(todo[key], c)
        else:
            stored = st.get(key) if st is not None else None
            if stored is not None and stored.covers(c):
                results[key] = stored
            else:
                todo[key] = _merge_plan(c, stored)
    if todo:
        for name in sorted({c.dataset for c in todo.values()}):
            if cluster is None or name in _REGISTRY:  # a cluster's workers load their own
                _load(name)  # fail fast on missing data, before any training
        groups: dict[str, list[RunConfig]] = {}
        for c in todo.values():
            groups.setdefault(_group_key(c) if batched else content_key(c), []).append(c)
        chunks = [
            g[i : i + max_group] for g in groups.values() for i in range(0, len(g), max_group)
        ]
        bar = None

        def finished(r: RunResult, stored: bool = False) -> None:
            if st is not None and not stored:
                st.put(r)  # at once: an interruption loses only unfinished runs
            results[r.key] = r
            if bar is not None:
                bar.update(1)
            if on_result is not None:
                on_result(r)

        if show_progress(progress):
            from tqdm import tqdm  # a terminal bar: never drawn inside a kernel

            bar = tqdm(total=len(todo), unit="run", desc="sweep", dynamic_ncols=True)
        failures: list[Any] = []  # hashlib_nn.distributed.RunFailure, with keep_going
        try:
            if cluster is not None:  # the workers store each result (a shared store)
                from hashlib_nn.distributed import run_on_cluster

                failures = run_on_cluster(
                    cluster, chunks, device=dev, store=st, keep_going=keep_going, bar=bar,
                    finished=lambda r: finished(r, stored=True),
                )  # fmt: skip
            else:
                for chunk in chunks:
                    if st is not None:  # another process sharing the store may have run some
                        done_now = [(c, st.get(c.key)) for c in chunk]
                        for c, r in done_now:
                            if r is not None and r.covers(c):
                                finished(r, stored=True)
                        chunk = [c for c, r in done_now if r is None or not r.covers(c)]
                        if not chunk:
                            continue
                    if bar is not None:
                        bar.set_postfix_str(
                            chunk[0].describe() + (f" x{len(chunk)}" if len(chunk) > 1 else "")
                        )
                    try:
                        if len(chunk) > 1 and _batched_available():
                            for r in _train_group(chunk, dev):
                                finished(r)
                        else:
                            for c in chunk:
                                finished(_train_one(c, dev))
                    except Exception as exc:
                        if not keep_going:
                            raise
                        from hashlib_nn.distributed import RunFailure

                        lost = [c for c in chunk if c.key not in results]
                        failures += [RunFailure.from_exception(c, exc) for c in lost]
                        if bar is not None:
                            bar.update(len(lost))
        finally:
            if bar is not None:
                bar.close()
        if failures:
            from hashlib_nn.distributed import SweepError

            done = [c for c in configs if content_key(c) in results]
            raise SweepError(failures, _frame(done, results), len(todo))
    return _frame(configs, results)


def _frame(configs: Sequence[RunConfig], results: Mapping[str, RunResult]) -> pd.DataFrame:
    import pandas as pd

    frames = [results[content_key(c)].to_frame(c) for c in configs]
    if not frames:
        return pd.DataFrame(columns=_FRAME_COLUMNS)
    return pd.concat(frames, ignore_index=True)


@functools.lru_cache(maxsize=1)
def _batched_available() -> bool:
    try:
        import hashlib_nn.batched  # noqa: F401
    except ImportError:
        warnings.warn("hashlib_nn.batched is not available; training repeats one at a time",
                      stacklevel=3)  # fmt: skip
        return False
    return True
