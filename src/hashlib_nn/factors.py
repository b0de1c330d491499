r"""Regularization, label noise and the activation hash phase chart: tables and verdicts.

The paper's abstract ends its list of findings with two claims that these functions test:

- *claim 3*: "model size, training time, training sample size, regularization, and label noise
  contribute in shaping the encoding properties, while the impacts of the first three are
  dominant";
- *claim 4*: the space spanned by model size, training time and training sample size divides into
  an under-, a critically- and a sufficiently-expressive regime (the *activation hash phase
  chart*).

The original repository has no code for regularization, label noise or the phase chart
(protocol.md), so the experiments, the regime rule (:mod:`hashlib_nn.phase`) and the verdict rules
below are ours; each rule is stated in its function's docstring.

**Spread.** How much a factor moves a property is measured by its *spread*: over the factor's
settings (at one width, one data set), the largest minus the smallest mean over repeats,

.. math::

    \operatorname{spread}_F(m) = \max_{s \in F} \bar m(s) - \min_{s \in F} \bar m(s),

and compared with the spread of the same metric over the widths of the model-size grid (the
*yardstick*: model size is the first of the paper's dominant factors, and its grid is the
original's). The ratio of the two says how large the factor's effect is in units of the effect of
model size.

Tidy frames are those of :func:`hashlib_nn.experiments.sweep`; aggregated frames those of
:func:`hashlib_nn.analysis.aggregate` (columns ``*by, metric, mean, lo, hi, n``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from hashlib_nn.analysis import Verdict, final_rows
from hashlib_nn.phase import REGIMES, PhaseThresholds, phase_regimes, regime_boundaries

__all__ = [
    "CATEGORIZATION_METRICS",
    "DOMINANCE_RATIO",
    "EFFECT_FLOOR",
    "LABEL_NOISE_METRICS",
    "PAPER_SETTING",
    "REGULARIZATION_METRICS",
    "boundary_sentences",
    "dominant_factors_claim",
    "effective_noise_rates",
    "label_noise_table",
    "label_noise_claim",
    "label_noise_verdict",
    "memorization_table",
    "phase_axes_frames",
    "phase_boundary_lines",
    "phase_cells",
    "phase_chart_claim",
    "phase_chart_verdict",
    "phase_planes",
    "planes_by_dataset",
    "regularization_breakdown",
    "regularization_claim",
    "regularization_columns",
    "regularization_verdict",
    "share_clean_rows",
    "shipped_configs",
        "spread_comparison",
]

#: The paper's regularization: coupled L2 1e-6 on hidden kernels, BatchNorm on, no dropout.
PAPER_SETTING: dict[str, Any] = {"weight_decay": 1e-6, "batchnorm": True, "dropout": 0.0}
#: The four categorization accuracies on test data (K-Means purity, K-NN, LR on codes; the
#: network's own prediction).
CATEGORIZATION_METRICS: tuple[str, ...] = (
    "kmeans_purity_test",
    "knn_test",
    "lr_test",
    "net_acc_test",
)
#: Properties compared in :func:`regularization_verdict`: determinism on train and test data
#: (RR) and the paper's headline categorization (K-NN on codes, clean labels).
REGULARIZATION_METRICS: tuple[str, ...] = ("rr_train", "rr_test", "knn_test")
#: Properties compared in :func:`label_noise_verdict`: RR on train and test data, and K-Means
#: purity on test codes. K-Means uses no training labels and is scored against the clean test
#: labels, so it measures what the codes hold; K-NN and LR are fit on the *noisy* training labels
#: and at ratio 1 are wrong by construction (every neighbour's label is wrong).
LABEL_NOISE_METRICS: tuple[str, ...] = ("rr_train", "rr_test", "kmeans_purity_test")
#: Smallest spread counted as an effect (ours): the paper's reading uncertainty (±0.02); the
#: verdicts raise it to the seed-to-seed range where the results show a larger one.
EFFECT_FLOOR = 0.02
#: A factor is "dominated" when its spread is at most this fraction of model size's (ours).
DOMINANCE_RATIO = 0.5


def _require(frame: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} needs column(s) {missing}; the frame has {list(frame.columns)}")


# ----------------------------------------------------------------------------------------------
# Regularization
# ----------------------------------------------------------------------------------------------


def _fmt_wd(wd: float) -> str:
    return "0" if wd == 0 else f"{wd:.0e}".replace("e-0", "e-")


def regularization_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with ``setting`` (a readable label, e.g. ``"wd 1e-6, BN on, dropout 0"``) and
    ``factor`` (which factor the setting moves away from the paper's: ``"paper setting"``,
    ``"weight decay (BN on)"``, ``"weight decay (BN off)"`` or ``"dropout"``)."""
    _require(frame, ["weight_decay", "batchnorm", "dropout"], "regularization_columns")
    out = frame.copy()
    wd, bn, drop = out["weight_decay"], out["batchnorm"].astype(bool), out["dropout"]
    out["setting"] = [
        f"wd {_fmt_wd(w)}, BN {'on' if b else 'off'}, dropout {d:g}"
        for w, b, d in zip(wd, bn, drop, strict=True)
    ]
    paper = (wd == PAPER_SETTING["weight_decay"]) & bn & (drop == 0)
    out["factor"] = np.select(
        [paper, (drop == 0) & bn, (drop == 0) & ~bn],
        ["paper setting", "weight decay (BN on)", "weight decay (BN off)"],
        default="dropout",
    )
    return out


def spread_comparison(
    factor: pd.DataFrame,
    yardstick: pd.DataFrame,
    settings: Sequence[str],
    *,
    metrics: Sequence[str],
    group: Sequence[str] = ("dataset", "width"),
) -> pd.DataFrame:
    """The spread of each metric over a factor's settings beside its spread over widths.

    Args:
        factor: aggregated over repeats by ``[*group, *settings]`` (:func:`~hashlib_nn.analysis.
            aggregate`), e.g. by dataset, width, weight_decay, batchnorm and dropout.
        yardstick: aggregated by ``["dataset", "width"]`` (the model-size grid).
        settings: the columns that name a setting of the factor.
        metrics: metrics to compare, e.g. :data:`REGULARIZATION_METRICS`.
        group: columns held fixed while the factor varies.

    Returns one row per (group, metric): ``factor_spread``, ``low_setting`` / ``high_setting``
    (the settings giving the smallest and largest mean), ``low`` / ``high`` (those means),
    ``n_settings``, ``yardstick_spread`` (over the widths of the same data set), ``n_widths``,
    ``seed_range`` (the largest range over repeats at any one setting of either frame) and
    ``ratio`` = factor_spread / yardstick_spread (NaN when the yardstick has no spread).
    """
    group, settings = list(group), list(settings)
    _require(factor, [*group, *settings, "metric", "mean", "lo", "hi"], "spread_comparison")
    _require(yardstick, ["dataset", "width", "metric", "mean", "lo", "hi"], "spread_comparison")
    rows = []
    for key, g in factor[factor["metric"].isin(metrics)].groupby([*group, "metric"], sort=True):
        key_t = key if isinstance(key, tuple) else (key,)
        where = dict(zip([*group, "metric"], key_t, strict=True))
        g = g.dropna(subset=["mean"])
        if g.empty:
            continue
        lo_i, hi_i = g["mean"].idxmin(), g["mean"].idxmax()
        ys = yardstick[
            (yardstick["metric"] == where["metric"])
            & (yardstick["dataset"] == where.get("dataset", yardstick["dataset"]))
        ]
        y_spread = float(ys["mean"].max() - ys["mean"].min()) if len(ys) > 1 else np.nan
        seed_range = float(
            max((g["hi"] - g["lo"]).max(), (ys["hi"] - ys["lo"]).max() if len(ys) else 0.0)
        )
        f_spread = float(g.loc[hi_i, "mean"] - g.loc[lo_i, "mean"])
        rows.append(
            {
                **where,
                "factor_spread": f_spread,
                "low_setting": _setting_label(g.loc[lo_i], settings),
                "low": float(g.loc[lo_i, "mean"]),
                "high_setting": _setting_label(g.loc[hi_i], settings),
                "high": float(g.loc[hi_i, "mean"]),
                "n_settings": len(g),
                "yardstick_spread": y_spread,
                "n_widths": int(ys["width"].nunique()),
                "seed_range": seed_range,
                "ratio": f_spread / y_spread if y_spread and y_spread > 0 else np.nan,
            }
        )
    return pd.DataFrame(rows)


#: The regularization grid's one-factor families: name -> (rows it keeps, settings column).
#: Each holds the other two factors at the paper's values (BN off: its own weight-decay family).
_FAMILIES: dict[str, tuple[str, str]] = {
    "weight decay (BN on)": ("batchnorm and dropout == 0", "weight_decay"),
    "weight decay (BN off)": ("not batchnorm and dropout == 0", "weight_decay"),
    "BatchNorm on/off (wd 1e-6)": ("weight_decay == 1e-6 and dropout == 0", "batchnorm"),
    "dropout (wd 1e-6, BN on)": ("weight_decay == 1e-6 and batchnorm", "dropout"),
}


def regularization_breakdown(
    reg: pd.DataFrame, widths: pd.DataFrame, *, metrics: Sequence[str] = REGULARIZATION_METRICS
) -> pd.DataFrame:
    """:func:`spread_comparison` within each one-factor family of the regularization grid.

    Families: weight decay with BatchNorm on (dropout 0), weight decay with BatchNorm off,
    BatchNorm on vs off (weight decay 1e-6, dropout 0), and dropout (weight decay 1e-6, BatchNorm
    on). Returns the rows of :func:`spread_comparison` with a ``family`` column first; a family
    with fewer than two settings in ``reg`` is left out.
    """
    _require(reg, ["weight_decay", "batchnorm", "dropout"], "regularization_breakdown")
    frames = []
    df = reg.assign(batchnorm=reg["batchnorm"].astype(bool))
    for family, (query, column) in _FAMILIES.items():
        rows = df.query(query)
        if rows[column].nunique() < 2:
            continue
        t = spread_comparison(rows, widths, [column], metrics=metrics)
        frames.append(t.assign(family=family))
    if not frames:
        return pd.DataFrame()
    out = pd.concat(frames, ignore_index=True)
    return out[["family", *[c for c in out.columns if c != "family"]]]


def _setting_label(row: pd.Series, settings: Sequence[str]) -> str:
    if "setting" in row.index and "setting" in settings:
        return str(row["setting"])
    parts = []
    for s in settings:
        v = row[s]
        if s == "weight_decay":
            parts.append(f"wd {_fmt_wd(float(v))}")
        elif s == "batchnorm":
            parts.append(f"BN {'on' if v else 'off'}")
        else:
            parts.append(f"{s} {v:g}" if isinstance(v, int | float | np.number) else f"{s} {v}")
    return ", ".join(parts)


def _dominance_verdict(claim: str, table: pd.DataFrame, what: str, rule: str = "both") -> Verdict:
    """Shared rule of the regularization and label-noise verdicts (see their docstrings).

    ``rule``: ``"both"`` (contributes and dominated: the chapters' verdicts), ``"effect"``
    (contributes only: the claims "X shapes these properties") or ``"ratio"`` (dominated only:
    the claim "the first three dominate").
    """
    usable = table.dropna(subset=["ratio"]) if len(table) else table
    usable = (
        usable[(usable["n_settings"] >= 2) & (usable["n_widths"] >= 2)] if len(usable) else usable
    )
    if len(usable) == 0:
        return Verdict(
            claim,
            "not tested",
            f"The results hold fewer than two {what} settings or "
            "fewer than two model-size widths with a spread; nothing to compare.",
        )
    worst = usable.loc[usable["ratio"].idxmax()]
    biggest = usable.loc[usable["factor_spread"].idxmax()]
    floor = max(EFFECT_FLOOR, float(usable["seed_range"].max()))
    contributes = float(biggest["factor_spread"]) > floor
    ratio = float(worst["ratio"])
    numbers = {
        "max_ratio": ratio,
        "max_factor_spread": float(biggest["factor_spread"]),
        "effect_floor": floor,
    }
    for _, r in usable.iterrows():
        family = f"{r['family']}: " if "family" in r.index else ""
        numbers[f"ratio {family}{r['metric']} w{int(r['width'])}"] = float(r["ratio"])

    def over(r: pd.Series) -> str:
        return str(r["family"]) if "family" in r.index else what

    evidence = (
        f"Largest effect of {what}: {biggest['metric']} from {biggest['low']:.3f} "
        f"({biggest['low_setting']}) to {biggest['high']:.3f} ({biggest['high_setting']}) at width "
        f"{int(biggest['width'])}, a spread of {biggest['factor_spread']:.3f} against an effect "
        f"floor of {floor:.3f}. Relative to model size, the largest ratio is {ratio:.2f} "
        f"({worst['metric']}: {worst['factor_spread']:.3f} over {over(worst)} vs "
        f"{worst['yardstick_spread']:.3f} over {int(worst['n_widths'])} widths)."
    )
    if rule == "effect":
        status = "reproduced" if contributes else "not reproduced"
    elif rule == "ratio":
        if ratio > 1.0:
            status = "not reproduced"
        else:
            status = "reproduced" if ratio <= DOMINANCE_RATIO else "partly reproduced"
    elif ratio > 1.0:
        status = "not reproduced"
    elif contributes and ratio <= DOMINANCE_RATIO:
        status = "reproduced"
    else:
        status = "partly reproduced"
    return Verdict(claim, status, evidence, numbers)


def regularization_verdict(
    reg: pd.DataFrame, widths: pd.DataFrame, *, metrics: Sequence[str] = REGULARIZATION_METRICS
) -> Verdict:
    """Claim 3 for regularization: it shapes the encoding properties, less than model size.

    Input: ``reg`` = :func:`~hashlib_nn.analysis.aggregate` of the final epochs of the
    regularization grid by ``["dataset", "width", "weight_decay", "batchnorm", "dropout"]``;
    ``widths`` = the same for the model-size grid by ``["dataset", "width"]``.

    Rule (ours, stated): one regularizer at a time, as a factor's impact is usually measured.
    For each one-factor family of the grid (:func:`regularization_breakdown`: weight decay with
    BatchNorm on, weight decay with BatchNorm off, BatchNorm on/off, dropout; the others held at
    the paper's values), each metric of ``metrics`` (default train RR, test RR and K-NN test
    accuracy) and each width, the spread over the family's settings is divided by the spread over
    the model-size widths. *Reproduced* when regularization contributes (some spread exceeds the
    effect floor: :data:`EFFECT_FLOOR` = 0.02, or the largest range over seeds at one setting
    when larger) and every ratio is at most :data:`DOMINANCE_RATIO` (0.5); *partly reproduced*
    when every ratio is at most 1 but no spread exceeds the floor or some ratio exceeds 0.5;
    *not reproduced* when some ratio exceeds 1 (one regularizer moves a property more than model
    size does). *Not tested* without a family of two settings or without two widths.
    Settings that change two regularizers at once (e.g. weight decay 1e-2 *and* BatchNorm off
    against the paper's setting) are compared only within their families.
    """
    claim = (
        "Regularization (weight decay, BatchNorm, dropout) shapes the encoding properties, "
        "but less than model size does."
    )
    table = regularization_breakdown(reg, widths, metrics=metrics)
    return _dominance_verdict(claim, table, "regularization")


# ----------------------------------------------------------------------------------------------
# Label noise
# ----------------------------------------------------------------------------------------------


def effective_noise_rates(configs: Iterable[Any]) -> pd.DataFrame:
    """The fraction of training labels each run actually had wrong.

    For each :class:`~hashlib_nn.experiments.RunConfig`, rebuilds its training labels as
    :mod:`hashlib_nn.experiments` does (the first ``n`` labels of the data set, noise seeded by
    the training seed, ``label_noise_mode``) and measures them with
    :func:`hashlib_nn.noise.effective_noise_rate`. Returns one row per distinct (dataset,
    n_train, label_noise, label_noise_mode, seed): those columns and ``effective_noise``.
    """
    from hashlib_nn.experiments import get_dataset
    from hashlib_nn.noise import effective_noise_rate, original_label_noise, symmetric_label_noise

    rows, seen = [], set()
    for c in configs:
        ident = (c.dataset, c.n_examples, c.label_noise, c.label_noise_mode, c.seed)
        if ident in seen:
            continue
        seen.add(ident)
        ds = get_dataset(c.dataset)
        y = np.asarray(ds.y_train, dtype=np.int64)[: c.n_examples]
        n_classes = int(getattr(ds, "n_classes", 0) or int(max(y.max(), ds.y_test.max())) + 1)
        if c.label_noise == 0:
            noisy = y
        elif c.label_noise_mode == "original":
            noisy = original_label_noise(y, c.label_noise, n_classes, seed=c.seed).y_noisy
        else:
            noisy = symmetric_label_noise(
                y, c.label_noise, n_classes, seed=c.seed, mode=c.label_noise_mode
            ).y_noisy
        rows.append(
            dict(
                zip(
                    ("dataset", "n_train", "label_noise", "label_noise_mode", "seed"),
                    ident,
                    strict=True,
                ),
                effective_noise=effective_noise_rate(y, noisy),
            )
        )
    return pd.DataFrame(
        rows,
        columns=[
            "dataset",
            "n_train",
            "label_noise",
            "label_noise_mode",
            "seed",
            "effective_noise",
        ],
    )


def label_noise_table(final: pd.DataFrame, rates: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (dataset, width, label_noise, label_noise_mode): the means over repeats of
    the memorization and categorization metrics, and the effective noise rate.

    Columns: ``rr_train``, ``rr_test``, ``net_acc_train`` (agreement with the *noisy* labels
    trained on), ``net_acc_clean_train`` (with the clean ones; at ratio 0 equal to
    ``net_acc_train``), ``fits_noise`` = net_acc_train - (1 - effective_noise) (above 0: the
    network reproduces more training labels than the correct ones alone, i.e. it has memorized
    some wrong labels), then :data:`CATEGORIZATION_METRICS` and ``kmeans_purity_train``
    (against the noisy labels), ``effective_noise`` and ``n`` (repeats).
    Ratio-0 rows are repeated for every mode present, so each mode's curve starts at the clean run.
    """
    _require(
        final,
        ["dataset", "width", "label_noise", "label_noise_mode", "metric", "value"],
        "label_noise_table",
    )
    keys = ["dataset", "width", "n_train", "label_noise", "label_noise_mode"]
    df = final.copy()
    wide = df.pivot_table(index=[*keys, "seed"], columns="metric", values="value").reset_index()
    if "net_acc_clean_train" not in wide.columns:
        wide["net_acc_clean_train"] = np.nan
    wide["net_acc_clean_train"] = wide["net_acc_clean_train"].fillna(wide.get("net_acc_train"))
    if rates is not None and len(rates):
        wide = wide.merge(
            rates, on=["dataset", "n_train", "label_noise", "label_noise_mode", "seed"], how="left"
        )
    else:
        wide["effective_noise"] = np.where(wide["label_noise"] == 0, 0.0, np.nan)
    cols = [
        "rr_train",
        "rr_test",
        "net_acc_train",
        "net_acc_clean_train",
        *CATEGORIZATION_METRICS,
        "kmeans_purity_train",
        "effective_noise",
    ]
    cols = [c for c in cols if c in wide.columns]
    out = wide.groupby(keys, as_index=False)[cols].mean()
    out["n"] = wide.groupby(keys).size().to_numpy()
    if "net_acc_train" in out:
        out.insert(
            out.columns.get_loc("net_acc_clean_train") + 1,
            "fits_noise",
            out["net_acc_train"] - (1 - out["effective_noise"]),
        )
    return share_clean_rows(out).sort_values(keys).reset_index(drop=True)


def share_clean_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its ratio-0 rows repeated for every ``label_noise_mode`` in it.

    At ratio 0 every mode trains on the clean labels, so the run is stored once (as
    "uniform_other"); a chart or table per mode starts each mode's curve at that clean run.
    """
    _require(frame, ["label_noise", "label_noise_mode"], "share_clean_rows")
    clean = frame[frame["label_noise"] == 0]
    have = set(clean["label_noise_mode"])
    others = [m for m in frame["label_noise_mode"].unique() if m not in have]
    return pd.concat(
        [frame, *(clean.assign(label_noise_mode=m) for m in others)], ignore_index=True
    )


def memorization_table(table: pd.DataFrame) -> pd.DataFrame:
    """The memorization columns of :func:`label_noise_table` and ``memorized``.

    ``memorized`` = ``fits_noise`` / ``effective_noise``: roughly the fraction of the wrong
    labels the network reproduces (NaN at ratio 0, where no label is wrong).
    """
    cols = [
        "dataset",
        "width",
        "n_train",
        "label_noise",
        "label_noise_mode",
        "effective_noise",
        "rr_train",
        "rr_test",
        "net_acc_train",
        "net_acc_clean_train",
        "fits_noise",
    ]
    _require(table, cols, "memorization_table")
    memo = table[cols]
    return memo.assign(
        memorized=(memo["fits_noise"] / memo["effective_noise"]).where(memo["label_noise"] > 0)
    )


def label_noise_verdict(
    noise: pd.DataFrame,
    widths: pd.DataFrame,
    *,
    metrics: Sequence[str] = LABEL_NOISE_METRICS,
    mode: str = "uniform_other",
) -> Verdict:
    """Claim 3 for label noise: it shapes the encoding properties, less than model size.

    Input: ``noise`` = :func:`~hashlib_nn.analysis.aggregate` of the final epochs of the
    label-noise grid by ``["dataset", "width", "label_noise", "label_noise_mode"]``; ``widths``
    = the same for the model-size grid by ``["dataset", "width"]``. Only rows of ``mode`` (the
    corrected noise, default) are judged; ratio 0 is shared by all modes.

    Rule (ours, stated): the rule of :func:`regularization_verdict` with the label-noise ratios
    as the settings and ``metrics`` (default train RR, test RR and K-Means purity on test codes,
    which uses no training labels; K-NN and logistic regression are fit on the noisy labels, and
    at ratio 1 every label is wrong by construction, which says nothing about the codes).
    *Reproduced*: some spread exceeds the effect floor and every ratio to the model-size spread
    is at most 0.5; *partly*: every ratio at most 1; *not reproduced*: some ratio above 1.
    """
    claim = "Label noise shapes the encoding properties, but less than model size does."
    _require(noise, ["label_noise", "label_noise_mode"], "label_noise_verdict")
    rows = noise[(noise["label_noise_mode"] == mode) | (noise["label_noise"] == 0)]
    table = spread_comparison(rows, widths, ["label_noise"], metrics=metrics)
    return _dominance_verdict(claim, table, "label noise")


# ----------------------------------------------------------------------------------------------
# Phase chart
# ----------------------------------------------------------------------------------------------


def phase_cells(
    frame: pd.DataFrame,
    y: str,
    *,
    by: Sequence[str] = ("dataset",),
    thresholds: PhaseThresholds = PhaseThresholds(),  # noqa: B008 (frozen)
) -> pd.DataFrame:
    """One row per (by, width, y) cell of a phase chart: mean RR over repeats and the regime.

    ``y = "epoch"``: every evaluated epoch of each run (the training-time grid);
    any other column (``"n_train"``): the final epoch of each run (the sample-size grid).
    Columns: ``*by, width, y, rr_train, rr_test, n`` (runs averaged) and ``regime``
    (:func:`hashlib_nn.phase.phase_regimes` with ``thresholds``).
    """
    _require(frame, [*by, "width", y, "metric", "value", "seed"], "phase_cells")
    rows = frame[frame["metric"].isin(["rr_train", "rr_test"])]
    if y != "epoch":
        rows = final_rows(rows)
    keys = [*by, "width", y]
    cells = rows.pivot_table(
        index=keys, columns="metric", values="value", aggfunc="mean"
    ).reset_index()
    cells.columns.name = None
    counts = rows[rows["metric"] == "rr_train"].groupby(keys).size().rename("n").reset_index()
    cells = cells.merge(counts, on=keys, how="left")
    if "rr_test" not in cells:
        cells["rr_test"] = np.nan
    return phase_regimes(cells, thresholds=thresholds).sort_values(keys).reset_index(drop=True)


def phase_planes(
    frame: pd.DataFrame,
    axes: Mapping[str, Iterable[Any]],
    *,
    by: Sequence[str] = ("dataset",),
    thresholds: PhaseThresholds = PhaseThresholds(),  # noqa: B008 (frozen)
) -> dict[str, pd.DataFrame]:
    """The two planes of a phase-chart results frame as :func:`phase_cells` frames.

    ``axes`` is :func:`hashlib_nn.presets.phase_chart_axes` (``"training_time"`` and
    ``"sample_size"``: lists of RunConfigs); the rows of the runs of each list become the
    ``"epoch"`` and the ``"n_train"`` plane. Rows of runs in neither are left out, and a plane
    with no rows is an empty frame with the columns of :func:`phase_cells`, so a partial grid or
    an empty frame (nothing shipped) gives charts with missing cells, not an error.
    """
    out: dict[str, pd.DataFrame] = {}
    for y, axis in (("epoch", "training_time"), ("n_train", "sample_size")):
        keys = {c.key for c in axes.get(axis, ())}
        rows = frame[frame["key"].isin(keys)] if "key" in frame else frame.iloc[:0]
        if len(rows):
            out[y] = phase_cells(rows, y, by=by, thresholds=thresholds)
        else:
            out[y] = pd.DataFrame(columns=[*by, "width", y, "rr_train", "rr_test", "n", "regime"])
    return out


def planes_by_dataset(planes: Mapping[str, pd.DataFrame]) -> dict[str, dict[str, pd.DataFrame]]:
    """The planes of :func:`phase_planes` per data set: ``{dataset: {y: cells}}``, sorted, with
    only the planes that hold cells of that data set (a partial grid may hold one plane of a data
    set and not the other; a data set with no cells is left out)."""
    out: dict[str, dict[str, pd.DataFrame]] = {}
    frames = [c for c in planes.values() if len(c) and "dataset" in c]
    for ds in sorted(set().union(*(set(c["dataset"]) for c in frames))):
        for y, cells in planes.items():
            rows = cells[cells["dataset"] == ds] if len(cells) else cells
            if len(rows):
                out.setdefault(ds, {})[y] = rows.reset_index(drop=True)
    return out


def phase_boundary_lines(
    planes: Mapping[str, pd.DataFrame], *, by: Sequence[str] = ("dataset",)
) -> list[str]:
    """:func:`boundary_sentences` of every plane of :func:`phase_planes`, both ways: the widths
    where the regime boundaries fall at each epoch and each sample size, then the epoch and the
    sample size at which each width reaches each regime. Groups are separated by an empty line;
    empty planes give no lines."""
    names = {"n_train": "n"}
    full = {y: cells for y, cells in planes.items() if len(cells)}
    groups = [boundary_sentences(cells, y, by=by, names=names) for y, cells in full.items()]
    groups += [
        boundary_sentences(cells, "width", x=y, by=by, names=names) for y, cells in full.items()
    ]
    lines: list[str] = []
    for g in groups:
        lines += ([""] if lines else []) + g
    return lines


def boundary_sentences(
    cells: pd.DataFrame,
    y: str,
    *,
    x: str = "width",
    by: Sequence[str] = ("dataset",),
    names: Mapping[str, str] | None = None,
) -> list[str]:
    """Where the regime boundaries fall, as sentences, from :func:`phase_cells` output.

    For each value of ``y`` (e.g. an epoch), the ``x`` value (e.g. the width) at which each of
    the two more expressive regimes is first reached, scanning ``x`` upwards, and the pair of
    grid values the boundary lies between (:func:`hashlib_nn.phase.regime_boundaries`). A line
    whose regime steps back to a less expressive one as ``x`` grows is marked "not monotone".
    ``names`` renames columns in the text (``{"n_train": "n"}``).

    >>> cells = pd.DataFrame({"dataset": "mnist", "width": [10, 40, 100], "epoch": 8,
    ...                       "regime": list(REGIMES),
    ...                       "rr_train": [0.9, 0.1, 0.0], "rr_test": [0.9, 0.05, 0.0]})
    >>> boundary_sentences(cells, "epoch")[0]  # doctest: +NORMALIZE_WHITESPACE
    'dataset mnist, epoch 8: critically-expressive from width 40 (boundary between 10 and 40);
     sufficiently-expressive from width 100 (boundary between 40 and 100).'
    """
    label = {**{c: c for c in (*by, x, y)}, **(names or {})}
    b = regime_boundaries(cells, x, y, by=by, agg=None)
    out = []
    for key, g in b.groupby([*by, y], sort=True):
        key_t = key if isinstance(key, tuple) else (key,)
        head = ", ".join(f"{label[k]} {_num(v)}" for k, v in zip([*by, y], key_t, strict=True))
        parts = []
        for regime in REGIMES[1:]:
            r = g[g["regime"] == regime].iloc[0]
            if np.isnan(r["x_enter"]):
                parts.append(f"never {regime}")
            elif np.isnan(r["x_before"]):
                parts.append(f"{regime} from the first {label[x]}, {_num(r['x_enter'])}")
            else:
                parts.append(
                    f"{regime} from {label[x]} {_num(r['x_enter'])} "
                    f"(boundary between {_num(r['x_before'])} and {_num(r['x_enter'])})"
                )
        tail = "" if bool(g["monotone"].iloc[0]) else f" (not monotone in {label[x]})"
        out.append(f"{head}: {'; '.join(parts)}{tail}.")
    return out


def _num(v: Any) -> str:
    if isinstance(v, int | float | np.integer | np.floating) and float(v).is_integer():
        n = int(v)
        return f"{n:,}" if abs(n) >= 10_000 else str(n)
    return str(v)


def _line_monotone(cells: pd.DataFrame, along: str, fixed: Sequence[str]) -> list[bool]:
    rank = {r: i for i, r in enumerate(REGIMES)}
    out = []
    for _, g in cells.groupby(list(fixed), sort=True):
        if len(g) < 2:
            continue
        ranks = g.sort_values(along)["regime"].map(rank).to_numpy()
        out.append(bool((np.diff(ranks) >= 0).all()))
    return out


def phase_chart_verdict(
    axes: Mapping[str, pd.DataFrame], *, by: Sequence[str] = ("dataset",)
) -> Verdict:
    """Claim 4: model size x training time x sample size divides into three regimes.

    Input: ``axes`` maps each swept column (``"epoch"``, ``"n_train"``) to its
    :func:`phase_cells` frame (width across, that column down).

    Rule (ours, stated): *reproduced* when (a) all three regimes of :mod:`hashlib_nn.phase` occur
    among the cells of the charts and (b) along the model-size axis the regime never steps back
    to a less expressive one as width grows in at least 80% of the grid lines (one line per
    epoch or sample size; the paper's regions are ordered by model size). *Partly reproduced*
    when (a) holds and (b) fails, or when exactly two regimes occur and (b) holds; *not
    reproduced* otherwise. *Not tested* when no chart has two widths and two values down.
    The directions along training time and sample size are reported, not judged: the paper
    states none that our regime rule could check.
    """
    claim = (
        "Model size, training time and sample size span an activation hash phase chart with "
        "three regimes: under-, critically- and sufficiently-expressive."
    )
    usable = {
        y: c
        for y, c in axes.items()
        if len(c) and c["width"].nunique() >= 2 and c[y].nunique() >= 2
    }
    if not usable:
        return Verdict(
            claim,
            "not tested",
            "No phase chart with at least two widths and two "
            "epochs or sample sizes in the results.",
        )
    present = set().union(*(set(c["regime"]) for c in usable.values()))
    lines: list[bool] = []
    counts: dict[str, float] = {}
    for y, c in usable.items():
        mono = _line_monotone(c, "width", [*by, y])
        lines += mono
        counts[f"monotone_share_{y}"] = float(np.mean(mono)) if mono else float("nan")
        for r in REGIMES:
            counts[f"cells_{r}_{y}"] = float((c["regime"] == r).sum())
    share = float(np.mean(lines)) if lines else float("nan")
    ordered = bool(lines) and share >= 0.8
    n_regimes = len(present)
    numbers = {"n_regimes": float(n_regimes), "monotone_share": share, **counts}
    found = ", ".join(r for r in REGIMES if r in present)
    evidence = (
        f"Regimes found over {sum(len(c) for c in usable.values())} cells "
        f"({', '.join(f'width x {y}' for y in usable)}): {found}. Along width the regime "
        f"never steps back in {share:.0%} of the {len(lines)} grid lines."
    )
    if n_regimes == 3 and ordered:
        status = "reproduced"
    elif (n_regimes == 3) or (n_regimes == 2 and ordered):
        status = "partly reproduced"
    else:
        status = "not reproduced"
    return Verdict(claim, status, evidence, numbers)


# ----------------------------------------------------------------------------------------------
# Shipped results (hashlib_nn.shipped): where they come from, which runs they are
# ----------------------------------------------------------------------------------------------


def shipped_configs(chapter: str, frame: pd.DataFrame, preset: str = "standard") -> list[Any]:
    """The RunConfigs of ``chapter``'s ``preset`` grid whose runs are in ``frame`` (shipped
    rows), e.g. for :func:`effective_noise_rates`; one per run."""
    from hashlib_nn.presets import grid

    if frame.empty:
        return []
    keys = set(frame["key"])
    configs: dict[str, Any] = {}
    for ds in sorted(frame["dataset"].unique()):
        for c in grid(chapter, preset, dataset=ds):
            if c.key in keys:
                configs.setdefault(c.key, c)
    return list(configs.values())


# ----------------------------------------------------------------------------------------------
# Claims-page adapters: fn(results, dataset) -> Verdict, results = tidy frames by chapter name
# ----------------------------------------------------------------------------------------------

_REG_BY = ["dataset", "width", "weight_decay", "batchnorm", "dropout"]
_NOISE_BY = ["dataset", "width", "label_noise", "label_noise_mode"]


def _aggregates(results: Mapping[str, pd.DataFrame], chapter: str, by: list[str]) -> pd.DataFrame:
    from hashlib_nn.analysis import aggregate

    if chapter not in results:
        raise ValueError(f"results hold no {chapter!r} frame; have {sorted(results)}")
    return aggregate(final_rows(results[chapter]), by=by)


def regularization_claim(results: Mapping[str, pd.DataFrame], dataset: str) -> Verdict:
    """Claim 3d, "regularization shapes these properties": the rule of
    :func:`regularization_verdict` reduced to its effect condition. *Reproduced* when some
    one-factor spread (train RR, test RR or 9-NN accuracy) exceeds the effect floor, *not
    reproduced* otherwise. Needs ``results["regularization"]`` and ``results["model_size"]``
    (the yardstick, whose seed-to-seed range sets the floor)."""
    reg = _aggregates(results, "regularization", _REG_BY)
    widths = _aggregates(results, "model_size", ["dataset", "width"])
    table = regularization_breakdown(reg, widths)
    return _dominance_verdict(
        "Regularization shapes these properties.", table, "regularization", rule="effect"
    )


def label_noise_claim(results: Mapping[str, pd.DataFrame], dataset: str) -> Verdict:
    """Claim 3e, "label noise shapes these properties": the rule of :func:`label_noise_verdict`
    reduced to its effect condition (corrected noise; train RR, test RR, K-Means purity on test
    codes). Needs ``results["label_noise"]`` and ``results["model_size"]``."""
    noise = _aggregates(results, "label_noise", _NOISE_BY)
    widths = _aggregates(results, "model_size", ["dataset", "width"])
    rows = noise[(noise["label_noise_mode"] == "uniform_other") | (noise["label_noise"] == 0)]
    table = spread_comparison(rows, widths, ["label_noise"], metrics=LABEL_NOISE_METRICS)
    return _dominance_verdict(
        "Label noise shapes these properties.", table, "label noise", rule="effect"
    )


def dominant_factors_claim(results: Mapping[str, pd.DataFrame], dataset: str) -> Verdict:
    """Claim 3f, "model size, training time and sample size dominate": the ratio condition of
    :func:`regularization_verdict` and :func:`label_noise_verdict` together, with model size as
    the yardstick. Over every one-regularizer family and the corrected label noise, *reproduced*
    when every ratio to the model-size spread is at most :data:`DOMINANCE_RATIO` (0.5),
    *partly reproduced* when every ratio is at most 1, *not reproduced* otherwise. Needs
    ``results["regularization"]``, ``results["label_noise"]`` and ``results["model_size"]``."""
    widths = _aggregates(results, "model_size", ["dataset", "width"])
    reg = regularization_breakdown(_aggregates(results, "regularization", _REG_BY), widths)
    noise = _aggregates(results, "label_noise", _NOISE_BY)
    noise = noise[(noise["label_noise_mode"] == "uniform_other") | (noise["label_noise"] == 0)]
    table_noise = spread_comparison(noise, widths, ["label_noise"], metrics=LABEL_NOISE_METRICS)
    table = pd.concat([reg, table_noise.assign(family="label noise")], ignore_index=True)
    claim = "Model size, training time and sample size dominate regularization and label noise."
    return _dominance_verdict(claim, table, "regularization and label noise", rule="ratio")


def phase_axes_frames(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Split a phase-chart results frame into its two planes by run: runs evaluated at more than
    one epoch are the training-time plane (``"epoch"``), the others the sample-size plane
    (``"n_train"``), as :func:`hashlib_nn.presets.phase_chart_axes` builds them."""
    _require(frame, ["key", "epoch"], "phase_axes_frames")
    epochs = frame.groupby("key")["epoch"].nunique()
    timed = frame["key"].map(epochs) > 1
    return {"epoch": frame[timed], "n_train": frame[~timed]}


def phase_chart_claim(results: Mapping[str, pd.DataFrame], dataset: str) -> Verdict:
    """Claim 4: :func:`phase_chart_verdict` on ``results["phase_chart"]`` (both planes, split
    with :func:`phase_axes_frames`), default thresholds."""
    if "phase_chart" not in results:
        raise ValueError(f"results hold no 'phase_chart' frame; have {sorted(results)}")
    planes = phase_axes_frames(results["phase_chart"])
    cells = {y: phase_cells(f, y) for y, f in planes.items() if len(f)}
    return phase_chart_verdict(cells)
