"""A scikit-learn transformer that maps each sample to its neural code (He et al. 2021).

:class:`NeuralCodeEncoder` trains the paper's MLP on ``(X, y)`` by the original protocol
(protocol.md, "Training") and then maps any input to its *neural code*: one bit per hidden ReLU
unit, 1 iff the unit is active (:func:`hashlib_nn.codes.neural_codes`). It is the supervised
sibling of scikit-learn's ``RandomTreesEmbedding`` (which maps a sample to the leaves it falls
in): a binary embedding to put in front of a K-NN with Hamming distance, logistic regression or
K-Means, which is the paper's "categorization" experiment (arXiv 2101.05490; protocol.md)::

    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline

    pipe = make_pipeline(NeuralCodeEncoder(width=100, scale=1 / 255),
                         KNeighborsClassifier(n_neighbors=9, metric="hamming"))
    pipe.fit(X_train, y_train).score(X_test, y_test)

Defaults are the paper's MNIST protocol: one hidden block of 100 units (``Linear -> BatchNorm ->
ReLU``), Adam with lr 1e-2 decayed x0.1 every 20 epochs, L2 1e-6 on hidden kernels, batch 64, at
most 200 epochs with early stopping on the training loss (patience 10). Inputs are **not**
rescaled by default: the paper divides 8-bit pixels by 255 (pass ``scale=1/255``, or put a
``MinMaxScaler`` before the encoder); for other tabular data, standardize as usual.

Following scikit-learn and skorch, ``__init__`` only stores its arguments; the torch module is
built (or copied from ``model``) in :meth:`NeuralCodeEncoder.fit` and stored as ``module_``,
so the estimator clones, pickles and grid-searches like any other. A user ``model`` is never
modified: ``fit`` trains a deep copy.

scikit-learn's estimator checks
-------------------------------
``sklearn.utils.estimator_checks.check_estimator`` passes every check (scikit-learn 1.9; the
array-API check is skipped unless ``SCIPY_ARRAY_API=1``) for the paper's MLP in its plain
configurations (``tests/test_encoder.py`` runs them on tiny 2-epoch networks, for ``"bits"`` and
``"packed"`` output, with and without BatchNorm, dropout, ``scale``). Two options make some
checks inapplicable; :func:`expected_failed_checks` returns them, with these reasons, for
``check_estimator(..., expected_failed_checks=...)`` and ``parametrize_with_checks``:

- ``model=`` (any torch module): ``check_estimators_overwrite_params``. The check compares
  ``joblib.hash`` of each parameter with the hash of its deep copy taken before ``fit``; torch
  tensors do not pickle canonically (a tensor and its clone hash differently), so it reports a
  change that did not happen. ``fit`` trains a deep copy and never touches ``model``; the test
  suite checks that with ``state_dict`` equality instead.
- ``drop_constant=True``: ``check_fit2d_1feature``, ``check_fit_idempotent``,
  ``check_n_features_in`` and ``check_fit_check_is_fitted``. On the checks' toy data (one
  feature; or features drawn around 100, far from the BatchNorm running statistics of a 2-epoch
  network) every bit is constant on the training set, and ``drop_constant=True`` then refuses
  to produce zero-feature codes and raises ``ValueError`` (as ``VarianceThreshold`` does), by
  design. Whether all four trigger depends on width and depth; a check that passes anyway is
  not an error (``xfail_strict`` off).
"""

from __future__ import annotations

import copy
import numbers
import warnings
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted
from torch import nn

from hashlib_nn.codes import (
    NeuralCodes,
    check_finite,
    input_mismatch,
    neural_codes,
    relu_modules,
)
from hashlib_nn.device import resolve_device
from hashlib_nn.models import PaperMLP
from hashlib_nn.train import TrainConfig, TrainHistory, train

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - scikit-learn < 1.6

    def _validate_data(estimator: Any, X: Any, y: Any = "no_validation", **kw: Any) -> Any:
        return estimator._validate_data(X, y, **kw)


__all__ = ["NeuralCodeEncoder", "expected_failed_checks"]

_OUTPUTS = ("bits", "packed")

_TORCH_HASH = (
    "joblib.hash of a torch module differs from that of its deep copy (tensor pickles are not "
    "canonical), so the check sees a change to `model` that fit never makes; fit trains a deep "
    "copy (tests compare state_dicts instead)"
)
_ALL_CONSTANT = (
    "with drop_constant=True a 2-epoch network on the check's toy data (one feature, or "
    "features around 100, far from BatchNorm's running statistics) has every bit constant on "
    "the training set, and fit raises ValueError rather than return zero-feature codes"
)


def expected_failed_checks(estimator: NeuralCodeEncoder) -> dict[str, str]:
    """scikit-learn estimator checks that do not apply to this configuration, with reasons.

    For ``check_estimator(est, expected_failed_checks=expected_failed_checks(est))`` and
    ``parametrize_with_checks([...], expected_failed_checks=expected_failed_checks)``.
    Empty for the paper's MLP without ``drop_constant``.
    """
    failed: dict[str, str] = {}
    if getattr(estimator, "model", None) is not None:
        failed["check_estimators_overwrite_params"] = _TORCH_HASH
    if getattr(estimator, "drop_constant", False):
        for name in ("check_fit2d_1feature", "check_fit_idempotent", "check_n_features_in",
                     "check_fit_check_is_fitted"):
            failed[name] = _ALL_CONSTANT
    return failed


class NeuralCodeEncoder(TransformerMixin, BaseEstimator):
    """Map samples to the neural codes of a ReLU network trained on them (He et al. 2021).

    Parameters
    ----------
    width : int, default=100
        Total number of hidden units, split evenly over ``depth`` blocks (the original code's
        convention). Paper: 3..100 on MNIST (depth 1), 50..1000 on CIFAR-10 (depth 5).
    depth : int, default=1
        Number of ``Linear -> BatchNorm -> ReLU`` blocks. Paper: 1 (MNIST), 5 (CIFAR-10).
    epochs : int, default=200
        Maximum number of training epochs (original: 200).
    batch_size : int, default=64
        Mini-batch size (original: 64).
    lr : float, default=1e-2
        Adam learning rate, decayed x0.1 every 20 epochs (original).
    weight_decay : float, default=1e-6
        Coupled L2 coefficient on the hidden kernels (original: ``l2(1e-6)``).
    early_stopping : bool, default=True
        Stop when the training loss has not improved for ``patience`` epochs (original: on,
        watching the *training* loss, for the model-size and sample-size experiments).
    patience : int, default=10
        Early-stopping patience in epochs (original: 10).
    batchnorm : bool, default=True
        BatchNorm after each hidden Linear (original: True).
    dropout : float, default=0.0
        Dropout rate after each ReLU during training (original: 0). Codes are read in eval mode.
    seed : int, default=0
        Seeds initialization, shuffling and dropout; on the CPU, ``fit`` is reproducible bit
        for bit. (The original set no seed.)
    device : str or torch.device, default="auto"
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    output : {"bits", "packed"}, default="bits"
        ``"bits"``: ``uint8`` array of 0/1, shape ``(n_samples, n_codes_bits)``, ready for
        ``KNeighborsClassifier(metric="hamming")`` or ``LogisticRegression``. ``"packed"``:
        ``np.packbits(bits, axis=1)``, shape ``(n_samples, ceil(n_bits / 8))``, the layout of
        :mod:`hashlib_nn.metrics` (8x smaller; its columns are bytes, not features).
    drop_constant : bool, default=False
        Drop the bits that are constant over the **training** data passed to ``fit`` (learned
        as ``constant_bits_``; test data are never looked at). The original drops neurons
        constant over train and test together before K-Means/K-NN/LR; that peeks at the test
        set, which an estimator must not do. Dropping constant bits changes no Hamming distance
        between training codes and no count of distinct codes.
    model : torch.nn.Module or None, default=None
        Use this network instead of the paper's MLP (``width``, ``depth``, ``batchnorm`` and
        ``dropout`` are then ignored). Its hidden activations must be ``nn.ReLU`` modules, and
        it must map a batch of ``n_features_in_`` floats to at least ``n_classes`` logits when
        it is to be trained. ``fit`` works on a deep copy; ``model`` itself is never changed.
    train_model : bool, default=True
        With ``model`` given, ``False`` uses the network as it is: ``fit`` only records the
        input size and code length (``y`` may then be omitted). Ignored without ``model``.
    scale : float or None, default=None
        Multiply inputs by this factor in ``fit`` and ``transform`` (``1/255`` reproduces the
        paper's preprocessing of 8-bit images). ``None`` leaves ``X`` as it is.

    Attributes
    ----------
    module_ : torch.nn.Module
        The network whose ReLU patterns are the codes (trained unless ``train_model=False``),
        on ``device_``, in eval mode.
    classes_ : ndarray of shape (n_classes,)
        Class labels seen in ``fit`` (absent when ``train_model=False`` and ``y`` is None).
    history_ : TrainHistory or None
        Per-epoch loss and accuracy of the training run (None when nothing was trained).
    n_bits_ : int
        Code length of the network: its number of hidden ReLU outputs.
    layer_sizes_ : tuple of int
        Bits contributed by each ReLU layer, in forward order (sums to ``n_bits_``).
    constant_bits_ : ndarray of bool, shape (n_bits_,)
        With ``drop_constant=True`` only: True for the bits constant on the training data.
    n_features_in_ : int
        Number of input features.
    feature_names_in_ : ndarray of str
        Input feature names, when ``X`` had string column names.
    device_ : torch.device
        Device the module lives on.

    See Also
    --------
    sklearn.ensemble.RandomTreesEmbedding : the unsupervised, tree-based binary embedding.
    hashlib_nn.codes.neural_codes : the extraction this transformer wraps.
    """

    def __init__(
        self,
        width: int = 100,
        depth: int = 1,
        epochs: int = 200,
        batch_size: int = 64,
        lr: float = 1e-2,
        weight_decay: float = 1e-6,
        early_stopping: bool = True,
        patience: int = 10,
        batchnorm: bool = True,
        dropout: float = 0.0,
        seed: int = 0,
        device: str | torch.device = "auto",
        output: str = "bits",
        drop_constant: bool = False,
        model: nn.Module | None = None,
        train_model: bool = True,
        scale: float | None = None,
    ) -> None:
        self.width = width
        self.depth = depth
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.patience = patience
        self.batchnorm = batchnorm
        self.dropout = dropout
        self.seed = seed
        self.device = device
        self.output = output
        self.drop_constant = drop_constant
        self.model = model
        self.train_model = train_model
        self.scale = scale

    # ------------------------------------------------------------------ fitting

    def fit(self, X: Any, y: Any = None) -> NeuralCodeEncoder:
        """Build the network, train it on ``(X, y)`` by the paper's protocol; return ``self``.

        ``X``: numeric array of shape ``(n_samples, n_features)`` (flatten images first).
        ``y``: class labels of any type (at least two classes); required unless a ``model`` is
        given with ``train_model=False``.
        """
        self._fit(X, y, want_codes=False)
        return self

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        """``fit(X, y).transform(X)``, reusing the training codes when ``fit`` computed them."""
        if fit_params:
            raise TypeError(
                f"NeuralCodeEncoder.fit_transform takes no fit parameters; got {sorted(fit_params)}"
            )
        codes = self._fit(X, y, want_codes=True)
        assert codes is not None
        return self._format(codes)

    def _fit(self, X: Any, y: Any, *, want_codes: bool) -> NeuralCodes | None:
        self._check_params()
        self.__dict__.pop("module_", None)  # a failed refit leaves the encoder unfitted
        fixed_model = self.model is not None and not self.train_model
        if fixed_model and y is None:
            X = _validate_data(self, X, dtype=np.float32, ensure_min_samples=1,
                               ensure_all_finite=False)  # fmt: skip
            self.__dict__.pop("classes_", None)  # from an earlier fit with labels
        else:
            X, y = _validate_data(self, X, y, dtype=np.float32, ensure_min_samples=1,
                                  ensure_all_finite=False)  # fmt: skip
            check_classification_targets(y)
            encoder = LabelEncoder()
            y_idx = encoder.fit_transform(y)
            self.classes_ = encoder.classes_
            if len(self.classes_) < 2 and not fixed_model:
                raise ValueError(
                    "NeuralCodeEncoder needs at least 2 classes in y to train its network; got "
                    f"1 class ({self.classes_[0]!r}) in {len(y)} samples"
                )
        check_finite(X, "X")  # how many and where (scikit-learn's message says neither)
        X = self._scaled(X)
        self.device_ = resolve_device(self.device)

        if self.model is None:
            module: nn.Module = PaperMLP(
                in_features=int(self.n_features_in_),
                width=self.width,
                depth=self.depth,
                n_classes=len(self.classes_),
                batchnorm=self.batchnorm,
                dropout=self.dropout,
                seed=self.seed,
            )
        else:
            relu_modules(self.model)  # clear error before any copy or training
            module = copy.deepcopy(self.model)
        module.to(self.device_)
        if self.model is not None:
            self._check_user_model(module, X)

        history: TrainHistory | None = None
        if not fixed_model:
            config = TrainConfig(
                epochs=self.epochs,
                batch_size=self.batch_size,
                lr=self.lr,
                weight_decay=self.weight_decay,
                early_stopping=self.early_stopping,
                patience=self.patience,
                seed=self.seed,
            )
            history = train(module, X, y_idx, config, device=self.device_)
        module.eval()

        need_all = want_codes or self.drop_constant
        codes = neural_codes(module, X if need_all else X[:1], device=self.device_)
        assert isinstance(codes, NeuralCodes)
        constant: np.ndarray | None = None
        if self.drop_constant:
            bits = codes.unpack()
            constant = (bits == bits[:1]).all(axis=0)
            if constant.all():
                raise ValueError(
                    f"drop_constant=True would drop every one of the {codes.n_bits} code bits: "
                    f"each is constant on the {len(X)} training samples. Train a larger or "
                    "longer network, or set drop_constant=False"
                )
        self.history_ = history
        self.n_bits_ = codes.n_bits
        self.layer_sizes_ = codes.layer_sizes
        if constant is None:
            self.__dict__.pop("constant_bits_", None)
        else:
            self.constant_bits_ = constant
        self.module_ = module
        return codes if want_codes else None

    def _check_params(self) -> None:
        if self.output not in _OUTPUTS:
            raise ValueError(f"output must be 'bits' or 'packed'; got output={self.output!r}")
        for name in ("early_stopping", "batchnorm", "drop_constant", "train_model"):
            value = getattr(self, name)
            if not isinstance(value, bool | np.bool_):
                raise TypeError(f"{name} must be True or False; got {name}={value!r}")
        if self.scale is not None and not (
            isinstance(self.scale, numbers.Real)
            and not isinstance(self.scale, bool)
            and np.isfinite(self.scale)
            and self.scale > 0
        ):
            raise ValueError(
                f"scale must be None or a positive finite number (e.g. 1/255); got "
                f"scale={self.scale!r}"
            )
        if self.model is not None and not isinstance(self.model, nn.Module):
            raise TypeError(
                "model must be None (the paper's MLP) or a torch.nn.Module; got "
                f"{type(self.model).__name__}"
            )

    def _check_user_model(self, module: nn.Module, X: np.ndarray) -> None:
        """One forward pass on a training row: clear errors for size mismatches. Runs under
        ``seed`` so lazy modules (``nn.LazyLinear``) materialize reproducibly."""
        was_training = module.training
        module.eval()
        devices = [self.device_] if self.device_.type == "cuda" else []
        try:
            with torch.no_grad(), torch.random.fork_rng(devices=devices,
                                                         device_type=self.device_.type):
                torch.manual_seed(self.seed)
                out = module(torch.as_tensor(X[:1]).to(self.device_))
        except RuntimeError as err:
            mismatch = input_mismatch(module, X)  # both numbers, not torch's matrix shapes
            why = err if mismatch is None else mismatch.replace("got x with", "got X with")
            raise ValueError(
                f"model could not run on X with {X.shape[1]} features per sample: {why}"
            ) from err
        finally:
            module.train(was_training)
        if self.train_model:
            if out.dim() != 2 or out.shape[1] < len(self.classes_):
                raise ValueError(
                    f"model must output one logit per class, shape (batch, >= "
                    f"{len(self.classes_)}) for the {len(self.classes_)} classes in y; got "
                    f"output shape {tuple(out.shape)}"
                )

    # ------------------------------------------------------------------ encoding

    def transform(self, X: Any) -> np.ndarray:
        """Neural codes of ``X``: ``uint8`` 0/1 bits, or packed bytes (``output="packed"``)."""
        check_is_fitted(self, "module_")
        if self.output not in _OUTPUTS:
            raise ValueError(f"output must be 'bits' or 'packed'; got output={self.output!r}")
        X = _validate_data(self, X, dtype=np.float32, reset=False, ensure_all_finite=False)
        check_finite(X, "X")
        X = self._scaled(X)
        codes = neural_codes(self.module_, X, device=self.device_)
        assert isinstance(codes, NeuralCodes)
        return self._format(codes)

    def _scaled(self, X: np.ndarray) -> np.ndarray:
        if self.scale is not None:
            return X * np.float32(self.scale)
        # torch.as_tensor warns on read-only arrays (e.g. memmaps): copy those.
        return X if X.flags.writeable else X.copy()

    def _format(self, codes: NeuralCodes) -> np.ndarray:
        if getattr(self, "constant_bits_", None) is None:
            return codes.unpack() if self.output == "bits" else codes.packed
        bits = codes.unpack()[:, ~self.constant_bits_]
        return bits if self.output == "bits" else np.packbits(bits, axis=1)

    @property
    def n_code_bits_(self) -> int:
        """Bits per output code (``n_bits_`` less the dropped constant bits)."""
        check_is_fitted(self, "module_")
        if getattr(self, "constant_bits_", None) is None:
            return int(self.n_bits_)
        return int((~self.constant_bits_).sum())

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """``neuralcodeencoder_l{layer}_u{unit}`` per bit, or ``neuralcodeencoder_byte{j}``
        per byte with ``output="packed"``."""
        check_is_fitted(self, "module_")
        _check_feature_names_in(self, input_features, generate_names=False)
        prefix = type(self).__name__.lower()
        if self.output == "packed":
            n_bytes = (self.n_code_bits_ + 7) // 8
            return np.asarray([f"{prefix}_byte{j}" for j in range(n_bytes)], dtype=object)
        names = [f"{prefix}_l{i}_u{u}" for i, n in enumerate(self.layer_sizes_) for u in range(n)]
        if getattr(self, "constant_bits_", None) is not None:
            names = [n for n, c in zip(names, self.constant_bits_, strict=True) if not c]
        return np.asarray(names, dtype=object)

    # ------------------------------------------------------------------ the network itself

    def score_network(self, X: Any, y: Any) -> float:
        """Accuracy of the network's own predictions (argmax of its logits) on ``(X, y)``."""
        check_is_fitted(self, "module_")
        if not hasattr(self, "classes_"):
            raise ValueError(
                "score_network needs the class labels seen in fit; this encoder was fitted "
                "without y (model given with train_model=False): fit(X, y) to record them"
            )
        X, y = _validate_data(self, X, y, dtype=np.float32, reset=False,
                              ensure_all_finite=False)  # fmt: skip
        check_finite(X, "X")
        X = self._scaled(X)
        result = neural_codes(self.module_, X, device=self.device_, return_logits=True)
        assert isinstance(result, tuple)
        logits = result[1]
        if logits.ndim != 2 or logits.shape[1] < len(self.classes_):
            raise ValueError(
                f"the network outputs shape {logits.shape[1:]} per sample; scoring needs at "
                f"least {len(self.classes_)} logits (one per class)"
            )
        pred = self.classes_[logits[:, : len(self.classes_)].argmax(axis=1)]
        return float(np.mean(pred == np.asarray(y)))

    # ------------------------------------------------------------------ sklearn plumbing

    def _runs_on_cuda(self) -> bool:
        try:
            return resolve_device(self.device).type == "cuda"
        except (TypeError, ValueError):
            return False

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.target_tags.required = not (self.model is not None and not self.train_model)
        tags.transformer_tags.preserves_dtype = []  # outputs uint8 bits, whatever the input
        tags.non_deterministic = self._runs_on_cuda()  # cuBLAS/cuDNN reductions
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        return tags

    def _more_tags(self) -> dict[str, Any]:  # scikit-learn < 1.6
        return {
            "requires_y": not (self.model is not None and not self.train_model),
            "preserves_dtype": [],
            "non_deterministic": self._runs_on_cuda(),
            "_xfail_checks": expected_failed_checks(self),
        }

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the module on the CPU, so a GPU-fitted encoder loads on any machine."""
        state = super().__getstate__()
        module = state.get("module_")
        if module is not None and any(p.is_cuda for p in module.parameters()):
            state = dict(state, module_=copy.deepcopy(module).to("cpu"))
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        dev = getattr(self, "device_", None)
        if dev is not None and getattr(self, "module_", None) is not None:
            if dev.type == "cuda" and not torch.cuda.is_available():
                warnings.warn(
                    f"this NeuralCodeEncoder was fitted on {dev}, which is not available here; "
                    "its module stays on the CPU",
                    stacklevel=2,
                )
                self.device_ = torch.device("cpu")
            self.module_.to(self.device_)
