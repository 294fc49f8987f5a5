"""A one-node SLURM cluster on loopback, for the tests that submit the pipeline through ``sbatch``.

Run a command inside it (as root, which CI is)::

    python -m tests.slurm_cluster [--state DIR] -- snakemake --profile workflow/profiles/slurm ...

The daemons listen on 127.0.0.1 only (``CommunicationParameters=NoInAddrAny,NoCtldInAddrAny``: they bind the
address the node and controller names resolve to, not every address); munge talks over a Unix socket. The command
and the cluster run in a mount namespace of their own (``unshare --mount``) in which ``/etc/slurm`` and
``/run/munge`` are this cluster's (bind mounts), so that a machine's own SLURM setup is neither used nor touched,
and jobs (started by this slurmd) see the same. Inside:
munged, slurmctld and slurmd (Debian's packages, installed here when missing) run in the foreground as child
processes; a ``cpu`` partition holds this machine's cores and most of its memory; there is no accounting daemon
(the executor plugin tracks jobs with ``squeue``; finished jobs stay visible for an hour, ``MinJobAge``); the
command runs once ``sinfo`` shows the node idle, and everything is stopped when it ends. The node declares 32 CPUs
and 256 GB (``SlurmdParameters=config_overrides``): scheduling numbers only, nothing enforces them, so that the
SLURM profile's requests (16 threads for binarize, 64-128 GB for a paper-size training) fit unchanged; ``--jobs``
bounds what runs at once. With ``--gpus N`` the node also declares N GPUs (``gres.conf`` over stand-in device
files, /dev/null's numbers) and a ``gpu`` partition: SLURM allocates them to jobs that ask with ``--gpus`` or
``--gres`` and sets the jobs' ``CUDA_VISIBLE_DEVICES``, as on a real GPU node; there is no CUDA behind them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge"]
PARTITION = "cpu"
GPU_PARTITION = "gpu"  # (with --gpus N: the same node, its N GPUs)
CONTROLLER_PORT, NODE_PORT = 16817, 16818


def unavailable_reason() -> str | None:
    """Why a cluster cannot be started here (None when it can), installing the packages when missing."""
    if sys.platform != "linux" or os.geteuid() != 0:
        return "needs Linux and root (namespaces, the SLURM daemons)"
    if not shutil.which("unshare"):
        return "needs unshare (util-linux)"
    probe = subprocess.run(["unshare", "--mount", "--", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot make a mount namespace here (unshare --mount: {probe.stderr.strip()})"
    if not all(shutil.which(program) for program in ("slurmctld", "slurmd", "sbatch", "munged")):
        if not shutil.which("apt-get"):
            return "SLURM is not installed and there is no apt-get to install it"
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", *PACKAGES]
        completed = subprocess.run(install, env=env, capture_output=True, text=True, timeout=600)
        if completed.returncode != 0:  # package lists missing or stale on a fresh machine
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=600)
            completed = subprocess.run(install, env=env, capture_output=True, text=True, timeout=600)
        if completed.returncode != 0:
            return f"apt-get install {' '.join(PACKAGES)} failed: {completed.stderr[-500:]}"
    return None


def slurm_conf(state: Path, gpus: int = 0) -> str:
    gres = "GresTypes=gpu\n" if gpus else ""
    node_gres = f" Gres=gpu:{gpus}" if gpus else ""
    gpu_partition = f"PartitionName={GPU_PARTITION} Nodes=localhost MaxTime=INFINITE State=UP\n" if gpus else ""
    return f"""# a one-node test cluster (tests/slurm_cluster.py)
ClusterName=lssdtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={CONTROLLER_PORT}
SlurmdPort={NODE_PORT}
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={state}/ctld
SlurmdSpoolDir={state}/spool
SlurmctldPidFile={state}/slurmctld.pid
SlurmdPidFile={state}/slurmd.pid
SlurmctldLogFile={state}/slurmctld.log
SlurmdLogFile={state}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=3600
KillWait=5
OverTimeLimit=0
MpiDefault=none
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
SlurmdParameters=config_overrides
{gres}NodeName=localhost NodeAddr=127.0.0.1 CPUs=32 RealMemory=262144{node_gres} State=UNKNOWN
PartitionName={PARTITION} Nodes=localhost Default=YES MaxTime=INFINITE State=UP
{gpu_partition}"""


def gres_conf(state: Path, gpus: int) -> str:
    """GPUs that are stand-in device files: slurmd schedules them and sets each job's ``CUDA_VISIBLE_DEVICES``
    from their names' numbers (what a job is given, not what it can compute on: no CUDA is behind them)."""
    return f"AutoDetect=off\nName=gpu File={state}/dev/nvidia[0-{gpus - 1}]\n"


def wait_until_idle(timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        completed = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
        if completed.stdout.strip() == "idle":
            return
        time.sleep(0.5)
    raise RuntimeError(f"the test cluster's node did not become idle: sinfo says {completed.stdout!r}")


MARK = "LSSD_TEST_CLUSTER"  # in the environment of the daemons, of what they start and of the jobs submitted


def marked_processes(state: Path) -> list[int]:
    """The processes left of this cluster: slurmd does not end its job steps when it is stopped, and a job that a
    test killed may leave its processes behind, so each one is found by the mark its environment carries."""
    mark, found = f"{MARK}={state}".encode(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environment = (entry / "environ").read_bytes().split(b"\0")
        except OSError:  # gone, or not ours to read
            continue
        if mark in environment:
            found.append(int(entry.name))
    return found


def kill_marked_processes(state: Path) -> None:
    for pid in marked_processes(state):
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass


def inside(state: Path, command: list[str], gpus: int = 0) -> int:
    """In the mount namespace: this cluster's /etc/slurm and /run/munge, the daemons, the command."""
    for name in ("etc", "munge", "ctld", "spool", "dev"):
        (state / name).mkdir(parents=True, exist_ok=True)
    (state / "etc" / "slurm.conf").write_text(slurm_conf(state, gpus), encoding="utf-8")
    if gpus:
        for index in range(gpus):  # character devices, as slurmd requires: /dev/null's (1, 3), never opened
            device = state / "dev" / f"nvidia{index}"
            if not device.exists():
                os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        (state / "etc" / "gres.conf").write_text(gres_conf(state, gpus), encoding="utf-8")
    # the plugin stack config the packages ship, if any, so that srun finds what it expects
    for name in ("plugstack.conf",):
        if Path("/etc/slurm", name).exists():
            shutil.copy(Path("/etc/slurm", name), state / "etc" / name)
    Path("/etc/slurm").mkdir(parents=True, exist_ok=True)
    Path("/run/munge").mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)  # our bind mounts stay in this namespace
    subprocess.run(["mount", "--bind", str(state / "etc"), "/etc/slurm"], check=True)
    subprocess.run(["mount", "--bind", str(state / "munge"), "/run/munge"], check=True)
    logs = open(state / "daemons.log", "ab")
    os.environ[MARK] = str(state)
    daemons = [subprocess.Popen(["munged", "--foreground", "--force"], stdout=logs, stderr=logs)]
    time.sleep(0.5)
    daemons.append(subprocess.Popen(["slurmctld", "-D"], stdout=logs, stderr=logs))
    daemons.append(subprocess.Popen(["slurmd", "-D"], stdout=logs, stderr=logs))
    try:
        wait_until_idle()
        return subprocess.run(command).returncode
    finally:
        for daemon in reversed(daemons):
            daemon.terminate()
        for daemon in reversed(daemons):
            try:
                daemon.wait(timeout=20)
            except subprocess.TimeoutExpired:
                daemon.kill()
        kill_marked_processes(state)
        logs.close()


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        print("usage: python -m tests.slurm_cluster [--state DIR] [--inside] -- COMMAND ...", file=sys.stderr)
        return 2
    split = argv.index("--")
    parser = argparse.ArgumentParser(description="run a command in a one-node SLURM cluster on loopback")
    parser.add_argument("--state", type=Path, help="the cluster's state and logs (default: a temporary directory)")
    parser.add_argument("--gpus", type=int, default=0, help="GPUs the node declares (empty files: no CUDA)")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)  # already in the namespaces
    options = parser.parse_args(argv[:split])
    command = argv[split + 1 :]
    if options.inside:
        return inside(options.state, command, options.gpus)
    reason = unavailable_reason()
    if reason:
        print(f"no test cluster: {reason}", file=sys.stderr)
        return 77
    state = options.state or Path(tempfile.mkdtemp(prefix="lssd-slurm-"))
    wrapper = [sys.executable, "-m", "tests.slurm_cluster", "--state", str(state.resolve()), "--inside"]
    wrapper += ["--gpus", str(options.gpus), "--"]
    return subprocess.run(["unshare", "--mount", "--", *wrapper, *command]).returncode


if __name__ == "__main__":
    sys.exit(main())
