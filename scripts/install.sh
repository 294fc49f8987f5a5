#!/usr/bin/env bash
# Installs the pipeline into ./.venv (Python 3.11 or 3.12: PYTHON=python3.12 bash scripts/install.sh).
# The order matters (see README "Quick start"): torch first, then fairseq-fixed compiled
# without build isolation against that same torch, then this package.
# Versions: every package but torch is pinned to requirements.lock (the versions the tests passed with; pip
# constraints, so nothing is installed that the project does not need). LSSD_UNPINNED=1 installs the newest
# versions pyproject.toml allows instead; scripts/lock.sh writes the lock from a venv after a green test run.
# A GPU: install your CUDA build of torch into .venv first (README, "On a GPU"); a torch already in .venv is kept
# unless TORCH_SPEC is set.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
TORCH_SPEC_SET=${TORCH_SPEC:-}
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
TORCH=("$TORCH_SPEC")
if [ -z "${TORCH_SPEC_SET:-}" ] && python -c "import torch" 2>/dev/null; then
    # Keep it, and keep pip from replacing it: the constraints pin this torch and leave its own requirements to
    # it (the lock comes from a CPU torch whose needs differ: its setuptools pin made pip swap a CUDA torch 2.11).
    TORCH=()
    kept=$(mktemp "${TMPDIR:-/tmp}/lssd-constraints.XXXXXX")
    trap 'rm -f "$kept"' EXIT
    python - "$kept" "${CONSTRAINTS[@]:1}" <<'EOF'
import importlib.metadata as metadata, re, sys

def name(requirement):
    return re.sub(r"[-_.]+", "-", re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement).group(1)).lower()

torch = metadata.distribution("torch")
own = {name(requirement) for requirement in torch.requires or []}
lines = [line for line in open(sys.argv[2]).read().splitlines() if line.strip() and not line.startswith("#")] if len(sys.argv) > 2 else []
kept = [line for line in lines if name(line) not in own] + [f"torch=={torch.version}"]
open(sys.argv[1], "w").write("\n".join(kept) + "\n")
print(f"install.sh: keeping the torch in .venv, {torch.version} (TORCH_SPEC=... replaces it)", file=sys.stderr)
EOF
    CONSTRAINTS=(-c "$kept")
fi
python -m pip install --quiet "${CONSTRAINTS[@]}" "${TORCH[@]}" numpy Cython wheel setuptools
if ! python -c "import fairseq" 2>/dev/null; then
    # --no-build-isolation: build the C++/Cython extensions against the torch installed above
    # (an isolated build would pull a different, CUDA torch). --no-cache-dir: never reuse a
    # wheel cached from such an isolated build.
    python -m pip install --no-cache-dir --no-build-isolation "${CONSTRAINTS[@]}" fairseq-fixed==0.12.3.1
fi
python -m pip install --quiet "${CONSTRAINTS[@]}" -e '.[test]'
python -m pip check || true
