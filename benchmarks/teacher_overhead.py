"""What LSSD costs on top of the baseline, per update, against the floor of one teacher forward pass.

Same data, model, seed and batches for every method; fairseq's own Trainer does each update (forward, backward,
optimizer step). LSSD runs with distillation forced on for every batch (every pair has a teacher, a copy of the
initial model, and has stopped improving), so every update pays the teacher. After warm-up updates, each method is
timed over many short rounds, the methods in alternating order from round to round, so that a drift of the
machine's speed hits every method alike; the teacher's forward pass and the KD term's own cost are timed in the
same rounds. The rounds come from three independent processes (``--processes``), because a process's own state
moves all of its rounds alike. The closing figures pair the measurements of each round and give the median over
all rounds with its 95% confidence interval (order statistics: no assumption on the distribution), and the median
of each process. Peak memory is measured in one process per method, the profile in another.

Prints (a) the baseline's time per update, (b) the teacher's forward pass alone per batch, as the criterion runs
it, (f) the KD floor: LSSD's objective minus the label-smoothed CE it replaces, forward and backward on the same
logits (the teacher's softmax and the KD term's own passes over the vocabulary), (c) each variant's time per
update, tokens/s, peak memory and the teacher copies held; a profile of one update of each (teacher forward, loss,
rest of the forward, backward, optimizer); then::

    lssd/baseline per-update time ratio: <c/a for whole>
    overhead beyond teacher forward: <(c - a) / b for whole>
    overhead beyond teacher forward and KD floor: <(c - a - f) / b for whole>

The second is LSSD's extra time in units of teacher forwards: 1.0 means LSSD costs exactly one teacher forward
more than the baseline. With ``--runs DIR``, each finished LSSD run's records.json (its distilled and trained
tokens per epoch) turns the per-update figures into the run's actual extra training time.

Usage::

    python benchmarks/teacher_overhead.py                       # demo model on CPU, demo data (built if needed)
    python benchmarks/teacher_overhead.py --runs results/train/demo
    python benchmarks/teacher_overhead.py --size ted            # the TED model (transformer_iwslt_de_en) on CPU
    python benchmarks/teacher_overhead.py --device cuda --size ted --data-bin results/bin/ted8_diverse
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from overhead_measure import load_configs, run_memory, run_profile, run_timing  # noqa: E402

METHODS = ("baseline", "lssd_whole", "lssd_selective", "lssd_adaptive")


def demo_data_bin(work_dir: Path) -> Path:
    """The demo dataset (config/config.yaml), binarized once into ``work_dir``."""
    from lssd.data import build_demo_data_bin

    bin_dir = work_dir / "bin"
    if (bin_dir / "manifest.json").exists():
        return bin_dir
    print(f"building the demo data-bin in {work_dir} ...", file=sys.stderr, flush=True)
    return build_demo_data_bin(load_configs()[0]["datasets"]["demo"], "demo", work_dir)


def median_interval(values: list[float], level: float = 0.95) -> tuple[float, float]:
    """A distribution-free confidence interval of the median: the k-th smallest and k-th largest values, k the
    largest rank with P(Binomial(n, 1/2) < k) <= (1 - level) / 2 (for 15 rounds: the 4th and 12th, 96.5%)."""
    ordered, n = sorted(values), len(values)
    k, below = 0, 0.0
    while k < n // 2 and below + math.comb(n, k) / 2**n <= (1 - level) / 2:
        below += math.comb(n, k) / 2**n
        k += 1
    return (ordered[k - 1], ordered[n - k]) if k else (ordered[0], ordered[-1])


def figure(values: list[float]) -> str:
    low, high = median_interval(values)
    return f"{statistics.median(values):.3f} (95% CI {low:.3f}-{high:.3f})"


def spread(values: list[float]) -> str:
    return f"{statistics.median(values) * 1e3:8.2f} ms [{min(values) * 1e3:.2f}-{max(values) * 1e3:.2f}]"


def mib(value: float) -> str:
    return f"{value / 2**20:.1f} MiB"


def device_name(device: str) -> str:
    if device == "cuda":
        import torch

        return torch.cuda.get_device_name(0)
    return platform.processor() or platform.machine()


def report_methods(results: dict[str, dict]) -> None:
    base = statistics.median(results["baseline"]["update_s"])
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


def report_profile(parts: dict[str, dict]) -> None:
    print("where an update's time goes (torch profiler, ms per update; forward: the student's, loss and teacher")
    print("apart; the profiler's own cost per operation inflates every row):")
    print(f"{'':28}{'baseline':>10}{'lssd_whole':>12}{'difference':>12}")
    rows = {}
    for method, part in parts.items():
        rest = part["forward"] - part["loss"] - part["teacher forward"]
        rows.setdefault("teacher forward", {})[method] = part["teacher forward"]
        rows.setdefault("loss (CE | LSSD objective)", {})[method] = part["loss"]
        rows.setdefault("forward", {})[method] = rest
        rows.setdefault("backward", {})[method] = part["backward"]
        rows.setdefault("optimizer", {})[method] = part["optimizer"]
        marked = part["forward"] + part["backward"] + part["optimizer"]
        rows.setdefault("rest of the step", {})[method] = part["step"] - marked
        rows.setdefault("whole step (under the profiler)", {})[method] = part["step"]
    for name, values in rows.items():
        base, whole = values["baseline"], values["lssd_whole"]
        print(f"{name:28}{base:>10.2f}{whole:>12.2f}{whole - base:>+12.2f}")


def report(results: dict[str, dict], options, parts: dict | None = None) -> None:
    whole = results["lssd_whole"]
    print(f"device: {options.device} ({device_name(options.device)}), threads {options.threads}; model: "
          f"{options.size} ({mib(results['baseline']['model_bytes'])} fp32); {options.direction}; "
          f"{results['baseline']['tokens_per_update']:.0f} tokens per update; {options.steps} updates x "
          f"{len(results['baseline']['update_s'])} rounds in {len(results['baseline'].get('rounds_per_process', [1]))} "
          f"processes, after {options.warmup} warm-up updates")  # fmt: skip
    print(f"(b) teacher forward per batch ({whole['teacher_dtype']}): {spread(whole['teacher_forward_s'])}")
    print(f"(f) KD floor per batch (objective - CE, forward + backward): {spread(whole['kd_floor_s'])}")
    print()
    report_methods(results)
    print()
    if parts:
        report_profile(parts)
        print()
    base = results["baseline"]["update_s"]
    for method in [m for m in results if m != "baseline"]:
        paired = zip(base, results[method]["update_s"], whole["teacher_forward_s"], strict=True)
        print(f"{method}: extra time per update = {figure([(c - a) / b for a, c, b in paired])} teacher forwards")
    # each round's a, c, b and f were timed back to back: a drift of the machine's speed between rounds cancels
    rounds = list(zip(base, whole["update_s"], whole["teacher_forward_s"], whole["kd_floor_s"], strict=True))
    overheads = [(c - a) / b for a, c, b, _ in rounds]
    processes = results["baseline"].get("rounds_per_process", [len(rounds)])
    print(f"overhead beyond teacher forward, median of each timing process: {per_process(overheads, processes)}")
    print(f"lssd/baseline per-update time ratio: {figure([c / a for a, c, _, _ in rounds])}")
    print(f"overhead beyond teacher forward: {figure(overheads)}")
    print(f"overhead beyond teacher forward and KD floor: {figure([(c - a - f) / b for a, c, b, f in rounds])}")
    if getattr(options, "runs", None):
        report_runs(Path(options.runs), results)


def report_runs(root: Path, results: dict[str, dict]) -> None:
    """A finished run's actual extra time: only distilled batches run the teacher, so the run pays the per-update
    extra of its variant on the share of its training tokens that were distilled (per-update time being close to
    proportional to the tokens of the update)."""
    base = statistics.median(results["baseline"]["update_s"])
    print(f"\nactual extra training time of the LSSD runs in {root} (per-update costs above):")
    for path in sorted(root.glob("**/lssd_*/seed*/records.json")):
        method = path.parent.parent.name
        records = json.loads(path.read_text())
        trained = sum(t or 0 for pair in records.values() for t in pair.get("train_tokens", []))
        distilled = sum(t or 0 for pair in records.values() for t in pair.get("kd_tokens", []))
        run = path.parent.relative_to(root)
        if not trained:
            print(f"  {run}: no token counts in records.json (trained by an earlier version): retrain for the figure")
            continue
        per_update = statistics.median(results.get(method, results["lssd_whole"])["update_s"]) / base - 1
        share = distilled / trained
        print(f"  {run}: {share:.1%} of its {trained} training tokens distilled x {per_update:+.1%} per distilled "
              f"update = {share * per_update:+.2%} training time over the baseline")  # fmt: skip


ROUND_SERIES = ("update_s", "teacher_forward_s", "kd_floor_s")


def merge_processes(timings: list[dict]) -> dict:
    """The rounds of independent timing processes, pooled (a process's own state, its memory layout for one, moves
    all of its rounds alike: one process's rounds alone understate how much a figure varies)."""
    merged = json.loads(json.dumps(timings[0]))
    for timing in timings[1:]:
        for method, result in timing.items():
            for series in ROUND_SERIES:
                if series in result:
                    merged[method][series] += result[series]
    merged["baseline"]["rounds_per_process"] = [len(timing["baseline"]["update_s"]) for timing in timings]
    return merged


def per_process(values: list[float], rounds: list[int]) -> str:
    medians, start = [], 0
    for count in rounds:
        medians.append(statistics.median(values[start : start + count]))
        start += count
    return ", ".join(f"{median:.3f}" for median in medians)


def parse_options(argv: list[str] | None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
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
    parser.add_argument("--steps", type=int, default=10, help="timed updates per round")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=7, help="rounds per timing process")
    parser.add_argument("--processes", type=int, default=3, help="independent timing processes, their rounds pooled")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument(
        "--no-profile", action="store_true", help="skip the profile of one update (on CPU; never done on CUDA)"
    )
    parser.add_argument("--runs", help="a directory of finished runs (results/train/demo): their actual extra time")
    parser.add_argument("--save", help="also write the measurements to this JSON file")
    parser.add_argument("--report-from", help="print the report of a run saved with --save (and --runs), and stop")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser, parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    parser, options = parse_options(argv)
    if options.report_from:  # print the table of an earlier run (--save) again
        saved = json.loads(Path(options.report_from).read_text())
        saved_options = argparse.Namespace(**{**saved["options"], "runs": options.runs or saved["options"].get("runs")})
        report(saved["results"], saved_options, saved.get("profile"))
        return 0
    if options.worker:
        workers = {"timing": run_timing, "profile": run_profile}
        measure = workers.get(options.worker) or (lambda options: run_memory(options, options.worker))
        print(json.dumps(measure(options)))
        return 0
    if options.data_bin is None:
        options.data_bin = str(demo_data_bin(Path(options.work_dir)))
    if "baseline" not in options.methods or "lssd_whole" not in options.methods:
        parser.error("--methods needs baseline and lssd_whole (the closing figures compare them)")
    forwarded = [*(argv if argv is not None else sys.argv[1:]), "--data-bin", options.data_bin]
    # one interop thread and the same intra-op threads in every worker: torch's defaults follow the machine
    env = dict(os.environ, OMP_NUM_THREADS=str(options.threads), PYTHONWARNINGS="ignore")

    def worker(name):
        completed = subprocess.run(
            [sys.executable, __file__, *forwarded, "--worker", name], capture_output=True, text=True, env=env
        )
        if completed.returncode != 0:
            print(completed.stderr[-4000:], file=sys.stderr)
            raise SystemExit(completed.returncode)
        return json.loads(completed.stdout.strip().splitlines()[-1])

    results = merge_processes([worker("timing") for _ in range(options.processes)])
    for method in options.methods:
        results[method]["peak_bytes"] = worker(method)
    parts = worker("profile") if options.device == "cpu" and not options.no_profile else None
    if options.save:
        record = {"options": vars(options), "results": results, "profile": parts}
        Path(options.save).write_text(json.dumps(record, indent=1))
    report(results, options, parts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
