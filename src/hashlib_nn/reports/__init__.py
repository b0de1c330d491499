"""One report per chapter: the chapter's tables, charts, verdicts and computed sentences.

A chapter holds prose, calls and display only. Its analysis lives in ``reports/<chapter>.py`` as
one function ``report(frame, *, dataset, preset, ...) -> ChapterReport``, tested on hand-built
frames, which the chapter calls once for its own runs (the parameters' preset) and once for the
shipped faithful-protocol (``standard``) rows (:mod:`hashlib_nn.shipped`). Every sentence that
states a number or a direction about results is produced here from the data (``statements``),
so prose cannot drift from the numbers on either preset.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from hashlib_nn.analysis import METRIC_LABELS
from hashlib_nn.verdicts import Basis, Verdict

__all__ = ["ChapterReport", "readable", "readable_style"]


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
