"""The *Training time* chapter's report: the codes at initialization and along training.

One call per set of runs (:func:`report`): the chapter calls it for its own runs and for the
shipped faithful-protocol (``standard``) rows. The training-time verdict (claim 3b) is shown with
its untrained control: the same rule on the epoch-0 rows copied to every epoch
(:func:`hashlib_nn.claims.untrained_rows`), a network that never trains.
"""

from __future__ import annotations

import pandas as pd

from hashlib_nn import charts
from hashlib_nn.analysis import aggregate, compare_with_paper
from hashlib_nn.claims import (
    ACCURACY_METRICS,
    COMPARISON_NAMES,
    METRIC_LABELS,
    curve_labels,
    epoch_changes,
    gap_sides,
    paper_points,
    training_time_verdict,
    untrained_rows,
)
from hashlib_nn.reports import (
    ChapterReport,
    readable,
    shipped_reports_function,
)
from hashlib_nn.verdicts import basis_of, fmt, with_controls

__all__ = ["ACC_METRICS", "CHANGE_NAMES", "RR_METRICS", "paper_consistency", "report",
           "shipped_reports"]  # fmt: skip

RR_METRICS = ["rr_test", "rr_train"]
ACC_METRICS = list(ACCURACY_METRICS)
CHANGE_NAMES = {
    "metric": "Metric", "width": "Width", "at_0": "Epoch 0 (initialization)",
    "at_1": "After epoch 1", "last_epoch": "Last epoch", "at_last": "At the last epoch",
    "first_epoch_change": "Change in epoch 1", "later_change": "Change after epoch 1",
}  # fmt: skip


def _range(values: pd.Series, signed: bool = False) -> str:
    f = "{:+.3f}" if signed else "{:.3f}"
    lo, hi = f.format(float(values.min())), f.format(float(values.max()))
    return lo if lo == hi else f"{lo} to {hi}"


def paper_consistency(dataset: str) -> list[str]:
    """The paper's own figures side by side: its training-time figure's final test RR and its
    model-size figure's test RR at the same width (both 200 epochs of the same network, as its
    code trains them). One sentence per shared width with a final training-time value; none when
    either figure lacks values."""
    tt = paper_points("training_time", dataset, ["rr_test"], x="epoch", last_epoch=200)
    ms = paper_points("model_size", dataset, ["rr_test"], x="width")
    out = []
    if tt.empty or ms.empty:
        return out
    finals = tt[tt["paper_x"] == "final"]  # CIFAR-10: the figure's width 100 has no final point
    for w in sorted(set(finals["width"]) & set(ms["width"])):
        final = float(finals[finals["width"] == w]["value"].iloc[0])
        size = float(ms[ms["width"] == w]["value"].iloc[0])
        out.append(f"The paper's test RR at width {w}: {final:.3f} at the end of its "
                   f"training-time figure, {size:.3f} in its model-size figure.")
    return out


def report(frame: pd.DataFrame, *, dataset: str, preset: str) -> ChapterReport:
    """Tables, charts, verdicts and computed statements of the training-time grid ``frame``
    (tidy rows at every evaluated epoch; rows of other data sets are ignored)."""
    if "dataset" in frame.columns:
        frame = frame[frame["dataset"] == dataset]
    out = ChapterReport("training_time", dataset, preset, None)
    if frame.empty:
        out.statements.append(f"No {preset} training-time results for {dataset}.")
        return out
    out.basis = basis = basis_of(frame, dataset=dataset, preset=preset)
    agg = aggregate(frame, by=["width", "epoch"])
    agg["epoch + 1"] = agg["epoch"] + 1
    last = int(agg["epoch"].max())
    widths = sorted(int(w) for w in agg["width"].unique())
    paper = curve_labels(paper_points("training_time", dataset, RR_METRICS + ACC_METRICS,
                                      x="epoch", last_epoch=last, widths=widths))  # fmt: skip
    paper["epoch + 1"] = paper["epoch"] + 1
    where = f"{dataset}, {preset} preset"
    for key, metrics, title, y_title in (
        ("rr", RR_METRICS, "Redundancy ratio during training", "redundancy ratio"),
        ("accuracy", ACC_METRICS, "Accuracy on the neural codes during training", "accuracy"),
    ):
        ref = paper[paper["metric"].isin(metrics)]
        out.charts[key] = charts.line_chart(
            curve_labels(agg[agg["metric"].isin(metrics)]), x="epoch + 1", y="mean",
            color="curve", band=("lo", "hi"), reference=ref if len(ref) else None, log_x=True,
            preset=preset,
            title=f"{title} ({where})", x_title="epoch + 1 (log scale; 1 = initialization)",
            y_title=y_title, height=320 if key == "accuracy" else 260)  # fmt: skip

    changes = pd.concat([epoch_changes(agg, metric=m).assign(metric=m) for m in RR_METRICS])
    out.tables["rr_changes"] = readable(changes[list(CHANGE_NAMES)], CHANGE_NAMES)
    acc_present = [m for m in ACC_METRICS if m in set(agg["metric"])]
    acc_changes = pd.concat([epoch_changes(agg, metric=m).assign(metric=m)
                             for m in acc_present]) if acc_present else changes.iloc[0:0]
    out.tables["accuracy_changes"] = readable(acc_changes[list(CHANGE_NAMES)], CHANGE_NAMES)

    ours = agg[agg["metric"].isin(RR_METRICS)]
    ref = paper[paper["metric"].isin(RR_METRICS)]
    if len(ref):
        table = compare_with_paper(ours, ref, on=["metric", "width", "epoch"])
        out.tables["comparison"] = readable(table, COMPARISON_NAMES)
        at1 = table[table["epoch"] == 1]
        if len(at1) and at1["ours"].sum() > 0:
            times = at1["paper"].sum() / at1["ours"].sum()
            out.statements.append(
                f"After epoch 1 the paper's redundancy ratio is {times:.1f} times ours (summed "
                f"over the {len(at1)} curves both have).")  # fmt: skip
        out.statements.append(gap_sides(table, "Redundancy ratios at epoch 1 and at the end"))
    else:
        out.tables["comparison"] = readable(ours[["metric", "width", "epoch", "mean", "lo", "hi",
                                                  "n"]], COMPARISON_NAMES)  # fmt: skip
        out.statements.append(f"The paper has no training-time values for {dataset} at widths "
                              f"{fmt(widths)}.")  # fmt: skip

    test = changes[changes["metric"] == "rr_test"].dropna(subset=["at_1", "at_last"])
    if len(test):
        fall = test["at_1"] - test["at_last"]
        sentence = (f"From epoch 1 to epoch {last} our test RR changes by "
                    f"{_range(-fall, signed=True)} across widths {fmt(widths)} (after epoch 1: "
                    f"{_range(test['at_1'])}; at epoch {last}: {_range(test['at_last'])})")
        ref_test = ref[ref["metric"] == "rr_test"]
        paper_fall = [float(g.sort_values("epoch")["value"].iloc[-1]
                            - g.sort_values("epoch")["value"].iloc[0])
                      for _, g in ref_test.groupby("width") if len(g) == 2]
        if paper_fall:
            sentence += (f"; the paper's changes by {_range(pd.Series(paper_fall), signed=True)}"
                         " from epoch 1 to its final epoch")
        out.statements.append(sentence + ".")
        first = test.dropna(subset=["at_0"])
        if len(first):
            rises = int((first["first_epoch_change"] > 0).sum())
            out.statements.append(
                f"During the first epoch our test RR changes by "
                f"{_range(first['first_epoch_change'], signed=True)}: it rises at {rises} of "
                f"{len(first)} widths.")  # fmt: skip
    knn = acc_changes[acc_changes["metric"] == "knn_test"].dropna(subset=["at_0", "at_1"])
    if len(knn):
        first_more = int((knn["first_epoch_change"] > knn["later_change"]).sum())
        out.statements.append(
            f"Untrained (epoch 0), K-NN on the codes reaches {_range(knn['at_0'])} (chance is "
            f"0.1); the first epoch adds {_range(knn['first_epoch_change'], signed=True)} and "
            f"the rest of training {_range(knn['later_change'], signed=True)}: the first "
            f"epoch adds more at {first_more} of {len(knn)} widths.")  # fmt: skip
    out.statements += paper_consistency(dataset)

    for metric in ("rr_test", "rr_train"):
        verdict = training_time_verdict(agg, metric=metric, dataset=dataset, basis=basis)
        if (frame["epoch"] == 0).any():
            untrained = aggregate(untrained_rows(frame), by=["width", "epoch"])
            control = training_time_verdict(untrained, metric=metric, dataset=dataset)
            verdict = with_controls(verdict, {"untrained network": control},
                                    about_training=True)  # fmt: skip
        out.verdicts[metric] = verdict
    label = METRIC_LABELS["rr_test"]
    out.statements.append(f"The verdict below is computed on {label}; the same rule on the "
                          "training codes follows it, each beside the untrained network.")
    return out


shipped_reports = shipped_reports_function("training_time", report)
