"""The *Determinism* chapter's report: the redundancy ratio of the trained network beside its
two controls (claim 1 of the paper, protocol.md; controls: :mod:`hashlib_nn.controls`).

One call per set of runs (:func:`report`): the chapter calls it for its own runs (the
parameters' preset) and for the shipped faithful-protocol (``standard``) rows with the shipped
controls. Everything the chapter shows or states about results comes from here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from hashlib_nn import charts
from hashlib_nn.analysis import aggregate, crossing, determinism_verdict, final_rows
from hashlib_nn.claims import COMPARISON_NAMES, METRIC_LABELS, gap_sides, paper_points
from hashlib_nn.controls import (
    CONTROL_LABELS,
    CONTROLS,
    TRAINED,
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
from hashlib_nn.verdicts import Basis, Verdict, basis_of, fmt, point_table, with_controls

__all__ = ["RR_METRICS", "UNIQUE_LEVEL", "adds_sentence", "compare_and_judge", "control_verdicts",
           "crossing_sentence",
           "for_dataset", "paper_for_chart", "report", "shipped_reports",
           "widest_sentence"]  # fmt: skip

RR_METRICS = ["rr_train", "rr_test"]
#: The train RR the chapter reads off each curve: at most 5% of the training examples share
#: their code (the widest-network level of :func:`hashlib_nn.analysis.determinism_verdict`).
UNIQUE_LEVEL = 0.05
_SPLIT = {"rr_train": "train", "rr_test": "test"}


def for_dataset(frame: pd.DataFrame | None, dataset: str) -> pd.DataFrame:
    """The rows of ``dataset`` (an empty frame for None)."""
    if frame is None:
        return pd.DataFrame()
    if "dataset" in frame.columns:
        frame = frame[frame["dataset"] == dataset]
    return frame


def control_verdicts(controls: pd.DataFrame, verdict_fn, *, dataset: str, preset: str,
                     metrics: Sequence[str]) -> dict[str, Verdict]:  # fmt: skip
    """The verdict ``verdict_fn(aggregate, dataset=, basis=)`` gives each control present in
    ``controls`` (label -> verdict), on the aggregate of its final rows by width."""
    out: dict[str, Verdict] = {}
    if controls.empty:
        return out
    for name in CONTROLS:
        part = controls[(controls["control"] == name) & controls["metric"].isin(list(metrics))]
        if part.empty:
            continue
        agg = aggregate(final_rows(part), by=["width"])
        basis = basis_of(part, dataset=dataset, preset=preset)
        out[CONTROL_LABELS[name]] = verdict_fn(agg, dataset=dataset, basis=basis)
    return out


def compare_and_judge(out: ChapterReport, claim: str, trained_agg: pd.DataFrame,
                      paper: pd.DataFrame, controls: pd.DataFrame, *, what: str, verdict_fn,
                      metrics: Sequence[str], dataset: str, preset: str, basis: Basis | None,
                      about_training: bool) -> None:  # fmt: skip
    """Add to ``out`` the trained network's final means (``trained_agg``, by metric and width)
    against the paper's points (the ``comparison`` table and the sentence on which side of
    the paper the gaps lie, naming ``what``; or the sentence that the paper has no values for
    ``dataset``), and ``claim``'s verdict: ``verdict_fn(aggregate, dataset=, basis=)`` on the
    trained network beside the same rule on each control of ``controls``
    (:func:`control_verdicts` on ``metrics``, :func:`hashlib_nn.verdicts.with_controls`)."""
    if len(paper):
        table = point_table(trained_agg, paper, on=["metric", "width"])
        out.tables["comparison"] = readable(table, COMPARISON_NAMES)
        sentence = gap_sides(table, what)
        if sentence:
            out.statements.append(sentence)
    else:
        out.statements.append(f"The paper has no model-size values for {dataset}: its figures "
                              "show MNIST and CIFAR-10 only.")  # fmt: skip
    verdict = verdict_fn(trained_agg, dataset=dataset, basis=basis)
    ctl_verdicts = control_verdicts(controls, verdict_fn, dataset=dataset, preset=preset,
                                    metrics=metrics)  # fmt: skip
    out.verdicts[claim] = with_controls(verdict, ctl_verdicts, about_training=about_training)
    if ctl_verdicts:
        out.statements.append("The same rule on the controls: " + "; ".join(
            f"{name}: {v.status}" for name, v in ctl_verdicts.items())
            + f" (trained network: {verdict.status}).")  # fmt: skip


def adds_sentence(adds: pd.DataFrame, metric: str, *, lower_is_better: bool) -> str:
    """One computed sentence per control on a :func:`hashlib_nn.controls.training_adds` table:
    at how many of the widths both have the trained network is better (lower RR or higher
    accuracy) than the control, and the largest difference. "" when no width is shared."""
    rows = adds[adds["metric"] == metric]
    label = METRIC_LABELS.get(metric, metric)
    parts = []
    for control in CONTROL_LABELS.values():
        col = f"trained − {control}"
        if col not in rows.columns:
            continue
        shared = rows[rows[col].notna()]
        if shared.empty:
            continue
        diff = shared[col].to_numpy(dtype=float)
        better = int(np.sum(diff < 0) if lower_is_better else np.sum(diff > 0))
        worst = shared.loc[shared[col].abs().idxmax()]
        parts.append(f"than the {control}'s at {better} of {len(shared)} widths (largest "
                     f"difference {worst[col]:+.3f} at width {fmt(worst['width'])})")
    if not parts:
        return ""
    word = "lower" if lower_is_better else "higher"
    return f"{label}: the trained network's is {word} " + "; ".join(parts) + "."


def crossing_sentence(curves: pd.DataFrame, metric: str = "rr_train",
                      level: float = UNIQUE_LEVEL) -> str:  # fmt: skip
    """Where each source's mean curve of ``metric`` first falls to ``level`` (interpolated
    between widths; :func:`hashlib_nn.analysis.crossing`), in one sentence."""
    parts = []
    for source in [TRAINED, *CONTROL_LABELS.values()]:
        rows = curves[(curves["source"] == source) & (curves["metric"] == metric)]
        if rows.empty:
            continue
        at = crossing(rows["width"].to_numpy(float), rows["mean"].to_numpy(float), level)
        where = (f"never at the widths run (widest {fmt(rows['width'].max())}: "
                 f"{rows.sort_values('width')['mean'].iloc[-1]:.3f})" if np.isnan(at)
                 else f"at width {at:.1f}")  # fmt: skip
        parts.append(f"the {source} {where}")
    if not parts:
        return ""
    return (f"{METRIC_LABELS.get(metric, metric)} falls to {fmt(level)} for " + "; for ".join(parts)
            + ".")


def widest_sentence(curves: pd.DataFrame, metrics: Sequence[str]) -> str:
    """The values of every source at the widest width that all sources present share."""
    sources = list(dict.fromkeys(curves["source"]))
    per = [set(curves.loc[curves["source"] == s, "width"]) for s in sources]
    shared = set.intersection(*per) if per else set()
    if not shared:
        return ""
    w = max(shared)
    at = curves[curves["width"] == w]
    parts = []
    for m in metrics:
        vals = at[at["metric"] == m].set_index("source")["mean"]
        if len(vals):
            parts.append(f"{METRIC_LABELS.get(m, m)} " + ", ".join(
                f"{vals[s]:.3f} ({s})" for s in sources if s in vals.index))  # fmt: skip
    return f"At width {fmt(w)}: " + "; ".join(parts) + "." if parts else ""


def paper_for_chart(paper: pd.DataFrame, metric: str) -> pd.DataFrame | None:
    """The paper's points of ``metric`` as a chart reference on the trained network's colour
    (columns ``width``, ``mean``, ``source``); None when the paper has none."""
    rows = paper[paper["metric"] == metric]
    if rows.empty:
        return None
    return rows[["width", "value"]].rename(columns={"value": "mean"}).assign(source=TRAINED)


def report(frame: pd.DataFrame, *, dataset: str, preset: str,
           controls: pd.DataFrame | None = None) -> ChapterReport:  # fmt: skip
    """Charts, tables, the verdict and computed statements of the model-size grid ``frame``
    (tidy rows of :meth:`hashlib_nn.experiments.presets.ChapterPlan.run` or
    :func:`hashlib_nn.shipped.load`) beside ``controls`` (:func:`hashlib_nn.controls.
    chapter_controls` or :func:`hashlib_nn.controls.load_shipped`). Rows of other data sets are
    ignored; an empty frame gives a report with one statement saying so."""
    frame = for_dataset(frame, dataset)
    ctl = for_dataset(controls, dataset)
    out = ChapterReport("determinism", dataset, preset, None)
    if frame.empty:
        out.statements.append(f"No {preset} model-size results for {dataset}.")
        return out
    out.basis = basis = basis_of(frame, dataset=dataset, preset=preset)
    curves = curves_with_controls(frame, ctl, RR_METRICS)
    paper = paper_points("model_size", dataset, RR_METRICS, x="width")
    where = f"{dataset}, {preset} preset"
    for metric in RR_METRICS:
        split = _SPLIT[metric]
        out.charts[metric] = charts.line_chart(
            curves[curves["metric"] == metric], x="width", y="mean", color="source",
            band=("lo", "hi"), reference=paper_for_chart(paper, metric),
            preset=preset,
            title=f"{split.capitalize()} redundancy ratio vs width: trained network and "
                  f"controls ({where})",
            x_title="hidden units (width)", y_title=f"redundancy ratio ({split})")  # fmt: skip

    adds = training_adds(curves)
    if len(paper):
        adds = adds.merge(paper[["metric", "width", "value"]].rename(
            columns={"value": "paper (digitized)"}), on=["metric", "width"], how="left")
    out.tables["controls"] = readable(adds, {"metric": "Metric", "width": "Width"})

    if ctl.empty:
        out.statements.append(f"No controls were given for {dataset} at the {preset} preset: "
                              "the trained network is shown alone.")  # fmt: skip
    else:
        out.statements.append(coverage_sentence(ctl))
    sentence = widest_sentence(curves, RR_METRICS)
    if sentence:
        out.statements.append(sentence)
    for metric in RR_METRICS:
        sentence = adds_sentence(adds, metric, lower_is_better=True)
        if sentence:
            out.statements.append(sentence)
    sentence = crossing_sentence(curves, "rr_train")
    if sentence:
        out.statements.append(sentence)

    trained_agg = aggregate(final_rows(frame[frame["metric"].isin(RR_METRICS)]), by=["width"])
    compare_and_judge(out, "determinism", trained_agg, paper, ctl, what="Redundancy ratios of "
                      "the trained network", verdict_fn=determinism_verdict, metrics=RR_METRICS,
                      dataset=dataset, preset=preset, basis=basis,
                      about_training=False)  # fmt: skip
    return out


shipped_reports = shipped_reports_function("determinism", report, shipped_controls)
