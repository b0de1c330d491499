"""``hashlib-nn``: run the book's experiment grids, inspect and export the result store.

::

    hashlib-nn run --preset quick --chapter model_size [--dataset mnist] [--store PATH]
                   [--scheduler tcp://HOST:8786 | --workers N]
    hashlib-nn list [--chapter model_size --preset quick] [--store PATH]
    hashlib-nn export --out results.csv [--chapter ...] [--store PATH]
    hashlib-nn presets

``run`` stores every finished run at once: Ctrl-C (or ``kill``) keeps what is finished, and the
same command resumes. A progress bar is drawn only in a terminal (not under CI, not in Jupyter);
elsewhere each finished run prints one line. With ``--scheduler`` (or ``$HASHLIB_NN_SCHEDULER``)
the runs are trained on that Dask cluster, with ``--workers N`` on N local worker processes
(:mod:`hashlib_nn.distributed`); the store must then be on a filesystem the workers share.
A run that fails does not stop the others: the failures are listed at the end and the exit
status is 1. Errors in the arguments print one line and exit with status 2; an interruption
exits with 130.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from hashlib_nn.distributed import RunFailure

__all__ = ["main"]

# `run` with no --chapter runs these, model_size first: it trains the runs that determinism and
# categorization reuse, so no chapter retrains what another needs with more metrics.
_RUN_ORDER = ("model_size", "categorization", "determinism", "training_time", "sample_size")


class _Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt: a BaseException, so that ``keep_going`` (which
    records a failing run as an Exception and goes on) cannot swallow it."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


def _parser() -> argparse.ArgumentParser:
    from hashlib_nn.presets import CHAPTERS, DEFAULT_PRESET, PRESETS

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
            choices=list(CHAPTERS),
            required=chapter_required,
            help="chapter grid (repeatable; default: all chapters)",
        )
        p.add_argument(
            "--dataset",
            action="append",
            default=None,
            help="data set (repeatable; default: the preset's)",
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
    """The configs named by --preset/--chapter (and --dataset), or None: the whole store."""
    from hashlib_nn.presets import DEFAULT_PRESET

    if not args.chapter and args.preset is None:
        return None
    return _expand(args.preset or DEFAULT_PRESET, args.chapter or _RUN_ORDER, args.dataset)


def _expand(preset: str, chapters: Sequence[str], dataset: list[str] | None) -> list:
    from hashlib_nn.presets import grid

    return [c for ch in chapters for c in grid(ch, preset, dataset=dataset)]


def _cmd_run(args: argparse.Namespace) -> int:
    import contextlib

    from hashlib_nn.device import resolve_device
    from hashlib_nn.distributed import check_device_spec, connect, scheduler_address
    from hashlib_nn.experiments import content_key, show_progress
    from hashlib_nn.store import open_store

    address = scheduler_address(args.scheduler)  # --scheduler, else $HASHLIB_NN_SCHEDULER
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be a positive integer; got {args.workers}")
    on_cluster = address is not None or args.workers is not None
    # On a cluster each worker resolves the device (it may have CUDA where we have none).
    device = check_device_spec(args.device) if on_cluster else resolve_device(args.device)
    store = open_store(args.store)
    chapters = args.chapter or list(_RUN_ORDER)
    for chapter in chapters:  # validate every grid before training any
        _expand(args.preset, [chapter], args.dataset)
    done_before = len(store)
    failed: dict[str, RunFailure] = {}  # content key -> its failure, over all chapters
    with contextlib.ExitStack() as stack:
        scheduler: object = False
        if on_cluster:
            scheduler = stack.enter_context(connect(address, workers=args.workers))
            n_workers = len(scheduler.nthreads())  # type: ignore[attr-defined]
            where = address or f"{args.workers} local worker processes"
            print(f"training on {where} ({n_workers} workers); store {store.root} must be "
                  "shared with them", file=sys.stderr)  # fmt: skip
        for chapter in chapters:
            configs = _expand(args.preset, [chapter], args.dataset)
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
    if failed:
        print(f"hashlib-nn: {len(failed)} runs failed (the others are stored):",
              file=sys.stderr)  # fmt: skip
        for f in failed.values():
            print(f"  {f.describe()}" + (f" (on {f.where})" if f.where != "local" else ""),
                  file=sys.stderr)  # fmt: skip
        print("fix the cause and run the same command again: only the failed runs will train",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


def _sweep_chapter(chapter: str, configs: list, store: object, device: object,
                   scheduler: object, progress: bool | None, failed: dict[str, RunFailure],
                   bar: bool) -> pd.DataFrame:  # fmt: skip
    """One chapter's sweep, keeping going past failed runs (added to ``failed``)."""
    from hashlib_nn.distributed import SweepError
    from hashlib_nn.experiments import sweep

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
    from hashlib_nn.store import open_store

    store = open_store(args.store)
    configs = _selected(args)
    where = {"dataset": args.dataset} if args.dataset and configs is None else {}
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
    with pd.option_context("display.width", 200, "display.max_rows", 500,
                           "display.max_columns", 30):  # fmt: skip
        print(pd.DataFrame(rows).to_string(index=False) if rows else "(no runs)")
    if configs is not None:
        wanted = {content_key(c) for c in configs}
        have = {r.key for r in results}
        print(f"{len(have & wanted)} of {len(wanted)} runs of the grid are stored in {store.root}")
    else:
        print(f"{len(results)} runs in {store.root}")
    stale = store.stale_temporaries()
    if stale:
        print(f"({len(stale)} temporary files from interrupted writes; safe to delete)")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from hashlib_nn.store import open_store

    store = open_store(args.store)
    configs = _selected(args)
    where = {"dataset": args.dataset} if args.dataset and configs is None else {}
    path = store.export_csv(args.out, configs, **where)
    n = len({r.key for r in store.results(configs, **where)})
    print(f"wrote {path} ({n} runs)")
    return 0


def _cmd_presets(args: argparse.Namespace) -> int:
    import pandas as pd

    from hashlib_nn.presets import describe_presets

    table = describe_presets()
    cols = ["preset", "chapter", "datasets", "runs", "new_trainings", "max_epochs",
            "repeats", "checkpoints", "cpu_minutes"]  # fmt: skip
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(table[cols].to_string(index=False))
    print(
        "cpu_minutes: upper bound on 2 CPU cores from an empty store; runs shared between "
        "chapters are counted once (new_trainings)."
    )
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
