"""The app side's layers (issue 19): the command line builds the app, and the app, its screens
and widgets never import the command line; no module outside core/ is part of an import
cycle. Read from the source (every import, also those inside functions), so a lazy import
cannot hide a circle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import fastdistill_tui

PACKAGE = Path(fastdistill_tui.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The fastdistill_tui modules a file imports, anywhere in it."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("fastdistill_tui")}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("fastdistill_tui"):
                found.add(target)
                found |= {f"{target}.{a.name}" for a in node.names}
    return found


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {t for t in imports_of(path) if t in files and t != name}
            for name, path in files.items()}


APP_SIDE = ("fastdistill_tui.app", "fastdistill_tui.live", "fastdistill_tui.launch",
            "fastdistill_tui.run_state", "fastdistill_tui.screens", "fastdistill_tui.widgets")


def test_the_app_its_screens_and_widgets_never_import_the_cli():
    edges = graph()
    bad = sorted(f"{m} → {t}" for m, targets in edges.items() for t in targets
                 if m.startswith(APP_SIDE) and t == "fastdistill_tui.cli")
    assert not bad, bad


def test_no_import_cycle_outside_core():
    edges = {m: {t for t in ts if ".core" not in t} for m, ts in graph().items()
             if ".core" not in m}
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            raise AssertionError("import cycle: " + " → ".join(path[path.index(node):] + [node]))
        if node in done:
            return
        for target in sorted(edges.get(node, ())):
            visit(target, path + [node])
        done.add(node)

    for module in sorted(edges):
        visit(module, [])


def test_importing_the_app_loads_no_cli():
    code = ("import sys, fastdistill_tui.app, fastdistill_tui.screens.home\n"
            "sys.exit(1 if 'fastdistill_tui.cli' in sys.modules else 0)\n")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
