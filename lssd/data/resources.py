"""What each data job asks a cluster for: memory (``mem_mb``) and time (``runtime``, minutes), in one place.

Every figure here comes from ``benchmarks/rehearse_data.py`` (the data half of ``config/paper.yaml`` run on paper-
sized synthetic corpora in the real formats; docs/paper.md, "Data preparation at paper size, measured"): a job's
peak memory and its wall time, fitted as a fixed part plus a part proportional to the size of what the job reads, in
GB. The request is that fit times a margin, so that a dataset of another size (a user's own, a fraction of WMT) gets
a request that follows its size instead of one guess for all. The margins cover what the fit does not see: slower
cluster nodes and shared file systems (time), and the spread between runs and text unlike the rehearsal's (memory).

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

from lssd.io import count_lines

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


# Measured with benchmarks/rehearse_data.py on a 2-vCPU Intel Xeon VM (docs/paper.md, "Data preparation at paper size,
# measured"): TED-8 at 100 % (3 runs), WMT-6 at 1 % and 10 % (3 runs each) and 30 % (1 run); GB = what the job
# reads, as lssd.data.resources counts it for the request. Peak memory is the job's exact high-water mark.
COSTS: dict[str, Cost] = {
    # holds its languages' pairs until written: 405 MB for the 0.38 GB TED archive; 46 s
    "prepare_ted": Cost(100, 800, 0.5, 2.5, "TED-8 100 %: 0.38 GB in 46 s, 405 MB"),
    # streams (two passes over each pooled corpus): 100-160 MB per language process, 6 side by side; one process
    # reads 9 min per GB of archives (0.46 GB in 247 s at 10 %; the request assumes no parallel speed-up: side by
    # side on 2 cores, 1.37 GB took 248 s at 30 %)
    "prepare_wmt": Cost(700, 0, 0.5, 9, "WMT-6 10 %: 0.46 GB in 247 s (one process); 30 %: 156 MB peak"),
    "prepare_demo": Cost(300, 0, 1, 0, "demo: seconds, under 300 MB"),
    # the user's files are read whole (line checks on both sides): as TED
    "prepare_parallel_files": Cost(100, 800, 0.5, 2.5, "as prepare_ted"),
    # SentencePiece holds its sampled sentences and their suffix array: 18-20 MB per MB read (1.8 GB for TED's
    # 86 MB English side; 2.8 GB for WMT-6 10 %'s 144 MB joint input, 7.9 GB for 30 %'s 433 MB); 7 (8K pieces) to
    # 12.5 (64K) min per GB (WMT-6: 107 s for 144 MB, 217 s for 433 MB)
    "spm_train": Cost(
        100, 20000, 0.5, 12.5, "TED 100 % English 86 MB: 36 s, 1.8 GB; WMT 10 % / 30 %: 107 / 217 s, 2.8 / 7.9 GB"
    ),
    # streams in batches of 20K sentences: ~125 MB whatever the size; 6.5 s for 50 MB
    "spm_encode": Cost(300, 0, 0.5, 2.5, "TED 100 %: 50 MB in 6.5 s, 125 MB"),
    # fairseq-preprocess, one process per language side by side (~450 MB each, up to 8 with 16 threads);
    # 15 min per GB one language at a time (0.32 GB of TED-8 encoded text in 297 s; 159 s side by side on 2 cores)
    "binarize": Cost(4000, 0, 0.5, 16, "TED 100 %: 0.32 GB in 297 s (one process), 700 MB"),
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
    lines = sum(count_lines(file) for file in files)
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
