"""Hashing-view metrics against brute-force loops and a hand-built collision case."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from hashlib_nn.codes import NeuralCodes
from hashlib_nn.hashing import (
    code_length,
    collision_anatomy,
    mean_average_precision,
    precision_at_radius,
)


def random_codes(n: int, n_bits: int, seed: int, n_classes: int = 3):
    rng = np.random.default_rng(seed)
    return NeuralCodes.from_bits(rng.integers(0, 2, size=(n, n_bits))), rng.integers(
        0, n_classes, size=n
    )


def distances(train: NeuralCodes, query: NeuralCodes) -> np.ndarray:
    return (query.unpack()[:, None, :] != train.unpack()[None]).sum(-1)


def ap_of_ranking(rel: list[bool], n_relevant: int) -> float:
    hits, total = 0, 0.0
    for rank, r in enumerate(rel, start=1):
        if r:
            hits += 1
            total += hits / rank
    return total / n_relevant if n_relevant else 0.0


def brute_expected_map(train, y_train, query, y_query) -> float:
    d = distances(train, query)
    aps = []
    for q in range(len(query)):
        levels = sorted(set(d[q]))
        groups = [[i for i in range(len(train)) if d[q, i] == lv] for lv in levels]
        n_rel = int((y_train == y_query[q]).sum())
        values = []
        for perms in itertools.product(*(itertools.permutations(g) for g in groups)):
            order = [i for p in perms for i in p]
            values.append(ap_of_ranking([bool(y_train[i] == y_query[q]) for i in order], n_rel))
        aps.append(float(np.mean(values)))
    return float(np.mean(aps))


def test_map_expected_policy_vs_all_tie_orders() -> None:
    train, y_train = random_codes(7, 3, 1, n_classes=2)
    query, y_query = random_codes(4, 3, 2, n_classes=2)
    got = mean_average_precision(train, y_train, query, y_query, tie_policy="expected")
    assert got == pytest.approx(brute_expected_map(train, y_train, query, y_query), abs=1e-12)
    # without ties both policies agree
    distinct = NeuralCodes.from_bits(np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [1, 1, 1]]))
    q = NeuralCodes.from_bits(np.array([[0, 0, 0]]))
    y = np.array([1, 0, 1, 0])
    assert mean_average_precision(distinct, y, q, np.array([1]), tie_policy="expected") == (
        pytest.approx(mean_average_precision(distinct, y, q, np.array([1])))
    )


def test_map_by_hand_and_unseen_query_label() -> None:
    train = NeuralCodes.from_bits(np.array([[0, 0], [0, 1], [1, 1]]))
    y_train = np.array([1, 0, 1])
    query = NeuralCodes.from_bits(np.array([[0, 0], [0, 0]]))
    # ranking 0 (rel), 1, 2 (rel): AP = (1/1 + 2/3) / 2; a label absent from train: AP 0
    got = mean_average_precision(train, y_train, query, np.array([1, 7]), device="cpu")
    assert got == pytest.approx(((1 + 2 / 3) / 2 + 0) / 2)


def test_code_length() -> None:
    assert code_length(NeuralCodes.from_bits(np.zeros((1, 13), dtype=np.uint8))) == 13
    assert code_length(np.zeros((1, 3), dtype=np.uint8)) == 24


def test_collision_anatomy_by_hand() -> None:
    bits = np.array(
        [
            [1, 0, 1, 0],  # A
            [1, 0, 1, 0],  # A
            [1, 0, 1, 0],  # A
            [1, 1, 0, 0],  # B
            [1, 1, 0, 0],  # B
            [1, 0, 0, 0],  # C
        ]
    )
    y = np.array([0, 0, 1, 2, 2, 1])
    test_bits = np.array([[1, 0, 1, 0], [1, 1, 0, 0], [1, 1, 1, 0]])  # A, B, unseen
    a = collision_anatomy(
        NeuralCodes.from_bits(bits), y, NeuralCodes.from_bits(test_bits), np.array([1, 2, 0])
    )
    assert a.n_train == 6 and a.n_distinct_train == 3
    assert a.bucket_histogram == {1: 1, 2: 1, 3: 1}
    assert a.colliding_pairs == 3 + 1
    assert a.same_label_pair_share == pytest.approx((1 + 1) / 4)  # (0,0) in A and (2,2) in B
    assert a.pure_bucket_share == pytest.approx(1 / 2)  # B pure, A mixed
    assert a.n_test == 3 and a.test_unseen_share == pytest.approx(1 / 3)
    # A's majority label is 0 (test says 1: wrong), B's is 2 (test says 2: right)
    assert a.test_seen_agreement == pytest.approx(1 / 2)
    np.testing.assert_allclose(a.firing_rate, [1, 2 / 6, 3 / 6, 0])
    assert a.dead_units.tolist() == [3] and a.always_on_units.tolist() == [0]
    h = lambda p: -(p * math.log2(p) + (1 - p) * math.log2(1 - p))  # noqa: E731
    np.testing.assert_allclose(a.bit_entropy, [0, h(1 / 3), 1, 0])
    assert a.mean_bit_entropy == pytest.approx((h(1 / 3) + 1) / 4)
    summary = a.summary()
    assert summary["max_bucket_size"] == 3 and summary["n_dead_units"] == 1


def test_collision_anatomy_without_collisions_or_test() -> None:
    codes = NeuralCodes.from_bits(np.eye(4, dtype=np.uint8))
    a = collision_anatomy(codes, np.arange(4))
    assert a.bucket_histogram == {1: 4} and a.colliding_pairs == 0
    assert math.isnan(a.same_label_pair_share) and math.isnan(a.pure_bucket_share)
    assert a.n_test == 0 and math.isnan(a.test_unseen_share)


def test_bad_inputs() -> None:
    train, y = random_codes(10, 8, 0)
    with pytest.raises(ValueError, match="tie_policy must be 'index' or 'expected'; got 'random'"):
        mean_average_precision(train, y, train, y, tie_policy="random")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tie_policy='expected' is defined for the full ranking"):
        mean_average_precision(train, y, train, y, k=3, tie_policy="expected")
    with pytest.raises(ValueError, match="k=11 needs at least 11 training codes; got 10"):
        mean_average_precision(train, y, train, y, k=11)
    with pytest.raises(ValueError, match="y_query has 9 labels but query has 10 rows"):
        mean_average_precision(train, y, train, y[:9])
    with pytest.raises(ValueError, match="radius must be a non-negative integer; got radius=-1"):
        precision_at_radius(train, y, train, y, -1)
    with pytest.raises(ValueError, match="on_empty must be 'zero' or 'skip'; got 'nan'"):
        precision_at_radius(train, y, train, y, on_empty="nan")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="train: codes must be NeuralCodes or a 2-D uint8"):
        precision_at_radius(train.unpack().astype(float), y, train, y)
    with pytest.raises(ValueError, match="same code length; got n_bits=8 and n_bits=16"):
        collision_anatomy(train, y, np.zeros((2, 2), dtype=np.uint8))
    with pytest.raises(ValueError, match="y_test was given without test_codes"):
        collision_anatomy(train, y, None, y)
