"""The paper's MLP, Keras-equivalent (original code: ``activation-code``, Keras 2.2).

``depth`` blocks ``Linear -> BatchNorm1d -> ReLU`` followed by a linear output layer (the softmax
lives in the loss). ``width`` is the **total** number of hidden units, split evenly over the
blocks (the original passes the total and gives each layer ``width // depth``; the published
CIFAR-10 figures label curves by per-layer width). Initialization and BatchNorm follow Keras'
defaults so the protocol matches the original, not PyTorch's defaults:

- kernels: Glorot-uniform, U(-a, a) with a = sqrt(6 / (fan_in + fan_out)); biases zero;
- BatchNorm: momentum 0.99 in Keras' convention (running = 0.99 running + 0.01 batch), which is
  PyTorch ``momentum=0.01``; ``eps=1e-3``; gamma 1, beta 0.
- BatchNorm's running variance (a deviation toggle, ``bn_running_var``; issue 13): PyTorch
  updates it with the unbiased batch variance, ``var * n / (n - 1)`` (``"unbiased"``, the
  default). Keras 2.2 multiplies by ``n / (n - (1 + epsilon))`` with the layer's epsilon 1e-3
  (``"keras"``: for batch 64 the two factors differ by 1.6e-5 relative); ``"biased"`` uses the
  batch variance itself (tf.keras 2.x and Keras 3). Keras 2.2's TensorFlow backend may also
  zero-debias the moving averages; after the 750 steps of one MNIST epoch the initial value
  weighs 0.99^750 < 6e-4 either way, so this is not reproduced.

Any other ``nn.Module`` whose hidden activations are ``nn.ReLU`` modules also works with the
encoder (:func:`hashlib_nn.codes.neural_codes`) and the trainer (:func:`hashlib_nn.train.train`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

__all__ = ["BN_RUNNING_VARS", "PaperMLP", "RunningVarBatchNorm1d", "derive_seeds",
           "glorot_uniform_", "running_var_factor"]

KERAS_BN_MOMENTUM = 0.01  # PyTorch convention for Keras' momentum=0.99
KERAS_BN_EPS = 1e-3
#: PaperMLP.bn_running_var: how the running variance corrects the batch variance.
BN_RUNNING_VARS: tuple[str, ...] = ("unbiased", "keras", "biased")


def running_var_factor(rule: str, n: int, eps: float = KERAS_BN_EPS) -> float:
    """The factor on the (biased) batch variance of ``n`` rows that enters the running variance.

    >>> running_var_factor("unbiased", 64), running_var_factor("biased", 64)
    (1.0158730158730158, 1.0)
    >>> round(running_var_factor("keras", 64), 7)
    1.0158891
    """
    if rule == "unbiased":
        return n / (n - 1)
    if rule == "keras":
        return n / (n - (1.0 + eps))
    if rule == "biased":
        return 1.0
    accepted = ", ".join(repr(r) for r in BN_RUNNING_VARS)
    raise ValueError(f"bn_running_var must be one of {accepted}; got {rule!r}")


class RunningVarBatchNorm1d(nn.BatchNorm1d):
    """``nn.BatchNorm1d`` whose running variance takes ``running_var_factor(rule, n)`` times the
    batch variance (PyTorch's own layer: ``"unbiased"``). Training-mode outputs, the running
    mean and evaluation are PyTorch's; only the running-variance update differs."""

    def __init__(self, num_features: int, *, rule: str, eps: float = KERAS_BN_EPS,
                 momentum: float = KERAS_BN_MOMENTUM) -> None:  # fmt: skip
        running_var_factor(rule, 2, eps)  # validates the rule
        super().__init__(num_features, eps=eps, momentum=momentum)
        self.rule = rule

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rule == "unbiased":
            return super().forward(x)
        out = nn.functional.batch_norm(x, None, None, self.weight, self.bias, True, 0.0,
                                       self.eps)  # fmt: skip
        with torch.no_grad():
            m = float(self.momentum or 0.0)
            var = x.var(dim=0, correction=0) * running_var_factor(self.rule, x.shape[0], self.eps)
            rm, rv = self.running_mean, self.running_var
            assert rm is not None and rv is not None and self.num_batches_tracked is not None
            rm.mul_(1 - m).add_(x.mean(dim=0), alpha=m)
            rv.mul_(1 - m).add_(var, alpha=m)
            self.num_batches_tracked.add_(1)
        return out

    def extra_repr(self) -> str:
        return super().extra_repr() + f", running_var={self.rule!r}"


def derive_seeds(seed: int, n: int = 3) -> tuple[int, ...]:
    """Independent 32-bit seeds for (init, shuffle, dropout) from one user seed."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    return tuple(int(s) for s in np.random.SeedSequence(int(seed)).generate_state(n))


def glorot_uniform_(weight: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Keras' ``glorot_uniform`` for a ``(fan_out, fan_in, *kernel)`` weight, in place."""
    fan_out, fan_in = weight.shape[0], weight.shape[1]
    receptive = math.prod(weight.shape[2:]) if weight.dim() > 2 else 1
    limit = math.sqrt(6.0 / ((fan_in + fan_out) * receptive))
    with torch.no_grad():
        return weight.uniform_(-limit, limit, generator=generator)


class PaperMLP(nn.Module):
    """The original MLP: ``depth`` x (Linear -> BatchNorm -> ReLU [-> Dropout]) -> Linear.

    Args:
        in_features: input dimension (784 for MNIST/Fashion-MNIST, 3072 for CIFAR-10).
        width: total hidden units over all blocks, a positive multiple of ``depth``.
        depth: number of hidden blocks (MNIST: 1, CIFAR-10: 5 in the original).
        n_classes: output units (10).
        batchnorm: BatchNorm after each hidden Linear (original: True). Ablated in the
            regularization chapter.
        dropout: dropout rate after each ReLU (original: 0); dropout does not change codes,
            which are read at the ReLU outputs in eval mode.
        bn_running_var: BatchNorm's running-variance correction, one of BN_RUNNING_VARS
            (``"unbiased"``: PyTorch's ``nn.BatchNorm1d``, the default; ``"keras"``: Keras 2.2's;
            ``"biased"``: none; see :class:`RunningVarBatchNorm1d`). A deviation toggle.
        seed: initialization seed (Glorot-uniform kernels drawn from a generator seeded from
            it); ``None`` draws from torch's global generator.
    """

    def __init__(
        self,
        in_features: int = 784,
        width: int = 100,
        depth: int = 1,
        n_classes: int = 10,
        *,
        batchnorm: bool = True,
        dropout: float = 0.0,
        seed: int | None = 0,
        bn_running_var: str = "unbiased",
    ) -> None:
        super().__init__()
        for name, value in (("in_features", in_features), ("depth", depth),
                            ("n_classes", n_classes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}")
        if n_classes < 2:
            raise ValueError(f"n_classes must be at least 2; got {n_classes}")
        if (isinstance(width, bool) or not isinstance(width, int) or width < depth
                or width % depth):
            raise ValueError(
                f"width must be a positive multiple of depth={depth} (it is the total number of "
                f"hidden units, split evenly over the layers); got width={width!r}"
            )
        if not (isinstance(dropout, float | int) and 0.0 <= dropout < 1.0):
            raise ValueError(f"dropout must be a rate in [0, 1); got {dropout!r}")
        self.in_features, self.width, self.depth = in_features, width, depth
        if bn_running_var not in BN_RUNNING_VARS:
            accepted = ", ".join(repr(r) for r in BN_RUNNING_VARS)
            raise ValueError(
                f"bn_running_var must be one of {accepted}; got bn_running_var={bn_running_var!r}"
            )
        self.n_classes, self.batchnorm, self.dropout = n_classes, batchnorm, float(dropout)
        self.bn_running_var = bn_running_var
        per_layer = width // depth
        layers: list[nn.Module] = []
        fan_in = in_features
        for _ in range(depth):
            layers.append(nn.Linear(fan_in, per_layer))
            if batchnorm and bn_running_var != "unbiased":
                layers.append(RunningVarBatchNorm1d(per_layer, rule=bn_running_var))
            elif batchnorm:
                layers.append(nn.BatchNorm1d(per_layer, eps=KERAS_BN_EPS,
                                             momentum=KERAS_BN_MOMENTUM))
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            fan_in = per_layer
        self.hidden = nn.Sequential(*layers)
        self.out = nn.Linear(fan_in, n_classes)
        self.reset_parameters(seed)

    @property
    def layer_widths(self) -> tuple[int, ...]:
        return (self.width // self.depth,) * self.depth

    def reset_parameters(self, seed: int | None = 0) -> None:
        """Keras initialization: Glorot-uniform kernels (in layer order), zero biases."""
        gen = None
        if seed is not None:
            gen = torch.Generator().manual_seed(derive_seeds(seed)[0])
        for m in self.modules():
            if isinstance(m, nn.Linear):
                # Draw on the CPU generator, then copy: identical weights on every device.
                w = torch.empty(m.weight.shape)
                glorot_uniform_(w, gen)
                with torch.no_grad():
                    m.weight.copy_(w)
                    m.bias.zero_()
            elif isinstance(m, nn.BatchNorm1d):
                m.reset_parameters()
                m.reset_running_stats()

    def hidden_kernels(self) -> list[nn.Parameter]:
        """The kernels the original's L2 term applies to (hidden Linear weights, not the output)."""
        return [m.weight for m in self.hidden if isinstance(m, nn.Linear)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.hidden(x.reshape(x.shape[0], -1)))

    def extra_repr(self) -> str:
        return f"width={self.width}, depth={self.depth}, per_layer={self.width // self.depth}"
