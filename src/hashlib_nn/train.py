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
its EarlyStopping compares that value; both are reproduced. Keras' Adam puts epsilon outside
the bias correction of the second moment (``eps_hat = eps * sqrt(1 - beta2^t)``); the
difference to PyTorch's Adam is below 1e-7 in the denominator and is not reproduced.

Seeds: one user seed gives independent streams for initialization (the model's own
``seed``), for the per-epoch shuffles and for dropout (:func:`hashlib_nn.models.derive_seeds`),
so a run is reproducible on the CPU bit for bit.
"""

from __future__ import annotations

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
    "EarlyStopping",
    "EpochRecord",
    "TrainConfig",
    "TrainHistory",
    "batch_starts",
    "evaluate",
    "l2_parameters",
    "lr_at",
    "make_adam",
    "tile_to_length",
    "train",
]


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
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    try:
        for s in range(0, len(x), batch_size):
            xb = torch.as_tensor(x[s : s + batch_size]).to(dev, torch.float32)
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
    The learning-rate schedule and the Adam state run on across checkpoints.
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
    x_t = x_t.to(dev, torch.float32)
    y_t = y_t.to(dev, torch.int64)
    wanted = sorted(set(int(c) for c in checkpoints))
    if wanted and wanted[0] < 0:
        raise ValueError(f"checkpoints must be epochs >= 0; got {wanted[0]}")
    model.to(dev)
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
                ce = F.cross_entropy(out, yb)
                opt.zero_grad(set_to_none=True)
                ce.backward()
                with torch.no_grad():
                    reg = torch.zeros((), device=dev)
                    if wd:
                        # Coupled L2: d/dW (wd * ||W||^2) = 2 wd W, added to the gradient.
                        for p in kernels:
                            reg = reg + p.pow(2).sum()
                            if p.grad is not None:
                                p.grad.add_(p, alpha=2 * wd)
                    loss_sum += (ce.detach() + wd * reg) * len(idx)
                    correct += (out.argmax(1) == yb).sum()
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
