"""The package stays readable: no function in ``crystalkit/`` runs over 80 lines.

A learner reads the kit's functions as pages of the course; a function that
needs more than a screen is split along its own steps (the refit issue). The
count runs from the ``def`` line (decorators excluded) to the function's last
line, docstring included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "crystalkit"
MAX_FUNCTION_LINES = 80


def long_functions(root: Path, limit: int) -> list[str]:
    """``path:line name (N lines)`` for every function or method in ``root`` longer than ``limit`` lines."""
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > limit:
                    found.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_the_counter_sees_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "long.py").write_text(f"def too_long():\n{body}\n\n\ndef short():\n    return 1\n")
    assert long_functions(tmp_path, MAX_FUNCTION_LINES) == [f"{tmp_path.name}/long.py:1 too_long (81 lines)"]


@pytest.mark.parametrize("limit", [MAX_FUNCTION_LINES])
def test_no_function_in_the_package_is_over_the_limit(limit: int) -> None:
    offenders = long_functions(PACKAGE, limit)
    assert not offenders, "split these along their own steps:\n" + "\n".join(offenders)
