"""Controls (hashlib_nn.controls): SimHash against a brute-force numpy reference, the untrained
network against the epoch-0 checkpoint of a real training run, the control frame against the
experiments' schema, the store cache, and the shipped file round trip. Tiny synthetic data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hashlib_nn import controls
from hashlib_nn.codes import NeuralCodes, neural_codes
from hashlib_nn.device import resolve_device
from hashlib_nn.experiments import (
    RunConfig,
    content_key,
    evaluate,
    register_dataset,
    run,
    run_data,
    sweep,
    synthetic_dataset,
    unregister_dataset,
)
from hashlib_nn.experiments.presets import chapter_params
from hashlib_nn.train import TrainConfig, train


@pytest.fixture(scope="module")
def tiny():
    register_dataset("ctl-tiny", synthetic_dataset(n_train=300, n_test=100, dim=64, seed=1))
    yield "ctl-tiny"
    unregister_dataset("ctl-tiny")


def _config(dataset: str, width: int = 8, seed: int = 3, **kw) -> RunConfig:
    return RunConfig(dataset=dataset, width=width, train=TrainConfig(epochs=1, seed=seed), **kw)


# -- SimHash --------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_bits", [1, 7, 8, 13, 64])
@pytest.mark.parametrize("centred", [False, True])
def test_simhash_matches_numpy_reference(n_bits, centred):
    rng = np.random.default_rng(5)
    x = rng.random((257, 20)).astype(np.float32)
    c = x.mean(axis=0) if centred else None
    codes = controls.simhash_codes(x, n_bits, seed=11, center=c, batch_size=50)
    g = np.random.default_rng(11).standard_normal((20, n_bits))
    shifted = x.astype(np.float64) - (c if centred else 0.0)
    projection = shifted @ g  # the exact reference, in float64
    expected = (projection > 0).astype(np.uint8)
    assert isinstance(codes, NeuralCodes)
    assert codes.n_bits == n_bits and codes.layer_sizes == (n_bits,)
    assert codes.packed.shape == (257, (n_bits + 7) // 8)
    clear = np.abs(projection) > 1e-4  # float32 may round a projection this close to 0 across it
    assert clear.mean() > 0.99
    np.testing.assert_array_equal(codes.unpack()[clear], expected[clear])


def test_simhash_on_mnist_scale_inputs_agrees_with_float64():
    # 784 pixels in [0, 1], centred: bits equal the exact sign except within rounding of 0.
    rng = np.random.default_rng(2)
    x = (rng.random((500, 784)) * (rng.random((500, 784)) < 0.2)).astype(np.float32)
    c = x.mean(axis=0, dtype=np.float64)
    codes = controls.simhash_codes(x, 40, seed=9, center=c)
    projection = (x.astype(np.float64) - c) @ np.random.default_rng(9).standard_normal((784, 40))
    clear = np.abs(projection) > 1e-3
    np.testing.assert_array_equal(codes.unpack()[clear], (projection[clear] > 0).astype(np.uint8))


def test_simhash_is_deterministic_under_its_seed():
    x = np.random.default_rng(0).random((100, 30))
    a = controls.simhash_codes(x, 16, seed=4)
    b = controls.simhash_codes(x, 16, seed=4)
    c = controls.simhash_codes(x, 16, seed=5)
    np.testing.assert_array_equal(a.packed, b.packed)
    assert not np.array_equal(a.packed, c.packed)


def test_centring_balances_the_bits_of_nonnegative_inputs():
    # Inputs in [0, 1] (like pixels): uncentred hyperplanes cut the data off-centre.
    x = np.random.default_rng(1).random((2000, 50))
    unc = controls.simhash_codes(x, 32, seed=0).unpack().mean(axis=0)
    cen = controls.simhash_codes(x, 32, seed=0, center=x.mean(axis=0)).unpack().mean(axis=0)
    assert np.abs(cen - 0.5).mean() < 0.05
    assert np.abs(unc - 0.5).mean() > 2 * np.abs(cen - 0.5).mean()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_bits": 0}, r"n_bits must be a positive integer; got n_bits=0"),
        ({"n_bits": 2.5}, r"n_bits must be a positive integer; got n_bits=2.5"),
        ({"seed": -1}, r"seed must be a non-negative integer; got seed=-1"),
        ({"center": np.zeros(3)}, r"center must be a vector of length D=4 .*got shape \(3,\)"),
        ({"x": np.zeros(4)}, r"x must be a non-empty numeric \(N, D\) array; got .* shape \(4,\)"),
        ({"batch_size": 0}, r"batch_size must be a positive integer; got batch_size=0"),
    ],
)
def test_simhash_bad_inputs(kwargs, match):
    args = {"x": np.zeros((5, 4)), "n_bits": 3, "seed": 0, **kwargs}
    x, n_bits = args.pop("x"), args.pop("n_bits")
    with pytest.raises(ValueError, match=match):
        controls.simhash_codes(x, n_bits, **args)


# -- The untrained network ------------------------------------------------------------------------


def test_untrained_codes_are_the_epoch0_codes_of_training(tiny):
    config = _config(tiny, width=12, seed=7)
    data = run_data(config)
    seen = {}

    def grab(epoch, model):
        seen[epoch] = neural_codes(model, data.x_test, device="cpu")

    model = controls.untrained_network(config)
    train(model, data.x_fit, data.y_fit, config.train, checkpoints=(0, 1), on_checkpoint=grab,
          device="cpu")  # fmt: skip
    ctl = controls.untrained_codes(config, data.x_test, device="cpu")
    np.testing.assert_array_equal(ctl.packed, seen[0].packed)
    assert not np.array_equal(ctl.packed, seen[1].packed)  # training moved the codes


def test_untrained_codes_are_uncentred_projections_of_the_first_layer(tiny):
    # At initialization: zero bias, BatchNorm running mean 0 / variance 1 (a positive scale).
    config = _config(tiny, width=10, seed=2)
    model = controls.untrained_network(config)
    w = model.hidden[0].weight.detach().double().numpy()
    x = run_data(config).x_test
    expected = (x.astype(np.float64) @ w.T > 0).astype(np.uint8)
    got = controls.untrained_codes(config, x, device="cpu").unpack()
    np.testing.assert_array_equal(got, expected)


def test_untrained_control_metrics_equal_epoch0_of_a_real_run(tiny):
    config = _config(tiny, width=8, seed=3, checkpoints=(0,))
    trained = run(config, store=False, device="cpu")
    epoch0 = trained.checkpoints[0]
    assert epoch0.epoch == 0
    ctl = controls.control_result("untrained", config, device="cpu")
    assert ctl.checkpoints[0].metrics == epoch0.metrics
    assert ctl.key == controls.control_key("untrained", config) != content_key(config)
    assert ctl.trainer == "control:untrained" and ctl.epochs_run == 0


def test_code_evaluation_equals_the_experiments_evaluation(tiny):
    # The SimHash path (_evaluate_codes) and experiments._evaluate agree on the same codes.
    config = _config(tiny, width=9, seed=1)
    data = run_data(config, fit=False)
    dev = resolve_device("cpu")
    model = controls.untrained_network(config)
    reference = evaluate(model, config, data, dev, 0).metrics
    codes_tr = neural_codes(model, data.x_eval, device="cpu")
    codes_te = neural_codes(model, data.x_test, device="cpu")
    ours = controls._evaluate_codes(codes_tr, codes_te, config, data, dev).metrics
    expected = {k: v for k, v in reference.items() if not k.startswith("net_")}
    assert ours == expected


def test_simhash_control_uses_the_training_mean_and_the_seed(tiny):
    config = _config(tiny, width=11, seed=4)
    data = run_data(config, fit=False)
    ctl = controls.control_result("simhash", config, suites=("rr",), device="cpu")
    codes = controls.simhash_codes(data.x_test, 11, seed=4, center=data.x_eval.mean(axis=0))
    rr_test = (len(codes) - len({bytes(r) for r in codes.packed})) / len(codes)
    assert ctl.checkpoints[0].metrics["rr_test"] == pytest.approx(rr_test, abs=0)
    assert ctl.checkpoints[0].metrics["n_bits"] == 11


# -- The frame ------------------------------------------------------------------------------------


def test_control_frame_has_the_experiments_schema(tiny, tmp_path):
    configs = [_config(tiny, width=w, seed=s) for w in (4, 8) for s in (0, 1)]
    trained = sweep(configs, store=False, device="cpu", progress=False)
    frame = controls.controls_frame(configs, store=tmp_path, device="cpu")
    assert list(frame.columns) == [*trained.columns, "control"]
    for col in trained.columns:
        if col in ("stopped_epoch",):
            continue
        if trained[col].notna().all() and frame[col].notna().all():
            assert frame[col].dtype.kind == trained[col].dtype.kind, col
    t_metrics = set(trained["metric"])
    assert set(frame.loc[frame["control"] == "untrained", "metric"]) == t_metrics
    assert set(frame.loc[frame["control"] == "simhash", "metric"]) == {
        m for m in t_metrics if not m.startswith("net_")
    }
    assert (frame["epoch"] == 0).all() and frame["final"].all()
    assert (frame["epochs_run"] == 0).all()
    cols = ["width", "seed", "n_train", "max_epochs", "depth"]
    pairs = frame[cols].drop_duplicates().sort_values(cols).reset_index(drop=True)
    expected = trained[cols].drop_duplicates().sort_values(cols).reset_index(drop=True)
    pd.testing.assert_frame_equal(pairs, expected)
    n_bits = frame[frame["metric"] == "n_bits"]
    assert (n_bits["value"] == n_bits["width"]).all()


def test_controls_are_cached_in_the_store(tiny, tmp_path, monkeypatch):
    configs = [_config(tiny, width=6, seed=0)]
    first = controls.controls_frame(configs, suites=("rr",), store=tmp_path, device="cpu")
    assert (tmp_path / "controls").is_dir()
    assert not list(tmp_path.glob("*.json"))  # never mixed with the trained runs

    def boom(*a, **k):
        raise AssertionError("recomputed a stored control")

    with monkeypatch.context() as m:
        m.setattr(controls, "control_result", boom)
        again = controls.controls_frame(configs, suites=("rr",), store=tmp_path, device="cpu")
    pd.testing.assert_frame_equal(first, again)
    more = controls.controls_frame(configs, suites=("rr", "knn"), store=tmp_path, device="cpu")
    assert "knn_test" in set(more["metric"])
    with monkeypatch.context() as m:  # the union is stored: rr alone is served from it
        m.setattr(controls, "control_result", boom)
        rr = controls.controls_frame(configs, suites=("rr",), store=tmp_path, device="cpu")
    assert "knn_test" not in set(rr["metric"])
    pd.testing.assert_frame_equal(rr.reset_index(drop=True), first)


def test_model_size_controls_follow_widths_and_seeds(tiny):
    frame = controls.model_size_controls(tiny, [4, 8], [2, 5], preset="quick", suites=("rr",),
                                         store=False, device="cpu")  # fmt: skip
    got = set(map(tuple, frame[["control", "width", "seed"]].drop_duplicates().to_numpy()))
    assert got == {(c, w, s) for c in controls.CONTROLS for w in (4, 8) for s in (2, 5)}
    assert set(frame["max_epochs"]) == {8}  # the quick preset's model-size budget


def test_chapter_controls_limits_categorization_at_quick(tiny, tmp_path):
    plan = chapter_params("categorization", "quick", dataset=tiny, widths=[4, 6, 8, 12, 16],
                          repeats=2, device="cpu")  # fmt: skip
    frame = controls.chapter_controls("categorization", plan, store=tmp_path)
    assert sorted(frame["width"].unique()) == [4, 8, 16]
    assert sorted(frame["seed"].unique()) == [0]
    det = controls.chapter_controls(
        "determinism",
        chapter_params("determinism", "quick", dataset=tiny, widths=[4, 6, 8, 12, 16],
                       repeats=2, device="cpu"),
        store=tmp_path,
    )  # fmt: skip
    assert sorted(det["width"].unique()) == [4, 6, 8, 12, 16]
    assert sorted(det["seed"].unique()) == [0]
    assert set(det["measure"]) <= {"rr", "collision", "n_distinct", "n_bits"}
    assert controls.coverage_sentence(frame) == (
        "Controls measured at width(s) 4, 8, 16 with seed(s) 0.")
    assert controls.coverage_sentence(frame.iloc[:0]) == ""
    full = controls.chapter_controls(
        "determinism",
        chapter_params("determinism", "standard", dataset=tiny, widths=[4, 6], repeats=2,
                       epochs=1, device="cpu"),
        store=tmp_path,
    )  # fmt: skip
    assert sorted(full["seed"].unique()) == [0, 1]  # no limit at the standard preset


def test_bad_control_names_and_suites(tiny):
    config = _config(tiny)
    with pytest.raises(ValueError, match=r"unknown control 'trained'; accepted: 'untrained', "):
        controls.control_key("trained", config)
    with pytest.raises(ValueError, match=r"none of the suites \['net'\] applies to the 'simhash'"):
        controls.control_result("simhash", config, suites=("net",))
    with pytest.raises(ValueError, match=r"suites must be a sequence of 'rr', .*got \('acc',\)"):
        controls.control_result("untrained", config, suites=("acc",))
    with pytest.raises(TypeError, match="config must be a hashlib_nn.experiments.RunConfig"):
        controls.untrained_network("mnist")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"chapter must be one of 'determinism', "):
        controls.chapter_controls("model_size", [])  # type: ignore[arg-type]


def test_ship_and_load_round_trip(tiny, tmp_path, monkeypatch):
    import hashlib_nn.experiments.presets as presets

    configs = [_config(tiny, width=w, seed=0) for w in (4, 8)]
    monkeypatch.setattr(presets, "grid", lambda *a, **k: configs)
    frame = controls.controls_frame(configs, suites=("rr",), store=tmp_path / "s", device="cpu")
    paths = controls.ship_controls(tmp_path / "s", "standard", [tiny], out_dir=tmp_path / "out")
    assert [p.name for p in paths] == ["controls.csv", "PROVENANCE.json"]
    loaded = controls.load_shipped("standard", dataset=tiny, root=tmp_path / "out")
    assert len(loaded) == len(frame)
    np.testing.assert_allclose(loaded["value"], frame["value"].round(5))
    assert set(loaded["preset"]) == {"standard"}
    assert set(loaded["trainer"]) == {"control:untrained", "control:simhash"}
    prov = json.loads((tmp_path / "out" / "standard" / "PROVENANCE.json").read_text())
    assert prov["controls"]["datasets"][tiny] == {"runs_in_grid": 4, "runs_shipped": 4}
    assert prov["controls"]["seeds"] == [0]
    assert "controls" not in prov["chapters"]  # the chapters' files only (shipped.load)
    empty = controls.load_shipped("standard", root=tmp_path / "nowhere")
    assert empty.empty and "control" in empty.columns

