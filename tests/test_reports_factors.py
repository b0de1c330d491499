"""The regularization, label-noise and phase-chart chapter reports (hashlib_nn.reports.*) on
hand-built frames with known answers, and claims 3d-3f and 4 on the shipped standard MNIST rows
checked against an independent count (plain pandas, no hashlib_nn.factors code)."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from hashlib_nn import factors, phase, shipped
from hashlib_nn.experiments import presets
from hashlib_nn.reports import label_noise, phase_chart, regularization
from hashlib_nn.verdicts import ladder

METRICS = factors.EFFECT_METRICS
BASE = {"rr_train": 0.3, "rr_test": 0.2, "kmeans_purity_test": 0.6, "knn_test": 0.8,
        "lr_test": 0.8, "net_acc_test": 0.8, "net_acc_train": 0.9,
        "kmeans_purity_train": 0.6}  # fmt: skip


def _rows(settings: dict[tuple, dict[str, float]], columns: tuple[str, ...], *, seeds: int = 2,
          jitter: float = 0.004, **fixed: object) -> pd.DataFrame:
    rows = []
    for values, offsets in settings.items():
        key = "-".join(map(str, values))
        for s in range(seeds):
            for m, base in BASE.items():
                rows.append({"key": f"{key}-{s}", "dataset": "mnist", "preset": "quick",
                             **fixed, **dict(zip(columns, values, strict=True)), "seed": s,
                             "metric": m, "value": base + offsets.get(m, 0.0) + s * jitter,
                             "epoch": 8, "final": True, "max_epochs": 8,
                             "epochs_run": 8})  # fmt: skip
    return pd.DataFrame(rows)


def _no_leaks(texts: list[str]) -> None:
    for text in texts:
        assert "np." not in text and not re.search(r"\bnan\b", text, re.I), text


def _readable(table: pd.DataFrame) -> None:
    assert isinstance(table.index, pd.RangeIndex) and table.index.start == 0
    raw = {"rr_train", "rr_test", "knn_test", "lr_test", "kmeans_purity_test", "net_acc_test",
           "metric", "family", "label_noise", "weight_decay"}  # fmt: skip
    assert not raw & set(map(str, table.columns)), list(table.columns)
    assert not table.isna().any().any()  # shown as "n/a"


# ------------------------------------------------------------------------- regularization

REG = ("width", "weight_decay", "batchnorm", "dropout")


def _reg_frame(bn_off: float = 0.3) -> pd.DataFrame:
    settings = {
        (30, 1e-6, True, 0.0): {},
        (30, 0.0, True, 0.0): {"rr_train": 0.001},
        (30, 1e-2, True, 0.0): {"rr_train": 0.05},
        (30, 1e-6, False, 0.0): {"rr_train": bn_off},
        (30, 0.0, False, 0.0): {"rr_train": bn_off + 0.001},
        (30, 1e-2, False, 0.0): {"rr_train": bn_off + 0.4},
        (30, 1e-6, True, 0.5): {"rr_train": 0.2, "kmeans_purity_test": 0.1,
                                "net_acc_test": -0.01},
    }  # fmt: skip
    return _rows(settings, REG)


def test_regularization_report_statements_follow_the_data() -> None:
    r = regularization.report(_reg_frame(), dataset="mnist", preset="quick")
    text = "\n".join(r.statements)
    assert ("Width 30: Turning BatchNorm off raises train RR from 0.302 to 0.602 (+0.300, "
            "beyond the noise level 0.02).") in r.statements
    assert "Weight decay 1e-6 instead of none (BN on) lowers train RR" in text
    assert "(-0.001, within the noise level 0.02)" in text
    assert ("Width 30: Weight decay 1e-2 (against 1e-6) changes train RR by +0.050 with "
            "BatchNorm and by +0.400 without: more without BatchNorm.") in r.statements
    assert "Width 30: Dropout 0.5 raises K-Means purity from 0.602 to 0.702" in text
    assert "Width 30: Dropout 0.5 lowers network accuracy from 0.802 to 0.792 (-0.010, within" \
        in text
    # the other way round: the sentence follows
    flipped = regularization.report(_reg_frame(bn_off=-0.2), dataset="mnist", preset="quick")
    assert any(s.startswith("Width 30: Turning BatchNorm off lowers train RR from 0.302 to "
                            "0.102") for s in flipped.statements)  # fmt: skip
    _no_leaks(r.statements)


def test_regularization_report_tables_charts_and_verdict() -> None:
    yard = {"model_size": _rows({(w,): dict.fromkeys(METRICS, f) for w, f in
                                 ((10, 0.0), (30, 0.4), (100, 0.8))}, ("width",))}
    r = regularization.report(_reg_frame(), dataset="mnist", preset="quick", yardsticks=yard)
    assert set(r.tables) == {"settings", "effects", "dominance"}
    for table in r.tables.values():
        _readable(table)
    assert len(r.tables["settings"]) == 7 and "train RR" in r.tables["settings"]
    effects = r.tables["effects"]
    wd_on = effects[(effects["Factor (others at the paper's values)"] == "weight decay (BN on)")
                    & (effects["Metric"] == "train RR")]  # fmt: skip
    assert wd_on["Spread"].iloc[0] == pytest.approx(0.05, abs=1e-3)
    assert "ratio to model size" in r.tables["dominance"]
    for chart in r.charts.values():
        assert "quick preset" in str(chart.to_dict()["title"])
    v = r.verdicts["regularization"]
    # training time and sample size were not given: at most partly, and it says so
    assert v.status == "partly reproduced", v
    assert "could not be compared" in v.evidence and "quick preset" in v.basis
    _no_leaks([v.text()])
    empty = regularization.report(_reg_frame().iloc[:0], dataset="mnist", preset="quick")
    assert empty.statements == ["No quick regularization results for mnist."] and not empty.tables


# ---------------------------------------------------------------------------- label noise

NOISE = ("width", "label_noise", "label_noise_mode")


def _noise_frame(levels: dict[float, dict[str, float]]) -> pd.DataFrame:
    return _rows({(60, r, "uniform_other"): d for r, d in levels.items()}, NOISE, n_train=1000)


def test_label_noise_report_statements_follow_the_data() -> None:
    frame = _noise_frame({0.0: {}, 0.4: {"rr_train": -0.1, "knn_test": 0.05},
                          1.0: {"net_acc_test": -0.78, "rr_train": 0.2}})
    r = label_noise.report(frame, dataset="mnist", preset="quick", configs=[])
    text = "\n".join(r.statements)
    assert "Width 60, train RR by noise ratio (0: 0.302, 0.4: 0.202, 1: 0.502): noise ratio 0.4 " \
           "lowers it (-0.100, beyond the noise level 0.02) against the clean run." in text
    assert ("Width 60, noise ratio 0.4: 9-NN on the codes 0.852, the network 0.802: 9-NN is "
            "above the network's own test accuracy (+0.050).") in r.statements
    assert ("Width 60, noise ratio 1 (uniform_other): network test accuracy 0.022, below chance "
            "(0.1).") in r.statements
    # the network above the codes: the sentence turns
    other = label_noise.report(_noise_frame({0.0: {}, 0.4: {"knn_test": -0.2}}),
                               dataset="mnist", preset="quick", configs=[])
    assert any("9-NN is below the network's own test accuracy (-0.200)" in s
               for s in other.statements)  # fmt: skip
    _no_leaks(r.statements)
    for table in r.tables.values():
        _readable(table)
    assert set(r.charts) == {"rr", "accuracy"}
    assert "quick preset" in str(r.charts["rr"].to_dict()["title"])


def test_label_noise_report_one_noise_level() -> None:
    clean = _noise_frame({0.0: {}})
    both = pd.concat([clean, clean.assign(label_noise_mode="original")])  # counted per mode
    for frame in (clean, both):
        r = label_noise.report(frame, dataset="mnist", preset="quick", configs=[])
        v = r.verdicts["label_noise"]
        assert v.status == "not tested" and "nothing noisy was judged" in v.evidence
        assert r.statements == ["Width 60: no uniform_other run with noisy labels beside the "
                                "clean one; nothing to compare."]  # fmt: skip
        _no_leaks([*r.statements, v.text()])


# ---------------------------------------------------------------------------- phase chart


def _phase_rows(cells: dict[tuple[int, int], tuple[float, float]], y: str) -> list[dict]:
    rows = []
    for (w, v), (tr, te) in cells.items():
        key = f"t{w}" if y == "epoch" else f"s{w}-{v}"
        for m, value in (("rr_train", tr), ("rr_test", te)):
            rows.append({"key": key, "dataset": "mnist", "width": w,
                         "n_train": 48000 if y == "epoch" else v,
                         "epoch": v if y == "epoch" else 8, "seed": 0, "metric": m,
                         "value": value, "max_epochs": 20})  # fmt: skip
    return rows


TIME = {(10, 0): (0.9, 0.8), (40, 0): (0.2, 0.1), (100, 0): (0.005, 0.02),
        (10, 1): (0.9, 0.8), (40, 1): (0.3, 0.2), (100, 1): (0.02, 0.03),
        (10, 20): (0.8, 0.7), (40, 20): (0.005, 0.02), (100, 20): (0.0, 0.0)}  # fmt: skip
SAMPLES = {(10, 100): (0.9, 0.8), (40, 100): (0.2, 0.1), (100, 100): (0.0, 0.01),
           (10, 10000): (0.6, 0.4), (40, 10000): (0.005, 0.04),
           (100, 10000): (0.0, 0.01)}  # fmt: skip


def _phase_frame() -> pd.DataFrame:
    frame = pd.DataFrame(_phase_rows(TIME, "epoch") + _phase_rows(SAMPLES, "n_train"))
    last = frame.groupby("key")["epoch"].transform("max")
    return frame.assign(final=frame["epoch"] == last)


def test_phase_chart_report() -> None:
    r = phase_chart.report(_phase_frame(), dataset="mnist", preset="quick")
    v = r.verdicts["phase_chart"]
    assert v.status == "reproduced", v
    assert ("From initialization (epoch 0) to epoch 1, train RR rises at width(s) 40, 100 and "
            "falls at width(s) none.") in r.statements
    assert r.statements[0] == ("Along width the regime never steps back to a less expressive "
                               "one in 5 of 5 grid lines (one per epoch and per sample size).")
    assert any(s.startswith("Along training time, the boundary critically-expressive | "
                            "sufficiently-expressive to smaller widths: 0: 100, 1: none, 20: 40")
               for s in r.statements)  # fmt: skip
    moves = r.tables["boundary_movement"]
    assert list(moves["Moves"]) == ["stays", "to smaller widths", "stays", "to smaller widths"]
    assert set(r.charts) == {"phase chart", "threshold sensitivity", "scaled thresholds"}
    assert "quick preset" in str(r.charts["phase chart"].to_dict()["hconcat"][0]["title"])
    assert len(r.tables["paper_points"]) == 6  # the paper's MNIST training-time points
    for table in r.tables.values():
        _readable(table)
    _no_leaks(r.statements)
    other = phase_chart.report(_phase_frame().assign(dataset="synthetic"), dataset="synthetic",
                               preset="quick")
    assert other.tables["paper_points"].empty
    # every epoch a copy of epoch 0 (an untrained network): the boundaries do not move in time
    frame = _phase_frame()
    init = frame[(frame["epoch"] == 0)]
    untrained = pd.concat([frame[frame["key"].str.startswith("s")]]
                          + [init.assign(epoch=e, final=e == 20) for e in (0, 1, 20)])
    v = phase_chart.report(untrained, dataset="mnist", preset="quick").verdicts["phase_chart"]
    assert v.status == "partly reproduced" and "along training time the boundaries do not " \
        "move" in v.evidence


# ----------------------------------------- shipped standard MNIST rows, an independent count

CHAPTERS = ("model_size", "training_time", "sample_size", "regularization", "label_noise",
            "phase_chart")  # fmt: skip


@pytest.fixture(scope="module")
def standard() -> dict[str, pd.DataFrame]:
    frames = {c: shipped.load(c, "standard", dataset="mnist") for c in CHAPTERS}
    if any(f.empty for f in frames.values()):
        pytest.skip("the standard MNIST grids are not all shipped")
    return frames


def _spread(frame: pd.DataFrame, setting: str, at: list[str]) -> pd.DataFrame:
    """Per (at, metric): max - min over ``setting`` of the mean over seeds, and the largest
    range over seeds at one setting (plain pandas)."""
    frame = frame[frame["metric"].isin(METRICS)]
    g = frame.groupby([*at, "metric", setting])["value"]
    cell = pd.DataFrame({"mean": g.mean(), "range": g.max() - g.min(), "n": g.count()})
    out = cell.groupby([*at, "metric"]).agg(lo=("mean", "min"), hi=("mean", "max"),
                                            rng=("range", "max"), k=("mean", "size"))
    out = out[out["k"] >= 2]
    return pd.DataFrame({"spread": out["hi"] - out["lo"], "noise": out["rng"].clip(lower=0.02)})


def _yards(res: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    last = {c: res[c][res[c]["final"].astype(bool)] for c in ("model_size", "sample_size")}
    return {"model size": _spread(last["model_size"], "width", []),
            "training time": _spread(res["training_time"], "epoch", ["width"]),
            "sample size": _spread(last["sample_size"], "n_train", ["width"])}


def _judge(minor: pd.DataFrame, yards: dict[str, pd.DataFrame]) -> tuple[bool, int, int]:
    """(shapes, comparisons holding, comparisons) of minor spreads indexed by (width, metric)."""
    holding = total = 0
    for (width, metric), r in minor.iterrows():
        for name, y in yards.items():
            if name == "model size":
                ys = y.loc[metric, "spread"]
            else:
                widths = sorted(y.index.get_level_values("width").unique(),
                                key=lambda w: (abs(w - width), w))  # fmt: skip
                ys = y.loc[(widths[0], metric), "spread"]
            total += 1
            holding += bool(r["spread"] / ys < 1 or r["spread"] <= r["noise"])
    return bool((minor["spread"] > minor["noise"]).any()), holding, total


def _reg_families(reg: pd.DataFrame) -> list[pd.DataFrame]:
    final = reg[reg["final"].astype(bool)]
    bn = final["batchnorm"].astype(bool)
    masks = [(bn & (final["dropout"] == 0), "weight_decay"),
             (~bn & (final["dropout"] == 0), "weight_decay"),
             ((final["weight_decay"] == 1e-6) & (final["dropout"] == 0), "batchnorm"),
             ((final["weight_decay"] == 1e-6) & bn, "dropout")]  # fmt: skip
    return [_spread(final[m], col, ["width"]) for m, col in masks]


def _noise_spread(noise: pd.DataFrame) -> pd.DataFrame:
    final = noise[noise["final"].astype(bool)]
    rows = final[(final["label_noise_mode"] == "uniform_other") | (final["label_noise"] == 0)]
    return _spread(rows.drop_duplicates(["key", "metric"]), "label_noise", ["width"])


def test_claims_3d_3e_3f_on_the_shipped_standard_rows_agree_with_an_independent_count(
    standard: dict[str, pd.DataFrame],
) -> None:
    yards = _yards(standard)
    families = [f for f in _reg_families(standard["regularization"]) if len(f)]
    counts = [_judge(f, yards) for f in families]
    shapes = any(c[0] for c in counts)
    hold, total = sum(c[1] for c in counts), sum(c[2] for c in counts)
    expect = "not reproduced" if not shapes else ladder(reproduced=hold == total,
                                                       partly=hold / total > 0.5)
    v = factors.regularization_claim(standard, "mnist")
    assert (v.status, v.numbers["comparisons_holding"], v.numbers["comparisons"]) == (
        expect, hold, total)
    n_shapes, n_hold, n_total = _judge(_noise_spread(standard["label_noise"]), yards)
    expect = "not reproduced" if not n_shapes else ladder(reproduced=n_hold == n_total,
                                                         partly=n_hold / n_total > 0.5)
    v = factors.label_noise_claim(standard, "mnist")
    assert (v.status, v.numbers["comparisons_holding"]) == (expect, n_hold)
    all_hold, all_total = hold + n_hold, total + n_total
    v = factors.dominant_factors_claim(standard, "mnist")
    assert (v.status, v.numbers["comparisons_holding"], v.numbers["comparisons"]) == (
        ladder(reproduced=all_hold == all_total, partly=all_hold / all_total > 0.5),
        all_hold, all_total)


def _position(regime: dict[tuple, str], widths: list, v: object, rank: int) -> int:
    """Grid index of the first width at row ``v`` whose regime reaches ``rank``."""
    return next((i for i, w in enumerate(widths)
                 if (w, v) in regime and phase.REGIMES.index(regime[(w, v)]) >= rank),
                len(widths))  # fmt: skip


def test_claim_4_on_the_shipped_standard_rows_agrees_with_an_independent_scan(
    standard: dict[str, pd.DataFrame],
) -> None:
    frame = standard["phase_chart"]
    axes = presets.phase_chart_axes("standard", dataset="mnist")
    moves, regimes = {}, set()
    for y, axis in (("epoch", "training_time"), ("n_train", "sample_size")):
        rows = frame[frame["key"].isin({c.key for c in axes[axis]})]
        if y != "epoch":
            rows = rows[rows["final"].astype(bool)]
        mean = rows[rows["metric"].isin(["rr_train", "rr_test"])].groupby(
            ["width", y, "metric"])["value"].mean().unstack("metric")
        regime = {k: phase.phase_regime(r["rr_train"], r["rr_test"]) for k, r in mean.iterrows()}
        regimes |= set(regime.values())
        widths, ys = sorted({w for w, _ in regime}), sorted({v for _, v in regime})
        if len(widths) < 2 or len(ys) < 2:
            continue
        steps = [_position(regime, widths, ys[-1], k) - _position(regime, widths, ys[0], k)
                 for k in (1, 2)]  # fmt: skip
        moves[y] = any(s < 0 for s in steps) and all(s <= 0 for s in steps)
    good = sum(moves.values())
    expect = ladder(reproduced=good == 2 and len(regimes) == 3, partly=good >= 1)
    v = factors.phase_chart_claim(standard, "mnist")
    assert v.status == expect, v
    assert v.numbers["planes_moving_the_papers_way"] == good
