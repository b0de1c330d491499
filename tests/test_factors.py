"""Regularization, label noise and the phase chart: label-noise modes in runs, the chapters'
grids, tables, verdicts (both outcomes, on hand-built frames) and charts.

The noise helpers themselves (exact effective rates, seeding, the original helper's semantics)
are tested in tests/test_noise.py (e.g. test_uniform_other_effective_equals_nominal,
test_ratio_zero_returns_identical_labels, test_original_effective_rate_is_about_ratio_times_one_
minus_one_over_c); here: that runs use them, and that ratio 0 is the clean run bit for bit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hashlib_nn import experiments, factors, phase_charts, shipped
from hashlib_nn.analysis import aggregate, final_rows
from hashlib_nn.experiments import (
    RunConfig,
    content_key,
    presets,
    register_dataset,
    run,
    sweep,
    synthetic_dataset,
    unregister_dataset,
)
from hashlib_nn.noise import expected_effective_rate, original_label_noise, symmetric_label_noise
from hashlib_nn.phase import CRITICAL, SUFFICIENT, UNDER, PhaseThresholds, threshold_sensitivity
from hashlib_nn.train import TrainConfig
from hashlib_nn.verdicts import Basis, Verdict

FAST = ("rr", "net")


@pytest.fixture()
def tiny() -> Iterator[str]:
    """A 300-example, 64-feature, 10-class data set registered as "tiny-factors"."""
    register_dataset("tiny-factors", synthetic_dataset(n_train=300, n_test=100, dim=64, seed=2))
    yield "tiny-factors"
    unregister_dataset("tiny-factors")


def cfg(dataset: str, **kw: object) -> RunConfig:
    train = TrainConfig(
        epochs=kw.pop("epochs", 2),
        seed=kw.pop("seed", 0),  # type: ignore[arg-type]
        weight_decay=kw.pop("weight_decay", 1e-6),
    )  # type: ignore[arg-type]
    kw.setdefault("width", 8)
    kw.setdefault("metrics", FAST)
    return RunConfig(dataset=dataset, train=train, **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------ label noise in experiments


@pytest.mark.parametrize("mode", ["uniform_other", "uniform_any", "original"])
def test_noise_ratio_zero_reproduces_the_clean_run_bit_for_bit(tiny: str, mode: str) -> None:
    clean = cfg(tiny, seed=3)
    zero = cfg(tiny, seed=3, label_noise=0.0, label_noise_mode=mode)
    assert content_key(zero) == content_key(clean)  # one run serves both
    assert zero.label_noise_mode == "uniform_other"  # stored as the default at ratio 0
    # trained separately, no store: identical histories and metrics, exactly
    a = run(clean, store=False, device="cpu")
    b = run(zero, store=False, device="cpu")
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]
    assert a.final.metrics == b.final.metrics
    np.testing.assert_array_equal(
        experiments.run_data(zero).y_fit, experiments.run_data(clean).y_fit
    )


def test_noise_ratio_zero_in_a_batched_group_equals_the_clean_group(tiny: str) -> None:
    clean = [cfg(tiny, seed=s) for s in (0, 1)]
    zero = [cfg(tiny, seed=s, label_noise=0.0, label_noise_mode="original") for s in (0, 1)]
    fa = sweep(clean, store=False, device="cpu", progress=False)
    fb = sweep(zero, store=False, device="cpu", progress=False)
    pd.testing.assert_series_equal(fa["value"], fb["value"])


@pytest.mark.parametrize("mode", ["uniform_other", "uniform_any", "original"])
def test_runs_train_on_the_labels_of_their_noise_mode(tiny: str, mode: str) -> None:
    c = cfg(tiny, label_noise=0.4, label_noise_mode=mode, seed=5, n_train=200)
    data = experiments.run_data(c)
    y = data.y_eval_clean
    if mode == "original":
        expected = original_label_noise(y, 0.4, 10, seed=5).y_noisy
    else:
        expected = symmetric_label_noise(y, 0.4, 10, seed=5, mode=mode).y_noisy  # type: ignore[arg-type]
    np.testing.assert_array_equal(data.y_eval, expected)
    np.testing.assert_array_equal(data.y_fit[:200], expected)  # tiled: same label every copy
    rates = factors.effective_noise_rates([c])
    assert rates["effective_noise"].iloc[0] == pytest.approx(float(np.mean(expected != y)))


def test_noise_modes_have_their_own_keys_and_old_keys_do_not_change() -> None:
    base = RunConfig(dataset="mnist", width=60, train=TrainConfig(epochs=8))
    # keys computed with the code before label_noise_mode existed
    assert content_key(base.replace(label_noise=0.2)) == (
        "1576dd02d65954e7880b306ededb285da046a4e191a5cb378b27503d341cb009"
    )
    assert content_key(base) == "606b7659f319f61bb62ce0352e4d6013e588e343aa24e741268fc98db7bce890"
    keys = {
        content_key(base.replace(label_noise=0.2, label_noise_mode=m))
        for m in experiments.LABEL_NOISE_MODES
    }
    assert len(keys) == 3


def test_noise_mode_errors_and_frames() -> None:
    with pytest.raises(
        ValueError,
        match=re.escape(
            "label_noise_mode must be one of 'uniform_other', 'uniform_any', 'original'; "
            "got label_noise_mode='random'"
        ),
    ):
        RunConfig(dataset="mnist", label_noise=0.2, label_noise_mode="random")
    c = RunConfig(dataset="mnist", label_noise=0.2, label_noise_mode="original")
    assert c.flat()["label_noise_mode"] == "original"
    assert RunConfig.from_dict(c.to_dict()) == c


def test_noisy_run_records_clean_and_noisy_train_accuracy(tiny: str) -> None:
    r = run(cfg(tiny, label_noise=0.6, epochs=1), store=False, device="cpu")
    m = r.final.metrics
    assert "net_acc_clean_train" in m and m["net_acc_clean_train"] != m["net_acc_train"]


def test_effective_noise_rates_uniform_other_is_exact_and_original_is_about_nine_tenths(
    tiny: str,
) -> None:
    configs = [
        cfg(tiny, label_noise=r, label_noise_mode=m)
        for r in (0.0, 0.2, 1.0)
        for m in ("uniform_other", "original")
    ]
    rates = factors.effective_noise_rates(configs)
    assert len(rates) == 5  # ratio 0 once
    exact = rates[rates.label_noise_mode == "uniform_other"].set_index("label_noise")
    assert exact.effective_noise.to_dict() == {0.0: 0.0, 0.2: 0.2, 1.0: 1.0}
    orig = rates[rates.label_noise_mode == "original"].set_index("label_noise").effective_noise
    y = synthetic_dataset(n_train=300, n_test=100, dim=64, seed=2).y_train
    assert orig[1.0] == pytest.approx(expected_effective_rate(y, 1.0, 10, mode="original"), abs=0.1)
    assert orig[1.0] < 1.0


# ---------------------------------------------------------------------------------- presets


def test_regularization_grid() -> None:
    quick = presets.grid("regularization", "quick")
    settings = [(c.train.weight_decay, c.batchnorm, c.dropout) for c in quick]
    assert len(quick) == 12 and len(set(settings)) == 12
    assert {c.width for c in quick} == {30} and {c.train.epochs for c in quick} == {8}
    assert {s[0] for s in settings} == {0.0, 1e-6, 1e-4, 1e-3, 1e-2}
    assert {s for s in settings if s[2] > 0} == {(1e-6, True, 0.2), (1e-6, True, 0.5)}
    # the paper's setting is the model-size chapter's run: the store serves it
    model_size = {content_key(c) for c in presets.grid("model_size", "quick")}
    assert sum(content_key(c) in model_size for c in quick) == 1
    std = presets.grid("regularization", "standard")
    assert {c.dataset for c in std} == {"mnist", "fashion-mnist"}
    assert {c.seed for c in std} == {0, 1, 2} and {c.train.epochs for c in std} == {200}


def test_label_noise_grid() -> None:
    quick = presets.grid("label_noise", "quick")
    pairs = [(c.label_noise, c.label_noise_mode) for c in quick]
    assert pairs[0] == (0.0, "uniform_other") and len(pairs) == len(set(pairs)) == 8
    assert {r for r, m in pairs if m == "uniform_other"} == {0.0, 0.2, 0.4, 0.6, 0.8, 1.0}
    assert {r for r, m in pairs if m == "original"} == {0.4, 1.0}  # ratio 0 is the shared run
    sample_size = {content_key(c) for c in presets.grid("sample_size", "quick")}
    assert [content_key(c) in sample_size for c in quick] == [True] + [False] * 7
    standard = presets.grid("label_noise", "standard")
    assert len({(c.label_noise, c.label_noise_mode) for c in standard}) == 11  # full cross
    assert len(standard) == 11 * 3 * 2  # 3 seeds, MNIST and Fashion-MNIST


def test_phase_chart_grid_reuses_the_training_time_and_sample_size_runs() -> None:
    axes = presets.phase_chart_axes("quick")
    tt = {content_key(c) for c in presets.grid("training_time", "quick")}
    ss = {content_key(c) for c in presets.grid("sample_size", "quick")}
    assert tt <= {content_key(c) for c in axes["training_time"]}
    assert ss <= {content_key(c) for c in axes["sample_size"]}
    assert {c.metrics for c in presets.grid("phase_chart", "quick")} == {("rr", "net")}
    assert {c.width for c in axes["training_time"]} == {20, 40, 60, 100}
    assert len(presets.grid("phase_chart", "quick")) == sum(len(v) for v in axes.values())


def test_factor_chapter_params() -> None:
    plan = presets.chapter_params(
        "regularization",
        "smoke",
        weight_decays="[0, 1e-2]",
        batchnorms="True",
        dropouts="[0.5]",
        widths="[8]",
        n_train="100",
        epochs=1,
    )
    assert [(c.train.weight_decay, c.batchnorm, c.dropout) for c in plan] == [
        (0.0, True, 0.0),
        (0.01, True, 0.0),
        (1e-6, True, 0.5),
    ]
    noise = presets.chapter_params(
        "label_noise", "smoke", noise_ratios="[0, 0.5]", noise_modes="['original']"
    )
    assert [(c.label_noise, c.label_noise_mode) for c in noise] == [
        (0.0, "uniform_other"),
        (0.5, "original"),
    ]
    ph = presets.chapter_params(
        "phase_chart", "smoke", widths="[5]", sample_sizes="[10]", checkpoints="[0, 2]"
    )
    assert {(c.n_train, c.checkpoints) for c in ph} == {(1000, (0, 2)), (10, ())}


@pytest.mark.parametrize(
    ("chapter", "params", "message"),
    [
        (
            "model_size",
            {"weight_decays": [0]},
            "chapter parameter 'weight_decays' does not apply to "
            "chapter 'model_size' (only to: regularization)",
        ),
        ("regularization", {"noise_ratios": [0]}, "(only to: label_noise)"),
        (
            "regularization",
            {"sample_sizes": [10]},
            "(only to: sample_size) and to the factor chapter(s) phase_chart",
        ),
        (
            "label_noise",
            {"noise_ratios": "[0, 1.5]"},
            "chapter parameter 'noise_ratios' must be a list of ratios in [0, 1]",
        ),
        ("regularization", {"dropouts": [1.0]}, "must be a list of rates in [0, 1)"),
        ("label_noise", {"noise_modes": ["flip"]}, "label_noise_mode must be one of"),
    ],
)
def test_factor_chapter_param_errors(chapter: str, params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        presets.grid(chapter, "smoke", **params)


def test_describe_presets_with_the_factor_chapters() -> None:
    table = presets.describe_presets(["quick"], chapters=presets.ALL_CHAPTERS)
    assert list(table.chapter)[-3:] == ["regularization", "label_noise", "phase_chart"]
    quick = table.set_index("chapter")
    assert quick.loc["phase_chart", "new_trainings"] < quick.loc["phase_chart", "trainings"]
    assert quick.cpu_minutes.sum() < 15
    assert set(presets.describe_presets(["smoke"]).chapter) == set(presets.CHAPTERS)


# --------------------------------------------------------------------------------- verdicts

METRICS = factors.EFFECT_METRICS
BASE = {"rr_train": 0.3, "rr_test": 0.2, "kmeans_purity_test": 0.6, "knn_test": 0.8,
        "lr_test": 0.8, "net_acc_test": 0.8}  # fmt: skip


def _agg(rows: list[dict], by: list[str]) -> pd.DataFrame:
    return aggregate(pd.DataFrame(rows), by)


def _tidy_rows(settings: dict[tuple, float | dict[str, float]], columns: tuple[str, ...], *,
               seeds: int = 2, jitter: float = 0.004, epoch: int = 100,
               max_epochs: int = 200, **fixed: object) -> list[dict]:
    """Final-epoch tidy rows: for each setting (a tuple of ``columns`` values) every metric of
    EFFECT_METRICS at BASE + the setting's offset (one number for all metrics, or per metric),
    seed s adding s * jitter."""
    rows = []
    for values, offset in settings.items():
        for s in range(seeds):
            for m in METRICS:
                d = offset.get(m, 0.0) if isinstance(offset, dict) else offset
                rows.append({"dataset": "mnist", **fixed, **dict(zip(columns, values, strict=True)),
                             "seed": s, "metric": m, "value": BASE[m] + d + s * jitter,
                             "epoch": epoch, "final": True, "max_epochs": max_epochs,
                             "epochs_run": epoch})  # fmt: skip
    return rows


def _model_size(spread: float | dict[str, float] = 0.5, **kw: object) -> pd.DataFrame:
    """Model-size rows over widths 10, 30, 100 whose spread is ``spread`` (per metric)."""
    sp = spread if isinstance(spread, dict) else dict.fromkeys(METRICS, spread)
    settings = {(w,): {m: sp.get(m, 0.0) * f for m in METRICS}
                for w, f in ((10, 0.0), (30, 0.5), (100, 1.0))}  # fmt: skip
    return pd.DataFrame(_tidy_rows(settings, ("width",), **kw))  # type: ignore[arg-type]


def _training_time(spread: float | dict[str, float] = 0.5, widths=(30, 60)) -> pd.DataFrame:
    """Training-time rows: epochs 0, 1, 20 at each width, every epoch evaluated."""
    sp = spread if isinstance(spread, dict) else dict.fromkeys(METRICS, spread)
    rows = []
    for e, f in ((0, 0.0), (1, 0.6), (20, 1.0)):
        rows += _tidy_rows({(w,): {m: sp.get(m, 0.0) * f for m in METRICS} for w in widths},
                           ("width",), epoch=e, max_epochs=20)  # fmt: skip
    out = pd.DataFrame(rows)
    out["final"] = out["epoch"] == 20
    return out


def _sample_size(spread: float | dict[str, float] = 0.5, widths=(30, 60)) -> pd.DataFrame:
    sp = spread if isinstance(spread, dict) else dict.fromkeys(METRICS, spread)
    settings = {(w, n): {m: sp.get(m, 0.0) * f for m in METRICS}
                for w in widths for n, f in ((100, 0.0), (1000, 0.5), (10000, 1.0))}
    return pd.DataFrame(_tidy_rows(settings, ("width", "n_train")))  # type: ignore[arg-type]


def _yardsticks(ms: float | dict = 0.5, tt: float | dict = 0.5,
                ss: float | dict = 0.5) -> dict[str, pd.DataFrame]:
    return {"model_size": _model_size(ms), "training_time": _training_time(tt),
            "sample_size": _sample_size(ss)}  # fmt: skip


REG_COLUMNS = ("width", "weight_decay", "batchnorm", "dropout")


def _regularization(delta: float | dict[str, float], **kw: object) -> pd.DataFrame:
    """The paper's setting and weight decay 1e-2 (BN on) at width 30, ``delta`` apart."""
    return pd.DataFrame(_tidy_rows({(30, 1e-6, True, 0.0): 0.0, (30, 1e-2, True, 0.0): delta},
                                   REG_COLUMNS, **kw))  # type: ignore[arg-type]


def _noise(levels: dict[float, float | dict[str, float]], mode: str = "uniform_other",
           **kw: object) -> pd.DataFrame:
    settings = {(60, r, "uniform_other" if r == 0 else mode): d for r, d in levels.items()}
    return pd.DataFrame(_tidy_rows(settings, ("width", "label_noise", "label_noise_mode"),
                                   **kw))  # type: ignore[arg-type]


def test_factor_spreads_against_a_brute_force_groupby() -> None:
    reg = _regularization({"rr_train": 0.25, "knn_test": -0.1})
    agg = aggregate(reg, by=["dataset", "width", "weight_decay", "batchnorm", "dropout"])
    spreads = factors.regularization_spreads(agg).set_index("metric")
    final = reg.groupby(["weight_decay", "metric"])["value"].mean().unstack("weight_decay")
    brute = final.max(axis=1) - final.min(axis=1)
    for m in METRICS:
        assert spreads.loc[m, "spread"] == pytest.approx(brute[m])
    assert spreads.loc["rr_train", "high_setting"] == "wd 1e-2"
    assert spreads.loc["knn_test", "low_setting"] == "wd 1e-2"
    assert (spreads["seed_range"] == pytest.approx(0.004)).all()  # 2 seeds, jitter 0.004
    assert set(spreads["family"]) == {"weight decay (BN on)"}  # the only 2-setting family
    one = aggregate(_regularization(0.1, seeds=1),
                    by=["dataset", "width", "weight_decay", "batchnorm", "dropout"])
    assert factors.regularization_spreads(one)["seed_range"].isna().all()  # unknown, not 0


def test_effect_table_yardsticks_nearest_width_noise_and_ratio() -> None:
    spreads = pd.DataFrame({"family": "f", "dataset": "mnist", "width": [45.0, 30.0],
                            "metric": "knn_test", "spread": [0.3, 0.01], "low": 0.5,
                            "low_setting": "a", "high": 0.8, "high_setting": "b",
                            "n_settings": 2, "seeds": [1, 3],
                            "seed_range": [np.nan, 0.05]})  # fmt: skip
    yard = pd.DataFrame({"yardstick": ["model size", "training time", "training time"],
                         "dataset": "mnist", "width": [np.nan, 30.0, 60.0],
                         "metric": "knn_test", "spread": [0.6, 0.2, 0.4],
                         "seed_range": [0.1, np.nan, np.nan]})  # fmt: skip
    t = factors.effect_table(spreads, yard)
    a = t[t.width == 45].set_index("yardstick")
    # width 45: 15 from both 30 and 60: the smaller on a tie
    assert a.loc["training time", "yardstick_width"] == 30
    assert a.loc["training time", "ratio"] == pytest.approx(0.3 / 0.2)
    assert not a.loc["training time", "dominated"] and a.loc["model size", "dominated"]
    # one seed here: the model-size grid's seed range (0.1) is borrowed
    assert a.loc["model size", "noise"] == pytest.approx(0.1) and a["shapes"].all()
    b = t[t.width == 30].set_index("yardstick")
    # own seed range 0.05 > spread 0.01: within noise, so dominated whatever the ratio
    assert b.loc["model size", "noise"] == pytest.approx(0.05) and not b["shapes"].any()
    assert b["dominated"].all()
    flat = yard.assign(spread=0.0)
    assert np.isinf(factors.effect_table(spreads, flat)["ratio"]).all()


def _reg_claim(delta: float | dict[str, float], yardsticks: dict[str, pd.DataFrame],
               **kw: object) -> Verdict:
    return factors.regularization_claim({"regularization": _regularization(delta, **kw),
                                         **yardsticks}, "mnist")  # fmt: skip


def test_regularization_reproduced_when_real_and_smaller_than_every_dominant_factor() -> None:
    v = _reg_claim(0.1, _yardsticks())
    assert v.status == "reproduced", v
    assert v.numbers["comparisons"] == 18 and v.numbers["comparisons_holding"] == 18
    assert "not comparable" in v.evidence and "Judged instead" in v.evidence
    assert "mnist, preset not recorded, at most 200 epochs" in v.basis


def test_regularization_not_reproduced_when_flat() -> None:
    v = _reg_claim(0.0, _yardsticks())
    assert v.status == "not reproduced", v
    assert "(a) fails" in v.evidence and "does not move any property" in v.evidence


def test_regularization_not_reproduced_when_larger_than_the_dominant_factors() -> None:
    # the dominant factors' effects a tenth of regularization's
    v = _reg_claim(0.3, _yardsticks(0.03, 0.03, 0.03))
    assert v.status == "not reproduced", v
    assert v.numbers["comparisons_holding"] == 0 and v.numbers["largest_ratio"] == pytest.approx(
        10, rel=1e-6)


def test_regularization_partly_names_the_failing_comparisons() -> None:
    # training time moves K-NN and LR by only 0.05, less than regularization's 0.1
    v = _reg_claim(0.1, _yardsticks(tt={**dict.fromkeys(METRICS, 0.5), "knn_test": 0.05,
                                        "lr_test": 0.05}))  # fmt: skip
    assert v.status == "partly reproduced", v
    assert "Partly: (a) holds, but 2 of 18 comparisons with a dominant factor fail" in v.evidence
    assert "training time 4 of 6" in v.evidence


def test_partly_when_a_dominant_factor_is_missing() -> None:
    v = _reg_claim(0.1, {"model_size": _model_size()})
    assert v.status == "partly reproduced", v
    assert "training time and sample size could not be compared" in v.evidence


def test_not_tested_at_a_short_preset_and_without_seeds() -> None:
    v = _reg_claim(0.1, _yardsticks(), max_epochs=2, epoch=2)
    assert v.status == "not tested" and v.evidence.startswith("Not tested at this preset")
    one_seed = {"regularization": _regularization(0.1, seeds=1),
                "model_size": _model_size(seeds=1)}  # fmt: skip
    v = factors.regularization_claim(one_seed, "mnist")
    assert v.status == "not tested" and "cannot be told from seed noise" in v.evidence
    # one seed here, two in the model-size grid: its seed range is borrowed
    borrowed = {**one_seed, "model_size": _model_size()}
    assert "the model-size grid's seed range" in factors.regularization_claim(
        borrowed, "mnist").evidence


@pytest.mark.parametrize("modes", [("uniform_other",), ("uniform_other", "original")])
def test_label_noise_with_one_noise_level_is_not_tested(modes: tuple[str, ...]) -> None:
    clean = _noise({0.0: 0.0})
    # the clean run counted once per mode, as share_clean_rows files it
    frame = pd.concat([clean.assign(label_noise_mode=m) for m in modes], ignore_index=True)
    v = factors.label_noise_claim({"label_noise": frame, **_yardsticks()}, "mnist")
    assert v.status == "not tested", v
    assert "nothing noisy was judged" in v.evidence
    assert not re.search(r"\bnan\b", v.text()) and "spread 0.000" not in v.text()
    agg = factors.share_clean_rows(aggregate(
        frame, by=["dataset", "width", "label_noise", "label_noise_mode"]))
    assert len(agg) and factors.label_noise_spreads(agg).empty


def test_label_noise_judges_the_corrected_mode_and_ignores_the_original() -> None:
    frame = pd.concat([_noise({0.0: 0.0, 0.5: 0.1}), _noise({0.5: 0.9}, mode="original")])
    v = factors.label_noise_claim({"label_noise": frame, **_yardsticks()}, "mnist")
    assert v.status == "reproduced", v
    orig = factors.label_noise_verdict(
        aggregate(frame, by=["dataset", "width", "label_noise", "label_noise_mode"]),
        factors.yardstick_spreads(_yardsticks()), mode="original")
    assert orig.status == "not reproduced"  # 0.9 against 0.5 everywhere


@pytest.mark.parametrize("ratio", [0.97, 1.03])
def test_claims_3e_and_3f_read_one_number_the_same_way(ratio: float) -> None:
    """Label noise's spread is ``ratio`` times every dominant factor's: below 1 it is dominated
    in both claims, above 1 in neither (3e once said reproduced for 1.03, 3f not)."""
    results = {"label_noise": _noise({0.0: 0.0, 1.0: 0.5 * ratio}),
               "regularization": _regularization(0.05), **_yardsticks()}  # fmt: skip
    e = factors.label_noise_claim(results, "mnist")
    f = factors.dominant_factors_claim(results, "mnist")
    cells = factors.label_noise_cells(results, "mnist")
    assert cells["ratio"].to_numpy() == pytest.approx(np.full(len(cells), ratio))
    if ratio < 1:
        assert e.status == "reproduced" and f.status == "reproduced"
        assert "label noise 18 of 18" in f.evidence
    else:
        assert e.status == "not reproduced" and f.status != "reproduced"
        assert "label noise 0 of 18" in f.evidence


def test_dominance_uses_each_yardstick_and_every_metric_knn_included() -> None:
    # model size dominates everything; training time moves K-NN by only 0.02, less than
    # dropout-free weight decay's 0.1: the old rule (model size only, no K-NN) passed this
    results = {"regularization": _regularization(0.1), "label_noise": _noise({0: 0, 0.5: 0.05}),
               **_yardsticks(tt={**dict.fromkeys(METRICS, 0.5), "knn_test": 0.02})}
    f = factors.dominant_factors_claim(results, "mnist")
    assert f.status == "partly reproduced", f
    cells = pd.concat([factors.regularization_cells(results, "mnist"),
                       factors.label_noise_cells(results, "mnist")])  # fmt: skip
    failing = cells[~cells.dominated.astype(bool)]
    assert set(failing.metric) == {"knn_test"} and set(failing.yardstick) == {"training time"}
    assert set(cells.metric) == set(METRICS)
    assert set(cells.yardstick) == {"model size", "training time", "sample size"}
    matrix = factors.dominance_matrix(cells)
    assert {"ratio to model size", "ratio to training time", "ratio to sample size"} <= set(
        matrix.columns)
    row = matrix[(matrix.factor == "weight decay (BN on)") & (matrix.metric == "9-NN accuracy")]
    assert row["dominated by"].iloc[0] == "model size, sample size"
    # a tenth of the dominant factors' effect the other way round: not reproduced
    upside = {"regularization": _regularization(0.5), **_yardsticks(0.05, 0.05, 0.05)}
    assert factors.dominant_factors_claim(upside, "mnist").status == "not reproduced"
    with pytest.raises(ValueError, match="neither 'regularization' nor 'label_noise'"):
        factors.dominant_factors_claim(_yardsticks(), "mnist")


def test_verdict_texts_have_no_numpy_reprs_or_nan() -> None:
    results = {"regularization": _regularization(0.1), "label_noise": _noise({0: 0, 1: 0.3}),
               **_yardsticks(tt=0.2)}  # fmt: skip
    for fn in (factors.regularization_claim, factors.label_noise_claim,
               factors.dominant_factors_claim):  # fmt: skip
        text = fn(results, "mnist").text()
        assert "np." not in text and not re.search(r"\bnan\b", text, re.I), text
        assert "Basis: mnist" in text


def test_label_noise_table() -> None:
    rows = []
    for r, mode, acc, clean in (
        (0.0, "uniform_other", 0.99, None),
        (0.4, "uniform_other", 0.8, 0.6),
        (0.4, "original", 0.7, 0.65),
    ):
        for metric, value in (
            ("rr_train", 0.01 + r),
            ("net_acc_train", acc),
            ("net_acc_clean_train", clean),
            ("knn_test", 0.9 - r / 2),
        ):
            if value is not None:
                rows.append(
                    {
                        "dataset": "mnist",
                        "width": 60,
                        "n_train": 100,
                        "label_noise": r,
                        "label_noise_mode": mode,
                        "seed": 0,
                        "metric": metric,
                        "value": value,
                        "final": True,
                    }
                )
    rates = pd.DataFrame(
        {
            "dataset": "mnist",
            "n_train": 100,
            "label_noise": [0.0, 0.4, 0.4],
            "label_noise_mode": ["uniform_other", "uniform_other", "original"],
            "seed": 0,
            "effective_noise": [0.0, 0.4, 0.36],
        }
    )
    t = factors.label_noise_table(pd.DataFrame(rows), rates)
    assert len(t) == 4  # the clean row repeated for the original mode
    row = t[(t.label_noise == 0.4) & (t.label_noise_mode == "uniform_other")].iloc[0]
    assert row.fits_noise == pytest.approx(0.8 - 0.6)  # memorized some wrong labels
    clean = t[t.label_noise == 0.0]
    assert set(clean.label_noise_mode) == {"uniform_other", "original"}
    assert (clean.net_acc_clean_train == 0.99).all()


def test_regularization_columns() -> None:
    df = pd.DataFrame(
        {
            "weight_decay": [1e-6, 0.0, 1e-2, 1e-6],
            "batchnorm": [True, True, False, True],
            "dropout": [0.0, 0.0, 0.0, 0.5],
        }
    )
    out = factors.regularization_columns(df)
    assert list(out.factor) == [
        "paper setting",
        "weight decay (BN on)",
        "weight decay (BN off)",
        "dropout",
    ]
    assert list(out.setting) == [
        "wd 1e-6, BN on, dropout 0",
        "wd 0, BN on, dropout 0",
        "wd 1e-2, BN off, dropout 0",
        "wd 1e-6, BN on, dropout 0.5",
    ]


# ---------------------------------------------------------------------------- phase chart


def _phase_frame(rr: dict[tuple[int, int], tuple[float, float]], y: str) -> pd.DataFrame:
    rows = []
    for (w, v), (tr, te) in rr.items():
        for metric, value in (("rr_train", tr), ("rr_test", te)):
            rows.append(
                {
                    "dataset": "mnist",
                    "width": w,
                    y: v,
                    "seed": 0,
                    "metric": metric,
                    "value": value,
                    "final": True,
                }
            )
    return pd.DataFrame(rows)


#: Three ordered regimes at epochs 1 and 20, boundaries where they were (10|40, 40|100).
ORDERED = {
    (10, 1): (0.9, 0.8),
    (40, 1): (0.2, 0.1),
    (100, 1): (0.005, 0.02),
    (10, 20): (0.8, 0.7),
    (40, 20): (0.05, 0.03),
    (100, 20): (0.0, 0.01),
}
#: The same, but width 40 sufficiently expressive at epoch 20: a boundary moves to smaller widths.
MOVING = {**ORDERED, (40, 20): (0.005, 0.02)}
#: A sample-size plane whose critical/sufficient boundary moves from 100 to 40 as n grows.
SAMPLES_MOVING = {(10, 100): (0.9, 0.8), (40, 100): (0.2, 0.1), (100, 100): (0.0, 0.01),
                  (10, 10000): (0.6, 0.4), (40, 10000): (0.005, 0.04),
                  (100, 10000): (0.0, 0.01)}  # fmt: skip
SAMPLES_FIXED = {(w, n): v for (w, _), v in ORDERED.items() for n in (100, 10000)
                 if _ == 1}  # fmt: skip


def _planes(time: dict, samples: dict) -> dict[str, pd.DataFrame]:
    return {"epoch": factors.phase_cells(_phase_frame(time, "epoch"), "epoch"),
            "n_train": factors.phase_cells(_phase_frame(samples, "n_train"), "n_train")}


def test_phase_cells_and_boundary_sentences() -> None:
    cells = factors.phase_cells(_phase_frame(ORDERED, "epoch"), "epoch")
    assert list(cells.regime) == [UNDER, UNDER, CRITICAL, CRITICAL, SUFFICIENT, SUFFICIENT]
    sentences = factors.boundary_sentences(cells, "epoch")
    assert sentences[0] == (
        "dataset mnist, epoch 1: critically-expressive from width 40 (boundary between 10 and "
        "40); sufficiently-expressive from width 100 (boundary between 40 and 100)."
    )


def test_boundary_movement() -> None:
    cells = factors.phase_cells(_phase_frame(MOVING, "epoch"), "epoch")
    m = factors.boundary_movement(cells, "epoch").set_index("boundary")
    crit = f"{CRITICAL} | {SUFFICIENT}"
    assert m.loc[crit, "steps"] == -1 and m.loc[crit, "moves"] == "to smaller widths"
    assert m.loc[crit, "x_first"] == 100 and m.loc[crit, "x_last"] == 40
    assert m.loc[f"{UNDER} | {CRITICAL}", "moves"] == "stays"
    assert m.loc[crit, "path"] == "1: 100, 20: 40"
    back = {**MOVING, (40, 30): (0.2, 0.1), (10, 30): (0.9, 0.9), (100, 30): (0.0, 0.0)}
    m = factors.boundary_movement(factors.phase_cells(_phase_frame(back, "epoch"), "epoch"),
                                  "epoch").set_index("boundary")  # fmt: skip
    assert m.loc[crit, "steps"] == 0 and m.loc[crit, "steps_back"] == 1


def test_phase_chart_verdict_reproduced_when_both_planes_move() -> None:
    v = factors.phase_chart_verdict(_planes(MOVING, SAMPLES_MOVING))
    assert v.status == "reproduced", v
    assert v.numbers["planes_moving_the_papers_way"] == 2
    assert "not comparable" in v.evidence


def test_phase_chart_verdict_not_reproduced_when_the_boundaries_stay() -> None:
    # three ordered regimes, monotone in width everywhere: the old rule said reproduced
    v = factors.phase_chart_verdict(_planes(ORDERED, SAMPLES_FIXED))
    assert v.status == "not reproduced", v
    assert "along training time the boundaries do not move" in v.evidence
    assert v.numbers["n_regimes"] == 3


def test_phase_chart_verdict_not_reproduced_on_an_untrained_network() -> None:
    # every epoch a copy of epoch 0 (what claims.untrained_rows builds): nothing can move
    init = {(w, 0): v for (w, e), v in MOVING.items() if e == 1}
    untrained = {(w, e): v for (w, _), v in init.items() for e in (0, 1, 20)}
    v = factors.phase_chart_verdict({"epoch": _planes(untrained, SAMPLES_FIXED)["epoch"]})
    assert v.status == "not reproduced", v
    # the same rows but trained: the boundary moves
    trained = {**untrained, (40, 20): (0.005, 0.02)}
    assert factors.phase_chart_verdict(
        {"epoch": _planes(trained, SAMPLES_FIXED)["epoch"]}).status == "partly reproduced"


def test_phase_chart_verdict_partly_names_what_fails() -> None:
    v = factors.phase_chart_verdict(_planes(ORDERED, SAMPLES_MOVING))
    assert v.status == "partly reproduced", v
    assert ("Partly: the boundaries move as the paper draws them along sample size, but along "
            "training time the boundaries do not move") in v.evidence
    wrong_way = {**ORDERED, (100, 20): (0.2, 0.1)}  # width 100 loses sufficiency with training
    v = factors.phase_chart_verdict(_planes(wrong_way, SAMPLES_MOVING))
    assert v.status == "partly reproduced" and "moves to larger widths" in v.evidence


def test_phase_chart_verdict_not_tested() -> None:
    one = {(10, 1): (0.9, 0.8), (10, 20): (0.8, 0.7)}
    cells = factors.phase_cells(_phase_frame(one, "epoch"), "epoch")
    assert factors.phase_chart_verdict({"epoch": cells}).status == "not tested"
    short = Basis("mnist", "smoke", epochs=2, max_epochs=2, seeds=1)
    v = factors.phase_chart_verdict(_planes(MOVING, SAMPLES_MOVING), basis=short)
    assert v.status == "not tested" and "Not tested at this preset" in v.evidence
    assert v.basis == str(short)


# --------------------------------------------------------------------------------- charts


def test_boundary_segments() -> None:
    cells = factors.phase_cells(_phase_frame(ORDERED, "epoch"), "epoch")
    segs = phase_charts.boundary_segments(cells, "width", "epoch")
    # two vertical boundaries per row (10|40, 40|100), no horizontal ones
    assert sorted(segs.x0.tolist()) == [0.5, 0.5, 1.5, 1.5] and set(segs.kind) == {"x"}
    mixed = cells.assign(regime=[UNDER, UNDER, CRITICAL, UNDER, SUFFICIENT, SUFFICIENT])
    segs = phase_charts.boundary_segments(mixed, "width", "epoch")
    assert (segs.kind == "y").sum() == 1  # width 40: critical at epoch 1, under at 20


def _axis_labels(chart: object) -> list[list[str]]:
    """The tick labels of each axis Vega draws for ``chart`` (x first)."""
    import vl_convert as vlc

    labels: list[list[str]] = []

    def walk(node: object) -> None:
        if isinstance(node, list):
            for child in node:
                walk(child)
        elif isinstance(node, dict):
            if node.get("role") == "axis-label":
                labels.append([item["text"] for item in node["items"]])
            for child in node.values():
                walk(child)

    walk(vlc.vegalite_to_scenegraph(chart.to_dict())["scenegraph"])  # type: ignore[attr-defined]
    return labels


def test_phase_heatmap_draws_one_cell_per_grid_point_coloured_by_its_regime() -> None:
    from test_charts import drawn  # the scenegraph reader of the chart tests

    cells = factors.phase_cells(_phase_frame(ORDERED, "n_train"), "n_train")
    chart = phase_charts.phase_heatmap(cells, "n_train", all_value=20, title="t")
    marks = drawn(chart).marks
    rects, texts, rules = (marks[marks["mark"] == m] for m in ("rect", "text", "rule"))
    # one rectangle per cell, carrying that cell's width, sample size, RRs and regime
    got = sorted(zip(rects["width"], rects["n_train"], rects["train RR"], rects["test RR"],
                     rects["regime"], strict=True))  # fmt: skip
    want = sorted(zip(cells["width"].astype(float), cells["n_train"].astype(float),
                      cells["rr_train"], cells["rr_test"], cells["regime"], strict=True))
    assert got == want
    # one colour per regime, three different ones; every cell labelled once
    colours = rects.groupby("regime")["fill"].unique()
    assert all(len(c) == 1 for c in colours) and len({c[0] for c in colours}) == 3
    assert len(texts) == len(cells)
    # the boundaries are vertical rules between widths 10|40 and 40|100, where regimes change
    assert (rules["px"] == rules["px2"]).all() and len(rules) == 4
    x_of = {w: rects.loc[rects["width"] == w, ["px", "px2"]].iloc[0] for w in (10.0, 40.0, 100.0)}
    assert set(rules["px"]) == {x_of[10.0]["px2"], x_of[40.0]["px2"]}
    # the sample-size axis names the full training set; larger n is drawn higher
    assert _axis_labels(chart) == [["10", "40", "100"], ["1", "20 (all)"]]
    low = rects[rects["n_train"] == 1.0]["py"].iloc[0]
    assert rects[rects["n_train"] == 20.0]["py"].iloc[0] < low
    with pytest.raises(ValueError, match="several rows share"):
        phase_charts.phase_heatmap(pd.concat([cells, cells]), "n_train")


def test_threshold_sensitivity_and_settings_charts() -> None:
    cells = factors.phase_cells(_phase_frame(ORDERED, "epoch"), "epoch")
    sens = threshold_sensitivity(
        cells, "width", "epoch", by=["dataset"], thresholds=PhaseThresholds()
    )
    spec = phase_charts.threshold_sensitivity_chart(sens, "epoch").to_dict()
    assert spec["facet"]["column"]["field"] == "regime"
    reg = factors.regularization_columns(aggregate(
        _regularization(0.1), by=["dataset", "width", "weight_decay", "batchnorm", "dropout"]))
    spec = phase_charts.settings_chart(
        reg, "setting", ["rr_train", "knn_test"], color="factor"
    ).to_dict()
    assert spec["resolve"]["scale"]["x"] == "independent"
    with pytest.raises(ValueError, match=re.escape("metrics ['lr_train'] are not in the frame")):
        phase_charts.settings_chart(reg, "setting", ["lr_train"])


# ------------------------------------------------------------------------- claims adapters


def _rr_rows(key: str, width: int, n_train: int, epoch: int, final: bool, rr_train: float,
             rr_test: float) -> list[dict[str, object]]:
    """The two RR rows of one run at one epoch (MNIST, seed 0), as plan.run() has them."""
    base = {"key": key, "dataset": "mnist", "width": width, "n_train": n_train, "epoch": epoch,
            "final": final, "seed": 0}  # fmt: skip
    return [{**base, "metric": "rr_train", "value": rr_train},
            {**base, "metric": "rr_test", "value": rr_test}]  # fmt: skip


def test_phase_chart_claim_splits_the_two_planes() -> None:
    rows = []
    for (w, e), (tr, te) in MOVING.items():  # training-time runs: one key per width, 2 epochs
        rows += _rr_rows(f"t{w}", w, 48000, e, e == 20, tr, te)
    for (w, n), (tr, te) in SAMPLES_MOVING.items():
        rows += _rr_rows(f"s{w}n{n}", w, n, 8, True, tr, te)
    frame = pd.DataFrame(rows)
    planes = factors.phase_axes_frames(frame)
    assert set(planes["epoch"].key) == {"t10", "t40", "t100"}
    assert len(set(planes["n_train"].key)) == 6
    v = factors.phase_chart_claim({"phase_chart": frame}, "mnist")
    assert v.status == "reproduced", v
    fixed = pd.DataFrame([r for (w, e), (tr, te) in ORDERED.items()
                          for r in _rr_rows(f"t{w}", w, 48000, e, e == 20, tr, te)])
    v = factors.phase_chart_claim({"phase_chart": pd.concat([fixed, frame[frame.key.str.startswith(
        "s")]])}, "mnist")
    assert v.status == "partly reproduced", v  # sample size moves, training time does not


# ------------------------------------------------------- shipped results in the factor chapters


def test_memorization_table() -> None:
    table = pd.DataFrame(
        {
            "dataset": "mnist", "width": 60, "n_train": 100,
            "label_noise": [0.0, 0.4], "label_noise_mode": "uniform_other",
            "effective_noise": [0.0, 0.4], "rr_train": [0.01, 0.005], "rr_test": 0.02,
            "net_acc_train": [0.99, 0.8], "net_acc_clean_train": [0.99, 0.6],
            "fits_noise": [-0.01, 0.2], "knn_test": 0.9,
        }
    )  # fmt: skip
    memo = factors.memorization_table(table)
    assert "knn_test" not in memo and np.isnan(memo.memorized[0])
    assert memo.memorized[1] == pytest.approx(0.5)  # half of the wrong labels reproduced
    with pytest.raises(ValueError, match=r"memorization_table needs column\(s\) \['fits_noise'\]"):
        factors.memorization_table(table.drop(columns="fits_noise"))


class _Run:
    def __init__(self, key: str) -> None:
        self.key = key


def _two_planes() -> tuple[pd.DataFrame, dict[str, list[_Run]]]:
    """A phase-chart frame: training-time runs t<width> (epochs 1 and 20) and sample-size runs
    s<width> (n = 100), as the chapter's plan.run() returns it."""
    rows = []
    for (w, e), (tr, te) in ORDERED.items():
        rows += _rr_rows(f"t{w}", w, 48000, e, e == 20, tr, te)
    for w, (tr, te) in {10: (0.9, 0.8), 40: (0.3, 0.2), 100: (0.0, 0.01)}.items():
        rows += _rr_rows(f"s{w}", w, 100, 8, True, tr, te)
    axes = {
        "training_time": [_Run(f"t{w}") for w in (10, 40, 100)],
        "sample_size": [_Run(f"s{w}") for w in (10, 40, 100)],
    }
    return pd.DataFrame(rows), axes


def test_phase_planes_split_as_the_chapter_does() -> None:
    frame, axes = _two_planes()
    planes = factors.phase_planes(frame, axes)
    time_keys = {c.key for c in axes["training_time"]}  # the chapter's own split
    pd.testing.assert_frame_equal(
        planes["epoch"], factors.phase_cells(frame[frame.key.isin(time_keys)], "epoch")
    )
    pd.testing.assert_frame_equal(
        planes["n_train"], factors.phase_cells(frame[~frame.key.isin(time_keys)], "n_train")
    )
    # ORDERED's boundaries stay where they were, and one sample size cannot move
    assert factors.phase_chart_verdict(planes).status == "not reproduced"
    by_ds = factors.planes_by_dataset(planes)
    assert list(by_ds) == ["mnist"] and list(by_ds["mnist"]) == ["epoch", "n_train"]
    lines = factors.phase_boundary_lines(planes)
    # widths per epoch, widths per sample size, then epochs and sample sizes per width
    assert lines[:2] == factors.boundary_sentences(planes["epoch"], "epoch")
    assert lines[3] == factors.boundary_sentences(planes["n_train"], "n_train",
                                                  names={"n_train": "n"})[0]  # fmt: skip
    assert lines[3].startswith("dataset mnist, n 100: critically-expressive from width 40")
    assert lines.count("") == 3 and lines[-1].startswith("dataset mnist, width 100: ")
    assert "sufficiently-expressive from the first n, 100" in lines[-1]


def test_phase_planes_cope_with_a_partial_grid_and_with_nothing() -> None:
    frame, axes = _two_planes()
    # the time plane missing entirely, the sample plane missing width 40, a run of no axis
    part = frame[frame.key.isin({"s10", "s100"})]
    stray = frame[frame.key == "t10"].assign(key="other")
    planes = factors.phase_planes(pd.concat([part, stray]), axes)
    assert planes["epoch"].empty and list(planes["n_train"].width) == [10, 100]
    assert list(factors.planes_by_dataset(planes)["mnist"]) == ["n_train"]
    assert factors.phase_boundary_lines(planes)[0] == (  # width 40, the critical cell: missing
        "dataset mnist, n 100: never critically-expressive; sufficiently-expressive from width "
        "100 (boundary between 10 and 100)."
    )
    assert factors.phase_chart_verdict(planes).status == "not tested"  # one sample size
    empty = factors.phase_planes(frame.iloc[:0], axes)
    for y, cells in empty.items():
        assert cells.empty and {"dataset", "width", y, "rr_train", "rr_test", "regime"} <= set(
            cells.columns
        )
    assert factors.planes_by_dataset(empty) == {} and factors.phase_boundary_lines(empty) == []
    assert factors.phase_chart_verdict(empty).status == "not tested"


def _shipped_frame(configs: list[RunConfig]) -> pd.DataFrame:
    """Rows as hashlib_nn.shipped.load returns them (two metrics per run, provenance)."""
    rows = []
    for i, c in enumerate(configs):
        for metric in ("rr_train", "rr_test"):
            rows.append({
                "key": c.key, "dataset": c.dataset, "metric": metric, "value": 0.1,
                "created": f"2026-11-2{5 + i}T10:00:00+00:00", "device": "cpu",
                "group_size": 2, "train_seconds": 3600.0, "eval_seconds": 60.0,
                "torch": "2.13.0+cpu", "hashlib_nn": "0.1.0", "git_commit": "abcdef0123456789",
                "git_dirty": i == 1,
            })  # fmt: skip
    return pd.DataFrame(rows)


def test_shipped_summary_and_configs(tmp_path: Path) -> None:
    root = tmp_path
    (root / "smoke").mkdir()
    machine = {"cpu": "Test CPU", "cpu_count": 2, "torch_threads": 2}
    (root / "smoke" / "PROVENANCE.json").write_text(
        json.dumps({"machine": machine, "note": "partial: in progress", "chapters": {}})
    )
    configs = presets.grid("label_noise", "smoke", dataset="synthetic")
    frame = _shipped_frame(configs[:2])
    lines = shipped.summary(
        "label_noise", frame, preset="smoke", dataset=["synthetic", "mnist"], root=root
    )
    # (the traceability line of hashlib_nn.provenance is tested in tests/test_shipped.py)
    lines = [line for line in lines if not line.startswith("Traceability: ")]
    assert lines == [
        f"smoke results, synthetic: 2 of {len(configs)} runs of the grid shipped (partial).",
        f"smoke results, mnist: 0 of {len(configs)} runs of the grid shipped (not shipped).",
        "Computed on Test CPU (2 cores, 2 torch threads; device cpu) from 2026-11-25 10:00 to "
        "2026-11-26 10:00 UTC: 1.0 hours of training and evaluation, summed over the runs.",
        "Versions: torch 2.13.0+cpu, hashlib_nn 0.1.0, git commit abcdef0123 (with uncommitted "
        "changes).",
        "Note: partial: in progress",
    ]
    # dataset None: the preset's data sets, and any shipped one besides
    lines = shipped.summary("label_noise", frame, preset="smoke", root=tmp_path / "no")
    assert lines[0].startswith("smoke results, mnist: 0 of")
    assert lines[1].endswith("synthetic: 2 of 5 runs of the grid shipped (partial).")
    assert "an unrecorded CPU (cores unrecorded; device cpu)" in lines[2]
    full = _shipped_frame(configs)
    assert shipped.summary("label_noise", full, preset="smoke", dataset="synthetic",
                                   root=root)[0].endswith("(complete).")  # fmt: skip
    assert shipped.summary("label_noise", frame.iloc[:0], preset="smoke", root=root) == [
        "No smoke results shipped for label_noise (mnist): nothing to show."
    ]
    # determinism and categorization count the model-size grid they read
    ms = presets.grid("model_size", "smoke", dataset="synthetic")
    lines = shipped.summary("determinism", _shipped_frame(ms[:1]), preset="smoke",
                            dataset="synthetic", root=root)  # fmt: skip
    assert lines[0] == (
        f"smoke results, synthetic: 1 of {len(ms)} runs of the grid shipped (partial)."
    )
    got = factors.shipped_configs("label_noise", frame, preset="smoke")
    assert [c.key for c in got] == [c.key for c in configs[:2]]
    assert factors.shipped_configs("label_noise", frame.iloc[:0], preset="smoke") == []


def test_the_shipped_standard_results_feed_the_factor_chapters() -> None:
    """What the chapters' last sections do with the shipped standard results: nothing fails,
    whatever part of the grids is shipped."""
    reg = shipped.load("regularization", "standard")
    noise = shipped.load("label_noise", "standard")
    chart = shipped.load("phase_chart", "standard")
    for chapter, frame in (("regularization", reg), ("label_noise", noise), ("phase_chart", chart)):
        lines = shipped.summary(chapter, frame)
        assert len(lines) == 1 if frame.empty else lines[0].startswith("standard results, ")
    if len(noise):
        table = factors.label_noise_table(final_rows(noise))
        assert len(factors.memorization_table(table)) == len(table)
    planes = factors.phase_planes(chart, presets.phase_chart_axes("standard"))
    assert sum(len(c) for c in planes.values()) == 0 or factors.phase_boundary_lines(planes)
    assert set(factors.planes_by_dataset(planes)) <= set(chart.dataset)
    assert factors.phase_chart_verdict(planes).status


def test_claim_chapters_name_every_frame_the_claim_functions_read() -> None:
    """With exactly CLAIM_CHAPTERS' frames each claim gets its full verdict (no "could not be
    compared"), and the dominant factors are among them."""
    results = {"regularization": _regularization(0.1), "label_noise": _noise({0: 0, 0.5: 0.1}),
               "phase_chart": pd.DataFrame(
                   [r for (w, e), (tr, te) in MOVING.items()
                    for r in _rr_rows(f"t{w}", w, 48000, e, e == 20, tr, te)]),
               **_yardsticks()}  # fmt: skip
    fns = {"regularization": factors.regularization_claim,
           "label_noise": factors.label_noise_claim,
           "dominant_factors": factors.dominant_factors_claim,
           "phase_chart": factors.phase_chart_claim}  # fmt: skip
    assert set(fns) == set(factors.CLAIM_CHAPTERS)
    for name, chapters in factors.CLAIM_CHAPTERS.items():
        v = fns[name]({c: results[c] for c in chapters}, "mnist")
        assert "could not be compared" not in v.evidence and v.status != "not tested", v
