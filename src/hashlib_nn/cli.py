"""``hashlib-nn``: run the book's experiment grids, inspect and export the result store.

::

    hashlib-nn run --preset smoke --chapter model_size [--dataset mnist] [--protocol cifar-mlp]
                   [--store PATH] [--scheduler tcp://HOST:8786 | --workers N]
    hashlib-nn list [--chapter model_size --preset quick] [--store PATH]
    hashlib-nn export --out results.csv [--chapter ...] [--store PATH]
    hashlib-nn presets

``--chapter`` names any chapter of the book that trains (:data:`RUN_ORDER`): the five with the
original's grids, the three factor chapters (regularization, label noise, phase chart) and
``cnn`` (:func:`hashlib_nn.experiments.presets.chapter_runs`, trained in this process, stored under
``<store>/cnn``). ``--dataset cifar10`` runs the original's CIFAR-10 grids (depth 5) in every MLP
chapter; ``--protocol cifar-mlp`` runs those grids on another data set (e.g. Fashion-MNIST as the
CIFAR-10 stand-in; :data:`hashlib_nn.experiments.presets.DATASET_PROTOCOLS`). ``export`` writes
one row
per run x checkpoint x metric with the provenance of each run (:data:`PROVENANCE_COLUMNS`:
preset, chapters, learning rate, batch size, timings, date, package versions, git commit) and
refuses a selection that matches no stored run.

``run`` stores every finished run at once: Ctrl-C (or ``kill``) keeps what is finished, and the
same command resumes. A progress bar is drawn only in a terminal (not under CI, not in Jupyter);
elsewhere each finished run prints one line. With ``--scheduler`` (or ``$HASHLIB_NN_SCHEDULER``)
the runs are trained on that Dask cluster, with ``--workers N`` on N local worker processes
(:mod:`hashlib_nn.experiments.cluster`); the store must then be on a filesystem the workers share.
A run that fails does not stop the others: the failures are listed at the end and the exit
status is 1. Errors in the arguments print one line and exit with status 2; an interruption
exits with 130.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from hashlib_nn.experiments import RunResult
    from hashlib_nn.experiments.cluster import RunFailure
    from hashlib_nn.experiments.result import CNNRunResult
    from hashlib_nn.experiments.store import Store

__all__ = ["PROVENANCE_COLUMNS", "RUN_ORDER", "main"]

#: Every chapter that trains, in the order `run` with no --chapter runs them: model_size first
#: (it trains the runs that determinism and categorization reuse, so no chapter retrains what
#: another needs with more metrics), then the chapters whose grids share runs with earlier ones.
RUN_ORDER: tuple[str, ...] = (
    "model_size", "categorization", "determinism", "training_time", "sample_size",
    "regularization", "label_noise", "phase_chart", "cnn",
)  # fmt: skip
_CNN = "cnn"

#: Columns `export` adds to the tidy rows of each run (MLP chapters).
PROVENANCE_COLUMNS: tuple[str, ...] = (
    "presets", "chapters", "lr", "batch_size", "lr_decay", "lr_decay_every", "patience",
    "loss", "adam_form", "dtype", "trainer", "group_size", "device", "train_seconds",
    "eval_seconds", "checkpoint_seconds", "created", "hashlib_nn_version", "torch_version",
    "numpy_version", "sklearn_version", "python_version", "git_commit", "git_dirty",
    "results_fingerprint",
)  # fmt: skip
#: Columns `export --chapter cnn` writes for each CNN run besides its tidy rows.
CNN_PROVENANCE_COLUMNS: tuple[str, ...] = (
    "presets", "key", "epochs", "epochs_run", "stopped_epoch", "lr", "batch_size",
    "lr_decay", "lr_decay_every", "weight_decay", "bn_momentum", "width_multiplier", "init",
    "device", "train_seconds", "eval_seconds", "total_seconds", "created",
    "hashlib_nn_version", "torch_version", "numpy_version", "sklearn_version",
    "python_version", "git_commit", "git_dirty", "results_fingerprint",
)  # fmt: skip


class _Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt: a BaseException, so that ``keep_going`` (which
    records a failing run as an Exception and goes on) cannot swallow it."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


def _parser() -> argparse.ArgumentParser:
    from hashlib_nn.experiments.presets import DEFAULT_PRESET, PRESETS, PROTOCOLS

    parser = argparse.ArgumentParser(
        prog="hashlib-nn",
        description="Neural networks behave as hash encoders: run and inspect the experiments.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p: argparse.ArgumentParser, *, chapter_required: bool = False) -> None:
        p.add_argument(
            "--preset",
            choices=list(PRESETS),
            default=DEFAULT_PRESET,
            help=f"grid budget (default: {DEFAULT_PRESET})",
        )
        p.add_argument(
            "--chapter",
            action="append",
            choices=list(RUN_ORDER),
            required=chapter_required,
            help="chapter grid (repeatable; default: all chapters that train)",
        )
        p.add_argument(
            "--dataset",
            action="append",
            default=None,
            help="data set (repeatable; default: the preset's)",
        )
        p.add_argument(
            "--protocol",
            choices=list(PROTOCOLS),
            default=None,
            help="MLP grids and depth for every data set (default: each data set's: cifar10 "
            "runs cifar-mlp, depth 5; the others mnist-mlp, depth 1)",
        )
        p.add_argument(
            "--store",
            default=None,
            help="result store folder (default: $HASHLIB_NN_STORE or the user cache)",
        )

    p_run = sub.add_parser("run", help="train and measure a chapter's grid (resumable)")
    common(p_run)
    p_run.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    bar = p_run.add_mutually_exclusive_group()
    bar.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="always draw a progress bar",
    )
    bar.add_argument(
        "--no-progress", dest="progress", action="store_false", help="never draw a progress bar"
    )
    where = p_run.add_mutually_exclusive_group()
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="train on the Dask cluster at ADDRESS, e.g. tcp://10.0.0.5:8786 (default: "
        "$HASHLIB_NN_SCHEDULER, else in this process); the store must be shared with the workers",
    )
    where.add_argument(
        "--workers",
        metavar="N",
        type=int,
        default=None,
        help="train on N local worker processes (a throwaway Dask cluster)",
    )

    p_list = sub.add_parser("list", help="show what the store holds (for a grid: what is missing)")
    common(p_list)
    p_list.set_defaults(preset=None)

    p_exp = sub.add_parser("export", help="write the store (or a grid's runs) as a tidy CSV")
    common(p_exp)
    p_exp.set_defaults(preset=None)
    p_exp.add_argument("--out", required=True, help="CSV file to write")

    sub.add_parser("presets", help="what each preset runs per chapter, with estimated cost")
    return parser


def _selected(args: argparse.Namespace) -> list | None:
    """The MLP configs named by --preset/--chapter (and --dataset), or None: the whole store."""
    from hashlib_nn.experiments.presets import DEFAULT_PRESET

    if not args.chapter and args.preset is None:
        return None
    return _expand(args.preset or DEFAULT_PRESET, args.chapter or RUN_ORDER, args.dataset,
                   args.protocol)  # fmt: skip


def _expand(
    preset: str, chapters: Sequence[str], dataset: list[str] | None, protocol: str | None = None
) -> list:
    """The RunConfigs of the MLP chapters among ``chapters`` (``cnn`` has its own plan)."""
    from hashlib_nn.experiments.presets import grid

    return [c for ch in chapters if ch != _CNN
            for c in grid(ch, preset, dataset=dataset, protocol=protocol)]  # fmt: skip


def _cnn_datasets_ok(dataset: list[str] | None) -> bool:
    from hashlib_nn.experiments.config import IMAGE_DATASETS

    return not dataset or all(d in IMAGE_DATASETS for d in dataset)


def _cnn_plan(preset: str, dataset: list[str] | None) -> list[dict[str, Any]]:
    """The keyword arguments of every ``cnn_run`` of the cnn chapter under ``preset``."""
    from hashlib_nn.experiments.config import IMAGE_DATASETS
    from hashlib_nn.experiments.presets import chapter_runs

    if not _cnn_datasets_ok(dataset):
        bad = next(d for d in dataset or () if d not in IMAGE_DATASETS)
        accepted = ", ".join(repr(d) for d in IMAGE_DATASETS)
        raise ValueError(f"the cnn chapter trains on images: --dataset must be one of "
                         f"{accepted}; got {bad!r}")  # fmt: skip
    names: list[str | None] = list(dataset) if dataset else [None]
    return [kw for name in names for kw in chapter_runs(preset, dataset=name)]


def _cmd_run(args: argparse.Namespace) -> int:
    import contextlib

    from hashlib_nn.device import resolve_device
    from hashlib_nn.experiments import content_key, show_progress
    from hashlib_nn.experiments.cluster import check_device_spec, connect, scheduler_address
    from hashlib_nn.experiments.store import open_store

    address = scheduler_address(args.scheduler)  # --scheduler, else $HASHLIB_NN_SCHEDULER
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be a positive integer; got {args.workers}")
    on_cluster = address is not None or args.workers is not None
    # On a cluster each worker resolves the device (it may have CUDA where we have none).
    device = check_device_spec(args.device) if on_cluster else resolve_device(args.device)
    store = open_store(args.store)
    chapters = list(args.chapter or RUN_ORDER)
    for chapter in chapters:  # validate every grid before training any
        if chapter != _CNN:
            _expand(args.preset, [chapter], args.dataset, args.protocol)
    if not args.chapter and not _cnn_datasets_ok(args.dataset):
        chapters.remove(_CNN)  # all chapters on a non-image data set: the MLP ones
        print(f"cnn: skipped (it trains on images, not on {', '.join(args.dataset)})",
              file=sys.stderr)  # fmt: skip
    elif not args.chapter and on_cluster:
        chapters.remove(_CNN)  # CNN runs would train here, not on the cluster
        print("cnn: skipped (CNN runs train in this process, not on the cluster; run "
              "--chapter cnn on its own)", file=sys.stderr)  # fmt: skip
    elif _CNN in chapters:
        _cnn_plan(args.preset, args.dataset)
    done_before = len(store)
    failed: dict[str, RunFailure] = {}  # content key -> its failure, over all chapters
    cnn_failed: list[str] = []
    with contextlib.ExitStack() as stack:
        scheduler: object = False
        if on_cluster and chapters != [_CNN]:
            scheduler = stack.enter_context(connect(address, workers=args.workers))
            n_workers = len(scheduler.nthreads())  # type: ignore[attr-defined]
            where = address or f"{args.workers} local worker processes"
            print(f"training on {where} ({n_workers} workers); store {store.root} must be "
                  "shared with them", file=sys.stderr)  # fmt: skip
        for chapter in chapters:
            if chapter == _CNN:
                local = resolve_device(args.device)
                cnn_failed += _run_cnn(_cnn_plan(args.preset, args.dataset), args.preset,
                                       store, local, on_cluster)  # fmt: skip
                continue
            configs = _expand(args.preset, [chapter], args.dataset, args.protocol)
            skipped = [c for c in configs if content_key(c) in failed]
            configs = [c for c in configs if content_key(c) not in failed]
            keys = {content_key(c) for c in configs}
            missing = sum(1 for k in keys if store.get(k) is None)
            print(f"{chapter} ({args.preset}): {len(configs)} runs, {missing} to train "
                  f"-> {store.root}", file=sys.stderr)  # fmt: skip
            if skipped:
                print(f"{chapter}: skipping {len(skipped)} runs that failed above",
                      file=sys.stderr)  # fmt: skip
            frame = _sweep_chapter(chapter, configs, store, device, scheduler, args.progress,
                                   failed, show_progress(args.progress))  # fmt: skip
            final = frame[frame["final"].astype(bool)]
            print(f"{chapter}: {final['key'].nunique()} runs, {len(frame)} metric rows",
                  file=sys.stderr)  # fmt: skip
    print(f"store {store.root}: {len(store)} runs ({len(store) - done_before} new)")
    if failed or cnn_failed:
        print(f"hashlib-nn: {len(failed) + len(cnn_failed)} runs failed (the others are "
              "stored):", file=sys.stderr)  # fmt: skip
        for f in failed.values():
            print(f"  {f.describe()}" + (f" (on {f.where})" if f.where != "local" else ""),
                  file=sys.stderr)  # fmt: skip
        for line in cnn_failed:
            print(f"  {line}", file=sys.stderr)
        print("fix the cause and run the same command again: only the failed runs will train",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


def _run_cnn(plan: list[dict[str, Any]], preset: str, store: Store, device: object,
             on_cluster: bool) -> list[str]:  # fmt: skip
    """Train (or read back) every CNN run of the plan in this process; the failures."""
    from hashlib_nn.experiments.runner import cnn_run

    where = " (in this process: CNN runs do not go to the cluster)" if on_cluster else ""
    have = sum(1 for r in _cnn_results(store) for kw in plan if _cnn_matches(r, kw))
    print(f"cnn ({preset}): {len(plan)} runs, {len(plan) - have} to train -> "
          f"{store.root / 'cnn'}{where}", file=sys.stderr)  # fmt: skip
    failures = []
    for kw in plan:
        label = f"{kw['model_name']} on {kw['dataset']}, {kw['epochs']} epochs, seed {kw['seed']}"
        try:
            result = cnn_run(**kw, store=store, device=device,  # type: ignore[arg-type]
                             log=lambda line: print(f"cnn: {line}", file=sys.stderr, flush=True))
        except Exception as exc:  # a failed run does not stop the others
            why = " ".join(str(exc).split())  # one line, however many the message has
            failures.append(f"cnn {label}: {type(exc).__name__}: {why}")
            print(f"cnn: FAILED {label}: {why}", file=sys.stderr, flush=True)
            continue
        state = "stored already" if result.from_store else "finished"
        print(f"cnn: {state} {result.config.label()}", file=sys.stderr, flush=True)
    return failures


_IMAGE_SIZES = {"mnist": (48_000, 10_000), "fashion-mnist": (48_000, 10_000),
                "cifar10": (40_000, 10_000)}  # fmt: skip


def _cnn_results(store: Store) -> list[CNNRunResult]:
    """Every CNN run in ``<store>/cnn`` (unreadable entries are skipped: `run` reports them)."""
    import json

    from hashlib_nn.experiments.result import CNNRunResult

    out = []
    for path in sorted((store.root / "cnn").glob("*.json")):
        try:
            out.append(CNNRunResult.from_dict(json.loads(path.read_bytes())["payload"],
                                              from_store=True))  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return out


def _cnn_matches(result: CNNRunResult, kw: Mapping[str, Any]) -> bool:
    """Whether a stored CNN run is the run that ``cnn_run(**kw)`` asks for."""
    c = result.config
    n_train, n_test = _IMAGE_SIZES.get(kw["dataset"], (None, None))
    return (c.model == kw["model_name"] and c.dataset == kw["dataset"]
            and c.n_train == (kw["n_train"] or n_train) and c.n_test == (kw["n_test"] or n_test)
            and c.train.epochs == kw["epochs"] and c.train.seed == kw["seed"]
            and c.bn_momentum == kw["bn_momentum"]
            and c.train.lr_decay_every == kw["lr_decay_every"])  # fmt: skip


def _cnn_selected(args: argparse.Namespace, store: Store) -> list[CNNRunResult]:
    """The stored CNN runs of the cnn chapter's plan under --preset (and --dataset)."""
    from hashlib_nn.experiments.presets import DEFAULT_PRESET

    plan = _cnn_plan(args.preset or DEFAULT_PRESET, args.dataset)
    return [r for r in _cnn_results(store) if any(_cnn_matches(r, kw) for kw in plan)]


def _sweep_chapter(chapter: str, configs: list, store: object, device: object,
                   scheduler: object, progress: bool | None, failed: dict[str, RunFailure],
                   bar: bool) -> pd.DataFrame:  # fmt: skip
    """One chapter's sweep, keeping going past failed runs (added to ``failed``)."""
    from hashlib_nn.experiments import sweep
    from hashlib_nn.experiments.cluster import SweepError

    count = [0]

    def report(r: object) -> None:  # one line per finished run when there is no progress bar
        count[0] += 1
        print(f"{chapter}: finished {r.config.describe()} ({count[0]})",  # type: ignore[attr-defined]
              file=sys.stderr, flush=True)  # fmt: skip

    try:
        return sweep(configs, store=store, device=device, progress=progress,  # type: ignore[arg-type]
                     scheduler=scheduler, keep_going=True,
                     on_result=None if bar else report)  # fmt: skip
    except SweepError as err:
        for f in err.failures:
            failed[f.key] = f
            print(f"{chapter}: FAILED {f.describe()}", file=sys.stderr, flush=True)
        return err.frame


def _cmd_list(args: argparse.Namespace) -> int:
    import pandas as pd

    from hashlib_nn.experiments import content_key
    from hashlib_nn.experiments.store import open_store

    store = open_store(args.store)
    only_cnn = args.chapter is not None and set(args.chapter) == {_CNN}
    configs = _selected(args)
    where = {"dataset": args.dataset} if args.dataset and configs is None else {}
    options = pd.option_context("display.width", 200, "display.max_rows", 500,
                                "display.max_columns", 30)  # fmt: skip
    if not only_cnn:
        results = store.results(configs, **where)
        results = list({r.key: r for r in results}.values())
        rows = [{
            "key": r.key[:12], "dataset": r.config.dataset, "width": r.config.width,
            "depth": r.config.depth, "n_train": r.config.n_examples, "seed": r.seed,
            "epochs": r.epochs_run, "max_epochs": r.config.train.epochs,
            "stopped": r.stopped_epoch, "es": r.config.train.early_stopping,
            "checkpoints": len(r.checkpoints), "metrics": ",".join(r.config.metrics),
            "train_s": round(r.train_seconds, 1), "eval_s": round(r.eval_seconds, 1),
            "trainer": r.trainer, "device": r.device,
        } for r in results]  # fmt: skip
        with options:
            print(pd.DataFrame(rows).to_string(index=False) if rows else "(no runs)")
        if configs is not None:
            wanted = {content_key(c) for c in configs}
            have = {r.key for r in results}
            print(f"{len(have & wanted)} of {len(wanted)} runs of the grid are stored in "
                  f"{store.root}")  # fmt: skip
        else:
            print(f"{len(results)} runs in {store.root}")
    if args.chapter and _CNN in args.chapter:
        cnn = _cnn_selected(args, store)
        rows = [{"key": r.key[:12], "model": r.config.model, "dataset": r.config.dataset,
                 "n_train": r.config.n_train, "n_test": r.config.n_test,
                 "epochs": r.epochs_run, "max_epochs": r.config.train.epochs,
                 "seed": r.config.train.seed, "train_s": round(r.timings.get("train", 0.0), 1),
                 "device": r.device} for r in cnn]  # fmt: skip
        with options:
            print(pd.DataFrame(rows).to_string(index=False) if rows else "(no CNN runs)")
        from hashlib_nn.experiments.presets import DEFAULT_PRESET

        n_plan = len(_cnn_plan(args.preset or DEFAULT_PRESET, args.dataset))
        print(f"{len(cnn)} of {n_plan} CNN runs of the cnn chapter are stored in "
              f"{store.root / 'cnn'}")  # fmt: skip
    elif configs is None:
        n_cnn = len(_cnn_results(store))
        if n_cnn:
            print(f"(and {n_cnn} CNN runs in {store.root / 'cnn'}: hashlib-nn list --chapter cnn)")
    stale = store.stale_temporaries()
    if stale:
        print(f"({len(stale)} temporary files from interrupted writes; safe to delete)")
    return 0


def _filter_text(args: argparse.Namespace) -> str:
    """The selection as the user typed it, for messages."""
    parts = [f"--preset {args.preset}"] if args.preset else []
    parts += [f"--chapter {c}" for c in args.chapter or ()]
    parts += [f"--dataset {d}" for d in args.dataset or ()]
    parts += [f"--protocol {args.protocol}"] if args.protocol else []
    return " ".join(parts) if parts else "(no filter: the whole store)"


def _membership(results: Sequence[RunResult]) -> dict[str, tuple[str, str]]:
    """Run key -> (presets, chapters) whose grids hold the run, each ';'-joined ('' if none:
    a run trained outside the presets, e.g. with other chapter parameters). A grid of another
    MLP protocol than the data set's own is named ``<chapter>.<protocol>`` (e.g.
    ``model_size.cifar-mlp``: the depth-5 grid run on Fashion-MNIST with ``--protocol``)."""
    from hashlib_nn.experiments import content_key
    from hashlib_nn.experiments.presets import PRESETS, PROTOCOLS, grid, protocol_for

    datasets = sorted({r.config.dataset for r in results})
    keys = {r.key for r in results}
    presets: dict[str, list[str]] = {k: [] for k in keys}
    chapters: dict[str, list[str]] = {k: [] for k in keys}
    for preset in PRESETS:
        for chapter in RUN_ORDER:
            if chapter == _CNN:
                continue
            for ds, protocol in ((d, p) for d in datasets for p in PROTOCOLS):
                own = protocol == protocol_for(ds)
                try:
                    configs = grid(chapter, preset, dataset=ds, protocol=protocol)
                except ValueError:  # e.g. a data set registered in another session
                    continue
                name = chapter if own else f"{chapter}.{protocol}"
                for key in {content_key(c) for c in configs} & keys:
                    if preset not in presets[key]:
                        presets[key].append(preset)
                    if name not in chapters[key]:
                        chapters[key].append(name)
    return {k: (";".join(presets[k]), ";".join(chapters[k])) for k in keys}


def _versions_row(versions: Mapping[str, str | None]) -> dict[str, str | None]:
    return {"hashlib_nn_version": versions.get("hashlib_nn"),
            "torch_version": versions.get("torch"), "numpy_version": versions.get("numpy"),
            "sklearn_version": versions.get("sklearn"), "python_version": versions.get("python"),
            "git_commit": versions.get("git_commit"), "git_dirty": versions.get("git_dirty"),
            "results_fingerprint": versions.get("results_fingerprint")}  # fmt: skip


def _export_frame(store: Store, args: argparse.Namespace) -> tuple[pd.DataFrame, int]:
    """Tidy rows of the selected MLP runs with :data:`PROVENANCE_COLUMNS`; (frame, runs)."""
    import pandas as pd

    configs = _selected(args)
    where = {"dataset": args.dataset} if args.dataset and configs is None else {}
    frame = store.to_frame(configs, **where)
    results = list({r.key: r for r in store.results(configs, **where)}.values())
    if frame.empty or not results:
        return frame, 0
    member = _membership(results)
    rows = []
    for r in results:
        t = r.config.train
        base = {"presets": member[r.key][0], "chapters": member[r.key][1], "lr": t.lr,
                "batch_size": t.batch_size, "lr_decay": t.lr_decay,
                "lr_decay_every": t.lr_decay_every, "patience": t.patience, "loss": t.loss,
                "adam_form": t.adam_form, "dtype": t.dtype, "trainer": r.trainer,
                "group_size": r.group_size, "device": r.device,
                "train_seconds": r.train_seconds, "eval_seconds": r.eval_seconds,
                "created": r.created, **_versions_row(r.versions)}  # fmt: skip
        for cp in r.checkpoints:
            rows.append({"key": r.key, "epoch": cp.epoch, **base,
                         "checkpoint_seconds": cp.seconds})  # fmt: skip
    prov = pd.DataFrame(rows, columns=["key", "epoch", *PROVENANCE_COLUMNS])
    return frame.merge(prov, on=["key", "epoch"], how="left", validate="many_to_one"), len(results)


def _cnn_export_frame(store: Store, args: argparse.Namespace) -> tuple[pd.DataFrame, int]:
    """Tidy rows of the selected CNN runs with :data:`CNN_PROVENANCE_COLUMNS`."""
    import pandas as pd

    from hashlib_nn.experiments.presets import CNN_PRESETS, chapter_runs

    results = _cnn_selected(args, store)
    frames = []
    for r in results:
        t = r.config.train
        presets = ";".join(p for p in CNN_PRESETS
                           if any(_cnn_matches(r, kw)
                                  for kw in chapter_runs(p, dataset=r.config.dataset)))  # fmt: skip
        prov = {"presets": presets, "key": r.key, "epochs": t.epochs,
                "epochs_run": r.epochs_run, "stopped_epoch": r.stopped_epoch, "lr": t.lr,
                "batch_size": t.batch_size, "lr_decay": t.lr_decay,
                "lr_decay_every": t.lr_decay_every, "weight_decay": t.weight_decay,
                "bn_momentum": r.config.bn_momentum,
                "width_multiplier": r.config.width_multiplier, "init": r.config.init,
                "device": r.device, "train_seconds": r.timings.get("train"),
                "eval_seconds": r.timings.get("evaluate"),
                "total_seconds": r.timings.get("total"), "created": r.created,
                **_versions_row(r.versions)}  # fmt: skip
        frames.append(r.to_frame().assign(**prov))
    if not frames:
        return pd.DataFrame(), 0
    return pd.concat(frames, ignore_index=True), len(results)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_text(path: Path, text: str) -> Path:
    """Write ``text`` atomically (temporary file, rename) with the mode a plain ``open`` gives
    under the current umask (0644 under the usual 022), not the temporary file's 0600."""
    import contextlib
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def _cmd_export(args: argparse.Namespace) -> int:
    from hashlib_nn.experiments.store import open_store

    store = open_store(args.store)
    chapters = set(args.chapter or ())
    if _CNN in chapters and len(chapters) > 1:
        others = ", ".join(sorted(chapters - {_CNN}))
        raise ValueError(f"export the cnn chapter on its own (--chapter cnn): its columns differ "
                         f"from the MLP chapters'; got --chapter cnn with {others}")  # fmt: skip
    if chapters == {_CNN}:
        frame, n = _cnn_export_frame(store, args)
        where = store.root / "cnn"
    else:
        frame, n = _export_frame(store, args)
        where = store.root
    if n == 0:
        raise ValueError(
            f"no stored runs match {_filter_text(args)} in {where}; nothing written to "
            f"{args.out}. See what is stored with `hashlib-nn list`, or train the selection "
            "with `hashlib-nn run` and the same options"
        )
    path = _write_text(Path(args.out), frame.to_csv(index=False))
    print(f"wrote {path} ({n} runs, {len(frame)} rows, {len(frame.columns)} columns)")
    return 0


def _cmd_presets(args: argparse.Namespace) -> int:
    import pandas as pd

    from hashlib_nn.experiments.presets import ALL_CHAPTERS, CNN_PRESETS, describe_presets

    table = describe_presets(chapters=list(ALL_CHAPTERS))
    cols = ["preset", "chapter", "datasets", "runs", "new_trainings", "max_epochs",
            "repeats", "checkpoints", "cpu_minutes"]  # fmt: skip
    cnn = pd.DataFrame([{"preset": name, "chapter": _CNN, "models": ",".join(p.models),
                         "dataset": p.dataset, "n_train": p.n_train or "all",
                         "max_epochs": p.epochs, "what": p.note}
                        for name, p in CNN_PRESETS.items()])  # fmt: skip
    with pd.option_context("display.width", 200, "display.max_columns", 30,
                           "display.max_colwidth", 80):  # fmt: skip
        print(table[cols].to_string(index=False))
        print(
            "cpu_minutes: expected CPU minutes on one thread from an empty store (a cost model "
            "calibrated on measured runs); runs shared between chapters are counted once "
            "(new_trainings).\n"
        )
        print(cnn.to_string(index=False))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``hashlib-nn``; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    commands = {"run": _cmd_run, "list": _cmd_list, "export": _cmd_export,
                "presets": _cmd_presets}  # fmt: skip
    previous = None
    if args.command == "run":
        try:
            previous = signal.signal(signal.SIGTERM, _on_sigterm)
        except ValueError:  # not in the main thread
            previous = None
    try:
        return commands[args.command](args)
    except (KeyboardInterrupt, _Terminated):
        print("hashlib-nn: interrupted; finished runs are stored, run the same command again "
              "to resume", file=sys.stderr)  # fmt: skip
        return 130
    except (ValueError, TypeError, OSError, ImportError, NotImplementedError) as exc:
        print(f"hashlib-nn: error: {exc}".splitlines()[0], file=sys.stderr)
        return 2
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
