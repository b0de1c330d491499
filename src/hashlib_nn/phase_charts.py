"""Charts of the regularization, label-noise and phase-chart chapters (altair, offline renderer).

- :func:`phase_heatmap`: the activation hash phase chart, one rectangle per (width, epoch) or
  (width, sample size) cell coloured by regime (:mod:`hashlib_nn.phase`), RR in the tooltip, and
  the regime boundaries drawn as black lines between neighbouring cells of different regimes.
  Both axes are grid positions (equally spaced) labelled with the grid values, so a log-spaced
  sample-size grid and an irregular epoch grid both show as even rows.
- :func:`threshold_sensitivity_chart`: where each regime begins (the width) at each epoch or
  sample size, for the default thresholds and for scaled ones
  (:func:`hashlib_nn.phase.threshold_sensitivity`).
- :func:`settings_chart`: a dot plot of several metrics over named settings (regularization),
  mean and the range over repeats.

Render with :func:`hashlib_nn.charts.use_offline_charts` like every chart of the book.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from hashlib_nn.charts import MAX_ROWS
from hashlib_nn.phase import REGIMES

__all__ = [
    "REGIME_COLORS",
    "boundary_segments",
    "phase_heatmap",
    "settings_chart",
    "threshold_sensitivity_chart",
]

#: Regime colours (ColorBrewer PuOr, colour-blind safe): under orange, critical light, sufficient
#: purple.
REGIME_COLORS: dict[str, str] = dict(zip(REGIMES, ("#e66101", "#fdb863", "#5e3c99"), strict=True))


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: no column(s) {missing}; the frame has {list(frame.columns)}")


def _label(v: Any, all_value: int | None = None) -> str:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    text = f"{v:,}" if isinstance(v, int | np.integer) else str(v)
    return f"{text} (all)" if all_value is not None and v == all_value else text


def _positions(values: Sequence[Any]) -> dict[Any, int]:
    return {v: i for i, v in enumerate(sorted(set(values)))}


def boundary_segments(cells: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Segments between grid-neighbouring cells whose regimes differ, in grid positions.

    ``cells`` has one row per (x, y) with a ``regime`` column. Returns columns ``x0, x1, y0, y1``
    (a vertical segment at ``x0 == x1`` between horizontally adjacent cells, a horizontal one at
    ``y0 == y1`` between vertically adjacent cells) and ``kind`` ("x" or "y").
    """
    _require(cells, [x, y, "regime"], "boundary_segments")
    if cells.duplicated([x, y]).any():
        raise ValueError(f"boundary_segments: several rows share an ({x}, {y}) cell; one each")
    px, py = _positions(cells[x]), _positions(cells[y])
    grid = {(px[a], py[b]): r for a, b, r in zip(cells[x], cells[y], cells["regime"], strict=True)}
    segs = []
    for (i, j), r in grid.items():
        right, up = grid.get((i + 1, j)), grid.get((i, j + 1))
        if right is not None and right != r:
            segs.append({"x0": i + 0.5, "x1": i + 0.5, "y0": j - 0.5, "y1": j + 0.5, "kind": "x"})
        if up is not None and up != r:
            segs.append({"x0": i - 0.5, "x1": i + 0.5, "y0": j + 0.5, "y1": j + 0.5, "kind": "y"})
    return pd.DataFrame(segs, columns=["x0", "x1", "y0", "y1", "kind"])


def _index_axis(values: Sequence[Any], title: str, all_value: int | None = None) -> alt.Axis:
    ordered = sorted(set(values))
    labels = "[" + ",".join(f"'{_label(v, all_value)}'" for v in ordered) + "]"
    return alt.Axis(
        values=list(range(len(ordered))),
        labelExpr=f"{labels}[datum.value]",
        title=title,
        grid=False,
        tickCount=len(ordered),
    )


def phase_heatmap(
    cells: pd.DataFrame,
    y: str,
    *,
    x: str = "width",
    boundaries: bool = True,
    title: str = "",
    x_title: str = "width (hidden units)",
    y_title: str | None = None,
    all_value: int | None = None,
    show_values: bool = True,
    width: int = 360,
    height: int = 240,
) -> alt.LayerChart:
    """The phase chart of one grid: cells coloured by regime, boundaries as black lines.

    Args:
        cells: one row per (x, y) cell with ``rr_train``, ``rr_test`` and ``regime``
            (:func:`hashlib_nn.factors.phase_cells` for one data set).
        y: the column down the chart (``"epoch"`` or ``"n_train"``).
        boundaries: draw a line between neighbouring cells of different regimes.
        all_value: a ``y`` value to label "(all)" (the whole training set).
        show_values: print "train RR / test RR" in each cell.

    Hover a cell for its train and test RR, regime and number of runs.
    """
    _require(cells, [x, y, "rr_train", "rr_test", "regime"], "phase_heatmap")
    if cells.duplicated([x, y]).any():
        raise ValueError(
            f"phase_heatmap: several rows share an ({x}, {y}) cell; pass one data set's cells "
            "(aggregated over repeats, e.g. hashlib_nn.factors.phase_cells)"
        )
    if len(cells) > MAX_ROWS:
        raise ValueError(f"phase_heatmap: {len(cells)} cells is more than altair's {MAX_ROWS}")
    px, py = _positions(cells[x]), _positions(cells[y])
    d = cells.copy()
    d["_i"] = d[x].map(px).astype(float)
    d["_j"] = d[y].map(py).astype(float)
    d["_i0"], d["_i1"] = d["_i"] - 0.5, d["_i"] + 0.5
    d["_j0"], d["_j1"] = d["_j"] - 0.5, d["_j"] + 0.5
    d["_text"] = [f"{a:.2f} / {b:.2f}" for a, b in zip(d["rr_train"], d["rr_test"], strict=True)]
    d["_dark"] = d["regime"] == REGIMES[2]
    keep = [
        x,
        y,
        "rr_train",
        "rr_test",
        "regime",
        "_i",
        "_j",
        "_i0",
        "_i1",
        "_j0",
        "_j1",
        "_text",
        "_dark",
    ] + (["n"] if "n" in d else [])
    d = d[keep]
    xs = alt.Scale(domain=[-0.5, len(px) - 0.5], nice=False, zero=False)
    ys = alt.Scale(domain=[-0.5, len(py) - 0.5], nice=False, zero=False)
    # every layer carries the same axis: Vega-Lite merges the axes of layers sharing a scale
    x_axis = _index_axis(list(px), x_title)
    y_axis = _index_axis(list(py), y_title or y, all_value)
    x_enc = alt.X("_i0:Q", scale=xs, axis=x_axis)
    y_enc = alt.Y("_j0:Q", scale=ys, axis=y_axis)
    tooltip = [
        alt.Tooltip(f"{x}:Q", title=x),
        alt.Tooltip(f"{y}:Q", title=y, format=","),
        alt.Tooltip("regime:N"),
        alt.Tooltip("rr_train:Q", title="train RR", format=".4f"),
        alt.Tooltip("rr_test:Q", title="test RR", format=".4f"),
    ] + ([alt.Tooltip("n:Q", title="runs")] if "n" in d else [])
    color = alt.Color(
        "regime:N",
        scale=alt.Scale(domain=list(REGIMES), range=[REGIME_COLORS[r] for r in REGIMES]),
        legend=alt.Legend(title="regime", orient="bottom", labelLimit=200),
    )
    base = alt.Chart(d)
    layers: list[alt.Chart] = [
        base.mark_rect(stroke="white", strokeWidth=0.5).encode(
            x=x_enc, x2="_i1:Q", y=y_enc, y2="_j1:Q", color=color, tooltip=tooltip
        )
    ]
    if show_values:
        layers.append(
            base.mark_text(fontSize=10).encode(
                x=alt.X("_i:Q", scale=xs, axis=x_axis),
                y=alt.Y("_j:Q", scale=ys, axis=y_axis),
                text="_text:N",
                color=alt.condition("datum._dark", alt.value("white"), alt.value("black")),
                tooltip=tooltip,
            )
        )
    if boundaries:
        segs = boundary_segments(cells, x, y)
        if len(segs):
            layers.append(
                alt.Chart(segs)
                .mark_rule(color="black", strokeWidth=3)
                .encode(
                    x=alt.X("x0:Q", scale=xs, axis=x_axis),
                    x2="x1:Q",
                    y=alt.Y("y0:Q", scale=ys, axis=y_axis),
                    y2="y1:Q",
                )
            )
    chart = alt.LayerChart(layer=layers, width=width, height=height)
    if title:
        chart.title = title
    return chart


def threshold_sensitivity_chart(
    sensitivity: pd.DataFrame,
    y: str,
    *,
    y_title: str | None = None,
    regimes: Sequence[str] = REGIMES[1:],
    width: int = 200,
    height: int = 150,
) -> alt.FacetChart:
    """Where each regime begins (width, up) at each ``y`` (across), per threshold scale.

    ``sensitivity`` is :func:`hashlib_nn.phase.threshold_sensitivity` output for one data set.
    Columns of the facet: the regimes (default: critically- and sufficiently-expressive, whose
    first width is the boundary below them); rows: which thresholds were scaled. Colour: the
    scale (x1 = the defaults, drawn thick and underneath, so a scaled line that
    coincides with it shows on top of it). A missing point means no width of the grid reaches
    the regime.
    """
    _require(sensitivity, ["vary", "scale", "regime", y, "x_enter"], "threshold_sensitivity_chart")
    d = sensitivity[sensitivity["regime"].isin(regimes)].copy()
    d = d[
        [
            "vary",
            "scale",
            "regime",
            y,
            "x_enter",
            "x_before",
            "rr_under",
            "rr_sufficient",
            "rr_test_under",
            "rr_test_sufficient",
        ]
    ]
    # the defaults (scale 1) first, so that they are drawn underneath, thick, and lines that
    # coincide with them stay visible on top
    d = d.assign(_default=d["scale"] == 1.0).sort_values("_default", ascending=False, kind="stable")
    d = d.drop(columns="_default")
    d["scale"] = d["scale"].map(lambda s: f"x{s:g}")
    d["vary"] = "scaled: " + d["vary"].astype(str)
    order = sorted(sensitivity[y].unique())
    scales = list(dict.fromkeys(d["scale"]))
    tooltip = [
        alt.Tooltip(f"{y}:O", title=y_title or y),
        alt.Tooltip("x_enter:Q", title="first width in regime"),
        alt.Tooltip("x_before:Q", title="width below it"),
        alt.Tooltip("scale:N", title="threshold scale"),
        alt.Tooltip("rr_under:Q", title="u (train)"),
        alt.Tooltip("rr_test_under:Q", title="u (test)"),
        alt.Tooltip("rr_sufficient:Q", title="s (train)"),
        alt.Tooltip("rr_test_sufficient:Q", title="s (test)"),
    ]
    chart = (
        alt.Chart(d)
        .mark_line(point=True)
        .encode(
            x=alt.X(f"{y}:O", sort=order, title=y_title or y),
            y=alt.Y("x_enter:Q", title="first width in regime", scale=alt.Scale(zero=False)),
            color=alt.Color("scale:N", title="threshold scale", sort=scales),
            strokeWidth=alt.condition("datum.scale == 'x1'", alt.value(4), alt.value(1.5)),
            tooltip=tooltip,
        )
        .properties(width=width, height=height)
    )
    return chart.facet(
        row=alt.Row("vary:N", title=None),
        column=alt.Column("regime:N", title=None, sort=list(regimes)),
    )


def settings_chart(
    agg: pd.DataFrame,
    setting: str,
    metrics: Sequence[str],
    *,
    color: str | None = None,
    metric_titles: dict[str, str] | None = None,
    setting_order: Sequence[str] | None = None,
    width: int = 150,
    height: int | None = None,
) -> alt.FacetChart:
    """A dot plot per metric: one row per setting, the mean over repeats and its range.

    ``agg`` is :func:`hashlib_nn.analysis.aggregate` output with a ``setting`` label column
    (e.g. :func:`hashlib_nn.factors.regularization_columns`); ``color`` an optional column
    (e.g. ``"factor"``). Each metric gets its own x scale (they differ: RR vs accuracy).
    """
    _require(agg, [setting, "metric", "mean", "lo", "hi"], "settings_chart")
    titles = metric_titles or {}
    d = agg[agg["metric"].isin(metrics)].copy()
    missing = sorted(set(metrics) - set(d["metric"]))
    if missing:
        raise ValueError(f"settings_chart: metrics {missing} are not in the frame")
    d["metric_title"] = d["metric"].map(lambda m: titles.get(m, m))
    keep = [setting, "metric_title", "mean", "lo", "hi"] + ([color] if color else [])
    keep += ["n"] if "n" in d else []
    d = d[list(dict.fromkeys(keep))]
    order = list(setting_order) if setting_order else list(dict.fromkeys(d[setting]))
    y = alt.Y(f"{setting}:N", sort=order, title=None)
    c: Any = alt.Color(f"{color}:N", title=color) if color else alt.value("#4c78a8")
    tooltip = [
        alt.Tooltip(f"{setting}:N"),
        alt.Tooltip("metric_title:N", title="metric"),
        alt.Tooltip("mean:Q", format=".4f"),
        alt.Tooltip("lo:Q", format=".4f"),
        alt.Tooltip("hi:Q", format=".4f"),
    ] + ([alt.Tooltip("n:Q", title="runs")] if "n" in d else [])
    base = alt.Chart(d).encode(y=y)
    bars = base.mark_rule().encode(
        x=alt.X("lo:Q", title=None, scale=alt.Scale(zero=False)), x2="hi:Q", color=c
    )
    dots = base.mark_point(filled=True, size=60).encode(
        x=alt.X("mean:Q", title=None, scale=alt.Scale(zero=False)), color=c, tooltip=tooltip
    )
    h = height or max(120, 18 * len(order))
    return (
        alt.layer(bars, dots)
        .properties(width=width, height=h)
        .facet(
            column=alt.Column(
                "metric_title:N", title=None, sort=[titles.get(m, m) for m in metrics]
            )
        )
        .resolve_scale(x="independent")
    )
