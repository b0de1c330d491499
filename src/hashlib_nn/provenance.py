"""Provenance of every result: versions, the git state, the machine and the results fingerprint.

One place collects what a stored run, a shipped CSV, a benchmark and a chapter record about
where their numbers came from:

- :func:`versions`: hashlib_nn, torch, numpy, scikit-learn and Python versions, the git commit
  and whether the checkout had uncommitted changes (``git_dirty``), and the results fingerprint;
- :func:`results_fingerprint`: a hash of the source of every module that can change a result
  (data, models, training, codes, metrics, evaluation) plus the torch and scikit-learn versions.
  Two rows computed on different commits belong to one release only when their fingerprints are
  equal; a shipped row whose fingerprint differs from the running code's is *stale*
  (:func:`hashlib_nn.shipped.stale_rows`);
- :func:`machine`: the OS, CPU, core count, torch threads and GPU.

Every module of the package is classified in :data:`RESULT_MODULES` or
:data:`PRESENTATION_MODULES` (a test checks that none is left out), so a new module must decide
whether it can change a number.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

__all__ = [
    "PRESENTATION_MODULES",
    "RESULT_MODULES",
    "dirty_rows",
    "git_state",
    "machine",
    "results_fingerprint",
    "versions",
]

_PACKAGE = Path(__file__).resolve().parent

#: Modules whose source can change a trained network, its codes or a metric (paths relative to
#: the package). Editing one of them makes every shipped row stale.
RESULT_MODULES: tuple[str, ...] = (
    "data.py",  # loading, the 80% split, tiling of sample-size subsets
    "noise.py",  # label noise
    "models.py",  # the paper's MLP
    "cnn.py",  # the CNNs and their encoding
    "train.py",  # the trainer (optimizer, schedule, early stopping)
    "batched.py",  # many models trained in one network
    "codes.py",  # neural codes
    "metrics.py",  # redundancy ratio
    "hamming.py",  # K-NN on packed codes
    "categorization.py",  # K-Means, K-NN, logistic regression on codes
    "fast_categorization.py",  # batched K-Means / logistic regression in torch
    "experiments/config.py",  # the run configurations (defaults, validation), keys, data sets
    "experiments/evaluation.py",  # the metric suites at each checkpoint (MLP and CNN)
    "experiments/runner.py",  # training a configuration, a batched group, a CNN run
    "experiments/result.py",  # which metrics a run's rows hold
    "experiments/sweeps.py",  # which runs train together as one batched network
    "controls.py",  # the untrained-network and random-projection controls
    "device.py",  # device resolution
)

#: Modules that only read, judge, draw or move results (changing them changes no number).
PRESENTATION_MODULES: tuple[str, ...] = (
    "__init__.py", "analysis.py", "book.py", "charts.py", "claims.py", "cli.py",
    "deviations.py", "encoder.py", "factors.py", "hashing.py", "phase.py",
    "phase_charts.py", "provenance.py", "serialization.py", "shipped.py",
    "shipped_files.py", "twin.py", "verdicts.py", "reference", "reports",
    # the experiment pipeline's plumbing: its lazy names, the store, the cluster, the presets
    "experiments/__init__.py", "experiments/store.py", "experiments/cluster.py",
    "experiments/presets.py",
    # input checks and atomic writes: they pass a value through or reject it, never change it
    "validation.py",
)  # fmt: skip


def git_state(package_dir: str | os.PathLike | None = None) -> tuple[str | None, str | None]:
    """(commit, ``"true"``/``"false"`` for uncommitted changes to tracked files) of the source
    checkout this package runs from; (None, None) for an installed copy or without git."""
    package_dir = Path(package_dir) if package_dir is not None else _PACKAGE

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=package_dir, capture_output=True,
                                 text=True, timeout=10)  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    if not top or Path(top) / "src" / "hashlib_nn" != package_dir:
        return None, None  # not our own checkout (e.g. site-packages inside another repo)
    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return commit or None, None if status is None else str(bool(status)).lower()


def dirty_rows(frame: Any) -> Any:
    """Boolean mask of the rows of a results frame computed from a checkout with uncommitted
    changes: ``git_dirty`` as :func:`git_state` records it (``"true"``), or as a CSV reads it
    back (``True``, ``"True"``, ``"1"``)."""
    return frame["git_dirty"].astype(str).str.lower().isin(["true", "1"])


def _fingerprint(sources: dict[str, bytes], torch_version: str, sklearn_version: str) -> str:
    h = hashlib.sha256()
    for name in sorted(sources):
        h.update(name.encode() + b"\0" + sources[name] + b"\0")
    h.update(f"torch={torch_version};sklearn={sklearn_version}".encode())
    return h.hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def results_fingerprint() -> str:
    """16 hex digits: sha256 of the source of :data:`RESULT_MODULES` (those that exist) and the
    torch and scikit-learn versions. Equal fingerprints mean the same code computed the rows."""
    import sklearn
    import torch

    sources = {name: (_PACKAGE / name).read_bytes() for name in RESULT_MODULES
               if (_PACKAGE / name).is_file()}  # fmt: skip
    return _fingerprint(sources, torch.__version__, sklearn.__version__)


@functools.lru_cache(maxsize=1)
def versions() -> dict[str, str | None]:
    """The versions recorded beside every stored run (see the module docstring)."""
    import numpy as np
    import sklearn
    import torch

    import hashlib_nn

    commit, dirty = git_state(_PACKAGE)
    return {
        "hashlib_nn": hashlib_nn.__version__, "git_commit": commit, "git_dirty": dirty,
        "results_fingerprint": results_fingerprint(),
        "torch": torch.__version__, "numpy": np.__version__, "sklearn": sklearn.__version__,
        "python": platform.python_version(),
    }  # fmt: skip


def machine() -> dict[str, Any]:
    """The machine a run or a benchmark ran on: OS, architecture, CPU name, cores, torch
    threads and the CUDA device (None on CPU)."""
    import torch

    cpu = platform.processor() or ""
    try:  # Linux: the CPU's marketing name
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "os": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
