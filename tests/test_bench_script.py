"""benchmarks/bench.py (outside the package) and the tables of hashlib_nn.reports.benchmarks."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from hashlib_nn.reports import benchmarks

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "benchmarks" / "results" / "cpu-2core.json"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_script", ROOT / "benchmarks" / "bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def test_package_holds_no_benchmark_code() -> None:
    assert not (ROOT / "src" / "hashlib_nn" / "bench.py").exists()
    assert importlib.util.find_spec("hashlib_nn.bench") is None


@pytest.mark.parametrize("load, force, expect_run", [(3.4, False, False), (3.4, True, True),
                                                     (0.4, False, True)])
def test_json_refused_on_a_busy_machine_unless_forced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    load: float, force: bool, expect_run: bool,
) -> None:
    bench = _script()
    ran: list[object] = []

    def fake_run(settings: object, echo: object) -> dict:
        ran.append(settings)
        return json.loads(COMMITTED.read_text())

    monkeypatch.setattr(bench, "load_average", lambda: load)
    monkeypatch.setattr(bench, "run_benchmarks", fake_run)
    out = tmp_path / "figures.json"
    rc = bench.main(["--quick", "--json", str(out), *(["--force"] if force else [])])
    text = capsys.readouterr()
    assert f"load average before the run: {load:.2f}" in text.out
    if expect_run:
        assert rc == 0 and ran and out.is_file()
        written = json.loads(out.read_text())["machine"]
        assert written["load_average_before_run"] == load
        assert written["forced"] is (load > bench.MAX_LOAD)
        assert "after:" in text.out
    else:
        assert rc == 2 and not ran and not out.exists()
        assert "refusing to run" in text.err and "--force" in text.err


def test_goal_table_judges_each_goal_from_the_figures() -> None:
    results = benchmarks.load_results(COMMITTED)
    table = benchmarks.goal_table(results)
    b = results["benchmarks"]
    goals = table[table["goal"] != "(reference)"].reset_index(drop=True)
    assert len(goals) == len(benchmarks.GOALS)
    for row, (key, (_, op, threshold, _)) in zip(goals.itertuples(), benchmarks.GOALS.items(),
                                                 strict=True):
        value = b["knn"]["ours"]["peak_mib"] if key == "knn_memory" else b[key]["ratio"]
        assert row.met == (value >= threshold if op == ">=" else value < threshold)
        assert row.measured == round(value, 2)


def test_stage_table_scales_the_original_knn_stage() -> None:
    results = benchmarks.load_results(COMMITTED)
    stages, _ = benchmarks.stage_table(results)
    g = results["benchmarks"]["evaluation"]["original"]["result"]
    knn = stages.set_index("stage").loc["K-NN", "original s"]
    assert knn == pytest.approx(g["time_knn"] * g["knn_scale"], abs=1e-3)
