"""The layout the project keeps: imports go one way, cli -> analysis -> crawler."""
from __future__ import annotations

import ast

from conftest import ROOT


def _imports(package: str) -> set[tuple[str, str]]:
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add((str(path.relative_to(ROOT)), node.module))
            elif isinstance(node, ast.Import):
                found.update((str(path.relative_to(ROOT)), alias.name) for alias in node.names)
    return found


def test_crawler_never_imports_analysis():
    assert {(p, m) for p, m in _imports("crawler") if m.split(".")[0] in ("analysis", "cli")} == set()


def test_analysis_never_imports_the_cli():
    assert {(p, m) for p, m in _imports("analysis") if m.split(".")[0] == "cli"} == set()
