"""The measurements of ``teacher_overhead.py``: one method ready to train with fairseq's own Trainer, its update
timed in rounds, the teacher's forward pass and the KD term's own cost alone, peak memory, and a profile of
where a step's time goes."""

from __future__ import annotations

import gc
import os
import tempfile
import time
from contextlib import contextmanager
from copy import deepcopy
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


# the dataset whose training preset each benchmark size uses
SIZE_DATASETS = {"demo": "demo", "ted": "ted8_diverse"}


def load_configs() -> tuple[dict, dict]:
    """The demo config and the paper config (over it), as the workflow sees them (lssd.config_files: the schema's
    defaults filled in, the checks passed)."""
    from lssd import config_files

    demo = config_files.load_config([config_files.DEMO])
    paper = config_files.load_config([config_files.DEMO, config_files.PAPER])
    return demo, paper


def training_preset(size: str, direction: str, max_tokens: int | None) -> dict:
    """The training settings of the demo dataset, or of TED-8-Diverse (config/paper.yaml), for ``direction``, with
    their per-direction overrides (lssd.config.training_settings, as the workflow's runs get them)."""
    from lssd import config as lssd_config

    demo, paper = load_configs()
    preset = lssd_config.training_settings(demo if size == "demo" else paper, SIZE_DATASETS[size], direction)
    if max_tokens:
        preset["max_tokens"] = max_tokens
    return preset


def fairseq_arguments(options, method: str, save_dir: str) -> list[str]:
    from lssd import config as lssd_config
    from lssd.run import commands

    demo, _ = load_configs()
    langs = (Path(options.data_bin) / "lang_list.txt").read_text().split()
    pivot = langs[-1]
    pairs = [f"{lang}-{pivot}" if options.direction == "m2o" else f"{pivot}-{lang}" for lang in langs[:-1]]
    args = commands.train_arguments(
        data_bin=options.data_bin,
        save_dir=save_dir,
        pairs=pairs,
        direction=options.direction,
        training=training_preset(options.size, options.direction, options.max_tokens),
        method=lssd_config.method_settings(demo, method, options.direction),
        seed=1,
    )
    args += commands.plugin_arguments()
    if options.device == "cpu":
        args.append("--cpu")
    elif options.precision == "fp16":
        args.append("--fp16")
    args += ["--lssd-teacher-precision", options.teacher_precision]
    # --num-workers 0: no DataLoader worker process per set-up (its shutdown cost seconds; the batches are
    # prepared before any timing)
    return args + ["--max-epoch", "1", "--no-progress-bar", "--log-interval", "1000000", "--num-workers", "0"]


def model_bytes(model) -> int:
    return sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])


def synchronize(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


@contextmanager
def quiet_interpreter():
    """No garbage collection inside a timed block (a collection of fairseq's many small objects would land in
    whichever method happens to run then); collected before it instead."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class Setup:
    """One method ready to train: fairseq's Trainer over the method's task, model and criterion, and its batches."""

    def __init__(self, options, method: str, save_dir: str):
        import numpy as np
        from fairseq import options as fairseq_options
        from fairseq import tasks, utils
        from fairseq.data import iterators
        from fairseq.dataclass.utils import convert_namespace_to_omegaconf
        from fairseq.trainer import Trainer

        argv = fairseq_arguments(options, method, save_dir)
        parsed = fairseq_options.parse_args_and_arch(fairseq_options.get_training_parser(), argv)
        cfg = convert_namespace_to_omegaconf(parsed)
        utils.import_user_module(cfg.common)
        np.random.seed(cfg.common.seed)
        utils.set_torch_seed(cfg.common.seed)  # same seed: same initial model and batches for every method
        self.device = options.device
        self.task = task = tasks.setup_task(cfg.task)
        self.trainer = trainer = Trainer(cfg, task, task.build_model(cfg.model), task.build_criterion(cfg.criterion))
        epoch_itr = trainer.get_train_iterator(epoch=1, load_dataset=True)
        trainer.begin_epoch(epoch_itr.epoch)
        iterator = iterators.GroupedIterator(epoch_itr.next_epoch_itr(shuffle=True), cfg.optimization.update_freq[0])
        self.batches = [samples for _, samples in zip(range(options.warmup + options.steps), iterator, strict=False)]
        self.timed = self.batches[options.warmup :]
        self.teacher = None
        if task.distilling():
            lifecycle = task.lifecycle
            keys = [task.teacher_key(pair) for pair in task.lang_pairs]
            # every pair's teacher is the model of "epoch 1", and in "epoch 3" no pair has improved for a whole
            # epoch: distillation is on for every batch
            freeze = lambda: lifecycle.teachers.freeze(deepcopy(trainer.model))  # noqa: E731
            lifecycle.pool.update(1, dict.fromkeys(keys, 1.0), freeze)
            lifecycle.start_epoch(3)
            assert all(lifecycle.kd_on.values())
            self.teacher = lifecycle.pool.teacher(keys[0])

    def prepared(self) -> list[dict]:
        return [self.trainer._prepare_sample(samples[0])[0] for samples in self.timed]

    def warm_up(self) -> None:
        for samples in self.batches[: len(self.batches) - len(self.timed)]:
            self.trainer.train_step(samples)

    def timed_block(self, step, items) -> float:
        """Seconds per item of ``step`` over ``items``."""
        with quiet_interpreter():
            synchronize(self.device)
            start = time.perf_counter()
            for item in items:
                step(item)
            synchronize(self.device)
            return (time.perf_counter() - start) / len(items)

    def time_updates(self) -> float:
        return self.timed_block(self.trainer.train_step, self.timed)

    def time_teacher_forward(self, prepared: list[dict]) -> float:
        """The teacher's forward pass alone, exactly as the criterion runs it."""
        from lssd.plugin.criterion import teacher_logits

        return self.timed_block(lambda sample: teacher_logits(self.teacher, sample["net_input"]), prepared)

    def kd_floor_inputs(self, prepared: list[dict]) -> list[tuple]:
        """Per batch: the student's and the teacher's logits and the target, for ``time_kd_floor``."""
        import torch

        from lssd.plugin.criterion import teacher_logits

        model = self.trainer.model
        with torch.no_grad():
            return [
                (model(**s["net_input"])[0].detach(), teacher_logits(self.teacher, s["net_input"]), s["target"])
                for s in prepared
            ]

    def time_kd_floor(self, inputs: list[tuple]) -> float:
        """What the KD term costs by itself: LSSD's objective (forward and backward) minus the label-smoothed CE it
        replaces, on the same logits. Both normalise the student once; the difference is the teacher's softmax and
        the KD term's own passes over [batch, time, vocabulary]."""
        import torch.nn.functional as F
        from fairseq.criterions.label_smoothed_cross_entropy import label_smoothed_nll_loss

        from lssd.method.objective import distillation_objective

        criterion = self.trainer.criterion
        pad, eps = criterion.padding_idx, criterion.eps

        def lssd(batch):
            student, teacher, target = batch
            student = student.requires_grad_()
            kd = distillation_objective(student, teacher, target, pad_idx=pad, epsilon=eps, weight=1.0, variant="whole")
            kd["loss"].backward()

        def ce(batch):
            student, _, target = batch
            student = student.requires_grad_()
            lprobs = F.log_softmax(student, dim=-1, dtype=student.dtype)
            loss, _ = label_smoothed_nll_loss(lprobs.view(-1, lprobs.size(-1)), target.view(-1), eps, ignore_index=pad)
            loss.backward()

        return self.timed_block(lssd, inputs) - self.timed_block(ce, inputs)

    def tokens_per_update(self) -> float:
        return sum(int(sample["ntokens"]) for samples in self.timed for sample in samples) / len(self.timed)


def run_timing(options) -> dict:
    """Every method in this process; rounds of each method's updates, the methods in alternating order from round
    to round (no method always runs first or last); the teacher forward and the KD floor timed in the same rounds."""
    import torch

    torch.set_num_threads(options.threads)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as save_dir:
        setups = {method: Setup(options, method, os.path.join(save_dir, method)) for method in options.methods}
        for method, setup in setups.items():
            setup.warm_up()
            results[method] = {"update_s": [], "tokens_per_update": setup.tokens_per_update()}
            results[method]["model_bytes"] = model_bytes(setup.trainer.model)
        whole = setups["lssd_whole"]
        prepared = whole.prepared()
        floor_inputs = whole.kd_floor_inputs(prepared)
        order = list(setups)
        for round_index in range(options.repeats):
            for method in order if round_index % 2 == 0 else order[::-1]:
                results[method]["update_s"].append(setups[method].time_updates())
            results["lssd_whole"].setdefault("teacher_forward_s", []).append(whole.time_teacher_forward(prepared))
            results["lssd_whole"].setdefault("kd_floor_s", []).append(whole.time_kd_floor(floor_inputs))
        for method, setup in setups.items():
            if setup.teacher is not None:
                copies = list(setup.task.lifecycle.pool.copies.values())
                results[method]["teacher_copies"] = len(copies)
                results[method]["teacher_bytes"] = sum(model_bytes(copy) for copy in copies)
                results[method]["teacher_dtype"] = str(next(setup.teacher.parameters()).dtype).replace("torch.", "")
    return results


def run_memory(options, method: str) -> int:
    """Peak memory of training one method (its own process: the peak RSS of a process only grows)."""
    import resource

    import torch

    torch.set_num_threads(options.threads)
    with tempfile.TemporaryDirectory() as save_dir:
        setup = Setup(options, method, save_dir)
        if options.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        for samples in setup.batches:
            setup.trainer.train_step(samples)
        if options.device == "cuda":
            return torch.cuda.max_memory_allocated()
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


PARTS = ("teacher forward", "loss", "forward", "backward", "optimizer")


def run_profile(options) -> dict:
    """Where an update's time goes, for the baseline and LSSD-Whole: torch's profiler over the timed updates, the
    teacher's forward and the loss (fairseq's label-smoothed CE, or LSSD's objective) marked as their own ranges
    beside the ranges fairseq's Trainer marks itself (forward, backward, optimizer). Milliseconds per update."""
    import torch
    from fairseq.criterions.label_smoothed_cross_entropy import LabelSmoothedCrossEntropyCriterion
    from torch.profiler import ProfilerActivity, profile, record_function

    import lssd.plugin.criterion as criterion_module

    def marked(name, function):
        def wrapper(*args, **kwargs):
            with record_function(name):
                return function(*args, **kwargs)

        return wrapper

    criterion_module.teacher_logits = marked("teacher forward", criterion_module.teacher_logits)
    criterion_module.distillation_objective = marked("loss", criterion_module.distillation_objective)
    LabelSmoothedCrossEntropyCriterion.compute_loss = marked("loss", LabelSmoothedCrossEntropyCriterion.compute_loss)
    torch.set_num_threads(options.threads)
    parts: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as save_dir:
        for method in ("baseline", "lssd_whole"):
            setup = Setup(options, method, os.path.join(save_dir, method))
            setup.warm_up()
            with profile(activities=[ProfilerActivity.CPU]) as profiler:
                start = time.perf_counter()
                for samples in setup.timed:
                    setup.trainer.train_step(samples)
                wall = time.perf_counter() - start
            totals = {event.key: event.cpu_time_total for event in profiler.key_averages() if event.key in PARTS}
            per_update = {name: totals.get(name, 0.0) / 1e3 / len(setup.timed) for name in PARTS}
            per_update["step"] = wall * 1e3 / len(setup.timed)
            parts[method] = per_update
    return parts
