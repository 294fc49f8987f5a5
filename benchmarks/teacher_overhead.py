"""What LSSD costs on top of the baseline, per update, against the floor of one teacher forward pass.

Same data, model, seed and batches for every method; fairseq's own Trainer does each update (forward, backward,
optimizer step). LSSD runs with distillation forced on for every batch (every pair has a teacher, a copy of the
initial model, and has stopped improving), so every update pays the teacher. Warm-up updates are excluded; each
method is timed over many short rounds, the methods interleaved in alternating order within each round, so that
the drift of a shared machine's speed hits every method alike; the closing figures are medians over rounds of
paired (same-round) comparisons. Peak memory is measured in one process per method.

Prints a table of (a) the baseline's time per update, (b) the teacher's forward pass alone per batch, in the
precision LSSD runs it in, (c) LSSD's time per update for each variant, and (d) tokens/s, peak memory and the
teacher copies held (count and bytes). The last two lines are::

    lssd/baseline per-update time ratio: <c/a for whole>
    overhead beyond teacher forward: <(c - a) / b for whole>

The second is LSSD's extra time in units of teacher forwards: 1.0 means LSSD costs exactly one teacher forward
more than the baseline.

Usage::

    python benchmarks/teacher_overhead.py                       # demo model on CPU, demo data (built if needed)
    python benchmarks/teacher_overhead.py --device cuda --size ted --data-bin results/bin/ted8_diverse
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from copy import deepcopy
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

METHODS = ("baseline", "lssd_whole", "lssd_selective", "lssd_adaptive")


def load_configs() -> tuple[dict, dict]:
    demo = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))
    paper = yaml.safe_load((REPO / "config" / "paper.yaml").read_text(encoding="utf-8"))
    return demo, paper


def training_preset(size: str, max_tokens: int | None) -> dict:
    """The demo preset (``demo_tiny``), or the TED preset (``transformer_iwslt_de_en``) of config/paper.yaml."""
    demo, paper = load_configs()
    preset = deepcopy(demo["trainings"]["demo_tiny"] if size == "demo" else paper["trainings"]["ted"])
    preset.pop("by_direction", None)
    defaults = {"update_freq": 1, "max_update": 0, "save_interval_updates": 0}
    defaults |= {"max_positions": 1024, "pure_batch": True, "log_interval": 100, "adam_betas": [0.9, 0.98]}
    defaults |= {"adam_eps": 1e-6, "weight_decay": 0.0, "clip_norm": 0.0, "extra_args": []}
    preset = {**defaults, **preset}
    if max_tokens:
        preset["max_tokens"] = max_tokens
    return preset


def demo_data_bin(work_dir: Path) -> Path:
    """The demo dataset (config/config.yaml), binarized once into ``work_dir``."""
    from lssd.data import build_demo_data_bin

    bin_dir = work_dir / "bin"
    if (bin_dir / "manifest.json").exists():
        return bin_dir
    print(f"building the demo data-bin in {work_dir} ...", file=sys.stderr, flush=True)
    return build_demo_data_bin(load_configs()[0]["datasets"]["demo"], "demo", work_dir)


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
        training=training_preset(options.size, options.max_tokens),
        method=lssd_config.method_settings(demo, method, options.direction),
        seed=1,
    )
    args += commands.plugin_arguments()
    if options.device == "cpu":
        args.append("--cpu")
    elif options.precision == "fp16":
        args.append("--fp16")
    args += ["--lssd-teacher-precision", options.teacher_precision]
    return args + ["--max-epoch", "1", "--no-progress-bar", "--log-interval", "1000000"]


def model_bytes(model) -> int:
    return sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])


def synchronize(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


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
        parser = fairseq_options.get_training_parser()
        cfg = convert_namespace_to_omegaconf(fairseq_options.parse_args_and_arch(parser, argv))
        utils.import_user_module(cfg.common)
        np.random.seed(cfg.common.seed)
        utils.set_torch_seed(cfg.common.seed)  # same seed: same initial model and batches for every method
        self.task = task = tasks.setup_task(cfg.task)
        model = task.build_model(cfg.model)
        criterion = task.build_criterion(cfg.criterion)
        self.trainer = trainer = Trainer(cfg, task, model, criterion)
        epoch_itr = trainer.get_train_iterator(epoch=1, load_dataset=True)
        trainer.begin_epoch(epoch_itr.epoch)
        update_freq = cfg.optimization.update_freq[0]
        iterator = iterators.GroupedIterator(epoch_itr.next_epoch_itr(shuffle=True), update_freq)
        self.batches = []
        for samples in iterator:
            self.batches.append(samples)
            if len(self.batches) == options.warmup + options.steps:
                break
        self.teacher = None
        if task.distilling():
            lifecycle = task.lifecycle
            pool = lifecycle.pool
            keys = [task.teacher_key(pair) for pair in task.lang_pairs]
            # every pair's teacher is the model of "epoch 1", and in "epoch 3" no pair has improved for a whole
            # epoch: distillation is on for every batch
            pool.update(1, dict.fromkeys(keys, 1.0), lambda: lifecycle.teachers.freeze(deepcopy(trainer.model)))
            lifecycle.start_epoch(3)
            assert all(lifecycle.kd_on.values())
            self.teacher = pool.teacher(keys[0])

    def warm_up(self, count: int) -> None:
        for samples in self.batches[:count]:
            self.trainer.train_step(samples)

    def time_updates(self, device: str, skip: int) -> float:
        timed = self.batches[skip:]
        synchronize(device)
        start = time.perf_counter()
        for samples in timed:
            self.trainer.train_step(samples)
        synchronize(device)
        return (time.perf_counter() - start) / len(timed)

    def time_teacher_forward(self, device: str, skip: int) -> float:
        import torch

        prepared = [self.trainer._prepare_sample(samples[0])[0] for samples in self.batches[skip:]]
        synchronize(device)
        start = time.perf_counter()
        for sample in prepared:
            with torch.inference_mode():
                self.teacher(**sample["net_input"])
        synchronize(device)
        return (time.perf_counter() - start) / len(prepared)

    def tokens_per_update(self, skip: int) -> float:
        timed = self.batches[skip:]
        return sum(int(sample["ntokens"]) for samples in timed for sample in samples) / len(timed)


def run_timing(options) -> dict:
    """Every method in this process, repetitions interleaved (a, c, c, c, a, c, ...) so that a drift of the
    machine's speed hits all methods alike; the teacher forward is timed in the same rounds."""
    import torch

    torch.set_num_threads(options.threads)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as save_dir:
        setups = {method: Setup(options, method, os.path.join(save_dir, method)) for method in options.methods}
        for method, setup in setups.items():
            setup.warm_up(options.warmup)
            results[method] = {"update_s": [], "tokens_per_update": setup.tokens_per_update(options.warmup)}
            results[method]["model_bytes"] = model_bytes(setup.trainer.model)
        order = list(setups)
        for round_index in range(options.repeats):
            # alternate the order of the methods from round to round: no method always runs first or last
            for method in order if round_index % 2 == 0 else order[::-1]:
                setup = setups[method]
                results[method]["update_s"].append(setup.time_updates(options.device, options.warmup))
                if setup.teacher is not None:
                    forward = setup.time_teacher_forward(options.device, options.warmup)
                    results[method].setdefault("teacher_forward_s", []).append(forward)
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
        setup.warm_up(len(setup.batches))
        if options.device == "cuda":
            return torch.cuda.max_memory_allocated()
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def spread(values: list[float]) -> str:
    return f"{statistics.median(values) * 1e3:8.2f} ms [{min(values) * 1e3:.2f}-{max(values) * 1e3:.2f}]"


def mib(value: float) -> str:
    return f"{value / 2**20:.1f} MiB"


def report(results: dict[str, dict], options) -> None:
    base = statistics.median(results["baseline"]["update_s"])
    whole = results["lssd_whole"]
    print(f"device: {options.device} ({device_name(options.device)}), threads {options.threads}; model: "
          f"{options.size} ({mib(results['baseline']['model_bytes'])} fp32); {options.direction}; "
          f"{results['baseline']['tokens_per_update']:.0f} tokens per update; {options.steps} updates x "
          f"{options.repeats} repetitions after {options.warmup} warm-up")  # fmt: skip
    print(f"(b) teacher forward per batch ({whole['teacher_dtype']}): {spread(whole['teacher_forward_s'])}")
    print()
    header = f"{'method':20} {'time per update (median [min-max])':36} {'vs baseline':>11} {'tokens/s':>9} "
    header += f"{'peak memory':>12} {'teacher copies':>15}"
    print(header)
    print("-" * len(header))
    for method, result in results.items():
        median = statistics.median(result["update_s"])
        label = "(a) " + method if method == "baseline" else "(c) " + method
        copies = "-"
        if "teacher_copies" in result:
            copies = f"{result['teacher_copies']} = {mib(result['teacher_bytes'])}"
        print(
            f"{label:20} {spread(result['update_s']):36} {median / base:>10.3f}x "
            f"{result['tokens_per_update'] / median:>9.0f} {mib(result['peak_bytes']):>12} {copies:>15}"
        )
    print()
    for method in [m for m in results if m != "baseline"]:
        paired = zip(
            results["baseline"]["update_s"], results[method]["update_s"], whole["teacher_forward_s"], strict=True
        )
        extra = statistics.median((c - a) / b for a, c, b in paired)
        print(f"{method}: extra time per update = {extra:.3f} teacher forwards (median over rounds)")
    # the closing figures pair the measurements of each round (a, c and b timed back to back), so that a drift of
    # the machine's speed between rounds cancels, and take the median over rounds
    rounds = list(zip(results["baseline"]["update_s"], whole["update_s"], whole["teacher_forward_s"], strict=True))
    ratio = statistics.median(c / a for a, c, _ in rounds)
    overhead = statistics.median((c - a) / b for a, c, b in rounds)
    print(f"lssd/baseline per-update time ratio: {ratio:.3f}")
    print(f"overhead beyond teacher forward: {overhead:.3f}")


def device_name(device: str) -> str:
    if device == "cuda":
        import torch

        return torch.cuda.get_device_name(0)
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--size", choices=["demo", "ted"], default="demo", help="demo_tiny, or the TED preset")
    parser.add_argument("--max-tokens", type=int, help="tokens per batch (default: the preset's)")
    parser.add_argument("--precision", choices=["fp16", "fp32"], default="fp16", help="on CUDA: train in fp16")
    parser.add_argument(
        "--teacher-precision", choices=["auto", "fp32", "fp16", "bf16"], default="auto", help="the teachers' dtype"
    )
    parser.add_argument("--direction", choices=["m2o", "o2m"], default="m2o")
    parser.add_argument("--data-bin", help="a data-bin of the pipeline (default: the demo data, built once)")
    parser.add_argument("--work-dir", default=str(REPO / "results" / "benchmarks" / "demo"))
    parser.add_argument("--steps", type=int, default=10, help="timed updates per repetition")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--save", help="also write the measurements to this JSON file")
    parser.add_argument("--report-from", help="print the table of measurements saved with --save, and stop")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.report_from:  # print the table of an earlier run (--save) again
        saved = json.loads(Path(options.report_from).read_text())
        report(saved["results"], argparse.Namespace(**saved["options"]))
        return 0
    if options.worker:
        if options.worker == "timing":
            print(json.dumps(run_timing(options)))
        else:
            print(json.dumps(run_memory(options, options.worker)))
        return 0
    if options.data_bin is None:
        options.data_bin = str(demo_data_bin(Path(options.work_dir)))
    if "baseline" not in options.methods or "lssd_whole" not in options.methods:
        parser.error("--methods needs baseline and lssd_whole (the two closing figures compare them)")
    forwarded = [*(argv if argv is not None else sys.argv[1:]), "--data-bin", options.data_bin]
    env = dict(os.environ, OMP_NUM_THREADS=str(options.threads), PYTHONWARNINGS="ignore")

    def worker(name):
        completed = subprocess.run(
            [sys.executable, __file__, *forwarded, "--worker", name], capture_output=True, text=True, env=env
        )
        if completed.returncode != 0:
            print(completed.stderr[-4000:], file=sys.stderr)
            raise SystemExit(completed.returncode)
        return json.loads(completed.stdout.strip().splitlines()[-1])

    results = worker("timing")
    for method in options.methods:
        results[method]["peak_bytes"] = worker(method)
    if options.save:
        Path(options.save).write_text(json.dumps({"options": vars(options), "results": results}, indent=1))
    report(results, options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
