"""The code's shape (issue 15): no function or method in services/ or shared/ is longer than 60 lines, counted
from its `def` (decorators not included) to its last line; a nested function counts on its own and as part of
the function around it."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MAX_LINES = 60


def long_functions(root: Path, base: Path = REPO) -> list[str]:
    """`path:line name (N lines)` for each function or method under `root` longer than MAX_LINES."""
    out = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_LINES:
                    out.append(f"{path.relative_to(base)}:{node.lineno} {node.name} ({length} lines)")
    return out


def test_no_function_in_services_or_shared_is_longer_than_60_lines() -> None:
    offenders = [entry for folder in ("services", "shared") for entry in long_functions(REPO / folder)]
    assert not offenders, (f"{len(offenders)} functions longer than {MAX_LINES} lines (split them):\n"
                           + "\n".join(offenders))


def test_the_check_finds_a_long_function_and_passes_a_short_one(tmp_path: Path) -> None:
    body = "\n".join(f"        x{i} = {i}" for i in range(MAX_LINES - 1))
    (tmp_path / "shapes.py").write_text(
        "def short():\n    pass\n\n\nclass Holder:\n    async def long(self):\n" + body + "\n        return x0\n",
        encoding="utf-8")
    assert long_functions(tmp_path, tmp_path) == [f"shapes.py:6 long ({MAX_LINES + 1} lines)"]
