"""Named presets and the experiment grid of every chapter (protocol.md, "Experiment grids").

One preset name means the same thing everywhere (chapters, tests, the ``hashlib-nn`` command):

=========  ===============================================================================
preset     what it runs
=========  ===============================================================================
smoke      seconds: tiny widths, 1-2 epochs, small samples, one seed (tests, CI smoke runs)
quick      the default: the whole book in about 15 minutes on 2 CPU cores (short training,
           a subset of each grid, MNIST only)
standard   the original grids and protocol (up to 200 epochs, early stopping where the original
           used it), 3 repeats, MNIST and Fashion-MNIST
paper      the original grids and protocol, 10 repeats (the paper's count), MNIST,
           Fashion-MNIST and CIFAR-10
=========  ===============================================================================

:func:`grid` gives a chapter's list of :class:`~hashlib_nn.experiments.RunConfig`;
:func:`chapter_params` does the same from a chapter's papermill parameters (strings such as
``"[20, 60]"`` included). The chapters ``determinism``, ``categorization`` and ``model_size``
draw on one model-size grid and ask for the same metrics, so in the store they share their runs:
whichever runs first trains, the others read.

**Data sets and protocols.** The original code has two MLP protocols (protocol.md): MNIST at
depth 1 with its grids, CIFAR-10 at depth 5 (five equal hidden layers) with its grids (model size:
totals 50..1000 step 50, i.e. 10..200 units per layer; sample size and training time: 10, 20, 40,
80 units per layer with the CIFAR-10 n grid). :data:`PROTOCOLS` names them (``"mnist-mlp"``,
``"cifar-mlp"``); :data:`DATASET_PROTOCOLS` is the one table that says which protocol a data set
runs, at every preset and in every chapter (``cifar10``: ``"cifar-mlp"``; MNIST, Fashion-MNIST and
registered data sets: ``"mnist-mlp"``). The ``protocol`` parameter of :func:`grid` and
:func:`chapter_params` (``hashlib-nn run --protocol``) runs another data set under the other
protocol: ``chapter_params("model_size", "standard", dataset="fashion-mnist",
protocol="cifar-mlp")`` is the paper's CIFAR-10 MLP model-size protocol on Fashion-MNIST, the
stand-in where the CIFAR-10 files are absent.

The chapters ``regularization``, ``label_noise`` and ``phase_chart`` (:data:`FACTOR_CHAPTERS`)
have grids of our design, since the original has no code for them (:class:`FactorSpec`,
:class:`PhaseSpec`); each includes a run of an earlier chapter (the paper's regularization is a
model-size run, the clean label-noise run a sample-size run, and the phase chart's grids are the
training-time and sample-size grids at more widths), so the store serves those.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hashlib_nn import shipped_files
from hashlib_nn.device import resolve_device
from hashlib_nn.experiments.config import (
    METRIC_SUITES,
    TRAIN_SIZES,
    RunConfig,
    content_key,
    fit_length,
    group_key,
)
from hashlib_nn.experiments.config import train_size as _train_size
from hashlib_nn.experiments.store import open_store
from hashlib_nn.train import TrainConfig

if TYPE_CHECKING:
    import pandas as pd

    from hashlib_nn.experiments.store import StoreLike

__all__ = [
    "ALL_CHAPTERS",
    "CNN_PRESETS",
    "PAPER_MODELS",
    "CNNPreset",
    "chapter_runs",
    "lr_decay_every",
    "CHAPTERS",
    "DATASET_PROTOCOLS",
    "COST_MODEL",
    "CostModel",
    "FACTOR_CHAPTERS",
    "FactorSpec",
    "PhaseSpec",
    "PRESETS",
    "PROTOCOLS",
    "ChapterPlan",
    "GridSpec",
    "Preset",
    "calibrate_cost_model",
    "chapter_params",
    "cost_runs",
    "describe_presets",
    "estimate_seconds",
    "shipped_cost_table",
    "stored_costs",
    "sweep_cost_table",
    "grid",
    "phase_chart_axes",
    "predicted_vs_measured",
    "protocol_for",
    "str_list",
]

# ----------------------------------------------------------------------------------------------
# The original grids (protocol.md, "Experiment grids"); widths are TOTAL hidden units
# ----------------------------------------------------------------------------------------------

#: MNIST model-size widths (depth 1), original.
MNIST_MODEL_SIZE_WIDTHS: tuple[int, ...] = (
    3, 7, 10, 15, 20, 23, 27, 30, 33, 37, 40, 43, 47, 50, 53, 57, 60, 65, 70, 75, 80, 90, 100,
)  # fmt: skip
#: CIFAR-10 model-size total widths 50..1000 step 50 (depth 5: 10..200 per layer), original.
CIFAR_MODEL_SIZE_WIDTHS: tuple[int, ...] = tuple(range(50, 1001, 50))
#: MNIST sample-size and training-time widths, original.
MNIST_SAMPLE_WIDTHS: tuple[int, ...] = (40, 50, 60)
#: CIFAR-10 sample-size and training-time widths: per layer 10/20/40/80, depth 5, original.
CIFAR_SAMPLE_WIDTHS: tuple[int, ...] = (50, 100, 200, 400)
#: MNIST sample sizes, original (its evaluation also lists 60000, never trained: defect 4).
MNIST_SAMPLE_SIZES: tuple[int, ...] = (
    10, 30, 60, 100, 300, 600, 1000, 2000, 3000, 6000, 10000, 20000, 30000, 40000,
)  # fmt: skip
#: CIFAR-10 sample sizes, original (40000 is the whole training split).
CIFAR_SAMPLE_SIZES: tuple[int, ...] = (
    10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 40000,
)  # fmt: skip
#: Training-time checkpoints, original (epoch 0 = initialization).
TRAINING_TIME_CHECKPOINTS: tuple[int, ...] = (
    0, 1, 3, 6, 10, 20, 30, 40, 60, 80, 100, 120, 140, 160, 180, 200,
)  # fmt: skip

#: Chapters with a grid, and the grid family each draws on.
CHAPTERS: dict[str, str] = {
    "determinism": "model_size",
    "categorization": "model_size",
    "model_size": "model_size",
    "training_time": "training_time",
    "sample_size": "sample_size",
}
_FAMILIES = ("model_size", "training_time", "sample_size")

#: The original code's MLP protocols (protocol.md, "Model"): name -> hidden depth. Each has its
#: own grids in every preset (:class:`Preset`) and factor chapter; widths are total hidden
#: units, split evenly over the ``depth`` layers.
PROTOCOLS: dict[str, int] = {
    "mnist-mlp": 1,  # the original's MNIST runs: one hidden block, the MNIST grids
    "cifar-mlp": 5,  # the original's CIFAR-10 runs: five hidden blocks, the CIFAR-10 grids
}
#: The protocol each data set runs unless ``protocol`` names another: the one table that picks
#: a data set's grids and depth. Data sets not listed (registered ones) run "mnist-mlp".
DATASET_PROTOCOLS: dict[str, str] = {
    "mnist": "mnist-mlp",
    "fashion-mnist": "mnist-mlp",  # the MNIST stand-in; protocol="cifar-mlp" for CIFAR-10's
    "cifar10": "cifar-mlp",
}


def protocol_for(dataset: str, protocol: str | None = None) -> str:
    """The protocol that ``dataset`` runs: ``protocol`` when given (validated), else
    :data:`DATASET_PROTOCOLS`' entry (``"mnist-mlp"`` for data sets it does not list).

    >>> protocol_for("cifar10"), protocol_for("fashion-mnist", "cifar-mlp")
    ('cifar-mlp', 'cifar-mlp')
    """
    if protocol is None:
        return DATASET_PROTOCOLS.get(dataset, "mnist-mlp")
    if protocol not in PROTOCOLS:
        accepted = ", ".join(repr(p) for p in PROTOCOLS)
        raise ValueError(f"unknown protocol {protocol!r}; accepted: {accepted}")
    return protocol


@dataclass(frozen=True)
class GridSpec:
    """One grid family for one kind of data set."""

    widths: tuple[int, ...]  # total hidden units
    epochs: int  # at most this many epochs (TrainConfig.epochs)
    early_stopping: bool  # original: on for model size and sample size, off for training time
    checkpoints: tuple[int, ...] = ()  # evaluated epochs besides the final one
    sample_sizes: tuple[int | None, ...] = (None,)  # n_train values (None = all)
    repeats: int | None = None  # seeds per grid point; None = the preset's repeats


@dataclass(frozen=True)
class Preset:
    """A named budget: which grids, how long, how many repeats, which data sets."""

    name: str
    description: str
    datasets: tuple[str, ...]  # data sets a chapter runs when none is named
    repeats: int  # seeds 0 .. repeats - 1 per grid point (original: 10 unseeded runs)
    grids: Mapping[str, Mapping[str, GridSpec]]  # protocol (PROTOCOLS) -> family -> grid
    # The determinism chapter's suites: all of them, so that whichever of determinism,
    # categorization and model_size runs first, its runs serve the other two from the store.
    determinism_metrics: tuple[str, ...] = METRIC_SUITES

    def spec(self, family: str, dataset: str, protocol: str | None = None) -> GridSpec:
        """The grid of ``family`` for ``dataset`` (under ``protocol``; None: the data set's)."""
        return self.grids[protocol_for(dataset, protocol)][family]


def _original(repeats: int, datasets: tuple[str, ...], name: str, description: str) -> Preset:
    return Preset(
        name=name,
        description=description,
        datasets=datasets,
        repeats=repeats,
        grids={
            "mnist-mlp": {
                "model_size": GridSpec(MNIST_MODEL_SIZE_WIDTHS, 200, True),
                "training_time": GridSpec(MNIST_SAMPLE_WIDTHS, 200, False,
                                          TRAINING_TIME_CHECKPOINTS),
                "sample_size": GridSpec(MNIST_SAMPLE_WIDTHS, 200, True, (), MNIST_SAMPLE_SIZES),
            },
            "cifar-mlp": {
                "model_size": GridSpec(CIFAR_MODEL_SIZE_WIDTHS, 200, True),
                "training_time": GridSpec(CIFAR_SAMPLE_WIDTHS, 200, False,
                                          TRAINING_TIME_CHECKPOINTS),
                "sample_size": GridSpec(CIFAR_SAMPLE_WIDTHS, 200, True, (), CIFAR_SAMPLE_SIZES),
            },
        },
    )  # fmt: skip


SMOKE = Preset(
    name="smoke",
    description="seconds: widths 5 and 20, 1-2 epochs, small samples, one seed (tests)",
    datasets=("mnist",),
    repeats=1,
    grids={
        "mnist-mlp": {
            "model_size": GridSpec((5, 20), 1, True, (), (1000,)),
            "training_time": GridSpec((20,), 2, False, (0, 1, 2), (1000,)),
            "sample_size": GridSpec((20,), 1, True, (), (10, 100)),
        },
        # depth 5: 5 and 20 units per layer, the first 1,000 training images
        "cifar-mlp": {
            "model_size": GridSpec((25, 100), 1, True, (), (1000,)),
            "training_time": GridSpec((100,), 2, False, (0, 1, 2), (1000,)),
            "sample_size": GridSpec((100,), 1, True, (), (10, 100)),
        },
    },
    determinism_metrics=METRIC_SUITES,
)

QUICK = Preset(
    name="quick",
    description="the book in about 15 min on 2 CPU cores: grid subsets, short training, MNIST",
    datasets=("mnist",),
    repeats=2,
    # Measured from an empty store on 2 CPU cores shared with other jobs (load 4-8,
    # OMP_WAIT_POLICY=PASSIVE), train + all metric suites at every checkpoint: model_size 18 runs
    # 208 s (serving determinism and categorization too), training_time 2 runs x 6 checkpoints
    # 125 s, sample_size 8 new runs 151 s. One evaluation with every suite costs about 7 s at
    # n = 48k (K-Means n_init=10 on train and test, 9-NN, one-vs-one LR): checkpoints are few.
    grids={
        "mnist-mlp": {
            "model_size": GridSpec((3, 7, 10, 15, 20, 30, 40, 60, 100), 8, True),
            "training_time": GridSpec((40, 60), 20, False, (0, 1, 3, 6, 10, 20), repeats=1),
            "sample_size": GridSpec((40, 60), 8, True, (), (10, 100, 1000, 10000, None), repeats=1),
        },
        # depth 5: 10, 20, 40, 100, 200 units per layer (5 of the original's 20 model sizes);
        # 20 and 40 per layer (2 of the original's 10/20/40/80) for training time and sample size
        "cifar-mlp": {
            "model_size": GridSpec((50, 100, 200, 500, 1000), 8, True),
            "training_time": GridSpec((100, 200), 20, False, (0, 1, 3, 6, 10, 20), repeats=1),
            "sample_size": GridSpec(
                (100, 200), 8, True, (), (10, 100, 1000, 10000, None), repeats=1
            ),
        },
    },  # fmt: skip
    determinism_metrics=METRIC_SUITES,  # same configs as model_size: one training serves three
)

STANDARD = _original(
    3, ("mnist", "fashion-mnist"), "standard",
    "original grids and protocol (<= 200 epochs), 3 repeats, MNIST and Fashion-MNIST",
)  # fmt: skip
PAPER = _original(
    10, ("mnist", "fashion-mnist", "cifar10"), "paper",
    "original grids and protocol (<= 200 epochs), 10 repeats, MNIST, Fashion-MNIST, CIFAR-10",
)  # fmt: skip

PRESETS: dict[str, Preset] = {p.name: p for p in (SMOKE, QUICK, STANDARD, PAPER)}
DEFAULT_PRESET = "quick"


# ----------------------------------------------------------------------------------------------
# Factor chapters: regularization, label noise, phase chart. The original repository has no code
# for them (protocol.md): these grids are ours, and each chapter states and justifies them.
# ----------------------------------------------------------------------------------------------

#: Chapters whose grids are ours rather than the original's (chapter -> grid family).
FACTOR_CHAPTERS: dict[str, str] = {
    "regularization": "regularization",
    "label_noise": "label_noise",
    "phase_chart": "phase_chart",
}
#: Every chapter with a grid, in reading order.
ALL_CHAPTERS: dict[str, str] = {**CHAPTERS, **FACTOR_CHAPTERS}

#: Weight decays of the regularization grid: none, the paper's 1e-6, and three strengths at
#: which the coupled L2 term (gradient 2 wd W, Adam lr 1e-2) is no longer negligible.
REGULARIZATION_WEIGHT_DECAYS: tuple[float, ...] = (0.0, 1e-6, 1e-4, 1e-3, 1e-2)
#: Dropout rates of the regularization grid: none (original MLP), 0.2, and 0.5 (the rate of the
#: original VGG classifier layers).
REGULARIZATION_DROPOUTS: tuple[float, ...] = (0.0, 0.2, 0.5)
#: Label-noise ratios: clean to every label replaced.
LABEL_NOISE_RATIOS: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


@dataclass(frozen=True)
class FactorSpec:
    """The grid of the regularization or label-noise chapter for one preset and data-set kind.

    Regularization: every weight decay crossed with every BatchNorm setting (dropout 0), plus
    every dropout rate > 0 at the paper's setting (weight decay 1e-6, BatchNorm on).
    Label noise: every ratio in the first noise mode, and every ratio (or those of
    ``other_mode_ratios``) in the other modes; ratio 0 is one run for all modes.
    Everything else is the original protocol (Adam 1e-2, batch 64, the step schedule).
    """

    widths: tuple[int, ...]  # total hidden units
    epochs: int  # at most this many epochs (TrainConfig.epochs)
    early_stopping: bool  # on the training loss, as in the original model-size runs
    n_train: int | None = None  # first n training examples, tiled (None = all)
    weight_decays: tuple[float, ...] = (1e-6,)  # coupled L2 on hidden kernels (original 1e-6)
    batchnorms: tuple[bool, ...] = (True,)  # BatchNorm after each hidden Linear (original on)
    dropouts: tuple[float, ...] = (0.0,)  # dropout after each ReLU (original MLP: none)
    label_noises: tuple[float, ...] = (0.0,)  # label-noise ratios (RunConfig.label_noise)
    noise_modes: tuple[str, ...] = ("uniform_other",)  # RunConfig.label_noise_mode values
    other_mode_ratios: tuple[float, ...] | None = None  # ratios run in the modes after the
    # first (None: every ratio); the first mode always runs every ratio
    repeats: int | None = None  # seeds per grid point; None = the preset's repeats


@dataclass(frozen=True)
class PhaseSpec:
    """The phase chart's grid: the training-time and sample-size grids of the same preset at
    ``widths`` (which include theirs, so their runs are shared), measuring RR and the network's
    accuracy only (the regime rule reads RR; a stored run that measured more serves)."""

    widths: tuple[int, ...]  # total hidden units, both axes
    metrics: tuple[str, ...] = ("rr", "net")


_REG_MNIST = {
    # smoke: seconds (tests): one width, one epoch, 1,000 examples, the extremes only
    "smoke": FactorSpec((20,), 1, True, 1000, (0.0, 1e-2), (True, False), (0.0, 0.5)),
    # quick: width 30 (critical regime: RR well inside (0, 1) after 8 epochs, so a factor can
    # move it either way), the model-size chapter's 8 epochs and early stopping, so the
    # paper's setting (wd 1e-6, BN on, no dropout) is the model-size run of width 30, seed 0
    "quick": FactorSpec((30,), 8, True, None, REGULARIZATION_WEIGHT_DECAYS, (True, False),
                        REGULARIZATION_DROPOUTS, repeats=1),
    # standard/paper: the original protocol at a critical and a sufficient width
    "standard": FactorSpec((30, 60), 200, True, None, REGULARIZATION_WEIGHT_DECAYS,
                           (True, False), REGULARIZATION_DROPOUTS),
}  # fmt: skip
_NOISE_MODES = ("uniform_other", "original")
_NOISE_MNIST = {
    "smoke": FactorSpec((20,), 1, True, 1000, label_noises=(0.0, 0.5, 1.0),
                        noise_modes=_NOISE_MODES),
    # quick: width 60 on the first 10,000 examples (tiled), 8 epochs: the sample-size chapter's
    # run (width 60, n 10,000, seed 0) is the clean one; 10,000 examples make the evaluation
    # about 2.5x cheaper than 48,000 and give each example 38 passes in 8 epochs. The original
    # helper's noise at two ratios only (runs of different ratios are not batched: budget)
    "quick": FactorSpec((60,), 8, True, 10_000, label_noises=LABEL_NOISE_RATIOS,
                        noise_modes=_NOISE_MODES, other_mode_ratios=(0.4, 1.0), repeats=1),
    "standard": FactorSpec((60,), 200, True, None, label_noises=LABEL_NOISE_RATIOS,
                           noise_modes=_NOISE_MODES),
}  # fmt: skip
_PHASE_MNIST = {
    "smoke": PhaseSpec((5, 20)),
    # quick: the training-time and sample-size widths (40, 60) plus 20, narrow enough to be
    # under-expressive (train RR 0.6 after 8 epochs here, 0.77 on the original model-size
    # figure), and 100, the first quick model-size width to reach train RR <= 0.01
    "quick": PhaseSpec((20, 40, 60, 100)),
    # standard/paper: a dense width axis from the model-size grid, around 40/50/60
    "standard": PhaseSpec((10, 20, 30, 40, 50, 60, 80, 100)),
}
# CIFAR-10 MLP protocol (depth 5): the same designs at its widths. Regularization: 10 units per
# layer (total 50), the narrowest original model size and the only one the paper's figure shows
# short of train RR 0 (0.10), plus 20 per layer at standard; each is that preset's model-size run
# at the paper's setting. Label noise: 40 per layer (total 200) on the sample-size chapter's
# 10,000 examples at quick (its clean run). Phase chart: the training-time and sample-size
# widths plus wider model sizes. Smoke: 5 and 20 per layer.
_REG_CIFAR = {k: dataclasses.replace(v, widths=w) for k, v in _REG_MNIST.items()
              for w in [{"smoke": (25,), "quick": (50,), "standard": (50, 100)}[k]]}  # fmt: skip
_NOISE_CIFAR = {k: dataclasses.replace(v, widths=(100,) if k == "smoke" else (200,))
                for k, v in _NOISE_MNIST.items()}  # fmt: skip
_PHASE_CIFAR = {
    "smoke": PhaseSpec((25, 100)),
    "quick": PhaseSpec((50, 100, 200)),
    "standard": PhaseSpec((50, 100, 200, 400, 600, 1000)),
}
# paper = standard, with the paper preset's repeats and data sets
for _factor_table in (_REG_MNIST, _NOISE_MNIST, _REG_CIFAR, _NOISE_CIFAR):
    _factor_table["paper"] = _factor_table["standard"]
for _phase_table in (_PHASE_MNIST, _PHASE_CIFAR):
    _phase_table["paper"] = _phase_table["standard"]

#: The factor chapters' grids: chapter -> protocol -> preset -> spec.
_FACTOR_SPECS: dict[str, dict[str, dict[str, FactorSpec]]] = {
    "regularization": {"mnist-mlp": _REG_MNIST, "cifar-mlp": _REG_CIFAR},
    "label_noise": {"mnist-mlp": _NOISE_MNIST, "cifar-mlp": _NOISE_CIFAR},
}
_PHASE_SPECS: dict[str, dict[str, PhaseSpec]] = {"mnist-mlp": _PHASE_MNIST,
                                                 "cifar-mlp": _PHASE_CIFAR}  # fmt: skip


def _factor_spec(
    chapter: str, preset: str, dataset: str, protocol: str | None = None
) -> FactorSpec:
    return _FACTOR_SPECS[chapter][protocol_for(dataset, protocol)][preset]


def _phase_spec(preset: str, dataset: str, protocol: str | None = None) -> PhaseSpec:
    return _PHASE_SPECS[protocol_for(dataset, protocol)][preset]


# ----------------------------------------------------------------------------------------------
# Parameters: typed values or papermill strings
# ----------------------------------------------------------------------------------------------


class _Invalid(Exception):
    pass


def _literal(value: Any) -> Any:
    """A papermill string as the Python value it spells (JSON or a Python literal)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    return value


def _int(v: Any, minimum: int) -> int:
    v = _literal(v)
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        if isinstance(v, float) and v.is_integer() and v >= minimum:
            return int(v)
        raise _Invalid
    return v


def _int_list(v: Any, minimum: int) -> tuple[int, ...]:
    v = _literal(v)
    if isinstance(v, int) and not isinstance(v, bool):
        v = [v]
    if not isinstance(v, list | tuple) or not v:
        raise _Invalid
    return tuple(_int(x, minimum) for x in v)


def _sizes(v: Any) -> tuple[int | None, ...]:
    v = _literal(v)
    if isinstance(v, int) and not isinstance(v, bool):
        v = [v]
    if not isinstance(v, list | tuple) or not v:
        raise _Invalid
    return tuple(None if x is None or x == "None" else _int(x, 1) for x in v)


def _bool(v: Any) -> bool:
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    if isinstance(v, bool):
        return v
    raise _Invalid


def _str(v: Any) -> str:
    if isinstance(v, str) and v.strip():
        return v.strip()
    raise _Invalid


def str_list(value: Any) -> tuple[str, ...]:
    """A name or a list of names, typed or as papermill passes it (a string): ``"mnist"``,
    ``["mnist", "cifar10"]``, ``"['mnist', 'cifar10']"``, and unquoted ``"[mnist, cifar10]"`` or
    ``"mnist, cifar10"``. Names are stripped; an empty one is refused (``ValueError``). The
    list parameters of the chapters and :func:`hashlib_nn.experiments.presets.chapter_runs`' models
    use it.

    >>> str_list("[resnet20, vgg16]")
    ('resnet20', 'vgg16')
    """
    parsed = _literal(value)
    if isinstance(parsed, str):
        text = parsed.strip()
        if text[:1] + text[-1:] in ("[]", "()") or "," in text:
            parsed = [s.strip(" '\"") for s in text.strip("[]()").split(",")]
            parsed = [s for s in parsed if s]
        else:
            parsed = [text]
    if isinstance(parsed, list | tuple) and parsed and all(isinstance(x, str) for x in parsed):
        names = tuple(x.strip() for x in parsed)
        if all(names):
            return names
    raise ValueError(f"expected a name or a list of names such as '[resnet20, vgg16]'; "
                     f"got {value!r}")  # fmt: skip


def _str_list(v: Any) -> tuple[str, ...]:
    try:
        return str_list(v)
    except ValueError:
        raise _Invalid from None


def _float_list(v: Any, lo: float, hi: float, *, hi_open: bool = False) -> tuple[float, ...]:
    v = _literal(v)
    if isinstance(v, int | float) and not isinstance(v, bool):
        v = [v]
    if not isinstance(v, list | tuple) or not v:
        raise _Invalid
    out = []
    for x in v:
        if isinstance(x, bool) or not isinstance(x, int | float):
            raise _Invalid
        if not (lo <= x < hi if hi_open else lo <= x <= hi):
            raise _Invalid
        out.append(float(x))
    return tuple(out)


def _bool_list(v: Any) -> tuple[bool, ...]:
    parsed = _literal(v)
    if isinstance(parsed, bool) or (isinstance(parsed, str) and "[" not in parsed):
        return (_bool(parsed),)
    if isinstance(parsed, list | tuple) and parsed:
        return tuple(_bool(x) for x in parsed)
    raise _Invalid


def _preset(v: Any) -> str:
    name = _str(v)
    if name not in PRESETS:
        raise _Invalid
    return name


def _protocol(v: Any) -> str:
    name = _str(v)
    if name not in PROTOCOLS:
        raise _Invalid
    return name


def _device(v: Any) -> str:
    name = _str(v)
    try:
        resolve_device(name)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"chapter parameter 'device': {exc}") from None
    return name


# name -> (converter, description of what is accepted)
_PARAMS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "preset": (_preset, f"one of {', '.join(repr(p) for p in PRESETS)}"),
    "dataset": (_str_list, "a data set name or a list of names, e.g. 'mnist'"),
    "widths": (lambda v: _int_list(v, 1), "a list of positive integers, e.g. [20, 60]"),
    "protocol": (_protocol, f"None (each data set's) or one of "
                            f"{', '.join(repr(p) for p in PROTOCOLS)}"),
    "epochs": (lambda v: _int(v, 1), "a positive integer"),
    "repeats": (lambda v: _int(v, 1), "a positive integer"),
    "seed": (lambda v: _int(v, 0), "a non-negative integer"),
    "device": (_device, "'auto', 'cpu', 'cuda' or 'cuda:N'"),
    "n_train": (lambda v: _int(v, 1), "a positive integer or None"),
    "sample_sizes": (_sizes, "a list of positive integers (None = all), e.g. [100, 1000]"),
    "checkpoints": (lambda v: _int_list(v, 0), "a list of epochs >= 0, e.g. [0, 1, 10]"),
    "early_stopping": (_bool, "True or False"),
    "metrics": (_str_list, f"a list of metric suites from {list(METRIC_SUITES)}"),
    "store": (_str, "a folder path or None"),
    "weight_decays": (lambda v: _float_list(v, 0.0, math.inf),
                      "a list of numbers >= 0, e.g. [0, 1e-6, 1e-2]"),
    "batchnorms": (_bool_list, "True, False or a list of them, e.g. [True, False]"),
    "dropouts": (lambda v: _float_list(v, 0.0, 1.0, hi_open=True),
                 "a list of rates in [0, 1), e.g. [0, 0.5]"),
    "noise_ratios": (lambda v: _float_list(v, 0.0, 1.0),
                     "a list of ratios in [0, 1], e.g. [0, 0.4, 1]"),
    "noise_modes": (_str_list, "a list of label-noise modes, e.g. ['uniform_other', 'original']"),
}  # fmt: skip
# Parameters that only make sense for some grid families.
_ONLY_FOR = {"sample_sizes": ("sample_size",), "n_train": ("model_size", "training_time")}
# ... and the factor chapters (FACTOR_CHAPTERS) that accept them.
_FACTOR_ONLY_FOR: dict[str, tuple[str, ...]] = {
    "sample_sizes": ("phase_chart",),
    "n_train": ("regularization", "label_noise"),
    "weight_decays": ("regularization",),
    "batchnorms": ("regularization",),
    "dropouts": ("regularization",),
    "noise_ratios": ("label_noise",),
    "noise_modes": ("label_noise",),
}


def _resolve(chapter: str, params: Mapping[str, Any]) -> dict[str, Any]:
    if chapter not in ALL_CHAPTERS:
        accepted = ", ".join(repr(c) for c in ALL_CHAPTERS)
        raise ValueError(f"unknown chapter {chapter!r}; accepted: {accepted}")
    out: dict[str, Any] = {}
    for name, value in params.items():
        if name not in _PARAMS:
            accepted = ", ".join(_PARAMS)
            raise ValueError(f"unknown chapter parameter {name!r}; accepted: {accepted}")
        paper, factor = _ONLY_FOR.get(name), _FACTOR_ONLY_FOR.get(name)
        if (paper or factor) and ALL_CHAPTERS[chapter] not in (paper or ()) + (factor or ()):
            where = f"(only to: {', '.join(paper or factor or ())})"
            if paper and factor:
                where += f" and to the factor chapter(s) {', '.join(factor)}"
            raise ValueError(
                f"chapter parameter {name!r} does not apply to chapter {chapter!r} {where}"
            )
        if value is None or (isinstance(value, str) and value.strip() == "None"):
            out[name] = None  # None = the preset's default
            continue
        convert, expected = _PARAMS[name]
        try:
            out[name] = convert(value)
        except _Invalid:
            raise ValueError(
                f"chapter parameter {name!r} must be {expected}; got {value!r} "
                f"({type(value).__name__})"
            ) from None
    return out


# ----------------------------------------------------------------------------------------------
# Grids
# ----------------------------------------------------------------------------------------------


def _cap_sizes(sizes: Sequence[int | None], dataset: str) -> tuple[int | None, ...]:
    """Sample sizes capped at the training set (a size >= it means all: None), in order,
    without repeats."""
    available = _train_size(dataset)
    out: list[int | None] = []
    for n in sizes:
        if n is not None and available is not None and n >= available:
            n = None
        if n not in out:
            out.append(n)
    return tuple(out)


def grid(chapter: str, preset: str = DEFAULT_PRESET, **overrides: Any) -> list[RunConfig]:
    """The run configurations of ``chapter`` under ``preset``.

    Overrides (Python values or papermill strings; None = the preset's value): ``dataset``
    (a name or a list), ``protocol`` (None: each data set's, :data:`DATASET_PROTOCOLS`;
    ``"mnist-mlp"`` or ``"cifar-mlp"``: that protocol's grids and depth for every data set),
    ``widths`` (total hidden units), ``epochs``, ``repeats``, ``seed``
    (first seed; repeats use seed, seed + 1, ...), ``n_train`` (model-size family),
    ``sample_sizes`` (sample_size), ``checkpoints``, ``early_stopping``, ``metrics``.
    Order: data set, width, sample size, seed. ``device`` and ``store`` are accepted and
    ignored here (see :func:`chapter_params`).
    """
    p = _resolve(chapter, {"preset": preset, **overrides})
    if chapter in FACTOR_CHAPTERS:
        return _factor_grid(chapter, p)
    pre = PRESETS[p.get("preset") or DEFAULT_PRESET]
    family = CHAPTERS[chapter]
    datasets = p.get("dataset") or pre.datasets
    seed0 = p.get("seed") or 0
    if p.get("metrics"):
        metrics = p["metrics"]
    elif chapter == "determinism":
        metrics = pre.determinism_metrics
    else:
        metrics = METRIC_SUITES
    configs: list[RunConfig] = []
    for ds in datasets:
        protocol = protocol_for(ds, p.get("protocol"))
        spec = pre.spec(family, ds, protocol)
        epochs = p.get("epochs") or spec.epochs
        es = spec.early_stopping if p.get("early_stopping") is None else p["early_stopping"]
        checkpoints = p.get("checkpoints")
        if checkpoints is None:
            checkpoints = tuple(c for c in spec.checkpoints if c <= epochs)
        if family == "sample_size":
            sizes = _cap_sizes(p.get("sample_sizes") or spec.sample_sizes, ds)
        elif p.get("n_train") is not None:
            sizes = _cap_sizes((p["n_train"],), ds)
        else:
            sizes = _cap_sizes(spec.sample_sizes, ds)
        depth = PROTOCOLS[protocol]
        repeats = p.get("repeats") or spec.repeats or pre.repeats
        for width in p.get("widths") or spec.widths:
            for n in sizes:
                for r in range(repeats):
                    train = TrainConfig(epochs=epochs, early_stopping=es, seed=seed0 + r)
                    configs.append(RunConfig(dataset=ds, width=width, depth=depth, n_train=n,
                                             train=train, checkpoints=checkpoints,
                                             metrics=metrics))  # fmt: skip
    return configs


def _factor_grid(chapter: str, p: dict[str, Any]) -> list[RunConfig]:
    """The regularization, label-noise or phase-chart grid from resolved parameters."""
    preset = p.get("preset") or DEFAULT_PRESET
    pre = PRESETS[preset]
    datasets = p.get("dataset") or pre.datasets
    if chapter == "phase_chart":
        axes = phase_chart_axes(preset, **{k: v for k, v in p.items() if k != "preset"})
        return [*axes["training_time"], *axes["sample_size"]]
    seed0 = p.get("seed") or 0
    metrics = p.get("metrics") or METRIC_SUITES
    configs: list[RunConfig] = []
    for ds in datasets:
        protocol = protocol_for(ds, p.get("protocol"))
        spec = _factor_spec(chapter, preset, ds, protocol)
        epochs = p.get("epochs") or spec.epochs
        es = spec.early_stopping if p.get("early_stopping") is None else p["early_stopping"]
        checkpoints = p.get("checkpoints") or ()
        n_train = _cap_sizes((p["n_train"] if p.get("n_train") else spec.n_train,), ds)[0]
        repeats = p.get("repeats") or spec.repeats or pre.repeats
        if chapter == "regularization":
            settings = [
                (wd, bn, 0.0, 0.0, "uniform_other")
                for wd in p.get("weight_decays") or spec.weight_decays
                for bn in p.get("batchnorms") or spec.batchnorms
            ]
            settings += [
                (1e-6, True, d, 0.0, "uniform_other")
                for d in p.get("dropouts") or spec.dropouts
                if d > 0
            ]
        else:
            modes = p.get("noise_modes") or spec.noise_modes
            ratios = p.get("noise_ratios") or spec.label_noises
            others = ratios if p.get("noise_ratios") else spec.other_mode_ratios or ratios
            settings = [
                (1e-6, True, 0.0, r, m)
                for r in ratios
                for m in modes
                if m == modes[0] or r in others
            ]
        depth = PROTOCOLS[protocol]
        for width in p.get("widths") or spec.widths:
            seen: set[RunConfig] = set()
            for wd, bn, drop, noise, mode in settings:
                for r in range(repeats):
                    train = TrainConfig(
                        epochs=epochs, early_stopping=es, seed=seed0 + r, weight_decay=wd
                    )
                    c = RunConfig(
                        dataset=ds,
                        width=width,
                        depth=depth,
                        n_train=n_train,
                        batchnorm=bn,
                        dropout=drop,
                        label_noise=noise,
                        label_noise_mode=mode,
                        train=train,
                        checkpoints=checkpoints,
                        metrics=metrics,
                    )
                    if c not in seen:  # ratio 0 is one run for every noise mode
                        seen.add(c)
                        configs.append(c)
    return configs


def phase_chart_axes(preset: str = DEFAULT_PRESET, **overrides: Any) -> dict[str, list[RunConfig]]:
    """The phase chart's two grids: ``"training_time"`` (model size x epochs) and
    ``"sample_size"`` (model size x training sample size).

    Each is the grid of that chapter under ``preset`` (same epochs, checkpoints, sample sizes,
    early stopping and repeats, so their runs are shared through the store) at the phase chart's
    widths (:class:`PhaseSpec`, which include the chapters' own), measuring the ``rr`` and
    ``net`` suites. Overrides as in :func:`grid`: ``checkpoints`` applies to the training-time
    axis only, ``sample_sizes`` to the sample-size axis only.
    """
    p = _resolve("phase_chart", {"preset": preset, **overrides})
    preset = p.pop("preset", None) or DEFAULT_PRESET
    pre = PRESETS[preset]
    axes: dict[str, list[RunConfig]] = {"training_time": [], "sample_size": []}
    for ds in p.pop("dataset", None) or pre.datasets:
        spec = _phase_spec(preset, ds, p.get("protocol"))
        common = {k: v for k, v in p.items() if k not in ("checkpoints", "sample_sizes")}
        common["widths"] = common.get("widths") or spec.widths
        common["metrics"] = common.get("metrics") or spec.metrics
        axes["training_time"] += grid(
            "training_time", preset, dataset=ds, **common, checkpoints=p.get("checkpoints")
        )
        axes["sample_size"] += grid(
            "sample_size", preset, dataset=ds, **common, sample_sizes=p.get("sample_sizes")
        )
    return axes


@dataclass(frozen=True)
class ChapterPlan(Sequence[RunConfig]):
    """A chapter's resolved parameters and grid; iterates over its RunConfigs like a list."""

    chapter: str
    preset: str
    params: dict[str, Any]  # the parsed parameters, as given (None = preset default)
    configs: tuple[RunConfig, ...]
    device: str = "auto"
    store: str | None = None  # None = the default store

    def __len__(self) -> int:
        return len(self.configs)

    def __getitem__(self, i: Any) -> Any:
        return self.configs[i]

    def __iter__(self) -> Iterator[RunConfig]:
        return iter(self.configs)

    def run(self, *, store: StoreLike | None = None, progress: bool | None = None) -> pd.DataFrame:
        """:func:`hashlib_nn.experiments.sweep` over the grid: stored runs are reused."""
        from hashlib_nn.experiments.sweeps import sweep

        return sweep(self.configs, store=store if store is not None else self.store,
                     device=self.device, progress=progress)  # fmt: skip


def chapter_params(chapter: str, preset: str = DEFAULT_PRESET, **params: Any) -> ChapterPlan:
    """Resolve a chapter's papermill parameters into its grid.

    Values may be Python values or strings as papermill's ``-p`` passes them (``"[20, 60]"``,
    ``"None"``, ``"3"``); None means the preset's default. Errors name the parameter, the value
    and what is accepted::

        plan = chapter_params("model_size", preset, dataset=dataset, widths=widths,
                              epochs=epochs, repeats=repeats, seed=seed, device=device)
        frame = plan.run()
    """
    resolved = _resolve(chapter, {"preset": preset, **params})
    preset_name = resolved.pop("preset", None) or DEFAULT_PRESET
    device = resolved.pop("device", None) or "auto"
    store = resolved.pop("store", None)
    configs = grid(chapter, preset_name, **resolved)
    return ChapterPlan(chapter, preset_name, resolved, tuple(configs), device, store)


# ----------------------------------------------------------------------------------------------
# Cost model and the presets table
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostModel:
    """Seconds of training and evaluation on one CPU thread (the book's setting), calibrated
    from measured runs by :func:`calibrate_cost_model`.

    Training: a sweep trains the runs of one group (same architecture, epochs, checkpoints and
    epoch length: :func:`hashlib_nn.experiments.sweep`, at most 16) together, one optimizer step
    per batch of 64 rows for all of them. A step costs ``step_s + step_s_per_model * G +
    step_s_per_unit * G * width`` for G models: the fixed per-step overhead dominates paper-sized
    MLPs. Each run's share of its group's time is 1/G. Runs with early stopping are expected to
    run ``es_epochs_tiled`` epochs (at most the maximum) when their sample is repeated 8 times
    or more per epoch (n <= 6,000 of 48,000), else ``es_epochs``, or ``es_epochs_no_bn``
    without BatchNorm, whose training loss keeps falling longer (medians of measured runs of
    at least 50 epochs; at quick's 8 epochs, patience 10 never stops a run).

    Evaluation, at every checkpoint and the final epoch: ``eval_s + eval_s_per_1k * n / 1000``
    for codes, RR and the network's accuracy on the n training examples and the test set, plus
    ``cat_s + (cat_s_per_1k + cat_s_per_1k_unit * width) * n / 1000`` when a categorization
    suite (K-Means, K-NN, logistic regression: their cost grows with the code length) is
    measured.
    """

    step_s: float
    step_s_per_model: float
    step_s_per_unit: float
    eval_s: float
    eval_s_per_1k: float
    cat_s: float
    cat_s_per_1k: float
    cat_s_per_1k_unit: float
    es_epochs: float
    es_epochs_tiled: float
    es_epochs_no_bn: float

    def run_epochs(self, config: RunConfig) -> float:
        """Expected epochs of ``config`` (early stopping shortens standard runs)."""
        epochs = float(config.train.epochs)
        if not config.train.early_stopping:
            return epochs
        total = TRAIN_SIZES.get(config.dataset)
        if total is not None and config.n_examples * 8 <= total:
            return min(epochs, self.es_epochs_tiled)
        return min(epochs, self.es_epochs if config.batchnorm else self.es_epochs_no_bn)

    def step_seconds(self, group: int, width: float) -> float:
        """One optimizer step of ``group`` models of ``width`` hidden units trained together."""
        return self.step_s + group * (self.step_s_per_model + self.step_s_per_unit * width)

    def eval_seconds(self, n_examples: float, categorization: bool, width: float = 0) -> float:
        """One checkpoint's evaluation on ``n_examples`` training examples (and the test set)
        of a network of ``width`` hidden units."""
        s = self.eval_s + self.eval_s_per_1k * n_examples / 1000
        if categorization:
            s += self.cat_s + (self.cat_s_per_1k + self.cat_s_per_1k_unit * width) * (
                n_examples / 1000
            )
        return s


#: Calibrated by :func:`calibrate_cost_model` (2026-12-05): the step and evaluation constants on
#: the 56 runs of the quick grids swept one chapter at a time from an empty store with one thread
#: (their stored wall seconds x the sweep's CPU seconds / wall seconds, 0.21-0.29 on a machine
#: at load 8-13), then scaled by 0.813 so that the six sweeps' predicted total equals their
#: measured process CPU total, 345.7 s (tests/data/quick_sweep_cpu.json): seconds on one
#: otherwise idle thread. Early-stopping epochs: the 288 shipped standard MNIST runs.
#: ``book/appendix_compute.md`` shows predicted against measured.
COST_MODEL = CostModel(
    step_s=6.87e-4,
    step_s_per_model=0.0,
    step_s_per_unit=2.63e-6,
    eval_s=0.0126,
    eval_s_per_1k=2.14e-3,
    cat_s=0.277,
    cat_s_per_1k=0.028,
    cat_s_per_1k_unit=1.24e-3,
    es_epochs=74.0,
    es_epochs_tiled=18.0,
    es_epochs_no_bn=165.0,
)
#: Rows per optimizer step (TrainConfig.batch_size, the original's 64).
_BATCH_ROWS = 64
_MAX_GROUP = 16  # hashlib_nn.experiments.sweep's max_group


def _cost_groups(configs: Sequence[RunConfig]) -> list[list[RunConfig]]:
    """Distinct runs of ``configs`` in the groups a sweep trains together."""
    seen: dict[str, RunConfig] = {}
    for c in configs:
        seen.setdefault(content_key(c), c)
    groups: dict[str, list[RunConfig]] = {}
    for c in seen.values():
        groups.setdefault(group_key(c), []).append(c)
    return [g[i : i + _MAX_GROUP] for g in groups.values() for i in range(0, len(g), _MAX_GROUP)]


def _fit_rows(config: RunConfig) -> int:
    rows = fit_length(config)
    return abs(rows) if rows is not None else config.n_examples


def estimate_seconds(configs: Sequence[RunConfig], model: CostModel | None = None) -> float:
    """Expected seconds on one CPU thread to run ``configs`` from an empty store: distinct
    runs only, trained in the groups a sweep forms, each to its expected last epoch, evaluated
    at its checkpoints and final epoch (:class:`CostModel`, default :data:`COST_MODEL`)."""
    m = model or COST_MODEL
    total = 0.0
    for group in _cost_groups(configs):
        size = len(group)
        for c in group:
            epochs = m.run_epochs(c)
            steps = math.ceil(_fit_rows(c) / c.train.batch_size)
            total += epochs * steps * m.step_seconds(size, c.width) / size
            n_eval = len({e for e in c.checkpoints if e < epochs} | {epochs})
            categorization = bool({"kmeans", "knn", "lr"} & set(c.metrics))
            total += n_eval * m.eval_seconds(c.n_examples, categorization, c.width)
    return total


def cost_runs(source: Any) -> pd.DataFrame:
    """One row per run with what the cost model reads and the measured seconds.

    ``source``: :class:`~hashlib_nn.experiments.RunResult` objects (a store), or a tidy frame
    with the shipped results' provenance columns (``train_seconds``, ``eval_seconds``,
    ``group_size``; e.g. ``src/hashlib_nn/results/standard/*.csv``). Columns: key, dataset,
    width, n_examples, fit_rows, group_size, epochs_run, early_stopping, stopped, n_evals,
    categorization, train_seconds (the group's), eval_seconds, seconds (the run's share:
    train_seconds / group_size + eval_seconds, as PROVENANCE.json's run_seconds counts it).
    """
    import pandas as pd

    rows = []
    if isinstance(source, pd.DataFrame):
        needed = {"key", "train_seconds", "eval_seconds", "group_size", "epoch", "metric",
                  "max_epochs", "batchnorm"}  # fmt: skip
        missing = needed - set(source.columns)
        if missing:
            raise ValueError(
                f"cost_runs needs the columns {sorted(missing)} (shipped results rows, "
                f"hashlib_nn/results/<preset>/*.csv); got {list(source.columns)}"
            )
        for key, run in source.groupby("key", sort=False):
            first = run.iloc[0]
            total = TRAIN_SIZES.get(str(first["dataset"]))
            n = int(first["n_train"])
            rows.append({
                "key": key, "dataset": first["dataset"], "width": int(first["width"]),
                "n_examples": n,
                "fit_rows": n * (total // n) if total and n <= total else n,
                "group_size": int(first["group_size"]),
                "epochs_run": int(first["epochs_run"]),
                "early_stopping": bool(first["early_stopping"]),
                "max_epochs": int(first["max_epochs"]),
                "batchnorm": bool(first["batchnorm"]),
                "stopped": bool(pd.notna(first["stopped_epoch"])),
                "n_evals": int(run["epoch"].nunique()),
                "categorization": bool(run["metric"].str.match(r"(kmeans|knn|lr)_").any()),
                "train_seconds": float(first["train_seconds"]),
                "eval_seconds": float(first["eval_seconds"]),
            })  # fmt: skip
    else:
        for r in source:
            c = r.config
            rows.append({
                "key": r.key, "dataset": c.dataset, "width": c.width, "n_examples": c.n_examples,
                "fit_rows": _fit_rows(c), "group_size": r.group_size, "epochs_run": r.epochs_run,
                "early_stopping": c.train.early_stopping, "max_epochs": c.train.epochs,
                "batchnorm": c.batchnorm, "stopped": r.stopped_epoch is not None,
                "n_evals": len(r.checkpoints),
                "categorization": bool({"kmeans", "knn", "lr"} & set(c.metrics)),
                "train_seconds": r.train_seconds, "eval_seconds": r.eval_seconds,
            })  # fmt: skip
    frame = pd.DataFrame(rows, columns=_COST_COLUMNS[:-1])
    frame["seconds"] = frame.train_seconds / frame.group_size.clip(lower=1) + frame.eval_seconds
    return frame


_COST_COLUMNS = [
    "key", "dataset", "width", "n_examples", "fit_rows", "group_size", "epochs_run",
    "early_stopping", "max_epochs", "batchnorm", "stopped", "n_evals", "categorization",
    "train_seconds", "eval_seconds", "seconds",
]  # fmt: skip


def calibrate_cost_model(runs: pd.DataFrame, scale: Any = 1.0) -> CostModel:
    """Fit :class:`CostModel` to measured runs (:func:`cost_runs` rows), by non-negative least
    squares on seconds (so that long runs, which make a build long, weigh most).

    Training: each run's share of its group's training seconds (train_seconds / G) against
    steps * (1 / G, 1, width), where steps = epochs run * ceil(rows per epoch / 64).
    Evaluation: eval_seconds against n_evals * (1, n / 1000) for runs without categorization
    suites, then the remainder of runs with them against n_evals * (1, n / 1000,
    width * n / 1000). Early stopping: median epochs run by the runs with early stopping and
    at least 50 epochs allowed: tiled 8 times or more; not tiled, with and without BatchNorm
    (:data:`COST_MODEL`'s value where there is none). ``scale`` (one number, or one per run)
    multiplies the measured seconds first (e.g. CPU seconds / wall seconds of a loaded build).
    """
    import numpy as np
    from scipy.optimize import nnls

    if len(runs) == 0:
        raise ValueError("calibrate_cost_model needs measured runs; got none")
    bad = runs[(runs.epochs_run < 1) | (runs.n_evals < 1) | (runs.group_size < 1)]
    if len(bad):
        raise ValueError(
            f"runs {list(bad.key)[:3]} have no epoch, checkpoint or group: epochs_run, n_evals "
            "and group_size must be >= 1"
        )
    scale = np.broadcast_to(np.asarray(scale, dtype=float), (len(runs),))
    if not (np.isfinite(scale) & (scale > 0)).all():
        raise ValueError(f"scale must be positive numbers (one, or one per run); got {scale!r}")
    g = runs.group_size.to_numpy(float)
    steps = np.ceil(runs.fit_rows.to_numpy(float) / _BATCH_ROWS) * runs.epochs_run.to_numpy(float)
    a = np.column_stack([steps / g, steps, steps * runs.width.to_numpy(float)])
    step = nnls(a, scale * runs.train_seconds.to_numpy(float) / g)[0]
    n_evals = runs.n_evals.to_numpy(float)
    n_k = runs.n_examples.to_numpy(float) / 1000
    evals = scale * runs.eval_seconds.to_numpy(float)
    cat = runs.categorization.to_numpy(bool)

    width = runs.width.to_numpy(float)

    def fit(mask: Any, target: Any, per_unit: bool) -> Any:
        columns = [n_evals[mask], n_evals[mask] * n_k[mask]]
        if per_unit:
            columns.append(n_evals[mask] * n_k[mask] * width[mask])
        if not mask.any():
            return np.zeros(len(columns))
        return nnls(np.column_stack(columns), target)[0]

    base = fit(~cat, evals[~cat], False)
    extra = fit(cat, evals[cat] - n_evals[cat] * (base[0] + base[1] * n_k[cat]), True)
    long = runs[runs.early_stopping.astype(bool) & (runs.max_epochs >= _ES_MIN_EPOCHS)]
    tiled = long.n_examples * 8 <= long.dataset.map(TRAIN_SIZES).fillna(np.inf)
    bn = long.batchnorm.astype(bool)
    es, es_tiled = long.epochs_run[~tiled & bn], long.epochs_run[tiled]
    es_no_bn = long.epochs_run[~tiled & ~bn]
    return CostModel(
        step_s=float(step[0]),
        step_s_per_model=float(step[1]),
        step_s_per_unit=float(step[2]),
        eval_s=float(base[0]),
        eval_s_per_1k=float(base[1]),
        cat_s=float(extra[0]),
        cat_s_per_1k=float(extra[1]),
        cat_s_per_1k_unit=float(extra[2]),
        es_epochs=float(es.median()) if len(es) else COST_MODEL.es_epochs,
        es_epochs_tiled=float(es_tiled.median()) if len(es_tiled) else COST_MODEL.es_epochs_tiled,
        es_epochs_no_bn=float(es_no_bn.median()) if len(es_no_bn) else COST_MODEL.es_epochs_no_bn,
    )


#: Runs shorter than this tell nothing about when early stopping ends a run.
_ES_MIN_EPOCHS = 50


def stored_costs(
    plans: Mapping[str, Sequence[RunConfig]], store: StoreLike | None = None
) -> pd.DataFrame:
    """:func:`cost_runs` of the runs of ``plans`` (chapter -> configs) that ``store`` (default:
    the default store) holds; nothing is trained."""
    st = open_store(store)
    keys = dict.fromkeys(content_key(c) for configs in plans.values() for c in configs)
    return cost_runs([r for r in (st.get(k) for k in keys) if r is not None])


def sweep_cost_table(
    measured_seconds: Mapping[str, float],
    preset: str = DEFAULT_PRESET,
    model: CostModel | None = None,
) -> pd.DataFrame:
    """Predicted against measured seconds of whole chapter sweeps: ``measured_seconds`` maps
    grid chapters, in the order they were swept from an empty store, to the seconds each sweep
    took (``chapter_params(chapter, preset).run()``); each is charged the runs no chapter
    before it asked for. Columns as :func:`predicted_vs_measured` (``runs``: runs trained)."""
    import pandas as pd

    unknown = [c for c in measured_seconds if c not in ALL_CHAPTERS]
    if unknown:
        raise ValueError(f"unknown chapters {unknown}; accepted: {', '.join(ALL_CHAPTERS)}")
    seen: set[str] = set()
    rows = []
    for chapter, seconds in measured_seconds.items():
        configs = grid(chapter, preset)
        new = {content_key(c): c for c in configs if content_key(c) not in seen}
        seen |= {content_key(c) for c in configs}
        rows.append({"chapter": chapter, "runs": len(new), "missing": 0,
                     "measured_s": float(seconds),
                     "predicted_s": estimate_seconds(list(new.values()), model)})  # fmt: skip
    return _with_load_factor(pd.DataFrame(rows, columns=_TABLE_COLUMNS[:5]))


def shipped_cost_table(
    preset: str = "standard",
    dataset: str = "mnist",
    model: CostModel | None = None,
    protocol: str | None = None,
) -> pd.DataFrame:
    """Predicted against measured seconds for each chapter's shipped runs of ``preset``
    (:func:`predicted_vs_measured`, each chapter on its own runs, as ``PROVENANCE.json``
    counts them; chapters with no shipped runs are left out). ``protocol``: the grids of that
    MLP protocol shipped apart (``<chapter>.<protocol>.csv``, e.g. the depth-5 model-size grid
    on Fashion-MNIST); default: the data set's own."""
    import pandas as pd

    if protocol is not None and protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; accepted: {', '.join(PROTOCOLS)}")
    tables = []
    for chapter in FACTOR_CHAPTERS.keys() | {"model_size", "training_time", "sample_size"}:
        frame = shipped_files.load(chapter, preset, dataset=dataset, protocol=protocol)
        if frame.empty:
            continue
        keys = set(frame["key"])
        chapter_grid = grid(chapter, preset, dataset=dataset,
                            **({"protocol": protocol} if protocol is not None else {}))  # fmt: skip
        configs = [c for c in chapter_grid if content_key(c) in keys]
        tables.append(predicted_vs_measured({chapter: configs}, cost_runs(frame), model))
    order = {c: i for i, c in enumerate(ALL_CHAPTERS)}
    if not tables:
        return pd.DataFrame(columns=_TABLE_COLUMNS)
    table = pd.concat(tables, ignore_index=True)
    table = table.sort_values("chapter", key=lambda c: c.map(order)).reset_index(drop=True)
    return _with_load_factor(table)  # one load factor for the whole preset


def predicted_vs_measured(
    plans: Mapping[str, Sequence[RunConfig]],
    runs: pd.DataFrame,
    model: CostModel | None = None,
) -> pd.DataFrame:
    """Predicted against measured seconds per chapter.

    ``plans``: chapter -> the runs it asked for; ``runs``: measured runs (:func:`cost_runs`).
    Each chapter is charged the measured runs it asked for that no chapter before it (in
    ``plans`` order) asked for, as a build from an empty store trains them. Columns: chapter,
    runs (measured runs charged), missing (charged runs without a measurement, left out of
    both sides), measured_s, predicted_s, ratio (predicted / measured; NaN when nothing was
    measured), load_factor (geometric mean of measured / predicted over the chapters: how much
    slower than one idle thread the measurements ran, one number for the table),
    ratio_at_load (ratio x load_factor: the model's error on each chapter relative to the
    others).
    """
    import pandas as pd

    measured = runs.drop_duplicates("key").set_index("key")["seconds"]
    seen: set[str] = set()
    rows = []
    for chapter, configs in plans.items():
        new: dict[str, RunConfig] = {}
        for c in configs:
            key = content_key(c)
            if key not in seen:
                new.setdefault(key, c)
        seen |= set(new)
        have = [k for k in new if k in measured.index]
        m = float(measured.loc[have].sum()) if have else 0.0
        p = estimate_seconds([new[k] for k in have], model) if have else 0.0
        rows.append({
            "chapter": chapter, "runs": len(have), "missing": len(new) - len(have),
            "measured_s": m, "predicted_s": p,
        })  # fmt: skip
    return _with_load_factor(pd.DataFrame(rows, columns=_TABLE_COLUMNS[:5]))


_TABLE_COLUMNS = ["chapter", "runs", "missing", "measured_s", "predicted_s", "ratio",
                  "load_factor", "ratio_at_load"]  # fmt: skip


def _with_load_factor(table: pd.DataFrame) -> pd.DataFrame:
    """Ratios, and the load factor: the geometric mean of measured / predicted over the
    chapters measured, one number for the whole table (the model predicts seconds on one
    otherwise idle thread; a build beside other work measures more), with each chapter's
    ratio at that load."""
    import numpy as np

    out = table[_TABLE_COLUMNS[:5]].copy()
    measured, predicted = out["measured_s"].astype(float), out["predicted_s"].astype(float)
    positive = (measured > 0) & (predicted > 0)
    out["ratio"] = np.where(positive, predicted / measured.where(positive, 1.0), np.nan)
    logs = np.log(out["ratio"][positive].to_numpy(float))
    factor = float(np.exp(-logs.mean())) if len(logs) else float("nan")
    out["load_factor"] = factor
    out["ratio_at_load"] = out["ratio"] * factor
    return out.round({"measured_s": 1, "predicted_s": 1, "ratio": 2, "load_factor": 2,
                      "ratio_at_load": 2})  # fmt: skip


def describe_presets(
    presets: Sequence[str] | None = None, chapters: Sequence[str] | None = None
) -> pd.DataFrame:
    """What each preset runs per chapter: one row per (preset, chapter).

    Columns: preset, chapter, datasets, runs (configs), trainings (distinct content keys; the
    model-size chapters share theirs), widths, sample_sizes, max_epochs, early_stopping,
    checkpoints, repeats, metrics, cpu_minutes (expected CPU minutes on one thread from an
    empty store, :func:`estimate_seconds` with the calibrated :data:`COST_MODEL`, counting
    shared runs once per preset in the 'model_size' row only).

    ``chapters``: None = those with the original's grids (:data:`CHAPTERS`); pass
    :data:`ALL_CHAPTERS` to add regularization, label noise and the phase chart (their runs
    shared with earlier chapters are counted once, where they first appear).
    """
    import pandas as pd

    rows = []
    for name in presets or PRESETS:
        pre = PRESETS[name]
        counted: set[str] = set()
        order = ("model_size", "determinism", "categorization", "training_time",
                 "sample_size", *FACTOR_CHAPTERS)  # fmt: skip
        wanted = set(CHAPTERS if chapters is None else chapters)
        unknown = sorted(wanted - set(ALL_CHAPTERS))
        if unknown:
            raise ValueError(f"unknown chapters {unknown}; accepted: {', '.join(ALL_CHAPTERS)}")
        for chapter in (c for c in order if c in wanted):
            configs = grid(chapter, name)
            keys = {content_key(c) for c in configs}
            new = [c for c in configs if content_key(c) not in counted]
            counted |= keys
            if chapter in FACTOR_CHAPTERS:  # spans from the configs (several families)
                spec = {
                    ds: GridSpec(
                        tuple(sorted({c.width for c in configs if c.dataset == ds})),
                        0,
                        False,
                        (),
                        tuple(dict.fromkeys(c.n_train for c in configs if c.dataset == ds)),
                    )
                    for ds in pre.datasets
                }
            else:
                spec = {ds: pre.spec(CHAPTERS[chapter], ds) for ds in pre.datasets}
            rows.append({
                "preset": name,
                "chapter": chapter,
                "datasets": ", ".join(pre.datasets),
                "runs": len(configs),
                "trainings": len(keys),
                "new_trainings": len({content_key(c) for c in new}),
                "widths": "; ".join(f"{ds}: {_span(s.widths)}" for ds, s in spec.items()),
                "sample_sizes": "; ".join(sorted({_span(_cap_sizes(s.sample_sizes, ds))
                                                  for ds, s in spec.items()})),
                "max_epochs": max(c.train.epochs for c in configs),
                "early_stopping": bool(configs[0].train.early_stopping),
                "checkpoints": len(set(configs[0].checkpoints) | {configs[0].train.epochs}),
                "repeats": max(c.seed for c in configs) + 1,
                "metrics": ", ".join(configs[0].metrics),
                "cpu_minutes": math.ceil(estimate_seconds(new) / 6) / 10,
            })  # fmt: skip
    return pd.DataFrame(rows)


def _span(values: Sequence[int | None]) -> str:
    shown = ["all" if v is None else str(v) for v in values]
    if len(shown) <= 6:
        return ", ".join(shown)
    return f"{len(shown)} values, {shown[0]} .. {shown[-1]}"


# ----------------------------------------------------------------------------------------------
# The CNN chapter's presets
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CNNPreset:
    """What the CNN chapter runs under one preset name (hashlib_nn.experiments.presets' names)."""

    models: tuple[str, ...]  # one run per model
    dataset: str
    n_train: int | None  # None: the whole training split (48k; CIFAR-10 40k)
    n_test: int | None  # None: the whole test set (10k)
    epochs: int
    checkpoints: tuple[int, ...]  # epochs evaluated (0: initialization)
    bn_momentum: float | None  # None: Keras' (original); 0.1 for runs of a few hundred steps
    note: str


PAPER_MODELS: tuple[str, ...] = ("vgg16", "vgg19", "resnet18", "resnet20", "resnet32", "resnet56")

CNN_PRESETS: dict[str, CNNPreset] = {
    "smoke": CNNPreset(("resnet8",), "fashion-mnist", 256, 256, 1, (0, 1), 0.1,
                       "seconds: 256 images, one epoch (tests)"),
    "quick": CNNPreset(("resnet8",), "fashion-mnist", 5000, 2000, 4, (0, 4), 0.1,
                       "the default, CPU: our ResNet8 on the first 5,000 Fashion-MNIST training "
                       "images, 4 epochs; 2,000 test images"),
    "standard": CNNPreset(("resnet20",), "fashion-mnist", None, None, 200, (0, 1, 10, 50, 200),
                          None, "GPU: ResNet20 on all 48k Fashion-MNIST training images and the "
                          "10k test images, the original protocol (200 epochs)"),
    "paper": CNNPreset(PAPER_MODELS, "cifar10", None, None, 200, (0, 200), None,
                       "GPU, hours: the paper's six CNNs on CIFAR-10 (40k/10k), the original "
                       "protocol"),
}  # fmt: skip


def lr_decay_every(epochs: int) -> int:
    """The original's schedule scaled to the run: x0.1 after each quarter of the epochs
    (200 epochs: every 50, the original; 4 epochs: every epoch)."""
    return max(1, int(epochs) // 4)


def chapter_runs(
    preset: str = "quick",
    *,
    model: str | Sequence[str] | None = None,
    dataset: str | None = None,
    n_train: int | None = None,
    n_test: int | None = None,
    epochs: int | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """The keyword arguments of each :func:`cnn_run` the chapter makes under ``preset``; every
    argument given (not None) overrides the preset's value (``model`` may be a list or a string
    such as ``"[resnet20, resnet32]"``). The schedule is :func:`lr_decay_every` of the epochs;
    with other epochs than the preset's, the checkpoints are 0 and the last epoch."""
    if preset not in CNN_PRESETS:
        raise ValueError(f"preset must be one of {list(CNN_PRESETS)}; got {preset!r}")
    p = CNN_PRESETS[preset]
    models = str_list(model) if model else p.models
    e = p.epochs if epochs is None else int(epochs)
    cps = p.checkpoints if epochs is None else (0, e)
    return [dict(model_name=m, dataset=dataset or p.dataset,
                 n_train=p.n_train if n_train is None else n_train,
                 n_test=p.n_test if n_test is None else n_test, epochs=e, seed=seed,
                 checkpoints=tuple(sorted(set(cps) | {e})), bn_momentum=p.bn_momentum,
                 lr_decay_every=lr_decay_every(e)) for m in models]  # fmt: skip


