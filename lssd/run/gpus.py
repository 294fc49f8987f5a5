"""Which GPUs a job uses, so that jobs sharing a workstation do not pile onto GPU 0.

Snakemake's ``--resources gpu=N`` limits how many GPUs the running jobs ask for in total, but it does not tell a
job *which* GPUs are its own. On a cluster the scheduler does that (SLURM sets ``CUDA_VISIBLE_DEVICES`` to the
job's GPUs); on a workstation every job would see every GPU and start on GPU 0. So a job claims its GPUs here:

* asking for as many GPUs as are visible (the SLURM case): they are all the job's, nothing to arbitrate;
* asking for fewer: the job takes an exclusive ``flock`` on one lock file per GPU (in a directory shared by all
  jobs of the machine) and keeps the first free ones; the locks go away with the process, even on SIGKILL.
  Snakemake's resource accounting guarantees that enough GPUs become free; until then the job waits;
* asking for none: the job's GPUs are hidden (``CUDA_VISIBLE_DEVICES=""``), so a CPU job never takes GPU memory
  that the accounting gave to another job;
* asking for more than are visible: an error naming the setting, before any work.

``job_gpus`` claims them and makes them the only ones CUDA sees in this process and its children; ``visible_gpu_count``
then says how many there are (fairseq's world size). Both work without initialising CUDA, which reads
``CUDA_VISIBLE_DEVICES`` once, and without importing torch.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path


class GPUError(RuntimeError):
    pass


def names_a_device(entry: str) -> bool:
    return entry.isdigit() or entry.startswith(("GPU-", "MIG-"))


def visible_devices(env: dict | None = None) -> list[str] | None:
    """The devices ``CUDA_VISIBLE_DEVICES`` names, as CUDA reads it (up to the first entry that names no device, so
    ``-1`` hides every GPU), or None when it is unset."""
    value = (os.environ if env is None else env).get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    devices = []
    for entry in (entry.strip() for entry in value.split(",")):
        if not names_a_device(entry):
            break
        devices.append(entry)
    return devices


def installed_gpu_count() -> int:
    """GPUs on this machine (``nvidia-smi -L``), 0 when there is no NVIDIA driver."""
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    if listing.returncode != 0:
        return 0
    return sum(1 for line in listing.stdout.splitlines() if line.startswith("GPU "))


def job_devices(env: dict | None = None) -> list[str]:
    """The GPUs this job may use: those ``CUDA_VISIBLE_DEVICES`` names (SLURM and ``job_gpus`` set it), else every
    GPU of the machine."""
    devices = visible_devices(env)
    return devices if devices is not None else [str(index) for index in range(installed_gpu_count())]


def visible_gpu_count(env: dict | None = None) -> int:
    """How many GPUs this job may use: what ``torch.cuda.device_count()`` says in it, known before CUDA starts."""
    return len(job_devices(env))


def default_lock_dir() -> Path:
    return Path(os.environ.get("LSSD_GPU_LOCK_DIR") or Path(tempfile.gettempdir()) / f"lssd-gpu-locks-{os.getuid()}")


@contextlib.contextmanager
def claim(
    count: int,
    devices: list[str] | None = None,
    lock_dir: Path | None = None,
    poll_seconds: float = 5.0,
    setting: str = "run.gpus_per_training",
) -> Iterator[list[str]]:
    """Claim ``count`` of ``devices`` (default: the visible ones) for the duration of the block."""
    if devices is None:
        devices = job_devices()
    if count == 0:
        yield []
        return
    if count > len(devices):
        raise GPUError(
            f"{setting} = {count}, but this job sees {len(devices)} GPU(s)"
            f"{' (' + ','.join(devices) + ')' if devices else ''}: lower {setting} or run where {count} are available"
        )
    if count == len(devices):
        yield list(devices)
        return
    lock_dir = lock_dir or default_lock_dir()
    lock_dir.mkdir(parents=True, exist_ok=True)
    held: list[tuple[str, int]] = []
    try:
        while True:
            for device in devices:
                if len(held) == count:
                    break
                if any(device == mine for mine, _ in held):
                    continue
                handle = os.open(lock_dir / f"gpu-{device}.lock", os.O_CREAT | os.O_RDWR, 0o644)
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(handle)
                    continue
                held.append((device, handle))
            if len(held) == count:
                break
            time.sleep(poll_seconds)
        yield [device for device, _ in held]
    finally:
        for _, handle in held:
            os.close(handle)


@contextlib.contextmanager
def job_gpus(count: int | None, setting: str, say: Callable[[str], None] = print) -> Iterator[list[str]]:
    """Claim ``count`` GPUs (the rule's ``gpu`` resource) for the block and make them the only ones CUDA sees here
    and in the processes started here (0: none; None, a run by hand: every visible GPU, unclaimed). To be entered
    before torch starts CUDA, which reads ``CUDA_VISIBLE_DEVICES`` once."""
    if count is None:
        yield job_devices()
        return
    with claim(count, setting=setting) as devices:
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
        if devices:
            say(f"using GPU(s) {','.join(devices)}")
        yield devices
