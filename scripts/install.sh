#!/usr/bin/env bash
# Installs the pipeline into ./.venv (Python 3.11).
# The order matters (see README "Quick start"): torch first, then fairseq-fixed compiled
# without build isolation against that same torch, then this package.
# Versions: every package but torch is pinned to requirements.lock (the versions the tests passed with; pip
# constraints, so nothing is installed that the project does not need). LSSD_UNPINNED=1 installs the newest
# versions pyproject.toml allows instead; scripts/lock.sh writes the lock from a venv after a green test run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
CONSTRAINTS=(-c requirements.lock)
if [ "${LSSD_UNPINNED:-0}" = 1 ]; then
    CONSTRAINTS=()
    echo "install.sh: LSSD_UNPINNED=1: the newest versions pyproject.toml allows, not requirements.lock's" >&2
fi
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
. .venv/bin/activate
python -m pip install --quiet --upgrade "pip>=24" 
python -m pip install --quiet "${CONSTRAINTS[@]}" "$TORCH_SPEC" numpy Cython wheel setuptools
if ! python -c "import fairseq" 2>/dev/null; then
    # --no-build-isolation: build the C++/Cython extensions against the torch installed above
    # (an isolated build would pull a different, CUDA torch). --no-cache-dir: never reuse a
    # wheel cached from such an isolated build.
    python -m pip install --no-cache-dir --no-build-isolation "${CONSTRAINTS[@]}" fairseq-fixed==0.12.3.1
fi
python -m pip install --quiet "${CONSTRAINTS[@]}" -e '.[test]'
python -m pip check || true
