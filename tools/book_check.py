"""Check the built book in headless Chromium: charts drawn, math typeset, figures numbered
and titled with their preset, nothing wider than the text column (a development tool, outside
the installed package; ``make check`` runs it).

:func:`check_rendered` opens each built page in headless Chromium with no network, at a
1280 px wide window, and checks that charts and math were drawn, that every chart is a numbered
figure whose title names its preset, and that no text output scrolls sideways and no chart is
wider than the text column.

Command line::

    python tools/book_check.py [HTML_DIR]

prints one line per page and ``FAIL ...`` per problem on stderr; exit status 1 when there is a
problem. ``tests/test_book_check.py`` imports this file as a module.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from hashlib_nn.book import chapters, project_root
from hashlib_nn.charts import names_preset, preset_names

__all__ = [
    "CHECK_WIDTH",
    "LAYOUT_PROBE",
    "check_rendered",
    "dom_problems",
    "dump_dom",
    "figure_problems",
    "find_chromium",
    "layout_of",
    "layout_problems",
    "main",
    "page_counts",
    "with_layout_probe",
]

_VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "param",
    "source",
    "track",
    "wbr",
}
_DRAWN_CHART = {"svg", "canvas"}


class _DomScanner(HTMLParser):
    """Finds chart containers and math elements, and whether each holds what draws it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict[str, Any] | None]] = []
        self.items: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        classes = set(attr.get("class", "").split())
        for _, item in self.stack:
            if item is None:
                continue
            if item["kind"] == "chart" and tag in _DRAWN_CHART:
                item["drawn"] = True
            if item["kind"] == "math" and tag == "mjx-container":
                item["drawn"] = True
        item: dict[str, Any] | None = None
        element_id = attr.get("id", "")
        if "hashlib-nn-chart" in classes or element_id.startswith("altair-viz-"):
            item = {
                "kind": "chart",
                "id": element_id or "?",
                "drawn": False,
                "embedded": "vega-embed" in classes,
            }
        elif "math" in classes and tag in ("span", "div"):
            item = {"kind": "math", "id": element_id, "drawn": False, "text": ""}
        if item is not None:
            self.items.append(item)
        if tag not in _VOID:
            self.stack.append((tag, item))

    def handle_data(self, data: str) -> None:
        for _, item in self.stack:
            if item is not None and item["kind"] == "math" and len(item["text"]) < 60:
                item["text"] = (item["text"] + data)[:60]

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return


def dom_problems(dom: str) -> list[str]:
    """Problems in a page's DOM as the browser left it (after scripts ran).

    Every chart container (``div.hashlib-nn-chart``, or altair's ``div#altair-viz-*``) must have
    become a ``.vega-embed`` holding an ``svg`` or ``canvas``; every math element
    (``span.math``/``div.math``, as Sphinx writes them) must hold an ``mjx-container``.
    Returns an empty list when everything was drawn.
    """
    scanner = _DomScanner()
    scanner.feed(dom)
    scanner.close()
    problems = []
    for item in scanner.items:
        if item["kind"] == "chart" and not (item["drawn"] and item["embedded"]):
            problems.append(f"chart {item['id']} was not drawn (no svg/canvas in .vega-embed)")
        elif item["kind"] == "math" and not item["drawn"]:
            label = item["id"] or " ".join(item["text"].split())
            problems.append(f"math {label!r} was not typeset (no mjx-container)")
    return problems


class _FigureScanner(HTMLParser):
    """Finds chart containers with their enclosing ``<figure>``, its caption number
    (``span.caption-number`` in the ``figcaption``, as Sphinx writes it) and the chart's title
    texts (Vega's ``g.role-title-text``)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, str, dict[str, Any] | None]] = []
        self.charts: list[dict[str, Any]] = []

    def _innermost(self, kind: str) -> dict[str, Any] | None:
        for _, k, obj in reversed(self.stack):
            if k == kind:
                return obj
        return None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        classes = set(attr.get("class", "").split())
        element_id = attr.get("id", "")
        kind, obj = "", None
        chart = self._innermost("chart")
        if chart is not None and tag in _DRAWN_CHART:
            chart["drawn"] = True
        if tag == "figure":
            kind, obj = "figure", {"number": ""}
        elif tag == "span" and "caption-number" in classes:
            kind, obj = "number", self._innermost("figure")
        elif "hashlib-nn-chart" in classes or element_id.startswith("altair-viz-"):
            kind = "chart"
            obj = {"id": element_id or "?", "figure": self._innermost("figure"), "titles": [],
                   "drawn": False}  # fmt: skip
            self.charts.append(obj)
        elif chart is not None and tag == "g" and "role-title-text" in classes:
            chart["titles"].append("")
            kind, obj = "title", chart
        if tag not in _VOID:
            self.stack.append((tag, kind, obj))

    def handle_data(self, data: str) -> None:
        for _, kind, obj in self.stack:
            if kind == "number" and obj is not None:
                obj["number"] += data
            elif kind == "title" and obj is not None:
                obj["titles"][-1] += data

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return


_FIGURE_NUMBER = re.compile(r"^\s*Fig\.\s*\d+(\.\d+)*\s*$")


def figure_problems(dom: str, presets: Sequence[str] | None = None) -> list[str]:
    """Charts of a page's DOM (after scripts ran) that are not numbered figures or whose title
    names no preset.

    Every chart container must lie inside a ``<figure>`` whose caption has a number span
    (``<span class="caption-number">Fig. 3 </span>``: what a myst-nb figure cell or a
    ``{glue:figure}`` becomes), and a drawn chart must have a title text (Vega's
    ``g.role-title-text``; a composite chart has several) that names a preset
    (:func:`hashlib_nn.charts.names_preset`; ``presets`` defaults to
    :data:`hashlib_nn.experiments.presets.PRESETS`). Returns an empty list when every chart passes.
    """
    names = list(presets) if presets is not None else preset_names()
    scanner = _FigureScanner()
    scanner.feed(dom)
    scanner.close()
    problems = []
    for chart in scanner.charts:
        figure = chart["figure"]
        if figure is None:
            problems.append(f"chart {chart['id']} is not a figure (no <figure> around it)")
        elif not _FIGURE_NUMBER.match(figure["number"]):
            problems.append(f"chart {chart['id']} has no numbered caption (a figcaption with a "
                            f"'Fig. N' number; found {figure['number'].strip()!r})")  # fmt: skip
        if not chart["drawn"]:
            continue  # dom_problems reports it
        titles = [" ".join(t.split()) for t in chart["titles"] if t.strip()]
        if not titles:
            problems.append(f"chart {chart['id']} has no title (it must name its preset)")
        elif not any(names_preset(t, names) for t in titles):
            problems.append(f"chart {chart['id']} title names no preset ({', '.join(names)}): "
                            f"{' / '.join(titles)!r}")  # fmt: skip
    return problems


#: Injected into a copy of each page by :func:`check_rendered`: after the page loaded and its
#: charts were drawn, measures the layout and leaves it as JSON in ``script#hnn-layout``.
LAYOUT_PROBE = """
<script>
(function () {
  function measure() {
    var out = {viewport: window.innerWidth, pre: [], charts: [], page: 0, column: 0};
    var column = document.querySelector(".bd-article") || document.body;
    var box = column.getBoundingClientRect();
    out.column = Math.round(box.width);
    document.querySelectorAll(".output pre, .cell_output pre").forEach(function (el) {
      if (el.scrollWidth > el.clientWidth + 1) {
        out.pre.push({text: el.textContent.slice(0, 80), scroll: el.scrollWidth,
                      client: el.clientWidth});
      }
    });
    document.querySelectorAll(".hashlib-nn-chart").forEach(function (el) {
      var drawn = el.querySelector("svg, canvas");
      if (!drawn) { return; }
      var r = drawn.getBoundingClientRect();
      out.charts.push({id: el.id, width: Math.round(r.width),
                       overflow: Math.max(0, Math.round(r.right - box.right))});
    });
    var root = document.documentElement;
    out.page = Math.max(0, root.scrollWidth - root.clientWidth);
    var node = document.createElement("script");
    node.type = "application/json";
    node.id = "hnn-layout";
    node.textContent = JSON.stringify(out);
    document.body.appendChild(node);
  }
  window.addEventListener("load", function () { setTimeout(measure, 3000); });
})();
</script>
"""
_LAYOUT_RE = re.compile(
    r'<script type="application/json" id="hnn-layout">(?P<json>.*?)</script>', re.S
)


def with_layout_probe(html: str, base: Path) -> str:
    """``html`` with a ``<base>`` pointing at ``base`` (so that a copy elsewhere finds its
    ``_static`` files) and :data:`LAYOUT_PROBE` before ``</body>``."""
    href = base.resolve().as_uri().rstrip("/") + "/"
    head = re.search(r"<head[^>]*>", html, re.I)
    if head is None:
        raise ValueError("page has no <head>")
    html = html[: head.end()] + f'<base href="{href}">' + html[head.end() :]
    end = html.lower().rfind("</body>")
    if end < 0:
        raise ValueError("page has no </body>")
    return html[:end] + LAYOUT_PROBE + html[end:]


def layout_of(dom: str) -> dict[str, Any] | None:
    """The measurements :data:`LAYOUT_PROBE` left in a dumped DOM, or ``None``."""
    match = _LAYOUT_RE.search(dom)
    if match is None:
        return None
    return json.loads(match["json"])  # a script's text is serialized as is


def layout_problems(layout: Mapping[str, Any] | None) -> list[str]:
    """Problems in :data:`LAYOUT_PROBE`'s measurements: a text output that scrolls sideways
    (``scrollWidth > clientWidth``), a chart wider than the text column, or a page that scrolls
    sideways. ``None`` (the probe never ran) is a problem too."""
    if layout is None:
        return ["layout was not measured (the probe script did not run)"]
    problems = []
    for pre in layout.get("pre", []):
        text = " ".join(str(pre.get("text", "")).split())[:60]
        problems.append(f"text output scrolls sideways ({pre['scroll']} px in {pre['client']} px): "
                        f"{text!r}")  # fmt: skip
    for chart in layout.get("charts", []):
        if chart.get("overflow", 0) > 1:
            problems.append(f"chart {chart['id']} is wider than the text column ("
                            f"{chart['width']} px, {chart['overflow']} px past its edge)")
    if layout.get("page", 0) > 1:
        problems.append(f"the page scrolls sideways by {layout['page']} px at "
                        f"{layout.get('viewport', '?')} px")  # fmt: skip
    return problems


def page_counts(dom: str) -> dict[str, int]:
    """How many chart containers and math elements a page's DOM has."""
    scanner = _DomScanner()
    scanner.feed(dom)
    scanner.close()
    return {
        "charts": sum(i["kind"] == "chart" for i in scanner.items),
        "math": sum(i["kind"] == "math" for i in scanner.items),
    }


def find_chromium() -> str:
    """Path of a Chromium binary: ``$CHROMIUM``, else ``chromium``/``chromium-browser`` on PATH."""
    explicit = os.environ.get("CHROMIUM")
    candidates = [explicit] if explicit else ["chromium", "chromium-browser", "google-chrome"]
    for name in candidates:
        found = shutil.which(name)
        if found:
            return found
    raise FileNotFoundError(
        f"no Chromium found (tried {candidates}); install it (`apt-get install chromium`) "
        "or set CHROMIUM to its path"
    )


#: Window width of the browser check: a common laptop screen.
CHECK_WIDTH = 1280


def dump_dom(page: Path, chromium: str, *, budget_ms: int = 20000, timeout_s: float = 120,
             width: int = CHECK_WIDTH) -> str:
    """The DOM of a local page after its scripts ran, from headless Chromium with no network,
    in a window ``width`` px wide.

    Any network request fails: host names resolve nowhere and http(s) goes to a dead proxy.
    """
    with tempfile.TemporaryDirectory(prefix="hashlib-nn-chromium-") as profile:
        cmd = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            f"--window-size={width},1000",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--proxy-server=http://127.0.0.1:9",
            f"--virtual-time-budget={budget_ms}",
            "--dump-dom",
            page.resolve().as_uri(),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(
            f"chromium failed on {page} (exit {done.returncode}): {done.stderr.strip()[-2000:]}"
        )
    return done.stdout


def check_rendered(
    html_dir: str | Path | None = None,
    *,
    root: str | Path | None = None,
    chromium: str | None = None,
    echo: bool = True,
) -> list[str]:
    """Open every chapter page of the built book in Chromium (offline, a window
    :data:`CHECK_WIDTH` px wide); return the problems.

    A page must exist for every chapter in ``_toc.yml``; each chart on it must be drawn and each
    formula typeset (:func:`dom_problems`); each chart must be a numbered figure whose title
    names its preset (:func:`figure_problems`); no text output may scroll sideways, no chart be
    wider than the text column and the page not scroll sideways (:func:`layout_problems`, from
    a copy of the page with :data:`LAYOUT_PROBE` added).
    """
    base = project_root(root)
    html_root = Path(html_dir) if html_dir is not None else base / "_build" / "html"
    browser = chromium or find_chromium()
    problems = []
    for source in chapters(base):
        page = html_root / f"{source.stem}.html"
        if not page.is_file():
            problems.append(f"{page}: missing (chapter {source.name} was not built)")
            continue
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="hashlib-nn-check-") as tmp:
            probe = Path(tmp) / page.name
            probe.write_text(with_layout_probe(page.read_text(encoding="utf-8"), page.parent),
                             encoding="utf-8")  # fmt: skip
            dom = dump_dom(probe, browser)
        counts = page_counts(dom)
        found = [
            f"{page.name}: {p}"
            for p in [*dom_problems(dom), *figure_problems(dom), *layout_problems(layout_of(dom))]
        ]
        problems.extend(found)
        if echo:
            status = "ok" if not found else f"{len(found)} problem(s)"
            print(
                f"{page.name}: {counts['charts']} chart(s), {counts['math']} formula(s), "
                f"{status} ({time.perf_counter() - start:.1f} s)",
                flush=True,
            )
    return problems


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python tools/book_check.py",
        description="check charts and math of the built HTML in Chromium",
    )
    parser.add_argument("html_dir", nargs="?", type=Path, default=None, help="default: _build/html")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    problems = check_rendered(args.html_dir)
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
