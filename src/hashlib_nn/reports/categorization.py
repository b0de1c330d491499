"""The *Categorization* chapter's report: K-NN, logistic regression and K-Means on the codes of
the trained network beside the same learners on its two controls (claim 2 of the paper,
protocol.md; controls: :mod:`hashlib_nn.controls`).

One call per set of runs (:func:`report`): the chapter calls it for its own runs (the
parameters' preset) and for the shipped faithful-protocol (``standard``) rows with the shipped
controls. Everything the chapter shows or states about the sweep's results comes from here; the
chapter's analysis of one network in depth uses the tested functions of
:mod:`hashlib_nn.analysis` and :mod:`hashlib_nn.categorization` directly.
"""

from __future__ import annotations

import pandas as pd

from hashlib_nn import charts
from hashlib_nn.analysis import (
    CATEGORIZATION_METRICS,
    aggregate,
    categorization_paper,
    categorization_verdict,
    final_rows,
    kmeans_gap_table,
    kmeans_scoring_curves,
)
from hashlib_nn.categorization import drop_constant_bits
from hashlib_nn.codes import NeuralCodes
from hashlib_nn.controls import (
    CONTROL_LABELS,
    coverage_sentence,
    curves_with_controls,
    training_adds,
)
from hashlib_nn.reports import (
    ChapterReport,
    readable,
    shipped_controls,
    shipped_reports_function,
)
from hashlib_nn.reports.determinism import (
    adds_sentence,
    compare_and_judge,
    for_dataset,
    paper_for_chart,
    widest_sentence,
)
from hashlib_nn.verdicts import basis_of, fmt

__all__ = ["ACCURACY_METRICS", "analysed_codes", "beats_controls_sentence", "report",
           "shipped_reports"]  # fmt: skip

#: The learners on the codes, in the order the chapter shows them (test accuracy; K-Means
#: scored as purity, as the original and the paper).
ACCURACY_METRICS = ["knn_test", "lr_test", "kmeans_purity_test"]


def analysed_codes(train: NeuralCodes, test: NeuralCodes, *,
                   drop_constant: bool) -> tuple[NeuralCodes, NeuralCodes]:  # fmt: skip
    """The codes the chapter's analysed network is studied on: with ``drop_constant``, the
    bits constant over train and test together removed (the original's rule,
    :func:`hashlib_nn.categorization.drop_constant_bits`); otherwise the codes unchanged."""
    if not isinstance(drop_constant, bool):
        raise TypeError(f"drop_constant must be True or False; got {drop_constant!r}")
    if not drop_constant:
        return train, test
    kept_train, kept_test, _ = drop_constant_bits(train, test)
    assert kept_test is not None
    return kept_train, kept_test


def beats_controls_sentence(adds: pd.DataFrame, metrics: list[str] = ACCURACY_METRICS) -> str:
    """How many (learner, width) points, among those where every control was measured, have
    the trained network's accuracy above both controls', and the smallest margin over the
    better control. "" when no point has every control."""
    cols = [f"trained − {label}" for label in CONTROL_LABELS.values()]
    if any(c not in adds.columns for c in cols):
        return ""
    rows = adds[adds["metric"].isin(metrics)].dropna(subset=cols)
    if rows.empty:
        return ""
    margin = rows[cols].min(axis=1)
    worst = rows.loc[margin.idxmin()]
    label = CATEGORIZATION_METRICS.get(str(worst["metric"]), ("", str(worst["metric"])))[1]
    return (f"The trained network's codes score above both controls at {int((margin > 0).sum())} "
            f"of {len(rows)} (learner, width) points where both were measured; the smallest "
            f"margin over the better control is {margin.min():+.3f} ({label}, width "
            f"{fmt(worst['width'])}).")


def report(frame: pd.DataFrame, *, dataset: str, preset: str,
           controls: pd.DataFrame | None = None) -> ChapterReport:  # fmt: skip
    """Charts, tables, the verdict and computed statements of the model-size grid ``frame``
    (tidy rows of :meth:`hashlib_nn.experiments.presets.ChapterPlan.run` or
    :func:`hashlib_nn.shipped.load`) beside ``controls`` (:func:`hashlib_nn.controls.
    chapter_controls` or :func:`hashlib_nn.controls.load_shipped`). Rows of other data sets are
    ignored; an empty frame gives a report with one statement saying so."""
    frame = for_dataset(frame, dataset)
    ctl = for_dataset(controls, dataset)
    out = ChapterReport("categorization", dataset, preset, None)
    if frame.empty:
        out.statements.append(f"No {preset} model-size results for {dataset}.")
        return out
    out.basis = basis = basis_of(frame, dataset=dataset, preset=preset)
    curves = curves_with_controls(frame, ctl, ACCURACY_METRICS)
    paper = categorization_paper(dataset)
    where = f"{dataset}, {preset} preset"
    for metric in ACCURACY_METRICS:
        label = CATEGORIZATION_METRICS[metric][1]
        out.charts[metric] = charts.line_chart(
            curves[curves["metric"] == metric], x="width", y="mean", color="source",
            band=("lo", "hi"), reference=paper_for_chart(paper, metric),
            preset=preset,
            title=f"{label} on the codes vs width: trained network and controls ({where})",
            x_title="hidden units (width)", y_title="test accuracy")  # fmt: skip
    final = final_rows(frame)
    kmeans_paper = paper[paper["metric"] == "kmeans_purity_test"]
    out.charts["kmeans_scores"] = charts.line_chart(
        kmeans_scoring_curves(final, split="test"), x="width", y="mean", color="measure",
        band=("lo", "hi"),
        reference=kmeans_paper.assign(measure="purity")[["width", "value", "measure"]]
        if len(kmeans_paper) else None,
        preset=preset, title=f"K-Means on the trained network's test codes: three scores ({where})",
        x_title="hidden units (width)", y_title="score")  # fmt: skip

    adds = training_adds(curves)
    if len(paper):
        adds = adds.merge(paper[["metric", "width", "value"]].rename(
            columns={"value": "paper (digitized)"}), on=["metric", "width"], how="left")
    out.tables["controls"] = readable(adds, {"metric": "Metric", "width": "Width"})
    out.tables["kmeans_scores"] = readable(kmeans_gap_table(final, split="test"),
                                           {"width": "Width"})  # fmt: skip

    if ctl.empty:
        out.statements.append(f"No controls were given for {dataset} at the {preset} preset: "
                              "the trained network is shown alone.")  # fmt: skip
    else:
        out.statements.append(coverage_sentence(ctl))
    sentence = widest_sentence(curves, ACCURACY_METRICS)
    if sentence:
        out.statements.append(sentence)
    for metric in ACCURACY_METRICS:
        sentence = adds_sentence(adds, metric, lower_is_better=False)
        if sentence:
            out.statements.append(sentence)
    sentence = beats_controls_sentence(adds)
    if sentence:
        out.statements.append(sentence)

    trained_agg = aggregate(final[final["metric"].isin(ACCURACY_METRICS)], by=["width"])
    compare_and_judge(out, "categorization", trained_agg,
                      paper[paper["metric"].isin(ACCURACY_METRICS)] if len(paper) else paper, ctl,
                      what="Accuracies on the trained network's codes",
                      verdict_fn=categorization_verdict, metrics=ACCURACY_METRICS,
                      dataset=dataset, preset=preset, basis=basis,
                      about_training=True)  # fmt: skip
    return out


shipped_reports = shipped_reports_function("categorization", report, shipped_controls)
