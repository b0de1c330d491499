"""The CNN chapter's computed sentences (hashlib_nn.reports.cnn) on hand-built runs."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from hashlib_nn.reports import cnn


def _run(model: str, at0: dict[str, float], last: dict[str, float]) -> SimpleNamespace:
    cps = {0: SimpleNamespace(metrics=at0), 4: SimpleNamespace(metrics=last)}
    return SimpleNamespace(config=SimpleNamespace(model=model), at=lambda e: cps[e],
                           final=cps[4])  # fmt: skip


def test_untrained_statement_follows_the_numbers() -> None:
    unique = {"rr_train": 0.0, "rr_test": 0.0, "knn_test": 0.8}
    colliding = {"rr_train": 0.2, "rr_test": 0.0, "knn_test": 0.8}
    text = cnn.untrained_statement([_run("a", unique, unique), _run("b", unique, unique)])
    assert text.startswith("Untrained (epoch 0), 2 of 2 CNN(s)") and "trivially" in text
    text = cnn.untrained_statement([_run("a", colliding, unique)])
    assert "0 of 1 CNN(s)" in text and "after training, 1 of 1 do" in text
    assert "trivially" not in text
    assert cnn.untrained_statement([]) == "No CNN runs."


def test_knn_statement_compares_with_pixels_and_chance() -> None:
    run = _run("resnet8", {"knn_test": 0.80, "rr_train": 0, "rr_test": 0}, {})
    assert "about as well as raw pixels (0.800 vs 0.790)" in cnn.knn_statement([run], [0.79])
    assert "better than raw pixels" in cnn.knn_statement([run], [0.70])
    assert "worse than raw pixels" in cnn.knn_statement([run], [0.90])
    low = _run("r", {"knn_test": 0.05, "rr_train": 0, "rr_test": 0}, {})
    assert "not above chance" in cnn.knn_statement([low], [0.9])
    with pytest.raises(ValueError, match=r"pixels must have one value per run \(1\); got 2"):
        cnn.knn_statement([run], [0.1, 0.2])
