"""Convolutional networks as hash encoders (paper: the CNN experiments on CIFAR-10).

protocol.md, "CNNs on CIFAR-10". The original CIFAR-10 CNN code is **Keras** (root of
``LeavesLei/activation-code``: ``cnn_architecture.py``, ``run_cnn_train.py``,
``run_cnn_encoding_properties.py``; only its later TinyImageNet/ImageNet folders are PyTorch).
This module re-implements those networks, their training protocol and their encoding at scale.

Models (:func:`build_cnn`), read off ``cnn_architecture.py``:

- ``vgg16`` / ``vgg19``: the standard configurations of ``Conv3x3 -> BN -> ReLU`` (conv with
  bias, Keras' default) and 2x2 max-pools, then two ``Linear(512) -> BN -> ReLU -> Dropout(0.5)``
  blocks (the original calls VGG16 with ``fc_units=512``; its FC blocks carry BatchNorm) and the
  classifier. Pools use ``ceil_mode=True`` (identical on 32x32; on 28x28 the maps go
  28-14-7-4-2-1 instead of reaching 0, where the Keras model would fail) and an adaptive average
  pool to 1x1 (the identity on 32x32 and 28x28) feeds the FC blocks, so any image size works.
- ``resnet18``: CIFAR stem ``Conv3x3(64) -> BN -> ReLU`` (no 7x7 conv, no max-pool), BasicBlocks
  [2, 2, 2, 2] with 64/128/256/512 channels, global average pool, classifier.
- ``resnet20`` / ``resnet32`` / ``resnet56``: He et al.'s CIFAR ResNets, 3 stages of 16/32/64
  channels with n = 3/5/9 BasicBlocks each. As in the original (and unlike He et al.'s
  parameter-free "option A"), a block that halves the resolution has a projection shortcut
  ``Conv1x1(stride 2) -> BN``; this adds 2,752 parameters to each CIFAR ResNet.
- ``resnet8``: **ours**, not the paper's: the same family with n = 1 (7 ReLU layers, 78k
  parameters), small enough for the CPU preset.

A BasicBlock is ``Conv3x3 -> BN -> ReLU -> Conv3x3 -> BN``, plus the shortcut, then ReLU. Every
use of a ReLU is its own ``nn.ReLU(inplace=False)`` module, so the neural code of each ReLU
layer is well defined and hooks fire once per module and forward pass.
Keras pads ``"same"`` stride-2 convolutions asymmetrically (bottom/right only); we pad 1 on
every side (PyTorch's usual choice). The number of bits is the same.

Initialization: ``init="keras"`` (default) reproduces the original's Keras defaults, the same
as :class:`hashlib_nn.models.PaperMLP`: Glorot-uniform conv and dense kernels, zero biases,
BatchNorm momentum 0.99 (PyTorch ``momentum=0.01``) and ``eps=1e-3``. ``init="torch"`` keeps
PyTorch's defaults (Kaiming-uniform with ``a=sqrt(5)``, BN ``momentum=0.1``, ``eps=1e-5``).

Training (:class:`CNNTrainConfig`, :func:`train_cnn`): ``run_cnn_train.py`` trains with Adam
lr 1e-2 (Keras eps 1e-7) decayed x0.1 every 50 epochs, 200 epochs, batch 64, L2 5e-6 on the
conv and hidden dense kernels (``kernel_regularizer=l2(5e-6)``; not on the projection shortcuts,
whose helper defaults to ``weight_decay=0``, nor on the classifier), ``EarlyStopping(monitor=
"loss", patience=10)``, and Keras' ``ImageDataGenerator(rotation_range=15, width_shift_range=0.1,
height_shift_range=0.1, horizontal_flip=True)``, whose default ``fill_mode="nearest"`` and
order-1 interpolation :func:`augment_batch` reproduces in torch on whole batches.
:func:`train_cnn` reuses :func:`hashlib_nn.train.train` unchanged: the augmentation runs inside
a thin wrapper module that transforms its input only in training mode.

Encoding at scale: CNN codes hold every spatial ReLU output (ResNet20 on CIFAR-10: 188,416
bits, 23,552 packed bytes per image; 60,000 images: 1.41 GB packed). :func:`encode` fills one
preallocated packed matrix batch by batch (``neural_codes`` concatenates its batches at the end,
which needs twice the packed size at peak); :func:`select_bits` cuts a bit range (one layer, a
prefix) out of packed rows chunk-wise by bit-shift re-packing, never unpacking the matrix;
:func:`reduce_codes` draws a documented, seeded subset of bit positions for the algorithms that
need float features (K-Means, logistic regression); :func:`per_layer_redundancy` gives the
redundancy ratio of each ReLU layer and of each prefix of layers.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from hashlib_nn.codes import NeuralCodes, as_packed, neural_codes, relu_modules
from hashlib_nn.device import resolve_device
from hashlib_nn.metrics import distinct_codes
from hashlib_nn.models import KERAS_BN_EPS, KERAS_BN_MOMENTUM, derive_seeds, glorot_uniform_
from hashlib_nn.train import EpochRecord, TrainConfig, TrainHistory, l2_parameters, train

__all__ = [
    "CNN_NAMES",
    "BasicBlock",
    "CNNTrainConfig",
    "LayerInfo",
    "ResNet",
    "VGG",
    "augment_batch",
    "build_cnn",
    "code_layout",
    "encode",
    "per_layer_redundancy",
    "random_bit_positions",
    "reduce_codes",
    "select_bits",
    "take_bits",
    "train_cnn",
    "transform_batch",
    "varying_bits",
]

Init = Literal["keras", "torch"]

# -------------------------------------------------------------------------------------------
# Models
# -------------------------------------------------------------------------------------------

# "M" is a 2x2 max-pool; numbers are conv output channels (Simonyan & Zisserman, configs D, E).
_VGG_CFGS: dict[str, tuple[int | str, ...]] = {
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
              512, 512, 512, "M", 512, 512, 512, "M"),
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
              512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
}
# (channels per stage, BasicBlocks per stage)
_RESNET_CFGS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "resnet8": ((16, 32, 64), (1, 1, 1)),  # ours: the smallest member of the CIFAR family
    "resnet18": ((64, 128, 256, 512), (2, 2, 2, 2)),
    "resnet20": ((16, 32, 64), (3, 3, 3)),
    "resnet32": ((16, 32, 64), (5, 5, 5)),
    "resnet56": ((16, 32, 64), (9, 9, 9)),
}
CNN_NAMES: tuple[str, ...] = ("vgg16", "vgg19", "resnet8", "resnet18", "resnet20", "resnet32",
                              "resnet56")


def _scaled(channels: int, width_multiplier: float) -> int:
    return max(1, int(round(channels * width_multiplier)))


def _bn2d(c: int, init: Init) -> nn.BatchNorm2d:
    if init == "keras":
        return nn.BatchNorm2d(c, eps=KERAS_BN_EPS, momentum=KERAS_BN_MOMENTUM)
    return nn.BatchNorm2d(c)


def _bn1d(c: int, init: Init) -> nn.BatchNorm1d:
    if init == "keras":
        return nn.BatchNorm1d(c, eps=KERAS_BN_EPS, momentum=KERAS_BN_MOMENTUM)
    return nn.BatchNorm1d(c)


class _CNN(nn.Module):
    """Shared parts: input check, seeded initialization, the kernels under L2."""

    name: str
    in_channels: int
    n_classes: int
    init: Init

    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            hint = ""
            if x.ndim == 2:
                hint = " (flattened images? load them with load_dataset(name, flatten=False))"
            raise ValueError(
                f"{self.name} expects images of shape (N, {self.in_channels}, H, W) "
                f"(in_channels={self.in_channels}); got shape {tuple(x.shape)}{hint}"
            )

    def reset_parameters(self, seed: int | None = 0) -> None:
        """Re-initialize every layer from ``seed`` (``None``: torch's global generator).

        ``"keras"``: Glorot-uniform kernels drawn in module order from a CPU generator (the same
        weights on every device), zero biases, fresh BatchNorm. ``"torch"``: each layer's own
        ``reset_parameters`` under a forked, seeded global generator.
        """
        init_seed = derive_seeds(seed)[0] if seed is not None else None
        layers: list[Any] = [
            m for m in self.modules() if m is not self and hasattr(m, "reset_parameters")
        ]
        if self.init == "keras":
            gen = torch.Generator().manual_seed(init_seed) if init_seed is not None else None
            for m in layers:
                if isinstance(m, nn.Conv2d | nn.Linear):
                    w = torch.empty(m.weight.shape)
                    glorot_uniform_(w, gen)
                    with torch.no_grad():
                        m.weight.copy_(w)
                        if m.bias is not None:
                            m.bias.zero_()
                else:
                    m.reset_parameters()
            return
        with torch.random.fork_rng(devices=[]):
            if init_seed is not None:
                torch.manual_seed(init_seed)
            for m in layers:
                m.reset_parameters()


class VGG(_CNN):
    """VGG with BatchNorm for small images, as in the original (module docstring).

    Args:
        cfg: conv channels and "M" (max-pool) in order; :data:`_VGG_CFGS` holds VGG16/19.
        in_channels, n_classes: image channels (1 or 3) and classes.
        fc_units: units of each of the two hidden FC blocks (original: 512).
        dropout: dropout rate after each FC ReLU (original: 0.5).
        width_multiplier: scales every conv and FC width (1.0: the original).
        init: "keras" (original) or "torch" (module docstring).
        seed: initialization seed.
    """

    def __init__(
        self,
        cfg: Sequence[int | str],
        in_channels: int = 3,
        n_classes: int = 10,
        *,
        fc_units: int = 512,
        dropout: float = 0.5,
        width_multiplier: float = 1.0,
        init: Init = "keras",
        seed: int | None = 0,
        name: str = "vgg",
    ) -> None:
        super().__init__()
        self.name, self.in_channels, self.n_classes, self.init = name, in_channels, n_classes, init
        layers: list[nn.Module] = []
        c_in = in_channels
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
            else:
                c = _scaled(int(v), width_multiplier)
                layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=True), _bn2d(c, init),
                           nn.ReLU(inplace=False)]
                c_in = c
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        units = _scaled(fc_units, width_multiplier)
        fc: list[nn.Module] = []
        for _ in range(2):
            fc += [nn.Linear(c_in, units), _bn1d(units, init), nn.ReLU(inplace=False),
                   nn.Dropout(dropout)]
            c_in = units
        self.fc = nn.Sequential(*fc)
        self.classifier = nn.Linear(c_in, n_classes)
        self.reset_parameters(seed)

    def hidden_kernels(self) -> list[torch.Tensor]:
        """Kernels under the original's L2: every conv and hidden FC kernel, not the classifier."""
        layers = (*self.features, *self.fc)
        return [m.weight for m in layers if isinstance(m, nn.Conv2d | nn.Linear)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        x = self.pool(self.features(x)).flatten(1)
        return self.classifier(self.fc(x))


class BasicBlock(nn.Module):
    """``Conv3x3(stride) -> BN -> ReLU -> Conv3x3 -> BN`` + shortcut, then ReLU.

    The shortcut is the identity, or ``Conv1x1(stride) -> BN`` when the block changes the
    resolution or the width (the original's ``ResidualBlock(downsample=True)``).
    """

    def __init__(self, c_in: int, c_out: int, stride: int, init: Init) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = _bn2d(c_out, init)
        self.relu1 = nn.ReLU(inplace=False)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = _bn2d(c_out, init)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                          _bn2d(c_out, init))
        self.relu2 = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(out + self.shortcut(x))


class ResNet(_CNN):
    """ResNet of BasicBlocks with a CIFAR stem (module docstring).

    Args:
        widths: channels of each stage (CIFAR ResNets: 16/32/64; ResNet18: 64/128/256/512).
        blocks: BasicBlocks per stage; every stage after the first starts with stride 2.
        in_channels, n_classes, width_multiplier, init, seed: as for :class:`VGG`.
    """

    def __init__(
        self,
        widths: Sequence[int],
        blocks: Sequence[int],
        in_channels: int = 3,
        n_classes: int = 10,
        *,
        width_multiplier: float = 1.0,
        init: Init = "keras",
        seed: int | None = 0,
        name: str = "resnet",
    ) -> None:
        super().__init__()
        self.name, self.in_channels, self.n_classes, self.init = name, in_channels, n_classes, init
        widths = [_scaled(w, width_multiplier) for w in widths]
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
                                  _bn2d(widths[0], init), nn.ReLU(inplace=False))
        stages: list[nn.Module] = []
        c_in = widths[0]
        for i, (w, n) in enumerate(zip(widths, blocks, strict=True)):
            stage = [BasicBlock(c_in, w, 1 if i == 0 else 2, init)]
            stage += [BasicBlock(w, w, 1, init) for _ in range(n - 1)]
            stages.append(nn.Sequential(*stage))
            c_in = w
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_in, n_classes)
        self.reset_parameters(seed)

    def hidden_kernels(self) -> list[torch.Tensor]:
        """Kernels under the original's L2: stem and block convs; not the projection shortcuts
        (the original's helper leaves them at ``weight_decay=0``), not the classifier."""
        stem_conv = self.stem[0]
        assert isinstance(stem_conv, nn.Conv2d)
        kernels: list[torch.Tensor] = [stem_conv.weight]
        for block in self.stages.modules():
            if isinstance(block, BasicBlock):
                kernels += [block.conv1.weight, block.conv2.weight]
        return kernels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        x = self.pool(self.stages(self.stem(x))).flatten(1)
        return self.classifier(x)


def build_cnn(
    name: str,
    in_channels: int = 3,
    n_classes: int = 10,
    *,
    seed: int | None = 0,
    width_multiplier: float = 1.0,
    init: Init = "keras",
) -> VGG | ResNet:
    """One of the paper's CNNs (or our small ``resnet8``), freshly initialized from ``seed``.

    >>> model = build_cnn("resnet20", in_channels=3)
    >>> sum(p.numel() for p in model.parameters())
    272474
    """
    if not isinstance(name, str) or name.lower() not in CNN_NAMES:
        accepted = ", ".join(repr(n) for n in CNN_NAMES)
        raise ValueError(f"unknown CNN {name!r}; accepted names: {accepted}")
    for arg, value in (("in_channels", in_channels), ("n_classes", n_classes)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{arg} must be a positive integer; got {value!r}")
    if n_classes < 2:
        raise ValueError(f"n_classes must be at least 2; got {n_classes}")
    if not (isinstance(width_multiplier, float | int) and width_multiplier > 0):
        raise ValueError(f"width_multiplier must be a positive number; got {width_multiplier!r}")
    if init not in ("keras", "torch"):
        raise ValueError(f"init must be 'keras' or 'torch'; got {init!r}")
    name = name.lower()
    kw: dict[str, Any] = dict(width_multiplier=width_multiplier, init=init, seed=seed, name=name)
    # Layers draw their default init from the global generator; keep the caller's stream intact.
    with torch.random.fork_rng(devices=[]):
        if name in _VGG_CFGS:
            return VGG(_VGG_CFGS[name], int(in_channels), int(n_classes), **kw)
        widths, blocks = _RESNET_CFGS[name]
        return ResNet(widths, blocks, int(in_channels), int(n_classes), **kw)


@dataclass(frozen=True)
class LayerInfo:
    """One ReLU call of a forward pass: where its bits sit in the code."""

    index: int  # position in forward order
    name: str  # qualified module name, e.g. "stages.0.1.relu2"
    shape: tuple[int, ...]  # per-sample output shape (C, H, W) or (units,)
    n_bits: int  # prod(shape)
    start: int  # first bit of this layer in the concatenated code


@torch.no_grad()
def code_layout(
    model: nn.Module, input_shape: Sequence[int], *, device: str | torch.device = "cpu"
) -> list[LayerInfo]:
    """The ReLU layers of ``model`` in forward order for one input of ``input_shape`` (C, H, W).

    One zero image goes through the model in eval mode; the model's mode is restored.
    ``sum(l.n_bits for l in layout)`` is the code length per image.
    """
    dev = resolve_device(device)
    names = {m: n for n, m in model.named_modules()}
    calls: list[tuple[str, tuple[int, ...]]] = []
    handles = [r.register_forward_hook(
        lambda m, i, o: calls.append((names[m], tuple(o.shape[1:])))) for r in relu_modules(model)]
    was_training = model.training
    model.eval()
    try:
        p = next(model.parameters(), None)
        model(torch.zeros((1, *input_shape), device=p.device if p is not None else dev))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    layout, start = [], 0
    for i, (n, shape) in enumerate(calls):
        bits = math.prod(shape)
        layout.append(LayerInfo(i, n, shape, bits, start))
        start += bits
    return layout


# -------------------------------------------------------------------------------------------
# Augmentation and training
# -------------------------------------------------------------------------------------------


def transform_batch(
    x: torch.Tensor,
    angle_deg: torch.Tensor,
    shift_x: torch.Tensor,
    shift_y: torch.Tensor,
    flip: torch.Tensor,
) -> torch.Tensor:
    """Rotate, shift and horizontally flip each image of ``x`` (N, C, H, W), in one resampling.

    Per image ``i``: output pixel ``p`` (pixel units, origin at the image centre) takes the
    input at ``R(angle_deg[i]) F_i p + (shift_x[i] * W, shift_y[i] * H)``, where ``F_i`` mirrors
    the horizontal axis when ``flip[i]``, by bilinear interpolation with edge pixels repeated
    outside the image (Keras' ``fill_mode="nearest"``, ``order=1``). A positive ``shift_x``
    moves the content left; with y pointing down, a positive angle turns it anticlockwise.
    """
    n, _, h, w = x.shape
    a = torch.deg2rad(angle_deg.to(torch.float64))
    cos, sin = torch.cos(a), torch.sin(a)
    sign = 1.0 - 2.0 * flip.to(torch.float64)
    theta = torch.zeros((n, 2, 3), dtype=torch.float64)
    # The rotation acts in pixel units: S^-1 R S with S = diag(W/2, H/2) maps normalized
    # coordinates ([-1, 1], align_corners=False) to pixels and back.
    theta[:, 0, 0] = cos * sign
    theta[:, 0, 1] = -sin * (h / w)
    theta[:, 1, 0] = sin * (w / h) * sign
    theta[:, 1, 1] = cos
    theta[:, 0, 2] = 2.0 * shift_x.to(torch.float64)
    theta[:, 1, 2] = 2.0 * shift_y.to(torch.float64)
    theta = theta.to(device=x.device, dtype=x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def augment_batch(
    x: torch.Tensor,
    *,
    rotation: float = 15.0,
    shift: float = 0.1,
    hflip: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Keras ``ImageDataGenerator(rotation_range, width/height_shift_range, horizontal_flip)``
    on a batch: angle ~ U(-rotation, rotation) degrees, shifts ~ U(-shift, shift) of the width
    and the height, a horizontal flip with probability 1/2.

    The random numbers come from ``generator`` on the CPU (four per image, whatever the
    settings, so a seed gives the same draws on every device); the resampling runs where ``x``
    is. Without rotation and shift no resampling happens: flips are exact and ``rotation=0,
    shift=0, hflip=False`` returns ``x`` itself.
    """
    if x.ndim != 4:
        raise ValueError(f"augment_batch expects images (N, C, H, W); got shape {tuple(x.shape)}")
    u = torch.rand((x.shape[0], 4), generator=generator, dtype=torch.float64)
    flip = (u[:, 3] < 0.5) if hflip else torch.zeros(x.shape[0], dtype=torch.bool)
    if rotation == 0 and shift == 0:
        if not hflip:
            return x
        return torch.where(flip.to(x.device).view(-1, 1, 1, 1), x.flip(-1), x)
    angle = (2 * u[:, 0] - 1) * rotation
    sx, sy = (2 * u[:, 1] - 1) * shift, (2 * u[:, 2] - 1) * shift
    return transform_batch(x, angle, sx, sy, flip)


@dataclass(frozen=True)
class CNNTrainConfig(TrainConfig):
    """The original CNN protocol (``run_cnn_train.py``); fields not listed keep
    :class:`hashlib_nn.train.TrainConfig`'s (Adam 1e-2, Keras eps 1e-7, batch 64, 200 epochs,
    early stopping on the training loss with patience 10, which the CNN script also uses)."""

    lr_decay_every: int = 50  # lr * 0.1 ** (epoch // 50): original
    weight_decay: float = 5e-6  # Keras l2(5e-6) on conv and hidden dense kernels: original
    augment: bool = True  # ImageDataGenerator on the training batches: original
    rotation: float = 15.0  # rotation_range=15 (degrees): original
    shift: float = 0.1  # width_shift_range=height_shift_range=0.1: original
    hflip: bool = True  # horizontal_flip=True: original; turn off for digits

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, ours in (("loss", "logits"), ("adam_form", "torch"), ("dtype", "float32")):
            if getattr(self, name) != ours:  # the MLP trainer's deviation toggles (issue 13)
                raise ValueError(f"the CNN trainer supports only {name}={ours!r}; got "
                                 f"{name}={getattr(self, name)!r}")  # fmt: skip
        if not (isinstance(self.rotation, float | int) and 0 <= self.rotation <= 180):
            raise ValueError(f"rotation must be in [0, 180] degrees; got {self.rotation!r}")
        if not (isinstance(self.shift, float | int) and 0 <= self.shift < 1):
            raise ValueError(f"shift must be a fraction in [0, 1); got {self.shift!r}")


class _Augmented(nn.Module):
    """Wraps a model so that its input is augmented in training mode only."""

    def __init__(self, model: nn.Module, config: CNNTrainConfig) -> None:
        super().__init__()
        self.model, self.config = model, config
        self.generator = torch.Generator().manual_seed(derive_seeds(config.seed, 4)[3])

    def hidden_kernels(self) -> list[torch.Tensor]:
        return l2_parameters(self.model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        if self.training and c.augment:
            x = augment_batch(x, rotation=c.rotation, shift=c.shift, hflip=c.hflip,
                              generator=self.generator)
        return self.model(x)


def train_cnn(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    config: CNNTrainConfig = CNNTrainConfig(),
    *,
    checkpoints: Iterable[int] = (),
    on_checkpoint: Callable[[int, nn.Module], None] | None = None,
    device: str | torch.device = "auto",
    progress: Callable[[EpochRecord], None] | None = None,
) -> TrainHistory:
    """Train ``model`` in place on images ``x`` (N, C, H, W) by the original CNN protocol.

    :func:`hashlib_nn.train.train` does the work (schedule, coupled L2 on
    ``l2_parameters(model)``, early stopping, checkpoints, seeds); the augmentation draws from
    its own generator seeded from ``config.seed``. ``on_checkpoint`` receives ``model`` itself.
    """
    if not isinstance(config, CNNTrainConfig):
        raise TypeError(f"config must be a CNNTrainConfig; got {type(config).__name__}")
    if np.ndim(x) != 4:
        raise ValueError(
            f"train_cnn expects images (N, C, H, W); got shape {tuple(np.shape(x))} "
            "(load them with load_dataset(name, flatten=False))"
        )
    n = len(x)
    if n % config.batch_size == 1 and any(isinstance(m, nn.BatchNorm1d) for m in model.modules()):
        raise ValueError(
            f"{n} examples in batches of {config.batch_size} leave a last batch of one example, "
            "which BatchNorm1d cannot normalize in training mode; drop or add one example"
        )
    wrapped = _Augmented(model, config)
    callback = None
    if on_checkpoint is not None:
        def callback(epoch: int, _: nn.Module) -> None:
            on_checkpoint(epoch, model)
    return train(wrapped, x, y, config, checkpoints=checkpoints, on_checkpoint=callback,
                 device=device, progress=progress)


# -------------------------------------------------------------------------------------------
# Encoding at scale, on packed rows
# -------------------------------------------------------------------------------------------

_CHUNK_BYTES = 64 * 2**20  # packed bytes per row chunk in the chunk-wise operations
_BYTES_PER_BIT = 6  # transient host bytes per code bit and image inside neural_codes (measured)


def _rows_per_chunk(row_bytes: int, chunk_rows: int | None) -> int:
    if chunk_rows is not None:
        if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
            raise ValueError(f"chunk_rows must be a positive integer or None; got {chunk_rows!r}")
        return chunk_rows
    return max(1, _CHUNK_BYTES // max(1, row_bytes))


def _progress_bar(total: int, show: bool | None):  # type: ignore[no-untyped-def]
    from tqdm import tqdm

    if show is None:
        show = sys.stderr.isatty() and not os.environ.get("CI")
    return tqdm(total=total, disable=not show, unit="img", leave=False)


@overload
def encode(
    model: nn.Module, x: np.ndarray | torch.Tensor, *, batch_size: int | None = ...,
    max_batch_bytes: int | None = ..., out: np.ndarray | None = ...,
    device: str | torch.device = ..., progress: bool | None = ...,
    return_logits: Literal[False] = ...,
) -> NeuralCodes: ...
@overload
def encode(
    model: nn.Module, x: np.ndarray | torch.Tensor, *, batch_size: int | None = ...,
    max_batch_bytes: int | None = ..., out: np.ndarray | None = ...,
    device: str | torch.device = ..., progress: bool | None = ...,
    return_logits: Literal[True],
) -> tuple[NeuralCodes, np.ndarray]: ...
def encode(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    *,
    batch_size: int | None = None,
    max_batch_bytes: int | None = None,
    out: np.ndarray | None = None,
    device: str | torch.device = "auto",
    progress: bool | None = None,
    return_logits: bool = False,
) -> NeuralCodes | tuple[NeuralCodes, np.ndarray]:
    """Packed neural codes of images ``x`` with bounded memory (same bits as ``neural_codes``).

    With ``return_logits`` the model outputs come too, float32 on the host (``(codes, logits)``,
    as :func:`hashlib_nn.codes.neural_codes` returns them): the network's own accuracy costs no
    second pass (:func:`hashlib_nn.experiments.runner.cnn_run` measures it so).

    The model must already be on ``device``; ``x`` may be anywhere (batches are moved).

    Batches go through :func:`hashlib_nn.codes.neural_codes` and are written into one packed
    matrix allocated up front (or into ``out``, e.g. an ``np.lib.format.open_memmap``), so the
    host holds ``N * ceil(n_bits / 8)`` bytes plus one batch's transient. ``batch_size``
    defaults to ``max_batch_bytes / (6 * n_bits)`` images (at least 1, at most 1024), with
    ``max_batch_bytes`` 256 MiB on the CPU and 2 GiB on CUDA: inside ``neural_codes`` the bool,
    concatenated and packing temporaries of one batch take about 4 bytes per bit and image,
    activations the rest (ResNet20 on CIFAR-10, measured: 1.2 MiB per image, 6.4 B per bit).

    Measured peak host memory for ResNet20 codes of 16,000 CIFAR-sized images (2 CPU threads,
    batch 237, :file:`benchmarks/bench_cnn_codes.py`): the packed codes (359 MiB) plus 305 MiB
    here; ``neural_codes`` with the same batch needs 884 MiB (its batches and their
    concatenation coexist at the end). Extrapolated to 60,000 images (1,348 MiB packed): about
    1.65 GiB here, about 2.9 GiB with ``neural_codes``; the images themselves are another
    703 MiB of float32.
    """
    if len(x) == 0:
        raise ValueError("x holds no images; neural codes need at least one")
    dev = resolve_device(device)
    p = next(model.parameters(), None)
    if p is not None and p.device.type != dev.type:
        raise ValueError(
            f"the model is on {p.device} but device={str(dev)!r}; move it first: "
            f"model.to({str(dev)!r})"
        )
    layout = code_layout(model, tuple(x.shape[1:]), device=dev)
    n_bits = sum(layer.n_bits for layer in layout)
    n_bytes = (n_bits + 7) // 8
    if batch_size is None:
        if max_batch_bytes is None:
            max_batch_bytes = (2 * 2**30) if dev.type == "cuda" else 256 * 2**20
        batch_size = int(min(1024, max(1, max_batch_bytes // (_BYTES_PER_BIT * n_bits))))
    if out is None:
        out = np.empty((len(x), n_bytes), dtype=np.uint8)
    elif out.dtype != np.uint8 or out.shape != (len(x), n_bytes):
        raise ValueError(
            f"out must be a uint8 array of shape {(len(x), n_bytes)}; got {out.dtype} "
            f"{out.shape}"
        )
    logits: list[np.ndarray] = []
    with _progress_bar(len(x), progress) as bar:
        for s in range(0, len(x), batch_size):
            part = neural_codes(model, x[s : s + batch_size], batch_size=batch_size, device=dev,
                                return_logits=return_logits)  # fmt: skip
            if isinstance(part, tuple):
                part, batch_logits = part
                logits.append(batch_logits)
            out[s : s + len(part)] = part.packed
            bar.update(len(part))
    codes = NeuralCodes(out, n_bits, tuple(layer.n_bits for layer in layout))
    return (codes, np.concatenate(logits)) if return_logits else codes


def _check_range(start: int, stop: int, n_bits: int) -> None:
    for name, v in (("start", start), ("stop", stop)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer):
            raise TypeError(f"{name} must be an integer; got {type(v).__name__} {v!r}")
    if not 0 <= start < stop <= n_bits:
        raise ValueError(
            f"need 0 <= start < stop <= n_bits={n_bits}; got start={start}, stop={stop}"
        )


def _sub_layer_sizes(layer_sizes: Sequence[int], start: int, stop: int) -> tuple[int, ...]:
    sizes, lo = [], 0
    for size in layer_sizes:
        a, b = max(lo, start), min(lo + size, stop)
        if b > a:
            sizes.append(b - a)
        lo += size
    return tuple(sizes)


def select_bits(
    codes: NeuralCodes | np.ndarray, start: int, stop: int, *, chunk_rows: int | None = None
) -> NeuralCodes:
    """Bits ``start:stop`` of every code, re-packed (``np.packbits`` layout, zero padding).

    Equal to ``np.packbits(unpack(codes)[:, start:stop], axis=1)``, computed row chunk by row
    chunk (about 64 MiB of packed input each) with byte shifts: output byte ``j`` is
    ``(b[j] << s | b[j + 1] >> (8 - s)) & 0xFF`` for ``s = start % 8``. ``layer_sizes`` are cut
    to the range.

    >>> c = NeuralCodes.from_bits(np.array([[1, 0, 1, 1, 0, 0, 1, 0, 1, 1]]))
    >>> select_bits(c, 2, 9).unpack().tolist()
    [[1, 1, 0, 0, 1, 0, 1]]
    """
    packed, n_bits = as_packed(codes)
    _check_range(start, stop, n_bits)
    start, stop = int(start), int(stop)
    k = stop - start
    out_bytes = (k + 7) // 8
    b0, s = start >> 3, start & 7
    # Source bytes: out_bytes, plus the next one (when it exists) for the low part of a shift.
    src_stop = min(packed.shape[1], b0 + out_bytes + (1 if s else 0))
    out = np.empty((packed.shape[0], out_bytes), dtype=np.uint8)
    tail = (0xFF << (8 - k % 8)) & 0xFF if k % 8 else 0xFF
    rows = _rows_per_chunk(src_stop - b0, chunk_rows)
    for r in range(0, packed.shape[0], rows):
        src = packed[r : r + rows, b0:src_stop]
        o = out[r : r + rows]
        if s == 0:
            o[:] = src[:, :out_bytes]
        else:
            np.left_shift(src[:, :out_bytes], np.uint8(s), out=o)
            nxt = src[:, 1 : out_bytes + 1] >> np.uint8(8 - s)
            o[:, : nxt.shape[1]] |= nxt
        o[:, -1] &= np.uint8(tail)
    layer_sizes: tuple[int, ...] = ()
    if isinstance(codes, NeuralCodes) and codes.layer_sizes:
        layer_sizes = _sub_layer_sizes(codes.layer_sizes, start, stop)
    return NeuralCodes(out, k, layer_sizes)


def varying_bits(*codes: NeuralCodes | np.ndarray, chunk_rows: int | None = None) -> np.ndarray:
    """Positions (sorted int64) of the bits that are not constant over all rows of all ``codes``.

    The original drops neurons constant over train and test together before K-Means, K-NN and
    logistic regression; pass both sets. Computed with bitwise OR and AND over packed rows.
    """
    if not codes:
        raise ValueError("varying_bits needs at least one set of codes")
    any_one = all_one = None
    n_bits = None
    for c in codes:
        packed, nb = as_packed(c)
        if n_bits is None:
            n_bits = nb
        elif nb != n_bits:
            raise ValueError(f"all codes must have the same n_bits; got {n_bits} and {nb}")
        rows = _rows_per_chunk(packed.shape[1], chunk_rows)
        for r in range(0, packed.shape[0], rows):
            block = packed[r : r + rows]
            o, a = np.bitwise_or.reduce(block, axis=0), np.bitwise_and.reduce(block, axis=0)
            any_one = o if any_one is None else any_one | o
            all_one = a if all_one is None else all_one & a
    assert any_one is not None and all_one is not None and n_bits is not None
    mask = np.unpackbits(any_one & ~all_one, count=n_bits)
    return np.flatnonzero(mask).astype(np.int64)


def random_bit_positions(
    n_bits_total: int, n_bits: int = 4096, seed: int = 0, among: np.ndarray | None = None
) -> np.ndarray:
    """``n_bits`` bit positions drawn without replacement (sorted), reproducibly from ``seed``.

    ``among``: candidate positions (e.g. :func:`varying_bits` of train and test); default all
    ``n_bits_total``. When there are no more candidates than ``n_bits``, all are returned.
    The draw is ``np.random.default_rng(seed).choice(candidates, n_bits, replace=False)``.
    """
    if isinstance(n_bits, bool) or not isinstance(n_bits, int | np.integer) or n_bits < 1:
        raise ValueError(f"n_bits must be a positive integer; got {n_bits!r}")
    cand = np.arange(n_bits_total, dtype=np.int64) if among is None else np.asarray(among, np.int64)
    if cand.size and (cand.min() < 0 or cand.max() >= n_bits_total):
        raise ValueError(f"among holds positions outside [0, {n_bits_total})")
    if cand.size <= n_bits:
        return np.sort(cand)
    return np.sort(np.random.default_rng(seed).choice(cand, size=n_bits, replace=False))


def take_bits(
    codes: NeuralCodes | np.ndarray, positions: np.ndarray, *, chunk_rows: int | None = None
) -> NeuralCodes:
    """The bits at ``positions`` (in that order) of every code, re-packed, chunk-wise."""
    packed, n_bits = as_packed(codes)
    pos = np.asarray(positions, dtype=np.int64)
    if pos.ndim != 1 or pos.size == 0:
        raise ValueError(f"positions must be a non-empty 1-D array; got shape {pos.shape}")
    if pos.min() < 0 or pos.max() >= n_bits:
        raise ValueError(f"positions must lie in [0, {n_bits}); got [{pos.min()}, {pos.max()}]")
    byte, shift = pos >> 3, (7 - (pos & 7)).astype(np.uint8)
    out = np.empty((packed.shape[0], (pos.size + 7) // 8), dtype=np.uint8)
    rows = _rows_per_chunk(pos.size, chunk_rows)
    for r in range(0, packed.shape[0], rows):
        bits = (packed[r : r + rows][:, byte] >> shift) & np.uint8(1)
        out[r : r + rows] = np.packbits(bits, axis=1)
    return NeuralCodes(out, int(pos.size))


def reduce_codes(
    codes: NeuralCodes | np.ndarray,
    method: Literal["random_bits", "layer"] = "random_bits",
    n_bits: int = 4096,
    seed: int = 0,
    *,
    among: np.ndarray | None = None,
    layer: int | None = None,
) -> NeuralCodes:
    """A smaller code for the algorithms that need float features (K-Means, logistic regression).

    - ``"random_bits"`` (default): the bits at :func:`random_bit_positions` ``(n_total, n_bits,
      seed, among)``: a uniform, seeded sample of the code's bit positions, the same positions
      for every call with the same arguments (so train and test codes are reduced alike). Pass
      ``among=varying_bits(train, test)`` to sample only non-constant bits, as the original
      drops constant neurons. Layers weigh by their size: in ResNet20 the stem and first stage
      hold 60% of the bits, so they supply about 60% of the sample.
    - ``"layer"``: the codes of ReLU layer ``layer`` alone (needs ``layer_sizes``; ``n_bits``
      and ``seed`` are ignored).
    """
    packed, total = as_packed(codes)
    if method == "random_bits":
        return take_bits(codes, random_bit_positions(total, n_bits, seed, among))
    if method == "layer":
        sizes = codes.layer_sizes if isinstance(codes, NeuralCodes) else ()
        if not sizes:
            raise ValueError("method='layer' needs NeuralCodes with layer_sizes")
        if layer is None or not -len(sizes) <= layer < len(sizes):
            raise ValueError(f"layer must be an index into {len(sizes)} layers; got {layer!r}")
        layer %= len(sizes)
        start = sum(sizes[:layer])
        return select_bits(codes, start, start + sizes[layer])
    raise ValueError(f"method must be 'random_bits' or 'layer'; got {method!r}")


def per_layer_redundancy(
    model_or_codes: nn.Module | NeuralCodes,
    x: np.ndarray | torch.Tensor | None = None,
    *,
    names: Sequence[str] | None = None,
    device: str | torch.device = "auto",
    **encode_kw: object,
) -> pd.DataFrame:
    r"""Where in the network do codes become unique? One row per ReLU layer, forward order.

    ``rr_layer``: redundancy ratio :math:`(N - D) / N` of that layer's codes alone;
    ``rr_prefix``: of the codes of layers ``0..i`` together (the last row is the whole code's
    RR). Given a model, ``x`` is encoded with :func:`encode` first and ``names`` come from the
    model. Each layer is cut out with :func:`select_bits` in turn (at most one layer's packed
    bits exist besides the codes); prefixes refine the previous prefix's groups by the layer's
    groups, so no prefix is ever materialized.
    """
    if isinstance(model_or_codes, nn.Module):
        if x is None:
            raise ValueError("per_layer_redundancy(model, x): x is required with a model")
        layout = code_layout(model_or_codes, tuple(x.shape[1:]), device=resolve_device(device))
        codes = encode(model_or_codes, x, device=device, **encode_kw)  # type: ignore[arg-type]
        names = [layer.name for layer in layout]
    elif isinstance(model_or_codes, NeuralCodes):
        codes = model_or_codes
    else:
        raise TypeError(
            f"per_layer_redundancy takes a model and images or NeuralCodes; got "
            f"{type(model_or_codes).__name__}"
        )
    sizes = codes.layer_sizes
    if not sizes:
        raise ValueError("these codes carry no layer_sizes; cannot split them into layers")
    if names is None:
        names = [f"relu{i}" for i in range(len(sizes))]
    elif len(names) != len(sizes):
        raise ValueError(f"names has {len(names)} entries for {len(sizes)} layers")
    n = len(codes)
    prefix = np.zeros(n, dtype=np.int64)
    rows, start = [], 0
    for i, size in enumerate(sizes):
        groups = distinct_codes(select_bits(codes, start, start + size))
        pair = prefix * groups.n_distinct + groups.inverse
        _, prefix = np.unique(pair, return_inverse=True)
        prefix = prefix.reshape(-1).astype(np.int64)
        d_prefix = int(prefix.max()) + 1
        rows.append({
            "layer": i, "name": names[i], "n_bits": size, "cum_bits": start + size,
            "distinct_layer": groups.n_distinct, "distinct_prefix": d_prefix,
            "rr_layer": (n - groups.n_distinct) / n, "rr_prefix": (n - d_prefix) / n,
        })
        start += size
    return pd.DataFrame(rows)
