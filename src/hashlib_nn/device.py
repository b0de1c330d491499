"""Device resolution, done once per call site: ``"auto"`` means CUDA when available, else CPU."""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]

_ACCEPTED = "'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device"


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``device`` into a concrete :class:`torch.device`.

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(device, torch.device):
        dev = device
    elif isinstance(device, str):
        if device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            dev = torch.device(device)
        except (RuntimeError, ValueError):
            raise ValueError(f"device must be {_ACCEPTED}; got {device!r}") from None
    else:
        raise TypeError(f"device must be {_ACCEPTED}; got {type(device).__name__} {device!r}")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be {_ACCEPTED}; got {device!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r} asked for CUDA, but torch.cuda.is_available() is False on this "
            "machine; use device='auto' or 'cpu'"
        )
    return dev
