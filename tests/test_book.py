"""The book's infrastructure: toc, chapters, configuration, papermill runner, browser check."""

from __future__ import annotations

import json
import os
import re
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


# --- parameters: unknown names are refused --------------------------------------------------


def test_parameter_names_are_the_assignments_of_the_parameters_cell(tmp_path: Path) -> None:
    body = (
        "\n```{code-cell} ipython3\n:tags: [parameters]\n\n"
        'n = 2\nlabel: str = "x"\na = b = None\n```\n'
    )
    root = make_project(tmp_path, {"format": "jb-book", "root": "intro"}, {"intro.md": body})
    assert book.parameter_names(root / "book" / "intro.md") == ["n", "label", "a", "b"]


def test_every_chapter_accepts_what_its_parameters_cell_assigns() -> None:
    model_size = next(p for p in CHAPTERS if p.stem == "model_size")
    names = book.parameter_names(model_size)
    assert {"preset", "widths", "epochs", "seed", "dataset"} <= set(names)
    assert book.check_parameters([model_size], {"widths": "[20]"}) == {
        model_size: {"widths": "[20]"}
    }


def test_unknown_parameter_is_refused_with_the_accepted_names(tmp_path: Path) -> None:
    root = make_project(tmp_path, {"format": "jb-book", "root": "intro"}, {"intro.md": PARAMS_CELL})
    chapter = root / "book" / "intro.md"
    with pytest.raises(ValueError) as err:
        book.run_chapters([str(chapter)], {"widht": 3}, root=root, echo=False, cache=False)
    assert str(err.value) == "unknown parameter 'widht' for chapter 'intro'; it accepts: n, label"


def test_cli_refuses_a_misspelt_parameter_before_running(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert book.main(["run", "model_size", "-p", "widht", "[20]", "-p", "preset", "smoke"]) == 2
    assert capsys.readouterr().err == (
        "error: unknown parameter 'widht' for chapter 'model_size'; it accepts: dataset, "
        "protocol, preset, widths, epochs, repeats, seed, device\n"
    )


def test_parameters_go_to_the_chapters_that_assign_them(tmp_path: Path) -> None:
    other = "\n```{code-cell} ipython3\n:tags: [parameters]\n\nm = 1\n```\n"
    toc = {"format": "jb-book", "root": "a", "chapters": [{"file": "b"}]}
    root = make_project(tmp_path, toc, {"a.md": PARAMS_CELL, "b.md": other})
    a, b = root / "book" / "a.md", root / "book" / "b.md"
    assert book.check_parameters([a, b], {"n": 5, "m": 7}) == {a: {"n": 5}, b: {"m": 7}}
    with pytest.raises(ValueError) as err:
        book.check_parameters([a, b], {"n": 5, "k": 1, "j": 2})
    assert str(err.value) == (
        "unknown parameters 'k', 'j': no chapter run here accepts it; accepted: a: n, label; b: m"
    )


# --- parallel build: dependencies from the store, the schedule, threads ----------------------

ALL = frozenset({"rr", "net", "kmeans", "knn", "lr"})


def needs(name: str, opaque: bool = False, **keys: tuple[frozenset[str], tuple[int, ...]]):
    return book.ChapterNeeds(
        name, {k: (m, frozenset(c)) for k, (m, c) in keys.items()}, opaque=opaque
    )


def test_chapters_sharing_a_run_are_ordered_in_reading_order() -> None:
    graph = [
        needs("a", k1=(ALL, ())),
        needs("b", k2=(ALL, ())),  # shares nothing
        needs("c", k1=(ALL, ()), k3=(ALL, ())),  # shares k1 with a
        needs("d"),  # no store at all
        needs("e", k3=(ALL, ())),  # k3: c's
    ]
    assert book.dependencies(graph) == [set(), set(), {0}, set(), {2}]


def test_readers_of_a_run_held_by_a_common_predecessor_run_together() -> None:
    graph = [
        needs("trainer", k=(ALL, (0, 1))),
        needs("reader1", k=(frozenset({"rr"}), (1,))),
        needs("reader2", k=(ALL, (0,))),
        needs("extender", k=(ALL, (0, 5))),  # asks for checkpoint 5: re-runs k
    ]
    deps = book.dependencies(graph)
    assert deps[1] == {0} and deps[2] == {0}  # readers wait for the trainer only
    assert deps[3] == {0, 1, 2}  # the extender rewrites k: after every reader of it


def test_a_run_first_asked_for_by_two_chapters_is_trained_by_the_first() -> None:
    graph = [needs("x"), needs("a", k=(frozenset({"rr"}), ())), needs("b", k=(ALL, ()))]
    assert book.dependencies(graph) == [set(), set(), {1}]


def test_an_opaque_chapter_waits_for_every_chapter_using_the_store() -> None:
    graph = [
        needs("a", k=(ALL, ())),
        needs("plain"),
        needs("c", opaque=True),
        needs("d", k=(ALL, ())),
    ]
    assert book.dependencies(graph) == [set(), set(), {0}, {0, 2}]


def test_schedule_respects_dependencies_and_the_number_of_jobs() -> None:
    deps = [set(), set(), {0}, {0, 1}, set(), {2, 3}]
    seconds = [10.0, 4.0, 6.0, 3.0, 5.0, 1.0]
    for jobs in (1, 2, 3, 8):
        times = book.schedule(deps, seconds, jobs)
        for j, ds in enumerate(deps):
            assert all(times[i][1] <= times[j][0] for i in ds)
            assert times[j][1] - times[j][0] == seconds[j]
        events = sorted(t for s, e in times for t in (s, e))
        for t in events:  # never more than `jobs` at once
            assert sum(s <= t < e for s, e in times) <= jobs
    assert max(e for _, e in book.schedule(deps, seconds, 1)) == sum(seconds)
    # 2 jobs: 0 (10 s) with 1, 4 beside it; 2 and 3 after 0; 5 last: 10 + 6 + 1
    assert max(e for _, e in book.schedule(deps, seconds, 2)) == 17.0


def test_schedule_starts_the_longest_chain_first() -> None:
    # 3 (10 s) waits for 0 (1 s): once 0 ends, 3 must start before 2, although 2 comes first
    deps = [set(), set(), set(), {0}]
    times = book.schedule(deps, [1.0, 5.0, 5.0, 10.0], 2)
    assert times == [(0.0, 1.0), (0.0, 5.0), (5.0, 10.0), (1.0, 11.0)]
    # equal chains: reading order
    assert book.schedule([set(), set()], [2.0, 2.0], 1) == [(0.0, 2.0), (2.0, 4.0)]


def test_schedule_refuses_bad_graphs() -> None:
    with pytest.raises(ValueError, match=r"chapter 1 waits for \[1\]: only earlier chapters"):
        book.schedule([set(), {1}], [1.0, 1.0], 2)
    with pytest.raises(ValueError, match="jobs must be a positive integer; got '0'"):
        book.schedule([set()], [1.0], 0)


def test_the_book_dependencies_follow_its_grids() -> None:
    """At the book's defaults: derived from the chapters' grids, not listed by hand."""
    from hashlib_nn.experiments import content_key
    from hashlib_nn.experiments.presets import ALL_CHAPTERS, grid

    by_name = {p.stem: i for i, p in enumerate(CHAPTERS)}
    needs_ = [book.chapter_needs(p) for p in CHAPTERS]
    deps = book.dependencies(needs_)
    ancestors: list[set[int]] = []
    for ds in deps:
        ancestors.append(set(ds).union(*(ancestors[d] for d in ds)))
    keys = {c: {content_key(x) for x in grid(c)} for c in ("model_size", "training_time")}
    runs = {k for k in needs_[by_name["determinism"]].requests if len(k) == 64}
    assert runs == keys["model_size"]
    # determinism computes the controls of its runs; categorization adds its own to them
    controls = {book.CONTROLS_PREFIX + k for k in keys["model_size"]}
    assert controls <= set(needs_[by_name["determinism"]].requests)
    assert controls <= set(needs_[by_name["categorization"]].requests)
    assert keys["training_time"] <= set(needs_[by_name["phase_chart"]].requests)
    # categorization and model_size read the determinism chapter's runs (all suites): after it,
    # and beside each other
    for reader in ("categorization", "model_size"):
        assert deps[by_name[reader]] == {by_name["determinism"]}
    # training time shares no run with the model-size grid at quick
    assert deps[by_name["training_time"]] == set()
    # claims reads every grid chapter's runs: it comes after every chapter that trains one
    trainers = {i for i, n in enumerate(needs_) if n.requests and i < by_name["claims"]}
    assert (
        trainers - {by_name["categorization"], by_name["model_size"]}
        <= ancestors[by_name["claims"]]
    )
    for name in ("intro", "cnn", "cite", "why_numbers_differ"):
        assert not needs_[by_name[name]].requests and not needs_[by_name[name]].opaque
    # the compute appendix reads the store for every grid chapter in a loop: all the grids at
    # quick, so it comes after every chapter that trains a run
    appendix = needs_[by_name["appendix_compute"]]
    assert not appendix.opaque
    assert {k for k in appendix.requests} == {
        content_key(c) for chapter in ALL_CHAPTERS for c in grid(chapter, "quick")
    }
    assert (
        trainers - {by_name["categorization"], by_name["model_size"]}
        <= ancestors[by_name["appendix_compute"]]
    )


def test_chapter_needs_evaluates_the_calls_at_the_given_parameters(tmp_path: Path) -> None:
    from hashlib_nn.experiments import content_key
    from hashlib_nn.experiments.presets import chapter_params

    cell = (
        '\n```{code-cell} ipython3\n:tags: [parameters]\n\npreset = "smoke"\nwidths = None\n```\n'
        "\n```{code-cell} ipython3\nfrom hashlib_nn.experiments import presets\n"
        'plan = presets.chapter_params("model_size", preset, widths=widths)\n```\n'
    )
    root = make_project(tmp_path, {"format": "jb-book", "root": "intro"}, {"intro.md": cell})
    path = root / "book" / "intro.md"
    got = book.chapter_needs(path, {"widths": "[7]"})
    expected = chapter_params("model_size", "smoke", widths=[7])
    assert set(got.requests) == {content_key(c) for c in expected}
    assert not got.opaque
    unknown = cell.replace("widths=widths", "widths=some_variable")
    (root / "book" / "intro.md").write_text(HEADER + unknown, encoding="utf-8")
    assert book.chapter_needs(path).opaque


def test_threads_are_the_same_whatever_the_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HASHLIB_NN_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert book.book_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert book.book_threads() == 3
    monkeypatch.setenv("HASHLIB_NN_THREADS", "2")
    assert book.book_threads() == 2 and book.book_threads(4) == 4
    monkeypatch.setenv("HASHLIB_NN_THREADS", "two")
    with pytest.raises(
        ValueError, match=r"\$HASHLIB_NN_THREADS must be a positive integer; got 'two'"
    ):
        book.book_threads()


def test_parallel_run_runs_independent_chapters_at_once_with_the_threads(tmp_path: Path) -> None:
    """a and b each wait for the other to have started (they time out when run one after the
    other); c runs after whichever ends; every kernel has the threads asked for."""
    rendezvous = (
        "\n```{code-cell} ipython3\nimport os, pathlib, time\n"
        "here = pathlib.Path(os.environ['RENDEZVOUS'])\n"
        "(here / NAME).touch()\n"
        "deadline = time.time() + 120\n"
        "while OTHER and not (here / OTHER).exists() and time.time() < deadline:\n"
        "    time.sleep(0.1)\n"
        "print(not OTHER or (here / OTHER).exists(), os.environ['OMP_NUM_THREADS'])\n```\n"
    )
    cell = "\n```{{code-cell}} ipython3\n:tags: [parameters]\n\nNAME = {!r}\nOTHER = {!r}\n```\n"
    toc = {"format": "jb-book", "root": "a", "chapters": [{"file": "b"}, {"file": "c"}]}
    pairs = {"a": "b", "b": "a", "c": ""}
    chapters = {f"{n}.md": cell.format(n, o) + rendezvous for n, o in pairs.items()}
    root = make_project(tmp_path, toc, chapters)
    meet = tmp_path / "meet"
    meet.mkdir()
    import nbformat

    old = os.environ.get("RENDEZVOUS")
    os.environ["RENDEZVOUS"] = str(meet)
    try:
        runs = book.run_parallel(
            root=root, jobs=2, threads=3, out_dir=tmp_path / "out", echo=False, cache=False
        )
    finally:
        if old is None:
            del os.environ["RENDEZVOUS"]
        else:
            os.environ["RENDEZVOUS"] = old
    assert [r.source.stem for r in runs] == ["a", "b", "c"]
    for r in runs:
        text = nbformat.read(r.output, as_version=4).cells[-1].outputs[0]["text"].split()
        assert text == ["True", "3"]
    timings = json.loads((tmp_path / "out" / "chapter_seconds.json").read_text())
    assert set(timings) == {"a", "b", "c"}


def test_parallel_run_stops_starting_chapters_after_a_failure(tmp_path: Path) -> None:
    boom = PARAMS_CELL + '\n```{code-cell} ipython3\nraise RuntimeError("boom")\n```\n'
    toc = {"format": "jb-book", "root": "a", "chapters": [{"file": "b"}]}
    root = make_project(tmp_path, toc, {"a.md": boom, "b.md": PARAMS_CELL})
    with pytest.raises(RuntimeError, match=r"chapter\(s\) a failed"):
        book.run_parallel(root=root, jobs=1, out_dir=tmp_path / "out", echo=False, cache=False)


def test_build_plan_lists_direct_waits_and_a_simulated_schedule(tmp_path: Path) -> None:
    params = '\n```{code-cell} ipython3\n:tags: [parameters]\n\npreset = "smoke"\n```\n'
    call = (
        "\n```{{code-cell}} ipython3\nfrom hashlib_nn.experiments import presets\n"
        'plan = presets.chapter_params("model_size", preset{})\n```\n'
    )
    toc = {"format": "jb-book", "root": "a", "chapters": [{"file": f} for f in "bcd"]}
    chapters = {
        "a.md": params + call.format(""),  # trains the smoke model-size grid
        "b.md": params + call.format(""),  # reads it
        "c.md": params,  # no store
        "d.md": params + call.format(", checkpoints=[0]"),  # adds epoch 0: re-runs the runs
    }
    root = make_project(tmp_path, toc, chapters)
    plan = book.build_plan(root=root, jobs=2)
    assert list(plan.chapter) == ["a", "b", "c", "d"]
    assert list(plan.waits_for) == ["", "a", "", "b"]  # d waits for a through b
    assert list(plan.runs) == [2, 2, 0, 2]
    by = plan.set_index("chapter")
    assert by.start_s["b"] >= by.end_s["a"] and by.start_s["d"] >= by.end_s["b"]
    assert by.end_s["c"] - by.start_s["c"] == book.KERNEL_SECONDS
    assert by.estimated_s["b"] == book.KERNEL_SECONDS  # nothing new to train
    assert by.estimated_s["a"] > book.KERNEL_SECONDS


def test_new_seconds_counts_only_runs_nobody_before_holds() -> None:
    from hashlib_nn.experiments import content_key
    from hashlib_nn.experiments.presets import estimate_seconds, grid

    configs = grid("model_size", "smoke")
    plans = {content_key(c): (frozenset(c.metrics), frozenset(c.checkpoints)) for c in configs}
    a = book.ChapterNeeds("a", plans, configs=tuple(configs))
    b = book.ChapterNeeds("b", plans, configs=tuple(configs))
    deps = book.dependencies([a, b])
    assert deps == [set(), {0}]
    full = estimate_seconds(configs)
    assert full > 0 and book.new_seconds([a, b], deps) == [full, 0.0]
    first = content_key(configs[0])
    assert book.new_seconds([a, b], deps, {first: plans[first]}) == [
        estimate_seconds(configs[1:]),
        0.0,
    ]
    # a stored run that lacks a suite does not count as held
    thin = {first: (frozenset({"rr"}), plans[first][1])}
    assert book.new_seconds([a], [set()], thin) == [full]


def test_chapters_computing_controls_of_the_same_runs_are_ordered(tmp_path: Path) -> None:
    params = '\n```{code-cell} ipython3\n:tags: [parameters]\n\npreset = "smoke"\n```\n'
    call = (
        "\n```{{code-cell}} ipython3\nfrom hashlib_nn import controls\n"
        "from hashlib_nn.experiments import presets\n"
        'plan = presets.chapter_params("model_size", preset)\n{}\n```\n'
    )
    toc = {"format": "jb-book", "root": "a", "chapters": [{"file": f} for f in "bcd"]}
    chapters = {
        "a.md": params + call.format(""),  # trains the runs
        "b.md": params + call.format('c = controls.chapter_controls("determinism", plan)'),
        "c.md": params + call.format('c = controls.chapter_controls("determinism", plan)'),
        "d.md": params + call.format(""),  # only reads the runs
    }
    root = make_project(tmp_path, toc, chapters)
    needs_ = [book.chapter_needs(p) for p in book.chapters(root)]
    assert sum(k.startswith(book.CONTROLS_PREFIX) for k in needs_[1].requests) == 2
    # b and c read a's runs, but both compute (and store) the same controls: c waits for b;
    # d reads runs that a holds: it waits for a only
    assert book.dependencies(needs_) == [set(), {0}, {0, 1}, {0}]


def test_parallel_run_caches_what_the_book_build_looks_up(tmp_path: Path) -> None:
    from jupyter_cache import get_cache
    from myst_nb.core.read import read_myst_markdown_notebook

    body = PARAMS_CELL + "\n```{code-cell} ipython3\nprint(n * 2, label)\n```\n"
    toc = {"format": "jb-book", "root": "a", "chapters": [{"file": "b"}]}
    root = make_project(tmp_path, toc, {"a.md": body, "b.md": body})
    runs = book.run_parallel(root=root, jobs=2, out_dir=tmp_path / "out", echo=False)
    assert [r.source.stem for r in runs] == ["a", "b"]
    cache = get_cache(str(root / "_build" / ".jupyter_cache"))
    for run in runs:
        nb = read_myst_markdown_notebook(run.source.read_text(encoding="utf-8"))
        record = cache.match_cache_notebook(nb)  # what jupyter-book looks up
        assert record is not None
        cached = cache.get_cache_bundle(record.pk).nb
        assert cached.cells[-1].outputs[0]["text"].strip() == "4 x"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--jobs", "0"], "error: --jobs must be a positive integer; got '0'\n"),
        (["--jobs", "two"], "error: --jobs must be a positive integer; got 'two'\n"),
        (["--threads", "-1"], "error: --threads must be a positive integer; got '-1'\n"),
    ],
)
def test_cli_refuses_bad_jobs_and_threads(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert book.main(["run", "intro", *argv]) == 2
    assert capsys.readouterr().err == message


def test_readable_style_drops_a_default_index_and_relabels_headers_only() -> None:
    import pandas as pd

    from hashlib_nn.reports import readable_style

    frame = pd.DataFrame({"rr_test": [0.123456], "n_distinct_train": [7], "lr": [0.01]})
    html = readable_style(frame, names={"lr": "learning rate"}).to_html()
    headers = re.findall(r'<th [^>]*class="col_heading[^>]*>([^<]*)</th>', html)
    assert headers == ["RR (test)", "n distinct train", "learning rate"]
    assert "row_heading" not in html and "0.123" in html and "0.123456" not in html
    assert list(frame.columns) == ["rr_test", "n_distinct_train", "lr"]  # the data keep names
    # a meaningful index becomes the leading column(s)
    by_width = frame.set_index(pd.Index([40], name="width"))
    html = readable_style(by_width, precision=None).to_html()
    headers = re.findall(r'<th [^>]*class="col_heading[^>]*>([^<]*)</th>', html)
    assert headers[0] == "width" and "row_heading" not in html and "0.123456" in html
