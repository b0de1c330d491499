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

from hashlib_nn import experiments, factors, phase_charts, presets, shipped
from hashlib_nn.analysis import aggregate
from hashlib_nn.experiments import (
    RunConfig,
    content_key,
    register_dataset,
    run,
    sweep,
    synthetic_dataset,
    unregister_dataset,
)
from hashlib_nn.noise import expected_effective_rate, original_label_noise, symmetric_label_noise
from hashlib_nn.phase import CRITICAL, SUFFICIENT, UNDER, PhaseThresholds, threshold_sensitivity
from hashlib_nn.train import TrainConfig

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
        experiments._run_data(zero).y_fit, experiments._run_data(clean).y_fit
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
    data = experiments._run_data(c)
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


def _agg(rows: list[dict], by: list[str]) -> pd.DataFrame:
    return aggregate(pd.DataFrame(rows), by)


def _widths(
    rr: dict[int, float], knn: dict[int, float], *, seeds: int = 1, noise: float = 0.0
) -> pd.DataFrame:
    rows = []
    for w in rr:
        for s in range(seeds):
            d = noise * s
            for metric, value in (
                ("rr_train", rr[w] + d),
                ("rr_test", rr[w] / 2 + d),
                ("knn_test", knn[w]),
                ("kmeans_purity_test", knn[w] - 0.2),
            ):
                rows.append(
                    {"dataset": "mnist", "width": w, "seed": s, "metric": metric, "value": value}
                )
    return _agg(rows, ["dataset", "width"])


WIDTHS = _widths({3: 1.0, 10: 0.98, 30: 0.2, 100: 0.0}, {3: 0.3, 10: 0.7, 30: 0.9, 100: 0.96})


def _reg(effects: dict[tuple[float, bool, float], float]) -> pd.DataFrame:
    rows = []
    for (wd, bn, drop), delta in effects.items():
        for metric, base in (("rr_train", 0.2), ("rr_test", 0.1), ("knn_test", 0.9)):
            rows.append(
                {
                    "dataset": "mnist",
                    "width": 30,
                    "weight_decay": wd,
                    "batchnorm": bn,
                    "dropout": drop,
                    "seed": 0,
                    "metric": metric,
                    "value": base + (delta if metric != "knn_test" else -delta / 4),
                }
            )
    return _agg(rows, ["dataset", "width", "weight_decay", "batchnorm", "dropout"])


def test_regularization_verdict_reproduced_when_small_but_real() -> None:
    reg = _reg(
        {
            (1e-6, True, 0.0): 0.0,
            (1e-2, True, 0.0): 0.1,
            (1e-6, False, 0.0): 0.05,
            (1e-6, True, 0.5): -0.05,
            (1e-2, False, 0.0): 0.25,  # two factors at once: judged only in the BN-off family
        }
    )
    v = factors.regularization_verdict(reg, WIDTHS)
    assert v.status == "reproduced", v
    # largest one-factor spread: weight decay with BN off, 0.05 -> 0.25
    assert v.numbers["max_factor_spread"] == pytest.approx(0.2)
    assert v.numbers["max_ratio"] == pytest.approx(0.4)  # test RR: 0.2 / 0.5
    key = "ratio weight decay (BN on): rr_train w30"
    assert v.numbers[key] == pytest.approx(0.1)
    assert "wd 1e-2" in v.evidence and "weight decay (BN off)" in v.evidence
    table = factors.regularization_breakdown(reg, WIDTHS)
    assert set(table.family) == {
        "weight decay (BN on)",
        "weight decay (BN off)",
        "BatchNorm on/off (wd 1e-6)",
        "dropout (wd 1e-6, BN on)",
    }


def test_regularization_verdict_not_reproduced_when_it_moves_rr_more_than_width() -> None:
    widths = _widths({20: 0.5, 30: 0.2, 40: 0.1}, {20: 0.85, 30: 0.9, 40: 0.92})
    reg = _reg({(1e-6, True, 0.0): 0.0, (1e-6, False, 0.0): 0.75})
    v = factors.regularization_verdict(reg, widths)
    assert v.status == "not reproduced" and v.numbers["max_ratio"] > 1


def test_regularization_verdict_partly() -> None:
    noisy_widths = _widths(
        {3: 1.0, 30: 0.2, 100: 0.0}, {3: 0.3, 30: 0.9, 100: 0.96}, seeds=2, noise=0.05
    )
    reg = _reg({(1e-6, True, 0.0): 0.0, (1e-4, True, 0.0): 0.03})  # below the seed noise
    v = factors.regularization_verdict(reg, noisy_widths)
    assert v.status == "partly reproduced" and v.numbers["effect_floor"] == pytest.approx(0.05)
    reg = _reg({(1e-6, True, 0.0): 0.0, (1e-6, True, 0.5): 0.3})  # test RR: 0.6 of width's
    assert factors.regularization_verdict(reg, WIDTHS).status == "partly reproduced"


def test_regularization_verdict_not_tested() -> None:
    reg = _reg({(1e-6, True, 0.0): 0.0})
    assert factors.regularization_verdict(reg, WIDTHS).status == "not tested"
    one_width = _widths({30: 0.2}, {30: 0.9})
    reg2 = _reg({(1e-6, True, 0.0): 0.0, (1e-2, True, 0.0): 0.1})
    assert factors.regularization_verdict(reg2, one_width).status == "not tested"


def _noise(
    rr: dict[float, float], purity: dict[float, float], mode: str = "uniform_other"
) -> list[dict]:
    rows = []
    for r in rr:
        for metric, value in (
            ("rr_train", rr[r]),
            ("rr_test", rr[r] / 2),
            ("kmeans_purity_test", purity[r]),
            ("knn_test", 0.9 - 0.9 * r),
        ):
            rows.append(
                {
                    "dataset": "mnist",
                    "width": 60,
                    "label_noise": r,
                    "label_noise_mode": "uniform_other" if r == 0 else mode,
                    "seed": 0,
                    "metric": metric,
                    "value": value,
                }
            )
    return rows


def test_label_noise_verdict_both_outcomes() -> None:
    by = ["dataset", "width", "label_noise", "label_noise_mode"]
    small = _agg(_noise({0.0: 0.01, 0.5: 0.05, 1.0: 0.1}, {0.0: 0.7, 0.5: 0.65, 1.0: 0.6}), by)
    v = factors.label_noise_verdict(small, WIDTHS)
    assert v.status == "reproduced", v
    # K-NN falls by 0.9 with the noisy labels but is not judged (fit on wrong labels)
    assert "knn" not in " ".join(v.numbers)
    big = _agg(_noise({0.0: 0.01, 0.5: 0.5, 1.0: 1.0}, {0.0: 0.7, 0.5: 0.4, 1.0: 0.1}), by)
    assert factors.label_noise_verdict(big, WIDTHS).status == "partly reproduced"  # ratio 0.99
    narrow = _widths({30: 0.2, 100: 0.0}, {30: 0.9, 100: 0.96})
    assert factors.label_noise_verdict(big, narrow).status == "not reproduced"  # ratio 4.95
    # the original mode's rows are ignored by the default verdict
    mixed = _agg(
        _noise({0.0: 0.01, 0.5: 0.05}, {0.0: 0.7, 0.5: 0.69})
        + _noise({0.5: 1.0}, {0.5: 0.1}, mode="original"),
        by,
    )
    assert factors.label_noise_verdict(mixed, narrow).status == "reproduced"
    assert factors.label_noise_verdict(mixed, narrow, mode="original").status == "not reproduced"


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


ORDERED = {
    (10, 1): (0.9, 0.8),
    (40, 1): (0.2, 0.1),
    (100, 1): (0.005, 0.02),
    (10, 20): (0.8, 0.7),
    (40, 20): (0.05, 0.03),
    (100, 20): (0.0, 0.01),
}


def test_phase_cells_and_verdict_reproduced() -> None:
    cells = factors.phase_cells(_phase_frame(ORDERED, "epoch"), "epoch")
    assert list(cells.regime) == [UNDER, UNDER, CRITICAL, CRITICAL, SUFFICIENT, SUFFICIENT]
    v = factors.phase_chart_verdict({"epoch": cells})
    assert v.status == "reproduced" and v.numbers["monotone_share"] == 1.0
    sentences = factors.boundary_sentences(cells, "epoch")
    assert sentences[0] == (
        "dataset mnist, epoch 1: critically-expressive from width 40 (boundary between 10 and "
        "40); sufficiently-expressive from width 100 (boundary between 40 and 100)."
    )


def test_phase_chart_verdict_other_outcomes() -> None:
    two = {k: (min(v[0], 0.4), v[1]) for k, v in ORDERED.items() if k[0] != 100}
    cells = factors.phase_cells(_phase_frame(two, "epoch"), "epoch")
    assert factors.phase_chart_verdict({"epoch": cells}).status == "partly reproduced"
    backwards = {
        (10, 1): (0.0, 0.0),
        (40, 1): (0.9, 0.9),
        (10, 20): (0.0, 0.0),
        (40, 20): (0.9, 0.9),
    }
    cells = factors.phase_cells(_phase_frame(backwards, "n_train"), "n_train")
    assert factors.phase_chart_verdict({"n_train": cells}).status == "not reproduced"
    one = {(10, 1): (0.9, 0.8), (10, 20): (0.8, 0.7)}
    cells = factors.phase_cells(_phase_frame(one, "epoch"), "epoch")
    assert factors.phase_chart_verdict({"epoch": cells}).status == "not tested"


# --------------------------------------------------------------------------------- charts


def test_boundary_segments() -> None:
    cells = factors.phase_cells(_phase_frame(ORDERED, "epoch"), "epoch")
    segs = phase_charts.boundary_segments(cells, "width", "epoch")
    # two vertical boundaries per row (10|40, 40|100), no horizontal ones
    assert sorted(segs.x0.tolist()) == [0.5, 0.5, 1.5, 1.5] and set(segs.kind) == {"x"}
    mixed = cells.assign(regime=[UNDER, UNDER, CRITICAL, UNDER, SUFFICIENT, SUFFICIENT])
    segs = phase_charts.boundary_segments(mixed, "width", "epoch")
    assert (segs.kind == "y").sum() == 1  # width 40: critical at epoch 1, under at 20


def test_phase_heatmap_spec() -> None:
    cells = factors.phase_cells(_phase_frame(ORDERED, "n_train"), "n_train")
    spec = phase_charts.phase_heatmap(cells, "n_train", all_value=20, title="t").to_dict()
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks == ["rect", "text", "rule"]
    enc = spec["layer"][0]["encoding"]
    assert enc["color"]["scale"]["domain"] == [UNDER, CRITICAL, SUFFICIENT]
    assert "20 (all)" in enc["y"]["axis"]["labelExpr"]
    assert {t["field"] for t in enc["tooltip"]} >= {"rr_train", "rr_test", "regime"}
    with pytest.raises(ValueError, match="several rows share"):
        phase_charts.phase_heatmap(pd.concat([cells, cells]), "n_train")


def test_threshold_sensitivity_and_settings_charts() -> None:
    cells = factors.phase_cells(_phase_frame(ORDERED, "epoch"), "epoch")
    sens = threshold_sensitivity(
        cells, "width", "epoch", by=["dataset"], thresholds=PhaseThresholds()
    )
    spec = phase_charts.threshold_sensitivity_chart(sens, "epoch").to_dict()
    assert spec["facet"]["column"]["field"] == "regime"
    reg = factors.regularization_columns(_reg({(1e-6, True, 0.0): 0.0, (1e-2, True, 0.0): 0.1}))
    spec = phase_charts.settings_chart(
        reg, "setting", ["rr_train", "knn_test"], color="factor"
    ).to_dict()
    assert spec["resolve"]["scale"]["x"] == "independent"
    with pytest.raises(ValueError, match=re.escape("metrics ['lr_test'] are not in the frame")):
        phase_charts.settings_chart(reg, "setting", ["lr_test"])


# ------------------------------------------------------------------------- claims adapters


def _tidy(rows: list[dict]) -> pd.DataFrame:
    """Tidy result rows (one per run x metric, final epoch) from dicts with ``metric``/``value``."""
    out = pd.DataFrame(rows)
    out["final"] = True
    if "epoch" not in out:
        out["epoch"] = 8
    if "seed" not in out:
        out["seed"] = 0
    return out


def _width_rows(rr: dict[int, float]) -> list[dict]:
    return [
        {"dataset": "mnist", "width": w, "metric": m, "value": v}
        for w, r in rr.items()
        for m, v in (
            ("rr_train", r),
            ("rr_test", r / 2),
            ("knn_test", 0.9 - r / 3),
            ("kmeans_purity_test", 0.7 - r / 3),
        )
    ]


def _reg_rows(delta: float) -> list[dict]:
    rows = []
    for (wd, bn, drop), d in (((1e-6, True, 0.0), 0.0), ((1e-2, True, 0.0), delta)):
        for m, v in (("rr_train", 0.2 + d), ("rr_test", 0.1 + d), ("knn_test", 0.9 - d / 4)):
            rows.append(
                {
                    "dataset": "mnist",
                    "width": 30,
                    "weight_decay": wd,
                    "batchnorm": bn,
                    "dropout": drop,
                    "metric": m,
                    "value": v,
                }
            )
    return rows


def _noise_rows(delta: float) -> list[dict]:
    rows = []
    for r in (0.0, 0.5):
        for m, v in (
            ("rr_train", 0.01),
            ("rr_test", 0.01),
            ("kmeans_purity_test", 0.7 - r * delta),
        ):
            rows.append(
                {
                    "dataset": "mnist",
                    "width": 60,
                    "label_noise": r,
                    "label_noise_mode": "uniform_other",
                    "metric": m,
                    "value": v,
                }
            )
    return rows


def test_claims_adapters() -> None:
    widths = _tidy(_width_rows({3: 1.0, 30: 0.2, 100: 0.0}))
    small = {
        "model_size": widths,
        "regularization": _tidy(_reg_rows(0.1)),
        "label_noise": _tidy(_noise_rows(0.2)),
    }
    assert factors.regularization_claim(small, "mnist").status == "reproduced"
    assert factors.label_noise_claim(small, "mnist").status == "reproduced"
    assert factors.dominant_factors_claim(small, "mnist").status == "reproduced"
    none = {**small, "regularization": _tidy(_reg_rows(0.0))}
    assert factors.regularization_claim(none, "mnist").status == "not reproduced"
    big = {**small, "label_noise": _tidy(_noise_rows(1.4))}  # purity 0.7 -> 0.0 vs 0.33
    assert factors.dominant_factors_claim(big, "mnist").status == "not reproduced"
    with pytest.raises(ValueError, match="results hold no 'regularization' frame"):
        factors.regularization_claim({"model_size": widths}, "mnist")


def _rr_rows(key: str, width: int, n_train: int, epoch: int, final: bool, rr_train: float,
             rr_test: float) -> list[dict[str, object]]:
    """The two RR rows of one run at one epoch (MNIST, seed 0), as plan.run() has them."""
    base = {"key": key, "dataset": "mnist", "width": width, "n_train": n_train, "epoch": epoch,
            "final": final, "seed": 0}  # fmt: skip
    return [{**base, "metric": "rr_train", "value": rr_train},
            {**base, "metric": "rr_test", "value": rr_test}]  # fmt: skip


def test_phase_chart_claim_splits_the_two_planes() -> None:
    rows = []
    for (w, e), (tr, te) in ORDERED.items():  # training-time runs: one key per width, 2 epochs
        rows += _rr_rows(f"t{w}", w, 48000, e, e == 20, tr, te)
    for (w, n), (tr, te) in {(10, 100): (0.9, 0.8), (100, 100): (0.0, 0.01)}.items():
        rows += _rr_rows(f"s{w}", w, n, 8, True, tr, te)
    frame = pd.DataFrame(rows)
    planes = factors.phase_axes_frames(frame)
    assert set(planes["epoch"].key) == {"t10", "t40", "t100"}
    assert set(planes["n_train"].key) == {"s10", "s100"}
    v = factors.phase_chart_claim({"phase_chart": frame}, "mnist")
    assert v.status == "reproduced", v


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
    assert factors.phase_chart_verdict(planes).status == "reproduced"
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
    from hashlib_nn import analysis, shipped

    ms = analysis.aggregate(analysis.final_rows(shipped.load("model_size", "standard")),
                            by=["dataset", "width"])  # fmt: skip
    reg = shipped.load("regularization", "standard")
    noise = shipped.load("label_noise", "standard")
    chart = shipped.load("phase_chart", "standard")
    for chapter, frame in (("regularization", reg), ("label_noise", noise), ("phase_chart", chart)):
        lines = shipped.summary(chapter, frame)
        assert len(lines) == 1 if frame.empty else lines[0].startswith("standard results, ")
    reg_agg = factors.regularization_columns(
        analysis.aggregate(
            analysis.final_rows(reg),
            by=["dataset", "width", "weight_decay", "batchnorm", "dropout"],
        )
    )
    factors.regularization_breakdown(reg_agg, ms)
    assert factors.regularization_verdict(reg_agg, ms).status
    noise_final = analysis.final_rows(noise)
    noise_agg = analysis.aggregate(
        noise_final, by=["dataset", "width", "label_noise", "label_noise_mode"]
    )
    assert factors.label_noise_verdict(noise_agg, ms).status
    if len(noise):
        table = factors.label_noise_table(noise_final)
        assert len(factors.memorization_table(table)) == len(table)
    planes = factors.phase_planes(chart, presets.phase_chart_axes("standard"))
    assert sum(len(c) for c in planes.values()) == 0 or factors.phase_boundary_lines(planes)
    assert set(factors.planes_by_dataset(planes)) <= set(chart.dataset)
    assert factors.phase_chart_verdict(planes).status
