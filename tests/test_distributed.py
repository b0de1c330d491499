"""Sweeps on a Dask cluster (hashlib_nn.experiments.cluster): a real LocalCluster of worker
processes on
loopback, the synthetic data set at smoke size. The workers write the store; a failed run is
reported without losing the others; worker results equal a local run bit for bit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")

import torch  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

from hashlib_nn.cli import main  # noqa: E402
from hashlib_nn.data import Dataset  # noqa: E402
from hashlib_nn.experiments import (  # noqa: E402
    RunConfig,
    RunResult,
    register_dataset,
    sweep,
    sweeps,
    unregister_dataset,
)
from hashlib_nn.experiments import cluster as hd  # noqa: E402
from hashlib_nn.experiments.cluster import RunFailure, SweepError  # noqa: E402
from hashlib_nn.experiments.presets import grid  # noqa: E402
from hashlib_nn.experiments.store import Store  # noqa: E402
from hashlib_nn.train import TrainConfig  # noqa: E402

SMOKE = ["run", "--preset", "smoke", "--chapter", "model_size", "--no-progress"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """Two single-threaded worker processes on loopback (as `hashlib-nn run --workers 2`)."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as c:  # fmt: skip
        yield c


@pytest.fixture(scope="module", autouse=True)
def broken() -> Iterator[str]:
    """A registered data set whose inputs are NaN: training raises FloatingPointError after
    epoch 1 (a genuine failure, on whichever worker runs it)."""
    x = np.full((64, 8), np.nan, dtype=np.float32)
    y = np.arange(64) % 2
    register_dataset("broken", Dataset("broken", x, y, x[:16], y[:16], (1, 1, 8), 2, ("a", "b")))
    yield "broken"
    unregister_dataset("broken")


@pytest.fixture()
def no_local_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Training in this (the client) process fails the test: work must go to the workers."""

    def refuse(*args: object) -> None:
        pytest.fail("trained in the client process, not on a worker")

    monkeypatch.setattr(sweeps, "train_one", refuse)
    monkeypatch.setattr(sweeps, "train_group", refuse)


def tiny(dataset: str = "synthetic", **kw: object) -> RunConfig:
    return RunConfig(dataset=dataset, width=kw.pop("width", 5), n_train=kw.pop("n_train", 100),  # type: ignore[arg-type]
                     train=TrainConfig(epochs=1, seed=0), metrics=("rr", "net"))  # fmt: skip


def test_cli_on_cluster_stores_runs_reports_failures_and_matches_local_runs(
    cluster: LocalCluster,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = Store(tmp_path / "store")
    argv = [*SMOKE, "--dataset", "synthetic", "--dataset", "broken",
            "--scheduler", cluster.scheduler_address, "--store", str(store.root)]  # fmt: skip
    with monkeypatch.context() as m:
        m.setattr(sweeps, "train_one", lambda *a: pytest.fail("trained in the client"))
        m.setattr(sweeps, "train_group", lambda *a: pytest.fail("trained in the client"))
        assert main(argv) == 1  # some runs failed
    err = capsys.readouterr().err
    assert "model_size: FAILED broken w=5 d=1 seed=0" in err  # as it happens
    summary = err.split("hashlib-nn: 2 runs failed (the others are stored):\n")[1].splitlines()
    # At the end, in the order they failed, each with its error and the worker it failed on.
    listed = sorted(summary[:2], key=lambda line: int(line.split(" w=")[1].split()[0]))
    for line, width in zip(listed, (5, 20), strict=True):
        assert line.startswith(f"  broken w={width} d=1 seed=0 [key ")
        assert "]: FloatingPointError: training loss became nan at epoch 1" in line
        assert "(on tcp://127.0.0.1:" in line
    assert summary[2].startswith("fix the cause and run the same command again")

    good = grid("model_size", "smoke", dataset="synthetic")
    assert sorted(store.keys()) == sorted(c.key for c in good)  # the two runs that finished
    assert not list(store.root.glob("*.corrupt")) and not store.stale_temporaries()

    # The same configs trained here, with the workers' one torch thread: bit-identical.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        local = {r.key: r for r in _collect(good)}
    finally:
        torch.set_num_threads(threads)
    for c in good:
        remote = store.get(c)
        assert remote is not None and remote.trainer == local[c.key].trainer
        assert remote.final.metrics == local[c.key].final.metrics  # exact float equality
        assert [h["loss"] for h in remote.history] == [h["loss"] for h in local[c.key].history]

    # Resuming on the cluster trains only the failed runs again (they fail again).
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "model_size (smoke): 4 runs, 2 to train" in err


def _collect(configs: list[RunConfig]) -> list[RunResult]:
    got: list[RunResult] = []
    sweep(configs, store=False, device="cpu", scheduler=False, on_result=got.append)
    return got


def test_keep_going_lists_failures_and_store_not_shared_falls_back(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    no_local_training: None,
) -> None:  # fmt: skip
    store = Store(tmp_path / "client-view")
    # The workers write elsewhere, as on a machine whose folder is not shared with the client.
    elsewhere = tmp_path / "worker-view"
    monkeypatch.setattr(hd, "_store_root_for_workers", lambda st: str(elsewhere))
    good, bad = tiny(), tiny("broken", n_train=None)
    with Client(cluster) as client:
        with pytest.warns(hd.StoreNotSharedWarning, match="not shared with the workers"):
            with pytest.raises(SweepError) as info:
                sweep([good, bad], store=store, scheduler=client, keep_going=True)
    err = info.value
    assert [f.key for f in err.failures] == [bad.key] and err.n_runs == 2
    failure = err.failures[0]
    assert isinstance(failure, RunFailure) and failure.where.startswith("tcp://127.0.0.1:")
    assert failure.error.startswith("FloatingPointError: training loss became nan")
    assert "train.py" in failure.traceback  # the worker's traceback travels back
    assert "1 of 2 runs failed" in str(err) and bad.describe() in str(err)
    assert set(err.frame["key"]) == {good.key}
    assert store.keys() == [good.key] and Store(elsewhere).keys() == [good.key]
    assert store.get(good) == Store(elsewhere).get(good)  # the client wrote what it received


def test_first_failure_is_raised_as_on_the_worker_env_var_names_the_scheduler(
    cluster: LocalCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    no_local_training: None,
) -> None:  # fmt: skip
    monkeypatch.setenv(hd.ENV_VAR, cluster.scheduler_address)
    store = Store(tmp_path / "store")
    with pytest.raises(FloatingPointError, match=r"training loss became nan at epoch 1"):
        sweep([tiny("broken", n_train=None)], store=store)  # scheduler=None: $HASHLIB_NN_SCHEDULER
    assert store.keys() == []


def test_workers_option_starts_a_local_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_local_training: None
) -> None:
    argv = [*SMOKE, "--dataset", "broken", "--workers", "1", "--store", str(tmp_path / "s")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "training on 1 local worker processes (1 workers)" in err
    assert "2 runs failed" in err and "FloatingPointError" in err


@pytest.mark.parametrize("address", [
    "tcp://10.0.0.5:8786", "tls://sched.example.org:8786", "127.0.0.1:8786", "localhost",
    "tcp://[::1]:8786", "ws://node-3:8786/",
])  # fmt: skip
def test_addresses_of_the_accepted_form(address: str) -> None:
    assert hd.check_address(f" {address} ") == address


def test_scheduler_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(hd.ENV_VAR, raising=False)
    assert hd.scheduler_address() is None and hd.resolve_scheduler(None) is None
    monkeypatch.setenv(hd.ENV_VAR, "tcp://a:1")
    assert hd.resolve_scheduler(None) == "tcp://a:1"
    assert hd.resolve_scheduler("tcp://b:2") == "tcp://b:2"
    assert hd.resolve_scheduler(False) is None
    monkeypatch.setenv(hd.ENV_VAR, "  ")
    assert hd.resolve_scheduler(None) is None


def test_failure_summary_is_json_friendly() -> None:
    c = tiny()
    f = RunFailure.from_exception(c, ValueError("bad thing\nmore"))
    assert f.error == "ValueError: bad thing" and f.where == "local"
    json.dumps({"key": f.key, "error": f.error, "traceback": f.traceback})
