"""bench/ imports form no circle: each benchmark owns its stock and taskplane sides, and the
modules they share import none of them. Imports inside functions count too (a lazy import
is still an edge a reader has to follow)."""

from __future__ import annotations

import ast
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _module(name: str, modules: set[str]) -> str | None:
    """The bench module an import name lands in: ``bench.x`` or ``bench.x.y`` is ``bench.x``
    when bench/x.py exists; anything outside bench/ is None."""
    parts = name.split(".")
    if parts[0] != "bench":
        return None
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def import_graph(root: Path) -> dict[str, set[str]]:
    """bench module -> the bench modules it imports (anywhere in its body)."""
    files = {f"bench.{path.stem}": path for path in root.glob("*.py")}
    modules = {"bench", *files}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the bench package itself
                    base = "bench" + (f".{base}" if base else "")
                # `from bench import b1` imports the module bench.b1; `from bench.b1 import
                # X` lands in bench.b1 whatever X is
                targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            for target in targets:
                found = _module(target, modules)
                if found is not None and found != "bench" and found != name:
                    graph[name].add(found)
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of the graph as a path (its first node repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)) is not None:
            return found
    return None


def test_bench_imports_form_no_circle() -> None:
    graph = import_graph(BENCH)
    assert "bench.b1_scheduler" in graph and graph["bench.suite"], graph  # it read the package
    assert cycle(graph) is None, " -> ".join(cycle(graph) or [])


def test_the_check_finds_a_circle_through_a_lazy_import(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("from bench import b\n")
    (tmp_path / "b.py").write_text("def f() -> None:\n    from bench.c import g\n")
    (tmp_path / "c.py").write_text("import bench.a\n")
    (tmp_path / "d.py").write_text("from bench.a import x\n")
    graph = import_graph(tmp_path)
    assert graph["bench.d"] == {"bench.a"}
    assert cycle(graph) == ["bench.a", "bench.b", "bench.c", "bench.a"]
    (tmp_path / "c.py").write_text("import json\n")
    assert cycle(import_graph(tmp_path)) is None
