"""The reports of the Model size, Training time and Sample size chapters, on hand-built tidy frames.

Frames equal to the paper's digitized points give *reproduced* verdicts and statements whose
numbers can be checked by hand; the sample-size early-stopping statements are checked on runs
whose epochs are set by hand (the boundary, the mixed sample size and the test-RR step).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hashlib_nn import claims
from hashlib_nn.reports import model_size, sample_size, training_time

WIDTHS = [3, 10, 20, 40, 60, 100]


def _paper(experiment: str, metric: str, x: str, xs: list[float], width: int | None = None,
           log: bool = False) -> np.ndarray:  # fmt: skip
    pts = claims.paper_points(experiment, "mnist", [metric], x=x, last_epoch=200)
    if width is not None:
        pts = pts[pts["width"] == width]
    pts = pts.sort_values(x)
    px, grid = pts[x].to_numpy(dtype=float), np.asarray(xs, dtype=float)
    if log:
        return np.interp(np.log10(grid), np.log10(px), pts["value"].to_numpy())
    return np.interp(grid, px, pts["value"].to_numpy())


def _rows(**fixed: object) -> dict[str, object]:
    base = {"dataset": "mnist", "seed": 0, "max_epochs": 200, "epochs_run": 50,
            "stopped_epoch": pd.NA, "n_train": 48000, "preset": "quick"}  # fmt: skip
    return {**base, **fixed}


def _model_size_frame() -> pd.DataFrame:
    rows = []
    for m in ("rr_train", "rr_test", "knn_test", "lr_test", "kmeans_purity_test"):
        for w, v in zip(WIDTHS, _paper("model_size", m, "width", WIDTHS), strict=True):
            rows.append(_rows(width=w, epoch=50, final=True, metric=m, value=float(v)))
    return pd.DataFrame(rows)


def test_model_size_report_on_the_papers_curves() -> None:
    rep = model_size.report(_model_size_frame(), dataset="mnist", preset="quick")
    assert rep.chapter == "model_size" and str(rep.basis).startswith("mnist, quick preset")
    assert {v.status for v in rep.verdicts.values()} == {"reproduced"}
    assert set(rep.tables) == {"crossings", "comparison", "faithful_checks"}
    comparison = rep.tables["comparison"]
    assert "Ours − paper" in comparison.columns and comparison["Width"].dtype.kind == "i"
    assert comparison["Within tolerance"].all()
    assert set(comparison["Metric"]) >= {"RR (train)", "K-NN (test)"}
    title = rep.charts["rr"].to_dict()["title"]
    assert title == "Redundancy ratio vs width (mnist, quick preset)"
    # the crossing of 0.1: the paper's is at 32.25; ours interpolates the paper's 40 -> 60 points
    assert rep.statements[0].endswith("the paper's digitized curve does at width 32.2.")
    assert any(s.startswith("Redundancy ratios: 12 of 12 shared points lie within tolerance "
                            "of the paper's, 0 below it and 0 above it") for s in rep.statements)


def test_model_size_report_counts_the_sides_of_the_gap() -> None:
    frame = _model_size_frame()
    rr = frame["metric"].isin(["rr_train", "rr_test"]) & frame["width"].isin([10, 20])
    frame.loc[rr, "value"] -= 0.2  # two widths of both RR curves 0.2 below the paper's
    rep = model_size.report(frame, dataset="mnist", preset="standard")
    sentence = next(s for s in rep.statements if s.startswith("Redundancy ratios"))
    assert "8 of 12 shared points lie within tolerance of the paper's, 4 below it and 0 above" \
        in sentence
    assert rep.verdicts["rr"].status == "reproduced"  # 8 of 12 is still "most"
    assert "(mnist, standard preset)" in rep.charts["accuracy"].to_dict()["title"]


def test_model_size_report_without_paper_values_or_rows() -> None:
    fashion = _model_size_frame().assign(dataset="fashion-mnist")
    rep = model_size.report(fashion, dataset="fashion-mnist", preset="quick")
    assert {v.status for v in rep.verdicts.values()} == {"not comparable"}
    assert "Paper (digitized)" not in rep.tables["comparison"].columns
    assert any("no model-size values for fashion-mnist" in s for s in rep.statements)
    empty = model_size.report(fashion, dataset="mnist", preset="standard")
    assert empty.statements == ["No standard model-size results for mnist."]
    assert not empty.tables and not empty.verdicts and empty.basis is None


# --- training time ------------------------------------------------------------------------------

EPOCHS = [0, 1, 3, 10, 20, 60, 200]


def _training_time_frame(factor: float = 1.0) -> pd.DataFrame:
    """Test and train RR through the paper's epoch-1 and final points (the fall scaled by
    ``factor``), 0.05 at initialization, log-linear in the epoch in between; K-NN 0.8 untrained,
    0.9 after epoch 1, 0.92 at the end."""
    rows = []
    for w in (40, 50, 60):
        for m in ("rr_test", "rr_train"):
            a1, fin = _paper("training_time", m, "epoch", [1, 200], width=w)
            fin = a1 - factor * (a1 - fin)
            for e in EPOCHS:
                v = 0.05 if e == 0 else a1 + (fin - a1) * np.log(e) / np.log(200)
                rows.append(_rows(width=w, epoch=e, final=e == 200, metric=m, value=float(v),
                                  epochs_run=200))  # fmt: skip
        for e in EPOCHS:
            v = 0.8 if e == 0 else 0.9 + 0.02 * np.log(e) / np.log(200)
            rows.append(_rows(width=w, epoch=e, final=e == 200, metric="knn_test", value=v,
                              epochs_run=200))  # fmt: skip
    return pd.DataFrame(rows)


def test_training_time_report_with_its_untrained_control() -> None:
    rep = training_time.report(_training_time_frame(), dataset="mnist", preset="quick")
    for metric in ("rr_test", "rr_train"):
        v = rep.verdicts[metric]
        assert v.status == "reproduced", v
        assert v.controls == {"untrained network": "not reproduced"}
    assert set(rep.tables) >= {"rr_changes", "accuracy_changes", "comparison"}
    assert rep.tables["rr_changes"].columns[0] == "Metric"
    text = " ".join(rep.statements)
    assert "After epoch 1 the paper's redundancy ratio is 1.0 times ours" in text
    # the paper's falls 0.48 / 0.325 / 0.18; ours are the same by construction
    assert ("From epoch 1 to epoch 200 our test RR changes by -0.480 to -0.180 across widths "
            "40, 50, 60") in text
    assert "the paper's changes by -0.480 to -0.180 from epoch 1 to its final epoch" in text
    assert "During the first epoch our test RR changes by" in text and "rises at 3 of 3" in text
    assert ("Untrained (epoch 0), K-NN on the codes reaches 0.800 (chance is 0.1); the first "
            "epoch adds +0.100 and the rest of training +0.020: the first epoch adds more at 3 "
            "of 3 widths.") in text
    assert ("The paper's test RR at width 40: 0.100 at the end of its training-time figure, "
            "0.040 in its model-size figure.") in text
    assert "(mnist, quick preset)" in rep.charts["rr"].to_dict()["title"]


def test_training_time_report_a_tenth_of_the_fall_is_not_reproduced() -> None:
    rep = training_time.report(_training_time_frame(0.1), dataset="mnist", preset="standard")
    assert rep.verdicts["rr_test"].status == "not reproduced"
    assert "-0.048 to -0.018" in " ".join(rep.statements)


def test_training_time_report_without_paper_values() -> None:
    frame = _training_time_frame().assign(dataset="fashion-mnist")
    rep = training_time.report(frame, dataset="fashion-mnist", preset="quick")
    assert rep.verdicts["rr_test"].status == "not comparable"
    assert "Paper (digitized)" not in rep.tables["comparison"].columns
    assert training_time.paper_consistency("fashion-mnist") == []


# --- sample size --------------------------------------------------------------------------------

SIZES = [10, 100, 1000, 6000, 10000, 40000]


def _sample_size_frame(epochs: dict[int, list[int]], stopped: bool = True) -> pd.DataFrame:
    """Test RR of the paper's width-40 curve (log-interpolated) at SIZES, 0.01 lower from n =
    10,000 on; two seeds per n whose ``epochs_run`` are ``epochs[n]``; K-NN log-linear."""
    rr = _paper("sample_size", "rr_test", "n_train", SIZES, width=40, log=True)
    rows = []
    for n, v in zip(SIZES, rr, strict=True):
        for seed, run in enumerate(epochs[n]):
            common = {"width": 40, "n_train": n, "seed": seed, "epoch": run, "final": True,
                      "epochs_run": run, "stopped_epoch": run if stopped else pd.NA}
            rows.append(_rows(**common, metric="rr_test", value=float(v)))
            rows.append(_rows(**common, metric="rr_train", value=0.0))
            rows.append(_rows(**common, metric="knn_test",
                              value=float(0.11 + 0.2165 * np.log10(n / 10))))
    return pd.DataFrame(rows)


STANDARD_LIKE = {10: [23, 24], 100: [20, 21], 1000: [12, 17], 6000: [14, 19], 10000: [16, 94],
                 40000: [66, 79]}  # fmt: skip


def test_stopping_table_by_hand() -> None:
    table = sample_size.stopping_table(_sample_size_frame(STANDARD_LIKE))
    assert table["n_train"].tolist() == SIZES
    assert table["runs"].tolist() == [2] * 6 and table["stopped_early"].tolist() == [2] * 6
    assert table["epochs_min"].tolist() == [23, 20, 12, 14, 16, 66]
    # last improvement = epochs run - patience (10)
    assert table["last_improvement_max"].tolist() == [14, 11, 7, 9, 84, 69]
    assert table["before_decay"].tolist() == [True, True, True, True, False, False]
    with pytest.raises(ValueError, match=r"lacks \['stopped_epoch'\]"):
        sample_size.stopping_table(_sample_size_frame(STANDARD_LIKE).drop(columns="stopped_epoch"))


def test_early_stopping_statements_name_the_boundary_and_the_step() -> None:
    frame = _sample_size_frame(STANDARD_LIKE)
    agg = sample_size.aggregate(sample_size.final_rows(frame), by=["width", "n_train"])
    lines = sample_size.early_stopping_statements(frame, agg)
    assert lines[0] == (
        "Every run with n ≤ 6000 ends after 12 to 24 epochs, all by early stopping on the "
        "training loss (patience 10, as in the original): their training loss last improved by "
        "epoch 14, before the first learning-rate decay (after epoch 20), so the lower rate "
        "never improved it.")  # fmt: skip
    assert lines[1] == ("From n = 10000 on, runs train 16 to 94 epochs; at n = 10000 the "
                        "training loss of some runs last improved before the decay and of "
                        "others after it.")  # fmt: skip
    at = agg[agg["metric"] == "rr_test"].set_index("n_train")["mean"]
    assert lines[2] == (f"This is where the test RR steps, between n = 6000 and n = 10000: "
                        f"{at[6000]:.3f} → {at[10000]:.3f} at width 40.")


def test_early_stopping_statements_when_the_budget_ends_every_run() -> None:
    quick_like = {n: [8, 8] for n in SIZES}
    frame = _sample_size_frame(quick_like, stopped=False)
    agg = sample_size.aggregate(sample_size.final_rows(frame), by=["width", "n_train"])
    assert sample_size.early_stopping_statements(frame, agg) == [
        "Every run with n ≤ 40000 ends after 8 epochs, all by the epoch budget, before the "
        "first learning-rate decay (after epoch 20)."]  # fmt: skip
    late = {n: [60, 70] for n in SIZES}
    frame = _sample_size_frame(late)
    assert sample_size.early_stopping_statements(frame, agg)[0].startswith(
        "At every sample size some runs keep improving")


def test_sample_size_report_on_the_papers_curve() -> None:
    rep = sample_size.report(_sample_size_frame(STANDARD_LIKE), dataset="mnist",
                             preset="standard")  # fmt: skip
    assert rep.verdicts["rr"].status == "reproduced", rep.verdicts["rr"]
    assert rep.verdicts["accuracy"].status == "reproduced", rep.verdicts["accuracy"]
    assert set(rep.tables) == {"comparison", "fits", "stopping"}
    text = " ".join(rep.statements)
    assert "Test RR: 4 of 4 shared points lie within tolerance" in text
    assert "At n = 10 our test RR is 1.00 to 1.00 times the paper's" in text
    assert "At width 40 the test RR is lowest at the largest n (40000)" in text
    assert "1 of 1 fits have a positive slope (0.216 to 0.216 per decade of n); 1 have R² ≥ 0.9" \
        in text
    assert "Every run with n ≤ 6000 ends after 12 to 24 epochs" in text
    assert "(mnist, standard preset)" in rep.charts["rr"].to_dict()["title"]


def test_sample_size_report_lowest_in_the_middle() -> None:
    frame = _sample_size_frame(STANDARD_LIKE)
    rr = frame["metric"] == "rr_test"
    frame.loc[rr & (frame["n_train"] == 10000), "value"] = 0.01
    rep = sample_size.report(frame, dataset="mnist", preset="quick")
    text = " ".join(rep.statements)
    assert "At width 40 the test RR is lowest at n = 10000 (0.010) and rises again to 0.050 at " \
           "n = 40000." in text
