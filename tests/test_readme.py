"""Every shell command of the README runs as written (issue 16).

The README's ```bash and ```sh blocks are extracted and each is run by ``bash -euo pipefail``
from the repository root, as a reader of a fresh clone would after ``make test``: without the
venv on ``PATH`` (the blocks activate it themselves), with a scratch result store, without
``OMP_WAIT_POLICY`` (the package sets it). Conventions the README follows and this test reads:

- a line whose comment says ``# slow`` (minutes to hours: ``make book``, the ``quick`` and
  ``standard`` grids) is left out;
- a block preceded by ``<!-- readme-test: skip (reason) -->`` is left out (the Dask cluster);
- every other line that trains (``hashlib-nn run``, ``hashlib_nn.book run``, ``papermill``)
  must be at the ``smoke`` preset, so the test stays cheap; ``make`` lines must be ``# slow``.

A failing command fails its block's test with the command's output.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SKIP_MARK = re.compile(r"<!--\s*readme-test:\s*skip\s*\((?P<reason>[^)]+)\)\s*-->")
SLOW = re.compile(r"#\s*slow\b")
TRAINS = re.compile(r"hashlib-nn run|hashlib_nn\.book run|papermill ")


@dataclass(frozen=True)
class Block:
    line: int  # 1-based line of the opening fence
    text: str
    skip: str | None  # the reason given by a skip marker, or None

    def commands(self) -> list[str]:
        """The lines the test runs: not blank, not a comment, not marked slow."""
        lines = self.text.splitlines()
        return [ln for ln in lines
                if ln.strip() and not ln.lstrip().startswith("#") and not SLOW.search(ln)]


def shell_blocks(text: str) -> list[Block]:
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        fence = re.match(r"^```(bash|sh|shell|console)\s*$", lines[i])
        if fence is None:
            i += 1
            continue
        j = i + 1
        while lines[j] != "```":
            j += 1
        before = next((ln for ln in reversed(lines[:i]) if ln.strip()), "")
        marker = SKIP_MARK.search(before)
        blocks.append(Block(i + 1, "\n".join(lines[i + 1 : j]),
                            marker["reason"] if marker else None))  # fmt: skip
        i = j + 1
    return blocks


BLOCKS = shell_blocks(README.read_text())
RUN = [b for b in BLOCKS if b.skip is None and b.commands()]


def test_the_readme_has_shell_blocks_and_the_conventions_hold() -> None:
    assert len(RUN) >= 3, "the README lost its shell examples"
    for block in BLOCKS:
        if block.skip is not None:
            continue
        for line in block.commands():
            assert not line.lstrip().startswith("make "), (
                f"README line {block.line}: {line!r} must be marked '# slow'")
            if TRAINS.search(line):
                assert "smoke" in line, (
                    f"README line {block.line}: {line!r} trains but not at the smoke preset; "
                    "use --preset smoke / -p preset smoke or mark it '# slow'")


def test_the_first_cli_example_is_the_smoke_preset() -> None:
    runs = [ln for b in BLOCKS for ln in b.text.splitlines() if "hashlib-nn run" in ln]
    assert runs and "--preset smoke" in runs[0]
    assert README.read_text().count("## Using the package") == 1


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A reader's shell: no venv on PATH, a scratch store, no OMP_WAIT_POLICY."""
    venv_bin = str(ROOT / ".venv" / "bin")
    dropped = ("VIRTUAL_ENV", "OMP_WAIT_POLICY", "PYTHONPATH", "HASHLIB_NN_SCHEDULER")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if p and Path(p) != Path(venv_bin))  # fmt: skip
    env["HASHLIB_NN_STORE"] = str(tmp_path_factory.mktemp("readme-store"))
    env["CI"] = "true"  # no progress bars
    return env


@pytest.mark.slow
@pytest.mark.parametrize("block", RUN, ids=[f"line-{b.line}" for b in RUN])
def test_readme_block_runs_as_written(block: Block, environment: dict[str, str]) -> None:
    if not (ROOT / ".venv" / "bin" / "activate").exists():
        pytest.skip("needs the project's venv (make venv)")
    script = "\n".join(block.commands())
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, env=environment,
                          capture_output=True, text=True, timeout=1800)  # fmt: skip
    assert done.returncode == 0, (
        f"README block at line {block.line} failed (exit {done.returncode}):\n{script}\n"
        f"--- stdout ---\n{done.stdout[-4000:]}\n--- stderr ---\n{done.stderr[-4000:]}")
    if "hashlib-nn export" in script:  # the export it promises, with provenance
        out = re.search(r"--out (\S+)", script)
        assert out is not None
        frame = pd.read_csv(ROOT / out.group(1))
        assert len(frame) > 0 and {"lr", "batch_size", "git_commit", "created"} <= set(frame)


def test_standard_costs_in_the_presets_table_are_provenance_json() -> None:
    """The README's standard-preset minutes are the shipped grids' run_seconds, rounded."""
    provenance = json.loads((ROOT / "src/hashlib_nn/results/standard/PROVENANCE.json").read_text())
    row = next(ln for ln in README.read_text().splitlines() if ln.startswith("| `standard` |"))
    stated = re.findall(r"(model size|training time|sample size|label noise) (\d+) runs (\d+) min",
                        row)  # fmt: skip
    assert len(stated) == 4
    for name, runs, minutes in stated:
        chapter = provenance["chapters"][name.replace(" ", "_")]
        assert int(runs) == chapter["datasets"]["mnist"]["runs_shipped"], name
        assert int(minutes) == round(chapter["datasets"]["mnist"]["run_seconds"] / 60), name


def test_faithful_checks_sentence_is_the_shipped_results() -> None:
    """The README's 'meet N of the M acceptance checks' and its quoted numbers are recomputed."""
    from hashlib_nn import claims, shipped

    checks = claims.faithful_checks(shipped.load("model_size"))
    text = " ".join(README.read_text().split())
    stated = re.search(r"meet \*\*(\d+) of the (\d+)\*\* acceptance checks", text)
    assert stated is not None, "the README lost its faithful-checks sentence"
    assert (int(stated[1]), int(stated[2])) == (int(checks["met"].sum()), len(checks))
    ours = checks["ours"].round(3).tolist()
    for quoted, value in (("train RR 0.985 at width 10", 0.985), ("0.003 at width 70", 0.003),
                          ("K-NN at width 100 is 0.961", 0.961),
                          ("LR at width 100 is 0.949", 0.949)):  # fmt: skip
        assert quoted in text and value in ours, quoted
    crossing = re.search(r"crosses 0\.1 at width ([\d.]+) against the paper's ([\d.]+)", text)
    assert crossing is not None
    assert float(crossing[1]) == round(float(checks.loc[2, "ours"]), 1)
    assert float(crossing[2]) == round(float(checks.loc[2, "target"]), 1)
    assert not checks.loc[2, "met"] and not checks.loc[4, "met"] and checks.loc[3, "met"]
    whole = checks.iloc[5:]
    assert whole["met"].sum() == 1
    assert whole.loc[whole["met"], "check"].str.startswith("RR (test)").all()


def test_release_wall_times_are_provenance_json() -> None:
    """The README's table of the release run: each grid's runs are PROVENANCE.json's (all
    shipped, on both data sets), and its wall time on each data set is ``wall_seconds``
    (recorded by tools/release.sh), in minutes to one decimal."""
    provenance = json.loads((ROOT / "src/hashlib_nn/results/standard/PROVENANCE.json").read_text())
    rows = re.findall(r"^\| ([a-z -]+?(?: \(depth 5\))?) \| (\d+) \| (n/a|\d+\.\d min) \| "
                      r"(\d+\.\d) min \|$", README.read_text(), flags=re.M)  # fmt: skip
    names = {"model size": "model_size", "training time": "training_time",
             "sample size": "sample_size", "label noise": "label_noise",
             "regularization": "regularization", "phase chart": "phase_chart",
             "controls of the model-size grid": "controls",
             "model size (depth 5)": "model_size.cifar-mlp"}  # fmt: skip
    stated = {names[name]: (int(runs), mnist, fashion) for name, runs, mnist, fashion in rows}
    shipped = {name for name, info in provenance["chapters"].items()
               if any(d["runs_shipped"] for d in info["datasets"].values())} | {"controls"}
    assert set(stated) == shipped, "every shipped grid has a row, and only those"
    for grid_name, (runs, mnist, fashion) in stated.items():
        entry = provenance["controls" if grid_name == "controls" else "chapters"]
        datasets = (entry if grid_name == "controls" else entry[grid_name])["datasets"]
        for dataset, minutes in (("mnist", mnist), ("fashion-mnist", fashion + " min")):
            if minutes == "n/a":
                assert datasets.get(dataset, {}).get("runs_shipped", 0) == 0, grid_name
                continue
            info = datasets[dataset]
            assert runs == info["runs_shipped"] == info["runs_in_grid"], (grid_name, dataset)
            assert float(minutes.split()[0]) == round(info["wall_seconds"] / 60, 1), (
                grid_name, dataset)
    assert "every grid complete on both data sets, 3 seeds per grid point" in " ".join(
        README.read_text().split())
    grids = [*provenance["chapters"].values(), provenance["controls"]]
    assert all(info["seeds"] == [0, 1, 2] for info in grids)
