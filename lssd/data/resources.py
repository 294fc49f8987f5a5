"""What each data job asks a cluster for: memory (``mem_mb``) and time (``runtime``, minutes), in one place.

Every figure here comes from ``benchmarks/rehearse_data.py`` (the data half of ``config/paper.yaml`` run on
paper-sized synthetic corpora in the real formats; README, "Paper scale, measured"): a job's peak memory and its
wall time, fitted as a fixed part plus a part proportional to the size of what the job reads, in GB. The request
is that fit times a margin, so that a dataset of another size (a user's own, a fraction of WMT) gets a request
that follows its size instead of one guess for all. The margins cover what the fit does not see: slower cluster
nodes and shared file systems (time), and the spread between runs and text unlike the rehearsal's (memory).

``job_resources`` is pure (sizes in, requests out) so that it can be tested without Snakemake; the rules call it
through ``workflow/rules/common.smk`` with the size of the job's input as Snakemake passes it.
"""

from __future__ import annotations

import errno
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

MEMORY_MARGIN = 1.5
TIME_MARGIN = 2.0
# below these a request buys nothing (a job's interpreter and imports alone) and some clusters refuse less
MIN_MEM_MB = 2000
MIN_MINUTES = 10

GB = 1e9


@dataclass(frozen=True)
class Cost:
    """A data job's measured cost: ``fixed + per_gb * input GB`` for peak memory (MB) and wall time (minutes)."""

    mem_mb: float
    mem_mb_per_gb: float
    minutes: float
    minutes_per_gb: float
    measured: str  # where the figures come from: the rehearsal run and machine


COSTS: dict[str, Cost] = {
    "prepare_ted": Cost(500, 1000, 1, 10, "guess, to be measured"),
    "prepare_wmt": Cost(500, 1000, 1, 10, "guess, to be measured"),
    "prepare_demo": Cost(500, 0, 1, 0, "guess, to be measured"),
    "prepare_parallel_files": Cost(500, 1000, 1, 10, "guess, to be measured"),
    "spm_train": Cost(500, 5000, 1, 60, "guess, to be measured"),
    "spm_encode": Cost(500, 3000, 1, 20, "guess, to be measured"),
    "binarize": Cost(500, 3000, 1, 20, "guess, to be measured"),
}


def job_resources(stage: str, input_bytes: int, attempt: int = 1) -> dict[str, int]:
    """``{"mem_mb", "runtime"}`` for a ``stage`` job that reads ``input_bytes``: the fit times the margin,
    rounded up, never below the minimums. Each retry (``attempt`` 2, 3, ...: the SLURM profile's ``retries``)
    asks for half as much again, so that a job killed for its memory or time limit is not refused the same way."""
    cost = COSTS[stage]
    size_gb = max(input_bytes, 0) / GB
    growth = 1 + 0.5 * (max(attempt, 1) - 1)
    mem_mb = (cost.mem_mb + cost.mem_mb_per_gb * size_gb) * MEMORY_MARGIN * growth
    minutes = (cost.minutes + cost.minutes_per_gb * size_gb) * TIME_MARGIN * growth
    return {"mem_mb": max(MIN_MEM_MB, math.ceil(mem_mb)), "runtime": max(MIN_MINUTES, math.ceil(minutes))}


def input_bytes(paths: Iterable[str | os.PathLike]) -> int:
    """The bytes under ``paths`` (files, and every file below a directory). A missing path raises
    FileNotFoundError naming it as given: Snakemake then shows the request as <TBD> (a dry run, before the input
    exists) and asks again once the job's input is there."""
    total = 0
    for name in paths:
        path = Path(name)
        if path.is_dir():
            total += sum(item.stat().st_size for item in path.rglob("*") if item.is_file())
        elif path.is_file():
            total += path.stat().st_size
        else:
            raise FileNotFoundError(errno.ENOENT, "input not there yet", str(name))
    return total


def spm_training_bytes(files: Iterable[Path], input_sentence_size: int) -> int:
    """What one SentencePiece model reads: its training files, but at most ``input_sentence_size`` sentences of
    them (SentencePiece samples that many and holds only those), counted at the files' mean line length."""
    files = [Path(file) for file in files]
    size = input_bytes(files)
    if input_sentence_size <= 0 or size == 0:
        return size
    lines = 0
    for file in files:
        with open(file, "rb") as stream:
            lines += sum(chunk.count(b"\n") for chunk in iter(lambda stream=stream: stream.read(1 << 24), b""))
    return size if lines <= input_sentence_size else int(size * input_sentence_size / lines)


def spm_model_bytes(spec: dict, data_dir: Path, model: str) -> int:
    """What the ``spm_train`` job of ``model`` reads: that model's training files, capped at the recipe's
    ``input_sentence_size``."""
    from lssd.data.spm import training_inputs

    input_bytes([data_dir])  # FileNotFoundError until the data exist
    files = training_inputs(spec, Path(data_dir))[model]
    return spm_training_bytes(files, spec["spm"].get("input_sentence_size", 0))


def encode_bytes(spec: dict, data_dir: Path, lang: str) -> int:
    """What the ``spm_encode`` job of ``lang`` reads: that language's pair, every split, both sides."""
    from lssd.data.parallel import SPLITS, parallel_path

    input_bytes([data_dir])
    pivot = spec["pivot"]
    return input_bytes(
        parallel_path(Path(data_dir), split, lang, pivot, side) for split in SPLITS for side in (lang, pivot)
    )
