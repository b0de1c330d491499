"""From tidy results to the book's tables, paper comparisons and verdicts.

Chapters hold no logic: every number a chapter states and every verdict it prints comes from a
function here, applied to the tidy frames of :mod:`hashlib_nn.experiments` (one row per run x
checkpoint x metric, columns ``width``, ``n_train``, ``epoch``, ``seed``, ``metric``,
``value``, ...) and to the paper's digitized values (:func:`hashlib_nn.reference.paper_values`).

A verdict is computed, never written by hand: each ``*_verdict`` function states its rule in its
docstring (which numbers, which thresholds) and returns a :class:`Verdict` whose ``status`` is one
of ``reproduced``, ``partly reproduced``, ``not reproduced`` or ``not tested`` (too few points in
the results to decide, e.g. a papermill run with a single width).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hashlib_nn.reference import READING_UNCERTAINTY, paper_values

__all__ = [
    "STATUSES",
    "Verdict",
    "aggregate",
    "compare_with_paper",
    "crossing",
    "determinism_verdict",
    "final_rows",
    "monotone_share",
    "verdicts_frame",
]

STATUSES = ("reproduced", "partly reproduced", "not reproduced", "not tested")


@dataclass(frozen=True)
class Verdict:
    """A claim, the status the numbers give it, and the numbers themselves."""

    claim: str
    status: str
    evidence: str
    numbers: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}; got {self.status!r}")

    def _repr_markdown_(self) -> str:
        mark = {"reproduced": "✅", "partly reproduced": "🟡", "not reproduced": "❌",
                "not tested": "⚪"}[self.status]
        return f"**{mark} {self.status.capitalize()}.** *{self.claim}* {self.evidence}"

    def __str__(self) -> str:
        return f"[{self.status}] {self.claim} {self.evidence}"


def verdicts_frame(verdicts: Sequence[Verdict]) -> pd.DataFrame:
    """One row per verdict (claim, status, evidence) for a summary table."""
    return pd.DataFrame([{"claim": v.claim, "status": v.status, "evidence": v.evidence}
                         for v in verdicts])


def final_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of each run's final (last evaluated) epoch."""
    _require(frame, ["final"])
    return frame[frame["final"].astype(bool)]


def aggregate(frame: pd.DataFrame, by: Sequence[str], *, metrics: Sequence[str] | None = None,
              band: str = "minmax") -> pd.DataFrame:
    """Mean and a band over repeats (seeds) of each metric, per group.

    Returns columns ``*by, metric, mean, lo, hi, n`` where ``n`` is the number of runs. ``band``
    is ``"minmax"`` (the range over repeats; with 1 repeat lo = hi = mean) or ``"std"``
    (mean ± one standard deviation).
    """
    _require(frame, [*by, "metric", "value"])
    if band not in ("minmax", "std"):
        raise ValueError(f"band must be 'minmax' or 'std'; got {band!r}")
    df = frame if metrics is None else frame[frame["metric"].isin(metrics)]
    if metrics is not None:
        missing = sorted(set(metrics) - set(df["metric"]))
        if missing:
            raise ValueError(f"metrics {missing} are not in the results; have "
                             f"{sorted(frame['metric'].unique())}")
    g = df.groupby([*by, "metric"], dropna=False)["value"]
    out = g.agg(mean="mean", lo="min", hi="max", std="std", n="count").reset_index()
    if band == "std":
        sd = out["std"].fillna(0.0)
        out["lo"], out["hi"] = out["mean"] - sd, out["mean"] + sd
    return out.drop(columns="std")


def compare_with_paper(ours: pd.DataFrame, paper: pd.DataFrame, *, on: Sequence[str],
                       value: str = "mean") -> pd.DataFrame:
    """Our aggregated values beside the paper's at the points both have.

    ``ours`` has columns ``on`` and ``value``; ``paper`` is a slice of
    :func:`~hashlib_nn.reference.paper_values` whose ``x`` column is renamed to the swept
    column. Returns ``*on, ours, paper, diff`` (ours - paper) and ``within`` (|diff| within the
    paper's reading uncertainty, ±{READING_UNCERTAINTY}).
    """
    _require(ours, [*on, value])
    _require(paper, [*on, "value"])
    merged = ours[[*on, value]].rename(columns={value: "ours"}).merge(
        paper[[*on, "value"]].rename(columns={"value": "paper"}), on=list(on), how="inner")
    merged["diff"] = merged["ours"] - merged["paper"]
    merged["within"] = merged["diff"].abs() <= READING_UNCERTAINTY + 1e-12
    return merged.sort_values(list(on)).reset_index(drop=True)


def monotone_share(x: Sequence[float], y: Sequence[float], *, decreasing: bool = True,
                   tol: float = 0.0) -> float:
    """Share of consecutive steps (sorted by x) that move in the stated direction (±tol)."""
    order = np.argsort(np.asarray(x, dtype=float))
    ys = np.asarray(y, dtype=float)[order]
    if len(ys) < 2:
        return float("nan")
    steps = np.diff(ys)
    ok = steps <= tol if decreasing else steps >= -tol
    return float(ok.mean())


def crossing(x: Sequence[float], y: Sequence[float], level: float) -> float:
    """The first x at which a decreasing curve falls to ``level`` or below, linearly
    interpolated between grid points; NaN if it never does, the first x if it starts below."""
    order = np.argsort(np.asarray(x, dtype=float))
    xs = np.asarray(x, dtype=float)[order]
    ys = np.asarray(y, dtype=float)[order]
    below = np.flatnonzero(ys <= level)
    if below.size == 0:
        return float("nan")
    i = int(below[0])
    if i == 0:
        return float(xs[0])
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return float(x0 + (y0 - level) * (x1 - x0) / (y0 - y1))


def _require(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"results frame lacks columns {missing}; has {list(frame.columns)}")


def _curve(agg: pd.DataFrame, metric: str, x: str = "width") -> tuple[np.ndarray, np.ndarray]:
    rows = agg[agg["metric"] == metric].sort_values(x)
    return rows[x].to_numpy(dtype=float), rows["mean"].to_numpy(dtype=float)


def determinism_verdict(agg: pd.DataFrame, *, dataset: str = "mnist") -> Verdict:
    """Claim 1 on the model-size axis: wide enough networks hash (almost) every example.

    Input: :func:`aggregate` of the final epochs by ``width`` for ``rr_train`` and ``rr_test``.
    Rule (thresholds ours, stated): *reproduced* when (a) train RR falls with width (at least
    80% of consecutive steps non-increasing, tolerance 0.01), (b) the widest network has train RR
    ≤ 0.01 and test RR ≤ 0.05 ("almost every region holds at most one example"), and, when
    a width ≤ 10 was run, (c) its train RR ≥ 0.9 (too few bits to hash 48k examples: the paper's
    figure shows 0.99). *Partly* when (b) holds but (a) or (c) fails, or (a) holds but the widest
    network only reaches train RR ≤ 0.1; *not reproduced* otherwise. Fewer than two widths:
    *not tested*.
    """
    claim = ("Almost every training example gets a linear region of its own once the network "
             "is wide enough (redundancy ratio → 0 as width grows).")
    w, rr_train = _curve(agg, "rr_train")
    _, rr_test = _curve(agg, "rr_test")
    if len(w) < 2 or len(rr_test) != len(w):
        return Verdict(claim, "not tested", f"Only {len(w)} width(s) in the results; the "
                       "verdict needs at least two.")
    falls = monotone_share(w, rr_train, tol=0.01)
    widest, tr_w, te_w = w[-1], rr_train[-1], rr_test[-1]
    narrow = w <= 10
    narrow_ok = bool(np.all(rr_train[narrow] >= 0.9)) if narrow.any() else True
    unique = tr_w <= 0.01 and te_w <= 0.05
    numbers = {"share_of_steps_falling": falls, "widest": float(widest),
               "rr_train_widest": float(tr_w), "rr_test_widest": float(te_w)}
    evidence = (f"On {dataset}, train RR falls with width in {falls:.0%} of the steps; at width "
                f"{widest:g} train RR = {tr_w:.3f} and test RR = {te_w:.3f}")
    if narrow.any():
        numbers["rr_train_narrowest"] = float(rr_train[0])
        evidence += f"; at width {w[0]:g} train RR = {rr_train[0]:.3f}"
    evidence += "."
    if falls >= 0.8 and unique and narrow_ok:
        status = "reproduced"
    elif unique or (falls >= 0.8 and tr_w <= 0.1):
        status = "partly reproduced"
    else:
        status = "not reproduced"
    return Verdict(claim, status, evidence, numbers)


def paper_model_size(metric: str, split: str, dataset: str = "mnist") -> pd.DataFrame:
    """The paper's model-size values of one metric, with ``x`` renamed to ``width``."""
    return paper_values("model_size", dataset, metric, split).rename(columns={"x": "width"})
