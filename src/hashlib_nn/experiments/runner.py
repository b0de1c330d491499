"""Training: one run, a batched group of runs, a cluster worker's chunk, one CNN run.

:func:`run` trains and measures one :class:`~hashlib_nn.experiments.config.RunConfig` (or reads it
from the store); :func:`train_one` and :func:`train_group` are what
:func:`hashlib_nn.experiments.sweep`
and a cluster worker (:func:`train_chunk`) call: a group is runs of one architecture and epoch
length, trained together as one network (:func:`hashlib_nn.batched.train_many`), each measured
by :func:`hashlib_nn.experiments.evaluation.evaluate` at its checkpoints. :func:`cnn_run` trains
one of the CNN chapter's networks by the original CNN protocol and measures it with
:func:`hashlib_nn.experiments.evaluation.evaluate_cnn`; it is cached in the same store.

protocol.md, "CNNs on CIFAR-10". Deviation from the original, fixed here (defect 6): the
original encodes all 50k CIFAR-10 training images although the CNNs trained on the first 40k;
:func:`cnn_run` encodes exactly the images the network trained on.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import resource
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np

from hashlib_nn.cnn import CNN_NAMES, CNNTrainConfig, build_cnn, code_layout
from hashlib_nn.data import Dataset
from hashlib_nn.device import resolve_device
from hashlib_nn.experiments.config import (
    CNN_SUITES,
    IMAGE_DATASETS,
    CNNRunConfig,
    RegisteredDataset,
    RunConfig,
    cnn_content_key,
    content_key,
    default_hflip,
    get_dataset,
    install_datasets,
)
from hashlib_nn.experiments.evaluation import (
    CNNData,
    build_model,
    check_image_count,
    cnn_data,
    evaluate,
    evaluate_cnn,
    images_fingerprint,
    run_data,
)
from hashlib_nn.experiments.result import (
    Checkpoint,
    CNNCheckpoint,
    CNNRunResult,
    RunResult,
    merge_plan,
)
from hashlib_nn.experiments.store import Store, get_cnn, open_store, put_cnn
from hashlib_nn.provenance import versions
from hashlib_nn.train import train

if TYPE_CHECKING:
    import torch
    from torch import nn

    from hashlib_nn.experiments.store import StoreLike

__all__ = [
    "batched_available",
    "cnn_run",
    "run",
    "train_chunk",
    "train_group",
    "train_one",
]

_MIB = 2**20


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


def train_one(config: RunConfig, device: Any) -> RunResult:
    data = run_data(config)
    model = build_model(config, data)
    done: dict[int, Checkpoint] = {}

    def on_checkpoint(epoch: int, m: nn.Module) -> None:
        done[epoch] = evaluate(m, config, data, device, epoch)

    history = train(model, data.x_fit, data.y_fit, config.train, checkpoints=config.checkpoints,
                    on_checkpoint=on_checkpoint, device=device)  # fmt: skip
    return _result(config, done, history, "train")


def train_group(configs: Sequence[RunConfig], device: Any) -> list[RunResult]:
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


def run(config: RunConfig, *, store: StoreLike | bool | None = None,
        device: Any = "auto") -> RunResult:  # fmt: skip
    """Train and measure one configuration; return (and store) its :class:`RunResult`.

    ``store``: None = the default store (:func:`hashlib_nn.experiments.store.default_root`), a
    path or a
    :class:`~hashlib_nn.experiments.store.Store`, or False for no store. A stored result that
    covers the
    config is returned without training.
    """
    if not isinstance(config, RunConfig):
        raise TypeError(f"config must be a RunConfig; got {type(config).__name__}")
    st = None if store is False else open_store(None if store is True else store)
    stored = st.get(config) if st is not None else None
    if stored is not None and stored.covers(config):
        return stored
    result = train_one(merge_plan(config, stored), resolve_device(device))
    if st is not None:
        st.put(result)
    return result


@functools.lru_cache(maxsize=1)
def batched_available() -> bool:
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
    """A cluster worker's task (:func:`hashlib_nn.experiments.cluster.run_on_cluster`): train one
    group
    of runs as a local sweep would, store each result under ``store_root``, return them.
    ``datasets``: the client's registered data sets the group uses (:func:`registered_datasets`)."""
    install_datasets(datasets)
    dev = resolve_device(device)
    if len(chunk) > 1 and batched_available():
        results = train_group(chunk, dev)
    else:
        results = [train_one(c, dev) for c in chunk]
    if store_root is not None:
        store = Store(store_root)
        for r in results:
            store.put(r)
    return results



# ----------------------------------------------------------------------------------------------
# CNN runs
# ----------------------------------------------------------------------------------------------


def _rss_mib() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / _MIB
    except (OSError, ValueError, IndexError):
        return float("nan")


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _peak_rss_mib() -> float:
    # ru_maxrss: KiB on Linux, bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (_MIB if os.uname().sysname == "Darwin" else 1024)


def cnn_run(
    model_name: str,
    dataset: str | Dataset = "fashion-mnist",
    n_train: int | None = 3000,
    epochs: int = 2,
    seed: int = 0,
    device: str | torch.device = "auto",
    *,
    n_test: int | None = 2000,
    checkpoints: Sequence[int] | None = None,
    width_multiplier: float = 1.0,
    init: str = "keras",
    bn_momentum: float | None = None,
    hflip: bool | None = None,
    reduction_bits: int = 4096,
    reduction_seed: int = 0,
    metrics: Sequence[str] = CNN_SUITES,
    store: StoreLike | bool | None = None,
    recompute: bool = False,
    log: Callable[[str], None] | None = None,
    encode_batch_size: int = 256,
    **train_kw: Any,
) -> CNNRunResult:
    """Train one CNN by the original protocol and measure it as a hash encoder; cached.

    Args:
        model_name: a :func:`hashlib_nn.cnn.build_cnn` name.
        dataset: "fashion-mnist", "mnist", "cifar10" (loaded with ``flatten=False``; CIFAR-10
            raises :class:`hashlib_nn.data.DataNotFoundError` naming the file to put where when
            absent) or a :class:`hashlib_nn.data.Dataset` of images.
        n_train: train on, and encode, the first ``n_train`` images of the training split
            (None: all of it, 48k or 40k). ``n_test``: the first test images (None: all 10k).
        epochs, seed: training length (``CNNTrainConfig.epochs``; early stopping on the
            training loss may end it sooner, as in the original) and the seed of initialization,
            shuffles and augmentation.
        checkpoints: epochs to evaluate (default ``(0, epochs)``); the last epoch reached is
            always evaluated.
        width_multiplier, init: as for :func:`hashlib_nn.cnn.build_cnn`.
        bn_momentum: BatchNorm running-statistics momentum in PyTorch's convention (None: the
            init's; Keras' 0.99 is PyTorch's 0.01). Eval mode, and so the codes, use the running
            averages; with Keras' value they average over the last few hundred steps, a whole
            short run. Measured on the quick preset (316 steps, seed 0): eval-mode test
            accuracy 0.15 with 0.99, 0.74 with PyTorch's 0.1. Short runs need 0.1.
        hflip: horizontal flips in the augmentation (default :func:`default_hflip`).
        reduction_bits, reduction_seed: the documented reduction for K-NN/K-Means/LR (module
            docstring). ``metrics``: which of "knn", "kmeans", "lr" to compute on it.
        store: None = the default results store, a path or Store, or False (no caching).
        recompute: train again even when the store holds the run (and overwrite it).
        log: called with one line per finished epoch and checkpoint (e.g. ``print``).
        train_kw: other :class:`hashlib_nn.cnn.CNNTrainConfig` fields (``batch_size``,
            ``augment``, ``early_stopping``, ...).

    Returns the :class:`CNNRunResult` (``from_store`` tells whether it was read back).
    """
    import torch

    from hashlib_nn.cnn import train_cnn  # looked up per call (tests stand in for it)

    t_start, cpu_start = time.perf_counter(), _cpu_seconds()
    if not isinstance(model_name, str) or model_name.lower() not in CNN_NAMES:
        raise ValueError(f"unknown CNN {model_name!r}; accepted: {', '.join(CNN_NAMES)}")
    model_name = model_name.lower()
    unknown = [s for s in metrics if s not in CNN_SUITES]
    if unknown:
        raise ValueError(f"metrics must be a subset of {CNN_SUITES}; got {list(metrics)}")
    metrics = tuple(s for s in CNN_SUITES if s in metrics)
    name = dataset if isinstance(dataset, str) else dataset.name
    if hflip is None:
        hflip = default_hflip(name)
    train_config = CNNTrainConfig(epochs=epochs, seed=seed, hflip=bool(hflip), **train_kw)
    wanted = sorted({0, epochs} if checkpoints is None else {int(c) for c in checkpoints})
    if wanted and (wanted[0] < 0 or wanted[-1] > epochs):
        raise ValueError(f"checkpoints must lie in [0, epochs={epochs}]; got {wanted}")

    t = time.perf_counter()
    data: CNNData | None = None
    fingerprint = None
    if isinstance(dataset, str):
        sizes = {"mnist": (48_000, 10_000), "fashion-mnist": (48_000, 10_000),
                 "cifar10": (40_000, 10_000)}.get(dataset)  # fmt: skip
        if sizes is None:
            raise ValueError(f"dataset must be one of {IMAGE_DATASETS} or a hashlib_nn.data."
                             f"Dataset of images; got {dataset!r}")  # fmt: skip
        k_tr = check_image_count("n_train", n_train, sizes[0], dataset)
        k_te = check_image_count("n_test", n_test, sizes[1], dataset)
    else:
        data = cnn_data(dataset, n_train, n_test)
        k_tr, k_te = len(data.x_train), len(data.x_test)
        fingerprint = images_fingerprint(data.x_train, data.y_train, data.x_test, data.y_test)
    config = CNNRunConfig(
        model=model_name, dataset=name, n_train=k_tr, n_test=k_te, train=train_config,
        checkpoints=tuple(wanted), width_multiplier=float(width_multiplier), init=init,
        bn_momentum=None if bn_momentum is None else float(bn_momentum),
        reduction_bits=int(reduction_bits), reduction_seed=int(reduction_seed), metrics=metrics,
        data_fingerprint=fingerprint,
    )  # fmt: skip
    key = cnn_content_key(config)
    use_store = store is not False
    root = None if store is True else store
    if use_store and not recompute:
        stored = get_cnn(root, key)  # type: ignore[arg-type]
        if stored is not None:
            return stored

    if data is None:
        data = cnn_data(dataset, k_tr, k_te)
    load_seconds = time.perf_counter() - t
    dev = resolve_device(device)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    rss_before = _rss_mib()
    t = time.perf_counter()
    model = build_cnn(model_name, in_channels=int(data.x_train.shape[1]),
                      n_classes=data.n_classes, seed=seed, width_multiplier=width_multiplier,
                      init=init).to(dev)  # type: ignore[arg-type]  # fmt: skip
    if bn_momentum is not None:
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.momentum = float(bn_momentum)
    layout = code_layout(model, tuple(data.x_train.shape[1:]), device=dev)
    build_seconds = time.perf_counter() - t
    memory: dict[str, float] = {"rss_before": rss_before}
    done: dict[int, CNNCheckpoint] = {}

    def on_checkpoint(epoch: int, m: nn.Module) -> None:
        done[epoch] = evaluate_cnn(m, config, data, dev, epoch, layout, encode_batch_size, memory)
        if log is not None:
            mm = done[epoch].metrics
            knn = mm.get("knn_test", float("nan"))
            log(f"checkpoint {epoch}: RR train {mm['rr_train']:.4f} test {mm['rr_test']:.4f}, "
                f"net acc test {mm['net_acc_test']:.4f}, K-NN test {knn:.4f} "
                f"({done[epoch].timings['total']:.1f} s)")  # fmt: skip

    def progress(rec: Any) -> None:
        if log is not None:
            log(f"epoch {rec.epoch}/{epochs}: loss {rec.loss:.4f}, accuracy {rec.accuracy:.4f}, "
                f"lr {rec.lr:g} ({rec.seconds:.1f} s)")  # fmt: skip

    history = train_cnn(model, data.x_train, data.y_train, train_config, checkpoints=wanted,
                        on_checkpoint=on_checkpoint, device=dev, progress=progress)  # fmt: skip
    memory["peak_rss"] = _peak_rss_mib()
    memory["peak_cuda"] = (torch.cuda.max_memory_allocated(dev) / _MIB
                           if dev.type == "cuda" else 0.0)  # fmt: skip
    train_seconds = float(sum(e.seconds for e in history.epochs))
    eval_seconds = float(sum(c.timings["total"] for c in done.values()))
    result = CNNRunResult(
        config=config, key=key, checkpoints=[done[e] for e in sorted(done)],
        history=[dataclasses.asdict(e) for e in history.epochs], epochs_run=history.epochs_run,
        stopped_epoch=history.stopped_epoch, device=str(dev),
        timings={"load_data": load_seconds, "build": build_seconds, "train": train_seconds,
                 "evaluate": eval_seconds, "total": time.perf_counter() - t_start,
                 "cpu_total": _cpu_seconds() - cpu_start},
        memory=memory, layer_names=[layer.name for layer in layout], versions=versions(),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )  # fmt: skip
    if use_store:
        put_cnn(root, result)  # type: ignore[arg-type]
    return result


