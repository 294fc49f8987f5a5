#!/usr/bin/env bash
# The GPU verification in one call (docs/gpu.md): on the lent GPU machine (Python 3.12, its own CUDA torch, no
# network), install the carried wheels over that torch, run the GPU tests (pytest -m gpu) and the teacher-overhead
# benchmark on the demo and the TED-size model (three timing processes each), and leave every output in OUT_DIR.
#
#   bash scripts/gpu_check.sh OUT_DIR              # on the GPU machine; the wheels in .whl (scripts/gpu_wheels.py)
#   bash scripts/gpu_check.sh OUT_DIR --rehearse   # here, on the CPU, in the project's venv: the same steps
#
# --rehearse runs every step on the CPU (the GPU tests with LSSD_GPU_REHEARSAL=1, the benchmark with --device cpu
# and fewer rounds), installs nothing (the venv has it all; with --wheels DIR it installs those, as on the GPU) but
# checks the requirements as the GPU run does; a test runs it (tests/test_gpu_check.py) so that the script cannot
# rot between GPU runs.
# OUT_DIR ends up with 7 files (the device tool brings back at most 8): summary.txt (each step's exit status and
# seconds), setup.log, gpu_tests.log, overhead_{demo,ted}.log and overhead_{demo,ted}.json. Every step runs even
# when an earlier one failed; the exit status is 0 only when every step passed. Each step has its own time limit,
# 570 s in all on the GPU (the device runs one command for at most 600 s).
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
if [ $# -lt 1 ] || [ "${1#-}" != "$1" ]; then
    echo "usage: bash scripts/gpu_check.sh OUT_DIR [--rehearse] [--wheels DIR]" >&2
    exit 2
fi
OUT=$(mkdir -p "$1" && cd "$1" && pwd)
shift
REHEARSE=0
LIMIT_SCALE=1
WHEELS=$REPO/.whl
INSTALL=1
INSTALL_ASKED=0
while [ $# -gt 0 ]; do
    case $1 in
        --rehearse) REHEARSE=1 LIMIT_SCALE=4 INSTALL=$INSTALL_ASKED ;;  # the CPU: four times each limit
        --wheels) WHEELS=$2 INSTALL=1 INSTALL_ASKED=1; shift ;;
        *) echo "gpu_check: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
PYTHON=${PYTHON:-$(command -v python3 || command -v python)}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lssd-gpu-check.XXXXXX")
SITE=$WORK/site
SUMMARY=$OUT/summary.txt
# this script's files of an earlier check go (the logs are appended to, step by step)
rm -f "$OUT"/{summary.txt,setup.log,gpu_tests.log,overhead_demo.log,overhead_ted.log,overhead_demo.json,overhead_ted.json}
failed=0

# step NAME LIMIT_SECONDS COMMAND...: its output in OUT/NAME.log (OUT/$LOG.log when LOG is set), its status and
# time in summary.txt
step() {
    local name=$1 limit=$(($2 * LIMIT_SCALE)) start end rc
    shift 2
    start=$(date +%s.%N)
    timeout --kill-after=15 "$limit" "$@" >>"$OUT/${LOG:-$name}.log" 2>&1
    rc=$?
    end=$(date +%s.%N)
    [ $rc -eq 0 ] || failed=$((failed + 1))
    printf '%-14s rc=%-3s %6.1f s (limit %s s)\n' "$name" "$rc" "$(awk "BEGIN { print $end - $start }")" "$limit" | tee -a "$SUMMARY"
}

setup() {
    echo "gpu_check $(date -u +%FT%TZ) on $(hostname), $(nproc) cores; rehearsal: $REHEARSE"
    if [ "$INSTALL" = 1 ]; then
        ls "$WHEELS"/*.whl >/dev/null || { echo "no wheels in $WHEELS: run python scripts/gpu_wheels.py download here first"; return 1; }
        "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" "$WHEELS"/*.whl || return 1
        echo "installed $(ls "$WHEELS"/*.whl | wc -l) wheels into $SITE over $("$PYTHON" -c 'import sys; print(sys.prefix)')"
    else
        echo "rehearsal: nothing installed; the venv $("$PYTHON" -c 'import sys; print(sys.prefix)') has it all"
    fi
    "$PYTHON" - <<'EOF' || return 1
import platform, torch, numpy, fairseq, snakemake, sentencepiece, sacrebleu
print(f"Python {platform.python_version()}, torch {torch.__version__} (CUDA {torch.version.cuda}), numpy {numpy.__version__}")
print(f"fairseq {fairseq.__version__}, snakemake {snakemake.__version__}, sacrebleu {sacrebleu.__version__}")
for index in range(torch.cuda.device_count()):
    print(f"GPU {index}: {torch.cuda.get_device_name(index)}, {torch.cuda.get_device_properties(index).total_memory / 2**30:.0f} GiB")
print(f"CUDA available: {torch.cuda.is_available()}")
EOF
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>/dev/null || echo "nvidia-smi: none"
    "$PYTHON" scripts/gpu_wheels.py check
}

# the site folder before the checkout, the interpreter's own bin first on PATH: every `python -m ...` that the
# workflow and the tests start is this interpreter with these packages
export PYTHONPATH="$SITE:$REPO${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$SITE/bin:$(dirname "$("$PYTHON" -c 'import sys; print(sys.executable)')"):$PATH"
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
export REHEARSE INSTALL WHEELS PYTHON SITE
export -f setup
step setup 60 bash -c setup

if [ "$REHEARSE" = 1 ]; then
    export LSSD_GPU_REHEARSAL=1
    DEVICE=cpu
    # the same code on the CPU, in CI's time: two updates per round, two of the four methods, no profile (the
    # benchmark makes one on the CPU only), small TED batches; two timing processes for the demo model (their rounds
    # still pooled) and one for the TED-size model (a second process of it would add a minute of CPU to the suite
    # and run no other line of code)
    ROUNDS=(--steps 2 --warmup 2 --repeats 2 --methods baseline lssd_whole --no-profile)
    DEMO_PROCESSES=2 TED_PROCESSES=1
    TED_BATCH=(--max-tokens 400)
else
    export LSSD_GPU_REQUIRED=1  # tests/test_gpu.py fails, not skips, where torch sees no GPU
    DEVICE=cuda
    ROUNDS=()
    DEMO_PROCESSES=3 TED_PROCESSES=3
    TED_BATCH=()
fi
step gpu_tests 200 "$PYTHON" -m pytest -m gpu tests/test_gpu.py -p no:cacheprovider -o addopts= -n 0 -ra \
    --durations=10 --basetemp "$WORK/pytest"
# the demo data-bin both benchmarks train on (SentencePiece and fairseq-preprocess on the CPU: not a GPU figure)
LOG=overhead_demo step benchmark_data 40 "$PYTHON" -c \
    'import sys; sys.path.insert(0, "benchmarks"); import teacher_overhead as t, pathlib; t.demo_data_bin(pathlib.Path(sys.argv[1]))' \
    "$WORK/benchmark"
step overhead_demo 100 "$PYTHON" benchmarks/teacher_overhead.py --device "$DEVICE" --size demo \
    --processes "$DEMO_PROCESSES" "${ROUNDS[@]}" --work-dir "$WORK/benchmark" --save "$OUT/overhead_demo.json"
# the TED-size model trains on a synthetic data-bin with TED-8-Diverse's vocabularies (60K merged foreign pieces,
# English's 8K: the output layer and the KD floor of the real model), 20,000 training pairs (the benchmark needs
# the shapes, not an epoch; 3 to 4 s here)
LOG=overhead_ted step ted_data 20 "$PYTHON" benchmarks/paper_training.py --size ted --train-sentences 20000 \
    --dev-scale 0.05 --work-dir "$WORK/ted" --data-bin-only
# (the TED preset has the original's FFN 2048 and 8 heads: about a third more arithmetic per token than the FFN
# 1024 model the first budget of 120 s was set for)
step overhead_ted 150 "$PYTHON" benchmarks/teacher_overhead.py --device "$DEVICE" --size ted \
    --processes "$TED_PROCESSES" "${ROUNDS[@]}" "${TED_BATCH[@]}" --work-dir "$WORK/benchmark" \
    --data-bin "$WORK/ted/bin" --save "$OUT/overhead_ted.json"

if [ "$failed" = 0 ]; then
    echo "gpu_check: every step passed" | tee -a "$SUMMARY"
else
    echo "gpu_check: $failed step(s) failed: see their logs in $OUT" | tee -a "$SUMMARY"
fi
rm -rf "$WORK"
[ "$failed" = 0 ]
