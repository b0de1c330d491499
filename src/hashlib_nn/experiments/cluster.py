"""Sweeps on a Dask cluster, and what a sweep reports when runs fail (scale-out of Sec. 4).

:func:`hashlib_nn.experiments.sweep` trains in the calling process by default (repeats batched
with :func:`hashlib_nn.batched.train_many`, which on CPU beats one process per run). Given a
Dask scheduler (``sweep(..., scheduler="tcp://host:8786")``, ``hashlib-nn run --scheduler``, or
``$HASHLIB_NN_SCHEDULER``) it submits each batched group of runs as one task to the cluster
through :class:`distributed.Client` instead:

* **Workers write the results.** Each task gets the result store's absolute path and writes
  every finished run there itself (:meth:`hashlib_nn.experiments.store.Store.put`: atomic,
  checksummed), so
  a lost client loses nothing that finished. The store must therefore be on a filesystem that
  every worker and the client see at the same path (NFS, Lustre, a shared volume). The client
  checks each result it receives against the store and writes the ones it cannot see itself
  (with a warning), so results are never lost on an unshared folder; but then they exist only
  on the client.
* **Failures do not stop the sweep** (``keep_going=True``, the command line's behaviour): a run
  that raises becomes a :class:`RunFailure`, the other runs go on, and at the end
  :class:`SweepError` lists every failure with its error (``hashlib-nn run`` prints them and
  exits with status 1). With ``keep_going=False`` (the library default) the first failure
  cancels what is pending and is re-raised as it was raised on the worker.
* **Same results as a local run.** A task runs the same code as a local sweep; on CPU a run is
  bit-identical for the same seed, torch build and number of torch threads. Dask's nanny starts
  workers with ``OMP_NUM_THREADS=1``, so worker results equal a local run under
  ``torch.set_num_threads(1)`` (tests/test_distributed.py checks this).
* **Data.** The paper's data sets are loaded by each worker from its own ``$HASHLIB_NN_DATA``
  (run ``python -m hashlib_nn.data fetch ...`` where the workers run, or share the folder).
  Data sets registered with :func:`hashlib_nn.experiments.register_dataset` in the client are
  sent to the workers once per sweep (``Client.scatter``).
* **Trust.** Dask moves tasks and results with pickle: whoever can reach the scheduler can run
  code on the workers. Use it on a private network or with TLS (``tls://`` addresses and a
  ``distributed.security.Security``); never point ``HASHLIB_NN_SCHEDULER`` at a scheduler you do
  not control.

``connect(workers=N)`` (``hashlib-nn run --workers N``) starts a throwaway local cluster of N
single-threaded worker processes instead of connecting to a scheduler.

Dask is optional: ``pip install 'hashlib_nn[dask]'``. Nothing here imports it until a cluster
is asked for.
"""

from __future__ import annotations

import contextlib
import os
import re
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from hashlib_nn.experiments.config import RegisteredDataset, RunConfig
    from hashlib_nn.experiments.result import RunResult
    from hashlib_nn.experiments.store import Store

__all__ = [
    "ENV_VAR",
    "RunFailure",
    "SweepError",
    "StoreNotSharedWarning",
    "check_address",
    "connect",
    "resolve_scheduler",
    "scheduler_address",
]

#: Environment variable naming the Dask scheduler that sweeps use when none is given.
ENV_VAR = "HASHLIB_NN_SCHEDULER"
#: Address schemes Dask's comm layer understands.
SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")
#: Seconds to wait for a scheduler before giving up (the command line fails fast).
CONNECT_TIMEOUT_S = 20

_INSTALL_HINT = "install it with: pip install 'hashlib_nn[dask]'  (or 'dask[distributed]')"
_ADDRESS = re.compile(
    r"^(?:(?P<scheme>[a-z]+)://)?(?P<host>\[[0-9a-fA-F:.]+\]|[^\s:/\[\]]+)"
    r"(?::(?P<port>\d{1,5}))?/?$"
)


class StoreNotSharedWarning(UserWarning):
    """A worker's result was not visible in the client's store (not a shared filesystem)."""


# ----------------------------------------------------------------------------------------------
# Failures
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunFailure:
    """One run that raised instead of finishing."""

    config: RunConfig
    key: str  # content_key(config)
    error: str  # "ExceptionType: message" (first line of the message)
    traceback: str  # formatted traceback (from the worker, on a cluster)
    where: str  # "local" or the worker's address

    @classmethod
    def from_exception(
        cls, config: RunConfig, exc: BaseException, tb: Any = None, where: str = "local"
    ) -> RunFailure:
        from hashlib_nn.experiments.config import (
            content_key,  # (runs imports torch: only when needed)
        )

        message = str(exc).strip().splitlines()
        error = type(exc).__name__ + (f": {message[0]}" if message else "")
        frames = traceback.format_exception(
            type(exc), exc, tb if tb is not None else exc.__traceback__
        )
        return cls(config, content_key(config), error, "".join(frames), where)

    def describe(self) -> str:
        return f"{self.config.describe()} [key {self.key[:12]}]: {self.error}"


class SweepError(RuntimeError):
    """Some runs of a sweep failed (``keep_going=True``); the others finished and are stored.

    ``failures``: the :class:`RunFailure` of each failed run; ``frame``: the tidy frame of the
    configs that did finish (as :func:`~hashlib_nn.experiments.sweep` would return it).
    """

    def __init__(self, failures: Sequence[RunFailure], frame: pd.DataFrame, n_runs: int) -> None:
        self.failures = list(failures)
        self.frame = frame
        self.n_runs = n_runs
        super().__init__(self.summary())

    def summary(self) -> str:
        lines = [f"{len(self.failures)} of {self.n_runs} runs failed:"]
        lines += [f"  {f.describe()}" for f in self.failures]
        return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# Addresses and connections
# ----------------------------------------------------------------------------------------------


def check_address(address: object, *, source: str = "scheduler address") -> str:
    """``address`` stripped, if it has the form of a Dask scheduler address, else ValueError.

    Accepted: ``[scheme://]host[:port]`` with scheme one of :data:`SCHEMES` (no scheme: tcp).
    """
    accepted = (
        f"a Dask scheduler address such as 'tcp://10.0.0.5:8786' (schemes: {', '.join(SCHEMES)})"
    )
    if not isinstance(address, str) or not address.strip():
        raise ValueError(f"{source} must be {accepted}; got {address!r}")
    text = address.strip()
    m = _ADDRESS.match(text)
    if m is None or (m["scheme"] is not None and m["scheme"] not in SCHEMES):
        raise ValueError(f"{source} must be {accepted}; got {address!r}")
    if m["port"] is not None and not 0 < int(m["port"]) < 65536:
        raise ValueError(f"{source} must have a port in 1..65535; got {address!r}")
    return text


def scheduler_address(address: str | None = None) -> str | None:
    """``address`` if given, else ``$HASHLIB_NN_SCHEDULER`` if set and not empty, else None;
    checked with :func:`check_address`."""
    if address is not None:
        return check_address(address)
    env = os.environ.get(ENV_VAR, "").strip()
    if not env:
        return None
    return check_address(env, source=f"${ENV_VAR}")


def resolve_scheduler(scheduler: Any) -> Any:
    """What :func:`~hashlib_nn.experiments.sweep` trains on: None (here) or a scheduler address
    or Client. ``scheduler``: None = ``$HASHLIB_NN_SCHEDULER`` (here when unset), False = here,
    a ``distributed.Client``, or an address string."""
    if scheduler is False:
        return None
    if scheduler is None:
        return scheduler_address(None)
    if isinstance(scheduler, str):
        return check_address(scheduler)
    if type(scheduler).__name__ == "Client" and hasattr(scheduler, "submit"):
        return scheduler
    raise TypeError(
        "scheduler must be None ($HASHLIB_NN_SCHEDULER or local), False (local), an address "
        f"such as 'tcp://host:8786' or a distributed.Client; got {type(scheduler).__name__} "
        f"{scheduler!r}"
    )


def _dask() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(
            f"sweeps on a Dask cluster need dask.distributed; {_INSTALL_HINT} ({exc})"
        ) from None
    return distributed


@contextlib.contextmanager
def connect(
    address: str | None = None, *, workers: int | None = None, timeout: float = CONNECT_TIMEOUT_S
) -> Iterator[Any]:
    """A ``distributed.Client``: to the scheduler at ``address``, or (``workers=N``) to a local
    cluster of N single-threaded worker processes that lives as long as the context.

    Checks that the workers run a compatible hashlib_nn (same result schema) before any work.
    Connection problems raise OSError naming the address.
    """
    if (address is None) == (workers is None):
        raise ValueError(
            f"give a scheduler address or a number of workers, not both or neither; "
            f"got address={address!r}, workers={workers!r}"
        )
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise ValueError(
            f"workers must be a positive integer (local worker processes); got workers={workers!r}"
        )
    distributed = _dask()
    with contextlib.ExitStack() as stack:
        if workers is not None:
            cluster = stack.enter_context(
                distributed.LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=":0",
                )
            )
            target: Any = cluster
        else:
            target = check_address(address)
        try:
            client = stack.enter_context(distributed.Client(target, timeout=f"{timeout}s"))
        except (OSError, TimeoutError) as exc:
            raise OSError(
                f"could not connect to the Dask scheduler at {target!r} within {timeout:g} s: {exc}"
            ) from None
        check_workers(client)
        yield client


def _worker_versions() -> dict[str, Any]:
    import torch

    import hashlib_nn
    from hashlib_nn.experiments.config import SCHEMA_VERSION

    return {
        "hashlib_nn": hashlib_nn.__version__,
        "schema": SCHEMA_VERSION,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


def check_workers(client: Any) -> dict[str, dict[str, Any]]:
    """Versions on every worker (``client.run``); ValueError when a worker would write results
    of another schema, a warning when its torch differs from ours (results may then differ)."""
    import torch

    from hashlib_nn.experiments.config import SCHEMA_VERSION

    try:
        found: dict[str, dict[str, Any]] = client.run(_worker_versions)
    except Exception as exc:  # a worker that cannot import hashlib_nn fails to unpickle
        raise ImportError(
            f"the Dask workers cannot run hashlib_nn ({type(exc).__name__}: "
            f"{exc}); install the same hashlib_nn on every worker"
        ) from None
    for worker, v in found.items():
        if v["schema"] != SCHEMA_VERSION:
            raise ValueError(
                f"worker {worker} runs hashlib_nn {v['hashlib_nn']} with result "
                f"schema {v['schema']}; this client writes schema {SCHEMA_VERSION}. "
                "Install the same hashlib_nn on every worker"
            )
        if v["torch"] != torch.__version__:
            warnings.warn(
                f"worker {worker} runs torch {v['torch']}, this client "
                f"{torch.__version__}: results may differ from local runs",
                stacklevel=2,
            )
    return found


# ----------------------------------------------------------------------------------------------
# Running groups of runs on the cluster
# ----------------------------------------------------------------------------------------------


def _store_root_for_workers(store: Store | None) -> str | None:
    return None if store is None else str(store.root.expanduser().resolve())


def check_device_spec(device: Any) -> Any:
    """``device`` checked for form only (it is resolved on each worker, which may have CUDA
    where the client has none)."""
    import torch

    if isinstance(device, torch.device) or device == "auto":
        return device
    try:
        dev = torch.device(device) if isinstance(device, str) else None
    except (RuntimeError, ValueError):
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda"):
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device; got {device!r}"
        )
    return device


def run_on_cluster(
    scheduler: Any,
    chunks: Sequence[list[RunConfig]],
    *,
    task: Callable[..., list[RunResult]],
    datasets: Mapping[str, RegisteredDataset],
    device: Any,
    store: Store | None,
    finished: Callable[[RunResult], None],
    keep_going: bool,
    bar: Any = None,
) -> list[RunFailure]:
    """Submit each chunk as one task; call ``finished`` with each result as its task ends.

    ``scheduler``: a Client or an address (connected for the duration). ``task(chunk, device,
    store_root, datasets)`` trains a chunk on a worker and stores its results there
    (:func:`hashlib_nn.experiments.train_chunk`); ``datasets``: the registered data sets the
    chunks use (:func:`hashlib_nn.experiments.config.registered_datasets`), sent to the workers
    once. Returns
    the failures (``keep_going``), or re-raises the first one after cancelling the rest.
    """
    with contextlib.ExitStack() as stack:
        if isinstance(scheduler, str):
            client = stack.enter_context(connect(scheduler))  # checks the workers
        else:
            client = scheduler
            check_workers(client)
        distributed = _dask()
        root = _store_root_for_workers(store)
        shipped = {
            n: client.scatter(reg, broadcast=True, hash=False) for n, reg in datasets.items()
        }
        futures = {}
        for chunk in chunks:
            used = {c.dataset for c in chunk}
            data = {n: f for n, f in shipped.items() if n in used}
            name = f"hashlib-nn-run-{chunk[0].key[:16]}x{len(chunk)}"
            fut = client.submit(
                task, chunk, device, root, data, key=name, pure=False, retries=0
            )
            futures[fut] = chunk
        if bar is not None:
            n_workers = len(client.nthreads())
            bar.set_postfix_str(f"{len(chunks)} tasks on {n_workers} workers")
        failures: list[RunFailure] = []
        warned = False
        try:
            for fut in distributed.as_completed(list(futures)):
                chunk = futures.pop(fut)
                try:
                    results = fut.result()  # re-raises the worker's exception, traceback too
                except Exception as exc:
                    if not keep_going:
                        raise
                    where = _where(client, fut)
                    failures += [RunFailure.from_exception(c, exc, None, where) for c in chunk]
                    if bar is not None:
                        bar.update(len(chunk))
                    continue
                for r in results:
                    if store is not None and not _visible(store, r):
                        if not warned:
                            warnings.warn(
                                f"the result store {store.root} is not shared with the workers "
                                "(a finished run is not there); the client writes what it "
                                "receives, but use a folder every worker and the client see at "
                                "the same path",
                                StoreNotSharedWarning,
                                stacklevel=3,
                            )
                            warned = True
                        store.put(r)
                    finished(r)
        finally:
            if futures:
                client.cancel(list(futures))
        return failures


def _visible(store: Store, result: RunResult) -> bool:
    """Whether the store holds this very result (written by the worker)."""
    path = store.path(result.key)
    if not path.is_file():
        return False
    stored = store.get(result.key)
    return (
        stored is not None
        and (stored.created, stored.train_seconds) == (result.created, result.train_seconds)
        and stored.covers(result.config)
    )


def _where(client: Any, fut: Any) -> str:
    with contextlib.suppress(Exception):
        story = client.run_on_scheduler(_erred_on, fut.key)
        if story:
            return str(story)
    return "cluster"


def _erred_on(key: str, dask_scheduler: Any = None) -> str | None:
    ts = dask_scheduler.tasks.get(key) if dask_scheduler is not None else None
    blamed = getattr(ts, "exception_blame", None)
    worker = getattr(blamed, "erred_on", None) if blamed is not None else None
    if worker:
        return ", ".join(sorted(worker))
    return None
