"""Resumable, safe results, for real: ``hashlib-nn run`` in a subprocess is killed with SIGKILL
while it writes a store entry; entries are then damaged on disk; the next call recomputes
exactly the unfinished and the damaged runs, never reads a temporary file, reports the damage,
and leaves every intact entry untouched (same bytes, same mtime).

The subprocess runs the real command line through a small driver that (1) logs the content key
of every run handed to the trainers and (2) on the N-th store write, after the temporary file is
written and fsynced but before it is renamed into place, signals the test and sleeps: the test
then kills it, as a crash or an OOM kill would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hashlib_nn.cli import main
from hashlib_nn.experiments.presets import grid
from hashlib_nn.experiments.store import Store

CHAPTERS = ("model_size", "training_time", "sample_size")  # run in this order

DRIVER = textwrap.dedent(
    """\
    import os, sys, time, types
    from pathlib import Path

    from hashlib_nn import validation
    from hashlib_nn.experiments import sweeps

    trace = Path(os.environ["TRACE"])

    def traced(train):
        def wrapper(configs, device):
            with trace.open("a") as f:
                for c in configs if isinstance(configs, list) else [configs]:
                    f.write(c.key + "\\n")
            return train(configs, device)
        return wrapper

    sweeps.train_one = traced(sweeps.train_one)
    sweeps.train_group = traced(sweeps.train_group)

    hang_at = int(os.environ.get("HANG_AT_WRITE", "0"))
    if hang_at:  # atomic_write's os, whose replace() stops before the hang_at-th entry's rename
        real_os, writes = os, [0]
        fake = types.ModuleType("os")
        fake.__getattr__ = lambda name: getattr(real_os, name)
        def replace(src, dst):
            if str(dst).endswith(".json"):
                writes[0] += 1
                if writes[0] == hang_at:
                    Path(os.environ["REACHED"]).write_text(str(src))
                    time.sleep(600)
            return real_os.replace(src, dst)
        fake.replace = replace
        validation.os = fake

    from hashlib_nn.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def cli_argv(store: Path) -> list[str]:
    argv = ["run", "--preset", "smoke", "--dataset", "synthetic", "--store", str(store)]
    for chapter in CHAPTERS:
        argv += ["--chapter", chapter]
    return argv


def expected_keys() -> list[str]:
    """Content keys in training order (chapters in order, each grid's distinct keys)."""
    keys: list[str] = []
    for chapter in CHAPTERS:
        for c in grid(chapter, "smoke", dataset="synthetic"):
            if c.key not in keys:
                keys.append(c.key)
    return keys


def start(tmp: Path, store: Path, trace: Path, **env: str) -> subprocess.Popen[str]:
    driver = tmp / "driver.py"
    driver.write_text(DRIVER)
    full = {**os.environ, "CI": "true", "OMP_WAIT_POLICY": "PASSIVE", "TRACE": str(trace), **env}
    full.pop("HASHLIB_NN_SCHEDULER", None)
    return subprocess.Popen([sys.executable, str(driver), *cli_argv(store)], env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def read_keys(trace: Path) -> list[str]:
    return trace.read_text().split() if trace.exists() else []


def snapshot(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def test_sigkill_mid_write_then_damage_then_resume_recomputes_exactly_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = expected_keys()
    assert len(keys) == 5  # model_size 2, training_time 1, sample_size 2
    root = tmp_path / "store"
    st = Store(root)

    # 1. Killed with SIGKILL while writing the 4th entry (temporary file fsynced, not renamed).
    reached = tmp_path / "reached"
    proc = start(tmp_path, root, tmp_path / "trace1", HANG_AT_WRITE="4", REACHED=str(reached))
    deadline = time.monotonic() + 300
    while not reached.exists():
        if proc.poll() is not None:
            pytest.fail(f"the run ended before the 4th write: {proc.communicate()}")
        assert time.monotonic() < deadline, "the 4th write never came"
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    trained = read_keys(tmp_path / "trace1")
    # the 4th run was trained and was being written; the 5th (the other sample size, tiled to
    # the same length) was trained with it in one batched group, but never written
    assert trained == keys
    assert st.keys() == sorted(keys[:3])
    left = Path(reached.read_text())
    assert left.exists() and left.name.startswith(f".{keys[3]}.") and left.suffix == ".tmp"
    assert json.loads(left.read_bytes())["key"] == keys[3]  # complete, but never renamed
    # A write killed earlier, inside write(): a truncated temporary file for the 5th run.
    (root / f".{keys[4]}.crashed.tmp").write_bytes(left.read_bytes()[:100])
    assert main(["list", "--store", str(root)]) == 0  # the store's view: 3 runs, 2 temporaries
    out = capsys.readouterr().out
    assert f"3 runs in {root}" in out
    assert "(2 temporary files from interrupted writes; safe to delete)" in out

    # 2. Damage two finished entries on disk: one truncated, one edited (still valid JSON).
    truncated, edited, intact = (st.path(k) for k in keys[:3])
    truncated.write_bytes(truncated.read_bytes()[:-200])
    entry = json.loads(edited.read_bytes())
    entry["payload"]["checkpoints"][-1]["metrics"]["rr_train"] = 0.123456
    edited.write_text(json.dumps(entry, indent=1))
    before = snapshot(intact)

    # 3. The same command again: recomputes the unfinished and the damaged runs, nothing else.
    proc = start(tmp_path, root, tmp_path / "trace2")
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert sorted(read_keys(tmp_path / "trace2")) == sorted([keys[0], keys[1], keys[3], keys[4]])
    assert "CorruptEntryWarning" in err
    assert f"{truncated} is corrupt: not readable JSON" in err
    assert f"{edited} is corrupt: checksum mismatch (truncated or edited)" in err
    assert left.name not in err and ".crashed.tmp" not in err  # temporaries: never opened
    assert snapshot(intact) == before  # not retrained, not rewritten
    assert (root / (truncated.name + ".corrupt")).exists()
    assert (root / (edited.name + ".corrupt")).exists()
    assert st.keys() == sorted(keys)
    results = {k: st.get(k) for k in keys}
    assert all(r is not None for r in results.values())
    assert results[keys[1]].final.metrics["rr_train"] != 0.123456  # type: ignore[union-attr]
    assert f"store {root}: 5 runs (2 new)" in out  # 2 new files; 2 more rewritten in place
