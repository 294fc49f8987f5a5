"""One method's worker process of benchmarks/paper_training.py: fairseq's Trainer over the plugin's task, from
its data to its timed updates (a full teacher pool for LSSD; validation and checkpoint for the baseline), with
the RSS after each stage."""

from __future__ import annotations

import ctypes
import gc
import os
import resource
import time
from dataclasses import dataclass, field

from benchmarks.overhead_measure import model_bytes, quiet_interpreter

from .settings import DATASETS, TINY, paper_config
from .validation import validate_and_save

ARCH_FIELDS = (
    "arch",
    "encoder_layers",
    "decoder_layers",
    "encoder_embed_dim",
    "encoder_ffn_embed_dim",
    "decoder_ffn_embed_dim",
)


def current_rss() -> int:
    """Bytes resident now (not the peak), after returning freed heap memory to the OS: what the process holds."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: RSS then also counts freed memory the allocator keeps
        pass
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def fairseq_arguments(options, config: dict, method: str, save_dir: str) -> list[str]:
    """The method's fairseq-train arguments as the workflow builds them for the paper's dataset, on CPU."""
    from lssd import config as lssd_config
    from lssd.run import commands

    dataset = DATASETS[options.size]
    training = lssd_config.training_settings(config, dataset, options.direction, method)
    if options.tiny:
        training["model"] = {**training.get("model", {}), **TINY["model"]}
    if options.max_tokens:
        training["max_tokens"] = options.max_tokens
    if options.update_freq:
        training["update_freq"] = options.update_freq
    args = commands.train_arguments(
        data_bin=options.data_bin,
        save_dir=save_dir,
        pairs=lssd_config.pairs(config, dataset, options.direction),
        direction=options.direction,
        training=training,
        method=lssd_config.method_settings(config, method, options.direction, dataset),
        seed=config["run"]["seeds"][0],
    )
    args += commands.runtime_train_arguments(log_interval=100, keep_epoch_checkpoints=False)
    return [*args, "--cpu", "--no-progress-bar", "--lssd-teacher-precision", options.teacher_precision]


def build_teacher_pool(task, trainer) -> dict:
    """One frozen teacher per pair, each written to its file, every pair distilled from the next epoch on.

    The pool's own rules make it: at "epoch 1" every pair improves (one copy), at epoch k + 1 only pair k does
    (a copy of its own); in epoch P + 2 no pair improved at the last validation, so all of them distil."""
    lifecycle = task.lifecycle
    keys = [task.teacher_key(pair) for pair in task.lang_pairs]
    before = current_rss()
    start = time.perf_counter()
    for index, key in enumerate(keys):
        epoch = index + 1
        losses = dict.fromkeys(keys, 1.0)
        losses[key] = 1.0 if index == 0 else 0.5
        lifecycle.pool.update(epoch, losses, lambda e=epoch: lifecycle.teachers.copy(trainer.model, e))
    seconds = time.perf_counter() - start
    lifecycle.start_epoch(len(keys) + 2)
    if not all(lifecycle.kd_on.values()):
        raise RuntimeError(f"not every pair distils: {lifecycle.kd_on}")
    teachers = [lifecycle.pool.teacher(key) for key in keys]
    if len({id(teacher) for teacher in teachers}) != len(keys):
        raise RuntimeError("the pairs share teachers: the pool is not one teacher per pair")
    parameter_bytes = [sum(p.numel() * p.element_size() for p in teacher.parameters()) for teacher in teachers]
    return {
        "count": len(lifecycle.pool.copies),
        "pairs": len(keys),
        "dtype": str(next(teachers[0].parameters()).dtype).replace("torch.", ""),
        "pool_bytes": lifecycle.pool.memory_bytes(),
        "parameter_bytes": sum(parameter_bytes),
        "parameter_bytes_each": parameter_bytes[0],
        "rss_increase": current_rss() - before,
        "file_bytes": os.path.getsize(lifecycle.teachers.path(1)),
        "build_s": seconds,
    }


@dataclass
class Run:
    """One method's process: its fairseq objects, and the RSS and wall seconds of each stage so far."""

    method: str
    started: float
    rss: dict
    stages: dict = field(default_factory=dict)  # wall seconds of each stage: what a longer run's time is made of
    parsed: object = None
    cfg: object = None
    task: object = None
    model: object = None
    trainer: object = None

    def stage(self, name: str) -> None:
        """The wall seconds since the last stage ended."""
        self.stages[name] = time.perf_counter() - self.started - sum(self.stages.values())


def set_up(options, run: Run) -> None:
    """fairseq-train's own setup: its arguments, the task with its dev sets, the model, criterion and Trainer."""
    import numpy as np
    from fairseq import options as fairseq_options
    from fairseq import tasks, utils
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf
    from fairseq.trainer import Trainer

    config = paper_config()
    save_dir = os.path.join(options.work_dir, run.method)
    argv = fairseq_arguments(options, config, run.method, save_dir)
    run.parsed = fairseq_options.parse_args_and_arch(fairseq_options.get_training_parser(), argv)
    cfg = run.cfg = convert_namespace_to_omegaconf(run.parsed)
    utils.import_user_module(cfg.common)
    np.random.seed(cfg.common.seed)
    utils.set_torch_seed(cfg.common.seed)  # the same initial model and batches for both methods
    run.rss["imported"] = current_rss()
    task = run.task = tasks.setup_task(cfg.task)
    for subset in cfg.dataset.valid_subset.split(","):  # fairseq-train loads the dev sets before the model
        task.load_dataset(subset, combine=False, epoch=1)
    run.rss["data"] = current_rss()
    run.model = task.build_model(cfg.model)
    criterion = task.build_criterion(cfg.criterion)
    run.rss["model"] = current_rss()
    run.trainer = Trainer(cfg, task, run.model, criterion)


def load_updates(options, run: Run):
    """The first epoch's iterator, its update_freq, and the batches of the warmup and timed updates."""
    from fairseq.data import iterators

    epoch_itr = run.trainer.get_train_iterator(epoch=1, load_dataset=True)
    run.trainer.begin_epoch(epoch_itr.epoch)
    update_freq = run.cfg.optimization.update_freq[0]
    iterator = iterators.GroupedIterator(epoch_itr.next_epoch_itr(shuffle=True), update_freq)
    wanted = options.warmup + options.updates
    updates = [samples for _, samples in zip(range(wanted), iterator, strict=False)]
    if len(updates) < wanted:
        raise SystemExit(f"the built epoch holds {len(updates)} updates, fewer than {wanted}: raise --train-sentences")
    return epoch_itr, update_freq, updates


def timed_updates(trainer, updates) -> tuple[list[float], list[int]]:
    """Each update's seconds and target tokens."""
    seconds, tokens = [], []
    for samples in updates:
        with quiet_interpreter():
            start = time.perf_counter()
            trainer.train_step(samples)
            seconds.append(time.perf_counter() - start)
        tokens.append(sum(int(sample["ntokens"]) for sample in samples))
    return seconds, tokens


def describe(run: Run, epoch_itr, update_freq: int) -> dict:
    """The run's sizes: model, vocabularies, architecture, batches, pairs and built epoch."""
    model, task, cfg = run.model, run.task, run.cfg
    return {
        "method": run.method,
        "criterion": cfg.criterion._name,
        "parameters": sum(p.numel() for p in model.parameters()),
        "parameter_bytes": sum(p.numel() * p.element_size() for p in model.parameters()),
        "model_bytes": model_bytes(model),
        "source_vocab": len(task.source_dictionary),
        "target_vocab": len(task.target_dictionary),
        "arch": {name: getattr(run.parsed, name) for name in ARCH_FIELDS},
        "max_tokens": cfg.dataset.max_tokens,
        "update_freq": update_freq,
        "pairs": list(task.lang_pairs),
        "built_epoch": {"batches": len(epoch_itr), "sentences": len(task.datasets[cfg.dataset.train_subset])},
    }


def run_method(options, method: str) -> dict:
    """One method in this process, from its data to its timed updates (and, for the baseline, the validation and
    the checkpoint); every figure of its own as a dict."""
    import torch

    torch.set_num_threads(options.threads)
    run = Run(method=method, started=time.perf_counter(), rss={})
    run.rss["start"] = current_rss()
    set_up(options, run)
    epoch_itr, update_freq, updates = load_updates(options, run)
    run.rss["loaded"] = current_rss()
    run.stages["setup"] = time.perf_counter() - run.started
    for samples in updates[: options.warmup]:
        # one batch each: the first update allocates every gradient and Adam's state whatever its batches, and a
        # WMT update of update_freq 2 batches would cost minutes more
        run.trainer.train_step(samples[:1])
    run.rss["state"] = current_rss()
    run.stage("warmup")
    teachers = build_teacher_pool(run.task, run.trainer) if run.task.distilling() else None
    if teachers:
        run.rss["pool"] = current_rss()
        run.stage("teacher pool")
    seconds, tokens = timed_updates(run.trainer, updates[options.warmup :])
    peak_training = peak_rss()
    run.stages["timed"] = sum(seconds)
    run.rss["trained"] = current_rss()
    result = describe(run, epoch_itr, update_freq)
    result |= {"update_s": seconds, "tokens_per_update": tokens, "rss": run.rss, "stages_s": run.stages}
    result |= {"peak_rss_training": peak_training, "teachers": teachers}
    if method == "baseline":
        result["validation"], result["checkpoint"] = validate_and_save(run.cfg, run.task, run.trainer, epoch_itr)
        run.stages["validation"] = result["validation"]["seconds"]
        run.stages["checkpoint"] = result["checkpoint"]["save_s"]
    result["wall_s"] = time.perf_counter() - run.started
    return result
