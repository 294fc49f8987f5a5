"""The house's size limits on the code a reader has to hold in mind (docs/development.md, Linting): no module of
the package, the benchmarks or the scripts over 300 lines, no function over 60. Prints each excess as
``path:line: ...`` and exits 1 when there is one."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOTS = ("lssd", "benchmarks", "scripts")
MODULE_LINES = 300
FUNCTION_LINES = 60


def excesses(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    found = []
    lines = len(text.splitlines())
    if lines > MODULE_LINES:
        found.append(f"{path}:1: module of {lines} lines (the limit is {MODULE_LINES}): split it by what it does")
    for node in ast.walk(ast.parse(text, filename=str(path))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > FUNCTION_LINES:
                found.append(f"{path}:{node.lineno}: {node.name}() has {length} lines (the limit is {FUNCTION_LINES})")
    return found


def main(root: Path) -> int:
    found = [line for top in ROOTS for path in sorted((root / top).rglob("*.py")) for line in excesses(path)]
    print(
        "\n".join(found)
        if found
        else f"house limits: no module over {MODULE_LINES} lines, no function over {FUNCTION_LINES}"
    )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".")))
