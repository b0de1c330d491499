r"""Controls: what the paper's numbers look like without training (issue 12, "Controls").

A claim about what a *trained* network does means something only beside what needs no training.
This module computes two controls for any configuration of the experiments
(:class:`hashlib_nn.experiments.RunConfig`), measured by the same evaluation code as the trained
runs and returned in the same tidy schema (:meth:`hashlib_nn.experiments.RunResult.to_frame`,
plus a ``control`` column), so every table, chart and verdict applies to them unchanged:

``untrained``
    The same architecture (:class:`hashlib_nn.models.PaperMLP`, same width, depth and seed) at
    initialization, encoded in inference mode exactly as the trained runs are (the evaluation is
    :mod:`hashlib_nn.experiments`' own). It is the epoch-0 checkpoint of a training run with
    that seed. At initialization the biases are zero and BatchNorm's running statistics are
    (mean 0, variance 1), so a bit is :math:`[\,w_j^\top x > 0\,]` with Glorot-uniform
    :math:`w_j`: a random projection of the *uncentred* input.
``simhash``
    A random-projection hash of the input with as many bits as the network's code (SimHash,
    Charikar 2002): bit :math:`j` of input :math:`x` is

    .. math:: b_j(x) = [\, g_j^\top (x - \mu) > 0 \,], \qquad g_j \sim \mathcal N(0, I_D),

    with :math:`g = ` ``np.random.default_rng(seed).standard_normal((D, n_bits))`` (column
    :math:`j`) and :math:`\mu` the mean of the training examples. **The inputs are centred.**
    MNIST pixels lie in [0, 1]: every input sits in the positive orthant, far from the origin,
    so an uncentred hyperplane through the origin cuts the data off-centre, many bits are
    nearly constant and the hash wastes them. Centring on the training mean (test inputs are
    shifted by the same training mean: nothing is fitted on the test set) makes each bit split
    the data near its middle, which is what SimHash assumes. The uncentred random projection is
    not lost: it is, up to the weight distribution, the untrained network above, so the two
    controls span both choices.

:func:`model_size_controls` gives both controls over a model-size grid (widths x seeds under a
preset); :func:`chapter_controls` what the *Determinism* and *Categorization* chapters use.
Results are kept in the results store (:mod:`hashlib_nn.experiments.store`) under
``<root>/controls/``, one
entry per control and configuration (an ordinary run entry whose ``trainer`` is
``"control:<name>"``), so a chapter computes each control once. :func:`ship_controls` and
:func:`load_shipped` write and read the shipped ``results/<preset>/controls.csv``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hashlib_nn.analysis import aggregate, final_rows
from hashlib_nn.codes import NeuralCodes, neural_codes
from hashlib_nn.device import resolve_device
from hashlib_nn.experiments import presets
from hashlib_nn.experiments.config import (
    CATEGORIZATION_SUITES,
    METRIC_SUITES,
    RunConfig,
    content_key,
)
from hashlib_nn.experiments.evaluation import (
    build_model,
    categorization_suites,
    evaluate,
    rr_metrics,
    run_data,
)
from hashlib_nn.experiments.result import FRAME_COLUMNS, Checkpoint, RunResult
from hashlib_nn.experiments.store import Store, open_store
from hashlib_nn.provenance import versions
from hashlib_nn.shipped import check_preset
from hashlib_nn.shipped_files import PROVENANCE_COLUMNS, VERSION_KEYS, read_rows, shipped_root
from hashlib_nn.validation import atomic_write

if TYPE_CHECKING:
    import pandas as pd

    from hashlib_nn.experiments.presets import ChapterPlan
    from hashlib_nn.experiments.store import StoreLike
    from hashlib_nn.models import PaperMLP

__all__ = [
    "CONTROLS",
    "CONTROL_LABELS",
    "TRAINED",
    "chapter_controls",
    "control_configs",
    "control_key",
    "control_result",
    "coverage_sentence",
    "controls_frame",
    "curves_with_controls",
    "load_shipped",
    "model_size_controls",
    "ship_controls",
    "simhash_codes",
    "training_adds",
    "untrained_codes",
    "untrained_network",
]

#: The controls, in the order tables and charts show them.
CONTROLS: tuple[str, ...] = ("untrained", "simhash")
#: Their names in prose and legends (the names :func:`hashlib_nn.verdicts.with_controls` prints).
CONTROL_LABELS: dict[str, str] = {
    "untrained": "untrained network",
    "simhash": "random projection (SimHash)",
}
#: The name of the trained network's curves beside the controls.
TRAINED = "trained network"
#: Per control, bumped when a change would change its stored results for the same
#: configuration (SimHash 2: projections in float32 instead of float64).
CONTROL_VERSION: dict[str, int] = {"untrained": 1, "simhash": 2}
#: Suites that apply to a control: SimHash has no network, so no ``net`` suite.
_SUITES_OF = {"untrained": METRIC_SUITES, "simhash": tuple(s for s in METRIC_SUITES if s != "net")}
#: Cost limits of the controls in the chapters at the cheap presets (the book build budget):
#: chapter -> preset -> (at most this many widths, at most this many seeds); absent = all.
#: Determinism needs only the redundancy ratio (about 0.1 s per control and configuration);
#: categorization needs K-Means, K-NN and logistic regression (about 4 s each at n = 48,000).
CHAPTER_LIMITS: dict[str, dict[str, tuple[int, int]]] = {
    "determinism": {"smoke": (2, 1), "quick": (100, 1)},
    "categorization": {"smoke": (2, 1), "quick": (3, 1)},
}
#: The suites each chapter needs from the controls.
CHAPTER_SUITES: dict[str, tuple[str, ...]] = {
    "determinism": ("rr",),
    "categorization": METRIC_SUITES,
}


def _check_control(name: object) -> str:
    if name not in CONTROLS:
        accepted = ", ".join(repr(c) for c in CONTROLS)
        raise ValueError(f"unknown control {name!r}; accepted: {accepted}")
    return str(name)


# ----------------------------------------------------------------------------------------------
# The codes
# ----------------------------------------------------------------------------------------------


def simhash_codes(
    x: np.ndarray,
    n_bits: int,
    *,
    seed: int,
    center: np.ndarray | None = None,
    batch_size: int = 8192,
) -> NeuralCodes:
    r"""SimHash codes of the rows of ``x``: bit j = 1 iff :math:`g_j^\top (x - c) > 0`.

    ``g = np.random.default_rng(seed).standard_normal((D, n_bits))``; ``center`` ``c`` is a
    length-D vector subtracted from every row (None: no centring; see the module docstring for
    why the controls centre on the training mean). Computed in float32 (as the networks' own
    codes; about six times faster than float64 on 2 cores), ``batch_size`` rows at a time, so
    a bit can differ from the exact (float64) sign only where the projection lies within
    float32 rounding of 0. Returned packed, like :func:`hashlib_nn.codes.neural_codes`.

    >>> codes = simhash_codes(np.eye(3, dtype=np.float32), 5, seed=0)
    >>> codes.n_bits, len(codes)
    (5, 3)
    """
    if isinstance(n_bits, bool) or not isinstance(n_bits, int | np.integer) or n_bits < 1:
        raise ValueError(f"n_bits must be a positive integer; got n_bits={n_bits!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got seed={seed!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got batch_size={batch_size!r}")
    x = np.asarray(x)
    if x.ndim != 2 or len(x) == 0 or not np.issubdtype(x.dtype, np.number):
        raise ValueError(
            f"x must be a non-empty numeric (N, D) array; got dtype {x.dtype} and shape {x.shape}"
        )
    d = x.shape[1]
    c = None
    if center is not None:
        c = np.asarray(center, dtype=np.float64)
        if c.shape != (d,):
            raise ValueError(
                f"center must be a vector of length D={d} (one value per input feature); got "
                f"shape {c.shape}"
            )
    g = np.random.default_rng(int(seed)).standard_normal((d, int(n_bits))).astype(np.float32)
    c32 = None if c is None else c.astype(np.float32)
    parts = []
    for start in range(0, len(x), batch_size):
        rows = x[start : start + batch_size].astype(np.float32)
        if c32 is not None:
            rows -= c32
        parts.append(np.packbits(rows @ g > 0, axis=1))
    n = int(n_bits)
    return NeuralCodes(np.ascontiguousarray(np.concatenate(parts)), n, (n,))


def untrained_network(config: RunConfig) -> PaperMLP:
    """The network of ``config`` at initialization: what training starts from (epoch 0)."""

    _check_config(config)
    return build_model(config, run_data(config, fit=False))


def untrained_codes(
    config: RunConfig, x: np.ndarray, *, device: Any = "auto"
) -> NeuralCodes:
    """Neural codes of ``x`` under :func:`untrained_network` (inference mode)."""
    out = neural_codes(untrained_network(config), x, device=device)
    assert isinstance(out, NeuralCodes)
    return out


def _check_config(config: object) -> RunConfig:
    if not isinstance(config, RunConfig):
        raise TypeError(f"config must be a hashlib_nn.experiments.RunConfig; got "
                        f"{type(config).__name__}")  # fmt: skip
    return config


# ----------------------------------------------------------------------------------------------
# Evaluation: the experiments' own
# ----------------------------------------------------------------------------------------------


def _evaluate_codes(codes_tr: NeuralCodes, codes_te: NeuralCodes, config: RunConfig,
                    data: Any, device: Any) -> Checkpoint:  # fmt: skip
    """The ``rr`` and categorization suites of :func:`hashlib_nn.experiments.evaluate` on
    given codes (for a control that is not a network). Same functions, same arguments, same
    metric names; ``tests/test_controls.py`` checks that both give identical numbers."""
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    m: dict[str, float] = {}
    if "rr" in config.metrics:
        t = time.perf_counter()
        m.update(rr_metrics((("train", codes_tr), ("test", codes_te))))
        m["n_bits"] = float(codes_tr.n_bits)
        timings["rr"] = time.perf_counter() - t
    suites = tuple(s for s in CATEGORIZATION_SUITES if s in config.metrics)
    if suites:
        t = time.perf_counter()
        cat, cat_seconds = categorization_suites(codes_tr, data.y_eval, codes_te, data.y_test,
                                                 suites=suites, n_classes=data.n_classes,
                                                 device=device)  # fmt: skip
        m.update(cat)
        timings.update(cat_seconds)
        timings["categorization"] = time.perf_counter() - t
    return Checkpoint(0, m, time.perf_counter() - t0, timings)


def control_key(name: str, config: RunConfig) -> str:
    """The store key of control ``name`` for ``config``: SHA-256 (hex) of the control, its
    version and the configuration's content key (never equal to a trained run's key)."""

    _check_control(name)
    payload = {"control": name, "version": CONTROL_VERSION[name], "run": content_key(config),
               "simhash_center": "train_mean" if name == "simhash" else None}  # fmt: skip
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _request(name: str, config: RunConfig, suites: Sequence[str]) -> RunConfig:
    """``config`` measuring the suites of ``suites`` that apply to control ``name``, at epoch 0."""
    wanted = tuple(s for s in suites if s in _SUITES_OF[name])
    if not wanted:
        raise ValueError(f"none of the suites {list(suites)} applies to the {name!r} control; "
                         f"it measures {list(_SUITES_OF[name])}")  # fmt: skip
    return dataclasses.replace(config, checkpoints=(0,), metrics=wanted)


def control_result(name: str, config: RunConfig, *, suites: Sequence[str] = METRIC_SUITES,
                   device: Any = "auto", _data: Any = None) -> RunResult:  # fmt: skip
    """Measure control ``name`` (:data:`CONTROLS`) for ``config`` (nothing is stored).

    A :class:`~hashlib_nn.experiments.RunResult` with one checkpoint, epoch 0, ``epochs_run``
    0, ``trainer`` ``"control:<name>"`` and key :func:`control_key`. ``suites``: those of
    :data:`hashlib_nn.experiments.METRIC_SUITES` to measure (``net`` is skipped for SimHash).
    """

    _check_control(name)
    _check_config(config)
    unknown = [s for s in suites if s not in METRIC_SUITES]
    if unknown or isinstance(suites, str):
        accepted = ", ".join(repr(s) for s in METRIC_SUITES)
        raise ValueError(f"suites must be a sequence of {accepted}; got {suites!r}")
    request = _request(name, config, suites)
    dev = resolve_device(device)
    data = _data if _data is not None else run_data(request, fit=False)
    if name == "untrained":
        model = build_model(request, data)
        checkpoint = evaluate(model, request, data, dev, 0)  # the trained runs' evaluation
    else:
        n_bits = request.width  # one bit per hidden unit of the network (all layers)
        center = data.x_eval.mean(axis=0, dtype=np.float64)  # no float64 copy of the data
        codes_tr = simhash_codes(data.x_eval, n_bits, seed=request.seed, center=center)
        codes_te = simhash_codes(data.x_test, n_bits, seed=request.seed, center=center)
        checkpoint = _evaluate_codes(codes_tr, codes_te, request, data, dev)
    return RunResult(
        config=request, key=control_key(name, config), checkpoints=[checkpoint], history=[],
        stopped_epoch=None, epochs_run=0, train_seconds=0.0, device=str(dev),
        trainer=f"control:{name}", versions=versions(),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )  # fmt: skip


def _control_store(store: StoreLike | bool | None) -> Store | None:
    if store is False:
        return None
    return Store(open_store(None if store is True else store).root / "controls")


def _frame_of(result: RunResult, request: RunConfig, name: str) -> pd.DataFrame:
    return result.to_frame(request).assign(control=name)


def controls_frame(
    configs: Iterable[RunConfig],
    *,
    controls: Sequence[str] = CONTROLS,
    suites: Sequence[str] = METRIC_SUITES,
    store: StoreLike | bool | None = None,
    device: Any = "auto",
) -> pd.DataFrame:
    """Both controls (or ``controls``) for every configuration, as one tidy frame.

    Columns: those of :func:`hashlib_nn.experiments.sweep`'s frame (one row per configuration
    x metric, ``epoch`` 0, ``final`` True, ``epochs_run`` 0; the configuration columns are those
    of the network the control stands beside, ``max_epochs`` included) plus ``control``.
    ``store``: as in :func:`hashlib_nn.experiments.run` (None: the default store; False: none);
    a stored control that measured the requested suites is read, not recomputed.
    """
    import pandas as pd


    configs = [_check_config(c) for c in configs]
    names = [_check_control(n) for n in ([controls] if isinstance(controls, str) else controls)]
    st = _control_store(store)
    frames = []
    loaded: dict[str, Any] = {}  # the evaluation data, loaded once per sample (no label noise)
    for config in configs:
        for name in names:
            request = _request(name, config, suites)
            key = control_key(name, config)
            stored = st.get(key) if st is not None else None
            if stored is not None and set(request.metrics) <= set(stored.config.metrics):
                frames.append(_frame_of(stored, request, name))
                continue
            if stored is not None:  # measure the union, so the entry only grows
                merged = tuple(set(request.metrics) | set(stored.config.metrics))
                plan = dataclasses.replace(request, metrics=merged)
            else:
                plan = request
            data = None
            if plan.label_noise == 0:

                sample = json.dumps([plan.dataset, plan.n_train])
                if sample not in loaded:
                    loaded[sample] = run_data(plan, fit=False)
                data = loaded[sample]
            result = control_result(name, plan, suites=plan.metrics, device=device, _data=data)
            if st is not None:
                current = st.get(key)  # another process sharing the store may have measured more
                if current is None or not set(result.config.metrics) < set(current.config.metrics):
                    st.put(result)
            frames.append(_frame_of(result, request, name))
    if not frames:
        return pd.DataFrame(columns=[*FRAME_COLUMNS, "control"])
    return pd.concat(frames, ignore_index=True)


def control_configs(
    dataset: str, widths: Sequence[int], seeds: Sequence[int], *, preset: str
) -> list[RunConfig]:
    """The model-size configurations of ``preset`` at ``widths`` x ``seeds`` (the networks the
    controls stand beside), in that order."""
    widths, seeds = list(widths), list(seeds)
    if not widths or not seeds:
        raise ValueError(f"widths and seeds must be non-empty; got widths={widths}, "
                         f"seeds={seeds}")  # fmt: skip
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int | np.integer) or s < 0:
            raise ValueError(f"seeds must be non-negative integers; got {s!r} in {seeds}")
    for w in widths:
        if isinstance(w, bool) or not isinstance(w, int | np.integer) or w < 1:
            raise ValueError(f"widths must be positive integers; got {w!r} in {widths}")
    widths = [int(w) for w in widths]
    base = presets.grid("model_size", preset, dataset=dataset, widths=widths, repeats=1, seed=0)
    return [c.replace(seed=int(s)) for c in base for s in seeds]


def model_size_controls(
    dataset: str,
    widths: Sequence[int],
    seeds: Sequence[int],
    *,
    preset: str,
    suites: Sequence[str] = METRIC_SUITES,
    controls: Sequence[str] = CONTROLS,
    store: StoreLike | bool | None = None,
    device: Any = "auto",
) -> pd.DataFrame:
    """Both controls over the model-size grid of ``preset`` at ``widths`` x ``seeds``.

    The tidy frame of :func:`controls_frame` for :func:`control_configs`; the seeds are those
    of the networks (the untrained network's initialization, SimHash's projection).
    """
    configs = control_configs(dataset, widths, seeds, preset=preset)
    return controls_frame(configs, controls=controls, suites=suites, store=store, device=device)


def coverage_sentence(controls: pd.DataFrame) -> str:
    """Which widths and seeds a controls frame measured, in one sentence ("" when empty)."""
    if controls is None or controls.empty:
        return ""
    widths = sorted(int(w) for w in controls["width"].unique())
    seeds = sorted(int(s) for s in controls["seed"].unique())
    return (f"Controls measured at width(s) {', '.join(map(str, widths))} with seed(s) "
            f"{', '.join(map(str, seeds))}.")


def _thin(values: Sequence[int], k: int) -> list[int]:
    """At most ``k`` of the sorted ``values``, spread evenly, first and last kept."""
    values = sorted(set(values))
    if len(values) <= k:
        return values
    idx = np.unique(np.linspace(0, len(values) - 1, k).round().astype(int))
    return [values[i] for i in idx]


def chapter_controls(
    chapter: str, plan: ChapterPlan, *, store: StoreLike | bool | None = None
) -> pd.DataFrame:
    """The controls a chapter shows beside its runs (``plan``: its
    :func:`hashlib_nn.experiments.presets.chapter_params`).

    ``determinism``: the redundancy ratios at every width and seed of the plan (at the
    ``quick`` preset its first seed only). ``categorization``: every suite; at the ``smoke``
    and ``quick`` presets only at a few of the plan's widths (spread over the range) and its
    first seed (:data:`CHAPTER_LIMITS`: K-Means, K-NN and logistic regression on 48,000 codes
    cost seconds per control and width; measured at ``quick`` on 2 shared cores: about 4 s of
    CPU for determinism and 28 s for categorization).
    """
    if chapter not in CHAPTER_SUITES:
        accepted = ", ".join(repr(c) for c in CHAPTER_SUITES)
        raise ValueError(f"chapter must be one of {accepted}; got {chapter!r}")
    configs = list(plan)
    if not configs:
        raise ValueError(f"the {chapter} plan has no runs; nothing to control")
    widths = sorted({c.width for c in configs})
    seeds = sorted({c.seed for c in configs})
    limit = CHAPTER_LIMITS.get(chapter, {}).get(plan.preset)
    if limit is not None:
        widths, seeds = _thin(widths, limit[0]), seeds[: limit[1]]
    chosen = [c for c in configs if c.width in widths and c.seed in seeds]
    return controls_frame(chosen, suites=CHAPTER_SUITES[chapter],
                          store=plan.store if store is None else store,
                          device=plan.device)  # fmt: skip


# ----------------------------------------------------------------------------------------------
# The trained network beside its controls
# ----------------------------------------------------------------------------------------------


def curves_with_controls(frame: pd.DataFrame, controls: pd.DataFrame | None,
                         metrics: Sequence[str]) -> pd.DataFrame:  # fmt: skip
    """Mean and seed range by width of ``metrics`` for the trained runs (``frame``, their final
    epochs) and for each control in ``controls`` (a :func:`controls_frame`, or None).

    Columns ``source`` (:data:`TRAINED` or a :data:`CONTROL_LABELS` label), ``width``,
    ``metric``, ``mean``, ``lo``, ``hi``, ``n`` (from :func:`hashlib_nn.analysis.aggregate`).
    A metric a source lacks (e.g. a control measured for RR only) is left out for that source.
    """
    import pandas as pd

    metrics = list(metrics)
    parts = []
    sources = [(TRAINED, frame)]
    if controls is not None and len(controls):
        if "control" not in controls.columns:
            raise ValueError(f"controls has no 'control' column; has {list(controls.columns)}")
        sources += [(CONTROL_LABELS[c], controls[controls["control"] == c]) for c in CONTROLS]
    for label, part in sources:
        part = final_rows(part)
        part = part[part["metric"].isin(metrics)]
        if part.empty:
            continue
        parts.append(aggregate(part, by=["width"]).assign(source=label))
    columns = ["source", "width", "metric", "mean", "lo", "hi", "n"]
    if not parts:
        return pd.DataFrame(columns=columns)
    out = pd.concat(parts, ignore_index=True)[columns]
    order = {label: i for i, label in enumerate([TRAINED, *CONTROL_LABELS.values()])}
    out = out.assign(_o=out["source"].map(order)).sort_values(["metric", "width", "_o"])
    return out.drop(columns="_o").reset_index(drop=True)


def training_adds(curves: pd.DataFrame) -> pd.DataFrame:
    """What training adds over each control, per metric and width (:func:`curves_with_controls`).

    Columns ``metric``, ``width``, one column of means per source present (its label) and, per
    control, ``trained − <label>`` (the trained mean minus the control's: negative for a ratio
    that training lowers). NaN where a source has no value at that width.
    """
    import pandas as pd

    needed = ["source", "width", "metric", "mean"]
    missing = [c for c in needed if c not in curves.columns]
    if missing:
        raise ValueError(f"curves lack columns {missing}; has {list(curves.columns)}")
    if curves.empty:
        return pd.DataFrame(columns=["metric", "width", TRAINED])
    wide = curves.pivot_table(index=["metric", "width"], columns="source", values="mean",
                              aggfunc="first")  # fmt: skip
    sources = [s for s in [TRAINED, *CONTROL_LABELS.values()] if s in wide.columns]
    wide = wide[sources]
    if TRAINED in wide.columns:
        for label in sources[1:]:
            wide[f"trained − {label}"] = wide[TRAINED] - wide[label]
    wide.columns.name = None
    return wide.reset_index()


# ----------------------------------------------------------------------------------------------
# Shipped controls: results/<preset>/controls.csv
# ----------------------------------------------------------------------------------------------

_FILE = "controls.csv"
_DECIMALS = 5


def ship_controls(
    store: StoreLike | None = None,
    preset: str = "standard",
    datasets: Sequence[str] | None = None,
    out_dir: str | os.PathLike | None = None,
) -> list[Path]:
    """Write the stored controls of ``preset``'s whole model-size grid (``datasets``: None =
    those with any stored control) as ``<out_dir>/<preset>/controls.csv`` with the provenance
    columns of :mod:`hashlib_nn.shipped` (values rounded to 5 decimals), and record the coverage
    under the top-level key ``"controls"`` of that folder's ``PROVENANCE.json`` (beside, not
    among, the chapters). Nothing is computed. Returns the
    paths written (none when no control is stored)."""
    import pandas as pd

    check_preset(preset)
    st = _control_store(store)
    assert st is not None
    wanted = list(datasets) if datasets is not None else list(presets.PRESETS[preset].datasets)
    frames, created, per_ds = [], [], {}
    for ds in wanted:
        counts = per_ds.setdefault(ds, {"runs_in_grid": 0, "runs_shipped": 0})
        for config in presets.grid("model_size", preset, dataset=ds):
            for name in CONTROLS:
                counts["runs_in_grid"] += 1
                r = st.get(control_key(name, config))
                if r is None:
                    continue
                counts["runs_shipped"] += 1
                v = r.versions
                frames.append(_frame_of(r, r.config, name).assign(
                    preset=preset, created=r.created, device=r.device, trainer=r.trainer,
                    group_size=r.group_size, train_seconds=0.0,
                    eval_seconds=round(r.eval_seconds, 2), **{k: v.get(k) for k in VERSION_KEYS},
                ))  # fmt: skip
                created.append(r.created)
    per_ds = {k: v for k, v in per_ds.items() if v["runs_shipped"]}
    if not frames:
        return []
    frame = pd.concat(frames, ignore_index=True)
    frame["value"] = frame["value"].round(_DECIMALS)
    folder = (Path(out_dir) if out_dir is not None else shipped_root()) / preset
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / _FILE
    atomic_write(path, frame.to_csv(index=False).encode())
    path.chmod(0o644)
    prov_path = folder / "PROVENANCE.json"
    prov = json.loads(prov_path.read_text()) if prov_path.exists() else {"chapters": {}}
    prov.get("chapters", {}).pop("controls", None)  # not a chapter: kept beside them
    runs = frame.drop_duplicates("key")
    prov["controls"] = {
        "datasets": per_ds, "first_run": min(created), "last_run": max(created),
        "run_seconds": round(float(runs["eval_seconds"].sum()), 1), "rows": len(frame),
        "seeds": sorted(int(s) for s in runs["seed"].unique()),
        "results_fingerprints": sorted(runs["results_fingerprint"].dropna().astype(str).unique()
                                       .tolist()) if "results_fingerprint" in runs else [],
        "how": f"python -m hashlib_nn.controls --preset {preset} --ship",
    }  # fmt: skip
    atomic_write(prov_path, (json.dumps(prov, indent=1, sort_keys=True) + "\n").encode())
    prov_path.chmod(0o644)
    return [path, prov_path]


def load_shipped(
    preset: str = "standard",
    dataset: str | Iterable[str] | None = None,
    root: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """The shipped controls of ``preset`` (optionally one or more data sets): the tidy schema of
    :func:`controls_frame` plus :data:`hashlib_nn.shipped.PROVENANCE_COLUMNS`; an empty frame
    with those columns when none are shipped."""

    check_preset(preset)
    path = (Path(root) if root is not None else shipped_root()) / preset / _FILE
    return read_rows(path, [*FRAME_COLUMNS, "control", *PROVENANCE_COLUMNS], dataset,
                     {"control": str})


def _main(argv: Sequence[str] | None = None) -> int:
    """``python -m hashlib_nn.controls [--preset P] [--dataset D] [--store DIR] [--ship]``:
    compute (resuming from the store) the controls of a preset's model-size grid."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m hashlib_nn.controls",
                                description="compute and ship the model-size controls")
    p.add_argument("--preset", default="standard", choices=list(presets.PRESETS))
    p.add_argument("--dataset", action="append", default=None)
    p.add_argument("--store", default=None, help="results store (default: $HASHLIB_NN_STORE)")
    p.add_argument("--device", default="auto")
    p.add_argument("--ship", action="store_true",
                   help="then write results/<preset>/controls.csv (every data set stored)")
    p.add_argument("--out-dir", default=None, help="default: the package's results folder")
    args = p.parse_args(argv)
    for ds in args.dataset or ["mnist"]:
        configs = presets.grid("model_size", args.preset, dataset=ds)
        for i, config in enumerate(configs):
            t = time.perf_counter()
            controls_frame([config], store=args.store, device=args.device)
            print(f"[{i + 1}/{len(configs)}] {config.describe()}: "
                  f"{time.perf_counter() - t:.1f} s", flush=True)  # fmt: skip
    if args.ship:
        for path in ship_controls(args.store, args.preset, None, args.out_dir):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
