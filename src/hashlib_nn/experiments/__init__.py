"""The experiment pipeline: data -> model -> training -> codes -> metrics -> stored result.

One subpackage holds every step between a configuration and a stored, measured run, for the
paper's MLP and the CNN chapter's networks alike; each module imports only those above it:

==============  ===============================================================================
module          what
==============  ===============================================================================
``config``      the data sets a run may name, :class:`RunConfig` (MLP), :class:`CNNRunConfig`,
                content keys
``result``      :class:`RunResult`, :class:`CNNRunResult`, their checkpoints and tidy frames
``store``       one results store for every kind of run (MLP entries, CNN entries under ``cnn/``)
``evaluation``  one checkpoint's metric suites (:func:`evaluate`, :func:`evaluate_cnn`)
``runner``      train one run, a batched group, a cluster worker's chunk; :func:`run`,
                :func:`cnn_run`
``cluster``     Dask: runs groups of runs on a cluster (it imports nothing of the runner: the
                runner's task is passed in)
``sweeps``      :func:`sweep`: many runs, each trained once, stored as it finishes
``presets``     every preset's grids (the CNN chapter's too) and the cost model
==============  ===============================================================================

A :class:`RunConfig` names everything that determines a trained network under the original
protocol (protocol.md): the data set, the architecture, the training sample (the first ``n_train``
examples, tiled to the full training length), the training protocol
(:class:`hashlib_nn.train.TrainConfig`) and what to measure (the epochs to evaluate and the metric
suites). :func:`run` trains one configuration and measures, at every checkpoint, the neural codes
of the ``n`` unique training examples and of the test set:

========  ======================================================================================
suite     metrics (``<name>_train`` / ``<name>_test``)
========  ======================================================================================
``rr``    ``rr`` (redundancy ratio), ``collision`` (fraction of examples sharing their code),
          ``n_distinct`` (distinct codes), and ``n_bits``
``net``   the network's own ``net_loss`` (mean cross-entropy) and ``net_acc`` (from the logits
          that :func:`hashlib_nn.codes.neural_codes` returns with the codes: no second pass)
``kmeans``, ``knn``, ``lr``: :func:`hashlib_nn.categorization.categorization_report`
``knn_sklearn``  opt-in (:data:`OPTIONAL_SUITES`, not in the defaults): ``knn_sklearn_test``, the
          original's scikit-learn K-NN call (:func:`hashlib_nn.categorization.knn_accuracy_sklearn`;
          1-17 s per evaluation on MNIST, so only the differential runs of
          :mod:`hashlib_nn.deviations` ask for it)
========  ======================================================================================

The **content key** of a configuration (:func:`content_key`) is the SHA-256 of a canonical JSON of
what determines the *trained network* (plus :data:`SCHEMA_VERSION`); the evaluation plan
(``checkpoints``, ``metrics``) is deliberately left out, so a stored run that measured more than
is asked for serves the request, and a request for more re-runs once and stores the union.

**CNN runs** (:func:`cnn_run`; protocol.md, "CNNs on CIFAR-10") train one of the paper's CNNs
(:func:`hashlib_nn.cnn.build_cnn`) by the original CNN protocol
(:class:`hashlib_nn.cnn.CNNTrainConfig`) on the first ``n_train`` images of the protocol's
training split and, at every checkpoint (0 = the untrained network), measure:

==================  ==========================================================================
metric              what
==================  ==========================================================================
``rr_{split}``      redundancy ratio :math:`(N - D) / N` of the **full** codes (every spatial
                    ReLU output), on the ``n_train`` training images it trained on and on the
                    first ``n_test`` test images; plus ``n_distinct_{split}``
``net_acc_{split}``  the network's own accuracy and mean cross-entropy (``net_loss_{split}``),
                    from the logits of the encoding pass (no second forward pass)
``knn_test``        K-NN (k = 9, Hamming) on the **reduced** codes, fit on train, scored on test
``kmeans_*``,       K-Means (purity, Hungarian, NMI; train and test) and one-vs-one logistic
``lr_test``         regression on the reduced codes (:mod:`hashlib_nn.categorization`)
``rr_reduced_*``    RR of the reduced codes (so a reader sees the reduction stays hash-like)
==================  ==========================================================================

**The reduction** (documented, seeded): the bits that vary over train and test together
(:func:`hashlib_nn.cnn.varying_bits`; the original drops constant neurons too) are sampled
uniformly without replacement, ``reduction_bits`` of them (default 4,096) with
``np.random.default_rng(reduction_seed)``, the same positions for train and test
(:func:`hashlib_nn.cnn.reduce_codes` ``"random_bits"``). Full CNN codes (ResNet20 on
CIFAR-10: 188,416 bits) would make K-NN over 40k x 10k images hours on a CPU and K-Means and
logistic regression impossible in memory; the RR needs no reduction (packed, hash-based).
Each checkpoint also holds the per-layer table of :func:`hashlib_nn.cnn.per_layer_redundancy`
and RR of nested random subsets of k of the reduced code's bits, k = 8, 16, ...; timings and
memory (peak RSS, peak CUDA memory, the packed codes' size) are recorded.

Every public name of the submodules is importable from here (loaded on first use, so importing
:mod:`hashlib_nn.experiments.store` or ``.presets`` does not import torch).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BUILTIN_DATASETS": "config",
    "CNN_FORMAT": "config",
    "CNN_SCHEMA_VERSION": "config",
    "CNN_SUITES": "config",
    "IMAGE_DATASETS": "config",
    "IMAGE_SHAPES": "config",
    "CNNRunConfig": "config",
    "cnn_content_key": "config",
    "default_hflip": "config",
    "CATEGORIZATION_SUITES": "config",
    "DEFAULT_DEPTH": "config",
    "LABEL_NOISE_MODES": "config",
    "METRIC_SUITES": "config",
    "OPTIONAL_SUITES": "config",
    "SCHEMA_VERSION": "config",
    "TRAIN_SIZES": "config",
    "RegisteredDataset": "config",
    "RunConfig": "config",
    "available_datasets": "config",
    "content_key": "config",
    "fit_length": "config",
    "get_dataset": "config",
    "group_key": "config",
    "data_fingerprint": "config",
    "install_datasets": "config",
    "is_registered": "config",
    "register_dataset": "config",
    "registered_datasets": "config",
    "synthetic_dataset": "config",
    "train_size": "config",
    "unregister_dataset": "config",
    "FRAME_COLUMNS": "result",
    "CNNCheckpoint": "result",
    "CNNRunResult": "result",
    "Checkpoint": "result",
    "RunResult": "result",
    "merge_plan": "result",
    "union_plan": "result",
    "CNNData": "evaluation",
    "RunData": "evaluation",
    "build_model": "evaluation",
    "categorization_suites": "evaluation",
    "check_image_count": "evaluation",
    "cnn_data": "evaluation",
    "evaluate": "evaluation",
    "evaluate_cnn": "evaluation",
    "images_fingerprint": "evaluation",
    "pixel_knn_accuracy": "evaluation",
    "rr_metrics": "evaluation",
    "run_data": "evaluation",
    "batched_available": "runner",
    "cnn_run": "runner",
    "run": "runner",
    "train_chunk": "runner",
    "train_group": "runner",
    "train_one": "runner",
    "notebook_progress": "sweeps",
    "show_progress": "sweeps",
    "sweep": "sweeps",
    "CNN_SUBDIR": "store",
    "CorruptEntryWarning": "store",
    "cnn_entry_path": "store",
    "get_cnn": "store",
    "put_cnn": "store",
    "Store": "store",
    "StoreLike": "store",
    "default_root": "store",
    "open_store": "store",
    "read_entry": "store",
    "write_entry": "store",
    "ALL_CHAPTERS": "presets",
    "CNN_PRESETS": "presets",
    "PAPER_MODELS": "presets",
    "CNNPreset": "presets",
    "chapter_runs": "presets",
    "lr_decay_every": "presets",
    "CHAPTERS": "presets",
    "DATASET_PROTOCOLS": "presets",
    "COST_MODEL": "presets",
    "CostModel": "presets",
    "FACTOR_CHAPTERS": "presets",
    "FactorSpec": "presets",
    "PhaseSpec": "presets",
    "PRESETS": "presets",
    "PROTOCOLS": "presets",
    "ChapterPlan": "presets",
    "GridSpec": "presets",
    "Preset": "presets",
    "calibrate_cost_model": "presets",
    "chapter_params": "presets",
    "cost_runs": "presets",
    "describe_presets": "presets",
    "estimate_seconds": "presets",
    "shipped_cost_table": "presets",
    "stored_costs": "presets",
    "sweep_cost_table": "presets",
    "grid": "presets",
    "phase_chart_axes": "presets",
    "predicted_vs_measured": "presets",
    "protocol_for": "presets",
    "str_list": "presets",
    "RunFailure": "cluster",
    "SweepError": "cluster",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hashlib_nn.experiments' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"hashlib_nn.experiments.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*__all__, "cluster", "config", "evaluation", "presets", "result", "runner",
                   "store", "sweeps"])  # fmt: skip
