"""The *Label noise* chapter's report: the network trained on labels with a known amount of
noise, against the dominant factors (claim 3e of the book; protocol.md: the original never runs
its noise helper, so the grid and the rule are ours, :mod:`hashlib_nn.factors`).

One call per set of runs (:func:`report`): the chapter calls it for its own runs (the
parameters' preset) and for the shipped faithful-protocol (``standard``) rows. Every number or
direction the chapter states about results is a sentence of ``statements``, computed here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from hashlib_nn import charts
from hashlib_nn.analysis import aggregate, final_rows
from hashlib_nn.factors import (
    CATEGORIZATION_METRICS,
    EFFECT_FLOOR,
    LABEL_NOISE_CLAIM,
    METRIC_NAMES,
    NOISE_MODE,
    dominance_matrix,
    effect_table,
    effective_noise_rates,
    factor_spreads,
    factor_verdict,
    label_noise_spreads,
    label_noise_table,
    memorization_table,
    share_clean_rows,
    shipped_configs,
    yardstick_spreads,
)
from hashlib_nn.reports import (
    ChapterReport,
    readable,
    shipped_reports_function,
    shipped_yardsticks,
)
from hashlib_nn.verdicts import basis_of, fmt

__all__ = ["RR_METRICS", "curves", "report", "shipped_reports"]

RR_METRICS = ["rr_train", "rr_test"]
_BY = ["dataset", "width", "label_noise", "label_noise_mode"]
#: the ratio the statements read the moderate-noise effects at (the nearest one run)
MID_RATIO = 0.4
_NAMES = {**METRIC_NAMES, "dataset": "Data set", "width": "Width", "n_train": "Training examples",
          "label_noise": "Noise ratio", "label_noise_mode": "Noise mode",
          "effective_noise": "Effective noise rate", "net_acc_train": "Agreement with noisy labels",
          "net_acc_clean_train": "Agreement with clean labels",
          "fits_noise": "Beyond the correct labels", "memorized": "Share of wrong labels fitted",
          "n": "Seeds", "family": "Factor", "metric": "Metric", "spread": "Spread",
          "low_setting": "Lowest at", "low": "Lowest", "high_setting": "Highest at",
          "high": "Highest", "seeds": "Seeds", "seed_range": "Seed range",
          "factor": "Factor", "seed spread": "Seed spread",
          "dominated by": "Smaller than the effect of"}  # fmt: skip


def curves(agg: pd.DataFrame, metrics: list[str], *, title: str, height: int = 200,
           width: int = 230) -> alt.HConcatChart:
    """One line chart per metric against the noise ratio, a colour per noise mode, the range
    over seeds as a band; ``agg`` holds one width of one data set
    (:func:`~hashlib_nn.analysis.aggregate` with every mode's curve starting at the clean run:
    :func:`~hashlib_nn.factors.share_clean_rows`)."""
    panels = []
    for m in metrics:
        d = agg[agg["metric"] == m]
        panels.append(charts.line_chart(d, x="label_noise", y="mean", color="label_noise_mode",
                                        band=("lo", "hi"), title=METRIC_NAMES.get(m, m),
                                        preset=None,  # a panel: the row's title names it
                                        x_title="noise ratio", y_title=METRIC_NAMES.get(m, m),
                                        width=width, height=height))  # fmt: skip
    return alt.hconcat(*panels).properties(title=title)


def _at(agg: pd.DataFrame, metric: str, ratio: float, mode: str = NOISE_MODE,
        column: str = "mean") -> float:
    rows = agg[(agg["metric"] == metric) & np.isclose(agg["label_noise"], ratio)]
    rows = rows[(rows["label_noise_mode"] == mode) | (rows["label_noise"] == 0)]
    return float(rows[column].mean()) if len(rows) else float("nan")


def _direction(a: float, b: float, lo_hi: tuple[float, float, float, float]) -> str:
    noise = max(EFFECT_FLOOR, lo_hi[1] - lo_hi[0], lo_hi[3] - lo_hi[2])
    verb = "raises" if b > a else "lowers" if b < a else "leaves"
    return f"{verb} it ({b - a:+.3f}, {'beyond' if abs(b - a) > noise else 'within'} the noise " \
           f"level {fmt(noise)})"


def _statements(agg: pd.DataFrame, table: pd.DataFrame, n_classes: int) -> list[str]:
    out: list[str] = []
    for w in sorted(agg["width"].unique()):
        a = agg[agg["width"] == w]
        t = memorization_table(table)
        t = t[(t["width"] == w) & (t["label_noise_mode"] == NOISE_MODE)]
        ratios = sorted(r for r in a.loc[a["label_noise_mode"] == NOISE_MODE, "label_noise"]
                        .unique() if r > 0)  # fmt: skip
        if not ratios or not (a["label_noise"] == 0).any():
            out.append(f"Width {fmt(w)}: no {NOISE_MODE} run with noisy labels beside the clean "
                       "one; nothing to compare.")  # fmt: skip
            continue
        mid = min(ratios, key=lambda r: abs(r - MID_RATIO))
        for m in RR_METRICS:
            path = ", ".join(f"{fmt(r)}: {fmt(_at(a, m, r))}" for r in [0.0, *ratios])
            ends = [_at(a, m, 0.0, column=c) for c in ("lo", "hi")] + \
                [_at(a, m, mid, column=c) for c in ("lo", "hi")]
            out.append(f"Width {fmt(w)}, {METRIC_NAMES[m]} by noise ratio ({path}): noise ratio "
                       f"{fmt(mid)} {_direction(_at(a, m, 0.0), _at(a, m, mid), tuple(ends))} "
                       "against the clean run.")  # fmt: skip
        if "memorized" in t and t["memorized"].notna().any():
            memo = t[t["label_noise"] > 0].sort_values("label_noise")
            path = ", ".join(f"{fmt(r)}: {fmt(v)}" for r, v in zip(
                memo["label_noise"], memo["memorized"], strict=True))  # fmt: skip
            out.append(f"Width {fmt(w)}: share of the wrong training labels the network "
                       f"reproduces, by noise ratio: {path} (0: it fits only the correct "
                       "labels).")  # fmt: skip
        knn, net = _at(a, "knn_test", mid), _at(a, "net_acc_test", mid)
        if not (np.isnan(knn) or np.isnan(net)):
            side = "above" if knn > net else "below" if knn < net else "level with"
            out.append(f"Width {fmt(w)}, noise ratio {fmt(mid)}: 9-NN on the codes "
                       f"{fmt(knn)}, the network {fmt(net)}: 9-NN is {side} the network's own "
                       f"test accuracy ({knn - net:+.3f}).")  # fmt: skip
        top = max(ratios)
        net_top = _at(a, "net_acc_test", top)
        if not np.isnan(net_top):
            chance = 1 / n_classes
            side = "below" if net_top < chance else "above"
            out.append(f"Width {fmt(w)}, noise ratio {fmt(top)} ({NOISE_MODE}): network test "
                       f"accuracy {fmt(net_top)}, {side} chance ({fmt(chance)}).")  # fmt: skip
        orig = a[(a["label_noise_mode"] == "original") & np.isclose(a["label_noise"], top)]
        if len(orig):
            km_c = _at(a, "kmeans_purity_test", top)
            km_o = _at(a, "kmeans_purity_test", top, mode="original")
            if not (np.isnan(km_c) or np.isnan(km_o)):
                side = "higher" if km_c > km_o else "lower" if km_c < km_o else "equal"
                out.append(f"Width {fmt(w)}, noise ratio {fmt(top)}: K-Means purity "
                           f"{fmt(km_c)} with the corrected noise, {fmt(km_o)} with the "
                           f"original helper's: {side} with the corrected noise.")  # fmt: skip
    return out


def _no_nan(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with every missing value shown as "n/a" (no "nan" in the book)."""
    return table.apply(lambda c: c.astype(object).where(c.notna(), "n/a") if c.isna().any()
                       else c)


def report(frame: pd.DataFrame, *, dataset: str, preset: str,
           yardsticks: Mapping[str, pd.DataFrame] | None = None,
           configs: Iterable[Any] | None = None, n_classes: int = 10) -> ChapterReport:
    """Tables, charts, the claim-3e verdict and computed statements of the label-noise grid
    ``frame`` (tidy rows of ``ChapterPlan.run()`` or :func:`hashlib_nn.shipped.load`; rows of
    other data sets are ignored).

    ``yardsticks``: the dominant-factor chapters' tidy rows at the same preset (missing ones
    are named in the verdict). ``configs``: the RunConfigs of the runs, to measure the
    effective noise rates (None: the ``preset`` grid's configs of the runs in ``frame``,
    :func:`~hashlib_nn.factors.shipped_configs`). ``n_classes``: the data set's classes (chance
    = 1 / n_classes). An empty frame gives a report with one statement saying so."""
    if "dataset" in frame.columns:
        frame = frame[frame["dataset"] == dataset]
    out = ChapterReport("label_noise", dataset, preset, None)
    if frame.empty:
        out.statements.append(f"No {preset} label-noise results for {dataset}.")
        return out
    out.basis = basis = basis_of(frame, dataset=dataset, preset=preset)
    final = final_rows(frame)
    if configs is None:
        configs = shipped_configs("label_noise", frame, preset)
    configs = [c for c in configs if c.dataset == dataset]
    rates = effective_noise_rates(configs) if configs else None
    rates = share_clean_rows(rates) if rates is not None and len(rates) else None
    table = label_noise_table(final, rates)
    agg = share_clean_rows(aggregate(final, by=_BY))
    cat = [m for m in CATEGORIZATION_METRICS if m in set(agg["metric"])]
    rr_charts, acc_charts = [], []
    for w in sorted(agg["width"].unique()):
        part = agg[agg["width"] == w]
        where = f"{dataset}, width {fmt(w)}, {preset} preset"
        rr_charts.append(curves(part, RR_METRICS,
                                title=f"Redundancy ratio against label noise ({where})"))
        if cat:
            acc_charts.append(curves(part, cat, height=170, width=170,
                                     title=f"Accuracy on the codes against label noise "
                                           f"({where})"))  # fmt: skip
    out.charts["rr"] = alt.vconcat(*rr_charts) if len(rr_charts) > 1 else rr_charts[0]
    if acc_charts:
        out.charts["accuracy"] = (alt.vconcat(*acc_charts) if len(acc_charts) > 1
                                  else acc_charts[0])  # fmt: skip
    if rates is not None:
        eff = rates.pivot_table(index=["n_train", "label_noise"], columns="label_noise_mode",
                                values="effective_noise").reset_index()  # fmt: skip
        eff.columns.name = None
        out.tables["effective_noise"] = readable(eff.round(4), _NAMES)
    else:
        out.tables["effective_noise"] = pd.DataFrame(
            {"Effective noise rate": ["not measured: the runs' configurations are unknown"]})
    out.tables["memorization"] = readable(memorization_table(table).drop(columns=["dataset"]),
                                          _NAMES)  # fmt: skip
    keep = ["width", "label_noise", "label_noise_mode", "effective_noise", *cat,
            "kmeans_purity_train"]  # fmt: skip
    out.tables["categorization"] = readable(table[[c for c in keep if c in table]], _NAMES)
    spreads = label_noise_spreads(aggregate(final, by=_BY))
    original = agg[(agg["label_noise_mode"] == "original") | (agg["label_noise"] == 0)]
    original = original.drop_duplicates(["width", "label_noise", "metric"])
    spreads_orig = factor_spreads(original, ["label_noise"], family="label noise (original "
                                  "helper)") if (agg["label_noise_mode"] == "original").any() \
        else spreads.iloc[:0]  # fmt: skip
    both = pd.concat([s for s in (spreads, spreads_orig) if len(s)], ignore_index=True) \
        if len(spreads) or len(spreads_orig) else spreads  # fmt: skip
    out.tables["effects"] = readable(
        both[["family", "width", "metric", "spread", "low_setting", "low", "high_setting",
              "high", "seeds", "seed_range"]].assign(
            metric=lambda d: d["metric"].map(lambda m: METRIC_NAMES.get(m, m))), _NAMES)
    cells = effect_table(spreads, yardstick_spreads(yardsticks or {}, dataset=dataset))
    out.tables["dominance"] = readable(dominance_matrix(cells).drop(columns=["dataset"]),
                                       _NAMES)  # fmt: skip
    noisy = agg[(agg["label_noise"] > 0) & (agg["label_noise_mode"] == NOISE_MODE)]
    reason = ("" if len(noisy) else f"no run with noisy labels ({NOISE_MODE} mode) in the "
              "results, only the clean one, so nothing noisy was judged")  # fmt: skip
    out.verdicts["label_noise"] = factor_verdict(LABEL_NOISE_CLAIM, cells, what="label noise",
                                                 basis=basis, empty_reason=reason)
    out.tables = {k: _no_nan(t) for k, t in out.tables.items()}
    out.statements += _statements(agg, table, n_classes)
    return out


shipped_reports = shipped_reports_function("label_noise", report, shipped_yardsticks)
