"""The appendix *Why our numbers differ from the paper's* (issue 13): the paper, the Keras twin
and our port side by side, and the deviations toggled one at a time.

Three sources meet at the twin's points (:func:`hashlib_nn.twin.plan`):

- **the twin** (:func:`hashlib_nn.twin.load_twin`): the original scripts' protocol in Keras 3;
- **ours**: the differential runs of our trainer (:func:`hashlib_nn.deviations.load_ours`,
  variant ``"default"``) where they exist, else the shipped faithful-protocol (``standard``)
  rows (:func:`hashlib_nn.shipped.load`); for model size also ours **at the twin's epoch
  budget** (the shipped phase-chart rows, evaluated at every epoch without early stopping);
- **the paper** (:func:`hashlib_nn.reference.paper_values`). Its K-NN is scikit-learn's
  (``knn_sklearn_test``); its training-time network's depth is unknown, so its training-time
  values stand beside both depths.

Which side the twin is on (:func:`side`): within tolerance of the paper when
``|twin - paper| <= 0.02 + half the twin's seed range`` (the reading uncertainty, as the
verdicts use); of ours when ``|twin - ours| <= 0.02 + half the sum of the two seed ranges``.
A deviation moves a number beyond the seed spread when :func:`hashlib_nn.deviations.effects`
says so (the two seed intervals do not overlap).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hashlib_nn.claims import METRIC_LABELS
from hashlib_nn.reference import READING_UNCERTAINTY, paper_values
from hashlib_nn.reports import ChapterReport, readable
from hashlib_nn.verdicts import fmt

__all__ = [
    "KEY",
    "Appendix",
    "appendix",
    "METRICS",
    "comparison",
    "dead_unit_runs",
    "deviation_table",
    "depth_spike",
    "ours_points",
    "paper_points",
    "report",
    "side",
    "summarize",
    "twin_points",
]

#: A point: experiment, width, depth, sample size, and when ("final" or an epoch).
KEY: list[str] = ["experiment", "width", "depth", "n_train", "at", "metric"]
#: Metrics compared (the paper's K-NN is scikit-learn's: ``knn_sklearn_test``).
METRICS: tuple[str, ...] = ("rr_train", "rr_test", "knn_sklearn_test", "knn_test", "lr_test",
                            "kmeans_purity_test", "net_acc_test")  # fmt: skip
#: Training-set length of the 80% split (protocol.md): n_train of a run on all of it.
FULL_LENGTH = {"mnist": 48000, "fashion-mnist": 48000}
_TT_EPOCHS = (0, 1, 3, 10)
_PAPER_METRIC = {("rr", "train"): "rr_train", ("rr", "test"): "rr_test",
                 ("knn", "test"): "knn_sklearn_test", ("lr", "test"): "lr_test",
                 ("kmeans", "test"): "kmeans_purity_test",
                 ("kmeans", "unspecified"): "kmeans_purity_test",
                 ("net_acc", "test"): "net_acc_test"}  # fmt: skip
#: Metric names in tables and sentences (the two K-NN rules told apart).
LABELS = {**METRIC_LABELS, "knn_sklearn_test": "K-NN, scikit-learn's (test)",
          "knn_test": "K-NN, our exact rule (test)"}  # fmt: skip
NAMES = {
    "experiment": "Experiment", "width": "Width", "depth": "Depth", "n_train": "n",
    "at": "Epoch", "paper": "Paper", "twin": "Twin", "twin_seeds": "Twin seeds",
    "ours": "Ours", "ours_seeds": "Our seeds", "ours_source": "Ours from",
    "ours_budget": "Ours at the twin's epochs", "side": "Twin agrees with",
    "twin_epochs": "Twin epochs", "ours_epochs": "Our epochs", "side_basis": "Against ours at",
}  # fmt: skip
#: Headers of the deviation table (:func:`deviation_table`) as the page shows it.
DEVIATION_NAMES = {
    "variant": "Variant", "beyond_spread": "Numbers beyond the seed spread",
    "compared": "Numbers compared", "largest_beyond_effect": "Largest effect beyond the spread",
    "largest_effect": "Largest effect", "largest_beyond": "Is the largest beyond the spread",
    "where": "Where the largest effect is",
}  # fmt: skip


def _need(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks the columns {missing}; has {list(frame.columns)}")


def _points(frame: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Rows at the twin's points with ``at`` set: the final epoch for model and sample size,
    epochs 0, 1, 3, 10 for training time; ``n_train`` filled with the full length."""
    f = frame.copy()
    f["n_train"] = pd.to_numeric(f["n_train"], errors="coerce").fillna(FULL_LENGTH.get(dataset, 0))
    f["n_train"] = f["n_train"].astype("int64")
    tt = f["experiment"] == "training_time"
    final = f["final"].astype(bool) if "final" in f.columns else ~tt
    keep = (tt & f["epoch"].isin(_TT_EPOCHS)) | (~tt & final)
    f = f[keep].copy()
    f["at"] = np.where(f["experiment"] == "training_time", f["epoch"].astype(int).astype(str),
                       "final")  # fmt: skip
    return f


def summarize(frame: pd.DataFrame, epochs: pd.Series | None = None) -> pd.DataFrame:
    """Per point (:data:`KEY`): seed ``mean``, ``lo``, ``hi``, ``n`` (seeds) and ``epochs``
    (mean epochs run, from ``epochs`` aligned with ``frame``'s rows, else NaN)."""
    _need(frame, KEY + ["value", "seed"], "frame")
    f = frame[KEY + ["value", "seed"]].copy()
    f["epochs"] = epochs.to_numpy() if epochs is not None else np.nan
    out = (f.groupby(KEY, dropna=False)
           .agg(mean=("value", "mean"), lo=("value", "min"), hi=("value", "max"),
                n=("seed", "nunique"), epochs=("epochs", "mean")).reset_index())  # fmt: skip
    return out


def twin_points(twin: pd.DataFrame, dataset: str = "mnist") -> pd.DataFrame:
    """The twin's rows summarized per point (:func:`summarize`)."""
    _need(twin, ["experiment", "dataset", "width", "depth", "n_train", "seed", "epoch", "final",
                 "metric", "value", "epochs_run"], "the twin's rows")  # fmt: skip
    f = _points(twin[twin["dataset"] == dataset], dataset)
    f = f[f["metric"].isin(METRICS)]
    return summarize(f, f["epochs_run"].astype(float))


def ours_points(differential: pd.DataFrame | None, standard: dict[str, pd.DataFrame],
                dataset: str = "mnist") -> pd.DataFrame:  # fmt: skip
    """Our rows summarized per point, with ``source``: the differential runs' default variant
    (``"differential"``) where they have the point and metric, else the shipped standard rows
    of the experiment's grid (``"standard"``), restricted to the twin's points."""
    parts = []
    if differential is not None and not differential.empty:
        d = differential[differential["variant"] == "default"].copy()
        d["final"] = d["experiment"] != "training_time"  # only final rows are written there
        runs = d[d["metric"] == "epochs_run"][["experiment", "width", "depth", "n_train",
                                               "seed", "epoch", "value"]]  # fmt: skip
        runs = runs.rename(columns={"value": "epochs_run"})
        d = _points(d[d["metric"].isin(METRICS)], dataset)
        runs["n_train"] = runs["n_train"].astype("int64")
        d = d.merge(runs, on=["experiment", "width", "depth", "n_train", "seed", "epoch"],
                    how="left")  # fmt: skip
        s = summarize(d, d["epochs_run"].astype(float))
        s["source"] = "differential"
        parts.append(s)
    wanted = {"model_size": lambda f: f["width"].isin([10, 20, 30, 40]),
              "training_time": lambda f: f["width"] == 40,
              "sample_size": lambda f: (f["width"] == 40) & f["n_train"].isin([100, 1000])}
    for experiment, frame in standard.items():
        if frame is None or frame.empty or experiment not in wanted:
            continue
        f = frame[(frame["dataset"] == dataset) & (frame["depth"] == 1)].copy()
        f["experiment"] = experiment
        f = _points(f, dataset)
        f = f[wanted[experiment](f) & f["metric"].isin(METRICS)]
        s = summarize(f, f["epochs_run"].astype(float))
        s["source"] = "standard"
        parts.append(s)
    if not parts:
        return pd.DataFrame(columns=KEY + ["mean", "lo", "hi", "n", "epochs", "source"])
    out = pd.concat(parts, ignore_index=True)
    return out.drop_duplicates(KEY, keep="first").reset_index(drop=True)


def ours_at_budget(phase_chart: pd.DataFrame, epoch: int, dataset: str = "mnist") -> pd.DataFrame:
    """Ours at ``epoch`` without early stopping on the full training set (the shipped
    phase-chart grid, depth 1), as model-size points: KEY columns and the seed ``mean``."""
    cols = KEY + ["ours_budget", "ours_budget_lo", "ours_budget_hi"]
    if phase_chart is None or phase_chart.empty:
        return pd.DataFrame(columns=cols)
    full = FULL_LENGTH.get(dataset, 0)
    f = phase_chart[(phase_chart["dataset"] == dataset) & (phase_chart["depth"] == 1)
                    & (phase_chart["n_train"].astype("Int64") == full)
                    & (phase_chart["epoch"] == epoch) & phase_chart["metric"].isin(METRICS)
                    & phase_chart["width"].isin([10, 20, 30, 40])].copy()  # fmt: skip
    f["experiment"], f["at"], f["n_train"] = "model_size", "final", full
    s = summarize(f).rename(columns={"mean": "ours_budget", "lo": "ours_budget_lo",
                                     "hi": "ours_budget_hi"})  # fmt: skip
    return s[cols]


def paper_points(dataset: str = "mnist", depths: Sequence[int] = (1, 5)) -> pd.DataFrame:
    """The paper's values at the twin's points (KEY columns and ``paper``). Model size and
    sample size are depth 1; training-time values (after epoch 1) stand at every depth in
    ``depths``, since which depth the paper trained there is not known."""
    p = paper_values(dataset=dataset)
    p = p.assign(metric=[_PAPER_METRIC.get((m, s)) for m, s in zip(p["metric"], p["split"],
                                                                    strict=True)])  # fmt: skip
    p = p[p["metric"].notna()]
    full = FULL_LENGTH.get(dataset, 0)
    rows = []
    for r in p.itertuples():
        if r.experiment == "model_size" and r.x in (10, 20, 30, 40):
            rows.append(("model_size", int(r.x), 1, full, "final", r.metric, r.value))
        elif r.experiment == "training_time" and r.width == 40 and r.x in _TT_EPOCHS:
            rows += [("training_time", 40, d, full, str(int(r.x)), r.metric, r.value)
                     for d in depths]  # fmt: skip
        elif r.experiment == "sample_size" and r.width == 40 and r.x in (100, 1000):
            rows.append(("sample_size", 40, 1, int(r.x), "final", r.metric, r.value))
    return pd.DataFrame(rows, columns=KEY + ["paper"])


def side(paper: float, twin: float, twin_range: float, ours: float, ours_range: float, *,
         reading: float = READING_UNCERTAINTY) -> str:  # fmt: skip
    """Which value the twin agrees with: ``"paper"``, ``"ours"``, ``"both"``, or ``"neither"``
    (module docstring); ``""`` when the paper or ours is missing.

    >>> side(0.58, 0.04, 0.01, 0.038, 0.01)
    'ours'
    >>> side(0.58, 0.57, 0.02, 0.04, 0.01), side(0.5, 0.3, 0.0, 0.8, 0.0)
    ('paper', 'neither')
    """
    if any(np.isnan(v) for v in (paper, twin, ours)):
        return ""
    near_paper = abs(twin - paper) <= reading + 0.5 * twin_range + 1e-12
    near_ours = abs(twin - ours) <= reading + 0.5 * (twin_range + ours_range) + 1e-12
    return {(True, True): "both", (True, False): "paper", (False, True): "ours",
            (False, False): "neither"}[(near_paper, near_ours)]  # fmt: skip


def _seeds(lo: float, hi: float, n: float) -> str:
    if np.isnan(lo) or np.isnan(n):
        return ""
    return f"{lo:.3f}–{hi:.3f} ({int(n)})" if n > 1 else f"({int(n)})"


def comparison(twin: pd.DataFrame, ours: pd.DataFrame, paper: pd.DataFrame,
               budget: pd.DataFrame | None = None) -> pd.DataFrame:  # fmt: skip
    """Every twin point beside ours and the paper: KEY, ``paper``, ``twin``, ``twin_lo``,
    ``twin_hi``, ``twin_n``, ``twin_epochs``, ``ours`` (with ``_lo``, ``_hi``, ``_n``,
    ``_epochs``), ``ours_source``, ``ours_budget`` (ours at the twin's epoch budget, where
    known, with ``_lo``, ``_hi``), ``side`` (:func:`side`, against ours at the twin's budget
    where known, else against our final values) and ``side_basis`` ("same epochs"/"final")."""
    _need(twin, KEY + ["mean", "lo", "hi", "n", "epochs"], "twin")
    t = twin.rename(columns={"mean": "twin", "lo": "twin_lo", "hi": "twin_hi", "n": "twin_n",
                             "epochs": "twin_epochs"})  # fmt: skip
    o = ours.rename(columns={"mean": "ours", "lo": "ours_lo", "hi": "ours_hi", "n": "ours_n",
                             "epochs": "ours_epochs", "source": "ours_source"})  # fmt: skip
    out = t.merge(o, on=KEY, how="left").merge(paper, on=KEY, how="left")
    if budget is not None and not budget.empty:
        out = out.merge(budget, on=KEY, how="left")
    else:
        out["ours_budget"] = out["ours_budget_lo"] = out["ours_budget_hi"] = np.nan
    # The twin against ours at its own epoch budget where we have it (like with like), else
    # against our final values.
    same = out["ours_budget"].notna()
    out["side_basis"] = np.where(same, "same epochs", np.where(out["ours"].notna(), "final", ""))
    o_mean = out["ours_budget"].where(same, out["ours"])
    o_range = (out["ours_budget_hi"] - out["ours_budget_lo"]).where(
        same, out["ours_hi"] - out["ours_lo"])
    out["side"] = [side(p, tw, th - tl, o_, r) for p, tw, tl, th, o_, r in zip(
        out["paper"], out["twin"], out["twin_lo"], out["twin_hi"], o_mean, o_range,
        strict=True)]  # fmt: skip
    order = {"model_size": 0, "training_time": 1, "sample_size": 2}
    out["_o"] = out["experiment"].map(order)
    out["_m"] = out["metric"].map({m: i for i, m in enumerate(METRICS)})
    out["_a"] = out["at"].map(lambda a: -1 if a == "final" else int(a))
    out = out.sort_values(["_o", "depth", "width", "n_train", "_a", "_m"])
    return out.drop(columns=["_o", "_m", "_a"]).reset_index(drop=True)


def depth_spike(table: pd.DataFrame) -> dict[str, float]:
    """The training-time values that decide the depth-5 hypothesis, from a :func:`comparison`
    table: the twin's test RR at width 40 after epoch 0 and 1 at depths 1 and 5 (means, ranges)
    and the paper's value after epoch 1. NaN where missing."""
    out: dict[str, float] = {}
    tt = table[(table["experiment"] == "training_time") & (table["width"] == 40)
               & (table["metric"] == "rr_test")]  # fmt: skip
    for depth in (1, 5):
        for at in ("0", "1"):
            r = tt[(tt["depth"] == depth) & (tt["at"] == at)]
            for col in ("twin", "twin_lo", "twin_hi", "ours"):
                out[f"{col}_d{depth}_e{at}"] = float(r[col].iloc[0]) if len(r) else float("nan")
    p = tt[(tt["at"] == "1") & tt["paper"].notna()]["paper"]
    out["paper_e1"] = float(p.iloc[0]) if len(p) else float("nan")
    return out


def deviation_table(effects: pd.DataFrame) -> pd.DataFrame:
    """Per variant: how many of its (point, metric) effects exceed the seed spread, of how
    many, its largest effect in absolute value with where it is, and the largest effect in
    absolute value among those beyond the spread (``largest_beyond_effect``; NaN when none is),
    so that a count is read beside the size of what it counts."""
    rows = []
    for variant, g in effects.groupby("variant", sort=False):
        g = g[g["effect"].notna()]
        if g.empty:
            continue
        worst = g.loc[g["effect"].abs().idxmax()]
        beyond = g[g["beyond_spread"].astype(bool)]["effect"]
        at = "final" if worst["experiment"] != "training_time" else f"epoch {int(worst['epoch'])}"
        where = (f"{worst['experiment']} width {int(worst['width'])} depth {int(worst['depth'])}"
                 f" n {int(worst['n_train'])} {at}, "
                 f"{LABELS.get(worst['metric'], worst['metric'])}")  # fmt: skip
        rows.append({"variant": variant, "beyond_spread": int(g["beyond_spread"].sum()),
                     "compared": len(g), "largest_effect": float(worst["effect"]),
                     "largest_beyond": bool(worst["beyond_spread"]), "where": where,
                     "largest_beyond_effect": (float(beyond.loc[beyond.abs().idxmax()])
                                               if len(beyond) else float("nan"))})  # fmt: skip
    return pd.DataFrame(rows, columns=["variant", "beyond_spread", "compared", "largest_effect",
                                       "largest_beyond", "where",
                                       "largest_beyond_effect"])  # fmt: skip


def dead_unit_runs(frame: pd.DataFrame, *, width: int = 20) -> tuple[int, int]:
    """(runs with a dead unit, runs) at model-size ``width`` (final epoch): a dead unit is a
    bit constant over train and test together (``n_bits_kept`` below the run's width)."""
    f = frame[(frame["experiment"] == "model_size") & (frame["width"] == width)
              & (frame["metric"] == "n_bits_kept")]  # fmt: skip
    if "variant" in f.columns:
        f = f[f["variant"] == "default"]
    if "final" in f.columns:
        f = f[f["final"].astype(bool)]
    return int((f["value"] < width).sum()), int(len(f))


def _answers_twin(table: pd.DataFrame) -> list[str]:
    t = table[table["side"] != ""]
    if t.empty:
        return ["The twin's points have no paper value and ours beside them yet: no comparison."]
    counts = t["side"].value_counts()
    n = len(t)
    c = {k: int(counts.get(k, 0)) for k in ("ours", "paper", "both", "neither")}
    lead = max(("ours", "paper"), key=lambda k: c[k])
    other = "paper" if lead == "ours" else "ours"
    phrase = {"ours": ("**our** values", "the paper's"), "paper": ("**the paper's** values",
                                                                 "ours")}  # fmt: skip
    verdict = (f"the twin reproduces {phrase[lead][0]} more often than {phrase[lead][1]}"
               if c[lead] > c[other] else "the twin sides with ours and the paper equally often")
    gaps = (t["twin"] - t["paper"]).abs()
    w = t.loc[gaps.idxmax()]
    return [
        f"Of {n} points with a paper value and ours, the twin lies within tolerance of ours "
        f"only at {c['ours']}, of the paper only at {c['paper']}, of both at {c['both']} and "
        f"of neither at {c['neither']}: {verdict}.",
        f"The twin's largest gap to the paper: {_where(w)}, twin {fmt(w['twin'])} against the "
        f"paper's {fmt(w['paper'])} (ours {fmt(w['ours'])}).",
    ]


def _where(r: pd.Series) -> str:
    at = "final" if r["at"] == "final" else f"after epoch {r['at']}"
    n = f", n = {int(r['n_train'])}" if r["experiment"] == "sample_size" else ""
    return (f"{r['experiment'].replace('_', ' ')}, width {int(r['width'])}, depth "
            f"{int(r['depth'])}{n}, {at}, {LABELS.get(r['metric'], r['metric'])}")


def _answer_depth(d: dict[str, float]) -> list[str]:
    if np.isnan(d["twin_d5_e1"]) or np.isnan(d["twin_d1_e1"]):
        return ["The twin has no training-time runs at both depths yet: the depth-5 hypothesis "
                "is not tested in this build."]
    p = d["paper_e1"]
    tol5 = READING_UNCERTAINTY + 0.5 * (d["twin_hi_d5_e1"] - d["twin_lo_d5_e1"])
    reproduced = abs(d["twin_d5_e1"] - p) <= tol5
    rose = d["twin_d5_e1"] > d["twin_d5_e0"] + READING_UNCERTAINTY
    shape = ("rising from" if rose else "after") + f" {fmt(d['twin_d5_e0'])} at initialization"
    words = ("reproduces the paper's value after one epoch" if reproduced else
             "does not reach the paper's value after one epoch" if d["twin_d5_e1"] < p else
             "overshoots the paper's value after one epoch")
    out = [
        f"After one epoch at width 40 the twin's test RR is {fmt(d['twin_d5_e1'])} at depth 5 "
        f"(seeds {fmt(d['twin_lo_d5_e1'])}–{fmt(d['twin_hi_d5_e1'])}; {shape}) and "
        f"{fmt(d['twin_d1_e1'])} at depth 1 (seeds {fmt(d['twin_lo_d1_e1'])}–"
        f"{fmt(d['twin_hi_d1_e1'])}), against the paper's {fmt(p)}: depth 5 {words} "
        f"(tolerance ±{fmt(tol5)}).",
    ]
    if not rose:
        out.append("At depth 5 the test RR does not rise in the first epoch: the network of five "
                   "8-unit layers collides as much or more at initialization, so a high value "
                   "after epoch 1 is no spike there.")
    return out


def _answer_deviations(dev: pd.DataFrame | None, missing: str) -> list[str]:
    if dev is None:
        return [missing]
    if dev.empty:
        return ["The differential runs hold no toggled variant beside the default yet."]
    out = []
    for r in dev.itertuples():
        size = ("" if r.beyond_spread == 0 or r.largest_beyond
                else f" (the largest of those by {r.largest_beyond_effect:+.3f})")
        out.append(f"`{r.variant}` moves {r.beyond_spread} of {r.compared} compared numbers by "
                   f"more than the seed spread{size}; its largest effect is "
                   f"{r.largest_effect:+.3f} ({r.where}; "
                   f"{'beyond' if r.largest_beyond else 'within'} the spread).")
    movers = dev[dev["beyond_spread"] > 0]
    if movers.empty:
        out.append("Variants that move some number beyond the seed spread: none.")
    else:
        top = float(movers["largest_beyond_effect"].abs().max())
        out.append("Variants that move some number beyond the seed spread: "
                   + ", ".join(f"`{v}`" for v in movers["variant"])
                   + f"; none of those effects exceeds {top:.3f} in size.")
    return out


def _unexplained(table: pd.DataFrame) -> list[str]:
    t = table[table["side"].isin(["ours", "neither"])].copy()
    if t.empty:
        return ["At every compared point the twin agrees with the paper: nothing is left "
                "unexplained by the protocol."]
    t["gap"] = (t["twin"] - t["paper"]).abs()
    t = t.sort_values("gap", ascending=False).head(3)
    listed = "; ".join(f"{_where(r)} (paper {fmt(r['paper'])}, twin {fmt(r['twin'])}, ours "
                       f"{fmt(r['ours'])})" for _, r in t.iterrows())  # fmt: skip
    n = int(table["side"].isin(["ours", "neither"]).sum())
    return [f"At {n} points the original protocol run in Keras misses the paper too, so the gap "
            f"there is not in our port; the largest: {listed}."]


@dataclass
class Appendix(ChapterReport):
    """The appendix's :class:`ChapterReport` with its computed sentences by question
    (``twin``, ``depth``, ``deviations``, ``collapsed``, ``unexplained``, ``budget``)."""

    sections: dict[str, list[str]] = field(default_factory=dict)

    def say(self, *names: str) -> Any:
        """The sentences of the named sections as Markdown (one bullet each)."""
        from IPython.display import Markdown

        unknown = [n for n in names if n not in self.sections]
        if unknown:
            raise ValueError(f"unknown sections {unknown}; have {list(self.sections)}")
        lines = [line for n in names for line in self.sections[n] if line]
        return Markdown("\n".join(f"- {line}" for line in lines))


def report(twin: pd.DataFrame | None, *, differential: pd.DataFrame | None,
           standard: dict[str, pd.DataFrame], effects: pd.DataFrame | None = None,
           dataset: str = "mnist", missing_differential: str = "") -> ChapterReport:  # fmt: skip
    """The appendix's tables and computed statements. ``twin``: the twin's rows (None when
    none); ``differential``: ours.csv (None when absent); ``standard``: shipped standard frames
    by experiment (plus ``"phase_chart"`` for ours at the twin's budget); ``effects``:
    :func:`hashlib_nn.deviations.effects` of ``differential``."""
    out = Appendix("why_numbers_differ", dataset, "standard", None)
    if twin is None or twin.empty:
        out.sections = {"twin": ["No twin results: run `python -m hashlib_nn.twin run`."]}
        out.statements = list(out.sections["twin"])
        return out
    tw = twin_points(twin, dataset)
    ours = ours_points(differential, {k: v for k, v in standard.items() if k != "phase_chart"},
                       dataset)  # fmt: skip
    ms = twin[(twin["experiment"] == "model_size")]
    budget_epoch = int(ms["max_epochs"].max()) if len(ms) else 0
    budget = ours_at_budget(standard.get("phase_chart"), budget_epoch, dataset)
    table = comparison(tw, ours, paper_points(dataset), budget)
    out.tables["comparison"] = _display(table)
    spike = depth_spike(table)
    dev = deviation_table(effects) if effects is not None else None
    out.tables["deviations"] = (readable(dev[list(DEVIATION_NAMES)], DEVIATION_NAMES)
                                if dev is not None else pd.DataFrame())  # fmt: skip
    seeds = twin[(twin["experiment"] == "model_size") & (twin["width"] == 20) & twin["final"]
                 & twin["metric"].isin(["rr_train", "rr_test", "knn_sklearn_test",
                                        "n_bits_kept"])]  # fmt: skip
    out.tables["seeds_w20"] = (seeds.pivot_table(index="seed", columns="metric", values="value")
                               .reset_index().round(3))  # fmt: skip
    tw_dead = dead_unit_runs(twin)
    ours_dead = dead_unit_runs(differential) if differential is not None else (0, 0)
    out.sections = {
        "twin": _answers_twin(table),
        "depth": _answer_depth(spike),
        "deviations": _answer_deviations(dev, missing_differential),
        "collapsed": [f"Runs at width 20 with a dead unit (a bit constant over train and test): "
                      f"the twin {tw_dead[0]} of {tw_dead[1]}, ours {ours_dead[0]} of "
                      f"{ours_dead[1]}."],  # fmt: skip
        "unexplained": _unexplained(table),
        "budget": [_budget_text(twin, ours), _budget_effect(table)],
    }
    out.statements = [line for lines in out.sections.values() for line in lines if line]
    return out


def _budget_text(twin: pd.DataFrame, ours: pd.DataFrame) -> str:
    parts = []
    for experiment in ("model_size", "sample_size"):
        t = twin[(twin["experiment"] == experiment) & twin["final"]]
        if t.empty:
            continue
        runs = t.drop_duplicates(["width", "n_train", "seed"])
        stopped = int(runs["stopped_epoch"].notna().sum())
        o = ours[(ours["experiment"] == experiment) & ours["epochs"].notna()]
        ours_txt = (f"; our runs stopped after {fmt(o['epochs'].min())}–"
                    f"{fmt(o['epochs'].max())} epochs" if len(o) else "")  # fmt: skip
        parts.append(f"{experiment.replace('_', ' ')}: twin runs {len(runs)}, each of at most "
                     f"{int(runs['max_epochs'].max())} epochs, {stopped} ended by early "
                     f"stopping{ours_txt}")  # fmt: skip
    return ("Epoch budgets — " + "; ".join(parts) + ".") if parts else ""


def _budget_effect(table: pd.DataFrame) -> str:
    """How much the shorter budget matters for ours: our value at the twin's last epoch against
    our final value, beside our final value's distance to the paper (model size)."""
    t = table[(table["experiment"] == "model_size") & table["ours_budget"].notna()
              & table["ours"].notna()]  # fmt: skip
    if t.empty:
        return ""
    budget_gap = (t["ours_budget"] - t["ours"]).abs()
    w = t.loc[budget_gap.idxmax()]
    p = t[t["paper"].notna()]
    paper_gap = (p["ours"] - p["paper"]).abs()
    tail = ""
    if len(p):
        q = p.loc[paper_gap.idxmax()]
        tail = (f"; our final values lie up to {fmt(paper_gap.max())} from the paper's "
                f"({_where(q)})")
    return (f"At model size our values at the twin's last epoch differ from our final ones by at "
            f"most {fmt(budget_gap.max())} ({_where(w)}){tail}.")


def _display(table: pd.DataFrame) -> pd.DataFrame:
    t = table.copy()
    t["twin_seeds"] = [_seeds(a, b, n) for a, b, n in zip(t["twin_lo"], t["twin_hi"],
                                                           t["twin_n"], strict=True)]  # fmt: skip
    t["ours_seeds"] = [_seeds(a, b, n) for a, b, n in zip(t["ours_lo"], t["ours_hi"],
                                                           t["ours_n"], strict=True)]  # fmt: skip
    cols = ["experiment", "width", "depth", "n_train", "at", "metric", "paper", "twin",
            "twin_seeds", "ours", "ours_seeds", "ours_budget", "ours_source", "side",
            "side_basis"]
    t["experiment"] = t["experiment"].str.replace("_", " ")
    t["metric"] = t["metric"].map(lambda m: LABELS.get(m, m))
    return readable(t[cols], NAMES)


def appendix(twin: pd.DataFrame | None, *, dataset: str = "mnist") -> Appendix:
    """:func:`report` on the shipped inputs: the standard rows of the model-size,
    training-time, sample-size and phase-chart grids and, when present, the differential runs
    (``results/twin/ours.csv`` through :mod:`hashlib_nn.deviations`) and their effects. What
    is missing is said in the ``deviations`` section instead of failing."""
    from hashlib_nn import shipped

    standard = {e: shipped.load(e, "standard", dataset=dataset)
                for e in ("model_size", "training_time", "sample_size", "phase_chart")}  # fmt: skip
    differential = effects = None
    missing = ""
    try:
        from hashlib_nn import deviations
    except ImportError as err:
        missing = f"The deviation toggles are not measured in this build ({err})."
    else:
        try:
            differential = deviations.load_ours()
        except FileNotFoundError:
            missing = (f"The differential runs of our trainer ({deviations.OURS_CSV.name}) are "
                       "not in this build: the deviations' effects are not measured here.")
        else:
            effects = deviations.effects(differential, metrics=METRICS)
    return report(twin, differential=differential, standard=standard, effects=effects,
                  dataset=dataset, missing_differential=missing)
