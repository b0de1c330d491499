"""Run configs, content keys, run/sweep, presets and chapter parameters (hashlib_nn.experiments,
hashlib_nn.experiments.presets). Training uses a tiny registered synthetic data set: seconds, no
files."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hashlib_nn import experiments
from hashlib_nn.experiments import (
    RunConfig,
    RunResult,
    content_key,
    notebook_progress,
    register_dataset,
    run,
    runner,
    show_progress,
    sweep,
    sweeps,
    synthetic_dataset,
    unregister_dataset,
)
from hashlib_nn.experiments.presets import (
    CHAPTERS,
    PRESETS,
    TRAINING_TIME_CHECKPOINTS,
    chapter_params,
    describe_presets,
    grid,
)
from hashlib_nn.experiments.store import Store
from hashlib_nn.train import TrainConfig

FAST = ("rr", "net")


@pytest.fixture()
def tiny() -> Iterator[str]:
    """A 300-example, 64-feature, 10-class data set registered as "tiny"."""
    register_dataset("tiny", synthetic_dataset(n_train=300, n_test=100, dim=64, seed=1))
    yield "tiny"
    unregister_dataset("tiny")


@pytest.fixture()
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("HASHLIB_NN_STORE", str(tmp_path / "default-store"))
    return Store(tmp_path / "store")


def cfg(dataset: str = "tiny", **kw: object) -> RunConfig:
    train = TrainConfig(epochs=kw.pop("epochs", 2), seed=kw.pop("seed", 0))  # type: ignore[arg-type]
    kw.setdefault("width", 8)
    kw.setdefault("metrics", FAST)
    return RunConfig(dataset=dataset, train=train, **kw)  # type: ignore[arg-type]


class Counter:
    """Counts the models trained by experiments (one at a time and in groups)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.single: list[RunConfig] = []
        self.groups: list[list[RunConfig]] = []
        one, group = sweeps.train_one, sweeps.train_group

        def train_one(config: RunConfig, device: object) -> RunResult:
            self.single.append(config)
            return one(config, device)

        def train_group(configs: list[RunConfig], device: object) -> list[RunResult]:
            self.groups.append(list(configs))
            return group(configs, device)

        monkeypatch.setattr(sweeps, "train_one", train_one)  # sweep() trains through these,
        monkeypatch.setattr(sweeps, "train_group", train_group)
        monkeypatch.setattr(runner, "train_one", train_one)  # run() through this one

    @property
    def models(self) -> int:
        return len(self.single) + sum(len(g) for g in self.groups)


# ---------------------------------------------------------------------------------- RunConfig


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"dataset": "mnits"}, "unknown dataset 'mnits'; accepted: 'mnist', 'fashion-mnist', "
                           "'cifar10'"),
    ({"width": 12, "depth": 5}, "width must be a positive multiple of depth=5 (the total number "
                                "of hidden units, split evenly over the layers); got width=12"),
    ({"width": 0}, "width must be a positive multiple of depth=1"),
    ({"train": TrainConfig(epochs=0)}, "train.epochs must be a positive integer; got epochs=0"),
    ({"n_train": 48_001}, "n_train must be None (all training examples) or an integer in "
                          "[1, 48000] for 'mnist'; got n_train=48001"),
    ({"n_train": 0}, "n_train must be None (all training examples) or an integer in [1, 48000]"),
    ({"label_noise": 1.5}, "label_noise must be a fraction in [0, 1]; got label_noise=1.5"),
    ({"label_noise": -0.1}, "label_noise must be a fraction in [0, 1]; got label_noise=-0.1"),
    ({"dropout": 1.0}, "dropout must be a fraction in [0, 1); got dropout=1.0"),
    ({"metrics": ("rr", "purity")}, "unknown metric 'purity'; accepted: 'rr', 'net', 'kmeans', "
                                    "'knn', 'lr'"),
    ({"checkpoints": (0, 250)}, "checkpoints must be epochs in [0, train.epochs=200]; got 250"),
    ({"train": {"epochs": 3}}, "train must be a hashlib_nn.train.TrainConfig; got dict"),
])  # fmt: skip
def test_run_config_errors_name_value_and_accepted(kwargs: dict, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=re.escape(message)):
        RunConfig(**kwargs)


def test_run_config_normalizes_its_fields() -> None:
    c = RunConfig(n_train=48_000, checkpoints=[20, 0, 20], metrics=["lr", "rr"], dropout=0)
    assert c.n_train is None and c.n_examples == 48_000  # all examples is stored as None
    assert c.checkpoints == (0, 20) and c.metrics == ("rr", "lr")
    assert isinstance(c.dropout, float)
    assert RunConfig.from_dict(c.to_dict()) == c
    assert c.replace(seed=4).train.seed == 4 and c.replace(width=7).width == 7
    assert RunConfig(dataset="cifar10", width=50, depth=5).n_examples == 40_000


# -------------------------------------------------------------------------------- content key


def test_content_key_is_stable() -> None:
    # Golden values: if these change, stored results are orphaned; bump SCHEMA_VERSION on purpose.
    assert content_key(RunConfig()) == (
        "bfc93c975f963aa5f21b2b1a0204d98c5b67ec5e63b3b965b749f6e118d07550"
    )
    assert content_key(RunConfig(dataset="fashion-mnist", width=40, n_train=1000)) == (
        "520fc811aae0e84dff10d6f0c38cf3381627dba921ec33bed6bda4a530c55ac9"
    )


@pytest.mark.parametrize("change", [
    {"dataset": "fashion-mnist"}, {"width": 99}, {"width": 100, "depth": 2}, {"n_train": 1000},
    {"batchnorm": False}, {"dropout": 0.5}, {"label_noise": 0.2},
    {"seed": 1}, {"epochs": 199}, {"weight_decay": 0.0}, {"early_stopping": False},
    {"patience": 5}, {"lr": 1e-3}, {"batch_size": 128}, {"min_delta": 1e-4},
])  # fmt: skip
def test_content_key_changes_with_what_changes_training(change: dict) -> None:
    assert content_key(RunConfig().replace(**change)) != content_key(RunConfig())


@pytest.mark.parametrize("change", [
    {"checkpoints": (0, 1, 10)}, {"metrics": ("rr",)}, {"n_train": 48_000},
    {"weight_decay": 1e-6 * 1.0}, {"dropout": 0},
])  # fmt: skip
def test_content_key_ignores_the_evaluation_plan_and_spelling(change: dict) -> None:
    assert content_key(RunConfig().replace(**change)) == content_key(RunConfig())


def test_early_stopping_settings_do_not_matter_when_it_is_off() -> None:
    off = RunConfig(train=TrainConfig(early_stopping=False))
    assert content_key(off.replace(patience=3, min_delta=0.5)) == content_key(off)


def test_registered_data_is_part_of_the_key() -> None:
    register_dataset("tmp-a", synthetic_dataset(n_train=50, n_test=20, dim=16, seed=0))
    try:
        key0 = content_key(cfg("tmp-a"))
        register_dataset("tmp-a", synthetic_dataset(n_train=50, n_test=20, dim=16, seed=1))
        assert content_key(cfg("tmp-a")) != key0
    finally:
        unregister_dataset("tmp-a")


# ------------------------------------------------------------------------------------ run


def test_run_records_everything_and_matches_a_direct_training(tiny: str) -> None:
    from hashlib_nn.codes import neural_codes
    from hashlib_nn.metrics import redundancy_ratio
    from hashlib_nn.models import PaperMLP
    from hashlib_nn.train import evaluate, train

    c = cfg(tiny, epochs=3, checkpoints=(0, 1))
    r = run(c, store=False, device="cpu")
    assert r.key == content_key(c) and r.seed == 0 and r.device == "cpu"
    assert [cp.epoch for cp in r.checkpoints] == [0, 1, 3] and r.epochs_run == 3
    assert [h["epoch"] for h in r.history] == [1, 2, 3] and r.train_seconds > 0
    assert set(r.versions) >= {"torch", "numpy", "sklearn", "python", "hashlib_nn", "git_commit"}
    assert {"rr_train", "rr_test", "collision_train", "net_acc_test", "n_bits"} <= set(
        r.final.metrics
    )

    # The same training done by hand gives the same numbers (CPU training is deterministic).
    ds = experiments.get_dataset(tiny)
    model = PaperMLP(64, 8, seed=0)
    train(model, ds.x_train, ds.y_train, c.train, device="cpu")
    loss, acc = evaluate(model, ds.x_test, ds.y_test, device="cpu")
    assert r.final.metrics["net_acc_test"] == pytest.approx(acc)
    assert r.final.metrics["net_loss_test"] == pytest.approx(loss, rel=1e-5)
    codes = neural_codes(model, ds.x_train, device="cpu")
    assert r.final.metrics["rr_train"] == redundancy_ratio(codes)


def test_run_tiles_the_first_n_examples_and_evaluates_those(
    tiny: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = {}
    real = runner.evaluate

    def spy(model, config, data, device, epoch):  # type: ignore[no-untyped-def]
        seen.update(fit=len(data.x_fit), eval=len(data.x_eval))
        return real(model, config, data, device, epoch)

    monkeypatch.setattr(runner, "evaluate", spy)
    r = run(cfg(tiny, n_train=70, epochs=1), store=False, device="cpu")
    assert seen == {"fit": 280, "eval": 70}  # 4 whole copies of 70 fit in 300
    assert r.final.metrics["n_distinct_train"] <= 70


def test_run_uses_and_fills_the_store(
    tiny: str, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    count = Counter(monkeypatch)
    c = cfg(tiny)
    first = run(c, store=store)
    again = run(c, store=store)
    assert count.models == 1 and again.to_dict() == first.to_dict()
    run(cfg(tiny, metrics=("rr",)), store=store)  # a stored run measuring more serves it
    assert count.models == 1
    run(c.replace(checkpoints=(1,)), store=store)  # more than stored: one re-run, plans united
    assert count.models == 2 and store.get(c).evaluated_epochs() == {1, 2}


def test_run_with_label_noise_trains_on_noisy_labels(tiny: str) -> None:
    r = run(cfg(tiny, label_noise=0.5, epochs=1), store=False, device="cpu")
    assert "net_acc_clean_train" in r.final.metrics
    assert content_key(cfg(tiny, label_noise=0.5)) != content_key(cfg(tiny))


def test_run_result_round_trips_and_frames(tiny: str) -> None:
    r = run(cfg(tiny, checkpoints=(1,)), store=False, device="cpu")
    assert RunResult.from_dict(r.to_dict()).to_dict() == r.to_dict()
    frame = r.to_frame()
    assert len(frame) == sum(len(cp.metrics) for cp in r.checkpoints)
    row = frame[(frame.metric == "rr_test") & frame.final].iloc[0]
    assert (row.measure, row.split, row.epoch, row.width, row.n_train) == ("rr", "test", 2, 8, 300)
    assert set(frame.epoch) == {1, 2}
    only = r.to_frame(cfg(tiny, metrics=("net",)))  # a request: its suites, final epoch
    assert set(only.measure) == {"net_loss", "net_acc"} and set(only.epoch) == {2}
    assert len(r.history_frame()) == 2


# ---------------------------------------------------------------------------------- sweep


def test_sweep_batches_repeats_and_a_second_sweep_trains_nothing(
    tiny: str, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    count = Counter(monkeypatch)
    configs = [cfg(tiny, width=w, seed=s) for w in (4, 8) for s in (0, 1, 2)]
    configs.append(cfg(tiny, width=8, seed=0))  # a duplicate is trained once
    frame = sweep(configs, store=store, device="cpu", progress=False)
    assert count.models == 6 and [len(g) for g in count.groups] == [3, 3]
    assert {r.trainer for r in store.results()} == {"train_many"}
    assert frame.groupby(["width", "seed"]).size().to_dict() == {
        (w, s): n for w in (4, 8) for s in (0, 1, 2) for n in [22 if (w, s) == (8, 0) else 11]
    }

    count2 = Counter(monkeypatch)
    again = sweep(configs, store=store, device="cpu", progress=False)
    assert count2.models == 0
    assert again.equals(frame)


def test_sweep_groups_only_what_train_many_can_share(tiny: str) -> None:
    from hashlib_nn.experiments.config import group_key

    a = cfg(tiny, seed=0)
    assert group_key(a) == group_key(a.replace(seed=5, weight_decay=0.0, early_stopping=False))
    # label noise (per-model labels) and samples tiled to the same length (per-model rows)
    # train together: 300 examples; n = 100 and 150 tile to 300 rows, n = 200 to 200
    for same in (
        a.replace(label_noise=0.4),
        a.replace(label_noise=0.8, label_noise_mode="original"),
        a.replace(n_train=100),
        a.replace(n_train=150, seed=2),
    ):
        assert group_key(same) == group_key(a)
    for other in (
        a.replace(width=4),
        a.replace(epochs=3),
        a.replace(checkpoints=(1,)),
        a.replace(n_train=200),
        a.replace(lr=0.1),
        a.replace(batchnorm=False),
    ):
        assert group_key(other) != group_key(a)


def test_sample_sizes_and_noise_trained_together_match_one_at_a_time(tiny: str) -> None:
    configs = [
        cfg(tiny, seed=0, checkpoints=(1,)),
        cfg(tiny, seed=1, n_train=10, checkpoints=(1,)),
        cfg(tiny, seed=0, n_train=100, label_noise=0.6, checkpoints=(1,)),
        cfg(tiny, seed=2, label_noise=0.3, label_noise_mode="original", checkpoints=(1,)),
    ]
    grouped = sweep(configs, store=False, device="cpu", progress=False)
    single = sweep(configs, store=False, device="cpu", progress=False, batched=False)
    assert len(grouped) == len(single)
    assert np.allclose(grouped.value, single.value, rtol=0.05, atol=0.02)
    # each run evaluated its own sample: n=10 measures 10 training codes
    n_eval = grouped[(grouped.metric == "rr_train")].groupby("n_train", dropna=False).size()
    assert len(n_eval) == 3


def test_sweep_group_matches_one_at_a_time_training(tiny: str) -> None:
    configs = [cfg(tiny, seed=s, checkpoints=(1,)) for s in (0, 1)]
    grouped = sweep(configs, store=False, device="cpu", progress=False)
    single = sweep(configs, store=False, device="cpu", progress=False, batched=False)
    # Same batches and initialization; only float32 summation order differs.
    assert np.allclose(grouped.value, single.value, rtol=0.05, atol=0.02)


def test_a_sweep_skips_runs_another_process_stored_meanwhile(
    tiny: str, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two sweeps sharing a store (two processes splitting a grid): a run the other one stored
    after this sweep planned its work is read, not trained again."""
    configs = [cfg(tiny, width=w) for w in (4, 8, 12)]
    count = Counter(monkeypatch)
    other: list[RunResult] = []

    def meanwhile(result: RunResult) -> None:
        if not other:  # after the first run: "another process" stores the last one
            other.extend(run(configs[2], store=store, device="cpu") for _ in [0])

    frame = sweep(configs, store=store, device="cpu", progress=False, on_result=meanwhile)
    assert count.models == 3  # 2 by this sweep, 1 by the other
    assert [c.width for c in count.single] == [4, 12, 8]
    assert set(frame.width) == {4, 8, 12} and len(store) == 3


def test_an_interrupted_sweep_keeps_finished_runs_and_resumes(
    tiny: str, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    configs = [cfg(tiny, width=w) for w in (4, 8, 12)]

    def stop(result: RunResult) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep(configs, store=store, device="cpu", progress=False, on_result=stop)
    assert len(store) == 1 and not store.stale_temporaries()
    count = Counter(monkeypatch)
    sweep(configs, store=store, device="cpu", progress=False)
    assert count.models == 2 and len(store) == 3


def test_sweep_fails_fast_on_missing_data(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    def absent(name: str) -> None:
        raise FileNotFoundError(f"no {name} here")

    count = Counter(monkeypatch)
    monkeypatch.setattr(sweeps, "get_dataset", absent)
    with pytest.raises(FileNotFoundError, match="no cifar10 here"):
        sweep([RunConfig(dataset="cifar10", width=50, depth=5)], store=store, progress=False)
    assert count.models == 0


def test_progress_bar_only_in_a_terminal_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    assert show_progress(True) and not show_progress(False)
    monkeypatch.setenv("CI", "true")
    assert not show_progress(None)
    monkeypatch.delenv("CI")
    monkeypatch.setattr("sys.stderr.isatty", lambda: False, raising=False)
    assert not show_progress(None)


def test_notebook_progress_only_in_a_kernel_and_not_under_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("HASHLIB_NN_PROGRESS", raising=False)
    monkeypatch.setattr(sweeps, "_in_kernel", lambda: False)
    assert not notebook_progress(None) and not notebook_progress(True)
    monkeypatch.setattr(sweeps, "_in_kernel", lambda: True)
    assert notebook_progress(None) and notebook_progress(True) and not notebook_progress(False)
    monkeypatch.setenv("HASHLIB_NN_PROGRESS", "0")
    assert not notebook_progress(None) and notebook_progress(True)
    monkeypatch.delenv("HASHLIB_NN_PROGRESS")
    monkeypatch.setenv("CI", "true")
    assert not notebook_progress(None)


def test_notebook_progress_line_counts_trained_runs_only(
    tiny: str, store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """Outside a real kernel IPython's display prints each update; the last says 2 of 2."""
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("HASHLIB_NN_PROGRESS", raising=False)
    monkeypatch.setattr(sweeps, "_in_kernel", lambda: True)
    configs = [cfg(seed=0), cfg(seed=1)]
    sweep(configs, store=store)
    out = capsys.readouterr().out
    assert "sweep: trained 1 of 2 new run(s)" in out
    assert out.strip().splitlines()[-1].startswith("sweep: trained 2 of 2 new run(s) in ")
    sweep(configs, store=store)  # both read from the store: no line
    assert "sweep:" not in capsys.readouterr().out


# ---------------------------------------------------------------------------------- presets

MNIST_WIDTHS = [3, 7, 10, 15, 20, 23, 27, 30, 33, 37, 40, 43, 47, 50, 53, 57, 60, 65, 70, 75,
                80, 90, 100]  # fmt: skip
MNIST_SIZES = [10, 30, 60, 100, 300, 600, 1000, 2000, 3000, 6000, 10000, 20000, 30000, 40000]
CIFAR_SIZES = [10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, None]  # 40000 = all
CHECKPOINTS = [0, 1, 3, 6, 10, 20, 30, 40, 60, 80, 100, 120, 140, 160, 180, 200]


def _unique(values: list) -> list:
    return list(dict.fromkeys(values))


@pytest.mark.parametrize(("preset", "repeats", "datasets"), [
    ("standard", 3, ["mnist", "fashion-mnist"]),
    ("paper", 10, ["mnist", "fashion-mnist", "cifar10"]),
])  # fmt: skip
def test_standard_and_paper_grids_are_the_original_ones(
    preset: str, repeats: int, datasets: list[str]
) -> None:
    assert list(TRAINING_TIME_CHECKPOINTS) == CHECKPOINTS
    for chapter in CHAPTERS:
        configs = grid(chapter, preset)
        assert _unique([c.dataset for c in configs]) == datasets
        assert all(c.train.epochs == 200 for c in configs)
        for ds in datasets:
            mine = [c for c in configs if c.dataset == ds]
            cifar = ds == "cifar10"
            assert {c.depth for c in mine} == {5 if cifar else 1}
            seeds = _unique([c.seed for c in mine])
            assert seeds == list(range(repeats))
            widths = _unique([c.width for c in mine])
            sizes = _unique([c.n_train for c in mine])
            if CHAPTERS[chapter] == "model_size":
                assert widths == (list(range(50, 1001, 50)) if cifar else MNIST_WIDTHS)
                assert sizes == [None] and all(c.train.early_stopping for c in mine)
                assert all(c.checkpoints == () for c in mine)
            elif chapter == "training_time":
                assert widths == ([50, 100, 200, 400] if cifar else [40, 50, 60])
                assert all(list(c.checkpoints) == CHECKPOINTS for c in mine)
                assert not any(c.train.early_stopping for c in mine)
            else:
                assert widths == ([50, 100, 200, 400] if cifar else [40, 50, 60])
                assert sizes == (CIFAR_SIZES if cifar else MNIST_SIZES)
                assert all(c.train.early_stopping for c in mine)
            assert len(mine) == len(widths) * len(sizes) * repeats
        # Every chapter of the model-size family asks for every suite, so whichever runs first
        # trains and the others read its runs from the store.
        assert {c.metrics for c in configs} == {("rr", "net", "kmeans", "knn", "lr")}


@pytest.mark.parametrize("preset", ["smoke", "quick"])
def test_small_presets_share_the_model_size_runs(preset: str) -> None:
    keys = {ch: [content_key(c) for c in grid(ch, preset)] for ch in CHAPTERS}
    assert keys["determinism"] == keys["categorization"] == keys["model_size"]
    assert grid("determinism", preset) == grid("model_size", preset)  # same plan too
    assert all(len(v) > 0 for v in keys.values())
    assert PRESETS[preset].datasets == ("mnist",)


def test_sample_sizes_are_capped_at_the_training_set(tiny: str) -> None:
    configs = grid("sample_size", "standard", dataset=tiny, widths=[8], repeats=1)
    assert [c.n_train for c in configs] == [10, 30, 60, 100, None]  # 300 is all of "tiny"
    assert [c.n_examples for c in configs][-1] == 300


def test_describe_presets_table() -> None:
    table = describe_presets()
    assert list(table.preset.unique()) == ["smoke", "quick", "standard", "paper"]
    assert set(table.chapter) == set(CHAPTERS)
    quick = table[table.preset == "quick"].set_index("chapter")
    assert quick.loc["determinism", "new_trainings"] == 0  # served by model_size
    assert quick.cpu_minutes.sum() < 15
    assert table.set_index(["preset", "chapter"]).loc[("paper", "model_size"), "runs"] == (
        (23 * 2 + 20) * 10
    )


# ------------------------------------------------------------------------- chapter_params


def test_chapter_params_parses_papermill_strings() -> None:
    plan = chapter_params(
        "model_size",
        "quick",
        dataset="mnist",
        widths="[20, 60]",
        epochs="3",
        repeats=2,
        seed="5",
        device="cpu",
        n_train="None",
    )
    assert plan.preset == "quick" and plan.device == "cpu" and len(plan) == 4
    assert [(c.width, c.seed, c.train.epochs) for c in plan] == [
        (20, 5, 3),
        (20, 6, 3),
        (60, 5, 3),
        (60, 6, 3),
    ]
    tt = chapter_params(
        "training_time",
        "standard",
        dataset="['mnist']",
        widths=40,
        checkpoints="[0, 5, 10]",
        epochs=10,
        repeats="1",
    )
    assert [c.checkpoints for c in tt] == [(0, 5, 10)] and not tt[0].train.early_stopping
    ss = chapter_params(
        "sample_size",
        "standard",
        sample_sizes="[100, None]",
        widths=[40],
        dataset="mnist",
        repeats=1,
        early_stopping="False",
        metrics="['rr']",
    )
    assert [(c.n_train, c.train.early_stopping, c.metrics) for c in ss] == [
        (100, False, ("rr",)),
        (None, False, ("rr",)),
    ]
    assert chapter_params("determinism", "None").preset == "quick"


@pytest.mark.parametrize(("params", "message"), [
    ({"widths": "[20, x]"}, "chapter parameter 'widths' must be a list of positive integers, "
                            "e.g. [20, 60]; got '[20, x]' (str)"),
    ({"widths": [20, -1]}, "chapter parameter 'widths' must be a list of positive integers, "
                           "e.g. [20, 60]; got [20, -1] (list)"),
    ({"epochs": "1.5"}, "chapter parameter 'epochs' must be a positive integer; got '1.5' (str)"),
    ({"epochs": True}, "chapter parameter 'epochs' must be a positive integer; got True (bool)"),
    ({"repeats": 0}, "chapter parameter 'repeats' must be a positive integer; got 0 (int)"),
    ({"seed": -1}, "chapter parameter 'seed' must be a non-negative integer; got -1 (int)"),
    ({"preset": "fast"}, "chapter parameter 'preset' must be one of 'smoke', 'quick', "
                         "'standard', 'paper'; got 'fast' (str)"),
    ({"early_stopping": "maybe"}, "chapter parameter 'early_stopping' must be True or False; "
                                  "got 'maybe' (str)"),
    ({"dataset": 3}, "chapter parameter 'dataset' must be a data set name or a list of names, "
                     "e.g. 'mnist'; got 3 (int)"),
    ({"dataset": "mnits"}, "unknown dataset 'mnits'"),
    ({"device": "tpu"}, "chapter parameter 'device': device must be 'auto', 'cpu', 'cuda', "
                        "'cuda:N' or a torch.device; got 'tpu'"),
    ({"width": 20}, "unknown chapter parameter 'width'; accepted: preset, dataset, widths,"),
    ({"sample_sizes": [10]}, "chapter parameter 'sample_sizes' does not apply to chapter "
                             "'model_size' (only to: sample_size)"),
    ({"widths": [12], "dataset": "cifar10"}, "width must be a positive multiple of depth=5"),
])  # fmt: skip
def test_chapter_params_errors(params: dict, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=re.escape(message)):
        chapter_params("model_size", **params)


def test_unknown_chapter() -> None:
    with pytest.raises(
        ValueError,
        match=re.escape(
            "unknown chapter 'size'; accepted: 'determinism', 'categorization', 'model_size', "
            "'training_time', 'sample_size'"
        ),
    ):
        grid("size", "quick")


def test_chapter_plan_runs_its_grid(tiny: str, store: Store) -> None:
    plan = chapter_params(
        "model_size",
        "smoke",
        dataset=tiny,
        widths="[4, 8]",
        metrics=FAST,
        n_train=100,
        store=str(store.root),
    )
    frame = plan.run(progress=False)
    assert sorted(frame.width.unique()) == [4, 8] and len(store) == 2


# ---------------------------------------------------------------------------- integration


def test_all_metric_suites_on_tiny_data(tiny: str) -> None:
    pytest.importorskip("hashlib_nn.categorization")
    r = run(
        cfg(tiny, metrics=("rr", "net", "kmeans", "knn", "lr"), epochs=1), store=False, device="cpu"
    )
    m = r.final.metrics
    assert {"kmeans_purity_train", "kmeans_purity_test", "knn_test", "lr_test"} <= set(m)
    assert all(0 <= m[k] <= 1 for k in ("kmeans_purity_test", "knn_test", "lr_test"))
    assert not any(k.startswith("time_") for k in m)  # timings go to Checkpoint.timings


@pytest.mark.slow
def test_smoke_determinism_grid_on_real_mnist(tmp_path: Path) -> None:
    frame = sweep(grid("determinism", "smoke"), store=tmp_path, progress=False)
    final = frame[frame.final].pivot_table(index="width", columns="metric", values="value")
    assert list(final.index) == [5, 20]
    assert final.loc[20, "net_acc_test"] > 0.8  # one epoch on 1000 MNIST digits, tiled
    assert final.loc[20, "rr_train"] <= final.loc[5, "rr_train"]


def test_dataclass_fields_are_documented() -> None:
    import inspect

    source = inspect.getsource(RunConfig)
    for f in dataclasses.fields(RunConfig):
        line = next(ln for ln in source.splitlines() if ln.strip().startswith(f"{f.name}:"))
        assert "#" in line, f"RunConfig.{f.name} has no comment"
