"""Experiments: one configuration, one run, one stored result (paper, Sec. 4).

A :class:`RunConfig` names everything that determines a trained network under the original
protocol (protocol.md): the data set, the architecture, the training sample (the first ``n_train``
examples, tiled to the full training length), the training protocol (:class:`TrainConfig`) and
what to measure (the epochs to evaluate and the metric suites). :func:`run` trains one
configuration and measures, at every checkpoint, the neural codes of the ``n`` unique training
examples and of the test set:

========  ======================================================================================
suite     metrics (``<name>_train`` / ``<name>_test``)
========  ======================================================================================
``rr``    ``rr`` (redundancy ratio), ``collision`` (fraction of examples sharing their code),
          ``n_distinct`` (distinct codes), and ``n_bits``
``net``   the network's own ``net_loss`` (mean cross-entropy) and ``net_acc`` (from the logits
          that :func:`hashlib_nn.codes.neural_codes` returns with the codes: no second pass)
``kmeans``, ``knn``, ``lr``: :func:`hashlib_nn.categorization.categorization_report`
``knn_sklearn``  opt-in (:data:`OPTIONAL_SUITES`, not in the defaults): ``knn_sklearn_test``, the
          original's scikit-learn K-NN call (:func:`hashlib_nn.categorization.knn_accuracy_sklearn`;
          1-17 s per evaluation on MNIST, so only the differential runs of
          :mod:`hashlib_nn.deviations` ask for it)
========  ======================================================================================

:func:`sweep` runs many configurations, skips those already in the result store
(:mod:`hashlib_nn.store`), trains repeats of one architecture together with
:func:`hashlib_nn.batched.train_many`, and stores each run as soon as it is finished.

The **content key** of a configuration (:func:`content_key`) is the SHA-256 of a canonical JSON of
what determines the *trained network* (plus :data:`SCHEMA_VERSION`); the evaluation plan
(``checkpoints``, ``metrics``) is deliberately left out, so a stored run that measured more than
is asked for serves the request, and a request for more re-runs once and stores the union.

The data model (the data sets, :class:`RunConfig`, :func:`content_key`, :class:`RunResult`) lives
in :mod:`hashlib_nn.runs`, below this module and the result store; it is importable from here.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np

from hashlib_nn.codes import neural_codes
from hashlib_nn.device import resolve_device
from hashlib_nn.distributed import (
    RunFailure,
    SweepError,
    check_device_spec,
    resolve_scheduler,
    run_on_cluster,
)
from hashlib_nn.metrics import collision_fraction, distinct_codes, net_metrics
from hashlib_nn.models import PaperMLP
from hashlib_nn.noise import original_label_noise, symmetric_label_noise
from hashlib_nn.provenance import versions
from hashlib_nn.runs import (
    BUILTIN_DATASETS,
    CATEGORIZATION_SUITES,
    DEFAULT_DEPTH,
    FRAME_COLUMNS,
    LABEL_NOISE_MODES,
    METRIC_SUITES,
    OPTIONAL_SUITES,
    SCHEMA_VERSION,
    TRAIN_SIZES,
    Checkpoint,
    RegisteredDataset,
    RunConfig,
    RunResult,
    available_datasets,
    content_key,
    get_dataset,
    group_key,
    install_datasets,
    is_registered,
    register_dataset,
    registered_datasets,
    synthetic_dataset,
    union_plan,
    unregister_dataset,
)
from hashlib_nn.store import Store, open_store
from hashlib_nn.train import tile_to_length, train

if TYPE_CHECKING:
    import pandas as pd
    from torch import nn

    from hashlib_nn.codes import NeuralCodes
    from hashlib_nn.store import StoreLike

__all__ = [
    "BUILTIN_DATASETS",
    "DEFAULT_DEPTH",
    "LABEL_NOISE_MODES",
    "METRIC_SUITES",
    "OPTIONAL_SUITES",
    "SCHEMA_VERSION",
    "TRAIN_SIZES",
    "Checkpoint",
    "RunConfig",
    "RunResult",
    "RunData",
    "available_datasets",
    "build_model",
    "content_key",
    "evaluate",
    "get_dataset",
    "notebook_progress",
    "register_dataset",
    "run",
    "run_data",
    "show_progress",
    "sweep",
    "synthetic_dataset",
    "train_chunk",
    "unregister_dataset",
]


# ----------------------------------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunData:
    """The arrays one run trains on and is evaluated on (:func:`run_data`)."""

    x_fit: np.ndarray  # training rows (the n examples tiled when n_train is set)
    y_fit: np.ndarray  # their labels as trained on (noisy when label_noise > 0)
    x_eval: np.ndarray  # the n unique training examples
    y_eval: np.ndarray  # their labels as trained on (noisy when label_noise > 0)
    y_eval_clean: np.ndarray  # their clean labels
    x_test: np.ndarray
    y_test: np.ndarray
    in_features: int
    n_classes: int


def run_data(config: RunConfig, *, fit: bool = True) -> RunData:
    """The rows to train on and to evaluate for ``config`` (protocol.md, "Sample size");
    ``fit=False`` leaves the tiled copy out (``x_fit``/``y_fit`` are then the n examples)."""
    ds = get_dataset(config.dataset)
    x, y = np.asarray(ds.x_train), np.asarray(ds.y_train, dtype=np.int64)
    n = config.n_train
    if n is not None and n > len(x):
        raise ValueError(
            f"n_train must be at most {len(x)} for {config.dataset!r}; got n_train={n}"
        )
    x_eval, y_clean = (x, y) if n is None else (x[:n], y[:n])
    n_classes = int(getattr(ds, "n_classes", 0) or int(max(y.max(), ds.y_test.max())) + 1)
    y_eval = _noisy_labels(config, y_clean, n_classes)
    if n is None or not fit:
        x_fit, y_fit = x_eval, y_eval
    else:
        x_fit, y_fit = tile_to_length(x_eval, y_eval, len(x))
    return RunData(
        x_fit,
        y_fit,
        x_eval,
        y_eval,
        y_clean,
        np.asarray(ds.x_test),
        np.asarray(ds.y_test, dtype=np.int64),
        int(x.shape[1]),
        n_classes,
    )


def _noisy_labels(config: RunConfig, y: np.ndarray, n_classes: int) -> np.ndarray:
    """Training labels with ``config.label_noise`` noise on the n unique examples, seeded by the
    training seed on its own stream: :func:`hashlib_nn.noise.symmetric_label_noise` (modes
    "uniform_other", "uniform_any") or :func:`hashlib_nn.noise.original_label_noise` (mode
    "original"); tiling repeats each example with its one noisy label."""
    if config.label_noise == 0:
        return y
    if config.label_noise_mode == "original":
        return original_label_noise(y, config.label_noise, n_classes, seed=config.seed).y_noisy
    mode: Any = config.label_noise_mode  # "uniform_other" or "uniform_any" (validated)
    noisy = symmetric_label_noise(y, config.label_noise, n_classes, seed=config.seed, mode=mode)
    return noisy.y_noisy


def build_model(config: RunConfig, data: RunData) -> PaperMLP:
    """The untrained network of ``config`` for ``data`` (seeded by the training seed)."""
    return PaperMLP(
        data.in_features,
        config.width,
        config.depth,
        data.n_classes,
        batchnorm=config.batchnorm,
        dropout=config.dropout,
        seed=config.seed,
        bn_running_var=config.bn_running_var,
    )


def _codes_and_logits(
    model: nn.Module, x: np.ndarray, device: Any
) -> tuple[NeuralCodes, np.ndarray]:
    out = neural_codes(model, x, device=device, return_logits=True)
    assert isinstance(out, tuple)
    return out


def evaluate(model: nn.Module, config: RunConfig, data: RunData, device: Any,
             epoch: int) -> Checkpoint:  # fmt: skip
    """All requested metric suites of ``model`` at ``epoch``."""
    import copy

    import torch

    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    if next(model.parameters()).dtype != torch.float32:  # a float64 run: the encoder works in
        model = copy.deepcopy(model).float()  # float32, on the weights rounded to float32
    codes_tr, logits_tr = _codes_and_logits(model, data.x_eval, device)
    codes_te, logits_te = _codes_and_logits(model, data.x_test, device)
    timings["codes"] = time.perf_counter() - t0
    m: dict[str, float] = {}
    if "rr" in config.metrics:
        t = time.perf_counter()
        for split, codes in (("train", codes_tr), ("test", codes_te)):
            groups = distinct_codes(codes)
            n = len(codes)
            m[f"rr_{split}"] = (n - groups.n_distinct) / n
            m[f"collision_{split}"] = collision_fraction(codes)
            m[f"n_distinct_{split}"] = float(groups.n_distinct)
        m["n_bits"] = float(codes_tr.n_bits)
        timings["rr"] = time.perf_counter() - t
    if "net" in config.metrics:
        t = time.perf_counter()
        m["net_loss_train"], m["net_acc_train"] = net_metrics(logits_tr, data.y_eval)
        m["net_loss_test"], m["net_acc_test"] = net_metrics(logits_te, data.y_test)
        if config.label_noise > 0:  # the training labels are noisy: also score the clean ones
            m["net_acc_clean_train"] = float((logits_tr.argmax(1) == data.y_eval_clean).mean())
        timings["net"] = time.perf_counter() - t
    suites = tuple(s for s in CATEGORIZATION_SUITES if s in config.metrics)
    if suites:
        from hashlib_nn.categorization import categorization_report

        t = time.perf_counter()
        report = categorization_report(
            codes_tr,
            data.y_eval,
            codes_te,
            data.y_test,
            n_clusters=data.n_classes,
            metrics=suites,
            device=device,
        )
        for name, value in report.items():
            if name.startswith("time_"):
                timings[name[5:]] = float(value)
            elif name not in ("n_bits", "n_train", "n_test"):  # known already
                m[name] = float(value)
        timings["categorization"] = time.perf_counter() - t
    if "knn_sklearn" in config.metrics:
        from hashlib_nn.categorization import knn_accuracy_sklearn

        t = time.perf_counter()
        m["knn_sklearn_test"] = knn_accuracy_sklearn(codes_tr, data.y_eval, codes_te, data.y_test)
        timings["knn_sklearn"] = time.perf_counter() - t
    return Checkpoint(epoch, m, time.perf_counter() - t0, timings)


def _result(config: RunConfig, checkpoints: dict[int, Checkpoint], history: Any,
            trainer: str, group_size: int = 1) -> RunResult:  # fmt: skip
    # EpochRecord.seconds excludes the checkpoint callbacks (in train and train_many alike).
    return RunResult(
        config=config,
        key=content_key(config),
        checkpoints=[checkpoints[e] for e in sorted(checkpoints)],
        history=[dataclasses.asdict(e) for e in history.epochs],
        stopped_epoch=history.stopped_epoch,
        epochs_run=history.epochs_run,
        train_seconds=float(sum(e.seconds for e in history.epochs)),
        device=history.device,
        trainer=trainer,
        versions=versions(),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        group_size=group_size,
    )


def _train_one(config: RunConfig, device: Any) -> RunResult:
    data = run_data(config)
    model = build_model(config, data)
    done: dict[int, Checkpoint] = {}

    def on_checkpoint(epoch: int, m: nn.Module) -> None:
        done[epoch] = evaluate(m, config, data, device, epoch)

    history = train(model, data.x_fit, data.y_fit, config.train, checkpoints=config.checkpoints,
                    on_checkpoint=on_checkpoint, device=device)  # fmt: skip
    return _result(config, done, history, "train")


def _train_group(configs: Sequence[RunConfig], device: Any) -> list[RunResult]:
    """Runs of one architecture and epoch length (equal :func:`group_key`), trained together
    (hashlib_nn.batched): model i trains on its own tiled sample (rows into the training set)
    with its own, possibly noisy, labels."""
    from hashlib_nn.batched import train_many

    per_model = [run_data(c, fit=False) for c in configs]  # no tiled copies: rows instead
    x_pool = np.asarray(get_dataset(configs[0].dataset).x_train)
    lengths = {len(d.x_eval) * (len(x_pool) // len(d.x_eval)) for d in per_model}
    if len(lengths) != 1:  # group_key groups equal lengths only
        raise ValueError(f"runs trained together need one epoch length; got {sorted(lengths)}")
    length = lengths.pop()
    rows = np.stack([np.arange(length) % len(d.x_eval) for d in per_model])  # tile_to_length
    y_fit = np.stack([d.y_eval[r] for d, r in zip(per_model, rows, strict=True)])
    if all(c.n_train == configs[0].n_train for c in configs):  # one sample: no row map
        x_pool = per_model[0].x_eval if length == len(per_model[0].x_eval) else x_pool[rows[0]]
        rows_arg = None
        if all(c.label_noise == 0 for c in configs):
            y_fit = y_fit[0]  # shared labels
    else:
        rows_arg = rows
    models = [build_model(c, d) for c, d in zip(configs, per_model, strict=True)]
    done: list[dict[int, Checkpoint]] = [{} for _ in configs]

    def on_checkpoint(i: int, epoch: int, m: nn.Module) -> None:
        done[i][epoch] = evaluate(m, configs[i], per_model[i], device, epoch)

    histories = train_many(models, x_pool, y_fit, [c.train for c in configs],
                           checkpoints=configs[0].checkpoints, on_checkpoint=on_checkpoint,
                           device=device, rows=rows_arg)  # fmt: skip
    return [_result(c, d, h, "train_many", len(configs)) for c, d, h in
            zip(configs, done, histories, strict=True)]  # fmt: skip


def _check_configs(configs: Iterable[RunConfig]) -> list[RunConfig]:
    out = list(configs)
    for i, c in enumerate(out):
        if not isinstance(c, RunConfig):
            raise TypeError(f"configs[{i}] must be a RunConfig; got {type(c).__name__}")
    return out


def _merge_plan(config: RunConfig, stored: RunResult | None) -> RunConfig:
    """``config`` measuring also what the stored result measured (so a re-run only adds)."""
    return config if stored is None else union_plan(config, stored.config)


def run(config: RunConfig, *, store: StoreLike | bool | None = None,
        device: Any = "auto") -> RunResult:  # fmt: skip
    """Train and measure one configuration; return (and store) its :class:`RunResult`.

    ``store``: None = the default store (:func:`hashlib_nn.store.default_root`), a path or a
    :class:`~hashlib_nn.store.Store`, or False for no store. A stored result that covers the
    config is returned without training.
    """
    if not isinstance(config, RunConfig):
        raise TypeError(f"config must be a RunConfig; got {type(config).__name__}")
    st = None if store is False else open_store(None if store is True else store)
    stored = st.get(config) if st is not None else None
    if stored is not None and stored.covers(config):
        return stored
    result = _train_one(_merge_plan(config, stored), resolve_device(device))
    if st is not None:
        st.put(result)
    return result


def show_progress(progress: bool | None = None) -> bool:
    """Whether to draw a progress bar: ``progress`` if given, else only when stderr is a
    terminal, the environment variable ``CI`` is unset and we are not inside a Jupyter kernel."""
    if progress is not None:
        return bool(progress)
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        return False
    if "ipykernel" in sys.modules:
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _in_kernel() -> bool:
    return "ipykernel" in sys.modules


def notebook_progress(progress: bool | None = None) -> bool:
    """Whether a sweep inside a Jupyter kernel reports its training as one line in the cell's
    output, updated in place after each trained run (there, a terminal bar would not draw):
    never with ``progress=False``; with ``None`` only when the environment variable ``CI`` is
    unset and ``HASHLIB_NN_PROGRESS`` is not ``0``/``false``/``no``. Runs read from the store
    print nothing, so a chapter re-run on a filled store shows no line."""
    off = ("0", "false", "no")
    if progress is False or not _in_kernel():
        return False
    if progress:
        return True
    if os.environ.get("CI", "").strip().lower() not in ("", *off):
        return False
    return os.environ.get("HASHLIB_NN_PROGRESS", "").strip().lower() not in off


class _Text:
    """Shown as its text, without quotes (IPython's text/plain is the repr)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


class _NotebookLine:
    """The progress line of :func:`notebook_progress`: an IPython display updated in place."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.start = total, 0, time.perf_counter()
        self.handle: Any = None

    def update(self, what: str) -> None:
        from IPython.display import display

        self.done += 1
        text = (f"sweep: trained {self.done} of {self.total} new run(s) in "
                f"{time.perf_counter() - self.start:.0f} s; last: {what}")  # fmt: skip
        if self.handle is None:
            self.handle = display(_Text(text), display_id=True)
        else:
            self.handle.update(_Text(text))


def sweep(
    configs: Iterable[RunConfig],
    *,
    store: StoreLike | bool | None = None,
    device: Any = "auto",
    progress: bool | None = None,
    batched: bool = True,
    max_group: int = 16,
    on_result: Callable[[RunResult], None] | None = None,
    scheduler: Any = None,
    keep_going: bool = False,
) -> pd.DataFrame:
    """Run every configuration not already stored; return the tidy frame of all of them.

    Configs that differ only in seed, weight decay or early-stopping settings (same data,
    architecture, epochs and checkpoints) are trained together with
    :func:`hashlib_nn.batched.train_many` (at most ``max_group`` at once; ``batched=False``
    trains one at a time). Each finished run is stored at once, so an interrupted sweep loses
    only the runs in progress and a repeated call resumes. The frame holds, for each config,
    its requested checkpoints (plus the final epoch) and metric suites (see
    :meth:`RunResult.to_frame`), in the order of ``configs``.

    ``scheduler``: where to train (:mod:`hashlib_nn.distributed`). None: on the Dask cluster
    named by ``$HASHLIB_NN_SCHEDULER`` when it is set, else here; False: here; an address
    (``"tcp://host:8786"``) or a ``distributed.Client``: each group of runs is one task on that
    cluster, whose workers write to the same store (it must be on a shared filesystem).
    ``keep_going``: a run that raises does not stop the others; at the end
    :class:`hashlib_nn.distributed.SweepError` lists the failures (its ``frame`` holds the runs
    that finished). Without it the first failure is raised at once.
    """
    configs = _check_configs(configs)
    cluster = resolve_scheduler(scheduler)
    # On a cluster the device is resolved by each worker (which may have CUDA where we have none).
    dev = check_device_spec(device) if cluster is not None else resolve_device(device)
    st = None if store is False else open_store(None if store is True else store)
    results: dict[str, RunResult] = {}
    todo: dict[str, RunConfig] = {}  # key -> config with the union of all requested plans
    for c in configs:
        key = content_key(c)
        if key in results:
            if results[key].covers(c):
                continue
            todo[key] = _merge_plan(c, results.pop(key))
        elif key in todo:
            todo[key] = union_plan(todo[key], c)
        else:
            stored = st.get(key) if st is not None else None
            if stored is not None and stored.covers(c):
                results[key] = stored
            else:
                todo[key] = _merge_plan(c, stored)
    if todo:
        for name in sorted({c.dataset for c in todo.values()}):
            if cluster is None or is_registered(name):  # a cluster's workers load their own
                get_dataset(name)  # fail fast on missing data, before any training
        groups: dict[str, list[RunConfig]] = {}
        for c in todo.values():
            groups.setdefault(group_key(c) if batched else content_key(c), []).append(c)
        chunks = [
            g[i : i + max_group] for g in groups.values() for i in range(0, len(g), max_group)
        ]
        bar = None
        line = _NotebookLine(len(todo)) if notebook_progress(progress) else None

        def finished(r: RunResult, stored: bool = False) -> None:
            if st is not None and not stored:
                st.put(r)  # at once: an interruption loses only unfinished runs
            results[r.key] = r
            if bar is not None:
                bar.update(1)
            if line is not None:
                line.update(r.config.describe())
            if on_result is not None:
                on_result(r)

        if line is None and show_progress(progress):
            from tqdm import tqdm  # a terminal bar: never drawn inside a kernel

            bar = tqdm(total=len(todo), unit="run", desc="sweep", dynamic_ncols=True)
        failures: list[Any] = []  # hashlib_nn.distributed.RunFailure, with keep_going
        try:
            if cluster is not None:  # the workers store each result (a shared store)
                datasets = registered_datasets(c.dataset for chunk in chunks for c in chunk)
                failures = run_on_cluster(
                    cluster, chunks, task=train_chunk, datasets=datasets, device=dev, store=st,
                    keep_going=keep_going, bar=bar, finished=lambda r: finished(r, stored=True),
                )  # fmt: skip
            else:
                for chunk in chunks:
                    if st is not None:  # another process sharing the store may have run some
                        done_now = [(c, st.get(c.key)) for c in chunk]
                        for c, r in done_now:
                            if r is not None and r.covers(c):
                                finished(r, stored=True)
                        chunk = [c for c, r in done_now if r is None or not r.covers(c)]
                        if not chunk:
                            continue
                    if bar is not None:
                        bar.set_postfix_str(
                            chunk[0].describe() + (f" x{len(chunk)}" if len(chunk) > 1 else "")
                        )
                    try:
                        if len(chunk) > 1 and _batched_available():
                            for r in _train_group(chunk, dev):
                                finished(r)
                        else:
                            for c in chunk:
                                finished(_train_one(c, dev))
                    except Exception as exc:
                        if not keep_going:
                            raise
                        lost = [c for c in chunk if c.key not in results]
                        failures += [RunFailure.from_exception(c, exc) for c in lost]
                        if bar is not None:
                            bar.update(len(lost))
        finally:
            if bar is not None:
                bar.close()
        if failures:
            done = [c for c in configs if content_key(c) in results]
            raise SweepError(failures, _frame(done, results), len(todo))
    return _frame(configs, results)


def _frame(configs: Sequence[RunConfig], results: Mapping[str, RunResult]) -> pd.DataFrame:
    import pandas as pd

    frames = [results[content_key(c)].to_frame(c) for c in configs]
    if not frames:
        return pd.DataFrame(columns=FRAME_COLUMNS)
    return pd.concat(frames, ignore_index=True)


@functools.lru_cache(maxsize=1)
def _batched_available() -> bool:
    try:
        import hashlib_nn.batched  # noqa: F401
    except ImportError:
        warnings.warn("hashlib_nn.batched is not available; training repeats one at a time",
                      stacklevel=3)  # fmt: skip
        return False
    return True


def train_chunk(
    chunk: list[RunConfig],
    device: Any,
    store_root: str | None,
    datasets: Mapping[str, RegisteredDataset],
) -> list[RunResult]:
    """A cluster worker's task (:func:`hashlib_nn.distributed.run_on_cluster`): train one group
    of runs as a local sweep would, store each result under ``store_root``, return them.
    ``datasets``: the client's registered data sets the group uses (:func:`registered_datasets`)."""
    install_datasets(datasets)
    dev = resolve_device(device)
    if len(chunk) > 1 and _batched_available():
        results = _train_group(chunk, dev)
    else:
        results = [_train_one(c, dev) for c in chunk]
    if store_root is not None:
        store = Store(store_root)
        for r in results:
            store.put(r)
    return results
