from __future__ import annotations

import importlib

import pytest

import hashlib_nn


@pytest.mark.parametrize("name", [n for n in hashlib_nn.__all__ if n != "__version__"])
def test_every_export_resolves_to_its_module_attribute(name: str) -> None:
    value = getattr(hashlib_nn, name)
    module = importlib.import_module(hashlib_nn._EXPORTS[name])
    assert value is getattr(module, name)


def test_unknown_attribute() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        hashlib_nn.nope  # noqa: B018


# The experiment pipeline (hashlib_nn.experiments): one subpackage, every public name of its
# modules importable from the package itself.
PIPELINE = ("config", "result", "store", "evaluation", "runner", "cluster", "sweeps", "presets")


def test_the_pipeline_exports_every_public_name_of_its_modules() -> None:
    import hashlib_nn.experiments as experiments

    exported = dict(experiments._EXPORTS)
    for name in PIPELINE:
        module = importlib.import_module(f"hashlib_nn.experiments.{name}")
        for public in getattr(module, "__all__", []):
            if public in exported and exported[public] != name:
                continue  # a name two modules list (e.g. re-exported): the first one's
            if name == "cluster" and public not in ("RunFailure", "SweepError"):
                continue  # the cluster's connection helpers stay under .cluster
            assert exported.get(public) == name, f"{name}.{public} is not exported"
            assert getattr(experiments, public) is getattr(module, public)


def test_the_readme_names_import_from_the_pipeline() -> None:
    from hashlib_nn.experiments import (  # noqa: F401  (the README's and chapters' imports)
        CNN_PRESETS,
        RunConfig,
        RunResult,
        Store,
        chapter_params,
        chapter_runs,
        cnn_run,
        grid,
        run,
        sweep,
    )

    assert sweep is hashlib_nn.sweep and RunConfig is hashlib_nn.RunConfig


@pytest.mark.parametrize("old", ["cnn_experiments", "runs", "store", "distributed", "presets"])
def test_the_old_flat_modules_are_gone(old: str) -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(f"hashlib_nn.{old}")


def test_an_unknown_pipeline_name_is_an_attribute_error() -> None:
    import hashlib_nn.experiments as experiments

    with pytest.raises(AttributeError, match="hashlib_nn.experiments' has no attribute 'nope'"):
        experiments.nope  # noqa: B018
