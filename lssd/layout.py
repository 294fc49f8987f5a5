"""Where the workflow's files are, written once: the output paths (relative to the working directory), a run's
directory and checkpoint directory, the file names inside them, and the logs.

Read by the rules (``workflow/rules/common.smk``: outputs, inputs and helpers), the status command, and the tests;
a path template keeps the wildcards it is not given, for a rule's output. Changing a template here moves every
user's results: docs/results.md (Outputs) describes this layout.
"""

from __future__ import annotations

import os

# every output of the workflow (relative to the working directory); {wildcards} as the rules name them
PATHS = {
    "download": "results/downloads/{file}",
    "data": "results/data/{dataset}",
    "spm_model": "results/spm/{dataset}/models/spm.{model}.model",
    "spm_vocab": "results/spm/{dataset}/models/spm.{model}.vocab",
    "encoded": "results/spm/{dataset}/encoded/{lang}",
    "bin": "results/bin/{dataset}",
    "run": "results/train/{dataset}/{direction}/{method}/seed{seed}",
    "eval": "results/eval/{dataset}/{direction}/{method}/seed{seed}",
    # each pair translated with its own best checkpoint (evaluation.per_pair_best)
    "eval_pair_best": "results/eval_pair_best/{dataset}/{direction}/{method}/seed{seed}",
    "significance": "results/significance/{dataset}/{direction}/{method}.json",
    "tables": "results/tables/{dataset}/{direction}",
    "figures": "results/figures/{dataset}/{direction}",
}
# the job logs of a run's training and evaluation (Snakemake's log: files)
LOGS = {
    "train": "logs/train/{dataset}/{direction}/{method}/seed{seed}.log",
    "eval": "logs/eval/{dataset}/{direction}/{method}/seed{seed}.log",
    "eval_pair_best": "logs/eval_pair_best/{dataset}/{direction}/{method}/seed{seed}.log",
}

# in a run's directory: what the train rule publishes, and the runner's checkpoint directory (not an output: a
# killed job resumes from it)
BEST = "checkpoint_best.pt"
HISTORY = "history.json"
RECORDS = "records.json"
CHECKPOINTS = "checkpoints"
LAST = "checkpoint_last.pt"  # in CHECKPOINTS, fairseq's
CRASH = "crash.pt"  # in CHECKPOINTS: fairseq's state at a training step that failed (never resumed from)
# in a per-pair best evaluation (eval_pair_best): which epoch's checkpoint translated each pair
PAIR_BEST_MANIFEST = "pair_best.json"


class KeepWildcards(dict):
    def __missing__(self, key):
        return f"{{{key}}}"  # the wildcard, kept for Snakemake


def path(name: str, **values) -> str:
    """``PATHS[name]`` with the given wildcards filled in; the others stay wildcards (for rule outputs)."""
    return PATHS[name].format_map(KeepWildcards(values))


def log(name: str, **values) -> str:
    """``LOGS[name]`` filled in like :func:`path`."""
    return LOGS[name].format_map(KeepWildcards(values))


def run_dir(dataset, direction, method, seed, *parts) -> str:
    """A run's directory (or a file in it)."""
    return os.path.join(path("run", dataset=dataset, direction=direction, method=method, seed=seed), *parts)


def save_dir(dataset, direction, method, seed) -> str:
    """A run's checkpoint directory: fairseq's ``--save-dir``, where the runner resumes from."""
    return run_dir(dataset, direction, method, seed, CHECKPOINTS)


def run_key(dataset, direction, method, seed) -> str:
    """How a run is named to a user (status, logs): ``demo/o2m/baseline/seed1``."""
    return f"{dataset}/{direction}/{method}/seed{seed}"
