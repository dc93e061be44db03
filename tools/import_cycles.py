"""Import cycles among cardscan's modules, counting imports inside functions.

import-linter (pyproject.toml) checks the layers between packages and cycles
between siblings of one package; this looks at single modules and at every
import statement wherever it is (module level, functions, methods, ``try``).
Only imports under ``if TYPE_CHECKING:`` are left out: they never run.

An edge goes to the module an import names: ``from .x import y`` is an edge
to ``x`` (or to ``x.y`` when that is a module). The package ``__init__`` that
Python runs on the way is not an edge of its own, so a lazy facade that
imports its parts on first use is not a cycle with each of them. Names
computed at run time (``importlib.import_module`` on the lazy facades'
tables, the registry's "module:Class" strings, the CLI's command table) are
data, not import statements, and are not followed either.

Usage: ``python tools/import_cycles.py [PACKAGE_DIR]``; exit status 1 and one
line per cycle when there are any. tests/import_cycles_test.py runs it.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path


def module_names(root: Path) -> dict[str, Path]:
    """Dotted name -> file, for every module under the package directory ``root``."""
    out: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement in ``tree`` except those under ``if TYPE_CHECKING:``."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for branch in node.orelse:  # the else branch does run
                visit(branch)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module ``from ... import`` names, relative levels resolved."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    # the package a relative import counts from: the module's own if it is a package
    keep = len(base) - node.level + (1 if is_package else 0)
    parts = base[:keep]
    if node.module:
        parts.append(node.module)
    return ".".join(parts)


def graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports."""
    modules = module_names(root)
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text("utf-8"), str(path))
        for node in _imports(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = _resolve(name, path.name == "__init__.py", node)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in modules else base)
            for target in targets:
                # ``import a.b.c`` when only a.b is ours as a module: the longest known prefix
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges[name].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan),
    each as one concrete cycle through it, sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    comps: list[list[str]] = []
    counter = 0

    def strong(v: str) -> None:
        nonlocal counter
        # iterative: the graph is small, but recursion depth should not depend on it
        work = [(v, iter(sorted(edges[v])))]
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        while work:
            node, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                    break
                if w in on_stack:
                    low[node] = min(low[node], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == node:
                            break
                    if len(comp) > 1:
                        comps.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return sorted(_one_cycle(edges, comp) for comp in comps)


def _one_cycle(edges: dict[str, set[str]], comp: list[str]) -> list[str]:
    """A shortest cycle through the first module of a component (breadth first)."""
    members = set(comp)
    start = comp[0]
    prev: dict[str, str] = {}
    queue = [start]
    for node in queue:
        for w in sorted(edges[node] & members):
            if w == start:
                path = [node]
                while path[-1] != start:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if w not in prev:
                prev[w] = node
                queue.append(w)
    raise AssertionError("a strongly connected component without a cycle")  # pragma: no cover


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "cardscan"
    found = cycles(graph(root))
    for cycle in found:
        print(" -> ".join(cycle))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
