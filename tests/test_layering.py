"""Imports point down the ladder launchers -> agents -> components -> environments, never up."""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
LADDER = ["launchers", "agents", "components", "environments"]


def _project_imports(path: pathlib.Path) -> set[str]:
    imported: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    return imported & set(LADDER)


@pytest.mark.parametrize("package", LADDER)
def test_packages_import_only_their_own_level_and_below(package):
    allowed = set(LADDER[LADDER.index(package):])
    offenders = {str(path.relative_to(ROOT)): sorted(_project_imports(path) - allowed)
                 for path in (ROOT / package).rglob("*.py")}
    offenders = {path: bad for path, bad in offenders.items() if bad}
    assert not offenders, f"{package}/ imports from higher layers: {offenders}"
