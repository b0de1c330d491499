"""Results that ship with the package: the faithful-protocol (``standard``) runs, as tidy CSV.

The book's chapters recompute their ``quick`` grids on every build; the ``standard`` preset (the
original grids and protocol) costs hours on 2 CPU cores, so its results are computed once with
``hashlib-nn run --preset standard`` and shipped in ``hashlib_nn/results/<preset>/``:

- ``<chapter>.csv``: the tidy rows of the chapter's grid (the columns of
  :func:`hashlib_nn.experiments.sweep`'s frame), plus the provenance of every run: ``preset``,
  ``lr`` and ``batch_size`` (the protocol's), ``created`` (UTC), ``device``, ``trainer``,
  ``group_size``, ``train_seconds``, ``eval_seconds`` and the versions (``hashlib_nn``,
  ``git_commit``, ``git_dirty``, ``results_fingerprint``, ``torch``, ``numpy``, ``sklearn``,
  ``python``). Another MLP protocol's grid (e.g. the depth-5 model-size grid on Fashion-MNIST)
  ships apart, as ``<chapter>.<protocol>.csv``. ``determinism`` and ``categorization``
  read ``model_size.csv`` (one grid serves the three chapters, as in the results store).
- ``PROVENANCE.json``: the preset, the machine (OS, CPU, cores, torch threads), when the runs
  were made, their summed training and evaluation time, and per chapter and data set how many of
  the grid's runs are shipped (a grid may be shipped in part: the store resumes, and
  :func:`coverage` says what is missing).

:func:`ship` writes them from a results store; :func:`load`, :func:`provenance`,
:func:`coverage` and :func:`summary` (the lines a chapter prints above a shipped figure) read
them. Nothing here trains.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hashlib_nn import shipped_files
from hashlib_nn.experiments.presets import ALL_CHAPTERS, PRESETS, PROTOCOLS, grid
from hashlib_nn.experiments.store import open_store
from hashlib_nn.provenance import dirty_rows, machine, results_fingerprint
from hashlib_nn.shipped_files import FILE_OF, PROVENANCE_COLUMNS, VERSION_KEYS, shipped_root
from hashlib_nn.validation import atomic_write, check_choice

if TYPE_CHECKING:
    import pandas as pd

    from hashlib_nn.experiments.store import StoreLike

__all__ = [
    "PROVENANCE_COLUMNS", "check_preset", "coverage", "load", "provenance", "record_wall_times",
    "ship",
    "shipped_root", "stale_rows", "summary", "traceability",
]  # fmt: skip

def _file_chapter(chapter: str) -> str:
    check_choice(chapter, ALL_CHAPTERS, "chapter")
    return FILE_OF.get(chapter, chapter)


def _check_protocol(protocol: str | None) -> None:
    if protocol is not None:
        check_choice(protocol, PROTOCOLS, "protocol")


def check_preset(preset: str) -> None:
    """``preset`` must name one of :data:`hashlib_nn.experiments.presets.PRESETS` (a ValueError
    otherwise)."""
    check_choice(preset, PRESETS, "preset")


def stale_rows(frame: pd.DataFrame) -> pd.Series:
    """Boolean mask of the rows whose ``results_fingerprint`` differs from the running code's
    (:func:`hashlib_nn.provenance.results_fingerprint`); rows without one (shipped before
    fingerprints were recorded) count as stale."""
    import pandas as pd

    if "results_fingerprint" not in frame.columns:
        return pd.Series(True, index=frame.index)
    return frame["results_fingerprint"].astype(str) != results_fingerprint()


def traceability(frame: pd.DataFrame, run_columns: Sequence[str] = ("key",)) -> str:
    """One line: how many shipped runs were computed by the running code (equal results
    fingerprint) from a clean checkout, and how many are stale or dirty. ``run_columns``: what
    identifies a run in ``frame`` (the content key; e.g. the point and seed in the
    differential runs of :mod:`hashlib_nn.deviations`)."""
    if frame.empty:
        return "No shipped runs."
    runs = frame.drop_duplicates(list(run_columns))
    stale = int(stale_rows(runs).sum())
    dirty = int(dirty_rows(runs).sum())
    text = (f"Traceability: {len(runs) - stale} of {len(runs)} runs carry the running code's "
            f"results fingerprint ({results_fingerprint()})")
    if stale:
        text += (f"; {stale} are stale (computed by other code, or before fingerprints were "
                 "recorded: their numbers may differ from what this code computes)")
    if dirty:
        text += f"; {dirty} were computed from a checkout with uncommitted changes"
    return text + "."


def ship(
    store: StoreLike | None = None,
    preset: str = "standard",
    chapters: Sequence[str] | None = None,
    datasets: Sequence[str] | None = None,
    out_dir: str | os.PathLike | None = None,
    *,
    note: str = "",
    allow_dirty: bool = False,
    protocol: str | None = None,
) -> list[Path]:
    """Write the stored runs of ``chapters``' grids under ``preset`` (``datasets``: None = the
    preset's) as ``<out_dir>/<preset>/<chapter>.csv`` plus ``PROVENANCE.json``.

    Only stored runs are written (nothing trains); a chapter with none is left out. Earlier
    files of other chapters in that folder are kept, and PROVENANCE.json is merged, so a preset
    can be shipped chapter by chapter. ``out_dir``: None = :func:`shipped_root` (the package).
    A run computed from a checkout with uncommitted changes (``git_dirty``) is not traceable to
    clean code: it is refused unless ``allow_dirty``. ``protocol``: ship the grids of that MLP
    protocol (:data:`hashlib_nn.experiments.presets.PROTOCOLS`) instead of each data set's own,
    as ``<chapter>.<protocol>.csv`` (recorded as ``<chapter>.<protocol>`` in PROVENANCE.json),
    e.g. the depth-5 model-size grid on Fashion-MNIST that stands in for the CIFAR-10 MLPs.
    Returns the paths written.
    """
    import pandas as pd

    check_preset(preset)
    _check_protocol(protocol)
    st = open_store(store)
    wanted = list(chapters) if chapters is not None else [
        c for c in ALL_CHAPTERS if c not in FILE_OF
    ]
    names = [_file_chapter(c) for c in wanted]
    by_protocol = {} if protocol is None else {"protocol": protocol}
    datasets = list(datasets) if datasets is not None else list(PRESETS[preset].datasets)
    folder = Path(out_dir) if out_dir is not None else shipped_root()
    folder = folder / preset
    folder.mkdir(parents=True, exist_ok=True)
    prov_path = folder / "PROVENANCE.json"
    prov = json.loads(prov_path.read_text()) if prov_path.exists() else {"chapters": {}}
    written: list[Path] = []
    for name in dict.fromkeys(names):
        configs = [c for ds in datasets for c in grid(name, preset, dataset=ds, **by_protocol)]
        merged: dict[str, Any] = {}
        for c in configs:  # one request per run: the grid's plan for it
            merged.setdefault(c.key, c)
        frames, created, seconds = [], [], 0.0
        per_ds: dict[str, dict[str, Any]] = {}
        for c in merged.values():
            ds = per_ds.setdefault(c.dataset, {"runs_in_grid": 0, "runs_shipped": 0})
            ds["runs_in_grid"] += 1
            r = st.get(c.key)
            if r is None or not r.covers(c):
                continue
            ds["runs_shipped"] += 1
            f = r.to_frame(c)
            v = r.versions
            if str(v.get("git_dirty")).lower() == "true" and not allow_dirty:
                raise ValueError(
                    f"run {c.key[:12]} ({name}, {c.dataset}, width {c.width}, seed {c.seed}) was "
                    "computed from a checkout with uncommitted changes (git_dirty=true): "
                    "shipped results must be traceable to committed code; re-run it from a "
                    "clean checkout, or pass allow_dirty=True (--allow-dirty) to ship it anyway"
                )
            prov_cols = {
                "preset": preset, "lr": c.train.lr, "batch_size": c.train.batch_size,
                "created": r.created, "device": r.device,
                "trainer": r.trainer, "group_size": r.group_size,
                "train_seconds": round(r.train_seconds, 2),
                "eval_seconds": round(r.eval_seconds, 2),
                **{k: v.get(k) for k in VERSION_KEYS},
            }  # fmt: skip
            frames.append(f.assign(**prov_cols))
            created.append(r.created)
            # a batched group's train_seconds is the whole group's: count it once per group
            run_s = r.train_seconds / max(r.group_size, 1) + r.eval_seconds
            seconds += run_s
            ds["run_seconds"] = ds.get("run_seconds", 0.0) + run_s
        if not frames:
            continue
        frame = pd.concat(frames, ignore_index=True)
        stem = shipped_files.file_name(name, protocol)
        path = folder / f"{stem}.csv"
        atomic_write(path, frame.to_csv(index=False).encode())
        path.chmod(0o644)  # package data: readable by every user (mkstemp makes it 0600)
        written.append(path)
        runs = frame.drop_duplicates("key")
        for ds_info in per_ds.values():  # seconds per data set, beside the chapter's total
            ds_info["run_seconds"] = round(ds_info.get("run_seconds", 0.0), 1)
        prov["chapters"][stem] = {
            "datasets": per_ds,
            "results_fingerprints": sorted(runs["results_fingerprint"].dropna().astype(str)
                                           .unique().tolist()),
            "seeds": sorted(int(s) for s in runs["seed"].unique()),
            "machine": machine(),
            "first_run": min(created),
            "last_run": max(created),
            "run_seconds": round(seconds, 1),
            "rows": len(frame),
        }
    prov.update({
        "preset": preset,
        "description": PRESETS[preset].description,
        "shipped": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "note": note or prov.get("note", ""),
        "how": f"hashlib-nn run --preset {preset} --chapter ... ; then "
               f"python -m hashlib_nn.shipped --preset {preset}",
    })  # fmt: skip
    atomic_write(prov_path, (json.dumps(prov, indent=1, sort_keys=True) + "\n").encode())
    prov_path.chmod(0o644)
    written.append(prov_path)
    return written


def record_wall_times(
    times: str | os.PathLike, preset: str = "standard", out_dir: str | os.PathLike | None = None
) -> Path:
    """Write the wall time of each grid of a release run into ``PROVENANCE.json``.

    ``times`` is the ``release-times.tsv`` that ``tools/release.sh`` appends to (dataset,
    ``grid`` or ``grid:protocol``, start, seconds, commit per line); a grid run in several
    sittings (a resumed release) sums its lines. Each shipped grid's data set entry gets
    ``wall_seconds`` (``controls`` under the top-level ``"controls"`` key); grids not shipped
    are skipped. Call it after :func:`ship`, which rewrites a chapter's entry."""
    check_preset(preset)
    folder = (Path(out_dir) if out_dir is not None else shipped_root()) / preset
    prov_path = folder / "PROVENANCE.json"
    prov = json.loads(prov_path.read_text()) if prov_path.exists() else {"chapters": {}}
    walls: dict[tuple[str, str], float] = {}
    for number, line in enumerate(Path(times).read_text().splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 4:
            raise ValueError(f"{times}:{number}: expected dataset, grid, start, seconds "
                             f"(tab-separated); got {line!r}")  # fmt: skip
        grid_name = fields[1].replace(":", ".")  # model_size:cifar-mlp -> model_size.cifar-mlp
        walls[(fields[0], grid_name)] = walls.get((fields[0], grid_name), 0.0) + float(fields[3])
    for (ds, grid_name), seconds in walls.items():
        entry = (prov.get("controls") if grid_name == "controls"
                 else prov.get("chapters", {}).get(grid_name))  # fmt: skip
        if entry is not None and ds in entry.get("datasets", {}):
            entry["datasets"][ds]["wall_seconds"] = round(seconds, 1)
    atomic_write(prov_path, (json.dumps(prov, indent=1, sort_keys=True) + "\n").encode())
    prov_path.chmod(0o644)
    return prov_path


def provenance(preset: str = "standard", root: str | os.PathLike | None = None) -> dict[str, Any]:
    """PROVENANCE.json of the shipped ``preset`` ({} when nothing is shipped)."""
    check_preset(preset)
    path = (Path(root) if root is not None else shipped_root()) / preset / "PROVENANCE.json"
    return json.loads(path.read_text()) if path.exists() else {}


def load(
    chapter: str,
    preset: str = "standard",
    dataset: str | Iterable[str] | None = None,
    root: str | os.PathLike | None = None,
    protocol: str | None = None,
) -> pd.DataFrame:
    """The shipped tidy rows of ``chapter`` under ``preset`` (optionally one or more data
    sets; ``protocol``: the grids of that MLP protocol, shipped apart by :func:`ship`); an empty
    frame with the same columns when nothing is shipped."""
    check_preset(preset)
    _file_chapter(chapter)
    _check_protocol(protocol)
    return shipped_files.load(chapter, preset, dataset, root, protocol)


def coverage(
    preset: str = "standard", root: str | os.PathLike | None = None
) -> pd.DataFrame:
    """Per shipped chapter and data set: runs in the grid, runs shipped, and the share."""
    import pandas as pd

    rows = []
    for chapter, info in provenance(preset, root).get("chapters", {}).items():
        for ds, n in info["datasets"].items():
            rows.append({"chapter": chapter, "dataset": ds, **n,
                         "complete": n["runs_shipped"] == n["runs_in_grid"]})  # fmt: skip
    return pd.DataFrame(rows, columns=["chapter", "dataset", "runs_in_grid", "runs_shipped",
                                       "complete"])  # fmt: skip


def summary(
    chapter: str,
    frame: pd.DataFrame,
    *,
    preset: str = "standard",
    dataset: str | Iterable[str] | None = None,
    root: Any = None,
    protocol: str | None = None,
) -> list[str]:
    """Lines saying what the shipped results of ``chapter`` cover and where they come from.

    ``frame`` is :func:`load` of ``chapter`` (its per-run provenance
    columns); ``dataset`` the data sets asked for (None = the preset's). One line per data set
    asked for or shipped, "standard results, mnist: 21 of 69 runs of the grid shipped
    (partial)." (runs in the grid: :func:`hashlib_nn.experiments.presets.grid`); then the machine
    (:func:`provenance`), the device, the dates of the first and last run,
    the summed training and evaluation time, and the versions (torch, hashlib_nn, git commit)
    recorded with the runs. When nothing is shipped: a single line saying so. ``protocol``:
    the frame holds the runs of that MLP protocol (:func:`load` with ``protocol``).
    """
    import pandas as pd

    check_preset(preset)
    name = _file_chapter(chapter)  # determinism, categorization: the model-size grid
    if dataset is None:
        wanted = list(PRESETS[preset].datasets)
    else:
        wanted = [dataset] if isinstance(dataset, str) else list(dataset)
    if frame.empty:
        return [
            f"No {preset} results shipped for {chapter} ({', '.join(wanted)}): nothing to show."
        ]
    lines = []
    for ds in dict.fromkeys([*wanted, *sorted(frame["dataset"].unique())]):
        keys = {c.key for c in grid(name, preset, dataset=ds,
                                    **({} if protocol is None else {"protocol": protocol}))}
        have = len(keys & set(frame.loc[frame["dataset"] == ds, "key"]))
        state = "complete" if have == len(keys) else "partial" if have else "not shipped"
        lines.append(
            f"{preset} results, {ds}: {have} of {len(keys)} runs of the grid shipped ({state})."
        )
    runs = frame.drop_duplicates("key")
    prov = provenance(preset, root)
    m = prov.get("machine", {})
    created = pd.to_datetime(runs["created"], utc=True, errors="coerce").dropna()
    when = (
        f"from {created.min():%Y-%m-%d %H:%M} to {created.max():%Y-%m-%d %H:%M} UTC"
        if len(created) else "at unrecorded dates"
    )  # fmt: skip
    group = pd.to_numeric(runs["group_size"], errors="coerce").fillna(1).clip(lower=1)
    seconds = float(
        (pd.to_numeric(runs["train_seconds"], errors="coerce").fillna(0) / group
         + pd.to_numeric(runs["eval_seconds"], errors="coerce").fillna(0)).sum()
    )  # fmt: skip
    cpu = m.get("cpu") or "an unrecorded CPU"
    cores = (
        f"{m['cpu_count']} cores, {m.get('torch_threads', '?')} torch threads"
        if m.get("cpu_count") else "cores unrecorded"
    )  # fmt: skip
    spent = f"{seconds / 3600:.1f} hours" if seconds >= 3600 else f"{seconds / 60:.0f} minutes"
    lines.append(
        f"Computed on {cpu} ({cores}; device {_joined(runs['device'])}) {when}: "
        f"{spent} of training and evaluation, summed over the runs."
    )
    dirty = dirty_rows(runs).any()
    commits = _joined(runs["git_commit"].map(lambda c: str(c)[:10], na_action="ignore"))
    lines.append(
        f"Versions: torch {_joined(runs['torch'])}, hashlib_nn {_joined(runs['hashlib_nn'])}, "
        f"git commit {commits}{' (with uncommitted changes)' if dirty else ''}."
    )
    lines.append(traceability(frame))
    if prov.get("note"):
        lines.append(f"Note: {prov['note']}")
    return lines


def _joined(values: pd.Series) -> str:
    vals = sorted({str(v) for v in values.dropna()})
    return ", ".join(vals) if vals else "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hashlib_nn.shipped [--store DIR] [--preset P] [--chapter C ...]``."""
    import argparse

    p = argparse.ArgumentParser(
        prog="python -m hashlib_nn.shipped",
        description="ship stored runs as tidy CSV with provenance",
    )
    p.add_argument("--store", default=None, help="results store (default: $HASHLIB_NN_STORE)")
    p.add_argument("--preset", default="standard", choices=list(PRESETS))
    p.add_argument("--chapter", action="append", choices=list(ALL_CHAPTERS), default=None)
    p.add_argument("--dataset", action="append", default=None)
    p.add_argument("--protocol", default=None, choices=list(PROTOCOLS),
                   help="ship that MLP protocol's grids (as <chapter>.<protocol>.csv)")
    p.add_argument("--out-dir", default=None, help="default: the package's results folder")
    p.add_argument("--note", default="", help="a line stored in PROVENANCE.json")
    p.add_argument("--wall-times", default=None, metavar="TSV",
                   help="then record each grid's wall time from a release run's "
                        "release-times.tsv (tools/release.sh) in PROVENANCE.json")
    p.add_argument("--allow-dirty", action="store_true",
                   help="ship runs computed from a checkout with uncommitted changes")
    args = p.parse_args(argv)
    for path in ship(args.store, args.preset, args.chapter, args.dataset, args.out_dir,
                     note=args.note, allow_dirty=args.allow_dirty,
                     protocol=args.protocol):  # fmt: skip
        print(f"wrote {path}")
    if args.wall_times:
        print(f"wrote {record_wall_times(args.wall_times, args.preset, args.out_dir)}")
    print(coverage(args.preset, args.out_dir).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
