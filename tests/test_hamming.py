"""Hamming kernels against brute force and scikit-learn's brute-force Hamming K-NN."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from code_fixtures import relu_codes
from sklearn.neighbors import KNeighborsClassifier

import hashlib_nn.hamming as hamming
from hashlib_nn.codes import NeuralCodes
from hashlib_nn.hamming import hamming_distances, hamming_knn, knn_predict


def brute_distances(a: NeuralCodes, b: NeuralCodes) -> np.ndarray:
    ua, ub = a.unpack(), b.unpack()
    out = np.zeros((len(a), len(b)), dtype=np.int32)
    for i in range(len(a)):
        for j in range(len(b)):
            out[i, j] = sum(int(x) != int(y) for x, y in zip(ua[i], ub[j], strict=True))
    return out


def test_bare_packed_arrays_count_all_bits() -> None:
    a = np.array([[0xFF, 0x01]], dtype=np.uint8)
    b = np.array([[0x00, 0x00]], dtype=np.uint8)
    assert hamming_distances(a, b, device="cpu").tolist() == [[9]]


def stable_oracle(train: NeuralCodes, query: NeuralCodes, k: int) -> tuple[np.ndarray, ...]:
    full = brute_distances(query, train) if len(train) * len(query) < 2000 else None
    if full is None:
        full = (query.unpack()[:, None, :] != train.unpack()[None, :, :]).sum(-1)
    order = np.argsort(full, axis=1, kind="stable")[:, :k]
    return full, np.take_along_axis(full, order, axis=1), order


@pytest.mark.parametrize(("n_bits", "seed"), [(6, 0), (12, 1), (40, 2), (100, 3)])
def test_knn_vs_sklearn_brute_hamming(n_bits: int, seed: int) -> None:
    train, y_train = relu_codes(700, n_bits, seed)
    query, _ = relu_codes(150, n_bits, seed + 100)
    k = 9
    dist, idx = hamming_knn(train, query, k, device="cpu")
    assert dist.dtype == np.int32 and idx.dtype == np.int64 and dist.shape == (150, k)

    clf = KNeighborsClassifier(n_neighbors=k, metric="hamming", algorithm="brute")
    clf.fit(train.unpack(), y_train)
    sk_dist, sk_idx = clf.kneighbors(query.unpack())
    sk_dist = np.rint(sk_dist * n_bits).astype(np.int32)
    # The same k neighbour distances for every query.
    np.testing.assert_array_equal(dist, np.sort(sk_dist, axis=1))

    full, _, order = stable_oracle(train, query, k)
    # Our tie rule: exactly a stable sort of each distance row.
    np.testing.assert_array_equal(idx, order)
    kth, next_ = np.sort(full, axis=1)[:, k - 1], np.sort(full, axis=1)[:, k]
    no_tie = next_ > kth  # no tie across the k-th place: the neighbour set is unique
    assert no_tie.any()
    np.testing.assert_array_equal(np.sort(idx[no_tie], 1), np.sort(sk_idx[no_tie], 1))
    pred = knn_predict(y_train, idx, 10)
    np.testing.assert_array_equal(pred[no_tie], clf.predict(query.unpack())[no_tie])
    if n_bits <= 12:  # short codes: ties across the k-th place are common
        assert (~no_tie).mean() > 0.5


def test_vote_tie_goes_to_smallest_label_like_sklearn() -> None:
    bits = np.array([[0, 0, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0]], dtype=np.uint8)
    y = np.array([3, 1, 3, 1])
    query = np.zeros((1, 4), dtype=np.uint8)
    clf = KNeighborsClassifier(n_neighbors=4, metric="hamming", algorithm="brute").fit(bits, y)
    _, idx = hamming_knn(NeuralCodes.from_bits(bits), NeuralCodes.from_bits(query), 4)
    assert knn_predict(y, idx, 4).tolist() == clf.predict(query).tolist() == [1]


def test_tie_rule_keeps_smallest_training_index() -> None:
    train = NeuralCodes.from_bits(np.array([[1, 1], [0, 0], [1, 0], [0, 0], [0, 1]]))
    query = NeuralCodes.from_bits(np.array([[0, 0]]))
    dist, idx = hamming_knn(train, query, k=3, device="cpu")
    assert dist.tolist() == [[0, 0, 1]]
    assert idx.tolist() == [[1, 3, 2]]  # 2 and 4 tie at distance 1: 2 is kept


@pytest.mark.parametrize("path", ["fused_one_block", "fused_blocks", "general", "uncached"])
@pytest.mark.parametrize("chunk_size", [None, 1, 37])
def test_every_code_path_gives_the_same_answer(
    monkeypatch: pytest.MonkeyPatch, path: str, chunk_size: int | None
) -> None:
    train, _ = relu_codes(300, 20, 7)
    query, _ = relu_codes(80, 20, 8)
    _, exp_d, exp_i = stable_oracle(train, query, 9)
    if path == "fused_blocks":  # several blocks of training rows, merged
        monkeypatch.setattr(hamming, "_MAX_EXACT_BITS", 2 * 21 * 64 - 1)
        monkeypatch.setattr(hamming, "_MIN_FUSED_BLOCK", 1)
    elif path == "general":
        monkeypatch.setattr(hamming, "_MIN_FUSED_BLOCK", 10**9)
    elif path == "uncached":  # training bits re-unpacked block by block
        monkeypatch.setattr(hamming, "_TRAIN_CACHE_BYTES", 4 * 20 * 50)
    dist, idx = hamming_knn(train, query, 9, chunk_size=chunk_size, device="cpu")
    np.testing.assert_array_equal(dist, exp_d)
    np.testing.assert_array_equal(idx, exp_i)
    if path == "uncached":
        full = np.concatenate(
            [d.numpy() for _, d in hamming.hamming_distance_chunks(train, query, device="cpu")]
        )
        np.testing.assert_array_equal(full, brute_distances(query, train))


def test_long_codes_are_exact() -> None:
    rng = np.random.default_rng(11)
    base = rng.integers(0, 2, size=(1, 5000))
    flips = rng.random((40, 5000)) < rng.random((40, 1)) * 0.02
    train = NeuralCodes.from_bits(base ^ flips)
    query = NeuralCodes.from_bits(base ^ (rng.random((5, 5000)) < 0.01))
    full = (query.unpack()[:, None, :] != train.unpack()[None]).sum(-1)
    np.testing.assert_array_equal(hamming_distances(query, train, device="cpu"), full)
    dist, idx = hamming_knn(train, query, 5, device="cpu")
    order = np.argsort(full, axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(idx, order)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    train, _ = relu_codes(2000, 30, 1)
    query, _ = relu_codes(300, 30, 2)
    cpu = hamming_knn(train, query, 9, device="cpu")
    gpu = hamming_knn(train, query, 9, device="cuda")
    np.testing.assert_array_equal(cpu[0], gpu[0])
    np.testing.assert_array_equal(cpu[1], gpu[1])
    np.testing.assert_array_equal(
        hamming_distances(query, train, device="cpu"),
        hamming_distances(query, train, device="cuda"),
    )


def test_bad_inputs() -> None:
    good = np.zeros((5, 2), dtype=np.uint8)
    with pytest.raises(TypeError, match="train: codes must be NeuralCodes or a 2-D uint8 array"):
        hamming_knn(good.astype(np.float32), good)
    with pytest.raises(TypeError, match=r"query: .*got ndarray of dtype uint8 and shape \(10,\)"):
        hamming_knn(good, good.ravel())
    with pytest.raises(ValueError, match="train hold no rows"):
        hamming_knn(good[:0], good)
    with pytest.raises(
        ValueError,
        match="train and query must have the same code length; got n_bits=16 and n_bits=8",
    ):
        hamming_knn(good, good[:, :1])
    with pytest.raises(ValueError, match="k=9 needs at least 9 training codes; got 5"):
        hamming_knn(good, good)
    with pytest.raises(ValueError, match="k must be a positive integer; got k=0"):
        hamming_knn(good, good, k=0)
    with pytest.raises(ValueError, match="chunk_size must be a positive integer or None; got 0"):
        hamming_knn(good, good, k=1, chunk_size=0)
    with pytest.raises(ValueError, match=r"train_labels must lie in \[0, n_classes=2\)"):
        knn_predict(np.array([0, 2]), np.array([[0, 1]]), 2)
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 2\)"):
        knn_predict(np.array([0, 1]), np.array([[0, 2]]), 2)
    with pytest.raises(ValueError, match="train_labels must be a 1-D integer array"):
        knn_predict(np.array([0.0, 1.0]), np.array([[0, 1]]), 2)
