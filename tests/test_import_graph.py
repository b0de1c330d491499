"""The package's imports of its own modules (issue 14): no import cycle (imports inside functions
included) and no private name imported from another module. The measuring code is
``tools/import_graph.py`` (outside the installed package); a synthetic package shows that it
finds both problems."""

from __future__ import annotations

import ast
from pathlib import Path
from types import ModuleType

import pytest
from tool_loader import load_tool

ROOT = Path(__file__).resolve().parents[1]
TYPE_ONLY = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    "


@pytest.fixture(scope="module")
def graph() -> ModuleType:
    return load_tool("import_graph")


def test_the_package_has_no_import_cycle(graph: ModuleType) -> None:
    found = graph.measure()
    assert found["modules"] > 40  # the real package was scanned
    assert found["cycles"] == []


def test_no_module_imports_another_modules_private_names(graph: ModuleType) -> None:
    private = [f"{a} <- {b}.{n}" for a, b, n in graph.measure()["private"]]
    assert private == []


def _write(root: Path, files: dict[str, str]) -> Path:
    pkg = root / "pkg"
    for name, text in files.items():
        path = pkg / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return pkg


def test_the_detector_finds_a_cycle_and_a_private_import(graph: ModuleType, tmp_path: Path) -> None:
    pkg = _write(tmp_path, {
        "__init__.py": "",
        "a.py": "from pkg.b import helper\n",
        # the cycle closes inside a function, the private import too
        "b.py": "def helper():\n    from pkg.c import _secret\n    return _secret\n",
        "c.py": "_secret = 1\n\ndef f():\n    import pkg.a\n    return pkg.a\n",
        "d.py": TYPE_ONLY + "from pkg.a import helper\n",
        "e.py": "from pkg import d\n",
    })  # fmt: skip
    found = graph.measure(pkg, "pkg")
    assert found["modules"] == 6
    assert found["cycles"] == [["pkg.a", "pkg.b", "pkg.c"]]
    assert found["private"] == [("pkg.b", "pkg.c", "_secret")]
    assert sorted(found["in_functions"]) == [("pkg.b", "pkg.c"), ("pkg.c", "pkg.a")]


def test_the_detector_passes_a_layered_package(graph: ModuleType, tmp_path: Path) -> None:
    pkg = _write(tmp_path, {
        "__init__.py": "",
        # a type-only import back up is no edge: it never runs
        "low.py": TYPE_ONLY + "from pkg.high import g\n\ndef helper():\n    return 1\n\n_x = 1\n",
        "high.py": "from pkg.low import helper\n\ndef g():\n    from pkg import low\n"
                   "    return low\n",
    })  # fmt: skip
    found = graph.measure(pkg, "pkg")
    assert found["cycles"] == [] and found["private"] == []
    assert found["in_functions"] == [("pkg.high", "pkg.low")]


def _code_strings_and_imports(path: Path) -> tuple[list[str], list[str]]:
    """The string constants and names of a module that are not docstrings, and what it imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    words: list[str] = []
    imports: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings:
                words.append(node.value)
        elif isinstance(node, ast.Name):
            words.append(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            words.append(node.name)
        elif isinstance(node, ast.Import):
            imports.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imports.append(node.module)
    return words, imports


def test_the_installed_package_has_no_browser_check_or_benchmark_code() -> None:
    """Development tools live outside ``src/`` (issue 14): the browser check of the built book in
    ``tools/book_check.py``, the benchmarks in ``benchmarks/``. Docstrings may name them."""
    found = []
    for path in sorted((ROOT / "src" / "hashlib_nn").rglob("*.py")):
        words, imports = _code_strings_and_imports(path)
        rel = path.relative_to(ROOT)
        found += [f"{rel}: {w!r}" for w in words if "chromium" in w.lower() or w == "dump_dom"]
        found += [f"{rel}: imports {m}" for m in imports
                  if m.split(".")[0] in ("benchmarks", "tools", "bench")]  # fmt: skip
    assert found == []
    assert (ROOT / "tools" / "book_check.py").is_file()
