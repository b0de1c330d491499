"""Neural codes: the binary activation pattern of every hidden ReLU unit (paper, Sec. 3).

A ReLU network is affine on each set of inputs that share an activation pattern (a *linear
region*). The pattern, one bit per hidden ReLU unit (1 iff the unit's output is > 0), is the
input's *neural code*. Codes are extracted in inference mode (BatchNorm uses its running
statistics, dropout is off), in batches, and packed to bits on the device they were computed on:
they never exist as an int8 or float matrix in host memory.

Packed format (used by every metric in :mod:`hashlib_nn.metrics`): ``np.packbits(bits, axis=1)``
with big bit order, a C-contiguous ``uint8`` array of shape ``(N, ceil(n_bits / 8))`` whose
padding bits are zero.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from hashlib_nn.device import resolve_device

__all__ = [
    "NeuralCodes",
    "RegionCheck",
    "as_packed",
    "check_finite",
    "check_same_region",
    "input_mismatch",
    "neural_codes",
    "relu_modules",
]

_BIT_WEIGHTS = (128, 64, 32, 16, 8, 4, 2, 1)


@dataclass(frozen=True)
class NeuralCodes:
    """Packed neural codes of N inputs.

    packed: uint8 (N, ceil(n_bits / 8)), ``np.packbits`` layout, zero padding bits.
    n_bits: number of hidden ReLU units (code length in bits).
    layer_sizes: bits contributed by each ReLU call, in forward order (sums to ``n_bits``).
    """

    packed: np.ndarray
    n_bits: int
    layer_sizes: tuple[int, ...] = field(default=())

    def __post_init__(self) -> None:
        packed = self.packed
        if not isinstance(packed, np.ndarray) or packed.dtype != np.uint8 or packed.ndim != 2:
            raise TypeError(
                "NeuralCodes.packed must be a 2-D uint8 array (np.packbits layout); got "
                f"{_describe(packed)}"
            )
        expected = (self.n_bits + 7) // 8
        if self.n_bits < 1 or packed.shape[1] != expected:
            raise ValueError(
                f"NeuralCodes: n_bits={self.n_bits} needs {expected} bytes per row; "
                f"packed has shape {packed.shape}"
            )
        if self.layer_sizes and sum(self.layer_sizes) != self.n_bits:
            raise ValueError(
                f"NeuralCodes: layer_sizes {self.layer_sizes} sum to {sum(self.layer_sizes)}, "
                f"not n_bits={self.n_bits}"
            )

    def __len__(self) -> int:
        return int(self.packed.shape[0])

    @property
    def n_bytes(self) -> int:
        return int(self.packed.shape[1])

    def unpack(self) -> np.ndarray:
        """The codes as a (N, n_bits) uint8 matrix of 0/1 (allocates N * n_bits bytes)."""
        return np.unpackbits(self.packed, axis=1, count=self.n_bits)

    def __getitem__(self, index: slice | np.ndarray) -> NeuralCodes:
        """Rows selected by a slice, an integer index array or a boolean mask."""
        return NeuralCodes(np.ascontiguousarray(self.packed[index]), self.n_bits, self.layer_sizes)

    def layer(self, i: int) -> NeuralCodes:
        """The codes of the i-th ReLU layer alone (re-packed)."""
        if not self.layer_sizes:
            raise ValueError("these codes carry no layer_sizes; cannot select a layer")
        if not -len(self.layer_sizes) <= i < len(self.layer_sizes):
            raise IndexError(f"layer {i} out of range for {len(self.layer_sizes)} layers")
        i %= len(self.layer_sizes)
        start = sum(self.layer_sizes[:i])
        bits = self.unpack()[:, start : start + self.layer_sizes[i]]
        return NeuralCodes(np.packbits(bits, axis=1), self.layer_sizes[i], (self.layer_sizes[i],))

    @classmethod
    def from_bits(cls, bits: np.ndarray, layer_sizes: tuple[int, ...] = ()) -> NeuralCodes:
        """Pack a (N, n_bits) matrix of 0/1 (any integer or bool dtype)."""
        bits = np.asarray(bits)
        if bits.ndim != 2:
            raise ValueError(f"bits must be 2-D (N, n_bits); got shape {bits.shape}")
        if bits.dtype != np.bool_:
            if not np.issubdtype(bits.dtype, np.integer) or (bits.size and (
                bits.min() < 0 or bits.max() > 1
            )):
                raise ValueError(f"bits must hold only 0 and 1; got dtype {bits.dtype}")
        return cls(np.packbits(bits.astype(bool), axis=1), int(bits.shape[1]), layer_sizes)


def as_packed(codes: NeuralCodes | np.ndarray) -> tuple[np.ndarray, int]:
    """(packed uint8 rows, n_bits) from NeuralCodes or a 2-D packed uint8 array.

    A bare array is taken to be packed with all ``8 * n_bytes`` bits meaningful.
    """
    if isinstance(codes, NeuralCodes):
        return codes.packed, codes.n_bits
    if isinstance(codes, np.ndarray) and codes.dtype == np.uint8 and codes.ndim == 2:
        if codes.shape[1] == 0:
            raise ValueError("codes have zero bytes per row; a code needs at least one bit")
        return np.ascontiguousarray(codes), int(codes.shape[1]) * 8
    raise TypeError(
        "codes must be NeuralCodes or a 2-D uint8 array of packed bits (np.packbits); got "
        f"{_describe(codes)}"
    )


def _describe(x: object) -> str:
    if isinstance(x, np.ndarray | torch.Tensor):
        return f"{type(x).__name__} of dtype {x.dtype} and shape {tuple(x.shape)}"
    return type(x).__name__


def relu_modules(model: nn.Module) -> list[nn.ReLU]:
    """The model's ``nn.ReLU`` modules, in registration order; an error if it has none."""
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    if not relus:
        leaves = [type(m).__name__ for m in model.modules() if not list(m.children())]
        found = ", ".join(leaves) if leaves else "no modules"
        raise ValueError(
            f"model has no nn.ReLU modules; found {found}. Neural codes need ReLU activations "
            "registered as nn.ReLU modules (functional F.relu calls cannot be hooked)."
        )
    return relus


def _position(index: tuple[int, ...]) -> str:
    """``row 4, column 17`` for a 2-D index, ``row 4`` for 1-D, ``index (4, 0, 3)`` beyond."""
    if len(index) == 1:
        return f"row {index[0]}"
    if len(index) == 2:
        return f"row {index[0]}, column {index[1]}"
    return f"index {index}"


def check_finite(x: np.ndarray | torch.Tensor, name: str = "x", *,
                 batch_size: int = 8192) -> None:  # fmt: skip
    """Raise ``ValueError`` if ``x`` holds NaN or infinite values, saying how many and where.

    A NaN input would otherwise be coded silently (``NaN > 0`` is False, so every unit it
    reaches reads as off). The message counts NaN and infinite values, the rows holding them,
    and gives the first position (row and column for a 2-D ``x``). Integer and boolean inputs
    pass without a scan. ``x`` is scanned ``batch_size`` rows at a time (no full-size mask).
    """
    is_tensor = isinstance(x, torch.Tensor)
    if is_tensor:
        floating = x.is_floating_point() or x.is_complex()
    else:
        floating = np.issubdtype(np.asarray(x).dtype, np.inexact)
    if not floating or len(x) == 0:
        return
    n_nan = n_inf = n_rows = 0
    first: tuple[int, ...] | None = None
    for start in range(0, len(x), batch_size):
        xb = x[start : start + batch_size]
        if is_tensor:
            bad_t = ~torch.isfinite(xb)
            if not bool(bad_t.any()):
                continue
            bad = bad_t.cpu().numpy()
            nan = int(torch.isnan(xb).sum())
        else:
            xb = np.asarray(xb)
            bad = ~np.isfinite(xb)
            if not bad.any():
                continue
            nan = int(np.isnan(xb).sum())
        count = int(bad.sum())
        n_nan += nan
        n_inf += count - nan
        n_rows += int(bad.reshape(len(bad), -1).any(axis=1).sum())
        if first is None:
            where = np.argwhere(bad)[0]
            first = (start + int(where[0]), *(int(i) for i in where[1:]))
    if first is None:
        return
    total = n_nan + n_inf
    raise ValueError(
        f"{name} holds {total} NaN or infinite value{'s' if total != 1 else ''} ({n_nan} NaN, "
        f"{n_inf} inf) in {n_rows} of {len(x)} rows; the first at {_position(first)}. Neural "
        "codes need finite inputs: drop or impute those values first"
    )


def _first_layer(model: nn.Module) -> nn.Module | None:
    """The first Linear or ConvNd module in registration order (None if none, or lazy)."""
    for m in model.modules():
        if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d):
            return None if isinstance(m, nn.modules.lazy.LazyModuleMixin) else m
    return None


def input_mismatch(model: nn.Module, x: np.ndarray | torch.Tensor) -> str | None:
    """An error message if ``x``'s feature (or channel) count differs from what the model's
    first layer takes, else None.

    The first layer is the first ``nn.Linear`` or ``nn.ConvNd`` module in registration order;
    a Linear is compared with the last axis of ``x`` (all axes after the first when an
    ``nn.Flatten`` comes before it), a ConvNd with axis 1 of an (N, C, ...) input. A model
    that starts otherwise is not judged (None). Registration order is not always forward order,
    so callers confirm the mismatch with a failing forward pass before raising.
    """
    layer = _first_layer(model)
    shape = tuple(int(s) for s in x.shape)
    if layer is None or len(shape) < 2:
        return None
    if isinstance(layer, nn.Linear):
        flatten = False
        for m in model.modules():
            if m is layer:
                break
            flatten = flatten or isinstance(m, nn.Flatten)
        got = int(np.prod(shape[1:])) if flatten else shape[-1]
        expected, what = int(layer.in_features), "input features"
    else:
        dims = {nn.Conv1d: 3, nn.Conv2d: 4, nn.Conv3d: 5}[type(layer)]
        if len(shape) != dims:
            return None
        got, expected, what = shape[1], int(layer.in_channels), "input channels"
    if got == expected:
        return None
    return (
        f"the model's first layer ({type(layer).__name__}) expects {expected} {what} per "
        f"sample; got x with {got} (shape {shape})"
    )


def _pack_rows(bits: torch.Tensor) -> torch.Tensor:
    """Pack a (B, n) bool tensor to (B, ceil(n/8)) uint8 on its own device (np.packbits layout)."""
    if bits.device.type == "cpu":  # numpy's packbits is about 8x faster than the torch ops
        return torch.from_numpy(np.packbits(bits.numpy(), axis=1))
    b, n = bits.shape
    pad = (-n) % 8
    if pad:
        bits = torch.cat([bits, bits.new_zeros(b, pad)], dim=1)
    weights = torch.tensor(_BIT_WEIGHTS, dtype=torch.uint8, device=bits.device)
    return (bits.view(b, -1, 8).to(torch.uint8) * weights).sum(dim=2, dtype=torch.uint8)


def _batches(x: np.ndarray | torch.Tensor, batch_size: int) -> Iterator[np.ndarray | torch.Tensor]:
    for start in range(0, len(x), batch_size):
        yield x[start : start + batch_size]


class _Recorder:
    """Forward hooks on ReLU modules that keep each call's ``output > 0`` flattened per sample."""

    def __init__(self, relus: list[nn.ReLU]):
        self.bits: list[torch.Tensor] = []
        self.handles = [r.register_forward_hook(self._hook) for r in relus]

    def _hook(self, module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        # Compare now: an in-place op later in the forward pass could modify `output`.
        self.bits.append((output > 0).reshape(output.shape[0], -1))

    def take(self) -> list[torch.Tensor]:
        bits, self.bits = self.bits, []
        return bits

    def close(self) -> None:
        for h in self.handles:
            h.remove()


@torch.no_grad()
def neural_codes(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    *,
    batch_size: int = 8192,
    device: str | torch.device = "auto",
    return_logits: bool = False,
) -> NeuralCodes | tuple[NeuralCodes, np.ndarray]:
    """Neural codes of ``x`` under ``model``: one bit per hidden ReLU output, 1 iff > 0.

    The model is put in eval mode for the extraction and its previous mode restored afterwards.
    Every call of every ``nn.ReLU`` module contributes the flattened output of that call (for a
    convolutional network, one bit per channel and spatial position), concatenated in forward
    order. With ``return_logits`` the model outputs are returned too (float32, on the host), so
    the network's own accuracy costs no second pass.

    Raises ``ValueError`` for NaN or infinite inputs (:func:`check_finite`: how many, the first
    row and column) and for inputs whose feature count differs from the model's first layer
    (:func:`input_mismatch`: both numbers), before torch's own shape error.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size}")
    if len(x) == 0:
        raise ValueError("x holds no inputs; neural codes need at least one")
    dev = resolve_device(device)
    relus = relu_modules(model)
    mismatch = input_mismatch(model, x)
    was_training = model.training
    model.eval()
    recorder = _Recorder(relus)
    # Filled batch by batch (allocated once the first batch gives the widths), so the peak is
    # the codes plus one batch, not the codes twice as a concatenation of parts would make it.
    packed: np.ndarray | None = None
    logits: np.ndarray | None = None
    layer_sizes: tuple[int, ...] = ()
    start = 0
    try:
        for xb in _batches(x, batch_size):
            xt = torch.as_tensor(xb).to(dev, dtype=torch.float32, non_blocking=True)
            # A NaN or infinite input makes the batch's sum non-finite (one cheap reduction, 4x
            # cheaper than a mask over x); only then is x scanned (check_finite raises with how
            # many and where, or passes when the sum only overflowed).
            if not bool(torch.isfinite(xt.sum())):
                check_finite(x, "x", batch_size=batch_size)
            try:
                out = model(xt)
            except RuntimeError as err:  # torch's "mat1 and mat2 shapes cannot be multiplied"
                if mismatch is not None:
                    raise ValueError(mismatch) from err
                raise
            layers = recorder.take()
            sizes = tuple(int(t.shape[1]) for t in layers)
            if not layer_sizes:
                layer_sizes = sizes
            elif sizes != layer_sizes:
                raise RuntimeError(
                    "the model's ReLU layers changed size between batches: "
                    f"{layer_sizes} vs {sizes}"
                )
            part = _pack_rows(torch.cat(layers, dim=1)).cpu().numpy()
            stop = start + part.shape[0]
            if packed is None:
                packed = np.empty((len(x), part.shape[1]), dtype=np.uint8)
            packed[start:stop] = part
            if return_logits:
                out_np = out.float().cpu().numpy()
                if logits is None:
                    logits = np.empty((len(x), *out_np.shape[1:]), dtype=np.float32)
                logits[start:stop] = out_np
            start = stop
    finally:
        recorder.close()
        model.train(was_training)
    assert packed is not None  # x holds at least one input (checked above)
    codes = NeuralCodes(packed, int(sum(layer_sizes)), layer_sizes)
    if return_logits:
        return codes, logits
    return codes


@dataclass(frozen=True)
class RegionCheck:
    """Result of :func:`check_same_region` for one pair of inputs."""

    same_code: bool  # the two endpoints share a neural code
    midpoint_same_code: bool  # the midpoint has that code too
    max_abs_deviation: float  # max |f(mid) - (f(a) + f(b)) / 2| over outputs
    affine: bool  # same_code and midpoint_same_code and deviation within tolerance


@torch.no_grad()
def check_same_region(
    model: nn.Module,
    a: np.ndarray | torch.Tensor,
    b: np.ndarray | torch.Tensor,
    *,
    points: int = 9,
    atol: float = 1e-4,
    device: str | torch.device = "auto",
) -> RegionCheck:
    """Test "one code = one linear region" on the segment between two inputs.

    If ``a`` and ``b`` share a code, the region is convex (an intersection of half-spaces), so
    every point on the segment has the same code and the network (in eval mode) is affine
    there: f(t a + (1 - t) b) = t f(a) + (1 - t) f(b). Checked at ``points`` interior points,
    the midpoint among them.
    """
    if points < 1:
        raise ValueError(f"points must be a positive integer; got {points}")
    dev = resolve_device(device)
    was_training = model.training
    model.eval()
    try:
        a64 = torch.as_tensor(np.asarray(a), dtype=torch.float64).reshape(1, -1)
        b64 = torch.as_tensor(np.asarray(b), dtype=torch.float64).reshape(1, -1)
        if a64.shape != b64.shape:
            raise ValueError(f"a and b must have the same shape; got {a.shape} and {b.shape}")
        t = torch.linspace(0, 1, points + 2, dtype=torch.float64)[1:-1].reshape(-1, 1)
        if points % 2 == 1:
            t[points // 2] = 0.5
        seg = t * a64 + (1 - t) * b64
        x = torch.cat([a64, b64, seg]).to(torch.float32).reshape(-1, *np.shape(a))
        codes, logits = neural_codes(model, x, device=dev, return_logits=True)
    finally:
        model.train(was_training)
    packed = codes.packed
    same = bool((packed[0] == packed[1]).all())
    mid_same = bool((packed[2:] == packed[0]).all())
    f = torch.as_tensor(logits, dtype=torch.float64)
    expected = t * f[0] + (1 - t) * f[1]
    dev_max = float((f[2:] - expected).abs().max())
    scale = max(1.0, float(f[:2].abs().max()))
    return RegionCheck(same, mid_same, dev_max, same and mid_same and dev_max <= atol * scale)
