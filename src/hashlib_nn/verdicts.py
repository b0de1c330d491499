"""Verdicts that can fail: the gap to the paper measured in size, not only in direction.

Every claim of the book (protocol.md, "Claims") is judged by a rule built from the pieces here
(style.md, "Verdicts"):

- :class:`Verdict`: a claim, its status, the evidence in words, the numbers, the **basis** it
  rests on (data set, preset, epochs, seeds) and its **largest gap** to the paper.
- :func:`point_table`: our curve beside the paper's digitized points, each with a tolerance

  .. math:: \\mathrm{tol}_i = u + \\tfrac12 (\\mathrm{hi}_i - \\mathrm{lo}_i)

  where :math:`u` = 0.02 is the figures' reading uncertainty (``reference/paper_figures.csv``)
  and :math:`\\mathrm{hi}_i - \\mathrm{lo}_i` the range of our seeds at that point (0 with one
  seed), so a point is *within* when :math:`|\\mathrm{ours}_i - \\mathrm{paper}_i| \\le
  \\mathrm{tol}_i`.
- :func:`gap_status`, the one status ladder every rule uses:

  * **reproduced**: most shared points (more than half) lie within tolerance, the direction
    holds and, where the claim is about an effect (a spike, a drop, a slope), ours is at least
    half the paper's size;
  * **partly reproduced**: the direction holds but not the size;
  * **not reproduced**: everything else;
  * **not comparable**: the paper gives no values to compare with (the direction alone never
    passes);
  * **not tested**: the results cannot decide (too few points, or a run too short or too small
    for the claim: :func:`adequacy`).
- :func:`with_controls`: the same rule applied to the controls (the untrained network and a
  random-projection hash of the input); a claim that a control satisfies equally is reported as
  "holds, but not because of training".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from hashlib_nn.reference import READING_UNCERTAINTY

__all__ = [
    "MOST",
    "MIN_DIRECTION_RATIO",
    "MIN_EFFECT_RATIO",
    "STATUSES",
    "Basis",
    "Verdict",
    "adequacy",
    "basis_of",
    "effect_ratio",
    "fmt",
    "judge",
    "gap_status",
    "largest_gap",
    "ladder",
    "not_tested",
    "point_table",
    "share_text",
    "tolerance",
    "with_controls",
]

STATUSES = ("reproduced", "partly reproduced", "not reproduced", "not comparable", "not tested")
#: "most shared points": strictly more than this share must lie within tolerance.
MOST = 0.5
#: an effect (spike, drop, slope) must reach at least this fraction of the paper's.
MIN_EFFECT_RATIO = 0.5
#: below this fraction of the paper's effect the direction does not count as holding (an effect a
#: tenth of the paper's is not the paper's effect in a smaller dose): :func:`judge`.
MIN_DIRECTION_RATIO = 0.2

_LABELS = {
    "reproduced": "REPRODUCED",
    "partly reproduced": "PARTLY REPRODUCED",
    "not reproduced": "NOT REPRODUCED",
    "not comparable": "NOT COMPARABLE",
    "not tested": "NOT TESTED",
}


def _plain(value: object) -> object:
    """A numpy scalar as the Python scalar it holds (no ``np.int64(16)`` in prose)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def fmt(value: object) -> str:
    """A number for prose: integers without a decimal point, floats to 3 significant places."""
    value = _plain(value)
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if np.isnan(value):
            return "n/a"
        if value.is_integer() and abs(value) < 1e6:
            return str(int(value))
        return f"{value:.3g}" if abs(value) < 1 else f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt(v) for v in value)
    return str(value)


@dataclass(frozen=True)
class Basis:
    """What a verdict rests on: the data set, the preset, the epochs trained and the seeds."""

    dataset: str
    preset: str | None = None  # the preset the runs came from (None: not recorded)
    epochs: int | None = None  # the most epochs any run trained (after early stopping)
    max_epochs: int | None = None  # the epoch budget of the runs (the preset's)
    seeds: int | None = None  # the fewest seeds behind one point of the curve

    def __str__(self) -> str:
        parts = [self.dataset]
        parts.append(f"{self.preset} preset" if self.preset else "preset not recorded")
        if self.max_epochs is not None:
            parts.append(f"at most {self.max_epochs} epochs")
        if self.epochs is not None:
            parts.append(f"{self.epochs} trained at most")
        if self.seeds is not None:
            parts.append(f"{self.seeds} seed{'s' if self.seeds != 1 else ''}")
        return ", ".join(parts)


def basis_of(frame: pd.DataFrame, *, dataset: str | None = None,
             preset: str | None = None) -> Basis:
    """The :class:`Basis` of a tidy result frame (one row per run x checkpoint x metric).

    ``preset`` overrides the frame's ``preset`` column; ``epochs`` is the largest ``epochs_run``
    (or ``epoch`` when the frame has no ``epochs_run``), ``max_epochs`` the largest
    ``max_epochs``, ``seeds`` the fewest distinct seeds of any configuration (rows grouped by
    every configuration column present among ``width, n_train, label_noise, weight_decay,
    batchnorm, dropout``).
    """
    if dataset is None:
        values = sorted(frame["dataset"].astype(str).unique()) if "dataset" in frame else []
        dataset = "/".join(values) if values else "unknown data set"
    if preset is None and "preset" in frame and len(frame):
        values = sorted(frame["preset"].dropna().astype(str).unique())
        preset = "/".join(values) if values else None
    epochs = max_epochs = seeds = None
    if len(frame):
        col = "epochs_run" if "epochs_run" in frame else "epoch" if "epoch" in frame else None
        if col is not None:
            epochs = int(pd.to_numeric(frame[col]).max())
        if "max_epochs" in frame:
            max_epochs = int(pd.to_numeric(frame["max_epochs"]).max())
        if "seed" in frame:
            keys = [c for c in ("width", "n_train", "label_noise", "weight_decay", "batchnorm",
                                "dropout") if c in frame]
            if keys:
                seeds = int(frame.groupby(keys, dropna=False)["seed"].nunique().min())
            else:
                seeds = int(frame["seed"].nunique())
    return Basis(dataset=dataset, preset=preset, epochs=epochs, max_epochs=max_epochs,
                 seeds=seeds)


def adequacy(basis: Basis | None, *, min_epochs: int | None = None,
             min_seeds: int | None = None) -> str | None:
    """Why the runs are too short or too small for a claim, or None when they suffice.

    A rule calls this first and returns *not tested at this preset* with the reason, rather
    than a verdict on runs that cannot decide it (e.g. a 2-epoch, 1-seed smoke run).
    """
    if basis is None:
        return None
    reasons = []
    trained = basis.max_epochs if basis.max_epochs is not None else basis.epochs
    if min_epochs is not None and trained is not None and trained < min_epochs:
        reasons.append(f"the runs train for at most {trained} epochs; the claim needs "
                       f"{min_epochs} or more")
    if min_seeds is not None and basis.seeds is not None and basis.seeds < min_seeds:
        reasons.append(f"{basis.seeds} seed(s) per point; the claim needs {min_seeds} or more")
    return "; ".join(reasons) or None


@dataclass(frozen=True)
class Verdict:
    """A claim, the status the numbers give it, and the numbers themselves.

    ``basis`` says what the verdict rests on (:class:`Basis`, in words) and ``largest_gap``
    where our numbers are furthest from the paper's and by how much ("" when not compared).
    ``controls`` holds the statuses the same rule gives the controls (name -> status).
    """

    claim: str
    status: str
    evidence: str
    numbers: dict[str, float] = field(default_factory=dict)
    basis: str = ""
    largest_gap: str = ""
    controls: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}; got {self.status!r}")
        object.__setattr__(self, "numbers",
                           {str(k): _plain(v) for k, v in self.numbers.items()})

    @property
    def label(self) -> str:
        """The status in capitals, as the book prints it (no emoji: fonts may lack them)."""
        return _LABELS[self.status]

    def text(self) -> str:
        """The verdict in one paragraph: status, claim, evidence, largest gap, controls, basis."""
        parts = [f"{self.label}. {self.claim} {self.evidence}".strip()]
        if self.largest_gap:
            parts.append(f"Largest gap: {self.largest_gap}.")
        if self.controls:
            parts.append("Controls: " + "; ".join(f"{k}: {v}" for k, v in self.controls.items())
                         + ".")
        if self.basis:
            parts.append(f"Basis: {self.basis}.")
        return " ".join(parts)

    def _repr_markdown_(self) -> str:
        body = f"**{self.label}.** *{self.claim}* {self.evidence}"
        if self.largest_gap:
            body += f" **Largest gap:** {self.largest_gap}."
        if self.controls:
            body += " **Controls:** " + "; ".join(f"{k}: {v}" for k, v in self.controls.items())
            body += "."
        if self.basis:
            body += f" *Basis: {self.basis}.*"
        return body

    def __str__(self) -> str:
        return f"[{self.status}] {self.text()}"


def ladder(*, reproduced: bool, partly: bool) -> str:
    """The status ladder in one place: *reproduced* if ``reproduced``, else *partly
    reproduced* if ``partly``, else *not reproduced*."""
    if reproduced:
        return "reproduced"
    return "partly reproduced" if partly else "not reproduced"


def tolerance(lo: float | np.ndarray, hi: float | np.ndarray, *,
              reading: float = READING_UNCERTAINTY) -> float | np.ndarray:
    """The tolerance of a point: the reading uncertainty plus half our seed range there."""
    spread = np.nan_to_num(np.asarray(hi, dtype=float) - np.asarray(lo, dtype=float))
    out = reading + 0.5 * np.abs(spread)
    return float(out) if np.ndim(out) == 0 else out


def point_table(ours: pd.DataFrame, paper: pd.DataFrame, *, on: Sequence[str],
                reading: float = READING_UNCERTAINTY) -> pd.DataFrame:
    """Our aggregated curve beside the paper's points at every point both have.

    ``ours``: columns ``*on, mean`` and optionally ``lo, hi`` (the seed range, from
    :func:`hashlib_nn.analysis.aggregate`); ``paper``: columns ``*on, value``. Returns
    ``*on, ours, lo, hi, paper, diff, tolerance, within`` sorted by ``on``; ``diff`` = ours −
    paper, ``tolerance`` from :func:`tolerance`, ``within`` = |diff| ≤ tolerance.
    """
    on = list(on)
    for name, frame, cols in (("ours", ours, [*on, "mean"]), ("paper", paper, [*on, "value"])):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ValueError(f"{name} lacks columns {missing}; has {list(frame.columns)}")
    left = ours[on + ["mean"]].rename(columns={"mean": "ours"}).copy()
    left["lo"] = ours["lo"].to_numpy() if "lo" in ours else left["ours"]
    left["hi"] = ours["hi"].to_numpy() if "hi" in ours else left["ours"]
    right = paper[on + ["value"]].rename(columns={"value": "paper"})
    for c in on:  # merge numeric keys as float so 20 and 20.0 meet
        if pd.api.types.is_numeric_dtype(left[c]) and pd.api.types.is_numeric_dtype(right[c]):
            left[c] = left[c].astype(float)
            right = right.assign(**{c: right[c].astype(float)})
    merged = left.merge(right, on=on, how="inner")
    merged["diff"] = merged["ours"] - merged["paper"]
    merged["tolerance"] = tolerance(merged["lo"].to_numpy(), merged["hi"].to_numpy(),
                                    reading=reading)
    merged["within"] = merged["diff"].abs() <= merged["tolerance"] + 1e-12
    return merged.sort_values(on).reset_index(drop=True)


def largest_gap(table: pd.DataFrame, *, x: str, by: Sequence[str] = ()) -> str:
    """Where a :func:`point_table` is furthest from the paper, in words ("" when empty)."""
    if table.empty:
        return ""
    worst = table.loc[table["diff"].abs().idxmax()]
    where = f"{x} {fmt(worst[x])}"
    if by:
        where += " (" + ", ".join(f"{b} {fmt(worst[b])}" for b in by) + ")"
    return (f"at {where}, ours {worst['ours']:.3f} against the paper's {worst['paper']:.3f} "
            f"({worst['diff']:+.3f}; tolerance ±{worst['tolerance']:.3f})")


def effect_ratio(ours: float, paper: float) -> float:
    """Our effect as a fraction of the paper's (signed: negative when it goes the other way).
    NaN when the paper's effect is 0 or either value is missing."""
    if paper == 0 or np.isnan(paper) or np.isnan(ours):
        return float("nan")
    return float(ours / paper)


def gap_status(table: pd.DataFrame | None, *, direction: bool,
               effect: float | None = None, most: float = MOST,
               min_effect: float = MIN_EFFECT_RATIO) -> str:
    """The status from a :func:`point_table` (or None when the paper has no points), whether
    the claimed direction holds, and the effect ratio (None when the claim is not about an
    effect). See the module docstring for the ladder."""
    if table is None or table.empty:
        return "not comparable"
    share = float(table["within"].mean())
    size_ok = share > most and (effect is None or (not np.isnan(effect) and effect >= min_effect))
    return ladder(reproduced=bool(direction and size_ok), partly=bool(direction))


def share_text(table: pd.DataFrame) -> str:
    """"k of n shared points within tolerance" for a :func:`point_table`."""
    return (f"{int(table['within'].sum())} of {len(table)} shared points lie within tolerance "
            f"(reading uncertainty ±{READING_UNCERTAINTY} plus half the seed range)")


def with_controls(verdict: Verdict, controls: Mapping[str, Verdict], *,
                  about_training: bool) -> Verdict:
    """``verdict`` with the statuses the same rule gives each control.

    ``controls`` maps a control's name ("untrained network", "random projection (SimHash)") to
    its verdict under the same rule. When ``about_training`` (the claim is about what training
    does) a control that is *reproduced* as well makes the trained verdict *not reproduced*:
    the effect is not training's. Otherwise (e.g. determinism, a property an untrained network
    may share) the status stays and the evidence says "holds, but not because of training".
    """
    statuses = {name: v.status for name, v in controls.items()}
    equal = [name for name, v in controls.items() if v.status == "reproduced"]
    evidence = verdict.evidence
    status = verdict.status
    verb = "satisfies" if len(equal) == 1 else "satisfy"
    if equal and verdict.status in ("reproduced", "partly reproduced"):
        if about_training:
            status = "not reproduced"
            evidence += (f" The {' and the '.join(equal)} {verb} the same rule, so training "
                         "is not what the numbers show.")
        else:
            evidence += (f" Holds, but not because of training: the {' and the '.join(equal)} "
                         f"{verb} the same rule.")
    return replace(verdict, status=status, evidence=evidence, controls=statuses)


def judge(claim: str, table: pd.DataFrame | None, *, direction: bool, direction_text: str,
          x: str, by: Sequence[str] = (), effect: float | None = None, effect_text: str = "",
          dataset: str = "", numbers: Mapping[str, float] | None = None,
          basis: Basis | None = None, direction_failure: str = "") -> Verdict:
    """The verdict of a rule from its :func:`point_table`, its direction and its effect ratio.

    ``direction``: whether the claimed direction holds in our numbers (``direction_text`` says
    what was checked, in words). ``effect``: our effect as a fraction of the paper's
    (:func:`effect_ratio`; None when the claim is not about an effect). The direction counts as
    holding only when ``direction`` is true and the effect, where there is one, reaches
    :data:`MIN_DIRECTION_RATIO` (a fifth) of the paper's; then :func:`gap_status` decides.
    ``table`` None or empty: *not comparable* (the paper has no values; the direction alone
    never passes). The evidence names the shared points within tolerance, the effect, and for
    *partly* or *not reproduced* which criterion failed (``direction_failure``: what failed in
    the direction, in words, when it fails); ``largest_gap`` says where ours is
    furthest from the paper's (:func:`largest_gap`).
    """
    numbers = dict(numbers or {})
    if effect is not None:
        numbers["effect_ratio"] = effect
    sentences = [direction_text.strip()]
    if effect_text:
        sentences.append(effect_text.strip())
    if table is None or table.empty:
        where = f" for {dataset}" if dataset else ""
        sentences.append(f"The paper gives no values{where} at the points we ran, so there is "
                         "nothing to measure the gap against; the direction alone does not "
                         "decide.")
        return Verdict(claim, "not comparable", " ".join(sentences), numbers,
                       basis=str(basis) if basis else "")
    dir_ok = bool(direction) and (effect is None or (not np.isnan(effect)
                                                     and effect >= MIN_DIRECTION_RATIO))
    status = gap_status(table, direction=dir_ok, effect=effect)
    within, shared = int(table["within"].sum()), len(table)
    numbers.update({"points_within": within, "points_shared": shared,
                    "largest_gap": float(table["diff"].abs().max())})
    sentences.append(share_text(table) + ".")
    failed = []
    if not direction:
        failed.append(f"the claimed direction does not hold ({direction_failure})"
                      if direction_failure else "the claimed direction does not hold")
    elif effect is not None and (np.isnan(effect) or effect < MIN_DIRECTION_RATIO):
        failed.append(f"the effect is {_ratio_text(effect)} the paper's, below the "
                      f"{MIN_DIRECTION_RATIO:g} that counts as the same direction")
    elif status != "reproduced":
        if within / shared <= MOST:
            failed.append(f"only {within} of {shared} shared points lie within tolerance "
                          "(more than half must)")
        if effect is not None and effect < MIN_EFFECT_RATIO:
            failed.append(f"the effect is {_ratio_text(effect)} the paper's (at least "
                          f"{MIN_EFFECT_RATIO:g} needed)")
    if failed:
        lead = "Partly: the direction holds, but " if status == "partly reproduced" else \
            "Not reproduced: "
        sentences.append(lead + "; ".join(failed) + ".")
    return Verdict(claim, status, " ".join(sentences), numbers,
                   basis=str(basis) if basis else "",
                   largest_gap=largest_gap(table, x=x, by=by))


def _ratio_text(ratio: float) -> str:
    return "not measurable against" if np.isnan(ratio) else f"{fmt(ratio)} times"


def not_tested(claim: str, reason: str, *, basis: Basis | None = None,
               preset_reason: bool = False) -> Verdict:
    """A *not tested* verdict: ``reason`` in words; with ``preset_reason`` (the runs are too
    short or too small: :func:`adequacy`) it reads "not tested at this preset"."""
    lead = "Not tested at this preset: " if preset_reason else "Not tested: "
    return Verdict(claim, "not tested", lead + reason.rstrip(".") + ".",
                   basis=str(basis) if basis else "")
