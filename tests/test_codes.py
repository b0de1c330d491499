"""Neural codes against hand-computed networks and the linear-region claim."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from hashlib_nn.codes import NeuralCodes, check_same_region, neural_codes, relu_modules
from hashlib_nn.models import PaperMLP


def _two_neuron_net() -> nn.Sequential:
    """x in R^2 -> ReLU(W x + b) with W = [[1, -1], [0, 1]], b = [0, -0.5] -> Linear(2, 1)."""
    lin = nn.Linear(2, 2)
    out = nn.Linear(2, 1)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, -1.0], [0.0, 1.0]]))
        lin.bias.copy_(torch.tensor([0.0, -0.5]))
        out.weight.copy_(torch.tensor([[1.0, 2.0]]))
        out.bias.zero_()
    return nn.Sequential(lin, nn.ReLU(), out)


def test_codes_of_hand_built_two_neuron_network() -> None:
    x = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0], [0.0, 0.0], [0.5, 0.5]], np.float32)
    # unit 1 fires iff x0 - x1 > 0; unit 2 fires iff x1 - 0.5 > 0 (0 exactly does not fire).
    expected = np.array([[1, 0], [0, 1], [1, 1], [0, 0], [0, 0]], np.uint8)
    codes = neural_codes(_two_neuron_net(), x, device="cpu")
    assert codes.n_bits == 2 and codes.layer_sizes == (2,)
    np.testing.assert_array_equal(codes.unpack(), expected)
    np.testing.assert_array_equal(codes.packed, np.packbits(expected, axis=1))


def test_codes_cover_every_relu_call_in_order_and_batches_agree() -> None:
    torch.manual_seed(0)
    model = PaperMLP(20, 12, depth=3, seed=1)
    x = np.random.default_rng(0).random((37, 20), dtype=np.float32)
    codes = neural_codes(model, x, batch_size=5, device="cpu")
    assert codes.layer_sizes == (4, 4, 4) and codes.n_bits == 12 and len(codes) == 37
    # Oracle: the hidden stack evaluated by hand in eval mode.
    model.eval()
    with torch.no_grad():
        h = torch.as_tensor(x)
        bits = []
        for m in model.hidden:
            h = m(h)
            if isinstance(m, nn.ReLU):
                bits.append((h > 0).numpy())
    np.testing.assert_array_equal(codes.unpack(), np.concatenate(bits, axis=1).astype(np.uint8))
    assert neural_codes(model, x, batch_size=64, device="cpu").packed.tobytes() == \
        codes.packed.tobytes()


def test_extraction_uses_eval_mode_and_restores_mode() -> None:
    model = PaperMLP(10, 6, seed=0)
    with torch.no_grad():
        model.hidden[1].running_mean.fill_(100.0)  # eval-mode BN would switch every unit off
    model.train()
    codes = neural_codes(model, np.ones((8, 10), np.float32), device="cpu")
    assert codes.unpack().sum() == 0  # running statistics were used
    assert model.training


def test_logits_match_forward() -> None:
    model = PaperMLP(10, 6, seed=0).eval()
    x = np.random.default_rng(1).random((9, 10), dtype=np.float32)
    _, logits = neural_codes(model, x, batch_size=4, device="cpu", return_logits=True)
    expected = model(torch.as_tensor(x)).detach().numpy()
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-6)


def test_linear_region_self_check_on_trained_like_network() -> None:
    model = PaperMLP(5, 8, depth=2, seed=3)
    model.eval()
    rng = np.random.default_rng(0)
    a = rng.random(5, dtype=np.float32)
    # A point very close to a shares its code; the network is affine on the segment.
    b = a + 1e-4
    check = check_same_region(model, a, b, device="cpu")
    assert check.same_code and check.midpoint_same_code and check.affine
    # Two far-apart points with different codes: the check reports it, and the network is
    # not affine between them (the path crosses region boundaries).
    far = -10 * np.ones(5, np.float32)
    check2 = check_same_region(model, 10 * np.ones(5, np.float32), far, device="cpu")
    assert not check2.same_code
    assert not check2.affine


def test_self_check_holds_for_every_colliding_pair() -> None:
    """The claim itself: any two inputs with the same code lie in one affine region."""
    model = PaperMLP(6, 4, seed=0).eval()  # 4 bits: many collisions
    x = np.random.default_rng(2).normal(size=(300, 6)).astype(np.float32)
    codes = neural_codes(model, x, device="cpu")
    rows = codes.packed[:, 0]
    checked = 0
    for value in np.unique(rows):
        idx = np.flatnonzero(rows == value)
        for i, j in zip(idx[:-1][:5], idx[1:][:5], strict=True):
            check = check_same_region(model, x[i], x[j], device="cpu")
            assert check.affine, (i, j, check)
            checked += 1
    assert checked > 20


def test_model_without_relu_is_refused_with_its_layers_named() -> None:
    model = nn.Sequential(nn.Linear(3, 3), nn.GELU(), nn.Linear(3, 2))
    with pytest.raises(ValueError, match="no nn.ReLU modules; found Linear, GELU, Linear"):
        relu_modules(model)
    with pytest.raises(ValueError, match="no nn.ReLU"):
        neural_codes(model, np.zeros((2, 3), np.float32), device="cpu")


def test_bad_inputs() -> None:
    model = PaperMLP(4, 4, seed=0)
    with pytest.raises(ValueError, match="batch_size must be a positive integer; got 0"):
        neural_codes(model, np.zeros((2, 4), np.float32), batch_size=0)
    with pytest.raises(ValueError, match="x holds no inputs"):
        neural_codes(model, np.zeros((0, 4), np.float32))
    with pytest.raises(ValueError, match="device must be 'auto', 'cpu'.*got 'tpu'"):
        neural_codes(model, np.zeros((2, 4), np.float32), device="tpu")
    with pytest.raises(ValueError, match="n_bits=9 needs 2 bytes per row"):
        NeuralCodes(np.zeros((3, 1), np.uint8), 9)
    with pytest.raises(ValueError, match="bits must hold only 0 and 1"):
        NeuralCodes.from_bits(np.array([[0, 2]]))


def test_layer_selection_and_indexing() -> None:
    bits = np.random.default_rng(0).integers(0, 2, size=(10, 11)).astype(np.uint8)
    codes = NeuralCodes.from_bits(bits, layer_sizes=(3, 8))
    np.testing.assert_array_equal(codes.layer(1).unpack(), bits[:, 3:])
    np.testing.assert_array_equal(codes[2:5].unpack(), bits[2:5])
    np.testing.assert_array_equal(codes[np.array([0, 9])].unpack(), bits[[0, 9]])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_codes_equal_cpu_codes() -> None:
    model = PaperMLP(30, 20, seed=0)
    x = np.random.default_rng(0).random((100, 30), dtype=np.float32)
    cpu = neural_codes(model, x, device="cpu")
    gpu = neural_codes(model, x, device="cuda")
    assert (cpu.packed != gpu.packed).mean() < 0.01  # float rounding may flip units at ~0


def test_neural_codes_peak_memory_is_the_codes_plus_one_batch() -> None:
    """The packed codes are filled in place: numpy's peak is about one copy of the codes, not
    the two a concatenation of per-batch parts needs (tracemalloc sees numpy's buffers)."""
    import tracemalloc

    import torch
    from torch import nn

    from hashlib_nn.codes import neural_codes

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4000), nn.ReLU())  # 500 bytes of codes per input
    x = torch.randn(20_000, 4)
    neural_codes(model, x[:10], device="cpu")  # warm-up: lazy imports, caches
    tracemalloc.start()
    try:
        codes = neural_codes(model, x, batch_size=1000, device="cpu")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = codes.packed.nbytes
    assert size == 20_000 * 500
    assert peak < 1.3 * size, f"peak {peak / 2**20:.1f} MiB for {size / 2**20:.1f} MiB of codes"


def test_non_finite_input_in_a_later_batch_is_refused_with_the_whole_count() -> None:
    """The per-batch sum test finds a NaN in the last batch; the message counts all of x."""
    model = PaperMLP(6, width=4, seed=0)
    x = np.random.default_rng(0).normal(size=(10, 6)).astype(np.float32)
    x[9, 2] = np.nan
    x[8, 0] = np.inf
    with pytest.raises(ValueError) as err:
        neural_codes(model, x, batch_size=3, device="cpu")
    assert str(err.value).startswith(
        "x holds 2 NaN or infinite values (1 NaN, 1 inf) in 2 of 10 rows; the first at row 8, "
        "column 0.")


def test_finite_inputs_whose_sum_overflows_are_still_coded() -> None:
    """A float32 sum can overflow on finite inputs; the scan then passes and the codes are a
    forward pass's ReLU outputs > 0."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    x = np.full((5, 4), 1e38, dtype=np.float32)
    x[:, 1] = -1.0
    x[2] = [-1e38, 2.0, -1e38, 0.5]
    assert not np.isfinite(torch.as_tensor(x).sum().item())
    codes = neural_codes(model, x, device="cpu", batch_size=2)
    with torch.no_grad():
        expected = (model[1](model[0](torch.as_tensor(x))) > 0).numpy().astype(np.uint8)
    assert np.array_equal(codes.unpack(), expected)
