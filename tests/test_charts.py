"""Offline chart renderer, the committed Vega bundle, and the chart helpers: what they draw (read
back from the scenegraph Vega renders: which rows, where, in which shape) and their titles."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import altair as alt
import numpy as np
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


@dataclass(frozen=True)
class Drawing:
    """What Vega draws for a chart: its marks and its legend entries."""

    # one row per drawn item (point, vertex of a line or area, bar): ``series`` numbers the
    # mark groups (one line or area per colour), ``mark`` is Vega's mark type; pixel position
    # px, py (px2, py2 for bars and areas); shape, fill, stroke; and one column per data field
    # named in the item's accessible description (the encoded fields and the tooltip)
    marks: pd.DataFrame
    legend: list[str]  # the legend labels, in drawing order


def _value(text: str) -> object:
    try:
        return float(text)
    except ValueError:
        return text


def drawn(chart: alt.TopLevelMixin | dict) -> Drawing:
    """Render ``chart`` with Vega (vl-convert's scenegraph) and read back what it draws."""
    import vl_convert as vlc

    spec = chart if isinstance(chart, dict) else chart.to_dict()
    rows: list[dict] = []
    legend: list[str] = []
    series = 0

    def walk(node: object) -> None:
        nonlocal series
        if isinstance(node, list):
            for child in node:
                walk(child)
            return
        if not isinstance(node, dict):
            return
        role = node.get("role")
        if role == "mark" and node.get("marktype") != "group":
            for item in node["items"]:
                fields = dict(part.rsplit(": ", 1) for part in item["description"].split("; "))
                rows.append({"series": series, "mark": node["marktype"],
                             "px": item.get("x"), "py": item.get("y"), "px2": item.get("x2"),
                             "py2": item.get("y2"), "shape": item.get("shape"),
                             "fill": item.get("fill"), "stroke": item.get("stroke"),
                             **{k: _value(v) for k, v in fields.items()}})  # fmt: skip
            series += 1
            return
        if role == "legend-label":
            legend.extend(item["text"] for item in node["items"])
        for child in node.values():
            walk(child)

    walk(vlc.vegalite_to_scenegraph(spec)["scenegraph"])
    return Drawing(pd.DataFrame(rows), legend)


def rows_of(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    """The rows of ``frame`` as sorted tuples of ``columns`` (a multiset of drawn data), numbers
    rounded to 6 decimals as the descriptions print them."""
    return sorted(tuple(round(v, 6) if isinstance(v, float) else v for v in row)
                  for row in frame[columns].itertuples(index=False, name=None))


def affine_residual(x: np.ndarray, y: np.ndarray) -> float:
    """Largest distance (pixels) of ``y`` from the best straight line in ``x``."""
    fit = np.polyval(np.polyfit(x, y, 1), x)
    return float(np.abs(fit - y).max())


def test_renderer_emits_a_div_and_a_vega_embed_call(offline: None) -> None:
    chart = alt.Chart(pd.DataFrame({"a": [1, 2], "b": [3, 4]})).mark_line().encode(x="a", y="b")
    bundle = chart._repr_mimebundle_()
    bundle = bundle[0] if isinstance(bundle, tuple) else bundle
    assert set(bundle) == {"text/html"}  # no vegalite mime entry (nbformat rejects altair's dict)
    div_id, spec = spec_of(bundle["text/html"])
    assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/v6")
    # the page's spec draws the chart's data: one line through (1, 3) and (2, 4)
    line = drawn(spec).marks
    assert rows_of(line, ["mark", "a", "b"]) == [("line", 1.0, 3.0), ("line", 2.0, 4.0)]
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


def test_line_chart_draws_our_rows_the_band_and_the_paper_values() -> None:
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
    drawing = drawn(chart)
    marks = drawing.marks
    points = marks[marks["mark"] == "symbol"]
    ours = points[points["source"] == "this book"]
    theirs = points[points["source"] == "paper (digitized)"]
    # every row of ours once, as a filled circle, its tooltip naming the band
    assert rows_of(ours, ["width", "rr", "split", "lo", "hi"]) == rows_of(
        curve(), ["width", "rr", "split", "lo", "hi"])
    assert set(ours["shape"]) == {"circle"} and "transparent" not in set(ours["fill"])
    # the paper's values (columns x and value) at their own places, as hollow diamonds in the
    # colour of their split
    expected = rows_of(paper().rename(columns={"x": "width", "value": "rr"}),
                       ["width", "rr", "split"])
    assert rows_of(theirs, ["width", "rr", "split"]) == expected
    assert set(theirs["shape"]) == {"diamond"} and set(theirs["fill"]) == {"transparent"}
    train_colour = set(ours.loc[ours["split"] == "train", "fill"])
    assert len(train_colour) == 1 and set(theirs["stroke"]) == train_colour
    # one line per split, through that split's rows in order of width
    lines = marks[marks["mark"] == "line"]
    assert lines.groupby("series")["split"].nunique().eq(1).all()
    for split, line in lines.groupby("split"):
        mine = curve()[curve()["split"] == split].sort_values("width")
        assert list(zip(line["width"], line["rr"], strict=True)) == list(
            zip(mine["width"].astype(float), mine["rr"], strict=True))
    # the axes: x logarithmic, y linear and increasing upwards
    assert affine_residual(np.log(ours["width"]), ours["px"]) < 0.5
    assert affine_residual(ours["width"], ours["px"]) > 10
    assert affine_residual(ours["rr"], ours["py"]) < 0.5
    slope, offset = np.polyfit(ours["rr"], ours["py"], 1)
    assert slope < 0
    # one band per split, from lo to hi at every width (the y scale read off the points)
    band = marks[marks["mark"] == "area"]
    assert band["series"].nunique() == 2
    by_row = curve().set_index(["split", "width"])
    for row in band.itertuples():
        lo, hi = by_row.loc[(row.split, row.width), ["lo", "hi"]]
        assert row.py == pytest.approx(slope * lo + offset, abs=0.5)
        assert row.py2 == pytest.approx(slope * hi + offset, abs=0.5)
    assert drawing.legend == ["test", "train", "this book", "paper (digitized)"]


def test_line_chart_minimal_draws_every_row_on_one_line() -> None:
    marks = drawn(charts.line_chart(curve(), "width", "rr", preset="quick")).marks
    assert set(marks["mark"]) == {"line", "symbol"}  # no band, no paper values
    points, line = marks[marks["mark"] == "symbol"], marks[marks["mark"] == "line"]
    assert rows_of(points, ["width", "rr"]) == rows_of(curve(), ["width", "rr"])
    assert line["series"].nunique() == 1  # no colour: one line through all six rows
    assert rows_of(line, ["width", "rr"]) == rows_of(curve(), ["width", "rr"])
    assert line["width"].is_monotonic_increasing
    assert set(points["source"]) == {"this book"}


def test_line_chart_without_paper_values_has_no_paper_legend_entry() -> None:
    for reference in (None, paper().iloc[0:0]):
        drawing = drawn(charts.line_chart(curve(), "width", "rr", color="split",
                                          reference=reference, preset="quick"))  # fmt: skip
        assert drawing.legend == ["test", "train", "this book"]
        assert set(drawing.marks["source"].dropna()) == {"this book"}
        assert "diamond" not in set(drawing.marks["shape"])
    with_paper = drawn(charts.line_chart(curve(), "width", "rr", color="split",
                                         reference=paper(), preset="quick"))  # fmt: skip
    assert with_paper.legend == ["test", "train", "this book", "paper (digitized)"]
    diamonds = with_paper.marks[with_paper.marks["shape"] == "diamond"]
    assert len(diamonds) == len(paper()) and set(diamonds["source"]) == {"paper (digitized)"}


def test_bucket_size_chart_draws_one_bar_per_bucket_size_on_a_log_scale() -> None:
    buckets = pd.DataFrame({"bucket_size": [1, 2, 5], "n_codes": [90, 5, 1],
                            "n_examples": [90, 10, 5], "share_of_examples": [0.857, 0.095, 0.048]})
    bars = drawn(charts.bucket_size_chart(buckets, preset="quick")).marks
    assert set(bars["mark"]) == {"rect"}
    assert rows_of(bars, ["bucket_size", "n_codes", "n_examples"]) == rows_of(
        buckets.astype(float), ["bucket_size", "n_codes", "n_examples"])
    assert sorted(bars["share_of_examples"]) == ["4.80%", "85.70%", "9.50%"]
    # bars left to right by bucket size, all from the same baseline (0.5 on the log axis),
    # their heights proportional to log(n_codes / 0.5)
    assert bars.sort_values("px")["bucket_size"].tolist() == [1.0, 2.0, 5.0]
    assert bars["py2"].nunique() == 1
    height = bars["py2"] - bars["py"]
    assert np.ptp(height / np.log(bars["n_codes"] / 0.5)) < 0.01


def test_firing_rate_chart_draws_each_bin_over_its_rate_range() -> None:
    # no unit fires more often than 0.75: the axis still ends at 1
    firing = pd.DataFrame({"rate_from": [0.0, 0.25, 0.5], "rate_to": [0.25, 0.5, 0.75],
                           "n_units": [3, 0, 7]})
    chart = charts.firing_rate_chart(firing, preset="quick", width=400)
    bars = drawn(chart).marks
    assert rows_of(bars, ["rate_from", "rate_to", "n_units"]) == rows_of(
        firing.astype(float), ["rate_from", "rate_to", "n_units"])
    # the x axis spans the rates 0 to 1 over the 400 pixels; a bin covers its range (less
    # Vega-Lite's one-pixel gap between bins); heights are proportional to the unit counts
    for bar in bars.itertuples():
        assert bar.px == pytest.approx(400 * bar.rate_from, abs=1.01)
        assert bar.px2 == pytest.approx(400 * bar.rate_to, abs=1.01)
    assert affine_residual(bars["n_units"], bars["py2"] - bars["py"]) < 0.5
    assert (bars.loc[bars["n_units"] == 0, "py2"] == bars.loc[bars["n_units"] == 0, "py"]).all()


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
