"""Sweeps: many configurations, each trained once, stored as soon as it finishes.

:func:`sweep` skips the runs the store (:mod:`hashlib_nn.experiments.store`) already covers,
groups the rest so that repeats of one architecture train as one batched network
(:func:`hashlib_nn.experiments.runner.train_group`), trains them here or on a Dask cluster
(:mod:`hashlib_nn.experiments.cluster`), and returns one tidy frame. Progress shows as a terminal
bar (:func:`show_progress`) or, inside a notebook, as one line updated in place
(:func:`notebook_progress`).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hashlib_nn.device import resolve_device
from hashlib_nn.experiments.cluster import (
    RunFailure,
    SweepError,
    check_device_spec,
    resolve_scheduler,
    run_on_cluster,
)
from hashlib_nn.experiments.config import (
    RunConfig,
    content_key,
    get_dataset,
    group_key,
    is_registered,
    registered_datasets,
)
from hashlib_nn.experiments.result import FRAME_COLUMNS, RunResult, merge_plan, union_plan
from hashlib_nn.experiments.runner import batched_available, train_chunk, train_group, train_one
from hashlib_nn.experiments.store import open_store

if TYPE_CHECKING:
    import pandas as pd

    from hashlib_nn.experiments.store import StoreLike

__all__ = ["notebook_progress", "show_progress", "sweep"]


def _check_configs(configs: Iterable[RunConfig]) -> list[RunConfig]:
    out = list(configs)
    for i, c in enumerate(out):
        if not isinstance(c, RunConfig):
            raise TypeError(f"configs[{i}] must be a RunConfig; got {type(c).__name__}")
    return out


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

    ``scheduler``: where to train (:mod:`hashlib_nn.experiments.cluster`). None: on the Dask cluster
    named by ``$HASHLIB_NN_SCHEDULER`` when it is set, else here; False: here; an address
    (``"tcp://host:8786"``) or a ``distributed.Client``: each group of runs is one task on that
    cluster, whose workers write to the same store (it must be on a shared filesystem).
    ``keep_going``: a run that raises does not stop the others; at the end
    :class:`hashlib_nn.experiments.cluster.SweepError` lists the failures (its ``frame`` holds the
    runs
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
            todo[key] = merge_plan(c, results.pop(key))
        elif key in todo:
            todo[key] = union_plan(todo[key], c)
        else:
            stored = st.get(key) if st is not None else None
            if stored is not None and stored.covers(c):
                results[key] = stored
            else:
                todo[key] = merge_plan(c, stored)
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
        failures: list[Any] = []  # hashlib_nn.experiments.cluster.RunFailure, with keep_going
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
                        if len(chunk) > 1 and batched_available():
                            for r in train_group(chunk, dev):
                                finished(r)
                        else:
                            for c in chunk:
                                finished(train_one(c, dev))
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


