"""No import circle among rampup's modules, read from the source (lazy imports inside functions
count too: they only hide a circle until the function runs).

An import under ``if TYPE_CHECKING:`` is left out (it never runs). ``from package import name``
is an edge to the submodule ``package.name`` where there is one, else to the package itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent / "src"

# Circles known to exist while they are being removed; each must still exist, so an entry cannot
# outlive its circle. Delete an entry when its circle is gone. (None left.)
KNOWN: set[frozenset[str]] = set()


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted((SOURCE / "rampup").rglob("*.py")):
        parts = list(path.relative_to(SOURCE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _runs(node: ast.AST) -> list[ast.AST]:
    """The statements below ``node`` that run, leaving out ``if TYPE_CHECKING:`` bodies."""
    found: list[ast.AST] = []
    pending = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, ast.If) and "TYPE_CHECKING" in ast.unparse(current.test):
            pending.extend(current.orelse)
            continue
        found.append(current)
        pending.extend(ast.iter_child_nodes(current))
    return found


def import_graph() -> dict[str, set[str]]:
    known = modules()
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _runs(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                graph[name] |= {alias.name for alias in node.names if alias.name in known}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
                for alias in node.names:
                    target = f"{base}.{alias.name}"
                    if target in known:
                        graph[name].add(target)
                    elif base in known:
                        graph[name].add(base)
    return graph


def circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def test_the_checker_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert circles(graph) == [frozenset({"a", "b", "c"})]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_lazy_imports_and_submodules() -> None:
    graph = import_graph()
    assert "rampup.errors" in graph["rampup.schedules.base"]
    assert "rampup.names" in graph["rampup.clock"]  # imported inside schedule_in
    assert "rampup.schedules" in graph["rampup.names"]


def test_no_import_circle() -> None:
    found = set(circles(import_graph()))
    assert found - KNOWN == set(), f"import circles: {[sorted(c) for c in found - KNOWN]}"
    assert found >= KNOWN, f"gone, delete from KNOWN: {[sorted(c) for c in KNOWN - found]}"
