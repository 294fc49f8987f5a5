"""The fairseq-train processes of one training: the command of each (one, or one per CPU worker), started
together, their output copied to the attempt's log, all stopped when one fails or the job is cancelled.
(``lssd.run.train_run`` decides whether and how to train; this module only runs the processes.)"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from lssd.run import gpus
from lssd.run.attempts import AttemptLog
from lssd.run.cli import cpu_worker_environment, file_init_method, process_arguments

FAIRSEQ_TRAIN = (sys.executable, "-m", "fairseq_cli.train")


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


def run_processes(
    commands: list[list[str]],
    env: dict[str, str] | None = None,
    poll_s: float = 0.2,
    log: AttemptLog | None = None,
    pass_fds: tuple[int, ...] = (),
) -> int:
    """Run the workers of one training together; 0 when all succeed, else the first failure's exit code.

    When one worker fails the others are stopped: they would otherwise wait forever in their next collective.
    Their output goes to this process's stdout and, with ``log``, to the attempt's log file too. ``pass_fds``
    are inherited by every worker (the run's lock).
    """
    for command in commands:
        message = "$ " + " ".join(command)
        log.say(message) if log else print(message, flush=True)
    processes: list[subprocess.Popen] = []
    reader, writer = os.pipe()
    copier = threading.Thread(target=copy_output, args=(reader, log), daemon=True)
    copier.start()
    # a SIGTERM (Snakemake cancelling the job) stops the workers too, through the finally below
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM)) if in_main_thread else None
    try:
        try:
            for command in commands:
                processes.append(subprocess.Popen(command, env=env, stdout=writer, stderr=writer, pass_fds=pass_fds))
        finally:
            os.close(writer)  # the workers hold the only write ends: the copier stops when they all exit
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
        copier.join(timeout=30)


def copy_output(reader: int, log: AttemptLog | None) -> None:
    """Copy the workers' output (one pipe) to stdout and the attempt log until every worker has closed it.

    A write that fails (a full disk) loses those lines but never stops the copy: the workers would die of a broken
    pipe at their next line, or block once the pipe is full."""
    with os.fdopen(reader, "rb", buffering=0) as pipe:
        while chunk := pipe.read(65536):
            if log is None:
                log = AttemptLog()  # its writes to stdout: best effort, never the end of the copy
            log.write_bytes(chunk)


def train(
    fairseq_args: list[str],
    *,
    fp16: bool = False,
    cpu_workers: int = 1,
    program: tuple[str, ...] | None = None,
    log: AttemptLog | None = None,
    pass_fds: tuple[int, ...] = (),
    gpu_count: int | None = None,
) -> int:
    """Train with the device flags of this machine (``gpu_count``: the GPUs it sees, counted when None); the exit
    code of the (first failed) process."""
    gpu_count = gpus.visible_gpu_count() if gpu_count is None else gpu_count
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
        return run_processes(commands, env, log=log, pass_fds=pass_fds)
