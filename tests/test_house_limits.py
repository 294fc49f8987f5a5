"""scripts/house_limits.py, which scripts/lint.sh runs in CI: it names the module and the function over the house's
limits (300 and 60 lines) and fails, and the project itself is within them."""

import subprocess
import sys
import textwrap

from tests.helpers import REPO

SCRIPT = REPO / "scripts" / "house_limits.py"


def check(root):
    return subprocess.run([sys.executable, str(SCRIPT), str(root)], capture_output=True, text=True)


def test_a_long_module_and_a_long_function_are_named_with_their_lines(tmp_path):
    (tmp_path / "lssd").mkdir()
    (tmp_path / "lssd" / "big.py").write_text("x = 1\n" * 301)
    body = "".join(f"    y{index} = {index}\n" for index in range(60))
    (tmp_path / "lssd" / "long.py").write_text("import os\n\n\ndef long_one():\n" + body)
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "fine.py").write_text(textwrap.dedent("def short():\n    return 1\n"))
    result = check(tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines == [
        f"{tmp_path / 'lssd' / 'big.py'}:1: module of 301 lines (the limit is 300): split it by what it does",
        f"{tmp_path / 'lssd' / 'long.py'}:4: long_one() has 61 lines (the limit is 60)",
    ]


def test_modules_and_functions_at_the_limits_pass(tmp_path):
    (tmp_path / "scripts").mkdir()
    body = "".join(f"    y{index} = {index}\n" for index in range(59))
    (tmp_path / "scripts" / "edge.py").write_text("def at_limit():\n" + body + "x = 1\n" * 240)
    result = check(tmp_path)
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith("house limits: no module over 300 lines")


def test_the_project_is_within_the_limits():
    result = check(REPO)
    assert result.returncode == 0, result.stdout
