"""Publishing and citing the book: `make publish` against a local bare repository, the GitHub
Pages workflow, the bibliography and repository settings of _config.yml, the "How to cite" page,
CITATION.cff and LICENSE.

The publish test runs the Makefile's own recipe (``make -f Makefile -C <a scratch clone>``)
with this venv's ghp-import, on a fake ``_build/html`` that holds ``index.html`` and one page per
chapter of ``_toc.yml``, and reads the pushed ``gh-pages`` branch back from the bare repository.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
GHP_IMPORT = BIN / "ghp-import"


def pyproject() -> dict[str, Any]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def git(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}  # fmt: skip
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, env=env,
                          timeout=60, check=True)  # fmt: skip
    return done.stdout


def toc_chapters() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"], *(entry["file"] for entry in toc["chapters"])]


def fake_build(clone: Path, stamp: str) -> dict[str, str]:
    """``_build/html`` with index.html and a page per chapter; {path: text}."""
    html = clone / "_build" / "html"
    pages = {"index.html": f"<html><body>book {stamp}</body></html>\n"}
    pages.update({f"{name}.html": f"<html><body>{name} {stamp}</body></html>\n"
                  for name in toc_chapters()})  # fmt: skip
    pages["_static/hashlib_nn.css"] = (ROOT / "book/_static/hashlib_nn.css").read_text()
    for rel, text in pages.items():
        (html / rel).parent.mkdir(parents=True, exist_ok=True)
        (html / rel).write_text(text)
    return pages


def make_publish(clone: Path, bare: Path) -> subprocess.CompletedProcess[str]:
    """The Makefile's publish recipe in ``clone`` (venv treated as built: ``-o venv``)."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}  # fmt: skip
    return subprocess.run(
        ["make", "-f", str(ROOT / "Makefile"), "-C", str(clone), "-o", "venv",
         f"BIN={BIN}", "REMOTE=pages", "publish"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


@pytest.fixture()
def clone(tmp_path: Path) -> tuple[Path, Path]:
    """A scratch clone (one commit) whose remote ``pages`` is an empty bare repository."""
    if shutil.which("git") is None or shutil.which("make") is None:
        pytest.skip("needs git and make")
    if not GHP_IMPORT.exists():
        pytest.skip("needs ghp-import in the venv (pip install -e '.[book]')")
    bare, work = tmp_path / "site.git", tmp_path / "clone"
    bare.mkdir()
    work.mkdir()
    git("init", "--bare", "-q", cwd=bare)
    git("init", "-q", "-b", "main", cwd=work)
    (work / "README.md").write_text("scratch\n")
    git("add", "README.md", cwd=work)
    git("commit", "-q", "-m", "scratch", cwd=work)
    git("remote", "add", "pages", str(bare), cwd=work)
    return work, bare


def test_make_publish_pushes_every_page_to_gh_pages(clone: tuple[Path, Path]) -> None:
    work, bare = clone
    pages = fake_build(work, "v1")
    done = make_publish(work, bare)
    assert done.returncode == 0, done.stderr
    listed = set(git("ls-tree", "-r", "--name-only", "gh-pages", cwd=bare).split())
    assert {"index.html", ".nojekyll", *(f"{c}.html" for c in toc_chapters())} <= listed
    assert listed == set(pages) | {".nojekyll"}
    for rel, text in pages.items():
        assert git("show", f"gh-pages:{rel}", cwd=bare) == text
    head = git("rev-parse", "--short", "HEAD", cwd=work).strip()
    assert git("log", "-1", "--format=%s", "gh-pages", cwd=bare).strip() == (
        f"Publish the book from {head}")
    assert git("branch", "--list", cwd=bare).split() == ["gh-pages"]  # main was not pushed

    # publishing again replaces the pages: a second commit on the branch, the new text served
    fake_build(work, "v2")
    (work / "_build/html/cite.html").unlink()
    assert make_publish(work, bare).returncode == 0
    assert "cite.html" not in git("ls-tree", "-r", "--name-only", "gh-pages", cwd=bare).split()
    assert git("show", "gh-pages:index.html", cwd=bare) == "<html><body>book v2</body></html>\n"
    assert len(git("log", "--format=%H", "gh-pages", cwd=bare).split()) == 2


def test_make_publish_without_a_build_says_what_to_do(clone: tuple[Path, Path]) -> None:
    work, bare = clone
    done = make_publish(work, bare)
    assert done.returncode != 0
    assert "no _build/html/index.html: run make book first" in done.stderr
    assert git("branch", "--list", cwd=bare).strip() == ""  # nothing was pushed


def test_publish_needs_ghp_import_from_the_book_extra() -> None:
    project = pyproject()["project"]
    book = " ".join(project["optional-dependencies"]["book"])
    assert "ghp-import" in book and "sphinxcontrib-bibtex" in book
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^REMOTE \?= origin$", makefile, re.M)
    assert re.search(r"^publish: venv$", makefile, re.M)


# --- the GitHub Pages workflow -------------------------------------------------------------


def test_workflow_builds_with_make_book_and_deploys_pages_on_push_to_main() -> None:
    workflow = yaml.safe_load((ROOT / ".github/workflows/book.yml").read_text())
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` key as True
    assert on["push"]["branches"] == ["main"]
    assert workflow["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    steps = build["steps"]
    uses = [s.get("uses", "").split("@")[0] for s in steps]
    assert uses[0] == "actions/checkout"
    runs = [s["run"] for s in steps if "run" in s]
    assert runs == ["make book"]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"
    assert uses.index("actions/upload-pages-artifact") > next(
        i for i, s in enumerate(steps) if s.get("run") == "make book")
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert [s["uses"].split("@")[0] for s in deploy["steps"]] == ["actions/deploy-pages"]
    for job in (build, deploy):
        assert all("@" in s["uses"] for s in job["steps"] if "uses" in s)  # versions pinned


# --- bibliography, repository button, stylesheet -------------------------------------------


def book_config() -> dict:
    from jupyter_book.config import get_final_config

    config, _ = get_final_config(user_yaml=ROOT / "_config.yml",
                                 cli_config={"latex_individualpages": False},
                                 sourcedir=ROOT / "book", validate=True,
                                 raise_on_invalid=True)  # fmt: skip
    return config


def bibliography() -> dict:
    from pybtex.database import parse_file

    return dict(parse_file(str(ROOT / "book" / "references.bib")).entries)


def test_config_loads_the_bibliography_repository_button_and_stylesheet() -> None:
    config = book_config()
    assert "sphinxcontrib.bibtex" in config["extensions"]
    assert config["bibtex_bibfiles"] == ["references.bib"]
    assert (ROOT / "book" / config["bibtex_bibfiles"][0]).is_file()
    assert config["bibtex_reference_style"] == "author_year"
    theme = config["html_theme_options"]
    assert theme["use_repository_button"] is True
    assert theme["repository_url"].startswith("https://github.com/")
    assert theme["path_to_docs"] == "book" and theme["repository_branch"] == "main"
    assert "hashlib_nn.css" in config["html_css_files"]
    assert (ROOT / "book/_static/hashlib_nn.css").is_file()


def test_stylesheet_wraps_outputs_and_fits_charts() -> None:
    css = (ROOT / "book/_static/hashlib_nn.css").read_text()
    rules = dict(re.findall(r"([^{}]+)\{([^}]*)\}", re.sub(r"/\*.*?\*/", "", css, flags=re.S)))
    rules = {" ".join(k.split()): v for k, v in rules.items()}
    wrap = next(v for k, v in rules.items() if "div.cell_output pre" in k)
    assert "white-space: pre-wrap" in wrap and "overflow-wrap: anywhere" in wrap
    assert "div.cell_input pre" in next(k for k in rules if "div.cell_output pre" in k)
    chart = next(v for k, v in rules.items() if k.startswith(".hashlib-nn-chart svg"))
    assert "max-width: 100%" in chart and "height: auto" in chart
    legend = next(v for k, v in rules.items() if "role-legend-symbol" in k)
    assert "opacity: 1 !important" in legend and "fill-opacity: 1 !important" in legend
    # the swatch rule can only reach charts drawn as SVG
    from hashlib_nn.charts import CHART_CLASS, chart_html

    assert CHART_CLASS == "hashlib-nn-chart"
    assert 'renderer: "svg"' in chart_html({"mark": "point"})


REQUIRED_WORKS = {
    "he2021neural": ("2021", "Neural Networks Behave As Hash Encoders"),
    "lecun1998gradient": ("1998", "Gradient-Based Learning"),
    "xiao2017fashion": ("2017", "Fashion-MNIST"),
    "kingma2015adam": ("2015", "Adam"),
    "ioffe2015batch": ("2015", "Batch Normalization"),
    "charikar2002similarity": ("2002", "Similarity Estimation"),
    "pedregosa2011scikit": ("2011", "Scikit-learn"),
    "glorot2010understanding": ("2010", "Understanding the Difficulty"),
    "montufar2014number": ("2014", "Linear Regions"),
    "hanin2019complexity": ("2019", "Linear Regions"),
}


def test_references_hold_the_paper_and_the_works_the_book_cites() -> None:
    entries = bibliography()
    for key, (year, title) in REQUIRED_WORKS.items():
        assert entries[key].fields["year"] == year, key
        assert title.lower() in entries[key].fields["title"].lower().replace("{", "").replace(
            "}", ""), key
    paper = entries["he2021neural"]
    assert [str(p) for p in paper.persons["author"]] == [
        "He, Fengxiang", "Lei, Shiye", "Ji, Jianmin", "Tao, Dacheng"]
    assert paper.fields["eprint"] == "2101.05490"
    cited = set()
    for page in (ROOT / "book").glob("*.md"):
        for keys in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", page.read_text()):
            cited |= {k.strip() for k in keys.split(",")}
    assert cited and cited <= set(entries), sorted(cited - set(entries))
    # one bibliography for the whole book, on the "How to cite" page
    holders = [p.name for p in (ROOT / "book").glob("*.md") if "```{bibliography}" in p.read_text()]
    assert holders == ["cite.md"]


# --- How to cite, CITATION.cff, LICENSE ----------------------------------------------------


def cite_page_bibtex() -> dict:
    from pybtex.database import parse_string

    text = (ROOT / "book" / "cite.md").read_text()
    blocks = re.findall(r"```bibtex\n(.*?)```", text, re.S)
    return dict(parse_string("\n".join(blocks), "bibtex").entries)


def test_cite_page_paper_entry_is_the_bibliography_entry() -> None:
    shown, bib = cite_page_bibtex()["he2021neural"], bibliography()["he2021neural"]
    assert dict(shown.fields) == dict(bib.fields)
    assert [str(p) for p in shown.persons["author"]] == [str(p) for p in bib.persons["author"]]


def test_citation_cff_matches_the_package_and_the_cite_page() -> None:
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    for key in ("cff-version", "message", "title", "authors", "version", "license"):
        assert cff[key], key
    version = pyproject()["project"]["version"]
    import hashlib_nn

    assert cff["version"] == version == hashlib_nn.__version__
    assert cff["license"] == "MIT"
    software = cite_page_bibtex()["hashlib_nn"]
    assert software.fields["version"] == cff["version"]
    assert software.fields["year"] == str(cff["date-released"])[:4]
    assert software.fields["url"] == cff["repository-code"]
    config = book_config()
    assert config["html_theme_options"]["repository_url"] == cff["repository-code"]
    paper = cff["references"][0]
    assert paper["title"] == bibliography()["he2021neural"].fields["title"]
    assert [a["family-names"] for a in paper["authors"]] == ["He", "Lei", "Ji", "Tao"]
    assert {"type": "doi", "value": "10.48550/arXiv.2101.05490"} in paper["identifiers"]


def test_license_is_mit() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n")
    assert re.search(r"^Copyright \(c\) \d{4} hashlib_nn authors$", text, re.M)
    assert "THE SOFTWARE IS PROVIDED \"AS IS\"" in text
    project = pyproject()["project"]
    assert project["license"] == {"text": "MIT"}


def test_changelog_has_an_unreleased_section_and_the_current_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    version = pyproject()["project"]["version"]
    headings = re.findall(r"^## \[([^\]]+)\]", text, re.M)
    assert headings[0] == "Unreleased" and version in headings
