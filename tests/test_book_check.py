"""The browser check of the built book (``tools/book_check.py``, outside the installed package):
charts drawn, math typeset, figures numbered and titled with their preset, layout at 1280 px."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from tool_loader import load_tool

from hashlib_nn import book

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = book.chapters(ROOT)




book_check = load_tool("book_check")


# --- DOM check of the built pages ---------------------------------------------------------

DRAWN_CHART = (
    '<div id="hnn-chart-1-ab" class="hashlib-nn-chart vega-embed">'
    '<svg class="marks"><g></g></svg></div>'
)
EMPTY_CHART = '<div id="hnn-chart-2-cd" class="hashlib-nn-chart"></div>'
TYPESET_MATH = (
    '<span class="math notranslate nohighlight"><mjx-container class="MathJax">'
    "<mjx-math></mjx-math></mjx-container></span>"
)
RAW_MATH = r'<div class="math notranslate nohighlight">\[\mathrm{RR} = 1\]</div>'


@pytest.mark.parametrize(
    ("dom", "expected"),
    [
        ("<html><body><p>no charts, no math</p></body></html>", []),
        (f"<body>{DRAWN_CHART}{TYPESET_MATH}</body>", []),
        ('<div class="hashlib-nn-chart vega-embed" id="c"><canvas></canvas></div>', []),
        (EMPTY_CHART, ["chart hnn-chart-2-cd was not drawn"]),
        # vega-embed ran but drew nothing (e.g. an invalid spec)
        ('<div id="c" class="hashlib-nn-chart vega-embed"><p>x</p></div>', ["chart c was not"]),
        # altair's own CDN renderer, offline: the div stays empty
        ('<div id="altair-viz-1"></div><script>vegaEmbed()</script>', ["chart altair-viz-1"]),
        (RAW_MATH, [r"math '\\[\\mathrm{RR} = 1\\]' was not typeset"]),
        (
            f"<body>{DRAWN_CHART}{EMPTY_CHART}<br><img src=x>{RAW_MATH}</body>",
            ["chart hnn-chart-2-cd", "math '"],
        ),
    ],
)
def test_dom_problems(dom: str, expected: list[str]) -> None:
    problems = book_check.dom_problems(dom)
    assert len(problems) == len(expected), problems
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start), problem


def test_an_svg_after_the_chart_does_not_count() -> None:
    dom = f"{EMPTY_CHART}<svg></svg><span class='math'>x</span><mjx-container/>"
    assert len(book_check.dom_problems(dom)) == 2


def test_page_counts() -> None:
    dom = f"{DRAWN_CHART}{EMPTY_CHART}{TYPESET_MATH}{RAW_MATH}"
    assert book_check.page_counts(dom) == {"charts": 2, "math": 2}


def test_missing_chromium_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(FileNotFoundError, match="apt-get install chromium"):
        book_check.find_chromium()


def test_missing_page_is_reported(tmp_path: Path) -> None:
    problems = book_check.check_rendered(tmp_path, root=ROOT, chromium=sys.executable, echo=False)
    assert len(problems) == len(CHAPTERS)
    assert all("missing" in p for p in problems)


# --- figures, chart titles and layout (the reading-experience part of the check) ---------


def _figure(chart: str, number: str = "Fig. 3 ") -> str:
    return (
        '<figure class="align-default" id="fig-x"><div class="output text_html">'
        f"{chart}</div><figcaption><p><span class=\"caption-number\">{number}</span>"
        '<span class="caption-text">Redundancy ratio</span></p></figcaption></figure>'
    )


def _titled_chart(*titles: str, chart_id: str = "hnn-chart-1-ab") -> str:
    marks = "".join(
        '<g class="mark-group role-title"><g class="mark-text role-title-text">'
        f"<text>{t}</text></g></g>"
        for t in titles
    )
    return f'<div id="{chart_id}" class="hashlib-nn-chart vega-embed"><svg>{marks}</svg></div>'


@pytest.mark.parametrize(
    ("dom", "expected"),
    [
        (_figure(_titled_chart("Redundancy ratio vs width (mnist, quick)")), []),
        # a composite chart: panel titles without a preset, the row's title with one
        (_figure(_titled_chart("K-NN", "Accuracy vs label noise (mnist, standard preset)")), []),
        (_titled_chart("RR (quick)"), ["chart hnn-chart-1-ab is not a figure"]),
        (_figure(_titled_chart("RR (quick)"), number=""), ["chart hnn-chart-1-ab has no numbered"]),
        (_figure(_titled_chart("RR (quick)"), number="Table 1 "), ["chart hnn-chart-1-ab has no"]),
        (_figure(_titled_chart("Redundancy ratio vs width")), ["chart hnn-chart-1-ab title names"]),
        (_figure(_titled_chart("Quickly falling ratios")), ["chart hnn-chart-1-ab title names"]),
        (_figure(_titled_chart()), ["chart hnn-chart-1-ab has no title"]),
        # not drawn: only dom_problems reports it, the caption is still checked
        (_figure(EMPTY_CHART), []),
        (EMPTY_CHART, ["chart hnn-chart-2-cd is not a figure"]),
        (
            _figure(_titled_chart("A (quick)", chart_id="a")) + _titled_chart("B", chart_id="b"),
            ["chart b is not a figure", "chart b title names no preset"],
        ),
    ],
)
def test_figure_problems(dom: str, expected: list[str]) -> None:
    problems = book_check.figure_problems(dom, presets=["smoke", "quick", "standard", "paper"])
    assert len(problems) == len(expected), problems
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start), problem


def test_figure_problems_default_to_the_package_presets() -> None:
    assert book_check.figure_problems(_figure(_titled_chart("RR (mnist, standard)"))) == []
    (problem,) = book_check.figure_problems(_figure(_titled_chart("RR (mnist)")))
    assert "names no preset (smoke, quick, standard, paper" in problem


def test_a_title_outside_the_chart_does_not_count() -> None:
    dom = _figure(_titled_chart()) + '<g class="role-title-text"><text>quick</text></g>'
    assert book_check.figure_problems(dom) == [
        "chart hnn-chart-1-ab has no title (it must name its preset)"
    ]


def test_layout_problems() -> None:
    layout = {
        "viewport": 1280,
        "column": 800,
        "pre": [{"text": "a very long provenance line " * 3, "scroll": 1400, "client": 790}],
        "charts": [{"id": "ok", "width": 780, "overflow": 0},
                   {"id": "wide", "width": 1100, "overflow": 300}],
        "page": 120,
    }  # fmt: skip
    assert book_check.layout_problems(layout) == [
        "text output scrolls sideways (1400 px in 790 px): "
        "'a very long provenance line a very long provenance line a ve'",
        "chart wide is wider than the text column (1100 px, 300 px past its edge)",
        "the page scrolls sideways by 120 px at 1280 px",
    ]
    assert book_check.layout_problems({"pre": [], "charts": [], "page": 0}) == []
    assert book_check.layout_problems(None) == [
        "layout was not measured (the probe script did not run)"
    ]


def test_layout_probe_is_injected_and_read_back(tmp_path: Path) -> None:
    page = '<html><head><meta charset="utf-8"></head><body><p>x</p></body></html>'
    probed = book_check.with_layout_probe(page, tmp_path)
    assert f'<head><base href="{tmp_path.resolve().as_uri()}/">' in probed
    assert probed.index("hnn-layout") < probed.index("</body>")
    # what the probe leaves in the DOM, as Chromium's --dump-dom serializes it
    dom = probed.replace("</body>", '<script type="application/json" id="hnn-layout">'
                         '{"pre": [], "charts": [{"id": "c", "width": 10, "overflow": 0}], '
                         '"page": 0}</script></body>')  # fmt: skip
    assert book_check.layout_of(dom) == {
        "pre": [], "charts": [{"id": "c", "width": 10, "overflow": 0}], "page": 0
    }  # fmt: skip
    assert book_check.layout_of(page) is None
    with pytest.raises(ValueError, match="no <head>"):
        book_check.with_layout_probe("<body></body>", tmp_path)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs chromium")
def test_layout_probe_measures_in_chromium(tmp_path: Path) -> None:
    """The probe in a real browser at 1280 px: a long unbroken line in a <pre> that does not
    wrap scrolls; one that wraps (the book's CSS) does not; a too-wide chart is reported."""
    css = (ROOT / "book" / "_static" / "hashlib_nn.css").read_text(encoding="utf-8")
    long_line = "x" * 400
    page = tmp_path / "page.html"
    page.write_text(
        f"<html><head><style>{css}</style></head><body><article class='bd-article' "
        f"style='width:800px'><div class='cell_output'><div class='output'><pre>{long_line}</pre>"
        f"</div></div><div class='output'><pre style='white-space:pre'>{long_line}</pre></div>"
        "<div id='w' class='hashlib-nn-chart'><svg width='2000' height='10' "
        "style='max-width:none'></svg></div></article></body></html>",
        encoding="utf-8",
    )
    probed = tmp_path / "probed.html"
    probed.write_text(book_check.with_layout_probe(page.read_text(), tmp_path), encoding="utf-8")
    dom = book_check.dump_dom(probed, book_check.find_chromium(), budget_ms=8000)
    layout = book_check.layout_of(dom)
    assert layout is not None and layout["viewport"] == book_check.CHECK_WIDTH
    assert len(layout["pre"]) == 1  # only the one that does not wrap
    assert [c["id"] for c in layout["charts"] if c["overflow"] > 0] == ["w"]
