from __future__ import annotations

from pathlib import Path

import pytest

from hashlib_nn.reference import paper_values

SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference" / "paper_figures.csv"
OURS = Path(__file__).resolve().parents[1] / "src/hashlib_nn/reference/paper_figures.csv"


def test_copy_is_identical_to_the_shared_original() -> None:
    if not SHARED.exists():
        pytest.skip(f"shared original not present at {SHARED}")
    assert OURS.read_bytes() == SHARED.read_bytes()


def test_known_values() -> None:
    rr = paper_values("model_size", "mnist", "rr", "train")
    assert rr.set_index("x").loc[10, "value"] == 0.99
    knn = paper_values("model_size", "mnist", "knn", "test")
    assert knn.set_index("x").loc[100, "value"] == 0.95
    final = paper_values("training_time", "mnist", "rr", "test")
    assert (final["x_label"] == "final").sum() == 3


def test_unknown_filter_names_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'svhn'; the paper's figures have"):
        paper_values(dataset="svhn")
