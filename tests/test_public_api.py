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
