"""Phase-chart regime rules: thresholds on both sides, boundaries vs a brute-force scan,
threshold sensitivity in the expected direction, and error messages."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from hashlib_nn.phase import (
    BOUNDARIES,
    CRITICAL,
    REGIMES,
    SUFFICIENT,
    UNDER,
    PhaseThresholds,
    boundary_positions,
    phase_regime,
    phase_regimes,
    regime_boundaries,
    threshold_sensitivity,
)

T = PhaseThresholds()
EPS = 1e-9

# --------------------------------------------------------------------------- single points


@pytest.mark.parametrize(
    ("rr_train", "rr_test", "expected"),
    [
        # rr_under on train, test unknown
        (T.rr_under, None, UNDER),
        (T.rr_under - EPS, None, CRITICAL),
        (1.0, None, UNDER),
        # rr_sufficient on train, test unknown
        (T.rr_sufficient, None, SUFFICIENT),
        (T.rr_sufficient + EPS, None, CRITICAL),
        (0.0, None, SUFFICIENT),
        # rr_test_under, train in the critical band and in the sufficient band
        (0.1, T.rr_test_under, UNDER),
        (0.1, T.rr_test_under - EPS, CRITICAL),
        (0.0, T.rr_test_under, UNDER),
        # rr_test_sufficient, train sufficient
        (0.0, T.rr_test_sufficient, SUFFICIENT),
        (0.0, T.rr_test_sufficient + EPS, CRITICAL),
        (T.rr_sufficient, 0.0, SUFFICIENT),
        (T.rr_sufficient + EPS, 0.0, CRITICAL),
        # train decides "under" whatever the test RR
        (T.rr_under, 0.0, UNDER),
    ],
)
def test_each_side_of_each_threshold(rr_train: float, rr_test: float | None,
                                     expected: str) -> None:
    assert phase_regime(rr_train, rr_test) == expected
    frame = pd.DataFrame({"rr_train": [rr_train],
                          "rr_test": [math.nan if rr_test is None else rr_test]})
    assert phase_regimes(frame)["regime"].iloc[0] == expected


def test_custom_thresholds_are_used() -> None:
    t = PhaseThresholds(rr_under=0.2, rr_sufficient=0.1, rr_test_under=0.9,
                        rr_test_sufficient=0.3)
    assert phase_regime(0.2, thresholds=t) == UNDER
    assert phase_regime(0.15, thresholds=t) == CRITICAL
    assert phase_regime(0.1, 0.3, thresholds=t) == SUFFICIENT
    assert phase_regime(0.1, 0.31, thresholds=t) == CRITICAL


def test_vectorized_matches_scalar_on_random_points() -> None:
    rng = np.random.default_rng(0)
    # Values concentrated near the thresholds, plus some NaN test RRs.
    grid = np.r_[0.0, 0.005, 0.01, 0.02, 0.05, 0.06, 0.3, 0.5, 0.51, 1.0]
    df = pd.DataFrame({"tr": rng.choice(grid, 300), "te": rng.choice(grid, 300)})
    df.loc[::7, "te"] = math.nan
    got = phase_regimes(df, rr_train="tr", rr_test="te", column="phase")
    want = [phase_regime(a, None if math.isnan(b) else b) for a, b in zip(df.tr, df.te,
                                                                         strict=True)]
    assert got["phase"].tolist() == want
    assert "phase" not in df.columns  # the input is not modified
    train_only = phase_regimes(df, rr_train="tr", rr_test=None)
    assert train_only["regime"].tolist() == [phase_regime(a) for a in df.tr]


# --------------------------------------------------------------------------- boundaries


def synthetic_grid(seed: int = 0, repeats: int = 1) -> pd.DataFrame:
    """RR falling in width and in epoch (a monotone grid), with repeats."""
    rng = np.random.default_rng(seed)
    widths = [3, 5, 10, 20, 30, 40, 60, 80, 100]
    epochs = [0, 1, 3, 10, 30, 100, 200]
    rows = []
    for w, e in itertools.product(widths, epochs):
        base = math.exp(-(w / 25) * (1 + math.log1p(e)) / 2)
        for r in range(repeats):
            jitter = 1 + 0.02 * rng.standard_normal() if repeats > 1 else 1.0
            rr_tr = min(1.0, base * jitter)
            rows.append({"width": w, "epoch": e, "run": r, "rr_train": rr_tr,
                         "rr_test": min(1.0, 1.3 * rr_tr)})
    return pd.DataFrame(rows)


def brute_force(df: pd.DataFrame, x: str, y: str, t: PhaseThresholds) -> dict:
    cells = df.groupby([y, x], as_index=False)[["rr_train", "rr_test"]].mean()
    out = {}
    for yv in sorted(cells[y].unique()):
        row = cells[cells[y] == yv].sort_values(x)
        for regime in REGIMES:
            found = (math.nan, math.nan)
            prev = math.nan
            for _, c in row.iterrows():
                if phase_regime(c.rr_train, c.rr_test, t) == regime:
                    found = (c[x], prev)
                    break
                prev = c[x]
            out[(yv, regime)] = found
    return out


@pytest.mark.parametrize("repeats", [1, 3])
@pytest.mark.parametrize("t", [PhaseThresholds(), PhaseThresholds(rr_under=0.3,
                                                                 rr_sufficient=0.05)])
def test_boundaries_equal_brute_force_scan(repeats: int, t: PhaseThresholds) -> None:
    df = synthetic_grid(repeats=repeats).sample(frac=1.0, random_state=0)  # order must not matter
    b = regime_boundaries(df, "width", "epoch", thresholds=t)
    want = brute_force(df, "width", "epoch", t)
    assert len(b) == len(want)
    for r in b.itertuples():
        we, wb = want[(r.epoch, r.regime)]
        assert (math.isnan(we) and math.isnan(r.x_enter)) or we == r.x_enter
        assert (math.isnan(wb) and math.isnan(r.x_before)) or wb == r.x_before
    assert b["monotone"].all()
    # The monotone grid really shows all three regimes somewhere.
    assert set(b.dropna(subset=["x_enter"]).regime) == set(REGIMES)


def test_boundaries_by_group_and_non_monotone_flag() -> None:
    df = pd.DataFrame({
        "dataset": ["a"] * 4 + ["b"] * 4,
        "n": [100] * 8,
        "width": [10, 20, 30, 40] * 2,
        "rr_train": [0.9, 0.2, 0.0, 0.0, 0.9, 0.0, 0.2, 0.0],
        "rr_test": [0.9, 0.2, 0.0, 0.0, 0.9, 0.0, 0.2, 0.0],
    })
    b = regime_boundaries(df, "width", "n", by=["dataset"]).set_index(["dataset", "regime"])
    assert b.loc[("a", CRITICAL), "x_enter"] == 20 and b.loc[("a", CRITICAL), "x_before"] == 10
    assert b.loc[("a", SUFFICIENT), "x_enter"] == 30
    assert math.isnan(b.loc[("a", UNDER), "x_before"])
    assert b.loc[("a", UNDER), "monotone"]
    # b: sufficient at 20, back to critical at 30 -> first entries, flagged non-monotone.
    assert b.loc[("b", SUFFICIENT), "x_enter"] == 20
    assert b.loc[("b", CRITICAL), "x_enter"] == 30
    assert not b.loc[("b", SUFFICIENT), "monotone"]


def test_regime_never_reached_gives_nan() -> None:
    df = pd.DataFrame({"width": [1, 2], "epoch": [0, 0], "rr_train": [0.9, 0.8],
                       "rr_test": [0.9, 0.8]})
    b = regime_boundaries(df, "width", "epoch").set_index("regime")
    assert b.loc[UNDER, "x_enter"] == 1
    assert b[["x_enter", "x_before"]].loc[[CRITICAL, SUFFICIENT]].isna().all().all()


def test_duplicates_need_agg() -> None:
    df = synthetic_grid(repeats=2)
    with pytest.raises(ValueError, match=r"rows share their \(epoch, width\) cell.*agg='mean'"):
        regime_boundaries(df, "width", "epoch", agg=None)
    med = regime_boundaries(df, "width", "epoch", agg="median")
    assert len(med) == 7 * 3


# --------------------------------------------------------------------------- sensitivity


def test_sensitivity_moves_boundaries_in_expected_direction() -> None:
    df = synthetic_grid()
    s = threshold_sensitivity(df, "width", "epoch", scales=(0.25, 0.5, 1, 1.5, 2),
                              vary=("under", "sufficient", "both"))
    assert set(s.columns) >= {"vary", "scale", "rr_under", "rr_sufficient", "rr_test_under",
                              "rr_test_sufficient", "epoch", "regime", "x_enter"}
    base = regime_boundaries(df, "width", "epoch")
    one = s[(s.vary == "under") & (s.scale == 1.0)].drop(
        columns=["vary", "scale", "rr_under", "rr_sufficient", "rr_test_under",
                 "rr_test_sufficient"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(one, base)

    def x_at(vary: str, regime: str) -> pd.DataFrame:
        sub = s[(s.vary == vary) & (s.regime == regime)]
        # Never reached -> a large x, so "moves left" comparisons stay meaningful.
        return sub.pivot(index="epoch", columns="scale", values="x_enter").fillna(1e9)

    # Larger sufficient thresholds: sufficiently-expressive entered at smaller (or equal) x.
    suff = x_at("sufficient", SUFFICIENT).to_numpy()
    assert (np.diff(suff, axis=1) <= 0).all()
    # Larger under thresholds: leaving under-expressive (entering critical) at smaller x.
    crit = x_at("under", CRITICAL).to_numpy()
    assert (np.diff(crit, axis=1) <= 0).all()
    # And the scales actually move something on this grid.
    assert (suff[:, 0] > suff[:, -1]).any() and (crit[:, 0] > crit[:, -1]).any()
    # Thresholds reported are the scaled ones.
    row = s[(s.vary == "both") & (s.scale == 0.5)].iloc[0]
    assert (row.rr_under, row.rr_sufficient) == (0.25, 0.005)


def test_sensitivity_rejects_invalid_scales() -> None:
    df = synthetic_grid()
    with pytest.raises(ValueError, match=r"scaling under by 3 and sufficient by 1.0 gives invalid "
                                         r"thresholds: rr_under must be in \[0, 1\]; got "
                                         r"rr_under=1.5"):
        threshold_sensitivity(df, "width", "epoch", scales=(3,), vary=("under",))
    with pytest.raises(ValueError, match="vary entries must be"):
        threshold_sensitivity(df, "width", "epoch", vary=("all",))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((1.2,), "rr_train must be in [0, 1] (a redundancy ratio); got 1.2"),
        ((-0.1,), "rr_train must be in [0, 1] (a redundancy ratio); got -0.1"),
        ((0.1, 1.5), "rr_test must be in [0, 1] (a redundancy ratio); got 1.5"),
        ((0.1, float("nan")), "rr_test must be in [0, 1] (a redundancy ratio); got nan"),
        (("0.1",), "rr_train must be a number in [0, 1]; got '0.1' of type str"),
    ],
)
def test_rr_out_of_range(args: tuple, message: str) -> None:
    with pytest.raises(ValueError) as info:
        phase_regime(*args)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rr_sufficient": 0.5}, "rr_sufficient must be below rr_under (the critically-expressive "
                                 "band lies between them); got rr_sufficient=0.5, rr_under=0.5"),
        ({"rr_test_sufficient": 0.6}, "rr_test_sufficient must be below rr_test_under (the "
                                      "critically-expressive band lies between them); got "
                                      "rr_test_sufficient=0.6, rr_test_under=0.5"),
        ({"rr_under": 1.1}, "rr_under must be in [0, 1]; got rr_under=1.1"),
        ({"rr_sufficient": -0.01}, "rr_sufficient must be in [0, 1]; got rr_sufficient=-0.01"),
        ({"rr_under": "0.5"}, "rr_under must be a number in [0, 1]; got '0.5' of type str"),
    ],
)
def test_inconsistent_thresholds(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError) as info:
        PhaseThresholds(**kwargs)
    assert str(info.value) == message


def test_missing_and_bad_columns() -> None:
    df = pd.DataFrame({"width": [1], "rr": [0.2]})
    with pytest.raises(ValueError) as info:
        phase_regimes(df)
    assert str(info.value) == ("phase_regimes needs column(s) ['rr_train', 'rr_test']; "
                               "the frame has ['width', 'rr']")
    with pytest.raises(ValueError, match=r"regime_boundaries needs column\(s\) \['epoch'\]"):
        regime_boundaries(df, "width", "epoch", rr_train="rr", rr_test=None)
    bad = pd.DataFrame({"rr_train": [0.1, 1.3, math.nan], "rr_test": [0.0, 0.0, 0.0]})
    with pytest.raises(ValueError) as info:
        phase_regimes(bad)
    assert str(info.value) == ("column 'rr_train' must hold redundancy ratios in [0, 1]; "
                               "got [1.3, nan] at row position(s) [1, 2]")
    with pytest.raises(ValueError, match=r"column 'rr_test' must hold .* got \[-0.5\]"):
        phase_regimes(pd.DataFrame({"rr_train": [0.1], "rr_test": [-0.5]}))


def test_default_rules_on_the_paper_mnist_model_size_figure() -> None:
    """The module docstring's reading of the digitized figure (paper_figures.csv, MNIST model
    size, mean RR of 10 runs): under up to width 20, critical 27-60, sufficient from 70."""
    rr = {  # width: (train RR, test RR)
        3: (1.00, 1.00), 10: (0.99, 0.96), 15: (0.94, 0.84), 20: (0.77, 0.53),
        27: (0.40, 0.20), 30: (0.28, 0.13), 33: (0.20, 0.09), 40: (0.10, 0.04),
        50: (0.05, 0.02), 60: (0.02, 0.01), 70: (0.01, None), 100: (0.00, 0.00),
    }
    got = {w: phase_regime(tr, te) for w, (tr, te) in rr.items()}
    assert [w for w, r in got.items() if r == UNDER] == [3, 10, 15, 20]
    assert [w for w, r in got.items() if r == CRITICAL] == [27, 30, 33, 40, 50, 60]
    assert [w for w, r in got.items() if r == SUFFICIENT] == [70, 100]


@pytest.mark.parametrize("seed", range(6))
def test_boundary_positions_against_a_brute_force_scan(seed: int) -> None:
    """Random regime grids: each boundary's position is the index of the first width whose
    regime is at least the boundary's upper regime (len(grid) when none is), found by scanning
    every width of every row by hand."""
    rng = np.random.default_rng(seed)
    widths, epochs = [5, 10, 20, 40, 80], [0, 1, 10]
    rows = [{"dataset": ds, "width": w, "epoch": e, "regime": REGIMES[rng.integers(3)]}
            for ds in ("a", "b") for e in epochs for w in widths]  # fmt: skip
    cells = pd.DataFrame(rows).sample(frac=1.0, random_state=seed)  # any row order
    got = boundary_positions(cells, "width", "epoch", by=["dataset"])
    assert len(got) == 2 * len(epochs) * len(BOUNDARIES)
    for (ds, e), g in pd.DataFrame(rows).groupby(["dataset", "epoch"]):
        ranks = [REGIMES.index(r) for r in g.sort_values("width")["regime"]]
        for name, rank in BOUNDARIES.items():
            expect = next((i for i, r in enumerate(ranks) if r >= rank), len(widths))
            row = got[(got.dataset == ds) & (got.epoch == e) & (got.boundary == name)].iloc[0]
            assert row.position == expect
            if expect == len(widths):
                assert math.isnan(row.x_boundary)
            else:
                assert row.x_boundary == widths[expect]


def test_boundary_positions_errors() -> None:
    cells = pd.DataFrame({"width": [1, 2], "epoch": 0, "regime": [UNDER, "hashing"]})
    with pytest.raises(ValueError, match=r"must hold regimes .* got \['hashing'\]"):
        boundary_positions(cells, "width", "epoch")
    with pytest.raises(ValueError, match=r"boundary_positions needs column\(s\) \['n_train'\]"):
        boundary_positions(cells, "width", "n_train")
