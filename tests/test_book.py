"""The book's infrastructure: toc, chapters, configuration, papermill runner, browser check."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from hashlib_nn import book

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = book.chapters(ROOT)

HEADER = textwrap.dedent(
    """\
    ---
    jupytext:
      text_representation:
        extension: .md
        format_name: myst
        format_version: 0.13
    kernelspec:
      display_name: Python 3
      language: python
      name: python3
    ---

    # A tiny chapter
    """
)


def make_project(tmp_path: Path, toc: dict, chapters: dict[str, str]) -> Path:
    (tmp_path / "book").mkdir()
    (tmp_path / "_toc.yml").write_text(yaml.safe_dump(toc), encoding="utf-8")
    for name, body in chapters.items():
        (tmp_path / "book" / name).write_text(HEADER + body, encoding="utf-8")
    return tmp_path


PARAMS_CELL = '\n```{code-cell} ipython3\n:tags: [parameters]\n\nn = 2\nlabel = "x"\n```\n'


# --- toc and chapters ---------------------------------------------------------------------


def test_toc_order_covers_parts_chapters_and_sections(tmp_path: Path) -> None:
    toc = {
        "format": "jb-book",
        "root": "intro",
        "parts": [
            {"caption": "A", "chapters": [{"file": "a", "sections": [{"file": "a1"}]}]},
            {"caption": "B", "chapters": [{"file": "b.md"}]},
        ],
    }
    names = ["intro.md", "a.md", "a1.md", "b.md"]
    root = make_project(tmp_path, toc, {n: PARAMS_CELL for n in names})
    assert [p.name for p in book.chapters(root)] == names


def test_missing_toc_entry_is_named(tmp_path: Path) -> None:
    toc = {"format": "jb-book", "root": "intro", "chapters": [{"file": "ghost"}]}
    root = make_project(tmp_path, toc, {"intro.md": PARAMS_CELL})
    with pytest.raises(FileNotFoundError, match=r"_toc.yml lists 'ghost' but none of"):
        book.chapters(root)


def test_toc_without_root_is_refused(tmp_path: Path) -> None:
    root = make_project(tmp_path, {"format": "jb-book"}, {})
    with pytest.raises(ValueError, match="has no 'root' entry"):
        book.chapters(root)


def test_book_toc_is_a_symlink_to_the_top_level_toc() -> None:
    link = ROOT / "book" / "_toc.yml"
    assert link.is_symlink(), "book/_toc.yml must be a symlink to ../_toc.yml"
    assert link.resolve() == (ROOT / "_toc.yml").resolve()


def test_toc_root_is_the_intro() -> None:
    assert CHAPTERS[0] == ROOT / "book" / "intro.md"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_is_a_jupytext_notebook_with_parameters(chapter: Path) -> None:
    import jupytext

    nb = jupytext.read(chapter)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert nb.metadata["kernelspec"]["language"] == "python"
    assert nb.metadata["jupytext"]["text_representation"]["format_name"] == "myst"
    assert book.parameters_cell(chapter).strip()
    title = next(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "$" not in title.splitlines()[0], "keep math out of chapter titles (sidebar shows TeX)"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_book_build_finds_what_papermill_ran(chapter: Path) -> None:
    # jupytext (papermill's reader) and myst-nb (the book's) must hash a chapter alike, or the
    # build would execute it a second time instead of using the papermill outputs.
    ours, books = book.book_cache_key(chapter)
    assert ours == books


def test_chapter_without_parameters_cell_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bare.md"
    path.write_text(HEADER + "\n```{code-cell} ipython3\nx = 1\n```\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bare.md has no code cell tagged 'parameters'"):
        book.parameters_cell(path)


def test_package_fingerprint_names_the_version() -> None:
    from hashlib_nn import __version__

    assert re.fullmatch(
        re.escape(__version__) + r" \(source [0-9a-f]{12}\)", book.package_fingerprint()
    )


# --- configuration ------------------------------------------------------------------------


def test_config_executes_and_fails_on_errors() -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert config["only_build_toc_files"] is True
    assert str(config["copyright"]).strip()
    assert config["execute"]["execute_notebooks"] in ("cache", "force")
    assert config["execute"]["allow_errors"] is False
    assert config["execute"]["timeout"] > 30
    sphinx = config["sphinx"]["config"]
    assert sphinx["nb_execution_raise_on_error"] is True
    assert "intersphinx_mapping" not in sphinx
    assert "sphinx.ext.intersphinx" not in (config["sphinx"].get("extra_extensions") or [])


def test_mathjax_is_vendored_where_config_points() -> None:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    sphinx = config["sphinx"]["config"]
    # Sphinx resolves a relative mathjax_path under _static/ of the output; html_extra_path
    # folders are copied to the output root.
    assert "://" not in sphinx["mathjax_path"]
    found = [
        ROOT / "book" / extra / "_static" / sphinx["mathjax_path"]
        for extra in sphinx["html_extra_path"]
    ]
    script = next((p for p in found if p.is_file()), None)
    assert script is not None, f"none of {found} exists"
    mathjax = script.parent
    assert (mathjax / "LICENSE").is_file()
    assert len(list((mathjax / "output/chtml/fonts/woff-v2").glob("*.woff"))) >= 20
    assert not list((ROOT / "book" / "_static").rglob("tex-*.js")), "MathJax must not be in _static"


def test_environment_yml_agrees_with_pyproject() -> None:
    tomllib = pytest.importorskip("tomllib")
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    deps = env["dependencies"]
    python = next(d for d in deps if isinstance(d, str) and d.startswith("python="))
    version = tuple(int(v) for v in python.split("=")[1].split(".")[:2])
    minimum = re.fullmatch(r">=\s*(\d+)\.(\d+)", project["requires-python"].strip())
    assert minimum is not None
    assert version >= (int(minimum[1]), int(minimum[2]))
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    editable = [p for p in pip if p.startswith("-e")]
    assert len(editable) == 1
    extras = re.fullmatch(r"-e \.\[([\w,]+)\]", editable[0])
    assert extras is not None, editable[0]
    assert set(extras[1].split(",")) <= set(project["optional-dependencies"])
    # Extras the Makefile installs are the ones conda users get.
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert f'-e ".[{extras[1]}]"' in makefile
    # Anything else listed must be a declared dependency (no drift between the two files).
    declared = {
        re.split(r"[<>=!~\[ ;]", d)[0].lower().replace("_", "-") for d in project["dependencies"]
    }
    others = [d for d in deps if isinstance(d, str) and d.split("=")[0] not in ("python", "pip")]
    others += [p for p in pip if not p.startswith("-e")]
    for dep in others:
        assert re.split(r"[<>=!~\[ ;]", dep)[0].lower().replace("_", "-") in declared, dep


# --- the papermill runner -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["True", "False", "None", "3", "-2", "0.5", "1e-3", "[20, 60]", "mnist", "", "nan"]
)
def test_cli_values_are_typed_like_papermill(text: str) -> None:
    from papermill.cli import _resolve_type

    ours, theirs = book.papermill_value(text), _resolve_type(text)
    assert type(ours) is type(theirs)
    assert ours == theirs or (ours != ours and theirs != theirs)  # nan


def test_run_chapter_injects_parameters_and_caches_defaults(tmp_path: Path) -> None:
    import nbformat
    from jupyter_cache import get_cache
    from myst_nb.core.read import read_myst_markdown_notebook

    body = PARAMS_CELL + "\n```{code-cell} ipython3\nprint(n * 2, label)\n```\n"
    root = make_project(tmp_path, {"format": "jb-book", "root": "intro"}, {"intro.md": body})
    chapter = root / "book" / "intro.md"
    out = book.run_chapter(chapter, {"n": 21, "label": "[20, 60]"}, tmp_path / "out")
    text = nbformat.read(out, as_version=4).cells[-1].outputs[0]["text"]
    assert text.strip() == "42 [20, 60]"

    cache_dir = root / "_build" / ".jupyter_cache"
    runs = book.run_chapters(root=root, echo=False)
    assert [r.source for r in runs] == [chapter]
    nb = read_myst_markdown_notebook(chapter.read_text(encoding="utf-8"))
    record = get_cache(str(cache_dir)).match_cache_notebook(nb)  # what jupyter-book looks up
    assert record is not None


def test_failing_cell_fails_the_run(tmp_path: Path) -> None:
    from papermill.exceptions import PapermillExecutionError

    body = PARAMS_CELL + '\n```{code-cell} ipython3\nraise RuntimeError("boom")\n```\n'
    root = make_project(tmp_path, {"format": "jb-book", "root": "intro"}, {"intro.md": body})
    with pytest.raises(PapermillExecutionError, match="boom"):
        book.run_chapters(root=root, echo=False, cache=False)
    assert (
        book.main(["run", "--out-dir", str(tmp_path / "o"), str(root / "book" / "intro.md")]) == 1
    )


def test_cli_rejects_unknown_chapter(capsys: pytest.CaptureFixture[str]) -> None:
    assert book.main(["run", "no-such-chapter"]) == 2
    assert "unknown chapter 'no-such-chapter'; _toc.yml lists" in capsys.readouterr().err


def test_cli_lists_chapters(capsys: pytest.CaptureFixture[str]) -> None:
    assert book.main(["list"]) == 0
    assert capsys.readouterr().out.split() == [str(p) for p in CHAPTERS]


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
    problems = book.dom_problems(dom)
    assert len(problems) == len(expected), problems
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start), problem


def test_an_svg_after_the_chart_does_not_count() -> None:
    dom = f"{EMPTY_CHART}<svg></svg><span class='math'>x</span><mjx-container/>"
    assert len(book.dom_problems(dom)) == 2


def test_page_counts() -> None:
    dom = f"{DRAWN_CHART}{EMPTY_CHART}{TYPESET_MATH}{RAW_MATH}"
    assert book.page_counts(dom) == {"charts": 2, "math": 2}


def test_missing_chromium_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(FileNotFoundError, match="apt-get install chromium"):
        book.find_chromium()


def test_missing_page_is_reported(tmp_path: Path) -> None:
    problems = book.check_rendered(tmp_path, root=ROOT, chromium=sys.executable, echo=False)
    assert len(problems) == len(CHAPTERS)
    assert all("missing" in p for p in problems)
