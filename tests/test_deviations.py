"""The deviation toggles of issue 13 against reference implementations, the original's K-NN call
against scikit-learn and a brute-force vote, and hashlib_nn.deviations on hand-built frames.

Oracles: Keras 2.2's categorical cross-entropy written out in float64 numpy (value) and its
gradient derived by hand, ``(softmax - onehot) / B`` on the rows whose true-class probability
lies inside the clip and 0 elsewhere; Keras 2.2's Adam update rule in float64 numpy; the running
variance from numpy's biased variance times the rule's factor; scikit-learn's own
KNeighborsClassifier; and frames whose means and spreads are known by construction.
"""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from hashlib_nn.batched import _Stack, _train_step, train_many, train_many_sequential
from hashlib_nn.categorization import drop_constant_bits, knn_accuracy_sklearn
from hashlib_nn.codes import NeuralCodes, neural_codes
from hashlib_nn.deviations import (
    COLUMNS,
    OURS_CSV,
    VARIANTS,
    Point,
    configs_for,
    effects,
    load_ours,
    points,
    provenance_path,
    run_points,
    write_provenance,
)
from hashlib_nn.experiments import RunConfig, run, synthetic_dataset
from hashlib_nn.models import PaperMLP, derive_seeds, running_var_factor
from hashlib_nn.train import (
    KERAS_EPSILON,
    TrainConfig,
    deviation_identity,
    keras_adam_eps,
    keras_crossentropy,
    train,
)

EPS32 = float(np.float32(KERAS_EPSILON))
HI32 = float(np.float32(1.0) - np.float32(KERAS_EPSILON))  # 1 - 1e-7 in float32: 0.99999988


@pytest.fixture(scope="module", autouse=True)
def _threads():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _saturating_logits(b: int = 64, c: int = 10,
                       seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits where some rows are confidently right (p_y > 1 - 1e-7), some confidently wrong
    (p_y < 1e-7) and the rest moderate."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, c, generator=g)
    y = torch.randint(0, c, (b,), generator=g)
    logits[: b // 4].scatter_(1, y[: b // 4, None], 30.0)  # right, saturated
    wrong = (y[b // 4 : b // 2] + 1) % c
    logits[b // 4 : b // 2].scatter_(1, wrong[:, None], 30.0)  # wrong, saturated
    return logits, y


def _keras_reference(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Keras 2.2's loss (float64) and the hand-derived gradient w.r.t. the logits."""
    z = logits - logits.max(1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    p = p / p.sum(1, keepdims=True)
    p_y = p[np.arange(len(y)), y]
    loss = float(-np.log(np.clip(p_y, KERAS_EPSILON, 1 - KERAS_EPSILON)).mean())
    onehot = np.eye(p.shape[1])[y]
    inside = (p_y >= EPS32) & (p_y <= HI32)
    grad = (p - onehot) * inside[:, None] / len(y)
    return loss, grad


# --------------------------------------------------------------------------- (a) loss


def test_keras_crossentropy_value_and_gradient_match_the_reference() -> None:
    logits, y = _saturating_logits()
    x = logits.clone().requires_grad_(True)
    loss = keras_crossentropy(x, y)
    loss.backward()
    ref_loss, ref_grad = _keras_reference(logits.double().numpy(), y.numpy())
    assert loss.item() == pytest.approx(ref_loss, rel=1e-6)
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), ref_grad, atol=1e-7)
    clipped = (np.abs(ref_grad).sum(1) == 0)
    assert clipped[:32].all() and not clipped[32:].any()  # both saturated kinds pass no gradient
    # The logits form differs exactly there: it still pushes the saturated rows.
    x2 = logits.clone().requires_grad_(True)
    F.cross_entropy(x2, y).backward()
    assert x2.grad is not None
    assert np.abs(x2.grad.numpy()[16:32]).max() > 1e-3  # confidently wrong rows
    np.testing.assert_allclose(x2.grad.numpy()[32:], x.grad.numpy()[32:], atol=1e-7)


def test_keras_loss_caps_a_confidently_wrong_example_at_log_1e7() -> None:
    logits = torch.tensor([[50.0, 0.0]])
    assert keras_crossentropy(logits, torch.tensor([1])).item() == pytest.approx(
        -math.log(EPS32), rel=1e-6)
    assert F.cross_entropy(logits, torch.tensor([1])).item() == pytest.approx(50.0, rel=1e-6)


@pytest.mark.parametrize("keras_loss", [False, True])
def test_batched_step_gradient_equals_autograd(keras_loss: bool) -> None:
    """train_many's hand-written backward (with the clip mask) against autograd of the loss."""
    torch.manual_seed(0)
    model = PaperMLP(20, 6, 1, seed=0)
    with torch.no_grad():
        model.out.weight.mul_(40.0)  # saturate the softmax for some rows
    x = torch.rand(64, 20)
    y = torch.randint(0, 10, (64,))
    ref = copy.deepcopy(model)
    ref.train()
    out = ref(x)
    loss = keras_crossentropy(out, y) if keras_loss else F.cross_entropy(out, y)
    loss.backward()
    p_y = torch.softmax(out.detach(), 1).gather(1, y[:, None])
    if keras_loss:  # the test needs rows on both sides of the clip
        assert ((p_y < EPS32) | (p_y > HI32)).any() and ((p_y > EPS32) & (p_y < HI32)).any()
    st = _Stack([model], [0.0], torch.device("cpu"))
    ce_sum, _ = _train_step(st, x, y[None], 0.01, 1e-3, 0.0, None, "unbiased", keras_loss)
    assert ce_sum.item() / 64 == pytest.approx(loss.item(), rel=1e-5)
    lin, bn = ref.hidden[0], ref.hidden[1]
    pairs = [(st.g[0][0], lin.weight.grad), (st.g[2][0], bn.weight.grad),
             (st.g[3][0], bn.bias.grad), (st.g[4][0], ref.out.weight.grad),
             (st.g[5][0], ref.out.bias.grad)]  # fmt: skip
    for ours, theirs in pairs:
        assert theirs is not None
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=2e-6, rtol=1e-4)


# --------------------------------------------------------------------------- (b) Adam


def _keras22_adam(params: list[np.ndarray], grads: list[list[np.ndarray]], lr: float,
                  b1: float = 0.9, b2: float = 0.999, eps: float = 1e-7) -> list[np.ndarray]:
    """Keras 2.2's Adam.get_updates, step by step, in float64."""
    p = [q.astype(np.float64).copy() for q in params]
    m = [np.zeros_like(q) for q in p]
    v = [np.zeros_like(q) for q in p]
    for t, gs in enumerate(grads, start=1):
        lr_t = lr * math.sqrt(1.0 - b2**t) / (1.0 - b1**t)
        for i, g in enumerate(gs):
            m[i] = b1 * m[i] + (1.0 - b1) * g
            v[i] = b2 * v[i] + (1.0 - b2) * g * g
            p[i] = p[i] - lr_t * m[i] / (np.sqrt(v[i]) + eps)
    return p


def test_keras_adam_eps_makes_torch_adam_take_keras_steps() -> None:
    g = np.random.default_rng(0)
    p0 = g.normal(size=50)
    grads = [[g.normal(size=50) * 10.0 ** g.uniform(-9, -3, size=50)] for _ in range(3)]
    for form in ("keras", "torch"):
        p = torch.tensor(p0, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.Adam([p], lr=1e-2, betas=(0.9, 0.999), eps=1e-7)
        for t, (gt,) in enumerate(grads, start=1):
            if form == "keras":
                opt.param_groups[0]["eps"] = keras_adam_eps(1e-7, 0.999, t)
            p.grad = torch.tensor(gt)
            opt.step()
        ref = _keras22_adam([p0], grads, 1e-2)[0]
        err = np.abs(p.detach().numpy() - ref).max()
        if form == "keras":
            assert err < 1e-12
        else:  # the two forms differ where sqrt(v) is near eps: the toggle is not a no-op
            assert err > 1e-5


def test_train_with_keras_adam_follows_keras22_for_three_steps() -> None:
    """train(adam_form="keras") against the same 3 batches, autograd gradients and Keras 2.2's
    update in numpy (no BatchNorm, no L2: nothing but Adam differs between the paths)."""
    g = np.random.default_rng(1)
    x = g.random((192, 12), dtype=np.float32)
    y = g.integers(0, 10, 192)
    cfg = TrainConfig(epochs=1, batch_size=64, weight_decay=0.0, early_stopping=False, seed=3,
                      adam_form="keras")  # fmt: skip
    model = PaperMLP(12, 5, 1, batchnorm=False, seed=3)
    shadow = copy.deepcopy(model)
    train(model, x, y, cfg, device="cpu")
    perm = torch.randperm(192, generator=torch.Generator().manual_seed(derive_seeds(3)[1]))
    params = list(shadow.parameters())
    p0 = [q.detach().numpy().copy() for q in params]
    grads, current = [], [q.copy() for q in p0]
    for s in (0, 64, 128):
        with torch.no_grad():
            for q, c in zip(params, current, strict=True):
                q.copy_(torch.from_numpy(c.astype(np.float32)))
        shadow.zero_grad()
        idx = perm[s : s + 64]
        F.cross_entropy(shadow(torch.from_numpy(x)[idx]), torch.from_numpy(y)[idx]).backward()
        grads.append([q.grad.numpy().astype(np.float64) for q in params])  # type: ignore[union-attr]
        current = _keras22_adam(p0, grads, 1e-2)
    for q, ref in zip(model.parameters(), current, strict=True):
        np.testing.assert_allclose(q.detach().numpy(), ref, atol=2e-6)
    torch_model = PaperMLP(12, 5, 1, batchnorm=False, seed=3)
    train(torch_model, x, y, TrainConfig(**{**cfg.__dict__, "adam_form": "torch"}), device="cpu")
    worst = max(np.abs(q.detach().numpy() - r).max()
                for q, r in zip(torch_model.parameters(), current, strict=True))
    assert worst > 1e-5  # the default form is measurably another update


# --------------------------------------------------------------------------- (c) BatchNorm


@pytest.mark.parametrize("rule", ["unbiased", "keras", "biased"])
def test_running_variance_follows_the_rule(rule: str) -> None:
    model = PaperMLP(16, 4, 1, seed=0, bn_running_var=rule)
    x = torch.rand(64, 16)
    with torch.no_grad():
        pre = model.hidden[0](x).double().numpy()
    model.train()
    model(x)
    bn = model.hidden[1]
    factor = {"unbiased": 64 / 63, "keras": 64 / (64 - 1.001), "biased": 1.0}[rule]
    assert running_var_factor(rule, 64) == pytest.approx(factor, rel=1e-12)
    expect_var = 0.99 * 1.0 + 0.01 * pre.var(axis=0) * factor
    expect_mean = 0.01 * pre.mean(axis=0)
    assert bn.running_var is not None and bn.running_mean is not None
    np.testing.assert_allclose(bn.running_var.numpy(), expect_var, rtol=1e-6)
    np.testing.assert_allclose(bn.running_mean.numpy(), expect_mean, atol=1e-7)
    # the batched trainer's step applies the same rule
    fresh = PaperMLP(16, 4, 1, seed=0, bn_running_var=rule)
    st = _Stack([fresh], [0.0], torch.device("cpu"))
    _train_step(st, x, torch.zeros(1, 64, dtype=torch.int64), 0.01, 1e-3, 0.0, None, rule)
    np.testing.assert_allclose(st.rv[0][0].numpy(), expect_var, rtol=1e-6)
    np.testing.assert_allclose(st.rm[0][0].numpy(), expect_mean, atol=1e-7)


def test_bn_rule_changes_only_the_running_variance() -> None:
    x = torch.rand(64, 16)
    a, b = PaperMLP(16, 4, seed=0), PaperMLP(16, 4, seed=0, bn_running_var="biased")
    out_a, out_b = a(x), b(x)  # training mode: batch statistics, identical outputs
    torch.testing.assert_close(out_a, out_b)
    assert a.hidden[1].running_var is not None and b.hidden[1].running_var is not None
    ratio = (a.hidden[1].running_var - 0.99) / (b.hidden[1].running_var - 0.99)
    # (float32 cancellation in "- 0.99" limits the precision; 64/63 is 1.6% away from 1)
    torch.testing.assert_close(ratio, torch.full((4,), 64 / 63), rtol=1e-3, atol=0)


# --------------------------------------------------------------------------- (d) float64, batched


def test_float64_training_runs_in_double_and_batched_equals_sequential() -> None:
    ds = synthetic_dataset(n_train=256, n_test=10, dim=30)
    cfgs = [TrainConfig(epochs=2, seed=s, dtype="float64") for s in (0, 1)]
    many = [PaperMLP(30, 6, 2, seed=s) for s in (0, 1)]
    seq = copy.deepcopy(many)
    hm = train_many(many, ds.x_train, ds.y_train, cfgs, device="cpu")
    hs = train_many_sequential(seq, ds.x_train, ds.y_train, cfgs, device="cpu")
    for a, b, ha, hb in zip(many, seq, hm, hs, strict=True):
        assert all(p.dtype == torch.float64 for p in a.parameters())
        assert all(p.dtype == torch.float64 for p in b.parameters())
        assert ha.epochs[-1].loss == pytest.approx(hb.epochs[-1].loss, rel=1e-12)
        for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
            atol = 1e-6 if name.endswith(".bias") and "out" not in name else 1e-10
            np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), atol=atol)


@pytest.mark.parametrize(("train_kw", "model_kw"), [
    ({"loss": "keras_clipped"}, {}), ({"adam_form": "keras"}, {}),
    ({}, {"bn_running_var": "keras"}), ({}, {"bn_running_var": "biased"}),
])  # fmt: skip
def test_batched_toggles_equal_sequential(train_kw: dict, model_kw: dict) -> None:
    ds = synthetic_dataset(n_train=320, n_test=10, dim=40)
    cfgs = [TrainConfig(epochs=2, seed=s, **train_kw) for s in (0, 1)]
    many = [PaperMLP(40, 6, 1, seed=s, **model_kw) for s in (0, 1)]
    seq = copy.deepcopy(many)
    hm = train_many(many, ds.x_train, ds.y_train, cfgs, device="cpu")
    hs = train_many_sequential(seq, ds.x_train, ds.y_train, cfgs, device="cpu")
    for a, b, ha, hb in zip(many, seq, hm, hs, strict=True):
        assert ha.epochs[-1].loss == pytest.approx(hb.epochs[-1].loss, rel=1e-5)
        sa, sb = a.state_dict(), b.state_dict()
        for k in sa:
            if k in ("hidden.0.bias", "hidden.1.running_mean", "hidden.1.num_batches_tracked"):
                continue  # BN-cancelled bias noise (tests/test_batched.py)
            torch.testing.assert_close(sa[k], sb[k], atol=5e-4, rtol=1e-3)


def test_bad_toggle_values_are_refused_with_the_accepted_ones() -> None:
    with pytest.raises(ValueError, match=r"loss must be one of 'logits', 'keras_clipped'.*'kl'"):
        TrainConfig(loss="kl")
    with pytest.raises(ValueError, match=r"adam_form must be one of 'torch', 'keras'"):
        TrainConfig(adam_form="tf")
    with pytest.raises(ValueError, match=r"dtype must be one of 'float32', 'float64'.*float16"):
        TrainConfig(dtype="float16")
    with pytest.raises(ValueError, match=r"bn_running_var must be one of 'unbiased'.*'bessel'"):
        PaperMLP(8, 4, bn_running_var="bessel")
    with pytest.raises(ValueError, match=r"bn_running_var must be one of"):
        RunConfig(dataset="synthetic", bn_running_var="x")
    with pytest.raises(ValueError, match=r"step must be >= 1"):
        keras_adam_eps(1e-7, 0.999, 0)
    from hashlib_nn.cnn import CNNTrainConfig

    with pytest.raises(ValueError, match=r"CNN trainer supports only loss='logits'"):
        CNNTrainConfig(loss="keras_clipped")


def test_train_many_refuses_mixed_toggles() -> None:
    ds = synthetic_dataset(n_train=128, n_test=10, dim=8)
    models = [PaperMLP(8, 4, seed=0), PaperMLP(8, 4, seed=1)]
    with pytest.raises(ValueError, match=r"configs\[1\]\.loss='keras_clipped' differs"):
        train_many(models, ds.x_train, ds.y_train,
                   [TrainConfig(epochs=1), TrainConfig(epochs=1, loss="keras_clipped")])
    mixed = [PaperMLP(8, 4, seed=0), PaperMLP(8, 4, seed=1, bn_running_var="biased")]
    with pytest.raises(ValueError, match=r"models\[1\]\.bn_running_var='biased' differs"):
        train_many(mixed, ds.x_train, ds.y_train, [TrainConfig(epochs=1)] * 2)


def test_content_keys_default_unchanged_toggles_distinct() -> None:
    from dataclasses import asdict

    assert deviation_identity(asdict(TrainConfig())).keys() == asdict(TrainConfig()).keys() - {
        "loss", "adam_form", "dtype"}
    shipped = pd.read_csv("src/hashlib_nn/results/standard/model_size.csv",
                          usecols=["key", "width", "seed"])  # computed before the toggles
    row = shipped[(shipped.width == 10) & (shipped.seed == 0)].iloc[0]
    assert RunConfig(width=10, train=TrainConfig(seed=0)).key == row.key
    keys = {tuple(sorted(v.items())): configs_for(Point("model_size", 10), v_name)[0].key
            for v_name, v in VARIANTS.items()}
    assert len(set(keys.values())) == len(VARIANTS)


# --------------------------------------------------------------------------- K-NN, original's way


def _codes(n: int, bits: int, seed: int, constant: int = 0) -> np.ndarray:
    g = np.random.default_rng(seed)
    b = g.random((n, bits)) < 0.3 + 0.4 * g.random(bits)
    if constant:
        b = np.concatenate([b, np.ones((n, constant), bool)], axis=1)
    return b


def _brute_vote(train: np.ndarray, y: np.ndarray, test: np.ndarray, k: int = 9
                ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(prediction, tie-free mask): the k-NN vote where the k-th distance is not tied."""
    d = (test[:, None, :] != train[None, :, :]).sum(2)
    order = np.argsort(d, axis=1, kind="stable")
    kth, nxt = np.take_along_axis(d, order[:, k - 1 : k + 1], axis=1).T
    votes = np.stack([np.bincount(y[o[:k]], minlength=10) for o in order])
    return votes.argmax(1), kth != nxt


@pytest.mark.parametrize(("bits", "algorithm"), [(12, "auto"), (12, "brute"), (40, "auto"),
                                                 (40, "ball_tree")])
def test_sklearn_knn_on_tie_free_queries_equals_the_brute_force_vote(bits: int, algorithm: str
                                                                      ) -> None:  # fmt: skip
    tr, te = _codes(200, bits, 0), _codes(600, bits, 1)
    y_tr = np.random.default_rng(2).integers(0, 10, 200)
    pred, free = _brute_vote(tr, y_tr, te)
    assert free.sum() >= 20
    y_te = pred.copy()
    y_te[::3] = (y_te[::3] + 1) % 10  # a third wrong by construction
    sel = np.flatnonzero(free)
    acc = knn_accuracy_sklearn(NeuralCodes.from_bits(tr.astype(np.uint8)), y_tr,
                               NeuralCodes.from_bits(te[sel].astype(np.uint8)), y_te[sel],
                               algorithm=algorithm)  # fmt: skip
    assert acc == pytest.approx(float((pred[sel] == y_te[sel]).mean()), abs=1e-12)


def test_sklearn_knn_is_scikit_learns_call_after_dropping_constant_bits() -> None:
    from sklearn.neighbors import KNeighborsClassifier

    tr, te = _codes(500, 14, 3, constant=3), _codes(200, 14, 4, constant=3)
    y_tr = np.random.default_rng(5).integers(0, 10, 500)
    y_te = np.random.default_rng(6).integers(0, 10, 200)
    a, b = NeuralCodes.from_bits(tr.astype(np.uint8)), NeuralCodes.from_bits(te.astype(np.uint8))
    _, _, kept = drop_constant_bits(a, b)
    assert kept.sum() == 14
    for algorithm in ("auto", "ball_tree", "brute"):
        direct = KNeighborsClassifier(9, metric="hamming", algorithm=algorithm).fit(
            tr[:, kept].astype(np.int8), y_tr).score(te[:, kept].astype(np.int8), y_te)
        assert knn_accuracy_sklearn(a, y_tr, b, y_te, algorithm=algorithm) == direct


def test_sklearn_knn_bad_inputs() -> None:
    a = NeuralCodes.from_bits(_codes(20, 8, 0).astype(np.uint8))
    y = np.arange(20) % 2
    with pytest.raises(ValueError, match=r"algorithm must be one of 'auto'.*got algorithm='fast'"):
        knn_accuracy_sklearn(a, y, a, y, algorithm="fast")
    with pytest.raises(ValueError, match=r"kd_tree.*Hamming"):
        knn_accuracy_sklearn(a, y, a, y, algorithm="kd_tree")
    with pytest.raises(ValueError, match=r"y_train"):
        knn_accuracy_sklearn(a, y[:5], a, y)


def test_knn_sklearn_suite_is_opt_in_and_measures_the_trained_codes() -> None:
    assert "knn_sklearn" not in RunConfig(dataset="synthetic").metrics
    cfg = RunConfig(dataset="synthetic", width=8, train=TrainConfig(epochs=1, seed=0),
                    metrics=("knn", "knn_sklearn"))  # fmt: skip
    result = run(cfg, store=False, device="cpu")
    got = result.final.metrics["knn_sklearn_test"]
    ds = synthetic_dataset()
    model = PaperMLP(784, 8, seed=0)
    train(model, ds.x_train, ds.y_train, cfg.train, device="cpu")
    tr, te = neural_codes(model, ds.x_train, device="cpu"), neural_codes(model, ds.x_test,
                                                                         device="cpu")
    assert isinstance(tr, NeuralCodes) and isinstance(te, NeuralCodes)
    assert got == knn_accuracy_sklearn(tr, ds.y_train, te, ds.y_test)
    frame = result.to_frame()
    assert frame.loc[frame.metric == "knn_sklearn_test", "measure"].iloc[0] == "knn_sklearn"


def test_a_float64_run_is_evaluated() -> None:
    cfg = RunConfig(dataset="synthetic", width=8, train=TrainConfig(epochs=1, dtype="float64"),
                    metrics=("rr", "net"))  # fmt: skip
    m = run(cfg, store=False, device="cpu").final.metrics
    assert 0 <= m["rr_test"] <= 1 and m["net_acc_test"] > 0.5


# --------------------------------------------------------------------------- deviations module


def _frame(rows: list[tuple]) -> pd.DataFrame:
    cols = ["experiment", "variant", "width", "depth", "n_train", "epoch", "seed", "metric",
            "value"]  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


def test_effects_on_a_hand_built_frame() -> None:
    rows = []
    for seed, (d, t1, t2) in enumerate([(0.10, 0.30, 0.11), (0.12, 0.32, 0.13),
                                        (0.14, 0.34, 0.09)]):  # fmt: skip
        # early stopping ends every run at its own epoch: the seeds still pool
        rows += [("model_size", "default", 10, 1, 48000, 60 + seed, seed, "rr_test", d),
                 ("model_size", "keras_loss", 10, 1, 48000, 50 - seed, seed, "rr_test", t1),
                 ("model_size", "float64", 10, 1, 48000, 70, seed, "rr_test", t2)]
    rows.append(("model_size", "keras_loss", 20, 1, 48000, 60, 0, "rr_test", 0.5))  # no base
    e = effects(_frame(rows)).set_index("variant")
    assert list(e.index) == ["float64", "keras_loss"]
    assert e.loc["keras_loss", "effect"] == pytest.approx(0.20)
    assert e.loc["keras_loss", "mean_base"] == pytest.approx(0.12)
    assert e.loc["keras_loss", "range"] == pytest.approx(0.04)
    assert e.loc["keras_loss", "range_base"] == pytest.approx(0.04)
    assert e.loc["keras_loss", "std_base"] == pytest.approx(0.02)
    assert bool(e.loc["keras_loss", "beyond_spread"])
    assert e.loc["float64", "effect"] == pytest.approx(-0.01)
    assert not bool(e.loc["float64", "beyond_spread"])
    assert (e["n"] == 3).all() and (e["n_base"] == 3).all() and (e["epoch"] == -1).all()


def test_effects_of_depth() -> None:
    rows = [("training_time", "default", 40, depth, 48000, 1, seed, "rr_test", v)
            for depth, vals in ((1, (0.03, 0.04)), (5, (0.45, 0.49))) for seed, v in
            enumerate(vals)]  # fmt: skip
    e = effects(_frame(rows), factor="depth")
    assert len(e) == 1 and e.depth.iloc[0] == 5
    assert e.effect.iloc[0] == pytest.approx(0.435) and bool(e.beyond_spread.iloc[0])
    with pytest.raises(ValueError, match=r"baseline variant='ours' is not in the frame"):
        effects(_frame(rows), baseline="ours")
    with pytest.raises(ValueError, match=r"factor must be 'variant' or 'depth'; got 'seed'"):
        effects(_frame(rows), factor="seed")
    with pytest.raises(ValueError, match=r"lacks the columns \['value'\]"):
        effects(_frame(rows).drop(columns="value"))


def test_points_and_configs() -> None:
    pts = points()
    assert [(p.experiment, p.width, p.depth, p.n_train) for p in pts] == [
        ("model_size", 10, 1, None), ("model_size", 20, 1, None),
        ("training_time", 40, 1, None), ("training_time", 40, 5, None),
        ("model_size", 30, 1, None), ("model_size", 40, 1, None),
        ("sample_size", 40, 1, 100), ("sample_size", 40, 1, 1000)]  # fmt: skip
    assert pts[1].seeds == tuple(range(10)) and pts[0].seeds == (0, 1, 2)
    tt = pts[2]
    base, tog = configs_for(tt, "default"), configs_for(tt, "keras_adam", sklearn_knn=False)
    assert base[0].checkpoints == (0, 1, 3, 10) and tog[0].checkpoints == (1, 3, 10)
    assert "knn_sklearn" in base[0].metrics and "knn_sklearn" not in tog[0].metrics
    assert tog[0].train.adam_form == "keras" and not tog[0].train.early_stopping
    lean = configs_for(tt, "default", sklearn_knn=False, suites=("rr", "knn"))
    assert lean[0].metrics == ("rr", "knn")
    assert configs_for(pts[0], "bn_biased")[0].bn_running_var == "biased"
    assert configs_for(pts[6], "float64")[2].train.dtype == "float64"
    assert configs_for(pts[6], "default")[0].n_train == 100
    with pytest.raises(ValueError, match=r"unknown variant 'adamw'; accepted: 'default'"):
        configs_for(tt, "adamw")
    with pytest.raises(ValueError, match=r"unknown experiment 'phase'"):
        points(experiments=["phase"])


def test_run_points_writes_and_resumes(tmp_path) -> None:
    from hashlib_nn.experiments.store import Store

    pts = [Point("model_size", 8, epochs=2, seeds=(0, 1)),
           Point("training_time", 8, 2, epochs=3, early_stopping=False, checkpoints=(0, 1, 3),
                 seeds=(0,))]  # fmt: skip
    csv = tmp_path / "ours.csv"
    variants = ["default", "keras_loss"]
    first = run_points(pts, variants, store=tmp_path / "store", csv_path=csv, log=None,
                       dataset="synthetic")  # fmt: skip
    n_stored = len(Store(tmp_path / "store"))
    assert n_stored == 6
    table = load_ours(csv)
    assert list(table.columns) == list(COLUMNS) and len(table) == len(first)
    tt = table[table.experiment == "training_time"]
    assert sorted(set(tt[tt.variant == "default"].epoch)) == [0, 1, 3]
    assert sorted(set(tt[tt.variant == "keras_loss"].epoch)) == [1, 3]
    ms = table[(table.experiment == "model_size") & (table.metric == "knn_sklearn_test")]
    assert set(ms.variant) == {"default", "keras_loss"}  # "auto": all variants at model size
    assert set(tt[tt.metric == "knn_sklearn_test"].variant) == {"default"}
    assert table.git_commit.notna().all() and table.results_fingerprint.notna().all()
    prov = json.loads(provenance_path(csv).read_text())
    assert prov["rows"] == len(table)
    assert prov["experiments"]["model_size"]["keras_loss"]["runs"] == 2
    assert prov["experiments"]["training_time"]["default"]["runs"] == 1
    again = run_points(pts, variants, store=tmp_path / "store", csv_path=csv, log=None,
                       dataset="synthetic")  # fmt: skip
    assert len(Store(tmp_path / "store")) == n_stored  # nothing trained twice
    pd.testing.assert_frame_equal(again.reset_index(drop=True), first.reset_index(drop=True))
    assert len(load_ours(csv)) == len(table)
    with pytest.raises(FileNotFoundError, match=r"deviations run"):
        load_ours(tmp_path / "missing.csv")


def test_a_rerun_replaces_every_row_of_its_run_whatever_epoch_it_stopped_at(tmp_path) -> None:
    from hashlib_nn.deviations import _merge_into

    def rows(seed: int, epoch: int, value: float) -> pd.DataFrame:
        return pd.DataFrame([{"experiment": "model_size", "variant": "default", "width": 20,
                              "depth": 1, "n_train": 48000, "epoch": epoch, "seed": seed,
                              "metric": m, "value": value} for m in ("rr_test", "knn_test")])

    csv = tmp_path / "ours.csv"
    _merge_into(csv, pd.concat([rows(0, 58, 0.1), rows(1, 60, 0.2)], ignore_index=True))
    # seed 0 run again: early stopping ended it at epoch 61 this time
    table = _merge_into(csv, rows(0, 61, 0.3))
    assert len(table) == 4 and len(pd.read_csv(csv)) == 4
    by_seed = table.groupby("seed").agg(epoch=("epoch", "unique"), value=("value", "unique"))
    assert [list(e) for e in by_seed.epoch] == [[61], [60]]
    assert [list(v) for v in by_seed.value] == [[0.3], [0.2]]


def test_provenance_keeps_a_note_on_how_the_runs_ran(tmp_path) -> None:
    table = load_ours().head(40)
    path = tmp_path / "p.json"
    assert "note" not in write_provenance(table, path)
    out = write_provenance(table, path, note="one thread per process")
    assert json.loads(path.read_text())["note"] == out["note"] == "one thread per process"


def test_the_shipped_differential_runs_are_current_clean_and_complete() -> None:
    """ours.csv is evidence: computed by the running code's results fingerprint from a clean
    checkout, every run of its grid present once, and its provenance file says so."""
    from hashlib_nn import provenance, shipped

    table = load_ours()
    assert not shipped.stale_rows(table).any()
    assert table["git_dirty"].astype(str).str.lower().eq("false").all()
    runs = table.drop_duplicates(["experiment", "variant", "width", "depth", "n_train", "seed"])
    per = runs.groupby(["experiment", "variant"]).size()
    # model size: widths 10, 30, 40 at 3 seeds, width 20 at 10 (default, keras_loss) or 3
    for variant, n in per["model_size"].items():
        assert n == (19 if variant in ("default", "keras_loss") else 12), variant
    assert set(per["sample_size"]) == set(per["training_time"]) == {6}
    # one stopping epoch per early-stopped run, one row per metric and epoch
    stopped = table[table.experiment != "training_time"]
    assert (stopped.groupby(["experiment", "variant", "width", "n_train", "seed"]).epoch
            .nunique() == 1).all()  # fmt: skip
    assert not table.duplicated(["experiment", "variant", "width", "depth", "n_train", "epoch",
                                 "seed", "metric"]).any()  # fmt: skip
    prov = json.loads(provenance_path(OURS_CSV).read_text())
    assert prov["rows"] == len(table) and prov["git_dirty"] == ["False"]
    assert prov["results_fingerprint"] == [provenance.results_fingerprint()]
    assert "OMP_NUM_THREADS=1" in prov["note"]


def test_ship_replaces_the_csv_with_clean_sources_and_refuses_the_rest(tmp_path) -> None:
    from hashlib_nn.deviations import main, ship

    ours = load_ours()
    a = ours[ours.variant == "default"]
    b = ours[ours.variant == "float64"]
    for name, frame in (("a.csv", a), ("b.csv", b)):
        frame.to_csv(tmp_path / name, index=False)
    dest = tmp_path / "ours.csv"
    ours[ours.variant == "keras_loss"].to_csv(dest, index=False)  # the earlier release
    assert main(["ship", "--from", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"),
                 "--csv", str(dest), "--note", "two lanes"]) == 0  # fmt: skip
    table = load_ours(dest)
    assert set(table.variant) == {"default", "float64"} and len(table) == len(a) + len(b)
    expect = pd.concat([a, b]).sort_values(["experiment", "variant", "width", "depth", "n_train",
                                            "epoch", "seed", "metric"], kind="stable")
    np.testing.assert_array_equal(table["value"], expect["value"])
    assert json.loads(provenance_path(dest).read_text())["note"] == "two lanes"

    before = dest.read_bytes()
    a.assign(git_dirty=True).head(9).to_csv(tmp_path / "dirty.csv", index=False)
    with pytest.raises(ValueError, match=r"dirty.csv: 9 rows .*git_dirty=true"):
        ship([tmp_path / "dirty.csv"], dest)
    with pytest.raises(ValueError, match=r"runs are in more than one source"):
        ship([tmp_path / "a.csv", tmp_path / "a.csv"], dest)
    with pytest.raises(ValueError, match=r"at least one source"):
        ship([], dest)
    assert dest.read_bytes() == before  # nothing written when a check fails
