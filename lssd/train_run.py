"""Run ``fairseq-train`` for one run of the DAG, resumably, and publish its final artifacts atomically.

* The checkpoint directory (``--save-dir``) is never a Snakemake output, so a killed or timed-out job that is
  started again resumes from ``checkpoint_last.pt`` (fairseq's own resume).
* The exact ``fairseq-train`` arguments are kept in ``<save-dir>/run_args.json``. If a rerun asks for different
  settings (the config changed), the old directory is moved aside to ``<save-dir>.stale-<time>``, never
  silently resumed and never deleted.
* The device flags are chosen here, at run time: ``--cpu`` without CUDA, ``--fp16`` on a GPU when asked for,
  and the data-parallel world size: every GPU the job sees (``--distributed-world-size N``; fairseq spawns one
  process per GPU on this node), or without a GPU ``--cpu-workers N`` CPU processes (default 1) that this
  runner starts itself, one ``fairseq-train`` per rank, joined by gloo over loopback (``lssd.cli``).
* When training ends, ``checkpoint_best.pt`` (the lowest overall dev loss), the per-pair history and the LSSD
  records are copied to the rule's declared outputs.

Usage::

    python -m lssd.train_run --save-dir DIR --best OUT.pt --history OUT.json [--records OUT.json] [--fp16] \
        [--cpu-workers N] -- <fairseq-train args>
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from lssd import gpus
from lssd.cli import (
    cpu_worker_environment,
    file_init_method,
    process_arguments,
    split_passthrough,
    visible_gpu_count,
)
from lssd.io import copy_file, write_json

ARGS_FILE = "run_args.json"
FAIRSEQ_TRAIN = (sys.executable, "-m", "fairseq_cli.train")


def prepare_save_dir(save_dir: Path, args: list[str]) -> None:
    """Create the save dir, or move an existing one aside when it was trained with different arguments."""
    record = save_dir / ARGS_FILE
    reason = None
    if record.exists():
        if json.loads(record.read_text(encoding="utf-8")) == args:
            print(f"resuming in {save_dir} (same arguments)", flush=True)
            return
        reason = "the training arguments changed"
    elif save_dir.exists() and any(save_dir.glob("checkpoint*.pt")):
        reason = f"{save_dir} has checkpoints of unknown settings"
    if reason:
        stale = save_dir.with_name(f"{save_dir.name}.stale-{time.strftime('%Y%m%d-%H%M%S')}")
        print(f"{reason}: moving the old {save_dir} to {stale}", flush=True)
        os.replace(save_dir, stale)
    save_dir.mkdir(parents=True, exist_ok=True)
    write_json(record, args)


def training_commands(
    fairseq_args: list[str],
    *,
    gpu_count: int,
    fp16: bool = False,
    cpu_workers: int = 1,
    init_method: str | None = None,
    program: tuple[str, ...] | None = None,
) -> list[list[str]]:
    """The ``fairseq-train`` command of each process to start: one, or one per CPU worker.

    ``--cpu`` among the fairseq arguments means CPU training whatever GPUs are visible. ``program`` is the
    command line that runs fairseq-train (default ``FAIRSEQ_TRAIN``; the tests substitute an instrumented one).
    """
    if "--cpu" in fairseq_args:
        gpu_count = 0
    base = [*(program or FAIRSEQ_TRAIN), *fairseq_args]
    flags = process_arguments(gpu_count=gpu_count, fp16=fp16, cpu_workers=cpu_workers, init_method=init_method)
    return [[*base, *process_flags] for process_flags in flags]


def run_processes(commands: list[list[str]], env: dict[str, str] | None = None, poll_s: float = 0.2) -> int:
    """Run the workers of one training together; 0 when all succeed, else the first failure's exit code.

    When one worker fails the others are stopped: they would otherwise wait forever in their next collective.
    """
    for command in commands:
        print("$ " + " ".join(command), flush=True)
    if len(commands) == 1:
        return subprocess.run(commands[0], env=env).returncode
    processes: list[subprocess.Popen] = []
    # a SIGTERM (Snakemake cancelling the job) stops the workers too, through the finally below
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM)) if in_main_thread else None
    try:
        processes = [subprocess.Popen(command, env=env) for command in commands]
        while True:
            codes = [process.poll() for process in processes]
            failed = [code for code in codes if code not in (None, 0)]
            if failed:
                return failed[0]
            if all(code == 0 for code in codes):
                return 0
            time.sleep(poll_s)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def train(
    fairseq_args: list[str], *, fp16: bool = False, cpu_workers: int = 1, program: tuple[str, ...] | None = None
) -> int:
    """Train with the device flags of this machine; the exit code of the (first failed) process."""
    gpu_count = visible_gpu_count()
    with tempfile.TemporaryDirectory(prefix="lssd-rendezvous-") as rendezvous:
        # a fresh store file per start: a stale one from a killed run would make the workers hang
        init_method = file_init_method(os.path.join(rendezvous, "store"))
        commands = training_commands(
            fairseq_args,
            gpu_count=gpu_count,
            fp16=fp16,
            cpu_workers=cpu_workers,
            init_method=init_method,
            program=program,
        )
        if cpu_workers > 1 and len(commands) == 1:
            print(f"--cpu-workers {cpu_workers} ignored: training on the GPUs this job sees", flush=True)
        env = None
        if len(commands) > 1:
            interfaces = [name for _, name in socket.if_nameindex()]
            env = cpu_worker_environment(dict(os.environ), len(commands), interfaces, os.cpu_count() or 1)
        return run_processes(commands, env)


def main(argv: list[str] | None = None) -> int:
    parts = split_passthrough(argv, "lssd.train_run", "fairseq-train")
    if parts is None:
        return 2
    own_args, fairseq_args = parts
    parser = argparse.ArgumentParser(description="resumable fairseq-train for one run")
    parser.add_argument("--save-dir", required=True, type=Path)
    parser.add_argument("--best", required=True, type=Path, help="where to copy checkpoint_best.pt")
    parser.add_argument("--history", required=True, type=Path, help="where to copy the per-pair history")
    parser.add_argument("--records", type=Path, help="where to copy the LSSD records (teachers, switch, gates)")
    parser.add_argument("--fp16", action="store_true", help="train in fp16 when a GPU is used")
    parser.add_argument(
        "--cpu-workers",
        type=int,
        default=1,
        metavar="N",
        help="without a GPU: train data-parallel in N CPU processes (gloo, loopback only); ignored on GPUs",
    )
    parser.add_argument(
        "--gpus",
        type=int,
        metavar="N",
        help="GPUs this job was given (the rule's gpu resource): claims N distinct GPUs of a shared machine, "
        "0 hides them (lssd.gpus); default: use what CUDA_VISIBLE_DEVICES shows",
    )
    options = parser.parse_args(own_args)
    if options.cpu_workers < 1:
        parser.error("--cpu-workers must be at least 1")

    prepare_save_dir(options.save_dir, fairseq_args)
    try:
        with gpus.claim(options.gpus or 0, setting="run.gpus_per_training") as devices:
            if options.gpus is not None:
                # before torch is imported: CUDA reads the variable once, when it initialises
                os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
                if devices:
                    print(f"using GPU(s) {','.join(devices)}", flush=True)
            returncode = train(fairseq_args, fp16=options.fp16, cpu_workers=options.cpu_workers)
    except gpus.GPUError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if returncode != 0:
        print(f"fairseq-train failed with exit code {returncode}", file=sys.stderr)
        return returncode

    published = {
        options.save_dir / "history.json": options.history,
        options.save_dir / "records.json": options.records,
        options.save_dir / "checkpoint_best.pt": options.best,  # last: the rule's main output
    }
    for source, target in published.items():
        if target is None:
            continue
        if not source.exists():
            print(f"fairseq-train finished but {source} is missing", file=sys.stderr)
            return 1
        copy_file(source, target)
        print(f"published {target}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
