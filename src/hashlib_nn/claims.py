"""Verdicts on the dominant factors (model size, training time, sample size) and the claims page.

The paper's abstract (He et al. 2021) makes four claims (protocol.md, "Claims"): determinism,
categorization, the dominant factors, and the activation hash phase chart. This module holds

- the numbers the chapters *Model size*, *Training time* and *Sample size* compute beyond
  :mod:`hashlib_nn.analysis` (the paper's values on our axes, log-linear fits, per-epoch
  changes),
- one ``*_verdict`` function per statement those chapters test, each with its rule in its
  docstring, returning an :class:`~hashlib_nn.analysis.Verdict`. Every rule measures the size of
  the gap to the paper (:mod:`hashlib_nn.verdicts`: points within the reading uncertainty plus
  half the seed range, the effect as a fraction of the paper's), names its largest gap, says
  *not comparable* where the paper has no values and *not tested at this preset* where the runs
  are too short or too small for the claim,
- :func:`faithful_checks`, the acceptance checks of the faithful-protocol (``standard``)
  model-size grid (the provenance of the shipped ``standard`` results the chapters show is
  :func:`hashlib_nn.shipped.summary`),
- the registry of the abstract's claims (:data:`CLAIMS`), :func:`evaluate_claims` (each verdict
  with its basis, and with its controls: :func:`untrained_rows`, :func:`controls_for`) and
  :func:`claims_table`, which the claims page calls on the shipped ``standard`` results and on
  the stored results of the chapters' grids; :func:`shipped_verdicts` and :func:`claims_tables`
  do the same for every data set of the ``standard`` preset (MNIST and Fashion-MNIST: the
  paper has no Fashion-MNIST values, so there a rule that measures the gap to the paper says
  *not comparable*, while the rules that compare our own effects with each other, claims 3d-3f
  and 4, are judged). A claim whose chapter does not exist yet is *not
  tested*; its verdict is added later by name with :func:`register_verdict`.

Every function takes tidy frames (:meth:`hashlib_nn.experiments.RunResult.to_frame`) or their
:func:`~hashlib_nn.analysis.aggregate` (columns ``metric, mean, lo, hi, n`` plus the grouping
columns), so the tests can build small frames by hand.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hashlib_nn import factors
from hashlib_nn.analysis import (
    ACCURACY_METRICS,
    METRIC_LABELS,
    MIN_EPOCHS_FINAL,
    RR_METRICS,
    Verdict,
    aggregate,
    categorization_verdict,
    crossing,
    determinism_verdict,
    final_rows,
    monotone_share,
    paper_points,
)
from hashlib_nn.reference import paper_values
from hashlib_nn.verdicts import (
    STATUSES,
    Basis,
    adequacy,
    basis_of,
    effect_ratio,
    fmt,
    judge,
    not_tested,
    point_table,
    tolerance,
    with_controls,
)

__all__ = [
    "ACCURACY_METRICS",
    "CLAIMS",
    "FAITHFUL_CHECK_COLUMNS",
    "FAITHFUL_CURVES",
    "COMPARISON_NAMES",
    "gap_sides",
    "RR_METRICS",
    "Claim",
    "LogLinearFit",
    "METRIC_LABELS",
    "accuracies_rise_with_width_verdict",
    "accuracy_log_linear_verdict",
    "GAP_STATUSES",
    "MIN_LAST_EPOCH",
    "claim_verdicts",
    "claims_frame",
    "claims_table",
    "claims_tables",
    "combine_verdicts",
    "computed",
    "controls_for",
    "curve_labels",
    "describe_faithful_checks",
    "epoch_changes",
    "evaluate_claims",
    "evaluate_datasets",
    "faithful_checks",
    "log_linear_fit",
    "log_linear_fits",
    "paper_epoch_table",
    "paper_points",
    "register_verdict",
    "rr_crossings",
    "rr_falls_with_width_verdict",
    "sample_size_rr_verdict",
    "shipped_verdicts",
    "status_lines",
    "training_time_verdict",
    "untrained_rows",
]

def curve_labels(frame: pd.DataFrame, *, by: Sequence[str] = ("metric", "width")) -> pd.DataFrame:
    """``frame`` with a ``curve`` column naming each curve for a chart legend, e.g.
    ``"RR (test), width 40"`` (metric names via :data:`METRIC_LABELS`)."""

    def name(row: pd.Series) -> str:
        parts = []
        for column in by:
            value = row[column]
            if column == "metric":
                parts.append(METRIC_LABELS.get(str(value), str(value)))
            else:
                parts.append(f"{column} {int(value) if float(value).is_integer() else value}")
        return ", ".join(parts)

    if frame.empty:
        return frame.assign(curve=pd.Series(dtype=str))
    return frame.assign(curve=frame.apply(name, axis=1))


def paper_epoch_table(dataset: str | None = None, metric: str = "rr") -> pd.DataFrame:
    """The paper's training-time values of ``metric`` as a table: one row per data set, width and
    split, one column per epoch the figure was read at (``0``, ``1``, ``10``, ``final``; empty
    where it was not read). CIFAR-10 widths are the paper's units per layer."""
    table = paper_values("training_time", dataset, metric)
    wide = table.pivot_table(
        index=["dataset", "width", "split"], columns="x_label", values="value", aggfunc="first"
    )
    order = sorted((c for c in wide.columns if c != "final"), key=float)
    order += ["final"] if "final" in wide.columns else []
    wide = wide[order]
    wide.columns = [f"epoch {c}" for c in order]
    out = wide.reset_index()
    out["width"] = out["width"].astype(int)
    return out


# ----------------------------------------------------------------------------------------------
# Numbers
# ----------------------------------------------------------------------------------------------


def rr_crossings(
    agg: pd.DataFrame, *, dataset: str = "mnist", metric: str = "rr_test", level: float = 0.1
) -> pd.DataFrame:
    """The width at which RR first falls to ``level``, ours and the paper's.

    ``agg``: :func:`~hashlib_nn.analysis.aggregate` of final epochs by ``width``. Both curves
    are linearly interpolated between their grid points (:func:`~hashlib_nn.analysis.crossing`);
    NaN where a curve never reaches ``level`` or the paper has no values. Columns ``source,
    crossing_width``.
    """
    rows = agg[agg["metric"] == metric].sort_values("width")
    ours = crossing(rows["width"], rows["mean"], level)
    paper = float("nan")
    ref = paper_points("model_size", dataset, [metric], x="width")
    if len(ref):
        paper = crossing(ref["width"], ref["value"], level)
    return pd.DataFrame(
        {"source": ["this book", "paper (digitized)"], "crossing_width": [ours, paper]}
    )


@dataclass(frozen=True)
class LogLinearFit:
    r"""Least-squares fit :math:`y = a + b \log_{10} x`."""

    slope: float  # b: change of y per tenfold increase of x
    intercept: float  # a: y at x = 1
    r2: float  # coefficient of determination (1 when every point lies on the line)
    n_points: int


def log_linear_fit(x: Sequence[float], y: Sequence[float]) -> LogLinearFit:
    r"""Fit :math:`y = a + b \log_{10} x` by least squares; slope per decade and :math:`R^2`.

    :math:`R^2 = 1 - \sum (y - \hat y)^2 / \sum (y - \bar y)^2` (1.0 when y is constant and the
    fit exact). Fewer than two distinct x: NaN slope and R².

    >>> fit = log_linear_fit([10, 100, 1000], [0.2, 0.4, 0.6])
    >>> round(fit.slope, 6), round(fit.r2, 6)
    (0.2, 1.0)
    """
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    if xs.shape != ys.shape:
        raise ValueError(f"x and y must have the same length; got {xs.size} and {ys.size}")
    if np.any(xs <= 0):
        raise ValueError(f"x must be positive for a log fit; got min {xs.min():g}")
    n = int(xs.size)
    if np.unique(xs).size < 2:
        return LogLinearFit(float("nan"), float("nan"), float("nan"), n)
    lx = np.log10(xs)
    slope, intercept = np.polyfit(lx, ys, 1)
    resid = ys - (intercept + slope * lx)
    total = float(np.sum((ys - ys.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid**2)) / total if total > 0 else 1.0
    return LogLinearFit(float(slope), float(intercept), r2, n)


def log_linear_fits(
    agg: pd.DataFrame, *, x: str = "n_train", by: Sequence[str] = ("width",)
) -> pd.DataFrame:
    """:func:`log_linear_fit` of each metric's mean against ``x``, per group of ``by``.

    ``agg``: :func:`~hashlib_nn.analysis.aggregate` by ``[*by, x]``. Returns one row per group
    and metric: ``*by, metric, slope_per_decade, intercept, r2, n_points, x_min, x_max``.
    """
    rows = []
    for keys, g in agg.groupby([*by, "metric"], sort=True):
        keys = keys if isinstance(keys, tuple) else (keys,)
        fit = log_linear_fit(g[x], g["mean"])
        rows.append(
            {
                **dict(zip([*by, "metric"], keys, strict=True)),
                "slope_per_decade": fit.slope,
                "intercept": fit.intercept,
                "r2": fit.r2,
                "n_points": fit.n_points,
                "x_min": float(g[x].min()),
                "x_max": float(g[x].max()),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            *by,
            "metric",
            "slope_per_decade",
            "intercept",
            "r2",
            "n_points",
            "x_min",
            "x_max",
        ],
    )


def epoch_changes(agg: pd.DataFrame, *, metric: str = "rr_test") -> pd.DataFrame:
    """RR (or any metric) at initialization, after the first epoch and at the last epoch.

    ``agg``: :func:`~hashlib_nn.analysis.aggregate` by ``["width", "epoch"]``. One row per
    width: ``width, at_0, at_1, last_epoch, at_last, first_epoch_change`` (at_1 − at_0) and
    ``later_change`` (at_last − at_1). NaN where an epoch was not evaluated.
    """
    rows = []
    for width, g in agg[agg["metric"] == metric].groupby("width", sort=True):
        by_epoch = dict(zip(g["epoch"].astype(int), g["mean"], strict=True))
        last = max(by_epoch)
        a0, a1 = by_epoch.get(0, np.nan), by_epoch.get(1, np.nan)
        at_last = by_epoch[last] if last > 1 else np.nan
        rows.append(
            {
                "width": width,
                "at_0": a0,
                "at_1": a1,
                "last_epoch": last,
                "at_last": at_last,
                "first_epoch_change": a1 - a0,
                "later_change": at_last - a1,
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "width",
            "at_0",
            "at_1",
            "last_epoch",
            "at_last",
            "first_epoch_change",
            "later_change",
        ],
    )


#: Readable column names of a comparison with the paper (:func:`hashlib_nn.reports.readable`).
COMPARISON_NAMES: dict[str, str] = {
    "metric": "Metric",
    "width": "Width",
    "epoch": "Epoch",
    "n_train": "Training examples n",
    "ours": "Ours (mean over seeds)",
    "lo": "Ours (lowest seed)",
    "hi": "Ours (highest seed)",
    "paper": "Paper (digitized)",
    "diff": "Ours − paper",
    "tolerance": "Tolerance (±)",
    "within": "Within tolerance",
    "mean": "Ours (mean over seeds)",
    "n": "Runs",
}


def gap_sides(table: pd.DataFrame, what: str) -> str:
    """One computed sentence on a point table (:func:`hashlib_nn.verdicts.point_table`): how
    many of ``what``'s shared points lie within tolerance, how many below and above the
    paper's beyond it, and the largest gap. "" for an empty table."""
    if table.empty:
        return ""
    below = table[~table["within"] & (table["diff"] < 0)]
    above = table[~table["within"] & (table["diff"] > 0)]
    text = (f"{what}: {int(table['within'].sum())} of {len(table)} shared points lie within "
            f"tolerance of the paper's, {len(below)} below it and {len(above)} above it")
    worst = table.loc[table["diff"].abs().idxmax()]
    keys = [c for c in ("metric", "width", "epoch", "n_train") if c in table.columns]
    where = ", ".join(f"{METRIC_LABELS.get(str(worst[k]), worst[k])}" if k == "metric" else
                      f"{k.replace('n_train', 'n')} {fmt(worst[k])}" for k in keys)
    return (text + f"; the largest gap is {worst['diff']:+.3f} ({where}: ours "
            f"{worst['ours']:.3f}, the paper's {worst['paper']:.3f}).")


# ----------------------------------------------------------------------------------------------
# Verdicts of the chapters
# ----------------------------------------------------------------------------------------------

#: The last epoch a training-time run must reach for claim 3b: the paper's effect is the fall of
#: RR from epoch 1 to the end of training; a run that stops before the first learning-rate decay
#: (epoch 20) cannot show it (the ``smoke`` preset trains 2 epochs).
MIN_LAST_EPOCH = 20


def _curve(agg: pd.DataFrame, metric: str, x: str) -> tuple[np.ndarray, np.ndarray]:
    rows = agg[agg["metric"] == metric].sort_values(x)
    return rows[x].to_numpy(dtype=float), rows["mean"].to_numpy(dtype=float)


def _effect_on_table(
    table: pd.DataFrame, metric: str, x: str, *, rise: bool
) -> tuple[float, float, float]:
    """Ours and the paper's change of ``metric`` between the first and the last ``x`` of a
    point table (a drop when not ``rise``), and their ratio."""
    rows = table[table["metric"] == metric].sort_values(x)
    if len(rows) < 2:
        return float("nan"), float("nan"), float("nan")
    sign = 1.0 if rise else -1.0
    ours = sign * float(rows["ours"].iloc[-1] - rows["ours"].iloc[0])
    paper = sign * float(rows["paper"].iloc[-1] - rows["paper"].iloc[0])
    return ours, paper, effect_ratio(ours, paper)


def _smallest(ratios: Sequence[float]) -> float | None:
    vals = [r for r in ratios if not np.isnan(r)]
    return min(vals) if vals else None


def _adequate(claim: str, basis: Basis | None, **need: int) -> Verdict | None:
    reason = adequacy(basis, **need)
    return not_tested(claim, reason, basis=basis, preset_reason=True) if reason else None


def rr_falls_with_width_verdict(
    agg: pd.DataFrame,
    *,
    dataset: str = "mnist",
    basis: Basis | None = None,
    min_share: float = 0.8,
    tol: float = 0.02,
) -> Verdict:
    """Model size: the redundancy ratio falls as the network widens.

    Input: :func:`~hashlib_nn.analysis.aggregate` of the final epochs by ``width`` with
    ``rr_train`` and ``rr_test``. Rule:

    - *direction*: each split is non-increasing in at least ``min_share`` (80%) of the
      consecutive width steps (within ``tol`` = 0.02, the reading uncertainty);
    - *size*: both splits beside the paper's digitized points at the shared widths
      (:func:`hashlib_nn.verdicts.point_table`), and the *effect*, the drop from the narrowest
      to the widest shared width, as a fraction of the paper's drop (the smaller of the two
      splits; the paper's MNIST curves fall from about 1 to 0).

    :func:`hashlib_nn.verdicts.judge` gives the status. Fewer than three widths: *not tested*;
    runs allowed fewer than :data:`~hashlib_nn.analysis.MIN_EPOCHS_FINAL` epochs: *not tested
    at this preset*; no paper values: *not comparable*.
    """
    claim = "The redundancy ratio falls as the network gets wider (model size)."
    early = _adequate(claim, basis, min_epochs=MIN_EPOCHS_FINAL)
    if early:
        return early
    w, _ = _curve(agg, "rr_train", "width")
    if len(w) < 3:
        return not_tested(claim, f"only {len(w)} width(s) in the results; the verdict needs at "
                          "least three", basis=basis)  # fmt: skip
    numbers: dict[str, float] = {}
    parts, falls = [], []
    for metric in RR_METRICS:
        x, y = _curve(agg, metric, "width")
        share = monotone_share(x.tolist(), y.tolist(), tol=tol)
        falls.append(share >= min_share)
        numbers.update({f"{metric}_share_falling": share, f"{metric}_narrowest": float(y[0]),
                        f"{metric}_widest": float(y[-1])})  # fmt: skip
        parts.append(f"{RR_METRICS[metric]} RR {y[0]:.3f} → {y[-1]:.3f}, non-increasing in "
                     f"{share:.0%} of the steps")  # fmt: skip
    direction_text = (f"On {dataset}, from width {fmt(w[0])} to {fmt(w[-1])}: " + "; ".join(parts)
                      + f" (at least {min_share:.0%} needed, within ±{fmt(tol)}).")  # fmt: skip
    paper = paper_points("model_size", dataset, list(RR_METRICS), x="width")
    if paper.empty:
        return judge(claim, None, direction=all(falls), direction_text=direction_text, x="width",
                     dataset=dataset, numbers=numbers, basis=basis)  # fmt: skip
    table = point_table(agg[agg["metric"].isin(list(RR_METRICS))], paper, on=["metric", "width"])
    effects = {m: _effect_on_table(table, m, "width", rise=False) for m in RR_METRICS}
    effect_text = "Drop between the narrowest and the widest shared width: " + "; ".join(
        f"{RR_METRICS[m]} {o:.3f} against the paper's {p:.3f}"
        for m, (o, p, _) in effects.items() if not np.isnan(o)) + "."  # fmt: skip
    why = "; ".join(f"{RR_METRICS[m]} RR does not fall"
                    for m, ok in zip(RR_METRICS, falls, strict=True) if not ok)
    return judge(claim, table, direction=all(falls), direction_text=direction_text, x="width",
                 by=["metric"], effect=_smallest([r for *_, r in effects.values()]),
                 effect_text=effect_text, dataset=dataset, numbers=numbers,
                 basis=basis, direction_failure=why)  # fmt: skip


def accuracies_rise_with_width_verdict(
    agg: pd.DataFrame,
    *,
    dataset: str = "mnist",
    basis: Basis | None = None,
    min_share: float = 0.8,
    tol: float = 0.02,
) -> Verdict:
    """Model size: the categorization accuracies (and the network's own) rise with width.

    Input: :func:`~hashlib_nn.analysis.aggregate` of the final epochs by ``width`` with any
    of :data:`ACCURACY_METRICS`. Rule:

    - *direction*: every metric present is non-decreasing in at least ``min_share`` (80%) of the
      consecutive width steps (within ``tol`` = 0.02);
    - *size*: every metric the paper's figure has, beside its digitized points at the shared
      widths (:func:`hashlib_nn.verdicts.point_table`), and the *effect*, the gain from the
      narrowest to the widest shared width as a fraction of the paper's (the smallest over the
      metrics; the paper's MNIST K-NN gains 0.26 → 0.95).

    :func:`hashlib_nn.verdicts.judge` gives the status. Fewer than three widths or no accuracy
    metric: *not tested*; runs too short: *not tested at this preset*; no paper values: *not
    comparable*.
    """
    claim = "Categorization accuracy on the neural codes rises as the network gets wider."
    early = _adequate(claim, basis, min_epochs=MIN_EPOCHS_FINAL)
    if early:
        return early
    present = [m for m in ACCURACY_METRICS if m in set(agg["metric"])]
    w, _ = _curve(agg, present[0], "width") if present else (np.array([]), None)
    if not present or len(w) < 3:
        return not_tested(claim, f"{len(present)} accuracy metric(s) over {len(w)} width(s); "
                          "the verdict needs one metric over at least three widths",
                          basis=basis)  # fmt: skip
    parts, rises, numbers = [], [], {}
    for metric in present:
        x, y = _curve(agg, metric, "width")
        share = monotone_share(x.tolist(), y.tolist(), decreasing=False, tol=tol)
        rises.append(share >= min_share)
        numbers.update({f"{metric}_share_rising": share, f"{metric}_narrowest": float(y[0]),
                        f"{metric}_widest": float(y[-1])})  # fmt: skip
        parts.append(f"{METRIC_LABELS[metric]} {y[0]:.3f} → {y[-1]:.3f}, non-decreasing in "
                     f"{share:.0%} of the steps")  # fmt: skip
    direction_text = (f"On {dataset}, from width {fmt(w[0])} to {fmt(w[-1])}: " + "; ".join(parts)
                      + f" (at least {min_share:.0%} needed for every metric).")  # fmt: skip
    failing = [METRIC_LABELS[m] for m, ok in zip(present, rises, strict=True) if not ok]
    if failing:
        direction_text += f" Not rising: {', '.join(failing)}."
    paper = paper_points("model_size", dataset, present, x="width")
    if paper.empty:
        return judge(claim, None, direction=all(rises), direction_text=direction_text,
                     x="width", dataset=dataset, numbers=numbers, basis=basis)  # fmt: skip
    table = point_table(agg[agg["metric"].isin(present)], paper, on=["metric", "width"])
    effects = {m: _effect_on_table(table, m, "width", rise=True) for m in present}
    effect_text = "Gain between the narrowest and the widest shared width: " + "; ".join(
        f"{METRIC_LABELS[m]} {o:+.3f} against the paper's {p:+.3f}"
        for m, (o, p, _) in effects.items() if not np.isnan(o)) + "."  # fmt: skip
    return judge(claim, table, direction=all(rises), direction_text=direction_text, x="width",
                 by=["metric"], effect=_smallest([r for *_, r in effects.values()]),
                 effect_text=effect_text, dataset=dataset, numbers=numbers, basis=basis,
                 direction_failure=f"not rising: {', '.join(failing)}" if failing else "")


def training_time_verdict(
    agg: pd.DataFrame,
    *,
    metric: str = "rr_test",
    dataset: str = "mnist",
    basis: Basis | None = None,
    min_last_epoch: int = MIN_LAST_EPOCH,
) -> Verdict:
    """Training time: RR after the first epoch falls as training goes on, by the paper's amount.

    Input: :func:`~hashlib_nn.analysis.aggregate` by ``["width", "epoch"]`` with ``metric``
    (default ``rr_test``), evaluated at epoch 1 and at a last epoch of at least
    ``min_last_epoch`` (20, the first learning-rate decay). The paper's MNIST values (read after
    epoch 1 and at the end of training, ``reference/paper_figures.csv``): test RR 0.58/0.37/0.20
    → 0.10/0.045/0.02 at widths 40/50/60, an *effect* RR(1) − RR(final) of 0.48/0.325/0.18. Rule:

    - *direction*: RR at the last epoch is below RR after epoch 1 at every width;
    - *size*: our RR at epoch 1 and at our last epoch beside the paper's (its "final" placed at
      our last epoch; :func:`hashlib_nn.verdicts.point_table`), and the effect as a fraction of
      the paper's (the smallest over the widths).

    :func:`hashlib_nn.verdicts.judge` gives the status (a fall a tenth of the paper's is *not
    reproduced*). Epoch 1 or a late enough epoch missing: *not tested at this preset*; no paper
    values at our widths: *not comparable*. The change during the first epoch (from epoch 0,
    where evaluated) is reported in the evidence but does not decide: the paper's MNIST values
    were not read at initialization, and its CIFAR-10 values fall there.
    """
    claim = ("Training time shapes the codes: the redundancy ratio after the first epoch falls "
             "as training continues, by the paper's amount.")  # fmt: skip
    early = _adequate(claim, basis, min_epochs=min_last_epoch)
    if early:
        return early
    rows = agg[agg["metric"] == metric]
    epochs = sorted(int(e) for e in rows["epoch"].unique())
    last = max(epochs) if epochs else 0
    if 1 not in epochs or last < min_last_epoch:
        return not_tested(claim, f"{metric} evaluated at epochs {fmt(epochs)}; the verdict needs "
                          f"epoch 1 and an epoch of at least {min_last_epoch}", basis=basis,
                          preset_reason=True)  # fmt: skip
    table_ep = epoch_changes(agg, metric=metric)
    drops, parts, numbers = [], [], {}
    for row in table_ep.itertuples():
        drop = row.at_1 - row.at_last
        drops.append(bool(drop > 0))
        numbers.update({f"w{fmt(row.width)}_at_1": row.at_1,
                        f"w{fmt(row.width)}_at_last": row.at_last,
                        f"w{fmt(row.width)}_drop": drop})  # fmt: skip
        first = ("" if np.isnan(row.at_0) else
                 f" (epoch 0: {row.at_0:.3f}, first-epoch change {row.at_1 - row.at_0:+.3f})")
        change = f"a fall of {drop:.3f}" if drop >= 0 else f"a rise of {-drop:.3f}"
        parts.append(f"width {fmt(row.width)}: {row.at_1:.3f} after epoch 1 → {row.at_last:.3f} "
                     f"at epoch {fmt(row.last_epoch)}, {change}{first}")
    direction_text = (f"{METRIC_LABELS.get(metric, metric)} on {dataset}: " + "; ".join(parts)
                      + ". The direction needs a fall at every width.")  # fmt: skip
    widths = sorted(int(w) for w in rows["width"].unique())
    paper = paper_points("training_time", dataset, [metric], x="epoch", last_epoch=last,
                         widths=widths)  # fmt: skip
    if paper.empty:
        return judge(claim, None, direction=all(drops), direction_text=direction_text,
                     x="epoch", dataset=dataset, numbers=numbers, basis=basis)  # fmt: skip
    table = point_table(rows, paper, on=["metric", "width", "epoch"])
    no_fall = [fmt(r.width) for r, ok in zip(table_ep.itertuples(), drops, strict=True) if not ok]
    why = f"no fall at width {', '.join(no_fall)}" if no_fall else ""
    ratios, effect_parts = [], []
    for width, g in table.groupby("width"):
        at = g.set_index("epoch")
        if 1.0 in at.index and float(last) in at.index:
            ours = float(at.loc[1.0, "ours"] - at.loc[float(last), "ours"])
            theirs = float(at.loc[1.0, "paper"] - at.loc[float(last), "paper"])
            ratios.append(effect_ratio(ours, theirs))
            effect_parts.append(f"width {fmt(width)}: {ours:+.3f} against the paper's "
                                f"{theirs:+.3f} ({fmt(ratios[-1])} times)")  # fmt: skip
    effect_text = ("Fall from epoch 1 to the end: " + "; ".join(effect_parts) + "."
                   if effect_parts else "")  # fmt: skip
    return judge(claim, table, direction=all(drops), direction_text=direction_text, x="epoch",
                 by=["width"], effect=_smallest(ratios) if ratios else float("nan"),
                 effect_text=effect_text, dataset=dataset, numbers=numbers,
                 basis=basis, direction_failure=why)  # fmt: skip


def sample_size_rr_verdict(
    agg: pd.DataFrame,
    *,
    dataset: str = "mnist",
    basis: Basis | None = None,
    min_share: float = 0.8,
    tol: float = 0.005,
) -> Verdict:
    """Sample size: test RR falls as the training sample grows, by the paper's amount.

    Input: :func:`~hashlib_nn.analysis.aggregate` of the final epochs by ``["width",
    "n_train"]`` with ``rr_test`` (and ``rr_train``, on the n unique training examples, which
    is reported but does not decide: the paper's figure has no train-RR curve). Rule:

    - *direction*: per width, test RR is non-increasing in at least ``min_share`` (80%) of the
      consecutive n steps (within ``tol`` = 0.005, 50 of the 10,000 test examples) and lower at
      the largest n than at the smallest;
    - *size*: our test RR beside the paper's digitized points at the shared (width, n)
      (:func:`hashlib_nn.verdicts.point_table`), and the *effect*, the drop from the smallest to
      the largest shared n, as a fraction of the paper's drop there (the smallest over the
      widths; the paper's width 40 falls from 0.77 at n = 10 to 0.05 at n = 40,000).

    :func:`hashlib_nn.verdicts.judge` gives the status. Fewer than three sample sizes: *not
    tested*; runs too short: *not tested at this preset*; no paper values: *not comparable*.
    """
    claim = "Test RR falls as the training sample grows (sample size)."
    early = _adequate(claim, basis, min_epochs=MIN_EPOCHS_FINAL)
    if early:
        return early
    sizes = sorted(agg["n_train"].unique())
    if len(sizes) < 3:
        return not_tested(claim, f"only {len(sizes)} sample size(s) in the results; the verdict "
                          "needs at least three", basis=basis)  # fmt: skip
    falls, parts, numbers = [], [], {}
    for width in sorted(agg["width"].unique()):
        g = agg[agg["width"] == width]
        x, te = _curve(g, "rr_test", "n_train")
        _, tr = _curve(g, "rr_train", "n_train")
        share = monotone_share(x.tolist(), te.tolist(), tol=tol)
        falls.append(bool(share >= min_share and te[-1] < te[0]))
        numbers.update({f"w{fmt(width)}_rr_test_smallest_n": float(te[0]),
                        f"w{fmt(width)}_rr_test_largest_n": float(te[-1]),
                        f"w{fmt(width)}_share_falling": share})  # fmt: skip
        train = f"; train RR at most {np.nanmax(tr):.3f}" if len(tr) else ""
        parts.append(f"width {fmt(width)}: test RR {te[0]:.3f} (n = {x[0]:,.0f}) → {te[-1]:.3f} "
                     f"(n = {x[-1]:,.0f}), non-increasing in {share:.0%} of the steps{train}")
    direction_text = (f"On {dataset}: " + "; ".join(parts) + f" (at least {min_share:.0%} of the "
                      "steps needed, and lower at the largest n).")  # fmt: skip
    failing = [fmt(w) for w, ok in zip(sorted(agg["width"].unique()), falls, strict=True)
               if not ok]  # fmt: skip
    why = f"test RR does not fall at width {', '.join(failing)}" if failing else ""
    widths = sorted(int(w) for w in agg["width"].unique())
    paper = paper_points("sample_size", dataset, ["rr_test"], x="n_train", widths=widths)
    if paper.empty:
        return judge(claim, None, direction=all(falls), direction_text=direction_text,
                     x="n_train", dataset=dataset, numbers=numbers, basis=basis)  # fmt: skip
    table = point_table(agg[agg["metric"] == "rr_test"], paper, on=["metric", "width", "n_train"])
    extra = {"direction_failure": why}
    ratios, effect_parts = [], []
    for width, g in table.groupby("width"):
        ours, theirs, ratio = _effect_on_table(g, "rr_test", "n_train", rise=False)
        if not np.isnan(ours):
            ratios.append(ratio)
            effect_parts.append(f"width {fmt(width)}, n = {fmt(g['n_train'].min())} to "
                                f"{fmt(g['n_train'].max())}: {ours:.3f} against the paper's "
                                f"{theirs:.3f}")  # fmt: skip
    effect_text = ("Drop of test RR over the shared sample sizes: " + "; ".join(effect_parts)
                   + "." if effect_parts else "")  # fmt: skip
    return judge(claim, table, direction=all(falls), direction_text=direction_text, x="n_train",
                 by=["width"], effect=_smallest(ratios) if ratios else None,
                 effect_text=effect_text, dataset=dataset, numbers=numbers,
                 basis=basis, **extra)  # fmt: skip


def _paper_slopes(paper: pd.DataFrame) -> dict[tuple[str, int], float]:
    """The paper's accuracy gain per decade of n, per (metric, width) with two or more n."""
    out = {}
    for (metric, width), g in paper.groupby(["metric", "width"]):
        g = g.sort_values("n_train")
        if len(g) >= 2:
            decades = float(np.log10(g["n_train"].iloc[-1] / g["n_train"].iloc[0]))
            gain = float(g["value"].iloc[-1] - g["value"].iloc[0])
            out[(str(metric), int(width))] = gain / decades
    return out


def accuracy_log_linear_verdict(
    agg: pd.DataFrame,
    *,
    dataset: str = "mnist",
    basis: Basis | None = None,
    min_r2: float = 0.9,
) -> Verdict:
    """Sample size: accuracies grow log-linearly in n, at the paper's rate.

    Input: :func:`~hashlib_nn.analysis.aggregate` of the final epochs by ``["width",
    "n_train"]`` with any of :data:`ACCURACY_METRICS`; a least-squares line per width and
    metric (:func:`log_linear_fits`). Rule:

    - *direction*: every fit has a positive slope and more than half of the fits have
      R² ≥ ``min_r2`` (0.9; the growth is log-linear rather than bending);
    - *size*: our accuracies beside the paper's digitized points at the shared (width, n)
      (:func:`hashlib_nn.verdicts.point_table`), and the *effect*, our fitted slope per decade
      of n as a fraction of the paper's (from its first and last point where it has two: MNIST
      K-NN at width 40, 0.11 at n = 10 → 0.89 at n = 40,000, 0.217 per decade).

    :func:`hashlib_nn.verdicts.judge` gives the status. No fit over three or more sample sizes:
    *not tested*; runs too short: *not tested at this preset*; no paper values: *not
    comparable*.
    """
    claim = "Categorization accuracy grows log-linearly in the number of training examples."
    early = _adequate(claim, basis, min_epochs=MIN_EPOCHS_FINAL)
    if early:
        return early
    present = [m for m in ACCURACY_METRICS if m in set(agg["metric"])]
    fits = log_linear_fits(agg[agg["metric"].isin(present)])
    usable = fits[fits["n_points"] >= 3].dropna(subset=["slope_per_decade", "r2"])
    if usable.empty:
        return not_tested(claim, "no metric has values at three or more sample sizes",
                          basis=basis)  # fmt: skip
    positive = bool((usable["slope_per_decade"] > 0).all())
    linear = usable["r2"] >= min_r2
    numbers = {"fits": len(usable), "fits_log_linear": int(linear.sum()),
               "min_slope_per_decade": float(usable["slope_per_decade"].min()),
               "max_slope_per_decade": float(usable["slope_per_decade"].max()),
               "min_r2": float(usable["r2"].min()), "median_r2": float(usable["r2"].median())}
    direction_text = (f"On {dataset}, {int((usable['slope_per_decade'] > 0).sum())} of "
                      f"{len(usable)} fits (width × metric) rise; {int(linear.sum())} have "
                      f"R² ≥ {fmt(min_r2)} (more than half needed); slopes "
                      f"{numbers['min_slope_per_decade']:.3f} to "
                      f"{numbers['max_slope_per_decade']:.3f} per decade of n, median R² "
                      f"{numbers['median_r2']:.3f}.")  # fmt: skip
    direction = positive and float(linear.mean()) > 0.5
    why = "; ".join(
        ([] if positive else ["not every fit rises"])
        + ([] if float(linear.mean()) > 0.5 else
           [f"only {int(linear.sum())} of {len(usable)} fits have R² ≥ {fmt(min_r2)}"]))
    widths = sorted(int(w) for w in agg["width"].unique())
    paper = paper_points("sample_size", dataset, present, x="n_train", widths=widths)
    if paper.empty:
        return judge(claim, None, direction=direction, direction_text=direction_text,
                     x="n_train", dataset=dataset, numbers=numbers, basis=basis)  # fmt: skip
    table = point_table(agg[agg["metric"].isin(present)], paper,
                        on=["metric", "width", "n_train"])  # fmt: skip
    ratios, effect_parts = [], []
    ours_slopes = {(str(r.metric), int(r.width)): float(r.slope_per_decade)
                   for r in usable.itertuples()}  # fmt: skip
    for key, theirs in _paper_slopes(paper).items():
        if key in ours_slopes:
            ratios.append(effect_ratio(ours_slopes[key], theirs))
            effect_parts.append(f"{METRIC_LABELS[key[0]]} at width {key[1]}: "
                                f"{ours_slopes[key]:.3f} per decade against the paper's "
                                f"{theirs:.3f}")  # fmt: skip
    effect_text = ("Slope: " + "; ".join(effect_parts) + "." if effect_parts else "")
    if table.empty and not ratios:
        return judge(claim, None, direction=direction, direction_text=direction_text,
                     x="n_train", dataset=dataset, numbers=numbers, basis=basis)  # fmt: skip
    return judge(claim, table, direction=direction, direction_text=direction_text, x="n_train",
                 by=["metric", "width"], effect=_smallest(ratios) if ratios else None,
                 effect_text=effect_text, dataset=dataset, numbers=numbers,
                 basis=basis, direction_failure=why)  # fmt: skip


def combine_verdicts(claim: str, verdicts: Sequence[Verdict]) -> Verdict:
    """One verdict for a claim made of several statements.

    *Not tested* statements are left out (all of them not tested: *not tested*); *not
    comparable* ones too (all of the rest not comparable: *not comparable*). Of the remaining:
    all *reproduced* → reproduced, all *not reproduced* → not reproduced, anything else →
    partly reproduced. The evidence names the parts that are not reproduced and those only
    partly reproduced, then lists every part with its status and evidence; the largest gap is
    the largest of the parts' (by ``numbers["largest_gap"]``, :func:`hashlib_nn.verdicts.judge`).
    """
    tested = [v for v in verdicts if v.status != "not tested"]
    judged = [v for v in tested if v.status != "not comparable"]
    statuses = {v.status for v in judged}
    if not tested:
        status = "not tested"
    elif not judged:
        status = "not comparable"
    elif statuses == {"reproduced"}:
        status = "reproduced"
    elif statuses == {"not reproduced"}:
        status = "not reproduced"
    else:
        status = "partly reproduced"
    lead = []
    for which in ("not reproduced", "partly reproduced"):
        names = [v.claim.rstrip(".") for v in verdicts if v.status == which]
        if names:
            lead.append(f"{which.capitalize()}: " + "; ".join(names) + ".")
    evidence = " ".join([*lead, *(f"[{v.status}] {v.claim} {v.evidence}" for v in verdicts)])
    numbers = {f"{i}.{k}": val for i, v in enumerate(verdicts) for k, val in v.numbers.items()}
    gaps = [v for v in judged if v.largest_gap]
    worst = max(gaps, key=lambda v: float(v.numbers.get("largest_gap", 0.0)), default=None)
    if worst is not None:
        numbers["largest_gap"] = float(worst.numbers.get("largest_gap", float("nan")))
    basis = next((v.basis for v in verdicts if v.basis), "")
    largest = f"{worst.largest_gap} (in: {worst.claim.rstrip('.')})" if worst else ""
    return Verdict(claim, status, evidence, numbers, basis=basis, largest_gap=largest)


# ----------------------------------------------------------------------------------------------
# The faithful protocol: shipped `standard` results
# ----------------------------------------------------------------------------------------------

#: Columns of :func:`faithful_checks`.
FAITHFUL_CHECK_COLUMNS = ["check", "ours", "target", "tolerance", "met", "miss", "note"]


def _final_means(frame: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Mean and range over seeds of each metric at the final epoch, by width (``width, metric,
    mean, lo, hi``)."""
    missing = [c for c in ("width", "metric", "value", "final") if c not in frame.columns]
    if missing:
        raise ValueError(
            f"faithful_checks needs a tidy results frame; it lacks columns {missing}, has "
            f"{list(frame.columns)}"
        )
    if "dataset" in frame.columns:
        frame = frame[frame["dataset"] == dataset]
    if frame.empty:
        return pd.DataFrame(columns=["width", "metric", "mean", "lo", "hi"])
    agg = aggregate(final_rows(frame), by=["width"])
    return agg.assign(width=agg["width"].astype(float))[["width", "metric", "mean", "lo", "hi"]]


def _widths_text(widths: Sequence[float]) -> str:
    return f"{min(widths):g}–{max(widths):g}" if len(widths) else "none"


#: The metrics whose whole model-size curve :func:`faithful_checks` compares with the paper's.
FAITHFUL_CURVES = ("rr_train", "rr_test", "knn_test", "lr_test", "kmeans_purity_test")


def faithful_checks(
    frame: pd.DataFrame,
    dataset: str = "mnist",
    *,
    narrow: int = 10,
    narrow_min_rr: float = 0.9,
    wide: int = 70,
    wide_max_rr: float = 0.05,
    level: float = 0.1,
    crossing_tolerance: float = 3.0,
    at_width: int = 100,
    accuracy_tolerance: float | None = None,
) -> pd.DataFrame:
    """The acceptance checks of a faithful-protocol (``standard``) model-size grid.

    Input: the tidy rows of the model-size grid (``ChapterPlan.run()`` or
    :func:`hashlib_nn.shipped.load`; rows of other data sets are ignored). Every number is the
    mean over seeds at each run's final epoch. The checks (thresholds from the paper's MNIST
    figure):

    1. train RR ≥ ``narrow_min_rr`` (0.9) at every width ≤ ``narrow`` (10): ``ours`` is the
       lowest such mean (10 bits give at most 1,024 codes for 48,000 examples);
    2. train RR ≤ ``wide_max_rr`` (0.05) at every width ≥ ``wide`` (70): ``ours`` is the highest;
    3. the width at which the mean test RR first falls to ``level`` (0.1), linearly
       interpolated (:func:`rr_crossings`), within ``crossing_tolerance`` (±3 units, one step
       of the paper's grid there: 30 → 33) of the same crossing of the paper's digitized curve;
    4. K-NN (``knn_test``) and 5. logistic regression (``lr_test``) test accuracy on the codes
       at width ``at_width`` (100, total hidden units) within tolerance of the paper's value:
       ``accuracy_tolerance`` when given, else the reading uncertainty plus half our seed range
       there (:func:`hashlib_nn.verdicts.tolerance`);
    6.-10. for each of :data:`FAITHFUL_CURVES`, the whole curve: more than half of the
       paper's points lie within tolerance of ours (:func:`hashlib_nn.verdicts.point_table`);
       ``ours`` is the share within, ``target`` 0.5 (exclusive).

    The ends (1, 2) and one crossing (3) alone would pass a curve that misses the paper
    everywhere between them; checks 6-10 measure the middle too.

    Returns one row per check with :data:`FAITHFUL_CHECK_COLUMNS`: ``check`` (the rule in
    words), ``ours``, ``target`` (the threshold or the paper's value), ``tolerance`` (0 for a
    threshold), ``met`` (bool), ``miss`` (how far ``ours`` lies outside the accepted range: 0
    when met, NaN when it could not be computed) and ``note``. A width, metric or paper value
    that is missing gives ``ours`` or ``target`` NaN, ``met`` False and a ``note`` saying what
    is missing; it never raises (only a frame without the tidy columns does).

    >>> rows = [{"width": w, "metric": "rr_train", "value": v, "final": True}
    ...         for w, v in ((10, 0.99), (70, 0.01))]
    >>> faithful_checks(pd.DataFrame(rows))["met"].tolist()[:5]
    [True, True, False, False, False]
    """
    means = _final_means(frame, dataset)

    def curve(metric: str, column: str = "mean") -> pd.Series:
        rows = means[means["metric"] == metric].sort_values("width")
        return pd.Series(rows[column].to_numpy(dtype=float), index=rows["width"].to_numpy())

    def row(check: str, ours: float, target: float, tolerance: float, lo: float, hi: float,
            note: str) -> dict[str, object]:  # fmt: skip
        if np.isnan(ours) or np.isnan(target):
            return {"check": check, "ours": ours, "target": target, "tolerance": tolerance,
                    "met": False, "miss": float("nan"), "note": note}  # fmt: skip
        miss = max(0.0, lo - ours, ours - hi)
        return {"check": check, "ours": ours, "target": target, "tolerance": tolerance,
                "met": miss <= 1e-12, "miss": miss, "note": note}  # fmt: skip

    nan = float("nan")
    rows = []
    train = curve("rr_train")
    for check, part, pick, target, lo, hi, what in (
        (f"train RR ≥ {narrow_min_rr:g} at every width ≤ {narrow}", train[train.index <= narrow],
         "idxmin", narrow_min_rr, narrow_min_rr, np.inf, "lowest"),
        (f"train RR ≤ {wide_max_rr:g} at every width ≥ {wide}", train[train.index >= wide],
         "idxmax", wide_max_rr, -np.inf, wide_max_rr, "highest"),
    ):  # fmt: skip
        if part.empty:
            where = "≤" if pick == "idxmin" else "≥"
            bound = narrow if pick == "idxmin" else wide
            note = (f"no rr_train result at a width {where} {bound}; widths run: "
                    f"{_widths_text(train.index)}")  # fmt: skip
            rows.append(row(check, nan, target, 0.0, lo, hi, note))
        else:
            w = getattr(part, pick)()
            rows.append(row(check, float(part[w]), target, 0.0, lo, hi,
                            f"{what} at width {w:g}, of {len(part)} widths"))  # fmt: skip

    test = curve("rr_test")
    check = f"width where the mean test RR falls to {level:g}, vs the paper's"
    both = rr_crossings(means, dataset=dataset, level=level).set_index("source")["crossing_width"]
    ours, target = float(both["this book"]), float(both["paper (digitized)"])
    notes = []
    if test.empty:
        notes.append("no rr_test results")
    elif np.isnan(ours):
        notes.append(f"the mean test RR never falls to {level:g} at widths "
                     f"{_widths_text(test.index)}; lowest {test.min():.3f} at width "
                     f"{test.idxmin():g}")  # fmt: skip
    if np.isnan(target):
        notes.append(f"the paper's test-RR curve for {dataset} has no crossing of {level:g}"
                     if paper_points("model_size", dataset, ["rr_test"], x="width").size
                     else f"the paper has no model-size values for {dataset}")  # fmt: skip
    rows.append(row(check, ours, target, crossing_tolerance, target - crossing_tolerance,
                    target + crossing_tolerance, "; ".join(notes) or "linear interpolation "
                    "between grid points"))  # fmt: skip

    for metric in ("knn_test", "lr_test"):
        label = {"knn_test": "K-NN", "lr_test": "LR"}[metric]
        lo_hi = (curve(metric, "lo").get(float(at_width), nan),
                 curve(metric, "hi").get(float(at_width), nan))  # fmt: skip
        tol = (float(accuracy_tolerance) if accuracy_tolerance is not None else
               float(tolerance(*lo_hi)) if not np.isnan(lo_hi[0]) else
               float(tolerance(0.0, 0.0)))  # fmt: skip
        check = f"{label} test accuracy at width {at_width}, vs the paper's"
        ours_curve = curve(metric)
        ref = paper_points("model_size", dataset, [metric], x="width")
        # (an empty paper_points frame has two "width" columns: select only when non-empty)
        ref = ref.loc[ref["width"] == at_width, "value"] if len(ref) else ref
        ours = float(ours_curve.get(float(at_width), nan))
        target = float(ref.iloc[0]) if len(ref) else nan
        notes = []
        if ours_curve.empty:
            notes.append(f"no {metric} results")
        elif np.isnan(ours):
            notes.append(f"no {metric} result at width {at_width}; widths run: "
                         f"{_widths_text(ours_curve.index)}")  # fmt: skip
        if np.isnan(target):
            notes.append(f"the paper has no {label} value at width {at_width} for {dataset}")
        note = "; ".join(notes) or f"metric {metric}"
        rows.append(row(check, ours, target, tol, target - tol, target + tol, note))

    for metric in FAITHFUL_CURVES:
        check = f"{METRIC_LABELS[metric]}: more than half of the paper's points within tolerance"
        ref = paper_points("model_size", dataset, [metric], x="width")
        ours_rows = means[means["metric"] == metric]
        if ref.empty or ours_rows.empty:
            note = (f"the paper has no {metric} values for {dataset}" if ref.empty else
                    f"no {metric} results")  # fmt: skip
            rows.append(row(check, nan, 0.5, 0.0, 0.5, np.inf, note))
            continue
        table = point_table(ours_rows, ref, on=["width"])
        if table.empty:
            rows.append(row(check, nan, 0.5, 0.0, 0.5, np.inf,
                            f"none of our widths is in the paper's {metric} curve"))
            continue
        share = float(table["within"].mean())
        worst = table.loc[table["diff"].abs().idxmax()]
        note = (f"{int(table['within'].sum())} of {len(table)} shared widths; largest gap at "
                f"width {fmt(worst['width'])}: {worst['diff']:+.3f}")  # fmt: skip
        rows.append(row(check, share, 0.5, 0.0, 0.5 + 1e-9, np.inf, note))
    return pd.DataFrame(rows, columns=FAITHFUL_CHECK_COLUMNS)


def describe_faithful_checks(checks: pd.DataFrame) -> str:
    """One line per check of :func:`faithful_checks` that is not met: by how much it misses,
    or why it could not be computed; a single line when every check is met."""
    lines = []
    for r in checks.itertuples(index=False):
        if r.met:
            continue
        if np.isnan(r.miss):
            lines.append(f"not met: {r.check}: not computed: {r.note}")
            continue
        accepted = (f"{r.target:.4g} ± {r.tolerance:g}" if r.tolerance > 0 else
                    f"{r.target:.4g}")  # fmt: skip
        lines.append(f"not met: {r.check}: misses by {r.miss:.3g} (ours {r.ours:.4g}, "
                     f"accepted {accepted}); {r.note}")  # fmt: skip
    if not lines:
        return f"all {len(checks)} checks met"
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# The claims of the abstract
# ----------------------------------------------------------------------------------------------

#: A claim's verdict function: the tidy results of the chapters' grids by chapter name
#: (``"model_size"``, ``"training_time"``, ``"sample_size"``, ...) and the data set name.
ClaimVerdict = Callable[[Mapping[str, pd.DataFrame], str], Verdict]


@dataclass(frozen=True)
class Claim:
    """One claim of the abstract (protocol.md, "Claims"), or one part of a compound claim."""

    name: str  # registry key, e.g. "model_size"
    number: str  # the abstract's claim number, with a letter for its parts ("3a")
    text: str  # what the paper says
    chapters: tuple[str, ...]  # the chapters whose results decide it
    pending: str = ""  # why it is not tested yet (shown while no verdict function exists)
    # the claim is about what training does: a control (untrained network, SimHash) that
    # satisfies the rule as well makes it "not reproduced" (hashlib_nn.verdicts.with_controls)
    about_training: bool = True


CLAIMS: dict[str, Claim] = {
    c.name: c
    for c in (
        Claim(
            "determinism",
            "1",
            "Almost every linear region (activation pattern) holds at most "
            "one training example: each example has its own neural code.",
            ("model_size",),
            about_training=False,
        ),
        Claim(
            "categorization",
            "2",
            "K-Means, K-NN and logistic regression on the neural codes "
            "reach fairly good accuracy on training and test data.",
            ("model_size",),
        ),
        Claim(
            "model_size",
            "3a",
            "Model size shapes these properties: wider networks have fewer "
            "collisions and more accurate codes.",
            ("model_size",),
        ),
        Claim("training_time", "3b", "Training time shapes these properties.", ("training_time",)),
        Claim(
            "sample_size", "3c", "Training sample size shapes these properties.", ("sample_size",)
        ),
        Claim(
            "regularization",
            "3d",
            "Regularization shapes these properties (less than the dominant factors).",
            ("regularization", "model_size"),
        ),
        Claim(
            "label_noise",
            "3e",
            "Label noise shapes these properties (less than the dominant factors).",
            ("label_noise", "model_size"),
        ),
        Claim(
            "dominant_factors",
            "3f",
            "Model size, training time and sample size dominate "
            "(over regularization and label noise).",
            ("model_size", "regularization", "label_noise"),
        ),
        Claim(
            "phase_chart",
            "4",
            "An activation hash phase chart over model size, training time "
            "and sample size has three regions: under-, critically- and "
            "sufficiently-expressive.",
            ("phase_chart",),
        ),
    )
}

_VERDICTS: dict[str, ClaimVerdict] = {}


def register_verdict(
    name: str, *, chapters: Sequence[str] | None = None
) -> Callable[[ClaimVerdict], ClaimVerdict]:
    """Decorator: make ``fn(results, dataset) -> Verdict`` the verdict of claim ``name``.

    ``results`` maps chapter names to the tidy frames of their grids. A later chapter adds its
    claim's verdict this way (``@register_verdict("label_noise")``) and the claims page picks it
    up with no other change. ``chapters`` replaces the chapters the claim is decided on (the
    results :func:`evaluate_claims` must be given), when they differ from :data:`CLAIMS`.
    """
    if name not in CLAIMS:
        raise ValueError(f"unknown claim {name!r}; known: {', '.join(CLAIMS)}")

    def decorate(fn: ClaimVerdict) -> ClaimVerdict:
        _VERDICTS[name] = fn
        if chapters is not None:
            CLAIMS[name] = dataclasses.replace(CLAIMS[name], chapters=tuple(chapters))
        return fn

    return decorate


def _final_agg(frame: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    return aggregate(final_rows(frame), by=list(by))


def _basis(frame: pd.DataFrame, dataset: str) -> Basis | None:
    """The basis a rule checks adequacy on; None for a control's rows (column ``control``):
    a control is untrained or not a network by design, so its length does not decide."""
    if "control" in frame.columns:
        return None
    return basis_of(frame, dataset=dataset)


@register_verdict("determinism")
def _determinism(results: Mapping[str, pd.DataFrame], dataset: str) -> Verdict:
    frame = results["model_size"]
    agg = _final_agg(frame, ["width"])
    return determinism_verdict(agg[agg["metric"].isin(list(RR_METRICS))], dataset=dataset,
                               basis=_basis(frame, dataset))  # fmt: skip


@register_verdict("categorization")
def _categorization(results: Mapping[str, pd.DataFrame], dataset: str) -> Verdict:
    # the Categorization chapter's rule (analysis.categorization_verdict), so both agree
    frame = results["model_size"]
    return categorization_verdict(_final_agg(frame, ["width"]), dataset=dataset,
                                  basis=_basis(frame, dataset))  # fmt: skip


@register_verdict("model_size")
def _model_size(results: Mapping[str, pd.DataFrame], dataset: str) -> Verdict:
    frame = results["model_size"]
    agg, basis = _final_agg(frame, ["width"]), _basis(frame, dataset)
    return combine_verdicts(
        CLAIMS["model_size"].text,
        [
            rr_falls_with_width_verdict(agg, dataset=dataset, basis=basis),
            accuracies_rise_with_width_verdict(agg, dataset=dataset, basis=basis),
        ],
    )


@register_verdict("training_time")
def _training_time(results: Mapping[str, pd.DataFrame], dataset: str) -> Verdict:
    frame = results["training_time"]
    agg = aggregate(frame, by=["width", "epoch"])
    return combine_verdicts(CLAIMS["training_time"].text,
                            [training_time_verdict(agg, dataset=dataset,
                                                   basis=_basis(frame, dataset))])  # fmt: skip


@register_verdict("sample_size")
def _sample_size(results: Mapping[str, pd.DataFrame], dataset: str) -> Verdict:
    frame = results["sample_size"]
    agg, basis = _final_agg(frame, ["width", "n_train"]), _basis(frame, dataset)
    return combine_verdicts(
        CLAIMS["sample_size"].text,
        [sample_size_rr_verdict(agg, dataset=dataset, basis=basis),
         accuracy_log_linear_verdict(agg, dataset=dataset, basis=basis)],
    )  # fmt: skip


def untrained_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """A network that never trains: the epoch-0 (initialization) rows of a training-time frame
    copied to every evaluated epoch.

    Each run (every column but ``epoch``, ``final``, ``value`` and the per-checkpoint
    provenance) keeps its epoch-0 values at every epoch it was evaluated at; ``final`` marks the
    run's last epoch, and a ``control`` column says ``"untrained network"``. Running the
    training-time rule on these rows is the untrained control of claim 3b: whatever the rule
    finds there, training did not do.
    """
    needed = ["epoch", "metric", "value"]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"untrained_rows needs a tidy training-time frame; it lacks {missing}, "
                         f"has {list(frame.columns)}")  # fmt: skip
    epochs = sorted(int(e) for e in frame["epoch"].unique())
    if 0 not in epochs:
        raise ValueError(f"untrained_rows needs epoch-0 (initialization) rows; the frame has "
                         f"epochs {fmt(epochs)}")  # fmt: skip
    init = frame[frame["epoch"] == 0]
    parts = []
    last = max(epochs)
    for epoch in epochs:
        parts.append(init.assign(epoch=epoch, final=epoch == last))
    return pd.concat(parts, ignore_index=True).assign(control="untrained network")


def evaluate_claims(
    results: Mapping[str, pd.DataFrame],
    *,
    dataset: str = "mnist",
    preset: str | None = None,
    controls: Mapping[str, Mapping[str, pd.DataFrame]] | None = None,
    claims: Sequence[str] | None = None,
) -> dict[str, Verdict]:
    """The verdict of every claim (or of ``claims``), in the abstract's order.

    ``results`` maps chapter names to tidy result frames (``ChapterPlan.run()`` or
    :func:`hashlib_nn.shipped.load`), each filtered to ``dataset`` here. A claim is *not
    tested* when it has no verdict function yet (its :attr:`Claim.pending` says why) or when a
    chapter it needs is missing from ``results``. Each verdict's ``basis`` is
    :func:`hashlib_nn.verdicts.basis_of` its first chapter's rows, with ``preset`` when given.

    ``controls`` maps a control's name (``"untrained network"``, ``"random projection
    (SimHash)"``) to its rows by chapter, in the experiments' schema: where a control has every
    chapter a claim needs, the claim's rule is run on the control's rows too and
    :func:`hashlib_nn.verdicts.with_controls` adds the statuses (a claim about what training
    does, :attr:`Claim.about_training`, that a control satisfies as well is *not reproduced*).
    """
    out: dict[str, Verdict] = {}
    for name in claims or CLAIMS:
        if name not in CLAIMS:
            raise ValueError(f"unknown claim {name!r}; known: {', '.join(CLAIMS)}")
        claim = CLAIMS[name]
        fn = _VERDICTS.get(name)
        missing = [c for c in claim.chapters if c not in results]
        if fn is None:
            out[name] = Verdict(claim.text, "not tested", f"Not tested yet: {claim.pending}.")
            continue
        if missing:
            out[name] = Verdict(
                claim.text, "not tested", f"No results from the chapter(s) {', '.join(missing)}."
            )
            continue
        frames = {c: _of_dataset(results[c], dataset) for c in claim.chapters}
        if any(f.empty for f in frames.values()):
            out[name] = Verdict(claim.text, "not tested", f"No {dataset} results.")
            continue
        verdict = fn(frames, dataset)
        basis = basis_of(frames[claim.chapters[0]], dataset=dataset, preset=preset)
        verdict = dataclasses.replace(verdict, claim=claim.text, basis=str(basis))
        judged = {}
        for control, chapters in (controls or {}).items():
            if all(c in chapters for c in claim.chapters):
                cframes = {c: _of_dataset(chapters[c], dataset) for c in claim.chapters}
                if not any(f.empty for f in cframes.values()):
                    judged[control] = fn(cframes, dataset)
        if judged:
            verdict = with_controls(verdict, judged, about_training=claim.about_training)
        out[name] = verdict
    return out


def controls_for(
    results: Mapping[str, pd.DataFrame], model_size_controls: pd.DataFrame | None = None
) -> dict[str, dict[str, pd.DataFrame]]:
    """The ``controls`` argument of :func:`evaluate_claims` for a set of chapter results.

    ``model_size_controls``: tidy control rows over the model-size grid with a ``control``
    column (:mod:`hashlib_nn.controls`: ``"untrained"``/``"simhash"`` or their labels); each
    control serves the claims decided on the model-size grid (1, 2, 3a). The untrained network
    of claim 3b is built here from ``results["training_time"]``: its epoch-0 rows at every
    epoch (:func:`untrained_rows`), when the results hold epoch 0.
    """
    out: dict[str, dict[str, pd.DataFrame]] = {}
    if model_size_controls is not None and len(model_size_controls):
        if "control" not in model_size_controls.columns:
            raise ValueError("model_size_controls needs a 'control' column; has "
                             f"{list(model_size_controls.columns)}")  # fmt: skip
        from hashlib_nn.controls import CONTROL_LABELS

        for name, rows in model_size_controls.groupby("control", sort=False):
            label = CONTROL_LABELS.get(str(name), str(name))
            out.setdefault(label, {})["model_size"] = rows.reset_index(drop=True)
    tt = results.get("training_time")
    if tt is not None and "epoch" in tt.columns and (tt["epoch"] == 0).any():
        out.setdefault("untrained network", {})["training_time"] = untrained_rows(tt)
    return out


def _of_dataset(frame: pd.DataFrame, dataset: str) -> pd.DataFrame:
    return frame[frame["dataset"] == dataset] if "dataset" in frame.columns else frame


def claims_frame(verdicts: Mapping[str, Verdict]) -> pd.DataFrame:
    """One row per claim: ``claim`` (number), ``statement``, ``status``, ``evidence``,
    ``largest_gap``, ``basis``."""
    return pd.DataFrame(
        [
            {
                "claim": CLAIMS[name].number,
                "statement": v.claim,
                "status": v.status,
                "evidence": v.evidence,
                "largest_gap": v.largest_gap,
                "basis": v.basis,
            }
            for name, v in verdicts.items()
        ],
        columns=["claim", "statement", "status", "evidence", "largest_gap", "basis"],
    )


#: Statuses for which the claims page points to the appendix on why our numbers differ.
GAP_STATUSES = ("partly reproduced", "not reproduced")
#: Where the book discusses a gap to the paper (the claims table names it).
GAP_CHAPTER = "Why our numbers differ"


def claims_table(
    standard: Mapping[str, Verdict], quick: Mapping[str, Verdict] | None = None
) -> pd.DataFrame:
    """The claims page's headline table: one row per claim of ``standard`` (the verdicts on the
    shipped faithful-protocol results), with the ``quick`` verdicts in a second column.

    Columns: ``Claim`` (number), ``Statement``, ``Standard (faithful protocol)`` and its
    ``Standard basis`` and ``Largest gap (standard)``, ``Quick`` and ``Quick basis`` (empty
    when ``quick`` lacks the claim or is None), ``Controls`` (each control's status under the
    same rule, on the standard side; empty where no control was run) and ``Gap discussed in``
    (:data:`GAP_CHAPTER`, the chapter that discusses the gap, where the standard verdict is
    partly or not reproduced; empty otherwise). A claim only ``quick`` has gets a row with
    the standard columns empty.
    """
    unknown = [n for n in [*standard, *(quick or {})] if n not in CLAIMS]
    if unknown:
        raise ValueError(f"unknown claim(s) {unknown}; known: {', '.join(CLAIMS)}")
    rows = []
    for name in dict.fromkeys([*standard, *(quick or {})]):
        v, q = standard.get(name), (quick or {}).get(name)
        rows.append({
            "Claim": CLAIMS[name].number,
            "Statement": CLAIMS[name].text,
            "Standard (faithful protocol)": v.status if v else "",
            "Standard basis": v.basis if v else "",
            "Largest gap (standard)": v.largest_gap if v else "",
            "Quick": q.status if q else "",
            "Quick basis": q.basis if q else "",
            "Controls": "; ".join(f"{k}: {s}" for k, s in v.controls.items()) if v else "",
            "Gap discussed in": GAP_CHAPTER if v and v.status in GAP_STATUSES else "",
        })  # fmt: skip
    return pd.DataFrame(rows, columns=["Claim", "Statement", "Standard (faithful protocol)",
                                       "Standard basis", "Largest gap (standard)", "Quick",
                                       "Quick basis", "Controls", "Gap discussed in"])  # fmt: skip


def evaluate_datasets(
    results: Mapping[str, pd.DataFrame],
    *,
    datasets: Sequence[str],
    preset: str | None = None,
    controls: Mapping[str, Mapping[str, pd.DataFrame]] | None = None,
) -> dict[str, dict[str, Verdict]]:
    """:func:`evaluate_claims` on each of ``datasets`` (data set -> claim -> verdict), from
    ``results`` and ``controls`` holding the rows of them all. A data set without rows gets
    *not tested* verdicts that say so; one the paper has no values for (Fashion-MNIST) gets
    *not comparable* wherever a rule measures the gap to the paper's values."""
    return {ds: evaluate_claims(results, dataset=ds, preset=preset, controls=controls)
            for ds in dict.fromkeys(datasets)}  # fmt: skip


def shipped_verdicts(
    preset: str = "standard",
    datasets: Sequence[str] | None = None,
    *,
    root: str | os.PathLike | None = None,
) -> dict[str, dict[str, Verdict]]:
    """The verdict of every claim on the shipped ``preset`` results of each data set
    (``datasets``: None = the preset's, MNIST and Fashion-MNIST for ``standard``), with their
    controls: the shipped model-size controls (:func:`hashlib_nn.controls.load_shipped`) and
    the untrained network of the training-time rows (:func:`controls_for`). ``root``: the
    shipped results' folder (None: the package's). Nothing trains."""
    from hashlib_nn import controls, shipped
    from hashlib_nn.experiments.presets import PRESETS

    names = list(datasets) if datasets is not None else list(PRESETS[preset].datasets)
    chapters = dict.fromkeys(c for claim in CLAIMS.values() for c in claim.chapters)
    results = {c: shipped.load(c, preset, dataset=names, root=root) for c in chapters}
    ctl = controls_for(results, controls.load_shipped(preset, dataset=names, root=root))
    return evaluate_datasets(results, datasets=names, preset=preset, controls=ctl)


def status_lines(verdicts: Mapping[str, Mapping[str, Verdict]], *,
                 preset: str | None = None) -> list[str]:
    """One line per data set of ``verdicts`` (data set -> claim -> verdict): how many claims
    have each status, and how many of those not tested lack the data set's results, e.g.
    "standard results, fashion-mnist: 9 claims, 9 not tested (9 for want of fashion-mnist
    results)."."""
    out = []
    for dataset, by_claim in verdicts.items():
        statuses = [v.status for v in by_claim.values()]
        counts = ", ".join(f"{statuses.count(s)} {s}" for s in STATUSES if s in statuses)
        missing = sum(v.evidence == f"No {dataset} results." for v in by_claim.values())
        lead = f"{preset} results, {dataset}" if preset else dataset
        line = f"{lead}: {len(statuses)} claims" + (f", {counts}" if counts else "")
        if missing:
            line += f" ({missing} for want of {dataset} results)"
        out.append(line + ".")
    return out


def claims_tables(
    standard: Mapping[str, Mapping[str, Verdict]],
    quick: Mapping[str, Verdict] | None = None,
    *,
    quick_dataset: str | None = None,
) -> pd.DataFrame:
    """The claims page's headline table for several data sets: :func:`claims_table` of each
    data set of ``standard`` (data set -> claim -> verdict, :func:`shipped_verdicts`) under a
    leading ``Data set`` column, the ``quick`` verdicts (of ``quick_dataset``) on the rows of
    their data set only (a ``quick_dataset`` with no standard verdicts gets rows of its
    own)."""
    if quick is not None and quick_dataset is None:
        raise ValueError("quick verdicts need their quick_dataset (the data set they were "
                         "computed on)")  # fmt: skip
    names = list(dict.fromkeys([*standard, *([quick_dataset] if quick else [])]))
    parts = [claims_table(standard.get(ds, {}), quick if ds == quick_dataset else None)
             .assign(**{"Data set": ds}) for ds in names]  # fmt: skip
    if not parts:
        return pd.DataFrame(columns=["Data set", *claims_table({}).columns])
    table = pd.concat(parts, ignore_index=True)
    return table[["Data set", *[c for c in table.columns if c != "Data set"]]]


def claim_verdicts(
    name: str,
    standard: Mapping[str, Mapping[str, Verdict]],
    quick: Mapping[str, Verdict] | None = None,
) -> list[Verdict]:
    """The verdicts of claim ``name`` the claims page shows, in order: on the standard results
    of each data set (data set -> claim -> verdict), then at the chapters' preset (``quick``)."""
    if name not in CLAIMS:
        raise ValueError(f"unknown claim {name!r}; known: {', '.join(CLAIMS)}")
    out = [v[name] for v in standard.values() if name in v]
    return out + ([quick[name]] if quick and name in quick else [])


def computed(verdicts: Mapping[str, Verdict] | Mapping[str, Mapping[str, Verdict]]) -> bool:
    """Whether every verdict was computed (its status is one of
    :data:`~hashlib_nn.verdicts.STATUSES`): what the book's build gate checks, whatever the
    statuses say. ``verdicts``: claim -> verdict, or data set -> claim -> verdict
    (:func:`evaluate_datasets`)."""
    return all(computed(v) if isinstance(v, Mapping) else
               isinstance(v, Verdict) and v.status in STATUSES for v in verdicts.values())


def _register_factor_verdicts() -> None:
    """Claims 3d-3f and 4 are decided by the rules of :mod:`hashlib_nn.factors` (the
    regularization, label-noise and phase-chart chapters), registered here by name."""
    for name, fn in (("regularization", factors.regularization_claim),
                     ("label_noise", factors.label_noise_claim),
                     ("dominant_factors", factors.dominant_factors_claim),
                     ("phase_chart", factors.phase_chart_claim)):
        register_verdict(name, chapters=factors.CLAIM_CHAPTERS[name])(fn)


_register_factor_verdicts()
