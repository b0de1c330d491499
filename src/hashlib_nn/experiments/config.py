"""What a run is: its configuration and content key (paper, Sec. 4), for MLPs and CNNs.

The bottom of the experiment pipeline (:mod:`hashlib_nn.experiments`): the data sets a run may
name (the paper's and registered ones), :class:`RunConfig` (the paper's MLP) and
:class:`CNNRunConfig` (the CNN chapter's networks), and their content keys (:func:`content_key`,
:func:`cnn_content_key`). Results are in :mod:`hashlib_nn.experiments.result`. Nothing here
trains; every public name is also importable from :mod:`hashlib_nn.experiments`.

The two configurations stay two classes with two key functions: the keys of every stored and
shipped run are SHA-256 digests of their canonical JSON, and one class with an architecture field
would give every stored run a new key.

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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hashlib_nn.cnn import CNNTrainConfig
from hashlib_nn.data import Dataset, load_dataset
from hashlib_nn.models import BN_RUNNING_VARS
from hashlib_nn.train import TrainConfig, deviation_identity

__all__ = [
    "BUILTIN_DATASETS",
    "CNN_FORMAT",
    "CNN_SCHEMA_VERSION",
    "CNN_SUITES",
    "IMAGE_DATASETS",
    "IMAGE_SHAPES",
    "CNNRunConfig",
    "cnn_content_key",
    "default_hflip",
    "CATEGORIZATION_SUITES",
    "DEFAULT_DEPTH",
    "LABEL_NOISE_MODES",
    "METRIC_SUITES",
    "OPTIONAL_SUITES",
    "SCHEMA_VERSION",
    "TRAIN_SIZES",
    "RegisteredDataset",
    "RunConfig",
    "available_datasets",
    "content_key",
    "fit_length",
    "get_dataset",
    "group_key",
    "data_fingerprint",
    "install_datasets",
    "is_registered",
    "register_dataset",
    "registered_datasets",
    "synthetic_dataset",
    "train_size",
    "unregister_dataset",
]

#: Bumped whenever a change to the code would change a stored result for the same config
#: (protocol, metrics, code extraction). Part of every content key: old entries are not reused.
SCHEMA_VERSION = 1

#: Metric suites a run can compute at each checkpoint, in canonical order.
METRIC_SUITES: tuple[str, ...] = ("rr", "net", "kmeans", "knn", "lr")
#: Suites a run computes only when asked for (slow): the original's scikit-learn K-NN.
OPTIONAL_SUITES: tuple[str, ...] = ("knn_sklearn",)
#: The suites computed by :func:`hashlib_nn.categorization.categorization_report`.
CATEGORIZATION_SUITES = ("kmeans", "knn", "lr")

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
class RegisteredDataset:
    """A data set registered by name (:func:`register_dataset`)."""

    source: Any  # a Dataset-like object, or a zero-argument callable returning one
    n_train: int | None  # training examples, when known without loading
    fingerprint: str | None  # identity of the data in content keys (None: hash on first load)


_REGISTRY: dict[str, RegisteredDataset] = {}


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
    _REGISTRY[name] = RegisteredDataset(data, n_train, fingerprint)
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
    return load_dataset(name, flatten=True)


def get_dataset(name: str) -> Any:
    """The Dataset behind ``RunConfig(dataset=name)``, cached in-process."""
    if name not in available_datasets():
        raise ValueError(_unknown_dataset(name))
    return _load(name)


def _unknown_dataset(name: object) -> str:
    accepted = ", ".join(repr(d) for d in available_datasets())
    return f"unknown dataset {name!r}; accepted: {accepted} (or register_dataset(name, data))"


def train_size(name: str) -> int | None:
    """Training examples of data set ``name`` under the protocol (None: not known)."""
    if name in TRAIN_SIZES:
        return TRAIN_SIZES[name]
    reg = _REGISTRY.get(name)
    if reg is None:
        return None
    if reg.n_train is None:
        return len(_load(name).x_train)
    return reg.n_train


def data_fingerprint(name: str) -> str | None:
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
_REGISTRY["synthetic"] = RegisteredDataset(
    synthetic_dataset, 2000, "synthetic-v1:2000x784/500/10/seed0"
)


def is_registered(name: str) -> bool:
    """Whether ``name`` is a registered (in-memory) data set, not one of the paper's files."""
    return name in _REGISTRY


def registered_datasets(names: Iterable[str]) -> dict[str, RegisteredDataset]:
    """The registered data sets among ``names``, fingerprinted as the content keys are (what a
    cluster's workers need to train on them: :func:`install_datasets`)."""
    out = {}
    for name in sorted(set(names)):
        reg = _REGISTRY.get(name)
        if reg is not None:
            out[name] = dataclasses.replace(reg, fingerprint=data_fingerprint(name))
    return out


def install_datasets(datasets: Mapping[str, RegisteredDataset]) -> None:
    """Register data sets sent from another process (a Dask worker's side of
    :func:`registered_datasets`); one already registered with the same fingerprint is kept."""
    for name, reg in datasets.items():
        have = _REGISTRY.get(name)
        if have is None or have.fingerprint != reg.fingerprint:
            _REGISTRY[name] = reg
            _load.cache_clear()


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
        available = train_size(self.dataset)
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
        size = train_size(self.dataset)
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
    fp = data_fingerprint(config.dataset)
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


def group_key(config: RunConfig) -> str:
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
    ident["fit_length"] = fit_length(config)
    ident["checkpoints"] = list(config.checkpoints)
    return _canonical(ident)


def fit_length(config: RunConfig) -> int | None:
    """Rows per training epoch: n * (N // n) for a sample of n of the N training examples
    (:func:`hashlib_nn.train.tile_to_length`), N for all; None when N is not known without
    loading the data (a registered data set of unstated size: then n_train must match)."""
    total = train_size(config.dataset)
    n = config.n_train
    if total is None:
        return None if n is None else -n  # unknown length: group equal samples only
    if n is None or n > total:  # (n > total: an error that experiments.run_data reports)
        return total
    return n * (total // n)




# ----------------------------------------------------------------------------------------------
# CNN runs: configuration and content key (the CNN chapter, protocol.md "CNNs on CIFAR-10")
# ----------------------------------------------------------------------------------------------


#: Bumped whenever a code change would change a stored CNN result for the same config.
CNN_SCHEMA_VERSION = 1
CNN_FORMAT = "hashlib_nn.cnn_run"
#: Data sets :func:`cnn_run` loads by name (images, ``load_dataset(name, flatten=False)``).
IMAGE_DATASETS: tuple[str, ...] = ("mnist", "fashion-mnist", "cifar10")
#: Image shape (C, H, W) of each named data set, for :func:`bits_per_image` (no data needed).
IMAGE_SHAPES: dict[str, tuple[int, int, int]] = {
    "mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28), "cifar10": (3, 32, 32),
}  # fmt: skip
#: Categorization suites a CNN run computes on its reduced codes (this order: part of its key).
CNN_SUITES: tuple[str, ...] = ("knn", "kmeans", "lr")


def default_hflip(dataset: str) -> bool:
    """Horizontal flips in the augmentation: the original's ``horizontal_flip=True`` except on
    MNIST, whose digits are not mirror images of themselves (a flipped 2 is no digit). Fashion-MNIST
    keeps the flip: a mirrored shirt, sneaker or bag is still a shirt, sneaker or bag (its items
    are roughly left-right symmetric, the shoes all face one way and face the other when flipped),
    so the flip preserves every label, as on CIFAR-10."""
    return dataset != "mnist"



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
    metrics: tuple[str, ...] = CNN_SUITES  # categorization suites on the reduced codes
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
    payload = {"schema": CNN_SCHEMA_VERSION, "kind": CNN_FORMAT, "config": config.to_dict()}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


