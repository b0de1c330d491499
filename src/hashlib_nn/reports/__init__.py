"""One report per chapter: the chapter's tables, charts, verdicts and computed sentences.

A chapter holds prose, calls and display only. Its analysis lives in ``reports/<chapter>.py`` as
one function ``report(frame, *, dataset, preset, ...) -> ChapterReport``, tested on hand-built
frames, which the chapter calls once for its own runs (the parameters' preset) and once for the
shipped faithful-protocol (``standard``) rows (:mod:`hashlib_nn.shipped`). Every sentence that
states a number or a direction about results is produced here from the data (``statements``),
so prose cannot drift from the numbers on either preset.

The shipped section of a chapter shows its own data set and, below it, every other data set of
the ``standard`` preset (:func:`other_datasets`: Fashion-MNIST beside MNIST), each through the
same report: each chapter's module has ``shipped_reports(datasets)``, which loads the shipped
rows (and whatever else its report needs) per data set with :func:`load_shipped_reports`, and
returns a :class:`ShippedReports` the chapter only displays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from hashlib_nn.analysis import METRIC_LABELS
from hashlib_nn.verdicts import Basis, Verdict

__all__ = ["ChapterReport", "ShippedReports", "load_shipped_reports", "other_datasets", "readable",
           "readable_style", "shipped_controls", "shipped_datasets", "shipped_reports_function",
           "shipped_yardsticks"]  # fmt: skip


def readable(table: pd.DataFrame, names: dict[str, str] | None = None) -> pd.DataFrame:
    """``table`` for display: index dropped, columns renamed by ``names`` (and the metric labels
    of :data:`hashlib_nn.claims.METRIC_LABELS` where a column is a metric name), numbers rounded
    to 3 decimals."""
    names = {**METRIC_LABELS, **(names or {})}
    out = table.reset_index(drop=True).rename(columns=lambda c: names.get(str(c), str(c)))
    if "metric" in table.columns or "Metric" in out.columns:
        col = "metric" if "metric" in out.columns else "Metric"
        out[col] = out[col].map(lambda m: METRIC_LABELS.get(str(m), m))
    return out.round(3)


#: How a table in the book shows a missing value.
MISSING = "—"


def readable_style(table: pd.DataFrame | pd.Series, names: dict[str, str] | None = None,
                   precision: int | None = 3) -> Any:
    """``table`` as the book shows it: a pandas ``Styler`` without the index, with readable
    column headers and floats to ``precision`` digits (``None``: pandas' default).

    A default ``RangeIndex`` is dropped; any other index (widths, names) becomes leading
    columns. Headers are relabelled only for display (the data keep their names): ``names``,
    then the metric labels of :data:`hashlib_nn.claims.METRIC_LABELS`, else underscores as
    spaces (``n_distinct_train`` -> "n distinct train"). A missing value (NaN, None) shows as
    an em dash, not "nan".

    >>> readable_style(pd.DataFrame({"rr_test": [0.12345], "n_bits": [10]})).to_html().count(
    ...     "RR (test)")
    1
    >>> html = readable_style(pd.DataFrame({"paper": [0.5, None], "ours": [0.25, 0.75]})).to_html()
    >>> "nan" in html, html.count(">—<")
    (False, 1)
    """
    frame = table.to_frame() if isinstance(table, pd.Series) else table
    default_index = isinstance(frame.index, pd.RangeIndex) and frame.index.name is None
    frame = frame.reset_index(drop=default_index)
    labels = {**METRIC_LABELS, **(names or {})}

    def label(column: Any) -> str:
        text = str(column)
        return labels.get(text, text.replace("_", " "))

    style = frame.style.hide(axis="index").format_index(label, axis=1)
    return style.format(precision=precision, na_rep=MISSING)


@dataclass
class ChapterReport:
    """What a chapter shows for one set of runs (its own, or the shipped ``standard`` rows)."""

    chapter: str  # the chapter's file name without .md, e.g. "model_size"
    dataset: str
    preset: str
    basis: Basis | None  # what the numbers rest on (data set, preset, epochs, seeds)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # display-ready tables
    charts: dict[str, Any] = field(default_factory=dict)  # altair charts, titled with the preset
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    statements: list[str] = field(default_factory=list)  # computed sentences for the prose

    @property
    def empty(self) -> bool:
        return not (self.tables or self.charts or self.verdicts or self.statements)

    def show(self) -> None:
        """Display everything in order (statements, charts, tables, verdicts) in a notebook."""
        from IPython.display import Markdown, display

        if self.statements:
            display(Markdown("\n".join(f"- {s}" for s in self.statements)))
        for chart in self.charts.values():
            display(chart)
        for table in self.tables.values():
            display(readable_style(table) if isinstance(table, (pd.DataFrame, pd.Series))
                    else table)
        for verdict in self.verdicts.values():
            display(verdict)


def other_datasets(dataset: str, preset: str = "standard") -> list[str]:
    """The data sets of ``preset`` other than ``dataset``, in the preset's order: those a
    chapter's shipped section shows beside its own (``standard``: Fashion-MNIST beside MNIST).

    >>> other_datasets("mnist")
    ['fashion-mnist']
    >>> other_datasets("cifar10")
    ['mnist', 'fashion-mnist']
    """
    from hashlib_nn.experiments.presets import PRESETS

    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
    return [d for d in PRESETS[preset].datasets if d != dataset]


def shipped_datasets(datasets: str | Sequence[str] | None, preset: str = "standard") -> list[str]:
    """The data sets a chapter's shipped section shows, in order: the chapter's own
    (``datasets``; None: every data set of ``preset``), then the other data sets of
    ``preset`` (:func:`other_datasets`).

    >>> shipped_datasets(None)
    ['mnist', 'fashion-mnist']
    >>> shipped_datasets(("fashion-mnist",))
    ['fashion-mnist', 'mnist']
    """
    own = [] if datasets is None else [datasets] if isinstance(datasets, str) else list(datasets)
    others = [d for d in other_datasets("", preset) if d not in own]  # "": no data set's name
    return list(dict.fromkeys([*own, *others]))


@dataclass
class ShippedReports:
    """A chapter's report on the shipped results of some data sets, one per data set shipped.

    ``lines`` holds, for every data set asked for, the lines of
    :func:`hashlib_nn.shipped.summary` (coverage, machine, versions; a single line when nothing
    is shipped) and the basis of its report; ``reports`` the data sets with shipped rows only.
    """

    chapter: str
    preset: str
    lines: dict[str, list[str]] = field(default_factory=dict)  # data set -> summary lines
    reports: dict[str, ChapterReport] = field(default_factory=dict)  # data sets shipped only

    @property
    def datasets(self) -> list[str]:
        """The data sets asked for, shipped or not."""
        return list(self.lines)

    @property
    def empty(self) -> bool:
        """Nothing shipped for any of the data sets: nothing to draw."""
        return not self.reports

    def summary(self) -> str:
        """The coverage lines of every data set, one paragraph each ("" when none was asked)."""
        return "\n\n".join("\n".join(lines) for lines in self.lines.values())

    def chart(self, key: str) -> Any:
        """The chart ``key`` of every shipped data set's report, one below the other (each
        titled with its data set and preset); the chart itself when one data set has it, None
        when none has (a figure cell then draws nothing)."""
        import altair as alt

        found = [r.charts[key] for r in self.reports.values() if r.charts.get(key) is not None]
        if not found:
            return None
        return found[0] if len(found) == 1 else alt.vconcat(*found)

    def show_statements(self) -> None:
        """Display each shipped data set's computed statements, under its name."""
        from IPython.display import Markdown, display

        for dataset, report in self.reports.items():
            display(Markdown(f"**{dataset}, {self.preset} preset:**\n\n"
                             + "\n".join(f"- {s}" for s in report.statements)))

    def show_tables_and_verdicts(self) -> None:
        """Display, under each shipped data set's name, its tables (those with rows: an empty
        table, such as the paper's points for a data set the paper has none for, is left out),
        then its verdicts."""
        from IPython.display import Markdown, display

        for dataset, report in self.reports.items():
            display(Markdown(f"**{dataset}, {self.preset} preset: tables and verdicts**"))
            for table in report.tables.values():
                if isinstance(table, (pd.DataFrame, pd.Series)):
                    if len(table):
                        display(readable_style(table))
                else:
                    display(table)
            for verdict in report.verdicts.values():
                display(verdict)


def load_shipped_reports(
    chapter: str,
    datasets: str | Sequence[str],
    build: Callable[[pd.DataFrame, str], ChapterReport],
    *,
    preset: str = "standard",
    root: Any = None,
    protocol: str | None = None,
) -> ShippedReports:
    """Each of ``datasets``' shipped ``preset`` rows of ``chapter``
    (:func:`hashlib_nn.shipped.load`, from ``root``; None: the package's; ``protocol``: the
    grid of that MLP protocol, shipped apart, e.g. "cifar-mlp", the depth-5 grid) through
    ``build(rows, dataset)``, the chapter's report. A data set with no shipped rows gets the
    single line of :func:`hashlib_nn.shipped.summary` saying so, and no report."""
    from hashlib_nn import shipped

    names = [datasets] if isinstance(datasets, str) else list(datasets)
    out = ShippedReports(chapter, preset)
    if not names:
        return out
    frame = shipped.load(chapter, preset, dataset=names, root=root, protocol=protocol)
    for dataset in names:
        rows = frame[frame["dataset"] == dataset].reset_index(drop=True)
        out.lines[dataset] = shipped.summary(chapter, rows, preset=preset, dataset=dataset,
                                             root=root, protocol=protocol)  # fmt: skip
        if len(rows):
            report = build(rows, dataset)
            out.reports[dataset] = report
            out.lines[dataset].append(f"Basis of the {dataset} report: {report.basis}.")
    return out


#: ``needs(dataset, preset, root) -> keyword arguments``: what a chapter's report takes beside
#: its rows, loaded from the shipped results of the same data set.
Needs = Callable[[str, str, Any], dict[str, Any]]


def shipped_controls(dataset: str, preset: str, root: Any) -> dict[str, Any]:
    """``controls=``: the shipped controls of ``dataset``'s model-size grid
    (:func:`hashlib_nn.controls.load_shipped`), for the reports that judge the trained network
    beside them (*Determinism*, *Categorization*)."""
    from hashlib_nn.controls import load_shipped

    return {"controls": load_shipped(preset, dataset=dataset, root=root)}


def shipped_yardsticks(dataset: str, preset: str, root: Any) -> dict[str, Any]:
    """``yardsticks=``: the shipped dominant-factor grids of ``dataset`` (*Model size*,
    *Training time*, *Sample size*), which the factor chapters measure their effect against
    (:mod:`hashlib_nn.factors`)."""
    from hashlib_nn import shipped
    from hashlib_nn.factors import DOMINANT_FACTORS

    return {"yardsticks": {chapter: shipped.load(chapter, preset, dataset=dataset, root=root)
                           for chapter in DOMINANT_FACTORS}}  # fmt: skip


def shipped_reports_function(
    chapter: str, report: Callable[..., ChapterReport], needs: Needs | None = None
) -> Callable[..., ShippedReports]:
    """The ``shipped_reports(datasets, *, preset="standard", root=None, protocol=None)`` of
    ``chapter``'s module: :func:`load_shipped_reports` with ``report(rows, dataset=, preset=,
    **needs(...))`` as the build, ``needs`` (e.g. :func:`shipped_controls`) loading what the
    report takes beside its rows from the same data set's shipped results (from ``root``;
    None: the package's)."""

    def shipped_reports(
        datasets: str | Sequence[str],
        *,
        preset: str = "standard",
        root: Any = None,
        protocol: str | None = None,
    ) -> ShippedReports:
        def build(rows: pd.DataFrame, dataset: str) -> ChapterReport:
            extra = needs(dataset, preset, root) if needs is not None else {}
            return report(rows, dataset=dataset, preset=preset, **extra)

        return load_shipped_reports(chapter, datasets, build, preset=preset, root=root,
                                    protocol=protocol)  # fmt: skip

    shipped_reports.__module__ = report.__module__
    shipped_reports.__qualname__ = "shipped_reports"
    extra = f" beside {needs.__name__.removeprefix('shipped_')} ({needs.__name__})" if needs else ""
    shipped_reports.__doc__ = (
        f":func:`report` on the shipped ``preset`` rows of each of ``datasets``{extra}, one "
        "report per data set shipped (from ``root``; None: the package's; ``protocol``: the "
        "grid of that MLP protocol, shipped apart), and for every data set the lines saying "
        "what is shipped (:func:`hashlib_nn.reports.load_shipped_reports`).")
    return shipped_reports
