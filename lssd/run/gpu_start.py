"""Snakemake's start hook for GPU jobs that run on this machine (a workstation; the gpu profile): torch is checked
once, before any job, so that a CPU build of torch or a driver problem stops the workflow before the data
preparation (hours at paper size), not at its first training. Each job checks again (``lssd.run.gpus.job_gpus``).
Jobs submitted to a cluster are checked on their node only: the machine running Snakemake may have no GPU."""

from __future__ import annotations

from lssd.run import gpus

SETTINGS = {
    "train": "run.gpus_per_training",
    "evaluate": "run.gpus_per_evaluation",
    "evaluate_pair_best": "run.gpus_per_evaluation",
}


def gpu_jobs(run: dict, rules: set[str]) -> dict[str, int]:
    """The settings that make the rules about to run ask for GPUs, with their counts (none asking: empty)."""
    wanted = {SETTINGS[rule]: int(run.get(SETTINGS[rule].split(".")[1], 0)) for rule in rules if rule in SETTINGS}
    return {setting: count for setting, count in wanted.items() if count > 0}


def start_problem(wanted: dict[str, int], devices: list[str], probe=gpus.cuda_report) -> tuple[str | None, str]:
    """Why the GPU jobs cannot run here (None when they can), and what torch said of the GPUs."""
    setting, count = max(wanted.items(), key=lambda item: item[1])
    if len(devices) < count:
        shown = f"{len(devices)} ({','.join(devices)})" if devices else "none (nvidia-smi, CUDA_VISIBLE_DEVICES)"
        return f"{setting} = {count}, but this machine shows {shown}: lower {setting} or run where there are", ""
    report = probe()
    problem = gpus.cuda_problem(report, devices, setting, holder="this machine")
    return problem, "" if problem else gpus.describe_cuda(report)


def on_start(workflow) -> None:
    if workflow.non_local_exec:
        return
    rules = {job.rule.name for job in workflow.dag.needrun_jobs()}
    wanted = gpu_jobs(workflow.config.get("run", {}), rules)
    if not wanted:
        return
    problem, seen = start_problem(wanted, gpus.job_devices())
    if problem:
        from snakemake.exceptions import WorkflowError

        raise WorkflowError(f"lssd: the GPU jobs to run cannot use this machine's GPUs: {problem}. No job was started.")
    print(f"lssd: the GPU jobs to run will use this machine's GPUs: {seen}", flush=True)
