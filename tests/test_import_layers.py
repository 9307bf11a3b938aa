"""The package's import contract, checked on the source (no imports run): packages form layers, each
importing only from the layers below it, and no module imports itself back through others, counting the
imports inside functions (a function-level import is how a cycle hides until the day it bites).

The layers, lowest first, are LAYERS; docs/architecture.md draws them. A module named `config` inside a
package (selection/config.py, ...) is a schema leaf: anyone may import it, and it imports only `core` and
other schema leaves, so the top-level Config can gather them without pulling in what they configure.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "sft_select"
LAYERS = ("core", "textstats", "executors", "io", "models", "preprocess", "views", "scoring", "selection",
          "evaluate", "config", "tune", "rundir", "report", "pipelines", "cli")
LEAF = "schema leaf"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the package modules it imports anywhere in its body (resolved to a module, not a name)."""
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                           for a in node.names]
            else:
                continue
            edges[name].update(t for t in targets if t in modules and t != name)
    return edges


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) < 2 or parts[1] in ("__main__",):
        return None
    if parts[-1] == "config" and parts[1] != "config":
        return LEAF
    return parts[1]


def test_every_package_is_in_a_layer():
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages == set(LAYERS), "a new top-level package needs its place in LAYERS (and in docs/architecture.md)"
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert not loose, f"modules belong in a role folder: {loose}"


def test_packages_import_only_from_lower_layers():
    modules = _modules()
    wrong = []
    for source, targets in _imports(modules).items():
        for target in targets:
            a, b = _layer(source), _layer(target)
            if a is None or b is None or a == b or b == LEAF:
                continue
            allowed = b == "core" if a == LEAF else LAYERS.index(a) >= LAYERS.index(b)
            if not allowed:
                wrong.append(f"{source} -> {target}")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))


def test_no_import_cycles():
    modules = _modules()
    edges = _imports(modules)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in modules:
        if module not in index:
            visit(module)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)
