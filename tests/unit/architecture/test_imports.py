"""The shipped package's import graph: no cycles (imports inside functions included) and nothing
of the dev tooling, the emulator's or the training and test stacks.

Read from the AST, not by importing: a cycle hidden in a function-level import is still a cycle,
and a forbidden import behind ``if TYPE_CHECKING`` is allowed (it never runs).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[3] / "layers" / "model" / "medserve"
FORBIDDEN = ("devtools", "moto", "jwt", "yaml", "torch", "pytest", "hypothesis", "sklearn", "transformers")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_blocks(tree: ast.AST) -> set[int]:
    """Line numbers inside ``if TYPE_CHECKING:`` blocks."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports_of(path: Path, here: str | None = None) -> list[str]:
    """Every module ``path`` (module ``here``) imports at run time, at any depth (function bodies
    included)."""
    tree = ast.parse(path.read_text())
    skip = _type_checking_blocks(tree)
    here = here or module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append(base)
            # `from medserve.x import y` may name a submodule y
            found += [f"{base}.{alias.name}" for alias in node.names]
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for target in imports_of(path):
            # importing a.b.c runs a and a.b too, but those package __init__s are docstrings only;
            # an edge goes to the module itself when it is one of ours
            if target in modules and target != name:
                edges[name].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
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
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_shipped_package_has_no_import_cycle():
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_hidden_cycle():
    # GIVEN two modules importing each other (one inside a function) WHEN the graph is searched
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_shipped_module_imports_dev_tooling_or_dev_stacks():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for target in imports_of(path):
            if target.split(".")[0] in FORBIDDEN:
                offenders.append(f"{module_name(path)} imports {target}")
    assert offenders == []


def test_function_level_and_relative_imports_are_seen_type_checking_ones_are_not(tmp_path):
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import torch\n"
        "def f():\n    from devtools.local import server\n    from . import sibling\n"
    )
    found = imports_of(source, "medserve.pkg.m")
    assert "devtools.local" in found and "medserve.pkg.sibling" in found
    assert "torch" not in found
