"""The *Model size* chapter's report: RR and the accuracies on the codes against width.

One call per set of runs (:func:`report`): the chapter calls it for its own runs (the
parameters' preset) and for the shipped faithful-protocol (``standard``) rows. Everything the
chapter shows or states about results comes from here (claim 3a of the paper, protocol.md).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hashlib_nn import charts
from hashlib_nn.analysis import aggregate, compare_with_paper, final_rows
from hashlib_nn.claims import (
    ACCURACY_METRICS,
    COMPARISON_NAMES,
    accuracies_rise_with_width_verdict,
    curve_labels,
    describe_faithful_checks,
    faithful_checks,
    gap_sides,
    paper_points,
    rr_crossings,
    rr_falls_with_width_verdict,
)
from hashlib_nn.reports import (
    ChapterReport,
    readable,
    shipped_reports_function,
)
from hashlib_nn.verdicts import basis_of, fmt

__all__ = ["ACC_METRICS", "RR_METRICS", "report", "shipped_reports"]

RR_METRICS = ["rr_train", "rr_test"]
ACC_METRICS = list(ACCURACY_METRICS)
#: the level whose crossing the chapter reports (one test example in ten shares its code)
LEVEL = 0.1


def _crossing_statement(crossings: pd.DataFrame) -> str:
    both = crossings.set_index("source")["crossing_width"]
    ours, paper = float(both["this book"]), float(both["paper (digitized)"])
    if np.isnan(ours):
        text = f"Our mean test RR never falls to {fmt(LEVEL)} at the widths run"
    else:
        text = f"Our mean test RR falls to {fmt(LEVEL)} at width {ours:.1f}"
    if np.isnan(paper):
        return text + " (the paper has no curve to compare with)."
    return text + f"; the paper's digitized curve does at width {paper:.1f}."


def report(frame: pd.DataFrame, *, dataset: str, preset: str) -> ChapterReport:
    """Tables, charts, verdicts and computed statements of the model-size grid ``frame`` (tidy
    rows of :meth:`hashlib_nn.experiments.ChapterPlan.run` or :func:`hashlib_nn.shipped.load`;
    rows of other data sets are ignored). An empty frame gives a report with one statement
    saying so."""
    if "dataset" in frame.columns:
        frame = frame[frame["dataset"] == dataset]
    out = ChapterReport("model_size", dataset, preset, None)
    if frame.empty:
        out.statements.append(f"No {preset} model-size results for {dataset}.")
        return out
    out.basis = basis = basis_of(frame, dataset=dataset, preset=preset)
    agg = curve_labels(aggregate(final_rows(frame), by=["width"]), by=["metric"])
    paper_rr = curve_labels(paper_points("model_size", dataset, RR_METRICS, x="width"),
                            by=["metric"])  # fmt: skip
    paper_acc = curve_labels(paper_points("model_size", dataset, ACC_METRICS, x="width"),
                             by=["metric"])  # fmt: skip
    where = f"{dataset}, {preset} preset"
    out.charts["rr"] = charts.line_chart(
        agg[agg["metric"].isin(RR_METRICS)], x="width", y="mean", color="curve",
        band=("lo", "hi"), reference=paper_rr if len(paper_rr) else None,
        preset=preset, title=f"Redundancy ratio vs width ({where})", x_title="hidden units (width)",
        y_title="redundancy ratio")  # fmt: skip
    out.charts["accuracy"] = charts.line_chart(
        agg[agg["metric"].isin(ACC_METRICS)], x="width", y="mean", color="curve",
        band=("lo", "hi"), reference=paper_acc if len(paper_acc) else None,
        preset=preset, title=f"Accuracy on the neural codes vs width ({where})",
        x_title="hidden units (width)", y_title="accuracy")  # fmt: skip

    crossings = rr_crossings(agg, dataset=dataset, metric="rr_test", level=LEVEL)
    out.tables["crossings"] = readable(crossings, {"source": "Curve",
                                                  "crossing_width": f"Width at test RR {LEVEL}"})
    out.statements.append(_crossing_statement(crossings))

    ours = agg[agg["metric"].isin(RR_METRICS + ACC_METRICS)]
    paper = paper_points("model_size", dataset, RR_METRICS + ACC_METRICS, x="width")
    if len(paper):
        table = compare_with_paper(ours, paper, on=["metric", "width"])
        out.tables["comparison"] = readable(table, COMPARISON_NAMES)
        for metrics, what in ((RR_METRICS, "Redundancy ratios"),
                              (ACC_METRICS, "Accuracies on the codes")):  # fmt: skip
            sentence = gap_sides(table[table["metric"].isin(metrics)], what)
            if sentence:
                out.statements.append(sentence)
    else:
        out.tables["comparison"] = readable(ours[["metric", "width", "mean", "lo", "hi", "n"]],
                                            COMPARISON_NAMES)  # fmt: skip
        out.statements.append(f"The paper has no model-size values for {dataset}: its figures "
                              "show MNIST and CIFAR-10 only.")  # fmt: skip

    out.verdicts["rr"] = rr_falls_with_width_verdict(agg, dataset=dataset, basis=basis)
    out.verdicts["accuracy"] = accuracies_rise_with_width_verdict(agg, dataset=dataset,
                                                                  basis=basis)  # fmt: skip
    if paper.empty:  # the checks' thresholds and targets are the paper's figure's
        out.statements.append(f"The acceptance checks of the faithful protocol measure against "
                              f"the paper's figure, which has no values for {dataset}: they "
                              "are not computed.")  # fmt: skip
        return out
    checks = faithful_checks(frame, dataset)
    out.tables["faithful_checks"] = readable(checks, {
        "check": "Check", "ours": "Ours", "target": "Target", "tolerance": "Tolerance (±)",
        "met": "Met", "miss": "Misses by", "note": "Note"})  # fmt: skip
    met = int(checks["met"].sum())
    sentence = f"{met} of {len(checks)} acceptance checks of the faithful protocol are met."
    if met < len(checks):
        sentence += " " + describe_faithful_checks(checks).replace("\n", "; ") + "."
    out.statements.append(sentence)
    return out


shipped_reports = shipped_reports_function("model_size", report)
