"""The training side at the paper's model and vocabulary sizes, on CPU: time per update, memory, checkpoint and
teacher files, per-pair validation against an epoch's training, and the GPU memory arithmetic checked on CPU.

``--size ted`` is TED-8-Diverse's preset (``transformer_iwslt_de_en``, ``trainings.ted`` of config/paper.yaml),
``--size wmt`` WMT-6's (``transformer_wmt_en_de``, ``trainings.wmt``), each with its dataset's language pairs in
config order and the settings the workflow would train them with (config/config.yaml, then config/paper.yaml, the
schema's defaults filled in). The data-bin is synthetic but has the real shape (the layout lssd.data.binarize
writes): random pieces with log-normal sentence lengths (mean ``--mean-length`` pieces), written with fairseq's
mmap index writer; the vocabularies of the paper's recipes (TED: one 8K SentencePiece model per language, the
foreign ones merged into one dictionary that every non-English language shares, and an 8K English dictionary;
WMT: one 64K joint dictionary); the real dev set sizes (``--dev-scale``: a share of them); the paper's training
set sizes (or ``--train-sentences`` in all, split over the pairs in proportion to them). Training is fairseq's own
Trainer over the plugin's task (``lssd_multilingual_translation``, pure batches), on CPU, fp32:

* the baseline and LSSD-Whole (``lssd_distillation``), each in a fresh process (its peak RSS its own), the same
  seed and batches; LSSD with a full teacher pool: one frozen teacher per pair, made and written to disk by the
  plugin's own ``TeacherFiles.copy`` (as a run makes them), every pair distilled in every batch;
* seconds per update (after ``--warmup`` untimed updates of one batch each; LSSD's timed updates all distil),
  and the RSS the process holds after each stage: data, model, model + gradients + Adam state (after the first
  update, freed memory returned to the OS first), teacher pool; its peak RSS (``ru_maxrss``) over training;
* in the baseline's process: fairseq's own ``validate`` over every pair's dev set (the task's per-pair valid
  step, timed per pair), then ``checkpoint_utils.save_checkpoint`` (checkpoint_last.pt and checkpoint_best.pt,
  with the optimizer's state), against one teacher file of the LSSD process (model only);
* an epoch at the paper's size: its updates as fairseq batches the built epoch (its padding of these lengths;
  scaled to ``--train-pairs`` when a smaller set is built), its training time at the measured time per update,
  and the validation's share of it (scaled to the real dev sets when ``--dev-scale`` < 1);
* the GPU memory arithmetic (``lssd.run.memory``) for the paper's GPU setting (fp16, teachers in fp16), and its
  parameter, optimizer and teacher terms in this run's setting (fp32 on CPU) beside the RSS measured for them.

Usage::

    python benchmarks/paper_training.py --size ted --updates 3 --dev-scale 0.25 --json ted.json
    python benchmarks/paper_training.py --size wmt --update-freq 1 --updates 1 --dev-scale 0.05 --json wmt.json
    python benchmarks/paper_training.py --tiny --json tiny.json     # seconds: a tiny model, the same mechanics
    python benchmarks/paper_training.py --size ted --dev-scale 0.05 --work-dir ted --data-bin-only   # the data only
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.training.data_bin import build_data_bin, data_layout  # noqa: E402
from benchmarks.training.figures import figures  # noqa: E402
from benchmarks.training.host import evaluate, host  # noqa: E402
from benchmarks.training.report import report  # noqa: E402
from benchmarks.training.settings import (  # noqa: E402
    DATASETS,
    DICT_SIZES,
    LANGUAGE_VOCAB,
    METHODS,
    PIVOT_VOCAB,
    TINY,
    paper_config,
)
from benchmarks.training.worker import run_method  # noqa: E402

# after the two methods, each in a fresh process: what a GPU job holds in host memory (benchmarks/training/host.py)
HOST_WORKERS = {"evaluate": evaluate, "host": host}


# --------------------------------------------------------------------------------------------- the command
def parse_options(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(DATASETS), default="ted", help="the TED or the WMT preset")
    parser.add_argument("--direction", choices=["m2o", "o2m"], default="m2o")
    parser.add_argument("--tiny", action="store_true", help="a tiny model and data (seconds): for the test")
    parser.add_argument("--dict-size", type=int, help="TED: the merged foreign dictionary; WMT: the joint one")
    parser.add_argument("--pivot-dict-size", type=int, help=f"TED: the English dictionary (default {PIVOT_VOCAB})")
    parser.add_argument("--language-vocab", type=int, help=f"TED: one language's pieces (default {LANGUAGE_VOCAB})")
    parser.add_argument(
        "--train-sentences", type=int, help="build a training set of this many pairs (default: the paper's sizes)"
    )
    parser.add_argument("--train-pairs", type=int, help="training pairs per epoch (default: the paper's sum)")
    parser.add_argument("--dev-scale", type=float, help="build this share of the real dev sets (default 1)")
    parser.add_argument("--mean-length", type=float, default=25.0, help="mean sentence length in pieces")
    parser.add_argument("--max-tokens", type=int, help="tokens per batch (default: the preset's)")
    parser.add_argument("--update-freq", type=int, help="batches per update (default: the preset's)")
    parser.add_argument("--updates", type=int, help="timed updates per method (default 3)")
    parser.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="untimed one-batch updates first (they allocate the gradients and Adam's state)",
    )
    parser.add_argument("--teacher-precision", choices=["auto", "fp32", "fp16", "bf16"], default="auto")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    parser.add_argument("--work-dir", help="where the data-bin and the runs go (default: a temporary directory)")
    parser.add_argument("--json", help="write every figure to this JSON file")
    parser.add_argument(
        "--data-bin-only",
        action="store_true",
        help="build the synthetic data-bin in WORK_DIR/bin and stop (for teacher_overhead.py --data-bin)",
    )
    parser.add_argument("--data-bin", help=argparse.SUPPRESS)
    parser.add_argument("--worker", choices=[*METHODS, *HOST_WORKERS], help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    defaults = {"dict_size": DICT_SIZES[options.size], "pivot_dict_size": PIVOT_VOCAB}
    defaults |= {"language_vocab": LANGUAGE_VOCAB, "dev_scale": 1.0, "updates": 3}
    if options.tiny:
        defaults |= {key: value for key, value in TINY.items() if key != "model"}
    for key, value in defaults.items():
        if getattr(options, key) is None:
            setattr(options, key, value)
    if options.tiny and options.max_tokens is None:
        options.max_tokens = TINY["max_tokens"]
    if options.data_bin_only and not options.work_dir:
        parser.error("--data-bin-only needs --work-dir (where the data-bin stays)")
    if options.updates < 1 or options.warmup < 1:
        parser.error("--updates and --warmup must be at least 1 (the first update allocates Adam's state)")
    return options


def machine() -> dict:
    import torch

    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version()}  # fmt: skip


def run_worker(options, method: str, argv: list[str]) -> dict:
    """One method in a fresh process: its peak RSS is its own."""
    env = dict(os.environ, OMP_NUM_THREADS=str(options.threads), PYTHONWARNINGS="ignore")
    forwarded = [*argv, "--work-dir", options.work_dir, "--data-bin", options.data_bin, "--worker", method]
    completed = subprocess.run([sys.executable, __file__, *forwarded], capture_output=True, text=True, env=env)
    if completed.returncode != 0:
        print(completed.stderr[-6000:], file=sys.stderr)
        raise SystemExit(f"the {method} process failed with exit code {completed.returncode}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def build(options) -> dict:
    """The synthetic data-bin in WORK_DIR/bin; returns its layout."""
    layout = data_layout(options, paper_config())
    if options.train_pairs is None:
        options.train_pairs = sum(layout["reference_train"].values())
    options.data_bin = str(Path(options.work_dir) / "bin")
    print(f"building the synthetic data-bin in {options.data_bin} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    build_data_bin(layout, Path(options.data_bin))
    layout["build_s"] = time.perf_counter() - start
    return layout


def measure(options, argv: list[str]) -> dict:
    layout = build(options)
    results = {}
    for method in METHODS:
        print(f"training {method} ...", file=sys.stderr, flush=True)
        results[method] = run_worker(options, method, argv)
    for name in HOST_WORKERS:
        print(f"measuring the {name} process ...", file=sys.stderr, flush=True)
        results[name] = run_worker(options, name, argv)
    record = {"machine": machine(), "options": vars(options), "layout": layout, "results": results}
    record["figures"] = figures(results, layout, options)
    return record


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    options = parse_options(argv)
    if options.worker:
        worker = HOST_WORKERS.get(options.worker, functools.partial(run_method, method=options.worker))
        print(json.dumps(worker(options)))
        return 0
    if options.data_bin_only:
        layout = build(options)
        print(f"{options.data_bin}: {', '.join(layout['langs'])} with {layout['pivot']}, in {layout['build_s']:.1f} s")
        return 0
    if options.work_dir:
        Path(options.work_dir).mkdir(parents=True, exist_ok=True)
        record = measure(options, argv)
    else:
        with tempfile.TemporaryDirectory(prefix="paper-training-") as work_dir:
            options.work_dir = work_dir
            record = measure(options, argv)
    if options.json:
        Path(options.json).write_text(json.dumps(record, indent=1), encoding="utf-8")
    report(record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
