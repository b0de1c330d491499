"""CIFAR-10 end to end: every chapter picks the original's CIFAR-10 grids (depth 5) at every
preset, the same grids run on Fashion-MNIST with ``protocol="cifar-mlp"``, and with the official
python-version files in the data folder the grid chapters, the ``hashlib-nn`` command and the
whole book run with one parameter (``dataset cifar10``), here on small synthetic files written in
the official format (``cifar_files``)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from cifar_files import file_md5s, write_cifar10_folder

from hashlib_nn import book
from hashlib_nn import data as D
from hashlib_nn.experiments import RunConfig
from hashlib_nn.experiments.presets import (
    ALL_CHAPTERS,
    CHAPTERS,
    DATASET_PROTOCOLS,
    PRESETS,
    PROTOCOLS,
    chapter_params,
    grid,
    protocol_for,
)

ROOT = Path(__file__).resolve().parents[1]
CIFAR_TOTALS = list(range(50, 1001, 50))  # 10..200 units per layer
CIFAR_SAMPLE_TOTALS = [50, 100, 200, 400]  # 10, 20, 40, 80 units per layer
CIFAR_SIZES = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, None]  # 40000 = all

# ------------------------------------------------------------------------------ the grids


def test_protocol_table() -> None:
    assert PROTOCOLS == {"mnist-mlp": 1, "cifar-mlp": 5}
    assert DATASET_PROTOCOLS == {
        "mnist": "mnist-mlp",
        "fashion-mnist": "mnist-mlp",
        "cifar10": "cifar-mlp",
    }
    assert protocol_for("cifar10") == "cifar-mlp"
    assert protocol_for("synthetic") == "mnist-mlp"  # registered data sets
    assert protocol_for("cifar10", "mnist-mlp") == "mnist-mlp"
    with pytest.raises(ValueError, match=re.escape(
        "unknown protocol 'cifar'; accepted: 'mnist-mlp', 'cifar-mlp'"
    )):  # fmt: skip
        protocol_for("mnist", "cifar")


@pytest.mark.parametrize("preset", list(PRESETS))
@pytest.mark.parametrize("chapter", list(ALL_CHAPTERS))
def test_every_chapter_runs_depth_5_on_cifar10(chapter: str, preset: str) -> None:
    plan = chapter_params(chapter, preset, dataset="cifar10")
    assert len(plan) > 0
    assert {c.dataset for c in plan} == {"cifar10"}
    assert {c.depth for c in plan} == {5}
    assert all(c.width % 5 == 0 for c in plan)
    if preset == "smoke":  # tiny: at most 20 units per layer, 1,000 examples, 2 epochs
        assert max(c.width for c in plan) <= 100
        assert all(c.n_train is not None and c.n_train <= 1000 for c in plan)
        assert max(c.train.epochs for c in plan) <= 2 and max(c.seed for c in plan) == 0


@pytest.mark.parametrize("preset", ["standard", "paper"])
def test_cifar10_grids_are_the_original_ones(preset: str) -> None:
    ms = grid("model_size", preset, dataset="cifar10", repeats=1)
    assert [c.width for c in ms] == CIFAR_TOTALS and {c.n_train for c in ms} == {None}
    tt = grid("training_time", preset, dataset="cifar10", repeats=1)
    assert [c.width for c in tt] == CIFAR_SAMPLE_TOTALS
    ss = grid("sample_size", preset, dataset="cifar10", repeats=1)
    assert list(dict.fromkeys(c.width for c in ss)) == CIFAR_SAMPLE_TOTALS
    assert list(dict.fromkeys(c.n_train for c in ss)) == CIFAR_SIZES
    # the factor chapters at CIFAR-10 widths of our design, all multiples of depth 5
    assert {c.width for c in grid("regularization", preset, dataset="cifar10")} == {50, 100}
    assert {c.width for c in grid("label_noise", preset, dataset="cifar10")} == {200}
    phase = {c.width for c in grid("phase_chart", preset, dataset="cifar10")}
    assert phase == {50, 100, 200, 400, 600, 1000} and set(CIFAR_SAMPLE_TOTALS) <= phase


@pytest.mark.parametrize("preset", list(PRESETS))
@pytest.mark.parametrize("chapter", list(ALL_CHAPTERS))
def test_fashion_mnist_runs_the_cifar_protocol_on_request(chapter: str, preset: str) -> None:
    cifar = chapter_params(chapter, preset, dataset="cifar10")
    stand_in = chapter_params(chapter, preset, dataset="fashion-mnist", protocol="cifar-mlp")

    # The same grid point by point; the sample size 40,000 (all of CIFAR-10's split, None)
    # stays 40,000 examples of Fashion-MNIST's 48,000.
    def points(plan: Sequence[RunConfig]) -> list[tuple]:
        return [(c.width, c.depth, None if c.n_train == 40_000 else c.n_train, c.train,
                 c.checkpoints, c.label_noise) for c in plan]  # fmt: skip

    assert points(stand_in) == points(cifar)
    assert {c.dataset for c in stand_in} == {"fashion-mnist"}
    default = chapter_params(chapter, preset, dataset="fashion-mnist")
    assert {c.depth for c in default} == {1}


def test_protocol_parameter_from_papermill_strings() -> None:
    plan = chapter_params("model_size", "standard", dataset="['fashion-mnist']",
                          protocol="cifar-mlp", repeats="1")  # fmt: skip
    assert plan.params["protocol"] == "cifar-mlp"
    assert [c.width for c in plan] == CIFAR_TOTALS and {c.depth for c in plan} == {5}
    assert chapter_params("model_size", "smoke", dataset="cifar10", protocol="None")[0].depth == 5
    with pytest.raises(ValueError, match=re.escape(
        "chapter parameter 'protocol' must be None (each data set's) or one of 'mnist-mlp', "
        "'cifar-mlp'; got 'cifar' (str)"
    )):  # fmt: skip
        chapter_params("model_size", "smoke", protocol="cifar")


@pytest.mark.parametrize("chapter", [*CHAPTERS, "regularization", "phase_chart"])
def test_a_bad_dataset_name_lists_the_accepted_ones(chapter: str) -> None:
    with pytest.raises(ValueError, match=re.escape(
        "unknown dataset 'cifar-10-batches-py'; accepted: 'mnist', 'fashion-mnist', 'cifar10'"
    )):  # fmt: skip
        chapter_params(chapter, "smoke", dataset="cifar-10-batches-py")


def test_a_width_that_depth_5_cannot_split_is_explained() -> None:
    with pytest.raises(ValueError, match=re.escape(
        "width must be a positive multiple of depth=5"
    )):  # fmt: skip
        chapter_params("model_size", "smoke", dataset="cifar10", widths=[12])


# ---------------------------------------- synthetic CIFAR-10 files in the official format


@pytest.fixture(scope="module")
def cifar_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A data folder holding ``cifar-10-batches-py/`` (5 x 300 training and 300 test images,
    official layout) and the verified cache built from it, as the first load builds it from
    the official files; the environment of a process that uses it and an empty store."""
    base = tmp_path_factory.mktemp("cifar")
    data_root = base / "data"
    folder = data_root / D._CIFAR_FOLDER
    write_cifar10_folder(folder, n=300, n_test=300, learnable=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(D, "_CIFAR_FILE_MD5", file_md5s(folder))  # ours stand in for the official
        x_train, _, x_test, _ = D.load_raw("cifar10", root=data_root, download=False)
    assert x_train.shape == (1500, 32, 32, 3) and x_test.shape == (300, 32, 32, 3)
    env = {
        **os.environ,
        "HASHLIB_NN_DATA": str(data_root),
        "HASHLIB_NN_STORE": str(base / "store"),
        "HASHLIB_NN_CIFAR10_URL": "http://127.0.0.1:9/",  # never download
        "OMP_NUM_THREADS": "1",
        "HASHLIB_NN_THREADS": "1",
    }
    yield env


def _run(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


@pytest.mark.slow
def test_cli_runs_every_chapter_on_cifar10_at_smoke(cifar_env: dict[str, str]) -> None:
    start = time.perf_counter()
    done = _run([sys.executable, "-m", "hashlib_nn.cli", "run", "--preset", "smoke",
                 "--dataset", "cifar10", "--no-progress"], cifar_env, 300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    for chapter in ALL_CHAPTERS:
        assert f"{chapter} (smoke):" in done.stderr
    assert "cnn (smoke): 1 runs" in done.stderr
    out = Path(cifar_env["HASHLIB_NN_STORE"]).parent / "runs.csv"
    exported = _run([sys.executable, "-m", "hashlib_nn.cli", "export", "--preset", "smoke",
                     "--dataset", "cifar10", "--out", str(out)], cifar_env, 120)  # fmt: skip
    assert exported.returncode == 0, exported.stderr[-3000:]
    import pandas as pd

    rows = pd.read_csv(out)
    assert set(rows["dataset"]) == {"cifar10"} and set(rows["depth"]) == {5}
    wanted = {c.width for ch in ALL_CHAPTERS for c in grid(ch, "smoke", dataset="cifar10")}
    assert set(rows["width"]) == wanted
    print(f"hashlib-nn run, each chapter, smoke, CIFAR-10: {time.perf_counter() - start:.0f} s")


@pytest.mark.slow
def test_the_whole_book_runs_on_cifar10_with_one_parameter(
    cifar_env: dict[str, str], tmp_path: Path
) -> None:
    # Every chapter that takes a data set gets dataset=cifar10 (the preset only makes it fast).
    takes_dataset = [p.stem for p in book.chapters(ROOT) if "dataset" in book.parameter_names(p)]
    assert {"model_size", "training_time", "sample_size", "cnn", "phase_chart"} <= set(
        takes_dataset
    )
    start = time.perf_counter()
    done = _run([sys.executable, "-m", "hashlib_nn.book", "run", "-p", "dataset", "cifar10",
                 "-p", "preset", "smoke", "--out-dir", str(tmp_path), "--no-cache", "--jobs",
                 "1"], cifar_env, 600)  # fmt: skip
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    executed = {p.stem for p in tmp_path.glob("*.ipynb")}
    assert set(takes_dataset) <= executed
    nb = json.loads((tmp_path / "model_size.ipynb").read_text(encoding="utf-8"))
    text = "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))
    assert "2 runs: widths [25, 100]" in text  # depth 5: 5 and 20 units per layer
    print(f"the book at smoke on CIFAR-10: {time.perf_counter() - start:.0f} s")


@pytest.mark.slow
@pytest.mark.skipif(not D._DEBIAN_FASHION_DIR.is_dir(), reason="Fashion-MNIST is not installed "
                    "(apt-get install dataset-fashion-mnist)")  # fmt: skip
def test_model_size_chapter_runs_the_cifar_protocol_on_fashion_mnist(
    cifar_env: dict[str, str], tmp_path: Path
) -> None:
    done = _run([sys.executable, "-m", "hashlib_nn.book", "run", "model_size", "-p", "dataset",
                 "fashion-mnist", "-p", "protocol", "cifar-mlp", "-p", "preset", "smoke",
                 "--out-dir", str(tmp_path), "--no-cache"], cifar_env, 300)  # fmt: skip
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    nb = json.loads((tmp_path / "model_size.ipynb").read_text(encoding="utf-8"))
    text = "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))
    assert "2 runs: widths [25, 100]" in text  # CIFAR-10's smoke widths, not MNIST's [5, 20]
