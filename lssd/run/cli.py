"""Small helpers shared by the command-line wrappers around fairseq (``train_run``, ``evaluate``)."""

from __future__ import annotations

import sys

from lssd.run.gpus import visible_gpu_count

LOOPBACK_INTERFACE = "lo"


def split_passthrough(argv: list[str] | None, program: str, wrapped: str) -> tuple[list[str], list[str]] | None:
    """Split ``[our options] -- [fairseq arguments]``; print the usage and return None without a ``--``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        print(f"usage: python -m {program} [options] -- <{wrapped} arguments>", file=sys.stderr)
        return None
    split = argv.index("--")
    return argv[:split], argv[split + 1 :]


def device_arguments(fp16: bool = False, gpu_count: int | None = None) -> list[str]:
    """fairseq's device flags for ``gpu_count`` GPUs (default: the GPUs this job sees).

    * no GPU: ``--cpu`` (one process; see ``process_arguments`` for several CPU workers);
    * one GPU: nothing, or ``--fp16`` when asked for;
    * N > 1 GPUs: also ``--distributed-world-size N``. That is all fairseq needs for data-parallel (DDP)
      training on one node: without an init method it picks ``tcp://localhost:<random port>`` (seeded by the
      SLURM job id under SLURM) and spawns one process per GPU itself, with the NCCL backend. No
      ``--distributed-port`` on purpose: outside SLURM, fairseq 0.12 only infers the init method when the port
      is unset; with one set it finds no init method and starts a single process.
    """
    gpus = visible_gpu_count() if gpu_count is None else gpu_count
    if gpus < 1:
        return ["--cpu"]
    flags = ["--fp16"] if fp16 else []
    if gpus > 1:
        flags += ["--distributed-world-size", str(gpus)]
    return flags


def cpu_worker_arguments(workers: int, init_method: str) -> list[list[str]]:
    """The device flags of each of ``workers`` fairseq-train processes that train together on CPU (gloo).

    fairseq 0.12 cannot start CPU workers itself: its spawner starts ``min(torch.cuda.device_count(), world
    size)`` processes (none without CUDA) and its single-node inference asserts the world size fits the GPU
    count. So the caller starts one ``fairseq-train`` per rank with ``--distributed-no-spawn``, an explicit
    ``--distributed-rank`` and a shared ``--distributed-init-method`` (fairseq then skips all inference), and
    the gloo backend, which, unlike NCCL, runs on CPU tensors. The gradients are averaged by fairseq's
    ``legacy_ddp`` wrapper (plain all-reduces of the gradient buffer): its default ``pytorch_ddp`` hands torch's
    DistributedDataParallel ``device_ids=[device_id]``, which torch refuses for a CPU module.
    """
    if workers < 2:
        return [["--cpu"]]
    shared = [
        "--cpu",
        "--distributed-world-size", str(workers),
        "--distributed-backend", "gloo",
        "--distributed-init-method", init_method,
        "--distributed-no-spawn",
        "--ddp-backend", "legacy_ddp",
    ]  # fmt: skip
    return [[*shared, "--distributed-rank", str(rank)] for rank in range(workers)]


def process_arguments(
    *, gpu_count: int, fp16: bool = False, cpu_workers: int = 1, init_method: str | None = None
) -> list[list[str]]:
    """The device flags of each ``fairseq-train`` process a training job starts (one list per process).

    With GPUs: one process (``device_arguments``); fairseq spawns one worker per GPU. ``cpu_workers`` only
    applies where the job sees no GPU, so a config asking for CPU workers still trains on the GPUs it is given.
    Without GPUs and ``cpu_workers`` > 1: one process per worker (``cpu_worker_arguments``), which needs the
    ``init_method`` they rendezvous through.
    """
    if gpu_count > 0 or cpu_workers < 2:
        return [device_arguments(fp16, gpu_count)]
    if not init_method:
        raise ValueError("several CPU workers need an init method to rendezvous through")
    return cpu_worker_arguments(cpu_workers, init_method)


def world_size(*, gpu_count: int, cpu_workers: int = 1) -> int:
    """The data-parallel workers of a training (see :func:`process_arguments`): every GPU, else the CPU workers."""
    return gpu_count if gpu_count > 0 else max(cpu_workers, 1)


def file_init_method(path: str) -> str:
    """A ``file://`` rendezvous (torch's FileStore): no port to pick, nothing listening on the network."""
    from pathlib import Path

    return Path(path).resolve().as_uri()


def cpu_worker_environment(
    environ: dict[str, str], workers: int, interfaces: list[str], cpu_count: int
) -> dict[str, str]:
    """The environment of each CPU worker: gloo on the loopback interface, the threads shared out.

    gloo connects the workers over TCP on the interface of the host name's address unless
    ``GLOO_SOCKET_IFNAME`` names one; we pin it to loopback (127.0.0.1) when the machine has ``lo``, so the
    workers never use an external interface. The job's threads (``OMP_NUM_THREADS``, which the Snakemake rule
    sets, else ``cpu_count``) are divided among the workers, so N workers do not each start that many.
    """
    env = dict(environ)
    if "GLOO_SOCKET_IFNAME" not in env and LOOPBACK_INTERFACE in interfaces:
        env["GLOO_SOCKET_IFNAME"] = LOOPBACK_INTERFACE
    threads = env.get("OMP_NUM_THREADS", "")
    threads = int(threads) if threads.isdigit() and int(threads) > 0 else cpu_count
    env["OMP_NUM_THREADS"] = str(max(1, threads // max(1, workers)))
    return env
