"""What a run produced: :class:`RunResult` (the paper's MLP) and :class:`CNNRunResult`.

Each holds the metrics of every evaluated epoch (:class:`Checkpoint`, :class:`CNNCheckpoint`),
the training history, timings and the versions it ran under, converts to and from JSON for the
store (:mod:`hashlib_nn.experiments.store`), and gives tidy frames: a run's rows in the columns of
:data:`FRAME_COLUMNS`, one per evaluated epoch x metric.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hashlib_nn.experiments.config import (
    CATEGORIZATION_SUITES,
    CNN_SCHEMA_VERSION,
    SCHEMA_VERSION,
    CNNRunConfig,
    RunConfig,
    content_key,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FRAME_COLUMNS",
    "CNNCheckpoint",
    "CNNRunResult",
    "Checkpoint",
    "RunResult",
    "merge_plan",
    "union_plan",
]




@dataclass(frozen=True)
class Checkpoint:
    """Metrics of one evaluated epoch."""

    epoch: int  # 0 = initialization; e = after e epochs
    metrics: dict[str, float]  # metric name (e.g. "rr_train") -> value
    seconds: float  # evaluation time (codes + all suites)
    timings: dict[str, float] = field(default_factory=dict)  # per-suite seconds


@dataclass
class RunResult:
    """Everything one run produced. ``to_frame()`` gives tidy rows."""

    config: RunConfig
    key: str  # content_key(config)
    checkpoints: list[Checkpoint]  # in epoch order; the last is the final epoch
    history: list[dict[str, float]]  # per epoch: epoch, lr, loss, accuracy, seconds
    stopped_epoch: int | None  # epoch at which early stopping ended the run, else None
    epochs_run: int
    train_seconds: float  # wall time of the training epochs (checkpoint evaluations excluded);
    # with trainer "train_many" the time of the whole batch of `group_size` models
    device: str
    trainer: str  # "train" (one model) or "train_many" (repeats trained together)
    versions: dict[str, str | None]
    created: str  # ISO 8601 UTC
    group_size: int = 1  # models trained together with this one (train_many), including itself
    schema: int = SCHEMA_VERSION

    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def final(self) -> Checkpoint:
        return self.checkpoints[-1]

    @property
    def eval_seconds(self) -> float:
        return float(sum(c.seconds for c in self.checkpoints))

    def evaluated_epochs(self) -> set[int]:
        return {c.epoch for c in self.checkpoints}

    def covers(self, config: RunConfig) -> bool:
        """Whether this result answers ``config``: same training and every requested metric at
        every requested checkpoint (a checkpoint the run never reached, after early stopping,
        counts as answered)."""
        if self.key != content_key(config):
            return False
        have = set(self.config.metrics)
        if not set(config.metrics) <= have:
            return False
        done = self.evaluated_epochs()
        return all(c in done for c in config.checkpoints if c <= self.epochs_run)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "key": self.key,
            "config": self.config.to_dict(),
            "checkpoints": [dataclasses.asdict(c) for c in self.checkpoints],
            "history": self.history,
            "stopped_epoch": self.stopped_epoch,
            "epochs_run": self.epochs_run,
            "train_seconds": self.train_seconds,
            "device": self.device,
            "trainer": self.trainer,
            "versions": self.versions,
            "created": self.created,
            "group_size": self.group_size,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunResult:
        return cls(
            config=RunConfig.from_dict(d["config"]),
            key=d["key"],
            checkpoints=[Checkpoint(**c) for c in d["checkpoints"]],
            history=list(d["history"]),
            stopped_epoch=d["stopped_epoch"],
            epochs_run=d["epochs_run"],
            train_seconds=d["train_seconds"],
            device=d["device"],
            trainer=d["trainer"],
            versions=dict(d["versions"]),
            created=d["created"],
            group_size=d["group_size"],
            schema=d["schema"],
        )

    def to_frame(self, request: RunConfig | None = None) -> pd.DataFrame:
        """Tidy rows, one per checkpoint x metric, with the config columns.

        Columns: key, the config's :meth:`RunConfig.flat` columns, epochs_run, stopped_epoch,
        epoch, final (the last evaluated epoch), metric (e.g. ``"rr_train"``), measure (the
        metric without its split, ``"rr"``), split (``"train"``, ``"test"`` or None), value.
        With ``request``, only its checkpoints (plus the final epoch) and metric suites.
        """
        import pandas as pd

        suites = set(request.metrics) if request is not None else None
        epochs = set(request.checkpoints) if request is not None else None
        base = {"key": self.key, **self.config.flat(), "epochs_run": self.epochs_run,
                "stopped_epoch": self.stopped_epoch}  # fmt: skip
        rows = []
        last = self.checkpoints[-1].epoch if self.checkpoints else None
        for cp in self.checkpoints:
            if epochs is not None and cp.epoch not in epochs and cp.epoch != last:
                continue
            for name, value in cp.metrics.items():
                if suites is not None and not _wanted(name, suites):
                    continue
                measure, split = _split_name(name)
                rows.append({**base, "epoch": cp.epoch, "final": cp.epoch == last,
                             "metric": name, "measure": measure, "split": split,
                             "value": float(value)})  # fmt: skip
        return pd.DataFrame(rows, columns=FRAME_COLUMNS)

    def history_frame(self) -> pd.DataFrame:
        """Per-epoch training loss and accuracy, with key and config columns."""
        import pandas as pd

        base = {"key": self.key, **self.config.flat()}
        return pd.DataFrame([{**base, **h} for h in self.history])


#: Columns of the tidy frames (:meth:`RunResult.to_frame`, a sweep's frame), in order.
FRAME_COLUMNS = [
    "key", "dataset", "width", "depth", "per_layer", "n_train", "batchnorm", "dropout",
    "label_noise", "label_noise_mode", "weight_decay", "early_stopping", "max_epochs", "seed",
    "epochs_run", "stopped_epoch", "epoch", "final", "metric", "measure", "split", "value",
]  # fmt: skip

_SUITE_PREFIXES = (
    ("rr", ("rr_", "collision_", "n_distinct_")),
    ("net", ("net_",)),
    ("kmeans", ("kmeans_",)),
    ("knn_sklearn", ("knn_sklearn_",)),  # before "knn": its names start with "knn_" too
    ("knn", ("knn_",)),
    ("lr", ("lr_",)),
)


def _suite_of(metric: str) -> str | None:
    """The suite that produced ``metric`` (None: shared by the categorization suites, such as
    ``n_bits_kept``)."""
    if metric == "n_bits":
        return "rr"
    for suite, prefixes in _SUITE_PREFIXES:
        if metric.startswith(prefixes):
            return suite
    return None


def _wanted(metric: str, suites: set[str]) -> bool:
    suite = _suite_of(metric)
    return suite in suites if suite is not None else bool(suites & set(CATEGORIZATION_SUITES))


def _split_name(metric: str) -> tuple[str, str | None]:
    for split in ("train", "test"):
        if metric.endswith("_" + split):
            return metric[: -len(split) - 1], split
    return metric, None



def union_plan(config: RunConfig, other: RunConfig) -> RunConfig:
    """``config`` with the union of both evaluation plans (metrics and checkpoints)."""
    return dataclasses.replace(
        config,
        metrics=tuple(set(config.metrics) | set(other.metrics)),
        checkpoints=tuple(set(config.checkpoints) | set(other.checkpoints)),
    )


@dataclass(frozen=True)
class CNNCheckpoint:
    """Metrics of one evaluated epoch."""

    epoch: int  # 0 = initialization; e = after e epochs
    metrics: dict[str, float]  # e.g. "rr_train", "knn_test", "net_acc_test", "n_bits"
    layers: list[dict[str, Any]]  # per_layer_redundancy rows, with "split"
    rr_by_bits: list[dict[str, Any]]  # RR of nested random subsets of the reduced code's bits
    timings: dict[str, float]  # seconds: encode_train, encode_test, rr, layers, knn, ...


@dataclass
class CNNRunResult:
    """Everything one CNN run produced (JSON-serializable); frames for the chapter."""

    config: CNNRunConfig
    key: str
    checkpoints: list[CNNCheckpoint]
    history: list[dict[str, float]]  # per epoch: epoch, lr, loss, accuracy, seconds
    epochs_run: int
    stopped_epoch: int | None
    device: str
    timings: dict[str, float]  # seconds: load_data, build, train (epochs only), evaluate,
    # total (wall) and cpu_total (CPU time of the process, all threads)
    memory: dict[str, float]  # MiB: peak_rss, rss_before, codes_train, codes_test, peak_cuda
    layer_names: list[str]  # ReLU layer names in forward order
    versions: dict[str, str | None]
    created: str  # ISO 8601 UTC
    schema: int = CNN_SCHEMA_VERSION
    from_store: bool = field(default=False, compare=False)  # read back, not computed now

    @property
    def final(self) -> CNNCheckpoint:
        return self.checkpoints[-1]

    def at(self, epoch: int) -> CNNCheckpoint:
        for cp in self.checkpoints:
            if cp.epoch == epoch:
                return cp
        raise KeyError(f"epoch {epoch} was not evaluated; evaluated: "
                       f"{[c.epoch for c in self.checkpoints]}")  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema, "key": self.key, "config": self.config.to_dict(),
            "checkpoints": [dataclasses.asdict(c) for c in self.checkpoints],
            "history": self.history, "epochs_run": self.epochs_run,
            "stopped_epoch": self.stopped_epoch, "device": self.device,
            "timings": self.timings, "memory": self.memory, "layer_names": self.layer_names,
            "versions": self.versions, "created": self.created,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, from_store: bool = False) -> CNNRunResult:
        return cls(
            config=CNNRunConfig.from_dict(d["config"]), key=d["key"],
            checkpoints=[CNNCheckpoint(**c) for c in d["checkpoints"]],
            history=list(d["history"]), epochs_run=d["epochs_run"],
            stopped_epoch=d["stopped_epoch"], device=d["device"], timings=dict(d["timings"]),
            memory=dict(d["memory"]), layer_names=list(d["layer_names"]),
            versions=dict(d["versions"]), created=d["created"], schema=d["schema"],
            from_store=from_store,
        )  # fmt: skip

    # -- frames ----------------------------------------------------------------------------------
    def _base(self) -> dict[str, Any]:
        c = self.config
        return {"model": c.model, "dataset": c.dataset, "n_train": c.n_train,
                "n_test": c.n_test, "seed": c.train.seed}  # fmt: skip

    def to_frame(self) -> pd.DataFrame:
        """Tidy rows: model, dataset, n_train, n_test, seed, epoch, metric, value."""
        import pandas as pd

        base = self._base()
        rows = [{**base, "epoch": cp.epoch, "metric": k, "value": float(v)}
                for cp in self.checkpoints for k, v in cp.metrics.items()]  # fmt: skip
        return pd.DataFrame(rows)

    def summary(self, metrics: Sequence[str] | None = None) -> pd.DataFrame:
        """One row per checkpoint, one column per metric (``metrics``: a selection, in order)."""
        frame = self.to_frame().pivot(index="epoch", columns="metric", values="value")
        if metrics is not None:
            frame = frame[[m for m in metrics if m in frame.columns]]
        frame.columns.name = None
        return frame.reset_index()

    def layers_frame(self) -> pd.DataFrame:
        """Per-layer RR rows: epoch, split, layer, name, n_bits, cum_bits, distinct_layer,
        distinct_prefix, rr_layer, rr_prefix."""
        import pandas as pd

        rows = [{"epoch": cp.epoch, **row} for cp in self.checkpoints for row in cp.layers]
        return pd.DataFrame(rows)

    def bits_frame(self) -> pd.DataFrame:
        """RR of nested random subsets of k of the reduced code's bits: epoch, split, n_bits, rr
        (the full code's RR is ``rr_train``/``rr_test``)."""
        import pandas as pd

        rows = [{"epoch": cp.epoch, **row} for cp in self.checkpoints for row in cp.rr_by_bits]
        return pd.DataFrame(rows)

    def history_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(self.history)




def merge_plan(config: RunConfig, stored: RunResult | None) -> RunConfig:
    """``config`` measuring also what the stored result measured (so a re-run only adds)."""
    return config if stored is None else union_plan(config, stored.config)
