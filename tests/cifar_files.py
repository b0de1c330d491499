"""Synthetic CIFAR-10 in the official python-version format (``cifar-10-batches-py``), for tests.

The official files are Python 2 cPickle dicts: ``data_batch_1`` .. ``data_batch_5`` and
``test_batch`` with ``b'data'`` (uint8, N x 3072: 1024 red, 1024 green, 1024 blue values, each
plane row-major 32 x 32) and ``b'labels'`` (N ints in 0..9), and ``batches.meta`` with
``b'label_names'``. :func:`write_cifar10_folder` writes such files; :func:`install_cifar10`
also builds the verified cache that :func:`hashlib_nn.data.load_raw` reads first, so that
other processes (papermill kernels, the ``hashlib-nn`` command) load the synthetic set without
the official md5s.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np

from hashlib_nn import data as D

_PurePythonPickler: Any = pickle._Pickler  # type: ignore[attr-defined]


class _Py2Pickler(_PurePythonPickler):
    """Protocol-2 pickler writing bytes as Python 2 ``str`` (BINSTRING), as cPickle did."""

    dispatch = _PurePythonPickler.dispatch.copy()

    def save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def py2_dump(obj: object, path: Path) -> None:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    path.write_bytes(buf.getvalue())


def write_cifar10_folder(
    folder: Path, n: int = 6, n_test: int = 5, *, seed: int = 7, learnable: bool = False
) -> dict[str, np.ndarray]:
    """Five training batches of ``n`` images and a test batch of ``n_test``, official layout.

    ``learnable``: each class gets its own mean colour (plus noise), so that a network can
    learn something in one epoch; otherwise the pixels are uniform noise.
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    centres = rng.integers(40, 216, (10, 3072))
    rows, labels = [], []
    for i, name in enumerate([*D._CIFAR_TRAIN_BATCHES, D._CIFAR_TEST_BATCH]):
        k = n_test if name == D._CIFAR_TEST_BATCH else n
        y = rng.integers(0, 10, k)
        if learnable:
            noise = rng.integers(-40, 41, (k, 3072))
            data = np.clip(centres[y] + noise, 0, 255).astype(np.uint8)
        else:
            data = rng.integers(0, 256, (k, 3072), dtype=np.uint8)
        batch = {
            b"batch_label": f"batch {i}".encode(),
            b"labels": y.tolist(),
            b"data": data,
            b"filenames": [f"img_{i}_{j}.png".encode() for j in range(k)],
        }
        py2_dump(batch, folder / name)
        rows.append(data)
        labels.append(y)
    names = [c.encode() for c in D._SPECS["cifar10"].class_names]
    py2_dump(
        {b"num_cases_per_batch": n, b"label_names": names, b"num_vis": 3072},
        folder / D._CIFAR_META,
    )
    return {
        "train_rows": np.concatenate(rows[:5]),
        "train_labels": np.concatenate(labels[:5]),
        "test_rows": rows[5],
        "test_labels": labels[5],
    }


def file_md5s(folder: Path) -> dict[str, str]:
    """md5 of each official member in ``folder`` (to stand in for the official md5s)."""
    return {m: hashlib.md5((folder / m).read_bytes()).hexdigest() for m in D._CIFAR_FILE_MD5}
