"""The original training protocol (protocol.md, "Training"), one model at a time.

| item | value (source) |
|---|---|
| optimizer | Adam, lr 1e-2, betas (0.9, 0.999), eps 1e-7 (Keras 2.2 defaults) |
| schedule | lr * 0.1 ** (epoch // 20), epoch counted from 0 (Keras LearningRateScheduler) |
| L2 | 1e-6 * sum ||W||^2 over hidden kernels, added to the loss (coupled, not AdamW) |
| batch | 64, reshuffled every epoch, last partial batch kept |
| epochs | at most 200 |
| early stopping | on the *training* loss (incl. the L2 term), patience 10, min_delta 0 |

Keras reports the epoch loss as the mean of the per-batch losses weighted by batch size, and
its EarlyStopping compares that value; both are reproduced.

Deviation toggles (issue 13, :mod:`hashlib_nn.deviations`). Three places where this trainer and
Keras 2.2 compute differently are options of :class:`TrainConfig`; the defaults keep ours:

- ``loss``: ``"logits"`` (ours: softmax cross-entropy from the logits) or ``"keras_clipped"``
  (Keras 2.2's ``categorical_crossentropy`` on the softmax output: the probabilities are
  renormalized and clipped to [1e-7, 1 - 1e-7] before the log, so an example whose true-class
  probability lies outside that range contributes no gradient: :func:`keras_crossentropy`);
- ``adam_form``: ``"torch"`` (epsilon added to the bias-corrected ``sqrt(v_hat)``) or
  ``"keras"`` (Keras 2.2: the bias correction folded into the step size,
  ``lr_t = lr sqrt(1 - beta2^t) / (1 - beta1^t)``, and epsilon added to ``sqrt(v)``). The two
  are the same update with epsilon rescaled: Keras' step equals torch's with
  ``eps_t = eps / sqrt(1 - beta2^t)`` (:func:`keras_adam_eps`), which is how it is run;
- ``dtype``: ``"float32"`` (as Keras' default floatx) or ``"float64"`` (parameters, inputs and
  Adam state in double precision; a sensitivity check, not the original's behaviour).

The fourth, the correction of BatchNorm's running variance, belongs to the model
(:class:`hashlib_nn.models.PaperMLP`'s ``bn_running_var``).

Seeds: one user seed gives independent streams for initialization (the model's own
``seed``), for the per-epoch shuffles and for dropout (:func:`hashlib_nn.models.derive_seeds`),
so a run is reproducible on the CPU bit for bit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hashlib_nn.device import resolve_device
from hashlib_nn.models import derive_seeds

__all__ = [
    "ADAM_FORMS",
    "DTYPES",
    "KERAS_EPSILON",
    "LOSSES",
    "EarlyStopping",
    "EpochRecord",
    "TrainConfig",
    "TrainHistory",
    "batch_starts",
    "deviation_identity",
    "evaluate",
    "keras_adam_eps",
    "keras_crossentropy",
    "l2_parameters",
    "lr_at",
    "make_adam",
    "tile_to_length",
    "train",
]


#: TrainConfig.loss: "logits" (ours) or "keras_clipped" (Keras 2.2's clipped probabilities).
LOSSES: tuple[str, ...] = ("logits", "keras_clipped")
#: TrainConfig.adam_form: where Adam's epsilon goes ("torch": ours; "keras": Keras 2.2).
ADAM_FORMS: tuple[str, ...] = ("torch", "keras")
#: TrainConfig.dtype: the precision of training ("float32": ours and Keras'; "float64").
DTYPES: tuple[str, ...] = ("float32", "float64")
#: Keras' fuzz factor ``K.epsilon()``: the clip of categorical_crossentropy.
KERAS_EPSILON = 1e-7
# The deviation toggles and their defaults (ours). A toggle at its default is left out of
# content keys (deviation_identity), so runs stored before the toggles existed keep their keys.
_DEVIATION_DEFAULTS: dict[str, str] = {"loss": "logits", "adam_form": "torch",
                                       "dtype": "float32"}


@dataclass(frozen=True)
class TrainConfig:
    """The training protocol. Defaults are the original code's (protocol.md)."""

    epochs: int = 200  # at most 200 epochs: original
    batch_size: int = 64  # original
    lr: float = 1e-2  # Adam learning rate: original
    betas: tuple[float, float] = (0.9, 0.999)  # Keras Adam defaults
    eps: float = 1e-7  # Keras Adam epsilon (K.epsilon())
    lr_decay: float = 0.1  # step schedule factor: original lr * 0.1 ** (epoch // 20)
    lr_decay_every: int = 20  # epochs per step: original
    weight_decay: float = 1e-6  # coupled L2 coefficient on hidden kernels: original l2(1e-6)
    early_stopping: bool = True  # original: model-size and sample-size runs; off for training time
    patience: int = 10  # EarlyStopping(monitor="loss", patience=10): original
    min_delta: float = 0.0  # original (Keras default)
    seed: int = 0  # not in the original (it set none); ours, for reproducibility
    loss: str = "logits"  # LOSSES; "keras_clipped": Keras 2.2's (deviation toggle, issue 13)
    adam_form: str = "torch"  # ADAM_FORMS; "keras": Keras 2.2's epsilon placement (toggle)
    dtype: str = "float32"  # DTYPES; "float64": double precision (toggle)

    def __post_init__(self) -> None:
        def positive_int(name: str, v: object, minimum: int = 1) -> None:
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < minimum:
                raise ValueError(f"{name} must be an integer >= {minimum}; got {v!r}")

        positive_int("epochs", self.epochs, 0)
        positive_int("batch_size", self.batch_size)
        positive_int("lr_decay_every", self.lr_decay_every)
        positive_int("patience", self.patience)
        positive_int("seed", self.seed, 0)
        if not (isinstance(self.lr, float | int) and self.lr > 0):
            raise ValueError(f"lr must be a positive number; got {self.lr!r}")
        if not (isinstance(self.weight_decay, float | int) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay must be a number >= 0; got {self.weight_decay!r}")
        if not 0 < self.lr_decay <= 1:
            raise ValueError(f"lr_decay must be in (0, 1]; got {self.lr_decay!r}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1); got {self.betas!r}")
        for name, accepted in (("loss", LOSSES), ("adam_form", ADAM_FORMS), ("dtype", DTYPES)):
            if getattr(self, name) not in accepted:
                raise ValueError(
                    f"{name} must be one of {', '.join(repr(a) for a in accepted)}; "
                    f"got {name}={getattr(self, name)!r}"
                )

    @property
    def torch_dtype(self) -> torch.dtype:
        """The torch dtype of training (``dtype`` as a torch.dtype)."""
        return torch.float64 if self.dtype == "float64" else torch.float32


def deviation_identity(train_fields: dict) -> dict:
    """``train_fields`` (a TrainConfig as a dict) without the deviation toggles that are at
    their defaults, for content keys: a run with every toggle at its default keeps the key it
    had before the toggles existed.

    >>> from dataclasses import asdict
    >>> sorted(set(asdict(TrainConfig())) - set(deviation_identity(asdict(TrainConfig()))))
    ['adam_form', 'dtype', 'loss']
    >>> deviation_identity(asdict(TrainConfig(loss="keras_clipped")))["loss"]
    'keras_clipped'
    """
    return {k: v for k, v in train_fields.items()
            if not (k in _DEVIATION_DEFAULTS and v == _DEVIATION_DEFAULTS[k])}


def keras_crossentropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Keras 2.2's ``categorical_crossentropy`` on a softmax output, batch mean.

    As Keras 2.2 (TensorFlow backend) computes it: ``p = softmax(logits)``; ``p /= sum(p)``;
    ``p = clip(p, 1e-7, 1 - 1e-7)``; loss ``-log p[y]``. The clip passes no gradient outside
    the range (TensorFlow's min/max gradients, like ``torch.clamp``'s, flow only where the
    value lies inside the bounds, bounds included), so an example whose true-class probability
    is below 1e-7 (confidently wrong) or above 1 - 1e-7 (in float32: 0.99999988) adds to the
    loss but not to the gradient. Inside the range the gradient equals the logits form's,
    ``(softmax - onehot) / B``, up to rounding.
    """
    p = torch.softmax(logits, dim=1)
    p = p / p.sum(dim=1, keepdim=True)
    p = p.clamp(KERAS_EPSILON, 1.0 - KERAS_EPSILON)
    return -torch.log(p.gather(1, y.reshape(-1, 1))).mean()


def keras_adam_eps(eps: float, beta2: float, step: int) -> float:
    """The epsilon that makes torch's Adam take Keras 2.2's step at (1-based) ``step``.

    Keras: ``p -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``; torch:
    ``p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps')``. They agree for
    ``eps' = eps / sqrt(1 - b2^t)``: 32 times eps at the first step, eps in the limit.

    >>> round(keras_adam_eps(1e-7, 0.999, 1) / 1e-7, 3)
    31.623
    """
    if step < 1:
        raise ValueError(f"step must be >= 1 (Adam counts steps from 1); got {step}")
    return eps / math.sqrt(1.0 - beta2**step)


def lr_at(epoch: int, config: TrainConfig) -> float:
    """Learning rate of (0-based) ``epoch``: ``lr * lr_decay ** (epoch // lr_decay_every)``.

    >>> lr_at(19, TrainConfig()), lr_at(20, TrainConfig())
    (0.01, 0.001)
    """
    return config.lr * config.lr_decay ** (epoch // config.lr_decay_every)


def l2_parameters(model: nn.Module) -> list[torch.Tensor]:
    """The kernels the L2 term covers: ``model.hidden_kernels()`` when the model defines it
    (the paper's MLP: hidden Linear weights, not the output layer), else every weight of
    every Linear and Conv layer except the last Linear (the classifier)."""
    if hasattr(model, "hidden_kernels"):
        return list(model.hidden_kernels())
    layers = [m for m in model.modules() if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d)]
    linears = [m for m in layers if isinstance(m, nn.Linear)]
    if linears:
        layers.remove(linears[-1])
    return [m.weight for m in layers]


def tile_to_length(x: np.ndarray, y: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Repeat the n examples ``length // n`` times (the original's sample-size protocol keeps
    one epoch at the full training-set length; we repeat whole copies so every example is seen
    equally often, giving ``n * (length // n)`` rows, at most ``length``)."""
    n = len(x)
    if n < 1 or length < n:
        raise ValueError(f"cannot tile {n} examples to length {length}; need 1 <= n <= length")
    reps = length // n
    return np.tile(x, (reps,) + (1,) * (x.ndim - 1)), np.tile(y, reps)


@dataclass(frozen=True)
class EpochRecord:
    epoch: int  # 1-based: the record after this many epochs
    lr: float
    loss: float  # mean training loss over the epoch incl. the L2 term (Keras' "loss")
    accuracy: float  # running training accuracy over the epoch (Keras' "acc")
    seconds: float


@dataclass
class TrainHistory:
    config: TrainConfig
    device: str
    epochs: list[EpochRecord] = field(default_factory=list)
    stopped_epoch: int | None = None  # set when early stopping ended the run
    seconds: float = 0.0

    @property
    def epochs_run(self) -> int:
        return len(self.epochs)

    def to_dict(self) -> dict:
        return {
            "config": asdict(self.config),
            "device": self.device,
            "epochs": [asdict(e) for e in self.epochs],
            "stopped_epoch": self.stopped_epoch,
            "seconds": self.seconds,
        }


@torch.no_grad()
def evaluate(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    *,
    batch_size: int = 8192,
    device: str | torch.device = "auto",
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``model`` in eval mode."""
    dev = resolve_device(device)
    dtype = next(model.parameters()).dtype  # float32, or float64 after a float64 run
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    try:
        for s in range(0, len(x), batch_size):
            xb = torch.as_tensor(x[s : s + batch_size]).to(dev, dtype)
            yb = torch.as_tensor(y[s : s + batch_size]).to(dev, torch.int64)
            out = model(xb)
            total_loss += F.cross_entropy(out, yb, reduction="sum").item()
            correct += int((out.argmax(1) == yb).sum().item())
    finally:
        model.train(was_training)
    return total_loss / len(x), correct / len(x)


def batch_starts(n: int, batch_size: int) -> range:
    """Start indices of the mini-batches of an epoch of ``n`` examples.

    Batches have ``batch_size`` rows and the last one keeps the remainder (as Keras), except
    that a remainder of exactly one row is folded into the batch before it: BatchNorm cannot
    normalize a single example in training mode (PyTorch raises; Keras would divide by a zero
    variance). The paper's 48,000 examples in batches of 64 have no remainder, so its protocol
    is unaffected. Slice batch ``s`` as ``perm[s:s + bs]``, or ``perm[s:]`` for the last start.

    >>> list(batch_starts(129, 64)), list(batch_starts(130, 64))
    ([0, 64], [0, 64, 128])
    """
    last = n - 1 if n > 1 and n % batch_size == 1 else n
    return range(0, last, batch_size)


def make_adam(params: list[torch.Tensor], config: TrainConfig) -> torch.optim.Adam:
    """Adam with the protocol's hyperparameters; the fused kernel (about 20% faster per epoch on
    2 CPU cores, same update rule) where this torch build has it for the device."""
    kw = dict(lr=config.lr, betas=config.betas, eps=config.eps)
    try:
        return torch.optim.Adam(params, **kw, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, **kw)


class EarlyStopping:
    """Keras' ``EarlyStopping(monitor="loss", mode="min")`` rule, as in the original.

    An epoch improves iff ``loss + min_delta < best`` (Keras negates ``min_delta`` in "min"
    mode and tests ``current - min_delta < best``); the run stops once ``patience``
    consecutive epochs have not improved.

    >>> rule = EarlyStopping(patience=2)
    >>> [rule.update(v) for v in (1.0, 0.5, 0.5, 0.6)]
    [False, False, False, True]
    """

    def __init__(self, patience: int = 10, min_delta: float = 0.0) -> None:
        self.patience, self.min_delta = patience, min_delta
        self.best, self.wait = float("inf"), 0

    def update(self, loss: float) -> bool:
        """Record one epoch's loss; True when training should stop now."""
        if loss + self.min_delta < self.best:
            self.best, self.wait = loss, 0
            return False
        self.wait += 1
        return self.wait >= self.patience


CheckpointFn = Callable[[int, nn.Module], None]


def train(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    config: TrainConfig = TrainConfig(),
    *,
    checkpoints: Iterable[int] = (),
    on_checkpoint: CheckpointFn | None = None,
    device: str | torch.device = "auto",
    progress: Callable[[EpochRecord], None] | None = None,
) -> TrainHistory:
    """Train ``model`` in place by the original protocol; return its history.

    ``on_checkpoint(epoch, model)`` is called for every epoch in ``checkpoints`` that the run
    reaches (0 = the untrained network, e ≥ 1 = after e epochs), and once more with the last
    epoch when the run ends (early stopping or ``config.epochs``) if that epoch was not a
    checkpoint already. The model is left in train mode; the callback may switch modes.
    The learning-rate schedule and the Adam state run on across checkpoints. With
    ``config.dtype="float64"`` the model is converted to float64 in place (and stays so).
    """
    dev = resolve_device(device)
    x_t = torch.as_tensor(x)
    y_t = torch.as_tensor(y)
    if x_t.shape[0] != y_t.shape[0]:
        raise ValueError(
            f"x and y must have the same length; got {x_t.shape[0]} and {y_t.shape[0]}"
        )
    if x_t.shape[0] == 0:
        raise ValueError("the training set is empty")
    dtype = config.torch_dtype
    x_t = x_t.to(dev, dtype)
    y_t = y_t.to(dev, torch.int64)
    wanted = sorted(set(int(c) for c in checkpoints))
    if wanted and wanted[0] < 0:
        raise ValueError(f"checkpoints must be epochs >= 0; got {wanted[0]}")
    model.to(dev, dtype)
    history = TrainHistory(config=config, device=str(dev))
    _, shuffle_seed, dropout_seed = derive_seeds(config.seed)
    shuffle_gen = torch.Generator().manual_seed(shuffle_seed)
    kernels = l2_parameters(model)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_adam(params, config)
    n = x_t.shape[0]
    bs = config.batch_size
    wd = float(config.weight_decay)
    stopper = EarlyStopping(config.patience, config.min_delta)
    starts = batch_starts(n, bs)
    loss_fn = keras_crossentropy if config.loss == "keras_clipped" else F.cross_entropy
    keras_adam = config.adam_form == "keras"
    step = 0
    last_checkpoint = -1
    t_start = time.perf_counter()

    def checkpoint(epoch: int) -> None:
        nonlocal last_checkpoint
        if on_checkpoint is not None and epoch != last_checkpoint:
            on_checkpoint(epoch, model)
            model.train()
            last_checkpoint = epoch

    devices = [dev] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=devices, device_type=dev.type):
        torch.manual_seed(dropout_seed)
        model.train()
        if 0 in wanted:
            checkpoint(0)
        for epoch in range(config.epochs):
            t0 = time.perf_counter()
            lr = lr_at(epoch, config)
            for group in opt.param_groups:
                group["lr"] = lr
            perm = torch.randperm(n, generator=shuffle_gen).to(dev)
            loss_sum = torch.zeros((), device=dev, dtype=torch.float64)
            correct = torch.zeros((), device=dev, dtype=torch.int64)
            for s in starts:
                idx = perm[s:] if s == starts[-1] else perm[s : s + bs]
                xb, yb = x_t[idx], y_t[idx]
                out = model(xb)
                ce = loss_fn(out, yb)
                opt.zero_grad(set_to_none=True)
                ce.backward()
                with torch.no_grad():
                    reg = torch.zeros((), device=dev, dtype=dtype)
                    if wd:
                        # Coupled L2: d/dW (wd * ||W||^2) = 2 wd W, added to the gradient.
                        for p in kernels:
                            reg = reg + p.pow(2).sum()
                            if p.grad is not None:
                                p.grad.add_(p, alpha=2 * wd)
                    loss_sum += (ce.detach() + wd * reg) * len(idx)
                    correct += (out.argmax(1) == yb).sum()
                step += 1
                if keras_adam:
                    for group in opt.param_groups:
                        group["eps"] = keras_adam_eps(config.eps, config.betas[1], step)
                opt.step()
            epoch_loss = loss_sum.item() / n
            rec = EpochRecord(epoch + 1, lr, epoch_loss, correct.item() / n,
                              time.perf_counter() - t0)
            history.epochs.append(rec)
            if progress is not None:
                progress(rec)
            if not np.isfinite(epoch_loss):
                raise FloatingPointError(
                    f"training loss became {epoch_loss} at epoch {epoch + 1}; lower lr "
                    f"(got {config.lr}) or check the inputs"
                )
            if epoch + 1 in wanted:
                checkpoint(epoch + 1)
            if config.early_stopping and stopper.update(epoch_loss):
                history.stopped_epoch = epoch + 1
                break
        checkpoint(history.epochs_run)
    history.seconds = time.perf_counter() - t_start
    return history
