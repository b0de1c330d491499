"""What a run is: its configuration, its content key and its result (paper, Sec. 4).

The data model under :mod:`hashlib_nn.experiments` (which trains and measures) and
:mod:`hashlib_nn.store` (which keeps results on disk): the data sets a run may name (the
paper's and registered ones), :class:`RunConfig`, :func:`content_key`, :class:`Checkpoint`,
:class:`RunResult` and its tidy frame (:data:`FRAME_COLUMNS`). Nothing here trains; every name
documented here is also importable from :mod:`hashlib_nn.experiments`, where the README and the
chapters use it.

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
from typing import TYPE_CHECKING, Any

import numpy as np

from hashlib_nn.data import Dataset, load_dataset
from hashlib_nn.models import BN_RUNNING_VARS
from hashlib_nn.train import TrainConfig, deviation_identity

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BUILTIN_DATASETS",
    "CATEGORIZATION_SUITES",
    "DEFAULT_DEPTH",
    "FRAME_COLUMNS",
    "LABEL_NOISE_MODES",
    "METRIC_SUITES",
    "OPTIONAL_SUITES",
    "SCHEMA_VERSION",
    "TRAIN_SIZES",
    "Checkpoint",
    "RegisteredDataset",
    "RunConfig",
    "RunResult",
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
    "union_plan",
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
        return pd.DataFrame(rows, columns=FRAME_COLUMNS)

    def history_frame(self) -> pd.DataFrame:
        """Per-epoch training loss and accuracy, with key and config columns."""
        import pandas as pd

        base = {"key": self.key, **self.config.flat()}
        return pd.DataFrame([{**base, **h} for h in self.history])


#: Columns of the tidy frames (:meth:`RunResult.to_frame`, a sweep's frame), in order.
FRAME_COLUMNS = [
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
    return suite in suites if suite is not None else bool(suites & set(CATEGORIZATION_SUITES))


def _split_name(metric: str) -> tuple[str, str | None]:
    for split in ("train", "test"):
        if metric.endswith("_" + split):
            return metric[: -len(split) - 1], split
    return metric, None



def union_plan(config: RunConfig, other: RunConfig) -> RunConfig:
    """``config`` with the union of both evaluation plans (metrics and checkpoints)."""
    return dataclasses.replace(
        config,
        metrics=tuple(set(config.metrics) | set(other.metrics)),
        checkpoints=tuple(set(config.checkpoints) | set(other.checkpoints)),
    )
