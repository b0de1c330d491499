"""Where the gap to the paper comes from: our trainer with Keras 2.2's behaviours toggled one at a
time, at the points the Keras twin runs (issue 13, "[2 of 6] Where the gap comes from").

Each **variant** is our faithful (``standard``) protocol with one deviation toggled
(:data:`VARIANTS`; the toggles are documented in :mod:`hashlib_nn.train` and
:mod:`hashlib_nn.models`):

============  =====================================================================================
variant       what changes (everything else is the default protocol)
============  =====================================================================================
default       nothing: softmax cross-entropy from the logits, torch's Adam, PyTorch's unbiased
              BatchNorm running variance, float32
keras_loss    Keras 2.2's ``categorical_crossentropy`` on probabilities clipped to [1e-7, 1 - 1e-7]
              (the original's behaviour)
keras_adam    Keras 2.2's Adam, epsilon added to ``sqrt(v)`` after the bias correction is folded
              into the step size (the original's behaviour)
bn_biased     BatchNorm's running variance from the biased batch variance (tf.keras 2.x and
              Keras 3; Keras 2.2 uses ``n / (n - 1.001)``, within 1.6e-5 of PyTorch's
              ``n / (n - 1)``, so ``bn_biased`` bounds the Bessel correction's effect from above)
float64       training in float64 (a sensitivity check; the original trained in float32)
============  =====================================================================================

The **points** (:func:`points`) are the twin's: model size at total widths 10, 20, 30, 40 (depth 1,
up to 200 epochs, early stopping on the training loss), training time at width 40 after 0, 1, 3
and 10 epochs at depth 1 and at depth 5 (the training-time script's default), and sample size at
n = 100 and 1000 (width 40); seeds 0, 1, 2, and 0..9 at width 20. Depth is a coordinate of the
points, not a variant: :func:`effects` with ``factor="depth"`` compares depth 5 with depth 1.

Epoch 0 is the untrained network, identical under every toggle (same initialization, no update
yet), so only the default variant evaluates it.

K-NN is reported twice: ``knn_test`` (ours: exact, ties at the 9th distance to the smallest
training index) and ``knn_sklearn_test``, the original's scikit-learn call
(:func:`hashlib_nn.categorization.knn_accuracy_sklearn`, the number compared with the paper).
The latter costs 1-17 s per evaluation at these widths, so it is not a default suite of the
evaluation: only these runs ask for it (the ``knn_sklearn`` suite of
:class:`hashlib_nn.experiments.RunConfig`).

Runs go through :func:`hashlib_nn.experiments.sweep` and the result store, so nothing trains
twice and an interruption loses only the group in progress; :func:`run_points` appends each
finished group's rows to ``results/twin/ours.csv`` (tidy, with provenance). :func:`load_ours`
reads that file and :func:`effects` computes each toggle's effect against the default with the
seed spread; the appendix chapter calls these two.

Command line::

    python -m hashlib_nn.deviations run [--variants ...] [--experiments ...] [--seeds-w20 10]
    python -m hashlib_nn.deviations ship --from A.csv B.csv [--csv ours.csv] [--note "..."]

``ship`` (:func:`ship`) replaces ours.csv with the union of run CSVs written elsewhere (the
release run's lanes, ``tools/release.sh ... mnist:deviations:a mnist:deviations:b``), refusing
rows from a dirty checkout.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hashlib_nn.experiments.store import open_store
from hashlib_nn.provenance import dirty_rows, machine

if TYPE_CHECKING:
    import pandas as pd

    from hashlib_nn.experiments import RunConfig
    from hashlib_nn.experiments.store import StoreLike

__all__ = [
    "COLUMNS",
    "EXPERIMENTS",
    "FINAL_EPOCH",
    "METRICS",
    "OURS_CSV",
    "VARIANTS",
    "Point",
    "configs_for",
    "effects",
    "load_ours",
    "main",
    "points",
    "provenance_path",
    "rows_of",
    "run_points",
    "ship",
    "write_provenance",
]

#: Each variant: the RunConfig/TrainConfig fields it changes from the default protocol.
VARIANTS: dict[str, dict[str, str]] = {
    "default": {},
    "keras_loss": {"loss": "keras_clipped"},
    "keras_adam": {"adam_form": "keras"},
    "bn_biased": {"bn_running_var": "biased"},
    "float64": {"dtype": "float64"},
}
#: The experiments of the differential runs, in priority order.
EXPERIMENTS: tuple[str, ...] = ("model_size", "training_time", "sample_size")
#: The metrics written to ours.csv (``epochs_run`` and ``n_bits_kept``, the bits that vary over
#: train and test, are per-run facts kept for the collapsed-runs question).
METRICS: tuple[str, ...] = (
    "rr_train", "rr_test", "knn_test", "knn_sklearn_test", "lr_test", "kmeans_purity_test",
    "net_acc_test", "n_bits_kept", "epochs_run",
)  # fmt: skip
#: Columns of ours.csv: the point, the value, then provenance.
COLUMNS: tuple[str, ...] = (
    "experiment", "variant", "width", "depth", "n_train", "epoch", "seed", "metric", "value",
    "device", "trainer", "group_size", "train_seconds", "eval_seconds", "created", "git_commit",
    "git_dirty", "results_fingerprint", "hashlib_nn", "torch", "numpy", "sklearn", "python",
)  # fmt: skip
#: ``effects``' epoch of a run evaluated once, at the epoch early stopping ended it.
FINAL_EPOCH = -1
_KEY = ("experiment", "variant", "width", "depth", "n_train", "epoch", "seed", "metric")
#: What names one run in ours.csv: :data:`_KEY` less the epoch and the metric.
_RUN_KEY = ("experiment", "variant", "width", "depth", "n_train", "seed")
#: Where the differential runs ship (beside the standard results).
OURS_CSV = Path(__file__).resolve().parent / "results" / "twin" / "ours.csv"

_TRAIN_FIELDS = ("loss", "adam_form", "dtype")
_SKLEARN_MODES = ("auto", "all", "default", "none")
_MODEL_FIELDS = ("bn_running_var",)


@dataclass(frozen=True)
class Point:
    """One point of the differential runs: an experiment at one width, depth and sample size,
    evaluated at ``checkpoints`` (training time) or at the final epoch (early stopping on)."""

    experiment: str
    width: int
    depth: int = 1
    n_train: int | None = None  # None: all 48,000
    epochs: int = 200
    early_stopping: bool = True
    checkpoints: tuple[int, ...] = ()
    seeds: tuple[int, ...] = (0, 1, 2)

    def __post_init__(self) -> None:
        if self.experiment not in EXPERIMENTS:
            accepted = ", ".join(repr(e) for e in EXPERIMENTS)
            raise ValueError(f"experiment must be one of {accepted}; got {self.experiment!r}")
        if not self.seeds:
            raise ValueError("seeds is empty; give at least one seed")


def points(seeds: Sequence[int] = (0, 1, 2), seeds_w20: Sequence[int] = tuple(range(10)),
           experiments: Iterable[str] = EXPERIMENTS) -> list[Point]:  # fmt: skip
    """The twin's points (module docstring), in priority order: model size at widths 10 and 20,
    training time at depth 1 and 5, model size at 30 and 40, then sample size."""
    wanted = list(experiments)
    for e in wanted:
        if e not in EXPERIMENTS:
            accepted = ", ".join(repr(x) for x in EXPERIMENTS)
            raise ValueError(f"unknown experiment {e!r}; accepted: {accepted}")
    s, s20 = tuple(int(x) for x in seeds), tuple(int(x) for x in seeds_w20)
    tt = dict(epochs=10, early_stopping=False, checkpoints=(0, 1, 3, 10), seeds=s)
    out = [
        Point("model_size", 10, seeds=s),
        Point("model_size", 20, seeds=s20),
        Point("training_time", 40, 1, **tt),  # type: ignore[arg-type]
        Point("training_time", 40, 5, **tt),  # type: ignore[arg-type]
        Point("model_size", 30, seeds=s),
        Point("model_size", 40, seeds=s),
        Point("sample_size", 40, n_train=100, seeds=s),
        Point("sample_size", 40, n_train=1000, seeds=s),
    ]
    return [p for p in out if p.experiment in wanted]


def configs_for(point: Point, variant: str, *, sklearn_knn: bool = True,
                dataset: str = "mnist", suites: Sequence[str] | None = None,
                ) -> list[RunConfig]:  # fmt: skip
    """The RunConfigs of ``point`` under ``variant`` (one per seed).

    Toggled variants leave epoch 0 out (it is the untrained network, identical under every
    toggle). ``suites``: the metric suites (default: all of
    :data:`hashlib_nn.experiments.METRIC_SUITES`); ``sklearn_knn`` adds the ``knn_sklearn``
    suite (the original's K-NN call).
    """
    from hashlib_nn.experiments import METRIC_SUITES, RunConfig
    from hashlib_nn.train import TrainConfig

    if variant not in VARIANTS:
        accepted = ", ".join(repr(v) for v in VARIANTS)
        raise ValueError(f"unknown variant {variant!r}; accepted: {accepted}")
    change = VARIANTS[variant]
    train_kw = {k: v for k, v in change.items() if k in _TRAIN_FIELDS}
    model_kw = {k: v for k, v in change.items() if k in _MODEL_FIELDS}
    checkpoints = point.checkpoints
    if variant != "default":
        checkpoints = tuple(c for c in checkpoints if c != 0)
    metrics = tuple(METRIC_SUITES if suites is None else suites)
    metrics += ("knn_sklearn",) if sklearn_knn else ()
    return [
        RunConfig(
            dataset=dataset, width=point.width, depth=point.depth, n_train=point.n_train,
            train=TrainConfig(epochs=point.epochs, early_stopping=point.early_stopping,
                              seed=seed, **train_kw),
            checkpoints=checkpoints, metrics=metrics, **model_kw,
        )  # fmt: skip
        for seed in point.seeds
    ]


def rows_of(point: Point, variant: str, results: Sequence[Any]) -> pd.DataFrame:
    """Tidy rows (:data:`COLUMNS`) of the :class:`~hashlib_nn.experiments.RunResult` s of
    ``point`` under ``variant``: :data:`METRICS` at each requested checkpoint (every one for
    training time, the final epoch otherwise), with each run's provenance."""
    import pandas as pd

    rows = []
    for r in results:
        prov = {
            "device": r.device, "trainer": r.trainer, "group_size": r.group_size,
            "train_seconds": r.train_seconds, "eval_seconds": r.eval_seconds,
            "created": r.created,
            **{k: r.versions.get(k) for k in ("git_commit", "git_dirty", "results_fingerprint",
                                               "hashlib_nn", "torch", "numpy", "sklearn",
                                               "python")},
        }  # fmt: skip
        if point.experiment == "training_time":
            cps = [c for c in r.checkpoints if c.epoch in set(point.checkpoints)]
        else:
            cps = [r.final]
        for cp in cps:
            values = dict(cp.metrics)
            values["epochs_run"] = float(r.epochs_run)
            for metric in METRICS:
                if metric not in values:
                    continue
                rows.append({
                    "experiment": point.experiment, "variant": variant, "width": point.width,
                    "depth": point.depth, "n_train": r.config.n_examples, "epoch": cp.epoch,
                    "seed": r.seed, "metric": metric, "value": float(values[metric]), **prov,
                })  # fmt: skip
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _merge_into(path: Path, frame: pd.DataFrame) -> pd.DataFrame:
    """Write ``frame``'s rows into the CSV at ``path``, via a temporary file and a rename; return
    the whole table.

    A run in ``frame`` (its experiment, variant, width, depth, n_train and seed) replaces every
    row the CSV holds for that run, so a rerun that stopped early at another epoch leaves no row
    of the earlier run behind.
    """
    import pandas as pd

    if path.is_file():
        old = pd.read_csv(path)
        rerun = old.set_index(list(_RUN_KEY)).index.isin(
            frame.set_index(list(_RUN_KEY)).index)
        frame = pd.concat([old[~rerun], frame], ignore_index=True)
    return _write_table(path, frame)


def _write_table(path: Path, frame: pd.DataFrame) -> pd.DataFrame:
    """Write ``frame`` (one row per key, sorted by it) to the CSV at ``path`` through a
    temporary file and a rename, so a reader never sees half a table; return what was written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = frame.drop_duplicates(list(_KEY), keep="last")
    frame = frame.sort_values(list(_KEY), kind="stable").reset_index(drop=True)
    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(path)
    return frame


def run_points(
    point_list: Sequence[Point] | None = None,
    variants: Sequence[str] = tuple(VARIANTS),
    *,
    store: StoreLike | None = None,
    csv_path: str | Path | None = OURS_CSV,
    sklearn_knn: str = "auto",
    device: str = "cpu",
    log: Callable[[str], None] | None = print,
    deadline: float | None = None,
    dataset: str = "mnist",
    suites: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Train and measure every ``point`` under every variant; return the rows (and write them to
    ``csv_path`` group by group).

    Order: point by point (:func:`points` is in priority order), every variant at a point
    before the next point. Each (point, variant) is one :func:`~hashlib_nn.experiments.sweep`
    over its seeds (trained together, stored at once; a repeated call resumes from the store).

    ``sklearn_knn``: ``"all"`` (every variant measures the original's K-NN), ``"default"``
    (only the default variant: the toggles' effects are then read on ``knn_test``), ``"auto"``
    (every variant where a run is evaluated once, at its final epoch; only the default at the
    training-time points, whose four checkpoints per run would make it the dominant cost) or
    ``"none"``. ``suites``: the metric suites besides that (default: all of
    :data:`hashlib_nn.experiments.METRIC_SUITES`; ``("rr", "net", "knn")`` costs about a second
    per evaluation instead of 5-20). ``deadline``: a ``time.time()`` after which no new group
    starts.
    """
    import pandas as pd

    from hashlib_nn.experiments import sweep

    if sklearn_knn not in _SKLEARN_MODES:
        raise ValueError(f"sklearn_knn must be one of {', '.join(map(repr, _SKLEARN_MODES))}; "
                         f"got {sklearn_knn!r}")  # fmt: skip
    for v in variants:
        if v not in VARIANTS:
            accepted = ", ".join(repr(x) for x in VARIANTS)
            raise ValueError(f"unknown variant {v!r}; accepted: {accepted}")
    st = open_store(store)
    out: list[pd.DataFrame] = []
    for point in points() if point_list is None else point_list:
        for variant in variants:
            if deadline is not None and time.time() > deadline:
                if log is not None:
                    log(f"deadline passed: {point.experiment} w={point.width} d={point.depth} "
                        f"n={point.n_train} {variant} and later groups not run")  # fmt: skip
                return pd.concat(out, ignore_index=True) if out else pd.DataFrame(
                    columns=list(COLUMNS))
            with_sk = (sklearn_knn == "all" or (sklearn_knn != "none" and variant == "default")
                       or (sklearn_knn == "auto" and point.experiment != "training_time"))
            configs = configs_for(point, variant, sklearn_knn=with_sk, dataset=dataset,
                                  suites=suites)
            t0 = time.perf_counter()
            sweep(configs, store=st, device=device, progress=False)
            results = [st.get(c) for c in configs]
            missing = [c.describe() for c, r in zip(configs, results, strict=True) if r is None]
            if missing:
                raise RuntimeError(f"runs missing from the store after the sweep: {missing}")
            rows = rows_of(point, variant, results)
            out.append(rows)
            if csv_path is not None:
                table = _merge_into(Path(csv_path), rows)
                write_provenance(table, provenance_path(csv_path))
            if log is not None:
                log(f"{time.strftime('%H:%M:%S')} {point.experiment} w={point.width} "
                    f"d={point.depth} n={point.n_train} {variant} x{len(configs)}: "
                    f"{time.perf_counter() - t0:.0f} s")  # fmt: skip
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=list(COLUMNS))


def provenance_path(csv_path: str | Path) -> Path:
    """Where the provenance summary of a differential-runs CSV lives: ``<stem>.provenance.json``
    beside it (``ours.provenance.json`` for ours.csv)."""
    p = Path(csv_path)
    return p.with_name(p.stem + ".provenance.json")


def write_provenance(table: pd.DataFrame, path: str | Path, *,
                     note: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Summarize where ``table``'s rows come from into the JSON file ``path``; return it.

    Per experiment and variant: the runs (distinct seeds x points), their summed training and
    evaluation seconds, and the first and last run; overall: the git commits, results
    fingerprints and library versions seen, and the machine that writes the summary
    (:func:`hashlib_nn.provenance.machine`); ``note``, when given, says how the runs ran (the
    command lines, threads, processes), since the rows do not record it.
    """
    import json

    runs = table.drop_duplicates(list(_RUN_KEY))
    groups: dict[str, Any] = {}
    for (exp, var), g in runs.groupby(["experiment", "variant"]):
        groups.setdefault(str(exp), {})[str(var)] = {
            "runs": len(g), "train_seconds": round(float(g["train_seconds"].sum()), 1),
            "eval_seconds": round(float(g["eval_seconds"].sum()), 1),
            "first_run": str(g["created"].min()), "last_run": str(g["created"].max()),
        }  # fmt: skip

    def seen(col: str) -> list[str]:
        return sorted({str(v) for v in table[col].dropna()})

    out = {
        "what": "our trainer at the Keras twin's points, each deviation toggled alone "
                "(hashlib_nn.deviations)",
        "rows": len(table), "experiments": groups,
        **{col: seen(col) for col in ("git_commit", "git_dirty", "results_fingerprint",
                                      "hashlib_nn", "torch", "numpy", "sklearn", "python",
                                      "device")},
        "machine": machine(), **({"note": note} if note else {}),
    }  # fmt: skip
    Path(path).write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    return out


def ship(sources: Sequence[str | Path], csv_path: str | Path = OURS_CSV, *,
         note: str | None = None) -> pd.DataFrame:
    """Replace ``csv_path`` (ours.csv) with the rows of the run CSVs ``sources`` and write its
    provenance (:func:`write_provenance`, with ``note``); return the table.

    The sources must hold different runs (a run in two of them is refused), and every row must
    come from a clean checkout: a row with ``git_dirty`` true is refused, since shipped results
    must be traceable to committed code. Nothing is written when a check fails.
    """
    import pandas as pd

    if not sources:
        raise ValueError("ship needs at least one source CSV; got none")
    frames = []
    for i, src in enumerate(sources):
        frame = load_ours(src)
        dirty = dirty_rows(frame)
        if dirty.any():
            raise ValueError(
                f"{src}: {int(dirty.sum())} rows were computed from a checkout with uncommitted "
                f"changes (git_dirty=true); shipped runs must come from a clean checkout")
        frames.append(frame.assign(_source=i))
    table = pd.concat(frames, ignore_index=True)
    sources_per_run = table.groupby(list(_RUN_KEY))["_source"].nunique()
    shared = sources_per_run[sources_per_run > 1]
    if len(shared):
        raise ValueError(f"{len(shared)} runs are in more than one source, e.g. "
                         f"{dict(zip(_RUN_KEY, shared.index[0], strict=True))}; give each run one "
                         f"source")
    path = Path(csv_path)
    table = _write_table(path, table.drop(columns="_source"))
    write_provenance(table, provenance_path(path), note=note)
    return table


def load_ours(path: str | Path | None = None) -> pd.DataFrame:
    """ours.csv (:data:`OURS_CSV` by default) as a frame with the columns of :data:`COLUMNS`."""
    import pandas as pd

    p = Path(path) if path is not None else OURS_CSV
    if not p.is_file():
        raise FileNotFoundError(
            f"no differential runs at {p}; run `python -m hashlib_nn.deviations run` first"
        )
    frame = pd.read_csv(p)
    missing = [c for c in _KEY + ("value",) if c not in frame.columns]
    if missing:
        raise ValueError(f"{p} lacks the columns {missing}; expected {list(COLUMNS)}")
    return frame


def effects(frame: pd.DataFrame, *, factor: str = "variant", baseline: Any = "default",
            metrics: Sequence[str] | None = None) -> pd.DataFrame:  # fmt: skip
    """Each level of ``factor`` against ``baseline`` at every point, with the seed spread.

    ``factor="variant"`` (baseline ``"default"``): each toggle's effect at equal experiment,
    width, depth, n_train, epoch and metric. ``factor="depth"`` (baseline ``1``): depth against
    depth 1 at equal experiment, variant, width, n_train, epoch and metric.

    Model-size and sample-size runs stop early at their own epochs: their rows enter with
    ``epoch`` = :data:`FINAL_EPOCH` (-1, "the final epoch"), so the seeds of a point pool; the
    epochs they stopped at are the ``epochs_run`` metric. Training-time rows keep their epoch.

    Per point and level: ``mean`` and ``mean_base`` (seed means), ``effect`` = mean - mean_base,
    ``n``/``n_base`` (seeds), ``range``/``range_base`` (max - min over seeds), ``std``/``std_base``
    (sample standard deviation over seeds, NaN with one seed), and ``beyond_spread``: True when
    ``|effect|`` exceeds half the sum of the two seed ranges (the two seed intervals do not
    overlap), i.e. the toggle moves the number by more than the seeds do. Seeds are not
    paired: each level's mean and spread are over its own seeds.
    """

    if factor not in ("variant", "depth"):
        raise ValueError(f"factor must be 'variant' or 'depth'; got {factor!r}")
    if factor == "depth" and baseline == "default":
        baseline = 1
    need = list(_KEY) + ["value"]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks the columns {missing}; expected at least {need}")
    f = frame[need].copy()
    if metrics is not None:
        f = f[f["metric"].isin(list(metrics))]
    f["n_train"] = f["n_train"].astype("int64")
    f.loc[f["experiment"] != "training_time", "epoch"] = FINAL_EPOCH
    if baseline not in set(f[factor]):
        raise ValueError(f"baseline {factor}={baseline!r} is not in the frame; "
                         f"present: {sorted(set(f[factor]), key=str)}")  # fmt: skip
    point_cols = [c for c in _KEY if c not in ("seed", factor)]
    stats = (f.groupby(point_cols + [factor], dropna=False)["value"]
             .agg(mean="mean", n="count", lo="min", hi="max", std="std").reset_index())
    stats["range"] = stats["hi"] - stats["lo"]
    stats = stats.drop(columns=["lo", "hi"])
    base = stats[stats[factor] == baseline].drop(columns=[factor])
    others = stats[stats[factor] != baseline]
    out = others.merge(base, on=point_cols, suffixes=("", "_base"), how="inner")
    out["effect"] = out["mean"] - out["mean_base"]
    out["beyond_spread"] = out["effect"].abs() > (out["range"] + out["range_base"]) / 2
    cols = point_cols[:1] + [factor] + point_cols[1:] + [
        "effect", "mean", "mean_base", "n", "n_base", "range", "range_base", "std", "std_base",
        "beyond_spread"]  # fmt: skip
    return out[cols].sort_values(point_cols[:1] + [factor] + point_cols[1:]).reset_index(
        drop=True)


# --------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hashlib_nn.deviations run``: the differential runs (see the module doc)."""
    parser = argparse.ArgumentParser(prog="python -m hashlib_nn.deviations",
                                     description=__doc__.split("\n\n")[0])  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="train and measure the points under the variants")
    r.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    r.add_argument("--experiments", nargs="+", default=list(EXPERIMENTS),
                   choices=list(EXPERIMENTS))  # fmt: skip
    r.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per point (default 3)")
    r.add_argument("--seeds-w20", type=int, default=10,
                   help="seeds at model-size width 20 (default 10)")  # fmt: skip
    r.add_argument("--widths", nargs="+", type=int, default=None,
                   help="only the points at these widths")  # fmt: skip
    r.add_argument("--sklearn-knn", choices=list(_SKLEARN_MODES), default="auto")
    r.add_argument("--suites", nargs="+", default=None, choices=["rr", "net", "kmeans", "knn",
                                                                  "lr"],
                   help="metric suites (default: all; knn_sklearn follows --sklearn-knn)")
    r.add_argument("--store", default=None, help="result store (default: hashlib_nn's)")
    r.add_argument("--csv", default=str(OURS_CSV), help=f"output CSV (default {OURS_CSV})")
    r.add_argument("--deadline", default=None,
                   help="UTC time HH:MM after which no new group starts")  # fmt: skip
    sh = sub.add_parser("ship", help="replace ours.csv with the rows of run CSVs")
    sh.add_argument("--from", dest="sources", nargs="+", required=True,
                    help="run CSVs written by `run --csv` (e.g. the release lanes)")
    sh.add_argument("--csv", default=str(OURS_CSV), help=f"the CSV to replace (default {OURS_CSV})")
    sh.add_argument("--note", default=None, help="how the runs ran, kept in the provenance")
    args = parser.parse_args(argv)
    if args.command == "ship":
        table = ship(args.sources, args.csv, note=args.note)
        print(f"shipped {len(table)} rows to {args.csv}")
        return 0
    for name in ("seeds", "seeds_w20"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1; got {getattr(args, name)}")
    pts = points(range(args.seeds), range(args.seeds_w20), args.experiments)
    if args.widths:
        pts = [p for p in pts if p.width in set(args.widths)]
    deadline = None
    if args.deadline:
        deadline = _deadline(args.deadline)
    run_points(pts, args.variants, store=args.store, csv_path=args.csv,
               sklearn_knn=args.sklearn_knn, deadline=deadline, suites=args.suites,
               log=lambda s: print(s, flush=True))  # fmt: skip
    return 0


def _deadline(hhmm: str) -> float:
    """Today's ``HH:MM`` UTC as a ``time.time()`` value."""
    import calendar

    try:
        hh, mm = (int(x) for x in hhmm.split(":"))
        if not (0 <= hh < 24 and 0 <= mm < 60):
            raise ValueError
    except ValueError:
        raise ValueError(f"deadline must be HH:MM (UTC); got {hhmm!r}") from None
    now = time.gmtime()
    return float(calendar.timegm((now.tm_year, now.tm_mon, now.tm_mday, hh, mm, 0, 0, 0, 0)))


if __name__ == "__main__":
    sys.exit(main())
