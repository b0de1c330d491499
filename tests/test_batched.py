"""train_many (R models in one batched pass) against train_many_sequential (one train each).

Tolerances, and why they are not zero:

- Batched products (``bmm`` over R models) sum in another order than one model's ``mm``, so
  gradients differ in the last float32 bits; Adam divides by ``sqrt(v)``, which turns relative
  gradient noise into relative update noise, and a few dozen steps at lr 1e-2 carry it to about
  1e-5..1e-4 in the weights (|w| ~ 0.1). Weights, BN gamma/beta and running variances are
  compared at ``atol=5e-4, rtol=1e-3``; epoch losses at ``rtol=1e-5``.
- The bias of a Linear layer followed by BatchNorm has a true gradient of exactly 0 (BatchNorm
  removes the batch mean), but both paths compute it as a sum of float32 values that cancel to
  about 1e-9. Adam normalizes that noise to steps of a fraction of lr, so this bias (and the
  BN running mean, which tracks it) random-walks by about 2 lr over these short runs in
  *either* path, and the two walks are independent. Those two are compared at
  ``atol=5 lr``, and the eval-mode codes (the ReLU signs the paper studies) must agree on
  >= 99% of the bits.
"""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from hashlib_nn.batched import train_many, train_many_sequential
from hashlib_nn.models import PaperMLP
from hashlib_nn.train import TrainConfig, train

N, D = 640, 784
ATOL, RTOL = 5e-4, 1e-3
NOISE_ATOL = 5.0  # x lr: pre-BN biases, BN running means (Adam-amplified noise, see above)


@pytest.fixture(scope="module", autouse=True)
def _threads():
    old = torch.get_num_threads()
    torch.set_num_threads(1)  # predictable on a shared machine; the paths do not depend on it
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    g = np.random.default_rng(0)
    # MNIST-like: values in [0, 1], a block of always-zero "border" pixels.
    x = g.random((N, D), dtype=np.float32)
    x[:, :100] = 0
    y = g.integers(0, 10, N)
    return x, y


def _noise_keys(model: PaperMLP) -> set[str]:
    """state_dict keys that carry the BN-cancelled bias noise (see the module docstring)."""
    if not model.batchnorm:
        return set()
    keys = set()
    for name, mod in model.hidden.named_children():
        if isinstance(mod, nn.Linear):
            keys.add(f"hidden.{name}.bias")
        elif isinstance(mod, nn.BatchNorm1d):
            keys.add(f"hidden.{name}.running_mean")
    return keys


def assert_same_model(a: PaperMLP, b: PaperMLP, x: np.ndarray, lr: float = 1e-2) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    noisy = _noise_keys(b)
    for k in sb:
        if k.endswith("num_batches_tracked"):
            assert int(sa[k]) == int(sb[k]), k
            continue
        atol = NOISE_ATOL * lr if k in noisy else ATOL
        torch.testing.assert_close(sa[k], sb[k], atol=atol, rtol=RTOL, msg=k)
    a.eval(), b.eval()
    with torch.no_grad():
        xt = torch.as_tensor(x)
        agree = ((a.hidden(xt) > 0) == (b.hidden(xt) > 0)).float().mean().item()
    assert agree >= 0.99


def assert_same_history(ha, hb) -> None:
    assert ha.config == hb.config
    assert ha.stopped_epoch == hb.stopped_epoch
    assert [e.epoch for e in ha.epochs] == [e.epoch for e in hb.epochs]
    assert [e.lr for e in ha.epochs] == [e.lr for e in hb.epochs]
    np.testing.assert_allclose([e.loss for e in ha.epochs], [e.loss for e in hb.epochs],
                               rtol=1e-5)
    # An example whose two top logits are within rounding of each other may flip.
    np.testing.assert_allclose([e.accuracy for e in ha.epochs],
                               [e.accuracy for e in hb.epochs], atol=2 / N)


def run_both(models, x, y, configs, **kw):
    twins = copy.deepcopy(models)
    hb = train_many(models, x, y, configs, device="cpu", **kw)
    hs = train_many_sequential(twins, x, y, configs, device="cpu", **kw)
    return hb, hs, twins


@pytest.mark.parametrize(
    ("width", "depth", "batchnorm"),
    [(10, 1, True), (50, 1, True), (10, 2, True), (20, 2, False)],
)
def test_matches_one_at_a_time(data, width, depth, batchnorm):
    x, y = data
    models = [PaperMLP(D, width, depth, batchnorm=batchnorm, seed=s) for s in range(3)]
    configs = [TrainConfig(epochs=2, seed=s, weight_decay=wd)
               for s, wd in zip(range(3), [1e-6, 1e-3, 0.0], strict=True)]
    hb, hs, twins = run_both(models, x, y, configs)
    for a, b, ha, hs_ in zip(models, twins, hb, hs, strict=True):
        assert_same_history(ha, hs_)
        assert_same_model(a, b, x)


def test_single_model_equals_train(data):
    x, y = data
    m = PaperMLP(D, 10, 1, seed=3)
    twin = copy.deepcopy(m)
    cfg = TrainConfig(epochs=2, seed=3)
    (h,) = train_many([m], x, y, [cfg], device="cpu")
    assert_same_history(h, train(twin, x, y, cfg, device="cpu"))
    assert_same_model(m, twin, x)


def test_per_model_labels_and_weight_decay(data):
    x, y = data
    g = np.random.default_rng(1)
    ys = np.stack([y, g.permutation(y), np.where(g.random(N) < 0.5, g.integers(0, 10, N), y)])
    models = [PaperMLP(D, 10, 1, seed=0) for _ in range(3)]  # same init, same shuffles
    configs = [TrainConfig(epochs=2, seed=0, weight_decay=wd) for wd in (0.0, 1e-4, 1e-2)]
    hb, hs, twins = run_both(models, x, ys, configs)
    for a, b, ha, hs_ in zip(models, twins, hb, hs, strict=True):
        assert_same_history(ha, hs_)
        assert_same_model(a, b, x)
    # The rows really are used: same init and shuffle, different labels -> different losses.
    assert len({round(h.epochs[-1].loss, 4) for h in hb}) == 3


def test_per_model_rows_equal_training_on_each_tiled_sample(data):
    """rows: model i trains on x[rows[i]] (here: the first n examples tiled to 640 rows, as the
    sample-size protocol does), exactly what train on that tiled copy does."""
    x, y = data
    sizes = (10, 64, 640)  # each divides 640: one epoch length for all three
    rows = np.stack([np.arange(N) % n for n in sizes])
    ys = np.stack([y[r] for r in rows])
    # seeds 0, 1, 0: equal seeds with different rows must not take the shared-batch path
    # (seed 2 is avoided: at width 10 on random labels its float32 rounding alone exceeds the
    # loss tolerance, with or without rows)
    models = [PaperMLP(D, 10, 1, seed=s) for s in (0, 1, 0)]
    configs = [TrainConfig(epochs=2, seed=s, early_stopping=True, patience=1)
               for s in (0, 1, 0)]  # fmt: skip
    twins = copy.deepcopy(models)
    hb = train_many(models, x, ys, configs, device="cpu", rows=rows)
    for i, (a, b, h) in enumerate(zip(models, twins, hb, strict=True)):
        alone = train(b, np.tile(x[: sizes[i]], (N // sizes[i], 1)), np.tile(y[: sizes[i]],
                      N // sizes[i]), configs[i], device="cpu")  # fmt: skip
        assert_same_history(h, alone)
        assert_same_model(a, b, x)
    # the samples really differ: 10 examples tiled are fitted far better after 2 epochs
    assert hb[0].epochs[-1].loss < hb[2].epochs[-1].loss
    hs = train_many_sequential(copy.deepcopy(twins), x, ys, configs, device="cpu", rows=rows)
    assert [len(h.epochs) for h in hs] == [len(h.epochs) for h in hb]


def test_rows_validation(data):
    x, y = data
    m = [PaperMLP(D, 10, 1, seed=s) for s in range(2)]
    c = [TrainConfig(epochs=1, seed=s) for s in range(2)]
    rows = np.stack([np.arange(N), np.arange(N)])
    with pytest.raises(ValueError, match=r"rows must have shape \(R, M\)=\(2, M\)"):
        train_many(m, x, np.stack([y, y]), c, rows=rows[:1])
    with pytest.raises(ValueError, match=r"rows must index x.s 640 rows.*got values in \[1, 640\]"):
        train_many(m, x, np.stack([y, y]), c, rows=rows + 1)
    with pytest.raises(ValueError, match="rows must hold integer indices"):
        train_many(m, x, np.stack([y, y]), c, rows=rows.astype(float))
    with pytest.raises(ValueError, match=r"with rows, y must have shape \(R, M\)=\(2, 640\)"):
        train_many(m, x, y, c, rows=rows)


def test_shared_seed_depth2(data):
    """Equal seeds take the shared-batch path (one gather, one mm for the first layer)."""
    x, y = data
    models = [PaperMLP(D, 20, 2, seed=s) for s in range(3)]  # different inits
    configs = [TrainConfig(epochs=2, seed=5, weight_decay=wd) for wd in (1e-6, 1e-6, 1e-2)]
    hb, hs, twins = run_both(models, x, y, configs)
    for a, b, ha, hs_ in zip(models, twins, hb, hs, strict=True):
        assert_same_history(ha, hs_)
        assert_same_model(a, b, x)


def test_early_stopping_per_model(data):
    x, y = data
    models = [PaperMLP(D, 10, 1, seed=s) for s in range(4)]
    configs = [TrainConfig(epochs=8, lr=0.1, seed=s, weight_decay=wd, patience=p)
               for s, wd, p in zip(range(4), [0, 1e-3, 1e-2, 1e-1], [1, 1, 2, 3], strict=True)]
    configs[3] = dataclasses.replace(configs[3], early_stopping=False)
    calls: list[tuple[int, int]] = []
    hb, hs, twins = run_both(models, x, y, configs,
                             on_checkpoint=lambda i, e, m: calls.append((i, e)))
    stops = [h.stopped_epoch for h in hb]
    assert stops == [h.stopped_epoch for h in hs]
    assert len({h.epochs_run for h in hb}) >= 3, stops  # the case must exercise dropping
    for a, b, ha, hs_ in zip(models, twins, hb, hs, strict=True):
        assert_same_history(ha, hs_)
        assert_same_model(a, b, x, lr=0.1)
    # Final-epoch callbacks: once per model, at its own last epoch, in both runs.
    expected = sorted((i, h.epochs_run) for i, h in enumerate(hb))
    assert sorted(calls[: len(calls) // 2]) == expected
    assert sorted(calls[len(calls) // 2:]) == expected


def test_early_stopping_shared_seed(data):
    """Equal seeds (shared batches) while models drop out, model 0 first."""
    x, y = data
    models = [PaperMLP(D, 10, 1, seed=s) for s in (1, 0, 2)]
    configs = [TrainConfig(epochs=8, lr=0.1, seed=0, weight_decay=wd, patience=p)
               for wd, p in zip([1e-3, 0.3, 0.0], [1, 1, 10], strict=True)]
    hb, hs, twins = run_both(models, x, y, configs)
    assert [h.stopped_epoch for h in hb] == [h.stopped_epoch for h in hs]
    runs = [h.epochs_run for h in hb]
    assert runs[0] < runs[1] < runs[2], runs
    for a, b, ha, hs_ in zip(models, twins, hb, hs, strict=True):
        assert_same_history(ha, hs_)
        assert_same_model(a, b, x, lr=0.1)


def test_unfused_adam_fallback(data, monkeypatch):
    """Without torch._fused_adam_ the batched path falls back to the same formula."""
    x, y = data
    models = [PaperMLP(D, 10, 1, seed=s) for s in range(2)]
    configs = [TrainConfig(epochs=2, seed=s, weight_decay=wd)
               for s, wd in zip(range(2), [1e-6, 1e-2], strict=True)]
    twins = copy.deepcopy(models)
    hf = train_many(models, x, y, configs, device="cpu")

    def unavailable(*args, **kwargs):
        raise NotImplementedError("no fused Adam here")

    monkeypatch.setattr(torch, "_fused_adam_", unavailable)
    hu = train_many(twins, x, y, configs, device="cpu")
    for a, b, ha, hb in zip(models, twins, hf, hu, strict=True):
        assert_same_history(ha, hb)
        assert_same_model(a, b, x)


def test_checkpoints(data):
    x, y = data
    models = [PaperMLP(D, 10, 2, seed=s) for s in range(2)]
    configs = [TrainConfig(epochs=3, seed=s) for s in range(2)]
    seen: dict[str, dict[tuple[int, int], dict]] = {"batched": {}, "sequential": {}}

    def recorder(key):
        def cb(i: int, epoch: int, model: nn.Module) -> None:
            assert isinstance(model, PaperMLP) and model.training
            seen[key][(i, epoch)] = copy.deepcopy(model.state_dict())
            model.eval()  # a callback may evaluate; BN stats must not move
            with torch.no_grad():
                model(torch.as_tensor(x[:50]))
        return cb

    twins = copy.deepcopy(models)
    train_many(models, x, y, configs, checkpoints=[0, 1, 3], on_checkpoint=recorder("batched"),
               device="cpu")
    train_many_sequential(twins, x, y, configs, checkpoints=[0, 1, 3],
                          on_checkpoint=recorder("sequential"), device="cpu")
    assert sorted(seen["batched"]) == sorted(seen["sequential"]) == [
        (0, 0), (0, 1), (0, 3), (1, 0), (1, 1), (1, 3)]
    for key, sa in seen["batched"].items():
        sb = seen["sequential"][key]
        for k in sb:
            atol = NOISE_ATOL * 1e-2 if k in _noise_keys(models[0]) else ATOL
            torch.testing.assert_close(sa[k], sb[k], atol=atol, rtol=RTOL, msg=f"{key} {k}")
    # The epoch-3 checkpoint is the final state.
    for i, m in enumerate(models):
        torch.testing.assert_close(seen["batched"][(i, 3)], m.state_dict())


def test_callback_cannot_disturb_training(data):
    x, y = data
    models = [PaperMLP(D, 10, 1, seed=s) for s in range(2)]
    configs = [TrainConfig(epochs=2, seed=s) for s in range(2)]
    twins = copy.deepcopy(models)

    def vandal(i: int, epoch: int, model: nn.Module) -> None:
        if epoch == 1:
            with torch.no_grad():
                for p in model.parameters():
                    p.zero_()

    train_many(models, x, y, configs, checkpoints=[1], on_checkpoint=vandal, device="cpu")
    train_many(twins, x, y, configs, device="cpu")
    for a, b in zip(models, twins, strict=True):
        torch.testing.assert_close(a.state_dict(), b.state_dict(), atol=0, rtol=0)


def test_zero_epochs(data):
    x, y = data
    models = [PaperMLP(D, 10, 1, seed=s) for s in range(2)]
    before = copy.deepcopy(models)
    calls = []
    hs = train_many(models, x, y, [TrainConfig(epochs=0, seed=s) for s in range(2)],
                    on_checkpoint=lambda i, e, m: calls.append((i, e)), device="cpu")
    assert calls == [(0, 0), (1, 0)]
    assert all(h.epochs_run == 0 for h in hs)
    for a, b in zip(models, before, strict=True):
        torch.testing.assert_close(a.state_dict(), b.state_dict(), atol=0, rtol=0)


def test_dropout_statistically_equivalent(data):
    """With dropout the masks come from another stream: compare distributions, not values."""
    x, y = data
    r = 4
    models = [PaperMLP(D, 50, 1, dropout=0.5, seed=s) for s in range(r)]
    configs = [TrainConfig(epochs=2, seed=s) for s in range(r)]
    hb, hs, _ = run_both(models, x, y, configs)
    lb = np.array([h.epochs[-1].loss for h in hb])
    ls = np.array([h.epochs[-1].loss for h in hs])
    assert not np.allclose(lb, ls, rtol=1e-5)  # not the same masks...
    assert abs(lb.mean() - ls.mean()) < 0.1 * ls.mean()  # ...but the same training
    # Dropout is applied: without it the training loss falls faster.
    plain = [PaperMLP(D, 50, 1, seed=s) for s in range(r)]
    hp = train_many(plain, x, y, configs, device="cpu")
    assert np.mean([h.epochs[-1].loss for h in hp]) < lb.mean()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(data):
    x, y = data
    models = [PaperMLP(D, 10, 1, seed=s) for s in range(2)]
    configs = [TrainConfig(epochs=2, seed=s) for s in range(2)]
    twins = copy.deepcopy(models)
    hg = train_many(models, x, y, configs, device="cuda")
    hc = train_many(twins, x, y, configs, device="cpu")
    for a, b, ha, hb in zip(models, twins, hg, hc, strict=True):
        assert_same_history(ha, hb)
        assert_same_model(a.cpu(), b, x)


# --------------------------------------------------------------------------- validation


def test_validation_errors(data):
    x, y = data
    m = [PaperMLP(D, 10, 1, seed=s) for s in range(2)]
    c = [TrainConfig(epochs=1, seed=s) for s in range(2)]
    with pytest.raises(ValueError, match="models is empty"):
        train_many([], x, y, [])
    with pytest.raises(ValueError, match="got 2 models and 1 configs"):
        train_many(m, x, y, c[:1])
    with pytest.raises(TypeError, match=r"models\[1\] must be a hashlib_nn.models.PaperMLP"):
        train_many([m[0], nn.Linear(2, 2)], x, y, c)
    with pytest.raises(ValueError, match=r"models\[0\] and models\[1\] are the same module"):
        train_many([m[0], m[0]], x, y, c)
    with pytest.raises(ValueError, match=r"models\[1\].width=20 differs from models\[0\].width=10"):
        train_many([m[0], PaperMLP(D, 20, 1)], x, y, c)
    with pytest.raises(ValueError, match=r"models\[1\].batchnorm=False differs"):
        train_many([m[0], PaperMLP(D, 10, 1, batchnorm=False)], x, y, c)
    with pytest.raises(ValueError, match=r"configs\[1\].lr=0.1 differs from configs\[0\].lr=0.01"):
        train_many(m, x, y, [c[0], TrainConfig(epochs=1, lr=0.1)])
    with pytest.raises(ValueError, match=r"configs\[1\].epochs=2 differs"):
        train_many(m, x, y, [c[0], TrainConfig(epochs=2)])
    with pytest.raises(ValueError, match=r"y must have shape \(N,\)=\(640,\) .* or \(R, N\)="
                                         r"\(2, 640\) .*; got shape \(3, 640\)"):
        train_many(m, x, np.stack([y, y, y]), c)
    with pytest.raises(ValueError, match=r"got shape \(639,\)"):
        train_many(m, x, y[:-1], c)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, n_classes=10\); got values "
                                         r"in \[1, 10\]"):
        train_many(m, x, np.where(y == 0, 10, y), c)
    with pytest.raises(ValueError, match="integer class labels"):
        train_many(m, x, y.astype(np.float32), c)
    with pytest.raises(ValueError, match="x has 783 features per example, the models expect "
                                         "in_features=784"):
        train_many(m, x[:, :-1], y, c)
    with pytest.raises(ValueError, match="checkpoints must be epochs >= 0"):
        train_many(m, x, y, c, checkpoints=[-1])
    with pytest.raises(ValueError, match="last batch of one example"):
        train_many(m, x[:65], y[:65], c)
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(FloatingPointError, match=r"training loss of models\[0\] became nan at "
                                                 r"epoch 1; lower lr \(got 0.01\)"):
        train_many(copy.deepcopy(m), bad, y, c, device="cpu")
    # Configs may differ in what is per model.
    ok = [TrainConfig(epochs=1, seed=7, weight_decay=0.1, early_stopping=False, patience=3),
          TrainConfig(epochs=1, seed=8, min_delta=0.5)]
    assert len(train_many(m, x, y, ok, device="cpu")) == 2
