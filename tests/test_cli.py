"""The ``hashlib-nn`` command line (hashlib_nn.cli) on the smoke preset with a temporary store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from hashlib_nn import experiments
from hashlib_nn.cli import main

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

    trained = []
    one = experiments._train_one
    monkeypatch.setattr(experiments, "_train_one",
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
    one = experiments._train_one
    calls = []

    def second_is_interrupted(config, device):  # type: ignore[no-untyped-def]
        calls.append(config)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return one(config, device)

    monkeypatch.setattr(experiments, "_train_one", second_is_interrupted)
    assert main(SMOKE_RUN) == 130
    assert "interrupted; finished runs are stored" in capsys.readouterr().err
    assert len(list(isolated.glob("*.json"))) == 1
    monkeypatch.setattr(experiments, "_train_one", one)
    assert main(SMOKE_RUN) == 0
    assert len(list(isolated.glob("*.json"))) == 2


def test_sigterm_stops_the_run_instead_of_counting_as_a_failed_run(
    isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``run`` keeps going past runs that raise an Exception; SIGTERM must still stop it."""
    import signal

    one = experiments._train_one
    calls = []

    def first_gets_sigterm(config, device):  # type: ignore[no-untyped-def]
        calls.append(config)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGTERM)  # the CLI's handler raises at once
        return one(config, device)

    monkeypatch.setattr(experiments, "_train_one", first_gets_sigterm)
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
