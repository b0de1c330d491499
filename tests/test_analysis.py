"""Aggregation, paper comparison and the determinism verdict on hand-built tidy frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hashlib_nn import analysis
from hashlib_nn.models import PaperMLP


def _frame(rows: list[tuple[int, int, str, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"width": w, "seed": s, "metric": m, "value": v, "final": True}
                         for w, s, m, v in rows])


def test_aggregate_mean_and_band() -> None:
    df = _frame([(10, 0, "rr_train", 0.9), (10, 1, "rr_train", 1.0), (20, 0, "rr_train", 0.5)])
    agg = analysis.aggregate(df, by=["width"])
    row = agg[agg["width"] == 10].iloc[0]
    assert (row["mean"], row["lo"], row["hi"], row["n"]) == pytest.approx((0.95, 0.9, 1.0, 2))
    std = analysis.aggregate(df, by=["width"], band="std")
    assert std[std["width"] == 10]["hi"].iloc[0] == pytest.approx(0.95 + np.std([0.9, 1.0],
                                                                               ddof=1))
    with pytest.raises(ValueError, match=r"metrics \['knn_test'\] are not in the results"):
        analysis.aggregate(df, by=["width"], metrics=["knn_test"])
    with pytest.raises(ValueError, match=r"lacks columns \['epoch'\]"):
        analysis.aggregate(df, by=["epoch"])


def test_crossing_interpolates_and_monotone_share_counts_steps() -> None:
    assert analysis.crossing([10, 20, 30], [0.5, 0.3, 0.05], 0.1) == pytest.approx(20 + 10 * 0.2
                                                                                   / 0.25)
    assert np.isnan(analysis.crossing([1, 2], [0.5, 0.4], 0.1))
    assert analysis.crossing([1, 2], [0.05, 0.01], 0.1) == 1.0
    assert analysis.monotone_share([1, 2, 3, 4], [0.9, 0.5, 0.6, 0.1]) == pytest.approx(2 / 3)


def test_compare_with_paper_and_describe() -> None:
    ours = pd.DataFrame({"width": [10, 20, 40], "mean": [0.98, 0.60, 0.04]})
    paper = analysis.paper_curve("model_size", "mnist", "rr", x="width", split="train")
    table = analysis.compare_with_paper(ours, paper, on=["width"])
    assert list(table["width"]) == [10, 20, 40]
    assert list(table["paper"]) == [0.99, 0.77, 0.10]
    assert list(table["within"]) == [True, False, False]
    text = analysis.describe_comparison(table, x="width")
    assert text.startswith("1 of 3 points agree")
    assert "width 20: ours 0.600, 0.170 below the paper's 0.770" in text


def _rr(widths: list[int], train: list[float], test: list[float]) -> pd.DataFrame:
    rows = [(w, 0, "rr_train", a) for w, a in zip(widths, train, strict=True)]
    rows += [(w, 0, "rr_test", b) for w, b in zip(widths, test, strict=True)]
    return analysis.aggregate(_frame(rows), by=["width"])


def test_determinism_verdict_outcomes() -> None:
    ok = analysis.determinism_verdict(_rr([3, 10, 40, 100], [1.0, 0.98, 0.1, 0.0],
                                          [1.0, 0.95, 0.04, 0.0]))
    assert ok.status == "reproduced" and ok.numbers["rr_test_widest"] == 0.0
    flat = analysis.determinism_verdict(_rr([3, 10, 40, 100], [1.0, 0.98, 0.9, 0.8],
                                            [1.0, 0.95, 0.9, 0.8]))
    assert flat.status == "not reproduced"
    partly = analysis.determinism_verdict(_rr([40, 100], [0.2, 0.05], [0.1, 0.03]))
    assert partly.status == "partly reproduced"
    one = analysis.determinism_verdict(_rr([100], [0.0], [0.0]))
    assert one.status == "not tested"
    assert "REPRODUCED" in ok._repr_markdown_()


def test_verdict_status_is_checked() -> None:
    with pytest.raises(ValueError, match="status must be one of"):
        analysis.Verdict("claim", "maybe", "")


def test_paper_curve_renames_the_swept_axis() -> None:
    p = analysis.paper_curve("training_time", "mnist", "rr", x="epoch", split="test")
    assert {"epoch", "width", "value"} <= set(p.columns)
    assert set(p["width"]) == {40, 50, 60}


def test_check_colliding_pairs_finds_affine_segments() -> None:
    model = PaperMLP(6, 3, seed=0).eval()  # 3 bits: at most 8 codes, many collisions
    x = np.random.default_rng(0).normal(size=(200, 6)).astype(np.float32)
    pairs = analysis.check_colliding_pairs(model, x, max_pairs=5, device="cpu")
    assert 1 <= len(pairs) <= 5
    assert pairs["affine"].all() and (pairs["group_size"] >= 2).all()
    assert (pairs["i"] != pairs["j"]).all()
    with pytest.raises(ValueError, match="max_pairs must be a positive integer; got 0"):
        analysis.check_colliding_pairs(model, x, max_pairs=0)
