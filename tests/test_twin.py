"""The Keras twin (hashlib_nn.twin): the same weights give the same codes in Keras and in our
PyTorch port, the schedule and early stopping follow the original's rules, and the twin's runs
are well-formed. Keras tests skip when keras is absent (CI installs the ``keras`` extra)."""

from __future__ import annotations

import importlib.util
import types

import numpy as np
import pandas as pd
import pytest
import torch

from hashlib_nn import twin


@pytest.fixture(scope="module")
def keras():
    """Keras 3 on the torch backend; the test skips when keras is not installed (a bare
    ``pytest.importorskip("keras")`` would import it on its default TensorFlow backend)."""
    if importlib.util.find_spec("keras") is None:
        pytest.skip("keras is not installed (pip install 'hashlib_nn[keras]')")
    return twin.keras_module()


@pytest.fixture(scope="module")
def mnist():
    from hashlib_nn.data import load_dataset

    return load_dataset("mnist")


def _synthetic(n_train: int = 256, n_test: int = 64, d: int = 12, seed: int = 0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 2, (10, d))
    y_tr, y_te = rng.integers(0, 10, n_train), rng.integers(0, 10, n_test)
    x_tr = (centers[y_tr] + rng.normal(0, 1, (n_train, d))).astype(np.float32)
    x_te = (centers[y_te] + rng.normal(0, 1, (n_test, d))).astype(np.float32)
    return types.SimpleNamespace(x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)


# ----------------------------------------------------------------- cross-framework encoder


def _trained_paper_mlp(mnist, width: int, depth: int):
    """Our PaperMLP after two epochs of our trainer on 2,048 MNIST images (BN statistics and
    weights far from their initial values)."""
    from hashlib_nn.models import PaperMLP
    from hashlib_nn.train import TrainConfig, train

    torch.manual_seed(0)
    model = PaperMLP(784, width, depth, 10, seed=3)
    x, y = mnist.x_train[:2048], mnist.y_train[:2048].astype(np.int64)
    train(model, x, y, TrainConfig(epochs=2, early_stopping=False, seed=3), device="cpu")
    return model.eval()


def _bn_outputs(model, x: np.ndarray) -> np.ndarray:
    """Our model's BatchNorm outputs (the ReLUs' inputs) in eval mode, layers concatenated."""
    outs, h = [], torch.from_numpy(x)
    with torch.no_grad():
        for m in model.hidden:
            h = m(h)
            if isinstance(m, torch.nn.BatchNorm1d):
                outs.append(h.numpy().copy())
    return np.concatenate(outs, axis=1)


@pytest.mark.parametrize(("width", "depth", "exact"), [(40, 1, True), (40, 5, True),
                                                       (20, 2, False)])  # fmt: skip
def test_same_weights_give_identical_codes_on_mnist(keras, mnist, width: int, depth: int,
                                                    exact: bool) -> None:  # fmt: skip
    """Our trained weights in the Keras model: the same codes bit for bit on 2,000 MNIST test
    images at the twin's shapes (width 40 at depth 1 and at depth 5); in general a bit may flip
    only where the ReLU's input lies within float32 rounding of zero (depth 2 has one such bit,
    5.8e-8, out of 40,000), and the probabilities agree to float tolerance."""
    from hashlib_nn.codes import neural_codes

    torch_model = _trained_paper_mlp(mnist, width, depth)
    config = twin.TwinConfig("model_size", width=width, depth=depth)
    keras.utils.set_random_seed(0)
    keras_model = twin.load_paper_mlp(twin.build_mlp(config), torch_model)
    x = mnist.x_test[:2000]
    ours, logits = neural_codes(torch_model, x, device="cpu", return_logits=True)
    theirs, probs = twin.keras_codes(keras_model, x)
    assert theirs.layer_sizes == ours.layer_sizes == (width // depth,) * depth
    n_distinct = len(np.unique(ours.packed, axis=0))
    assert n_distinct > 100  # a real encoder, not a constant one
    if exact:
        np.testing.assert_array_equal(theirs.packed, ours.packed)  # bit-identical codes
    else:
        flips = theirs.unpack() != ours.unpack()
        assert flips.sum() <= 1e-4 * flips.size
        assert np.abs(_bn_outputs(torch_model, x)[flips]).max(initial=0.0) < 1e-6
    expected = torch.softmax(torch.from_numpy(logits), 1).numpy()
    np.testing.assert_allclose(probs, expected, rtol=0, atol=2e-6)
    assert (probs.argmax(1) == logits.argmax(1)).all()


def test_codes_use_the_moving_statistics(keras, mnist) -> None:
    """Inference mode reads BN's moving statistics: without them (the Keras initial values),
    the same kernels give other codes, so the test above can fail."""
    from hashlib_nn.codes import neural_codes

    torch_model = _trained_paper_mlp(mnist, 40, 1)
    keras.utils.set_random_seed(0)
    keras_model = twin.load_paper_mlp(twin.build_mlp(twin.TwinConfig("model_size", 40)),
                                      torch_model)  # fmt: skip
    bn = next(la for la in keras_model.layers if type(la).__name__ == "BatchNormalization")
    gamma, beta, _, _ = bn.get_weights()
    bn.set_weights([gamma, beta, np.zeros_like(gamma), np.ones_like(gamma)])
    x = mnist.x_test[:500]
    ours = neural_codes(torch_model, x, device="cpu")
    theirs, _ = twin.keras_codes(keras_model, x)
    assert (theirs.packed != ours.packed).any()


def test_load_refuses_other_shapes(keras, mnist) -> None:
    from hashlib_nn.models import PaperMLP

    keras.utils.set_random_seed(0)
    model = twin.build_mlp(twin.TwinConfig("model_size", 40, depth=2))
    with pytest.raises(ValueError, match="torch has 2 Linear and 1 BatchNorm1d, keras has 3 Dense"):
        twin.load_paper_mlp(model, PaperMLP(784, 40, 1, 10))
    with pytest.raises(ValueError, match=r"kernel shapes differ: torch \(784, 10\)"):
        twin.load_paper_mlp(model, PaperMLP(784, 20, 2, 10))


def test_model_is_create_mlp(keras) -> None:
    model = twin.build_mlp(twin.TwinConfig("training_time", 40, depth=5, early_stopping=False,
                                           max_epochs=10))  # fmt: skip
    kinds = [type(la).__name__ for la in model.layers]
    assert kinds == ["InputLayer"] + ["Dense", "BatchNormalization", "Activation"] * 5 + ["Dense"]
    denses = [la for la in model.layers if type(la).__name__ == "Dense"]
    assert [d.units for d in denses] == [8] * 5 + [10]
    assert all(float(d.kernel_regularizer.l2) == pytest.approx(1e-6) for d in denses[:-1])
    assert denses[-1].kernel_regularizer is None
    bns = [la for la in model.layers if type(la).__name__ == "BatchNormalization"]
    assert {(b.momentum, b.epsilon) for b in bns} == {(0.99, 1e-3)}
    opt = model.optimizer
    assert (float(opt.learning_rate), opt.beta_1, opt.beta_2, opt.epsilon) == pytest.approx(
        (1e-2, 0.9, 0.999, 1e-7))


def test_loss_is_keras_clipped_crossentropy(keras) -> None:
    """Keras 3's categorical_crossentropy on probabilities clips at 1e-7, as Keras 2.2's did."""
    p = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]], dtype=np.float32)
    t = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], dtype=np.float32)
    got = keras.ops.convert_to_numpy(keras.losses.categorical_crossentropy(t, p))
    np.testing.assert_allclose(got, [-np.log(1e-7), -np.log(0.5)], rtol=1e-5)


# ------------------------------------------------------------ schedule and early stopping


def test_step_schedule_hand_computed() -> None:
    s = twin.StepSchedule(1e-2, 0.1, 20)
    got = [s(e) for e in (0, 19, 20, 39, 40, 59, 60)]
    assert got == pytest.approx([1e-2, 1e-2, 1e-3, 1e-3, 1e-4, 1e-4, 1e-5])
    with pytest.raises(ValueError, match="epoch must be a non-negative integer; got epoch=-1"):
        s(-1)


@pytest.mark.parametrize(
    ("losses", "patience", "min_delta", "expected"),
    [
        ([1.0, 0.9, 0.95, 0.92, 0.91], 3, 0.0, 5),  # three epochs above 0.9
        ([1.0, 0.9, 0.95, 0.89, 0.91, 0.92], 3, 0.0, None),  # reset at epoch 4
        ([1.0, 1.0, 1.0], 2, 0.0, 3),  # equal is no improvement
        ([1.0, 0.97, 0.96, 0.5], 2, 0.05, 3),  # improvements smaller than min_delta
        ([3.0, 2.0, 1.0], 1, 0.0, None),
    ],
)
def test_early_stopping_hand_computed(losses, patience, min_delta, expected) -> None:
    assert twin.early_stopping(losses, patience, min_delta) == expected


def _keras_stop(keras, losses, patience, min_delta):
    cb = keras.callbacks.EarlyStopping(monitor="loss", patience=patience, min_delta=min_delta)
    model = types.SimpleNamespace(stop_training=False)
    cb.set_model(model)
    cb.on_train_begin()
    for epoch, loss in enumerate(losses):
        cb.on_epoch_end(epoch, {"loss": loss})
        if model.stop_training:
            return epoch + 1
    return None


def test_keras_early_stopping_matches_the_rule(keras) -> None:
    rng = np.random.default_rng(1)
    cases = [([1.0, 0.9, 0.95, 0.92, 0.91], 3, 0.0), ([1.0, 1.0, 1.0], 2, 0.0),
             ([1.0, 0.97, 0.96, 0.5], 2, 0.05)]  # fmt: skip
    cases += [(list(np.cumsum(rng.normal(-0.01, 0.05, 60)) + 2), int(p), 0.0)
              for p in rng.integers(1, 8, 20)]  # fmt: skip
    stops = [twin.early_stopping(*c) for c in cases]
    assert any(s is None for s in stops) and any(s is not None for s in stops)
    assert [_keras_stop(keras, *c) for c in cases] == stops


def test_schedule_runs_on_across_fit_calls(keras) -> None:
    """Training-time runs call fit once per checkpoint; the learning rate follows the global
    epoch (here x0.1 every 2 epochs), so epoch 3 trains at 1e-3, not at a restarted 1e-2."""
    config = twin.TwinConfig("training_time", 6, seed=1, early_stopping=False, max_epochs=5,
                             checkpoints=(0, 1, 3), lr_decay_every=2,
                             suites=("rr", "net"))  # fmt: skip
    frame = twin.run_twin(config, dataset=_synthetic())
    lr = frame[frame.metric == "learning_rate"].set_index("epoch")["value"]
    assert lr.to_dict() == pytest.approx({1: 1e-2, 3: 1e-3, 5: 1e-4})
    assert frame.attrs["learning_rates"] == pytest.approx([1e-2, 1e-2, 1e-3, 1e-3, 1e-4])
    assert sorted(frame.epoch.unique()) == [0, 1, 3, 5]
    assert frame.groupby("epoch").final.first().to_dict() == {0: False, 1: False, 3: False,
                                                              5: True}  # fmt: skip


def test_run_stops_where_the_rule_says(keras) -> None:
    config = twin.TwinConfig("model_size", 10, seed=2, max_epochs=60, patience=2,
                             n_train=32, suites=("rr", "net", "knn", "knn_sklearn"))  # fmt: skip
    frame = twin.run_twin(config, dataset=_synthetic())
    losses = frame.attrs["losses"]
    expected = twin.early_stopping(losses, 2)
    assert expected is not None and expected == len(losses) < 60
    assert frame.stopped_epoch.iloc[0] == expected == frame.epochs_run.iloc[0]
    assert frame.epoch.unique().tolist() == [expected]
    values = frame.set_index("metric")["value"]
    for metric in ("rr_train", "rr_test", "net_acc_test", "knn_test", "knn_sklearn_test"):
        assert 0.0 <= values[metric] <= 1.0
    assert frame[frame.metric == "train_loss"].value.iloc[0] == pytest.approx(losses[-1])
    assert (frame.keras.str.startswith("3.")).all() and (frame.backend == "torch").all()


def test_same_seed_same_run(keras) -> None:
    config = twin.TwinConfig("model_size", 8, seed=4, max_epochs=2, early_stopping=False,
                             suites=("rr", "net"))  # fmt: skip
    a = twin.run_twin(config, dataset=_synthetic())
    b = twin.run_twin(config, dataset=_synthetic())
    c = twin.run_twin(twin.TwinConfig("model_size", 8, seed=5, max_epochs=2,
                                      early_stopping=False, suites=("rr", "net")),
                      dataset=_synthetic())  # fmt: skip
    assert a.attrs["losses"] == b.attrs["losses"] != c.attrs["losses"]


# ------------------------------------------------------------------ configs, plan, files


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"experiment": "model_sizes", "width": 40}, "experiment must be one of 'model_size'"),
        ({"experiment": "model_size", "width": 12, "depth": 5},
         "width must be a positive multiple of depth=5; got width=12"),
        ({"experiment": "model_size", "width": 40, "checkpoints": (0, 300)},
         r"checkpoints must be epochs in \[0, max_epochs=200\]; got \[300\]"),
        ({"experiment": "model_size", "width": 40, "suites": ("rr", "purity")},
         "suites must be a non-empty subset of"),
        ({"experiment": "model_size", "width": 40, "seed": -1},
         "seed must be an integer >= 0; got seed=-1"),
        ({"experiment": "model_size", "width": 40, "n_train": 0},
         "n_train must be an integer >= 1; got n_train=0"),
    ],
)
def test_bad_configs(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        twin.TwinConfig(**kwargs)


def test_plan_points_seed_major() -> None:
    ms = twin.plan("model_size", [0, 1], max_epochs=40)
    assert [(c.seed, c.width, c.depth, c.max_epochs, c.early_stopping) for c in ms] == [
        (s, w, 1, 40, True) for s in (0, 1) for w in (10, 20, 30, 40)]
    tt = twin.plan("training_time", [0], max_epochs=99)
    assert [(c.width, c.depth, c.per_layer, c.checkpoints, c.max_epochs, c.early_stopping)
            for c in tt] == [(40, 1, 40, (0, 1, 3, 10), 10, False),
                             (40, 5, 8, (0, 1, 3, 10), 10, False)]  # fmt: skip
    ss = twin.plan("sample_size", [2])
    assert [(c.n_train, c.width, c.max_epochs) for c in ss] == [(100, 40, 200), (1000, 40, 200)]
    with pytest.raises(ValueError, match="experiment must be one of 'model_size', "
                                         "'training_time', 'sample_size'; got 'depth'"):
        twin.plan("depth")


def test_twin_data_tiles_the_first_n() -> None:
    ds = _synthetic(n_train=100)
    c = twin.TwinConfig("sample_size", 10, n_train=30)
    d = twin.twin_data(c, ds)
    assert len(d.x_fit) == 90 and len(d.x_train) == 30
    np.testing.assert_array_equal(d.x_fit[60:], ds.x_train[:30])
    np.testing.assert_array_equal(d.y_fit, np.tile(ds.y_train[:30], 3))
    with pytest.raises(ValueError, match="n_train must be at most 100; got n_train=101"):
        twin.twin_data(twin.TwinConfig("sample_size", 10, n_train=101), ds)


def test_append_rows_writes_one_header(tmp_path) -> None:
    path = tmp_path / "twin" / "keras.csv"
    a = pd.DataFrame({"experiment": ["model_size"], "n_train": [None], "value": [0.5]})
    b = pd.DataFrame({"experiment": ["sample_size"], "n_train": [100], "value": [0.25]})
    twin.append_rows(path, a)
    twin.append_rows(path, b)
    assert path.read_text().count("experiment") == 1
    got = twin.load_twin(path)
    assert got.value.tolist() == [0.5, 0.25]
    assert got.n_train.isna().tolist() == [True, False]
    with pytest.raises(FileNotFoundError, match="no twin results at"):
        twin.load_twin(tmp_path / "missing.csv")


def test_adam_adds_epsilon_after_folding_the_bias_correction(keras) -> None:
    """Keras' Adam (Keras 2.2 and 3): w -= lr sqrt(1-b2^t)/(1-b1^t) m / (sqrt(v) + eps). On a
    gradient of 1e-6 the first step is 0.24 lr, where PyTorch's form (eps added to the
    bias-corrected sqrt(v)) would give 0.91 lr."""
    g, lr, eps = 1e-6, 1e-2, 1e-7
    w = keras.Variable(np.array([0.0], dtype=np.float32))
    opt = twin.build_mlp(twin.TwinConfig("model_size", 4), in_features=3).optimizer
    opt.apply([keras.ops.convert_to_tensor(np.array([g], dtype=np.float32))], [w])
    m, v = 0.1 * g, 0.001 * g * g
    keras_form = lr * np.sqrt(1 - 0.999) / (1 - 0.9) * m / (np.sqrt(v) + eps)
    torch_form = lr * (m / 0.1) / (np.sqrt(v / 0.001) + eps)
    step = -float(keras.ops.convert_to_numpy(w)[0])
    assert step == pytest.approx(keras_form, rel=1e-4)
    assert abs(step - torch_form) > 0.5 * lr


def test_run_plan_resumes(tmp_path, monkeypatch) -> None:
    """Runs already in the CSV (sample size or the full set, whose n_train is empty) are not
    trained again; new ones are appended."""
    calls = []

    def fake_run(config: twin.TwinConfig) -> pd.DataFrame:
        calls.append(config)
        return pd.DataFrame([{**{k: getattr(config, k) for k in (
            "experiment", "dataset", "width", "depth", "n_train", "seed", "max_epochs")},
            "metric": "rr_test", "value": 0.5, "epochs_run": 1, "seconds_per_epoch": 1.0,
            "eval_seconds": 1.0}])  # fmt: skip

    monkeypatch.setattr(twin, "run_twin", fake_run)
    out = tmp_path / "keras.csv"
    first = twin.plan("model_size", [0]) + twin.plan("sample_size", [0])
    twin.run_plan(first, out, log=None)
    assert len(calls) == 6
    twin.run_plan(first + twin.plan("model_size", [1]), out, log=None)
    assert [c.seed for c in calls[6:]] == [1, 1, 1, 1]
    assert len(twin.load_twin(out)) == 10


def test_describe_and_provenance_of_rows() -> None:
    rows = pd.DataFrame([
        {"experiment": e, "width": w, "depth": 1, "n_train": None, "seed": s, "max_epochs": m,
         "epochs_run": r, "seconds_per_epoch": spe, "keras": "3.15.1", "backend": "torch",
         "torch": "2.13.0+cpu", "torch_threads": 1, "created": c, "git_commit": "abc"}
        for e, w, s, m, r, spe, c in [
            ("model_size", 10, 0, 10, 10, 11.0, "2026-12-05T08:00:00"),
            ("model_size", 10, 0, 10, 10, 11.0, "2026-12-05T08:00:00"),  # a second metric row
            ("model_size", 20, 1, 10, 9, 13.0, "2026-12-05T09:00:00"),
            ("training_time", 40, 0, 10, 10, 9.0, "2026-12-05T08:30:00")]])  # fmt: skip
    info = twin.provenance(rows)
    assert info["experiments"]["model_size"] == {"runs": 2, "seeds": [0, 1], "max_epochs": [10],
                                                 "epochs_run": [9, 10]}  # fmt: skip
    assert info["seconds_per_epoch"] == {"median": 11.0, "min": 9.0, "max": 13.0}
    assert info["created"] == ["2026-12-05T08:00:00", "2026-12-05T09:00:00"]
    assert info["note"] == twin.SHARED_MACHINE_NOTE and "git_dirty_runs" not in info
    assert twin.provenance(rows.assign(git_dirty=[True, True, False, True]), "n")[
        "git_dirty_runs"] == 2 and twin.provenance(rows, "n")["note"] == "n"  # fmt: skip
    text = twin.describe(rows)
    assert text.splitlines()[0] == ("Keras 3.15.1 on the torch backend (torch 2.13.0+cpu, 1 "
                                    "thread): 11.0 s per epoch (median; 9.0–13.0), wall time on 2 "
                                    "CPU cores")  # fmt: skip
    assert "model_size: 2 runs, seeds [0, 1], at most 10 epochs, 9–10 run" in text
    assert "git commit" not in text  # no git_dirty column: nothing said about the checkout
    clean = twin.describe(rows.assign(git_dirty="false"))
    assert clean.splitlines()[-1] == ("Computed by the twin code of git commit(s) abc, a clean "
                                      "checkout")
    dirty = twin.describe(rows.assign(git_dirty=["true", "true", "false", "false"]))
    assert dirty.splitlines()[-1] == ("Computed by the twin code of git commit(s) abc; 1 of 3 runs "
                                      "from a checkout with uncommitted changes (not traceable "
                                      "to committed code)")


def test_plan_like_rebuilds_the_runs_of_a_csv_in_plan_order() -> None:
    """The runs of a twin CSV (any seeds, a cut budget, part of a seed range) come back as the
    configs plan() builds, seed-major; a run plan() has no point for is named."""
    wanted = [*twin.plan("model_size", [0, 1], max_epochs=10),
              *[c for c in twin.plan("model_size", [2, 3], max_epochs=10) if c.width == 20],
              *twin.plan("training_time", [4]), *twin.plan("sample_size", [0])]  # fmt: skip
    rows = pd.DataFrame([{**{k: getattr(c, k) for k in (
        "experiment", "dataset", "width", "depth", "n_train", "seed", "max_epochs")},
        "metric": m} for c in reversed(wanted) for m in ("rr_train", "rr_test")])  # fmt: skip
    got = twin.plan_like(rows)
    assert got == wanted
    assert [c.seed for c in got[:10]] == [0, 0, 0, 0, 1, 1, 1, 1, 2, 3]
    assert got[10].checkpoints == (0, 1, 3, 10) and got[10].early_stopping is False
    assert twin.plan_like(rows, ["sample_size"]) == wanted[12:] and len(wanted) == 14
    odd = pd.concat([rows, rows[rows.experiment == "model_size"].iloc[:1].assign(width=15)],
                    ignore_index=True)
    with pytest.raises(ValueError, match=r"plan\(\) has no run \('model_size', 'mnist', 15, "):
        twin.plan_like(odd)
    with pytest.raises(ValueError, match=r"unknown experiments \['depth'\]; accepted: model_size"):
        twin.plan_like(rows, ["depth"])
