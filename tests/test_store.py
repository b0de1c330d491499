"""The result store (hashlib_nn.experiments.store): atomic writes, checksums, recovery, queries."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from hashlib_nn.experiments import (
    RunConfig,
    RunResult,
    register_dataset,
    run,
    sweep,
    sweeps,
    synthetic_dataset,
    unregister_dataset,
)
from hashlib_nn.experiments.store import CorruptEntryWarning, Store, default_root, open_store
from hashlib_nn.train import TrainConfig


@pytest.fixture(scope="module")
def results() -> Iterator[list[RunResult]]:
    """Three trained runs on a tiny registered data set (trained once for the module)."""
    register_dataset("tiny-store", synthetic_dataset(n_train=200, n_test=80, dim=32, seed=2))
    out = [run(config(w, s), store=False, device="cpu") for w, s in ((4, 0), (4, 1), (8, 0))]
    yield out
    unregister_dataset("tiny-store")


def config(width: int = 4, seed: int = 0) -> RunConfig:
    return RunConfig("tiny-store", width=width, train=TrainConfig(epochs=1, seed=seed),
                     metrics=("rr", "net"))  # fmt: skip


@pytest.fixture()
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "results")


def test_put_get_round_trip(store: Store, results: list[RunResult]) -> None:
    r = results[0]
    path = store.put(r)
    assert path == store.root / f"{r.key}.json" and path.is_file()
    assert store.get(r.key).to_dict() == r.to_dict()
    assert store.get(r.config).to_dict() == r.to_dict()
    assert r.key in store and r.config in store and results[1].key not in store
    assert len(store) == 1 and store.keys() == [r.key]
    entry = json.loads(path.read_text())
    assert set(entry) == {"format", "schema", "key", "sha256", "payload"}


def test_root_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HASHLIB_NN_STORE", str(tmp_path / "env"))
    assert default_root() == tmp_path / "env" and Store().root == tmp_path / "env"
    assert open_store(tmp_path / "arg").root == tmp_path / "arg"
    s = Store(tmp_path / "x")
    assert open_store(s) is s
    monkeypatch.delenv("HASHLIB_NN_STORE")
    assert default_root().parts[-2:] == ("hashlib_nn", "results")
    with pytest.raises(TypeError, match="store must be a Store, a path or None; got int 3"):
        open_store(3)  # type: ignore[arg-type]


def test_a_leftover_temporary_file_is_never_read(store: Store, results: list[RunResult]) -> None:
    store.put(results[0])
    partial = store.root / f".{results[1].key}.abc123.tmp"
    partial.write_text('{"format": "hashlib_nn.run", "payl')  # a writer killed mid-way
    assert store.keys() == [results[0].key] and results[1].key not in store
    assert [r.key for r in store.results()] == [results[0].key]
    assert store.stale_temporaries() == [partial]


def test_a_failed_write_leaves_neither_entry_nor_temporary(
    store: Store, results: list[RunResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        store.put(results[0])
    monkeypatch.undo()
    assert store.keys() == [] and store.stale_temporaries() == []


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _edit(path: Path) -> None:
    entry = json.loads(path.read_text())
    entry["payload"]["checkpoints"][-1]["metrics"]["rr_train"] = 0.123  # valid JSON, wrong sum
    path.write_text(json.dumps(entry))


@pytest.mark.parametrize(("damage", "reason"), [
    (_truncate, "not readable JSON"),
    (_edit, "checksum mismatch (truncated or edited)"),
])  # fmt: skip
def test_a_damaged_entry_is_reported_and_recomputed(
    damage,
    reason: str,
    store: Store,
    results: list[RunResult],  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    r = results[0]
    path = store.put(r)
    damage(path)
    message = f"result store entry {path} is corrupt: {reason}"
    with pytest.warns(CorruptEntryWarning, match=re.escape(message)):
        assert store.get(r.key) is None
    assert not path.exists() and path.with_name(path.name + ".corrupt").exists()

    trained = []
    one = sweeps.train_one
    monkeypatch.setattr(sweeps, "train_one",
                        lambda c, d: trained.append(c) or one(c, d))  # fmt: skip
    sweep([r.config], store=store, device="cpu", progress=False)
    assert len(trained) == 1 and store.get(r.key) is not None


def test_a_damaged_entry_found_by_a_sweep_is_retrained(
    store: Store, results: list[RunResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    r = results[0]
    _truncate(store.put(r))
    trained = []
    one = sweeps.train_one
    monkeypatch.setattr(sweeps, "train_one",
                        lambda c, d: trained.append(c) or one(c, d))  # fmt: skip
    with pytest.warns(CorruptEntryWarning, match=re.escape(str(store.path(r.key)))):
        sweep([r.config], store=store, device="cpu", progress=False)
    assert len(trained) == 1 and store.get(r.key) is not None


def test_an_entry_of_another_schema_is_left_in_place(
    store: Store, results: list[RunResult]
) -> None:
    path = store.put(results[0])
    entry = json.loads(path.read_text())
    entry["schema"] = 999
    path.write_text(json.dumps(entry))
    with pytest.warns(CorruptEntryWarning, match="is intact but has schema 999"):
        assert store.get(results[0].key) is None
    assert path.exists()


def test_results_filters_and_frames(store: Store, results: list[RunResult], tmp_path: Path) -> None:
    for r in results:
        store.put(r)
    assert len(store.results()) == 3
    assert {r.config.width for r in store.results(width=8)} == {8}
    assert len(store.results(width=[4, 8], seed=0)) == 2
    assert len(store.results(n_train=200)) == 3  # all of the 200 examples (stored as None)
    assert [r.key for r in store.results([config(8), config(4, 5), config(4)])] == [
        results[2].key,
        results[0].key,
    ]  # present ones, in the order asked
    with pytest.raises(ValueError, match="cannot filter on 'colour'; accepted: .*width"):
        store.results(colour="red")

    frame = store.to_frame()
    assert len(frame) == sum(len(r.to_frame()) for r in results)
    limited = store.to_frame([config(4).replace(metrics=("rr",))])
    assert set(limited.measure) == {"rr", "collision", "n_distinct", "n_bits"}

    out = store.export_csv(tmp_path / "out" / "results.csv", width=4)
    back = pd.read_csv(out)
    assert len(back) == len(store.to_frame(width=4)) and set(back.width) == {4}
    assert {"key", "dataset", "width", "seed", "epoch", "metric", "value"} <= set(back.columns)


def test_empty_store(store: Store) -> None:
    assert store.keys() == [] and store.results() == [] and len(store) == 0
    assert store.to_frame().empty and "metric" in store.to_frame().columns


def test_keys_are_validated(store: Store) -> None:
    with pytest.raises(ValueError, match="a store key is 64 lowercase hex digits; got '../x'"):
        store.get("../x")
    assert "../x" not in store
