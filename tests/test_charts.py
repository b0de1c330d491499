"""Offline chart renderer, the committed Vega bundle, the chart helpers and their titles."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import altair as alt
import pandas as pd
import pytest

from hashlib_nn import charts


@pytest.fixture
def offline() -> Iterator[None]:
    previous = alt.renderers.active
    charts.use_offline_charts()
    yield
    alt.renderers.enable(previous)


def curve() -> pd.DataFrame:
    df = pd.DataFrame(
        {"width": [3, 10, 40, 3, 10, 40], "rr": [1.0, 0.9, 0.1, 1.0, 0.95, 0.2]}
        | {"split": ["train"] * 3 + ["test"] * 3}
    )
    return df.assign(lo=df.rr - 0.05, hi=df.rr + 0.05)


def paper() -> pd.DataFrame:
    # the layout of hashlib_nn.reference.paper_values: x and value columns
    return pd.DataFrame({"x": [3, 10, 40], "value": [1.0, 0.99, 0.10], "split": ["train"] * 3})


def spec_of(html: str) -> tuple[str, dict]:
    div = re.search(r'<div id="([\w-]+)" class="hashlib-nn-chart"></div>', html)
    assert div is not None, html[:300]
    assert f'vegaEmbed("#{div[1]}", spec' in html
    spec = re.search(r"var spec = (\{.*\});\n", html)
    assert spec is not None
    return div[1], json.loads(spec[1].replace("<\\/", "</"))


def test_renderer_emits_a_div_and_a_vega_embed_call(offline: None) -> None:
    chart = alt.Chart(pd.DataFrame({"a": [1, 2], "b": [3, 4]})).mark_line().encode(x="a", y="b")
    bundle = chart._repr_mimebundle_()
    bundle = bundle[0] if isinstance(bundle, tuple) else bundle
    assert set(bundle) == {"text/html"}  # no vegalite mime entry (nbformat rejects altair's dict)
    div_id, spec = spec_of(bundle["text/html"])
    assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/v6")
    assert spec["mark"]["type"] == "line"
    assert "vegaEmbed" not in bundle["text/html"].split("<script")[0]


def test_chart_ids_are_unique_per_page() -> None:
    spec = {"mark": "point"}
    first, second = spec_of(charts.chart_html(spec))[0], spec_of(charts.chart_html(spec))[0]
    assert first != second


def test_script_cannot_be_closed_by_the_data() -> None:
    html = charts.chart_html({"title": "</script><b>x"})
    assert html.count("</script>") == 1
    assert spec_of(html)[1]["title"] == "</script><b>x"


def test_inline_bundle_comes_once(offline: None) -> None:
    charts.use_offline_charts(inline_bundle=True)
    chart = alt.Chart(pd.DataFrame({"a": [1]})).mark_point().encode(x="a")
    first = chart._repr_mimebundle_()
    second = chart._repr_mimebundle_()
    html = [(b[0] if isinstance(b, tuple) else b)["text/html"] for b in (first, second)]
    assert "window.vegaEmbed=" in html[0]
    assert "window.vegaEmbed=" not in html[1]


def test_committed_bundle_matches_installed_vega_lite() -> None:
    path = charts.default_bundle_path()
    assert path.is_file(), (
        "regenerate with python -c 'import hashlib_nn.charts as c; c.write_vega_bundle()'"
    )
    versions = charts.bundle_versions(path)
    altair_major = alt.SCHEMA_VERSION.lstrip("v").split(".")[0]
    assert versions["vega-lite"].split(".")[0] == altair_major, (
        f"book/_static/{charts.BUNDLE_NAME} bundles Vega-Lite {versions['vega-lite']} but altair "
        f"{alt.__version__} writes {alt.SCHEMA_VERSION}; regenerate the bundle"
    )
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[1] == "(function () {" and lines[-1] == "})();"  # no global besides window.*
    assert "window.vegaEmbed=" in text
    assert 0.5e6 < len(text) < 2e6


def test_write_vega_bundle(tmp_path) -> None:
    path = charts.write_vega_bundle(tmp_path / "sub" / "bundle.js")
    assert charts.bundle_versions(path)["vega-lite"] == charts.vegalite_version()


def test_bundle_without_header_is_refused(tmp_path) -> None:
    path = tmp_path / "bundle.js"
    path.write_text("window.vegaEmbed = 1;\n", encoding="utf-8")
    with pytest.raises(ValueError, match="has no hashlib_nn bundle header"):
        charts.bundle_versions(path)


def test_line_chart_with_band_and_reference_renders() -> None:
    import vl_convert as vlc

    chart = charts.line_chart(
        curve(),
        "width",
        "rr",
        color="split",
        band=("lo", "hi"),
        reference=paper(),
        log_x=True,
        preset="quick",
        title="Redundancy ratio",
    )
    spec = chart.to_dict()
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks == ["area", "line", "point", "point"]
    assert spec["layer"][0]["encoding"]["y2"]["field"] == "hi"
    assert spec["layer"][1]["encoding"]["x"]["scale"]["type"] == "log"
    paper_layer = spec["layer"][3]
    assert paper_layer["mark"]["filled"] is False
    rows = spec["datasets"][paper_layer["data"]["name"]]
    assert {r["source"] for r in rows} == {"paper (digitized)"}
    assert [r["rr"] for r in rows] == [1.0, 0.99, 0.10]
    assert {t["field"] for t in paper_layer["encoding"]["tooltip"]} == {
        "width",
        "rr",
        "split",
        "source",
    }
    svg = vlc.vegalite_to_svg(spec)  # a valid spec: Vega-Lite compiles and draws it
    assert svg.startswith("<svg") and "paper (digitized)" in svg


def test_line_chart_minimal() -> None:
    spec = charts.line_chart(curve(), "width", "rr", preset="quick").to_dict()
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["line", "point"]


def test_line_chart_without_paper_values_has_no_paper_legend_entry() -> None:
    import vl_convert as vlc

    for reference in (None, paper().iloc[0:0]):
        spec = charts.line_chart(curve(), "width", "rr", color="split",
                                 reference=reference, preset="quick").to_dict()  # fmt: skip
        assert [layer["mark"]["type"] for layer in spec["layer"]] == ["line", "point"]
        assert spec["layer"][1]["encoding"]["shape"]["scale"]["domain"] == ["this book"]
        assert "paper (digitized)" not in vlc.vegalite_to_svg(spec)
    with_paper = charts.line_chart(curve(), "width", "rr", color="split", reference=paper(),
                                    preset="quick")
    shape = with_paper.to_dict()["layer"][1]["encoding"]["shape"]["scale"]
    assert shape["domain"] == ["this book", "paper (digitized)"]


def test_line_chart_names_missing_columns() -> None:
    with pytest.raises(ValueError, match=r"df has no column\(s\) \['acc'\]; its columns are"):
        charts.line_chart(curve(), "width", "acc", preset="quick")
    with pytest.raises(ValueError, match=r"reference has no column\(s\) \['split'\]"):
        charts.line_chart(curve(), "width", "rr", color="split", reference=paper()[["x", "value"]],
                          preset="quick")
    with pytest.raises(ValueError, match="band must be a pair"):
        charts.line_chart(curve(), "width", "rr", band=("lo",), preset="quick")  # type: ignore[arg-type]


def test_line_chart_refuses_too_many_rows() -> None:
    big = pd.DataFrame({"x": range(5001), "y": 0.0})
    with pytest.raises(ValueError, match="5001 rows is more than altair's 5000; aggregate"):
        charts.line_chart(big, "x", "y", preset="quick")


def _title(chart: alt.TopLevelMixin) -> str:
    title = chart.to_dict().get("title", "")
    return title["text"] if isinstance(title, dict) else title


def test_chart_titles_name_the_preset() -> None:
    buckets = pd.DataFrame({"bucket_size": [1, 2], "n_codes": [90, 5], "n_examples": [90, 10],
                            "share_of_examples": [0.9, 0.1]})  # fmt: skip
    firing = pd.DataFrame({"rate_from": [0.0, 0.5], "rate_to": [0.5, 1.0], "n_units": [3, 7]})
    built = {
        "line": charts.line_chart(curve(), "width", "rr", preset="quick", dataset="mnist",
                                  title="Redundancy ratio vs width"),
        "untitled line": charts.line_chart(curve(), "width", "rr", preset="standard"),
        "buckets": charts.bucket_size_chart(buckets, preset="standard", dataset="mnist"),
        "firing": charts.firing_rate_chart(firing, preset="smoke", title="Firing rates"),
    }
    titles = {name: _title(chart) for name, chart in built.items()}
    assert titles == {
        "line": "Redundancy ratio vs width (mnist, quick)",
        "untitled line": "standard",
        "buckets": "Bucket sizes, training codes (mnist, standard)",
        "firing": "Firing rates (smoke)",
    }
    for title in titles.values():
        assert charts.names_preset(title) is not None


def test_chart_title_keeps_a_title_that_names_the_preset() -> None:
    title = "Redundancy ratio vs width (mnist, quick preset)"
    assert charts.chart_title(title, preset="quick", dataset="mnist") == title
    chart = charts.line_chart(curve(), "width", "rr", preset="quick", title=title)
    assert _title(chart) == title


@pytest.mark.parametrize("preset", ["", "  ", None])
def test_chart_helpers_refuse_a_missing_preset(preset: str | None) -> None:
    firing = pd.DataFrame({"rate_from": [0.0], "rate_to": [1.0], "n_units": [3]})
    with pytest.raises(ValueError, match="preset must name the preset of the runs; got"):
        charts.firing_rate_chart(firing, preset=preset)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="preset"):
        charts.line_chart(curve(), "width", "rr")  # type: ignore[call-arg]


def test_line_chart_panel_without_preset_keeps_its_title() -> None:
    chart = charts.line_chart(curve(), "width", "rr", preset=None, title="K-NN")
    assert _title(chart) == "K-NN"


@pytest.mark.parametrize(
    ("title", "found"),
    [
        ("Redundancy ratio vs width (mnist, quick)", "quick"),
        ("mnist, standard preset: model size x epochs", "standard"),
        ("STANDARD runs", "standard"),
        ("Quickly falling ratios", None),
        ("non-standard grid", None),
        ("Redundancy ratio vs width", None),
    ],
)
def test_names_preset(title: str, found: str | None) -> None:
    assert charts.names_preset(title) == found
