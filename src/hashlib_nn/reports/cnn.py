"""Computed sentences of the CNN chapter: what the untrained CNN already does (collisions, K-NN
on its codes), stated from the runs so the prose never asserts a quick-run outcome."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["knn_statement", "untrained_statement"]


def _metrics(run: Any, epoch: int | None) -> Mapping[str, float]:
    return (run.at(epoch) if epoch is not None else run.final).metrics


def untrained_statement(results: Sequence[Any]) -> str:
    """Whether the untrained CNNs (epoch 0) already give every image its own code (RR 0 on
    train and test), and whether training keeps it so; ``results`` are CNN run results with
    ``at(epoch)``/``final`` checkpoints holding ``rr_train``/``rr_test``."""
    if not results:
        return "No CNN runs."
    n = len(results)
    at0 = sum(_metrics(r, 0)["rr_train"] == 0 and _metrics(r, 0)["rr_test"] == 0
              for r in results)  # fmt: skip
    last = sum(_metrics(r, None)["rr_train"] == 0 and _metrics(r, None)["rr_test"] == 0
               for r in results)  # fmt: skip
    text = (f"Untrained (epoch 0), {at0} of {n} CNN(s) give every training and test image a "
            f"code of its own (RR 0 on both splits); after training, {last} of {n} do.")
    if at0 == n:
        text += (" RR = 0 is therefore not something training achieves here: the determinism "
                 "claim holds for these CNNs trivially, since spatial codes are long enough "
                 "that random weights suffice.")
    elif at0:
        text += " Where the untrained CNN already reaches RR 0, training is not what achieves it."
    return text


def knn_statement(results: Sequence[Any], pixels: Sequence[float], *,
                  chance: float = 0.1, margin: float = 0.03) -> str:
    """How K-NN on the untrained codes compares with K-NN on raw pixels (``pixels``, one per
    run) and with chance; "about as well" means within ``margin``."""
    if len(pixels) != len(results):
        raise ValueError(f"pixels must have one value per run ({len(results)}); "
                         f"got {len(pixels)}")
    parts = []
    for r, px in zip(results, pixels, strict=True):
        k0 = _metrics(r, 0)["knn_test"]
        if abs(k0 - px) <= margin:
            how = f"about as well as raw pixels ({k0:.3f} vs {px:.3f})"
        elif k0 > px:
            how = f"better than raw pixels ({k0:.3f} vs {px:.3f})"
        else:
            how = f"worse than raw pixels ({k0:.3f} vs {px:.3f})"
        above = "above" if k0 > chance else "not above"
        parts.append(f"{r.config.model}: K-NN on the untrained codes does {how}, {above} chance "
                     f"({chance:g})")
    return "; ".join(parts) + "."
