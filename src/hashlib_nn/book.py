"""Run the book's chapters with papermill.

The book (``book/``, Jupyter Book 1) is a set of jupytext MyST-markdown notebooks listed in
``_toc.yml``. ``make book`` runs every chapter here at its default parameters (the gate: a failing
cell fails ``make``), stores the executed notebooks in the book's jupyter-cache so that
``jupyter-book build`` renders exactly those outputs, then builds the HTML. ``make check`` then
opens each built page in headless Chromium (``tools/book_check.py``, a development tool outside
the installed package).

Command line::

    python -m hashlib_nn.book run [CHAPTER ...] [-p NAME VALUE ...] [--out-dir DIR]
                                  [--jobs N] [--threads T] [--no-cache]
    python -m hashlib_nn.book list

``-p`` values are typed as papermill's own CLI types them: ``True``/``False``/``None``, ints and
floats are converted, anything else (``"[20, 60]"``) stays a string. A name that no selected
chapter's parameters cell assigns is refused (the error lists the accepted names); each chapter
gets the parameters its cell assigns.

**Parallel build** (``--jobs N``, ``make book JOBS=N``; default: the number of CPU cores). The
chapters run in up to N processes that share the results store. Chapters depend on each other
only through the store, so the order is derived from what each one asks of it
(:func:`chapter_needs`: the ``chapter_params`` calls of its code cells, evaluated at its
parameters, give the content keys and the evaluation plan of every run it reads or trains):
of two chapters that share a run, the later one in ``_toc.yml`` waits for the earlier one,
unless chapters both wait for already hold that run with everything both ask of it
(:func:`dependencies`). So no run is trained twice, or by two processes at once, and every
chapter finds in the store exactly what it finds in a serial build: the numbers are those of a
serial build. Among the chapters that may start, the one with the longest chain of estimated
work after it starts first (:func:`schedule`).

**Threads.** Training results depend on the number of torch threads (measured: one epoch of a
width-40 MLP gives other weights with 1 thread than with 2; each count is deterministic). So
every chapter kernel runs with the same count whatever N is: ``--threads``, else
``$HASHLIB_NN_THREADS``, else ``$OMP_NUM_THREADS``, else 1 (:func:`book_threads`; set through
``OMP_NUM_THREADS``/``MKL_NUM_THREADS`` in the kernel's environment before torch starts). One
thread per process is what N = cores processes need: more would make them fight over the
cores.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ChapterNeeds",
    "ChapterRun",
    "book_cache_key",
    "book_threads",
    "build_plan",
    "chapter_needs",
    "chapters",
    "check_parameters",
    "default_jobs",
    "dependencies",
    "new_seconds",
    "parameter_names",
    "run_parallel",
    "schedule",
    "main",
    "package_fingerprint",
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


def parameter_names(path: str | Path) -> list[str]:
    """Names a chapter's ``parameters`` cell assigns, in order (its accepted parameters)."""
    names: list[str] = []
    for node in ast.parse(parameters_cell(path)).body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else ([node.target] if isinstance(node, ast.AnnAssign) else [])
        )
        for target in targets:
            for name in ast.walk(target):
                if isinstance(name, ast.Name) and name.id not in names:
                    names.append(name.id)
    return names


def check_parameters(
    sources: Sequence[str | Path], parameters: Mapping[str, Any]
) -> dict[Path, dict[str, Any]]:
    """Each chapter's share of ``parameters``: the names its parameters cell assigns.

    Raises ``ValueError`` for a name that none of ``sources`` assigns (papermill would only
    warn and run the chapter at its defaults), listing the names each chapter accepts.
    """
    accepted = {Path(s): parameter_names(s) for s in sources}
    unknown = [n for n in parameters if not any(n in names for names in accepted.values())]
    if unknown:
        bad = ", ".join(repr(n) for n in unknown)
        s = "s" if len(unknown) > 1 else ""
        if len(accepted) == 1:
            ((source, names),) = accepted.items()
            raise ValueError(
                f"unknown parameter{s} {bad} for chapter {source.stem!r}; it accepts: "
                f"{', '.join(names) or '(none)'}"
            )
        listed = "; ".join(f"{p.stem}: {', '.join(n) or '(none)'}" for p, n in accepted.items())
        raise ValueError(
            f"unknown parameter{s} {bad}: no chapter run here accepts it; accepted: {listed}"
        )
    return {p: {k: v for k, v in parameters.items() if k in names}
            for p, names in accepted.items()}  # fmt: skip


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


#: Environment variables through which a chapter kernel gets its thread count (read when torch,
#: numpy's BLAS and scikit-learn's OpenMP start in the kernel).
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "HASHLIB_NN_THREADS")


def _positive_int(text: str, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{what} must be a positive integer; got {text!r}")
    return value


def default_jobs() -> int:
    """Chapters run at once by default: the CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # (not on Linux)
        return max(1, os.cpu_count() or 1)


def book_threads(threads: int | None = None) -> int:
    """Threads of each chapter kernel: ``threads``, else ``$HASHLIB_NN_THREADS``, else
    ``$OMP_NUM_THREADS``, else 1; the same whatever the number of jobs, since the numbers of a
    run depend on it (module docstring, "Threads")."""
    if threads is not None:
        return _positive_int(str(threads), "threads")
    for name in ("HASHLIB_NN_THREADS", "OMP_NUM_THREADS"):
        text = os.environ.get(name, "").strip()
        if text:
            return _positive_int(text, f"${name}")
    return 1


def _thread_environment(threads: int) -> dict[str, str]:
    """The kernel's environment: ``threads`` threads, and no progress line in the chapters'
    outputs (:func:`hashlib_nn.experiments.notebook_progress`), so that the built book reads
    the same whether its runs were trained during the build or read from the store."""
    return {**dict.fromkeys(THREAD_VARIABLES, str(threads)), "HASHLIB_NN_PROGRESS": "0"}


@contextlib.contextmanager
def _kernel_environment(variables: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` with ``variables`` while a kernel starts (it copies the environment)."""
    saved = {k: os.environ.get(k) for k in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_chapter(
    path: str | Path,
    parameters: Mapping[str, Any] | None = None,
    out_dir: str | Path | None = None,
    *,
    cache_dir: str | Path | None = None,
    threads: int | None = None,
) -> Path:
    """Execute one chapter with papermill and return the executed notebook's path.

    The chapter runs with ``book/`` as its working directory, in the ``python3`` kernel, with
    ``parameters`` injected after its ``parameters`` cell and :func:`book_threads` threads.
    Raises papermill's ``PapermillExecutionError`` when a cell fails (the partly executed
    notebook is still written). When no parameters are given and ``cache_dir`` is set, the
    executed notebook is also stored in that jupyter-cache (see ``_cache_executed``).
    """
    import papermill

    source = Path(path)
    if not source.is_file():
        raise FileNotFoundError(f"chapter {str(source)!r} does not exist")
    base = project_root(source.parent)
    out_root = Path(out_dir) if out_dir is not None else base / DEFAULT_OUT_DIR
    out_root.mkdir(parents=True, exist_ok=True)
    out = out_root / f"{source.stem}.ipynb"
    with _kernel_environment(_thread_environment(book_threads(threads))):
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
    threads: int | None = None,
) -> list[ChapterRun]:
    """Execute chapters in ``_toc.yml`` order (all of them when ``names`` is empty).

    Each chapter gets the ``parameters`` its parameters cell assigns; a name none of them
    assigns is refused (:func:`check_parameters`). Stops at the first failing chapter
    (papermill's exception propagates). With ``cache``, each chapter executed at its defaults
    also goes into ``_build/.jupyter_cache`` for the book build.
    """
    base = project_root(root)
    selected = _select(names, base)
    shares = check_parameters(selected, parameters or {})
    runs = []
    for source in selected:
        shown = source.relative_to(base) if source.is_relative_to(base) else source
        cache_dir = project_root(source.parent) / "_build" / ".jupyter_cache" if cache else None
        start = time.perf_counter()
        try:
            out = run_chapter(source, shares[source], out_dir, cache_dir=cache_dir,
                              threads=threads)  # fmt: skip
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


# --- parallel build: what each chapter asks of the results store, and the order it implies ---

#: A run's evaluation plan as the store answers it: (metric suites, checkpoints).
Plan = tuple[frozenset[str], frozenset[int]]


@dataclass(frozen=True)
class ChapterNeeds:
    """What one chapter asks of the results store.

    ``requests``: content key -> the plan it asks of that run (a stored run answers when it
    measured those suites at those checkpoints; :meth:`RunResult.covers`). ``opaque``: what the
    chapter asks could not be derived; it is ordered against every chapter that uses the
    store. ``configs``: the runs asked for (for the estimate of its work, :func:`new_seconds`).
    """

    name: str
    requests: Mapping[str, Plan] = field(default_factory=dict)
    opaque: bool = False
    configs: tuple[Any, ...] = ()  # hashlib_nn.experiments.RunConfig


def _covers(stored: Plan | None, wanted: Plan) -> bool:
    return stored is not None and wanted[0] <= stored[0] and wanted[1] <= stored[1]


def _union(a: Plan | None, b: Plan) -> Plan:
    return b if a is None else (a[0] | b[0], a[1] | b[1])


def dependencies(needs: Sequence[ChapterNeeds]) -> list[set[int]]:
    """For each chapter (in reading order), the earlier chapters it must wait for.

    Chapter j waits for an earlier chapter i when they ask for a common run that the chapters
    both already wait for do not hold with everything i and j ask of it (after those finished,
    the store holds the union of their plans: a sweep re-runs a run to add what it lacks). Then
    at most one of two concurrent chapters touches any run, and only to read it; every chapter
    finds in the store what it finds in a serial build, in reading order.
    """
    n = len(needs)
    deps: list[set[int]] = [set() for _ in range(n)]
    ancestors: list[set[int]] = [set() for _ in range(n)]
    for j in range(n):
        for i in range(j):
            if _conflict(needs, i, j, ancestors[i] & ancestors[j]):
                deps[j].add(i)
                ancestors[j] |= {i} | ancestors[i]
    return deps


def _conflict(needs: Sequence[ChapterNeeds], i: int, j: int, common: set[int]) -> bool:
    a, b = needs[i], needs[j]
    if a.opaque or b.opaque:
        return (a.opaque or bool(a.requests)) and (b.opaque or bool(b.requests))
    for key in a.requests.keys() & b.requests.keys():
        stored: Plan | None = None
        for m in common:
            if needs[m].opaque:
                return True
            if key in needs[m].requests:
                stored = _union(stored, needs[m].requests[key])
        if not (_covers(stored, a.requests[key]) and _covers(stored, b.requests[key])):
            return True
    return False


def _critical_paths(deps: Sequence[set[int]], seconds: Sequence[float]) -> list[float]:
    """Each chapter's seconds plus the longest chain of chapters waiting on it."""
    n = len(deps)
    after: list[set[int]] = [set() for _ in range(n)]
    for j, ds in enumerate(deps):
        for i in ds:
            after[i].add(j)
    path = [0.0] * n
    for i in reversed(range(n)):  # dependents come later in reading order
        path[i] = seconds[i] + max((path[j] for j in after[i]), default=0.0)
    return path


def _next_ready(
    deps: Sequence[set[int]], done: set[int], started: set[int], priority: Sequence[float]
) -> int | None:
    ready = [i for i in range(len(deps)) if i not in started and deps[i] <= done]
    if not ready:
        return None
    return max(ready, key=lambda i: (priority[i], -i))  # longest chain first, then reading order


def schedule(
    deps: Sequence[set[int]], seconds: Sequence[float], jobs: int
) -> list[tuple[float, float]]:
    """Simulated (start, end) of each chapter when ``jobs`` run at once, each taking its
    ``seconds``: what :func:`run_parallel` does with real durations (a free slot takes the
    ready chapter with the longest chain of work after it)."""
    jobs = _positive_int(str(jobs), "jobs")
    if len(seconds) != len(deps):
        raise ValueError(f"{len(deps)} chapters but {len(seconds)} durations")
    for j, ds in enumerate(deps):
        if any(not 0 <= i < j for i in ds):
            raise ValueError(f"chapter {j} waits for {sorted(ds)}: only earlier chapters allowed")
    priority = _critical_paths(deps, seconds)
    times: dict[int, tuple[float, float]] = {}
    running: dict[int, float] = {}  # chapter -> end
    done: set[int] = set()
    now = 0.0
    while len(done) < len(deps):
        while len(running) < jobs:
            pick = _next_ready(deps, done, set(times), priority)
            if pick is None:
                break
            times[pick] = (now, now + seconds[pick])
            running[pick] = now + seconds[pick]
        first = min(running, key=lambda i: (running[i], i))
        now = running.pop(first)
        done.add(first)
    return [times[i] for i in range(len(deps))]


def chapter_needs(source: str | Path, parameters: Mapping[str, Any] | None = None) -> ChapterNeeds:
    """What a chapter asks of the results store at ``parameters`` (its defaults otherwise).

    Every ``chapter_params(...)`` call in its code cells is evaluated with the chapter's
    parameters (its parameters cell, then ``parameters``); the grid it names is the first
    argument, or, when that is not a string (a loop over chapters), every grid chapter
    (:data:`hashlib_nn.experiments.presets.ALL_CHAPTERS`). A call whose other arguments cannot be
    evaluated
    so makes the chapter opaque.
    A ``chapter_controls(name, ...)`` call adds the controls of all those runs (pseudo-keys
    ``CONTROLS_PREFIX + key``, asking for ``controls-<name>``), which it computes and stores.
    """
    from hashlib_nn.experiments import content_key
    from hashlib_nn.experiments.presets import ALL_CHAPTERS, chapter_params

    path = Path(source)
    nb = _read_notebook(path)
    namespace: dict[str, Any] = {}
    code = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if "parameters" in cell.metadata.get("tags", []):
            try:
                exec(compile(str(cell.source), str(path), "exec"), {}, namespace)  # noqa: S102
            except Exception:  # noqa: BLE001 (a cell papermill would run but we cannot here)
                return ChapterNeeds(path.stem, opaque=True)
        else:
            code.append(_python_only(cell.source))
    namespace.update(parameters or {})
    try:
        tree = ast.parse("\n".join(code))
    except SyntaxError:
        return ChapterNeeds(path.stem, opaque=True)
    requests: dict[str, Plan] = {}
    configs = []
    controls: set[str] = set()  # chapter_controls(...) calls: what they compute and store
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _called(node) == "chapter_controls":
            first = node.args[0] if node.args else None
            controls.add(str(first.value) if isinstance(first, ast.Constant) else "*")
        if not (isinstance(node, ast.Call) and _called(node) == "chapter_params"):
            continue
        if any(k.arg is None for k in node.keywords):  # **kwargs: not evaluated here
            return ChapterNeeds(path.stem, opaque=True)
        try:
            args = [_evaluate(a, namespace) for a in node.args[1:]]
            kwargs = {k.arg: _evaluate(k.value, namespace) for k in node.keywords if k.arg}
            first = node.args[0] if node.args else None
            grids = [first.value] if isinstance(first, ast.Constant) else list(ALL_CHAPTERS)
            for grid_name in grids:
                configs += chapter_params(grid_name, *args, **kwargs).configs
        except Exception:  # noqa: BLE001 (any failure: order the chapter against all)
            return ChapterNeeds(path.stem, opaque=True)
    for c in configs:
        plan = (frozenset(c.metrics), frozenset(c.checkpoints))
        key = content_key(c)
        requests[key] = _union(requests.get(key), plan)
        for name in controls:  # the controls of its runs, stored beside them
            pseudo = (frozenset({f"controls-{name}"}), frozenset())
            requests[CONTROLS_PREFIX + key] = _union(requests.get(CONTROLS_PREFIX + key), pseudo)
    return ChapterNeeds(path.stem, requests, configs=tuple(configs))


#: Prefix of the pseudo-keys that stand for the controls (:mod:`hashlib_nn.controls`) of a run:
#: a chapter calling ``chapter_controls`` computes and stores them for its runs.
CONTROLS_PREFIX = "controls/"


def new_seconds(
    needs: Sequence[ChapterNeeds],
    deps: Sequence[set[int]],
    stored: Mapping[str, Plan] | None = None,
) -> list[float]:
    """Estimated seconds of each chapter's training
    (:func:`hashlib_nn.experiments.presets.estimate_seconds`)
    counting only the runs that neither the chapters it waits for nor ``stored`` (key -> plan
    of the runs already in the store) hold."""
    from hashlib_nn.experiments import content_key
    from hashlib_nn.experiments.presets import estimate_seconds

    ancestors: list[set[int]] = []
    for ds in deps:
        ancestors.append(set(ds).union(*(ancestors[d] for d in ds)))
    out = []
    for i, need in enumerate(needs):
        held: dict[str, Plan] = dict(stored or {})
        for m in ancestors[i]:
            for key, plan in needs[m].requests.items():
                held[key] = _union(held.get(key), plan)
        new = [
            c
            for c in need.configs
            if not _covers(
                held.get(content_key(c)), (frozenset(c.metrics), frozenset(c.checkpoints))
            )
        ]
        out.append(estimate_seconds(new))
    return out


def _python_only(source: str) -> str:
    """A cell's source without IPython magics and shell lines (which ``ast`` cannot parse)."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                     for line in str(source).splitlines())  # fmt: skip


def _called(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _evaluate(node: ast.expr, namespace: Mapping[str, Any]) -> Any:
    """A call argument's value from the chapter's parameters only (no other names)."""
    names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    missing = names - set(namespace)
    if missing:
        raise NameError(f"not a parameter: {sorted(missing)}")
    return eval(compile(ast.Expression(node), "<argument>", "eval"), {}, dict(namespace))  # noqa: S307


def build_plan(
    names: Sequence[str] = (),
    parameters: Mapping[str, Any] | None = None,
    *,
    jobs: int | None = None,
    root: str | Path | None = None,
) -> pd.DataFrame:
    """The order of a parallel build: one row per chapter, in reading order, with the chapters
    it waits for (those not already waited for through another) and a simulated start and
    end (:func:`schedule`) from its estimated seconds (its new runs, :func:`new_seconds`, plus
    ``KERNEL_SECONDS``) with ``jobs`` chapters at once."""
    import pandas as pd

    jobs = default_jobs() if jobs is None else _positive_int(str(jobs), "jobs")
    base = project_root(root)
    selected = _select(names, base)
    shares = check_parameters(selected, parameters or {})
    needs = [chapter_needs(s, shares[s]) for s in selected]
    deps = dependencies(needs)
    seconds = [e + KERNEL_SECONDS for e in new_seconds(needs, deps)]
    times = schedule(deps, seconds, jobs)
    ancestors: list[set[int]] = []
    for ds in deps:
        ancestors.append(set(ds).union(*(ancestors[d] for d in ds)))
    direct = [{d for d in ds if not any(d in ancestors[e] for e in ds)} for ds in deps]
    return pd.DataFrame({
        "chapter": [s.stem for s in selected],
        "waits_for": [", ".join(selected[d].stem for d in sorted(ds)) for ds in direct],
        "runs": [sum(not k.startswith(CONTROLS_PREFIX) for k in n.requests) for n in needs],
        "estimated_s": [round(x, 1) for x in seconds],
        "start_s": [round(t[0], 1) for t in times],
        "end_s": [round(t[1], 1) for t in times],
    })  # fmt: skip


def _timings_path(out_root: Path) -> Path:
    return out_root / "chapter_seconds.json"


def run_parallel(
    names: Sequence[str] = (),
    parameters: Mapping[str, Any] | None = None,
    out_dir: str | Path | None = None,
    *,
    jobs: int | None = None,
    threads: int | None = None,
    root: str | Path | None = None,
    cache: bool = True,
    echo: bool = True,
) -> list[ChapterRun]:
    """Execute chapters in up to ``jobs`` processes (default :func:`default_jobs`) sharing the
    results store, in the order :func:`dependencies` derives; see the module docstring.

    Each chapter runs in its own ``python -m hashlib_nn.book run`` process with
    :func:`book_threads` threads; this process stores the executed notebooks in the book's
    jupyter-cache, one at a time. Ready chapters start longest chain first, from estimates:
    the runs a chapter would train that the store and the chapters it waits for do not hold
    (:func:`new_seconds`), or, for a chapter without grid runs, its duration in the last build
    (``<out_dir>/chapter_seconds.json``). When a chapter fails, the running ones finish, no
    other starts, and ``RuntimeError`` names the failed chapters. Returns the runs in reading
    order.
    """
    jobs = default_jobs() if jobs is None else _positive_int(str(jobs), "jobs")
    n_threads = book_threads(threads)
    base = project_root(root)
    selected = _select(names, base)
    shares = check_parameters(selected, parameters or {})
    out_root = Path(out_dir) if out_dir is not None else base / DEFAULT_OUT_DIR
    out_root.mkdir(parents=True, exist_ok=True)
    needs = [chapter_needs(s, shares[s]) for s in selected]
    deps = dependencies(needs)
    try:
        last = json.loads(_timings_path(out_root).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        last = {}
    estimates = new_seconds(needs, deps, _stored_plans(needs))
    # a chapter with grid runs: its estimate (what the store lacks); one without (whose work
    # the cost model does not know, e.g. the CNN chapter): its time in the last build
    seconds = [estimates[i] + KERNEL_SECONDS if needs[i].requests or needs[i].opaque
               else float(last.get(s.stem, KERNEL_SECONDS))
               for i, s in enumerate(selected)]  # fmt: skip
    priority = _critical_paths(deps, seconds)
    if echo:
        for i, s in enumerate(selected):
            waits = ", ".join(selected[d].stem for d in sorted(deps[i])) or "nothing"
            print(f"{s.stem}: waits for {waits}", flush=True)
        print(f"{len(selected)} chapter(s), {jobs} at once, {n_threads} thread(s) each",
              flush=True)  # fmt: skip
    env = {**os.environ, **_thread_environment(n_threads)}
    running: dict[int, tuple[subprocess.Popen[bytes], float]] = {}
    runs: dict[int, ChapterRun] = {}
    failed: list[int] = []
    started: set[int] = set()
    try:
        while True:
            while not failed and len(running) < jobs:
                pick = _next_ready(deps, set(runs), started, priority)
                if pick is None:
                    break
                started.add(pick)
                cmd = [sys.executable, "-m", "hashlib_nn.book", "run", "--no-cache",
                       "--jobs", "1", "--threads", str(n_threads), "--out-dir", str(out_root),
                       str(selected[pick])]  # fmt: skip
                for k, v in shares[selected[pick]].items():
                    cmd += ["-p", k, _cli_text(v)]
                running[pick] = (subprocess.Popen(cmd, env=env, cwd=base), time.perf_counter())
            if not running:
                break
            i, rc, took = _wait_any(running)
            if rc != 0:
                failed.append(i)
                if echo:
                    print(f"{selected[i].stem}: FAILED (exit {rc}) after {took:.1f} s",
                          file=sys.stderr, flush=True)  # fmt: skip
                continue
            out = out_root / f"{selected[i].stem}.ipynb"
            runs[i] = ChapterRun(selected[i], out, took)
            if cache and not shares[selected[i]]:
                _cache_executed(out, selected[i], base / "_build" / ".jupyter_cache")
    finally:
        for proc, _ in running.values():  # (only after an interruption)
            proc.terminate()
    last.update({selected[i].stem: round(r.seconds, 1) for i, r in runs.items()})
    _timings_path(out_root).write_text(json.dumps(last, indent=1, sort_keys=True) + "\n")
    if failed:
        names_failed = ", ".join(selected[i].stem for i in failed)
        skipped = len(selected) - len(started)
        raise RuntimeError(f"chapter(s) {names_failed} failed; {skipped} not started")
    return [runs[i] for i in sorted(runs)]


def _stored_plans(needs: Sequence[ChapterNeeds]) -> dict[str, Plan]:
    """What the default results store already holds of the runs the chapters ask for."""
    from hashlib_nn.experiments.store import open_store

    st = open_store()
    held: dict[str, Plan] = {}
    for key in {k for n in needs for k in n.requests if not k.startswith(CONTROLS_PREFIX)}:
        r = st.get(key)
        if r is not None:
            held[key] = (frozenset(r.config.metrics), frozenset(r.evaluated_epochs()))
    return held


#: Seconds a chapter takes besides its training: kernel start, imports, charts (measured: 3-10 s).
KERNEL_SECONDS = 8.0


def _cli_text(value: Any) -> str:
    """A ``-p`` value back as text that :func:`papermill_value` types to it again."""
    return value if isinstance(value, str) else repr(value)


def _wait_any(running: dict[int, tuple[subprocess.Popen[bytes], float]]) -> tuple[int, int, float]:
    """Block until one of the running chapter processes ends: (chapter, exit code, seconds)."""
    while True:
        for i, (proc, start) in list(running.items()):
            rc = proc.poll()
            if rc is not None:
                del running[i]
                return i, rc, time.perf_counter() - start
        time.sleep(0.2)


# --- command line ---------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m hashlib_nn.book", description="Run the book's chapters."
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
        help="parameter for the chapters whose parameters cell assigns NAME, typed as "
        "papermill's CLI types it; a NAME no chapter assigns is refused",
    )
    run.add_argument("--out-dir", type=Path, default=None, help=f"default: {DEFAULT_OUT_DIR}")
    run.add_argument(
        "-j",
        "--jobs",
        type=str,
        default=None,
        help="chapters run at once, in processes sharing the results store "
        f"(default: the number of CPU cores, here {default_jobs()})",
    )
    run.add_argument(
        "--threads",
        type=str,
        default=None,
        help="torch/BLAS threads of each chapter, whatever --jobs is "
        "(default: $HASHLIB_NN_THREADS, else $OMP_NUM_THREADS, else 1)",
    )
    run.add_argument(
        "--no-cache",
        action="store_true",
        help="do not store the executed notebooks in the book's jupyter-cache",
    )
    sub.add_parser("list", help="print the chapters of _toc.yml")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "list":
        for path in chapters():
            print(path)
        return 0
    parameters = {name: papermill_value(value) for name, value in args.parameter}
    from papermill.exceptions import PapermillExecutionError

    start = time.perf_counter()
    try:
        jobs = default_jobs() if args.jobs is None else _positive_int(args.jobs, "--jobs")
        threads = None if args.threads is None else _positive_int(args.threads, "--threads")
        common = {"out_dir": args.out_dir, "cache": not args.no_cache, "threads": threads}
        if jobs > 1 and len(_select(args.chapters, project_root())) > 1:
            runs = run_parallel(args.chapters, parameters, jobs=jobs, **common)
        else:
            runs = run_chapters(args.chapters, parameters, **common)
    except (PapermillExecutionError, RuntimeError) as err:
        print(f"FAIL {err}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{len(runs)} chapter(s) in {time.perf_counter() - start:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
