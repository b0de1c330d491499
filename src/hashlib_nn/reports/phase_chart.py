"""The *Phase chart* chapter's report: the regimes over model size x training time and model
size x sample size, where their boundaries fall and how they move (claim 4 of the book; the
regime rule is ours, :mod:`hashlib_nn.phase`, and so is the verdict,
:func:`hashlib_nn.factors.phase_chart_verdict`).

One call per set of runs (:func:`report`): the chapter calls it for its own runs (the
parameters' preset) and for the shipped faithful-protocol (``standard``) rows. Every number or
direction the chapter states about results is a sentence of ``statements`` (or of the
``boundaries_in_words`` table), computed here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from hashlib_nn import phase, phase_charts
from hashlib_nn.analysis import paper_curve
from hashlib_nn.experiments import TRAIN_SIZES
from hashlib_nn.experiments.presets import phase_chart_axes
from hashlib_nn.factors import (
    boundary_movement,
    phase_axes_frames,
    phase_boundary_lines,
    phase_cells,
    phase_chart_verdict,
    phase_planes,
)
from hashlib_nn.reports import (
    ChapterReport,
    ShippedReports,
    load_shipped_reports,
    readable,
)
from hashlib_nn.verdicts import basis_of, fmt

__all__ = ["SCALES", "boundary_shifts", "paper_regimes", "report", "shipped_reports"]

#: the threshold scales of the sensitivity charts and tables
SCALES = (0.5, 1.0, 2.0)
_PLANE = {"epoch": ("training time", "epochs trained"),
          "n_train": ("sample size", "training examples")}  # fmt: skip
_NAMES = {"boundary": "Boundary", "first": "From", "last": "To", "x_first": "Width at first",
          "x_last": "Width at last", "steps": "Grid steps moved", "steps_back": "Steps back",
          "path": "Boundary width along the axis", "moves": "Moves", "axis": "Axis",
          "vary": "Thresholds scaled", "scale": "Scale", "boundaries": "Boundaries",
          "moved": "Moved", "max_steps": "Largest move (grid steps)",
          "appear_or_vanish": "Appear or vanish", "width": "Width", "when": "When",
          "rr_train": "train RR", "rr_test": "test RR", "regime": "Regime"}  # fmt: skip


def boundary_shifts(sensitivity: pd.DataFrame, y: str, grid: Iterable[Any]) -> pd.DataFrame:
    """How far the first width of each regime moves when the thresholds are scaled
    (:func:`hashlib_nn.phase.threshold_sensitivity` output for axis ``y``), in steps of the
    width ``grid``: one row per (vary, scale != 1) with ``boundaries`` (compared), ``moved``,
    ``max_steps`` and ``appear_or_vanish`` (a regime reached at one scale and not the other)."""
    step = {w: i for i, w in enumerate(sorted(grid))}
    keys = ["vary", "dataset", y, "regime"]
    base = sensitivity[sensitivity["scale"] == 1.0].set_index(keys)["x_enter"]
    rows = []
    for (vary, scale), g in sensitivity[sensitivity["scale"] != 1.0].groupby(["vary", "scale"]):
        g = g.set_index(keys)
        a, b = g["x_enter"], base.reindex(g.index)
        both = a.notna() & b.notna()
        shift = (a[both].map(step) - b[both].map(step)).abs()
        rows.append({"axis": y, "vary": vary, "scale": float(scale),
                     "boundaries": int(both.sum()), "moved": int((shift > 0).sum()),
                     "max_steps": int(shift.max()) if len(shift) else 0,
                     "appear_or_vanish": int((a.isna() != b.isna()).sum())})  # fmt: skip
    return pd.DataFrame(rows, columns=["axis", "vary", "scale", "boundaries", "moved",
                                       "max_steps", "appear_or_vanish"])  # fmt: skip


def paper_regimes(dataset: str, thresholds: phase.PhaseThresholds) -> pd.DataFrame:
    """The paper's digitized training-time points (train and test RR at widths 40-60 after one
    epoch and at the end) under the regime rule; empty when the paper has none for
    ``dataset``."""
    try:
        paper = paper_curve("training_time", dataset, "rr", x="epoch")
    except ValueError:
        return pd.DataFrame(columns=["width", "when", "rr_train", "rr_test", "regime"])
    wide = paper.assign(when=paper["x_label"]).pivot_table(index=["width", "when"],
                                                          columns="split", values="value")
    wide = wide.rename(columns={"train": "rr_train", "test": "rr_test"}).reset_index()
    wide.columns.name = None
    if not {"rr_train", "rr_test"} <= set(wide.columns) or wide.empty:
        return pd.DataFrame(columns=["width", "when", "rr_train", "rr_test", "regime"])
    return phase.phase_regimes(wide.dropna(subset=["rr_train"]), thresholds=thresholds)


def _reading(planes: Mapping[str, pd.DataFrame]) -> list[str]:
    out = []
    lines, back = 0, 0
    for y, cells in planes.items():
        if cells.empty:
            continue
        b = phase.regime_boundaries(cells, "width", y, agg=None)
        mono = b.drop_duplicates(y)["monotone"]
        lines += len(mono)
        back += int((~mono.astype(bool)).sum())
    if lines:
        out.append(f"Along width the regime never steps back to a less expressive one in "
                   f"{lines - back} of {lines} grid lines (one per epoch and per sample size).")
    t = planes.get("epoch", pd.DataFrame())
    if len(t) and (t["epoch"] == 0).any() and t["epoch"].nunique() > 1:
        first = sorted(t["epoch"].unique())[1]
        rr = t.pivot(index="width", columns="epoch", values="rr_train")
        up = [w for w in rr.index if rr.loc[w, first] > rr.loc[w, 0]]
        down = [w for w in rr.index if rr.loc[w, first] < rr.loc[w, 0]]
        out.append(f"From initialization (epoch 0) to epoch {fmt(first)}, train RR rises at "
                   f"width(s) {fmt(up) or 'none'} and falls at width(s) {fmt(down) or 'none'}.")
    for y, cells in planes.items():
        if cells.empty or cells[y].nunique() < 2:
            continue
        for _, m in boundary_movement(cells, y, by=[]).iterrows():
            out.append(f"Along {_PLANE[y][0]}, the boundary {m['boundary']} {m['moves']}: "
                       f"{m['path']} ({fmt(int(m['steps_back']))} step(s) back towards larger "
                       "widths on the way; 'none': no width of the grid is beyond it).")
    s = planes.get("n_train", pd.DataFrame())
    if len(s):
        suff = phase.regime_boundaries(s, "width", "n_train", agg=None)
        suff = suff[suff["regime"] == phase.SUFFICIENT].set_index("n_train")["x_enter"]
        known = suff.dropna()
        if len(known) >= 3:
            sizes = sorted(suff.index)
            lo, hi = suff[sizes[0]], suff[sizes[-1]]
            best = known.min()
            inner = (np.isnan(lo) or best < lo) and (np.isnan(hi) or best < hi)
            where = ", ".join(fmt(int(n)) for n in known[known == best].index)
            out.append(f"The first sufficiently-expressive width is smallest ({fmt(best)}) at "
                       f"n = {where}; it is {'larger' if inner else 'not larger'} at both ends "
                       f"of the sample-size axis (n = {fmt(int(sizes[0]))}: "
                       f"{'none' if np.isnan(lo) else fmt(lo)}, n = {fmt(int(sizes[-1]))}: "
                       f"{'none' if np.isnan(hi) else fmt(hi)}).")  # fmt: skip
    return out


def _no_nan(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with every missing value shown as "n/a" (no "nan" in the book)."""
    return table.apply(lambda c: c.astype(object).where(c.notna(), "n/a") if c.isna().any()
                       else c)


def report(frame: pd.DataFrame, *, dataset: str, preset: str,
           thresholds: phase.PhaseThresholds = phase.PhaseThresholds(),  # noqa: B008 (frozen)
           axes: Mapping[str, Iterable[Any]] | None = None) -> ChapterReport:
    """Charts, tables, the claim-4 verdict and computed statements of the phase-chart grid
    ``frame`` (tidy rows of ``ChapterPlan.run()`` or :func:`hashlib_nn.shipped.load`; rows of
    other data sets are ignored), under ``thresholds``.

    ``axes``: :func:`hashlib_nn.experiments.presets.phase_chart_axes` of the runs (which run
    belongs to
    which plane); None splits by run (:func:`~hashlib_nn.factors.phase_axes_frames`: runs
    evaluated at several epochs are the training-time plane). An empty frame gives a report
    with one statement saying so."""
    if "dataset" in frame.columns:
        frame = frame[frame["dataset"] == dataset]
    out = ChapterReport("phase_chart", dataset, preset, None)
    if frame.empty:
        out.statements.append(f"No {preset} phase-chart results for {dataset}.")
        return out
    out.basis = basis = basis_of(frame, dataset=dataset, preset=preset)
    if axes is not None:
        planes = phase_planes(frame, axes, thresholds=thresholds)
    else:
        planes = {y: phase_cells(f, y, thresholds=thresholds)
                  for y, f in phase_axes_frames(frame).items() if len(f)}  # fmt: skip
    planes = {y: c for y, c in planes.items() if len(c)}
    heat = [phase_charts.phase_heatmap(
        cells, y, y_title=_PLANE[y][1], all_value=TRAIN_SIZES.get(dataset),
        title=f"{dataset}, {preset} preset: model size x {_PLANE[y][0]}")
        for y, cells in planes.items()]  # fmt: skip
    if heat:
        out.charts["phase chart"] = alt.hconcat(*heat).resolve_scale(color="shared")
    sens, shifts = {}, []
    grid = sorted(pd.concat([c["width"] for c in planes.values()]).unique()) if planes else []
    for y, cells in planes.items():
        sens[y] = phase.threshold_sensitivity(cells, "width", y, by=["dataset"],
                                              thresholds=thresholds, scales=SCALES, agg=None)
        shifts.append(boundary_shifts(sens[y], y, grid))
    if sens:
        out.charts["threshold sensitivity"] = alt.hconcat(*[
            phase_charts.threshold_sensitivity_chart(s, y, y_title="epoch" if y == "epoch"
                                                     else "n", width=170, height=120)
            for y, s in sens.items()]).properties(
            title=f"First width of each regime, thresholds scaled ({dataset}, {preset} "
                  "preset)")  # fmt: skip
        out.tables["threshold_shifts"] = readable(pd.concat(shifts, ignore_index=True), _NAMES)
    if "epoch" in planes:
        rows = []
        for vary in ("under", "sufficient"):
            row = []
            for s in SCALES:
                t = thresholds.scaled(**{vary: s})
                row.append(phase_charts.phase_heatmap(
                    phase.phase_regimes(planes["epoch"], thresholds=t), "epoch",
                    show_values=False, width=170, height=120,
                    title=f"{vary} x{s:g}: u={t.rr_under:g}/{t.rr_test_under:g}, "
                          f"s={t.rr_sufficient:g}/{t.rr_test_sufficient:g}"))  # fmt: skip
            rows.append(alt.hconcat(*row))
        out.charts["scaled thresholds"] = alt.vconcat(*rows).resolve_scale(
            color="shared").properties(title=f"Model size x training time under scaled "
                                             f"thresholds ({dataset}, {preset} preset)")
    moves = [boundary_movement(c, y, by=[]).assign(axis=_PLANE[y][0])
             for y, c in planes.items() if c[y].nunique() >= 2]  # fmt: skip
    if moves:
        table = pd.concat(moves, ignore_index=True)
        out.tables["boundary_movement"] = readable(
            table[["axis", "boundary", "first", "last", "x_first", "x_last", "steps",
                   "steps_back", "moves", "path"]], _NAMES)  # fmt: skip
    lines = phase_boundary_lines(planes, by=["dataset"]) if planes else []
    out.tables["boundaries_in_words"] = pd.DataFrame(
        {"Where the boundaries fall": [ln for ln in lines if ln]})
    out.tables["paper_points"] = readable(paper_regimes(dataset, thresholds), _NAMES)
    out.verdicts["phase_chart"] = phase_chart_verdict(planes, basis=basis)
    out.tables = {k: _no_nan(t) for k, t in out.tables.items()}
    out.statements += _reading(planes)
    return out


def shipped_reports(datasets: str | Sequence[str], *, preset: str = "standard",
                    thresholds: phase.PhaseThresholds = phase.PhaseThresholds(),  # noqa: B008
                    root: Any = None) -> ShippedReports:
    """:func:`report` on the shipped ``preset`` rows of each of ``datasets`` under
    ``thresholds``, split into the two planes by that data set's ``preset`` grids
    (:func:`hashlib_nn.experiments.presets.phase_chart_axes`); from ``root`` (None: the
    package's), one report per data set shipped, and for every data set the lines saying what
    is shipped (:func:`hashlib_nn.reports.load_shipped_reports`)."""

    def build(rows: pd.DataFrame, dataset: str) -> ChapterReport:
        axes = phase_chart_axes(preset, dataset=dataset)
        return report(rows, dataset=dataset, preset=preset, thresholds=thresholds, axes=axes)

    return load_shipped_reports("phase_chart", datasets, build, preset=preset, root=root)
