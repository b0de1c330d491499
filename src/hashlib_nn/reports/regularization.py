"""The *Regularization* chapter's report: weight decay, BatchNorm and dropout against the
dominant factors (claim 3d of the book; protocol.md: the original has no code for it, so the
grid and the rule are ours, :mod:`hashlib_nn.factors`).

One call per set of runs (:func:`report`): the chapter calls it for its own runs (the
parameters' preset) and for the shipped faithful-protocol (``standard``) rows. Every number or
direction the chapter states about results is a sentence of ``statements``, computed here.
"""

from __future__ import annotations

from collections.abc import Mapping

import altair as alt
import numpy as np
import pandas as pd

from hashlib_nn import phase_charts
from hashlib_nn.analysis import aggregate, final_rows
from hashlib_nn.factors import (
    CATEGORIZATION_METRICS,
    EFFECT_FLOOR,
    METRIC_NAMES,
    PAPER_SETTING,
    REGULARIZATION_CLAIM,
    dominance_matrix,
    effect_table,
    factor_verdict,
    regularization_columns,
    regularization_spreads,
    yardstick_spreads,
)
from hashlib_nn.reports import (
    ChapterReport,
    readable,
    shipped_reports_function,
    shipped_yardsticks,
)
from hashlib_nn.verdicts import basis_of, fmt

__all__ = ["RR_METRICS", "TABLE_METRICS", "change_sentence", "report", "setting_value",
           "shipped_reports"]  # fmt: skip

RR_METRICS = ["rr_train", "rr_test"]
#: the columns of the settings table, in order
TABLE_METRICS = ["rr_train", "rr_test", "kmeans_purity_train", *CATEGORIZATION_METRICS,
                 "net_acc_train"]  # fmt: skip
_BY = ["dataset", "width", "weight_decay", "batchnorm", "dropout"]
_EFFECT_NAMES = {"family": "Factor (others at the paper's values)", "width": "Width",
                 "metric": "Metric", "spread": "Spread", "low_setting": "Lowest at",
                 "low": "Lowest", "high_setting": "Highest at", "high": "Highest",
                 "seed_range": "Seed range", "seeds": "Seeds", "dataset": "Data set",
                 "factor": "Factor", "seed spread": "Seed spread",
                 "dominated by": "Smaller than the effect of"}  # fmt: skip


def setting_value(agg: pd.DataFrame, metric: str, width: float, column: str = "mean",
                  **setting: object) -> float:
    """``column`` (``mean``, ``lo`` or ``hi``) of ``metric`` at ``width`` and one setting of
    :data:`~hashlib_nn.factors.PAPER_SETTING`'s columns (the others at the paper's values);
    NaN when the grid lacks it."""
    where = {**PAPER_SETTING, **setting}
    rows = agg[(agg["metric"] == metric) & (agg["width"] == width)]
    for k, v in where.items():
        rows = rows[rows[k].astype(bool) == v] if k == "batchnorm" else rows[rows[k] == v]
    return float(rows[column].mean()) if len(rows) else float("nan")


def change_sentence(what: str, metric: str, before: tuple[float, float, float],
                    after: tuple[float, float, float]) -> str:
    """"``what`` raises/lowers ``metric`` from a to b", with whether the change exceeds the
    noise level: the larger of the two settings' seed ranges and
    :data:`~hashlib_nn.factors.EFFECT_FLOOR`. ``before``/``after``: (mean, lo, hi)."""
    (a, alo, ahi), (b, blo, bhi) = before, after
    change = b - a
    noise = max(EFFECT_FLOOR, ahi - alo, bhi - blo)
    verb = "raises" if change > 0 else "lowers" if change < 0 else "leaves"
    size = ("beyond" if abs(change) > noise else "within")
    name = METRIC_NAMES.get(metric, metric)
    return (f"{what} {verb} {name} from {fmt(a)} to {fmt(b)} ({change:+.3f}, {size} the noise "
            f"level {fmt(noise)})")


def _triple(agg: pd.DataFrame, metric: str, width: float, **setting: object
            ) -> tuple[float, float, float]:
    return tuple(setting_value(agg, metric, width, c, **setting)  # type: ignore[return-value]
                 for c in ("mean", "lo", "hi"))


def _statements(agg: pd.DataFrame) -> list[str]:
    out = []
    for w in sorted(agg["width"].unique()):
        paper = {m: setting_value(agg, m, w) for m in ("rr_train", "kmeans_purity_test",
                                                        "knn_test")}  # fmt: skip
        if not np.isnan(paper["rr_train"]):
            out.append(f"Width {fmt(w)}, the paper's setting (wd 1e-6, BN on, no dropout): "
                       + ", ".join(f"{METRIC_NAMES[m]} {fmt(v)}" for m, v in paper.items())
                       + ".")  # fmt: skip
        parts = []
        base = _triple(agg, "rr_train", w)
        off = _triple(agg, "rr_train", w, batchnorm=False)
        if not np.isnan(base[0]) and not np.isnan(off[0]):
            parts.append(change_sentence("Turning BatchNorm off", "rr_train", base, off))
        for bn, name in ((True, "BN on"), (False, "BN off")):
            ref = _triple(agg, "rr_train", w, batchnorm=bn)
            none = _triple(agg, "rr_train", w, batchnorm=bn, weight_decay=0.0)
            if not np.isnan(ref[0]) and not np.isnan(none[0]):
                parts.append(change_sentence(f"Weight decay 1e-6 instead of none ({name})",
                                             "rr_train", none, ref))
        strong = {bn: (_triple(agg, "rr_train", w, batchnorm=bn),
                       _triple(agg, "rr_train", w, batchnorm=bn, weight_decay=1e-2))
                  for bn in (True, False)}  # fmt: skip
        if not any(np.isnan(v[0]) for pair in strong.values() for v in pair):
            on = strong[True][1][0] - strong[True][0][0]
            off_d = strong[False][1][0] - strong[False][0][0]
            more = "more" if off_d > on else "less"
            parts.append(f"weight decay 1e-2 (against 1e-6) changes train RR by {on:+.3f} with "
                         f"BatchNorm and by {off_d:+.3f} without: {more} without BatchNorm")
        drop = max((d for d in agg["dropout"].unique() if d > 0), default=None)
        if drop is not None:
            for m in ("rr_train", "kmeans_purity_test", "knn_test", "net_acc_test"):
                a, b = _triple(agg, m, w), _triple(agg, m, w, dropout=drop)
                if not np.isnan(a[0]) and not np.isnan(b[0]):
                    parts.append(change_sentence(f"Dropout {fmt(drop)}", m, a, b))
        out += [f"Width {fmt(w)}: {p[0].upper()}{p[1:]}." for p in parts]
    return out


def _no_nan(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with every missing value shown as "n/a" (no "nan" in the book)."""
    return table.apply(lambda c: c.astype(object).where(c.notna(), "n/a") if c.isna().any()
                       else c)


def report(frame: pd.DataFrame, *, dataset: str, preset: str,
           yardsticks: Mapping[str, pd.DataFrame] | None = None) -> ChapterReport:
    """Tables, charts, the claim-3d verdict and computed statements of the regularization grid
    ``frame`` (tidy rows of ``ChapterPlan.run()`` or :func:`hashlib_nn.shipped.load`; rows of
    other data sets are ignored). ``yardsticks`` maps dominant-factor chapters
    (``"model_size"``, ``"training_time"``, ``"sample_size"``) to their tidy rows at the same
    preset; those missing are named in the verdict. An empty frame gives a report with one
    statement saying so."""
    if "dataset" in frame.columns:
        frame = frame[frame["dataset"] == dataset]
    out = ChapterReport("regularization", dataset, preset, None)
    if frame.empty:
        out.statements.append(f"No {preset} regularization results for {dataset}.")
        return out
    out.basis = basis = basis_of(frame, dataset=dataset, preset=preset)
    agg = regularization_columns(aggregate(final_rows(frame), by=_BY))
    order = (agg.sort_values(["batchnorm", "dropout", "weight_decay"],
                             ascending=[False, True, True])["setting"]
             .drop_duplicates().tolist())  # fmt: skip
    cat = [m for m in CATEGORIZATION_METRICS if m in set(agg["metric"])]
    rr_charts, acc_charts = [], []
    for w in sorted(agg["width"].unique()):
        part = agg[agg["width"] == w]
        where = f"{dataset}, width {fmt(w)}, {preset} preset"
        rr_charts.append(phase_charts.settings_chart(
            part, "setting", RR_METRICS, color="factor", metric_titles=METRIC_NAMES,
            setting_order=order, width=220).properties(
            title=f"Redundancy ratio per regularization setting ({where})"))  # fmt: skip
        if cat:
            acc_charts.append(phase_charts.settings_chart(
                part, "setting", cat, color="factor", metric_titles=METRIC_NAMES,
                setting_order=order, width=130).properties(
                title=f"Accuracy on the codes per regularization setting ({where})"))  # fmt: skip
    out.charts["rr"] = alt.vconcat(*rr_charts) if len(rr_charts) > 1 else rr_charts[0]
    if acc_charts:
        out.charts["accuracy"] = (alt.vconcat(*acc_charts) if len(acc_charts) > 1
                                  else acc_charts[0])  # fmt: skip
    wide = agg.pivot_table(index=["width", "factor", "setting"], columns="metric",
                           values="mean").reset_index()  # fmt: skip
    wide.columns.name = None
    cols = [m for m in TABLE_METRICS if m in wide.columns]
    out.tables["settings"] = readable(
        wide[["width", "factor", "setting", *cols]],
        {"width": "Width", "factor": "Factor", "setting": "Setting", **METRIC_NAMES})
    spreads = regularization_spreads(agg)
    out.tables["effects"] = readable(
        spreads[["family", "width", "metric", "spread", "low_setting", "low", "high_setting",
                 "high", "seeds", "seed_range"]].assign(
            metric=lambda d: d["metric"].map(lambda m: METRIC_NAMES.get(m, m))),
        _EFFECT_NAMES)  # fmt: skip
    cells = effect_table(spreads, yardstick_spreads(yardsticks or {}, dataset=dataset))
    out.tables["dominance"] = readable(dominance_matrix(cells).drop(columns=["dataset"]),
                                       _EFFECT_NAMES)  # fmt: skip
    out.verdicts["regularization"] = factor_verdict(REGULARIZATION_CLAIM, cells,
                                                    what="regularization", basis=basis)
    out.tables = {k: _no_nan(t) for k, t in out.tables.items()}
    out.statements += _statements(agg)
    return out


shipped_reports = shipped_reports_function("regularization", report, shipped_yardsticks)
