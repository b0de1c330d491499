"""The paper's MLP, Keras-equivalent (original code: ``activation-code``, Keras 2.2).

``depth`` blocks ``Linear -> BatchNorm1d -> ReLU`` followed by a linear output layer (the softmax
lives in the loss). ``width`` is the **total** number of hidden units, split evenly over the
blocks (the original passes the total and gives each layer ``width // depth``; the published
CIFAR-10 figures label curves by per-layer width). Initialization and BatchNorm follow Keras'
defaults so the protocol matches the original, not PyTorch's defaults:

- kernels: Glorot-uniform, U(-a, a) with a = sqrt(6 / (fan_in + fan_out)); biases zero;
- BatchNorm: momentum 0.99 in Keras' convention (running = 0.99 running + 0.01 batch), which is
  PyTorch ``momentum=0.01``; ``eps=1e-3``; gamma 1, beta 0.

Any other ``nn.Module`` whose hidden activations are ``nn.ReLU`` modules also works with the
encoder (:func:`hashlib_nn.codes.neural_codes`) and the trainer (:func:`hashlib_nn.train.train`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

__all__ = ["PaperMLP", "derive_seeds", "glorot_uniform_"]

KERAS_BN_MOMENTUM = 0.01  # PyTorch convention for Keras' momentum=0.99
KERAS_BN_EPS = 1e-3


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
        self.n_classes, self.batchnorm, self.dropout = n_classes, batchnorm, float(dropout)
        per_layer = width // depth
        layers: list[nn.Module] = []
        fan_in = in_features
        for _ in range(depth):
            layers.append(nn.Linear(fan_in, per_layer))
            if batchnorm:
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
