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

A job given GPUs then checks, in a child process, that torch can use them (``cuda_report``, ``cuda_problem``):
a CPU build of torch, or a CUDA that finds no usable GPU (a driver older than torch's CUDA), would otherwise
train and translate on the CPU in silence while the GPUs the job holds stay idle (fairseq falls back to the CPU
where CUDA is not available, and only fp16 fails, at its optimizer). It stops with the reason and the fix instead,
and a job that can use them names them (torch, CUDA and the cards: the attempt's log keeps which GPUs trained a run).
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import json
import os
import subprocess
import sys
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


def gres_gpu_count(gres: str) -> int:
    """The GPUs a SLURM ``--gres`` request asks for: ``gpu:8`` and ``gpu:a100:8`` 8, ``gpu`` 1, none 0."""
    for request in filter(None, (part.strip() for part in gres.split(","))):
        name, *rest = request.split(":")
        if name == "gpu":
            return int(rest[-1]) if rest and rest[-1].isdigit() else 1
    return 0


def given_gpus(gpu: int | None, gres: str = "") -> int | None:
    """The GPUs a job was given: the rule's ``gpu`` resource (``sbatch --gpus``; a workstation's claim), or, on a
    cluster that only takes ``--gres`` (the SLURM profile's alternative: ``gpu: 0`` and ``gres: "gpu:8"``), those
    of its ``gres`` resource. None (neither given, a run by hand): every visible GPU."""
    if gpu:
        return gpu
    return gres_gpu_count(gres) or gpu


def add_job_gpu_options(parser, resource_setting: str) -> None:
    """The options of a job's runner that say what GPUs the job was given (``given_gpus``)."""
    parser.add_argument(
        "--gpus",
        type=int,
        metavar="N",
        help=f"GPUs this job was given (the rule's gpu resource, {resource_setting}): claims N distinct GPUs of a "
        "shared machine, 0 hides them (lssd.run.gpus); default: use what CUDA_VISIBLE_DEVICES shows",
    )
    parser.add_argument(
        "--gres",
        default="",
        metavar="REQUEST",
        help="the rule's gres resource (SLURM --gres, e.g. gpu:8): with --gpus 0, its GPUs are the job's",
    )


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


# Run in a child process, so that the job's own process never initialises CUDA (the training runner starts
# fairseq, which must be the one to hold the GPUs) and a torch that fails to import is reported, not raised.
CUDA_PROBE = """
import json, warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import torch
    available = torch.cuda.is_available()
    count = torch.cuda.device_count() if available else 0
    names = [torch.cuda.get_device_name(index) for index in range(count)]
print(json.dumps({"torch": torch.__version__, "cuda": torch.version.cuda, "available": available,
                  "count": count, "names": names, "warnings": [str(warning.message) for warning in caught]}))
"""
PROBE_TIMEOUT_S = 300


def cuda_report(timeout_s: float = PROBE_TIMEOUT_S) -> dict:
    """What torch in this environment makes of the GPUs this process may use (``CUDA_VISIBLE_DEVICES`` as set):
    its version, its CUDA (None: a CPU build), whether CUDA is available, the devices' count and names, and the
    warnings torch gave (a too old driver is one); ``error`` instead when the probe itself failed."""
    try:
        completed = subprocess.run(
            [sys.executable, "-c", CUDA_PROBE], capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired:
        return {"error": f"python -c 'import torch; torch.cuda.is_available()' did not answer in {timeout_s:.0f} s"}
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        last = (completed.stderr.strip().splitlines() or [f"exit code {completed.returncode}"])[-1]
        return {"error": f"{sys.executable} could not import torch to check the GPUs: {last}"}
    return json.loads(lines[-1])


def describe_cuda(report: dict) -> str:
    """``torch 2.11.0+cu130 (CUDA 13.0) sees 2 GPU(s): 2 × NVIDIA H100 80GB HBM3``"""
    cards = ", ".join(
        name if times == 1 else f"{times} × {name}" for name, times in collections.Counter(report["names"]).items()
    )
    return f"torch {report['torch']} (CUDA {report['cuda']}) sees {report['count']} GPU(s): {cards}"


def cuda_problem(report: dict, devices: list[str], setting: str, holder: str = "this job") -> str | None:
    """Why torch cannot use the ``devices`` this job (``holder``) was given (None when it can), with what to do."""
    given = f"{holder} has {len(devices)} GPU(s) ({','.join(devices)}; {setting})"
    on_cpu = f"or set {setting}: 0 to run on the CPU"
    if "error" in report:
        return f"{given}, but {report['error']}"
    torch_name = f"torch {report['torch']}"
    if report["cuda"] is None:
        return (
            f"{given}, but {torch_name} in {sys.prefix} is a CPU build, which would run on the CPU and leave them "
            f'idle: install a CUDA build of torch there (README, "On a GPU"), {on_cpu}'
        )
    if not report["available"]:
        said = "; ".join(" ".join(warning.split()) for warning in report.get("warnings", []))
        return (
            f"{given}, but {torch_name} (CUDA {report['cuda']}) finds no usable GPU"
            f"{' (' + said + ')' if said else ''}: check the NVIDIA driver with nvidia-smi (it must support "
            f"CUDA {report['cuda']}), {on_cpu}"
        )
    if report["count"] < len(devices):
        return (
            f"{given}, but {describe_cuda(report)}: check the devices with nvidia-smi, or lower {setting} to "
            f"{report['count']}"
        )
    return None


@contextlib.contextmanager
def job_gpus(
    count: int | None,
    setting: str,
    say: Callable[[str], None] = print,
    need_cuda: bool = True,
    probe: Callable[[], dict] = cuda_report,
) -> Iterator[list[str]]:
    """Claim ``count`` GPUs (the rule's ``gpu`` resource) for the block and make them the only ones CUDA sees here
    and in the processes started here (0: none; None, a run by hand: every visible GPU, unclaimed). To be entered
    before torch starts CUDA, which reads ``CUDA_VISIBLE_DEVICES`` once. With GPUs, and unless ``need_cuda`` is
    off (a training told ``--cpu``), a ``GPUError`` says why torch cannot use them (``probe``: ``cuda_report``)."""
    if count is None:
        devices = job_devices()
        check_cuda(devices, setting, say, need_cuda, probe)
        yield devices
        return
    with claim(count, setting=setting) as devices:
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(devices)
        if devices:
            say(f"using GPU(s) {','.join(devices)}")
        check_cuda(devices, setting, say, need_cuda, probe)
        yield devices


def check_cuda(
    devices: list[str], setting: str, say: Callable[[str], None], need_cuda: bool, probe: Callable[[], dict]
) -> None:
    if not devices or not need_cuda:
        return
    report = probe()
    problem = cuda_problem(report, devices, setting)
    if problem:
        raise GPUError(problem)
    say(describe_cuda(report))
