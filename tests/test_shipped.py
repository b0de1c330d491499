"""Shipped results (hashlib_nn.shipped): written from a store, read back unchanged, with
provenance and coverage; the real shipped standard results meet the grid they claim."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hashlib_nn import provenance, shipped
from hashlib_nn.experiments import sweep
from hashlib_nn.experiments.presets import grid
from hashlib_nn.experiments.store import Store


@pytest.fixture(scope="module")
def smoke_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store(tmp_path_factory.mktemp("store"))
    for chapter in ("model_size", "sample_size"):
        sweep(grid(chapter, "smoke", dataset="synthetic"), store=store, device="cpu",
              progress=False)  # fmt: skip
    return store


def test_ship_then_load_gives_the_store_rows_with_provenance(
    smoke_store: Store, tmp_path: Path
) -> None:
    paths = shipped.ship(smoke_store, "smoke", ["model_size", "sample_size", "label_noise"],
                         ["synthetic"], tmp_path, note="test", allow_dirty=True)  # fmt: skip
    names = sorted(p.name for p in paths)
    # the label-noise grid's clean run is a model-size run: shipped, the noisy ones are not
    assert names == ["PROVENANCE.json", "label_noise.csv", "model_size.csv", "sample_size.csv"]
    for chapter in ("model_size", "sample_size"):
        configs = grid(chapter, "smoke", dataset="synthetic")
        expected = smoke_store.to_frame(configs)
        got = shipped.load(chapter, "smoke", root=tmp_path)
        assert set(shipped.PROVENANCE_COLUMNS) <= set(got.columns)
        assert (got["preset"] == "smoke").all() and got["torch"].notna().all()
        keys = ["key", "epoch", "metric"]
        a = expected.sort_values(keys).reset_index(drop=True)
        b = got[expected.columns].sort_values(keys).reset_index(drop=True)
        assert len(a) == len(b) and (a["key"] == b["key"]).all()
        np.testing.assert_allclose(a["value"].astype(float), b["value"].astype(float),
                                   rtol=1e-12, equal_nan=True)  # fmt: skip
        assert a["n_train"].astype("Int64").equals(b["n_train"].astype("Int64"))
    # determinism and categorization read the model-size file
    pd.testing.assert_frame_equal(shipped.load("determinism", "smoke", root=tmp_path),
                                  shipped.load("model_size", "smoke", root=tmp_path))
    prov = shipped.provenance("smoke", tmp_path)
    assert prov["preset"] == "smoke" and prov["note"] == "test"
    assert prov["machine"]["cpu_count"] >= 1
    cov = shipped.coverage("smoke", tmp_path).set_index("chapter")
    assert cov.loc[["model_size", "sample_size"], "complete"].all()
    noise = cov.loc["label_noise"]
    assert noise.runs_shipped == 1 and not noise.complete
    assert shipped.load("label_noise", "smoke", root=tmp_path)["label_noise"].eq(0).all()


def test_coverage_reports_a_partial_grid(smoke_store: Store, tmp_path: Path) -> None:
    configs = grid("sample_size", "smoke", dataset="synthetic")
    partial = Store(tmp_path / "partial")
    partial.put(smoke_store.get(configs[0].key))  # type: ignore[arg-type]
    shipped.ship(partial, "smoke", ["sample_size"], ["synthetic"], tmp_path / "out",
                 allow_dirty=True)
    cov = shipped.coverage("smoke", tmp_path / "out")
    row = cov.iloc[0]
    assert (row.runs_shipped, row.runs_in_grid, row.complete) == (1, len(configs), False)
    assert shipped.load("sample_size", "smoke", root=tmp_path / "out")["key"].nunique() == 1


def test_bad_names_are_reported(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown chapter 'size'; accepted: 'determinism'"):
        shipped.load("size")
    with pytest.raises(ValueError, match=r"unknown preset 'fast'; accepted: 'smoke', 'quick'"):
        shipped.load("model_size", "fast")
    assert shipped.provenance("smoke", tmp_path) == {}
    assert shipped.load("model_size", "smoke", root=tmp_path).empty


def test_the_shipped_standard_results_match_their_grid() -> None:
    """What ships in the package: every run belongs to the standard grid of its chapter, was
    made at that preset, and the provenance counts agree with the files."""
    prov = shipped.provenance("standard")
    if not prov:
        pytest.skip("no standard results shipped")
    for name, info in prov["chapters"].items():
        chapter, _, protocol = name.partition(".")  # model_size.cifar-mlp: another protocol
        how = {"protocol": protocol} if protocol else {}
        frame = shipped.load(chapter, "standard", **how)
        assert (frame["preset"] == "standard").all()
        for ds, n in info["datasets"].items():
            keys = {c.key for c in grid(chapter, "standard", dataset=ds, **how)}
            got = set(frame.loc[frame.dataset == ds, "key"])
            assert got <= keys and len(got) == n["runs_shipped"], (chapter, ds)


def test_another_protocol_ships_apart_and_loads_back(smoke_store: Store, tmp_path: Path) -> None:
    """The depth-5 (cifar-mlp) model-size grid on a data set whose own protocol is depth 1 ships
    as model_size.cifar-mlp.csv; the data set's own grid stays in model_size.csv."""
    deep = grid("model_size", "smoke", dataset="synthetic", protocol="cifar-mlp")
    sweep(deep, store=smoke_store, device="cpu", progress=False)
    out = tmp_path / "out"
    shipped.ship(smoke_store, "smoke", ["model_size"], ["synthetic"], out, allow_dirty=True)
    paths = shipped.ship(smoke_store, "smoke", ["model_size"], ["synthetic"], out,
                         allow_dirty=True, protocol="cifar-mlp")  # fmt: skip
    assert sorted(p.name for p in paths) == ["PROVENANCE.json", "model_size.cifar-mlp.csv"]
    own = shipped.load("model_size", "smoke", root=out)
    other = shipped.load("model_size", "smoke", root=out, protocol="cifar-mlp")
    assert set(own["depth"]) == {1} and set(other["depth"]) == {5}
    assert set(other["key"]) == {c.key for c in deep}
    assert (other["lr"] == 1e-2).all() and (other["batch_size"] == 64).all()
    chapters = shipped.provenance("smoke", out)["chapters"]
    deep_info = chapters["model_size.cifar-mlp"]
    assert {k: deep_info["datasets"]["synthetic"][k] for k in ("runs_in_grid", "runs_shipped")
            } == {"runs_in_grid": 2, "runs_shipped": 2}  # fmt: skip
    # the data set's seconds are its runs' (here the only data set: the chapter's total)
    assert deep_info["datasets"]["synthetic"]["run_seconds"] == deep_info["run_seconds"] > 0
    assert chapters["model_size"]["datasets"]["synthetic"]["runs_shipped"] == 2
    lines = shipped.summary("model_size", other, preset="smoke", dataset="synthetic",
                            root=out, protocol="cifar-mlp")  # fmt: skip
    assert lines[0] == "smoke results, synthetic: 2 of 2 runs of the grid shipped (complete)."
    with pytest.raises(ValueError, match="protocol"):
        shipped.load("model_size", "smoke", root=out, protocol="cifar-cnn")


def test_ship_refuses_a_run_from_a_dirty_checkout(smoke_store: Store, tmp_path: Path) -> None:
    configs = grid("sample_size", "smoke", dataset="synthetic")
    run = smoke_store.get(configs[0].key)
    assert run is not None
    for dirty, refused in (("true", True), ("false", False)):
        store = Store(tmp_path / f"store-{dirty}")
        store.put(dataclasses.replace(run, versions={**run.versions, "git_dirty": dirty}))
        if refused:
            with pytest.raises(ValueError, match=r"git_dirty=true\): shipped results must be "
                               r"traceable to committed code"):  # fmt: skip
                shipped.ship(store, "smoke", ["sample_size"], ["synthetic"], tmp_path / dirty)
        else:
            shipped.ship(store, "smoke", ["sample_size"], ["synthetic"], tmp_path / dirty)
            info = shipped.provenance("smoke", tmp_path / dirty)["chapters"]["sample_size"]
            assert info["results_fingerprints"] == [run.versions["results_fingerprint"]]
            assert info["seeds"] == [configs[0].seed]


def test_stale_rows_are_those_of_other_code() -> None:
    current = provenance.results_fingerprint()
    frame = pd.DataFrame({"key": ["a", "b", "c"], "git_dirty": ["false", "true", "false"],
                          "results_fingerprint": [current, current, "0" * 16]})  # fmt: skip
    assert shipped.stale_rows(frame).tolist() == [False, False, True]
    assert shipped.stale_rows(frame.drop(columns="results_fingerprint")).all()
    line = shipped.traceability(frame)
    assert line.startswith("Traceability: 2 of 3 runs carry") and "1 are stale" in line
    assert "1 were computed from a checkout with uncommitted changes" in line
    # runs named by other columns (the differential runs: point and seed), one row per metric
    rows = pd.DataFrame({"width": [10, 10, 20], "seed": [0, 0, 0], "git_dirty": ["true"] * 3,
                         "results_fingerprint": [current] * 3})  # fmt: skip
    line = shipped.traceability(rows, run_columns=["width", "seed"])
    assert line.startswith("Traceability: 2 of 2 runs carry") and "stale" not in line
    assert "2 were computed from a checkout with uncommitted changes" in line


def test_dirty_rows_reads_git_dirty_as_recorded_and_as_a_csv_gives_it_back(tmp_path) -> None:
    frame = pd.DataFrame({"git_dirty": ["true", "false", True, False, "1", None]})
    frame.to_csv(tmp_path / "r.csv", index=False)
    expect = [True, False, True, False, True, False]
    assert provenance.dirty_rows(frame).tolist() == expect
    assert provenance.dirty_rows(pd.read_csv(tmp_path / "r.csv")).tolist() == expect


def test_results_fingerprint_follows_the_source_and_versions() -> None:
    base = provenance._fingerprint({"a.py": b"x = 1"}, "2.13.0", "1.9.1")
    assert base == provenance._fingerprint({"a.py": b"x = 1"}, "2.13.0", "1.9.1")
    assert base != provenance._fingerprint({"a.py": b"x = 2"}, "2.13.0", "1.9.1")
    assert base != provenance._fingerprint({"a.py": b"x = 1"}, "2.14.0", "1.9.1")
    assert base != provenance._fingerprint({"a.py": b"x = 1"}, "2.13.0", "1.8.0")
    assert provenance.versions()["results_fingerprint"] == provenance.results_fingerprint()


def test_every_module_is_classified_as_result_or_presentation() -> None:
    package = Path(provenance.__file__).parent
    # the experiment pipeline's modules one by one (a change to one can change a number);
    # the other subpackages (reports, reference) as wholes
    names = {p.name for p in package.glob("*.py")} | {
        p.name for p in package.iterdir()
        if p.is_dir() and (p / "__init__.py").exists() and p.name != "experiments"
    } | {f"experiments/{p.name}" for p in (package / "experiments").glob("*.py")}
    classified = set(provenance.RESULT_MODULES) | set(provenance.PRESENTATION_MODULES)
    assert not set(provenance.RESULT_MODULES) & set(provenance.PRESENTATION_MODULES)
    assert names <= classified, sorted(names - classified)


def test_every_shipped_row_is_current_and_clean() -> None:
    """Issue 15: every shipped row was computed by the running code (its results fingerprint)
    from a clean checkout: one release."""
    prov = shipped.provenance("standard")
    assert prov, "no standard results shipped"
    for name in prov["chapters"]:
        chapter, _, protocol = name.partition(".")
        frame = shipped.load(chapter, "standard", protocol=protocol or None)
        assert not shipped.stale_rows(frame).any(), chapter
        assert not frame["git_dirty"].astype(str).str.lower().eq("true").any(), chapter
    from hashlib_nn import controls  # the controls of the model-size grid ship beside them

    frame = controls.load_shipped("standard")
    assert len(frame) > 0 and not shipped.stale_rows(frame).any()
    assert not frame["git_dirty"].astype(str).str.lower().eq("true").any()


def test_shipped_csvs_stay_small_and_the_results_readme_says_how_small() -> None:
    """Issue 15: the shipped standard CSVs stay under 20 MB in all (they install with the
    package), and results/README.md states their total to 0.1 MB."""
    import re

    total = sum(p.stat().st_size for p in (shipped.shipped_root() / "standard").glob("*.csv"))
    assert total < 20e6
    text = " ".join((shipped.shipped_root() / "README.md").read_text().split())
    stated = re.search(r"The shipped standard CSVs total (\d+\.\d) MB", text)
    assert stated is not None and float(stated[1]) == round(total / 1e6, 1)


def test_the_seed_rule_of_the_results_readme_is_the_cost_model() -> None:
    """results/README.md: 10 seeds only where the cost model predicts at most twice the time of
    3; the ratios it states are recomputed, and so is its conclusion (none qualifies)."""
    import re

    from hashlib_nn.experiments.presets import estimate_seconds

    text = " ".join((shipped.shipped_root() / "README.md").read_text().split())
    stated = dict(re.findall(r"(model size|training time|sample size|regularization|label noise|"
                             r"phase chart) (\d+\.\d+)x", text))  # fmt: skip
    assert len(stated) == 6
    for name, ratio in stated.items():
        chapter = name.replace(" ", "_")
        ten, three = (estimate_seconds(grid(chapter, "standard", dataset="mnist", repeats=r))
                      for r in (10, 3))  # fmt: skip
        assert float(ratio) == round(ten / three, 2), name
    assert ("No grid is within 2x" in text) == all(float(r) > 2 for r in stated.values())


def test_release_wall_times_go_into_provenance(smoke_store: Store, tmp_path: Path) -> None:
    """tools/release.sh's release-times.tsv: each shipped grid's wall seconds per data set (a
    grid run in two sittings sums them); grids not shipped are skipped; a bad line is named."""
    out = tmp_path / "out"
    shipped.ship(smoke_store, "smoke", ["model_size", "sample_size"], ["synthetic"], out,
                 allow_dirty=True)  # fmt: skip
    tsv = tmp_path / "release-times.tsv"
    tsv.write_text("synthetic\tmodel_size\t2026-12-05T19:04:38Z\t100\tabc\n"
                   "synthetic\tsample_size\t2026-12-05T19:34:23Z\t30.5\tabc\n"
                   "synthetic\tmodel_size\t2026-12-05T20:04:38Z\t20\tabc\n"  # resumed
                   "synthetic\tphase_chart\t2026-12-05T20:05:00Z\t7\tabc\n"  # not shipped
                   "\n")  # fmt: skip
    shipped.record_wall_times(tsv, "smoke", out)
    chapters = shipped.provenance("smoke", out)["chapters"]
    assert chapters["model_size"]["datasets"]["synthetic"]["wall_seconds"] == 120.0
    assert chapters["sample_size"]["datasets"]["synthetic"]["wall_seconds"] == 30.5
    assert "phase_chart" not in chapters
    tsv.write_text("synthetic model_size 100\n")
    with pytest.raises(ValueError, match=r"release-times.tsv:1: expected dataset, grid"):
        shipped.record_wall_times(tsv, "smoke", out)
