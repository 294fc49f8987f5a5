"""What a GPU job holds in host memory, measured on CPU (benchmarks/paper_training.py's ``evaluate`` and ``host``
workers, each a fresh process after the two methods' runs): the figures behind the evaluation and training jobs'
``mem_mb`` requests (lssd.run.resources).

* ``evaluate``: the evaluation job as lssd.run.evaluate runs it (lssd.run.generation: the baseline's
  ``checkpoint_best.pt`` loaded once, fairseq's beam search with the paper's evaluation settings) over one batch of
  a pair's synthetic test set. On CPU the model, the beam's states and the output projections are all in host
  memory, so its peak RSS bounds what a GPU evaluation holds on the host. The model is a few hundred updates old:
  its hypotheses mostly run to the length limit (``max_len_b``), the worst case for the beam's memory.
* ``host``: a training process's host side at its peak, a resume: fairseq's task with its training and dev data,
  the model built, ``checkpoint_last.pt`` (weights and Adam state) loaded to CPU as fairseq's ``load_checkpoint``
  does, then every teacher file loaded as the plugin's ``TeacherFiles.load`` does (kept, not freed: an upper
  bound). No update is run: on a GPU the gradients, Adam's moments and the activations live on the GPU.
"""

from __future__ import annotations

import glob
import os
import time

from lssd import layout
from lssd.method.teachers import TEACHERS_DIRECTORY, teacher_file_name

from .settings import DATASETS, paper_config
from .worker import Run, current_rss, peak_rss, set_up


def evaluate(options) -> dict:
    """One batch of the first pair's test set translated from the baseline's best checkpoint."""
    import torch

    from lssd import config as lssd_config
    from lssd.run import commands
    from lssd.run.generation import Generator, Request

    torch.set_num_threads(options.threads)
    start = time.perf_counter()
    config = paper_config()
    dataset = DATASETS[options.size]
    pairs = lssd_config.pairs(config, dataset, options.direction)
    settings = config["evaluation"]
    model = os.path.join(options.work_dir, "baseline", layout.BEST)
    args = commands.generate_arguments(
        data_bin=options.data_bin,
        model=model,
        pairs=pairs,
        direction=options.direction,
        beam=settings["beam"],
        lenpen=settings["lenpen"],
        batch_size=settings["batch_size"],
        max_len_b=settings["max_len_b"],
    )
    rss_start = current_rss()
    source, target = pairs[0].split("-")
    translate_start = time.perf_counter()
    translation = Generator([*args, "--cpu"]).translate(Request(source, target, "test"))
    seconds = time.perf_counter() - translate_start
    lengths = [len(line.split()) for line in translation.hypotheses]
    return {
        "pair": pairs[0],
        "sentences": len(lengths),
        "batch_size": settings["batch_size"],
        "beam": settings["beam"],
        "max_len_b": settings["max_len_b"],
        "hypothesis_pieces": {"mean": sum(lengths) / max(1, len(lengths)), "max": max(lengths, default=0)},
        "checkpoint_bytes": os.path.getsize(model),
        "translate_s": seconds,
        "wall_s": time.perf_counter() - start,
        "rss_start": rss_start,
        "peak_rss": peak_rss(),
    }


def host(options) -> dict:
    """LSSD-Whole's training process at a resume, without its updates (see the module docstring)."""
    import torch
    from fairseq import checkpoint_utils

    from lssd import allow_fairseq_checkpoints

    torch.set_num_threads(options.threads)
    allow_fairseq_checkpoints()
    run = Run(method="lssd_whole", started=time.perf_counter(), rss={})
    run.rss["start"] = current_rss()
    set_up(options, run)
    run.trainer.get_train_iterator(epoch=1, load_dataset=True)
    run.rss["data and model"] = current_rss()
    checkpoint = os.path.join(options.work_dir, "baseline", layout.LAST)
    state = checkpoint_utils.load_checkpoint_to_cpu(checkpoint)
    run.rss["checkpoint loaded"] = current_rss()
    directory = os.path.join(options.work_dir, "lssd_whole", TEACHERS_DIRECTORY)
    teacher_files = sorted(glob.glob(os.path.join(directory, teacher_file_name("*"))))
    if not teacher_files:
        raise SystemExit(f"no teacher files in {directory}: run the LSSD worker first")
    teachers = [torch.load(path, map_location="cpu", weights_only=False) for path in teacher_files]
    run.rss["teachers loaded"] = current_rss()
    del state, teachers
    return {
        "checkpoint_bytes": os.path.getsize(checkpoint),
        "teacher_files": len(teacher_files),
        "teacher_bytes": sum(os.path.getsize(path) for path in teacher_files),
        "rss": run.rss,
        "peak_rss": peak_rss(),
        "wall_s": time.perf_counter() - run.started,
    }
