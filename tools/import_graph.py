"""The package's imports of its own modules: cycles, private cross-module imports, imports
inside functions (issue 14's measures). ``python tools/import_graph.py`` prints them."""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

PACKAGE = "hashlib_nn"


def module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([PACKAGE, *parts]) if parts else PACKAGE


def scan(root: Path) -> dict[str, object]:
    edges: dict[str, set[str]] = defaultdict(set)
    private: list[tuple[str, str, str]] = []
    in_functions: list[tuple[str, str]] = []
    modules = {module_name(p, root): p for p in root.rglob("*.py")}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                parents[child] = node
        for node in ast.walk(tree):
            targets: list[tuple[str, list[str]]] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module == PACKAGE or node.module.startswith(PACKAGE + "."):
                    names = [a.name for a in node.names]
                    if node.module == PACKAGE:  # from hashlib_nn import analysis
                        for a in names:
                            sub = f"{PACKAGE}.{a}"
                            targets.append((sub if sub in modules else PACKAGE, []))
                    else:
                        targets.append((node.module, names))
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith(PACKAGE + "."):
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


def main() -> int:
    root = Path(__file__).resolve().parents[1] / "src" / PACKAGE
    found = scan(root)
    sizes = {n: len(p.read_text(encoding="utf-8").splitlines())
             for n, p in found["modules"].items()}
    largest = max(sizes, key=sizes.get)
    print(f"modules: {len(sizes)}; lines: {sum(sizes.values())}; largest: {largest} "
          f"({sizes[largest]} lines)")
    print(f"cycles: {cycles(found['edges'])}")
    print(f"private cross-module imports: {len(found['private'])}")
    for a, b, n in found["private"]:
        print(f"  {a} <- {b}.{n}")
    print(f"imports of the package inside functions: {len(found['in_functions'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
