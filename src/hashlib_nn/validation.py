"""Shared input checks and safe file writes (in the spirit of ``sklearn.utils.validation``).

The checks raise ``ValueError`` with a message that names the offending value and what is
accepted; the K-NN code (:mod:`hashlib_nn.hamming`, :mod:`hashlib_nn.hashing`,
:mod:`hashlib_nn.categorization`) and the shipped-results modules use the same ones, so the same
mistake gets the same message everywhere. :func:`atomic_write` and :func:`checksum` are what the
result stores and the shipped files are written with.

Nothing here changes a number: a check either passes a value through (as a plain ``int`` or a
1-D array) or rejects it, and :func:`check_chunk_size` only picks how many query rows are
processed at once (the K-NN results do not depend on it).

>>> check_k(9, n_train=100)
9
>>> check_k(0, n_train=100)
Traceback (most recent call last):
  ...
ValueError: k must be a positive integer; got k=0
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "BLOCK_BYTES",
    "MAX_CHUNK",
    "atomic_write",
    "canonical_json",
    "check_choice",
    "check_chunk_size",
    "check_k",
    "check_labels",
    "check_same_length",
    "checksum",
]

#: Target size of one (chunk_size, N_train) float32 distance block of the K-NN code.
BLOCK_BYTES = 32 * 2**20
#: Largest default query chunk of the K-NN code.
MAX_CHUNK = 4096


def check_same_length(n_a: int, n_b: int, name_a: str, name_b: str) -> None:
    """Two code sets must have the same number of bits."""
    if n_a != n_b:
        raise ValueError(
            f"{name_a} and {name_b} must have the same code length; got n_bits={n_a} and "
            f"n_bits={n_b} (a bare packed array counts 8 bits per byte: pass NeuralCodes to "
            "give the exact length)"
        )


def check_chunk_size(chunk_size: int | None, n_train: int, n_bits: int) -> int:
    """``chunk_size`` as an int; None picks one whose distance block is about
    :data:`BLOCK_BYTES` (at most :data:`MAX_CHUNK` rows)."""
    if chunk_size is None:
        per_row = 4 * max(n_train, n_bits)
        return int(min(MAX_CHUNK, max(1, BLOCK_BYTES // per_row)))
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int | np.integer) or (
        chunk_size < 1
    ):
        raise ValueError(f"chunk_size must be a positive integer or None; got {chunk_size!r}")
    return int(chunk_size)


def check_labels(labels: object, n_rows: int, name: str, codes_name: str) -> np.ndarray:
    """Labels as a 1-D array with one label per code row; a clear error otherwise."""
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of labels; got shape {y.shape}")
    if y.shape[0] != n_rows:
        raise ValueError(
            f"{name} has {y.shape[0]} labels but {codes_name} has {n_rows} rows; they must match"
        )
    return y


def check_k(k: int, n_train: int) -> int:
    """The number of neighbours as an int in [1, n_train]."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer; got k={k!r}")
    if k > n_train:
        raise ValueError(
            f"k={k} needs at least {k} training codes; got {n_train} (k must be in [1, {n_train}])"
        )
    return int(k)


def check_choice(value: object, accepted: Iterable[Any], what: str) -> None:
    """``value`` must be one of ``accepted``: "unknown <what> 'x'; accepted: 'a', 'b'"."""
    accepted = list(accepted)
    if value not in accepted:
        names = ", ".join(repr(a) for a in accepted)
        raise ValueError(f"unknown {what} {value!r}; accepted: {names}")


def canonical_json(obj: Any) -> bytes:
    """Compact JSON with sorted keys (NaN allowed): the bytes :func:`checksum` hashes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=True).encode()


def checksum(payload: Any) -> str:
    """SHA-256 (hex) of :func:`canonical_json` of ``payload``: a stored entry's checksum."""
    return hashlib.sha256(canonical_json(payload)).hexdigest()


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file in the target's folder, fsync, rename over the target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable (not possible on every OS)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
