"""The Determinism and Categorization reports (hashlib_nn.reports.determinism / .categorization)
on hand-built frames: the trained network beside its controls, what training adds, and the
verdicts on the controls. The paper's digitized MNIST points are the oracle: a curve equal to
them reproduces the claim, a flat one does not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hashlib_nn.analysis import categorization_paper
from hashlib_nn.claims import paper_points
from hashlib_nn.controls import CONTROL_LABELS, TRAINED, training_adds
from hashlib_nn.reports import categorization, determinism

UNTRAINED, SIMHASH = CONTROL_LABELS["untrained"], CONTROL_LABELS["simhash"]


def _rows(values: dict[tuple[str, int], float], *, seeds=(0, 1), control: str | None = None,
          dataset: str = "mnist", max_epochs: int = 200, spread: float = 0.0) -> pd.DataFrame:
    """Tidy final rows: one run per (width, seed) with the given metric values (seed s adds
    ``s * spread``)."""
    rows = []
    for (metric, width), value in values.items():
        for s in seeds:
            rows.append({
                "key": f"{control}-{width}-{s}", "dataset": dataset, "width": width, "depth": 1,
                "n_train": 48000, "max_epochs": max_epochs, "seed": s,
                "epochs_run": 0 if control else max_epochs, "epoch": 0 if control else 50,
                "final": True, "metric": metric, "measure": metric.rsplit("_", 1)[0],
                "split": metric.rsplit("_", 1)[1], "value": value + s * spread,
            })  # fmt: skip
    frame = pd.DataFrame(rows)
    if control is not None:
        frame["control"] = control
    return frame


def _paper_rr() -> dict[tuple[str, int], float]:
    paper = paper_points("model_size", "mnist", ["rr_train", "rr_test"], x="width")
    widths = set.intersection(*(set(paper.loc[paper["metric"] == m, "width"])
                                for m in ("rr_train", "rr_test")))  # fmt: skip
    return {(m, int(w)): float(v) for m, w, v in paper[["metric", "width", "value"]].itertuples(
        index=False) if w in widths}  # fmt: skip


def _paper_acc() -> dict[tuple[str, int], float]:
    paper = categorization_paper("mnist")
    metrics = categorization.ACCURACY_METRICS
    widths = set.intersection(*(set(paper.loc[paper["metric"] == m, "width"]) for m in metrics))
    out = {(m, int(w)): float(v) for m, w, v in paper[["metric", "width", "value"]].itertuples(
        index=False) if m in metrics and w in widths}  # fmt: skip
    for w in widths:  # the other two K-Means scores of the same clusterings
        purity = out[("kmeans_purity_test", int(w))]
        out[("kmeans_hungarian_test", int(w))] = purity - 0.05
        out[("kmeans_nmi_test", int(w))] = purity - 0.1
    return out


def _controls(untrained: dict, simhash: dict) -> pd.DataFrame:
    return pd.concat([_rows(untrained, control="untrained", seeds=(0,)),
                      _rows(simhash, control="simhash", seeds=(0,))], ignore_index=True)


# -- Determinism ----------------------------------------------------------------------------------


def test_determinism_report_shows_controls_and_what_training_adds():
    trained = _paper_rr()
    untrained = {k: min(1.0, v + 0.1) for k, v in trained.items()}
    flat = {k: 1.0 for k in trained}
    rep = determinism.report(_rows(trained), dataset="mnist", preset="standard",
                             controls=_controls(untrained, flat))  # fmt: skip
    assert set(rep.charts) == {"rr_train", "rr_test"}
    for chart in rep.charts.values():
        assert "standard preset" in chart.to_dict()["title"]
        assert "controls" in chart.to_dict()["title"]
    table = rep.tables["controls"]
    assert {"trained network", UNTRAINED, SIMHASH, f"trained − {UNTRAINED}",
            f"trained − {SIMHASH}", "paper (digitized)"} <= set(table.columns)  # fmt: skip
    for _, row in table.iterrows():
        key = ("rr_train" if row["Metric"] == "RR (train)" else "rr_test", int(row["Width"]))
        assert row[f"trained − {UNTRAINED}"] == pytest.approx(
            round(trained[key] - untrained[key], 3), abs=1e-3)
        assert row[f"trained − {SIMHASH}"] == pytest.approx(round(trained[key] - 1.0, 3),
                                                           abs=1e-3)  # fmt: skip
    verdict = rep.verdicts["determinism"]
    assert verdict.status == "reproduced"
    assert verdict.controls == {UNTRAINED: "not reproduced", SIMHASH: "not reproduced"}
    assert "not because of training" not in verdict.evidence
    text = " ".join(rep.statements)
    assert "The same rule on the controls: untrained network: not reproduced" in text
    assert "lower than the untrained network's at" in text


def test_determinism_untrained_equal_to_trained_holds_but_not_because_of_training():
    trained = _paper_rr()
    rep = determinism.report(_rows(trained), dataset="mnist", preset="standard",
                             controls=_controls(trained, {k: 1.0 for k in trained}))
    verdict = rep.verdicts["determinism"]
    assert verdict.status == "reproduced"  # determinism: a property the control may share
    assert verdict.controls[UNTRAINED] == "reproduced"
    assert "Holds, but not because of training" in verdict.evidence


def test_determinism_report_without_controls_or_results():
    rep = determinism.report(_rows(_paper_rr()), dataset="mnist", preset="quick")
    assert any("shown alone" in s for s in rep.statements)
    assert rep.verdicts["determinism"].controls == {}
    empty = determinism.report(_rows(_paper_rr()), dataset="fashion-mnist", preset="quick")
    assert empty.statements == ["No quick model-size results for fashion-mnist."]
    assert not empty.charts and not empty.verdicts


def test_determinism_report_without_paper_values():
    values = {(m, w): v for (m, w), v in _paper_rr().items()}
    rep = determinism.report(_rows(values, dataset="fashion-mnist"), dataset="fashion-mnist",
                             preset="standard")  # fmt: skip
    assert "comparison" not in rep.tables
    assert any("The paper has no model-size values for fashion-mnist" in s
               for s in rep.statements)  # fmt: skip
    assert rep.verdicts["determinism"].status == "not comparable"


def test_adds_sentence_counts_and_largest_difference():
    curves = pd.DataFrame({
        "source": [TRAINED, UNTRAINED, TRAINED, UNTRAINED, TRAINED, UNTRAINED],
        "width": [10, 10, 20, 20, 30, 30], "metric": ["rr_train"] * 6,
        "mean": [0.9, 0.95, 0.3, 0.6, 0.1, 0.05],
    })  # fmt: skip
    adds = training_adds(curves)
    assert determinism.adds_sentence(adds, "rr_train", lower_is_better=True) == (
        "RR (train): the trained network's is lower than the untrained network's at 2 of 3 "
        "widths (largest difference -0.300 at width 20).")
    assert determinism.adds_sentence(adds, "rr_train", lower_is_better=False).startswith(
        "RR (train): the trained network's is higher than the untrained network's at 1 of 3")
    assert determinism.adds_sentence(adds, "rr_test", lower_is_better=True) == ""


def test_crossing_sentence_interpolates_and_says_never():
    curves = pd.DataFrame({
        "source": [TRAINED, TRAINED, SIMHASH, SIMHASH], "width": [10, 20, 10, 20],
        "metric": ["rr_train"] * 4, "mean": [0.25, 0.0, 0.5, 0.2],
    })  # fmt: skip
    assert determinism.crossing_sentence(curves, "rr_train", 0.05) == (
        "RR (train) falls to 0.05 for the trained network at width 18.0; for the random "
        "projection (SimHash) never at the widths run (widest 20: 0.200).")


def test_widest_sentence_uses_the_widest_width_all_sources_share():
    curves = pd.DataFrame({
        "source": [TRAINED, TRAINED, UNTRAINED], "width": [10, 20, 10],
        "metric": ["knn_test"] * 3, "mean": [0.8, 0.9, 0.5],
    })  # fmt: skip
    assert determinism.widest_sentence(curves, ["knn_test"]) == (
        "At width 10: K-NN (test) 0.800 (trained network), 0.500 (untrained network).")


# -- Categorization -------------------------------------------------------------------------------


def test_categorization_report_training_beats_both_controls():
    trained = _paper_acc()
    low = {k: v - 0.2 for k, v in trained.items()}
    lower = {k: v - 0.3 for k, v in trained.items()}
    rep = categorization.report(_rows(trained), dataset="mnist", preset="standard",
                                controls=_controls(low, lower))  # fmt: skip
    assert set(rep.charts) == {*categorization.ACCURACY_METRICS, "kmeans_scores"}
    assert all("standard preset" in c.to_dict()["title"] for c in rep.charts.values())
    table = rep.tables["controls"]
    assert np.allclose(table[f"trained − {UNTRAINED}"], 0.2, atol=1e-3)
    assert np.allclose(table[f"trained − {SIMHASH}"], 0.3, atol=1e-3)
    n_points = len(table)
    assert (f"The trained network's codes score above both controls at {n_points} of {n_points} "
            "(learner, width) points") in " ".join(rep.statements)
    verdict = rep.verdicts["categorization"]
    assert verdict.status == "reproduced"
    assert set(verdict.controls) == {UNTRAINED, SIMHASH}
    assert verdict.controls[UNTRAINED] != "reproduced"
    assert (rep.tables["kmeans_scores"]["purity_gap"].round(3) == 0.05).all()


def test_categorization_a_control_as_good_as_training_is_not_training():
    trained = _paper_acc()
    rep = categorization.report(_rows(trained), dataset="mnist", preset="standard",
                                controls=_controls(trained, {k: 0.1 for k in trained}))
    verdict = rep.verdicts["categorization"]
    assert verdict.controls[UNTRAINED] == "reproduced"
    assert verdict.status == "not reproduced"  # the claim is about what training does
    assert "training is not what the numbers show" in verdict.evidence


def test_beats_controls_sentence_reports_the_smallest_margin():
    adds = pd.DataFrame({
        "metric": ["knn_test", "knn_test", "lr_test"], "width": [10, 20, 10],
        f"trained − {UNTRAINED}": [0.2, 0.1, -0.05], f"trained − {SIMHASH}": [0.1, 0.3, 0.2],
    })  # fmt: skip
    assert categorization.beats_controls_sentence(adds) == (
        "The trained network's codes score above both controls at 2 of 3 (learner, width) "
        "points where both were measured; the smallest margin over the better control is "
        "-0.050 (LR (one-vs-one), width 10).")
    assert categorization.beats_controls_sentence(adds.drop(columns=f"trained − {SIMHASH}")) == ""


def test_categorization_controls_at_a_subset_of_widths():
    trained = _paper_acc()
    widths = sorted({w for _, w in trained})
    sub = {k: v - 0.2 for k, v in trained.items() if k[1] in (widths[0], widths[-1])}
    rep = categorization.report(_rows(trained), dataset="mnist", preset="quick",
                                controls=_controls(sub, sub))  # fmt: skip
    table = rep.tables["controls"]
    measured = table[f"trained − {UNTRAINED}"].notna()
    assert set(table.loc[measured, "Width"]) == {widths[0], widths[-1]}
    assert f"Controls measured at width(s) {widths[0]}, {widths[-1]} with seed(s) 0." in \
        rep.statements


def test_analysed_codes_drops_constant_bits_only_when_asked():
    from hashlib_nn.categorization import drop_constant_bits
    from hashlib_nn.codes import NeuralCodes

    bits = np.array([[1, 0, 1], [1, 1, 0], [1, 0, 0]], dtype=np.uint8)  # bit 0 constant
    train, test = NeuralCodes.from_bits(bits), NeuralCodes.from_bits(bits[:2])
    same = categorization.analysed_codes(train, test, drop_constant=False)
    assert same[0] is train and same[1] is test
    tr, te = categorization.analysed_codes(train, test, drop_constant=True)
    ref_tr, ref_te, _ = drop_constant_bits(train, test)
    assert tr.n_bits == 2 and te.n_bits == 2
    np.testing.assert_array_equal(tr.unpack(), ref_tr.unpack())
    np.testing.assert_array_equal(te.unpack(), bits[:2, 1:])
    with pytest.raises(TypeError, match="drop_constant must be True or False; got 'yes'"):
        categorization.analysed_codes(train, test, drop_constant="yes")
