"""The package's imports of its own modules: cycles, private cross-module imports, imports
inside functions (issue 14's measures). ``python tools/import_graph.py`` prints them;
``tests/test_import_graph.py`` asserts no cycle and no private cross-module import.

Every ``import``/``from ... import`` of the package counts, at module level or inside a function
(imports under ``if TYPE_CHECKING:`` count as private imports but not as edges: they never run).
A private import is ``from pkg.x import _name`` in a module other than ``pkg.x``."""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

PACKAGE = "hashlib_nn"


def module_name(path: Path, root: Path, package: str = PACKAGE) -> str:
    """The dotted name of the module at ``path`` in the package rooted at ``root``."""
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([package, *parts]) if parts else package


def scan(root: Path, package: str = PACKAGE) -> dict[str, Any]:
    """Modules (name -> path), import edges (name -> imported names), private imports
    (importer, module, name) and imports inside functions (importer, module) of ``package``."""
    edges: dict[str, set[str]] = defaultdict(set)
    private: list[tuple[str, str, str]] = []
    in_functions: list[tuple[str, str]] = []
    modules = {module_name(p, root, package): p for p in sorted(root.rglob("*.py"))}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                parents[child] = node
        for node in ast.walk(tree):
            targets: list[tuple[str, list[str]]] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module == package or node.module.startswith(package + "."):
                    names = [a.name for a in node.names]
                    if node.module == package:  # from hashlib_nn import analysis
                        for a in names:
                            sub = f"{package}.{a}"
                            targets.append((sub if sub in modules else package, []))
                    else:
                        targets.append((node.module, names))
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith(package + "."):
                        targets.append((a.name, []))
            if not targets:
                continue
            in_function = False
            p = parents.get(node)
            while p is not None:
                if isinstance(p, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    in_function = True
                    break
                p = parents.get(p)
            type_checking = False
            p = parents.get(node)
            while p is not None:
                if isinstance(p, ast.If) and "TYPE_CHECKING" in ast.unparse(p.test):
                    type_checking = True
                p = parents.get(p)
            for target, names in targets:
                if target == name:
                    continue
                if not type_checking:
                    edges[name].add(target)
                if in_function:
                    in_functions.append((name, target))
                for n in names:
                    if n.startswith("_") and not n.startswith("__"):
                        private.append((name, target, n))
    return {"modules": modules, "edges": edges, "private": private, "in_functions": in_functions}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def measure(root: Path | None = None, package: str = PACKAGE) -> dict[str, Any]:
    """Issue 14's measures of the package rooted at ``root`` (default: this checkout's
    ``src/hashlib_nn``): modules, lines, largest module, cycles, private cross-module imports
    and imports inside functions."""
    if root is None:
        root = Path(__file__).resolve().parents[1] / "src" / PACKAGE
    found = scan(root, package)
    sizes = {n: len(p.read_text(encoding="utf-8").splitlines())
             for n, p in found["modules"].items()}
    largest = max(sizes, key=lambda n: sizes[n])
    return {
        "modules": len(sizes),
        "lines": sum(sizes.values()),
        "largest": (largest, sizes[largest]),
        "cycles": cycles(found["edges"]),
        "private": found["private"],
        "in_functions": found["in_functions"],
    }


def main() -> int:
    m = measure()
    largest, size = m["largest"]
    print(f"modules: {m['modules']}; lines: {m['lines']}; largest: {largest} ({size} lines)")
    print(f"cycles: {m['cycles']}")
    print(f"private cross-module imports: {len(m['private'])}")
    for a, b, n in m["private"]:
        print(f"  {a} <- {b}.{n}")
    print(f"imports of the package inside functions: {len(m['in_functions'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
