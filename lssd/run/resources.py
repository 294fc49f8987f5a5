"""What a training or an evaluation job asks a cluster for in host memory (``mem_mb``), in one place.

The figures come from ``benchmarks/paper_training.py`` (docs/paper.md, "The training side at paper size, on CPU"): the
paper's two models (``transformer_iwslt_de_en`` at the original's FFN 2048 and 8 heads with TED-8's vocabularies,
``transformer_wmt_en_de`` with WMT-6's joint one), each measured in a fresh process on CPU:

* an **evaluation** process (lssd.run.evaluate's generation over one full batch, the paper's beam, hypotheses
  running to the length limit): its peak RSS against the size of the checkpoint it loads. On CPU the model and the
  beam's states are in host memory too, so this bounds a GPU evaluation's host memory from above;
* a **training** process's host side at a resume (data and model set up, ``checkpoint_last.pt`` and every teacher
  file loaded to CPU, as fairseq and the plugin load them before moving them to the GPU): its peak RSS is the
  interpreter with its data (``TRAINING_FIXED_MB``) plus 16 bytes per parameter (the model built on CPU, 4; the
  checkpoint's weights and Adam's two moments, 12) plus 4 per parameter and pair (one fp32 teacher file each: a
  full pool; on a GPU they are fp16, half). This arithmetic is checked against both measurements (docs/paper.md). A GPU
  process also holds CUDA's own host memory (its libraries and context), which only a GPU can measure:
  ``CUDA_HOST_MB`` is an allowance for it, to be checked by the GPU verification (issue 28) when a GPU is lent.

An evaluation's figure is a fit, fixed plus per GB of checkpoint, at the paper's evaluation settings (batch 96,
beam 5, ``max_len_b`` 200): the beam's state grows with batch x beam x length, so a larger ``evaluation.batch_size``
needs more than this asks for. Every request is the figure times ``MEMORY_MARGIN`` (the data rules' margin), half as
much again on each retry, never below ``MIN_MEM_MB``.
"""

from __future__ import annotations

import math

from lssd.data.resources import MEMORY_MARGIN, MIN_MEM_MB

GB = 1e9


# evaluation: peak RSS (MB) = EVALUATION_FIXED_MB + EVALUATION_MB_PER_GB x the checkpoint's GB, the line through
# the two paper-size measurements (the beam's state, ~4 GB at these settings, is most of the fixed part; the
# tiny demo model's evaluation peaks at 0.6 GB: a small model is asked more than it needs)
EVALUATION_FIXED_MB = 5257
EVALUATION_MB_PER_GB = 86
EVALUATION_MEASURED = "TED-8 model, 0.95 GB checkpoint: 5,338 MB; WMT-6 model, 1.32 GB: 5,370 MB"
# a training process's host side: fixed + bytes per parameter (+ per parameter and pair: the teacher files). The
# fixed part is the interpreter with fairseq, the dev sets and the training data's indices of WMT-6's 5M
# temperature-sampled pairs (1,072 MB measured; TED-8's: 512 MB)
TRAINING_FIXED_MB = 1100
BYTES_PER_PARAMETER = 16  # the model built on CPU (fp32) + the checkpoint's weights and two Adam moments
TEACHER_BYTES_PER_PARAMETER = 4  # one fp32 teacher file per pair (an upper bound: fp16 on a GPU)
TRAINING_MEASURED = (
    "TED-8 (79.0M parameters, 8 teacher files): 4,317 MB, predicted 4,891; WMT-6 (109.7M, 6): 5,474 MB, predicted 5,488"
)
CUDA_HOST_MB = 3000  # per GPU process: CUDA's libraries and context in host memory (not measurable without a GPU)


def with_margin(mem_mb: float, attempt: int = 1) -> int:
    growth = 1 + 0.5 * (max(attempt, 1) - 1)
    return max(MIN_MEM_MB, math.ceil(mem_mb * MEMORY_MARGIN * growth))


def evaluation_peak_mb(checkpoint_bytes: int) -> float:
    return EVALUATION_FIXED_MB + EVALUATION_MB_PER_GB * checkpoint_bytes / GB


def evaluation_mem_mb(checkpoint_bytes: int, attempt: int = 1) -> int:
    """An evaluation job's request for a checkpoint of ``checkpoint_bytes`` (one process, on a GPU or not)."""
    return with_margin(evaluation_peak_mb(checkpoint_bytes), attempt)


def training_process_mb(parameters: int, pairs: int) -> float:
    """A training process's host memory at its peak (a resume), by the arithmetic above."""
    per_parameter = BYTES_PER_PARAMETER + TEACHER_BYTES_PER_PARAMETER * pairs
    return TRAINING_FIXED_MB + parameters * per_parameter / 1e6


def training_mem_mb(parameters: int, pairs: int, processes: int, gpus: bool, attempt: int = 1) -> int:
    """A training job's request for a model of ``parameters`` over ``pairs`` pairs trained by ``processes``
    processes (one per GPU, or the CPU workers), each holding its own copy; GPU processes also CUDA's."""
    per_process = training_process_mb(parameters, pairs) + (CUDA_HOST_MB if gpus else 0)
    return with_margin(max(processes, 1) * per_process, attempt)
