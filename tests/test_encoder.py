"""NeuralCodeEncoder: a scikit-learn transformer from samples to neural codes."""

from __future__ import annotations

import pickle
import re
from copy import deepcopy

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits
from torch import nn

from hashlib_nn.codes import neural_codes
from hashlib_nn.encoder import NeuralCodeEncoder, expected_failed_checks

LAZY_WARNING = "ignore:Lazy modules are a new feature:UserWarning"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny networks and a 1,347-row logistic regression: on 2 busy cores, extra threads only
    wait on each other (measured: a 64x10 BatchNorm step 40 ms with 2 torch threads under load,
    under 1 ms with one; LogisticRegression on digits' codes 9.5 s vs 0.2 s)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits():
    """scikit-learn's 8x8 digits (pixels 0..16), a stratified 75/25 split."""
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def fitted(digits):
    X_train, _, y_train, _ = digits
    return NeuralCodeEncoder(width=32, epochs=5, scale=1 / 16).fit(X_train, y_train)


def hand_model() -> nn.Sequential:
    """2 -> ReLU(2) -> ReLU(1) -> 2, weights set by hand.

    Layer 1: h = relu(x0 - x1, x0 + x1 - 1); layer 2: g = relu(h0 - h1 + 0.5);
    logits (g, 0.25 - g).
    """
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1), nn.ReLU(), nn.Linear(1, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, -1.0], [1.0, 1.0]]))
        model[0].bias.copy_(torch.tensor([0.0, -1.0]))
        model[2].weight.copy_(torch.tensor([[1.0, -1.0]]))
        model[2].bias.copy_(torch.tensor([0.5]))
        model[4].weight.copy_(torch.tensor([[1.0], [-1.0]]))
        model[4].bias.copy_(torch.tensor([0.0, 0.25]))
    return model


# Inputs and their codes computed by hand from hand_model's formulas (bit = output > 0).
HAND_X = np.array([[2.0, 1.0], [0.0, 1.0], [1.0, 0.0], [-1.0, 3.0]])
HAND_BITS = np.array(
    [
        [1, 1, 0],  # h = (1, 2)   g = 1 - 2 + .5 = -.5
        [0, 0, 1],  # h = (0, 0)   (-1 and 0 are not > 0)   g = .5
        [1, 0, 1],  # h = (1, 0)   g = 1.5
        [0, 1, 0],  # h = (0, 1)   (-4 clipped)   g = -.5
    ],
    dtype=np.uint8,
)


def test_defaults_are_the_papers_protocol():
    params = NeuralCodeEncoder().get_params()
    assert params == {
        "width": 100, "depth": 1, "epochs": 200, "batch_size": 64, "lr": 1e-2,
        "weight_decay": 1e-6, "early_stopping": True, "patience": 10, "batchnorm": True,
        "dropout": 0.0, "seed": 0, "device": "auto", "output": "bits", "drop_constant": False,
        "model": None, "train_model": True, "scale": None,
    }


# --------------------------------------------------------------------- pipelines on digits


@pytest.mark.parametrize(
    "head, min_accuracy",
    [
        (KNeighborsClassifier(n_neighbors=9, metric="hamming"), 0.9),  # measured 0.96
        (LogisticRegression(max_iter=2000), 0.9),  # measured 0.97
    ],
    ids=["knn-hamming", "logreg"],
)
def test_pipeline_on_digits_beats_chance(digits, head, min_accuracy):
    X_train, X_test, y_train, y_test = digits
    pipe = make_pipeline(NeuralCodeEncoder(width=100, epochs=20, scale=1 / 16), head)
    accuracy = pipe.fit(X_train, y_train).score(X_test, y_test)
    assert accuracy > min_accuracy  # chance is 0.1
    encoder = pipe[0]
    assert encoder.history_.epochs_run == 20
    assert encoder.score_network(X_test, y_test) > min_accuracy


# --------------------------------------------------------------------- codes: two ways


def test_bits_equal_neural_codes_oracle(fitted, digits):
    _, X_test, _, _ = digits
    codes = neural_codes(fitted.module_, (X_test / 16).astype(np.float32))
    bits = fitted.transform(X_test)
    assert bits.dtype == np.uint8 and bits.shape == (len(X_test), 32)
    np.testing.assert_array_equal(bits, codes.unpack())
    assert set(np.unique(bits)) <= {0, 1}


def test_packed_equals_neural_codes_oracle(fitted, digits):
    _, X_test, _, _ = digits
    codes = neural_codes(fitted.module_, (X_test / 16).astype(np.float32))
    out = deepcopy(fitted).set_params(output="packed").transform(X_test)
    assert out.shape == (len(X_test), 4)
    np.testing.assert_array_equal(out, codes.packed)
    np.testing.assert_array_equal(np.unpackbits(out, axis=1), fitted.transform(X_test))


def test_codes_of_hand_set_model_equal_hand_computation():
    model = hand_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    encoder = NeuralCodeEncoder(model=model, train_model=False).fit(HAND_X)
    np.testing.assert_array_equal(encoder.transform(HAND_X), HAND_BITS)
    assert encoder.n_bits_ == 3 and encoder.layer_sizes_ == (2, 1)
    assert encoder.history_ is None and not hasattr(encoder, "classes_")
    assert list(encoder.get_feature_names_out()) == [
        "neuralcodeencoder_l0_u0", "neuralcodeencoder_l0_u1", "neuralcodeencoder_l1_u0"
    ]
    packed = encoder.set_params(output="packed").transform(HAND_X)
    np.testing.assert_array_equal(packed, [[0b110_00000], [0b001_00000], [0b101_00000],
                                           [0b010_00000]])
    assert encoder.module_ is not model
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def test_fit_transform_equals_fit_then_transform(digits):
    X_train, _, y_train, _ = digits
    X, y = X_train[:300], y_train[:300]
    encoder = NeuralCodeEncoder(width=16, epochs=3, scale=1 / 16)
    np.testing.assert_array_equal(
        encoder.fit_transform(X, y), clone(encoder).fit(X, y).transform(X)
    )


def test_fit_is_reproducible_with_seed(digits):
    X_train, X_test, y_train, _ = digits
    X, y = X_train[:300], y_train[:300]
    a = NeuralCodeEncoder(width=16, epochs=3, seed=1).fit(X, y).transform(X_test)
    b = NeuralCodeEncoder(width=16, epochs=3, seed=1).fit(X, y).transform(X_test)
    c = NeuralCodeEncoder(width=16, epochs=3, seed=2).fit(X, y).transform(X_test)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


# --------------------------------------------------------------------- drop_constant


def test_drop_constant_learns_the_mask_from_training_data_only():
    model = hand_model()
    train_x = HAND_X[1:3]  # bits 001 and 101: bit 1 is always 0, bit 2 always 1
    encoder = NeuralCodeEncoder(model=model, train_model=False, drop_constant=True).fit(train_x)
    np.testing.assert_array_equal(encoder.constant_bits_, [False, True, True])
    # Bits 1 and 2 vary on the other inputs; the mask does not look at them.
    np.testing.assert_array_equal(encoder.transform(HAND_X), HAND_BITS[:, [0]])
    assert encoder.n_code_bits_ == 1
    assert list(encoder.get_feature_names_out()) == ["neuralcodeencoder_l0_u0"]
    np.testing.assert_array_equal(
        encoder.set_params(output="packed").transform(HAND_X),
        np.packbits(HAND_BITS[:, [0]], axis=1),
    )
    refit = clone(encoder).fit(HAND_X)  # fitted on all four inputs, no bit is constant
    np.testing.assert_array_equal(refit.constant_bits_, [False, False, False])


def test_drop_constant_refuses_to_drop_every_bit():
    encoder = NeuralCodeEncoder(model=hand_model(), train_model=False, drop_constant=True)
    with pytest.raises(ValueError, match=re.escape(
        "drop_constant=True would drop every one of the 3 code bits: each is constant on the "
        "2 training samples"
    )):
        encoder.fit(HAND_X[[0, 0]])


# --------------------------------------------------------------------- user models


@pytest.mark.filterwarnings(LAZY_WARNING)
def test_user_model_is_trained_as_a_copy(digits):
    X_train, X_test, y_train, y_test = digits
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    encoder = NeuralCodeEncoder(model=model, epochs=5, scale=1 / 16).fit(X_train, y_train)
    assert encoder.history_.epochs_run == 5 and encoder.n_bits_ == 32
    assert encoder.score_network(X_test, y_test) > 0.8
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    np.testing.assert_array_equal(
        encoder.transform(X_test),
        neural_codes(encoder.module_, (X_test / 16).astype(np.float32)).unpack(),
    )


def test_string_labels_and_score_network():
    X, y = load_digits(n_class=3, return_X_y=True)
    labels = np.array(["zero", "one", "two"])[y]
    encoder = NeuralCodeEncoder(width=16, epochs=10, scale=1 / 16).fit(X, labels)
    assert list(encoder.classes_) == ["one", "two", "zero"]
    assert encoder.score_network(X, labels) > 0.9


# --------------------------------------------------------------------- sklearn plumbing


def test_clone_and_params_round_trip(fitted):
    params = fitted.get_params()
    copy = clone(fitted)
    assert copy.get_params() == params
    assert not hasattr(copy, "module_")
    with pytest.raises(NotFittedError):
        copy.transform(np.zeros((1, 64)))
    copy.set_params(width=20, depth=2, output="packed", scale=None)
    assert copy.get_params() == {**params, "width": 20, "depth": 2, "output": "packed",
                                 "scale": None}
    assert NeuralCodeEncoder(**copy.get_params()).get_params() == copy.get_params()


def test_clone_deep_copies_a_user_model():
    encoder = NeuralCodeEncoder(model=hand_model(), train_model=False)
    copy = clone(encoder)
    assert copy.model is not encoder.model
    for (k, v), w in zip(encoder.model.state_dict().items(), copy.model.state_dict().values(),
                         strict=True):
        assert torch.equal(v, w), k


def test_pickle_round_trip(fitted, digits):
    _, X_test, _, _ = digits
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.transform(X_test), fitted.transform(X_test))
    assert restored.get_params() == fitted.get_params()


def test_unpickling_a_cuda_fit_without_cuda_falls_back_to_cpu(fitted, digits):
    _, X_test, _, _ = digits
    state = deepcopy(fitted).__getstate__()
    state["device_"] = torch.device("cuda")  # as pickled by a GPU fit (module saved on the CPU)
    restored = NeuralCodeEncoder.__new__(NeuralCodeEncoder)
    if torch.cuda.is_available():
        restored.__setstate__(state)
        assert next(restored.module_.parameters()).is_cuda
    else:
        with pytest.warns(UserWarning, match=re.escape(
            "this NeuralCodeEncoder was fitted on cuda, which is not available here; its module "
            "stays on the CPU"
        )):
            restored.__setstate__(state)
        assert restored.device_ == torch.device("cpu")
    np.testing.assert_array_equal(restored.transform(X_test), fitted.transform(X_test))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_fit_pickles_its_module_on_the_cpu(digits):
    X_train, X_test, y_train, _ = digits
    encoder = NeuralCodeEncoder(width=16, epochs=2, device="cuda").fit(X_train, y_train)
    state = encoder.__getstate__()
    assert not next(state["module_"].parameters()).is_cuda
    assert next(encoder.module_.parameters()).is_cuda  # pickling moved a copy, not the module
    restored = pickle.loads(pickle.dumps(encoder))
    np.testing.assert_array_equal(restored.transform(X_test), encoder.transform(X_test))


def test_tags():
    tags = get_tags(NeuralCodeEncoder())
    assert tags.target_tags.required
    assert tags.transformer_tags.preserves_dtype == []
    assert not tags.input_tags.sparse and not tags.input_tags.allow_nan
    assert tags.non_deterministic == torch.cuda.is_available()
    assert not get_tags(NeuralCodeEncoder(device="cpu")).non_deterministic
    fixed = NeuralCodeEncoder(model=hand_model(), train_model=False)
    assert not get_tags(fixed).target_tags.required


def test_pandas_in_and_out(fitted, digits):
    pd = pytest.importorskip("pandas")
    X_train, X_test, y_train, _ = digits
    columns = [f"px{i}" for i in range(64)]
    encoder = NeuralCodeEncoder(width=8, epochs=1).set_output(transform="pandas")
    out = encoder.fit(pd.DataFrame(X_train, columns=columns), y_train).transform(
        pd.DataFrame(X_test, columns=columns))
    assert list(encoder.feature_names_in_) == columns
    assert list(out.columns) == [f"neuralcodeencoder_l0_u{i}" for i in range(8)]
    assert out.shape == (len(X_test), 8)


# --------------------------------------------------------------------- errors, exact messages


def test_transform_before_fit():
    with pytest.raises(NotFittedError, match=re.escape(
        "This NeuralCodeEncoder instance is not fitted yet. Call 'fit' with appropriate "
        "arguments before using this estimator."
    )):
        NeuralCodeEncoder().transform(np.zeros((2, 3)))


def test_wrong_feature_count(fitted):
    with pytest.raises(ValueError, match=re.escape(
        "X has 3 features, but NeuralCodeEncoder is expecting 64 features as input."
    )):
        fitted.transform(np.zeros((2, 3)))


X4 = np.arange(24, dtype=float).reshape(6, 4)
Y2 = np.array([0, 1] * 3)


@pytest.mark.parametrize(
    "params, y, error, message",
    [
        ({"output": "hex"}, Y2, ValueError, "output must be 'bits' or 'packed'; got output='hex'"),
        ({"width": 12, "depth": 5}, Y2, ValueError,
         "width must be a positive multiple of depth=5 (it is the total number of hidden units, "
         "split evenly over the layers); got width=12"),
        ({"model": nn.Sequential(nn.Linear(4, 3), nn.GELU(), nn.Linear(3, 2))}, Y2, ValueError,
         "model has no nn.ReLU modules; found Linear, GELU, Linear."),
        ({"model": nn.Sequential(nn.Linear(5, 3), nn.ReLU(), nn.Linear(3, 2))}, Y2, ValueError,
         "model could not run on X with 4 features per sample:"),
        ({"model": nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))}, np.arange(6),
         ValueError, "model must output one logit per class, shape (batch, >= 6) for the 6 "
         "classes in y; got output shape (1, 2)"),
        ({"model": "mlp"}, Y2, TypeError,
         "model must be None (the paper's MLP) or a torch.nn.Module; got str"),
        ({"scale": -1.0}, Y2, ValueError,
         "scale must be None or a positive finite number (e.g. 1/255); got scale=-1.0"),
        ({"drop_constant": "yes"}, Y2, TypeError,
         "drop_constant must be True or False; got drop_constant='yes'"),
        ({"epochs": -1}, Y2, ValueError, "epochs must be an integer >= 0; got -1"),
        ({"device": "tpu"}, Y2, ValueError, "device must be 'auto', 'cpu', 'cuda', 'cuda:N'"),
        ({}, np.zeros(6), ValueError,
         "NeuralCodeEncoder needs at least 2 classes in y to train its network; got 1 class "
         "(np.float64(0.0)) in 6 samples"),
        ({}, np.linspace(0, 1, 6), ValueError, "Unknown label type: continuous."),
        ({}, None, ValueError, "requires y to be passed, but the target y is None"),
    ],
    ids=["output", "width", "no-relu", "in-features", "too-few-logits", "model-type", "scale",
         "bool", "epochs", "device", "one-class", "continuous-y", "no-y"],
)
def test_bad_inputs_fail_with_clear_messages(params, y, error, message):
    with pytest.raises(error, match=re.escape(message)):
        NeuralCodeEncoder(**{"width": 4, "epochs": 1, **params}).fit(X4, y)


def test_score_network_needs_the_labels():
    encoder = NeuralCodeEncoder(model=hand_model(), train_model=False).fit(HAND_X)
    with pytest.raises(ValueError, match=re.escape(
        "score_network needs the class labels seen in fit; this encoder was fitted without y"
    )):
        encoder.score_network(HAND_X, [0, 1, 0, 1])
    # g = (0, .5, 1.5, 0) on HAND_X, so the logits (g, .25 - g) predict classes 1, 0, 0, 1.
    encoder.fit(HAND_X, ["b", "a", "a", "b"])
    assert list(encoder.classes_) == ["a", "b"]
    assert encoder.score_network(HAND_X, ["b", "a", "a", "b"]) == 1.0
    assert encoder.score_network(HAND_X, ["a", "b", "a", "b"]) == 0.5


def test_failed_refit_leaves_the_encoder_unfitted():
    encoder = NeuralCodeEncoder(model=hand_model(), train_model=False).fit(HAND_X)
    encoder.set_params(drop_constant=True)
    with pytest.raises(ValueError, match="drop_constant=True would drop every one"):
        encoder.fit(HAND_X[[0, 0]])
    with pytest.raises(NotFittedError):
        encoder.transform(HAND_X)


def test_training_set_of_batch_size_plus_one():
    # A 1-row tail batch is folded into the batch before it (hashlib_nn.train.batch_starts).
    X = np.random.default_rng(0).random((65, 4))
    NeuralCodeEncoder(width=4, epochs=1).fit(X, np.arange(65) % 2)


def test_output_checked_again_at_transform(fitted):
    encoder = deepcopy(fitted).set_params(output="hex")
    with pytest.raises(ValueError, match=re.escape(
        "output must be 'bits' or 'packed'; got output='hex'"
    )):
        encoder.transform(np.zeros((1, 64)))


# --------------------------------------------------------------------- estimator checks


@pytest.mark.filterwarnings(LAZY_WARNING)
@parametrize_with_checks(
    [
        NeuralCodeEncoder(width=8, epochs=2),
        NeuralCodeEncoder(width=8, depth=2, epochs=2, output="packed", batchnorm=False,
                          dropout=0.5, early_stopping=False, scale=0.5),
        NeuralCodeEncoder(width=8, depth=2, epochs=2, output="packed", drop_constant=True),
        NeuralCodeEncoder(model=nn.Sequential(nn.LazyLinear(6), nn.ReLU(), nn.Linear(6, 3)),
                          train_model=False),
        NeuralCodeEncoder(model=nn.Sequential(nn.LazyLinear(6), nn.ReLU(), nn.Linear(6, 50)),
                          epochs=2),
    ],
    expected_failed_checks=expected_failed_checks,
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
