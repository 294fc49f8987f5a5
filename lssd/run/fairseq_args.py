"""Check ``fairseq-train`` argument lists with fairseq's own parser, before any job runs.

A misspelt flag in ``extra_args``, an unknown criterion or architecture would otherwise stop a training job after
the data preparation, or hours into a cluster queue. The workflow runs this once per configuration (one process
imports fairseq and parses every run's arguments) and remembers the lists that passed (``cache_dir``), so a
second ``snakemake`` start does not pay for it again.

Usage (what the workflow does)::

    python -m lssd.run.fairseq_args < runs.json    # [{"run": NAME, "args": [...]}, ...]; prints {"NAME": "error"}
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from lssd.run.commands import USER_DIR


def parse_errors(runs: list[dict]) -> dict[str, str]:
    """Each run whose arguments fairseq-train's parser refuses, with the parser's message."""
    from fairseq import options

    errors = {}
    for run in runs:
        captured = io.StringIO()
        try:
            with contextlib.redirect_stderr(captured):
                options.parse_args_and_arch(options.get_training_parser(), run["args"])
        except SystemExit:
            lines = [line for line in captured.getvalue().splitlines() if line.strip()]
            message = lines[-1] if lines else "refused"
            errors[run["run"]] = message.split("error: ", 1)[-1]
    return errors


def cache_key(runs: list[dict]) -> str:
    """What a result depends on: the argument lists, and the code of fairseq and of the plugin that parses them."""
    import importlib.metadata

    digest = hashlib.sha256(json.dumps([run["args"] for run in runs], sort_keys=True).encode())
    digest.update(importlib.metadata.version("fairseq-fixed").encode())
    for path in sorted(Path(USER_DIR).glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lssd" / "fairseq-args"


def check(runs: list[dict], cache_dir: Path | None = None, timeout: float = 600) -> dict[str, str]:
    """The runs fairseq refuses (run name → message), parsed in a separate process (fairseq and torch are not
    imported into Snakemake's); an empty dict when all pass, remembered in ``cache_dir``."""
    if not runs:
        return {}
    cache_dir = cache_dir or default_cache_dir()
    marker = cache_dir / cache_key(runs)
    if marker.exists():
        return {}
    completed = subprocess.run(
        [sys.executable, "-m", "lssd.run.fairseq_args"],
        input=json.dumps(runs),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"checking the fairseq-train arguments failed:\n{completed.stderr[-3000:]}")
    errors = json.loads(completed.stdout.strip().splitlines()[-1])
    if not errors:
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            marker.touch()
        except OSError:
            pass  # a read-only home: check again next time
    return errors


def main() -> int:
    runs = json.loads(sys.stdin.read())
    errors = parse_errors(runs)
    print(json.dumps(errors))
    return 0


if __name__ == "__main__":
    sys.exit(main())
