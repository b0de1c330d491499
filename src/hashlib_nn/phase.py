r"""The activation hash phase chart: explicit regime rules (paper: abstract, phase-chart section).

The paper divides the space spanned by model size, training time and training sample size
into three regions, *under-expressive*, *critically-expressive* and *sufficiently-expressive*,
but publishes no rule that assigns a point to a region, and the original repository holds no
phase-chart code (protocol.md, "Regularization, label noise, phase chart"). The rule below is
ours. It reads only the redundancy ratio (RR, :mod:`hashlib_nn.metrics`), the quantity behind
the paper's first claim ("almost every linear region contains at most one training example"):

.. math::

    \text{regime} = \begin{cases}
      \text{under-expressive} & \text{if } \mathrm{RR}_{\rm train} \ge u
          \text{ or } \mathrm{RR}_{\rm test} \ge u_{\rm test}, \\
      \text{sufficiently-expressive} & \text{if } \mathrm{RR}_{\rm train} \le s
          \text{ and } \mathrm{RR}_{\rm test} \le s_{\rm test}, \\
      \text{critically-expressive} & \text{otherwise,}
    \end{cases}

with the test conditions dropped where no test RR is given. Defaults
(:class:`PhaseThresholds`): :math:`u = u_{\rm test} = 0.5`, :math:`s = 0.01`,
:math:`s_{\rm test} = 0.05`.

Why these numbers.

- :math:`u = 0.5`. RR :math:`\ge 0.5` means at most N/2 distinct codes, i.e. at least half of
  the examples share their linear region with another example (an example alone in its region
  uses up one distinct code, so at most N(1-RR) examples can be alone). The network then does
  not hash the data at all; "determinism" fails for the majority. On the digitized MNIST
  model-size figure (``paper_figures.csv``) this puts widths up to about 24 in the
  under-expressive regime (train RR 0.77 at width 20, 0.40 at width 27).
- :math:`s = 0.01`. The paper's "almost every region holds at most one training example": at
  most 1% of training examples are redundant. MNIST widths >= 70 meet it on the model-size
  figure (0.01 at 70, 0.00 at 100).
- :math:`s_{\rm test} = 0.05`, looser than on train: the test examples were never fitted, and
  the paper's well-trained MNIST models keep a test RR of a few percent (0.02-0.045 at widths
  50-60 after 200 epochs). The condition matters where train RR is small for a trivial reason:
  with n = 10 training examples the train RR is 0 whatever the network, while the 10,000 test
  examples still collide heavily (test RR 0.77 for width 40 on the sample-size figure).
- :math:`u_{\rm test} = u`: the same "most examples share a region" reading, on test data.
  Test RR is measured on the fixed 10,000-image test set, so it is comparable across training
  sample sizes, whereas train RR counts collisions among n examples and grows with n alone.

With these defaults the digitized MNIST figures show all three regimes along the model-size
axis (under up to width 20, critical 27-60, sufficient from 70) and along training time
(width 40 after one epoch: under; width 60 after 200 epochs: sufficient). The sample-size
figure is digitized for test RR only; it runs from under-expressive (n <= 100 at width 40) to
the edge of sufficient (test RR 0.05 at n = 40,000). The thresholds are a convention;
:func:`threshold_sensitivity` shows how far the boundaries move when they are halved or doubled.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Literal

import numpy as np
import pandas as pd

__all__ = [
    "BOUNDARIES",
    "CRITICAL",
    "REGIMES",
    "SUFFICIENT",
    "UNDER",
    "PhaseThresholds",
    "boundary_positions",
    "phase_regime",
    "phase_regimes",
    "regime_boundaries",
    "threshold_sensitivity",
]

UNDER = "under-expressive"
CRITICAL = "critically-expressive"
SUFFICIENT = "sufficiently-expressive"
REGIMES: tuple[str, str, str] = (UNDER, CRITICAL, SUFFICIENT)
"""The regimes in order of increasing expressivity (for chart legends and sorting)."""

_RANK = {r: i for i, r in enumerate(REGIMES)}


@dataclass(frozen=True)
class PhaseThresholds:
    """Redundancy-ratio thresholds of the phase-chart rule (module docstring: formula and why).

    Must hold: ``0 <= rr_sufficient < rr_under <= 1`` and
    ``0 <= rr_test_sufficient < rr_test_under <= 1``.
    """

    # u: train RR at or above it -> under-expressive (at least half the training examples share
    # a region). Ours; the paper states no number.
    rr_under: float = 0.5
    # s: train RR at or below it (and the test condition) -> sufficiently-expressive ("almost
    # every region holds at most one training example": <= 1% redundant). Ours.
    rr_sufficient: float = 0.01
    # u_test: test RR at or above it -> under-expressive too; the same reading as rr_under.
    rr_test_under: float = 0.5
    # s_test: test RR must be at or below it for sufficiently-expressive; looser than on train
    # (unseen data; the paper's well-trained MNIST models keep a few percent). Ours.
    rr_test_sufficient: float = 0.05

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
                raise ValueError(
                    f"{f.name} must be a number in [0, 1]; got {v!r} of type {type(v).__name__}"
                )
            if not 0.0 <= float(v) <= 1.0:
                raise ValueError(f"{f.name} must be in [0, 1]; got {f.name}={v!r}")
        for lo, hi in (("rr_sufficient", "rr_under"), ("rr_test_sufficient", "rr_test_under")):
            if not getattr(self, lo) < getattr(self, hi):
                raise ValueError(
                    f"{lo} must be below {hi} (the critically-expressive band lies between "
                    f"them); got {lo}={getattr(self, lo)!r}, {hi}={getattr(self, hi)!r}"
                )

    def scaled(self, *, under: float = 1.0, sufficient: float = 1.0) -> PhaseThresholds:
        """Thresholds with the two "under" values times ``under`` and the two "sufficient"
        values times ``sufficient`` (validated like any other thresholds)."""
        try:
            return replace(
                self,
                rr_under=self.rr_under * under,
                rr_test_under=self.rr_test_under * under,
                rr_sufficient=self.rr_sufficient * sufficient,
                rr_test_sufficient=self.rr_test_sufficient * sufficient,
            )
        except ValueError as exc:
            raise ValueError(
                f"scaling under by {under!r} and sufficient by {sufficient!r} gives invalid "
                f"thresholds: {exc}"
            ) from None


def _check_rr(name: str, v: object) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be a number in [0, 1]; got {v!r} of type {type(v).__name__}")
    f = float(v)
    if not 0.0 <= f <= 1.0:
        raise ValueError(f"{name} must be in [0, 1] (a redundancy ratio); got {v!r}")
    return f


def phase_regime(
    rr_train: float,
    rr_test: float | None = None,
    thresholds: PhaseThresholds = PhaseThresholds(),  # noqa: B008 (frozen, immutable)
) -> str:
    """The regime of one point of the phase chart (rule in the module docstring).

    >>> phase_regime(0.77), phase_regime(0.10, 0.04), phase_regime(0.0, 0.02)
    ('under-expressive', 'critically-expressive', 'sufficiently-expressive')
    >>> phase_regime(0.0, 0.77)  # n = 10 training examples: trivially unique, test collides
    'under-expressive'
    """
    t = thresholds
    tr = _check_rr("rr_train", rr_train)
    te = None if rr_test is None else _check_rr("rr_test", rr_test)
    if tr >= t.rr_under or (te is not None and te >= t.rr_test_under):
        return UNDER
    if tr <= t.rr_sufficient and (te is None or te <= t.rr_test_sufficient):
        return SUFFICIENT
    return CRITICAL


def _require(df: pd.DataFrame, cols: Iterable[str], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(
            f"{what} needs column(s) {missing}; the frame has {list(df.columns)}"
        )


def _regimes_array(
    rr_train: np.ndarray, rr_test: np.ndarray | None, t: PhaseThresholds, names: tuple[str, str]
) -> np.ndarray:
    tr = np.asarray(rr_train, dtype=float)
    bad = ~((tr >= 0.0) & (tr <= 1.0))  # nan counts as bad
    if bad.any():
        raise ValueError(
            f"column {names[0]!r} must hold redundancy ratios in [0, 1]; got "
            f"{tr[bad][:5].tolist()} at row position(s) {np.flatnonzero(bad)[:5].tolist()}"
        )
    under = tr >= t.rr_under
    suff = tr <= t.rr_sufficient
    if rr_test is not None:
        te = np.asarray(rr_test, dtype=float)
        known = ~np.isnan(te)  # a missing test RR leaves only the train conditions
        bad = known & ~((te >= 0.0) & (te <= 1.0))
        if bad.any():
            raise ValueError(
                f"column {names[1]!r} must hold redundancy ratios in [0, 1] (or NaN for "
                f"unknown); got {te[bad][:5].tolist()} at row position(s) "
                f"{np.flatnonzero(bad)[:5].tolist()}"
            )
        under |= known & (te >= t.rr_test_under)
        suff &= ~known | (te <= t.rr_test_sufficient)
    out = np.full(tr.shape, CRITICAL, dtype=object)
    out[suff] = SUFFICIENT
    out[under] = UNDER  # under wins; it cannot overlap suff on train, only through test
    return out


def phase_regimes(
    df: pd.DataFrame,
    *,
    rr_train: str = "rr_train",
    rr_test: str | None = "rr_test",
    thresholds: PhaseThresholds = PhaseThresholds(),  # noqa: B008
    column: str = "regime",
) -> pd.DataFrame:
    """A copy of a tidy frame with a ``regime`` column, one regime per row.

    Args:
        df: one row per (setting, run) or per aggregated cell, with RR columns.
        rr_train, rr_test: names of the train and test RR columns; ``rr_test=None`` applies the
            train conditions only. A NaN test RR does the same for its row.
        thresholds: :class:`PhaseThresholds`.
        column: name of the added column (strings from :data:`REGIMES`).
    """
    _require(df, [rr_train] + ([rr_test] if rr_test else []), "phase_regimes")
    out = df.copy()
    out[column] = _regimes_array(
        df[rr_train].to_numpy(dtype=float),
        None if rr_test is None else df[rr_test].to_numpy(dtype=float),
        thresholds,
        (rr_train, rr_test or ""),
    )
    return out


def _cells(
    df: pd.DataFrame,
    x: str,
    y: str,
    by: Sequence[str],
    rr_train: str,
    rr_test: str | None,
    agg: Literal["mean", "median"] | None,
) -> pd.DataFrame:
    """One row per (by, y, x) cell, RR aggregated over repeats."""
    keys = [*by, y, x]
    rr_cols = [rr_train] + ([rr_test] if rr_test else [])
    _require(df, keys + rr_cols, "regime_boundaries")
    if len(set(keys)) != len(keys):
        raise ValueError(f"x, y and by must name distinct columns; got {keys}")
    if agg is None:
        dup = df.duplicated(keys, keep=False)
        if dup.any():
            first = df.loc[dup, keys].iloc[0].to_dict()
            raise ValueError(
                f"{int(dup.sum())} rows share their ({', '.join(keys)}) cell, e.g. {first}; "
                "pass agg='mean' or agg='median' to aggregate repeats"
            )
        return df[keys + rr_cols].reset_index(drop=True)
    if agg not in ("mean", "median"):
        raise ValueError(f"agg must be 'mean', 'median' or None; got {agg!r}")
    return df.groupby(keys, as_index=False, sort=True)[rr_cols].agg(agg)


def regime_boundaries(
    df: pd.DataFrame,
    x: str,
    y: str,
    *,
    by: Sequence[str] = (),
    rr_train: str = "rr_train",
    rr_test: str | None = "rr_test",
    thresholds: PhaseThresholds = PhaseThresholds(),  # noqa: B008
    agg: Literal["mean", "median"] | None = "mean",
) -> pd.DataFrame:
    """Where each row of a phase-chart grid first enters each regime, scanning x upwards.

    The grid has ``x`` (e.g. ``width``) across and ``y`` (e.g. ``epoch`` or ``n_train``) down;
    ``by`` names further grouping columns (e.g. ``dataset``). Repeats of a cell are aggregated
    with ``agg`` before the rule is applied (the paper's figures show means of 10 runs).

    Returns a tidy frame, one row per (by, y, regime), columns:

    - ``x_enter``: the smallest x whose cell is in the regime (NaN if none is);
    - ``x_before``: the grid x just below ``x_enter`` (NaN if ``x_enter`` is the first x or
      NaN): the boundary lies between ``x_before`` and ``x_enter``, e.g. at their geometric
      mean on a log axis;
    - ``monotone``: whether the row's regime sequence along x never steps back to a less
      expressive regime. Where it does (noise near a threshold), "first entry" is still
      well defined, but a chart should not draw the row as one clean boundary.
    """
    cells = _cells(df, x, y, by, rr_train, rr_test, agg)
    cells["regime"] = _regimes_array(
        cells[rr_train].to_numpy(dtype=float),
        None if rr_test is None else cells[rr_test].to_numpy(dtype=float),
        thresholds,
        (rr_train, rr_test or ""),
    )
    rows: list[dict[str, object]] = []
    group_keys = [*by, y]
    for key, g in cells.groupby(group_keys, sort=True):
        g = g.sort_values(x, kind="stable")
        xs = g[x].to_numpy()
        reg = g["regime"].to_numpy()
        ranks = np.array([_RANK[r] for r in reg])
        monotone = bool((np.diff(ranks) >= 0).all())
        key_t = key if isinstance(key, tuple) else (key,)
        for regime in REGIMES:
            hit = np.flatnonzero(reg == regime)
            if hit.size:
                i = int(hit[0])
                x_enter: object = xs[i]
                x_before: object = xs[i - 1] if i > 0 else math.nan
            else:
                x_enter = x_before = math.nan
            rows.append(
                {**dict(zip(group_keys, key_t, strict=True)), "regime": regime,
                 "x_enter": x_enter, "x_before": x_before, "monotone": monotone}
            )
    out = pd.DataFrame(rows, columns=[*group_keys, "regime", "x_enter", "x_before", "monotone"])
    for col in ("x_enter", "x_before"):
        out[col] = pd.to_numeric(out[col])
    return out


def threshold_sensitivity(
    df: pd.DataFrame,
    x: str,
    y: str,
    *,
    by: Sequence[str] = (),
    rr_train: str = "rr_train",
    rr_test: str | None = "rr_test",
    thresholds: PhaseThresholds = PhaseThresholds(),  # noqa: B008
    scales: Sequence[float] = (0.5, 1.0, 2.0),
    vary: Sequence[Literal["under", "sufficient", "both"]] = ("under", "sufficient"),
    agg: Literal["mean", "median"] | None = "mean",
) -> pd.DataFrame:
    """How the regime boundaries move when thresholds are scaled.

    For each ``vary`` in ``("under", "sufficient", "both")`` and each scale, the named
    thresholds (both train and test values) are multiplied by the scale, the others kept, and
    :func:`regime_boundaries` is recomputed. Returns its frame with ``vary``, ``scale`` and the
    four threshold values used prepended: one tidy frame to chart (e.g. ``x_enter`` against
    ``y``, colour = scale, facet = vary x regime).

    Expected direction on a grid where RR falls as x grows: a larger "sufficient" scale makes
    the sufficiently-expressive regime easier to reach, so its ``x_enter`` can only move to
    smaller x; a larger "under" scale shrinks the under-expressive regime, so the critically-
    expressive ``x_enter`` can only move to smaller x as well.
    """
    if not len(scales):
        raise ValueError("scales must hold at least one number")
    for v in vary:
        if v not in ("under", "sufficient", "both"):
            raise ValueError(f"vary entries must be 'under', 'sufficient' or 'both'; got {v!r}")
    frames = []
    for v in vary:
        for s in scales:
            t = thresholds.scaled(
                under=s if v in ("under", "both") else 1.0,
                sufficient=s if v in ("sufficient", "both") else 1.0,
            )
            b = regime_boundaries(
                df, x, y, by=by, rr_train=rr_train, rr_test=rr_test, thresholds=t, agg=agg
            )
            head = pd.DataFrame(
                {"vary": v, "scale": float(s), "rr_under": t.rr_under,
                 "rr_sufficient": t.rr_sufficient, "rr_test_under": t.rr_test_under,
                 "rr_test_sufficient": t.rr_test_sufficient},
                index=b.index,
            )
            frames.append(pd.concat([head, b], axis=1))
    return pd.concat(frames, ignore_index=True)


#: The two boundaries of the chart, named by the regimes they separate, and the rank (index in
#: :data:`REGIMES`) a cell must reach to lie beyond each.
BOUNDARIES: dict[str, int] = {f"{UNDER} | {CRITICAL}": 1, f"{CRITICAL} | {SUFFICIENT}": 2}


def boundary_positions(
    cells: pd.DataFrame, x: str, y: str, *, by: Sequence[str] = (), column: str = "regime"
) -> pd.DataFrame:
    """Where each boundary of the chart lies on the ``x`` grid, for every row ``y``.

    ``cells`` holds one row per (by, y, x) cell with a regime column (:func:`phase_regimes`).
    A boundary (:data:`BOUNDARIES`) lies before the first x, scanning upwards, whose regime is
    at least as expressive as the regime above the boundary. Returns one row per (by, y,
    boundary): ``x_boundary`` (that first x; NaN when no x of the row reaches it) and
    ``position`` (its index in the sorted x values of the whole ``by`` group: 0 = the smallest
    x is already beyond the boundary, ``len(grid)`` = no x of the row is), so that positions of
    different rows compare on one grid.

    >>> cells = pd.DataFrame({"width": [10, 20, 40, 10, 20, 40], "epoch": [1, 1, 1, 9, 9, 9],
    ...                       "regime": [UNDER, CRITICAL, CRITICAL, CRITICAL, CRITICAL,
    ...                                  SUFFICIENT]})
    >>> boundary_positions(cells, "width", "epoch")["position"].tolist()
    [1, 3, 0, 2]
    """
    _require(cells, [*by, x, y, column], "boundary_positions")
    unknown = sorted(set(cells[column]) - set(REGIMES))
    if unknown:
        raise ValueError(f"column {column!r} must hold regimes {REGIMES}; got {unknown}")
    rows: list[dict[str, object]] = []
    groups = cells.groupby(list(by), sort=True) if by else [((), cells)]
    for key, g in groups:
        key_t = key if isinstance(key, tuple) else (key,)
        grid = sorted(g[x].unique())
        index = {v: i for i, v in enumerate(grid)}
        for yv, row in g.groupby(y, sort=True):
            row = row.sort_values(x, kind="stable")
            ranks = row[column].map(_RANK).to_numpy()
            xs = row[x].to_numpy()
            for name, rank in BOUNDARIES.items():
                hit = np.flatnonzero(ranks >= rank)
                x_b = xs[hit[0]] if hit.size else math.nan
                pos = index[x_b] if hit.size else len(grid)
                rows.append({**dict(zip(by, key_t, strict=True)), y: yv, "boundary": name,
                             "x_boundary": x_b, "position": int(pos)})
    out = pd.DataFrame(rows, columns=[*by, y, "boundary", "x_boundary", "position"])
    out["x_boundary"] = pd.to_numeric(out["x_boundary"])
    return out
