"""Where the shipped results live and how their CSV files are read (no knowledge of presets).

:mod:`hashlib_nn.shipped` writes and describes the shipped results of the presets' grids and
checks preset and chapter names; this module, below it and below
:mod:`hashlib_nn.experiments.presets`, only
knows the files: ``<root>/<preset>/<chapter>.csv`` (``determinism`` and ``categorization`` read
``model_size.csv``), their per-run provenance columns and how they are parsed back into tidy
frames. :func:`load` here does not check its names: an unknown preset or chapter is simply not
shipped (an empty frame); :func:`hashlib_nn.shipped.load` is the checked entry point.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FILE_OF", "PROVENANCE_COLUMNS", "VERSION_KEYS", "file_name", "load", "read_rows",
    "shipped_root",
]  # fmt: skip

#: Per-run provenance columns added to the tidy rows.
PROVENANCE_COLUMNS = (
    "preset", "lr", "batch_size", "created", "device", "trainer", "group_size", "train_seconds",
    "eval_seconds",
    "hashlib_nn", "git_commit", "git_dirty", "results_fingerprint", "torch", "numpy", "sklearn",
    "python",
)  # fmt: skip
#: The keys of a run's recorded versions that are shipped as provenance columns.
VERSION_KEYS = ("hashlib_nn", "git_commit", "git_dirty", "results_fingerprint", "torch",
                "numpy", "sklearn", "python")  # fmt: skip
#: Chapters that read another chapter's file (they share its grid and runs).
FILE_OF: Mapping[str, str] = {"determinism": "model_size", "categorization": "model_size"}


def shipped_root() -> Path:
    """The folder the shipped results live in (inside the installed package)."""
    return Path(str(resources.files("hashlib_nn") / "results"))


def read_rows(
    path: Path,
    columns: Iterable[str],
    dataset: str | Iterable[str] | None = None,
    dtypes: Mapping[str, type] | None = None,
) -> pd.DataFrame:
    """The tidy rows of one shipped CSV file with their dtypes restored (nullable integer
    ``n_train`` and ``stopped_epoch``, boolean flags), optionally of some data sets only; an
    empty frame with ``columns`` when the file does not exist."""
    import pandas as pd

    if not path.exists():
        return pd.DataFrame(columns=list(columns))
    frame = pd.read_csv(path, dtype={"git_commit": str, "label_noise_mode": str, **(dtypes or {})})
    frame["n_train"] = frame["n_train"].astype("Int64")
    frame["stopped_epoch"] = frame["stopped_epoch"].astype("Int64")
    for col in ("final", "batchnorm", "early_stopping"):
        frame[col] = frame[col].astype(bool)
    if dataset is not None:
        names = [dataset] if isinstance(dataset, str) else list(dataset)
        frame = frame[frame["dataset"].isin(names)].reset_index(drop=True)
    return frame


def file_name(chapter: str, protocol: str | None = None) -> str:
    """The stem of ``chapter``'s shipped file: its own (or, for :data:`FILE_OF`'s chapters,
    the one they read), with ``.<protocol>`` when the runs follow another MLP protocol than
    their data set's own (e.g. ``model_size.cifar-mlp``: Fashion-MNIST at depth 5)."""
    name = FILE_OF.get(chapter, chapter)
    return name if protocol is None else f"{name}.{protocol}"


def load(
    chapter: str,
    preset: str = "standard",
    dataset: str | Iterable[str] | None = None,
    root: str | os.PathLike | None = None,
    protocol: str | None = None,
) -> pd.DataFrame:
    """The shipped tidy rows of ``chapter`` under ``preset`` (optionally one or more data
    sets; ``protocol``: the runs of that MLP protocol, shipped apart, see :func:`file_name`),
    names unchecked; an empty frame with the same columns when nothing is shipped."""
    from hashlib_nn.experiments.result import (
        FRAME_COLUMNS,  # (runs imports torch: only when reading)
    )

    name = file_name(chapter, protocol)
    path = (Path(root) if root is not None else shipped_root()) / preset / f"{name}.csv"
    return read_rows(path, [*FRAME_COLUMNS, *PROVENANCE_COLUMNS], dataset)
