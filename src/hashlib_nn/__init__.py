"""hashlib_nn: neural networks behave as hash encoders (He, Lei, Ji, Tao, 2021), reproduced.

The public API, importable from the top level (loaded on first use, so ``import hashlib_nn``
stays cheap)::

    from hashlib_nn import load_dataset, PaperMLP, TrainConfig, neural_codes
    from hashlib_nn.train import train  # (a submodule of the same name shadows it)
    from hashlib_nn import redundancy_ratio, categorization_report, NeuralCodeEncoder
    from hashlib_nn import RunConfig, sweep, chapter_params
"""

from __future__ import annotations

import importlib
import os
from typing import Any

# OpenMP threads sleep instead of spin-waiting between the many small ops of a paper-sized MLP.
# On 2 shared cores spinning made training 10-20x slower (measured: a smoke model-size run took
# 115 s instead of 8.2 s beside another busy process). libgomp reads the variable once, when torch
# is first imported, so it is set here, before any of our modules imports torch, and every route
# (papermill, the CLI, the Python API, a plain `jupyter-book build`) gets it. To override, set
# OMP_WAIT_POLICY yourself before importing hashlib_nn (or torch): an existing value is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

_EXPORTS = {
    "load_dataset": "hashlib_nn.data",
    "Dataset": "hashlib_nn.data",
    "PaperMLP": "hashlib_nn.models",
    "TrainConfig": "hashlib_nn.train",
    "NeuralCodes": "hashlib_nn.codes",
    "neural_codes": "hashlib_nn.codes",
    "check_same_region": "hashlib_nn.codes",
    "redundancy_ratio": "hashlib_nn.metrics",
    "collision_fraction": "hashlib_nn.metrics",
    "distinct_codes": "hashlib_nn.metrics",
    "categorization_report": "hashlib_nn.categorization",
    "knn_accuracy": "hashlib_nn.categorization",
    "hamming_knn": "hashlib_nn.hamming",
    "collision_anatomy": "hashlib_nn.hashing",
    "mean_average_precision": "hashlib_nn.hashing",
    "NeuralCodeEncoder": "hashlib_nn.encoder",
    "train_many": "hashlib_nn.batched",
    "RunConfig": "hashlib_nn.experiments",
    "run": "hashlib_nn.experiments",
    "sweep": "hashlib_nn.experiments",
    "chapter_params": "hashlib_nn.experiments.presets",
    "grid": "hashlib_nn.experiments.presets",
    "phase_regime": "hashlib_nn.phase",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hashlib_nn' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
