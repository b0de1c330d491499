"""The *Sample size* chapter's report: RR and the accuracies against the training sample size n.

One call per set of runs (:func:`report`): the chapter calls it for its own runs and for the
shipped faithful-protocol (``standard``) rows. Besides the curves, fits and verdicts (claim 3c)
it states when the original early stopping (on the training loss, patience 10; copied here as
the original had it) ends the runs relative to the first learning-rate decay, which is where the
test-RR curve steps (:func:`early_stopping_statements`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hashlib_nn import charts
from hashlib_nn.analysis import aggregate, compare_with_paper, final_rows
from hashlib_nn.claims import (
    ACCURACY_METRICS,
    COMPARISON_NAMES,
    accuracy_log_linear_verdict,
    curve_labels,
    gap_sides,
    log_linear_fits,
    paper_points,
    sample_size_rr_verdict,
)
from hashlib_nn.reports import (
    ChapterReport,
    readable,
    shipped_reports_function,
)
from hashlib_nn.train import TrainConfig
from hashlib_nn.verdicts import basis_of, fmt

__all__ = ["ACC_METRICS", "RR_METRICS", "early_stopping_statements", "report", "shipped_reports",
           "stopping_table"]  # fmt: skip

RR_METRICS = ["rr_test", "rr_train"]
ACC_METRICS = list(ACCURACY_METRICS)
#: the original's first learning-rate decay (lr x 0.1 every 20 epochs) and patience
DECAY_EVERY = TrainConfig.lr_decay_every
PATIENCE = TrainConfig.patience
#: a rise of the test RR smaller than this (50 of the 10,000 test examples) is not called a rise
RISE_TOLERANCE = 0.005


def stopping_table(frame: pd.DataFrame, *, patience: int = PATIENCE,
                   decay_every: int = DECAY_EVERY) -> pd.DataFrame:  # fmt: skip
    """How long the runs at each sample size trained: one row per ``n_train`` with ``runs``,
    ``stopped_early`` (runs that early stopping ended), ``epochs_min``/``epochs_max``
    (``epochs_run``) and ``last_improvement_max``: the latest epoch at which the training loss
    last improved, ``epochs_run − patience`` for a run early stopping ended (patience 10: it
    stops after 10 epochs without improvement), and ``before_decay``: whether every run's loss
    last improved by the first learning-rate decay (epoch ``decay_every``, 20)."""
    missing = [c for c in ("n_train", "seed", "width", "epochs_run", "stopped_epoch")
               if c not in frame.columns]  # fmt: skip
    if missing:
        raise ValueError(f"stopping_table needs the runs' epochs; the frame lacks {missing}, "
                         f"has {list(frame.columns)}")  # fmt: skip
    runs = frame.drop_duplicates(["width", "n_train", "seed"])
    stopped = runs["stopped_epoch"].notna()
    improved = np.where(stopped, runs["epochs_run"].astype(float) - patience,
                        runs["epochs_run"].astype(float))
    runs = runs.assign(_stopped=stopped, _improved=improved)
    out = runs.groupby("n_train").agg(
        runs=("seed", "size"), stopped_early=("_stopped", "sum"),
        epochs_min=("epochs_run", "min"), epochs_max=("epochs_run", "max"),
        last_improvement_max=("_improved", "max")).reset_index()  # fmt: skip
    out["before_decay"] = out["last_improvement_max"] <= decay_every
    return out.astype({"runs": int, "stopped_early": int, "epochs_min": int, "epochs_max": int,
                       "last_improvement_max": int})  # fmt: skip


def early_stopping_statements(frame: pd.DataFrame, agg: pd.DataFrame, *,
                              patience: int = PATIENCE,
                              decay_every: int = DECAY_EVERY) -> list[str]:  # fmt: skip
    """Computed sentences: up to which n every run stops before using the first learning-rate
    decay, from which n the runs train past it, and the step of the test RR between the two
    (``agg``: :func:`~hashlib_nn.analysis.aggregate` by ``width, n_train``)."""
    table = stopping_table(frame, patience=patience, decay_every=decay_every)
    if table.empty:
        return []
    sizes = table["n_train"].tolist()
    before = table["before_decay"].tolist()
    # the longest run of small n whose runs all stop before using the decay
    k = next((i for i, b in enumerate(before) if not b), len(before))
    out = []
    if k == 0:
        return [f"At every sample size some runs keep improving their training loss after the "
                f"first learning-rate decay (epoch {decay_every})."]
    low = table.iloc[:k]
    stopped, runs = int(low["stopped_early"].sum()), int(low["runs"].sum())
    lo, hi = int(low["epochs_min"].min()), int(low["epochs_max"].max())
    span = f"{fmt(lo)} epochs" if lo == hi else f"{fmt(lo)} to {fmt(hi)} epochs"
    head = f"Every run with n ≤ {fmt(sizes[k - 1])} ends after {span}"
    decay = f"the first learning-rate decay (after epoch {decay_every})"
    if stopped == runs:
        out.append(f"{head}, all by early stopping on the training loss (patience {patience}, as "
                   f"in the original): their training loss last improved by epoch "
                   f"{fmt(int(low['last_improvement_max'].max()))}, before {decay}, so the "
                   "lower rate never improved it.")
    elif stopped == 0:
        out.append(f"{head}, all by the epoch budget, before {decay}.")
    else:
        out.append(f"{head}, {stopped} of {runs} by early stopping on the training loss "
                   f"(patience {patience}) and the others by the epoch budget; none improved its "
                   f"training loss after {decay}.")
    if k == len(sizes):
        return out
    high = table.iloc[k:]
    all_after = high[high["epochs_min"] - patience > decay_every]
    mixed = high[~high.index.isin(all_after.index)]
    text = (f"From n = {fmt(sizes[k])} on, runs train {fmt(int(high['epochs_min'].min()))} to "
            f"{fmt(int(high['epochs_max'].max()))} epochs")
    if len(mixed):
        text += (f"; at n = {fmt(mixed['n_train'].tolist())} the training loss of some runs last "
                 "improved before the decay and of others after it")
    out.append(text + ".")
    n0, n1 = sizes[k - 1], sizes[k]
    test = agg[agg["metric"] == "rr_test"]
    steps = []
    for width, g in test.groupby("width"):
        at = g.set_index("n_train")["mean"]
        if n0 in at.index and n1 in at.index:
            steps.append(f"{at[n0]:.3f} → {at[n1]:.3f} at width {fmt(width)}")
    if steps:
        out.append(f"This is where the test RR steps, between n = {fmt(n0)} and n = {fmt(n1)}: "
                   + "; ".join(steps) + ".")
    return out


def _lowest_statements(agg: pd.DataFrame) -> list[str]:
    out = []
    for width, g in agg[agg["metric"] == "rr_test"].groupby("width"):
        g = g.sort_values("n_train")
        i = int(np.argmin(g["mean"].to_numpy()))
        n_min, largest = g["n_train"].iloc[i], g["n_train"].iloc[-1]
        if n_min == largest:
            out.append(f"At width {fmt(width)} the test RR is lowest at the largest n "
                       f"({fmt(largest)}): {g['mean'].iloc[i]:.3f}.")
        elif g["mean"].iloc[-1] - g["mean"].iloc[i] <= RISE_TOLERANCE:
            out.append(f"At width {fmt(width)} the test RR reaches its lowest, "
                       f"{g['mean'].iloc[i]:.3f}, at n = {fmt(n_min)} and stays within "
                       f"{fmt(RISE_TOLERANCE)} of it up to n = {fmt(largest)}.")
        else:
            out.append(f"At width {fmt(width)} the test RR is lowest at n = {fmt(n_min)} "
                       f"({g['mean'].iloc[i]:.3f}) and rises again to {g['mean'].iloc[-1]:.3f} "
                       f"at n = {fmt(largest)}.")
    train = agg[agg["metric"] == "rr_train"]
    if len(train):
        out.append(f"The train RR of the n training examples lies between "
                   f"{train['mean'].min():.3f} and {train['mean'].max():.3f}.")
    return out


def _fit_statement(fits: pd.DataFrame) -> str:
    usable = fits[fits["n_points"] >= 3].dropna(subset=["slope_per_decade", "r2"])
    if usable.empty:
        return ""
    pos = int((usable["slope_per_decade"] > 0).sum())
    lin = int((usable["r2"] >= 0.9).sum())
    return (f"{pos} of {len(usable)} fits have a positive slope "
            f"({usable['slope_per_decade'].min():.3f} to {usable['slope_per_decade'].max():.3f} "
            f"per decade of n); {lin} have R² ≥ 0.9 (R² from {usable['r2'].min():.3f} to "
            f"{usable['r2'].max():.3f}): an R² below 0.9 means the curve bends on the log axis.")


def _small_n_statement(table: pd.DataFrame) -> str:
    """How our test RR compares with the paper's at its smallest and largest shared n."""
    rr = table[table["metric"] == "rr_test"]
    if rr.empty:
        return ""
    small = rr[rr["n_train"] == rr["n_train"].min()]
    large = rr[rr["n_train"] == rr["n_train"].max()]
    ratio = small["ours"] / small["paper"]
    return (f"At n = {fmt(small['n_train'].iloc[0])} our test RR is {ratio.min():.2f} to "
            f"{ratio.max():.2f} times the paper's; the largest gap there is "
            f"{small['diff'].abs().max():.3f}, and at n = {fmt(large['n_train'].iloc[0])} it is "
            f"{large['diff'].abs().max():.3f}.")


def report(frame: pd.DataFrame, *, dataset: str, preset: str) -> ChapterReport:
    """Tables, charts, verdicts and computed statements of the sample-size grid ``frame``
    (tidy rows; rows of other data sets are ignored)."""
    if "dataset" in frame.columns:
        frame = frame[frame["dataset"] == dataset]
    out = ChapterReport("sample_size", dataset, preset, None)
    if frame.empty:
        out.statements.append(f"No {preset} sample-size results for {dataset}.")
        return out
    out.basis = basis = basis_of(frame, dataset=dataset, preset=preset)
    agg = aggregate(final_rows(frame), by=["width", "n_train"])
    widths = sorted(int(w) for w in agg["width"].unique())
    paper = curve_labels(paper_points("sample_size", dataset, RR_METRICS + ACC_METRICS,
                                      x="n_train", widths=widths))  # fmt: skip
    where = f"{dataset}, {preset} preset"
    for key, metrics, title, y_title in (
        ("rr", RR_METRICS, "Redundancy ratio vs training sample size", "redundancy ratio"),
        ("accuracy", ACC_METRICS, "Accuracy on the neural codes vs training sample size",
         "accuracy"),
    ):  # fmt: skip
        ref = paper[paper["metric"].isin(metrics)]
        out.charts[key] = charts.line_chart(
            curve_labels(agg[agg["metric"].isin(metrics)]), x="n_train", y="mean",
            color="curve", band=("lo", "hi"), reference=ref if len(ref) else None, log_x=True,
            preset=preset, title=f"{title} ({where})", x_title="training examples n (log scale)",
            y_title=y_title, height=320 if key == "accuracy" else 260)  # fmt: skip

    ours = agg[agg["metric"].isin(RR_METRICS + ACC_METRICS)]
    if len(paper):
        table = compare_with_paper(ours, paper, on=["metric", "width", "n_train"])
        out.tables["comparison"] = readable(table, COMPARISON_NAMES)
        for metrics, what in ((["rr_test"], "Test RR"), (ACC_METRICS, "Accuracies on the codes")):
            sentence = gap_sides(table[table["metric"].isin(metrics)], what)
            if sentence:
                out.statements.append(sentence)
        sentence = _small_n_statement(table)
        if sentence:
            out.statements.append(sentence)
    else:
        out.tables["comparison"] = readable(ours[["metric", "width", "n_train", "mean", "lo",
                                                  "hi", "n"]], COMPARISON_NAMES)  # fmt: skip
        out.statements.append(f"The paper has no sample-size values for {dataset}.")
    out.statements += _lowest_statements(agg)

    fits = log_linear_fits(agg[agg["metric"].isin(ACC_METRICS)])
    out.tables["fits"] = readable(fits, {
        "width": "Width", "metric": "Metric", "slope_per_decade": "Slope per decade of n",
        "intercept": "Intercept", "r2": "R²", "n_points": "Sample sizes", "x_min": "Smallest n",
        "x_max": "Largest n"})  # fmt: skip
    sentence = _fit_statement(fits)
    if sentence:
        out.statements.append(sentence)
    if {"epochs_run", "stopped_epoch"} <= set(frame.columns):
        stops = stopping_table(frame)
    else:
        stops = pd.DataFrame(columns=["n_train", "runs", "stopped_early", "epochs_min",
                                      "epochs_max", "last_improvement_max", "before_decay"])
    out.tables["stopping"] = readable(stops, {
        "n_train": "Training examples n", "runs": "Runs",
        "stopped_early": "Ended by early stopping", "epochs_min": "Fewest epochs",
        "epochs_max": "Most epochs",
        "last_improvement_max": "Latest last improvement of the training loss (epoch)",
        "before_decay": f"All before the first decay (epoch {DECAY_EVERY})"})  # fmt: skip
    if len(stops):
        out.statements += early_stopping_statements(frame, agg)

    out.verdicts["rr"] = sample_size_rr_verdict(agg, dataset=dataset, basis=basis)
    out.verdicts["accuracy"] = accuracy_log_linear_verdict(agg, dataset=dataset, basis=basis)
    return out


shipped_reports = shipped_reports_function("sample_size", report)
