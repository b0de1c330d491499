"""Every chapter's shipped section shows the preset's other data sets beside its own
(hashlib_nn.reports.ShippedReports): on hand-built shipped files in a temporary folder, a
Fashion-MNIST report beside MNIST's draws no paper layer and judges nothing against the paper,
two data sets stack into one figure, and a data set with nothing shipped gets one line and no
chart."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from IPython.display import Markdown
from shipped_fixtures import (
    label_noise_rows,
    model_size_rows,
    regularization_rows,
    write_shipped,
)

from hashlib_nn.reports import (
    ChapterReport,
    ShippedReports,
    categorization,
    determinism,
    label_noise,
    model_size,
    other_datasets,
    phase_chart,
    regularization,
    sample_size,
    shipped_datasets,
    training_time,
)

PAPER = "paper (digitized)"  # the paper layer's entry in a chart (charts.line_chart)
CHAPTERS = {"model_size": model_size, "training_time": training_time, "sample_size": sample_size,
            "determinism": determinism, "categorization": categorization,
            "label_noise": label_noise, "regularization": regularization,
            "phase_chart": phase_chart}  # fmt: skip


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MNIST and Fashion-MNIST model-size runs (the same paper-valued curves), their
    controls, and the regularization grid with the model-size yardstick."""
    ms = pd.concat([model_size_rows("mnist"), model_size_rows("fashion-mnist")])
    controls = pd.concat([ms.assign(control="untrained", value=ms["value"] * 0.5),
                          ms.assign(control="simhash", value=ms["value"] * 0.6)])  # fmt: skip
    reg = pd.concat([regularization_rows("mnist"), regularization_rows("fashion-mnist")])
    return write_shipped(tmp_path_factory.mktemp("shipped"),
                         {"model_size": ms, "controls": controls, "regularization": reg})


@pytest.fixture(scope="module")
def mnist_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_shipped(tmp_path_factory.mktemp("shipped"),
                         {"model_size": model_size_rows("mnist")})  # fmt: skip


def _spec(chart: object) -> str:
    return json.dumps(chart.to_dict())  # type: ignore[attr-defined]


def test_the_other_data_sets_of_the_standard_preset() -> None:
    assert other_datasets("mnist") == ["fashion-mnist"]
    assert other_datasets("fashion-mnist") == ["mnist"]
    assert other_datasets("cifar10") == ["mnist", "fashion-mnist"]
    assert other_datasets("mnist", "quick") == []
    assert shipped_datasets(None) == ["mnist", "fashion-mnist"]
    assert shipped_datasets(("fashion-mnist",)) == ["fashion-mnist", "mnist"]
    assert shipped_datasets("cifar10") == ["cifar10", "mnist", "fashion-mnist"]
    with pytest.raises(ValueError, match="unknown preset 'fast'; known: smoke, quick"):
        other_datasets("mnist", "fast")


def test_fashion_beside_mnist_has_no_paper_layer(both: Path) -> None:
    besides = model_size.shipped_reports(other_datasets("mnist"), root=both)
    assert besides.datasets == ["fashion-mnist"] and list(besides.reports) == ["fashion-mnist"]
    text = besides.summary()
    assert "standard results, fashion-mnist: 69 of 69 runs of the grid shipped (complete)." in text
    assert "Basis of the fashion-mnist report: fashion-mnist, standard preset" in text
    rep = besides.reports["fashion-mnist"]
    for key in ("rr", "accuracy"):
        chart = besides.chart(key)
        assert chart is rep.charts[key]  # one data set: its own chart, not a stack
        assert "(fashion-mnist, standard preset)" in chart.to_dict()["title"]
        assert PAPER not in _spec(chart)
    assert {v.status for v in rep.verdicts.values()} == {"not comparable"}
    assert "Paper (digitized)" not in rep.tables["comparison"].columns
    # the acceptance checks measure against the paper's figure: not computed, not "not met"
    assert "faithful_checks" not in rep.tables
    assert any("they are not computed" in s for s in rep.statements)
    assert not any("acceptance checks of the faithful protocol are met" in s
                   for s in rep.statements)  # fmt: skip
    # the same rows as MNIST: the paper layer, the checks and verdicts against the paper
    own = model_size.shipped_reports("mnist", root=both)
    assert PAPER in _spec(own.chart("rr")) and "faithful_checks" in own.reports["mnist"].tables
    assert {v.status for v in own.reports["mnist"].verdicts.values()} == {"reproduced"}


def test_two_data_sets_stack_into_one_figure(both: Path) -> None:
    reports = model_size.shipped_reports(["mnist", "fashion-mnist"], root=both)
    spec = reports.chart("rr").to_dict()
    titles = [panel["title"] for panel in spec["vconcat"]]
    assert titles == ["Redundancy ratio vs width (mnist, standard preset)",
                      "Redundancy ratio vs width (fashion-mnist, standard preset)"]
    assert PAPER in json.dumps(spec["vconcat"][0]) and PAPER not in json.dumps(spec["vconcat"][1])
    assert reports.chart("no such chart") is None


def test_nothing_shipped_for_fashion_is_one_line_and_no_chart(
    mnist_only: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    besides = model_size.shipped_reports(other_datasets("mnist"), root=mnist_only)
    assert besides.empty and besides.reports == {}
    assert besides.summary() == ("No standard results shipped for model_size (fashion-mnist): "
                                 "nothing to show.")  # fmt: skip
    assert besides.chart("rr") is None and besides.chart("accuracy") is None
    besides.show_statements()
    besides.show_tables_and_verdicts()
    assert capsys.readouterr().out == ""  # nothing displayed
    own = model_size.shipped_reports("mnist", root=mnist_only)
    assert not own.empty and own.chart("rr") is not None


@pytest.mark.parametrize("name", sorted(CHAPTERS))
def test_every_chapter_says_when_nothing_is_shipped(name: str, tmp_path: Path) -> None:
    reports = CHAPTERS[name].shipped_reports(["mnist", "fashion-mnist"], root=tmp_path)
    assert reports.chapter == name and reports.empty
    assert reports.lines == {
        ds: [f"No standard results shipped for {name} ({ds}): nothing to show."]
        for ds in ("mnist", "fashion-mnist")
    }


def test_fashion_controls_go_with_the_fashion_rows(both: Path) -> None:
    for module, key in ((determinism, "determinism"), (categorization, "categorization")):
        rep = module.shipped_reports("fashion-mnist", root=both).reports["fashion-mnist"]
        assert not any(s.startswith("No controls were given") for s in rep.statements)
        assert rep.verdicts[key].status == "not comparable"
        assert rep.verdicts[key].controls == {"untrained network": "not comparable",
                                              "random projection (SimHash)": "not comparable"}
        for chart in rep.charts.values():
            assert PAPER not in _spec(chart)
            assert "fashion-mnist, standard preset" in _spec(chart)


def test_factor_chapters_judge_fashion_against_its_own_dominant_factors(both: Path) -> None:
    reports = regularization.shipped_reports(shipped_datasets(None), root=both)
    assert list(reports.reports) == ["mnist", "fashion-mnist"]
    for ds, rep in reports.reports.items():
        v = rep.verdicts["regularization"]
        assert v.status in ("reproduced", "partly reproduced", "not reproduced"), v
        # the model-size yardstick of the data set was found; the two missing ones are named
        assert "ratio to model size" in rep.tables["dominance"]
        assert "training time" in v.evidence and "sample size" in v.evidence
        assert f"{ds}, standard preset" in v.basis
    none = label_noise.shipped_reports(shipped_datasets(None), root=both)
    assert none.empty and none.summary().count("nothing to show") == 2


def test_label_noise_fashion_report(tmp_path: Path) -> None:
    root = write_shipped(tmp_path, {"label_noise": label_noise_rows("fashion-mnist"),
                                    "model_size": model_size_rows("fashion-mnist")})
    reports = label_noise.shipped_reports(["mnist", "fashion-mnist"], root=root)
    assert list(reports.reports) == ["fashion-mnist"]
    assert reports.lines["mnist"] == [
        "No standard results shipped for label_noise (mnist): nothing to show."]
    rep = reports.reports["fashion-mnist"]
    assert rep.verdicts["label_noise"].status != "not comparable"
    assert "fashion-mnist, width 60, standard preset" in _spec(reports.chart("rr"))


def test_tables_and_verdicts_are_shown_under_their_data_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hashlib_nn.verdicts import Verdict

    shown: list[object] = []
    monkeypatch.setattr("IPython.display.display", lambda *objs: shown.extend(objs))
    verdict = Verdict("c", "not comparable", "e")
    reports = ShippedReports("model_size", "standard", lines={"fashion-mnist": ["x"]}, reports={
        "fashion-mnist": ChapterReport(
            "model_size", "fashion-mnist", "standard", None, statements=["s1", "s2"],
            tables={"ours": pd.DataFrame({"width": [3]}), "paper": pd.DataFrame({"width": []})},
            verdicts={"v": verdict})})  # fmt: skip
    reports.show_tables_and_verdicts()
    assert isinstance(shown[0], Markdown) and "fashion-mnist, standard preset" in shown[0].data
    assert len(shown) == 3 and shown[2] is verdict  # the empty table is left out
    assert "3" in shown[1].to_html()  # type: ignore[attr-defined]
    shown.clear()
    reports.show_statements()
    assert [m.data for m in shown] == [  # type: ignore[attr-defined]
        "**fashion-mnist, standard preset:**\n\n- s1\n- s2"]


def test_another_protocols_grid_is_reported_apart(tmp_path: Path) -> None:
    """shipped_reports(protocol=) reads the grid shipped apart (model_size.cifar-mlp.csv, the
    depth-5 stand-in for the CIFAR-10 MLPs) and counts its coverage against that protocol's
    grid; without it, the data set's own grid; a data set with no such file gets one line."""
    depth5 = model_size_rows("fashion-mnist", protocol="cifar-mlp")
    root = write_shipped(tmp_path, {"model_size": model_size_rows("fashion-mnist"),
                                    "model_size.cifar-mlp": depth5})  # fmt: skip
    reports = model_size.shipped_reports("fashion-mnist", root=root, protocol="cifar-mlp")
    assert reports.lines["fashion-mnist"][0] == (
        "standard results, fashion-mnist: 60 of 60 runs of the grid shipped (complete).")
    report = reports.reports["fashion-mnist"]
    chart = report.charts["rr"].to_dict()
    widths = {row["width"] for row in chart["datasets"][chart["data"]["name"]]}  # type: ignore[index]
    assert widths == set(range(50, 1001, 50))
    assert {v.status for v in report.verdicts.values()} == {"not comparable"}
    own = model_size.shipped_reports("fashion-mnist", root=root)
    assert own.lines["fashion-mnist"][0] == (
        "standard results, fashion-mnist: 69 of 69 runs of the grid shipped (complete).")
    none = model_size.shipped_reports("mnist", root=root, protocol="cifar-mlp")
    assert none.empty and none.lines == {
        "mnist": ["No standard results shipped for model_size (mnist): nothing to show."]}
