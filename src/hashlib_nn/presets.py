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
draw on one model-size grid, so in the store they share their runs (``determinism`` asks only for
the ``rr`` and ``net`` metrics in the standard and paper presets; any stored run that measured
more serves it).
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hashlib_nn.experiments import (
    DEFAULT_DEPTH,
    METRIC_SUITES,
    TRAIN_SIZES,
    RunConfig,
    _train_size,
)
from hashlib_nn.train import TrainConfig

if TYPE_CHECKING:
    import pandas as pd

    from hashlib_nn.store import StoreLike

__all__ = [
    "CHAPTERS",
    "PRESETS",
    "ChapterPlan",
    "GridSpec",
    "Preset",
    "chapter_params",
    "describe_presets",
    "grid",
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
    mnist: Mapping[str, GridSpec]  # family -> grid, MNIST-like data sets (784 inputs, depth 1)
    cifar: Mapping[str, GridSpec]  # family -> grid, CIFAR-10 (depth 5)
    determinism_metrics: tuple[str, ...] = ("rr", "net")  # the determinism chapter's suites

    def spec(self, family: str, dataset: str) -> GridSpec:
        return (self.cifar if dataset == "cifar10" else self.mnist)[family]


def _original(repeats: int, datasets: tuple[str, ...], name: str, description: str) -> Preset:
    return Preset(
        name=name,
        description=description,
        datasets=datasets,
        repeats=repeats,
        mnist={
            "model_size": GridSpec(MNIST_MODEL_SIZE_WIDTHS, 200, True),
            "training_time": GridSpec(MNIST_SAMPLE_WIDTHS, 200, False, TRAINING_TIME_CHECKPOINTS),
            "sample_size": GridSpec(MNIST_SAMPLE_WIDTHS, 200, True, (), MNIST_SAMPLE_SIZES),
        },
        cifar={
            "model_size": GridSpec(CIFAR_MODEL_SIZE_WIDTHS, 200, True),
            "training_time": GridSpec(CIFAR_SAMPLE_WIDTHS, 200, False, TRAINING_TIME_CHECKPOINTS),
            "sample_size": GridSpec(CIFAR_SAMPLE_WIDTHS, 200, True, (), CIFAR_SAMPLE_SIZES),
        },
    )


SMOKE = Preset(
    name="smoke",
    description="seconds: widths 5 and 20, 1-2 epochs, small samples, one seed (tests)",
    datasets=("mnist",),
    repeats=1,
    mnist={
        "model_size": GridSpec((5, 20), 1, True, (), (1000,)),
        "training_time": GridSpec((20,), 2, False, (0, 1, 2), (1000,)),
        "sample_size": GridSpec((20,), 1, True, (), (10, 100)),
    },
    cifar={
        "model_size": GridSpec((25, 100), 1, True, (), (1000,)),
        "training_time": GridSpec((100,), 2, False, (0, 1, 2), (1000,)),
        "sample_size": GridSpec((100,), 1, True, (), (10, 100)),
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
    mnist={
        "model_size": GridSpec((3, 7, 10, 15, 20, 30, 40, 60, 100), 8, True),
        "training_time": GridSpec((40, 60), 20, False, (0, 1, 3, 6, 10, 20), repeats=1),
        "sample_size": GridSpec((40, 60), 8, True, (), (10, 100, 1000, 10000, None), repeats=1),
    },
    cifar={
        "model_size": GridSpec((50, 100, 200, 500, 1000), 8, True),
        "training_time": GridSpec((100, 200), 20, False, (0, 1, 3, 6, 10, 20), repeats=1),
        "sample_size": GridSpec((100, 200), 8, True, (), (10, 100, 1000, 10000, None), repeats=1),
    },
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


def _str_list(v: Any) -> tuple[str, ...]:
    parsed = _literal(v)
    if isinstance(parsed, str):
        return (_str(parsed),)
    if isinstance(parsed, list | tuple) and parsed and all(isinstance(x, str) for x in parsed):
        return tuple(_str(x) for x in parsed)
    raise _Invalid


def _preset(v: Any) -> str:
    name = _str(v)
    if name not in PRESETS:
        raise _Invalid
    return name


def _device(v: Any) -> str:
    from hashlib_nn.device import resolve_device

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
}
# Parameters that only make sense for some grid families.
_ONLY_FOR = {"sample_sizes": ("sample_size",), "n_train": ("model_size", "training_time")}


def _resolve(chapter: str, params: Mapping[str, Any]) -> dict[str, Any]:
    if chapter not in CHAPTERS:
        accepted = ", ".join(repr(c) for c in CHAPTERS)
        raise ValueError(f"unknown chapter {chapter!r}; accepted: {accepted}")
    out: dict[str, Any] = {}
    for name, value in params.items():
        if name not in _PARAMS:
            accepted = ", ".join(_PARAMS)
            raise ValueError(f"unknown chapter parameter {name!r}; accepted: {accepted}")
        if name in _ONLY_FOR and CHAPTERS[chapter] not in _ONLY_FOR[name]:
            raise ValueError(
                f"chapter parameter {name!r} does not apply to chapter {chapter!r} "
                f"(only to: {', '.join(_ONLY_FOR[name])})"
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
    (a name or a list), ``widths`` (total hidden units), ``epochs``, ``repeats``, ``seed``
    (first seed; repeats use seed, seed + 1, ...), ``n_train`` (model-size family),
    ``sample_sizes`` (sample_size), ``checkpoints``, ``early_stopping``, ``metrics``.
    Order: data set, width, sample size, seed. ``device`` and ``store`` are accepted and
    ignored here (see :func:`chapter_params`).
    """
    p = _resolve(chapter, {"preset": preset, **overrides})
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
        spec = pre.spec(family, ds)
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
        depth = DEFAULT_DEPTH.get(ds, 1)
        repeats = p.get("repeats") or spec.repeats or pre.repeats
        for width in p.get("widths") or spec.widths:
            for n in sizes:
                for r in range(repeats):
                    train = TrainConfig(epochs=epochs, early_stopping=es, seed=seed0 + r)
                    configs.append(RunConfig(dataset=ds, width=width, depth=depth, n_train=n,
                                             train=train, checkpoints=checkpoints,
                                             metrics=metrics))  # fmt: skip
    return configs


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
        from hashlib_nn.experiments import sweep

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

# Seconds per training epoch of one model on 2 CPU cores over 48k MNIST examples (toolchain.md:
# 0.57 s at width 10, 0.93 s at width 100; linear in between); CIFAR-10 (3072 inputs, depth 5):
# scaled by the first layer's share of the work, a rough guess (not measured here: no data).
_EPOCH_S_W10, _EPOCH_S_W100 = 0.57, 0.93
# Cost of training R models together relative to one (measured, batched.train_many, width 100,
# R = 3: 1.53x one model; modelled as 1 + 0.27 (R - 1)).
_BATCH_EXTRA = 0.27
# Seconds per evaluated checkpoint (measured, MNIST, width <= 100, 2 shared cores): codes + rr +
# net about 0.3 s; the categorization suites (K-Means n_init=10 on train and on test codes,
# 9-NN Hamming, one-vs-one LR) about 2.5 s + 4.5 s * n / 48k (the test set is always 10k).
_EVAL_S_BASE, _EVAL_S_CAT_FIXED, _EVAL_S_CAT_PER_48K = 0.3, 2.5, 4.5


def _epoch_seconds(config: RunConfig) -> float:
    per_layer = config.width // config.depth
    s = _EPOCH_S_W10 + (_EPOCH_S_W100 - _EPOCH_S_W10) * (per_layer - 10) / 90
    s = max(s, _EPOCH_S_W10 * 0.9)
    length = TRAIN_SIZES.get(config.dataset, 48_000)
    if config.dataset == "cifar10":
        s *= 2.5 + 0.15 * config.depth
    return s * length / 48_000


def estimate_seconds(configs: Sequence[RunConfig]) -> float:
    """Upper-bound CPU seconds (2 cores) to run ``configs`` from an empty store: every run to
    its last epoch (early stopping only shortens), repeats batched, distinct keys only."""
    from hashlib_nn.experiments import _group_key, content_key

    seen: dict[str, RunConfig] = {}
    for c in configs:
        seen.setdefault(content_key(c), c)
    groups: dict[str, list[RunConfig]] = {}
    for c in seen.values():
        groups.setdefault(_group_key(c), []).append(c)
    total = 0.0
    for g in groups.values():
        c = g[0]
        total += c.train.epochs * _epoch_seconds(c) * (1 + _BATCH_EXTRA * (len(g) - 1))
        per_eval = _EVAL_S_BASE
        if {"kmeans", "knn", "lr"} & set(c.metrics):
            per_eval += _EVAL_S_CAT_FIXED + _EVAL_S_CAT_PER_48K * c.n_examples / 48_000
        n_eval = len(set(c.checkpoints) | {c.train.epochs})
        total += len(g) * n_eval * per_eval
    return total


def describe_presets(presets: Sequence[str] | None = None) -> pd.DataFrame:
    """What each preset runs per chapter: one row per (preset, chapter).

    Columns: preset, chapter, datasets, runs (configs), trainings (distinct content keys; the
    model-size chapters share theirs), widths, sample_sizes, max_epochs, early_stopping,
    checkpoints, repeats, metrics, cpu_minutes (upper-bound estimate on 2 CPU cores, from an
    empty store, counting shared runs once per preset in the 'model_size' row only).
    """
    import pandas as pd

    rows = []
    for name in presets or PRESETS:
        pre = PRESETS[name]
        counted: set[str] = set()
        for chapter in ("model_size", "determinism", "categorization", "training_time",
                        "sample_size"):  # fmt: skip
            configs = grid(chapter, name)
            from hashlib_nn.experiments import content_key

            keys = {content_key(c) for c in configs}
            new = [c for c in configs if content_key(c) not in counted]
            counted |= keys
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
