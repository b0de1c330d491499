"""The ``hashlib-nn`` command line (hashlib_nn.cli) on the smoke preset with a temporary store."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from hashlib_nn import cli, experiments
from hashlib_nn.cli import PROVENANCE_COLUMNS, RUN_ORDER, main
from hashlib_nn.cnn import CNNTrainConfig
from hashlib_nn.experiments import runner, sweeps
from hashlib_nn.experiments.config import CNNRunConfig, cnn_content_key
from hashlib_nn.experiments.presets import ALL_CHAPTERS, chapter_runs, grid
from hashlib_nn.experiments.result import CNNCheckpoint, CNNRunResult
from hashlib_nn.experiments.store import Store, put_cnn
from hashlib_nn.provenance import versions
from hashlib_nn.train import TrainConfig

ROOT = Path(__file__).resolve().parents[1]

SMOKE_RUN = ["run", "--preset", "smoke", "--chapter", "model_size", "--dataset", "synthetic"]


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    store = tmp_path / "store"
    monkeypatch.setenv("HASHLIB_NN_STORE", str(store))
    return store


def test_run_list_export_and_resume(
    isolated: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert main([*SMOKE_RUN, "--device", "cpu"]) == 0
    out, err = capsys.readouterr()
    assert "model_size (smoke): 2 runs, 2 to train" in err
    assert f"store {isolated}: 2 runs (2 new)" in out

    assert main(["list"]) == 0
    out, _ = capsys.readouterr()
    assert "synthetic" in out and f"2 runs in {isolated}" in out
    assert (
        main(["list", "--preset", "smoke", "--chapter", "determinism", "--dataset", "synthetic"])
        == 0
    )
    assert "2 of 2 runs of the grid are stored" in capsys.readouterr().out

    csv = tmp_path / "results.csv"
    assert main(["export", "--out", str(csv)]) == 0
    frame = pd.read_csv(csv)
    assert sorted(frame.width.unique()) == [5, 20] and set(frame.dataset) == {"synthetic"}
    assert {"rr_train", "net_acc_test", "knn_test"} <= set(frame.metric)
    check_provenance(frame, Store(isolated))

    trained = []
    one = sweeps.train_one
    monkeypatch.setattr(sweeps, "train_one",
                        lambda c, d: trained.append(c) or one(c, d))  # fmt: skip
    assert main([*SMOKE_RUN, "--chapter", "categorization"]) == 0
    assert trained == []  # everything was stored already
    assert "2 runs, 0 to train" in capsys.readouterr().err


def test_explicit_store_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other"
    assert main([*SMOKE_RUN, "--store", str(other), "--no-progress"]) == 0
    assert len(list(other.glob("*.json"))) == 2
    assert main(["list", "--store", str(tmp_path / "empty")]) == 0
    assert "(no runs)" in capsys.readouterr().out


def test_interrupt_keeps_finished_runs(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    one = sweeps.train_one
    calls = []

    def second_is_interrupted(config, device):  # type: ignore[no-untyped-def]
        calls.append(config)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return one(config, device)

    monkeypatch.setattr(sweeps, "train_one", second_is_interrupted)
    assert main(SMOKE_RUN) == 130
    assert "interrupted; finished runs are stored" in capsys.readouterr().err
    assert len(list(isolated.glob("*.json"))) == 1
    monkeypatch.setattr(sweeps, "train_one", one)
    assert main(SMOKE_RUN) == 0
    assert len(list(isolated.glob("*.json"))) == 2


def test_sigterm_stops_the_run_instead_of_counting_as_a_failed_run(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``run`` keeps going past runs that raise an Exception; SIGTERM must still stop it."""
    import signal

    one = sweeps.train_one
    calls = []

    def first_gets_sigterm(config, device):  # type: ignore[no-untyped-def]
        calls.append(config)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGTERM)  # the CLI's handler raises at once
        return one(config, device)

    monkeypatch.setattr(sweeps, "train_one", first_gets_sigterm)
    assert main(SMOKE_RUN) == 130
    err = capsys.readouterr().err
    assert "interrupted; finished runs are stored" in err and "FAILED" not in err
    assert len(calls) == 1  # the second run never started
    assert signal.getsignal(signal.SIGTERM) is not None  # the handler was restored


def test_presets_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for word in ("smoke", "quick", "standard", "paper", "training_time", "cpu_minutes"):
        assert word in out
    for chapter in RUN_ORDER:  # every chapter that `run` accepts is described
        assert re.search(rf"^\s*smoke\s+{chapter}\s", out, re.M), chapter


@pytest.mark.parametrize(("argv", "message"), [
    (["run", "--preset", "smoke", "--dataset", "nope"],
     "hashlib-nn: error: unknown dataset 'nope'"),
    (["run", "--device", "cuda:x"], "hashlib-nn: error: device must be"),
])  # fmt: skip
def test_errors_are_one_line_with_status_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1 and "Traceback" not in err


def test_entry_point_in_a_subprocess(isolated: Path) -> None:
    env = {**os.environ, "HASHLIB_NN_STORE": str(isolated), "CI": "true"}
    done = subprocess.run([sys.executable, "-m", "hashlib_nn.cli", "run", "--preset", "smoke",
                           "--chapter", "sample_size", "--dataset", "unknown-set"],
                          capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().startswith("hashlib-nn: error: unknown dataset 'unknown-set'")
    bad = subprocess.run([sys.executable, "-m", "hashlib_nn.cli", "frobnicate"],
                         capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert bad.returncode == 2  # argparse's usage error


def check_provenance(frame: pd.DataFrame, store: Store) -> None:
    """Every provenance column is there and equals what the store recorded for that run."""
    assert set(PROVENANCE_COLUMNS) <= set(frame.columns)
    key_columns = ["lr", "batch_size", "train_seconds", "created", "torch_version"]
    assert not frame[key_columns].isna().any().any()
    mine = versions()
    for key, rows in frame.groupby("key"):
        result = store.get(key)
        assert result is not None
        t = result.config.train
        assert set(rows.lr) == {t.lr} and set(rows.batch_size) == {t.batch_size}
        assert set(rows.lr_decay_every) == {t.lr_decay_every}
        assert set(rows.patience) == {t.patience}
        assert np.allclose(rows.train_seconds, result.train_seconds, rtol=1e-12)
        assert np.allclose(rows.eval_seconds, result.eval_seconds, rtol=1e-12)
        for cp in result.checkpoints:
            at = rows[rows.epoch == cp.epoch]
            assert len(at) and np.allclose(at.checkpoint_seconds, cp.seconds, rtol=1e-12)
        assert set(rows.created) == {result.created}
        datetime.fromisoformat(result.created)  # a date and time, not a placeholder
        assert set(rows.device) == {result.device} and set(rows.trainer) == {result.trainer}
        assert set(rows.torch_version) == {mine["torch"]}
        assert set(rows.sklearn_version) == {mine["sklearn"]}
        assert set(rows.hashlib_nn_version.astype(str)) == {mine["hashlib_nn"]}
        assert set(rows.git_commit.fillna("").astype(str)) == {mine["git_commit"] or ""}
        # the smoke grids on this data set that hold the run (model size, and the chapters
        # that share its runs: categorization, determinism; label noise's clean run at width 20)
        holding = [c for c in RUN_ORDER if c != "cnn" and key in {
            experiments.content_key(x) for x in grid(c, "smoke", dataset="synthetic")}]
        assert holding[:3] == ["model_size", "categorization", "determinism"]
        assert set(rows.presets) == {"smoke"} and set(rows.chapters) == {";".join(holding)}


def test_every_chapter_that_trains_is_a_cli_chapter() -> None:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    in_toc = [entry["file"] for entry in toc["chapters"]]
    assert set(RUN_ORDER) <= set(in_toc)
    # the toc's other pages train nothing: the root page, the claims, the notes and cite page
    assert set(in_toc) - set(RUN_ORDER) == {"claims", "why_numbers_differ", "appendix_compute",
                                            "cite"}  # fmt: skip
    assert set(RUN_ORDER) == set(ALL_CHAPTERS) | {"cnn"} and len(RUN_ORDER) == 9
    parser = cli._parser()
    for chapter in RUN_ORDER:
        assert parser.parse_args(["run", "--chapter", chapter]).chapter == [chapter]


def test_run_sends_each_chapter_its_own_grid(monkeypatch: pytest.MonkeyPatch) -> None:
    """`run` trains exactly the preset's grid of each chapter (presets.grid is the oracle) and
    the cnn chapter's plan (presets.chapter_runs)."""
    seen: dict[str, list] = {}

    def sweep_chapter(chapter, configs, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen[chapter] = list(configs)
        return pd.DataFrame({"key": [], "final": []})

    cnn_calls: list[dict] = []

    def fake_cnn_run(**kw):  # type: ignore[no-untyped-def]
        cnn_calls.append(kw)
        config = CNNRunConfig(kw["model_name"], kw["dataset"], 1, 1, CNNTrainConfig(epochs=1))
        return CNNRunResult(config, "k", [], [], 1, None, "cpu", {}, {}, [], {}, "",
                            from_store=True)  # fmt: skip

    monkeypatch.setattr(cli, "_sweep_chapter", sweep_chapter)
    monkeypatch.setattr(runner, "cnn_run", fake_cnn_run)
    argv = ["run", "--preset", "smoke", "--device", "cpu"]
    assert main([*argv, *(a for c in RUN_ORDER for a in ("--chapter", c)),
                 "--dataset", "mnist"]) == 0  # fmt: skip
    assert list(seen) == [c for c in RUN_ORDER if c != "cnn"]
    for chapter, configs in seen.items():
        assert configs == grid(chapter, "smoke", dataset=["mnist"]), chapter
    expected = chapter_runs("smoke", dataset="mnist")
    assert [{k: v for k, v in kw.items() if k not in ("store", "device", "log")}
            for kw in cnn_calls] == expected  # fmt: skip

    # with no --chapter every chapter runs; on a non-image data set the cnn chapter is skipped
    seen.clear()
    cnn_calls.clear()
    assert main([*argv, "--dataset", "synthetic"]) == 0
    assert list(seen) == [c for c in RUN_ORDER if c != "cnn"] and cnn_calls == []
    # ... and so it is on a cluster (CNN runs would train in this process)
    seen.clear()
    from hashlib_nn.experiments import cluster as distributed

    client = type("Client", (), {"nthreads": lambda self: {"w1": 1, "w2": 1}})()
    monkeypatch.setattr(distributed, "connect",
                        lambda address, workers: contextlib.nullcontext(client))  # fmt: skip
    assert main([*argv, "--workers", "2"]) == 0
    assert list(seen) == [c for c in RUN_ORDER if c != "cnn"] and cnn_calls == []


def test_cnn_chapter_on_a_non_image_data_set_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "--preset", "smoke", "--chapter", "cnn", "--dataset", "synthetic"]) == 2
    assert capsys.readouterr().err == (
        "hashlib-nn: error: the cnn chapter trains on images: --dataset must be one of 'mnist', "
        "'fashion-mnist', 'cifar10'; got 'synthetic'\n"
    )


def _stored_cnn_result(store: Path) -> CNNRunResult:
    """The smoke cnn chapter's run on MNIST, as cnn_run would store it (metrics made up)."""
    kw = chapter_runs("smoke", dataset="mnist")[0]
    train = CNNTrainConfig(epochs=kw["epochs"], seed=kw["seed"], hflip=False,
                           lr_decay_every=kw["lr_decay_every"])  # fmt: skip
    config = CNNRunConfig(kw["model_name"], "mnist", kw["n_train"], kw["n_test"], train,
                          checkpoints=kw["checkpoints"], bn_momentum=kw["bn_momentum"])  # fmt: skip
    checkpoints = [CNNCheckpoint(e, {"rr_train": 0.0, "knn_test": 0.5 + e / 10}, [], [], {})
                   for e in kw["checkpoints"]]  # fmt: skip
    result = CNNRunResult(config, cnn_content_key(config), checkpoints, [], 1, None, "cpu",
                          {"train": 1.5, "evaluate": 2.0, "total": 4.0}, {}, [], versions(),
                          "2026-12-05T08:00:00+00:00")  # fmt: skip
    put_cnn(store, result)
    return result


def test_list_and_export_the_cnn_chapter(
    isolated: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = _stored_cnn_result(isolated)
    assert main(["list", "--preset", "smoke", "--chapter", "cnn", "--dataset", "mnist"]) == 0
    out = capsys.readouterr().out
    assert "resnet8" in out and "1 of 1 CNN runs of the cnn chapter are stored" in out
    assert main(["list"]) == 0
    assert "(and 1 CNN runs in" in capsys.readouterr().out
    csv = tmp_path / "cnn.csv"
    assert main(["export", "--preset", "smoke", "--chapter", "cnn", "--dataset", "mnist",
                 "--out", str(csv)]) == 0  # fmt: skip
    frame = pd.read_csv(csv)
    assert len(frame) == 4 and set(frame.key) == {result.key}  # 2 checkpoints x 2 metrics
    assert set(frame.presets) == {"smoke"} and set(frame.lr) == {result.config.train.lr}
    assert set(frame.train_seconds) == {1.5} and set(frame.created) == {result.created}
    assert frame.set_index(["epoch", "metric"]).value[(1, "knn_test")] == pytest.approx(0.6)
    # the quick preset's cnn run is another run: nothing to export
    assert main(["export", "--preset", "quick", "--chapter", "cnn", "--dataset", "mnist",
                 "--out", str(tmp_path / "none.csv")]) == 2  # fmt: skip
    assert "no stored runs match --preset quick --chapter cnn --dataset mnist" in (
        capsys.readouterr().err)
    assert main(["export", "--chapter", "cnn", "--chapter", "model_size", "--out",
                 str(csv)]) == 2  # fmt: skip
    assert capsys.readouterr().err.startswith(
        "hashlib-nn: error: export the cnn chapter on its own (--chapter cnn)")


@pytest.mark.parametrize(("argv", "named"), [
    ([], "(no filter: the whole store)"),
    (["--preset", "smoke", "--chapter", "training_time", "--dataset", "synthetic"],
     "--preset smoke --chapter training_time --dataset synthetic"),
    (["--dataset", "fashion-mnist"], "--dataset fashion-mnist"),
])  # fmt: skip
def test_export_refuses_an_empty_selection_and_names_the_filter(
    argv: list[str], named: str, isolated: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    experiments.run(experiments.RunConfig(dataset="synthetic", width=4, n_train=100,
                                          metrics=("rr",), train=TrainConfig(epochs=1)),
                    store=isolated, device="cpu")  # fmt: skip
    if not argv:  # the whole store: empty it first
        for path in isolated.glob("*.json"):
            path.unlink()
    out = tmp_path / "results.csv"
    assert main(["export", "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert err == (f"hashlib-nn: error: no stored runs match {named} in {isolated}; nothing "
                   f"written to {out}. See what is stored with `hashlib-nn list`, or train the "
                   "selection with `hashlib-nn run` and the same options\n")  # fmt: skip
    assert not out.exists() and not list(tmp_path.glob(".results.csv.*"))


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_export_writes_files_with_the_umask_mode(
    umask: int, mode: int, isolated: Path, tmp_path: Path
) -> None:
    experiments.run(experiments.RunConfig(dataset="synthetic", width=4, n_train=100,
                                          metrics=("rr",), train=TrainConfig(epochs=1)),
                    store=isolated, device="cpu")  # fmt: skip
    out = tmp_path / "results.csv"
    old = os.umask(umask)
    try:
        assert main(["export", "--out", str(out)]) == 0
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == mode
    assert len(pd.read_csv(out)) > 0


def test_export_names_another_protocols_grid_with_its_protocol() -> None:
    """A depth-5 (cifar-mlp) model-size run on a depth-1 data set belongs to
    "model_size.cifar-mlp"; a run of the data set's own grid to "model_size"."""
    from types import SimpleNamespace

    deep = grid("model_size", "smoke", dataset="synthetic", protocol="cifar-mlp")[0]
    own = grid("model_size", "smoke", dataset="synthetic")[0]
    runs = [SimpleNamespace(key=c.key, config=c) for c in (deep, own)]
    got = cli._membership(runs)  # type: ignore[arg-type]
    # (categorization and determinism share the model-size grid: their names carry it too)
    assert got[deep.key] == ("smoke", "model_size.cifar-mlp;categorization.cifar-mlp;"
                                      "determinism.cifar-mlp")
    assert got[own.key][0] == "smoke" and got[own.key][1].split(";")[0] == "model_size"
    assert "cifar-mlp" not in got[own.key][1]
