#!/usr/bin/env bash
# The project's static checks, as CI runs them before the tests: ruff (lint and format), snakefmt, the house's size
# limits (scripts/house_limits.py) and Snakemake's own linter, whose one deliberate kind of warning (no per-rule conda
# environment: docs/development.md, Linting) is the only one allowed. Run in the project's environment
# (. .venv/bin/activate).
set -euo pipefail
cd "$(dirname "$0")/.."
ruff check .
ruff format --check .
snakefmt --check workflow Snakefile
python scripts/house_limits.py
lint=$(snakemake --lint 2>&1 || true)
unexpected=$(grep -E '^\s*\* ' <<<"$lint" | grep -v 'Specify a conda environment or container' || true)
if [ -n "$unexpected" ] || ! grep -q 'Lints for' <<<"$lint"; then
    echo "snakemake --lint: lints other than the documented conda one (docs/development.md, Linting):" >&2
    echo "$lint" >&2
    exit 1
fi
echo "snakemake --lint: only the documented conda-environment lint"
