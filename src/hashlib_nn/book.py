"""Run the book's chapters with papermill and check the built HTML in a browser.

The book (``book/``, Jupyter Book 1) is a set of jupytext MyST-markdown notebooks listed in
``_toc.yml``. ``make book`` runs every chapter here at its default parameters (the gate: a failing
cell fails ``make``), stores the executed notebooks in the book's jupyter-cache so that
``jupyter-book build`` renders exactly those outputs, then builds the HTML. ``check_rendered``
opens each built page in headless Chromium with no network and checks that charts and math were
drawn.

Command line::

    python -m hashlib_nn.book run [CHAPTER ...] [-p NAME VALUE ...] [--out-dir DIR]
    python -m hashlib_nn.book list
    python -m hashlib_nn.book check [HTML_DIR]

``-p`` values are typed as papermill's own CLI types them: ``True``/``False``/``None``, ints and
floats are converted, anything else (``"[20, 60]"``) stays a string.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

__all__ = [
    "ChapterRun",
    "book_cache_key",
    "chapters",
    "check_rendered",
    "dom_problems",
    "dump_dom",
    "find_chromium",
    "main",
    "package_fingerprint",
    "page_counts",
    "papermill_value",
    "parameters_cell",
    "project_root",
    "run_chapter",
    "run_chapters",
]

#: Suffixes a ``_toc.yml`` entry without one may have, in the order Jupyter Book tries them.
CHAPTER_SUFFIXES = (".md", ".ipynb")
#: Where ``run_chapter`` writes executed notebooks, relative to the project root.
DEFAULT_OUT_DIR = Path("_build") / "executed"


def project_root(start: str | Path | None = None) -> Path:
    """The folder holding ``_toc.yml`` and ``book/``: ``start`` (default: the working directory)
    or one of its parents, else the source checkout this module was imported from."""
    here = Path(start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "_toc.yml").is_file() and (candidate / "book").is_dir():
            return candidate
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "_toc.yml").is_file():
        return checkout
    raise FileNotFoundError(
        f"no _toc.yml with a book/ folder beside it in {here} or its parents, nor in {checkout}; "
        "run from the hashlib_nn repository"
    )


def _toc_files(entries: Iterable[Mapping[str, Any]]) -> list[str]:
    """``file`` entries of a jb-book toc subtree, depth first, in reading order."""
    files: list[str] = []
    for entry in entries:
        if "file" in entry:
            files.append(str(entry["file"]))
        for key in ("parts", "chapters", "sections"):
            files.extend(_toc_files(entry.get(key, [])))
    return files


def chapters(root: str | Path | None = None) -> list[Path]:
    """The book's chapter sources in ``_toc.yml`` order, the root page first.

    Raises ``FileNotFoundError`` naming a toc entry with no ``book/<entry>.md`` (or ``.ipynb``).
    """
    import yaml

    base = project_root(root)
    toc_path = base / "_toc.yml"
    toc = yaml.safe_load(toc_path.read_text(encoding="utf-8")) or {}
    if "root" not in toc:
        raise ValueError(f"{toc_path} has no 'root' entry; found keys {sorted(toc)}")
    names = [str(toc["root"]), *_toc_files([toc])]
    paths: list[Path] = []
    for name in names:
        stem = base / "book" / name
        found = (
            [stem]
            if stem.suffix in CHAPTER_SUFFIXES
            else [stem.with_name(stem.name + s) for s in CHAPTER_SUFFIXES]
        )
        existing = [p for p in found if p.is_file()]
        if not existing:
            raise FileNotFoundError(
                f"_toc.yml lists {name!r} but none of {[str(p.relative_to(base)) for p in found]} "
                "exists"
            )
        paths.append(existing[0])
    return paths


def parameters_cell(path: str | Path) -> str:
    """Source of a chapter's ``parameters`` cell (its default parameters).

    Raises ``ValueError`` when the chapter has no code cell tagged ``parameters``.
    """
    nb = _read_notebook(Path(path))
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            return str(cell.source)
    raise ValueError(
        f"{path} has no code cell tagged 'parameters'; add one (in MyST: a code-cell with "
        "`:tags: [parameters]`) so papermill can inject parameters"
    )


def package_fingerprint() -> str:
    """``"<version> (source <sha256 prefix>)"`` of the installed hashlib_nn.

    jupyter-cache reuses a chapter's outputs while its code cells are unchanged, even when the
    package changed; chapters print this so a stale page shows which code produced it.
    """
    import hashlib

    from hashlib_nn import __version__

    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for source in sorted(package.rglob("*.py")):
        digest.update(source.relative_to(package).as_posix().encode())
        digest.update(source.read_bytes())
    return f"{__version__} (source {digest.hexdigest()[:12]})"


def papermill_value(text: str) -> Any:
    """Type a ``-p`` value the way papermill's CLI does (``papermill.cli._resolve_type``)."""
    if text == "True":
        return True
    if text == "False":
        return False
    if text == "None":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _read_notebook(path: Path) -> Any:
    import jupytext

    if path.suffix == ".ipynb":
        import nbformat

        return nbformat.read(path, as_version=4)
    return jupytext.read(path)


def _cache_executed(executed: Path, source: Path, cache_dir: Path) -> None:
    """Store a chapter executed at default parameters in the book's jupyter-cache.

    ``jupyter-book build`` (``execute_notebooks: cache``) looks notebooks up by a hash of their
    code cells' source and metadata, so the outputs papermill produced are copied into the
    chapter as read from its source (papermill adds per-cell metadata that would change the
    hash). The book then renders these outputs instead of executing the chapter again.
    """
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    ran = nbformat.read(executed, as_version=4)
    nb = _read_notebook(source)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    ran_code = [cell for cell in ran.cells if cell.cell_type == "code"]
    if [c.source for c in code] != [c.source for c in ran_code]:
        raise RuntimeError(
            f"{executed} does not hold the code cells of {source} (was it run with parameters?)"
        )
    for cell, ran_cell in zip(code, ran_code, strict=True):
        cell.outputs = ran_cell.outputs
        cell.execution_count = ran_cell.execution_count
    if "language_info" in ran.metadata:
        nb.metadata["language_info"] = ran.metadata["language_info"]
    cache = get_cache(str(cache_dir))
    cache.cache_notebook_bundle(
        CacheBundleIn(nb, str(source.resolve()), data={"executed_by": "hashlib_nn.book"}),
        check_validity=False,
        overwrite=True,
    )


def book_cache_key(source: str | Path) -> tuple[str, str]:
    """jupyter-cache keys of a chapter as papermill reads it (jupytext) and as the book build
    reads it (myst-nb); ``run_chapters`` spares the build an execution only when they agree."""
    from jupyter_cache import get_cache

    path = Path(source)
    with tempfile.TemporaryDirectory(prefix="hashlib-nn-cache-") as scratch:
        cache = get_cache(scratch)
        ours = cache.create_hashed_notebook(_read_notebook(path))[1]
        if path.suffix != ".md":
            return ours, ours
        from myst_nb.core.read import read_myst_markdown_notebook

        text = path.read_text(encoding="utf-8")
        return ours, cache.create_hashed_notebook(read_myst_markdown_notebook(text))[1]


def run_chapter(
    path: str | Path,
    parameters: Mapping[str, Any] | None = None,
    out_dir: str | Path | None = None,
    *,
    cache_dir: str | Path | None = None,
) -> Path:
    """Execute one chapter with papermill and return the executed notebook's path.

    The chapter runs with ``book/`` as its working directory, in the ``python3`` kernel, with
    ``parameters`` injected after its ``parameters`` cell. Raises papermill's
    ``PapermillExecutionError`` when a cell fails (the partly executed notebook is still
    written). When no parameters are given and ``cache_dir`` is set, the executed notebook is
    also stored in that jupyter-cache (see ``_cache_executed``).
    """
    import papermill

    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"chapter {str(source)!r} does not exist")
    base = project_root(source.parent)
    out_root = Path(out_dir) if out_dir is not None else base / DEFAULT_OUT_DIR
    out_root.mkdir(parents=True, exist_ok=True)
    out = out_root / f"{source.stem}.ipynb"
    papermill.execute_notebook(
        _read_notebook(source),
        str(out),
        parameters=dict(parameters or {}),
        cwd=str(base / "book"),
        kernel_name="python3",
        progress_bar=False,
    )
    if cache_dir is not None and not parameters:
        _cache_executed(out, source, Path(cache_dir))
    return out


@dataclass(frozen=True)
class ChapterRun:
    """One executed chapter."""

    source: Path  # the chapter, book/<name>.md
    output: Path  # the executed notebook papermill wrote
    seconds: float  # wall time, kernel start included


def _select(names: Sequence[str], root: Path) -> list[Path]:
    """Chapters named on the command line (``determinism`` or ``book/determinism.md``)."""
    known = chapters(root)
    if not names:
        return known
    by_stem = {p.stem: p for p in known}
    selected = []
    for name in names:
        if Path(name).is_file():
            selected.append(Path(name).resolve())
        elif Path(name).suffix in ("", *CHAPTER_SUFFIXES) and Path(name).stem in by_stem:
            selected.append(by_stem[Path(name).stem])
        else:
            raise ValueError(f"unknown chapter {name!r}; _toc.yml lists {sorted(by_stem)}")
    return selected


def run_chapters(
    names: Sequence[str] = (),
    parameters: Mapping[str, Any] | None = None,
    out_dir: str | Path | None = None,
    *,
    root: str | Path | None = None,
    cache: bool = True,
    echo: bool = True,
) -> list[ChapterRun]:
    """Execute chapters in ``_toc.yml`` order (all of them when ``names`` is empty).

    Stops at the first failing chapter (papermill's exception propagates). With ``cache`` and no
    parameters, each executed notebook also goes into ``_build/.jupyter_cache`` for the book build.
    """
    base = project_root(root)
    runs = []
    for source in _select(names, base):
        shown = source.relative_to(base) if source.is_relative_to(base) else source
        cache_dir = project_root(source.parent) / "_build" / ".jupyter_cache" if cache else None
        start = time.perf_counter()
        try:
            out = run_chapter(source, parameters, out_dir, cache_dir=cache_dir)
        except Exception:
            if echo:
                seconds = time.perf_counter() - start
                print(f"{shown}: FAILED after {seconds:.1f} s", file=sys.stderr, flush=True)
            raise
        run = ChapterRun(source, out, time.perf_counter() - start)
        runs.append(run)
        if echo:
            print(f"{shown}: {run.seconds:.1f} s -> {out}", flush=True)
    return runs


# --- browser check of the built HTML ------------------------------------------------------

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


def dump_dom(page: Path, chromium: str, *, budget_ms: int = 20000, timeout_s: float = 120) -> str:
    """The DOM of a local page after its scripts ran, from headless Chromium with no network.

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
    """Open every chapter page of the built book in Chromium (offline); return the problems.

    A page must exist for every chapter in ``_toc.yml``; each chart on it must be drawn and each
    formula typeset (see ``dom_problems``).
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
        dom = dump_dom(page, browser)
        counts = page_counts(dom)
        found = [f"{page.name}: {p}" for p in dom_problems(dom)]
        problems.extend(found)
        if echo:
            status = "ok" if not found else f"{len(found)} problem(s)"
            print(
                f"{page.name}: {counts['charts']} chart(s), {counts['math']} formula(s), "
                f"{status} ({time.perf_counter() - start:.1f} s)",
                flush=True,
            )
    return problems


# --- command line ---------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hashlib_nn.book", description="Run and check the book's chapters."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute chapters with papermill (all when none is named)")
    run.add_argument("chapters", nargs="*", help="chapter names (determinism) or paths")
    run.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="parameter for every chapter run, typed as papermill's CLI types it",
    )
    run.add_argument("--out-dir", type=Path, default=None, help=f"default: {DEFAULT_OUT_DIR}")
    sub.add_parser("list", help="print the chapters of _toc.yml")
    check = sub.add_parser("check", help="check charts and math of the built HTML in Chromium")
    check.add_argument("html_dir", nargs="?", type=Path, default=None, help="default: _build/html")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "list":
        for path in chapters():
            print(path)
        return 0
    if args.command == "check":
        problems = check_rendered(args.html_dir)
        for problem in problems:
            print(f"FAIL {problem}", file=sys.stderr)
        return 1 if problems else 0
    parameters = {name: papermill_value(value) for name, value in args.parameter}
    from papermill.exceptions import PapermillExecutionError

    start = time.perf_counter()
    try:
        runs = run_chapters(args.chapters, parameters, args.out_dir)
    except PapermillExecutionError as err:
        print(f"FAIL {err}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{len(runs)} chapter(s) in {time.perf_counter() - start:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
