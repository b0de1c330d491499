"""The paper's published numbers, read off its figures (see ``README.md`` beside this file).

``paper_values()`` returns the digitized values as a tidy DataFrame with columns
``experiment, dataset, metric, split, width, x, value`` (``x`` is the swept quantity: width,
epoch or sample size; the string ``"final"`` in the training-time rows is kept in ``x_label`` and
``x`` is NaN there). Reading uncertainty: about ±0.02.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import pandas as pd

__all__ = ["READING_UNCERTAINTY", "paper_values"]

READING_UNCERTAINTY = 0.02  # stated with the digitized values


@lru_cache(maxsize=1)
def _load() -> pd.DataFrame:
    with resources.files(__package__).joinpath("paper_figures.csv").open() as fh:
        df = pd.read_csv(fh, comment="#")
    df["x_label"] = df["x"].astype(str)
    df["x"] = pd.to_numeric(df["x"], errors="coerce")
    df["width"] = pd.to_numeric(df["width"], errors="coerce")
    return df


def paper_values(experiment: str | None = None, dataset: str | None = None,
                 metric: str | None = None, split: str | None = None) -> pd.DataFrame:
    """The paper's values, optionally filtered; raises on unknown filter values."""
    df = _load()
    for column, value in (("experiment", experiment), ("dataset", dataset),
                          ("metric", metric), ("split", split)):
        if value is None:
            continue
        known = sorted(df[column].unique())
        if value not in known:
            raise ValueError(f"unknown {column} {value!r}; the paper's figures have {known}")
        df = df[df[column] == value]
    return df.reset_index(drop=True).copy()
