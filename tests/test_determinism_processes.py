"""Determinism across processes, and safe deserialization.

Determinism: the same seed gives bit-identical weights, packed neural codes and metrics on CPU
in two separate Python processes; another seed gives other codes. Safety: no pickle is loaded
unless its hash is pinned and its classes restricted; model files load with
``torch.load(weights_only=True)``; a malicious pickle payload is refused before it can run.
"""

from __future__ import annotations

import ast
import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import hashlib_nn
from hashlib_nn.codes import neural_codes
from hashlib_nn.data import DataIntegrityError, _restricted_loads
from hashlib_nn.experiments import synthetic_dataset
from hashlib_nn.models import PaperMLP
from hashlib_nn.serialization import UnsafeModelFileError, file_sha256, load_model

# One tiny run, start to finish, in a fresh process: the train/eval path of a sweep (run) and
# the lower-level one (PaperMLP + train + neural_codes), with the weights saved.
WORKER = textwrap.dedent(
    """\
    import json, sys
    from hashlib_nn.codes import neural_codes
    from hashlib_nn.experiments import RunConfig, run, synthetic_dataset
    from hashlib_nn.models import PaperMLP
    from hashlib_nn.serialization import save_model
    from hashlib_nn.train import TrainConfig, train

    seed, out = int(sys.argv[1]), sys.argv[2]
    ds = synthetic_dataset(n_train=400, n_test=200, dim=64, seed=3)
    model = PaperMLP(64, 24, 2, 10, seed=seed)
    history = train(model, ds.x_train, ds.y_train, TrainConfig(epochs=2, seed=seed), device="cpu")
    codes = neural_codes(model, ds.x_test, device="cpu")
    sha = save_model(model, out + ".pt")
    config = RunConfig(dataset="synthetic", width=10, n_train=300, checkpoints=(0,),
                       train=TrainConfig(epochs=1, seed=seed))
    result = run(config, store=False, device="cpu")
    json.dump({
        "codes": codes.packed.tobytes().hex(), "n_bits": codes.n_bits, "weights_sha256": sha,
        "losses": [e.loss.hex() for e in history.epochs],
        "metrics": {f"{c.epoch}:{k}": float(v).hex() for c in result.checkpoints
                    for k, v in sorted(c.metrics.items())},
    }, open(out + ".json", "w"))
    """
)


def test_same_seed_is_bit_identical_across_processes_other_seed_differs(tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "CI": "true"}
    jobs = {name: (seed, str(tmp_path / name)) for name, seed in
            (("a", 0), ("b", 0), ("c", 1))}  # fmt: skip
    procs = {name: subprocess.Popen([sys.executable, str(script), str(seed), out], env=env,
                                    stderr=subprocess.PIPE, text=True)
             for name, (seed, out) in jobs.items()}  # fmt: skip
    for name, p in procs.items():
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, f"{name}: {err}"
    a, b, c = (json.loads(Path(jobs[n][1] + ".json").read_text()) for n in "abc")

    assert a == b  # codes bytes, weights, losses and every metric at every checkpoint
    assert file_sha256(jobs["a"][1] + ".pt") == file_sha256(jobs["b"][1] + ".pt")
    assert len(a["metrics"]) > 20 and len(a["codes"]) == 2 * 200 * 3  # 24 bits -> 3 bytes
    assert a["codes"] != c["codes"] and a["weights_sha256"] != c["weights_sha256"]
    assert a["losses"] != c["losses"] and a["metrics"] != c["metrics"]

    # The saved weights, loaded here (hash pinned), give the same codes again.
    model = load_model(PaperMLP(64, 24, 2, 10, seed=99), jobs["a"][1] + ".pt",
                       sha256=a["weights_sha256"])  # fmt: skip
    ds = synthetic_dataset(n_train=400, n_test=200, dim=64, seed=3)
    assert neural_codes(model, ds.x_test, device="cpu").packed.tobytes().hex() == a["codes"]


# ----------------------------------------------------------------------------------------------
# Safety
# ----------------------------------------------------------------------------------------------


class _Payload:
    """Unpickling this creates a file: the stand-in for arbitrary code execution."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def test_a_malicious_model_file_is_refused_before_it_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"0.weight": torch.zeros(2), "x": _Payload(marker)}, evil)

    with pytest.raises(UnsafeModelFileError, match=r"evil\.pt is not a plain state dict .*"
                       r"weights_only=True refused it.*it was not loaded"):  # fmt: skip
        load_model(PaperMLP(4, 2), evil)
    assert not marker.exists()
    with pytest.raises(UnsafeModelFileError, match=r"has sha256 [0-9a-f]{64}; expected the "
                       r"pinned 0{64}: not loaded"):  # fmt: skip
        load_model(PaperMLP(4, 2), evil, sha256="0" * 64)
    assert not marker.exists()
    # The payload is live: a plain unpickler would have run it (so the refusal above matters).
    torch.load(evil, weights_only=False)
    assert marker.exists()


def test_the_data_unpickler_admits_numpy_arrays_only(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    refused = r"references (builtins|io|_io)\.open; only numpy arrays"
    with pytest.raises(DataIntegrityError, match=refused):
        _restricted_loads(pickle.dumps(_Payload(marker)), source="test payload")
    assert not marker.exists()
    arrays = {"x": np.arange(6, dtype=np.uint8).reshape(2, 3)}
    back = _restricted_loads(pickle.dumps(arrays), source="test arrays")
    assert np.array_equal(back["x"], arrays["x"])


def _calls(tree: ast.AST) -> list[tuple[str, ast.Call]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.id if isinstance(owner, ast.Name) else ast.unparse(owner)
            out.append((f"{name}.{node.func.attr}", node))
    return out


def _keyword(call: ast.Call, name: str) -> object:
    for kw in call.keywords:
        if kw.arg == name and isinstance(kw.value, ast.Constant):
            return kw.value.value
    return "<absent>"


def test_the_package_deserializes_nothing_unsafely() -> None:
    """Static audit of every module: no pickle.load(s), joblib/dill/cloudpickle loads or
    np.load(allow_pickle=True); every torch.load passes weights_only=True; every Unpickler
    subclass restricts find_class."""
    package = Path(hashlib_nn.__file__).parent
    problems = []
    for source in sorted(package.rglob("*.py")):
        tree = ast.parse(source.read_text(), filename=str(source))
        where = source.relative_to(package)
        for name, call in _calls(tree):
            line = f"{where}:{call.lineno} {name}"
            if name in ("pickle.load", "pickle.loads", "joblib.load", "dill.load", "dill.loads",
                        "cloudpickle.load", "cloudpickle.loads", "pd.read_pickle"):  # fmt: skip
                problems.append(f"{line}: unrestricted unpickling")
            elif name == "torch.load" and _keyword(call, "weights_only") is not True:
                problems.append(f"{line}: without weights_only=True")
            elif name in ("np.load", "numpy.load") and _keyword(call, "allow_pickle") is True:
                problems.append(f"{line}: allow_pickle=True")
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(
                ast.unparse(b).endswith("Unpickler") for b in node.bases
            ):
                methods = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
                if "find_class" not in methods:
                    problems.append(f"{where}:{node.lineno} {node.name} lacks find_class")
    assert problems == []
