"""The Keras twin: the original scripts' MLP protocol run in Keras 3, evaluated by our metrics.

Issue 13 ("where the gap comes from"). Our trainer (:mod:`hashlib_nn.train`) is a PyTorch port
of the original Keras 2.2 scripts (``LeavesLei/activation-code``); the twin runs the scripts'
protocol in Keras itself, so that a difference between the twin and our port points at the port,
and a difference between the twin and the paper points elsewhere. Only the training differs:
the twin's codes are scored by the same functions as ours
(:func:`hashlib_nn.metrics.redundancy_ratio`,
:func:`hashlib_nn.categorization.categorization_report`, and K-NN the original's way,
scikit-learn's ``KNeighborsClassifier(n_neighbors=9, metric="hamming")``).

The protocol (``../shared/notes/protocol.md``), as the original ``create_mlp`` and training
scripts build it:

- ``depth`` x (``Dense(width // depth, kernel_regularizer=L2(1e-6))`` -> ``BatchNormalization()``
  -> ``Activation("relu")``), then ``Dense(10, activation="softmax")``; Keras' default
  initializers (Glorot-uniform kernels, zero biases; BN momentum 0.99, epsilon 1e-3);
- ``Adam(1e-2)`` and ``categorical_crossentropy`` on the softmax output, batch 64, shuffled each
  epoch; ``LearningRateScheduler``: lr x 0.1 every 20 epochs, a function of the global epoch, so
  it runs on across the training-time script's successive ``fit`` calls (``initial_epoch``), as
  does the Adam state (one compiled optimizer);
- ``EarlyStopping(monitor="loss", patience=10, min_delta=0)`` on the **training** loss, in the
  model-size and sample-size runs only;
- data: the first 80% of the training set (:func:`hashlib_nn.data.load_dataset`); a sample-size
  subset (the first n examples) is tiled to the full epoch length as our runner does
  (:func:`hashlib_nn.train.tile_to_length`), and "train" metrics use the n unique examples;
- codes as ``compute_activation_code_for_mlp`` reads them: the outputs of every ``Activation``
  layer in inference mode (BN on its moving statistics), bit = output > 0;
- explicit seeds (``keras.utils.set_random_seed``: Python, NumPy and the backend), where the
  original set none.

**Backend.** Keras 3 runs on the torch backend we already install: :func:`keras_module` sets
``KERAS_BACKEND=torch`` before the first ``import keras`` (unless it is set) and refuses any
other backend. Which Keras and backend ran is recorded in every row (``keras``, ``backend``).

**Keras 3 against Keras 2.2 (the original's).** Matched: the model, initializers, BN momentum
and epsilon, float32; ``categorical_crossentropy`` on probabilities normalized and clipped to
``[1e-7, 1 - 1e-7]`` (no gradient outside; Keras 3's torch backend does exactly this); Adam's
epsilon 1e-7 added to ``sqrt(v)`` with the bias correction folded into the step size (Keras 2.2's
form, which Keras 3 keeps); the L2 term summed into the loss; the schedule and early-stopping
rules (Keras 3's ``EarlyStopping`` counts and resets its patience as Keras 2.2's does).
Not matched: BatchNormalization's moving variance takes the *biased* batch variance in Keras 3,
where Keras 2.2 multiplied it by ``n / (n - (1 + epsilon))`` (1.6% larger at batch 64) and its
TensorFlow backend zero-debiased the moving averages (our ``bn_running_var="keras"`` toggle
reproduces the former); the shuffling stream and the kernel values differ from any Keras 2.2 run
(the original set no seed, so only distributions can be compared); and the arithmetic is
PyTorch's CPU kernels, not TensorFlow 1.9's.

Outputs are tidy rows, one per run x evaluated epoch x metric (:func:`run_twin`); the shipped
runs are ``results/twin/keras.csv`` with ``results/twin/keras.json`` (provenance, the epoch
budget and the measured seconds per epoch). Command line::

    python -m hashlib_nn.twin run --experiment training_time --seeds 0 1 2 --out keras.csv
"""

from __future__ import annotations

import argparse
import fcntl
import importlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sklearn
import torch
from platformdirs import user_cache_dir
from torch import nn

from hashlib_nn.categorization import categorization_report, knn_accuracy_sklearn
from hashlib_nn.codes import NeuralCodes
from hashlib_nn.data import load_dataset
from hashlib_nn.metrics import redundancy_ratio
from hashlib_nn.provenance import dirty_rows, git_state, machine
from hashlib_nn.train import tile_to_length

__all__ = [
    "EXPERIMENTS",
    "SUITES",
    "StepSchedule",
    "TwinConfig",
    "append_rows",
    "build_mlp",
    "describe",
    "early_stopping",
    "keras_codes",
    "keras_module",
    "load_paper_mlp",
    "load_twin",
    "main",
    "plan",
    "plan_like",
    "provenance",
    "run_plan",
    "run_twin",
    "twin_data",
    "twin_results",
    "write_provenance",
]

#: The experiments of issue 13's differential runs.
EXPERIMENTS: tuple[str, ...] = ("model_size", "training_time", "sample_size")
#: Metric suites an evaluation can compute: redundancy ratio, the network's own loss/accuracy,
#: K-Means, K-NN (our exact rule), logistic regression, K-NN the original's way (scikit-learn).
SUITES: tuple[str, ...] = ("rr", "net", "kmeans", "knn", "lr", "knn_sklearn")
#: Keras' epsilon (``keras.backend.epsilon()``), the clip of the cross-entropy.
KERAS_EPSILON = 1e-7


def keras_module() -> Any:
    """Keras 3 on the torch backend: sets ``KERAS_BACKEND=torch`` before the first import
    (a value already set is respected and then checked) and returns the ``keras`` module."""
    if "keras" not in sys.modules:
        os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        keras = importlib.import_module("keras")
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the Keras twin needs Keras 3: pip install 'hashlib_nn[keras]' (keras>=3, which runs "
            "on the torch backend already installed)"
        ) from err
    backend = keras.backend.backend()
    major = int(str(keras.__version__).split(".")[0])
    if backend != "torch" or major < 3:
        raise RuntimeError(
            "the Keras twin runs Keras 3 on the torch backend; got keras "
            f"{keras.__version__} with backend {backend!r} (set KERAS_BACKEND=torch before "
            "importing keras)"
        )
    return keras


def _positive_int(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {name}={value!r}")
    return int(value)


@dataclass(frozen=True)
class TwinConfig:
    """One run of the twin. Defaults are the original scripts' (protocol.md)."""

    experiment: str  # one of EXPERIMENTS: which original script's protocol
    width: int  # total hidden units, split evenly over the layers (create_mlp)
    seed: int = 0  # keras.utils.set_random_seed; the original set none
    depth: int = 1  # hidden layers (README MNIST commands: 1; training-time script default: 5)
    dataset: str = "mnist"
    n_train: int | None = None  # first n training examples, tiled to the full epoch length
    max_epochs: int = 200  # original: 200
    early_stopping: bool = True  # original: model size and sample size; not training time
    checkpoints: tuple[int, ...] = ()  # epochs evaluated besides the last one (0 = untrained)
    suites: tuple[str, ...] = SUITES  # what each evaluation computes
    batch_size: int = 64  # original
    lr: float = 1e-2  # Adam(1e-2): original
    lr_decay: float = 0.1  # LearningRateScheduler: lr * 0.1 ** (epoch // 20): original
    lr_decay_every: int = 20
    l2: float = 1e-6  # kernel_regularizer=l2(1e-6) on the hidden Dense layers: original
    patience: int = 10  # EarlyStopping(monitor="loss", patience=10): original
    min_delta: float = 0.0  # Keras default

    def __post_init__(self) -> None:
        if self.experiment not in EXPERIMENTS:
            accepted = ", ".join(repr(e) for e in EXPERIMENTS)
            raise ValueError(f"experiment must be one of {accepted}; got {self.experiment!r}")
        _positive_int("depth", self.depth)
        _positive_int("width", self.width)
        if self.width % self.depth:
            raise ValueError(
                f"width must be a positive multiple of depth={self.depth}; got width={self.width}"
            )
        _positive_int("seed", self.seed, 0)
        _positive_int("max_epochs", self.max_epochs, 0)
        _positive_int("batch_size", self.batch_size)
        _positive_int("lr_decay_every", self.lr_decay_every)
        _positive_int("patience", self.patience)
        if self.n_train is not None:
            _positive_int("n_train", self.n_train)
        bad = [e for e in self.checkpoints if isinstance(e, bool) or not isinstance(e, int)
               or not 0 <= e <= self.max_epochs]  # fmt: skip
        if bad:
            raise ValueError(
                f"checkpoints must be epochs in [0, max_epochs={self.max_epochs}]; got {bad}"
            )
        unknown = [s for s in self.suites if s not in SUITES]
        if unknown or not self.suites:
            raise ValueError(f"suites must be a non-empty subset of {SUITES}; got {self.suites!r}")
        if not self.lr > 0 or not 0 < self.lr_decay <= 1 or self.l2 < 0 or self.min_delta < 0:
            raise ValueError(
                "lr must be > 0, lr_decay in (0, 1], l2 and min_delta >= 0; got "
                f"lr={self.lr}, lr_decay={self.lr_decay}, l2={self.l2}, min_delta={self.min_delta}"
            )

    @property
    def per_layer(self) -> int:
        return self.width // self.depth

    def evaluated(self) -> tuple[int, ...]:
        """The checkpoint epochs in order (the last epoch is evaluated as well, when reached)."""
        return tuple(sorted(set(self.checkpoints)))


class StepSchedule:
    """The original ``LearningRateScheduler`` rule: ``lr * decay ** (epoch // every)``, where
    ``epoch`` is the 0-based global epoch Keras passes (it continues across ``fit`` calls made
    with ``initial_epoch``)."""

    def __init__(self, lr: float = 1e-2, decay: float = 0.1, every: int = 20) -> None:
        self.lr, self.decay, self.every = float(lr), float(decay), _positive_int("every", every)

    def __call__(self, epoch: int, lr: float | None = None) -> float:
        if isinstance(epoch, bool) or not isinstance(epoch, int | np.integer) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative integer; got epoch={epoch!r}")
        return self.lr * self.decay ** (int(epoch) // self.every)


def early_stopping(losses: Sequence[float], patience: int = 10,
                   min_delta: float = 0.0) -> int | None:  # fmt: skip
    """The 1-based epoch after which ``EarlyStopping(monitor="loss", patience, min_delta)`` stops
    a run with these per-epoch training losses, or None if it never stops within them (Keras
    2.2's rule: an epoch improves when ``loss < best - min_delta``; ``patience`` epochs in a row
    without improvement stop the run). An oracle for the callback the twin uses."""
    _positive_int("patience", patience)
    best, wait = float("inf"), 0
    for epoch, loss in enumerate(losses, start=1):
        if loss < best - min_delta:
            best, wait = float(loss), 0
        else:
            wait += 1
            if wait >= patience:
                return epoch
    return None


def build_mlp(config: TwinConfig, in_features: int = 784, n_classes: int = 10) -> Any:
    """The original ``create_mlp`` in Keras 3 (functional API, compiled with ``Adam(lr)`` and
    ``categorical_crossentropy``). Weights are drawn from Keras' seeded generators: call
    ``keras.utils.set_random_seed`` first."""
    keras = keras_module()
    layers = keras.layers
    inputs = keras.Input(shape=(in_features,))
    h = inputs
    for i in range(config.depth):
        h = layers.Dense(config.per_layer, kernel_regularizer=keras.regularizers.L2(config.l2),
                         name=f"dense_{i}")(h)  # fmt: skip
        h = layers.BatchNormalization(name=f"batch_normalization_{i}")(h)
        h = layers.Activation("relu", name=f"activation_{i}")(h)
    outputs = layers.Dense(n_classes, activation="softmax", name="output")(h)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.lr),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def _activation_layers(model: Any) -> list[Any]:
    keras = keras_module()
    acts = [la for la in model.layers if isinstance(la, keras.layers.Activation)]
    if not acts:
        names = ", ".join(type(la).__name__ for la in model.layers)
        raise ValueError(f"model has no Activation layers; found {names}")
    return acts


def keras_codes(model: Any, x: np.ndarray, *,
                batch_size: int = 8192) -> tuple[NeuralCodes, np.ndarray]:  # fmt: skip
    """(codes, softmax probabilities) of ``x``: the outputs of every ``Activation`` layer in
    inference mode, bit = output > 0, concatenated in layer order (the original's
    ``compute_activation_code_for_mlp``), and the model's output."""
    keras = keras_module()
    acts = _activation_layers(model)
    encoder = keras.Model(model.inputs, [la.output for la in acts] + [model.outputs[0]])
    outs = encoder.predict(np.asarray(x, dtype=np.float32), batch_size=batch_size, verbose=0)
    hidden, probs = outs[:-1], np.asarray(outs[-1], dtype=np.float32)
    bits = np.concatenate([np.asarray(h) > 0 for h in hidden], axis=1)
    sizes = tuple(int(np.asarray(h).shape[1]) for h in hidden)
    return NeuralCodes.from_bits(bits, sizes), probs


def load_paper_mlp(keras_model: Any, torch_model: Any) -> Any:
    """Copy a :class:`hashlib_nn.models.PaperMLP`'s weights into the twin's Keras model of the
    same shape (Linear weight transposed into the Dense kernel; BN weight, bias, running mean
    and variance into gamma, beta, moving mean and variance). Both use eps 1e-3."""
    linears = [m for m in torch_model.modules() if isinstance(m, nn.Linear)]
    norms = [m for m in torch_model.modules() if isinstance(m, nn.BatchNorm1d)]
    denses = [la for la in keras_model.layers if type(la).__name__ == "Dense"]
    bns = [la for la in keras_model.layers if type(la).__name__ == "BatchNormalization"]
    if len(linears) != len(denses) or len(norms) != len(bns):
        raise ValueError(
            f"the models differ: torch has {len(linears)} Linear and {len(norms)} BatchNorm1d, "
            f"keras has {len(denses)} Dense and {len(bns)} BatchNormalization layers"
        )
    for lin, dense in zip(linears, denses, strict=True):
        w = lin.weight.detach().cpu().numpy().T
        if w.shape != tuple(dense.kernel.shape):
            raise ValueError(f"kernel shapes differ: torch {w.shape}, keras {dense.kernel.shape}")
        dense.set_weights([w, lin.bias.detach().cpu().numpy()])
    for bn, layer in zip(norms, bns, strict=True):
        if abs(bn.eps - layer.epsilon) > 1e-12:
            raise ValueError(f"BatchNorm eps differ: torch {bn.eps}, keras {layer.epsilon}")
        layer.set_weights([t.detach().cpu().numpy() for t in
                           (bn.weight, bn.bias, bn.running_mean, bn.running_var)])  # fmt: skip
    return keras_model


@dataclass(frozen=True)
class TwinData:
    """The rows one run trains on and is evaluated on."""

    x_fit: np.ndarray  # training rows, the n examples tiled to the full length
    y_fit: np.ndarray
    x_train: np.ndarray  # the n unique training examples ("train" metrics)
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int = 10


def twin_data(config: TwinConfig, dataset: Any | None = None) -> TwinData:
    """The original's data for ``config``: ``dataset`` (``x_train, y_train, x_test, y_test``
    attributes; default :func:`hashlib_nn.data.load_dataset`), the first ``n_train`` examples
    tiled to the full training length as :func:`hashlib_nn.train.tile_to_length` does."""
    if dataset is None:
        dataset = load_dataset(config.dataset)
    x = np.asarray(dataset.x_train, dtype=np.float32)
    y = np.asarray(dataset.y_train, dtype=np.int64)
    n = config.n_train
    if n is not None and n > len(x):
        raise ValueError(f"n_train must be at most {len(x)}; got n_train={n}")
    x_tr, y_tr = (x, y) if n is None else (x[:n], y[:n])
    x_fit, y_fit = (x_tr, y_tr) if n is None else tile_to_length(x_tr, y_tr, len(x))
    x_te = np.asarray(dataset.x_test, dtype=np.float32)
    y_te = np.asarray(dataset.y_test, dtype=np.int64)
    n_classes = int(getattr(dataset, "n_classes", 0) or max(y.max(), y_te.max()) + 1)
    return TwinData(x_fit, y_fit, x_tr, y_tr, x_te, y_te, n_classes)


def _split(metric: str) -> str:
    for split in ("train", "test"):
        if metric.endswith("_" + split):
            return split
    return ""


def _evaluate(model: Any, config: TwinConfig, data: TwinData) -> dict[str, float]:
    """Our metrics on the twin's codes at one checkpoint."""
    codes_tr, p_tr = keras_codes(model, data.x_train)
    codes_te, p_te = keras_codes(model, data.x_test)
    m: dict[str, float] = {"n_bits": float(codes_tr.n_bits)}
    if "rr" in config.suites:
        m["rr_train"] = redundancy_ratio(codes_tr)
        m["rr_test"] = redundancy_ratio(codes_te)
    if "net" in config.suites:
        for split, p, y in (("train", p_tr, data.y_train), ("test", p_te, data.y_test)):
            q = np.clip(p / p.sum(1, keepdims=True), KERAS_EPSILON, 1 - KERAS_EPSILON)
            m[f"net_loss_{split}"] = float(-np.log(q[np.arange(len(y)), y]).mean())
            m[f"net_acc_{split}"] = float((p.argmax(1) == y).mean())
    suites = tuple(s for s in ("kmeans", "knn", "lr") if s in config.suites)
    if suites:
        report = categorization_report(codes_tr, data.y_train, codes_te, data.y_test,
                                       n_clusters=data.n_classes, metrics=suites,
                                       device="cpu")  # fmt: skip
        for key in ("kmeans_purity_train", "kmeans_purity_test", "knn_test", "lr_test",
                    "n_bits_kept"):  # fmt: skip
            if key in report:
                m[key] = float(report[key])
    if "knn_sklearn" in config.suites:
        m["knn_sklearn_test"] = knn_accuracy_sklearn(codes_tr, data.y_train, codes_te,
                                                     data.y_test)  # fmt: skip
    return m


def _environment() -> dict[str, Any]:
    keras = keras_module()
    commit, dirty = git_state()
    return {
        "keras": str(keras.__version__),
        "backend": keras.backend.backend(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
        "python": platform.python_version(),
        "git_commit": commit,
        "git_dirty": dirty,
    }


@dataclass
class _RunState:
    epochs_run: int = 0
    stopped_epoch: int | None = None
    losses: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    train_seconds: float = 0.0


def run_twin(
    config: TwinConfig,
    *,
    dataset: Any | None = None,
    on_checkpoint: Callable[[int, dict[str, float]], None] | None = None,
) -> pd.DataFrame:
    """Train one twin run and evaluate it at its checkpoints and at its last epoch.

    Returns tidy rows: the config's fields, ``epochs_run``, ``stopped_epoch`` (the 1-based epoch
    early stopping ended the run at, else NaN), ``epoch``, ``final``, ``metric``, ``split``,
    ``value`` (besides the evaluation's metrics: ``learning_rate`` and ``train_loss``, what
    Keras logged for the epoch that ended at a checkpoint), ``seconds_per_epoch`` (training wall
    time over epochs run), ``train_seconds``, ``eval_seconds``, ``created`` and the environment
    (``keras``, ``backend``, versions, git).
    """
    keras = keras_module()
    data = twin_data(config, dataset)
    keras.utils.set_random_seed(config.seed)
    model = build_mlp(config, data.x_fit.shape[1], data.n_classes)
    y_fit = keras.utils.to_categorical(data.y_fit, data.n_classes)
    schedule = keras.callbacks.LearningRateScheduler(
        StepSchedule(config.lr, config.lr_decay, config.lr_decay_every)
    )
    stopper = keras.callbacks.EarlyStopping(monitor="loss", patience=config.patience,
                                            min_delta=config.min_delta)  # fmt: skip
    state = _RunState()
    results: dict[int, dict[str, float]] = {}
    eval_seconds = 0.0

    def evaluate(epoch: int) -> None:
        nonlocal eval_seconds
        t = time.perf_counter()
        results[epoch] = _evaluate(model, config, data)
        if epoch >= 1:  # what Keras logged for the epoch that ended here
            results[epoch]["learning_rate"] = state.lrs[epoch - 1]
            results[epoch]["train_loss"] = state.losses[epoch - 1]
        eval_seconds += time.perf_counter() - t
        if on_checkpoint is not None:
            on_checkpoint(epoch, results[epoch])

    targets = sorted({e for e in config.checkpoints if e > 0} | {config.max_epochs})
    if 0 in config.checkpoints or config.max_epochs == 0:
        evaluate(0)
    for target in targets:
        if state.stopped_epoch is not None or target <= state.epochs_run:
            break
        callbacks = [schedule] + ([stopper] if config.early_stopping else [])
        t = time.perf_counter()
        history = model.fit(data.x_fit, y_fit, batch_size=config.batch_size, shuffle=True,
                            initial_epoch=state.epochs_run, epochs=target, verbose=0,
                            callbacks=callbacks)  # fmt: skip
        state.train_seconds += time.perf_counter() - t
        losses = [float(v) for v in history.history.get("loss", [])]
        state.losses += losses
        state.lrs += [float(v) for v in history.history.get("learning_rate", [])]
        state.epochs_run += len(losses)
        if config.early_stopping and model.stop_training:  # set by EarlyStopping only
            state.stopped_epoch = state.epochs_run
        if state.epochs_run not in results:
            evaluate(state.epochs_run)
    env = _environment()
    created = datetime.now(timezone.utc).isoformat(timespec="seconds")
    base = {k: v for k, v in asdict(config).items() if k not in ("checkpoints", "suites")}
    base["per_layer"] = config.per_layer
    rows = []
    last = max(results)
    for epoch in sorted(results):
        for metric, value in results[epoch].items():
            rows.append({**base, "epochs_run": state.epochs_run,
                         "stopped_epoch": state.stopped_epoch, "epoch": epoch,
                         "final": epoch == last, "metric": metric, "split": _split(metric),
                         "value": value,
                         "seconds_per_epoch": state.train_seconds / max(state.epochs_run, 1),
                         "train_seconds": state.train_seconds, "eval_seconds": eval_seconds,
                         "created": created, **env})  # fmt: skip
    frame = pd.DataFrame(rows)
    frame.attrs["losses"] = list(state.losses)  # Keras' per-epoch training loss, for checks
    frame.attrs["learning_rates"] = list(state.lrs)
    return frame


def plan(experiment: str, seeds: Iterable[int] = (0, 1, 2), *, max_epochs: int | None = None,
         depths: Sequence[int] = (1, 5)) -> list[TwinConfig]:  # fmt: skip
    """Issue 13's points for ``experiment``, seed-major (every point at the first seed, then
    the next), so a run cut short still covers every point:

    - ``model_size``: widths 10, 20, 30, 40, depth 1, early stopping, up to 200 epochs;
    - ``training_time``: width 40 at ``depths`` (1 and 5: five layers of 8 units), epochs
      0, 1, 3, 10, no early stopping (RR, the network and our exact K-NN at each checkpoint:
      scikit-learn's brute-force Hamming K-NN at 40 bits took minutes per evaluation on the
      shared 2-core machine, four times per run);
    - ``sample_size``: n = 100 and 1000 at width 40, early stopping, up to 200 epochs.

    ``max_epochs`` overrides the epoch budget (the training-time budget is the last checkpoint).
    """
    seeds = [_positive_int("seed", s, 0) for s in seeds]
    if experiment == "model_size":
        points: list[dict[str, Any]] = [{"width": w} for w in (10, 20, 30, 40)]
    elif experiment == "training_time":
        points = [{"width": 40, "depth": d, "early_stopping": False, "max_epochs": 10,
                   "checkpoints": (0, 1, 3, 10),
                   "suites": ("rr", "net", "knn")} for d in depths]  # fmt: skip
    elif experiment == "sample_size":
        points = [{"width": 40, "n_train": n} for n in (100, 1000)]
    else:
        accepted = ", ".join(repr(e) for e in EXPERIMENTS)
        raise ValueError(f"experiment must be one of {accepted}; got {experiment!r}")
    configs = []
    for seed in seeds:
        for p in points:
            c = TwinConfig(experiment=experiment, seed=seed, **p)
            if max_epochs is not None and experiment != "training_time":
                c = replace(c, max_epochs=_positive_int("max_epochs", max_epochs))
            configs.append(c)
    return configs


def plan_like(frame: pd.DataFrame, experiments: Iterable[str] | None = None) -> list[TwinConfig]:
    """The runs of a twin CSV's rows (``frame``, e.g. the shipped ``keras.csv``) as the
    configs :func:`plan` builds for them, in its seed-major order: to run the same runs again
    (from a clean checkout, so that they are traceable). ``experiments``: only these.

    Raises ValueError naming the first run :func:`plan` cannot build (a point or a budget it
    does not have)."""
    wanted = list(experiments) if experiments is not None else None
    unknown = [e for e in wanted or () if e not in EXPERIMENTS]
    if unknown:
        raise ValueError(f"unknown experiments {unknown}; accepted: {', '.join(EXPERIMENTS)}")
    keys = {_run_key(r) for _, r in frame.iterrows()
            if wanted is None or r["experiment"] in wanted}  # fmt: skip
    out: list[TwinConfig] = []
    for experiment in EXPERIMENTS:
        mine = [k for k in keys if k[0] == experiment]
        if not mine:
            continue
        seeds = sorted({k[5] for k in mine})
        budgets = sorted({k[6] for k in mine})
        built = {_run_key({**asdict(c), "n_train": c.n_train}): c
                 for budget in budgets for c in plan(experiment, seeds, max_epochs=budget)}
        missing = sorted(set(mine) - set(built), key=str)
        if missing:
            raise ValueError(f"plan() has no run {missing[0]} (experiment, dataset, width, "
                             "depth, n_train, seed, max_epochs); accepted: the points of "
                             f"plan({experiment!r})")  # fmt: skip
        wanted_runs = [(k, c) for k, c in built.items() if k in keys]
        out += [c for _, c in sorted(wanted_runs, key=lambda kc: kc[0][5])]  # stable: plan order
    return out


def _run_key(row: pd.Series | dict[str, Any]) -> tuple[Any, ...]:
    n = row["n_train"]
    n = None if n is None or pd.isna(n) else int(n)
    return (row["experiment"], row["dataset"], int(row["width"]), int(row["depth"]), n,
            int(row["seed"]), int(row["max_epochs"]))  # fmt: skip


def append_rows(path: str | os.PathLike, frame: pd.DataFrame) -> None:
    """Append ``frame`` to the CSV at ``path`` under an exclusive lock (a header when the file
    is new), so several background processes can add finished runs to one file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", newline="") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            fh.seek(0, os.SEEK_END)
            frame.to_csv(fh, header=fh.tell() == 0, index=False)
            fh.flush()
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def shipped_path() -> Path:
    """``results/twin/keras.csv`` inside the package."""
    return Path(__file__).resolve().parent / "results" / "twin" / "keras.csv"


def load_twin(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The twin's rows (default: the shipped ``results/twin/keras.csv``)."""
    path = Path(path) if path is not None else shipped_path()
    if not path.exists():
        raise FileNotFoundError(f"no twin results at {path}; run `python -m hashlib_nn.twin run`")
    frame = pd.read_csv(path)
    frame["n_train"] = frame["n_train"].astype("Int64")
    return frame


def run_plan(configs: Sequence[TwinConfig], out: str | os.PathLike, *,
             log: Callable[[str], None] | None = print) -> pd.DataFrame:  # fmt: skip
    """Run ``configs`` one after another, appending each finished run's rows to ``out``; runs
    already in ``out`` (same experiment, point, seed and budget) are skipped, so a repeated call
    resumes."""
    done: set[tuple[Any, ...]] = set()
    if Path(out).exists():
        done = {_run_key(r) for _, r in load_twin(out).iterrows()}
    frames = []
    for c in configs:
        key = _run_key({**asdict(c), "n_train": c.n_train})
        if key in done:
            continue
        frame = run_twin(c)
        append_rows(out, frame)
        frames.append(frame)
        if log is not None:
            spe = frame["seconds_per_epoch"].iloc[0]
            log(f"{datetime.now(timezone.utc):%H:%M:%S} {c.experiment} width={c.width} "
                f"depth={c.depth} n={c.n_train} seed={c.seed}: {frame['epochs_run'].iloc[0]} "
                f"epochs, {spe:.2f} s/epoch, "
                f"eval {frame['eval_seconds'].iloc[0]:.0f} s")  # fmt: skip
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


#: The shipped runs' epoch budget for model size and sample size (the CPU time available cut it
#: from the original's 200; see results/twin/keras.json).
SHIPPED_MAX_EPOCHS = 10


def twin_results(rerun: bool = False, *, out: str | os.PathLike | None = None,
                 seeds: Sequence[int] = (0, 1, 2),
                 max_epochs: int | None = SHIPPED_MAX_EPOCHS) -> pd.DataFrame:  # fmt: skip
    """The twin's rows: the shipped ``results/twin/keras.csv`` (``rerun=False``), or the three
    experiments of :func:`plan` run again into ``out`` (default: ``keras.csv`` in the user cache
    folder; runs already there are kept) and read back. Re-running needs Keras; reading does
    not."""
    if not rerun:
        return load_twin()
    if out is None:
        out = Path(user_cache_dir("hashlib_nn")) / "twin" / "keras.csv"
    configs = [c for e in EXPERIMENTS for c in plan(e, seeds, max_epochs=max_epochs)]
    run_plan(configs, out, log=None)
    return load_twin(out)


#: The conditions the first shipped twin ran under (its ``keras.json`` note).
SHARED_MACHINE_NOTE = (
    "Run on 2 CPU cores shared with several other jobs (nice 10, one torch thread): seconds per "
    "epoch are wall time under that load. The epoch budget of model size and sample size was cut "
    "from the original's 200 to fit the time available; training time ran its full 10 epochs.")


def provenance(frame: pd.DataFrame, note: str = SHARED_MACHINE_NOTE) -> dict[str, Any]:
    """What the twin's rows rest on: Keras and backend versions, runs per experiment, the
    epoch budgets, seconds per epoch (median and range over runs), dates, git commits and
    whether any run came from a checkout with uncommitted changes; ``note``: how they ran."""
    runs = frame.drop_duplicates(["experiment", "width", "depth", "n_train", "seed",
                                  "max_epochs"])  # fmt: skip
    spe = runs["seconds_per_epoch"].astype(float)
    per = {}
    for e, g in runs.groupby("experiment"):
        per[str(e)] = {
            "runs": len(g),
            "seeds": sorted(int(s) for s in g["seed"].unique()),
            "max_epochs": sorted(int(m) for m in g["max_epochs"].unique()),
            "epochs_run": [int(g["epochs_run"].min()), int(g["epochs_run"].max())],
        }
    return {
        "keras": sorted(str(v) for v in runs["keras"].unique()),
        "backend": sorted(str(v) for v in runs["backend"].unique()),
        "torch": sorted(str(v) for v in runs["torch"].unique()),
        "experiments": per,
        "seconds_per_epoch": {"median": round(float(spe.median()), 2),
                              "min": round(float(spe.min()), 2),
                              "max": round(float(spe.max()), 2)},
        "torch_threads": sorted(int(v) for v in runs["torch_threads"].unique()),
        "created": [str(runs["created"].min()), str(runs["created"].max())],
        "git_commits": sorted(str(v) for v in runs["git_commit"].unique()),
        **({"git_dirty_runs": int(dirty_rows(runs).sum())}
           if "git_dirty" in runs.columns else {}),  # fmt: skip
        "machine": machine(),
        "note": note,
    }


def describe(frame: pd.DataFrame) -> str:
    """One line on what ran (Keras, backend, seconds per epoch) and one per experiment (runs,
    seeds, epoch budget), from :func:`provenance`."""
    info = provenance(frame)
    spe = info["seconds_per_epoch"]
    lines = [f"Keras {', '.join(info['keras'])} on the {', '.join(info['backend'])} backend "
             f"(torch {', '.join(info['torch'])}, {', '.join(map(str, info['torch_threads']))} "
             f"thread): {spe['median']} s per epoch (median; {spe['min']}–{spe['max']}), "
             "wall time on 2 CPU cores"]  # fmt: skip
    for experiment, e in info["experiments"].items():
        lines.append(f"{experiment}: {e['runs']} runs, seeds {e['seeds']}, at most "
                     f"{', '.join(map(str, e['max_epochs']))} epochs, "
                     f"{e['epochs_run'][0]}–{e['epochs_run'][1]} run")  # fmt: skip
    if {"git_commit", "git_dirty"} <= set(frame.columns):
        commits = sorted({str(c)[:10] for c in frame["git_commit"].dropna()}) or ["unrecorded"]
        n_dirty = info["git_dirty_runs"]
        n_runs = sum(e["runs"] for e in info["experiments"].values())
        lines.append(f"Computed by the twin code of git commit(s) {', '.join(commits)}"
                     + (f"; {n_dirty} of {n_runs} runs from a checkout with uncommitted "
                        "changes (not traceable to committed code)" if n_dirty else
                        ", a clean checkout"))  # fmt: skip
    return "\n".join(lines)


def write_provenance(csv_path: str | os.PathLike | None = None,
                     note: str = SHARED_MACHINE_NOTE) -> dict[str, Any]:  # fmt: skip
    """Write :func:`provenance` of the CSV (default: the shipped one; ``note``: how its runs
    ran) to ``keras.json`` beside it, and return it."""
    path = Path(csv_path) if csv_path is not None else shipped_path()
    info = provenance(load_twin(path), note)
    path.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hashlib_nn.twin run --experiment E [--seeds ...] [--max-epochs N] --out F``."""
    parser = argparse.ArgumentParser(prog="python -m hashlib_nn.twin",
                                     description="The Keras twin's differential runs.")
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run the twin at issue 13's points, appending to a CSV")
    what = r.add_mutually_exclusive_group(required=True)
    what.add_argument("--experiment", choices=EXPERIMENTS)
    what.add_argument("--like", metavar="CSV",
                      help="the runs of this twin CSV (e.g. the shipped results/twin/keras.csv), "
                           "again: seeds and budgets as it has them (--experiments to pick)")
    r.add_argument("--experiments", choices=EXPERIMENTS, nargs="+",
                   help="with --like: only these experiments")
    r.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    r.add_argument("--widths", type=int, nargs="+", help="model size: only these widths")
    r.add_argument("--max-epochs", type=int, help="epoch budget (default: the original's 200)")
    r.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    r.add_argument("--out", required=True)
    pv = sub.add_parser("provenance", help="write keras.json beside a twin CSV")
    pv.add_argument("--csv", help="default: the shipped results/twin/keras.csv")
    pv.add_argument("--note", default=SHARED_MACHINE_NOTE, help="how the runs ran")
    args = parser.parse_args(argv)
    if args.command == "provenance":
        write_provenance(args.csv, args.note)
        return 0
    torch.set_num_threads(args.threads)
    if args.like:
        configs = plan_like(load_twin(args.like), args.experiments)
    else:
        configs = plan(args.experiment, args.seeds, max_epochs=args.max_epochs)
    if args.widths:
        configs = [c for c in configs if c.width in set(args.widths)]
    run_plan(configs, args.out, log=lambda s: print(s, flush=True))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
