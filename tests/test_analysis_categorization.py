"""The categorization chapter's analysis functions (hashlib_nn.analysis, claim 2), on hand-built
tidy frames and small synthetic codes; where a number can be computed a second way (the
categorization and hashing modules, brute force in numpy), the two must agree."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hashlib_nn import analysis
from hashlib_nn.categorization import (
    hungarian_accuracy,
    kmeans_purity,
    knn_accuracy,
    logreg_accuracy,
)
from hashlib_nn.codes import NeuralCodes
from hashlib_nn.hashing import collision_anatomy, mean_average_precision, precision_at_radius

WIDTHS = [3, 10, 20, 40, 60, 100]


def _tidy(values: dict[str, list[float]], widths: list[int] = WIDTHS,
          seeds: tuple[int, ...] = (0,)) -> pd.DataFrame:  # fmt: skip
    """Final rows: metric -> one value per width (the same for every seed, plus 0.01 * seed)."""
    rows = [{"width": w, "seed": s, "epoch": 8, "final": True, "metric": m, "value": v + 0.01 * s}
            for m, vals in values.items() for w, v in zip(widths, vals, strict=True)
            for s in seeds]  # fmt: skip
    return pd.DataFrame(rows)


# The paper's MNIST K-NN / LR values at WIDTHS, and a run that matches them
PAPER_KNN = [0.26, 0.53, 0.73, 0.89, 0.93, 0.95]
PAPER_LR = [0.29, 0.48, 0.72, 0.85, 0.89, 0.925]


# --- the paper's values on our axes ---------------------------------------------------------


def test_categorization_paper_mnist_values_and_labels() -> None:
    paper = analysis.categorization_paper("mnist")
    assert list(paper.columns) == ["width", "metric", "measure", "value", "paper_split"]
    at100 = paper[paper["width"] == 100].set_index("metric")["value"]
    assert at100["knn_test"] == pytest.approx(0.95)
    assert at100["lr_test"] == pytest.approx(0.925)
    assert at100["kmeans_purity_test"] == pytest.approx(0.66)
    assert "net_acc_test" not in set(paper["metric"])  # the MNIST figure has no network curve
    assert set(paper.loc[paper["metric"] == "kmeans_purity_test", "paper_split"]) == {
        "unspecified"
    }
    assert set(paper["measure"]) == {analysis.CATEGORIZATION_METRICS[m][1]
                                     for m in set(paper["metric"])}  # fmt: skip


def test_categorization_paper_cifar_widths_are_total_units() -> None:
    paper = analysis.categorization_paper("cifar10")
    assert "net_acc_test" in set(paper["metric"])
    assert (paper["width"] % 5 == 0).all()  # per-layer widths x depth 5


def test_categorization_paper_unknown_dataset_is_empty() -> None:
    paper = analysis.categorization_paper("fashion-mnist")
    assert paper.empty
    assert list(paper.columns) == ["width", "metric", "measure", "value", "paper_split"]


# --- curves from tidy results ---------------------------------------------------------------


def test_categorization_curves_mean_band_and_labels() -> None:
    final = _tidy({"knn_test": PAPER_KNN, "lr_test": PAPER_LR, "rr_test": [0.5] * 6},
                  seeds=(0, 1))  # fmt: skip
    curves = analysis.categorization_curves(final)
    assert set(curves["metric"]) == {"knn_test", "lr_test"}  # rr is not an accuracy
    row = curves[(curves["width"] == 100) & (curves["metric"] == "knn_test")].iloc[0]
    assert row["mean"] == pytest.approx(0.955)
    assert (row["lo"], row["hi"], row["n"]) == (pytest.approx(0.95), pytest.approx(0.96), 2)
    assert row["measure"] == "K-NN (k=9, Hamming)"


def test_categorization_curves_needs_an_accuracy() -> None:
    with pytest.raises(ValueError, match=r"none of \['knn_test'"):
        analysis.categorization_curves(_tidy({"rr_test": [0.5] * 6}))


def test_kmeans_gap_table_is_purity_minus_hungarian() -> None:
    final = _tidy({"kmeans_purity_test": [0.3, 0.5, 0.6, 0.7, 0.72, 0.75],
                   "kmeans_hungarian_test": [0.3, 0.45, 0.55, 0.66, 0.7, 0.7],
                   "kmeans_nmi_test": [0.2, 0.4, 0.5, 0.6, 0.62, 0.65]})  # fmt: skip
    table = analysis.kmeans_gap_table(final)
    assert list(table.columns) == ["width", "purity", "hungarian", "nmi", "purity_gap"]
    np.testing.assert_allclose(table["purity_gap"], [0.0, 0.05, 0.05, 0.04, 0.02, 0.05],
                               atol=1e-12)  # fmt: skip
    curves = analysis.kmeans_scoring_curves(final)
    assert set(curves["measure"]) == {"purity", "Hungarian", "NMI"}
    with pytest.raises(ValueError, match="split must be 'train' or 'test'; got 'val'"):
        analysis.kmeans_scoring_curves(final, split="val")


def test_constant_bits_by_width_counts_runs() -> None:
    final = _tidy({"n_bits": [3, 10, 20, 40, 60, 100], "n_bits_kept": [3, 10, 20, 40, 58, 0]})
    table = analysis.constant_bits_by_width(final).set_index("width")
    assert table.loc[60, "runs_with_constant_bits"] == 1
    assert table.loc[60, "most_constant_bits"] == 2
    assert table.loc[100, "most_constant_bits"] == 100  # kept = 0: every bit constant
    assert table.loc[3, "runs_with_constant_bits"] == 0
    with pytest.raises(ValueError, match=r"lack \['n_bits_kept'\]"):
        analysis.constant_bits_by_width(_tidy({"n_bits": [3] * 6}))


# --- clusters: purity against Hungarian matching --------------------------------------------


def test_cluster_labelling_agrees_with_the_categorization_scores() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, size=500)
    clusters = np.where(rng.random(500) < 0.6, y, rng.integers(0, 10, size=500))
    clusters[clusters == 5] = 3  # cluster 3 absorbs label 5's cluster: 9 clusters remain
    lab = analysis.cluster_labelling(y, clusters)
    assert lab.purity == pytest.approx(kmeans_purity(y, clusters))
    assert lab.hungarian == pytest.approx(hungarian_accuracy(y, clusters))
    assert lab.purity >= lab.hungarian
    assert lab.table["size"].sum() == 500
    matched = lab.table.loc[lab.table["matched_label"] >= 0, "matched_label"]
    assert matched.is_unique  # one-to-one


def test_cluster_labelling_names_shared_and_unclaimed_labels() -> None:
    y = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    clusters = np.array([7, 7, 8, 8, 8, 9, 9, 9])  # clusters 7 and 8 both have majority 0
    lab = analysis.cluster_labelling(y, clusters)
    assert lab.shared_labels == (0,)
    assert lab.unclaimed_labels == (1,)
    assert lab.table["majority_label"].tolist() == [0, 0, 2]
    assert lab.purity == pytest.approx(6 / 8)
    assert lab.hungarian == pytest.approx(5 / 8)  # 7->0 (2), 8->1 (1), 9->2 (2)
    with pytest.raises(ValueError, match="one length; got shapes"):
        analysis.cluster_labelling(y, clusters[:3])


# --- constant bits --------------------------------------------------------------------------


def _codes_with_constant_bits() -> tuple[NeuralCodes, np.ndarray, NeuralCodes, np.ndarray]:
    rng = np.random.default_rng(1)
    y_tr, y_te = rng.integers(0, 3, size=300), rng.integers(0, 3, size=80)
    centers = rng.integers(0, 2, size=(3, 12))

    def draw(y: np.ndarray) -> np.ndarray:
        flips = rng.random((len(y), 12)) < 0.15
        return (centers[y] ^ flips).astype(np.uint8)

    tr, te = draw(y_tr), draw(y_te)
    tr[:, 0] = te[:, 0] = 0  # constant over train and test
    tr[:, 1] = 1  # constant over train only
    te[:, 1] = rng.integers(0, 2, size=80)
    return NeuralCodes.from_bits(tr), y_tr, NeuralCodes.from_bits(te), y_te


def test_constant_bit_effect_counts_and_leaves_knn_unchanged() -> None:
    tr, y_tr, te, y_te = _codes_with_constant_bits()
    effect = analysis.constant_bit_effect(tr, y_tr, te, y_te, n_clusters=3, device="cpu")
    rows = effect.set_index("metric")
    assert list(effect.columns) == ["metric", "keep all", "drop: train+test (paper)",
                                    "drop: train only"]  # fmt: skip
    assert rows.loc["constant_bits"].tolist() == [0.0, 1.0, 2.0]
    assert rows.loc["n_bits_kept"].tolist() == [12.0, 11.0, 10.0]
    assert rows.loc["knn_test"].nunique() == 1  # a constant bit shifts every distance equally
    assert rows.loc["knn_test", "keep all"] == pytest.approx(
        knn_accuracy(tr, y_tr, te, y_te, 9, device="cpu"))
    assert rows.loc["lr_test", "keep all"] == pytest.approx(logreg_accuracy(tr, y_tr, te, y_te))


def test_constant_bit_effect_needs_neural_codes() -> None:
    tr, y_tr, te, y_te = _codes_with_constant_bits()
    with pytest.raises(TypeError, match="train_codes must be NeuralCodes; got ndarray"):
        analysis.constant_bit_effect(tr.packed, y_tr, te, y_te)  # type: ignore[arg-type]


def test_logreg_iterations_effect_matches_logreg_accuracy() -> None:
    tr, y_tr, te, y_te = _codes_with_constant_bits()
    table = analysis.logreg_iterations_effect(tr, y_tr, te, y_te, max_iters=(1, 1000))
    assert table["max_iter"].tolist() == [1, 1000]
    assert table.loc[0, "not_converged"] >= 1  # one iteration never converges
    assert table.loc[1, "not_converged"] == 0
    assert table.loc[1, "lr_test"] == pytest.approx(logreg_accuracy(tr, y_tr, te, y_te))


# --- the hashing view -----------------------------------------------------------------------


def test_query_subset() -> None:
    idx = analysis.query_subset(100, 10, seed=3)
    assert len(idx) == 10 and len(set(idx.tolist())) == 10
    assert (np.diff(idx) > 0).all()
    np.testing.assert_array_equal(idx, analysis.query_subset(100, 10, seed=3))
    np.testing.assert_array_equal(analysis.query_subset(5, None), np.arange(5))
    np.testing.assert_array_equal(analysis.query_subset(5, 50), np.arange(5))
    with pytest.raises(ValueError, match="n_queries must be a positive integer or None; got 0"):
        analysis.query_subset(5, 0)


def test_hashing_summary_agrees_with_direct_calls_and_brute_force() -> None:
    tr, y_tr, te, y_te = _codes_with_constant_bits()
    table = analysis.hashing_summary(tr, y_tr, te, y_te, n_queries=50, seed=2, radius=2,
                                     top_k=20, device="cpu")  # fmt: skip
    idx = analysis.query_subset(len(te), 50, seed=2)
    q, yq = te[idx], y_te[idx]
    values = table["value"].tolist()
    assert values[0] == 12 and values[1] == 50
    assert values[2] == pytest.approx(mean_average_precision(tr, y_tr, q, yq, device="cpu"))
    assert values[3] == pytest.approx(
        mean_average_precision(tr, y_tr, q, yq, tie_policy="expected", device="cpu"))
    assert values[4] == pytest.approx(mean_average_precision(tr, y_tr, q, yq, k=20,
                                                             device="cpu"))  # fmt: skip
    assert values[5] == pytest.approx(precision_at_radius(tr, y_tr, q, yq, 2, device="cpu"))
    dist = (q.unpack()[:, None, :] != tr.unpack()[None, :, :]).sum(axis=2)
    assert values[7] == pytest.approx(float((dist.min(axis=1) <= 2).mean()))
    assert table["measure"].tolist()[4] == "mAP@20"


def test_bucket_and_firing_tables() -> None:
    bits = np.array([[1, 0, 1], [1, 0, 1], [1, 0, 1], [1, 1, 0], [1, 1, 0], [1, 0, 0]],
                    dtype=np.uint8)  # fmt: skip
    anatomy = collision_anatomy(NeuralCodes.from_bits(bits), np.array([0, 0, 1, 1, 1, 2]))
    buckets = analysis.bucket_size_table(anatomy)
    assert buckets["bucket_size"].tolist() == [1, 2, 3]
    assert buckets["n_codes"].tolist() == [1, 1, 1]
    assert buckets["n_examples"].sum() == 6
    assert buckets["share_of_examples"].sum() == pytest.approx(1.0)
    firing = analysis.firing_rate_histogram(anatomy, bins=4)
    assert firing["n_units"].tolist() == [0, 1, 1, 1]  # rates 1/3, 1/2 and 1 (always on: last)
    assert firing["rate_to"].iloc[-1] == 1.0
    with pytest.raises(ValueError, match="bins must be a positive integer; got 0"):
        analysis.firing_rate_histogram(anatomy, bins=0)


# --- the verdict ----------------------------------------------------------------------------


def _verdict(knn: list[float], lr: list[float], widths: list[int] = WIDTHS,
             dataset: str = "mnist") -> analysis.Verdict:  # fmt: skip
    final = _tidy({"knn_test": knn, "lr_test": lr}, widths=widths)
    return analysis.categorization_verdict(analysis.categorization_curves(final),
                                           dataset=dataset)  # fmt: skip


def test_verdict_reproduced_at_and_above_the_paper() -> None:
    assert _verdict(PAPER_KNN, PAPER_LR).status == "reproduced"
    above = _verdict([v + 0.04 for v in PAPER_KNN], [v + 0.04 for v in PAPER_LR])
    assert above.status == "partly reproduced"  # two-sided: 0.04 above is outside ±0.02
    v = _verdict([v - 0.019 for v in PAPER_KNN], PAPER_LR)
    assert v.status == "reproduced"
    assert v.numbers["knn_test_diff"] == pytest.approx(-0.019)
    assert v.numbers["width"] == 100


def test_verdict_partly_and_not_reproduced() -> None:
    low_knn = _verdict([v - 0.05 for v in PAPER_KNN], PAPER_LR)
    assert low_knn.status == "partly reproduced"
    falling = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    assert _verdict(falling, falling).status == "not reproduced"
    flat_high = [0.96] * 6  # level met, but no gain with width (the paper's: +0.69)
    assert _verdict(flat_high, flat_high).status == "not reproduced"


def test_verdict_uses_the_widest_shared_width() -> None:
    widths = [3, 10, 20, 40, 60, 70]  # 70 is not in the paper's K-NN figure
    v = _verdict(PAPER_KNN, PAPER_LR, widths=widths)
    assert v.numbers["width"] == 60
    assert "width 60" in v.evidence


def test_verdict_not_tested() -> None:
    assert _verdict([0.9], [0.9], widths=[100]).status == "not tested"
    assert _verdict(PAPER_KNN, PAPER_LR, dataset="fashion-mnist").status == "not comparable"
    assert _verdict([0.5, 0.6], [0.5, 0.6], widths=[7, 15]).status == "not tested"
    only_knn = analysis.categorization_curves(_tidy({"knn_test": PAPER_KNN}))
    v = analysis.categorization_verdict(only_knn)
    assert v.status == "not tested" and "lr_test" in v.evidence
