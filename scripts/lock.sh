#!/usr/bin/env bash
# Writes requirements.lock: the exact version of every package in ./.venv, which scripts/install.sh then installs
# by default (as pip constraints). Run it after the tests passed in a venv installed with the versions you want
# to pin, e.g. after an unpinned install (LSSD_UNPINNED=1 bash scripts/install.sh) and a green test run.
# torch is left out: scripts/install.sh installs it first from TORCH_SPEC (a CPU build by default, a CUDA build
# on a GPU machine), and a pin here would refuse the other build. This package itself (editable) is left out.
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
tmp=$(mktemp requirements.lock.XXXXXX)
trap 'rm -f "$tmp"' EXIT
{
    echo "# Exact versions the test suite passed with: written by scripts/lock.sh, read by scripts/install.sh."
    echo "# $(python --version), pip $(python -m pip --version | cut -d' ' -f2); torch from TORCH_SPEC (not pinned here)."
    python -m pip freeze --exclude-editable --all | grep -v -i -E '^(torch|lssd|pip)==' | LC_ALL=C sort -f
} > "$tmp"
chmod 644 "$tmp"
mv "$tmp" requirements.lock
trap - EXIT
echo "requirements.lock: $(grep -c '==' requirements.lock) packages pinned"
