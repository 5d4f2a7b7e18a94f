"""The package's layering, checked from the source: no import cycle, and core never imports the CLI's libraries."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "bertcli"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, top_level_only: bool) -> set[str]:
    """Modules `path` imports; with `top_level_only`, only those run when it is imported (not inside functions)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes: list[ast.AST] = []
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue  # imports for type annotations never run
        nodes.append(node)
        if not top_level_only:
            pending.extend(ast.iter_child_nodes(node))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _graph() -> dict[str, set[str]]:
    # lazy imports inside functions count too: a cycle through them is still two modules that need each other
    return {name: {m for m in _imports(path, False) if m in MODULES and m != name} for name, path in MODULES.items()}


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path that returns to its start, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for name in sorted(graph):
        if name not in state and (found := visit(name)):
            return found
    return None


def test_no_import_cycle():
    cycle = _find_cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("bertcli.core")))
def test_core_never_imports_the_cli_or_its_libraries(name):
    imported = _imports(MODULES[name], top_level_only=False)
    banned = sorted(m for m in imported if m.split(".")[0] in ("typer", "rich", "click") or m.startswith("bertcli.cli") or m.startswith("bertcli.render"))
    assert not banned, f"{name} imports {banned}"


def test_the_checks_see_a_cycle_and_a_banned_import(tmp_path):
    """The checks above read real imports: a module importing rich, and two modules importing each other."""
    module = tmp_path / "m.py"
    module.write_text(
        "import os\nfrom typing import TYPE_CHECKING\nfrom rich.console import Console\n\n"
        "if TYPE_CHECKING:\n    import numpy\n\ndef f():\n    import torch\n"
    )
    assert _imports(module, True) == {"os", "typing", "typing.TYPE_CHECKING", "rich.console", "rich.console.Console"}
    assert "torch" in _imports(module, False) and "numpy" not in _imports(module, False)
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_a_default_runs_files_are_ignored_and_the_example_runs_files_are_not():
    """`bertcli train` writes to results/ by default: its bertcli.toml there is the user's own (ignored), while the
    committed example runs under results/<run>/ keep theirs tracked."""
    import shutil
    import subprocess

    root = Path(__file__).resolve().parents[1]
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("not a git checkout")

    def ignored(path: str) -> bool:
        return subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=root).returncode == 0

    assert ignored("results/bertcli.toml") and ignored("results/checkpoint-10/config.json") and ignored("results/final/x")
    assert not ignored("results/minilm-imdb-full/bertcli.toml")
    assert not ignored("results/minilm-imdb-full/checkpoint-1750/bertcli.toml")
