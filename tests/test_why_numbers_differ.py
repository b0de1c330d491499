"""The appendix's comparison logic (hashlib_nn.reports.why_numbers_differ) on hand-built frames
whose answers are known: which side the twin is on, the depth-5 spike, the deviations beyond
the seed spread, dead units. No Keras needed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hashlib_nn.reports import why_numbers_differ as why


def _twin_rows(values: dict[tuple, list[float]], *, max_epochs: int = 10) -> pd.DataFrame:
    """Tidy twin rows: ``values[(experiment, width, depth, n_train, epoch, metric)]`` = one
    value per seed; model and sample size rows are final."""
    rows = []
    for (experiment, width, depth, n, epoch, metric), vals in values.items():
        for seed, v in enumerate(vals):
            last = 10 if experiment == "training_time" else max_epochs
            rows.append({"experiment": experiment, "dataset": "mnist", "width": width,
                         "depth": depth, "n_train": n, "seed": seed, "epoch": epoch,
                         "final": epoch == last, "metric": metric, "value": v,
                         "epochs_run": last, "max_epochs": last, "stopped_epoch": np.nan})
    return pd.DataFrame(rows)


def _standard(experiment: str, values: dict[tuple, list[float]], epochs: int = 60) -> pd.DataFrame:
    rows = []
    for (width, n, epoch, metric), vals in values.items():
        for seed, v in enumerate(vals):
            rows.append({"dataset": "mnist", "width": width, "depth": 1, "n_train": n,
                         "seed": seed, "epoch": epoch,
                         "final": experiment != "training_time" or epoch == 200,
                         "metric": metric, "value": v, "epochs_run": epochs})
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((0.58, 0.04, 0.01, 0.038, 0.01), "ours"),
        ((0.58, 0.57, 0.02, 0.04, 0.01), "paper"),
        ((0.50, 0.51, 0.0, 0.52, 0.0), "both"),
        ((0.50, 0.30, 0.0, 0.80, 0.0), "neither"),
        ((0.50, 0.55, 0.06, 0.9, 0.0), "paper"),  # 0.05 <= 0.02 + 0.03: the seed range counts
        ((0.50, 0.55, 0.04, 0.9, 0.0), "neither"),
        ((np.nan, 0.5, 0.0, 0.5, 0.0), ""),
    ],
)
def test_side(args, expected) -> None:
    assert why.side(*args) == expected


def test_twin_points_summarize_seeds_at_the_twin_points() -> None:
    twin = _twin_rows({
        ("model_size", 20, 1, None, 10, "rr_test"): [0.30, 0.36, 0.33],
        ("model_size", 20, 1, None, 5, "rr_test"): [0.9, 0.9, 0.9],  # not final: left out
        ("training_time", 40, 5, None, 1, "rr_test"): [0.5, 0.7],
        ("training_time", 40, 5, None, 6, "rr_test"): [0.1, 0.1],  # not a twin epoch
        ("model_size", 20, 1, None, 10, "collision_test"): [0.1, 0.1, 0.1],  # not compared
    })  # fmt: skip
    got = why.twin_points(twin).set_index(["experiment", "at"])
    assert len(got) == 2
    ms = got.loc[("model_size", "final")]
    assert (ms["mean"], ms["lo"], ms["hi"], ms["n"], ms["n_train"]) == pytest.approx(
        (0.33, 0.30, 0.36, 3, 48000))
    tt = got.loc[("training_time", "1")]
    assert (tt["mean"], tt["n"], tt["depth"]) == pytest.approx((0.6, 2, 5))


def test_ours_points_prefer_the_differential_runs() -> None:
    diff = pd.DataFrame([
        {"experiment": "model_size", "variant": v, "width": 20, "depth": 1, "n_train": 48000,
         "epoch": 66, "seed": s, "metric": m, "value": val}
        for v, s, m, val in [("default", 0, "rr_test", 0.2), ("default", 1, "rr_test", 0.4),
                             ("keras_loss", 0, "rr_test", 0.9), ("default", 0, "epochs_run", 66),
                             ("default", 1, "epochs_run", 70)]])  # fmt: skip
    standard = {"model_size": _standard("model_size", {(20, 48000, 60, "rr_test"): [0.5],
                                                       (20, 48000, 60, "rr_train"): [0.7],
                                                       (50, 48000, 60, "rr_test"): [0.1]})}
    got = why.ours_points(diff, standard).set_index("metric")
    assert got.loc["rr_test", "mean"] == pytest.approx(0.3)  # the default variant's seeds
    assert got.loc["rr_test", "source"] == "differential"
    assert got.loc["rr_test", "epochs"] == pytest.approx(68)
    assert got.loc["rr_train", "source"] == "standard"
    assert set(got["width"]) == {20}  # width 50 is not a twin point
    assert why.ours_points(None, standard).set_index("metric").loc["rr_test", "mean"] == 0.5


def test_paper_points_cover_the_twin_points() -> None:
    p = why.paper_points().set_index(KEYS := why.KEY)["paper"]
    full = 48000
    assert p[("model_size", 20, 1, full, "final", "rr_test")] == pytest.approx(0.53)
    assert p[("model_size", 10, 1, full, "final", "knn_sklearn_test")] == pytest.approx(0.53)
    for depth in (1, 5):  # the paper's training-time depth is unknown: both
        assert p[("training_time", 40, depth, full, "1", "rr_test")] == pytest.approx(0.58)
    assert p[("sample_size", 40, 1, 100, "final", "rr_test")] == pytest.approx(0.57)
    assert len(KEYS) == 6


def _case() -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """A twin that sides with ours at model size and, at depth 5, reaches the paper's epoch-1
    test RR while starting higher at initialization."""
    twin = _twin_rows({
        ("model_size", 20, 1, None, 10, "rr_test"): [0.34, 0.36, 0.35],  # paper 0.53, ours 0.33
        ("model_size", 30, 1, None, 10, "rr_train"): [0.27, 0.29, 0.28],  # paper 0.28, ours 0.16
        ("training_time", 40, 1, None, 0, "rr_test"): [0.03, 0.04],
        ("training_time", 40, 1, None, 1, "rr_test"): [0.03, 0.05],  # paper 0.58
        ("training_time", 40, 5, None, 0, "rr_test"): [0.60, 0.64],
        ("training_time", 40, 5, None, 1, "rr_test"): [0.55, 0.59],
        ("model_size", 20, 1, None, 10, "n_bits_kept"): [20, 19, 20],
    })  # fmt: skip
    standard = {
        "model_size": _standard("model_size", {(20, 48000, 60, "rr_test"): [0.32, 0.34],
                                               (30, 48000, 60, "rr_train"): [0.15, 0.17]}),
        "training_time": _standard("training_time", {(40, 48000, 0, "rr_test"): [0.04],
                                                     (40, 48000, 1, "rr_test"): [0.038]}),
        "phase_chart": _standard("phase_chart", {(20, 48000, 10, "rr_test"): [0.36, 0.37]}),
    }
    return twin, standard


def test_comparison_and_answers_on_a_known_case() -> None:
    twin, standard = _case()
    out = why.report(twin, differential=None, standard=standard,
                     missing_differential="ours.csv missing")  # fmt: skip
    table = why.comparison(why.twin_points(twin), why.ours_points(None, standard),
                           why.paper_points(), why.ours_at_budget(standard["phase_chart"], 10))
    sides = table.set_index(["experiment", "width", "depth", "at", "metric"])["side"]
    assert sides[("model_size", 20, 1, "final", "rr_test")] == "ours"
    assert sides[("model_size", 30, 1, "final", "rr_train")] == "paper"
    assert sides[("training_time", 40, 1, "1", "rr_test")] == "ours"
    assert sides[("training_time", 40, 5, "1", "rr_test")] == ""  # no depth-5 ours
    budget = table.set_index(["experiment", "width", "metric"])["ours_budget"]
    assert budget[("model_size", 20, "rr_test")] == pytest.approx(0.365)
    basis = table.set_index(["experiment", "width", "metric"])["side_basis"]
    assert basis[("model_size", 20, "rr_test")] == "same epochs"
    assert basis[("model_size", 30, "rr_train")] == "final"
    twin_text = " ".join(out.sections["twin"])
    assert "ours only at 2, of the paper only at 1, of both at 0 and of neither at 0" in twin_text
    assert "the twin reproduces **our** values more often than the paper's" in twin_text
    assert "width 40, depth 1, after epoch 1, RR (test), twin 0.04 against the paper's 0.58" \
        in twin_text
    depth = " ".join(out.sections["depth"])
    assert "0.57 at depth 5 (seeds 0.55–0.59; after 0.62 at initialization)" in depth
    assert "depth 5 reproduces the paper's value after one epoch" in depth
    assert "no spike there" in depth
    assert out.sections["deviations"] == ["ours.csv missing"]
    assert out.sections["collapsed"] == ["Runs at width 20 with a dead unit (a bit constant "
                                         "over train and test): the twin 1 of 3, ours 0 of 0."]
    assert "At 2 points the original protocol run in Keras misses the paper too" in \
        out.sections["unexplained"][0]
    assert list(out.tables["comparison"].columns[:3]) == ["Experiment", "Width", "Depth"]


def test_depth_answer_when_depth_five_falls_short() -> None:
    twin, standard = _case()
    twin.loc[(twin.depth == 5) & (twin.epoch == 1), "value"] = [0.10, 0.14]
    twin.loc[(twin.depth == 5) & (twin.epoch == 0), "value"] = [0.02, 0.04]
    depth = " ".join(why.report(twin, differential=None, standard=standard).sections["depth"])
    assert "0.12 at depth 5 (seeds 0.1–0.14; rising from 0.03 at initialization)" in depth
    assert "does not reach the paper's value" in depth and "no spike" not in depth


def test_deviation_table_counts_effects_beyond_the_spread() -> None:
    eff = pd.DataFrame({
        "experiment": ["model_size"] * 3, "variant": ["keras_loss", "keras_loss", "float64"],
        "width": [20, 30, 20], "depth": [1, 1, 1], "n_train": [48000] * 3,
        "epoch": [60, 60, 60], "metric": ["rr_test", "rr_test", "rr_test"],
        "effect": [0.05, -0.2, 0.001], "beyond_spread": [False, True, False]})  # fmt: skip
    got = why.deviation_table(eff).set_index("variant")
    assert got.loc["keras_loss", ["beyond_spread", "compared"]].tolist() == [1, 2]
    assert got.loc["keras_loss", "largest_effect"] == pytest.approx(-0.2)
    assert got.loc["keras_loss", "where"] == "model_size width 30 depth 1 n 48000 final, RR (test)"
    assert got.loc["keras_loss", "largest_beyond_effect"] == pytest.approx(-0.2)
    assert not got.loc["float64", "largest_beyond"]
    assert np.isnan(got.loc["float64", "largest_beyond_effect"])
    shown = why.readable(got.reset_index()[list(why.DEVIATION_NAMES)], why.DEVIATION_NAMES)
    assert list(shown.columns) == list(why.DEVIATION_NAMES.values())
    assert len(set(shown.columns)) == len(shown.columns)
    text = why._answer_deviations(why.deviation_table(eff), "")
    assert text[-1] == ("Variants that move some number beyond the seed spread: `keras_loss`; "
                        "none of those effects exceeds 0.200 in size.")
    # a count beside its size: the largest effect lies within the spread, a smaller one beyond
    eff.loc[0, "effect"], eff.loc[1, "effect"] = 0.3, 0.004
    text = why._answer_deviations(why.deviation_table(eff), "")
    assert text[0].startswith("`keras_loss` moves 1 of 2 compared numbers by more than the seed "
                              "spread (the largest of those by +0.004); its largest effect is "
                              "+0.300 (model_size width 20")
    assert text[-1].endswith("none of those effects exceeds 0.004 in size.")
    eff["beyond_spread"] = False
    text = why._answer_deviations(why.deviation_table(eff), "")
    assert text[-1] == "Variants that move some number beyond the seed spread: none."
    assert "the largest of those" not in text[0]


def test_dead_unit_runs() -> None:
    frame = pd.DataFrame({"experiment": "model_size", "width": 20, "metric": "n_bits_kept",
                          "value": [20, 18, 20, 19], "variant": ["default"] * 3 + ["float64"]})
    assert why.dead_unit_runs(frame) == (1, 3)


def test_no_twin_rows() -> None:
    out = why.report(None, differential=None, standard={})
    assert out.statements == ["No twin results: run `python -m hashlib_nn.twin run`."]


def test_bad_frame_names_missing_columns() -> None:
    with pytest.raises(ValueError, match=r"the twin's rows lacks the columns \['epochs_run'\]"):
        why.twin_points(_twin_rows({("model_size", 20, 1, None, 10, "rr_test"): [0.3]})
                        .drop(columns="epochs_run"))  # fmt: skip
    out = why.report(*_case()[:1], differential=None, standard=_case()[1])
    with pytest.raises(ValueError, match=r"unknown sections \['nope'\]"):
        out.say("nope")


def test_side_uses_ours_at_the_twin_budget_where_known() -> None:
    """The twin at 10 epochs matches ours at 10 epochs (0.40) but not our final 0.30: the side
    is judged against the former."""
    twin = _twin_rows({("model_size", 20, 1, None, 10, "rr_test"): [0.40, 0.41]})
    standard = {"model_size": _standard("model_size", {(20, 48000, 60, "rr_test"): [0.30]}),
                "phase_chart": _standard("phase_chart", {(20, 48000, 10, "rr_test"): [0.40]})}
    out = why.report(twin, differential=None, standard=standard)
    row = out.tables["comparison"].iloc[0]
    assert (row["Twin agrees with"], row["Against ours at"]) == ("ours", "same epochs")
    del standard["phase_chart"]
    row = why.report(twin, differential=None, standard=standard).tables["comparison"].iloc[0]
    assert (row["Twin agrees with"], row["Against ours at"]) == ("neither", "final")
