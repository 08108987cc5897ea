"""The layout keeps its promises: index/ never imports bot/, and no module imports loop back."""

from __future__ import annotations

import ast

from constants import REPO

PACKAGES = ("bot", "index", "prompts")


def imports() -> dict[str, set[str]]:
    """Module name -> the project modules it imports (at any level of the file)."""
    graph: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
            found = set()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.module:
                    found.add(node.module)
                elif isinstance(node, ast.Import):
                    found.update(alias.name for alias in node.names)
            graph[name] = {m for m in found if m.split(".")[0] in PACKAGES}
    return graph


def test_index_never_imports_bot() -> None:
    offenders = {m: deps for m, deps in imports().items() if m.startswith("index")}
    assert not {m: d for m, d in offenders.items() if any(x.startswith("bot") for x in d)}


def test_no_import_cycles() -> None:
    graph = imports()
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        for dep in graph.get(module, ()):
            assert dep not in path, "import cycle: " + " -> ".join([*path, dep])
            if dep not in done:
                visit(dep, [*path, dep])
        done.add(module)

    for module in graph:
        visit(module, [module])
