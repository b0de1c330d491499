"""Label noise: exact rates, conventions, reproducibility, and the original helper's semantics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hashlib_nn.noise import (
    effective_noise_rate,
    expected_effective_rate,
    original_label_noise,
    original_row_order,
    per_model_labels,
    symmetric_label_noise,
)

C = 10


def balanced(n: int, dtype: type = np.int64, seed: int = 0) -> np.ndarray:
    """n labels, each class n/C times, in random order."""
    return np.random.default_rng(seed).permutation(np.arange(n) % C).astype(dtype)


# --------------------------------------------------------------------------- ratio 0


@pytest.mark.parametrize("mode", ["uniform_other", "uniform_any"])
@pytest.mark.parametrize("dtype", [np.int64, np.uint8, np.int32])
def test_ratio_zero_returns_identical_labels(mode: str, dtype: type) -> None:
    y = balanced(1000, dtype)
    out = symmetric_label_noise(y, 0.0, C, seed=3, mode=mode)  # type: ignore[arg-type]
    assert np.array_equal(out.y_noisy, y)
    assert out.y_noisy.dtype == y.dtype
    assert out.y_noisy is not y  # a copy: training cannot alias the clean labels
    assert out.effective_ratio == 0.0 and not out.corrupted_mask.any()
    assert np.array_equal(original_label_noise(y, 0.0, C, seed=3).y_noisy, y)


@pytest.mark.parametrize("dtype", [np.int64, np.uint8])
def test_dtype_kept_with_noise(dtype: type) -> None:
    y = balanced(500, dtype)
    assert symmetric_label_noise(y, 0.4, C, seed=0).y_noisy.dtype == dtype
    assert original_label_noise(y, 0.4, C, seed=0).y_noisy.dtype == dtype


# --------------------------------------------------------------------------- uniform_other


@pytest.mark.parametrize("ratio", [0.01, 0.2, 0.5, 0.8, 1.0])
def test_uniform_other_effective_equals_nominal(ratio: float) -> None:
    y = balanced(10_000)
    out = symmetric_label_noise(y, ratio, C, seed=1, mode="uniform_other")
    assert out.n_corrupted == round(ratio * 10_000)
    assert out.effective_ratio == ratio  # N * ratio is an integer here
    assert effective_noise_rate(y, out.y_noisy) == ratio
    # Every selected label became wrong; nothing else changed.
    np.testing.assert_array_equal(out.corrupted_mask, out.selected_mask)
    assert (out.y_noisy[out.corrupted_mask] != y[out.corrupted_mask]).all()
    np.testing.assert_array_equal(out.y_noisy[~out.selected_mask], y[~out.selected_mask])
    assert out.y_noisy.min() >= 0 and out.y_noisy.max() < C


def test_uniform_other_new_labels_are_uniform_over_other_classes() -> None:
    # All clean labels 0 -> new labels should be uniform over 1..9 (chi-square at 1e-4 level).
    y = np.zeros(90_000, dtype=np.int64)
    out = symmetric_label_noise(y, 1.0, C, seed=5)
    counts = np.bincount(out.y_noisy, minlength=C)
    assert counts[0] == 0
    expected = 90_000 / 9
    chi2 = float(((counts[1:] - expected) ** 2 / expected).sum())
    assert chi2 < 33.7  # chi-square, 8 dof, p = 1e-4


def test_rounding_of_selected_count() -> None:
    y = balanced(100)
    # 0.29 * 100 = 28.999999999999996: round, not truncate.
    assert symmetric_label_noise(y, 0.29, C, seed=0).n_selected == 29
    # The original truncates.
    assert original_label_noise(y, 0.29, C, seed=0).n_selected == 28


# --------------------------------------------------------------------------- uniform_any


def test_uniform_any_effective_rate_binomial() -> None:
    n, ratio = 100_000, 0.3
    y = balanced(n)
    out = symmetric_label_noise(y, ratio, C, seed=2, mode="uniform_any")
    k = round(ratio * n)
    assert out.n_selected == k
    p = 1 - 1 / C
    # Wrong labels ~ Binomial(k, 1 - 1/C): 5 standard deviations, as a rate.
    tol = 5 * math.sqrt(k * p * (1 - p)) / n
    assert abs(out.effective_ratio - ratio * p) < tol
    assert out.effective_ratio == pytest.approx(expected_effective_rate(y, ratio, C,
                                                                        mode="uniform_any"),
                                                abs=tol)
    # Some redrawn labels landed on their clean class; unselected ones never change.
    assert out.n_selected > out.n_corrupted
    assert not (out.corrupted_mask & ~out.selected_mask).any()


# --------------------------------------------------------------------------- seeds


@pytest.mark.parametrize("mode", ["uniform_other", "uniform_any"])
def test_seeded_reproducibility_and_sensitivity(mode: str) -> None:
    y = balanced(5000)
    a = symmetric_label_noise(y, 0.3, C, seed=11, mode=mode)  # type: ignore[arg-type]
    b = symmetric_label_noise(y, 0.3, C, seed=11, mode=mode)  # type: ignore[arg-type]
    c = symmetric_label_noise(y, 0.3, C, seed=12, mode=mode)  # type: ignore[arg-type]
    np.testing.assert_array_equal(a.y_noisy, b.y_noisy)
    assert not np.array_equal(a.selected_mask, c.selected_mask)
    assert not np.array_equal(a.y_noisy, c.y_noisy)
    o1, o2 = original_label_noise(y, 0.3, C, seed=4), original_label_noise(y, 0.3, C, seed=4)
    np.testing.assert_array_equal(o1.y_noisy, o2.y_noisy)
    assert not np.array_equal(o1.y_noisy, original_label_noise(y, 0.3, C, seed=5).y_noisy)


def test_seed_stream_is_keyed_away_from_plain_seed() -> None:
    # Passing the training seed must not reuse default_rng(seed)'s stream.
    y = balanced(1000)
    out = symmetric_label_noise(y, 0.5, C, seed=0)
    plain_first = np.random.default_rng(0).permutation(1000)[:500]
    assert not np.array_equal(np.sort(plain_first), np.flatnonzero(out.selected_mask))


def test_noise_levels_are_nested() -> None:
    y = balanced(2000)
    low = symmetric_label_noise(y, 0.2, C, seed=9)
    high = symmetric_label_noise(y, 0.6, C, seed=9)
    assert not (low.selected_mask & ~high.selected_mask).any()
    m = low.selected_mask
    np.testing.assert_array_equal(low.y_noisy[m], high.y_noisy[m])


def test_per_model_labels_rows_equal_single_runs() -> None:
    y = balanced(300, np.uint8)
    rows = per_model_labels(y, 0.25, C, seeds=[0, 1, 2])
    assert rows.shape == (3, 300) and rows.dtype == np.uint8
    for i, s in enumerate([0, 1, 2]):
        np.testing.assert_array_equal(rows[i], symmetric_label_noise(y, 0.25, C, seed=s).y_noisy)
    with pytest.raises(ValueError, match=r"seeds must be a non-empty sequence of integers; got 3"):
        per_model_labels(y, 0.25, C, seeds=3)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the original


@pytest.mark.parametrize("ratio", [0.1, 0.37, 1.0])
def test_original_touches_only_the_first_block(ratio: float) -> None:
    n = 5000
    y = balanced(n)
    out = original_label_noise(y, ratio, C, seed=0)
    k = int(ratio * n)
    np.testing.assert_array_equal(out.y_noisy[k:], y[k:])
    # A permutation within the block: the multiset of labels is preserved.
    np.testing.assert_array_equal(np.sort(out.y_noisy[:k]), np.sort(y[:k]))
    np.testing.assert_array_equal(out.selected_mask, np.arange(n) < k)
    assert not out.corrupted_mask[k:].any()


def test_original_effective_rate_is_about_ratio_times_one_minus_one_over_c() -> None:
    n, ratio = 100_000, 0.4
    y = balanced(n)
    k = int(ratio * n)
    exact = expected_effective_rate(y, ratio, C, mode="original")
    assert exact == pytest.approx(ratio * (1 - 1 / C), abs=2e-3)  # balanced labels
    out = original_label_noise(y, ratio, C, seed=1)
    # Fixed points of a label permutation: binomial-like spread, 5 sigma (Bernoulli bound).
    p = 1 - 1 / C
    tol = 5 * math.sqrt(k * p * (1 - p)) / n
    assert abs(out.effective_ratio - exact) < tol
    assert out.effective_ratio < ratio  # unlike uniform_other, about 1/C stay correct


def test_original_expected_rate_matches_simulation_on_skewed_block() -> None:
    # Skewed classes in the block: E[rate] = (k/N)(1 - sum p_c^2), checked by simulation.
    rng = np.random.default_rng(0)
    y = rng.choice(3, size=400, p=[0.7, 0.2, 0.1])
    exact = expected_effective_rate(y, 0.5, 3, mode="original")
    sims = [original_label_noise(y, 0.5, 3, seed=s).effective_ratio for s in range(400)]
    se = float(np.std(sims)) / math.sqrt(len(sims))
    assert abs(float(np.mean(sims)) - exact) < 5 * se


def test_original_row_order() -> None:
    np.testing.assert_array_equal(original_row_order(10, 0.3), [3, 4, 5, 6, 7, 8, 9, 0, 1, 2])
    np.testing.assert_array_equal(original_row_order(5, 0.0), np.arange(5))
    np.testing.assert_array_equal(original_row_order(4, 1.0), np.arange(4))


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("ratio", "message"),
    [
        (-0.1, "ratio must be in [0, 1]; got -0.1"),
        (1.5, "ratio must be in [0, 1]; got 1.5"),
        (float("nan"), "ratio must be in [0, 1]; got nan"),
        ("0.3", "ratio must be a real number in [0, 1]; got '0.3' of type str"),
        (True, "ratio must be a real number in [0, 1]; got True of type bool"),
    ],
)
@pytest.mark.parametrize("fn", ["symmetric", "original"])
def test_bad_ratio_messages(ratio: object, message: str, fn: str) -> None:
    y = balanced(100)
    with pytest.raises(ValueError) as info:
        if fn == "symmetric":
            symmetric_label_noise(y, ratio, C, seed=0)  # type: ignore[arg-type]
        else:
            original_label_noise(y, ratio, C, seed=0)  # type: ignore[arg-type]
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"y": np.array([0, 1, 10])},
         "y labels must lie in [0, n_classes=10); got values in [0, 10]"),
        ({"y": np.array([0.0, 1.0])}, "y must hold integer class labels; got dtype float64"),
        ({"y": np.eye(10, dtype=np.int64)},
         "y must be a 1-D array of integer class labels (N,); got shape (10, 10) "
         "(one-hot labels? pass y.argmax(1))"),
        ({"y": np.array([], dtype=np.int64)}, "y holds no labels"),
        ({"n_classes": 1}, "n_classes must be an integer >= 2; got 1"),
        ({"seed": -1}, "seed must be a non-negative integer; got -1"),
        ({"seed": None}, "seed must be a non-negative integer; got None"),
        ({"mode": "flip"}, "mode must be 'uniform_other' or 'uniform_any'; got 'flip'"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    args: dict = {"y": balanced(100), "ratio": 0.2, "n_classes": C, "seed": 0} | kwargs
    with pytest.raises(ValueError) as info:
        symmetric_label_noise(**args)
    assert str(info.value) == message


def test_effective_noise_rate() -> None:
    assert effective_noise_rate([0, 1, 2, 3], [0, 1, 3, 3]) == 0.25
    assert effective_noise_rate(np.zeros(4, np.uint8), np.zeros(4, np.int64)) == 0.0
    with pytest.raises(ValueError, match=r"same shape; got \(3,\) and \(2,\)"):
        effective_noise_rate([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match="y_noisy must hold integer class labels; got dtype float"):
        effective_noise_rate([0, 1], np.array([0.0, 1.0]))


def test_original_does_not_mutate_the_callers_labels() -> None:
    # The original permuted the caller's array in place (views); ours must not.
    y = balanced(200)
    before = y.copy()
    original_label_noise(y, 0.5, C, seed=0)
    symmetric_label_noise(y, 0.5, C, seed=0)
    np.testing.assert_array_equal(y, before)
